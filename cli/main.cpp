// mhc-verify: one binary, subcommands (DESIGN.md "CLI"). `mhc-verify --shapes FILE` is `run`.
#include <algorithm>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/common.hpp"
#include "cli/memory.hpp"
#include "core/error.hpp"
#include "server/worker.hpp"

namespace {

// `mhc-verify --shapes sweep.yaml ...` means `mhc-verify run --shapes sweep.yaml ...`.
std::vector<std::string> with_default_subcommand(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool flag_first = !args.empty() && args[0].starts_with("-") && args[0] != "-h" && args[0] != "--help" &&
                          args[0] != "--version";
  if (flag_first) args.insert(args.begin(), "run");
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mhc::cli;
  // Worker processes of `serve` re-execute this binary; they parse their own arguments.
  if (argc > 1 && std::string(argv[1]) == "worker") return mhc::server::worker_main(argc, argv);
  if (argc < 2 || std::string(argv[1]) != "serve") keep_freed_memory();
  CLI::App app{"mhc-verify: correctness verification and reference harness for mHC kernels.\n"
               "Start with `mhc-verify --shapes examples/quick.yaml`; `mhc-verify info` lists backends and presets.",
               "mhc-verify"};
  app.set_version_flag("--version", std::string("mhc-verify ") + MHC_VERSION);
  app.require_subcommand(1);
  int exit = ok;
  add_run(app, exit);
  add_check(app, exit);
  add_decompose(app, exit);
  add_self_test(app, exit);
  add_golden(app, exit);
  add_info(app, exit);
  add_merge(app, exit);
  add_serve(app, exit);
  add_bench(app, exit);

  auto args = with_default_subcommand(argc, argv);
  // CLI11 would take a mistyped command for a stray argument and say only that one is required.
  std::string names;
  bool known = false;
  for (const auto* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known |= !args.empty() && sub->get_name() == args[0];
  }
  if (!args.empty() && !args[0].starts_with("-") && !known) {
    std::cerr << "mhc-verify: error: unknown command \"" << args[0] << "\" (commands: " << names << ")\n";
    return bad_input;
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the reversed vector form
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? ok : bad_input;
  } catch (const mhc::Error& e) {
    std::cerr << "mhc-verify: error: " << e.what() << "\n";
    return e.kind() == mhc::ErrorKind::invalid_input || e.kind() == mhc::ErrorKind::unsupported ? bad_input
                                                                                                : infrastructure;
  } catch (const std::bad_alloc&) {
    std::cerr << "mhc-verify: error: out of memory; try smaller shapes or fewer --jobs\n";
    return infrastructure;
  } catch (const std::exception& e) {
    std::cerr << "mhc-verify: internal error: " << e.what() << "\n";
    return infrastructure;
  }
  return exit;
}
