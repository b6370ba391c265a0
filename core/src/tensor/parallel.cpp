#include "loom/parallel.hpp"

#include <cblas.h>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include <algorithm>
#include <memory>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define LOOM_HAVE_MXCSR 1
#endif

#include "tensor/kernels.hpp"
#include "loom/errors.hpp"

namespace loom {

namespace {
std::unique_ptr<tbb::global_control>& control() {
  static std::unique_ptr<tbb::global_control> instance;
  return instance;
}
int current_threads = 0;
// OpenBLAS starts with one thread per core; make it single-threaded as soon as the core loads.
const bool blas_single_threaded = (openblas_set_num_threads(1), true);
// Subnormal floats on, from the moment the core loads: threads started later inherit the
// setting, and TBB carries the creating thread's settings into its tasks.
const bool subnormals_flushed = (flush_subnormals(), true);
}  // namespace

void flush_subnormals() {
#ifdef LOOM_HAVE_MXCSR
  // FTZ (bit 15): results that would be subnormal become 0; DAZ (bit 6): subnormal inputs are
  // read as 0.
  _mm_setcsr(_mm_getcsr() | 0x8040u);
#endif
}

bool subnormals_are_flushed() {
#ifdef LOOM_HAVE_MXCSR
  return (_mm_getcsr() & 0x8040u) == 0x8040u;
#else
  return false;
#endif
}

namespace kernels {

void gemm_serial(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                 float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  int parts = threads();
  if (parts == 1 || m * n * k < kParallelGemmMin) {
    gemm_serial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Cut the longer side of C into one block per thread, each a multiple of 16 wide so the
  // kernels' vector tails stay the same whatever the thread count.
  bool by_rows = m >= n;
  std::int64_t len = by_rows ? m : n;
  std::int64_t step = (len + parts - 1) / parts;
  step = (step + 15) / 16 * 16;
  std::int64_t blocks = (len + step - 1) / step;
  tbb::parallel_for(std::int64_t{0}, blocks, [&](std::int64_t i) {
    std::int64_t begin = i * step, size = std::min(step, len - begin);
    if (by_rows) {
      const float* ab = ta ? a + begin : a + begin * lda;
      gemm_serial(ta, tb, size, n, k, alpha, ab, lda, b, ldb, beta, c + begin * ldc, ldc);
    } else {
      const float* bb = tb ? b + begin * ldb : b + begin;
      gemm_serial(ta, tb, m, size, k, alpha, a, lda, bb, ldb, beta, c + begin, ldc);
    }
  });
}

}  // namespace kernels

int hardware_threads() { return tbb::info::default_concurrency(); }

void set_threads(int n) {
  LOOM_ASSERT(n >= 1, "thread count must be at least 1");
  control().reset();
  control() = std::make_unique<tbb::global_control>(
      tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(n));
  openblas_set_num_threads(1);  // parallel products go through kernels::gemm on TBB
  flush_subnormals();
  current_threads = n;
}

int threads() { return current_threads > 0 ? current_threads : hardware_threads(); }

}  // namespace loom
