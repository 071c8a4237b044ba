// server/client.hpp: a sweep through one `ipv4:` target naming two servers equals the in-process
// sweep, and still does when one server is SIGKILLed in the middle.
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "fixture.hpp"
#include "server/client.hpp"

extern char** environ;

namespace mhc::server::testing {
namespace {

std::vector<verify::CaseSpec> specs(int count) {
  std::vector<verify::CaseSpec> out;
  for (int i = 0; i < count; ++i)
    out.push_back(verify::CaseSpec::parse((i % 2 ? "post" : "pre") + std::string(" T=") + std::to_string(4 + i % 9) +
                                          " n=4 C=32 preset=deepseek seed=" + std::to_string(i)));
  return out;
}

void expect_equal_to_in_process(const std::vector<verify::CaseSpec>& cases,
                                const std::vector<verify::CaseReport>& reports) {
  ASSERT_EQ(reports.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(comparable(reports[i]), comparable(in_process(cases[i].to_string()))) << cases[i].to_string();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(Client, TwoServersBehindOneTargetEqualInProcess) {
  TestServer a(test_options(1)), b(test_options(1));
  ClientOptions o;
  o.targets = {"ipv4:" + a.target + "," + b.target};
  Client client(o);
  const auto cases = specs(16);
  std::set<std::string> devices;
  auto reports = client.run_cases(cases, {}, [&](std::size_t, const verify::CaseReport& r) { devices.insert(r.device); });
  expect_equal_to_in_process(cases, reports);
  EXPECT_EQ(devices.size(), 1u);  // both servers are named "test" with one worker: same label
  EXPECT_EQ(client.info().workers(), 1u);
}

TEST(Client, EachServerGetsAMixOfAPeriodicSweep) {
  // round_robin gives the k-th call to address k mod 2, exactly so with one call in flight: cases
  // sent in sweep order would give one server every pre case and the other every post case, and
  // the sweep would take as long as the costlier op's half.
  ServeOptions oa = test_options(1), ob = test_options(1);
  oa.name = "a";
  ob.name = "b";
  TestServer a(oa), b(ob);
  ClientOptions o;
  o.targets = {"ipv4:" + a.target + "," + b.target};
  o.in_flight = 1;
  Client client(o);
  const auto cases = specs(16);  // pre, post, pre, post, ...
  const auto reports = client.run_cases(cases);
  std::map<std::string, std::set<verify::Op>> ops;  // device -> the ops it ran
  for (const auto& r : reports) ops[r.device].insert(r.spec.op);
  ASSERT_EQ(ops.size(), 2u);
  for (const auto& [device, seen] : ops) EXPECT_EQ(seen.size(), 2u) << device << " ran one op only";
  expect_equal_to_in_process(cases, reports);
}

TEST(Client, ServerKilledMidSweepHasItsCasesRetriedOnTheOther) {
  TestServer a(test_options(1));
  // The victim is a separate process so that it can die for real.
  const std::string victim = "127.0.0.1:" + std::to_string(free_port());
  std::vector<std::string> args = {MHC_SERVER_TESTBIN, "serve", "--listen", victim, "--workers", "1", "--name", "victim"};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);

  ClientOptions o;
  o.targets = {"ipv4:" + a.target + "," + victim};
  o.max_attempts = 5;
  Client client(o);
  const auto cases = specs(40);
  std::atomic<int> done{0};
  std::atomic<bool> killed{false};
  auto reports = client.run_cases(cases, {}, [&](std::size_t, const verify::CaseReport&) {
    if (++done == 8 && !killed.exchange(true)) ::kill(pid, SIGKILL);
  });
  EXPECT_TRUE(killed);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  expect_equal_to_in_process(cases, reports);
}

TEST(Client, CheckTensorsSendsTheDigestLast) {
  TestServer a(test_options(1));
  ClientOptions o;
  o.targets = {a.target};
  Client client(o);
  CheckTensorsOptions c;
  c.op = "pre";
  c.label = "client.safetensors";
  const auto payload = case_payload("pre T=40 n=4 C=8192 preset=deepseek seed=4");  // several chunks
  ASSERT_GT(payload.size(), 2 * 1024 * 1024u);
  const auto report = client.check_tensors(payload, c);
  EXPECT_EQ(report.verdict, verify::Verdict::pass) << report.error;
  EXPECT_EQ(report.backend, "client.safetensors");
}

TEST(Client, RejectedRequestsBecomeInvalidInput) {
  TestServer a(test_options(1));
  ClientOptions o;
  o.targets = {a.target};
  Client client(o);
  auto bad = verify::CaseSpec::parse("pre T=5 n=4 C=32 seed=1");
  RunCaseOptions r;
  r.backend = "no_such_backend";
  try {
    client.run_case(bad, r);
    FAIL() << "an unknown backend was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("options.backend"), std::string::npos);
  }
}

}  // namespace
}  // namespace mhc::server::testing
