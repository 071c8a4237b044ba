#include "verify/exec_backend.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "verify/safetensors.hpp"

extern char** environ;

namespace mhc::verify {
namespace {

namespace fs = std::filesystem;

// The last lines of the program's log, for an error message.
std::string log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string tail;
  for (std::size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) tail += "\n    " + lines[i];
  return tail.empty() ? " (it printed nothing)" : ":" + tail;
}

class ExecBackend : public Backend {
 public:
  explicit ExecBackend(std::string command) : command_(std::move(command)) {
    std::string pattern = (fs::temp_directory_path() / "mhc-verify-exec-XXXXXX").string();
    if (!mkdtemp(pattern.data())) {
      fail(ErrorKind::environment, fmt::format("exec backend: cannot create a scratch directory in {}: {}",
                                               fs::temp_directory_path().string(), std::strerror(errno)));
    }
    dir_ = pattern;
  }
  ~ExecBackend() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string name() const override { return "exec:" + command_; }

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
      invalid_input(fmt::format("{} ({} {}) exited 0 without writing {} (it must write its results there: "
                                "docs/check.md){}",
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

  // `/bin/sh -c 'COMMAND "$1" "$2"' exec IN OUT`, stdin from /dev/null, stdout and stderr to `log`.
  void run(const fs::path& in, const fs::path& out, const fs::path& log, const std::string& what) const {
    const std::string script = command_ + " \"$1\" \"$2\"";
    const std::string in_s = in.string(), out_s = out.string(), log_s = log.string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const char* argv[] = {"/bin/sh", "-c", script.c_str(), "mhc-verify-exec", in_s.c_str(), out_s.c_str(), nullptr};
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      fail(ErrorKind::environment, fmt::format("{}: cannot start /bin/sh: {}", name(), std::strerror(spawned)));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) fail(ErrorKind::environment, fmt::format("{}: waitpid: {}", name(), std::strerror(errno)));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    const std::string how = WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                              : fmt::format("was killed by signal {}", WTERMSIG(status));
    fail(ErrorKind::environment, fmt::format("{} ({}) {}{}", name(), what, how, log_tail(log)));
  }

  std::string command_;
  fs::path dir_;
};

}  // namespace

std::unique_ptr<Backend> make_candidate_backend(std::string_view name) {
  if (!name.starts_with("exec:")) return make_backend(name);
  const std::string command(name.substr(5));
  if (command.find_first_not_of(" \t") == std::string::npos) {
    invalid_input("backend \"exec:\": give the command that runs your implementation, e.g. "
                  "--backend 'exec:python3 my_kernel.py' (it is called as COMMAND IN.safetensors OUT.safetensors)");
  }
  return std::make_unique<ExecBackend>(command);
}

}  // namespace mhc::verify
