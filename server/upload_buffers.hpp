// Memory files for CheckTensors uploads, reused from one upload to the next. Filling a fresh
// memory file costs a page fault and a kernel page clear per 4 KiB (for a 512 MiB upload on the
// 2-core dev VM about a sixth of the receiving thread's time), so the file of a finished upload
// is kept for the next one. Only one idle file is kept, and only for `idle` after its last use,
// so an idle server holds no upload memory for long.
//
// Optionally (`serve --upload-reserve-bytes`, default 0) one more file, the reserve, is created
// and pre-faulted when the server starts and kept for its whole life, so the first upload of
// about that size (within a factor of 2), and the first after an idle period, does not pay for
// fresh pages either. It costs its size in resident shared memory (shmem) for as long as the
// server runs. A finished upload's file of about that size becomes the reserve again
// (resized to it) when the reserve is in use.
//
// A file is given back only when its job is over: the worker pool holds the job's buffer until
// the worker has answered (it unmaps the file before answering) or is dead. Every byte of a
// reused file below the new upload's length is overwritten by that upload before a worker sees
// it (ChunkAssembler::finish checks the length), and the worker maps only that length.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "server/shared_buffer.hpp"

namespace mhc::server {

class UploadBuffers : public std::enable_shared_from_this<UploadBuffers> {
 public:
  static std::shared_ptr<UploadBuffers> create(std::chrono::milliseconds idle, std::size_t reserve_bytes = 0);

  // A buffer of `size` bytes: the idle one, else the reserve, resized, when its size is within a
  // factor of 2 of `size` (most of its pages are then reused), else a new one.
  std::unique_ptr<SharedBuffer> take(std::size_t size);
  // The buffer as a job holds it: when the last holder lets go, it becomes the idle one.
  std::shared_ptr<SharedBuffer> share(std::unique_ptr<SharedBuffer> buffer);

  std::size_t idle_bytes();
  std::size_t reserve_bytes();  // the reserve's size while it is not in use, else 0

 private:
  UploadBuffers(std::chrono::milliseconds idle, std::size_t reserve_bytes)
      : idle_(idle), reserve_bytes_(reserve_bytes) {}
  void give_back(std::unique_ptr<SharedBuffer> buffer);
  void expire(std::stop_token stop);

  const std::chrono::milliseconds idle_;
  const std::size_t reserve_bytes_;
  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::unique_ptr<SharedBuffer> kept_;
  std::unique_ptr<SharedBuffer> reserve_;  // never expires
  std::chrono::steady_clock::time_point kept_since_;
  std::jthread expirer_;  // declared last: stopped and joined before the members it uses go
};

}  // namespace mhc::server
