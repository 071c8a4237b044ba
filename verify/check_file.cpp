#include "verify/check_file.hpp"

#include <filesystem>

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

}  // namespace

CheckRequest check_request(SafetensorsFile file, const CheckOptions& o, std::string label) {
  CheckRequest r;
  const auto& md = file.metadata;
  const std::string op = !o.op.empty() ? o.op : md.count("op") ? md.at("op") : "";
  if (op.empty()) invalid_input(label + ": no op given (pass --op pre|post or set metadata \"op\")");
  r.op = op_from_string(op);
  r.preset = !o.preset.empty() ? o.preset : md.count("preset") ? md.at("preset") : "deepseek";
  std::map<std::string, std::string> fields = md;
  for (const auto& kv : o.overrides) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) invalid_input("override \"" + kv + "\" is not KEY=VALUE");
    fields[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (fields.count("gamma")) fields["use_gamma"] = fields["gamma"];
  r.semantics = from_fields(fields, preset(r.preset));
  if (!fields.count("use_gamma") && r.op == Op::pre) r.semantics.use_gamma = file.tensors.count("gamma") > 0;
  if (o.phi_layout == "KM") adapt(file.tensors, {"phi", "dphi"}, 2);
  else if (o.phi_layout != "MK") invalid_input("phi layout \"" + o.phi_layout + "\" (choose MK or KM)");
  if (o.stream_layout == "TCN") adapt(file.tensors, {"x", "dx", "dout", "out"}, 3);
  else if (o.stream_layout != "TNC") invalid_input("stream layout \"" + o.stream_layout + "\" (choose TNC or TCN)");
  r.tensors = std::move(file.tensors);
  r.label = std::move(label);
  return r;
}

CheckRequest check_request_from_file(const std::string& path, const CheckOptions& options) {
  return check_request(read_safetensors(path), options, std::filesystem::path(path).filename().string());
}

}  // namespace mhc::verify
