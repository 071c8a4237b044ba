// Who may use the service: the bearer token (constant-time comparison), TLS credentials, and the
// rule that a server reachable from other hosts must be protected (DESIGN.md "Service").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include "server/options.hpp"

namespace mhc::server {

// The token in `path` (one line; surrounding whitespace ignored). Throws Error(invalid_input)
// when the file is unreadable or empty.
std::string read_token_file(const std::string& path);

class TokenCheck {
 public:
  explicit TokenCheck(std::string token = {});
  bool enabled() const { return enabled_; }
  // True when the call carries `authorization: Bearer <token>` (always true when disabled).
  bool allows(const grpc::ServerContextBase& context) const;
  // The comparison itself: SHA-256 of both sides compared with CRYPTO_memcmp, so neither the
  // content nor the length of the token leaks through timing.
  bool matches(std::string_view authorization_header) const;

 private:
  bool enabled_ = false;
  std::string expected_digest_;
};

// "127.0.0.1:p", "localhost:p", "[::1]:p", "unix:..." are loopback; anything else is not.
bool is_loopback_listen_address(std::string_view listen);

// Throws Error(invalid_input) when `listen` is not loopback and neither TLS nor a token protects
// it and --insecure was not given; also when TLS options are incomplete.
void check_exposure(const ServeOptions& options);

// Insecure credentials without --tls-cert; TLS (client certificates required and verified when
// --tls-client-ca is set) otherwise. Throws Error(invalid_input) naming an unreadable file.
std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const ServeOptions& options);

// gRPC reports a key that does not belong to its certificate only as a failure to listen ("address
// in use?") or, on a client, an empty address list; Error(invalid_input) naming both files instead.
void check_key_pair(const std::string& cert_pem, const std::string& key_pem, const std::string& cert_path,
                    const std::string& key_path);

// Reads a whole file; Error(invalid_input) naming `what` when it cannot.
std::string read_file(const std::string& path, const std::string& what);

}  // namespace mhc::server
