// Asynchronous copies into shared memory (sm_90): TMA tensor and bulk loads from global memory,
// asynchronous stores into another CTA of the cluster, and the mbarriers both complete on.
// PTX ISA: "cp.async.bulk.tensor", "cp.async.bulk", "st.async", "mbarrier".
#pragma once

#include <cuda.h>

#include <cstdint>

namespace mhc::cuda {

__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// A barrier that completes a phase when `count` threads have arrived and every byte announced
// by expect_tx has landed.
__device__ __forceinline__ void mbarrier_init(std::uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(bar)), "r"(count) : "memory");
}

// Makes initialised barriers visible to the async proxy (the copy engine) and to the cluster;
// a cluster barrier must follow before the first use.
__device__ __forceinline__ void mbarrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// Arrives once and announces `bytes` more to land before the phase can complete.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(std::uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(bar)), "r"(bytes)
               : "memory");
}

// Blocks until the phase with the given parity has completed.
__device__ __forceinline__ void mbarrier_wait(std::uint64_t* bar, unsigned parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(shared_address(bar)),
      "r"(parity)
      : "memory");
}

// Fetches a tensor map (a __grid_constant__ kernel parameter) into the descriptor cache.
__device__ __forceinline__ void tensormap_prefetch(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(map) : "memory");
}

// Loads the box at coordinates (x0..x3, innermost first) of a 4-d tensor map into this CTA's
// shared memory; its bytes count towards `bar`'s current phase.
__device__ __forceinline__ void tensor_load_4d(void* shared, const CUtensorMap* map, int x0, int x1, int x2, int x3,
                                               std::uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
      "[%6];\n" ::"r"(shared_address(shared)),
      "l"(map), "r"(x0), "r"(x1), "r"(x2), "r"(x3), "r"(shared_address(bar))
      : "memory");
}

// Copies `bytes` (a multiple of 16; both addresses 16-byte aligned) of global memory into this
// CTA's shared memory; they count towards `bar`'s current phase.
__device__ __forceinline__ void bulk_load(void* shared, const void* global, unsigned bytes, std::uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   shared_address(shared)),
               "l"(global), "r"(bytes), "r"(shared_address(bar))
               : "memory");
}

// The shared::cluster address of the same variable in CTA `rank` of the cluster.
__device__ __forceinline__ std::uint32_t cluster_address(const void* p, int rank) {
  std::uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(shared_address(p)), "r"(rank));
  return r;
}

// Stores 16 bytes into another cluster CTA's shared memory and counts them towards that CTA's
// barrier: no fence, no round trip; the receiver's barrier wait orders the data.
__device__ __forceinline__ void store_async(std::uint32_t remote, const float4& v, std::uint32_t remote_bar) {
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.f32 [%0], {%1, %2, %3, %4}, [%5];\n" ::"r"(
                   remote),
               "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w), "r"(remote_bar)
               : "memory");
}

}  // namespace mhc::cuda
