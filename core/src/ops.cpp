#include "loom/ops.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"

namespace loom {

using kernels::gemm;

namespace {

// Elementwise loops split over threads only when large enough to pay for it.
constexpr std::int64_t kElementGrain = 1 << 16;

void check(bool ok, const char* op, const std::string& message) {
  if (!ok) throw AssertionError(std::string(op) + ": " + message);
}

void same_graph(const char* op, const Expr& a, const Expr& b) {
  check(a.defined() && b.defined(), op, "undefined input");
  check(&a.graph() == &b.graph(), op, "inputs from different graphs");
}

void same_shape(const char* op, const Expr& a, const Expr& b) {
  same_graph(op, a, b);
  check(a.shape() == b.shape(), op,
        "shapes differ: " + a.shape().str() + " and " + b.shape().str());
}

// dst += src, n values.
void add_into(float* dst, const float* src, std::int64_t n) {
  parallel_chunks(n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) dst[i] += src[i];
  });
}

template <class F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor y = Tensor::empty(x.shape());
  const float* xs = x.data();
  float* ys = y.data();
  parallel_chunks(x.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ys[i] = f(xs[i]);
  });
  return y;
}

// An elementwise op whose derivative is a function of its output y (sigmoid, tanh, relu).
template <class F, class D>
Expr unary_from_output(const Expr& x, F f, D dy_dx) {
  check(x.defined(), "unary", "undefined input");
  int xi = x.id();
  return x.graph().add_node(map_unary(x.value(), f), x.requires_grad(),
                            [xi, dy_dx](Graph& g, int self) {
                              const float* y = g.value(self).data();
                              const float* gy = g.grad(self).data();
                              float* gx = g.grad(xi).data();
                              parallel_chunks(g.value(self).numel(), kElementGrain,
                                              [&](std::int64_t b, std::int64_t e) {
                                                for (std::int64_t i = b; i < e; ++i)
                                                  gx[i] += gy[i] * dy_dx(y[i]);
                                              });
                            });
}

}  // namespace

Expr add(const Expr& a, const Expr& b) {
  same_shape("add", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *as = a.value().data(), *bs = b.value().data();
  float* ys = y.data();
  for (std::int64_t i = 0, n = y.numel(); i < n; ++i) ys[i] = as[i] + bs[i];
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [ai, bi](Graph& g, int self) {
                              const Tensor& gy = g.grad(self);
                              if (g.requires_grad(ai)) add_into(g.grad(ai).data(), gy.data(), gy.numel());
                              if (g.requires_grad(bi)) add_into(g.grad(bi).data(), gy.data(), gy.numel());
                            });
}

Expr sub(const Expr& a, const Expr& b) {
  same_shape("sub", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *as = a.value().data(), *bs = b.value().data();
  float* ys = y.data();
  for (std::int64_t i = 0, n = y.numel(); i < n; ++i) ys[i] = as[i] - bs[i];
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [ai, bi](Graph& g, int self) {
                              const Tensor& gy = g.grad(self);
                              const float* gs = gy.data();
                              if (g.requires_grad(ai)) add_into(g.grad(ai).data(), gs, gy.numel());
                              if (g.requires_grad(bi)) {
                                float* gb = g.grad(bi).data();
                                for (std::int64_t i = 0, n = gy.numel(); i < n; ++i) gb[i] -= gs[i];
                              }
                            });
}

Expr mul(const Expr& a, const Expr& b) {
  same_shape("mul", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *as = a.value().data(), *bs = b.value().data();
  float* ys = y.data();
  for (std::int64_t i = 0, n = y.numel(); i < n; ++i) ys[i] = as[i] * bs[i];
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [ai, bi](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              std::int64_t n = g.value(self).numel();
                              // d/da (a b) = b; d/db (a b) = a
                              if (g.requires_grad(ai)) {
                                float* ga = g.grad(ai).data();
                                const float* bs = g.value(bi).data();
                                for (std::int64_t i = 0; i < n; ++i) ga[i] += gy[i] * bs[i];
                              }
                              if (g.requires_grad(bi)) {
                                float* gb = g.grad(bi).data();
                                const float* as = g.value(ai).data();
                                for (std::int64_t i = 0; i < n; ++i) gb[i] += gy[i] * as[i];
                              }
                            });
}

Expr scale(const Expr& x, float factor) {
  check(x.defined(), "scale", "undefined input");
  int xi = x.id();
  return x.graph().add_node(map_unary(x.value(), [factor](float v) { return factor * v; }),
                            x.requires_grad(), [xi, factor](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              float* gx = g.grad(xi).data();
                              for (std::int64_t i = 0, n = g.value(self).numel(); i < n; ++i)
                                gx[i] += factor * gy[i];
                            });
}

Expr sigmoid(const Expr& x) {
  // dy/dx = y (1 - y)
  return unary_from_output(
      x, [](float v) { return kernels::fast_sigmoid(v); },
      [](float y) { return y * (1.0f - y); });
}

Expr tanh(const Expr& x) {
  // dy/dx = 1 - y^2
  return unary_from_output(
      x, [](float v) { return kernels::fast_tanh(v); }, [](float y) { return 1.0f - y * y; });
}

Expr relu(const Expr& x) {
  return unary_from_output(
      x, [](float v) { return v > 0.0f ? v : 0.0f; },
      [](float y) { return y > 0.0f ? 1.0f : 0.0f; });
}

Expr dropout(const Expr& x, float p) {
  check(x.defined(), "dropout", "undefined input");
  check(p >= 0.0f && p < 1.0f, "dropout", "probability must be in [0, 1), got " + std::to_string(p));
  Graph& graph = x.graph();
  if (!graph.training() || p == 0.0f) return x;
  // The mask is a function of (key, index): recomputed in backward instead of stored.
  std::uint64_t key = graph.next_random_key();
  float keep_scale = 1.0f / (1.0f - p);
  auto factor = [key, p, keep_scale](std::int64_t i) {
    return random_uniform(key, static_cast<std::uint64_t>(i)) >= p ? keep_scale : 0.0f;
  };
  Tensor y = Tensor::empty(x.shape());
  const float* xs = x.value().data();
  float* ys = y.data();
  parallel_chunks(y.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ys[i] = xs[i] * factor(i);
  });
  int xi = x.id();
  return graph.add_node(y, x.requires_grad(), [xi, factor](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    parallel_chunks(g.value(self).numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) gx[i] += gy[i] * factor(i);
    });
  });
}

Expr apply_mask(const Expr& x, const Tensor& mask) {
  check(x.defined(), "apply_mask", "undefined input");
  check(mask.shape() == x.shape() && mask.dtype() == DType::kFloat32, "apply_mask",
        "mask " + mask.shape().str() + " does not match input " + x.shape().str());
  Tensor y = Tensor::empty(x.shape());
  const float *xs = x.value().data(), *ms = mask.data();
  float* ys = y.data();
  for (std::int64_t i = 0, n = y.numel(); i < n; ++i) ys[i] = xs[i] * ms[i];
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, mask](Graph& g, int self) {
    const float *gy = g.grad(self).data(), *ms = mask.data();
    float* gx = g.grad(xi).data();
    for (std::int64_t i = 0, n = mask.numel(); i < n; ++i) gx[i] += gy[i] * ms[i];
  });
}

Expr add_bias(const Expr& x, const Expr& b) {
  same_graph("add_bias", x, b);
  check(b.value().rank() == 1 && b.value().dim(0) == x.value().cols(), "add_bias",
        "bias " + b.shape().str() + " does not fit input " + x.shape().str());
  std::int64_t rows = x.value().rows(), cols = x.value().cols();
  Tensor y = Tensor::empty(x.shape());
  const float *xs = x.value().data(), *bs = b.value().data();
  float* ys = y.data();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) ys[r * cols + c] = xs[r * cols + c] + bs[c];
  int xi = x.id(), bi = b.id();
  return x.graph().add_node(y, x.requires_grad() || b.requires_grad(),
                            [xi, bi, rows, cols](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              if (g.requires_grad(xi)) add_into(g.grad(xi).data(), gy, rows * cols);
                              if (g.requires_grad(bi)) {
                                float* gb = g.grad(bi).data();
                                for (std::int64_t r = 0; r < rows; ++r)
                                  for (std::int64_t c = 0; c < cols; ++c) gb[c] += gy[r * cols + c];
                              }
                            });
}

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
                              if (g.requires_grad(ai)) {
                                float* ga = g.grad(ai).data();
                                if (!at)  // dA[m,k] = dC op(B)^T
                                  gemm(false, !bt, m, k, n, 1.0f, gy, n, bs, ldb, 1.0f, ga, lda);
                                else      // dA[k,m] = op(B) dC^T
                                  gemm(bt, true, k, m, n, 1.0f, bs, ldb, gy, n, 1.0f, ga, lda);
                              }
                              if (g.requires_grad(bi)) {
                                float* gb = g.grad(bi).data();
                                if (!bt)  // dB[k,n] = op(A)^T dC
                                  gemm(!at, false, k, n, m, 1.0f, as, lda, gy, n, 1.0f, gb, ldb);
                                else      // dB[n,k] = dC^T op(A)
                                  gemm(true, at, n, k, m, 1.0f, gy, n, as, lda, 1.0f, gb, ldb);
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
  if (has_bias) {
    const float* bs = bias.value().data();
    for (std::int64_t r = 0; r < rows; ++r) std::copy_n(bs, out, ys + r * out);
  }
  // y = x W^T (+ y)
  gemm(false, true, rows, out, in, 1.0f, xv.data(), in, wv.data(), in, has_bias ? 1.0f : 0.0f,
       ys, out);
  int xi = x.id(), wi = weight.id(), bi = has_bias ? bias.id() : -1;
  bool rg = x.requires_grad() || weight.requires_grad() || (has_bias && bias.requires_grad());
  return x.graph().add_node(y, rg, [=](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    if (g.requires_grad(xi))  // dx = dy W
      gemm(false, false, rows, in, out, 1.0f, gy, out, g.value(wi).data(), in, 1.0f,
           g.grad(xi).data(), in);
    if (g.requires_grad(wi))  // dW = dy^T x
      gemm(true, false, out, in, rows, 1.0f, gy, out, g.value(xi).data(), in, 1.0f,
           g.grad(wi).data(), in);
    if (bi >= 0 && g.requires_grad(bi)) {
      float* gb = g.grad(bi).data();
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < out; ++c) gb[c] += gy[r * out + c];
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

Expr reshape(const Expr& x, const Shape& shape) {
  check(x.defined(), "reshape", "undefined input");
  check(shape.numel() == x.value().numel(), "reshape",
        "cannot reshape " + x.shape().str() + " to " + shape.str());
  int xi = x.id();
  return x.graph().add_node(x.value().view(shape), x.requires_grad(), [xi](Graph& g, int self) {
    const Tensor& gy = g.grad(self);
    add_into(g.grad(xi).data(), gy.data(), gy.numel());
  });
}

Expr transpose(const Expr& x) {
  check(x.defined() && x.value().rank() == 2, "transpose", "needs a 2-D input, got " +
                                                               x.shape().str());
  std::int64_t m = x.value().dim(0), n = x.value().dim(1);
  Tensor y = Tensor::empty(Shape{n, m});
  const float* xs = x.value().data();
  float* ys = y.data();
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) ys[j * m + i] = xs[i * n + j];
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, m, n](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) gx[i * n + j] += gy[j * m + i];
  });
}

namespace {

// Sizes around `axis`: outer = product of dimensions before it, inner = product after it.
void axis_sizes(const Shape& s, int axis, std::int64_t& outer, std::int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
}


}  // namespace

Expr concat(const std::vector<Expr>& parts, int axis) {
  check(!parts.empty(), "concat", "no inputs");
  const Shape& first = parts[0].shape();
  check(axis >= 0 && axis < first.rank(), "concat", "axis " + std::to_string(axis) +
                                                        " out of range for " + first.str());
  std::int64_t total = 0;
  bool rg = false;
  std::vector<int> ids;
  std::vector<std::int64_t> widths;
  for (const Expr& p : parts) {
    same_graph("concat", parts[0], p);
    check(p.shape().rank() == first.rank(), "concat", "ranks differ");
    for (int i = 0; i < first.rank(); ++i)
      check(i == axis || p.shape()[i] == first[i], "concat",
            "shapes " + first.str() + " and " + p.shape().str() + " differ off the axis");
    total += p.shape()[axis];
    rg = rg || p.requires_grad();
    ids.push_back(p.id());
  }
  std::int64_t outer, inner;
  axis_sizes(first, axis, outer, inner);
  Tensor y = Tensor::empty(first.with_dim(axis, total));
  float* ys = y.data();
  std::int64_t row = total * inner, offset = 0;
  for (const Expr& p : parts) {
    std::int64_t w = p.shape()[axis] * inner;
    const float* src = p.value().data();
    for (std::int64_t o = 0; o < outer; ++o) std::copy_n(src + o * w, w, ys + o * row + offset);
    offset += w;
    widths.push_back(w);
  }
  return parts[0].graph().add_node(y, rg, [ids, widths, outer, row](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    std::int64_t offset = 0;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      std::int64_t w = widths[k];
      if (g.requires_grad(ids[k])) {
        float* gx = g.grad(ids[k]).data();
        for (std::int64_t o = 0; o < outer; ++o)
          for (std::int64_t i = 0; i < w; ++i) gx[o * w + i] += gy[o * row + offset + i];
      }
      offset += w;
    }
  });
}

Expr slice(const Expr& x, int axis, std::int64_t begin, std::int64_t end) {
  check(x.defined(), "slice", "undefined input");
  const Shape& s = x.shape();
  check(axis >= 0 && axis < s.rank(), "slice", "axis out of range for " + s.str());
  check(0 <= begin && begin <= end && end <= s[axis], "slice",
        "[" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " + s.str());
  std::int64_t outer, inner;
  axis_sizes(s, axis, outer, inner);
  std::int64_t row = s[axis] * inner, w = (end - begin) * inner, offset = begin * inner;
  Tensor y = Tensor::empty(s.with_dim(axis, end - begin));
  const float* xs = x.value().data();
  float* ys = y.data();
  for (std::int64_t o = 0; o < outer; ++o) std::copy_n(xs + o * row + offset, w, ys + o * w);
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [=](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < w; ++i) gx[o * row + offset + i] += gy[o * w + i];
  });
}

std::vector<Expr> split(const Expr& x, int axis, const std::vector<std::int64_t>& sizes) {
  check(x.defined() && axis >= 0 && axis < x.shape().rank(), "split", "axis out of range");
  std::int64_t total = 0;
  for (auto s : sizes) total += s;
  check(total == x.shape()[axis], "split", "sizes add up to " + std::to_string(total) +
                                               ", the axis has " + std::to_string(x.shape()[axis]));
  std::vector<Expr> out;
  std::int64_t begin = 0;
  for (auto s : sizes) {
    out.push_back(slice(x, axis, begin, begin + s));
    begin += s;
  }
  return out;
}

Expr sum(const Expr& x) {
  check(x.defined(), "sum", "undefined input");
  const float* xs = x.value().data();
  double s = 0.0;
  for (std::int64_t i = 0, n = x.value().numel(); i < n; ++i) s += xs[i];
  Tensor y = Tensor::empty(Shape{});
  y.data()[0] = static_cast<float>(s);
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi](Graph& g, int self) {
    float gy = g.grad(self).item();
    float* gx = g.grad(xi).data();
    for (std::int64_t i = 0, n = g.value(xi).numel(); i < n; ++i) gx[i] += gy;
  });
}

Expr mean(const Expr& x) {
  check(x.defined() && x.value().numel() > 0, "mean", "empty input");
  return scale(sum(x), 1.0f / static_cast<float>(x.value().numel()));
}

// ---- softmax + negative log-likelihood -----------------------------------------------------

namespace {

constexpr std::int64_t kSoftmaxRowGrain = 16;

// One pass over a block of rows of logits (bias added here if given): computes each row's
// loss and, when `want_grad`, leaves (softmax - onehot) / count in `work`, the gradient of the
// mean loss with respect to the logits. `work` may alias `logits`; when it is null, rows are
// worked on in a per-thread scratch row. Partial column sums of the gradient go to
// `bias_grad_partial` (one row of `classes` per block) so that the bias gradient needs no
// second pass over the big buffer. Each row is walked while it sits in cache.
struct SoftmaxNll {
  const float* logits;
  const float* bias;         // may be null
  float* work;               // may be null (evaluation of an input we must not overwrite)
  bool want_grad;
  float* bias_grad_partial;  // may be null
  const std::int32_t* targets;
  std::int32_t ignore_index;
  std::int64_t rows, classes;
  float inv_count;

  double run_block(std::int64_t begin, std::int64_t end) const {
    double loss = 0.0;
    float* partial = bias_grad_partial
                         ? bias_grad_partial + (begin / kSoftmaxRowGrain) * classes
                         : nullptr;
    if (partial) std::fill_n(partial, classes, 0.0f);
    static thread_local std::vector<float> scratch;
    for (std::int64_t r = begin; r < end; ++r) {
      std::int32_t t = targets[r];
      bool counted = t != ignore_index;
      float* row = work ? work + r * classes : nullptr;
      if (!counted) {
        if (want_grad) std::fill_n(row, classes, 0.0f);
        continue;
      }
      if (row == nullptr) {
        scratch.resize(static_cast<std::size_t>(classes));
        row = scratch.data();
      }
      const float* src = logits + r * classes;
      float mx;
      if (bias != nullptr) {
        mx = kernels::add_max(src, bias, row, classes);  // row = src + bias, and its maximum
        src = row;
      } else {
        mx = kernels::max_of(src, classes);
      }
      float target_logit = src[t];
      float total = kernels::exp_shifted_sum(src, row, classes, mx);  // row[c] = e^{src[c] - mx}
      loss += static_cast<double>(mx) + std::log(static_cast<double>(total)) - target_logit;
      if (!want_grad) continue;
      // gradient = softmax / count - onehot / count, summed into the bias partials as we go
      float scale = inv_count / total;
      if (partial) {
        for (std::int64_t c = 0; c < classes; ++c) {
          row[c] *= scale;
          partial[c] += row[c];
        }
      } else {
        for (std::int64_t c = 0; c < classes; ++c) row[c] *= scale;
      }
      row[t] -= inv_count;
      if (partial) partial[t] -= inv_count;
    }
    return loss;
  }

  // Runs every block (in parallel), returns the summed loss in block order.
  double run() const {
    std::int64_t blocks = (rows + kSoftmaxRowGrain - 1) / kSoftmaxRowGrain;
    std::vector<double> losses(static_cast<std::size_t>(blocks), 0.0);
    parallel_chunks(rows, kSoftmaxRowGrain, [&](std::int64_t b, std::int64_t e) {
      losses[static_cast<std::size_t>(b / kSoftmaxRowGrain)] = run_block(b, e);
    });
    double total = 0.0;
    for (double l : losses) total += l;
    return total;
  }
};

std::int64_t count_targets(const Tensor& targets, std::int32_t ignore_index, std::int64_t classes,
                           const char* op) {
  std::int64_t count = 0;
  const std::int32_t* ts = targets.ids();
  for (std::int64_t i = 0, n = targets.numel(); i < n; ++i) {
    if (ts[i] == ignore_index) continue;
    if (ts[i] < 0 || ts[i] >= classes)
      throw InputError(std::string(op) + ": target " + std::to_string(ts[i]) + " is outside [0, " +
                       std::to_string(classes) + ")");
    ++count;
  }
  return count;
}

// Sums the per-block partial column sums into `bias_grad` (in block order).
void reduce_partials(const Tensor& partials, float* bias_grad, float factor) {
  std::int64_t blocks = partials.dim(0), classes = partials.dim(1);
  const float* p = partials.data();
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t c = 0; c < classes; ++c) bias_grad[c] += factor * p[b * classes + c];
}

Tensor scalar(double v) {
  Tensor t = Tensor::empty(Shape{});
  t.data()[0] = static_cast<float>(v);
  return t;
}

}  // namespace

Expr log_softmax_nll(const Expr& logits, const Tensor& targets, std::int32_t ignore_index,
                     NllStats* stats) {
  check(logits.defined() && logits.value().rank() >= 1, "log_softmax_nll", "undefined input");
  std::int64_t rows = logits.value().rows(), classes = logits.value().cols();
  check(targets.dtype() == DType::kInt32 && targets.numel() == rows, "log_softmax_nll",
        "targets " + targets.shape().str() + " do not match logits " + logits.shape().str());
  std::int64_t count = count_targets(targets, ignore_index, classes, "log_softmax_nll");
  float inv_count = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  bool rg = logits.requires_grad();
  Tensor grad_buffer = rg ? Tensor::empty(Shape{rows, classes}) : Tensor();
  SoftmaxNll k{logits.value().data(), nullptr, rg ? grad_buffer.data() : nullptr, rg, nullptr,
               targets.ids(), ignore_index, rows, classes, inv_count};
  double loss_sum = k.run();
  if (stats) *stats = {loss_sum, count};
  int li = logits.id();
  return logits.graph().add_node(scalar(count > 0 ? loss_sum / count : 0.0), rg,
                                 [li, grad_buffer](Graph& g, int self) {
                                   float gy = g.grad(self).item();
                                   float* gl = g.grad(li).data();
                                   const float* gb = grad_buffer.data();
                                   for (std::int64_t i = 0, n = grad_buffer.numel(); i < n; ++i)
                                     gl[i] += gy * gb[i];
                                 });
}

Expr linear_log_softmax_nll(const Expr& x, const Expr& weight, const Expr& bias,
                            const Tensor& targets, std::int32_t ignore_index, NllStats* stats) {
  same_graph("linear_log_softmax_nll", x, weight);
  same_graph("linear_log_softmax_nll", x, bias);
  const Tensor& xv = x.value();
  const Tensor& wv = weight.value();
  check(wv.rank() == 2 && xv.rank() == 2 && xv.dim(1) == wv.dim(1), "linear_log_softmax_nll",
        "input " + x.shape().str() + " does not fit weight " + weight.shape().str());
  check(bias.value().rank() == 1 && bias.value().dim(0) == wv.dim(0), "linear_log_softmax_nll",
        "bias " + bias.shape().str() + " does not fit weight " + weight.shape().str());
  std::int64_t rows = xv.dim(0), in = xv.dim(1), classes = wv.dim(0);
  check(targets.dtype() == DType::kInt32 && targets.numel() == rows, "linear_log_softmax_nll",
        "targets " + targets.shape().str() + " do not match input " + x.shape().str());
  std::int64_t count = count_targets(targets, ignore_index, classes, "linear_log_softmax_nll");
  float inv_count = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  bool rg = x.requires_grad() || weight.requires_grad() || bias.requires_grad();

  // One buffer: logits, then in place the gradient with respect to the logits.
  Tensor buffer = Tensor::empty(Shape{rows, classes});
  gemm(false, true, rows, classes, in, 1.0f, xv.data(), in, wv.data(), in, 0.0f, buffer.data(),
       classes);
  std::int64_t blocks = (rows + kSoftmaxRowGrain - 1) / kSoftmaxRowGrain;
  Tensor partials = rg && bias.requires_grad() ? Tensor::empty(Shape{blocks, classes}) : Tensor();
  SoftmaxNll k{buffer.data(), bias.value().data(), buffer.data(), rg,
               partials.defined() ? partials.data() : nullptr, targets.ids(), ignore_index,
               rows, classes, inv_count};
  double loss_sum = k.run();
  if (stats) *stats = {loss_sum, count};
  if (!rg) buffer = Tensor();  // evaluation keeps nothing
  int xi = x.id(), wi = weight.id(), bi = bias.id();
  return x.graph().add_node(
      scalar(count > 0 ? loss_sum / count : 0.0), rg,
      [=](Graph& g, int self) mutable {
        float gy = g.grad(self).item();
        float* gl = buffer.data();
        if (gy != 1.0f)
          for (std::int64_t i = 0, n = buffer.numel(); i < n; ++i) gl[i] *= gy;
        if (g.requires_grad(xi))  // dx = dlogits W
          gemm(false, false, rows, in, classes, 1.0f, gl, classes, g.value(wi).data(), in, 1.0f,
               g.grad(xi).data(), in);
        if (g.requires_grad(wi))  // dW = dlogits^T x
          gemm(true, false, classes, in, rows, 1.0f, gl, classes, g.value(xi).data(), in, 1.0f,
               g.grad(wi).data(), in);
        if (g.requires_grad(bi)) reduce_partials(partials, g.grad(bi).data(), gy);
        buffer = Tensor();  // the largest buffer of the step goes back to the pool now
      });
}

}  // namespace loom

namespace loom {

void log_softmax_rows(Tensor& x) {
  LOOM_ASSERT(x.rank() == 2 && x.dtype() == DType::kFloat32, "log_softmax_rows needs a float [N, V] tensor");
  const std::int64_t n = x.dim(0), v = x.dim(1);
  float* data = x.data();
  parallel_chunks(n, 16, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scratch(static_cast<std::size_t>(v));
    for (std::int64_t r = begin; r < end; ++r) {
      float* row = data + r * v;
      const float m = kernels::max_of(row, v);
      const float shift = m + std::log(kernels::exp_shifted_sum(row, scratch.data(), v, m));
      for (std::int64_t i = 0; i < v; ++i) row[i] -= shift;
    }
  });
}

}  // namespace loom

namespace loom {

namespace {

// [T, B, H] view of x (H = the product of the trailing dimensions) and checked lengths.
void check_sequences(const char* op, const Expr& x, const Tensor& lengths, std::int64_t& T, std::int64_t& B,
                     std::int64_t& H) {
  check(x.defined(), op, "undefined input");
  const Tensor& v = x.value();
  check(v.rank() >= 2, op, "input " + v.shape().str() + " is not [T, B, ...]");
  T = v.dim(0);
  B = v.dim(1);
  H = B > 0 && T > 0 ? v.numel() / (T * B) : 0;
  check(lengths.dtype() == DType::kInt32 && lengths.rank() == 1 && lengths.dim(0) == B, op,
        "lengths " + lengths.shape().str() + " do not fit " + std::to_string(B) + " sequences");
  for (std::int64_t b = 0; b < B; ++b)
    check(lengths.ids()[b] >= 1 && lengths.ids()[b] <= T, op,
          "length " + std::to_string(lengths.ids()[b]) + " outside 1.." + std::to_string(T));
}

}  // namespace

Expr reverse_sequences(const Expr& x, const Tensor& lengths) {
  std::int64_t T, B, H;
  check_sequences("reverse_sequences", x, lengths, T, B, H);
  // source[t * B + b]: the step of x that lands at step t.
  auto source = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(T * B));
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t len = lengths.ids()[b];
    for (std::int64_t t = 0; t < T; ++t) (*source)[static_cast<std::size_t>(t * B + b)] = t < len ? len - 1 - t : t;
  }
  Tensor y = Tensor::empty(x.shape());
  const float* xs = x.value().data();
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t b = 0; b < B; ++b)
      std::copy_n(xs + ((*source)[static_cast<std::size_t>(t * B + b)] * B + b) * H, H, y.data() + (t * B + b) * H);
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, source, T, B, H](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t b = 0; b < B; ++b)
        add_into(gx + ((*source)[static_cast<std::size_t>(t * B + b)] * B + b) * H, gy + (t * B + b) * H, H);
  });
}

Expr masked_mean_time(const Expr& x, const Tensor& lengths) {
  std::int64_t T, B, H;
  check_sequences("masked_mean_time", x, lengths, T, B, H);
  Tensor y = Tensor::zeros(Shape{B, H});
  const float* xs = x.value().data();
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t len = lengths.ids()[b];
    float* yr = y.data() + b * H;
    for (std::int64_t t = 0; t < len; ++t) add_into(yr, xs + (t * B + b) * H, H);
    for (std::int64_t j = 0; j < H; ++j) yr[j] /= static_cast<float>(len);
  }
  int xi = x.id();
  Tensor lens = lengths;
  return x.graph().add_node(y, x.requires_grad(), [xi, lens, T, B, H](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t len = lens.ids()[b];
      const float inv = 1.0f / static_cast<float>(len);
      for (std::int64_t t = 0; t < len; ++t)
        for (std::int64_t j = 0; j < H; ++j) gx[(t * B + b) * H + j] += gy[b * H + j] * inv;
    }
  });
}

Expr masked_max_time(const Expr& x, const Tensor& lengths) {
  std::int64_t T, B, H;
  check_sequences("masked_max_time", x, lengths, T, B, H);
  Tensor y = Tensor::empty(Shape{B, H});
  auto arg = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(B * H));
  const float* xs = x.value().data();
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t len = lengths.ids()[b];
    for (std::int64_t j = 0; j < H; ++j) {
      std::int64_t best = 0;
      for (std::int64_t t = 1; t < len; ++t)
        if (xs[(t * B + b) * H + j] > xs[(best * B + b) * H + j]) best = t;
      (*arg)[static_cast<std::size_t>(b * H + j)] = best;
      y.data()[b * H + j] = xs[(best * B + b) * H + j];
    }
  }
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, arg, B, H](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < H; ++j) gx[((*arg)[static_cast<std::size_t>(b * H + j)] * B + b) * H + j] += gy[b * H + j];
  });
}

}  // namespace loom
