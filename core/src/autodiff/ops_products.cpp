// Matrix products: matmul, linear layers, embeddings.
#include "loom/ops.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autodiff/op_support.hpp"
#include "loom/errors.hpp"
#include "loom/packed.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"
#include "tensor/kernels.hpp"

namespace loom {

using kernels::gemm;
using namespace ops_detail;

Expr matmul(const Expr& a, const Expr& b, Transpose ta, Transpose tb) {
  same_graph("matmul", a, b);
  check(a.value().rank() == 2 && b.value().rank() == 2, "matmul",
        "needs 2-D inputs, got " + a.shape().str() + " and " + b.shape().str());
  bool at = ta == Transpose::kYes, bt = tb == Transpose::kYes;
  std::int64_t m = at ? a.value().dim(1) : a.value().dim(0);
  std::int64_t k = at ? a.value().dim(0) : a.value().dim(1);
  std::int64_t kb = bt ? b.value().dim(1) : b.value().dim(0);
  std::int64_t n = bt ? b.value().dim(0) : b.value().dim(1);
  check(k == kb, "matmul", "inner dimensions differ: " + a.shape().str() + " and " + b.shape().str());
  Tensor y = Tensor::empty(Shape{m, n});
  std::int64_t lda = a.value().dim(1), ldb = b.value().dim(1);
  gemm(at, bt, m, n, k, 1.0f, a.value().data(), lda, b.value().data(), ldb, 0.0f, y.data(), n);
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [=](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              const float* as = g.value(ai).data();
                              const float* bs = g.value(bi).data();
                              // A new gradient buffer is written with beta 0 (no zeroing).
                              bool fresh = false;
                              if (g.requires_grad(ai)) {
                                float* ga = g.grad_for_write(ai, fresh);
                                const float beta = fresh ? 0.0f : 1.0f;
                                if (!at)  // dA[m,k] = dC op(B)^T
                                  gemm(false, !bt, m, k, n, 1.0f, gy, n, bs, ldb, beta, ga, lda);
                                else      // dA[k,m] = op(B) dC^T
                                  gemm(bt, true, k, m, n, 1.0f, bs, ldb, gy, n, beta, ga, lda);
                              }
                              if (g.requires_grad(bi)) {
                                float* gb = g.grad_for_write(bi, fresh);
                                const float beta = fresh ? 0.0f : 1.0f;
                                if (!bt)  // dB[k,n] = op(A)^T dC
                                  gemm(!at, false, k, n, m, 1.0f, as, lda, gy, n, beta, gb, ldb);
                                else      // dB[n,k] = dC^T op(A)
                                  gemm(true, at, n, k, m, 1.0f, gy, n, as, lda, beta, gb, ldb);
                              }
                            });
}

Expr linear(const Expr& x, const Expr& weight, const Expr& bias) {
  same_graph("linear", x, weight);
  const Tensor& xv = x.value();
  const Tensor& wv = weight.value();
  check(wv.rank() == 2 && xv.rank() >= 1 && xv.cols() == wv.dim(1), "linear",
        "input " + x.shape().str() + " does not fit weight " + weight.shape().str());
  bool has_bias = bias.defined();
  if (has_bias)
    check(bias.value().rank() == 1 && bias.value().dim(0) == wv.dim(0), "linear",
          "bias " + bias.shape().str() + " does not fit weight " + weight.shape().str());
  std::int64_t rows = xv.rows(), in = wv.dim(1), out = wv.dim(0);
  Shape shape = xv.shape().with_dim(xv.rank() - 1, out);
  Tensor y = Tensor::empty(shape);
  float* ys = y.data();
  bool rg = x.requires_grad() || weight.requires_grad() || (has_bias && bias.requires_grad());
  if (WeightPack* pack = x.graph().weight_pack(); pack != nullptr && !rg) {
    // Decoding: the weight packed once instead of at every product.
    if (const PackedMatrix* packed = pack->find(wv.data(), out, in, in)) {
      packed->multiply(xv.data(), rows, in, has_bias ? bias.value().data() : nullptr, ys, out);
      return x.graph().add_node(y, false, nullptr);
    }
  }
  if (has_bias) {
    const float* bs = bias.value().data();
    parallel_chunks(rows, std::max<std::int64_t>(1, kElementGrain / out), [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) std::copy_n(bs, out, ys + r * out);
    });
  }
  // y = x W^T (+ y)
  gemm(false, true, rows, out, in, 1.0f, xv.data(), in, wv.data(), in, has_bias ? 1.0f : 0.0f,
       ys, out);
  int xi = x.id(), wi = weight.id(), bi = has_bias ? bias.id() : -1;
  return x.graph().add_node(y, rg, [=](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    if (g.requires_grad(xi)) {  // dx = dy W; a new buffer is written with beta 0
      bool fresh = false;
      float* gx = g.grad_for_write(xi, fresh);
      gemm(false, false, rows, in, out, 1.0f, gy, out, g.value(wi).data(), in, fresh ? 0.0f : 1.0f, gx, in);
    }
    if (g.requires_grad(wi))  // dW = dy^T x
      gemm(true, false, out, in, rows, 1.0f, gy, out, g.value(xi).data(), in, 1.0f,
           g.grad(wi).data(), in);
    if (bi >= 0 && g.requires_grad(bi)) {
      add_column_sums(g.grad(bi).data(), gy, rows, out);
    }
  });
}

Expr embedding(const Expr& weight, const Tensor& ids) {
  check(weight.defined() && weight.value().rank() == 2, "embedding", "weight must be 2-D");
  check(ids.dtype() == DType::kInt32 && ids.rank() <= 3, "embedding",
        "ids must be int32 with at most 3 dimensions");
  std::int64_t vocab = weight.value().dim(0), dim = weight.value().dim(1), n = ids.numel();
  const std::int32_t* is = ids.ids();
  for (std::int64_t i = 0; i < n; ++i)
    if (is[i] < 0 || is[i] >= vocab)
      throw InputError("embedding: id " + std::to_string(is[i]) + " is outside [0, " +
                       std::to_string(vocab) + ")");
  Shape shape = ids.shape().appended(dim);
  Tensor y = Tensor::empty(shape);
  const float* ws = weight.value().data();
  float* ys = y.data();
  for (std::int64_t i = 0; i < n; ++i) std::copy_n(ws + is[i] * dim, dim, ys + i * dim);
  int wi = weight.id();
  return weight.graph().add_node(y, weight.requires_grad(), [wi, ids, n, dim](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gw = g.grad(wi).data();
    const std::int32_t* is = ids.ids();
    // Only looked-up rows are touched; serial because ids repeat.
    for (std::int64_t i = 0; i < n; ++i) {
      float* row = gw + static_cast<std::int64_t>(is[i]) * dim;
      const float* src = gy + i * dim;
      for (std::int64_t d = 0; d < dim; ++d) row[d] += src[d];
    }
  });
}

}  // namespace loom
