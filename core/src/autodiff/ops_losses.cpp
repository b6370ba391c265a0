// Losses: fused log-softmax + negative log-likelihood, with and without the output layer.
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

// ---- softmax + negative log-likelihood -----------------------------------------------------

namespace {

constexpr std::int64_t kSoftmaxRowGrain = 16;

// One pass over a block of rows of logits (bias added here if given): computes each row's
// loss and, when `want_grad`, leaves (softmax - onehot) / count in `work`, the gradient of the
// mean loss with respect to the logits. `work` may alias `logits`; when it is null, rows are
// worked on in a per-thread scratch row. Partial column sums of the gradient go to
// `bias_grad_partial` (one row of `classes` per block) so that the bias gradient needs no
// second pass over the big buffer. Each row is walked while it sits in cache.
//
// With label smoothing eps the target distribution is (1 - eps) onehot + eps / classes (as
// PyTorch's cross_entropy(label_smoothing=eps)): the row's loss is (1 - eps) (-log p_t) +
// eps / classes * sum_c (-log p_c), and its gradient softmax - (1 - eps) onehot - eps / classes.
// The plain negative log-likelihood is summed beside it (perplexity is measured on it).
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
  float smoothing = 0.0f;

  struct Sums {
    double nll = 0.0, smoothed = 0.0;
  };

  Sums run_block(std::int64_t begin, std::int64_t end) const {
    Sums loss;
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
      double logit_sum = 0.0;
      if (smoothing > 0.0f)
        for (std::int64_t c = 0; c < classes; ++c) logit_sum += src[c];
      float total = kernels::exp_shifted_sum(src, row, classes, mx);  // row[c] = e^{src[c] - mx}
      const double lse = static_cast<double>(mx) + std::log(static_cast<double>(total));
      const double nll = lse - target_logit;
      loss.nll += nll;
      loss.smoothed += smoothing > 0.0f ? (1.0 - smoothing) * nll +
                                              smoothing * (lse - logit_sum / static_cast<double>(classes))
                                        : nll;
      if (!want_grad) continue;
      // gradient = softmax / count - target distribution / count, summed into the bias
      // partials as we go
      const float scale = inv_count / total;
      const float uniform = smoothing * inv_count / static_cast<float>(classes);
      const float onehot = (1.0f - smoothing) * inv_count;
      if (partial) {
        for (std::int64_t c = 0; c < classes; ++c) {
          row[c] = row[c] * scale - uniform;
          partial[c] += row[c];
        }
      } else {
        for (std::int64_t c = 0; c < classes; ++c) row[c] = row[c] * scale - uniform;
      }
      row[t] -= onehot;
      if (partial) partial[t] -= onehot;
    }
    return loss;
  }

  // Runs every block (in parallel), returns the summed losses in block order.
  Sums run() const {
    std::int64_t blocks = (rows + kSoftmaxRowGrain - 1) / kSoftmaxRowGrain;
    std::vector<Sums> losses(static_cast<std::size_t>(blocks));
    parallel_chunks(rows, kSoftmaxRowGrain, [&](std::int64_t b, std::int64_t e) {
      losses[static_cast<std::size_t>(b / kSoftmaxRowGrain)] = run_block(b, e);
    });
    Sums total;
    for (const Sums& l : losses) {
      total.nll += l.nll;
      total.smoothed += l.smoothed;
    }
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
  // Over blocks of columns, each summing the partials in block order: the same at any thread count.
  parallel_chunks(classes, 1024, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t b = 0; b < blocks; ++b)
      for (std::int64_t c = c0; c < c1; ++c) bias_grad[c] += factor * p[b * classes + c];
  });
}

Tensor scalar(double v) {
  Tensor t = Tensor::empty(Shape{});
  t.data()[0] = static_cast<float>(v);
  return t;
}

void check_smoothing(float smoothing, const char* op) {
  check(smoothing >= 0.0f && smoothing < 1.0f, op, "label smoothing " + std::to_string(smoothing) + " is outside [0, 1)");
}

}  // namespace

Expr log_softmax_nll(const Expr& logits, const Tensor& targets, std::int32_t ignore_index,
                     NllStats* stats, float label_smoothing) {
  check_smoothing(label_smoothing, "log_softmax_nll");
  check(logits.defined() && logits.value().rank() >= 1, "log_softmax_nll", "undefined input");
  std::int64_t rows = logits.value().rows(), classes = logits.value().cols();
  check(targets.dtype() == DType::kInt32 && targets.numel() == rows, "log_softmax_nll",
        "targets " + targets.shape().str() + " do not match logits " + logits.shape().str());
  std::int64_t count = count_targets(targets, ignore_index, classes, "log_softmax_nll");
  float inv_count = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  bool rg = logits.requires_grad();
  Tensor grad_buffer = rg ? Tensor::empty(Shape{rows, classes}) : Tensor();
  SoftmaxNll k{logits.value().data(), nullptr, rg ? grad_buffer.data() : nullptr, rg, nullptr,
               targets.ids(), ignore_index, rows, classes, inv_count, label_smoothing};
  const SoftmaxNll::Sums sums = k.run();
  if (stats) *stats = {sums.smoothed, sums.nll, count};
  int li = logits.id();
  return logits.graph().add_node(scalar(count > 0 ? sums.smoothed / count : 0.0), rg,
                                 [li, grad_buffer](Graph& g, int self) {
                                   float gy = g.grad(self).item();
                                   const float* gb = grad_buffer.data();
                                   write_grad(g, li, [&](float* gl, auto assign) {
                                     parallel_chunks(grad_buffer.numel(), kElementGrain,
                                                     [&](std::int64_t b, std::int64_t e) {
                                                       for (std::int64_t i = b; i < e; ++i) put(gl[i], gy * gb[i], assign);
                                                     });
                                   });
                                 });
}

Expr linear_log_softmax_nll(const Expr& x, const Expr& weight, const Expr& bias,
                            const Tensor& targets, std::int32_t ignore_index, NllStats* stats,
                            float label_smoothing) {
  check_smoothing(label_smoothing, "linear_log_softmax_nll");
  same_graph("linear_log_softmax_nll", x, weight);
  const bool has_bias = bias.defined();
  if (has_bias) same_graph("linear_log_softmax_nll", x, bias);
  const Tensor& xv = x.value();
  const Tensor& wv = weight.value();
  check(wv.rank() == 2 && xv.rank() == 2 && xv.dim(1) == wv.dim(1), "linear_log_softmax_nll",
        "input " + x.shape().str() + " does not fit weight " + weight.shape().str());
  if (has_bias)
    check(bias.value().rank() == 1 && bias.value().dim(0) == wv.dim(0), "linear_log_softmax_nll",
          "bias " + bias.shape().str() + " does not fit weight " + weight.shape().str());
  std::int64_t rows = xv.dim(0), in = xv.dim(1), classes = wv.dim(0);
  check(targets.dtype() == DType::kInt32 && targets.numel() == rows, "linear_log_softmax_nll",
        "targets " + targets.shape().str() + " do not match input " + x.shape().str());
  std::int64_t count = count_targets(targets, ignore_index, classes, "linear_log_softmax_nll");
  float inv_count = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  const bool bias_grad = has_bias && bias.requires_grad();
  bool rg = x.requires_grad() || weight.requires_grad() || bias_grad;

  // One buffer: logits, then in place the gradient with respect to the logits.
  Tensor buffer = Tensor::empty(Shape{rows, classes});
  gemm(false, true, rows, classes, in, 1.0f, xv.data(), in, wv.data(), in, 0.0f, buffer.data(),
       classes);
  std::int64_t blocks = (rows + kSoftmaxRowGrain - 1) / kSoftmaxRowGrain;
  Tensor partials = rg && bias_grad ? Tensor::empty(Shape{blocks, classes}) : Tensor();
  SoftmaxNll k{buffer.data(), has_bias ? bias.value().data() : nullptr, buffer.data(), rg,
               partials.defined() ? partials.data() : nullptr, targets.ids(), ignore_index,
               rows, classes, inv_count, label_smoothing};
  const SoftmaxNll::Sums sums = k.run();
  if (stats) *stats = {sums.smoothed, sums.nll, count};
  if (!rg) buffer = Tensor();  // evaluation keeps nothing
  int xi = x.id(), wi = weight.id(), bi = has_bias ? bias.id() : -1;
  return x.graph().add_node(
      scalar(count > 0 ? sums.smoothed / count : 0.0), rg,
      [=](Graph& g, int self) mutable {
        float gy = g.grad(self).item();
        float* gl = buffer.data();
        if (gy != 1.0f)
          parallel_chunks(buffer.numel(), kElementGrain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) gl[i] *= gy;
          });
        if (g.requires_grad(xi)) {  // dx = dlogits W; a new buffer is written with beta 0
          bool fresh = false;
          float* gx = g.grad_for_write(xi, fresh);
          gemm(false, false, rows, in, classes, 1.0f, gl, classes, g.value(wi).data(), in,
               fresh ? 0.0f : 1.0f, gx, in);
        }
        if (g.requires_grad(wi))  // dW = dlogits^T x
          gemm(true, false, classes, in, rows, 1.0f, gl, classes, g.value(xi).data(), in, 1.0f,
               g.grad(wi).data(), in);
        if (bi >= 0 && g.requires_grad(bi)) reduce_partials(partials, g.grad(bi).data(), gy);
        buffer = Tensor();  // the largest buffer of the step goes back to the pool now
      });
}


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
