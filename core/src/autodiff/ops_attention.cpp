// The ops of attention: batched products, axis swaps, softmax (plain and the fused, masked
// attention softmax), relative position bias, layer norm, GELU, positions and row gathers.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autodiff/op_support.hpp"
#include "loom/errors.hpp"
#include "loom/ops.hpp"
#include "loom/parallel.hpp"
#include "tensor/kernels.hpp"

namespace loom {

using kernels::gemm_serial;
using namespace ops_detail;

namespace {

// Rows handled per chunk by the row-wise ops: fixed, so results do not depend on threads.
constexpr std::int64_t kRowGrain = 32;

std::int64_t leading_count(const Shape& s) {
  std::int64_t n = 1;
  for (int i = 0; i + 2 < s.rank(); ++i) n *= s[i];
  return n;
}

}  // namespace

// ---- batched products ----------------------------------------------------------------------

Expr batched_matmul(const Expr& a, const Expr& b, Transpose ta, Transpose tb) {
  same_graph("batched_matmul", a, b);
  const Shape &sa = a.shape(), &sb = b.shape();
  check(sa.rank() >= 3 && sa.rank() == sb.rank(), "batched_matmul",
        "needs two inputs of rank 3 or 4, got " + sa.str() + " and " + sb.str());
  for (int i = 0; i + 2 < sa.rank(); ++i)
    check(sa[i] == sb[i], "batched_matmul", "leading dimensions differ: " + sa.str() + " and " + sb.str());
  const int r = sa.rank();
  const bool at = ta == Transpose::kYes, bt = tb == Transpose::kYes;
  const std::int64_t m = at ? sa[r - 1] : sa[r - 2], k = at ? sa[r - 2] : sa[r - 1];
  const std::int64_t kb = bt ? sb[r - 1] : sb[r - 2], n = bt ? sb[r - 2] : sb[r - 1];
  check(k == kb, "batched_matmul", "inner dimensions differ: " + sa.str() + " and " + sb.str());
  const std::int64_t batch = leading_count(sa), lda = sa[r - 1], ldb = sb[r - 1];
  const std::int64_t size_a = sa[r - 2] * sa[r - 1], size_b = sb[r - 2] * sb[r - 1], size_c = m * n;
  Tensor y = Tensor::empty(sa.with_dim(r - 2, m).with_dim(r - 1, n));
  {
    const float *as = a.value().data(), *bs = b.value().data();
    float* ys = y.data();
    parallel_chunks(batch, 1, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i)
        gemm_serial(at, bt, m, n, k, 1.0f, as + i * size_a, lda, bs + i * size_b, ldb, 0.0f,
                    ys + i * size_c, n);
    });
  }
  int ai = a.id(), bi = b.id();
  return a.graph().add_node(y, a.requires_grad() || b.requires_grad(), [=](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    const float *as = g.value(ai).data(), *bs = g.value(bi).data();
    // New gradient buffers are written with beta 0 (no zeroing). When a is b, a's product
    // writes each batch element before b's adds to it.
    bool fresh_a = false, fresh_b = false;
    float* ga = g.requires_grad(ai) ? g.grad_for_write(ai, fresh_a) : nullptr;
    float* gb = g.requires_grad(bi) ? g.grad_for_write(bi, fresh_b) : nullptr;
    const float beta_a = fresh_a ? 0.0f : 1.0f, beta_b = fresh_b ? 0.0f : 1.0f;
    parallel_chunks(batch, 1, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) {
        const float *gyi = gy + i * size_c, *ai_ = as + i * size_a, *bi_ = bs + i * size_b;
        if (ga != nullptr) {
          if (!at)  // dA[m,k] = dC op(B)^T
            gemm_serial(false, !bt, m, k, n, 1.0f, gyi, n, bi_, ldb, beta_a, ga + i * size_a, lda);
          else      // dA[k,m] = op(B) dC^T
            gemm_serial(bt, true, k, m, n, 1.0f, bi_, ldb, gyi, n, beta_a, ga + i * size_a, lda);
        }
        if (gb != nullptr) {
          if (!bt)  // dB[k,n] = op(A)^T dC
            gemm_serial(!at, false, k, n, m, 1.0f, ai_, lda, gyi, n, beta_b, gb + i * size_b, ldb);
          else      // dB[n,k] = dC^T op(A)
            gemm_serial(true, at, n, k, m, 1.0f, gyi, n, ai_, lda, beta_b, gb + i * size_b, ldb);
        }
      }
    });
  });
}

// ---- axis swaps ----------------------------------------------------------------------------

namespace {

// The 4-D index map of swapping two axes: dims of the output, and for each output axis the
// stride of the input it walks.
struct AxisMap {
  std::int64_t dims[4];
  std::int64_t in_stride[4];
};

AxisMap swap_map(const Shape& in, int axis1, int axis2) {
  const int pad = 4 - in.rank();
  std::int64_t d[4], stride[4];
  for (int i = 0; i < 4; ++i) d[i] = i < pad ? 1 : in[i - pad];
  stride[3] = 1;
  for (int i = 2; i >= 0; --i) stride[i] = stride[i + 1] * d[i + 1];
  AxisMap m;
  for (int i = 0; i < 4; ++i) {
    m.dims[i] = d[i];
    m.in_stride[i] = stride[i];
  }
  std::swap(m.dims[axis1 + pad], m.dims[axis2 + pad]);
  std::swap(m.in_stride[axis1 + pad], m.in_stride[axis2 + pad]);
  return m;
}

// Walks the output in order; f(output offset, input offset) for every element.
template <class F>
void walk(const AxisMap& m, F f) {
  const std::int64_t outer = m.dims[0] * m.dims[1];
  parallel_chunks(outer, std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(1, m.dims[2] * m.dims[3])),
                  [&](std::int64_t o0, std::int64_t o1) {
                    for (std::int64_t o = o0; o < o1; ++o) {
                      const std::int64_t i0 = o / m.dims[1], i1 = o % m.dims[1];
                      std::int64_t out = o * m.dims[2] * m.dims[3];
                      const std::int64_t base = i0 * m.in_stride[0] + i1 * m.in_stride[1];
                      for (std::int64_t i2 = 0; i2 < m.dims[2]; ++i2) {
                        const std::int64_t row = base + i2 * m.in_stride[2];
                        for (std::int64_t i3 = 0; i3 < m.dims[3]; ++i3) f(out++, row + i3 * m.in_stride[3]);
                      }
                    }
                  });
}

}  // namespace

Expr swap_axes(const Expr& x, int axis1, int axis2) {
  check(x.defined(), "swap_axes", "undefined input");
  const Shape& s = x.shape();
  check(axis1 >= 0 && axis2 >= 0 && axis1 < s.rank() && axis2 < s.rank(), "swap_axes",
        "axes " + std::to_string(axis1) + " and " + std::to_string(axis2) + " do not exist in " + s.str());
  if (axis1 == axis2) return x;
  Shape out = s.with_dim(axis1, s[axis2]).with_dim(axis2, s[axis1]);
  // When at most one of the axes from axis1 to axis2 is longer than 1 (one step of decoding:
  // [B, 1, H, Dh] -> [B, H, 1, Dh]), the values stay in the same order: a reshape, no copy.
  int longer = 0;
  for (int i = std::min(axis1, axis2); i <= std::max(axis1, axis2); ++i) longer += s[i] > 1 ? 1 : 0;
  if (longer <= 1) return reshape(x, out);
  AxisMap m = swap_map(s, axis1, axis2);
  Tensor y = Tensor::empty(out);
  {
    const float* xs = x.value().data();
    float* ys = y.data();
    walk(m, [&](std::int64_t o, std::int64_t i) { ys[o] = xs[i]; });
  }
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, m](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    // A permutation: every element of x's gradient is written once.
    write_grad(g, xi, [&](float* gx, auto assign) {
      walk(m, [&](std::int64_t o, std::int64_t i) { put(gx[i], gy[o], assign); });
    });
  });
}

// ---- softmax -------------------------------------------------------------------------------

namespace {

// One softmax row over its first `limit` entries of scale * x; the rest are 0.
void softmax_row(const float* x, float* y, std::int64_t n, std::int64_t limit, float scale) {
  if (limit <= 0) {
    std::fill_n(y, n, 0.0f);
    return;
  }
  for (std::int64_t j = 0; j < limit; ++j) y[j] = scale * x[j];
  const float mx = kernels::max_of(y, limit);
  const float total = kernels::exp_shifted_sum(y, y, limit, mx);
  const float inv = 1.0f / total;
  for (std::int64_t j = 0; j < limit; ++j) y[j] *= inv;
  std::fill(y + limit, y + n, 0.0f);
}

// gx += scale * y * (gy - <gy, y>) over the first `limit` of n entries (the rest get 0, which
// a new buffer must be given).
template <class Assign>
void softmax_row_backward(const float* y, const float* gy, float* gx, std::int64_t n, std::int64_t limit,
                          float scale, Assign assign) {
  limit = std::max<std::int64_t>(limit, 0);
  float dot = 0.0f;
  for (std::int64_t j = 0; j < limit; ++j) dot += gy[j] * y[j];
  for (std::int64_t j = 0; j < limit; ++j) put(gx[j], scale * y[j] * (gy[j] - dot), assign);
  if constexpr (Assign::value) std::fill(gx + limit, gx + n, 0.0f);
}

// The keys row `r` of scores [B, H, Tq, Tk] may see: first(r) .. operator()(r) - 1.
struct KeyLimit {
  std::int64_t heads, tq, tk;
  bool causal;
  Tensor lengths;
  Tensor starts;
  std::int64_t operator()(std::int64_t r) const {
    std::int64_t limit = tk;
    if (causal) limit = std::min(limit, r % tq + (tk - tq) + 1);
    if (lengths.defined()) limit = std::min<std::int64_t>(limit, lengths.ids()[r / (tq * heads)]);
    return std::max<std::int64_t>(limit, first(r));
  }
  std::int64_t first(std::int64_t r) const {
    return starts.defined() ? std::min<std::int64_t>(starts.ids()[r / (tq * heads)], tk) : 0;
  }
};

Expr masked_softmax(const Expr& x, float scale, const KeyLimit& limit) {
  const std::int64_t rows = x.value().rows(), n = x.value().cols();
  Tensor y = Tensor::empty(x.shape());
  {
    const float* xs = x.value().data();
    float* ys = y.data();
    parallel_chunks(rows, kRowGrain, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t first = limit.first(r);
        std::fill_n(ys + r * n, first, 0.0f);
        softmax_row(xs + r * n + first, ys + r * n + first, n - first, limit(r) - first, scale);
      }
    });
  }
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, rows, n, scale, limit](Graph& g, int self) {
    const float *ys = g.value(self).data(), *gy = g.grad(self).data();
    write_grad(g, xi, [&](float* gx, auto assign) {
      parallel_chunks(rows, kRowGrain, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const std::int64_t first = limit.first(r);
          if constexpr (decltype(assign)::value) std::fill_n(gx + r * n, first, 0.0f);
          softmax_row_backward(ys + r * n + first, gy + r * n + first, gx + r * n + first, n - first,
                               limit(r) - first, scale, assign);
        }
      });
    });
  });
}

}  // namespace

Expr softmax(const Expr& x) {
  check(x.defined() && x.value().rank() >= 1, "softmax", "undefined input");
  KeyLimit all{1, 1, x.value().cols(), false, Tensor(), Tensor()};
  return masked_softmax(x, 1.0f, all);
}

Expr attention_softmax(const Expr& scores, float scale, const AttentionMask& mask) {
  check(scores.defined() && scores.value().rank() == 4, "attention_softmax",
        "needs scores [B, H, Tq, Tk], got " + (scores.defined() ? scores.shape().str() : std::string("nothing")));
  const Shape& s = scores.shape();
  if (mask.key_lengths.defined()) {
    check(mask.key_lengths.dtype() == DType::kInt32 && mask.key_lengths.numel() == s[0],
          "attention_softmax", "key lengths " + mask.key_lengths.shape().str() + " do not fit scores " + s.str());
    for (std::int64_t b = 0; b < s[0]; ++b) {
      const std::int32_t len = mask.key_lengths.ids()[b];
      check(len >= 0 && len <= s[3], "attention_softmax",
            "key length " + std::to_string(len) + " outside [0, " + std::to_string(s[3]) + "]");
    }
  }
  if (mask.key_starts.defined()) {
    check(mask.key_starts.dtype() == DType::kInt32 && mask.key_starts.numel() == s[0], "attention_softmax",
          "key starts " + mask.key_starts.shape().str() + " do not fit scores " + s.str());
    for (std::int64_t b = 0; b < s[0]; ++b) {
      const std::int32_t first = mask.key_starts.ids()[b];
      check(first >= 0 && first <= s[3], "attention_softmax",
            "key start " + std::to_string(first) + " outside [0, " + std::to_string(s[3]) + "]");
    }
  }
  KeyLimit limit{s[1], s[2], s[3], mask.causal, mask.key_lengths, mask.key_starts};
  return masked_softmax(scores, scale, limit);
}

Expr add_relative_bias(const Expr& scores, const Expr& table, std::int64_t max_distance) {
  same_graph("add_relative_bias", scores, table);
  const Shape& s = scores.shape();
  check(s.rank() == 4, "add_relative_bias", "needs scores [B, H, Tq, Tk], got " + s.str());
  check(max_distance >= 0 && table.value().rank() == 2 && table.value().dim(0) == s[1] &&
            table.value().dim(1) == 2 * max_distance + 1,
        "add_relative_bias",
        "table " + table.shape().str() + " does not fit " + std::to_string(s[1]) + " heads and distance " +
            std::to_string(max_distance));
  const std::int64_t B = s[0], H = s[1], tq = s[2], tk = s[3], K = max_distance, width = 2 * K + 1;
  auto column = [=](std::int64_t i, std::int64_t j) {
    return std::clamp<std::int64_t>(j - (i + tk - tq), -K, K) + K;
  };
  Tensor y = Tensor::empty(s);
  {
    const float *xs = scores.value().data(), *ts = table.value().data();
    float* ys = y.data();
    parallel_chunks(B * H * tq, kRowGrain, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const float* bias = ts + ((r / tq) % H) * width;
        const std::int64_t i = r % tq;
        for (std::int64_t j = 0; j < tk; ++j) ys[r * tk + j] = xs[r * tk + j] + bias[column(i, j)];
      }
    });
  }
  int si = scores.id(), ti = table.id();
  return scores.graph().add_node(y, scores.requires_grad() || table.requires_grad(), [=](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    if (g.requires_grad(ti)) {
      float* gt = g.grad(ti).data();
      // One head per task, summing its (b, i, j) in order: the same at any thread count.
      parallel_chunks(H, 1, [&](std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t i = 0; i < tq; ++i) {
              const float* row = gy + ((b * H + h) * tq + i) * tk;
              for (std::int64_t j = 0; j < tk; ++j) gt[h * width + column(i, j)] += row[j];
            }
      });
    }
    if (g.requires_grad(si)) g.pass_grad(self, si);
  });
}

// ---- layer norm ----------------------------------------------------------------------------

// sum of f(x[c]) over c < n in double, in 8 lanes added up as a tree: the compiler vectorises
// it, and the fixed order gives the same result on every run.
namespace {

template <class F>
double lane_sum(const float* x, std::int64_t n, F f) {
  constexpr int L = 8;
  double part[L] = {};
  std::int64_t c = 0;
  for (; c + L <= n; c += L)
    for (int l = 0; l < L; ++l) part[l] += f(x[c + l]);
  for (; c < n; ++c) part[c % L] += f(x[c]);
  for (int w = L / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) part[l] += part[l + w];
  return part[0];
}

}  // namespace

Expr layer_norm(const Expr& x, const Expr& gamma, const Expr& beta, float eps) {
  check(x.defined() && x.value().rank() >= 1, "layer_norm", "undefined input");
  const std::int64_t rows = x.value().rows(), d = x.value().cols();
  const bool affine = gamma.defined();
  check(affine == beta.defined(), "layer_norm", "gamma and beta go together");
  if (affine) {
    same_graph("layer_norm", x, gamma);
    same_graph("layer_norm", x, beta);
    check(gamma.value().rank() == 1 && gamma.value().dim(0) == d && beta.shape() == gamma.shape(),
          "layer_norm", "gamma " + gamma.shape().str() + " and beta " + beta.shape().str() +
                            " do not fit input " + x.shape().str());
  }
  // Per row: mean and 1/sqrt(var + eps), kept for the backward.
  Tensor stats = Tensor::empty(Shape{rows, 2});
  Tensor y = Tensor::empty(x.shape());
  {
    const float* xs = x.value().data();
    const float* gs = affine ? gamma.value().data() : nullptr;
    const float* bs = affine ? beta.value().data() : nullptr;
    float *ys = y.data(), *st = stats.data();
    parallel_chunks(rows, kRowGrain, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const float* xr = xs + r * d;
        float* yr = ys + r * d;
        const double sum = lane_sum(xr, d, [](float v) { return static_cast<double>(v); });
        const float mean = static_cast<float>(sum / static_cast<double>(d));
        const double sq = lane_sum(xr, d, [mean](float v) { return static_cast<double>(v - mean) * (v - mean); });
        const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(d) + eps));
        st[2 * r] = mean;
        st[2 * r + 1] = rstd;
        for (std::int64_t c = 0; c < d; ++c) {
          const float h = (xr[c] - mean) * rstd;
          yr[c] = affine ? h * gs[c] + bs[c] : h;
        }
      }
    });
  }
  const int xi = x.id(), gi = affine ? gamma.id() : -1, bi = affine ? beta.id() : -1;
  const bool rg = x.requires_grad() || (affine && (gamma.requires_grad() || beta.requires_grad()));
  return x.graph().add_node(y, rg, [=](Graph& g, int self) {
    const float *xs = g.value(xi).data(), *gy = g.grad(self).data(), *st = stats.data();
    const float* gs = affine ? g.value(gi).data() : nullptr;
    if (g.requires_grad(xi)) write_grad(g, xi, [&](float* gx, auto assign) {
      parallel_chunks(rows, kRowGrain, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const float mean = st[2 * r], rstd = st[2 * r + 1];
          const float *xr = xs + r * d, *gr = gy + r * d;
          // dh = gy * gamma; dx = rstd (dh - mean(dh) - h mean(dh h))
          float sum_dh = 0.0f, sum_dh_h = 0.0f;
          for (std::int64_t c = 0; c < d; ++c) {
            const float dh = affine ? gr[c] * gs[c] : gr[c];
            sum_dh += dh;
            sum_dh_h += dh * (xr[c] - mean) * rstd;
          }
          const float inv_d = 1.0f / static_cast<float>(d);
          float* gxr = gx + r * d;
          for (std::int64_t c = 0; c < d; ++c) {
            const float dh = affine ? gr[c] * gs[c] : gr[c];
            const float h = (xr[c] - mean) * rstd;
            put(gxr[c], rstd * (dh - sum_dh * inv_d - h * sum_dh_h * inv_d), assign);
          }
        }
      });
    });
    if (affine && (g.requires_grad(gi) || g.requires_grad(bi))) {
      float* gg = g.requires_grad(gi) ? g.grad(gi).data() : nullptr;
      float* gb = g.requires_grad(bi) ? g.grad(bi).data() : nullptr;
      // Over blocks of columns, rows in order: the same at any thread count.
      parallel_chunks(d, 64, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t r = 0; r < rows; ++r) {
          const float mean = st[2 * r], rstd = st[2 * r + 1];
          const float *xr = xs + r * d, *gr = gy + r * d;
          for (std::int64_t c = c0; c < c1; ++c) {
            if (gg) gg[c] += gr[c] * (xr[c] - mean) * rstd;
            if (gb) gb[c] += gr[c];
          }
        }
      });
    }
  });
}

// ---- GELU ----------------------------------------------------------------------------------

Expr gelu(const Expr& x) {
  constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
  constexpr float kA = 0.044715f;
  return unary_from_input(
      x,
      [](float v) { return 0.5f * v * (1.0f + kernels::fast_tanh(kC * (v + kA * v * v * v))); },
      [](float v) {
        const float t = kernels::fast_tanh(kC * (v + kA * v * v * v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kC * (1.0f + 3.0f * kA * v * v);
      });
}

// ---- positions and gathers -----------------------------------------------------------------

Expr add_positions(const Expr& x, const Expr& positions) {
  same_graph("add_positions", x, positions);
  const Shape &s = x.shape(), &p = positions.shape();
  check(s.rank() == 3 && p.rank() == 2 && p[0] == s[1] && p[1] == s[2], "add_positions",
        "positions " + p.str() + " do not fit input " + s.str() + " (want [T, D] for [B, T, D])");
  const std::int64_t B = s[0], TD = s[1] * s[2];
  Tensor y = Tensor::empty(s);
  {
    const float *xs = x.value().data(), *ps = positions.value().data();
    float* ys = y.data();
    parallel_chunks(B * TD, kElementGrain, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) ys[i] = xs[i] + ps[i % TD];
    });
  }
  int xi = x.id(), pi = positions.id();
  return x.graph().add_node(y, x.requires_grad() || positions.requires_grad(), [=](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    if (g.requires_grad(pi)) {
      float* gp = g.grad(pi).data();
      // Each position's sum over the batch, in batch order.
      parallel_chunks(TD, kElementGrain, [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t b = 0; b < B; ++b)
          for (std::int64_t i = i0; i < i1; ++i) gp[i] += gy[b * TD + i];
      });
    }
    if (g.requires_grad(xi)) g.pass_grad(self, xi);
  });
}

Expr gather_rows(const Expr& x, const Tensor& indices) {
  check(x.defined() && x.value().rank() >= 1, "gather_rows", "undefined input");
  check(indices.dtype() == DType::kInt32 && indices.rank() == 1, "gather_rows", "indices must be int32 [N]");
  const std::int64_t rows = x.value().dim(0), n = indices.numel(), width = x.value().numel() / std::max<std::int64_t>(rows, 1);
  const std::int32_t* is = indices.ids();
  for (std::int64_t i = 0; i < n; ++i)
    check(is[i] >= 0 && is[i] < rows, "gather_rows",
          "index " + std::to_string(is[i]) + " outside [0, " + std::to_string(rows) + ")");
  Tensor y = Tensor::empty(x.shape().with_dim(0, n));
  {
    const float* xs = x.value().data();
    float* ys = y.data();
    for (std::int64_t i = 0; i < n; ++i) std::copy_n(xs + is[i] * width, width, ys + i * width);
  }
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [xi, indices, n, width](Graph& g, int self) {
    const float* gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    const std::int32_t* is = indices.ids();
    // Serial in index order: indices may repeat.
    for (std::int64_t i = 0; i < n; ++i) {
      float* row = gx + static_cast<std::int64_t>(is[i]) * width;
      const float* src = gy + i * width;
      for (std::int64_t c = 0; c < width; ++c) row[c] += src[c];
    }
  });
}

Expr reweight_heads(const Expr& x) {
  check(x.defined() && x.value().rank() == 4, "reweight_heads",
        "needs heads [B, H, T, Dh], got " + (x.defined() ? x.shape().str() : std::string("nothing")));
  const Shape& s = x.shape();
  const std::int64_t B = s[0], H = s[1], size = s[2] * s[3];
  // Per (b, h): the norm n and the ratio n / m.
  Tensor norms = Tensor::empty(Shape{B, H}), ratio = Tensor::empty(Shape{B, H});
  Tensor y = Tensor::empty(s);
  const float* xs = x.value().data();
  for (std::int64_t b = 0; b < B; ++b) {
    double mean = 0.0;
    for (std::int64_t h = 0; h < H; ++h) {
      const float* head = xs + (b * H + h) * size;
      double sq = 0.0;
      for (std::int64_t i = 0; i < size; ++i) sq += static_cast<double>(head[i]) * head[i];
      norms.data()[b * H + h] = static_cast<float>(std::sqrt(sq));
      mean += std::sqrt(sq) / static_cast<double>(H);
    }
    const double m = std::max(mean, 1e-12);
    for (std::int64_t h = 0; h < H; ++h) ratio.data()[b * H + h] = static_cast<float>(norms.data()[b * H + h] / m);
  }
  parallel_chunks(B * H, 1, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t k = 0; k < size; ++k) y.data()[i * size + k] = xs[i * size + k] * ratio.data()[i];
  });
  int xi = x.id();
  return x.graph().add_node(y, x.requires_grad(), [=](Graph& g, int self) {
    const float *xv = g.value(xi).data(), *gy = g.grad(self).data();
    float* gx = g.grad(xi).data();
    const float *n = norms.data(), *r = ratio.data();
    for (std::int64_t b = 0; b < B; ++b) {
      // s_h = <gy_h, x_h>; gx_h = gy_h r_h + x_h (s_h / (m n_h) - sum_h' s_h' n_h' / (H n_h m^2))
      double m = 0.0;
      for (std::int64_t h = 0; h < H; ++h) m += n[b * H + h] / static_cast<double>(H);
      m = std::max(m, 1e-12);
      std::vector<double> dots(static_cast<std::size_t>(H));
      double weighted = 0.0;
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t i = b * H + h;
        double d = 0.0;
        for (std::int64_t k = 0; k < size; ++k) d += static_cast<double>(gy[i * size + k]) * xv[i * size + k];
        dots[h] = d;
        weighted += d * n[i];
      }
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t i = b * H + h;
        const double nh = std::max<double>(n[i], 1e-12);
        const float c = static_cast<float>(dots[h] / (m * nh) - weighted / (static_cast<double>(H) * nh * m * m));
        for (std::int64_t k = 0; k < size; ++k) gx[i * size + k] += gy[i * size + k] * r[i] + xv[i * size + k] * c;
      }
    }
  });
}

}  // namespace loom
