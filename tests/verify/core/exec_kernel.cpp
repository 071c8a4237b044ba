// An implementation under test as a separate program, for exec_backend_test: it speaks the exec
// backend's protocol (verify/exec_backend.hpp) and computes with the emulated backend, so it is
// correct; `--scale-dx` multiplies dx by 2 (a wrong kernel), `--write-nothing` exits 0 without
// results, `--skip NAME` leaves out one result.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "verify/safetensors.hpp"

namespace {

struct Options {
  std::string skip;
  bool scale_dx = false, write_nothing = false;
};

// One call: the results for IN written to OUT. Throws on bad input.
void compute(const std::string& in, const std::string& out, const Options& o) {
  using namespace mhc;
  if (o.write_nothing) return;
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
      PreOutputs fwd = backend->pre_forward(s, pi, nullptr);
      results = {{"y", fwd.y}, {"h_post", fwd.h_post}, {"h_res", fwd.h_res}};
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
  if (o.scale_dx && results.count("dx")) {
    for (std::int64_t i = 0; i < results.at("dx").numel(); ++i) results.at("dx").set(i, 2 * results.at("dx").get(i));
  }
  results.erase(o.skip);
  verify::write_safetensors(out, {std::move(results), {}});
}

}  // namespace

// `exec_kernel [options] IN OUT` (exec protocol), or `exec_kernel [options]` reading "IN<TAB>OUT"
// lines on stdin and answering "ok" / "error: ..." (pipe protocol). --exit-after N ends the pipe
// loop after N calls without answering the last (a program that dies mid-sweep).
int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> files;
  int exit_after = -1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--scale-dx")) o.scale_dx = true;
    else if (!std::strcmp(argv[i], "--write-nothing")) o.write_nothing = true;
    else if (!std::strcmp(argv[i], "--skip") && i + 1 < argc) o.skip = argv[++i];
    else if (!std::strcmp(argv[i], "--exit-after") && i + 1 < argc) exit_after = std::atoi(argv[++i]);
    else files.push_back(argv[i]);
  }
  if (files.size() == 2) {
    try {
      compute(files[0], files[1], o);
    } catch (const std::exception& e) {
      std::cerr << "exec_kernel: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  for (std::string line; std::getline(std::cin, line);) {
    if (exit_after-- == 0) return 5;
    const auto tab = line.find('\t');
    try {
      compute(line.substr(0, tab), line.substr(tab + 1), o);
      std::cout << "ok" << std::endl;
    } catch (const std::exception& e) {
      std::cout << "error: " << e.what() << std::endl;
    }
  }
  return 0;
}
