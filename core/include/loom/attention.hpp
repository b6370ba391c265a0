#pragma once
// Attention blocks that model plugins compose: layer norm, multi-head attention, positions and
// Transformer layers. Tensors are batch-major: x [B, T, D]. Parameter names follow PyTorch's
// modules (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer), so
// "<layer>.self_attn.in_proj_weight", "<layer>.linear1.weight", "<layer>.norm1.weight".
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loom/graph.hpp"
#include "loom/nn.hpp"
#include "loom/ops.hpp"
#include "loom/parameters.hpp"

namespace loom::nn {

// y = layer_norm(x) * weight + bias over the last dimension (<name>.weight ones, .bias zeros).
class LayerNorm {
 public:
  LayerNorm(Parameters& params, const std::string& name, std::int64_t dim, float eps = 1e-5f);
  Expr operator()(Graph& g, const Expr& x) const;

 private:
  Parameter *weight_, *bias_;
  float eps_;
};

// How queries meet keys.
//   scaled_dot: q . k / sqrt(Dh)              (Vaswani et al.; the default)
//   dot:        q . k                          (Luong's dot)
//   general:    q . (W k), W [Dh, Dh] per head (Luong's bilinear score), <name>.score_weight [H, Dh, Dh]
enum class Score { kScaledDot, kDot, kGeneral };
Score parse_score(const std::string& name);

// How the heads' outputs [B, H, T, Dh] become [B, T, D] before the output projection.
//   concat:   head h fills columns h*Dh .. (h+1)*Dh - 1                 (the default)
//   shuffle:  slot s takes head pi(s), pi a fixed permutation drawn once from the seed
//             and the layer's name, kept for the model's life
//   shift:    slot s takes head (s + 1) mod H: the heads rotated by one
//   reweight: head h is scaled by n_h / mean(n) before concatenation, n_h the Frobenius norm
//             of its output over (T, Dh) for each batch item; differentiable through n. Under
//             a causal mask the norms are taken per position (over Dh), so that no position
//             sees the size of later ones and cached decoding gives the same outputs
enum class HeadMerge { kConcat, kShuffle, kShift, kReweight };
HeadMerge parse_head_merge(const std::string& name);
const char* head_merge_name(HeadMerge merge);

struct AttentionOptions {
  std::int64_t d_model = 0;
  std::int64_t heads = 1;
  Score score = Score::kScaledDot;
  float dropout = 0.0f;                 // on the attention weights, in training
  HeadMerge merge = HeadMerge::kConcat;
  std::uint64_t seed = 0;               // draws the shuffle permutation
  std::int64_t relative_distance = 0;   // > 0: a learned bias per head and offset, clipped
  bool bias = true;                     // biases of the projections
  std::optional<Init> in_init;          // default: Xavier uniform over [3D, D], as PyTorch
  std::optional<Init> out_init;         // default: uniform(+-1/sqrt(D)), as PyTorch
};

// Keys and values of the positions seen so far, per layer: [B, H, T, Dh] each. Incremental
// decoding appends to them; beam search reorders their batch rows. The rows live in buffers
// with room to grow along time (doubling), so an append copies only the new positions. A
// reorder is deferred: the next append moves the kept rows and adds the new positions in one
// pass (in place when the kept rows keep their order, as when greedy search drops finished
// sentences). scores() and mix() multiply with the cached rows where they lie; keys() and
// values() return contiguous copies. Copying a cache copies its contents.
class LOOM_API KvCache {
 public:
  KvCache() = default;
  KvCache(const KvCache& other);
  KvCache& operator=(const KvCache& other);
  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;

  bool empty() const { return !k_.defined(); }
  // Positions cached.
  std::int64_t length() const { return length_; }
  // Positions the buffers hold before they must grow.
  std::int64_t capacity() const { return k_.defined() ? k_.dim(2) : 0; }
  // Rows, after any pending reorder.
  std::int64_t rows() const;
  void clear();
  // Keeps batch rows `rows` (int32 [N], repeats allowed), in that order.
  void reorder(const Tensor& rows);
  // Appends new positions k, v [B, H, t, Dh] (B the rows after any pending reorder).
  void append(const Tensor& k, const Tensor& v);
  // Replaces the contents (a memory's keys and values, computed once). Such a cache takes no
  // appends, and a reorder never moves it: scores() and mix() read each row's keys and values
  // where they lie (beams of one sentence share its source's), keys() and values() copy.
  void assign(Tensor k, Tensor v);
  // Contiguous [B, H, T, Dh]; the reference holds until the next reorder or append (copy the
  // handle to keep the tensor, which never changes).
  const Tensor& keys();
  const Tensor& values();
  // Queries q [B, H, t, Dh] times the cached keys: [B, H, t, T], as batched_matmul(q, keys(),
  // no, yes) computes it (for t > 1 the same products, bit for bit; a single query, a
  // decoding step's, by loops of its own, equal to rounding), without copying the keys.
  Tensor scores(const Tensor& q);
  // Attention weights w [B, H, t, T] times the cached values: [B, H, t, Dh], as
  // batched_matmul(w, values()) (the same way).
  Tensor mix(const Tensor& w);

 private:
  void settle();
  void compact() const;
  Tensor k_, v_;                  // [B, H, capacity, Dh]; positions 0 .. length_ - 1 hold data
  std::int64_t length_ = 0;
  bool assigned_ = false;         // a memory's: rows are looked up through pending_, not moved
  Tensor pending_;                // rows to keep, int32 [N], not yet applied
  mutable Tensor keys_, values_;  // contiguous copies, made on demand
};

// Multi-head attention with fused input projection (<name>.in_proj_weight [3D, D],
// .in_proj_bias [3D]: queries, keys, values stacked, as nn.MultiheadAttention), output
// projection <name>.out_proj.weight/.bias, and optionally <name>.relative_bias [H, 2K + 1].
class MultiHeadAttention {
 public:
  MultiHeadAttention(Parameters& params, const std::string& name, const AttentionOptions& options);

  // Self attention when `memory` is undefined (queries, keys, values from x [B, T, D]); cross
  // attention otherwise (keys and values from memory [B, S, D]). With `cache`, the new keys
  // and values are appended to it and the queries attend to all of them (x holds only the new
  // positions). `weights`, when given, receives the attention weights [B, H, Tq, Tk].
  Expr operator()(Graph& g, const Expr& x, const Expr& memory, const AttentionMask& mask,
                  KvCache* cache = nullptr, Expr* weights = nullptr) const;

  const AttentionOptions& options() const { return options_; }
  // The order of heads in the merged output (identity for concat and reweight).
  const std::vector<std::int32_t>& head_order() const { return order_; }

 private:
  Expr split_heads(const Expr& x) const;  // [B, T, D] -> [B, H, T, Dh]
  Expr merge_heads(const Expr& heads, bool causal) const;

  AttentionOptions options_;
  std::int64_t head_dim_;
  Parameter *in_weight_, *in_bias_ = nullptr;
  std::optional<Linear> out_;
  Parameter* score_weight_ = nullptr;
  Parameter* relative_ = nullptr;
  std::vector<std::int32_t> order_;
  Tensor order_tensor_;
};

// Sinusoidal positions of Vaswani et al. as PyTorch's word_language_model builds them:
// pe[p, 2i] = sin(p / 10000^(2i/D)), pe[p, 2i+1] = cos(p / 10000^(2i/D)); rows
// offset .. offset + count - 1, [count, D].
Tensor sinusoidal_positions(std::int64_t offset, std::int64_t count, std::int64_t dim);

enum class NormPlacement { kPost, kPre, kNone };
NormPlacement parse_norm(const std::string& name);  // post | pre | none
enum class Activation { kRelu, kGelu };
Activation parse_activation(const std::string& name);  // relu | gelu

struct TransformerLayerOptions {
  std::int64_t d_model = 0, heads = 1, d_ff = 0;
  float dropout = 0.1f;            // residual dropout, and attention-weight dropout unless set below
  std::optional<float> attention_dropout;  // on the attention weights (unset: dropout)
  bool ff_dropout = true;          // dropout between the activation and linear2 (PyTorch)
  NormPlacement norm = NormPlacement::kPost;
  Activation activation = Activation::kRelu;
  bool cross = false;              // a decoder layer: attention over a memory after self attention
  AttentionOptions attention;      // score, merge, relative distance, init (d_model, heads copied in)
  std::optional<Init> ff_init;     // linear1 and linear2 weights (default PyTorch's)
  std::optional<Init> ff_out_init; // linear2 weight only, when set (GPT-2's scaled residual init)
  float eps = 1e-5f;
};

// Forward FLOPs of one Transformer layer for one sequence (CountsFlops' conventions: 2 per
// multiply-accumulate, softmax 3 per score), T positions and, for a decoder layer, a memory
// of S positions. With width D, H heads of Dh = D / H, feed-forward F:
//   self attention:  6 T D^2 (queries, keys, values) + 2 T^2 D (scores) + 3 H T^2 (softmax)
//                    + 2 T^2 D (weights x values) + 2 T D^2 (output projection)
//                    [+ 2 T D Dh for Luong's general score]
//   cross attention: 2 T D^2 + 4 S D^2 (queries; keys and values of the memory) + 2 T S D
//                    + 3 H T S + 2 T S D + 2 T D^2
//   feed-forward:    4 T D F
// The causal mask does not halve the products: they run over the whole square.
double transformer_layer_flops(const TransformerLayerOptions& options, std::int64_t T, std::int64_t S = 0);

// What one layer keeps across incremental decoding steps.
struct LayerCache {
  KvCache self;
  KvCache memory;  // keys and values of the memory, computed at the first step
};

// One Transformer layer, encoder (self attention, feed-forward) or decoder (self attention,
// cross attention, feed-forward), with residuals and the norm placement of the options:
//   post: x = norm1(x + drop(sa(x)));  [x = norm3... cross]  x = norm2(x + drop(ff(x)))
//         (nn.TransformerEncoderLayer, norm_first=False)
//   pre:  x = x + drop(sa(norm1(x)));  x = x + drop(ff(norm2(x)))      (GPT-2, norm_first=True)
//   none: x = x + drop(sa(x));         x = x + drop(ff(x))             (no layer norm)
// ff(x) = linear2(drop?(act(linear1(x)))). Parameters: <name>.self_attn.*, .multihead_attn.*
// (decoder), .linear1, .linear2, .norm1, .norm2, .norm3 (decoder), as PyTorch names them.
class TransformerLayer {
 public:
  TransformerLayer(Parameters& params, const std::string& name, const TransformerLayerOptions& options);

  // x [B, T, D]; memory [B, S, D] for a decoder layer. `cache`: incremental decoding (x holds
  // the new positions only). `weights`, when given, receives the self-attention weights (and,
  // for a decoder, then the cross-attention weights).
  Expr operator()(Graph& g, const Expr& x, const AttentionMask& self_mask, const Expr& memory = Expr(),
                  const AttentionMask& memory_mask = {}, LayerCache* cache = nullptr,
                  std::vector<Expr>* weights = nullptr) const;

  const TransformerLayerOptions& options() const { return options_; }

 private:
  Expr feed_forward(Graph& g, const Expr& x) const;

  TransformerLayerOptions options_;
  MultiHeadAttention self_attn_;
  std::optional<MultiHeadAttention> cross_attn_;
  Linear linear1_, linear2_;
  std::optional<LayerNorm> norm1_, norm2_, norm3_;
};

}  // namespace loom::nn
