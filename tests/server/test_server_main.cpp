// A stand-in for the `mhc-verify` binary in the server tests, the Python client test and
// scripts/soak.sh, so they do not depend on the CLI being built:
//   mhc_server_testbin worker --fd N ...   (server/worker.hpp)
//   mhc_server_testbin serve [serve options] (server/options.hpp)
#include <string_view>

#include <CLI/CLI.hpp>

#include "server/options.hpp"
#include "server/serve.hpp"
#include "server/worker.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "worker") return mhc::server::worker_main(argc, argv);
  CLI::App app("mhc-verify service test binary");
  app.require_subcommand(1);
  mhc::server::ServeOptions options;
  auto* serve = app.add_subcommand("serve", "run the gRPC service");
  mhc::server::add_serve_options(*serve, options);
  CLI11_PARSE(app, argc, argv);
  // Workers are this binary's `worker` subcommand.
  return mhc::server::serve_main(options);
}
