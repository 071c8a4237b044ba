// The three service figures of issue 5, measured end to end on loopback:
//   1. sweep of N small cases through a loopback server vs the same sweep in-process (same
//      number of workers as in-process threads): ratio <= 1.15 wanted
//   2. CheckTensors upload of a 512 MiB payload: >= 500 MB/s wanted
//   3. one `ipv4:` target naming two servers (1 worker each) vs one server: >= 1.7x throughput
//      (alternating rounds, median)
//   0. latency: one tiny case at a time, in-process vs RunCase (the fixed cost per call)
// Usage: bench_service [--only latency|sweep|upload|split] [--cases 100] [--rounds 5]
//                      [--upload-mib 512] [--upload-reserve-mib 0] [--split-cases 200]
// Prints one line per configuration. Timings depend on the machine: record it beside them.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "server/client.hpp"
#include "server/serve.hpp"
#include "server/upload.hpp"
#include "server/worker.hpp"
#include "verify/sweep_runner.hpp"
#include "verify/tolerance.hpp"
#include "verify/verifier.hpp"

namespace {

using namespace mhc;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<verify::CaseSpec> small_cases(int count) {
  std::vector<verify::CaseSpec> out;
  for (int i = 0; i < count; ++i)
    out.push_back(verify::CaseSpec::parse(fmt::format("{} T={} n=4 C=256 preset=deepseek seed={}", i % 2 ? "post" : "pre",
                                                      32 + 8 * (i % 5), i)));
  return out;
}

server::ServeOptions serve_options(int workers, const std::string& name = "bench") {
  server::ServeOptions o;
  o.listen = "127.0.0.1:0";
  o.name = name;  // in each report's device, so a report says which server ran it
  o.workers = workers;
  o.backend = "emulated";
  return o;
}

double in_process_seconds(const std::vector<verify::CaseSpec>& cases, int jobs) {
  std::vector<verify::SweepCase> planned;
  for (const auto& c : cases) planned.push_back({c, ""});
  verify::VerifyOptions o;
  o.backend = "emulated";
  const auto t0 = Clock::now();
  const auto report = verify::run_planned("bench", planned, o, jobs);
  return since(t0);
}

struct RemoteRun {
  double seconds = 0;
  std::vector<verify::CaseReport> reports;
};

RemoteRun remote_run(const std::vector<verify::CaseSpec>& cases, const std::string& target, int in_flight) {
  server::ClientOptions o;
  o.targets = {target};
  o.in_flight = in_flight;
  server::Client client(o);
  const auto t0 = Clock::now();
  RemoteRun run;
  auto results = client.run_cases(cases);
  run.seconds = since(t0);
  if (results.error) throw *results.error;  // a benchmark of a sweep that did not finish means nothing
  run.reports = std::move(results.reports);
  return run;
}

double remote_seconds(const std::vector<verify::CaseSpec>& cases, const std::string& target, int in_flight) {
  return remote_run(cases, target, in_flight).seconds;
}

// CPU seconds (user + system) of this process so far: the client and the in-process servers,
// not their worker processes.
double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Rounds alternate in-process and loopback runs so drifting machine load hits both alike; the
// figure is the median ratio.
void sweep_overhead(int count, int rounds) {
  const auto cases = small_cases(count);
  for (int workers : {1, 2}) {
    auto server = server::RunningServer::start(serve_options(workers));
    const std::string target = fmt::format("127.0.0.1:{}", server->port());
    server::ClientOptions info_options;
    info_options.targets = {target};
    const auto served = server::Client(info_options).info().workers();
    if (served != static_cast<std::uint32_t>(workers)) {
      // A GPU host runs one worker per GPU whatever --workers says: no like-for-like comparison.
      fmt::print("sweep {:4d} cases  workers={}  skipped: the server runs {} (one per GPU on this host)\n", count,
                 workers, served);
      server->shutdown(10);
      continue;
    }
    // Warm both sides (verifier construction, first-touch memory) before timing.
    remote_seconds(small_cases(4), target, 2 * workers);
    in_process_seconds(small_cases(4), workers);
    std::vector<double> local, remote, ratio;
    for (int r = 0; r < rounds; ++r) {
      local.push_back(in_process_seconds(cases, workers));
      remote.push_back(remote_seconds(cases, target, 2 * workers));
      ratio.push_back(remote.back() / local.back());
    }
    fmt::print("sweep {:4d} cases  workers={}  in-process {:7.3f} s  loopback server {:7.3f} s  ratio {:.3f} "
               "(median of {}; min {:.3f}, max {:.3f})\n",
               count, workers, median(local), median(remote), median(ratio), rounds,
               *std::min_element(ratio.begin(), ratio.end()), *std::max_element(ratio.begin(), ratio.end()));
    server->shutdown(10);
  }
}

// One tiny case at a time: the service's fixed cost per call (gRPC + worker hop + JSON).
void call_latency(int calls) {
  const auto spec = verify::CaseSpec::parse("pre T=4 n=4 C=16 preset=deepseek seed=0");
  verify::VerifyOptions vo;
  vo.backend = "emulated";
  verify::Verifier verifier(vo);
  verifier.run(spec);
  auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) verifier.run(spec);
  const double local = since(t0) / calls;
  auto server = server::RunningServer::start(serve_options(1));
  server::ClientOptions o;
  o.targets = {fmt::format("127.0.0.1:{}", server->port())};
  server::Client client(o);
  client.run_case(spec);
  t0 = Clock::now();
  for (int i = 0; i < calls; ++i) client.run_case(spec);
  const double remote = since(t0) / calls;
  fmt::print("latency  tiny case  in-process {:7.3f} ms  RunCase {:7.3f} ms  service cost {:.3f} ms per call\n",
             local * 1e3, remote * 1e3, (remote - local) * 1e3);
  server->shutdown(10);
}

void upload_throughput(std::uint64_t mib, std::uint64_t reserve_mib) {
  auto options = serve_options(1);
  options.max_upload_bytes = (mib + 1) << 20;
  options.upload_reserve_bytes = reserve_mib << 20;
  options.max_upload_inflight_bytes = 2 * options.max_upload_bytes;
  auto server = server::RunningServer::start(options);
  const std::string target = fmt::format("127.0.0.1:{}", server->port());
  // A well-formed safetensors payload whose only tensor is `padding`: the worker parses it and
  // rejects it at once (no x), so the time is the transport's, not the verifier's.
  const std::uint64_t elems = (mib << 20) / 4;
  const std::string header = fmt::format(R"({{"padding":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{}]}}}})",
                                         elems, elems * 4);
  std::string payload(8, '\0');
  std::uint64_t hlen = header.size();
  std::memcpy(payload.data(), &hlen, 8);
  payload += header;
  payload.resize(payload.size() + elems * 4, '\x01');

  server::ClientOptions client_options;
  client_options.targets = {target};
  server::Client client(client_options);
  server::CheckTensorsOptions check;
  check.op = "post";
  for (int run = 0; run < 3; ++run) {
    const auto t0 = Clock::now();
    // server::Client streams 1 MiB chunks straight from `payload` and hashes it on another thread
    // while they go out; the digest travels in the last chunk.
    const auto result = client.upload(payload, check);
    const double total = since(t0);
    fmt::print("upload {:4d} MiB  run {}  {:6.3f} s  {:6.1f} MB/s  (server: receive + SHA-256 verified after "
               "{:.3f} s, then worker hand-off, parse, answer)  [verdict {}]\n",
               mib, run, total, payload.size() / total / 1e6, result.upload_seconds(), result.verdict());
  }
  server->shutdown(10);
}

// Rounds alternate one server and two so drifting load hits both alike; the figure is the median
// speed-up. The servers have different names, so each report's device says which one ran the
// case, and the line ends with how the work was split: cases and worker seconds (the cases' own
// wall time in the worker) per server over all rounds. Round-robin hands out calls, not work: an
// uneven split of the work, not the service's cost, is what a low figure here usually means.
void two_servers(int count, int rounds) {
  const auto cases = small_cases(count);
  auto a = server::RunningServer::start(serve_options(1, "bench-a"));
  auto b = server::RunningServer::start(serve_options(1, "bench-b"));
  const std::string ta = fmt::format("127.0.0.1:{}", a->port()), tb = fmt::format("127.0.0.1:{}", b->port());
  const std::string both = "ipv4:" + ta + "," + tb;
  remote_seconds(small_cases(4), both, 4);  // warm both
  std::vector<double> one, two, speedup;
  std::map<std::string, std::pair<int, double>> per_server;  // device -> cases, worker seconds
  double service_cpu = 0;  // of the two-server rounds
  for (int r = 0; r < rounds; ++r) {
    one.push_back(remote_seconds(cases, ta, 4));
    const double cpu0 = process_cpu_seconds();
    const RemoteRun run = remote_run(cases, both, 4);
    service_cpu += process_cpu_seconds() - cpu0;
    two.push_back(run.seconds);
    speedup.push_back(one.back() / two.back());
    for (const auto& report : run.reports) {
      auto& [n, seconds] = per_server[report.device];
      ++n;
      seconds += report.seconds;
    }
  }
  std::string split;
  for (const auto& [device, load] : per_server)
    split += fmt::format("  {}: {} cases, {:.3f} s", device, load.first, load.second);
  fmt::print("split {:4d} cases  one server {:7.3f} s ({:6.1f} cases/s)  two servers {:7.3f} s ({:6.1f} cases/s)  "
             "speed-up {:.2f}x (median of {}; min {:.2f}, max {:.2f})\n  two-server rounds: client + servers CPU "
             "{:.3f} ms per case (workers excluded); work per server:{}\n",
             count, median(one), count / median(one), median(two), count / median(two), median(speedup), rounds,
             *std::min_element(speedup.begin(), speedup.end()), *std::max_element(speedup.begin(), speedup.end()),
             service_cpu / (rounds * count) * 1e3, split);
  a->shutdown(10);
  b->shutdown(10);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "worker") return server::worker_main(argc, argv);
  CLI::App app("mhc-verify service benchmarks");
  int cases = 100, split_cases = 200, rounds = 5;
  std::uint64_t upload_mib = 512;
  std::string only;
  app.add_option("--cases", cases, "cases of the loopback sweep")->capture_default_str();
  app.add_option("--upload-mib", upload_mib, "CheckTensors payload size")->capture_default_str();
  std::uint64_t upload_reserve_mib = 0;
  app.add_option("--upload-reserve-mib", upload_reserve_mib, "the server's --upload-reserve-bytes, in MiB")
      ->capture_default_str();
  app.add_option("--split-cases", split_cases, "cases of the two-server split")->capture_default_str();
  app.add_option("--rounds", rounds, "alternating rounds of the sweep and split comparisons")->capture_default_str();
  app.add_option("--only", only, "latency, sweep, upload or split");
  CLI11_PARSE(app, argc, argv);
  if (only.empty() || only == "latency") call_latency(200);
  if (only.empty() || only == "sweep") sweep_overhead(cases, rounds);
  if (only.empty() || only == "upload") upload_throughput(upload_mib, upload_reserve_mib);
  if (only.empty() || only == "split") two_servers(split_cases, rounds);
  return 0;
}
