// A candidate implemented by another program (`--backend exec:COMMAND`), so a Triton or PyTorch
// kernel runs every case of a sweep, the random shapes of `--random` and the diagnosis's probes,
// not one `check` file at a time.
//
// Each backend call writes the inputs (and, for a backward call, the upstream gradients) to
// IN.safetensors with the metadata "op" (pre | post), "mode" (forward | backward) and the semantics
// fields (core/semantics.hpp names, as `golden --dump` writes them), runs `COMMAND IN OUT` through
// /bin/sh in a scratch directory, and reads the results from OUT.safetensors under the names
// docs/check.md lists (forward: y, h_post, h_res | out; backward: dx, dphi, dalpha, dbias, dgamma
// | dx, df, dh_post, dh_res; other tensors in OUT are ignored). The program's output goes to a
// log whose tail a failure quotes. Local only: the service refuses exec backends by name.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kernels/backend.hpp"

namespace mhc::verify {

// "exec:COMMAND" as an ExecBackend, any other name as make_backend builds it. Error(invalid_input)
// for an empty command.
std::unique_ptr<Backend> make_candidate_backend(std::string_view name);

}  // namespace mhc::verify
