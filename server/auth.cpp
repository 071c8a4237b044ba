#include "server/auth.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <grpcpp/security/server_credentials.h>

#include "core/error.hpp"
#include "server/sha256.hpp"

namespace mhc::server {

namespace {

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

constexpr std::string_view kBearer = "Bearer ";

}  // namespace

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) invalid_input(what + ": cannot read '" + path + "'");
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string read_token_file(const std::string& path) {
  std::string token = trim(read_file(path, "--token-file"));
  if (token.empty()) invalid_input("--token-file: '" + path + "' is empty");
  return token;
}

TokenCheck::TokenCheck(std::string token) : enabled_(!token.empty()) {
  if (enabled_) expected_digest_ = sha256_hex(std::string(kBearer) + token);
}

bool TokenCheck::matches(std::string_view authorization_header) const {
  const std::string got = sha256_hex(authorization_header);
  return got.size() == expected_digest_.size() &&
         CRYPTO_memcmp(got.data(), expected_digest_.data(), got.size()) == 0;
}

bool TokenCheck::allows(const grpc::ServerContextBase& context) const {
  if (!enabled_) return true;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return false;
  return matches(std::string_view(it->second.data(), it->second.size()));
}

bool is_loopback_listen_address(std::string_view listen) {
  if (listen.starts_with("unix:") || listen.starts_with("unix-abstract:")) return true;
  std::string_view host = listen;
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') == std::string_view::npos ? host.size() : host.find(']') - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

void check_exposure(const ServeOptions& o) {
  if (o.tls_cert.empty() != o.tls_key.empty()) invalid_input("--tls-cert and --tls-key must be given together");
  if (!o.tls_client_ca.empty() && o.tls_cert.empty())
    invalid_input("--tls-client-ca needs --tls-cert and --tls-key (client certificates are checked over TLS)");
  const bool protected_ = !o.tls_cert.empty() || !o.token_file.empty();
  if (!is_loopback_listen_address(o.listen) && !protected_ && !o.insecure)
    invalid_input("--listen " + o.listen +
                  " is reachable from other hosts: give --tls-cert/--tls-key and/or --token-file, "
                  "or --insecure to accept an unprotected service");
}

void check_key_pair(const std::string& cert_pem, const std::string& key_pem, const std::string& cert_path,
                    const std::string& key_path) {
  const auto bad = [&](const std::string& what) {
    invalid_input("--tls-cert " + cert_path + " / --tls-key " + key_path + ": " + what);
  };
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) bad("the certificate is not a PEM certificate");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  if (!key) bad("the key is not a PEM private key (or needs a passphrase)");
  if (X509_check_private_key(cert.get(), key.get()) != 1) bad("the private key does not belong to the certificate");
  ERR_clear_error();
}

std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const ServeOptions& o) {
  if (o.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(o.tls_client_ca.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  const std::string key = read_file(o.tls_key, "--tls-key"), cert = read_file(o.tls_cert, "--tls-cert");
  check_key_pair(cert, key, o.tls_cert, o.tls_key);
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (!o.tls_client_ca.empty()) ssl.pem_root_certs = read_file(o.tls_client_ca, "--tls-client-ca");
  return grpc::SslServerCredentials(ssl);
}

}  // namespace mhc::server
