// `mhc-verify serve`: the gRPC verification service (server/), and its hidden worker processes.
#include "cli/common.hpp"
#include "server/options.hpp"
#include "server/serve.hpp"

namespace mhc::cli {

CLI::App* add_serve(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("serve", "run the gRPC verification service (binds 127.0.0.1 unless told otherwise)");
  auto options = std::make_shared<server::ServeOptions>();
  server::add_serve_options(*sub, *options);
  sub->callback([options, &exit] { exit = server::serve_main(*options); });
  return sub;
}

}  // namespace mhc::cli
