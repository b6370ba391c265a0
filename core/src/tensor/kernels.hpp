#pragma once
// Private numeric kernels of the core: a matrix-product wrapper and vectorisable versions of
// exp, tanh and sigmoid (std::exp does not vectorise without -ffast-math, which we avoid
// because it would also break NaN checks).
#include <cmath>
#include <cstdint>
#include <cstring>

namespace loom::kernels {

// Products of at least this many multiply-adds are split over TBB's threads; smaller ones
// run on the calling thread, where a fork would cost more than it saves.
constexpr std::int64_t kParallelGemmMin = std::int64_t{1} << 22;

// C[m, n] = alpha op(A) op(B) + beta C, row-major, op(X) = X or X^T.
// OpenBLAS itself always runs single-threaded (see parallel.hpp): large products are cut into
// blocks of rows or columns of C, one OpenBLAS call per block on TBB's threads, so TBB is the
// one pool and nothing spins against it.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc);
// The same product on the calling thread only, for code that is already parallel.
void gemm_serial(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                 std::int64_t ldc);

// exp(x) with a relative error below 2e-7 over the float range; saturates like expf.
inline float fast_exp(float x) {
  x = x < -87.33654f ? -87.33654f : (x > 88.0f ? 88.0f : x);
  float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // exp(r) on |r| <= ln2/2 (Cephes expf polynomial).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// Reductions over a row with 16 independent accumulators: the compiler vectorises them
// (a single accumulator is a serial chain it may not reorder), and the fixed order keeps
// results identical on every run.
constexpr int kLanes = 16;

// max over x[0, n); a NaN anywhere gives NaN.
inline float max_of(const float* x, std::int64_t n) {
  float acc[kLanes];
  for (float& a : acc) a = -INFINITY;
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] = acc[k] > x[i + k] ? acc[k] : x[i + k];
  for (; i < n; ++i) acc[0] = acc[0] > x[i] ? acc[0] : x[i];
  float m = acc[0];
  for (int k = 1; k < kLanes; ++k) m = m > acc[k] ? m : acc[k];
  return m;
}

// out[i] = a[i] + b[i]; returns the maximum of out (one pass instead of two).
inline float add_max(const float* a, const float* b, float* out, std::int64_t n) {
  float acc[kLanes];
  for (float& v : acc) v = -INFINITY;
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      float v = a[i + k] + b[i + k];
      out[i + k] = v;
      acc[k] = acc[k] > v ? acc[k] : v;
    }
  for (; i < n; ++i) {
    out[i] = a[i] + b[i];
    acc[0] = acc[0] > out[i] ? acc[0] : out[i];
  }
  float m = acc[0];
  for (int k = 1; k < kLanes; ++k) m = m > acc[k] ? m : acc[k];
  return m;
}

// out[i] = exp(in[i] - shift); returns the sum of out. `out` may alias `in`.
inline float exp_shifted_sum(const float* in, float* out, std::int64_t n, float shift);

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

inline float exp_shifted_sum(const float* in, float* out, std::int64_t n, float shift) {
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      float e = fast_exp(in[i + k] - shift);
      out[i + k] = e;
      acc[k] += e;
    }
  for (; i < n; ++i) {
    float e = fast_exp(in[i] - shift);
    out[i] = e;
    acc[0] += e;
  }
  float total = 0.0f;
  for (float a : acc) total += a;
  return total;
}

inline float fast_tanh(float x) {
  // tanh x = 1 - 2 / (e^{2x} + 1); near zero that loses digits, so use the odd series there.
  // Both are computed and one is selected, without a branch, so that loops over arrays
  // vectorise (the recurrent layers' gate loops).
  const float x2 = x * x;
  const float series = x * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.053968254f)));
  const float closed = 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f);
  return std::fabs(x) < 0.0625f ? series : closed;
}

}  // namespace loom::kernels
