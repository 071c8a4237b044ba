#include "reference/gemm.hpp"

#include <cstring>

namespace mhc::ref {
namespace {

typedef double v4 __attribute__((vector_size(32)));

// Unaligned loads and stores through memcpy (one vmovupd). Vectors cross function boundaries
// only by reference: their by-value ABI differs between the AVX2 and baseline clones.
inline void load(v4& v, const double* p) { std::memcpy(&v, p, sizeof v); }
inline void store(double* p, const v4& v) { std::memcpy(p, &v, sizeof v); }

// The fixed reduction order of gemm_abt for one (a row, b row) pair; the tiled path below
// performs exactly these operations for every element it computes.
inline double dot_tail(const v4& acc, const double* a, const double* b, std::int64_t k4, std::int64_t K) {
  double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (std::int64_t k = k4; k < K; ++k) s += a[k] * b[k];
  return s;
}

}  // namespace

MHC_REF_CLONES
double dot(const double* a, const double* b, std::int64_t K) {
  const std::int64_t k4 = K - K % 4;
  v4 acc = {};
  for (std::int64_t k = 0; k < k4; k += 4) {
    v4 x, y;
    load(x, a + k);
    load(y, b + k);
    acc += x * y;
  }
  return dot_tail(acc, a, b, k4, K);
}

MHC_REF_CLONES
void gemm_abt(const double* a, std::int64_t rows, const double* b, std::int64_t M, std::int64_t K, double* out) {
  const std::int64_t k4 = K - K % 4;
  std::int64_t t = 0;
  for (; t + 2 <= rows; t += 2) {  // 2 tokens x 4 rows of b per tile: 8 vector accumulators
    const double* a0 = a + t * K;
    const double* a1 = a0 + K;
    std::int64_t j = 0;
    for (; j + 4 <= M; j += 4) {
      const double* b0 = b + j * K;
      v4 acc[2][4] = {};
      for (std::int64_t k = 0; k < k4; k += 4) {
        v4 x0, x1, y;
        load(x0, a0 + k);
        load(x1, a1 + k);
        for (int r = 0; r < 4; ++r) {
          load(y, b0 + r * K + k);
          acc[0][r] += x0 * y;
          acc[1][r] += x1 * y;
        }
      }
      for (int r = 0; r < 4; ++r) {
        out[t * M + j + r] = dot_tail(acc[0][r], a0, b0 + r * K, k4, K);
        out[(t + 1) * M + j + r] = dot_tail(acc[1][r], a1, b0 + r * K, k4, K);
      }
    }
    for (; j < M; ++j) {
      v4 acc0 = {}, acc1 = {};
      for (std::int64_t k = 0; k < k4; k += 4) {
        v4 x0, x1, y;
        load(y, b + j * K + k);
        load(x0, a0 + k);
        load(x1, a1 + k);
        acc0 += x0 * y;
        acc1 += x1 * y;
      }
      out[t * M + j] = dot_tail(acc0, a0, b + j * K, k4, K);
      out[(t + 1) * M + j] = dot_tail(acc1, a1, b + j * K, k4, K);
    }
  }
  for (; t < rows; ++t) {
    for (std::int64_t j = 0; j < M; ++j) out[t * M + j] = dot(a + t * K, b + j * K, K);
  }
}

MHC_REF_CLONES
void gemm_ab(const double* a, std::int64_t lda, std::int64_t rows, std::int64_t M, const double* b, std::int64_t ldb,
             std::int64_t K, double* out, std::int64_t ldo) {
  const std::int64_t k8 = K - K % 8;
  std::int64_t t = 0;
  for (; t + 4 <= rows; t += 4) {  // 4 tokens x 8 columns per tile, summed over j in order
    for (std::int64_t k = 0; k < k8; k += 8) {
      v4 acc[4][2] = {};
      for (std::int64_t j = 0; j < M; ++j) {
        v4 y0, y1;
        load(y0, b + j * ldb + k);
        load(y1, b + j * ldb + k + 4);
        for (int r = 0; r < 4; ++r) {
          const double xr = a[(t + r) * lda + j];
          const v4 x = {xr, xr, xr, xr};
          acc[r][0] += x * y0;
          acc[r][1] += x * y1;
        }
      }
      for (int r = 0; r < 4; ++r) {
        store(out + (t + r) * ldo + k, acc[r][0]);
        store(out + (t + r) * ldo + k + 4, acc[r][1]);
      }
    }
    for (int r = 0; r < 4; ++r) {
      for (std::int64_t k = k8; k < K; ++k) {
        double s = 0;
        for (std::int64_t j = 0; j < M; ++j) s += a[(t + r) * lda + j] * b[j * ldb + k];
        out[(t + r) * ldo + k] = s;
      }
    }
  }
  for (; t < rows; ++t) {
    for (std::int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (std::int64_t j = 0; j < M; ++j) s += a[t * lda + j] * b[j * ldb + k];
      out[t * ldo + k] = s;
    }
  }
}

MHC_REF_CLONES
void gemm_atb_acc(const double* a, std::int64_t rows, std::int64_t M, const double* b, std::int64_t w, double* out,
                  std::int64_t ldo) {
  const std::int64_t k8 = w - w % 8;
  std::int64_t j = 0;
  for (; j + 4 <= M; j += 4) {  // 4 rows of out x 8 columns per tile, summed over t in order
    for (std::int64_t k = 0; k < k8; k += 8) {
      v4 acc[4][2];
      for (int r = 0; r < 4; ++r) {
        load(acc[r][0], out + (j + r) * ldo + k);
        load(acc[r][1], out + (j + r) * ldo + k + 4);
      }
      for (std::int64_t t = 0; t < rows; ++t) {
        v4 y0, y1;
        load(y0, b + t * w + k);
        load(y1, b + t * w + k + 4);
        for (int r = 0; r < 4; ++r) {
          const double xr = a[t * M + j + r];
          const v4 x = {xr, xr, xr, xr};
          acc[r][0] += x * y0;
          acc[r][1] += x * y1;
        }
      }
      for (int r = 0; r < 4; ++r) {
        store(out + (j + r) * ldo + k, acc[r][0]);
        store(out + (j + r) * ldo + k + 4, acc[r][1]);
      }
    }
    for (int r = 0; r < 4; ++r) {
      for (std::int64_t k = k8; k < w; ++k) {
        double s = out[(j + r) * ldo + k];
        for (std::int64_t t = 0; t < rows; ++t) s += a[t * M + j + r] * b[t * w + k];
        out[(j + r) * ldo + k] = s;
      }
    }
  }
  for (; j < M; ++j) {
    for (std::int64_t k = 0; k < w; ++k) {
      double s = out[j * ldo + k];
      for (std::int64_t t = 0; t < rows; ++t) s += a[t * M + j] * b[t * w + k];
      out[j * ldo + k] = s;
    }
  }
}

}  // namespace mhc::ref
