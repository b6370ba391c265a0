// Elementwise ops: sums, products, activations, dropout, masks, biases.
#include "loom/ops.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autodiff/op_support.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"
#include "tensor/kernels.hpp"

namespace loom {

using kernels::gemm;
using namespace ops_detail;

Expr add(const Expr& a, const Expr& b) {
  same_shape("add", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *as = a.value().data(), *bs = b.value().data();
  float* ys = y.data();
  parallel_chunks(y.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ys[i] = as[i] + bs[i];
  });
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [ai, bi](Graph& g, int self) {
                              if (g.requires_grad(ai)) g.pass_grad(self, ai);
                              if (g.requires_grad(bi)) g.pass_grad(self, bi);
                            });
}

Expr sub(const Expr& a, const Expr& b) {
  same_shape("sub", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *as = a.value().data(), *bs = b.value().data();
  float* ys = y.data();
  parallel_chunks(y.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ys[i] = as[i] - bs[i];
  });
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [ai, bi](Graph& g, int self) {
                              const Tensor& gy = g.grad(self);
                              const float* gs = gy.data();
                              const std::int64_t n = gy.numel();
                              // b first: a may take gy's buffer, and a may be b.
                              if (g.requires_grad(bi))
                                write_grad(g, bi, [&](float* gb, auto assign) {
                                  for (std::int64_t i = 0; i < n; ++i) put(gb[i], -gs[i], assign);
                                });
                              if (g.requires_grad(ai)) g.pass_grad(self, ai);
                            });
}

Expr mul(const Expr& a, const Expr& b) {
  same_shape("mul", a, b);
  Tensor y = Tensor::empty(a.shape());
  const float *as = a.value().data(), *bs = b.value().data();
  float* ys = y.data();
  parallel_chunks(y.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ys[i] = as[i] * bs[i];
  });
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(),
                            [ai, bi](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              std::int64_t n = g.value(self).numel();
                              // d/da (a b) = b; d/db (a b) = a
                              if (g.requires_grad(ai)) {
                                const float* bs = g.value(bi).data();
                                write_grad(g, ai, [&](float* ga, auto assign) {
                                  for (std::int64_t i = 0; i < n; ++i) put(ga[i], gy[i] * bs[i], assign);
                                });
                              }
                              if (g.requires_grad(bi)) {
                                const float* as = g.value(ai).data();
                                write_grad(g, bi, [&](float* gb, auto assign) {
                                  for (std::int64_t i = 0; i < n; ++i) put(gb[i], gy[i] * as[i], assign);
                                });
                              }
                            });
}

Expr scale(const Expr& x, float factor) {
  check(x.defined(), "scale", "undefined input");
  int xi = x.id();
  return x.graph().add_node(map_unary(x.value(), [factor](float v) { return factor * v; }),
                            x.requires_grad(), [xi, factor](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              write_grad(g, xi, [&](float* gx, auto assign) {
                                parallel_chunks(g.value(self).numel(), kElementGrain,
                                                [&](std::int64_t b, std::int64_t e) {
                                                  for (std::int64_t i = b; i < e; ++i) put(gx[i], factor * gy[i], assign);
                                                });
                              });
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
    write_grad(g, xi, [&](float* gx, auto assign) {
      parallel_chunks(g.value(self).numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) put(gx[i], gy[i] * factor(i), assign);
      });
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
  parallel_chunks(y.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ys[i] = xs[i] * ms[i];
  });
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, mask](Graph& g, int self) {
    const float *gy = g.grad(self).data(), *ms = mask.data();
    write_grad(g, xi, [&](float* gx, auto assign) {
      parallel_chunks(mask.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) put(gx[i], gy[i] * ms[i], assign);
      });
    });
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
  parallel_chunks(rows, std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(cols, 1)),
                  [&](std::int64_t r0, std::int64_t r1) {
                    for (std::int64_t r = r0; r < r1; ++r)
                      for (std::int64_t c = 0; c < cols; ++c) ys[r * cols + c] = xs[r * cols + c] + bs[c];
                  });
  int xi = x.id(), bi = b.id();
  return x.graph().add_node(y, x.requires_grad() || b.requires_grad(),
                            [xi, bi, rows, cols](Graph& g, int self) {
                              const float* gy = g.grad(self).data();
                              if (g.requires_grad(bi)) add_column_sums(g.grad(bi).data(), gy, rows, cols);
                              if (g.requires_grad(xi)) g.pass_grad(self, xi);
                            });
}

}  // namespace loom
