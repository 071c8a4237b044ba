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
// log whose tail a failure quotes. Local only: the service refuses these backends by name.
//
// `--backend pipe:COMMAND` runs the same protocol over one long-lived process (per verifier
// thread): each call sends the line "IN<TAB>OUT" on its stdin and waits for the line "ok" (or
// "error: MESSAGE") on its stdout; the program ends when its stdin closes. It saves the program's
// start-up per call (Python with torch and Triton: seconds). clients/python's serve_kernel speaks
// both.
//
// Each program runs in a process group of its own, so that a call over its time limit is killed
// with everything it started (a compound command's children, a script's Python); the terminal's
// Ctrl-C therefore no longer reaches it directly, and mhc-verify passes such signals on
// (signal_programs).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "kernels/backend.hpp"

namespace mhc::verify {

// "exec:COMMAND" or "pipe:COMMAND": a program backend, whose calls are killed after
// `call_timeout` (0: never; an Error(environment) saying so); any other name as make_backend builds
// it. Error(invalid_input) for an empty command.
std::unique_ptr<Backend> make_candidate_backend(std::string_view name,
                                                std::chrono::milliseconds call_timeout = std::chrono::milliseconds(0));
bool is_program_backend(std::string_view name);

// Sends `sig` to the process group of every program a program backend is running (what the
// terminal would have sent them had they shared mhc-verify's group). Thread-safe; for the thread
// that takes SIGINT and SIGTERM.
void signal_programs(int sig);

}  // namespace mhc::verify
