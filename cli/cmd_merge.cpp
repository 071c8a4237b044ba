// `mhc-verify merge`: join the JSON reports of a sharded sweep into one.
#include <iostream>

#include "cli/common.hpp"
#include "verify/merge.hpp"

namespace mhc::cli {

CLI::App* add_merge(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("merge", "combine the JSON reports of sweep shards into one report");
  struct Args {
    std::vector<std::string> inputs;
    ReportFiles files;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("reports", args->inputs, "shard reports written with --json")->required()->check(CLI::ExistingFile);
  args->files.add_options(*sub);
  sub->callback([args, &exit] {
    args->files.preflight();
    std::vector<std::filesystem::path> paths(args->inputs.begin(), args->inputs.end());
    const verify::SweepReport merged = verify::merge_report_files(paths);
    print_report(merged, args->files, /*only_failures=*/true);
    exit = args->files.write(merged, exit_code(merged));
  });
  return sub;
}

}  // namespace mhc::cli
