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
#include "verify/verifier.hpp"

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
  auto [reports, error] = client.run_cases(cases, {}, [&](std::size_t, const verify::CaseReport& r) { devices.insert(r.device); });
  ASSERT_FALSE(error) << error->what();
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
  const auto [reports, error] = client.run_cases(cases);
  ASSERT_FALSE(error) << error->what();
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
  auto [reports, error] = client.run_cases(cases, {}, [&](std::size_t, const verify::CaseReport&) {
    if (++done == 8 && !killed.exchange(true)) ::kill(pid, SIGKILL);
  });
  ASSERT_FALSE(error) << error->what();
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

// A sweep's tolerance section (or `run --tolerance`) travels with each case: the remote verdict is
// the local one. Before RunOptions.tolerance the server judged with the case's `tol=` profile and
// passed a case the sweep's override fails.
TEST(Client, TheSweepToleranceJudgesRemoteCasesAsLocalOnes) {
  TestServer a(test_options(1));
  ClientOptions o;
  o.targets = {a.target};
  Client client(o);
  const std::vector<verify::CaseSpec> cases = {verify::CaseSpec::parse("pre T=13 n=4 C=64 preset=deepseek seed=1"),
                                               verify::CaseSpec::parse("post T=13 n=4 C=64 preset=deepseek seed=1")};
  for (const verify::SweepTolerance& tolerance :
       {verify::SweepTolerance{"baseline", {{"dx", {1e-12, 0}}}}, verify::SweepTolerance{"assert_close_bf16", {}}}) {
    RunCaseOptions r;
    r.tolerance = tolerance;
    const auto [reports, error] = client.run_cases(cases, r);
    ASSERT_FALSE(error) << error->what();
    verify::VerifyOptions local;
    local.backend = "emulated";
    local.tolerance = verify::to_tolerance(tolerance);
    for (std::size_t i = 0; i < cases.size(); ++i)
      EXPECT_EQ(comparable(reports[i]), comparable(verify::Verifier(local).run(cases[i]))) << cases[i].to_string();
  }
  RunCaseOptions strict;
  strict.tolerance = verify::SweepTolerance{"baseline", {{"dx", {1e-12, 0}}}};
  EXPECT_EQ(client.run_case(cases[0], strict).verdict, verify::Verdict::fail);  // not a trivial pass
  RunCaseOptions bad;
  bad.tolerance = verify::SweepTolerance{"baseline", {{"dq", {1, 1}}}};
  try {
    client.run_case(cases[0], bad);
    FAIL() << "an override of an unknown tensor was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("options.tolerance"), std::string::npos) << e.what();
  }
}

// A full work queue (RESOURCE_EXHAUSTED) is waited out with backoff; it used to fail the case
// after about 350 ms.
TEST(Client, ABusyServerIsRetriedUntilItHasRoom) {
  auto options = test_options(1);
  options.max_pending_requests = 1;
  TestServer a(options);
  auto stub = make_stub(a.target);
  auto context = make_context();
  pb::RunSweepRequest sweep;
  for (int i = 0; i < 200; ++i) sweep.add_cases()->set_line("pre T=64 n=4 C=512 preset=deepseek seed=" + std::to_string(i));
  auto reader = stub->RunSweep(context.get(), sweep);
  pb::CaseResult first;
  ASSERT_TRUE(reader->Read(&first));  // the sweep holds the only slot
  std::jthread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    context->TryCancel();
  });
  ClientOptions o;
  o.targets = {a.target};
  Client client(o);
  const auto spec = verify::CaseSpec::parse("pre T=5 n=4 C=32 seed=1");
  EXPECT_EQ(client.run_case(spec).verdict, verify::Verdict::pass);
  release.join();
  pb::CaseResult r;
  while (reader->Read(&r)) {
  }
  reader->Finish();
}

// A sweep that cannot finish (its only server shut down) keeps the results it has: the rest are
// errors saying they did not run, and the error says why. It used to throw and lose everything.
// `run --server` interrupted (SIGINT/SIGTERM): the client stops sending, keeps what finished.
TEST(Client, ACancelledSweepKeepsTheFinishedResultsAndSendsNoMore) {
  TestServer a(test_options(1));
  ClientOptions o;
  o.targets = {a.target};
  o.in_flight = 2;
  Client client(o);
  const auto cases = specs(40);
  std::stop_source stop;
  std::atomic<int> done{0};
  auto [reports, error] = client.run_cases(
      cases, {}, [&](std::size_t, const verify::CaseReport&) { if (++done == 6) stop.request_stop(); },
      stop.get_token());
  EXPECT_FALSE(error);  // nothing failed
  ASSERT_EQ(reports.size(), cases.size());
  std::size_t run = 0, cancelled = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(reports[i].spec, cases[i]);
    if (reports[i].verdict == verify::Verdict::error) {
      EXPECT_EQ(reports[i].error, "cancelled");
      ++cancelled;
    } else {
      EXPECT_EQ(comparable(reports[i]), comparable(in_process(cases[i].to_string())));
      ++run;
    }
  }
  EXPECT_GE(run, 6u);
  EXPECT_LE(run, 6u + o.in_flight);  // only the calls in flight when it stopped
  EXPECT_EQ(run + cancelled, cases.size());
}

TEST(Client, AStoppedSweepKeepsTheFinishedResults) {
  TestServer a(test_options(1));
  ClientOptions o;
  o.targets = {a.target};
  o.in_flight = 2;
  Client client(o);
  const auto cases = specs(40);
  std::atomic<int> done{0};
  std::jthread stopper;
  auto [reports, error] = client.run_cases(cases, {}, [&](std::size_t, const verify::CaseReport&) {
    if (++done == 6) stopper = std::jthread([&] { a.server->shutdown(0); });
  });
  stopper = {};
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind(), ErrorKind::environment) << error->what();
  ASSERT_EQ(reports.size(), cases.size());
  std::size_t run = 0, not_run = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(reports[i].spec, cases[i]);
    if (reports[i].verdict == verify::Verdict::error && reports[i].error.starts_with("not run")) {
      ++not_run;
      EXPECT_NE(reports[i].error.find(error->what()), std::string::npos) << reports[i].error;
    } else {
      EXPECT_EQ(comparable(reports[i]), comparable(in_process(cases[i].to_string())));
      ++run;
    }
  }
  EXPECT_GE(run, 6u);
  EXPECT_GT(not_run, 0u);
}

}  // namespace
}  // namespace mhc::server::testing
