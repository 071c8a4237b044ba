// The golden (reference/, f64) behind the Backend interface. Outputs are f64 tensors.
#pragma once

#include <memory>

#include "kernels/backend.hpp"

namespace mhc {

std::unique_ptr<Backend> make_golden_backend();

}  // namespace mhc
