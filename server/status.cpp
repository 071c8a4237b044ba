#include "server/status.hpp"

namespace mhc::server {

grpc::Status to_status(const std::exception& e) {
  const auto* error = dynamic_cast<const mhc::Error*>(&e);
  if (error == nullptr) return {grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what()};
  switch (error->kind()) {
    case ErrorKind::invalid_input: return {grpc::StatusCode::INVALID_ARGUMENT, error->what()};
    case ErrorKind::unsupported: return {grpc::StatusCode::FAILED_PRECONDITION, error->what()};
    case ErrorKind::environment: return {grpc::StatusCode::UNAVAILABLE, error->what()};
    case ErrorKind::internal: break;
  }
  return {grpc::StatusCode::INTERNAL, std::string("internal error: ") + error->what()};
}

grpc::Status current_exception_status() {
  try {
    throw;
  } catch (const std::exception& e) {
    return to_status(e);
  } catch (...) {
    return {grpc::StatusCode::INTERNAL, "internal error: unknown exception"};
  }
}

void invalid_field(const std::string& field, const std::string& what) {
  throw mhc::Error(ErrorKind::invalid_input, field + ": " + what);
}

}  // namespace mhc::server
