// Attention blocks: layer norm, multi-head attention, sinusoidal positions, Transformer layers.
#include "loom/attention.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"
#include "tensor/kernels.hpp"

namespace loom::nn {

LayerNorm::LayerNorm(Parameters& params, const std::string& name, std::int64_t dim, float eps)
    : weight_(params.add(name + ".weight", Shape{dim}, Init::constant(1.0f))),
      bias_(params.add(name + ".bias", Shape{dim}, Init::zeros())),
      eps_(eps) {}

Expr LayerNorm::operator()(Graph& g, const Expr& x) const {
  return layer_norm(x, g.param(*weight_), g.param(*bias_), eps_);
}

Score parse_score(const std::string& name) {
  if (name == "scaled_dot") return Score::kScaledDot;
  if (name == "dot") return Score::kDot;
  if (name == "general") return Score::kGeneral;
  throw ConfigError("unknown attention score '" + name + "' (expected scaled_dot, dot or general)");
}

HeadMerge parse_head_merge(const std::string& name) {
  if (name == "concat") return HeadMerge::kConcat;
  if (name == "shuffle") return HeadMerge::kShuffle;
  if (name == "shift") return HeadMerge::kShift;
  if (name == "reweight") return HeadMerge::kReweight;
  throw ConfigError("unknown head merge '" + name + "' (expected concat, shuffle, shift or reweight)");
}

const char* head_merge_name(HeadMerge merge) {
  switch (merge) {
    case HeadMerge::kConcat: return "concat";
    case HeadMerge::kShuffle: return "shuffle";
    case HeadMerge::kShift: return "shift";
    default: return "reweight";
  }
}

NormPlacement parse_norm(const std::string& name) {
  if (name == "post") return NormPlacement::kPost;
  if (name == "pre") return NormPlacement::kPre;
  if (name == "none") return NormPlacement::kNone;
  throw ConfigError("unknown norm placement '" + name + "' (expected post, pre or none)");
}

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  throw ConfigError("unknown activation '" + name + "' (expected relu or gelu)");
}

// ---- KvCache -------------------------------------------------------------------------------

namespace {

// Positions a cache's buffers hold when they must grow to `needed`: doubling, from 16.
std::int64_t grown_capacity(std::int64_t current, std::int64_t needed) {
  std::int64_t c = std::max<std::int64_t>(current, 16);
  while (c < needed) c *= 2;
  return c;
}

// Copies rows of a [N, H, capacity, Dh] buffer: out row i, positions 0 .. T - 1, from row
// rows[i] of `from` (rows undefined: the identity), then positions T .. T + t - 1 from fresh
// [N', H, t, Dh] when defined. `from` and `out` may be the same buffer when rows[i] >= i for
// every i and the rows ascend (each row moves down or stays).
void move_rows(const Tensor& from, std::int64_t T, const Tensor& rows, const Tensor& fresh, Tensor& out) {
  // In place, `out` still has the old rows: the count comes from `rows`.
  const std::int64_t N = rows.defined() ? rows.numel() : out.dim(0);
  const std::int64_t H = out.dim(1), cap_in = from.dim(2), cap_out = out.dim(2), Dh = out.dim(3);
  LOOM_ASSERT(N <= out.dim(0), "KvCache: " + std::to_string(N) + " rows do not fit " + out.shape().str());
  const std::int64_t t = fresh.defined() ? fresh.dim(2) : 0;
  const float* src = from.data();
  float* dst = out.data();
  const bool in_place = src == dst;
  auto row = [&](std::int64_t n) {
    const std::int64_t r = rows.defined() ? rows.ids()[n] : n;
    LOOM_ASSERT(r >= 0 && r < from.dim(0), "KvCache: row " + std::to_string(r) + " outside [0, " +
                                               std::to_string(from.dim(0)) + ")");
    for (std::int64_t h = 0; h < H; ++h) {
      float* o = dst + (n * H + h) * cap_out * Dh;
      if (!in_place || r != n) std::copy_n(src + (r * H + h) * cap_in * Dh, T * Dh, o);
      if (t > 0) std::copy_n(fresh.data() + (n * H + h) * t * Dh, t * Dh, o + T * Dh);
    }
  };
  if (in_place) {
    for (std::int64_t n = 0; n < N; ++n) row(n);  // in order: a row never overwrites one still to move
  } else {
    parallel_chunks(N, 1, [&](std::int64_t n0, std::int64_t n1) {
      for (std::int64_t n = n0; n < n1; ++n) row(n);
    });
  }
}

// Whether keeping `rows` of an N-row cache can be done in place: ascending, each at or after
// its new place.
bool moves_down(const Tensor& rows) {
  const std::int32_t* r = rows.ids();
  for (std::int64_t i = 0; i < rows.numel(); ++i)
    if (r[i] < i || (i > 0 && r[i] <= r[i - 1])) return false;
  return true;
}

}  // namespace

KvCache::KvCache(const KvCache& other) { *this = other; }

KvCache& KvCache::operator=(const KvCache& other) {
  if (this == &other) return *this;
  k_ = other.k_.defined() ? other.k_.clone() : Tensor();
  v_ = other.v_.defined() ? other.v_.clone() : Tensor();
  length_ = other.length_;
  assigned_ = other.assigned_;
  pending_ = other.pending_.defined() ? other.pending_.clone() : Tensor();
  keys_ = Tensor();
  values_ = Tensor();
  return *this;
}

std::int64_t KvCache::rows() const {
  if (pending_.defined()) return pending_.numel();
  return k_.defined() ? k_.dim(0) : 0;
}

void KvCache::clear() { *this = KvCache(); }

void KvCache::reorder(const Tensor& rows) {
  LOOM_ASSERT(rows.dtype() == DType::kInt32 && rows.rank() == 1, "KvCache::reorder needs int32 rows [N]");
  if (!k_.defined()) return;
  keys_ = Tensor();
  values_ = Tensor();
  if (!pending_.defined()) {
    pending_ = rows.clone();
    return;
  }
  pending_ = take_rows(pending_, rows);  // two reorders compose into one
}

void KvCache::append(const Tensor& k, const Tensor& v) {
  LOOM_ASSERT(k.rank() == 4 && v.shape() == k.shape(), "KvCache: new keys " + k.shape().str() + " and values " +
                                                            v.shape().str() + " are not both [B, H, t, Dh]");
  LOOM_ASSERT(!assigned_, "KvCache: a memory's keys and values (assign) take no appends");
  keys_ = Tensor();
  values_ = Tensor();
  const std::int64_t N = k.dim(0), H = k.dim(1), t = k.dim(2), Dh = k.dim(3);
  if (!k_.defined()) {
    const Shape shape{N, H, grown_capacity(0, t), Dh};
    k_ = Tensor::empty(shape);
    v_ = Tensor::empty(shape);
    move_rows(k, 0, Tensor(), k, k_);
    move_rows(v, 0, Tensor(), v, v_);
    length_ = t;
    return;
  }
  LOOM_ASSERT(N == rows() && H == k_.dim(1) && Dh == k_.dim(3),
              "KvCache: new keys " + k.shape().str() + " do not fit the cache of " + std::to_string(rows()) +
                  " rows, " + std::to_string(k_.dim(1)) + " heads of " + std::to_string(k_.dim(3)));
  const std::int64_t cap = capacity(), needed = length_ + t;
  const bool in_place = needed <= cap && N <= k_.dim(0) && (!pending_.defined() || moves_down(pending_)) &&
                        !k_.storage_shared() && !v_.storage_shared();
  if (in_place && !pending_.defined()) {
    // The common step: the new positions go after the cached ones.
    move_rows(k_, length_, Tensor(), k, k_);
    move_rows(v_, length_, Tensor(), v, v_);
  } else if (in_place) {
    move_rows(k_, length_, pending_, k, k_);
    move_rows(v_, length_, pending_, v, v_);
    k_ = k_.slice_rows(0, N);
    v_ = v_.slice_rows(0, N);
  } else {
    const Shape shape{N, H, grown_capacity(cap, needed), Dh};
    Tensor nk = Tensor::empty(shape), nv = Tensor::empty(shape);
    move_rows(k_, length_, pending_, k, nk);
    move_rows(v_, length_, pending_, v, nv);
    k_ = std::move(nk);
    v_ = std::move(nv);
  }
  pending_ = Tensor();
  length_ = needed;
}

void KvCache::assign(Tensor k, Tensor v) {
  LOOM_ASSERT(k.rank() == 4 && v.shape() == k.shape(), "KvCache::assign needs keys and values [B, H, T, Dh]");
  length_ = k.dim(2);
  k_ = std::move(k);
  v_ = std::move(v);
  pending_ = Tensor();
  keys_ = Tensor();
  values_ = Tensor();
  assigned_ = true;
}

void KvCache::settle() {
  if (!pending_.defined()) return;
  const std::int64_t N = pending_.numel();
  if (N <= k_.dim(0) && moves_down(pending_) && !k_.storage_shared() && !v_.storage_shared()) {
    move_rows(k_, length_, pending_, Tensor(), k_);
    move_rows(v_, length_, pending_, Tensor(), v_);
    k_ = k_.slice_rows(0, N);
    v_ = v_.slice_rows(0, N);
  } else {
    const Shape shape = k_.shape().with_dim(0, N);
    Tensor nk = Tensor::empty(shape), nv = Tensor::empty(shape);
    move_rows(k_, length_, pending_, Tensor(), nk);
    move_rows(v_, length_, pending_, Tensor(), nv);
    k_ = std::move(nk);
    v_ = std::move(nv);
  }
  pending_ = Tensor();
}

void KvCache::compact() const {
  if (keys_.defined() || !k_.defined()) return;
  if (k_.dim(2) == length_) {  // full: the buffers are contiguous already
    keys_ = k_;
    values_ = v_;
    return;
  }
  const Shape shape = k_.shape().with_dim(2, length_);
  keys_ = Tensor::empty(shape);
  values_ = Tensor::empty(shape);
  move_rows(k_, length_, Tensor(), Tensor(), keys_);
  move_rows(v_, length_, Tensor(), Tensor(), values_);
}

const Tensor& KvCache::keys() {
  settle();
  compact();
  return keys_;
}

const Tensor& KvCache::values() {
  settle();
  compact();
  return values_;
}

namespace {

// A decoding step has one query per row and head: a call of the general product per row and
// head would cost more than its few thousand multiply-adds. Scores: out[j] = q . keys[j], in
// 16 lanes over the head's width added up as a tree in a fixed order; mix: out = sum_j w[j] values[j],
// one chain per output in j order.
void one_query_scores(const float* q, const float* keys, std::int64_t length, std::int64_t Dh, float* out) {
  constexpr int L = kernels::kLanes;
  for (std::int64_t j = 0; j < length; ++j) {
    const float* kj = keys + j * Dh;
    float acc[L] = {};
    std::int64_t d = 0;
    for (; d + L <= Dh; d += L)
      for (int l = 0; l < L; ++l) acc[l] += q[d + l] * kj[d + l];
    for (; d < Dh; ++d) acc[d % L] += q[d] * kj[d];
    for (int w = L / 2; w >= 1; w /= 2)  // a tree of halves: a few vector adds
      for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    out[j] = acc[0];
  }
}

void one_query_mix(const float* w, const float* values, std::int64_t length, std::int64_t Dh, float* out) {
  std::fill_n(out, Dh, 0.0f);
  for (std::int64_t j = 0; j < length; ++j) {
    const float wj = w[j];
    const float* vj = values + j * Dh;
    for (std::int64_t d = 0; d < Dh; ++d) out[d] += wj * vj[d];
  }
}

// Per batch row and head i: a[i] [t, k] times the first `length` rows of buffer[i] (rows of
// Dh among `capacity`), transposed (k = Dh, out [t, length]: scores) or not (k = length, out
// [t, Dh]: mixing values). For t > 1 the same gemm calls batched_matmul makes, so the same
// results; for one query, the loops above (equal to rounding). With `map` (int32 [B]), batch
// row b of a reads row map[b] of the buffer.
Tensor times_rows(const Tensor& a, const Tensor& buffer, std::int64_t length, bool transpose, const Tensor& map) {
  const std::int64_t H = a.dim(1), BH = a.dim(0) * H, t = a.dim(2), k = a.dim(3), cap = buffer.dim(2), Dh = buffer.dim(3);
  const std::int64_t n = transpose ? length : Dh;
  Tensor out = Tensor::empty(a.shape().with_dim(3, n));
  const float *as = a.data(), *bs = buffer.data();
  const std::int32_t* rows = map.defined() ? map.ids() : nullptr;
  float* os = out.data();
  // Chunks of at least ~16k multiply-adds: a step's products are small.
  const std::int64_t grain = std::max<std::int64_t>(1, (std::int64_t{1} << 14) / std::max<std::int64_t>(1, t * n * k));
  parallel_chunks(BH, grain, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t bi = rows ? rows[i / H] * H + i % H : i;
      const float *ai = as + i * t * k, *bi_rows = bs + bi * cap * Dh;
      float* oi = os + i * t * n;
      if (t == 1 && transpose)
        one_query_scores(ai, bi_rows, length, Dh, oi);
      else if (t == 1)
        one_query_mix(ai, bi_rows, length, Dh, oi);
      else
        kernels::gemm_serial(false, transpose, t, n, k, 1.0f, ai, k, bi_rows, Dh, 0.0f, oi, n);
    }
  });
  return out;
}

}  // namespace

Tensor KvCache::scores(const Tensor& q) {
  if (!assigned_) settle();
  LOOM_ASSERT(k_.defined() && q.rank() == 4 && q.dim(0) == rows() && q.dim(1) == k_.dim(1) && q.dim(3) == k_.dim(3),
              "KvCache::scores: queries " + q.shape().str() + " do not fit the cache " + k_.shape().str() + " of " +
                  std::to_string(rows()) + " rows");
  return times_rows(q, k_, length_, true, pending_);
}

Tensor KvCache::mix(const Tensor& w) {
  if (!assigned_) settle();
  LOOM_ASSERT(v_.defined() && w.rank() == 4 && w.dim(0) == rows() && w.dim(1) == v_.dim(1) && w.dim(3) == length_,
              "KvCache::mix: weights " + w.shape().str() + " do not fit the cache of " + std::to_string(rows()) +
                  " rows, " + std::to_string(length_) + " positions, " + v_.shape().str());
  return times_rows(w, v_, length_, false, pending_);
}

// ---- MultiHeadAttention --------------------------------------------------------------------

MultiHeadAttention::MultiHeadAttention(Parameters& params, const std::string& name,
                                       const AttentionOptions& options)
    : options_(options),
      head_dim_(options.heads > 0 ? options.d_model / options.heads : 0) {
  const std::int64_t D = options.d_model, H = options.heads;
  if (H < 1 || D < 1 || D % H != 0)
    throw ConfigError("attention '" + name + "': d_model " + std::to_string(D) + " is not divisible by " +
                      std::to_string(H) + " heads");
  const float xavier = std::sqrt(6.0f / static_cast<float>(D + 3 * D));
  in_weight_ = params.add(name + ".in_proj_weight", Shape{3 * D, D}, options.in_init.value_or(Init::uniform(xavier)));
  if (options.bias) in_bias_ = params.add(name + ".in_proj_bias", Shape{3 * D}, Init::zeros());
  out_.emplace(params, name + ".out_proj", D, D, options.bias, options.out_init);
  if (!options.out_init && options.bias) {
    // nn.MultiheadAttention zeroes the output projection's bias.
    params.find(name + ".out_proj.bias")->init = Init::zeros();
  }
  if (options.score == Score::kGeneral)
    score_weight_ = params.add(name + ".score_weight", Shape{H, head_dim_, head_dim_},
                               Init::uniform(1.0f / std::sqrt(static_cast<float>(head_dim_))));
  if (options.relative_distance > 0)
    relative_ = params.add(name + ".relative_bias", Shape{H, 2 * options.relative_distance + 1}, Init::zeros());
  order_.resize(static_cast<std::size_t>(H));
  std::iota(order_.begin(), order_.end(), 0);
  if (options.merge == HeadMerge::kShift) {
    for (std::int64_t s = 0; s < H; ++s) order_[s] = static_cast<std::int32_t>((s + 1) % H);
  } else if (options.merge == HeadMerge::kShuffle) {
    // Fisher-Yates from a stream keyed by the seed and the layer's name.
    std::uint64_t key = options.seed ^ std::hash<std::string>{}(name);
    for (std::int64_t i = H - 1; i > 0; --i) {
      auto j = static_cast<std::int64_t>(random_uniform(key, static_cast<std::uint64_t>(i)) * static_cast<float>(i + 1));
      std::swap(order_[i], order_[std::min(j, i)]);
    }
  }
  order_tensor_ = Tensor::empty(Shape{H}, DType::kInt32);
  std::copy(order_.begin(), order_.end(), order_tensor_.ids());
}

Expr MultiHeadAttention::split_heads(const Expr& x) const {
  const Shape& s = x.shape();
  return swap_axes(reshape(x, Shape{s[0], s[1], options_.heads, head_dim_}), 1, 2);
}

Expr MultiHeadAttention::merge_heads(const Expr& heads, bool causal) const {
  Expr h = heads;
  const Shape s = h.shape();  // [B, H, T, Dh]
  if (options_.merge == HeadMerge::kReweight && causal) {
    // Norms per position (over Dh), so that no position sees the magnitude of later ones.
    Expr per_position = reshape(swap_axes(h, 1, 2), Shape{s[0] * s[2], s[1], 1, s[3]});
    return reshape(reweight_heads(per_position), Shape{s[0], s[2], options_.d_model});
  }
  if (options_.merge == HeadMerge::kReweight) h = reweight_heads(h);
  if (options_.merge == HeadMerge::kShuffle || options_.merge == HeadMerge::kShift)
    h = swap_axes(gather_rows(swap_axes(h, 0, 1), order_tensor_), 0, 1);
  return reshape(swap_axes(h, 1, 2), Shape{s[0], s[2], options_.d_model});
}

Expr MultiHeadAttention::operator()(Graph& g, const Expr& x, const Expr& memory, const AttentionMask& mask,
                                    KvCache* cache, Expr* weights) const {
  const std::int64_t D = options_.d_model;
  if (x.shape().rank() != 3 || x.shape()[2] != D)
    throw AssertionError("attention: input " + x.shape().str() + " is not [B, T, " + std::to_string(D) + "]");
  Expr w = g.param(*in_weight_);
  Expr b = in_bias_ ? g.param(*in_bias_) : Expr();
  auto project = [&](const Expr& in, std::int64_t part) {
    return linear(in, slice(w, 0, part * D, (part + 1) * D), b.defined() ? slice(b, 0, part * D, (part + 1) * D) : Expr());
  };
  Expr q, k, v;
  const bool self = !memory.defined();
  // Decoding: the products read the cached rows where they lie (no copy of the cache).
  auto from_cache = [&]() {
    const float scale = options_.score == Score::kScaledDot ? 1.0f / std::sqrt(static_cast<float>(head_dim_)) : 1.0f;
    Expr attn = attention_softmax(g.constant(cache->scores(q.value())), scale, mask);
    if (weights != nullptr) *weights = attn;
    attn = dropout(attn, options_.dropout);
    return (*out_)(g, merge_heads(g.constant(cache->mix(attn.value())), mask.causal));
  };
  auto direct = [&]() { return options_.score != Score::kGeneral && relative_ == nullptr && !q.requires_grad(); };
  if (self) {
    Expr qkv = linear(x, w, b);  // one product for all three
    auto parts = split(qkv, 2, {D, D, D});
    q = split_heads(parts[0]);
    k = split_heads(parts[1]);
    v = split_heads(parts[2]);
    if (cache != nullptr) {
      cache->append(k.value(), v.value());
      if (direct()) return from_cache();
      k = g.constant(cache->keys());
      v = g.constant(cache->values());
    }
  } else if (cache != nullptr && !cache->empty()) {
    q = split_heads(project(x, 0));
    if (direct()) return from_cache();
    k = g.constant(cache->keys());
    v = g.constant(cache->values());
  } else {
    q = split_heads(project(x, 0));
    k = split_heads(project(memory, 1));
    v = split_heads(project(memory, 2));
    if (cache != nullptr) cache->assign(k.value().clone(), v.value().clone());
  }
  if (options_.score == Score::kGeneral) {
    // q . (W_h k): keys [B, H, Tk, Dh] times W_h^T per head, as one batched product over H.
    const Shape ks = k.shape();
    Expr kh = reshape(swap_axes(k, 0, 1), Shape{ks[1], ks[0] * ks[2], ks[3]});  // [H, B*Tk, Dh]
    Expr wk = batched_matmul(kh, g.param(*score_weight_), Transpose::kNo, Transpose::kYes);
    k = swap_axes(reshape(wk, Shape{ks[1], ks[0], ks[2], ks[3]}), 0, 1);
  }
  const float scale = options_.score == Score::kScaledDot ? 1.0f / std::sqrt(static_cast<float>(head_dim_)) : 1.0f;
  Expr scores = batched_matmul(q, k, Transpose::kNo, Transpose::kYes);  // [B, H, Tq, Tk]
  Expr attn;
  if (relative_ != nullptr) {
    // The bias joins the scaled scores (T5, Shaw et al.): scale first, then add.
    attn = attention_softmax(add_relative_bias(scale == 1.0f ? scores : loom::scale(scores, scale),
                                               g.param(*relative_), options_.relative_distance),
                             1.0f, mask);
  } else {
    attn = attention_softmax(scores, scale, mask);
  }
  if (weights != nullptr) *weights = attn;
  attn = dropout(attn, options_.dropout);
  return (*out_)(g, merge_heads(batched_matmul(attn, v), mask.causal));
}

// ---- positions -----------------------------------------------------------------------------

Tensor sinusoidal_positions(std::int64_t offset, std::int64_t count, std::int64_t dim) {
  Tensor pe = Tensor::zeros(Shape{count, dim});
  // As word_language_model: div_term = exp(arange(0, D, 2) * (-ln(10000) / D)), in float.
  for (std::int64_t i = 0; 2 * i < dim; ++i) {
    const float div = std::exp(static_cast<float>(2 * i) * (-std::log(10000.0f) / static_cast<float>(dim)));
    for (std::int64_t p = 0; p < count; ++p) {
      const float angle = static_cast<float>(offset + p) * div;
      pe.data()[p * dim + 2 * i] = std::sin(angle);
      if (2 * i + 1 < dim) pe.data()[p * dim + 2 * i + 1] = std::cos(angle);
    }
  }
  return pe;
}

// ---- TransformerLayer ----------------------------------------------------------------------

namespace {

AttentionOptions attention_for(const TransformerLayerOptions& o) {
  AttentionOptions a = o.attention;
  a.d_model = o.d_model;
  a.heads = o.heads;
  a.dropout = o.attention_dropout.value_or(o.dropout);
  return a;
}

AttentionOptions cross_attention_for(const TransformerLayerOptions& o) {
  AttentionOptions a = attention_for(o);
  a.relative_distance = 0;  // positions of source and target are not comparable
  return a;
}

}  // namespace

TransformerLayer::TransformerLayer(Parameters& params, const std::string& name,
                                   const TransformerLayerOptions& options)
    : options_(options),
      self_attn_(params, name + ".self_attn", attention_for(options)),
      cross_attn_(options.cross ? std::optional<MultiHeadAttention>(std::in_place, params,
                                                                    name + ".multihead_attn",
                                                                    cross_attention_for(options))
                                : std::nullopt),
      linear1_(params, name + ".linear1", options.d_model, options.d_ff, true, options.ff_init),
      linear2_(params, name + ".linear2", options.d_ff, options.d_model, true,
               options.ff_out_init ? options.ff_out_init : options.ff_init) {
  if (options.d_ff < 1) throw ConfigError("Transformer layer '" + name + "': d_ff must be at least 1");
  if (options.norm != NormPlacement::kNone) {
    norm1_.emplace(params, name + ".norm1", options.d_model, options.eps);
    norm2_.emplace(params, name + ".norm2", options.d_model, options.eps);
    if (options.cross) norm3_.emplace(params, name + ".norm3", options.d_model, options.eps);
  }
}

Expr TransformerLayer::feed_forward(Graph& g, const Expr& x) const {
  Expr h = linear1_(g, x);
  h = options_.activation == Activation::kGelu ? gelu(h) : relu(h);
  if (options_.ff_dropout) h = dropout(h, options_.dropout);
  return linear2_(g, h);
}

Expr TransformerLayer::operator()(Graph& g, const Expr& x, const AttentionMask& self_mask, const Expr& memory,
                                  const AttentionMask& memory_mask, LayerCache* cache,
                                  std::vector<Expr>* weights) const {
  const float p = options_.dropout;
  Expr w;
  Expr* want = weights != nullptr ? &w : nullptr;
  // One residual block: f applied with this layer's norm placement; `norm` the block's norm.
  auto block = [&](const Expr& in, const std::optional<LayerNorm>& norm, auto f) {
    switch (options_.norm) {
      case NormPlacement::kPost: return (*norm)(g, add(in, dropout(f(in), p)));
      case NormPlacement::kPre: return add(in, dropout(f((*norm)(g, in)), p));
      default: return add(in, dropout(f(in), p));
    }
  };
  Expr h = block(x, norm1_, [&](const Expr& in) {
    return self_attn_(g, in, Expr(), self_mask, cache ? &cache->self : nullptr, want);
  });
  if (weights != nullptr) weights->push_back(w);
  if (cross_attn_) {
    if (!memory.defined()) throw AssertionError("a Transformer decoder layer needs a memory");
    h = block(h, norm2_, [&](const Expr& in) {
      return (*cross_attn_)(g, in, memory, memory_mask, cache ? &cache->memory : nullptr, want);
    });
    if (weights != nullptr) weights->push_back(w);
    return block(h, norm3_, [&](const Expr& in) { return feed_forward(g, in); });
  }
  return block(h, norm2_, [&](const Expr& in) { return feed_forward(g, in); });
}

// ---- FLOPs ---------------------------------------------------------------------------------

double transformer_layer_flops(const TransformerLayerOptions& o, std::int64_t T, std::int64_t S) {
  const double D = static_cast<double>(o.d_model), H = static_cast<double>(o.heads), Dh = D / H;
  const double t = static_cast<double>(T), s = static_cast<double>(S), F = static_cast<double>(o.d_ff);
  auto attention = [&](double queries, double keys, bool self) {
    double f = (self ? 6.0 * queries * D * D : 2.0 * queries * D * D + 4.0 * keys * D * D)  // projections
               + 2.0 * queries * keys * D                                                  // scores
               + 3.0 * H * queries * keys                                                  // softmax
               + 2.0 * queries * keys * D                                                  // weights x values
               + 2.0 * queries * D * D;                                                    // output projection
    if (o.attention.score == Score::kGeneral) f += 2.0 * keys * D * Dh;                   // W_h k per head
    return f;
  };
  double f = attention(t, t, true) + 4.0 * t * D * F;
  if (o.cross) f += attention(t, s, false);
  return f;
}

}  // namespace loom::nn
