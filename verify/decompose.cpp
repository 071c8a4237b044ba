// Tap/component comparison and stage isolation; the diagnosis itself is in diagnose.cpp.
#include <algorithm>
#include <cstdlib>

#include "core/error.hpp"
#include "kernels/taps.hpp"
#include "verify/diagnose.hpp"
#include "verify/diagnose_detail.hpp"
#include "verify/op_runner.hpp"

namespace mhc::verify {
namespace {

// Pipeline order: forward taps, Sinkhorn iterates, backward parts.
int rank_of(const std::string& name) {
  static const std::vector<std::string> order = {
      "tap.m", "tap.inv_rms", "tap.m_hat", "tap.z", "tap.h_pre", "tap.h_post", "tap.sinkhorn.", "tap.h_res",
      "tap.y", "part.dh_pre", "part.dz", "part.dinv_rms", "part.dx_apply", "part.dx_mm_pre", "part.dx_mm_post",
      "part.dx_mm_res", "part.dx_mm", "part.dx_norm", "part.dphi_", "part.dbias_", "part.dgamma_"};
  // Entries ending in '.' or '_' are families (tap.sinkhorn.<k>, part.dphi_<block>); the rest are
  // exact names (tap.m must not swallow tap.m_hat).
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::string& o = order[i];
    const bool family = o.back() == '.' || o.back() == '_';
    if (family ? name.starts_with(o) : name == o) return static_cast<int>(i);
  }
  return static_cast<int>(order.size());
}

bool pipeline_less(const std::string& a, const std::string& b) {
  const int ra = rank_of(a), rb = rank_of(b);
  if (ra != rb) return ra < rb;
  if (a.starts_with("tap.sinkhorn.") && b.starts_with("tap.sinkhorn.")) {
    return std::atoi(a.c_str() + 13) < std::atoi(b.c_str() + 13);
  }
  return a < b;
}

TensorCheck judge_tap(const std::string& label, const std::string& name, const Tensor& cand, const Tensor& gold,
                      const TensorMap& base_taps, const Tolerance& tol, std::int64_t reduction_length) {
  const auto b = base_taps.find(name);
  Tolerance t = tol;
  if (b == base_taps.end() && !t.fixed) t.fixed = FixedTolerance{1e-6, 1e-2};  // no baseline tap: relative 1%
  JudgeInput in{name, role_of(name), &cand, &gold, b == base_taps.end() ? nullptr : &b->second, reduction_length,
                is_per_token(name)};
  TensorCheck c = judge(in, t);
  c.name = label;
  return c;
}

// Inputs of each stage (kernels/taps.hpp), taken from the case inputs and the golden taps.
std::vector<std::string> stage_inputs(std::string_view stage) {
  if (stage == "norm_proj") return {"x", "phi", "gamma"};
  if (stage == "mix") return {"tap.m", "tap.inv_rms", "alpha", "bias"};
  if (stage == "resmap") return {"tap.z"};
  if (stage == "apply") return {"x", "tap.h_pre"};
  return {"x", "f", "h_post", "h_res"};
}

}  // namespace

Decomposition decompose_and_diagnose(const DiagnoseInput& d, bool failed) {
  Decomposition out;
  TapSet taps;
  if (d.candidate_backend) {
    taps.candidate = run_op(*d.candidate_backend, d.op, d.semantics, d.inputs, true).taps;
    taps.golden = run_op(d.golden_backend, d.op, d.semantics, d.inputs, true).taps;
    if (!d.tolerance.fixed) taps.baseline = run_op(d.baseline_backend, d.op, d.semantics, d.inputs, true).taps;

    std::vector<std::string> names;
    for (const auto& [name, t] : taps.golden) {
      if (taps.candidate.count(name)) names.push_back(name);
    }
    std::sort(names.begin(), names.end(), pipeline_less);
    // Taps come from reductions over K (the projection) or T (parameter parts): judge each with
    // the longer length, which only widens the f32 floor.
    const std::int64_t longest = std::max(d.shape.K(), d.shape.T);
    for (const auto& name : names) {
      out.rows.push_back(judge_tap(name, name, taps.candidate.at(name), taps.golden.at(name), taps.baseline, d.tolerance,
                                     longest));
    }

    // Stage isolation: each stage fed golden inputs, so a bad stage shows even when a later one
    // would mask it or an earlier one already diverged.
    if (d.op == Op::pre && d.candidate_backend->has_stages()) {
      for (std::string_view stage : taps::stages) {
        if (stage == "post") continue;
        TensorMap in;
        for (const auto& name : stage_inputs(stage)) {
          const auto a = d.inputs.find(name);
          const auto g = taps.golden.find(name);
          if (a != d.inputs.end()) in[name] = a->second;
          else if (g != taps.golden.end()) in[name] = g->second;
        }
        TensorMap cand;
        try {
          cand = d.candidate_backend->run_stage(d.semantics, stage, in);
        } catch (const Error&) {
          continue;  // the backend lacks this entry point
        }
        for (const auto& [name, t] : cand) {
          const auto g = taps.golden.find(name);
          if (g == taps.golden.end()) continue;
          out.rows.push_back(judge_tap("stage." + std::string(stage) + ":" + name, name, t, g->second, taps.baseline,
                                       d.tolerance, longest));
        }
      }
    }
  }
  if (failed) out.diagnosis = diagnose(d, out.rows, taps);
  return out;
}

}  // namespace mhc::verify
