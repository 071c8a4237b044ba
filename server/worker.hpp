// The worker process: backend work runs here, isolated from the server (DESIGN.md "Service").
// A kernel that faults takes down only this process; the server reports the case as a crash and
// starts a replacement.
//
// Invocation (the CLI's hidden subcommand; main() passes argc/argv unchanged):
//   mhc-verify worker --fd N --label LABEL --parent-pid PID
// (on GPU hosts the server sets CUDA_VISIBLE_DEVICES so the worker sees only its own GPU)
// fd N is one end of a socketpair speaking server/frame.hpp frames:
//   request  {"id", "kind":"case",  "spec":LINE, "backend", "diagnose", "check_determinism"}
//   request  {"id", "kind":"check", "op", "preset", "semantics":{..}, "label", "tolerance"}
//            + payload: the safetensors bytes
//   request  {"id", "kind":"cancel"}: stop the running request `id` (Verifier stop_token)
//   response {"id", "report": CaseReport JSON}, or {"id", "error": {"kind", "message"}} when the
//            request could not be started (mhc::ErrorKind; becomes the RPC status)
// The worker exits when the channel closes or its parent dies (PR_SET_PDEATHSIG).
#pragma once

namespace mhc::server {

int worker_main(int argc, char** argv);

}  // namespace mhc::server
