#pragma once
// What the op files share: shape checks that name the op, and the elementwise loops that
// split over threads only when large enough to pay for it.
#include <cstdint>
#include <string>
#include <type_traits>

#include "loom/errors.hpp"
#include "loom/graph.hpp"
#include "loom/parallel.hpp"
#include "loom/tensor.hpp"

namespace loom::ops_detail {

// Elementwise loops split over threads only when large enough to pay for it.
constexpr std::int64_t kElementGrain = 1 << 16;

inline void check(bool ok, const char* op, const std::string& message) {
  if (!ok) throw AssertionError(std::string(op) + ": " + message);
}

inline void same_graph(const char* op, const Expr& a, const Expr& b) {
  check(a.defined() && b.defined(), op, "undefined input");
  check(&a.graph() == &b.graph(), op, "inputs from different graphs");
}

inline void same_shape(const char* op, const Expr& a, const Expr& b) {
  same_graph(op, a, b);
  check(a.shape() == b.shape(), op,
        "shapes differ: " + a.shape().str() + " and " + b.shape().str());
}

// dst += src, n values.
inline void add_into(float* dst, const float* src, std::int64_t n) {
  parallel_chunks(n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) dst[i] += src[i];
  });
}

// Writes a contribution to every element of node `id`'s gradient: calls f(gx, assign), where
// `assign` is std::true_type for a new, uninitialised buffer and std::false_type for one that
// holds earlier contributions; put(gx[i], v, assign) then assigns or adds.
template <class F>
void write_grad(Graph& g, int id, F f) {
  bool fresh = false;
  float* gx = g.grad_for_write(id, fresh);
  if (fresh)
    f(gx, std::true_type{});
  else
    f(gx, std::false_type{});
}

template <class Assign>
inline void put(float& dst, float v, Assign) {
  if constexpr (Assign::value)
    dst = v;
  else
    dst += v;
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
                              write_grad(g, xi, [&](float* gx, auto assign) {
                                parallel_chunks(g.value(self).numel(), kElementGrain,
                                                [&](std::int64_t b, std::int64_t e) {
                                                  for (std::int64_t i = b; i < e; ++i)
                                                    put(gx[i], gy[i] * dy_dx(y[i]), assign);
                                                });
                              });
                            });
}

// An elementwise op whose derivative is a function of its input x (GELU).
template <class F, class D>
Expr unary_from_input(const Expr& x, F f, D dy_dx) {
  check(x.defined(), "unary", "undefined input");
  int xi = x.id();
  return x.graph().add_node(map_unary(x.value(), f), x.requires_grad(),
                            [xi, dy_dx](Graph& g, int self) {
                              const float* xs = g.value(xi).data();
                              const float* gy = g.grad(self).data();
                              write_grad(g, xi, [&](float* gx, auto assign) {
                                parallel_chunks(g.value(self).numel(), kElementGrain,
                                                [&](std::int64_t b, std::int64_t e) {
                                                  for (std::int64_t i = b; i < e; ++i)
                                                    put(gx[i], gy[i] * dy_dx(xs[i]), assign);
                                                });
                              });
                            });
}

// dst[c] += sum over rows r of src[r, c]: the gradient of a bias. Large inputs are split over
// blocks of columns, each summing its rows in order, so the result does not depend on the
// thread count.
inline void add_column_sums(float* dst, const float* src, std::int64_t rows, std::int64_t cols) {
  constexpr std::int64_t kColumnBlock = 64;
  auto block = [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = src + r * cols;
      for (std::int64_t c = c0; c < c1; ++c) dst[c] += row[c];
    }
  };
  if (rows * cols < kElementGrain) {
    block(0, cols);
    return;
  }
  parallel_chunks(cols, kColumnBlock, block);
}

}  // namespace loom::ops_detail
