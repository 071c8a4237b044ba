// `mhc-verify decompose CASE`: the full stage and component table of one case.
#include <iostream>

#include "cli/common.hpp"
#include "verify/report_text.hpp"
#include "verify/verifier.hpp"

namespace mhc::cli {

CLI::App* add_decompose(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("decompose", "compare every stage and gradient component of one case");
  struct Args {
    std::string case_line;
    std::string backend = "auto";
    std::string tolerance;  // empty: the case line's tol=
    ProgramOptions program;
    ReportFiles files;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("case", args->case_line,
                  "the case line, e.g. \"pre T=137 n=4 C=1280 preset=deepseek seed=3 dist=normal\"")
      ->required();
  sub->add_option("--backend", args->backend, "backend under test (see `mhc-verify info`), or pipe:COMMAND / exec:COMMAND");
  sub->add_option("--tolerance", args->tolerance, "tolerance profile (default: the case line's tol=, else baseline)");
  add_program_options(*sub, args->program);
  args->files.add_options(*sub);
  sub->callback([args, &exit] {
    args->files.preflight();
    refuse_local_crash_backend(args->backend);
    verify::CaseSpec spec = verify::CaseSpec::parse(args->case_line);
    // The flag rewrites the line's tol=, so the report's case line (and its reproduce line) says
    // which profile judged it.
    if (!args->tolerance.empty()) spec.tolerance = args->tolerance;
    verify::VerifyOptions options;
    options.backend = args->backend;
    options.allow_exec = true;
    check_program_options(args->backend, args->program);
    options.precision = args->program.precision;
    options.call_timeout = std::chrono::milliseconds(static_cast<long long>(args->program.call_timeout * 1000));
    options.tolerance = verify::tolerance_profile(spec.tolerance);
    options.always_decompose = true;
    verify::Verifier verifier(options);
    verify::SweepReport sweep;
    sweep.name = "decompose";
    sweep.backend = verifier.backend_name();
    sweep.cases.push_back(verifier.run(spec));
    sweep.seconds = sweep.cases.back().seconds;
    std::cout << verify::render_decomposition(sweep.cases.back(), args->files.color_stdout()) << "\n";
    print_report(sweep, args->files);
    exit = args->files.write(sweep, exit_code(sweep));
  });
  return sub;
}

}  // namespace mhc::cli
