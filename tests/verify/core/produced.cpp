#include "produced.hpp"

#include "verify/casegen.hpp"
#include "verify/op_runner.hpp"

namespace mhc::verify::testing {

CheckRequest produced_by(const std::string& backend, const CaseSpec& spec) {
  return produced_by(backend, spec, spec.semantics);
}

CheckRequest produced_by(const std::string& backend, const CaseSpec& spec, const Semantics& semantics) {
  CheckRequest request;
  request.op = spec.op;
  request.semantics = spec.semantics;
  request.preset = spec.preset;
  request.label = backend + ".safetensors";
  request.tensors = case_tensors(spec);
  const auto impl = make_backend(backend);
  const OpRun run = run_op(*impl, spec.op, semantics, request.tensors, false);
  for (const auto& [name, t] : run.results) request.tensors[name] = t;
  return request;
}

}  // namespace mhc::verify::testing
