#include "verify/casegen.hpp"

#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "verify/clones.hpp"

namespace mhc::verify {
namespace {

enum class Dist { normal, uniform, ones, arange, small_int, zero_rows, near_zero_rows, wide_logits, large };

constexpr std::pair<Dist, const char*> kDistNames[] = {
    {Dist::normal, "normal"},         {Dist::uniform, "uniform"},     {Dist::ones, "ones"},
    {Dist::arange, "arange"},         {Dist::small_int, "small_int"}, {Dist::zero_rows, "zero_rows"},
    {Dist::near_zero_rows, "near_zero_rows"}, {Dist::wide_logits, "wide_logits"}, {Dist::large, "large"},
};

Dist dist_from_string(const std::string& s) {
  for (const auto& [d, name] : kDistNames) {
    if (s == name) return d;
  }
  std::string known;
  for (const auto& [d, name] : kDistNames) known += std::string(known.empty() ? "" : ", ") + name;
  invalid_input("unknown distribution \"" + s + "\" (choose " + known + ")");
}

[[noreturn]] void sizes_overflow(const CaseSpec& spec) {
  invalid_input("case T=" + std::to_string(spec.shape.T) + " n=" + std::to_string(spec.shape.n) +
                " C=" + std::to_string(spec.shape.C) + ": tensor sizes overflow 64 bits");
}

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const CaseSpec& spec) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) sizes_overflow(spec);
  return a * b;
}

// Fills a tensor element by element from a pure function of the flat index. Any thread count
// gives the same bytes: no element depends on another's draw order.
template <class ValueOf>
Tensor fill(DType dtype, std::vector<std::int64_t> shape, const ValueOf& value_of) {
  Tensor t(dtype, std::move(shape));
  const std::int64_t count = t.numel();
  if (dtype == DType::bf16) {
    bf16* out = t.data<bf16>();
#pragma omp parallel for schedule(static) if (count > (1 << 15))
    for (std::int64_t i = 0; i < count; ++i) out[i].bits = bf16_bits_from_f32(static_cast<float>(value_of(i)));
  } else if (dtype == DType::f32) {
    float* out = t.data<float>();
#pragma omp parallel for schedule(static) if (count > (1 << 15))
    for (std::int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(value_of(i));
  } else {
    fail(ErrorKind::internal, "casegen: tensors are generated in bf16 or f32");
  }
  return t;
}

// Elements per batch of normal_chunk: a multiple of 16 (one Philox block gives 4 elements, and
// philox_words_avx2 computes 4 groups of 4 blocks at a time).
constexpr std::int64_t kChunk = 1024;

#if defined(__x86_64__) && !defined(MHC_VERIFY_TSAN) && !defined(__SANITIZE_THREAD__)
#define MHC_CASEGEN_AVX2 1
// word[4 j + k] = word k of block0 + j, j < blocks (a multiple of 16): rng::philox4x32_10 on 4
// blocks per 256-bit register (a 32 x 32 -> 64 bit multiply per 64-bit lane), 4 registers in
// flight to hide the latency of the 10 dependent rounds. Integer arithmetic: the words of
// TensorRng::block exactly, about twice as fast.
__attribute__((target("avx2"))) void philox_words_avx2(const rng::TensorRng& r, std::uint64_t block0,
                                                       std::int64_t blocks, std::uint32_t* word) {
  constexpr int kGroups = 4;
  const __m256i low = _mm256_set1_epi64x(0xffffffffll);
  const __m256i mul0 = _mm256_set1_epi64x(0xD2511F53ll), mul1 = _mm256_set1_epi64x(0xCD9E8D57ll);
  const __m256i name0 = _mm256_set1_epi64x(static_cast<long long>(r.name & 0xffffffffull));
  const __m256i name1 = _mm256_set1_epi64x(static_cast<long long>(r.name >> 32));
  for (std::int64_t q = 0; q < blocks; q += 4 * kGroups) {
    __m256i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
    for (int h = 0; h < kGroups; ++h) {
      const __m256i counter = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(block0 + static_cast<std::uint64_t>(q) + 4 * h)),
                                               _mm256_set_epi64x(3, 2, 1, 0));
      c0[h] = _mm256_and_si256(counter, low);
      c1[h] = _mm256_srli_epi64(counter, 32);
      c2[h] = name0;
      c3[h] = name1;
    }
    std::uint32_t key0 = static_cast<std::uint32_t>(r.seed), key1 = static_cast<std::uint32_t>(r.seed >> 32);
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        key0 += 0x9E3779B9u;
        key1 += 0xBB67AE85u;
      }
      const __m256i k0 = _mm256_set1_epi64x(key0), k1 = _mm256_set1_epi64x(key1);
      for (int h = 0; h < kGroups; ++h) {
        const __m256i p0 = _mm256_mul_epu32(c0[h], mul0), p1 = _mm256_mul_epu32(c2[h], mul1);
        c0[h] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[h]), k0);
        c1[h] = _mm256_and_si256(p1, low);
        c2[h] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[h]), k1);
        c3[h] = _mm256_and_si256(p0, low);
      }
    }
    for (int h = 0; h < kGroups; ++h) {
      const __m256i w01 = _mm256_or_si256(c0[h], _mm256_slli_epi64(c1[h], 32));  // per block: w0 | w1 << 32
      const __m256i w23 = _mm256_or_si256(c2[h], _mm256_slli_epi64(c3[h], 32));
      const __m256i even = _mm256_unpacklo_epi64(w01, w23), odd = _mm256_unpackhi_epi64(w01, w23);  // blocks 0,2 / 1,3
      std::uint32_t* out = word + 4 * (q + 4 * h);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(even));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), _mm256_castsi256_si128(odd));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8), _mm256_extracti128_si256(even, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 12), _mm256_extracti128_si256(odd, 1));
    }
  }
}
#endif

// The words of blocks [block0, block0 + blocks) in order, 4 per block.
void philox_words(const rng::TensorRng& r, std::uint64_t block0, std::int64_t blocks, std::uint32_t* word) {
  std::int64_t done = 0;
#ifdef MHC_CASEGEN_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) {
    done = blocks - blocks % 16;
    philox_words_avx2(r, block0, done, word);
  }
#endif
  for (std::int64_t b = done; b < blocks; ++b) {
    const rng::Block blk = r.block(block0 + static_cast<std::uint64_t>(b));
    for (int k = 0; k < 4; ++k) word[4 * b + k] = blk.v[k];
  }
}

// z[e] = r.normal_icdf(first + e) for e < count (first % 4 == 0, count <= kChunk), in passes a
// compiler vectorises: the blocks, |q| of every element, the center formula for all of them, then
// the tail formula (log, sqrt) for the 15 % beyond kIcdfCenter. Same expressions as
// rng::TensorRng::normal_from_word, hence the same bits (tests/verify/io/casegen_test.cpp).
MHC_VERIFY_CLONES void normal_chunk(const rng::TensorRng& r, std::int64_t first, std::int64_t count, double* z) {
  using R = rng::TensorRng;
  std::uint32_t word[kChunk];
  double aq[kChunk];
  philox_words(r, static_cast<std::uint64_t>(first) / 4, (count + 3) / 4, word);
  for (std::int64_t e = 0; e < count; ++e) {
    aq[e] = static_cast<double>(static_cast<std::int32_t>(word[e] & 0x7fffffffu)) * 0x1p-32 + 0x1p-33;
  }
  for (std::int64_t e = 0; e < count; ++e) z[e] = R::icdf_center(aq[e]);
  // The tail elements, packed (a branch per element would mispredict 15 % of the time).
  double tail_aq[kChunk], tail_z[kChunk];
  std::int32_t tail_at[kChunk];
  std::int64_t tails = 0;
  for (std::int64_t e = 0; e < count; ++e) {
    tail_aq[tails] = aq[e];
    tail_at[tails] = static_cast<std::int32_t>(e);
    tails += aq[e] > R::kIcdfCenter;
  }
  for (std::int64_t t = 0; t < tails; ++t) tail_z[t] = R::icdf_tail(tail_aq[t]);
  for (std::int64_t t = 0; t < tails; ++t) z[tail_at[t]] = tail_z[t];
  for (std::int64_t e = 0; e < count; ++e) z[e] = (word[e] >> 31) ? -z[e] : z[e];
}

// bf16_bits_from_f32 (core/bf16.hpp), the same bits, with a select instead of its NaN branch so
// that the store loop of fill_noisy vectorises.
inline std::uint16_t bf16_bits_branchless(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return static_cast<std::uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x0040u : rounded);
}

// fill() for tensors drawn from the distribution's N: value_of(i, z) gets z = N of element i,
// computed kChunk elements at a time (noise_chunk). Chunks go to whichever thread is free (a
// thread preempted by another process does not hold the others up); no element depends on which,
// so any thread count and schedule give the same bytes.
template <class NoiseChunk, class ValueOf>
Tensor fill_noisy(DType dtype, std::vector<std::int64_t> shape, const NoiseChunk& noise_chunk, const ValueOf& value_of) {
  Tensor t(dtype, std::move(shape));
  const std::int64_t count = t.numel();
  const std::int64_t chunks = (count + kChunk - 1) / kChunk;
  auto run = [&](auto* out, auto store) {
#pragma omp parallel for schedule(dynamic, 4) if (count > (1 << 15))
    for (std::int64_t c = 0; c < chunks; ++c) {
      double z[kChunk];
      const std::int64_t first = c * kChunk, n = std::min(kChunk, count - first);
      noise_chunk(first, n, z);
      for (std::int64_t e = 0; e < n; ++e) z[e] = value_of(first + e, z[e]);
      for (std::int64_t e = 0; e < n; ++e) store(out[first + e], z[e]);  // a loop of its own: vectorised
    }
  };
  if (dtype == DType::bf16) {
    run(t.data<bf16>(), [](bf16& o, double v) { o.bits = bf16_bits_branchless(static_cast<float>(v)); });
  } else if (dtype == DType::f32) {
    run(t.data<float>(), [](float& o, double v) { o = static_cast<float>(v); });
  } else {
    fail(ErrorKind::internal, "casegen: tensors are generated in bf16 or f32");
  }
  return t;
}

// The distribution's "N" of element i: a standard normal, or a uniform of the same variance.
double noise(Dist dist, const rng::TensorRng& r, std::int64_t i) {
  if (dist == Dist::uniform) return std::sqrt(3.0) * (2.0 * r.uniform(static_cast<std::uint64_t>(i)) - 1.0);
  return r.normal_icdf(static_cast<std::uint64_t>(i));
}

// noise() of elements [first, first + n) for fill_noisy; distributions whose values use no N
// (ones, arange, small_int) skip the draws.
struct NoiseChunk {
  Dist dist;
  const rng::TensorRng& r;
  void operator()(std::int64_t first, std::int64_t n, double* z) const {
    if (dist == Dist::ones || dist == Dist::arange || dist == Dist::small_int) return;
    if (dist != Dist::uniform) return normal_chunk(r, first, n, z);
    for (std::int64_t e = 0; e < n; ++e) z[e] = noise(dist, r, first + e);
  }
};

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// ceil(log2(v)) for v >= 1.
int ceil_log2(std::int64_t v) { return v <= 1 ? 0 : static_cast<int>(std::bit_width(static_cast<std::uint64_t>(v - 1))); }

class Generator {
 public:
  explicit Generator(const CaseSpec& spec)
      : spec_(spec),
        dist_(dist_from_string(spec.distribution)),
        T_(spec.shape.T),
        n_(spec.shape.n),
        C_(spec.shape.C),
        K_(spec.shape.K()),
        M_(mix_count(spec.semantics.resmap, spec.shape.n)),
        p_(spec.semantics.post_mult) {}

  Tensor x() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "x");
    const std::int64_t row = n_ * C_;
    const double scale = dist_ == Dist::large ? large_scale() : 1.0;
    const double near_zero = std::sqrt(std::max(spec_.semantics.eps_rms, 1e-6));
    return fill_noisy(spec_.dtype, {T_, n_, C_}, noise_of(r), [&](std::int64_t i, double z) {
      const double v = activation(r, i, z) * scale;
      if (dist_ != Dist::zero_rows && dist_ != Dist::near_zero_rows) return v;  // no division per element
      if ((i / row) % 3 != 0) return v;
      return dist_ == Dist::zero_rows ? 0.0 : v * near_zero;
    });
  }

  Tensor f() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "f");
    const double scale = dist_ == Dist::large ? large_scale() : 1.0;
    return fill_noisy(spec_.dtype, {T_, C_}, noise_of(r),
                      [&](std::int64_t i, double z) { return activation(r, i, z) * scale; });
  }

  // dy, dout (activation dtype) and dh_post, dh_res (f32): upstream gradients.
  Tensor upstream(const char* name, DType dtype, std::vector<std::int64_t> shape) const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, name);
    return fill_noisy(dtype, std::move(shape), noise_of(r), [&](std::int64_t i, double z) { return activation(r, i, z); });
  }

  Tensor phi() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "phi");
    const double inv_sqrt_k = 1.0 / std::sqrt(static_cast<double>(K_));
    const double pow2 = std::ldexp(1.0, -((ceil_log2(K_) + 1) / 2));  // power of two near 1/sqrt(K)
    return fill_noisy(DType::f32, {M_, K_}, noise_of(r), [&](std::int64_t i, double z) {
      switch (dist_) {
        case Dist::ones: return 1.0 / static_cast<double>(K_);
        case Dist::arange: return arange(i) * std::sqrt(3.0) * inv_sqrt_k;
        case Dist::small_int: return static_cast<double>(r.small_int(idx(i), -2, 2)) * pow2;
        default: return z * inv_sqrt_k;
      }
    });
  }

  Tensor gamma() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "gamma");
    return fill_noisy(DType::f32, {K_}, noise_of(r), [&](std::int64_t i, double z) {
      switch (dist_) {
        case Dist::ones: return 1.0;
        case Dist::small_int: return 0.25 * static_cast<double>(r.small_int(idx(i), 2, 6));
        default: return 1.0 + 0.1 * z;
      }
    });
  }

  Tensor alpha() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "alpha");
    return fill(DType::f32, {3}, [&](std::int64_t k) {
      switch (dist_) {
        case Dist::ones: return 1.0;
        case Dist::small_int: return 0.25 * static_cast<double>(r.small_int(idx(k), 2, 6));
        case Dist::wide_logits:
          if (k == 2) return 6.0 + 4.0 * r.uniform(idx(k));
          [[fallthrough]];
        default: return 0.5 + r.uniform(idx(k));
      }
    });
  }

  Tensor bias() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "bias");
    return fill(DType::f32, {M_}, [&](std::int64_t j) {
      switch (dist_) {
        case Dist::ones: return 0.0;
        case Dist::small_int: return 0.125 * static_cast<double>(r.small_int(idx(j), -2, 2));
        case Dist::wide_logits:
          if (j >= 2 * n_) return 2.0 * noise(r, j);
          [[fallthrough]];
        default: return 0.1 * noise(r, j);
      }
    });
  }

  Tensor h_post() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "h_post");
    return fill_noisy(DType::f32, {T_, n_}, noise_of(r), [&](std::int64_t i, double z) {
      switch (dist_) {
        case Dist::ones: return p_ / 2;
        case Dist::small_int: return p_ * static_cast<double>(r.small_int(idx(i), 1, 7)) / 8;
        case Dist::wide_logits: return p_ * sigmoid(4.0 * z);
        default: return p_ * sigmoid(z);
      }
    });
  }

  // Row (t, i) of H: positive weights normalised to a row sum in [0.9, 1.1], never exactly 1.
  Tensor h_res() const {
    const rng::TensorRng r = rng::tensor_rng(spec_.seed, "h_res");
    const rng::TensorRng row_sum = rng::tensor_rng(spec_.seed, "h_res.row_sum");
    const double spread = dist_ == Dist::wide_logits ? 3.0 : 1.0;
    return fill(DType::f32, {T_, n_, n_}, [&](std::int64_t e) {
      switch (dist_) {
        case Dist::ones: return 1.0 / static_cast<double>(n_);
        case Dist::small_int: return static_cast<double>(r.small_int(idx(e), 1, 4)) / 8;
        default: {
          const std::int64_t row = e / n_;
          double total = 0;
          for (std::int64_t j = 0; j < n_; ++j) total += std::exp(spread * noise(r, row * n_ + j));
          const double target = 0.9 + 0.2 * row_sum.uniform(idx(row));
          return std::exp(spread * noise(r, e)) / total * target;
        }
      }
    });
  }

 private:
  static std::uint64_t idx(std::int64_t i) { return static_cast<std::uint64_t>(i); }

  double noise(const rng::TensorRng& r, std::int64_t i) const { return verify::noise(dist_, r, i); }
  NoiseChunk noise_of(const rng::TensorRng& r) const { return {dist_, r}; }

  static double arange(std::int64_t i) { return static_cast<double>(i % 256 - 128) / 128.0; }

  // z: noise() of element i, from fill_noisy.
  double activation(const rng::TensorRng& r, std::int64_t i, double z) const {
    switch (dist_) {
      case Dist::ones: return 1.0;
      case Dist::arange: return arange(i);
      case Dist::small_int: return static_cast<double>(r.small_int(idx(i), -3, 3));
      default: return z;
    }
  }

  double large_scale() const {
    if (spec_.op == Op::pre) return std::ldexp(1.0, 58 - (ceil_log2(K_) + 1) / 2);
    return std::ldexp(1.0, 118 - ceil_log2(C_));
  }

  const CaseSpec& spec_;
  Dist dist_;
  std::int64_t T_, n_, C_, K_, M_;
  double p_;
};

const Tensor& need(const TensorMap& m, const char* name) {
  const auto it = m.find(name);
  if (it == m.end() || !it->second.defined()) invalid_input(std::string("case tensors: missing \"") + name + "\"");
  return it->second;
}

}  // namespace

CaseLimits::CaseLimits() {
  constexpr std::uint64_t kUnknown = std::uint64_t{16} << 30;  // when sysconf cannot tell
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  max_bytes = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) / 4 * 3 * static_cast<std::uint64_t>(page)
                                    : kUnknown;
}

std::vector<std::string> distribution_names() {
  std::vector<std::string> out;
  for (const auto& [d, name] : kDistNames) out.emplace_back(name);
  return out;
}

std::uint64_t case_input_bytes(const CaseSpec& spec) {
  const auto T = static_cast<std::uint64_t>(std::max<std::int64_t>(spec.shape.T, 0));
  const auto n = static_cast<std::uint64_t>(std::max<std::int64_t>(spec.shape.n, 0));
  const auto C = static_cast<std::uint64_t>(std::max<std::int64_t>(spec.shape.C, 0));
  const std::uint64_t a = dtype_size(spec.dtype);
  const std::uint64_t K = checked_mul(n, C, spec);
  const std::uint64_t TK = checked_mul(T, K, spec);
  const std::uint64_t Tn = checked_mul(T, n, spec);
  const std::uint64_t Tnn = checked_mul(Tn, n, spec);
  const std::uint64_t TC = checked_mul(T, C, spec);
  std::uint64_t elems4 = 0, elemsa = 0;  // f32 elements, activation-dtype elements
  auto add = [&](std::uint64_t& acc, std::uint64_t v) {
    if (acc > std::numeric_limits<std::uint64_t>::max() - v) sizes_overflow(spec);
    acc += v;
  };
  if (spec.op == Op::pre) {
    const auto M = static_cast<std::uint64_t>(mix_count(spec.semantics.resmap, spec.shape.n));
    add(elemsa, TK);
    add(elemsa, TC);
    add(elems4, checked_mul(M, K, spec));
    if (spec.semantics.use_gamma) add(elems4, K);
    add(elems4, 3 + M);
    add(elems4, Tn);
    add(elems4, Tnn);
  } else {
    add(elemsa, checked_mul(TK, 2, spec));
    add(elemsa, TC);
    add(elems4, Tn);
    add(elems4, Tnn);
  }
  std::uint64_t bytes = checked_mul(elems4, 4, spec);
  add(bytes, checked_mul(elemsa, a, spec));
  return bytes;
}

std::uint64_t case_peak_bytes(const CaseSpec& spec, CaseWork work) {
  // Bytes per element, measured with /usr/bin/time (maximum RSS) on one-case sweeps and
  // `decompose` of the emulated backend at shapes where each kind of tensor dominates (pre
  // T=2000..4000 n=4..8 C=4000; T=1..4 n=8 C=10^5..5*10^5; T=2*10^5 n=8 C=1; post alike), then
  // rounded up by a quarter or more. The inputs' own storage is in them.
  struct Costs {
    double TK, TC, MK, TM, Tnn;
  };
  const bool dec = work == CaseWork::decompose;
  const Costs c = spec.op == Op::pre ? (dec ? Costs{160, 40, 96, 150, 0} : Costs{42, 18, 60, 120, 0})
                                     : (dec ? Costs{80, 40, 0, 0, 150} : Costs{60, 36, 0, 0, 120});
  const double T = static_cast<double>(std::max<std::int64_t>(spec.shape.T, 0));
  const double n = static_cast<double>(std::max<std::int64_t>(spec.shape.n, 0));
  const double C = static_cast<double>(std::max<std::int64_t>(spec.shape.C, 0));
  const double M = spec.op == Op::pre ? static_cast<double>(mix_count(spec.semantics.resmap, spec.shape.n)) : 0.0;
  const double K = n * C;
  double bytes = c.TK * T * K + c.TC * T * C + c.MK * M * K + c.TM * T * M + c.Tnn * T * n * n;
  const bool sinkhorn = spec.semantics.resmap == ResMap::sinkhorn || spec.semantics.resmap == ResMap::sinkhorn_exp;
  // The f32 backends keep the Sinkhorn iterates [R+1, n, n] of every token for their backward;
  // decomposition also holds them as taps of every backend (f64 golden, f32 others). Measured at
  // pre T=4096 n=4 C=16 R=2000: 4.1 and 20 bytes per iterate element.
  if (spec.op == Op::pre && sinkhorn) bytes += (dec ? 28.0 : 6.0) * T * (spec.semantics.repeats + 1) * n * n;
  constexpr double kMax = 1.8e19;  // below 2^64
  return bytes < kMax ? static_cast<std::uint64_t>(bytes) : static_cast<std::uint64_t>(kMax);
}

void validate_case(const CaseSpec& spec, const CaseLimits& limits) {
  dist_from_string(spec.distribution);
  if (spec.dtype != DType::bf16 && spec.dtype != DType::f32) {
    invalid_input("case dtype must be bf16 or f32 (the activations' storage), got " + std::string(dtype_name(spec.dtype)));
  }
  mhc::preset(spec.preset);
  validate(spec.shape, spec.semantics);
  case_input_bytes(spec);  // refuses sizes that overflow 64 bits, naming T, n, C
  const std::uint64_t bytes = case_peak_bytes(spec);
  if (bytes > limits.max_bytes) {
    // The same case fits on a machine with more memory: environment, not a bad case.
    fail(ErrorKind::environment, "case T=" + std::to_string(spec.shape.T) + " n=" + std::to_string(spec.shape.n) + " C=" +
                  std::to_string(spec.shape.C) + " needs about " + std::to_string(bytes >> 20) +
                  " MiB of host memory to verify, over the limit of " + std::to_string(limits.max_bytes >> 20) +
                  " MiB: reduce T or C");
  }
}

PreCase make_pre_case(const CaseSpec& spec, const CaseLimits& limits) {
  if (spec.op != Op::pre) invalid_input("make_pre_case: the case is a post case");
  validate_case(spec, limits);
  const Generator g(spec);
  const std::int64_t T = spec.shape.T, n = spec.shape.n, C = spec.shape.C;
  PreCase c;
  c.in.x = g.x();
  c.in.phi = g.phi();
  if (spec.semantics.use_gamma) c.in.gamma = g.gamma();
  c.in.alpha = g.alpha();
  c.in.bias = g.bias();
  c.up.dy = g.upstream("dy", spec.dtype, {T, C});
  c.up.dh_post = g.upstream("dh_post", DType::f32, {T, n});
  c.up.dh_res = g.upstream("dh_res", DType::f32, {T, n, n});
  return c;
}

PostCase make_post_case(const CaseSpec& spec, const CaseLimits& limits) {
  if (spec.op != Op::post) invalid_input("make_post_case: the case is a pre case");
  validate_case(spec, limits);
  const Generator g(spec);
  PostCase c;
  c.in.x = g.x();
  c.in.f = g.f();
  c.in.h_post = g.h_post();
  c.in.h_res = g.h_res();
  c.up.dout = g.upstream("dout", spec.dtype, {spec.shape.T, spec.shape.n, spec.shape.C});
  return c;
}

TensorMap case_tensors(const CaseSpec& spec, const CaseLimits& limits) {
  // Moved into the map (not through an initializer list, which copies): a copy would cost as much
  // memory traffic as generating them.
  TensorMap m;
  auto put = [&m](const char* name, Tensor& t) {
    if (t.defined()) m.emplace(name, std::move(t));
  };
  if (spec.op == Op::pre) {
    PreCase c = make_pre_case(spec, limits);
    for (auto [name, t] : {std::pair<const char*, Tensor*>{"x", &c.in.x}, {"phi", &c.in.phi}, {"gamma", &c.in.gamma},
                           {"alpha", &c.in.alpha}, {"bias", &c.in.bias}, {"dy", &c.up.dy}, {"dh_post", &c.up.dh_post},
                           {"dh_res", &c.up.dh_res}}) {
      put(name, *t);
    }
  } else {
    PostCase c = make_post_case(spec, limits);
    for (auto [name, t] : {std::pair<const char*, Tensor*>{"x", &c.in.x}, {"f", &c.in.f}, {"h_post", &c.in.h_post},
                           {"h_res", &c.in.h_res}, {"dout", &c.up.dout}}) {
      put(name, *t);
    }
  }
  return m;
}

TensorMap to_tensor_map(const PreCase& c) {
  TensorMap m{{"x", c.in.x},   {"phi", c.in.phi},         {"alpha", c.in.alpha},      {"bias", c.in.bias},
              {"dy", c.up.dy}, {"dh_post", c.up.dh_post}, {"dh_res", c.up.dh_res}};
  if (c.in.gamma.defined()) m["gamma"] = c.in.gamma;
  return m;
}

TensorMap to_tensor_map(const PostCase& c) {
  return {{"x", c.in.x}, {"f", c.in.f}, {"h_post", c.in.h_post}, {"h_res", c.in.h_res}, {"dout", c.up.dout}};
}

PreCase pre_case_from_map(const TensorMap& m) {
  PreCase c;
  c.in.x = need(m, "x");
  c.in.phi = need(m, "phi");
  if (const auto it = m.find("gamma"); it != m.end()) c.in.gamma = it->second;
  c.in.alpha = need(m, "alpha");
  c.in.bias = need(m, "bias");
  c.up.dy = need(m, "dy");
  c.up.dh_post = need(m, "dh_post");
  c.up.dh_res = need(m, "dh_res");
  return c;
}

PostCase post_case_from_map(const TensorMap& m) {
  PostCase c;
  c.in.x = need(m, "x");
  c.in.f = need(m, "f");
  c.in.h_post = need(m, "h_post");
  c.in.h_res = need(m, "h_res");
  c.up.dout = need(m, "dout");
  return c;
}

std::map<std::string, std::string> case_metadata(const CaseSpec& spec) {
  std::map<std::string, std::string> meta = to_fields(spec.semantics);
  meta["case"] = spec.to_string();
  meta["casegen"] = std::to_string(kCaseGenVersion);
  meta["op"] = std::string(to_string(spec.op));
  meta["preset"] = spec.preset;
  return meta;
}

}  // namespace mhc::verify
