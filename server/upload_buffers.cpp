#include "server/upload_buffers.hpp"

namespace mhc::server {

std::shared_ptr<UploadBuffers> UploadBuffers::create(std::chrono::milliseconds idle) {
  std::shared_ptr<UploadBuffers> buffers(new UploadBuffers(idle));
  buffers->expirer_ = std::jthread([raw = buffers.get()](std::stop_token stop) { raw->expire(stop); });
  return buffers;
}

std::unique_ptr<SharedBuffer> UploadBuffers::take(std::size_t size) {
  std::unique_ptr<SharedBuffer> buffer;
  {
    std::lock_guard lock(mutex_);
    if (kept_ && kept_->size() / 2 <= size && size / 2 <= kept_->size()) buffer = std::move(kept_);
  }
  if (!buffer) return std::make_unique<SharedBuffer>(size);
  buffer->resize(size);
  return buffer;
}

std::shared_ptr<SharedBuffer> UploadBuffers::share(std::unique_ptr<SharedBuffer> buffer) {
  return {buffer.release(), [weak = weak_from_this()](SharedBuffer* b) {
            std::unique_ptr<SharedBuffer> owned(b);
            if (const auto buffers = weak.lock()) buffers->give_back(std::move(owned));
          }};
}

std::size_t UploadBuffers::idle_bytes() {
  std::lock_guard lock(mutex_);
  return kept_ ? kept_->size() : 0;
}

void UploadBuffers::give_back(std::unique_ptr<SharedBuffer> buffer) {
  {
    std::lock_guard lock(mutex_);
    std::swap(kept_, buffer);  // the newest is kept; the one it replaces is freed below
    kept_since_ = std::chrono::steady_clock::now();
  }
  changed_.notify_all();
}

void UploadBuffers::expire(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    if (!kept_) {
      changed_.wait(lock, stop, [this] { return kept_ != nullptr; });
      continue;
    }
    const auto deadline = kept_since_ + idle_;
    if (changed_.wait_until(lock, stop, deadline, [&] { return !kept_ || kept_since_ + idle_ != deadline; }))
      continue;  // taken, replaced or stopping
    if (std::chrono::steady_clock::now() >= deadline) {
      auto expired = std::move(kept_);
      lock.unlock();
      expired.reset();  // munmap and close outside the lock
      lock.lock();
    }
  }
}

}  // namespace mhc::server
