// The golden behind the Backend interface: a thin adapter over reference/golden.hpp.
#include "kernels/golden_backend.hpp"

#include "reference/golden.hpp"

namespace mhc {
namespace {

class GoldenBackend final : public Backend {
 public:
  std::string name() const override { return "golden"; }

  PreOutputs pre_forward(const Semantics& s, const PreInputs& in, TensorMap* taps) override {
    ref::PreForward out = ref::pre_forward(s, args(in), taps);
    return PreOutputs{std::move(out.y), std::move(out.h_post), std::move(out.h_res)};
  }

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override {
    ref::PreGradients g = ref::pre_backward(s, args(in), ref::PreUpstreamArgs{up.dy, up.dh_post, up.dh_res}, parts);
    return PreGrads{std::move(g.dx), std::move(g.dphi), std::move(g.dalpha), std::move(g.dbias), std::move(g.dgamma)};
  }

  // The golden has no post taps: post is one stage.
  PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap*) override {
    return PostOutputs{ref::post_forward(s, args(in))};
  }

  PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up, TensorMap*) override {
    ref::PostGradients g = ref::post_backward(s, args(in), up.dout);
    return PostGrads{std::move(g.dx), std::move(g.df), std::move(g.dh_post), std::move(g.dh_res)};
  }

  bool has_stages() const override { return true; }
  TensorMap run_stage(const Semantics& s, std::string_view stage, const TensorMap& in) override {
    return ref::run_stage(s, stage, in);
  }

 private:
  static ref::PreArgs args(const PreInputs& in) { return {in.x, in.phi, in.gamma, in.alpha, in.bias}; }
  static ref::PostArgs args(const PostInputs& in) { return {in.x, in.f, in.h_post, in.h_res}; }
};

}  // namespace

std::unique_ptr<Backend> make_golden_backend() { return std::make_unique<GoldenBackend>(); }

}  // namespace mhc
