#include "server/frame.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "core/error.hpp"

namespace mhc::server {

namespace {

constexpr std::uint32_t kMaxHeaderBytes = 256u << 20;

void send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(ErrorKind::environment, std::string("worker channel write failed: ") + std::strerror(errno));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Reads exactly `size` bytes; false when EOF comes before the first byte.
bool recv_all(int fd, char* data, std::size_t size, bool eof_ok) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ErrorKind::environment, std::string("worker channel read failed: ") + std::strerror(errno));
    if (n == 0) {
      if (done == 0 && eof_ok) return false;
      fail(ErrorKind::environment, "worker channel closed in the middle of a frame");
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The 12-byte prefix, with `pass_fd` attached as SCM_RIGHTS when >= 0.
void send_prefix(int fd, const char* prefix, int pass_fd) {
  iovec iov{const_cast<char*>(prefix), 12};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) fail(ErrorKind::environment, std::string("worker channel write failed: ") + std::strerror(errno));
  if (n < 12) send_all(fd, prefix + n, 12 - static_cast<std::size_t>(n));
}

// Reads the prefix's first bytes with recvmsg to collect a passed descriptor; false at EOF.
bool recv_prefix(int fd, char* prefix, int& passed_fd) {
  iovec iov{prefix, 12};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail(ErrorKind::environment, std::string("worker channel read failed: ") + std::strerror(errno));
  if (n == 0) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&passed_fd, CMSG_DATA(c), sizeof(int));
  if (n < 12) recv_all(fd, prefix + n, 12 - static_cast<std::size_t>(n), false);
  return true;
}

}  // namespace

void write_frame(int fd, const nlohmann::json& header, std::string_view payload, int pass_fd) {
  const std::string text = header.dump();
  char prefix[12];
  const std::uint32_t header_length = static_cast<std::uint32_t>(text.size());
  const std::uint64_t payload_length = payload.size();
  std::memcpy(prefix, &header_length, 4);  // x86-64 and aarch64 Linux: little-endian
  std::memcpy(prefix + 4, &payload_length, 8);
  send_prefix(fd, prefix, pass_fd);
  send_all(fd, text.data(), text.size());
  send_all(fd, payload.data(), payload.size());
}

std::optional<Frame> read_frame(int fd) {
  char prefix[12];
  int passed_fd = -1;
  if (!recv_prefix(fd, prefix, passed_fd)) return std::nullopt;
  // Owns the passed descriptor until the frame is complete.
  struct FdGuard {
    int& fd;
    ~FdGuard() {
      if (fd >= 0) ::close(fd);
    }
  } guard{passed_fd};
  std::uint32_t header_length = 0;
  std::uint64_t payload_length = 0;
  std::memcpy(&header_length, prefix, 4);
  std::memcpy(&payload_length, prefix + 4, 8);
  if (header_length > kMaxHeaderBytes || payload_length > (std::uint64_t{1} << 40))
    fail(ErrorKind::internal, "worker channel: malformed frame lengths");
  std::string text(header_length, '\0');
  recv_all(fd, text.data(), text.size(), false);
  Frame frame;
  frame.header = nlohmann::json::parse(text, nullptr, false);
  if (frame.header.is_discarded()) fail(ErrorKind::internal, "worker channel: frame header is not JSON");
  frame.payload.resize(payload_length);
  recv_all(fd, frame.payload.data(), frame.payload.size(), false);
  frame.passed_fd = std::exchange(passed_fd, -1);
  return frame;
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

}  // namespace mhc::server
