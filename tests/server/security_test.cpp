// Auth and exposure: bearer token, TLS with client certificates (generated at test time with
// the openssl CLI), and the refusal to expose an unprotected server.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "fixture.hpp"
#include "server/client.hpp"

namespace mhc::server::testing {
namespace {

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

pb::RunCaseRequest small_case() {
  pb::RunCaseRequest r;
  r.mutable_case_ref()->set_line("pre T=5 n=4 C=32 seed=1");
  return r;
}

TEST(Security, TokenIsRequiredBeforeAnyWork) {
  const auto dir = temp_dir("token");
  write(dir + "/token", "  let-me-in\n");
  auto options = test_options(1);
  options.token_file = dir + "/token";
  TestServer server(options);
  auto stub = make_stub(server.target);
  pb::ServerInfo info;
  pb::CaseResult result;
  EXPECT_EQ(stub->GetInfo(make_context().get(), {}, &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub->RunCase(make_context().get(), small_case(), &result).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub->RunCase(make_context(60, "let-me-i").get(), small_case(), &result).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub->RunCase(make_context(60, "let-me-in2").get(), small_case(), &result).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(result.report_json().empty());  // no work was done
  ASSERT_TRUE(stub->RunCase(make_context(60, "let-me-in").get(), small_case(), &result).ok());
  EXPECT_EQ(result.verdict(), "pass");
}

TEST(Security, NonLoopbackWithoutProtectionIsRefused) {
  auto options = test_options(1);
  options.listen = "0.0.0.0:0";
  try {
    RunningServer::start(options);
    FAIL() << "an unprotected non-loopback server started";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("--insecure"), std::string::npos);
  }
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
std::string make_certificates() {
  const auto dir = temp_dir("tls");
  write(dir + "/server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "cd " + dir + " && " +
      "openssl req -x509 " + key + " -keyout ca.key -out ca.pem -days 1 -subj /CN=mhc-test-ca && " +
      "openssl req " + key + " -keyout server.key -out server.csr -subj /CN=localhost && " +
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 "
      "-extfile server.ext && " +
      "openssl req " + key + " -keyout client.key -out client.csr -subj /CN=mhc-test-client && " +
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1";
  if (std::system(("(" + script + ") >/dev/null 2>&1").c_str()) != 0) return {};
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(Security, TlsWithClientCertificates) {
  const auto dir = make_certificates();
  ASSERT_FALSE(dir.empty()) << "openssl could not make the test certificates";
  auto options = test_options(1);
  options.tls_cert = dir + "/server.pem";
  options.tls_key = dir + "/server.key";
  options.tls_client_ca = dir + "/ca.pem";
  TestServer server(options);

  grpc::SslCredentialsOptions with_cert{slurp(dir + "/ca.pem"), slurp(dir + "/client.key"), slurp(dir + "/client.pem")};
  pb::CaseResult result;
  auto trusted = make_stub(server.target, grpc::SslCredentials(with_cert));
  const auto status = trusted->RunCase(make_context().get(), small_case(), &result);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(result.verdict(), "pass");

  grpc::SslCredentialsOptions no_cert{slurp(dir + "/ca.pem"), "", ""};
  auto anonymous = make_stub(server.target, grpc::SslCredentials(no_cert));
  EXPECT_FALSE(anonymous->RunCase(make_context(10).get(), small_case(), &result).ok());
  auto plaintext = make_stub(server.target);
  EXPECT_FALSE(plaintext->RunCase(make_context(10).get(), small_case(), &result).ok());
}

// A key that does not belong to the certificate is named at start (exit 2), instead of gRPC's
// failure to listen, which said "address in use or not local?".
TEST(Security, AMismatchedCertificateAndKeyAreNamed) {
  const auto dir = make_certificates();
  ASSERT_FALSE(dir.empty()) << "openssl could not make the test certificates";
  auto options = test_options(1);
  options.tls_cert = dir + "/server.pem";
  options.tls_key = dir + "/client.key";
  try {
    RunningServer::start(options);
    FAIL() << "a mismatched key was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("client.key"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not belong"), std::string::npos) << e.what();
  }
  // A client with a mismatched pair is told the same, not "empty address list".
  ClientOptions client;
  client.targets = {"127.0.0.1:1"};
  client.tls_ca = dir + "/ca.pem";
  client.tls_cert = dir + "/client.pem";
  client.tls_key = dir + "/server.key";
  try {
    Client c(client);
    FAIL() << "a client with a mismatched key was built";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("does not belong"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mhc::server::testing
