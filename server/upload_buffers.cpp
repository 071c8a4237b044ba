#include "server/upload_buffers.hpp"

#include "core/error.hpp"

namespace mhc::server {

namespace {

bool within_factor_2(std::size_t a, std::size_t b) { return a / 2 <= b && b / 2 <= a; }

}  // namespace

std::shared_ptr<UploadBuffers> UploadBuffers::create(std::chrono::milliseconds idle, std::size_t reserve_bytes) {
  std::shared_ptr<UploadBuffers> buffers(new UploadBuffers(idle, reserve_bytes));
  if (reserve_bytes > 0) {
    buffers->reserve_ = std::make_unique<SharedBuffer>(reserve_bytes);
    buffers->reserve_->prefault(0, reserve_bytes);  // where the kernel cannot, the first upload faults them
  }
  buffers->expirer_ = std::jthread([raw = buffers.get()](std::stop_token stop) { raw->expire(stop); });
  return buffers;
}

std::unique_ptr<SharedBuffer> UploadBuffers::take(std::size_t size) {
  std::unique_ptr<SharedBuffer> buffer;
  {
    std::lock_guard lock(mutex_);
    if (kept_ && within_factor_2(kept_->size(), size))
      buffer = std::move(kept_);
    else if (reserve_ && within_factor_2(reserve_->size(), size))
      buffer = std::move(reserve_);
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

std::size_t UploadBuffers::reserve_bytes() {
  std::lock_guard lock(mutex_);
  return reserve_ ? reserve_->size() : 0;
}

void UploadBuffers::give_back(std::unique_ptr<SharedBuffer> buffer) {
  {
    std::lock_guard lock(mutex_);
    if (!reserve_ && reserve_bytes_ > 0 && within_factor_2(buffer->size(), reserve_bytes_)) {
      try {
        buffer->resize(reserve_bytes_);
        reserve_ = std::move(buffer);
        return;
      } catch (const Error&) {  // the kernel refused the new size: keep it as an idle file instead
      }
    }
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
