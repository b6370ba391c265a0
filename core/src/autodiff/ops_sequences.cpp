// Padded sequences [T, B, ...] with lengths: reversal, masked mean and max over time.
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
