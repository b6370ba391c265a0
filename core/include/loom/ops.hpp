#pragma once
// Differentiable operations. Each builds one node on the inputs' graph: it checks shapes
// (throwing AssertionError naming the op), computes its value now, and records a backward
// that adds into the gradients of the inputs that require one.
//
// Shapes are written [rows, cols] for the 2-D view of a tensor: rows = product of all
// dimensions but the last.
#include <cstdint>
#include <utility>
#include <vector>

#include "loom/graph.hpp"

namespace loom {

// ---- elementwise (same shapes) -------------------------------------------------------------
Expr add(const Expr& a, const Expr& b);        // y = a + b
Expr sub(const Expr& a, const Expr& b);        // y = a - b
Expr mul(const Expr& a, const Expr& b);        // y = a * b
Expr scale(const Expr& x, float factor);       // y = factor x
Expr sigmoid(const Expr& x);                   // y = 1 / (1 + e^-x)
Expr tanh(const Expr& x);                      // y = tanh x
Expr relu(const Expr& x);                      // y = max(x, 0)
// y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p), in training only; identity otherwise.
Expr dropout(const Expr& x, float p);
// y = x * mask, mask a constant float tensor of x's shape (0 drops, 1 keeps): padding masks.
Expr apply_mask(const Expr& x, const Tensor& mask);

// ---- padded sequences ([T, B, ...] time-major, lengths int32 [B]) ------------------------------
// y[t, b] = x[len_b - 1 - t, b] for t < len_b, x[t, b] on padding: each sequence reversed
// within its length (for the backward direction of a bidirectional RNN). Its own inverse.
Expr reverse_sequences(const Expr& x, const Tensor& lengths);
// x [T, B, H] -> [B, H]: the mean over each sequence's first len_b steps.
Expr masked_mean_time(const Expr& x, const Tensor& lengths);
// x [T, B, H] -> [B, H]: the maximum over each sequence's first len_b steps (the gradient
// goes to the first step that holds the maximum).
Expr masked_max_time(const Expr& x, const Tensor& lengths);

// ---- broadcasting and products -------------------------------------------------------------
// x [rows, n] + b [n] -> [rows, n] (shape of x)
Expr add_bias(const Expr& x, const Expr& b);
enum class Transpose { kNo, kYes };
// a [m, k] . b [k, n] -> [m, n]; either operand may be used transposed (2-D inputs).
Expr matmul(const Expr& a, const Expr& b, Transpose ta = Transpose::kNo,
            Transpose tb = Transpose::kNo);
// x [..., in] . W[out, in]^T + b[out] -> [..., out]; bias may be undefined (no bias).
Expr linear(const Expr& x, const Expr& weight, const Expr& bias);

// ---- lookups -------------------------------------------------------------------------------
// weight [vocab, dim], ids int32 of any shape S -> [S..., dim]. The backward adds only into
// the rows that were looked up (a sparse accumulation into the dense gradient).
Expr embedding(const Expr& weight, const Tensor& ids);

// ---- shape ---------------------------------------------------------------------------------
Expr reshape(const Expr& x, const Shape& shape);
Expr transpose(const Expr& x);  // [m, n] -> [n, m]
// Concatenation along `axis` (0 .. rank-1); other dimensions must agree.
Expr concat(const std::vector<Expr>& parts, int axis);
// [begin, end) along `axis`.
Expr slice(const Expr& x, int axis, std::int64_t begin, std::int64_t end);
// Consecutive slices of the given sizes along `axis`; the sizes add up to the dimension.
std::vector<Expr> split(const Expr& x, int axis, const std::vector<std::int64_t>& sizes);

// ---- reductions ----------------------------------------------------------------------------
// Not an op (no gradient): each row of a float tensor [N, V] replaced by its log-softmax,
// y = x - max - log sum exp(x - max), rows in parallel. For inference.
void log_softmax_rows(Tensor& x);

Expr sum(const Expr& x);   // -> [] (one value)
Expr mean(const Expr& x);  // -> []

// ---- losses --------------------------------------------------------------------------------
struct NllStats {
  double loss_sum = 0.0;    // sum of the rows' losses (the returned mean x count)
  double nll_sum = 0.0;     // sum of -log p(target); equals loss_sum without label smoothing
  std::int64_t count = 0;   // rows whose target is not ignore_index
};
// Fused log-softmax and negative log-likelihood: logits [rows, classes], targets int32 with
// `rows` values -> mean over counted rows of -log softmax(logits)[target]. Rows whose target
// is ignore_index count for nothing. `stats` (optional) receives the sum and count.
// label_smoothing eps in [0, 1): the loss against (1 - eps) onehot + eps / classes, as
// PyTorch's cross_entropy(label_smoothing=eps); `stats` still sums the plain -log p(target).
Expr log_softmax_nll(const Expr& logits, const Tensor& targets, std::int32_t ignore_index = -1,
                     NllStats* stats = nullptr, float label_smoothing = 0.0f);
// The same loss on logits = x . W^T + b, without keeping logits and their gradient as two
// buffers: x [rows, in], weight [classes, in], bias [classes] or undefined (no bias). The output layer of language
// models, where `classes` is the vocabulary and the logits are the largest tensor of a step.
Expr linear_log_softmax_nll(const Expr& x, const Expr& weight, const Expr& bias,
                            const Tensor& targets, std::int32_t ignore_index = -1,
                            NllStats* stats = nullptr, float label_smoothing = 0.0f);

// ---- attention ----------------------------------------------------------------------------
// Tensors of attention are batch-major: x [B, T, D]; per head [B, H, T, Dh].
//
// Batched product over the leading dimensions: a [..., m, k] . b [..., k, n] -> [..., m, n]
// (rank 3 or 4, leading dimensions equal); either operand may be used transposed in its last
// two dimensions. The batch is split over threads, one product per item.
Expr batched_matmul(const Expr& a, const Expr& b, Transpose ta = Transpose::kNo,
                    Transpose tb = Transpose::kNo);
// x with two axes exchanged (rank <= 4): [B, T, H, Dh] -> [B, H, T, Dh] with axes 1 and 2.
Expr swap_axes(const Expr& x, int axis1, int axis2);
// Softmax over the last dimension.
Expr softmax(const Expr& x);
// What attention_softmax masks, without a mask tensor.
struct AttentionMask {
  AttentionMask() = default;
  AttentionMask(bool causal_keys, Tensor lengths = {}, Tensor starts = {})
      : causal(causal_keys), key_lengths(std::move(lengths)), key_starts(std::move(starts)) {}
  // Query i (of Tq) may see key j (of Tk) only if j <= i + (Tk - Tq): the queries are the
  // last Tq positions of the keys' sequence (Tq = Tk in training; fewer with a key cache).
  bool causal = false;
  // int32 [B]: keys at j >= key_lengths[b] are padding and masked. Undefined: none.
  Tensor key_lengths;
  // int32 [B]: keys at j < key_starts[b] are masked (left padding: prompts of different
  // lengths right-aligned in one key cache). Undefined: none.
  Tensor key_starts;
};
// scores [B, H, Tq, Tk] -> softmax over keys of scale * scores, masked entries exactly 0.
// A query whose keys are all masked gets all-zero weights (and no gradient).
Expr attention_softmax(const Expr& scores, float scale, const AttentionMask& mask = {});
// A learned relative position bias (Shaw et al. 2018; T5) added to scores [B, H, Tq, Tk]:
// scores[b, h, i, j] + table[h, clip(j - (i + Tk - Tq), -K, K) + K] with table [H, 2K + 1],
// K = max_distance. The table's gradient sums over every (b, i, j) that used an entry.
Expr add_relative_bias(const Expr& scores, const Expr& table, std::int64_t max_distance);
// Layer normalisation over the last dimension: (x - mean) / sqrt(var + eps) * gamma + beta,
// var the biased variance (as torch.nn.LayerNorm). gamma and beta [D] may be undefined
// (no affine part).
Expr layer_norm(const Expr& x, const Expr& gamma, const Expr& beta, float eps = 1e-5f);
// GELU, the tanh form of GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Expr gelu(const Expr& x);
// x [B, T, D] + positions [T, D], broadcast over B.
Expr add_positions(const Expr& x, const Expr& positions);
// Rows of x along axis 0 picked by int32 indices [N]: [R, ...] -> [N, ...]. Indices may
// repeat (the backward sums); reorders carried states when beams are pruned.
Expr gather_rows(const Expr& x, const Tensor& indices);
// Heads [B, H, T, Dh] each scaled by its share of the norm: with n_bh = ||x[b, h]||_F (over T
// and Dh) and m_b = mean over h of n_bh, y[b, h] = x[b, h] * n_bh / m_b. Differentiable
// through the norms (head_merge: reweight).
Expr reweight_heads(const Expr& x);

// ---- recurrent layers ----------------------------------------------------------------------
enum class CellType { kLstm, kGru, kRnnTanh, kRnnRelu };
// Gates per cell: LSTM 4 (i, f, g, o), GRU 3 (r, z, n), plain RNN 1, in PyTorch's order.
int gate_count(CellType cell);

struct RecurrentOutputs {
  Expr outputs;  // [T, B, H]: the hidden state after every step
  Expr h_last;   // [B, H]
  Expr c_last;   // [B, H] (LSTM only; undefined otherwise)
};
// One recurrent layer over a whole sequence, the loop fused into one node.
// x_proj [T, B, G*H] = x W_ih^T + b_ih for all steps (one GEMM, done by the caller);
// w_hh [G*H, H]; b_hh [G*H]; h0, c0 [B, H] (c0 undefined unless LSTM).
// Per step: gates = x_proj[t] + h W_hh^T + b_hh, then the cell's update.
// mask (optional, float [T, B]): where it is 0 the step is padding and the state carries
// over unchanged (h_t = h_{t-1}, c_t = c_{t-1}), so h_last is the state after each
// sequence's last real step, as PyTorch's packed sequences give; its gradient passes
// through padded steps untouched.
RecurrentOutputs recurrent_layer(CellType cell, const Expr& x_proj, const Expr& w_hh,
                                 const Expr& b_hh, const Expr& h0, const Expr& c0,
                                 const Tensor& mask = Tensor());

}  // namespace loom
