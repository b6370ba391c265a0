// models/rnn_lm: the recurrent language model of PyTorch's word_language_model:
//   ids [T, B] -> embedding [T, B, E] -> dropout -> RNN (lstm | gru | rnn_tanh | rnn_relu)
//   -> dropout -> linear to the vocabulary -> log-softmax + NLL against targets [T, B].
// As a LanguageModel it also gives next-token log-probabilities, for sampling and scoring.
// The hidden state is carried from batch to batch, detached (truncated backpropagation
// through time), and reset at the start of every split. The output layer and the loss are
// one fused op, so the logits and their gradient share one buffer.
#include <cmath>

#include "loom/nn.hpp"
#include "loom/plugin.hpp"

namespace {

struct RnnLmOptions {
  loom::CellType cell;
  std::int64_t vocab, emsize, nhid;
  int nlayers;
  float dropout, init_range, rnn_init_range;
  bool tie_weights;
};

class RnnLm : public loom::Model,
              public loom::Stateful,
              public loom::LanguageModel,
              public loom::TorchExport,
              public loom::CountsFlops,
              public loom::ShowsGradientThroughTime {
 public:
  RnnLm(const RnnLmOptions& o, std::uint64_t seed)
      : encoder_(parameters_, "encoder", o.vocab, o.emsize, loom::Init::uniform(o.init_range)),
        rnn_(parameters_, "rnn", o.cell, o.emsize, o.nhid, o.nlayers, o.dropout,
             o.rnn_init_range > 0 ? std::optional<loom::Init>(loom::Init::uniform(o.rnn_init_range))
                                  : std::nullopt),
        dropout_(o.dropout) {
    if (!o.tie_weights)
      decoder_weight_ = parameters_.add("decoder.weight", loom::Shape{o.vocab, o.nhid},
                                        loom::Init::uniform(o.init_range));
    else
      decoder_weight_ = encoder_.weight();  // "Using the Output Embedding" (Press & Wolf 2016)
    decoder_bias_ = parameters_.add("decoder.bias", loom::Shape{o.vocab}, loom::Init::zeros());
    parameters_.finalize(seed);
  }

  void reset_state() override { state_.reset(); }

  loom::Tensor next_log_probs(loom::Graph& g, const loom::Tensor& ids) override {
    const std::int64_t T = ids.dim(0), B = ids.dim(1);
    if (!state_.empty() && state_.h[0].dim(0) != B) state_.reset();
    loom::Expr h = rnn_(g, encoder_(g, ids), &state_);
    loom::Expr flat = loom::reshape(h, loom::Shape{T * B, rnn_.hidden()});
    loom::Tensor out = loom::linear(flat, g.param(*decoder_weight_), g.param(*decoder_bias_)).value().clone();
    loom::log_softmax_rows(out);
    return out;
  }
  std::int64_t vocab_size() const override { return decoder_bias_->shape[0]; }

  // CountsFlops: per token, the recurrent layers' step (nn::Rnn::flops_per_step: 2 G H (in + H)
  // per layer) and the output layer's 2 V H; a window of T tokens costs T times that (the
  // carried state makes every token's cost the same). Non-embedding: all but encoder.weight.
  double flops_per_token(std::int64_t) const override {
    return rnn_.flops_per_step() + 2.0 * static_cast<double>(vocab_size()) * static_cast<double>(rnn_.hidden());
  }
  double forward_flops(const loom::Batch& batch) const override {
    return static_cast<double>(batch.get("ids").numel()) * flops_per_token(1);
  }
  std::int64_t non_embedding_parameters() const override { return parameters_.count_except({"encoder.weight"}); }

  // ---- ShowsGradientThroughTime: the window through nn::Rnn::unrolled_top, the loss of its
  // last row of targets (summed over columns), one backward.
  std::string recurrent_cell() const override { return loom::nn::cell_name(rnn_.cell()); }
  std::vector<double> gradient_through_time(const loom::Batch& window) override {
    const loom::Tensor& ids = window.get("ids");
    const loom::Tensor& targets = window.get("targets");
    const std::int64_t T = ids.dim(0), B = ids.dim(1), H = rnn_.hidden();
    const loom::Tensor saved = parameters_.grads().clone();
    loom::Graph g(loom::Mode::kEval);
    g.record_gradients();
    std::vector<loom::Expr> h = rnn_.unrolled_top(g, encoder_(g, ids));
    loom::Tensor last = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
    for (std::int64_t b = 0; b < B; ++b) last.ids()[b] = targets.ids()[(T - 1) * B + b];
    loom::NllStats stats;
    loom::Expr mean = loom::linear_log_softmax_nll(h.back(), g.param(*decoder_weight_), g.param(*decoder_bias_), last,
                                                   -1, &stats);
    g.backward(loom::scale(mean, static_cast<float>(stats.count)));
    std::vector<double> norms;
    for (const auto& e : h) {
      const float* d = e.grad().data();
      double sum = 0.0;
      for (std::int64_t b = 0; b < B; ++b) {
        double sq = 0.0;
        for (std::int64_t k = 0; k < H; ++k) sq += static_cast<double>(d[b * H + k]) * d[b * H + k];
        sum += std::sqrt(sq);
      }
      norms.push_back(sum / static_cast<double>(B));
    }
    parameters_.grads().copy_from(saved);
    return norms;
  }

  void save_state(loom::StateDict& out) const override { loom::nn::save_rnn_state(state_, out); }
  void load_state(const loom::StateDict& in) override { loom::nn::load_rnn_state(state_, in, rnn_); }

  // word_language_model's RNNModel: encoder, rnn (nn.LSTM / nn.GRU / nn.RNN, the same gate
  // order), decoder; a tied decoder weight is written as its own copy.
  std::string torch_module() const override { return "word_language_model.RNNModel"; }
  std::vector<loom::NamedTensor> torch_tensors() const override {
    std::vector<loom::NamedTensor> out;
    const std::vector<std::pair<std::string, std::string>> rnn_names = {
        {".w_ih", "weight_ih_l"}, {".w_hh", "weight_hh_l"}, {".b_ih", "bias_ih_l"}, {".b_hh", "bias_hh_l"}};
    for (const auto& p : parameters_) {
      std::string name = p.name;
      if (name.rfind("rnn.l", 0) == 0) {  // rnn.l<k>.w_ih -> rnn.weight_ih_l<k>
        const auto dot = name.find('.', 5);
        const std::string layer = name.substr(5, dot - 5), suffix = name.substr(dot);
        for (const auto& [from, to] : rnn_names)
          if (suffix == from) name = "rnn." + to + layer;
      }
      out.push_back({name, p.value.clone()});
    }
    if (decoder_weight_ == encoder_.weight()) out.push_back({"decoder.weight", decoder_weight_->value.clone()});
    return out;
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const loom::Tensor& ids = batch.get("ids");
    const loom::Tensor& targets = batch.get("targets");
    const std::int64_t T = ids.dim(0), B = ids.dim(1);
    if (!state_.empty() && state_.h[0].dim(0) != B) state_.reset();
    loom::Expr x = dropout_(encoder_(g, ids));
    loom::Expr h = dropout_(rnn_(g, x, &state_));
    loom::Expr flat = loom::reshape(h, loom::Shape{T * B, rnn_.hidden()});
    loom::NllStats stats;
    loom::ModelOutput out;
    out.loss = loom::linear_log_softmax_nll(flat, g.param(*decoder_weight_), g.param(*decoder_bias_),
                                            targets, -1, &stats);
    out.loss_sum = stats.loss_sum;
    out.count = stats.count;
    return out;
  }

 private:
  loom::nn::Embedding encoder_;
  loom::nn::Rnn rnn_;
  loom::nn::Dropout dropout_;
  loom::Parameter* decoder_weight_;
  loom::Parameter* decoder_bias_;
  loom::nn::RnnState state_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "rnn_lm",
      "1.0",
      "recurrent language model (LSTM, GRU or plain RNN) with truncated backpropagation",
      {{"vocab", loom::ParamType::kComponent, "", "vocabulary of inputs and outputs", {"vocab"}},
       {"cell", loom::ParamType::kString, "lstm", "recurrent cell", {"lstm", "gru", "rnn_tanh", "rnn_relu"}},
       {"emsize", loom::ParamType::kInt, "200", "embedding size", {}, 1},
       {"nhid", loom::ParamType::kInt, "200", "hidden units per layer", {}, 1},
       {"nlayers", loom::ParamType::kInt, "2", "recurrent layers", {}, 1},
       {"dropout", loom::ParamType::kFloat, "0.2", "dropout on embeddings, between layers and on outputs", {}, 0.0},
       {"tie_weights", loom::ParamType::kBool, "false", "share the embedding and output weights (needs emsize = nhid)"},
       {"init_range", loom::ParamType::kFloat, "0.1", "embedding and output weights start uniform in [-r, r]", {}, 0.0},
       {"rnn_init_range", loom::ParamType::kFloat, "0", "recurrent weights start uniform in [-r, r] (0: PyTorch's 1/sqrt(nhid))", {}, 0.0}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        RnnLmOptions o;
        o.cell = loom::nn::parse_cell(p.get_string("cell"));
        o.vocab = static_cast<std::int64_t>(ctx.vocab("vocab").size());
        o.emsize = p.get_int("emsize");
        o.nhid = p.get_int("nhid");
        o.nlayers = static_cast<int>(p.get_int("nlayers"));
        o.dropout = static_cast<float>(p.get_float("dropout"));
        if (o.dropout >= 1.0f) p.fail("dropout", "must be below 1, got " + p.get_string("dropout"));
        o.init_range = static_cast<float>(p.get_float("init_range"));
        o.rnn_init_range = static_cast<float>(p.get_float("rnn_init_range"));
        o.tie_weights = p.get_bool("tie_weights");
        if (o.tie_weights && o.emsize != o.nhid)
          p.fail("tie_weights", "needs emsize (" + std::to_string(o.emsize) + ") equal to nhid (" +
                                    std::to_string(o.nhid) + ")");
        return std::make_unique<RnnLm>(o, ctx.seed());
      },
      "per token: 2 G H (in + H) per layer + 2 V H (H nhid, G gates: LSTM 4, GRU 3, RNN 1; in emsize for the first layer, H after; V vocabulary)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
