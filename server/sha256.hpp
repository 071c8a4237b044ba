// Incremental SHA-256 (OpenSSL's libcrypto, which gRPC already links) for CheckTensors digests.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace mhc::server {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Lowercase hex of the digest; the object may not be updated afterwards.
  std::string hex_digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string sha256_hex(std::string_view data);

}  // namespace mhc::server
