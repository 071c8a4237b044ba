#include "tests/robustness/extremes.hpp"

#include <cmath>

#include <fmt/format.h>

#include "verify/casegen.hpp"
#include "verify/op_runner.hpp"

namespace mhc::robustness {

Case make_case(std::string_view line) {
  Case c;
  c.spec = verify::CaseSpec::parse(line);
  c.tensors = verify::case_tensors(c.spec);
  return c;
}

TensorMap results_of(std::string_view backend, const Case& c) {
  auto b = make_backend(backend);
  return verify::run_op(*b, c.spec.op, c.spec.semantics, c.tensors, false).results;
}

std::optional<std::string> first_nonfinite(const TensorMap& results) {
  for (const auto& [name, t] : results)
    for (std::int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.get(i))) return fmt::format("{}[{}] = {}", name, i, t.get(i));
  return std::nullopt;
}

std::int64_t flat_index(const Tensor& t, std::initializer_list<std::int64_t> index) {
  std::int64_t flat = 0;
  std::size_t d = 0;
  for (const auto i : index) flat = flat * t.dim(d++) + i;
  return flat;
}

void fill(Tensor& t, double value) {
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set(i, value);
}

}  // namespace mhc::robustness
