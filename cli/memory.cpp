// How the mhc-verify process uses memory. A DeepSeek-sized case (T = 4097, n = 4, C = 7168)
// allocates and frees gigabytes of tensors in the golden, emulated and baseline backends. With
// glibc's defaults every large block is a fresh mapping, returned to the kernel when freed.
// perf put a third of the run in page faults and the kernel's zeroing of those pages
// (clear_page_erms; 1.3 million faults per case). Two measures, measured on
// examples/deepseek.yaml on 2 cores (docs/golden.md):
//   * operator new advises every allocation of 8 MiB or more MADV_HUGEPAGE before its pages are
//     touched. Debian's default transparent-huge-page mode is madvise, so nothing else would ask.
//     118 s -> 88 s.
//   * keep_freed_memory() (batch commands only) makes glibc serve large blocks from its heap and
//     never trim it, so the next case reuses pages that are already mapped. 88 s -> 69-72 s,
//     with the same peak RSS.
// operator delete stays the library's, which frees what malloc returned. Sanitizer builds keep
// their own allocator (they pair their operator new with their own delete).
#include "cli/memory.hpp"

#include <malloc.h>

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

namespace mhc::cli {

void keep_freed_memory() {
#ifndef MHC_SANITIZED
  mallopt(M_MMAP_MAX, 0);         // large blocks from the heap, not from mappings of their own
  mallopt(M_TRIM_THRESHOLD, -1);  // and the heap's free top is kept
#endif
}

}  // namespace mhc::cli
