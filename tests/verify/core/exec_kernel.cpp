// An implementation under test as a separate program, for exec_backend_test: it speaks the exec
// backend's protocol (verify/exec_backend.hpp) and computes with the emulated backend, so it is
// correct; `--scale-dx` multiplies dx by 2 (a wrong kernel), `--write-nothing` exits 0 without
// results, `--skip NAME` leaves out one result.
#include <cstring>
#include <iostream>
#include <string>

#include "kernels/backend.hpp"
#include "verify/safetensors.hpp"

int main(int argc, char** argv) {
  using namespace mhc;
  std::string in, out, skip;
  bool scale_dx = false, write_nothing = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--scale-dx")) scale_dx = true;
    else if (!std::strcmp(argv[i], "--write-nothing")) write_nothing = true;
    else if (!std::strcmp(argv[i], "--skip") && i + 1 < argc) skip = argv[++i];
    else (in.empty() ? in : out) = argv[i];
  }
  if (write_nothing) return 0;
  try {
    verify::SafetensorsFile file = verify::read_safetensors(in);
    const Semantics s = from_fields(file.metadata);
    const bool forward = file.metadata.at("mode") == "forward";
    TensorMap& t = file.tensors;
    auto get = [&](const char* name) { return t.count(name) ? t.at(name) : Tensor(); };
    const auto backend = make_backend("emulated");
    TensorMap results;
    if (file.metadata.at("op") == "pre") {
      const PreInputs pi{get("x"), get("phi"), get("gamma"), get("alpha"), get("bias")};
      if (forward) {
        PreOutputs o = backend->pre_forward(s, pi, nullptr);
        results = {{"y", o.y}, {"h_post", o.h_post}, {"h_res", o.h_res}};
      } else {
        PreGrads g = backend->pre_backward(s, pi, {get("dy"), get("dh_post"), get("dh_res")}, nullptr);
        results = {{"dx", g.dx}, {"dphi", g.dphi}, {"dalpha", g.dalpha}, {"dbias", g.dbias}};
        if (g.dgamma.defined()) results.emplace("dgamma", g.dgamma);
      }
    } else {
      const PostInputs pi{get("x"), get("f"), get("h_post"), get("h_res")};
      if (forward) {
        results = {{"out", backend->post_forward(s, pi, nullptr).out}};
      } else {
        PostGrads g = backend->post_backward(s, pi, {get("dout")}, nullptr);
        results = {{"dx", g.dx}, {"df", g.df}, {"dh_post", g.dh_post}, {"dh_res", g.dh_res}};
      }
    }
    if (scale_dx && results.count("dx")) {
      for (std::int64_t i = 0; i < results.at("dx").numel(); ++i) results.at("dx").set(i, 2 * results.at("dx").get(i));
    }
    results.erase(skip);
    verify::write_safetensors(out, {std::move(results), {}});
  } catch (const std::exception& e) {
    std::cerr << "exec_kernel: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
