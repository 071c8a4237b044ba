#include "verify/check_file.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.hpp"

namespace mhc::verify {
namespace {

// out[j, i] = in[i, j] for the two trailing axes of a rank-2 or rank-3 tensor.
Tensor swap_last_two(const Tensor& in) {
  std::vector<std::int64_t> shape = in.shape();
  const std::size_t r = shape.size();
  std::swap(shape[r - 1], shape[r - 2]);
  Tensor out(in.dtype(), shape);
  const std::int64_t a = in.shape()[r - 2], b = in.shape()[r - 1];
  const std::int64_t batches = in.numel() / std::max<std::int64_t>(a * b, 1);
  for (std::int64_t t = 0; t < batches; ++t)
    for (std::int64_t i = 0; i < a; ++i)
      for (std::int64_t j = 0; j < b; ++j) out.set(t * a * b + j * a + i, in.get(t * a * b + i * b + j));
  return out;
}

void adapt(TensorMap& tensors, std::initializer_list<const char*> names, std::size_t rank) {
  for (const char* name : names) {
    const auto it = tensors.find(name);
    if (it == tensors.end()) continue;
    if (it->second.rank() != rank) {
      invalid_input(std::string("layout adapter: \"") + name + "\" is " + it->second.describe() + ", expected rank " +
                    std::to_string(rank));
    }
    it->second = swap_last_two(it->second);
  }
}

// A semantics override the semantics would ignore is a typo (repeat=5): refused, as the case
// line does. The file's own metadata may hold anything (producer, case, a framework's keys).
void apply_override(std::map<std::string, std::string>& fields, const std::string& kv) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos) invalid_input("override \"" + kv + "\" is not KEY=VALUE");
  const std::string key = kv.substr(0, eq);
  const auto& known = semantic_keys();
  if (key != "use_gamma" && std::find(known.begin(), known.end(), key) == known.end()) {
    invalid_input("override \"" + kv + "\": unknown key \"" + key + "\" (known: " + known_semantic_keys() + " use_gamma)");
  }
  fields[key] = kv.substr(eq + 1);
}

std::string other_layout(const std::string& layout) {
  if (layout == "MK") return "KM";
  if (layout == "KM") return "MK";
  return layout == "TNC" ? "TCN" : "TNC";
}

// A tensor in the other layout would fail later as "phi: expected shape [24,256], got
// f32[256,24]", or x's axes would be misread (n and C swapped) and every other tensor would look
// wrong: when the shapes are exactly the other layout's, name the flag. Runs after the adapters.
void refuse_other_layouts(const TensorMap& tensors, Op op, const Semantics& s, const CheckOptions& o) {
  const auto x = tensors.find("x");
  if (x == tensors.end() || x->second.rank() != 3) return;  // shape_of names it
  const std::int64_t n = x->second.dim(1), C = x->second.dim(2);
  // A [T, n] tensor says how many streams there are.
  const auto streams = tensors.find(op == Op::pre ? "dh_post" : "h_post");
  if (n != C && streams != tensors.end() && streams->second.rank() == 2 && streams->second.dim(1) == C) {
    invalid_input(fmt::format("x: read as [T, n, C] = {0} but {1} {2} has n = {3}: x is stored in the other stream "
                              "layout (pass --stream-layout {4}; stream_layout=\"{4}\" for CheckTensors)",
                              x->second.describe(), streams->first, streams->second.describe(), C,
                              other_layout(o.stream_layout)));
  }
  const auto phi = tensors.find("phi");
  if (op != Op::pre || phi == tensors.end() || phi->second.rank() != 2) return;
  std::int64_t M = 0;
  try {
    M = mix_count(s.resmap, n);
  } catch (const Error&) {
    return;  // validate names a bad n
  }
  const std::int64_t K = n * C;
  if (M != K && phi->second.dim(0) == K && phi->second.dim(1) == M) {
    invalid_input(fmt::format("phi: expected shape [M, K] = [{0},{1}], got {2}: phi is stored in the other layout "
                              "(pass --phi-layout {3}; phi_layout=\"{3}\" for CheckTensors)",
                              M, K, phi->second.describe(), other_layout(o.phi_layout)));
  }
}

// The tensors of each op: {"": all} when no name has an op prefix, else {"pre": ..., "post": ...}
// with the prefixes stripped ("pre.x" -> "x"; DESIGN.md "Tensor interchange").
std::map<std::string, TensorMap> split_by_op(TensorMap tensors, const std::string& label) {
  std::map<std::string, TensorMap> out;
  std::string bare;
  for (auto& [name, tensor] : tensors) {
    const std::string op = name.substr(0, name.find('.'));
    if (op == "pre" || op == "post") {
      out[op].emplace(name.substr(op.size() + 1), std::move(tensor));
    } else {
      out[""].emplace(name, std::move(tensor));
      bare += (bare.empty() ? "\"" : ", \"") + name + "\"";
    }
  }
  if (out.size() > 1 && out.count("")) {
    invalid_input(label + ": some tensors carry an op prefix (pre., post.) and " + bare +
                  " do not: in a file that holds both ops, prefix every tensor");
  }
  if (out.empty()) out[""];
  return out;
}

CheckRequest request_of(SafetensorsFile file, const CheckOptions& o, std::string label) {
  CheckRequest r;
  const auto& md = file.metadata;
  const std::string op = !o.op.empty() ? o.op : md.count("op") ? md.at("op") : "";
  if (op.empty()) invalid_input(label + ": no op given (pass --op pre|post or set metadata \"op\")");
  r.op = op_from_string(op);
  r.preset = !o.preset.empty() ? o.preset : md.count("preset") ? md.at("preset") : "deepseek";
  r.precision = !o.precision.empty() ? o.precision : md.count("precision") ? md.at("precision") : "f32";
  try {
    precision_baseline(r.precision);  // refuses an unknown one before any tensor is judged
  } catch (const Error& e) {
    invalid_input(label + ": " + e.what() + (o.precision.empty() ? " (the file's metadata \"precision\")" : ""));
  }
  // The metadata's semantics fields belong to its preset: a preset given here replaces them all.
  std::map<std::string, std::string> fields = o.preset.empty() ? md : std::map<std::string, std::string>{};
  for (const auto& kv : o.overrides) apply_override(fields, kv);
  if (fields.count("gamma")) fields["use_gamma"] = fields["gamma"];
  r.semantics = from_fields(fields, preset(r.preset));
  if (!fields.count("use_gamma") && r.op == Op::pre) r.semantics.use_gamma = file.tensors.count("gamma") > 0;
  if (r.op == Op::pre && !r.semantics.use_gamma && (file.tensors.count("gamma") || file.tensors.count("dgamma"))) {
    invalid_input(std::string(file.tensors.count("gamma") ? "gamma" : "dgamma") +
                  " is given but use_gamma = false, so it would be ignored and the other tensors judged "
                  "without it: set use_gamma=true (--set use_gamma=true) or drop it");
  }
  if (o.phi_layout == "KM") adapt(file.tensors, {"phi", "dphi"}, 2);
  else if (o.phi_layout != "MK") invalid_input("phi layout \"" + o.phi_layout + "\" (choose MK or KM)");
  if (o.stream_layout == "TCN") adapt(file.tensors, {"x", "dx", "dout", "out"}, 3);
  else if (o.stream_layout != "TNC") invalid_input("stream layout \"" + o.stream_layout + "\" (choose TNC or TCN)");
  refuse_other_layouts(file.tensors, r.op, r.semantics, o);
  r.tensors = std::move(file.tensors);
  r.label = std::move(label);
  return r;
}

}  // namespace

std::vector<CheckRequest> check_requests(SafetensorsFile file, const CheckOptions& o, const std::string& label) {
  auto parts = split_by_op(std::move(file.tensors), label);
  if (parts.count("")) return {request_of({std::move(parts[""]), std::move(file.metadata)}, o, label)};
  if (!o.op.empty() && !parts.count(o.op)) {
    std::string ops;
    for (const char* op : {"pre", "post"}) ops += parts.count(op) ? (ops.empty() ? "" : " and ") + std::string(op) : "";
    invalid_input(fmt::format("{}: --op {} but the file holds the tensors of {}", label, o.op, ops));
  }
  std::vector<CheckRequest> out;
  for (const char* op : {"pre", "post"}) {
    if (!parts.count(op) || (!o.op.empty() && o.op != op)) continue;
    CheckOptions one = o;
    one.op = op;
    out.push_back(request_of({std::move(parts[op]), file.metadata}, one, label + ":" + op));
  }
  return out;
}

CheckRequest check_request(SafetensorsFile file, const CheckOptions& options, std::string label) {
  auto requests = check_requests(std::move(file), options, label);
  if (requests.size() != 1) {
    invalid_input(label + ": the file holds both ops (pre.*, post.* tensors): choose one with --op (CheckHeader.op)");
  }
  return std::move(requests.front());
}

std::vector<CheckRequest> check_requests_from_file(const std::string& path, const CheckOptions& options) {
  return check_requests(read_safetensors(path), options, std::filesystem::path(path).filename().string());
}

CheckRequest check_request_from_file(const std::string& path, const CheckOptions& options) {
  return check_request(read_safetensors(path), options, std::filesystem::path(path).filename().string());
}

}  // namespace mhc::verify
