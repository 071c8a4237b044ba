// verify/exec_backend: an implementation run as a separate program (tests/verify/core/
// exec_kernel.cpp, the emulated backend behind the exec protocol) is verified like a built-in
// backend, its bugs are diagnosed through the probes that rerun it, and its failures to run or to
// write results are errors that say what happened.
#include "verify/exec_backend.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

CaseReport run(const std::string& command, const std::string& line) {
  VerifyOptions o;
  o.backend = "exec:" + command;
  o.allow_exec = true;
  return Verifier(o).run(CaseSpec::parse(line));
}

const std::string kKernel = MHC_TEST_EXEC_KERNEL;

TEST(ExecBackend, ACorrectProgramPassesEveryOpAndPreset) {
  for (const char* line : {"pre T=9 n=4 C=40 preset=deepseek seed=1", "post T=9 n=3 C=40 preset=deepseek seed=1",
                           "pre T=7 n=2 C=33 preset=mhc_ops seed=7", "pre T=5 n=3 C=16 preset=lite seed=3",
                           "post T=5 n=3 C=16 preset=paper seed=3", "pre T=0 n=4 C=8 preset=deepseek"}) {
    const CaseReport r = run(kKernel, line);
    EXPECT_EQ(r.verdict, Verdict::pass) << line << ": " << r.error;
    EXPECT_EQ(r.backend, "exec:" + kKernel);
  }
}

TEST(ExecBackend, AWrongProgramFailsWithADiagnosisAndAReproduceLine) {
  const CaseReport r = run(kKernel + " --scale-dx", "pre T=9 n=4 C=40 preset=deepseek seed=1");
  ASSERT_EQ(r.verdict, Verdict::fail) << r.error;
  ASSERT_TRUE(r.diagnosis.has_value());
  EXPECT_EQ(r.diagnosis->fields.at("ratio"), "2") << r.diagnosis->sentence;  // constant_factor
  EXPECT_TRUE(contains(r.reproduce, "--backend 'exec:" + kKernel + " --scale-dx'")) << r.reproduce;
}

TEST(ExecBackend, FailuresToRunOrToWriteAreErrorsThatSayWhat) {
  const std::string line = "post T=3 n=2 C=8 preset=deepseek seed=1";
  CaseReport r = run("echo the kernel says no; exit 4;", line);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_EQ(r.error_kind, ErrorKind::environment);
  EXPECT_TRUE(contains(r.error, "(post forward) exited with status 4:")) << r.error;
  EXPECT_TRUE(contains(r.error, "the kernel says no")) << r.error;
  r = run(kKernel + " --write-nothing", line);
  EXPECT_EQ(r.error_kind, ErrorKind::invalid_input);
  EXPECT_TRUE(contains(r.error, "success without writing out.safetensors")) << r.error;
  r = run(kKernel + " --skip df", line);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_TRUE(contains(r.error, "(post backward) wrote no \"df\"")) << r.error;
  r = run("kill -9 $$;", line);
  EXPECT_TRUE(contains(r.error, "killed by signal 9")) << r.error;
}

TEST(PipeBackend, OneProcessServesEveryCallAndBugsAreDiagnosed) {
  for (const char* line : {"pre T=9 n=4 C=40 preset=deepseek seed=1", "post T=9 n=3 C=40 preset=paper seed=1",
                           "pre T=0 n=4 C=8 preset=deepseek"}) {
    VerifyOptions o;
    o.backend = "pipe:" + kKernel;
    o.allow_exec = true;
    Verifier v(o);
    const CaseReport r = v.run(CaseSpec::parse(line));
    EXPECT_EQ(r.verdict, Verdict::pass) << line << ": " << r.error;
    EXPECT_EQ(v.run(CaseSpec::parse(line)).verdict, Verdict::pass) << "the same process, again";
  }
  VerifyOptions o;
  o.backend = "pipe:" + kKernel + " --scale-dx";
  o.allow_exec = true;
  const CaseReport r = Verifier(o).run(CaseSpec::parse("pre T=9 n=4 C=40 preset=deepseek seed=1"));
  ASSERT_EQ(r.verdict, Verdict::fail) << r.error;
  EXPECT_EQ(r.diagnosis->fields.at("ratio"), "2") << r.diagnosis->sentence;
}

TEST(PipeBackend, AProgramThatAnswersAnErrorOrEndsIsAnErrorThatSaysWhat) {
  const std::string line = "post T=3 n=2 C=8 preset=deepseek seed=1";
  VerifyOptions o;
  o.allow_exec = true;
  o.backend = "pipe:" + kKernel + " --skip out --write-nothing";
  CaseReport r = Verifier(o).run(CaseSpec::parse(line));
  EXPECT_TRUE(contains(r.error, "without writing out.safetensors")) << r.error;
  o.backend = "pipe:" + kKernel + " --exit-after 1";  // answers the forward, ends at the backward
  r = Verifier(o).run(CaseSpec::parse(line));
  EXPECT_EQ(r.error_kind, ErrorKind::environment);
  EXPECT_TRUE(contains(r.error, "(post backward) exited with status 5")) << r.error;
  o.backend = "pipe:echo hello;";  // not the protocol
  r = Verifier(o).run(CaseSpec::parse(line));
  EXPECT_TRUE(contains(r.error, "answered \"hello\", not \"ok\"")) << r.error;
  // Endless output without a newline is not read without bound, nor quoted whole.
  o.backend = "pipe:read line; yes x | tr -d '\\n'";
  r = Verifier(o).run(CaseSpec::parse(line));
  EXPECT_EQ(r.error_kind, ErrorKind::environment);
  EXPECT_TRUE(contains(r.error, "answered \"xxxx")) << r.error;
  EXPECT_TRUE(contains(r.error, "...\", not \"ok\" (stdout is for the answer alone")) << r.error;
  EXPECT_LT(r.error.size(), 2000u);
  o.backend = "pipe:read line; echo 'error: no such shape'; cat > /dev/null";
  r = Verifier(o).run(CaseSpec::parse(line));
  EXPECT_EQ(r.error_kind, ErrorKind::invalid_input);
  EXPECT_TRUE(contains(r.error, "answered: no such shape")) << r.error;
}

// A small post case through `backend`, each call limited to `limit` (0: no limit).
CaseReport run_limited(const std::string& backend, std::chrono::milliseconds limit) {
  VerifyOptions o;
  o.backend = backend;
  o.allow_exec = true;
  o.call_timeout = limit;
  return Verifier(o).run(CaseSpec::parse("post T=3 n=2 C=8 preset=deepseek seed=1"));
}

TEST(ProgramBackends, ACallOverTheTimeoutIsKilledAndIsAnError) {
  for (const char* backend : {"exec:sleep 30;", "pipe:read line; sleep 30"}) {
    const CaseReport r = run_limited(backend, std::chrono::milliseconds(200));
    EXPECT_EQ(r.verdict, Verdict::error) << backend;
    EXPECT_EQ(r.error_kind, ErrorKind::environment);
    EXPECT_TRUE(contains(r.error, "within 0.2 s (--call-timeout) and was killed")) << r.error;
  }
}

// Whether process `pid` ends within `limit` (gone, or a zombie its new parent has not reaped).
bool ends_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  do {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const std::size_t name_end = line.rfind(')');
    if (name_end != std::string::npos && line.size() > name_end + 2 && line[name_end + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// A program that starts a child (and waits for it, or not): the child is killed with the program
// at the timeout, or when the program ends and leaves it running.
TEST(ProgramBackends, WhatTheProgramStartedEndsWithItsCall) {
  const std::filesystem::path pid_file =
      std::filesystem::temp_directory_path() / ("mhc-exec-child-" + std::to_string(getpid()));
  const std::string record = "sleep 30 & echo $! > '" + pid_file.string() + "'";
  for (const std::string& backend : {"exec:" + record + "; wait #", "pipe:read line; " + record + "; wait",
                                     "exec:" + record + " #", "pipe:read line; " + record}) {
    std::filesystem::remove(pid_file);
    const CaseReport r = run_limited(backend, std::chrono::milliseconds(300));
    EXPECT_EQ(r.verdict, Verdict::error) << backend;
    pid_t child = 0;
    std::ifstream(pid_file) >> child;
    ASSERT_GT(child, 0) << backend;
    EXPECT_TRUE(ends_within(child, std::chrono::seconds(5))) << backend << ": the program's child outlived the call";
  }
  std::filesystem::remove(pid_file);
}

TEST(ProgramBackends, SignalsArePassedOnToTheRunningPrograms) {
  std::atomic<bool> done = false;
  CaseReport r;
  std::thread run([&] {
    r = run_limited("exec:sleep 30;", std::chrono::milliseconds(0));
    done = true;
  });
  const auto start = std::chrono::steady_clock::now();
  while (!done && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    signal_programs(SIGTERM);  // again until the program has started and taken it
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  run.join();
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_TRUE(contains(r.error, "killed by signal " + std::to_string(SIGTERM))) << r.error;
}

TEST(ExecBackend, ADeclaredPrecisionSetsTheBaseline) {
  VerifyOptions o;
  o.backend = "exec:" + kKernel;
  o.allow_exec = true;
  o.precision = "tf32";
  const CaseReport r = Verifier(o).run(CaseSpec::parse("pre T=9 n=4 C=40 preset=deepseek seed=1"));
  EXPECT_EQ(r.verdict, Verdict::pass) << r.error;
  EXPECT_TRUE(contains(r.baseline, "emulated:tf32+reorder")) << r.baseline;
  EXPECT_TRUE(contains(r.reproduce, "--precision tf32")) << r.reproduce;
}

TEST(ExecBackend, OnlyWhereAllowedAndNeverEmpty) {
  VerifyOptions o;
  o.backend = "exec:" + kKernel;  // allow_exec is false: a server's workers build verifiers so
  EXPECT_THROW(Verifier{o}, Error);
  try {
    make_candidate_backend("exec:  ");
    ADD_FAILURE() << "an empty command was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_TRUE(contains(e.what(), "give the command")) << e.what();
  }
  EXPECT_EQ(make_candidate_backend("emulated")->name(), "emulated");
}

}  // namespace
}  // namespace mhc::verify
