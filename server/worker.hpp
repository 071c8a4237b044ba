// The worker process: backend work runs here, isolated from the server (DESIGN.md "Service").
// A kernel that faults takes down only this process; the server reports the case as a crash and
// starts a replacement.
//
// Invocation (the CLI's hidden subcommand; main() passes argc/argv unchanged):
//   mhc-verify worker --fd N --cancel-fd M --label LABEL --parent-pid PID
// (on GPU hosts the server sets CUDA_VISIBLE_DEVICES so the worker sees only its own GPU)
// fds N and M are ends of two socketpairs speaking server/frame.hpp frames. On N, one request at a
// time, each answered before the next:
//   request  {"id", "kind":"case",  "spec":LINE, "backend", "diagnose", "check_determinism",
//            ["tolerance": {"profile", "overrides": {TENSOR: {"atol", "rtol"}}}]}
//            (the tolerance, when present, replaces the case's `tol=` profile: RunOptions.tolerance)
//   request  {"id", "kind":"check", "op", "preset", "semantics":{..}, "label", "tolerance"}
//            + payload: the safetensors bytes
//   response {"id", "verdict", "device", "case"} + payload: the CaseReport JSON text, or
//            {"id", "error": {"kind", "message"}} when the request could not be started
//            (mhc::ErrorKind; becomes the RPC status)
// On M: {"id", "kind":"cancel"} stops the running request `id` (Verifier stop_token). A separate
// channel keeps the request path free of any hand-off between threads.
// The worker exits when the channel closes or its parent dies (PR_SET_PDEATHSIG).
#pragma once

#include <nlohmann/json.hpp>

#include "verify/sweep.hpp"

namespace mhc::server {

int worker_main(int argc, char** argv);

// The "tolerance" of a case request.
nlohmann::json tolerance_json(const verify::SweepTolerance& t);
verify::SweepTolerance tolerance_from_json(const nlohmann::json& j);

}  // namespace mhc::server
