// The one place where internal errors become gRPC statuses (DESIGN.md "Service").
//
//   mhc::Error invalid_input  -> INVALID_ARGUMENT (the message names the field)
//   mhc::Error unsupported    -> FAILED_PRECONDITION (valid, but not servable here)
//   mhc::Error environment    -> UNAVAILABLE (device or host trouble; another server may do)
//   mhc::Error internal, any other exception -> INTERNAL
// A numerical FAIL or a crashed kernel is a verdict inside an OK response, never a status.
#pragma once

#include <exception>
#include <string>

#include <grpcpp/support/status.h>

#include "core/error.hpp"

namespace mhc::server {

grpc::Status to_status(const std::exception& e);
// The status of the exception being handled (call inside a catch block).
grpc::Status current_exception_status();

// INVALID_ARGUMENT "<field>: <what>", for checks the server makes itself.
[[noreturn]] void invalid_field(const std::string& field, const std::string& what);

}  // namespace mhc::server
