#include "verify/exec_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "verify/safetensors.hpp"

extern char** environ;

namespace mhc::verify {
namespace {

namespace fs = std::filesystem;

// The process groups of the programs running now (each program leads its own), for
// signal_programs. A group is listed from its spawn until its leader is reaped, so its id cannot
// have been reused by then.
struct Running {
  std::mutex mutex;
  std::set<pid_t> groups;
};
Running& running() {
  static Running r;
  return r;
}

// The last lines of the program's log, for an error message ("" when it printed nothing and that
// is not worth saying).
std::string log_tail(const fs::path& log, bool say_if_empty = true) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string tail;
  for (std::size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) tail += "\n    " + lines[i];
  if (tail.empty()) return say_if_empty ? " (it printed nothing)" : "";
  return ":" + tail;
}

// The protocol's two files and their checks; how the program is run is the subclass's.
class ProgramBackend : public Backend {
 public:
  ProgramBackend(std::string prefix, std::string command, std::chrono::milliseconds timeout)
      : prefix_(std::move(prefix)), command_(std::move(command)), timeout_(timeout) {
    std::string pattern = (fs::temp_directory_path() / "mhc-verify-exec-XXXXXX").string();
    if (!mkdtemp(pattern.data())) {
      fail(ErrorKind::environment, fmt::format("{} backend: cannot create a scratch directory in {}: {}", prefix_,
                                               fs::temp_directory_path().string(), std::strerror(errno)));
    }
    dir_ = pattern;
  }
  ~ProgramBackend() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string name() const override { return prefix_ + ":" + command_; }

  PreOutputs pre_forward(const Semantics& s, const PreInputs& in, TensorMap*) override {
    TensorMap r = call(s, "pre", "forward", pre_tensors(in), {"y", "h_post", "h_res"});
    return {std::move(r.at("y")), std::move(r.at("h_post")), std::move(r.at("h_res"))};
  }
  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap*) override {
    TensorMap t = pre_tensors(in);
    t.emplace("dy", up.dy);
    t.emplace("dh_post", up.dh_post);
    t.emplace("dh_res", up.dh_res);
    std::vector<std::string> names = {"dx", "dphi", "dalpha", "dbias"};
    if (s.use_gamma) names.push_back("dgamma");
    TensorMap r = call(s, "pre", "backward", std::move(t), names);
    return {std::move(r.at("dx")), std::move(r.at("dphi")), std::move(r.at("dalpha")), std::move(r.at("dbias")),
            s.use_gamma ? std::move(r.at("dgamma")) : Tensor()};
  }
  PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap*) override {
    TensorMap r = call(s, "post", "forward", post_tensors(in), {"out"});
    return {std::move(r.at("out"))};
  }
  PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up, TensorMap*) override {
    TensorMap t = post_tensors(in);
    t.emplace("dout", up.dout);
    TensorMap r = call(s, "post", "backward", std::move(t), {"dx", "df", "dh_post", "dh_res"});
    return {std::move(r.at("dx")), std::move(r.at("df")), std::move(r.at("dh_post")), std::move(r.at("dh_res"))};
  }

 private:
  static TensorMap pre_tensors(const PreInputs& in) {
    TensorMap t{{"x", in.x}, {"phi", in.phi}, {"alpha", in.alpha}, {"bias", in.bias}};
    if (in.gamma.defined()) t.emplace("gamma", in.gamma);
    return t;
  }
  static TensorMap post_tensors(const PostInputs& in) {
    return {{"x", in.x}, {"f", in.f}, {"h_post", in.h_post}, {"h_res", in.h_res}};
  }

  // Writes IN, runs the command, reads OUT and returns the named results.
  TensorMap call(const Semantics& s, const char* op, const char* mode, TensorMap tensors,
                 const std::vector<std::string>& results) const {
    const fs::path in = dir_ / "in.safetensors", out = dir_ / "out.safetensors", log = dir_ / "log.txt";
    std::map<std::string, std::string> metadata = to_fields(s);
    metadata["op"] = op;
    metadata["mode"] = mode;
    metadata["producer"] = "mhc-verify exec backend";
    write_safetensors(in, {std::move(tensors), std::move(metadata)});
    std::error_code ignored;
    fs::remove(out, ignored);  // never read a previous call's results
    run(in, out, log, fmt::format("{} {}", op, mode));
    if (!fs::exists(out)) {
      invalid_input(fmt::format("{} ({} {}) reported success without writing {} (it must write its results "
                                "there: docs/check.md){}",
                                name(), op, mode, out.filename().string(), log_tail(log)));
    }
    SafetensorsFile file = read_safetensors(out);
    TensorMap r;
    std::string missing;
    for (const auto& n : results) {
      auto it = file.tensors.find(n);
      if (it == file.tensors.end()) missing += (missing.empty() ? "\"" : ", \"") + n + "\"";
      else r.emplace(n, std::move(it->second));
    }
    if (!missing.empty()) invalid_input(fmt::format("{} ({} {}) wrote no {}", name(), op, mode, missing));
    return r;
  }

 protected:
  // Runs the program on IN and OUT; throws Error(environment) quoting `log` when it fails.
  virtual void run(const fs::path& in, const fs::path& out, const fs::path& log, const std::string& what) const = 0;

  // `/bin/sh -c SCRIPT sh ARGS...` with stdin and stdout on `io` (/dev/null and the log when -1) and
  // stderr to `log`.
  pid_t spawn(const std::string& script, const std::vector<std::string>& args, const fs::path& log, int io) const {
    const std::string log_s = log.string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (io < 0) {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_adddup2(&actions, 2, 1);
    } else {
      posix_spawn_file_actions_adddup2(&actions, io, 0);
      posix_spawn_file_actions_adddup2(&actions, io, 1);
    }
    std::vector<const char*> argv = {"/bin/sh", "-c", script.c_str(), "mhc-verify-exec"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);  // a group of its own, led by the shell
    pid_t pid = 0;
    int spawned = 0;
    {
      // Listed before a signal_programs could miss it; unlisted again if the spawn failed.
      Running& r = running();
      const std::lock_guard lock(r.mutex);
      spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, const_cast<char**>(argv.data()), environ);
      if (spawned == 0) r.groups.insert(pid);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      fail(ErrorKind::environment, fmt::format("{}: cannot start /bin/sh: {}", name(), std::strerror(spawned)));
    }
    return pid;
  }

  struct Ended {
    std::string how;  // "" for status 0
    bool killed = false;  // by us, at the limit
  };
  // Kills the program and everything it started (its process group); only while its shell is
  // unreaped, so that the group's id cannot have been reused.
  static void kill_group(pid_t pid) { kill(-pid, SIGKILL); }

  // Waits for the program, killing it after `limit` when one is given. Whatever it started and left
  // running is killed when it ends: the call is over.
  static Ended reap(pid_t pid, std::optional<std::chrono::milliseconds> limit = std::nullopt) {
    const auto unlist = [pid] {
      Running& r = running();
      const std::lock_guard lock(r.mutex);
      r.groups.erase(pid);
    };
    bool killed = false;
    const auto deadline = std::chrono::steady_clock::now() + limit.value_or(std::chrono::milliseconds(0));
    for (;;) {
      siginfo_t info{};
      const int r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | (limit ? WNOHANG : 0));
      if (r == 0 && info.si_pid == pid) break;
      if (r < 0 && errno != EINTR) {
        unlist();  // not ours to wait for (nor to signal) any more
        return {fmt::format("could not be waited for: {}", std::strerror(errno))};
      }
      if (r == 0 && std::chrono::steady_clock::now() > deadline) {
        kill_group(pid);
        killed = true;
        limit.reset();
      } else if (r == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    kill_group(pid);  // the shell has ended but is not reaped yet: the group id is still its own
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    unlist();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {"", killed};
    return {WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                              : fmt::format("was killed by signal {}", WTERMSIG(status)),
            killed};
  }

  // "did not finish within 2 s (--call-timeout)"
  std::string over_time(const char* verb) const {
    return fmt::format("did not {} within {:g} s (--call-timeout) and was killed", verb,
                       std::chrono::duration<double>(timeout_).count());
  }

  std::string prefix_, command_;
  std::chrono::milliseconds timeout_{0};  // per call; 0: none
  fs::path dir_;
};

// exec:COMMAND: one process per call, `COMMAND IN OUT`.
class ExecBackend : public ProgramBackend {
 public:
  ExecBackend(std::string command, std::chrono::milliseconds timeout)
      : ProgramBackend("exec", std::move(command), timeout) {}

 protected:
  void run(const fs::path& in, const fs::path& out, const fs::path& log, const std::string& what) const override {
    const pid_t pid = spawn(command_ + " \"$1\" \"$2\"", {in.string(), out.string()}, log, -1);
    const Ended e = reap(pid, timeout_.count() > 0 ? std::optional(timeout_) : std::nullopt);
    if (e.how.empty()) return;
    fail(ErrorKind::environment,
         fmt::format("{} ({}) {}{}", name(), what, e.killed ? over_time("finish") : e.how, log_tail(log)));
  }
};

// pipe:COMMAND: one process for the backend's life, started at the first call; each call sends the
// line "IN<TAB>OUT" on its stdin and waits for the line "ok" (or "error: MESSAGE") on its stdout.
// The program ends when its stdin closes. Saves the start-up per call (Python and torch: seconds).
class PipeBackend : public ProgramBackend {
 public:
  PipeBackend(std::string command, std::chrono::milliseconds timeout)
      : ProgramBackend("pipe", std::move(command), timeout) {}
  ~PipeBackend() override { stop(); }

 protected:
  void run(const fs::path& in, const fs::path& out, const fs::path& log, const std::string& what) const override {
    if (pid_ < 0) start(log);
    const std::string request = in.string() + "\t" + out.string() + "\n";
    // A program that ended refuses the request (EPIPE) but may have answered before: read anyway.
    const bool sent = send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
    std::string reply;
    if (!read_line(reply)) {
      kill_group(pid_);
      stop();
      fail(ErrorKind::environment, fmt::format("{} ({}) {}{}", name(), what, over_time("answer"), log_tail(log)));
    }
    if (sent && reply == "ok") return;
    if (sent && reply.starts_with("error: ")) {
      invalid_input(fmt::format("{} ({}) answered: {}{}", name(), what, reply.substr(7), log_tail(log, false)));
    }
    // No answer: the program ended (or wrote something that is not the protocol).
    const std::string how = stop().how;
    const std::string said = reply.size() > kQuoted ? reply.substr(0, kQuoted) + "..." : reply;
    fail(ErrorKind::environment,
         fmt::format("{} ({}) {}{}", name(), what,
                     !reply.empty() ? "answered \"" + said + "\", not \"ok\" (stdout is for the answer alone: print to stderr)"
                     : how.empty()  ? "ended without answering"
                                    : how,
                     log_tail(log)));
  }

 private:
  // An answer is "ok" or "error: MESSAGE"; a program that writes more without a newline is not
  // answering (and is not read on without bound). Quoted up to kQuoted characters.
  static constexpr std::size_t kMaxAnswer = 4096, kQuoted = 200;

  // Reads the program's answer up to its newline, its end or kMaxAnswer characters; false when the
  // call's time ran out.
  bool read_line(std::string& line) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (char ch = 0;;) {
      if (timeout_.count() > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        const int ready = left.count() > 0 ? poll(&p, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return false;
      }
      if (recv(fd_, &ch, 1, 0) != 1 || ch == '\n') return true;
      line += ch;
      if (line.size() == kMaxAnswer) return true;
    }
  }

  void start(const fs::path& log) const {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      fail(ErrorKind::environment, fmt::format("{}: socketpair: {}", name(), std::strerror(errno)));
    }
    fd_ = fds[0];
    try {
      pid_ = spawn(command_, {}, log, fds[1]);
    } catch (...) {
      close(fds[1]);
      throw;
    }
    close(fds[1]);
  }

  // Closes the program's stdin and waits for it to end (killing it after 5 s).
  Ended stop() const {
    if (pid_ < 0) return {};
    close(fd_);
    const Ended e = reap(pid_, std::chrono::seconds(5));
    pid_ = -1;
    return e;
  }

  mutable int fd_ = -1;
  mutable pid_t pid_ = -1;
};

}  // namespace

bool is_program_backend(std::string_view name) { return name.starts_with("exec:") || name.starts_with("pipe:"); }

void signal_programs(int sig) {
  Running& r = running();
  const std::lock_guard lock(r.mutex);
  for (const pid_t group : r.groups) kill(-group, sig);
}

std::unique_ptr<Backend> make_candidate_backend(std::string_view name, std::chrono::milliseconds call_timeout) {
  if (!is_program_backend(name)) return make_backend(name);
  const std::string prefix(name.substr(0, 4)), command(name.substr(5));
  if (command.find_first_not_of(" \t") == std::string::npos) {
    invalid_input(fmt::format("backend \"{}:\": give the command that runs your implementation, e.g. --backend "
                              "'{}:python3 my_kernel.py' (docs/check.md)",
                              prefix, prefix));
  }
  if (prefix == "pipe") return std::make_unique<PipeBackend>(command, call_timeout);
  return std::make_unique<ExecBackend>(command, call_timeout);
}

}  // namespace mhc::verify
