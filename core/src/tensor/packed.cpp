// Packed weights and the small-row product kernels (loom/packed.hpp).
#include "loom/packed.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#define LOOM_X86 1
#endif

namespace loom {

namespace {

constexpr std::int64_t P = PackedMatrix::kPanel;

// One tile: rows [0, mr) of x times `np` panels (np * 16 columns, of which `cols` are real),
// into y. Each kernel keeps one accumulator per output and adds x[i, k] w[k, j] for k in order
// with a fused multiply-add, then the bias: the same bits whatever the vector width.
using TileFn = void (*)(const float* x, std::int64_t ldx, std::int64_t mr, const float* panel, std::int64_t K,
                        std::int64_t np, std::int64_t cols, const float* bias, float* y, std::int64_t ldy);

void tile_portable(const float* x, std::int64_t ldx, std::int64_t mr, const float* panel, std::int64_t K,
                   std::int64_t np, std::int64_t cols, const float* bias, float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < mr; ++i)
    for (std::int64_t j = 0; j < std::min(cols, np * P); ++j) {
      const float* w = panel + (j / P) * K * P + j % P;
      float acc = 0.0f;
      for (std::int64_t k = 0; k < K; ++k) acc = std::fma(x[i * ldx + k], w[k * P], acc);
      y[i * ldy + j] = bias ? acc + bias[j] : acc;
    }
}

#ifdef LOOM_X86

// AVX-512: up to 8 rows by 2 panels (16 accumulators of 16 floats).
template <int MR, int NP>
__attribute__((target("avx512f"))) void tile512(const float* x, std::int64_t ldx, const float* panel, std::int64_t K,
                                                std::int64_t cols, const float* bias, float* y, std::int64_t ldy) {
  __m512 acc[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < K; ++k) {
    __m512 b[NP];
    for (int j = 0; j < NP; ++j) b[j] = _mm512_load_ps(panel + j * K * P + k * P);
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(x[i * ldx + k]);
      for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
    }
  }
  for (int j = 0; j < NP; ++j) {
    const std::int64_t left = cols - j * P;
    if (left <= 0) break;
    const __mmask16 mask = left >= P ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias + j * P) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      const __m512 out = bias ? _mm512_add_ps(acc[i][j], bv) : acc[i][j];
      _mm512_mask_storeu_ps(y + i * ldy + j * P, mask, out);
    }
  }
}

template <int NP>
__attribute__((target("avx512f"))) void rows512(const float* x, std::int64_t ldx, std::int64_t mr, const float* panel,
                                                std::int64_t K, std::int64_t cols, const float* bias, float* y,
                                                std::int64_t ldy) {
  switch (mr) {
    case 1: return tile512<1, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    case 2: return tile512<2, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    case 3: return tile512<3, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    case 4: return tile512<4, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    case 5: return tile512<5, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    case 6: return tile512<6, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    case 7: return tile512<7, NP>(x, ldx, panel, K, cols, bias, y, ldy);
    default: return tile512<8, NP>(x, ldx, panel, K, cols, bias, y, ldy);
  }
}

__attribute__((target("avx512f"))) void tile_avx512(const float* x, std::int64_t ldx, std::int64_t mr,
                                                    const float* panel, std::int64_t K, std::int64_t np,
                                                    std::int64_t cols, const float* bias, float* y, std::int64_t ldy) {
  if (np == 2)
    rows512<2>(x, ldx, mr, panel, K, cols, bias, y, ldy);
  else
    rows512<1>(x, ldx, mr, panel, K, cols, bias, y, ldy);
}

// AVX2 with FMA: up to 6 rows by 1 panel (two 8-float halves: 12 accumulators).
template <int MR>
__attribute__((target("avx2,fma"))) void tile256(const float* x, std::int64_t ldx, const float* panel, std::int64_t K,
                                                 std::int64_t cols, const float* bias, float* y, std::int64_t ldy) {
  __m256 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (std::int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_load_ps(panel + k * P), b1 = _mm256_load_ps(panel + k * P + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(x + i * ldx + k);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  alignas(32) float out[2 * 8];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(out, acc[i][0]);
    _mm256_store_ps(out + 8, acc[i][1]);
    for (std::int64_t j = 0; j < std::min<std::int64_t>(cols, P); ++j)
      y[i * ldy + j] = bias ? out[j] + bias[j] : out[j];
  }
}

__attribute__((target("avx2,fma"))) void tile_avx2(const float* x, std::int64_t ldx, std::int64_t mr,
                                                   const float* panel, std::int64_t K, std::int64_t np,
                                                   std::int64_t cols, const float* bias, float* y, std::int64_t ldy) {
  for (std::int64_t j = 0; j < np && cols > j * P; ++j) {
    const float* pj = panel + j * K * P;
    const float* bj = bias ? bias + j * P : nullptr;
    float* yj = y + j * P;
    const std::int64_t c = cols - j * P;
    for (std::int64_t i = 0; i < mr; i += 6) {
      const float* xi = x + i * ldx;
      float* yi = yj + i * ldy;
      switch (std::min<std::int64_t>(6, mr - i)) {
        case 1: tile256<1>(xi, ldx, pj, K, c, bj, yi, ldy); break;
        case 2: tile256<2>(xi, ldx, pj, K, c, bj, yi, ldy); break;
        case 3: tile256<3>(xi, ldx, pj, K, c, bj, yi, ldy); break;
        case 4: tile256<4>(xi, ldx, pj, K, c, bj, yi, ldy); break;
        case 5: tile256<5>(xi, ldx, pj, K, c, bj, yi, ldy); break;
        default: tile256<6>(xi, ldx, pj, K, c, bj, yi, ldy); break;
      }
    }
  }
}

#endif  // LOOM_X86

struct Kernel {
  TileFn tile;
  std::int64_t rows;  // rows per tile call
  const char* name;
};

// The best kernel the CPU runs; LOOM_PACKED_KERNEL=avx2 or portable asks for a lesser one
// (tests of every kernel on one machine).
Kernel choose_kernel() {
  const char* env = std::getenv("LOOM_PACKED_KERNEL");
  const std::string wanted = env ? env : "";
#ifdef LOOM_X86
  __builtin_cpu_init();
  if (wanted.empty() && __builtin_cpu_supports("avx512f")) return {tile_avx512, 8, "avx512"};
  if (wanted != "portable" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {tile_avx2, 6, "avx2"};
#endif
  return {tile_portable, 8, "portable"};
}

const Kernel& kernel() {
  static const Kernel k = choose_kernel();
  return k;
}

// Products of at least this many multiply-adds are split over the threads, in tiles of
// 2 panels (32 columns).
constexpr std::int64_t kParallelMin = std::int64_t{1} << 20;
constexpr std::int64_t kTilePanels = 2;

}  // namespace

PackedMatrix::PackedMatrix(const float* w, std::int64_t n, std::int64_t k, std::int64_t ldw) : n_(n), k_(k) {
  LOOM_ASSERT(n >= 1 && k >= 1 && ldw >= k, "PackedMatrix: a weight of " + std::to_string(n) + " x " +
                                                 std::to_string(k) + " with rows " + std::to_string(ldw) + " apart");
  const std::int64_t panels = (n + P - 1) / P;
  const std::int64_t size = panels * k * P;
  panels_ = Tensor::empty(Shape{size});  // 64-byte aligned, as every tensor's storage
  float* packed = panels_.data();
  parallel_chunks(panels, 16, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      float* out = packed + p * k * P;
      for (std::int64_t c = 0; c < P; ++c) {
        const std::int64_t row = p * P + c;
        if (row < n) {
          const float* in = w + row * ldw;
          for (std::int64_t kk = 0; kk < k; ++kk) out[kk * P + c] = in[kk];
        } else {
          for (std::int64_t kk = 0; kk < k; ++kk) out[kk * P + c] = 0.0f;
        }
      }
    }
  });
}

void PackedMatrix::multiply(const float* x, std::int64_t m, std::int64_t ldx, const float* bias, float* y,
                            std::int64_t ldy) const {
  if (m <= 0) return;
  const Kernel& kn = kernel();
  const std::int64_t panels = (n_ + P - 1) / P;
  const std::int64_t tiles = (panels + kTilePanels - 1) / kTilePanels;
  auto run = [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t p = t * kTilePanels, np = std::min(kTilePanels, panels - p);
      const std::int64_t col = p * P, cols = std::min(np * P, n_ - col);
      const float* panel = panels_.data() + p * k_ * P;
      const float* b = bias ? bias + col : nullptr;
      for (std::int64_t i = 0; i < m; i += kn.rows)
        kn.tile(x + i * ldx, ldx, std::min(kn.rows, m - i), panel, k_, np, cols, b, y + i * ldy + col, ldy);
    }
  };
  const std::int64_t work = m * n_ * k_;
  if (work < kParallelMin || tiles == 1) {
    run(0, tiles);
    return;
  }
  // Chunks of at least a quarter of the threshold's work.
  const std::int64_t per_tile = m * k_ * kTilePanels * P;
  const std::int64_t grain = std::max<std::int64_t>(1, (kParallelMin / 4 + per_tile - 1) / per_tile);
  parallel_chunks(tiles, grain, run);
}

const char* PackedMatrix::kernel_name() { return kernel().name; }

WeightPack::WeightPack(const Tensor& values)
    : values_(values),
      begin_(values.defined() ? values.data() : nullptr),
      end_(values.defined() ? values.data() + values.numel() : nullptr) {}

const PackedMatrix* WeightPack::find(const float* w, std::int64_t n, std::int64_t k, std::int64_t ldw) {
  if (begin_ == nullptr || w < begin_ || w >= end_ || n < 1 || k < 1 || ldw < k) return nullptr;
  if (w + (n - 1) * ldw + k > end_) return nullptr;
  const auto key = std::make_tuple(w, n, k, ldw);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = packs_.find(key);
    if (it != packs_.end()) return it->second.get();
  }
  // Packed outside the lock: packing runs on TBB's threads, and a thread waiting for its
  // helpers may take up another search's task that asks for a matrix too.
  auto packed = std::make_unique<PackedMatrix>(w, n, k, ldw);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = packs_[key];
  if (!slot) slot = std::move(packed);  // else another thread packed it first
  return slot.get();
}

std::int64_t WeightPack::matrices() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::int64_t>(packs_.size());
}

}  // namespace loom
