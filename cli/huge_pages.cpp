// Large buffers on transparent huge pages. A DeepSeek-sized case (T = 4097, n = 4, C = 7168)
// allocates gigabytes of fresh tensors in the golden, emulated and baseline backends, and with 4 KB
// pages the kernel spent a third of the run faulting them in (1.3 million faults per case).
// Where the system leaves huge pages to madvise (Debian's default), this operator new asks for them
// on every allocation of 8 MiB or more before its pages are touched: examples/deepseek.yaml on 2
// cores 118 s -> 83 s (sys 59 s -> 26 s), the same as glibc's own glibc.malloc.hugetlb=1 tunable,
// which would have to be in the environment before the process starts. operator delete stays
// the library's, which frees what malloc returned. Sanitizer builds keep their own operator new
// (they pair it with their own delete).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MHC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MHC_SANITIZED 1
#endif
#endif
#ifndef MHC_SANITIZED
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace {

constexpr std::size_t kHugeFrom = std::size_t{8} << 20;
constexpr std::uintptr_t kPage = 4096;

void* allocate(std::size_t n) {
  for (;;) {
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
      if (n >= kHugeFrom) {
        // The whole pages inside the block; a refusal (huge pages off) changes nothing.
        const std::uintptr_t first = (reinterpret_cast<std::uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
        const std::uintptr_t last = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(kPage - 1);
        if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
      }
      return p;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
#endif
