// Bytes in an anonymous memory file (memfd): a CheckTensors upload is reassembled straight into
// one, and its descriptor is passed to the worker (SCM_RIGHTS), which maps the same pages. A
// 512 MiB payload crosses the process boundary without being copied.
#pragma once

#include <cstddef>

namespace mhc::server {

class SharedBuffer {
 public:
  // Read-write mapping of a new memory file of `size` bytes; Error(environment) when the kernel
  // refuses (memory limits).
  explicit SharedBuffer(std::size_t size);
  ~SharedBuffer();
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;

  // Changes the size, keeping the first min(old, new) bytes and their pages (server/upload_buffers.hpp
  // reuses a file for the next upload this way); Error(environment) when the kernel refuses.
  void resize(std::size_t size);

  // Bytes at the start whose pages are known to be in memory: 0 for a new file, extended by
  // prefault() and mark_resident(), cut by resize() (a file grown by resize() has a fresh tail).
  std::size_t resident_bytes() const { return resident_; }
  // Every byte has been written (a finished upload): all pages are in memory.
  void mark_resident() { resident_ = size_; }
  // Allocates, clears and maps the pages of [offset, offset + length) in one system call
  // (MADV_POPULATE_WRITE) instead of one page fault per 4 KiB when they are first written; the
  // bytes are not changed, so it may run beside a writer. Returns false where the kernel cannot
  // (before Linux 5.14, or out of memory: the writer then faults the pages in as before). Not
  // thread-safe with respect to resize() or resident_bytes().
  bool prefault(std::size_t offset, std::size_t length);

  char* data() { return data_; }
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t resident_ = 0;
};

// A copy-on-write mapping of a memory file received from the server; owns (closes) the
// descriptor. The worker's tensors borrow these pages instead of copying them
// (verify::parse_safetensors_in_place); a write to one copies that page into the worker's own
// memory and never reaches the server's file.
class MappedPayload {
 public:
  MappedPayload(int fd, std::size_t size);  // Error(environment) when it cannot be mapped
  ~MappedPayload();
  MappedPayload(const MappedPayload&) = delete;
  MappedPayload& operator=(const MappedPayload&) = delete;

  char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  int fd_;
  char* data_ = nullptr;
  std::size_t size_;
};

}  // namespace mhc::server
