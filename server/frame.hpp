// Framing between the server and its worker processes over a socketpair: each frame is
//   u32 header_length | u64 payload_length | header (JSON text) | payload (raw bytes)
// little-endian. The JSON header says what the frame is; the payload carries bulk bytes (a
// report's JSON text) without escaping. A frame may also pass one file descriptor (SCM_RIGHTS,
// with the length prefix): a CheckTensors upload travels as a memory file, not through the
// socket. Writes use MSG_NOSIGNAL so a dead peer is an error, not a SIGPIPE.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mhc::server {

struct Frame {
  nlohmann::json header;
  std::string payload;
  int passed_fd = -1;  // a descriptor that came with the frame; the reader owns (closes) it
};

// Throws Error(environment) when the peer is gone.
void write_frame(int fd, const nlohmann::json& header, std::string_view payload = {}, int pass_fd = -1);
// std::nullopt on end of stream at a frame boundary; throws Error(environment) on a frame cut
// short and Error(internal) on a malformed one.
std::optional<Frame> read_frame(int fd);
// True when `fd` has data (or EOF) within timeout_ms.
bool wait_readable(int fd, int timeout_ms);

}  // namespace mhc::server
