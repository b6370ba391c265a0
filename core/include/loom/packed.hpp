#pragma once
// Weights packed once for many products with few rows: decoding.
//
// A decoding step multiplies a few dozen rows (the live hypotheses) by every weight matrix of
// the decoder. A general matrix product (OpenBLAS's sgemm) repacks the weight matrix into its
// own layout at every call, which costs about as much as the product itself when the rows are
// few. A PackedMatrix holds W [N, K] (a linear layer's weight, y = x W^T) transposed into
// panels of 16 output columns, [ceil(N / 16)][K][16], made once and read by a kernel of our
// own (AVX-512 or AVX2 with FMA, chosen when the core loads; plain C++ elsewhere).
//
// Every output is one chain of fused multiply-adds over k = 0 .. K-1 in order, then plus the
// bias: the same bits on every instruction set, at any thread count, however the rows are
// batched. (It is not OpenBLAS's rounding; a decoder's step and the training forward pass agree
// to rounding, not to the bit.)
//
// A WeightPack packs the matrices of one set of parameter values on first use; the linear op
// of a Graph given one (Graph::use_weight_pack) multiplies with the packed form when no
// gradient is wanted. It is valid while the values do not change: one `loom translate`, one
// evaluation pass.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "loom/tensor.hpp"

namespace loom {

class LOOM_API PackedMatrix {
 public:
  static constexpr std::int64_t kPanel = 16;  // output columns per panel

  // W [n, k], rows `ldw` floats apart.
  PackedMatrix(const float* w, std::int64_t n, std::int64_t k, std::int64_t ldw);

  std::int64_t outputs() const { return n_; }  // N
  std::int64_t inputs() const { return k_; }   // K

  // y[i, j] = sum_k x[i, k] w[j, k] (+ bias[j]) for i < m; x rows ldx floats apart, y rows ldy.
  // bias may be null. Splits the columns over TBB's threads when the product is large enough.
  void multiply(const float* x, std::int64_t m, std::int64_t ldx, const float* bias, float* y,
                std::int64_t ldy) const;

  // The kernel in use: "avx512", "avx2" or "portable" (the best the CPU has; the environment
  // variable LOOM_PACKED_KERNEL=avx2 or portable asks for a lesser one).
  static const char* kernel_name();

 private:
  std::int64_t n_, k_;
  Tensor panels_;  // [ceil(N / 16) * K * 16]
};

class LOOM_API WeightPack {
 public:
  // Matrices inside `values` (a model's parameter arena, Parameters::values()) may be packed.
  explicit WeightPack(const Tensor& values);

  // The packed form of W [n, k] at `w`, rows `ldw` apart, made on first use; null when W does
  // not lie inside the arena (an activation, not a weight). Safe to call from several threads.
  const PackedMatrix* find(const float* w, std::int64_t n, std::int64_t k, std::int64_t ldw);

  std::int64_t matrices() const;  // packed so far

 private:
  Tensor values_;  // keeps the arena alive
  const float* begin_;
  const float* end_;
  mutable std::mutex mutex_;
  std::map<std::tuple<const float*, std::int64_t, std::int64_t, std::int64_t>, std::unique_ptr<PackedMatrix>> packs_;
};

}  // namespace loom
