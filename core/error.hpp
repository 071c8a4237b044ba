// One error type for the whole tool. The kind decides the CLI exit code (DESIGN.md "CLI") and
// the gRPC status; the message names the problem and, where possible, what to do next.
#pragma once

#include <stdexcept>
#include <string>

namespace mhc {

enum class ErrorKind {
  invalid_input,  // bad shape, bad file, bad flag: the user must change something (exit 2)
  environment,    // no device, out of memory, server unreachable (exit 3)
  unsupported,    // a valid request this backend cannot serve (exit 2)
  internal,       // a bug in mhc-verify itself (exit 3)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

[[noreturn]] inline void invalid_input(const std::string& message) {
  throw Error(ErrorKind::invalid_input, message);
}

}  // namespace mhc
