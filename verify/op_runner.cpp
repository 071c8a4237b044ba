#include "verify/op_runner.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mhc::verify {
namespace {

const Tensor& need(const TensorMap& m, const std::string& name) {
  const auto it = m.find(name);
  if (it == m.end() || !it->second.defined()) invalid_input("missing tensor \"" + name + "\"");
  return it->second;
}


// The backend got its own copies; any difference afterwards means it wrote into an input.
std::string first_modified(const TensorMap& original, std::initializer_list<std::pair<const char*, const Tensor*>> seen) {
  for (const auto& [name, t] : seen) {
    const auto it = original.find(name);
    const Tensor before = it == original.end() ? Tensor{} : it->second;
    if (!bitwise_equal(before, *t)) return name;
  }
  return {};
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

OpRun run_op(Backend& backend, Op op, const Semantics& s, const TensorMap& inputs, bool with_taps) {
  OpRun run;
  TensorMap* taps = with_taps ? &run.taps : nullptr;
  if (op == Op::pre) {
    PreInputs in{need(inputs, "x"), need(inputs, "phi"), s.use_gamma ? need(inputs, "gamma") : Tensor{},
                 need(inputs, "alpha"), need(inputs, "bias")};
    const PreUpstream up{need(inputs, "dy"), need(inputs, "dh_post"), need(inputs, "dh_res")};
    PreOutputs out = backend.pre_forward(s, in, taps);
    PreGrads g = backend.pre_backward(s, in, up, taps);
    run.modified_input = first_modified(inputs, {{"x", &in.x}, {"phi", &in.phi}, {"alpha", &in.alpha},
                                                 {"bias", &in.bias}, {"dy", &up.dy}, {"dh_post", &up.dh_post},
                                                 {"dh_res", &up.dh_res}});
    if (s.use_gamma && run.modified_input.empty() && !bitwise_equal(inputs.at("gamma"), in.gamma)) {
      run.modified_input = "gamma";
    }
    put(run.results, "y", std::move(out.y));
    put(run.results, "h_post", std::move(out.h_post));
    put(run.results, "h_res", std::move(out.h_res));
    put(run.results, "dx", std::move(g.dx));
    put(run.results, "dphi", std::move(g.dphi));
    put(run.results, "dalpha", std::move(g.dalpha));
    put(run.results, "dbias", std::move(g.dbias));
    if (s.use_gamma) put(run.results, "dgamma", std::move(g.dgamma));
  } else {
    PostInputs in{need(inputs, "x"), need(inputs, "f"), need(inputs, "h_post"), need(inputs, "h_res")};
    const PostUpstream up{need(inputs, "dout")};
    PostOutputs out = backend.post_forward(s, in, taps);
    PostGrads g = backend.post_backward(s, in, up, taps);
    run.modified_input = first_modified(inputs, {{"x", &in.x}, {"f", &in.f}, {"h_post", &in.h_post},
                                                 {"h_res", &in.h_res}, {"dout", &up.dout}});
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

}  // namespace mhc::verify
