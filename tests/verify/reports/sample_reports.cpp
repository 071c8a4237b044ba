#include "sample_reports.hpp"

#include <limits>

namespace mhc::verify::testing {

TensorCheck check(const std::string& name, double ratio, bool pass) {
  TensorCheck t;
  t.name = name;
  t.shape = {13, 4, 64};
  t.ref_max_abs = 3.5;
  t.elem_tolerance = 4e-3;
  t.row_tolerance = 2e-3;
  t.candidate.max_abs = ratio * t.elem_tolerance;
  t.candidate.max_at = {7, 1, 33};
  t.candidate.max_rel = 1e-3 * ratio;
  t.candidate.rel_l2 = 2e-4 * ratio;
  t.candidate.worst_row_rel_l2 = 1e-4;
  t.candidate.worst_row = 7;
  t.candidate.max_ulps = 2.5 * ratio;
  ErrorStats baseline;
  baseline.max_abs = 1.5e-3;
  baseline.max_at = {2, 0, 5};
  baseline.rel_l2 = 1e-4;
  baseline.worst_row_rel_l2 = 5e-4;
  baseline.worst_row = 2;
  t.baseline = baseline;
  t.rule = "baseline k=2, floor 4 ulp";
  t.mismatches = pass ? 0 : 12;
  t.mismatch_fraction = pass ? 0 : 12.0 / 3328;
  t.verdict = pass ? Verdict::pass : Verdict::fail;
  t.reason = pass ? "max |err| within tolerance" : "max |err| above 2 x baseline + floor at [t=7, i=1, c=33]";
  return t;
}

CaseReport passing_case(std::int64_t T, std::int64_t n, std::int64_t C, std::uint64_t seed) {
  CaseReport c;
  c.spec.op = Op::pre;
  c.spec.shape = {T, n, C};
  c.spec.seed = seed;
  c.backend = "emulated";
  c.baseline = "emulated:reorder";
  // Errors that drift with T, so the shape plot has something to show.
  const double drift = static_cast<double>(T) / 10000.0;
  c.tensors = {check("y", 0.05 + drift, true), check("h_post", 0.02, true), check("h_res", 0.1, true),
               check("dx", 0.2 + drift, true), check("dphi", 0.4, true)};
  c.reproduce = "mhc-verify run --case '" + c.spec.to_string() + "'";
  c.seconds = 0.12;
  c.backend_seconds = 0.1;
  return c;
}

CaseReport failing_case() {
  CaseReport c;
  c.spec.op = Op::pre;
  c.spec.shape = {137, 4, 1280};
  c.spec.seed = 3;
  c.spec.distribution = "zero_rows";
  c.backend = "mutant:dx_res_missing_inv_rms";
  c.baseline = "emulated:reorder";
  c.verdict = Verdict::fail;
  c.tensors = {check("y", 0.05, true), check("h_post", 0.02, true), check("h_res", 0.1, true),
               check("dx", 41.0, false), check("dphi", 0.4, true), check("dgamma", 7.5, false)};
  c.decomposition = {check("tap.m", 0.01, true),         check("tap.inv_rms", 0.02, true),
                     check("tap.z", 0.03, true),         check("tap.h_res", 0.1, true),
                     check("part.dx_apply", 0.2, true),  check("part.dx_mm_pre", 0.3, true),
                     check("part.dx_mm_post", 0.3, true), check("part.dx_mm_res", 55.0, false),
                     check("part.dx_norm", 0.4, true)};
  Diagnosis d;
  d.tag = "missing_factor";
  d.sentence = "dx and dgamma are wrong only in their res block, by the factor inv_rms: the res block misses r";
  d.tensor = "dx";
  d.component = "part.dx_mm_res";
  d.fields = {{"block", "res"}, {"ratio", "inv_rms"}};
  c.diagnosis = d;
  c.reproduce = "mhc-verify run --backend mutant:dx_res_missing_inv_rms --case '" + c.spec.to_string() + "'";
  c.seconds = 0.8;
  c.backend_seconds = 0.7;
  return c;
}

CaseReport orientation_case() {
  CaseReport c;
  c.spec.op = Op::post;
  c.spec.shape = {13, 4, 1280};
  c.spec.distribution = "wide_logits";
  c.backend = "mutant:post_h_not_transposed";
  c.baseline = "emulated:reorder";
  c.verdict = Verdict::fail;
  c.tensors = {check("out", 18.0, false), check("dx", 9.0, false), check("df", 0.2, true),
               check("dh_post", 0.5, true), check("dh_res", 12.5, false)};
  Diagnosis d;
  d.tag = "orientation";
  d.sentence = "post applies H where the convention is H^T: the error is proportional to |H - H^T|";
  d.tensor = "out";
  d.fields = {{"streams", "0..3"}};
  c.diagnosis = d;
  c.reproduce = "mhc-verify run --backend mutant:post_h_not_transposed --case '" + c.spec.to_string() + "'";
  c.seconds = 0.3;
  return c;
}

CaseReport skipped_case() {
  CaseReport c;
  c.spec.shape = {0, 4, 64};
  c.verdict = Verdict::skip;
  c.error = "T=0 with gamma: rule 'empty batches' of sweep.yaml";
  return c;
}

CaseReport error_case() {
  CaseReport c;
  c.spec.shape = {4097, 8, 7168};
  c.verdict = Verdict::error;
  c.error = "cuda: out of memory allocating 1.8 GiB for dphi";
  c.reproduce = "mhc-verify run --case '" + c.spec.to_string() + "'";
  c.seconds = 0.01;
  return c;
}

CaseReport crashed_case() {
  CaseReport c;
  c.spec.op = Op::post;
  c.spec.shape = {65537, 4, 4096};
  c.verdict = Verdict::crash;
  c.device = "cuda:0";
  c.error = "worker exited: an illegal memory access was encountered";
  c.reproduce = "mhc-verify run --backend cuda --case '" + c.spec.to_string() + "'";
  c.seconds = 2.5;
  return c;
}

SweepReport sample_sweep() {
  SweepReport r;
  r.name = "quick";
  r.tool_version = "0.1.0";
  r.backend = "emulated";
  for (std::int64_t T : {1, 13, 137, 1024, 4097}) r.cases.push_back(passing_case(T));
  CaseReport post_pass = passing_case(256, 4, 1280);
  post_pass.spec.op = Op::post;
  post_pass.tensors = {check("out", 0.3, true), check("dx", 0.5, true), check("df", 0.2, true),
                       check("dh_post", 0.1, true), check("dh_res", 0.6, true)};
  r.cases.push_back(post_pass);
  r.cases.push_back(failing_case());
  r.cases.push_back(orientation_case());
  r.cases.push_back(skipped_case());
  r.cases.push_back(error_case());
  r.cases.push_back(crashed_case());
  for (std::size_t i = 0; i < r.cases.size(); ++i) r.cases[i].index = static_cast<std::int64_t>(i);
  r.seconds = 4.2;
  return r;
}

}  // namespace mhc::verify::testing
