// ThreadSanitizer annotations for gRPC's hand-offs of our reactors between threads.
//
// gRPC runs a reactor's reactions on its own threads and orders them with its own
// synchronisation, inside Debian's libgrpc and Abseil, which are not built with TSan: TSan sees
// the accesses but not the ordering, and reports every reactor member as a race. These
// annotations state the callback API's ordering promises to TSan, for our reactors only:
//   * an operation a reactor starts (StartRead, StartWrite, Finish) happens before the reaction
//     it causes: handoff_release() right before the call;
//   * every reaction happens before OnDone: each reaction is a Reaction scope (acquire on entry,
//     release on exit);
//   * the service's construction happens before every method call (release at the end of its
//     constructor, acquire at the start of each method).
// Nothing else is ordered by them, so a race between reactions gRPC may run concurrently, or
// between a reactor and the worker pool's threads, is still reported. No-ops without TSan.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define MHC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MHC_TSAN 1
#endif
#endif

#ifdef MHC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace mhc::server {

inline void handoff_release([[maybe_unused]] const void* reactor) {
#ifdef MHC_TSAN
  __tsan_release(const_cast<void*>(reactor));
#endif
}

inline void handoff_acquire([[maybe_unused]] const void* reactor) {
#ifdef MHC_TSAN
  __tsan_acquire(const_cast<void*>(reactor));
#endif
}

// The body of one reaction of `reactor`.
class Reaction {
 public:
  explicit Reaction(const void* reactor) : reactor_(reactor) { handoff_acquire(reactor_); }
  ~Reaction() { handoff_release(reactor_); }
  Reaction(const Reaction&) = delete;
  Reaction& operator=(const Reaction&) = delete;

 private:
  const void* reactor_;
};

}  // namespace mhc::server
