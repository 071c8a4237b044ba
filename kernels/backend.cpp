#include "kernels/backend.hpp"

#include "core/error.hpp"

namespace mhc {

TensorMap Backend::run_stage(const Semantics&, std::string_view stage, const TensorMap&) {
  fail(ErrorKind::unsupported, "backend " + name() + " has no entry point for stage \"" + std::string(stage) + "\"");
}

}  // namespace mhc
