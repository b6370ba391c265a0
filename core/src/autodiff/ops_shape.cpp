// Shape ops and reductions: reshape, transpose, concat, slice, split, sum, mean.
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

Expr reshape(const Expr& x, const Shape& shape) {
  check(x.defined(), "reshape", "undefined input");
  check(shape.numel() == x.value().numel(), "reshape",
        "cannot reshape " + x.shape().str() + " to " + shape.str());
  int xi = x.id();
  return x.graph().add_node(x.value().view(shape), x.requires_grad(),
                            [xi](Graph& g, int self) { g.pass_grad(self, xi); });
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
    write_grad(g, xi, [&](float* gx, auto assign) {
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) put(gx[i * n + j], gy[j * m + i], assign);
    });
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
      if (g.requires_grad(ids[k]))
        write_grad(g, ids[k], [&](float* gx, auto assign) {
          for (std::int64_t o = 0; o < outer; ++o)
            for (std::int64_t i = 0; i < w; ++i) put(gx[o * w + i], gy[o * row + offset + i], assign);
        });
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
  Tensor y;
  if (outer == 1) {
    // One contiguous block (rows of a matrix, the leading axis): a view, no copy.
    y = make_view(x.value(), static_cast<std::size_t>(offset), s.with_dim(axis, end - begin));
  } else {
    y = Tensor::empty(s.with_dim(axis, end - begin));
    const float* xs = x.value().data();
    float* ys = y.data();
    for (std::int64_t o = 0; o < outer; ++o) std::copy_n(xs + o * row + offset, w, ys + o * w);
  }
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

}  // namespace loom
