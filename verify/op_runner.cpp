#include "verify/op_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace mhc::verify {
namespace {

const Tensor& need(const TensorMap& m, const std::string& name) {
  const auto it = m.find(name);
  if (it == m.end() || !it->second.defined()) invalid_input("missing tensor \"" + name + "\"");
  return it->second;
}


void put(TensorMap& m, const char* name, Tensor t) {
  if (t.defined()) m[name] = std::move(t);
}

}  // namespace

std::vector<std::string> input_names(Op op, const Semantics& s) {
  if (op == Op::post) return {"x", "f", "h_post", "h_res", "dout"};
  std::vector<std::string> names = {"x", "phi", "alpha", "bias", "dy", "dh_post", "dh_res"};
  if (s.use_gamma) names.insert(names.begin() + 2, "gamma");
  return names;
}

void require_finite_inputs(Op op, const Semantics& s, const TensorMap& tensors) {
  for (const auto& name : input_names(op, s)) {
    const auto it = tensors.find(name);
    if (it == tensors.end()) continue;  // run_op names a missing input
    const Tensor& t = it->second;
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      const double v = t.get(i);
      if (std::isfinite(v)) continue;
      invalid_input(fmt::format("input {}{} is {}; non-finite inputs make the golden non-finite too, so the check "
                                "would compare nothing there (give finite inputs)",
                                name, format_index(name, unravel(i, t.shape())),
                                std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf")));
    }
  }
}

std::vector<std::string> result_names(Op op, const Semantics& s) {
  if (op == Op::post) return {"out", "dx", "df", "dh_post", "dh_res"};
  std::vector<std::string> names = {"y", "h_post", "h_res", "dx", "dphi", "dalpha", "dbias"};
  if (s.use_gamma) names.push_back("dgamma");
  return names;
}

TensorRole role_of(const std::string& name) {
  const std::string base = name.substr(name.find('.') + 1);
  const bool output = base == "y" || base == "h_post" || base == "h_res" || base == "out" || name.starts_with("tap.");
  return output ? TensorRole::output : TensorRole::gradient;
}

bool is_per_token(const std::string& name) {
  const std::string base = name.substr(name.find('.') + 1);
  for (const char* p : {"dphi", "dalpha", "dbias", "dgamma"}) {
    if (base.starts_with(p)) return false;
  }
  return true;
}

std::int64_t reduction_length(Op op, const std::string& name, const Shape& shape, const Semantics& s) {
  const std::int64_t M = mix_count(s.resmap, shape.n);
  if (op == Op::post) {
    if (name == "dh_post" || name == "dh_res") return shape.C;
    return shape.n + 1;
  }
  if (name == "y") return shape.n;
  if (name == "h_post" || name == "h_res") return shape.K();
  if (name == "dx") return M;
  // Parameter gradients sum over tokens quantities that themselves come from length-K dot
  // products (m = v . phi'^T): with few tokens the K chain dominates.
  if (name == "dgamma" || name == "dalpha") return std::max(shape.T * M, shape.K());
  return std::max(shape.T, shape.K());  // dphi, dbias
}

Shape shape_of(const TensorMap& inputs) {
  const Tensor& x = need(inputs, "x");
  if (x.rank() != 3) invalid_input("x must be [T, n, C], got " + x.describe());
  return Shape{x.dim(0), x.dim(1), x.dim(2)};
}

namespace {

Tensor take(TensorMap& m, const std::string& name) {
  need(m, name);
  return std::move(m.at(name));
}

// Runs forward then backward on the tensors of `owned` (moved into the backend's argument structs
// for the call and back afterwards, so no copy), timing the two backend calls alone.
OpRun run_owned(Backend& backend, Op op, const Semantics& s, TensorMap& owned, bool with_taps) {
  OpRun run;
  TensorMap* taps = with_taps ? &run.taps : nullptr;
  using Clock = std::chrono::steady_clock;
  if (op == Op::pre) {
    PreInputs in{take(owned, "x"), take(owned, "phi"), s.use_gamma ? take(owned, "gamma") : Tensor{},
                 take(owned, "alpha"), take(owned, "bias")};
    PreUpstream up{take(owned, "dy"), take(owned, "dh_post"), take(owned, "dh_res")};
    const auto t0 = Clock::now();
    PreOutputs out = backend.pre_forward(s, in, taps);
    PreGrads g = backend.pre_backward(s, in, up, taps);
    run.backend_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    owned["x"] = std::move(in.x);
    owned["phi"] = std::move(in.phi);
    if (s.use_gamma) owned["gamma"] = std::move(in.gamma);
    owned["alpha"] = std::move(in.alpha);
    owned["bias"] = std::move(in.bias);
    owned["dy"] = std::move(up.dy);
    owned["dh_post"] = std::move(up.dh_post);
    owned["dh_res"] = std::move(up.dh_res);
    put(run.results, "y", std::move(out.y));
    put(run.results, "h_post", std::move(out.h_post));
    put(run.results, "h_res", std::move(out.h_res));
    put(run.results, "dx", std::move(g.dx));
    put(run.results, "dphi", std::move(g.dphi));
    put(run.results, "dalpha", std::move(g.dalpha));
    put(run.results, "dbias", std::move(g.dbias));
    if (s.use_gamma) put(run.results, "dgamma", std::move(g.dgamma));
  } else {
    PostInputs in{take(owned, "x"), take(owned, "f"), take(owned, "h_post"), take(owned, "h_res")};
    PostUpstream up{take(owned, "dout")};
    const auto t0 = Clock::now();
    PostOutputs out = backend.post_forward(s, in, taps);
    PostGrads g = backend.post_backward(s, in, up, taps);
    run.backend_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    owned["x"] = std::move(in.x);
    owned["f"] = std::move(in.f);
    owned["h_post"] = std::move(in.h_post);
    owned["h_res"] = std::move(in.h_res);
    owned["dout"] = std::move(up.dout);
    put(run.results, "out", std::move(out.out));
    put(run.results, "dx", std::move(g.dx));
    put(run.results, "df", std::move(g.df));
    put(run.results, "dh_post", std::move(g.dh_post));
    put(run.results, "dh_res", std::move(g.dh_res));
  }
  for (const auto& name : result_names(op, s)) {
    if (!run.results.count(name)) {
      fail(ErrorKind::internal, "backend " + backend.name() + " returned no \"" + name + "\"");
    }
  }
  return run;
}

// The first input (in input_names order) whose bytes differ between `after` and `before`.
std::string first_modified(const TensorMap& before, const TensorMap& after, Op op, const Semantics& s) {
  for (const auto& name : input_names(op, s)) {
    if (!same_bytes(before.at(name), after.at(name))) return name;
  }
  return {};
}

}  // namespace

OpRun run_op(Backend& backend, Op op, const Semantics& s, const TensorMap& inputs, bool with_taps) {
  // The backend gets its own copies; any difference afterwards means it wrote into an input.
  TensorMap owned;
  for (const auto& name : input_names(op, s)) owned[name] = need(inputs, name);
  OpRun run = run_owned(backend, op, s, owned, with_taps);
  run.modified_input = first_modified(inputs, owned, op, s);
  return run;
}

OpRun run_op_in_place(Backend& backend, Op op, const Semantics& s, TensorMap& inputs, const TensorMap& pristine) {
  OpRun run = run_owned(backend, op, s, inputs, false);
  run.modified_input = first_modified(pristine, inputs, op, s);
  if (!run.modified_input.empty()) {
    for (const auto& name : input_names(op, s)) inputs[name] = need(pristine, name);
  }
  return run;
}

}  // namespace mhc::verify
