// `mhc-verify check FILE.safetensors`: judge tensors produced by another implementation.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "verify/check_file.hpp"
#include "verify/report_text.hpp"
#include "verify/verifier.hpp"

namespace mhc::cli {
namespace {

struct Args {
  std::string file;
  verify::CheckOptions check;
  std::string tolerance = "baseline";
  ReportFiles files;
};

// Reruns this check from any directory: the file's absolute path and every flag that changes
// what is judged or how.
// `op` selects one op of a file that holds both.
std::string reproduce_command(const Args& a, const std::string& op) {
  const verify::CheckOptions defaults;
  std::string line = "mhc-verify check " + verify::shell_quote(std::filesystem::absolute(a.file).string());
  if (!op.empty()) line += " --op " + op;
  if (!a.check.preset.empty()) line += " --preset " + verify::shell_quote(a.check.preset);
  for (const auto& o : a.check.overrides) line += " --set " + verify::shell_quote(o);
  if (a.check.phi_layout != defaults.phi_layout) line += " --phi-layout " + a.check.phi_layout;
  if (a.check.stream_layout != defaults.stream_layout) line += " --stream-layout " + a.check.stream_layout;
  if (!a.check.precision.empty()) line += " --precision " + a.check.precision;
  if (a.tolerance != Args{}.tolerance) line += " --tolerance " + verify::shell_quote(a.tolerance);
  return line;
}

}  // namespace

CLI::App* add_check(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("check", "judge the outputs and gradients in a .safetensors file against the golden (one op, or both with pre./post. prefixes)");
  auto args = std::make_shared<Args>();
  // No ExistingFile check: a missing file is an error row of the report like any unreadable one.
  sub->add_option("file", args->file, "inputs + upstream gradients + the implementation's outputs and gradients")
      ->required();
  sub->add_option("--op", args->check.op, "pre | post (default: the file's metadata \"op\")");
  sub->add_option("--preset", args->check.preset, "semantics preset, replacing the file's semantics fields (default: the file's metadata, else deepseek)");
  sub->add_option("--set", args->check.overrides, "semantics override KEY=VALUE (repeats=10, post_mult=1, ...)");
  sub->add_option("--phi-layout", args->check.phi_layout, "MK (default: phi is [M, K]) or KM (phi stored [K, M])")
      ->check(CLI::IsMember({"MK", "KM"}));
  sub->add_option("--stream-layout", args->check.stream_layout,
                  "TNC (default) or TCN (x, dx, dout, out stored stream-last [T, C, n])")
      ->check(CLI::IsMember({"TNC", "TCN"}));
  sub->add_option("--precision", args->check.precision,
                  "the arithmetic the implementation was written to use, which sets the baseline judging it: "
                  "f32, tf32 (phi' rounded to TF32 for the projection), bf16gemm (m rounded to bf16), bf16dx (dx "
                  "kept in bf16 between stages) (default: the file's metadata \"precision\", else f32)")
      ->check(CLI::IsMember({"f32", "tf32", "bf16gemm", "bf16dx"}));
  sub->add_option("--tolerance", args->tolerance, "tolerance profile");
  args->files.add_options(*sub);
  sub->callback([args, &exit] {
    args->files.preflight();
    verify::VerifyOptions options;
    options.tolerance = verify::tolerance_profile(args->tolerance);
    options.backend = "golden";  // no backend runs the candidate; this only sizes the verifier
    verify::Verifier verifier(options);
    verify::SweepReport sweep;
    sweep.name = "check";
    sweep.backend = std::filesystem::path(args->file).filename().string();
    // A file that cannot become a request (corrupt, wrong layout flag) is an error row of the
    // report like an error inside the check, so the report files a CI job reads always exist.
    try {
      for (const auto& request : verify::check_requests_from_file(args->file, args->check)) {
        if (request.precision != "f32") {
          std::cerr << fmt::format("mhc-verify: {} declares precision {}: judged against {}\n", request.label,
                                   request.precision, verify::precision_baseline(request.precision));
        }
        sweep.cases.push_back(verifier.check(request));
      }
    } catch (const Error& e) {
      verify::CaseReport failed;
      failed.backend = sweep.backend;
      failed.verdict = verify::Verdict::error;
      failed.error = e.what();
      failed.error_kind = e.kind();
      sweep.cases.push_back(std::move(failed));
    }
    const bool both_ops = sweep.cases.size() > 1;
    for (auto& c : sweep.cases) {
      c.reproduce = reproduce_command(*args, both_ops ? std::string(verify::to_string(c.spec.op)) : args->check.op);
      sweep.seconds += c.seconds;
    }
    print_report(sweep, args->files);
    exit = args->files.write(sweep, exit_code(sweep));
  });
  return sub;
}

}  // namespace mhc::cli
