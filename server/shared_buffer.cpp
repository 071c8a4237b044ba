#include "server/shared_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.hpp"

namespace mhc::server {

namespace {

[[noreturn]] void system_error(const std::string& what) {
  fail(ErrorKind::environment, "upload buffer: " + what + ": " + std::strerror(errno));
}

// mmap of 0 bytes is an error; an empty buffer needs no mapping.
void* map(int fd, std::size_t size, int protection, int flags) {
  if (size == 0) return nullptr;
  void* p = ::mmap(nullptr, size, protection, flags, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

SharedBuffer::SharedBuffer(std::size_t size) : size_(size) {
  fd_ = ::memfd_create("mhc-upload", MFD_CLOEXEC);
  if (fd_ < 0) system_error("memfd_create");
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    ::close(fd_);
    system_error("ftruncate");
  }
  data_ = static_cast<char*>(map(fd_, size, PROT_READ | PROT_WRITE, MAP_SHARED));
  if (data_ == nullptr && size > 0) {
    ::close(fd_);
    system_error("mmap");
  }
}

void SharedBuffer::resize(std::size_t size) {
  if (size == size_) return;
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) system_error("ftruncate");
  void* p = nullptr;
  if (data_ == nullptr) {
    p = map(fd_, size, PROT_READ | PROT_WRITE, MAP_SHARED);
  } else if (size == 0) {
    ::munmap(data_, size_);
  } else {
    p = ::mremap(data_, size_, size, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) p = nullptr;
  }
  if (p == nullptr && size > 0) system_error("mremap");
  data_ = static_cast<char*>(p);
  resident_ = std::min(resident_, size);
  size_ = size;
}

bool SharedBuffer::prefault(std::size_t offset, std::size_t length) {
  // The start must be page-aligned; the kernel rounds the length up to whole pages.
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (offset >= size_ || length == 0) return true;
  const std::size_t start = offset / page * page;
  length = std::min(length, size_ - offset) + (offset - start);
  if (::madvise(data_ + start, length, MADV_POPULATE_WRITE) != 0) return false;
  if (start <= resident_) resident_ = std::max(resident_, start + length);
  return true;
}

SharedBuffer::~SharedBuffer() {
  if (data_ != nullptr) ::munmap(data_, size_);
  ::close(fd_);
}

MappedPayload::MappedPayload(int fd, std::size_t size) : fd_(fd), size_(size) {
  data_ = static_cast<char*>(map(fd, size, PROT_READ | PROT_WRITE, MAP_PRIVATE));
  if (data_ == nullptr && size > 0) {
    ::close(fd_);
    system_error("mmap of the received payload");
  }
}

MappedPayload::~MappedPayload() {
  if (data_ != nullptr) ::munmap(data_, size_);
  ::close(fd_);
}

}  // namespace mhc::server
