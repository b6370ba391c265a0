// models/rnn_seq2seq: a recurrent encoder-decoder for translation over the encoder_decoder
// batch layout (loom/batch_layout.hpp), with Luong et al. (2015) attention.
//
//   encoder: embedding -> dropout -> LSTM | GRU layers, optionally bidirectional (each
//            direction nhid / 2 wide, so its outputs and final states are nhid wide)
//   decoder: embedding -> dropout -> LSTM | GRU layers started from the encoder's final
//            state (layer by layer; gradients flow back into the encoder through it), then
//     attention none:    h~_t = h_t (a conditional language model: the source reaches the
//                        decoder only through the final state)
//     dot | general | concat: scores h_t . s_j, h_t^T W_a s_j (computed as batched products
//                        over the whole source), or v^T tanh(W_a [h_t; s_j]); weights a_t =
//                        softmax over the real source positions; context c_t = sum_j a_tj s_j;
//                        h~_t = tanh(W_c [c_t; h_t])   (Luong eq. 5)
//     input_feeding:     h~_{t-1} joins the next step's input (Luong section 3.3)
//   output: dropout -> linear -> log-softmax over the target vocabulary; the loss is the mean
//   negative log-likelihood of tgt_out (padding ignored).
// `use_source: false` (with attention none) drops the encoder: the decoder starts from zeros and
// is a language model of the target side alone, the baseline for what the source adds.
// Without input feeding the decoder runs over the whole target at once; with it, step by step.
// As an IncrementalDecoder it encodes once and then steps with the decoder's state, the last
// h~ and the encoder's outputs per row (reordered as beams are pruned).
#include <algorithm>
#include <cmath>
#include <optional>

#include "loom/batch_layout.hpp"
#include "loom/nn.hpp"
#include "loom/plugin.hpp"

namespace {

enum class Attention { kNone, kDot, kGeneral, kConcat };

struct Options {
  loom::CellType cell = loom::CellType::kLstm;
  std::int64_t src_vocab = 0, tgt_vocab = 0, emsize = 256, nhid = 256;
  int nlayers = 1;
  bool bidirectional = false, input_feeding = true, tie_weights = false, use_source = true;
  float dropout = 0.2f, init = 0.1f;
  Attention attention = Attention::kGeneral;
  std::int32_t bos = 0, eos = 0, unk = loom::Vocab::kNone;
};

// An int32 [B, T] tensor as [T, B].
loom::Tensor time_major(const loom::Tensor& t) {
  const std::int64_t B = t.dim(0), T = t.dim(1);
  loom::Tensor out = loom::Tensor::empty(loom::Shape{T, B}, loom::DType::kInt32);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < T; ++s) out.ids()[s * B + b] = t.ids()[b * T + s];
  return out;
}

// float [T, B]: 1 on each sequence's first lengths[b] steps.
loom::Tensor length_mask(const loom::Tensor& lengths, std::int64_t T) {
  const std::int64_t B = lengths.dim(0);
  loom::Tensor m = loom::Tensor::zeros(loom::Shape{T, B});
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < lengths.ids()[b] && t < T; ++t) m.data()[t * B + b] = 1.0f;
  return m;
}

class RnnSeq2Seq : public loom::Model, public loom::IncrementalDecoder, public loom::CountsFlops {
 public:
  RnnSeq2Seq(const Options& o, std::uint64_t seed)
      : o_(o),
        src_embedding_(o.use_source ? std::make_optional<loom::nn::Embedding>(parameters_, "encoder.embedding", o.src_vocab,
                                                                               o.emsize, loom::Init::uniform(o.init))
                                    : std::nullopt),
        encoder_(o.use_source ? std::make_optional<loom::nn::PaddedRnn>(
                                    parameters_, "encoder.rnn", o.cell, o.emsize, o.bidirectional ? o.nhid / 2 : o.nhid,
                                    o.nlayers, o.bidirectional, o.dropout, loom::Init::uniform(o.init))
                              : std::nullopt),
        tgt_embedding_(parameters_, "decoder.embedding", o.tgt_vocab, o.emsize, loom::Init::uniform(o.init)),
        decoder_(parameters_, "decoder.rnn", o.cell, o.emsize + (feeds() ? o.nhid : 0), o.nhid, o.nlayers, false,
                 o.dropout, loom::Init::uniform(o.init)),
        dropout_(o.dropout) {
    const std::int64_t H = o.nhid;
    const loom::Init init = loom::Init::uniform(o.init);
    if (o.attention == Attention::kGeneral) attn_w_ = parameters_.add("decoder.attention.weight", loom::Shape{H, H}, init);
    if (o.attention == Attention::kConcat) {
      attn_w_ = parameters_.add("decoder.attention.weight", loom::Shape{H, 2 * H}, init);
      attn_v_ = parameters_.add("decoder.attention.v", loom::Shape{1, H}, init);
    }
    if (o.attention != Attention::kNone) combine_ = parameters_.add("decoder.combine.weight", loom::Shape{H, 2 * H}, init);
    if (!o.tie_weights) out_weight_ = parameters_.add("decoder.output.weight", loom::Shape{o.tgt_vocab, H}, init);
    out_bias_ = parameters_.add("decoder.output.bias", loom::Shape{o.tgt_vocab}, init);
    parameters_.finalize(seed);
  }

  // CountsFlops: a source of S tokens and a target of T, with H = nhid and V the target
  // vocabulary: the encoder's S steps and the decoder's T (nn::PaddedRnn::flops_per_step),
  // attention per target step over S positions (dot: scores 2 S H, softmax 3 S, context 2 S H;
  // general adds 2 H^2 for h_t W; concat adds 2 H^2 + 2 S H^2 / T for W_q h_t and W_s s_j and
  // 2 S H for v), the combination 4 H^2, and the output layer 2 V H. Per token: per target
  // token with S = T. Non-embedding: all but the two embedding tables.
  double flops_per_token(std::int64_t length) const override {
    return length > 0 ? pair_flops(length, length) / static_cast<double>(length) : 0.0;
  }
  double forward_flops(const loom::Batch& batch) const override {
    const loom::Tensor& tgt = batch.get("tgt_in");  // [B, T]
    const std::int64_t S = o_.use_source ? batch.get("src").dim(1) : 0;
    return static_cast<double>(tgt.dim(0)) * pair_flops(S, tgt.dim(1));
  }
  std::int64_t non_embedding_parameters() const override {
    return parameters_.count_except({"encoder.embedding.weight", "decoder.embedding.weight"});
  }
  double pair_flops(std::int64_t S_, std::int64_t T_) const {
    const double S = o_.use_source ? static_cast<double>(S_) : 0.0, T = static_cast<double>(T_);
    const double H = static_cast<double>(o_.nhid), V = static_cast<double>(o_.tgt_vocab);
    double f = T * decoder_.flops_per_step() + 2.0 * T * V * H;
    if (encoder_) f += S * encoder_->flops_per_step();
    if (o_.attention != Attention::kNone) {
      f += T * (2.0 * S * H + 3.0 * S + 2.0 * S * H) + T * 4.0 * H * H;
      if (o_.attention == Attention::kGeneral) f += T * 2.0 * H * H;
      if (o_.attention == Attention::kConcat) f += T * 2.0 * H * H + S * 2.0 * H * H + T * 2.0 * S * H;
    }
    return f;
  }

  // IncrementalDecoder
  std::unique_ptr<loom::DecoderState> start(loom::Graph& g, const loom::Batch& batch, loom::Tensor& log_probs) override {
    auto s = std::make_unique<State>();
    Encoded e = encode(g, batch);
    s->enc = e.outputs.value();
    s->src_lengths = e.src_lengths;
    for (const auto& h : e.state.h) s->h.push_back(h.value());
    for (const auto& c : e.state.c) s->c.push_back(c.value());
    const std::int64_t B = s->enc.dim(0);
    s->sources = loom::SourceRows(B);
    if (feeds()) s->feed = loom::Tensor::zeros(loom::Shape{B, o_.nhid});
    loom::Tensor bos = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
    std::fill(bos.ids(), bos.ids() + B, o_.bos);
    log_probs = step(g, *s, bos);
    return s;
  }

  loom::Tensor step(loom::Graph& g, loom::DecoderState& state, const loom::Tensor& ids) override {
    auto& s = dynamic_cast<State&>(state);
    const std::int64_t R = ids.numel();
    loom::Tensor ids_1 = ids.view(loom::Shape{1, R});
    loom::nn::PaddedRnn::State dec;
    for (const auto& h : s.h) dec.h.push_back(g.constant(h));
    for (const auto& c : s.c) dec.c.push_back(g.constant(c));
    loom::Expr feed = feeds() ? g.constant(s.feed) : loom::Expr();
    loom::Tensor weights;
    loom::Expr out = decode_step(g, tgt_embedding_(g, ids_1), g.constant(s.enc), s.src_lengths, dec, feed,
                                 &weights);  // [R, H]
    s.h.clear();
    s.c.clear();
    for (const auto& h : dec.h) s.h.push_back(h.value());
    for (const auto& c : dec.c) s.c.push_back(c.value());
    if (feeds()) s.feed = out.value();
    s.attention = weights;
    loom::Tensor logits = loom::linear(out, g.param(output_weight()), g.param(*out_bias_)).value();
    loom::log_softmax_rows(logits);
    return logits;
  }

  void reorder(loom::DecoderState& state, const loom::Tensor& rows) override {
    auto& s = dynamic_cast<State&>(state);
    for (auto& h : s.h) h = loom::take_rows(h, rows);
    for (auto& c : s.c) c = loom::take_rows(c, rows);
    if (s.feed.defined()) s.feed = loom::take_rows(s.feed, rows);
    if (s.attention.defined()) s.attention = loom::take_rows(s.attention, rows);
    // The encoder's outputs move only when rows change sentences.
    if (!s.sources.reorder(rows)) return;
    s.enc = loom::take_rows(s.enc, rows);
    s.src_lengths = loom::take_rows(s.src_lengths, rows);
  }
  loom::Tensor last_attention(const loom::DecoderState& state) const override {
    return dynamic_cast<const State&>(state).attention;
  }
  std::int64_t vocab_size() const override { return o_.tgt_vocab; }
  std::int32_t eos_id() const override { return o_.eos; }
  std::int32_t unk_id() const override { return o_.unk; }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const loom::Tensor& tgt_in = batch.get("tgt_in");
    const loom::Tensor& tgt_out = batch.get("tgt_out");
    const std::int64_t B = tgt_in.dim(0), T = tgt_in.dim(1), H = o_.nhid;
    Encoded e = encode(g, batch);
    loom::Expr emb = dropout_(tgt_embedding_(g, time_major(tgt_in)));  // [T, B, E]
    loom::Expr top;                                                      // h~ [B, T, H]
    if (!feeds()) {
      loom::nn::PaddedRnn::State final;
      loom::Expr h = decoder_(g, emb, loom::Tensor(), loom::Tensor(), &e.state, &final);  // [T, B, H]
      loom::Expr q = loom::swap_axes(h, 0, 1);                                          // [B, T, H]
      top = o_.attention == Attention::kNone ? q : attend(g, q, e.outputs, e.src_lengths, nullptr);
    } else {
      loom::nn::PaddedRnn::State state = e.state;
      loom::Expr feed = g.constant(loom::Tensor::zeros(loom::Shape{B, H}));
      std::vector<loom::Expr> steps;
      for (std::int64_t t = 0; t < T; ++t) {
        feed = decode_step(g, loom::slice(emb, 0, t, t + 1), e.outputs, e.src_lengths, state, feed, nullptr);
        steps.push_back(loom::reshape(feed, loom::Shape{B, 1, H}));
      }
      top = steps.size() == 1 ? steps[0] : loom::concat(steps, 1);
    }
    loom::Expr flat = loom::reshape(dropout_(top), loom::Shape{B * T, H});
    loom::NllStats stats;
    loom::ModelOutput out;
    out.loss = loom::linear_log_softmax_nll(flat, g.param(output_weight()), g.param(*out_bias_), tgt_out,
                                            loom::kIgnoreTarget, &stats);
    out.loss_sum = stats.loss_sum;
    out.count = stats.count;
    return out;
  }

 private:
  struct State : loom::DecoderState {
    std::vector<loom::Tensor> h, c;  // decoder state per layer [R, H]
    loom::Tensor feed;               // the last h~ [R, H] (input feeding)
    loom::Tensor enc;                // encoder outputs [R, S, H]
    loom::Tensor src_lengths;        // [R]
    loom::Tensor attention;          // the last step's weights [R, S]
    loom::SourceRows sources;        // each row's sentence
    std::int64_t rows() const override { return enc.defined() ? enc.dim(0) : 0; }
  };
  struct Encoded {
    loom::Expr outputs;                 // [B, S, H]
    loom::Tensor src_lengths;           // [B]
    loom::nn::PaddedRnn::State state;   // the decoder's initial state, per layer [B, H]
  };

  bool feeds() const { return o_.input_feeding && o_.attention != Attention::kNone; }
  const loom::Parameter& output_weight() const { return o_.tie_weights ? *tgt_embedding_.weight() : *out_weight_; }

  Encoded encode(loom::Graph& g, const loom::Batch& batch) {
    const loom::Tensor& src = batch.get("src");
    Encoded e;
    e.src_lengths = batch.get("src_lengths");
    const std::int64_t B = src.dim(0), S = src.dim(1);
    if (!o_.use_source) {
      // No encoder: one zero "output" per row (which the decoder state's rows follow) and a zero
      // initial state.
      e.outputs = g.constant(loom::Tensor::zeros(loom::Shape{B, 1, o_.nhid}));
      for (int l = 0; l < o_.nlayers; ++l) {
        e.state.h.push_back(g.constant(loom::Tensor::zeros(loom::Shape{B, o_.nhid})));
        if (o_.cell == loom::CellType::kLstm) e.state.c.push_back(g.constant(loom::Tensor::zeros(loom::Shape{B, o_.nhid})));
      }
      return e;
    }
    loom::nn::PaddedRnn::State final;
    loom::Expr x = dropout_((*src_embedding_)(g, time_major(src)));
    loom::Expr h = (*encoder_)(g, x, e.src_lengths, length_mask(e.src_lengths, S), nullptr, &final);  // [S, B, H]
    e.outputs = loom::swap_axes(h, 0, 1);
    // Per layer: the final state, both directions side by side.
    const int D = encoder_->directions();
    for (int l = 0; l < o_.nlayers; ++l) {
      auto join = [&](const std::vector<loom::Expr>& v) {
        if (D == 1) return v[static_cast<std::size_t>(l)];
        return loom::concat({v[static_cast<std::size_t>(2 * l)], v[static_cast<std::size_t>(2 * l + 1)]}, 1);
      };
      e.state.h.push_back(join(final.h));
      if (!final.c.empty()) e.state.c.push_back(join(final.c));
    }
    return e;
  }

  // One decoder step for rows [R]: emb [1, R, E], `state` advanced in place; returns h~ [R, H]
  // (h with no attention). `feed` is the previous h~ with input feeding (undefined otherwise),
  // dropped out in training as the h~ that goes to the output layer is.
  loom::Expr decode_step(loom::Graph& g, const loom::Expr& emb, const loom::Expr& enc, const loom::Tensor& src_lengths,
                         loom::nn::PaddedRnn::State& state, const loom::Expr& feed, loom::Tensor* weights) {
    const std::int64_t R = emb.value().dim(1), H = o_.nhid;
    loom::Expr input = emb;
    if (feeds()) input = loom::concat({emb, loom::reshape(dropout_(feed), loom::Shape{1, R, H})}, 2);
    loom::nn::PaddedRnn::State next;
    loom::Expr h = decoder_(g, input, loom::Tensor(), loom::Tensor(), &state, &next);  // [1, R, H]
    state = next;
    loom::Expr q = loom::reshape(h, loom::Shape{R, 1, H});
    if (o_.attention == Attention::kNone) return loom::reshape(q, loom::Shape{R, H});
    return loom::reshape(attend(g, q, enc, src_lengths, weights), loom::Shape{R, H});
  }

  // Luong attention of queries q [B, T, H] over enc [B, S, H]: h~ [B, T, H]. `weights`, when
  // not null, receives the attention of the last query, [B, S].
  loom::Expr attend(loom::Graph& g, const loom::Expr& q, const loom::Expr& enc, const loom::Tensor& src_lengths,
                    loom::Tensor* weights) {
    const std::int64_t B = q.value().dim(0), T = q.value().dim(1), S = enc.value().dim(1), H = o_.nhid;
    loom::Expr scores;  // [B, T, S]
    if (o_.attention == Attention::kDot) {
      scores = loom::batched_matmul(q, enc, loom::Transpose::kNo, loom::Transpose::kYes);
    } else if (o_.attention == Attention::kGeneral) {
      // h^T W_a s for every pair: (q W_a) . enc^T, one batched product over the source.
      loom::Expr qw = loom::reshape(loom::matmul(loom::reshape(q, loom::Shape{B * T, H}), g.param(*attn_w_)),
                                    loom::Shape{B, T, H});
      scores = loom::batched_matmul(qw, enc, loom::Transpose::kNo, loom::Transpose::kYes);
    } else {
      // v^T tanh(W_q h_t + W_s s_j): W_a = [W_q W_s] split by columns, every (t, j) pair.
      auto parts = loom::split(g.param(*attn_w_), 1, {H, H});
      loom::Expr wq = loom::reshape(loom::matmul(loom::reshape(q, loom::Shape{B * T, H}), parts[0], loom::Transpose::kNo,
                                                 loom::Transpose::kYes),
                                    loom::Shape{B * T, H});
      loom::Expr ws = loom::reshape(loom::matmul(loom::reshape(enc, loom::Shape{B * S, H}), parts[1], loom::Transpose::kNo,
                                                 loom::Transpose::kYes),
                                    loom::Shape{B * S, H});
      loom::Tensor qi = loom::Tensor::empty(loom::Shape{B * T * S}, loom::DType::kInt32);
      loom::Tensor si = loom::Tensor::empty(loom::Shape{B * T * S}, loom::DType::kInt32);
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t j = 0; j < S; ++j) {
            qi.ids()[(b * T + t) * S + j] = static_cast<std::int32_t>(b * T + t);
            si.ids()[(b * T + t) * S + j] = static_cast<std::int32_t>(b * S + j);
          }
      loom::Expr mixed = loom::tanh(loom::add(loom::gather_rows(wq, qi), loom::gather_rows(ws, si)));  // [B*T*S, H]
      scores = loom::reshape(loom::matmul(mixed, g.param(*attn_v_), loom::Transpose::kNo, loom::Transpose::kYes),
                             loom::Shape{B, T, S});
    }
    loom::AttentionMask mask;
    mask.key_lengths = src_lengths;
    loom::Expr a = loom::reshape(loom::attention_softmax(loom::reshape(scores, loom::Shape{B, 1, T, S}), 1.0f, mask),
                                 loom::Shape{B, T, S});
    if (weights != nullptr) {
      loom::Tensor w = loom::Tensor::empty(loom::Shape{B, S});
      for (std::int64_t b = 0; b < B; ++b)
        std::copy_n(a.value().data() + (b * T + T - 1) * S, S, w.data() + b * S);
      *weights = w;
    }
    loom::Expr context = loom::batched_matmul(a, enc);  // [B, T, H]
    loom::Expr joined = loom::reshape(loom::concat({context, q}, 2), loom::Shape{B * T, 2 * H});
    return loom::reshape(loom::tanh(loom::linear(joined, g.param(*combine_), loom::Expr())), loom::Shape{B, T, H});
  }

  Options o_;
  std::optional<loom::nn::Embedding> src_embedding_;  // both absent without use_source
  std::optional<loom::nn::PaddedRnn> encoder_;
  loom::nn::Embedding tgt_embedding_;
  loom::nn::PaddedRnn decoder_;
  loom::nn::Dropout dropout_;
  loom::Parameter* attn_w_ = nullptr;
  loom::Parameter* attn_v_ = nullptr;
  loom::Parameter* combine_ = nullptr;
  loom::Parameter* out_weight_ = nullptr;
  loom::Parameter* out_bias_ = nullptr;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "rnn_seq2seq",
      "1.0",
      "LSTM or GRU encoder-decoder with Luong attention (none, dot, general, concat) and input feeding",
      {{"src_vocab", loom::ParamType::kComponent, "", "vocabulary of the source side", {"vocab"}},
       {"tgt_vocab", loom::ParamType::kComponent, "", "vocabulary of the target side (needs bos and eos)", {"vocab"}},
       {"cell", loom::ParamType::kString, "lstm", "recurrent cell", {"lstm", "gru"}},
       {"emsize", loom::ParamType::kInt, "256", "embedding size (both sides)", {}, 1},
       {"nhid", loom::ParamType::kInt, "256", "hidden units of the decoder and of the encoder (both directions together)", {}, 1},
       {"nlayers", loom::ParamType::kInt, "1", "recurrent layers of the encoder and of the decoder", {}, 1},
       {"bidirectional", loom::ParamType::kBool, "false", "a backward encoder direction too (each direction nhid / 2)"},
       {"attention", loom::ParamType::kString, "general", "score of Luong attention; none: the final state alone",
        {"none", "dot", "general", "concat"}},
       {"input_feeding", loom::ParamType::kBool, "true", "feed the last attentional state into the next step"},
       {"use_source", loom::ParamType::kBool, "true",
        "false: no encoder; the decoder is a language model of the target alone (needs attention none)"},
       {"tie_weights", loom::ParamType::kBool, "false", "share the decoder's embedding and output weights (emsize = nhid)"},
       {"dropout", loom::ParamType::kFloat, "0.2", "dropout on embeddings, between layers and before the output", {}, 0.0},
       {"init", loom::ParamType::kFloat, "0.1", "every parameter starts uniform in [-init, init]", {}, 0.0}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        const loom::Vocab& src = ctx.vocab("src_vocab");
        const loom::Vocab& tgt = ctx.vocab("tgt_vocab");
        o.src_vocab = static_cast<std::int64_t>(src.size());
        o.tgt_vocab = static_cast<std::int64_t>(tgt.size());
        if (tgt.bos_id() == loom::Vocab::kNone || tgt.eos_id() == loom::Vocab::kNone)
          p.fail("tgt_vocab", "names a vocabulary without bos and eos tokens, which decoding starts and ends with");
        o.bos = tgt.bos_id();
        o.eos = tgt.eos_id();
        o.unk = tgt.unk_id();
        o.cell = loom::nn::parse_cell(p.get_string("cell"));
        o.emsize = p.get_int("emsize");
        o.nhid = p.get_int("nhid");
        o.nlayers = static_cast<int>(p.get_int("nlayers"));
        o.bidirectional = p.get_bool("bidirectional");
        if (o.bidirectional && o.nhid % 2 != 0)
          p.fail("nhid", "must be even with bidirectional (each direction is nhid / 2 wide), got " + std::to_string(o.nhid));
        const std::string attention = p.get_string("attention");
        o.attention = attention == "none"  ? Attention::kNone
                      : attention == "dot" ? Attention::kDot
                      : attention == "concat" ? Attention::kConcat
                                              : Attention::kGeneral;
        o.input_feeding = p.get_bool("input_feeding");
        o.use_source = p.get_bool("use_source");
        if (!o.use_source && o.attention != Attention::kNone)
          p.fail("use_source", "false leaves nothing to attend to: set attention to none (it is " + attention + ")");
        o.tie_weights = p.get_bool("tie_weights");
        if (o.tie_weights && o.emsize != o.nhid)
          p.fail("tie_weights", "needs emsize (" + std::to_string(o.emsize) + ") equal to nhid (" + std::to_string(o.nhid) + ")");
        o.dropout = static_cast<float>(p.get_float("dropout"));
        if (o.dropout >= 1.0f) p.fail("dropout", "must be below 1, got " + p.get_string("dropout"));
        o.init = static_cast<float>(p.get_float("init"));
        return std::make_unique<RnnSeq2Seq>(o, ctx.seed());
      },
      "source S, target T: (S + T) steps of 2 G H (in + H) per layer, per target step attention (dot 4 S H + 3 S; general + 2 H^2; concat + 2 H^2 + 2 S H^2 / T + 2 S H), the combination 4 H^2 and the output 2 V H (H nhid, G gates, V target vocabulary)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
