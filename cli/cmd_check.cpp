// `mhc-verify check FILE.safetensors`: judge tensors produced by another implementation.
#include <iostream>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "verify/check_file.hpp"
#include "verify/report_text.hpp"
#include "verify/verifier.hpp"

namespace mhc::cli {

CLI::App* add_check(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("check", "judge the outputs and gradients in a .safetensors file against the golden");
  struct Args {
    std::string file;
    verify::CheckOptions check;
    std::string tolerance = "baseline";
    ReportFiles files;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("file", args->file, "inputs + upstream gradients + the implementation's outputs and gradients")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--op", args->check.op, "pre | post (default: the file's metadata \"op\")");
  sub->add_option("--preset", args->check.preset, "semantics preset (default: the file's metadata, else deepseek)");
  sub->add_option("--set", args->check.overrides, "semantics override KEY=VALUE (repeats=10, post_mult=1, ...)");
  sub->add_option("--phi-layout", args->check.phi_layout, "MK (default: phi is [M, K]) or KM (phi stored [K, M])")
      ->check(CLI::IsMember({"MK", "KM"}));
  sub->add_option("--stream-layout", args->check.stream_layout,
                  "TNC (default) or TCN (x, dx, dout, out stored stream-last [T, C, n])")
      ->check(CLI::IsMember({"TNC", "TCN"}));
  sub->add_option("--tolerance", args->tolerance, "tolerance profile");
  args->files.add_options(*sub);
  sub->callback([args, &exit] {
    args->files.preflight();
    verify::VerifyOptions options;
    options.tolerance = verify::tolerance_profile(args->tolerance);
    options.backend = "golden";  // no backend runs the candidate; this only sizes the verifier
    verify::CheckRequest request = verify::check_request_from_file(args->file, args->check);
    verify::Verifier verifier(options);
    verify::SweepReport sweep;
    sweep.name = "check";
    sweep.backend = request.label;
    sweep.cases.push_back(verifier.check(request));
    sweep.seconds = sweep.cases.back().seconds;
    print_report(sweep, args->files);
    exit = args->files.write(sweep, exit_code(sweep));
  });
  return sub;
}

}  // namespace mhc::cli
