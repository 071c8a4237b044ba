// `mhc-verify golden`: the f64 golden of one case, written as .safetensors (inputs, upstream
// gradients, outputs, gradients, taps, components), or recomputed from a file of inputs.
#include <charconv>
#include <iostream>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "kernels/backend.hpp"
#include "verify/casegen.hpp"
#include "verify/check_file.hpp"
#include "verify/op_runner.hpp"
#include "verify/safetensors.hpp"

namespace mhc::cli {

CLI::App* add_golden(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("golden", "compute the f64 golden of one case and dump every tensor to .safetensors");
  struct Args {
    std::string preset = "deepseek", op = "pre", dist = "normal", from, dump;
    std::int64_t T = 16, n = 4, C = 64;
    std::uint64_t seed = 0;
    std::vector<std::string> set;
  };
  auto args = std::make_shared<Args>();
  auto* preset_opt = sub->add_option("--preset", args->preset, "deepseek | mhc_ops | lite | paper");
  auto* op_opt = sub->add_option("--op", args->op, "pre | post")->check(CLI::IsMember({"pre", "post"}));
  auto* from = sub->add_option("--from", args->from,
                               "recompute from the inputs in this .safetensors: op and semantics from its metadata "
                               "unless --op, --preset or --set say otherwise, as for check")
                   ->check(CLI::ExistingFile);
  // With --from the tensors are the file's: the flags that would generate them have no meaning.
  // A uint64 option would wrap -1 and clamp 2^64: only decimal digits that fit (the case line's seed).
  const CLI::Validator seed_value(
      [](std::string& v) -> std::string {
        std::uint64_t seed = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seed);
        return ec == std::errc() && end == v.data() + v.size() ? "" : "a seed is a whole number in [0, 2^64)";
      },
      "SEED");
  auto* seed = sub->add_option("--seed", args->seed, "case seed")->check(seed_value);
  for (auto* generated : {sub->add_option("--tokens,-T", args->T, "T"), sub->add_option("--streams,-n", args->n, "n"),
                          sub->add_option("--hidden,-C", args->C, "C"), seed,
                          sub->add_option("--dist", args->dist, "input distribution (docs/sweeps.md)")}) {
    from->excludes(generated);
  }
  sub->add_option("--set", args->set, "semantics override KEY=VALUE, e.g. --set repeats=10 --set post_mult=1");
  sub->add_option("--dump", args->dump, "output .safetensors")->required();
  sub->callback([args, preset_opt, op_opt, &exit] {
    verify::SafetensorsFile out;
    verify::Op op;
    Semantics semantics;
    TensorMap inputs;
    if (!args->from.empty()) {
      // The same reading of op, preset and overrides as `check` of the same file.
      verify::CheckOptions options;
      if (op_opt->count()) options.op = args->op;
      if (preset_opt->count()) options.preset = args->preset;
      options.overrides = args->set;
      const verify::CheckRequest in = verify::check_request_from_file(args->from, options);
      op = in.op;
      semantics = in.semantics;
      for (const auto& name : verify::input_names(op, semantics)) {
        const auto it = in.tensors.find(name);
        if (it == in.tensors.end()) invalid_input(args->from + " has no tensor \"" + name + "\"");
        inputs[name] = it->second;
      }
      verify::require_finite_inputs(op, semantics, inputs);
      // Not the file's metadata: its "case" line would claim these tensors regenerate from it.
      out.metadata["preset"] = in.preset;
    } else {
      std::string line = fmt::format("{} T={} n={} C={} preset={} seed={} dist={}", args->op, args->T, args->n, args->C,
                                     args->preset, args->seed, args->dist);
      for (const auto& kv : args->set) line += " " + kv;
      const verify::CaseSpec spec = verify::CaseSpec::parse(line);
      op = spec.op;
      semantics = spec.semantics;
      inputs = verify::case_tensors(spec);
      out.metadata = verify::case_metadata(spec);
    }
    validate(verify::shape_of(inputs), semantics);
    auto golden = make_backend("golden");
    verify::OpRun run = verify::run_op(*golden, op, semantics, inputs, true);
    out.tensors = inputs;
    for (auto& [name, t] : run.results) out.tensors[name] = std::move(t);
    for (auto& [name, t] : run.taps) out.tensors[name] = std::move(t);
    for (const auto& [k, v] : to_fields(semantics)) out.metadata[k] = v;
    out.metadata["op"] = std::string(verify::to_string(op));
    out.metadata["producer"] = std::string("mhc-verify golden ") + MHC_VERSION;
    verify::write_safetensors(args->dump, out);
    std::cerr << fmt::format("wrote {} tensors to {}\n", out.tensors.size(), args->dump);
    exit = ok;
  });
  return sub;
}

}  // namespace mhc::cli
