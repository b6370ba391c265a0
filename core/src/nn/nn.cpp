#include "loom/nn.hpp"

#include <cmath>

#include "loom/errors.hpp"

namespace loom::nn {

Linear::Linear(Parameters& params, const std::string& name, std::int64_t in, std::int64_t out,
               bool bias, std::optional<Init> init) {
  Init i = init.value_or(Init::uniform(1.0f / std::sqrt(static_cast<float>(in))));
  weight_ = params.add(name + ".weight", Shape{out, in}, i);
  if (bias) bias_ = params.add(name + ".bias", Shape{out}, init ? Init::zeros() : i);
}

Expr Linear::operator()(Graph& g, const Expr& x) const {
  return linear(x, g.param(*weight_), bias_ ? g.param(*bias_) : Expr());
}

Embedding::Embedding(Parameters& params, const std::string& name, std::int64_t count,
                     std::int64_t dim, std::optional<Init> init) {
  weight_ = params.add(name + ".weight", Shape{count, dim}, init.value_or(Init::normal(1.0f)));
}

Expr Embedding::operator()(Graph& g, const Tensor& ids) const {
  return embedding(g.param(*weight_), ids);
}

CellType parse_cell(const std::string& name) {
  if (name == "lstm") return CellType::kLstm;
  if (name == "gru") return CellType::kGru;
  if (name == "rnn_tanh") return CellType::kRnnTanh;
  if (name == "rnn_relu") return CellType::kRnnRelu;
  throw ConfigError("unknown cell '" + name + "' (expected lstm, gru, rnn_tanh or rnn_relu)");
}

const char* cell_name(CellType cell) {
  switch (cell) {
    case CellType::kLstm: return "lstm";
    case CellType::kGru: return "gru";
    case CellType::kRnnTanh: return "rnn_tanh";
    default: return "rnn_relu";
  }
}

Rnn::Rnn(Parameters& params, const std::string& name, CellType cell, std::int64_t input,
         std::int64_t hidden, int layers, float dropout, std::optional<Init> init)
    : cell_(cell), hidden_(hidden), dropout_(dropout) {
  LOOM_ASSERT(layers >= 1, "an RNN needs at least one layer");
  Init i = init.value_or(Init::uniform(1.0f / std::sqrt(static_cast<float>(hidden))));
  std::int64_t gh = gate_count(cell) * hidden;
  for (int l = 0; l < layers; ++l) {
    std::string p = name + ".l" + std::to_string(l);
    std::int64_t in = l == 0 ? input : hidden;
    layers_.push_back({params.add(p + ".w_ih", Shape{gh, in}, i),
                       params.add(p + ".w_hh", Shape{gh, hidden}, i),
                       params.add(p + ".b_ih", Shape{gh}, i),
                       params.add(p + ".b_hh", Shape{gh}, i)});
  }
}

Expr Rnn::operator()(Graph& g, const Expr& x, RnnState* state) const {
  LOOM_ASSERT(x.value().rank() == 3, "Rnn input must be [T, B, in], got " + x.shape().str());
  const std::int64_t T = x.value().dim(0), B = x.value().dim(1), H = hidden_;
  const bool lstm = cell_ == CellType::kLstm;
  bool have_state = state != nullptr && !state->empty();
  if (have_state)
    LOOM_ASSERT(state->h.size() == layers_.size() && state->h[0].dim(0) == B,
                "carried RNN state does not match the batch");
  Expr input = x;
  std::vector<Tensor> h_out, c_out;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    if (l > 0) input = dropout(input, dropout_);
    std::int64_t in = input.value().dim(2);
    Expr flat = reshape(input, Shape{T * B, in});
    Expr proj = reshape(linear(flat, g.param(*layer.w_ih), g.param(*layer.b_ih)),
                        Shape{T, B, gate_count(cell_) * H});
    Expr h0 = g.constant(have_state ? state->h[l] : Tensor::zeros(Shape{B, H}));
    Expr c0 = lstm ? g.constant(have_state ? state->c[l] : Tensor::zeros(Shape{B, H})) : Expr();
    RecurrentOutputs r = recurrent_layer(cell_, proj, g.param(*layer.w_hh),
                                         g.param(*layer.b_hh), h0, c0);
    if (state != nullptr) {
      h_out.push_back(r.h_last.value().clone());
      if (lstm) c_out.push_back(r.c_last.value());
    }
    input = r.outputs;
  }
  if (state != nullptr) {
    state->h = std::move(h_out);
    state->c = std::move(c_out);
  }
  return input;
}

std::vector<Expr> Rnn::unrolled_top(Graph& g, const Expr& x) const {
  LOOM_ASSERT(x.value().rank() == 3, "Rnn input must be [T, B, in], got " + x.shape().str());
  const std::int64_t T = x.value().dim(0), B = x.value().dim(1), H = hidden_;
  const bool lstm = cell_ == CellType::kLstm;
  Expr input = x;
  std::vector<Expr> out;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    if (l > 0) input = dropout(input, dropout_);
    const std::int64_t in = input.value().dim(2);
    Expr proj = reshape(linear(reshape(input, Shape{T * B, in}), g.param(*layer.w_ih), g.param(*layer.b_ih)),
                        Shape{T, B, gate_count(cell_) * H});
    Expr h = g.constant(Tensor::zeros(Shape{B, H}));
    Expr c = lstm ? g.constant(Tensor::zeros(Shape{B, H})) : Expr();
    if (l + 1 < layers_.size()) {
      input = recurrent_layer(cell_, proj, g.param(*layer.w_hh), g.param(*layer.b_hh), h, c).outputs;
      continue;
    }
    for (std::int64_t t = 0; t < T; ++t) {
      RecurrentOutputs r =
          recurrent_layer(cell_, slice(proj, 0, t, t + 1), g.param(*layer.w_hh), g.param(*layer.b_hh), h, c);
      h = r.h_last;
      c = r.c_last;
      g.retain_grad(h);
      out.push_back(h);
    }
  }
  return out;
}

double Rnn::flops_per_step() const {
  double f = 0.0;
  for (const auto& l : layers_) f += 2.0 * static_cast<double>(l.w_ih->shape.numel() + l.w_hh->shape.numel());
  return f;
}

double PaddedRnn::flops_per_step() const {
  double f = 0.0;
  for (const auto& w : weights_) f += 2.0 * static_cast<double>(w.w_ih->shape.numel() + w.w_hh->shape.numel());
  return f;
}

PaddedRnn::PaddedRnn(Parameters& params, const std::string& name, CellType cell, std::int64_t input,
                     std::int64_t hidden, int layers, bool bidirectional, float dropout, Init init)
    : cell_(cell), hidden_(hidden), layers_(layers), directions_(bidirectional ? 2 : 1), dropout_(dropout) {
  const std::int64_t G = gate_count(cell);
  for (int l = 0; l < layers; ++l)
    for (int d = 0; d < directions_; ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      const std::int64_t in = l == 0 ? input : directions_ * hidden;
      weights_.push_back({params.add(name + ".weight_ih" + suffix, Shape{G * hidden, in}, init),
                          params.add(name + ".weight_hh" + suffix, Shape{G * hidden, hidden}, init),
                          params.add(name + ".bias_ih" + suffix, Shape{G * hidden}, init),
                          params.add(name + ".bias_hh" + suffix, Shape{G * hidden}, init)});
    }
}

Expr PaddedRnn::operator()(Graph& g, const Expr& x, const Tensor& lengths, const Tensor& mask, const State* initial,
                           State* final) const {
  LOOM_ASSERT(x.value().rank() == 3, "PaddedRnn input must be [T, B, in], got " + x.shape().str());
  LOOM_ASSERT(directions_ == 1 || lengths.defined(), "a bidirectional PaddedRnn needs the sequence lengths");
  const std::int64_t T = x.value().dim(0), B = x.value().dim(1), H = hidden_;
  const bool lstm = cell_ == CellType::kLstm;
  const bool given = initial != nullptr && !initial->h.empty();
  if (given)
    LOOM_ASSERT(static_cast<int>(initial->h.size()) == layers_ * directions_ && initial->h[0].value().dim(0) == B,
                "PaddedRnn: the initial state does not match the layers or the batch");
  if (final != nullptr) {
    final->h.clear();
    final->c.clear();
  }
  Expr input = x;
  for (int l = 0; l < layers_; ++l) {
    if (l > 0) input = dropout(input, dropout_);
    std::vector<Expr> outputs;
    for (int d = 0; d < directions_; ++d) {
      const std::size_t k = static_cast<std::size_t>(l * directions_ + d);
      const Weights& w = weights_[k];
      Expr in = d ? reverse_sequences(input, lengths) : input;
      const std::int64_t width = in.value().dim(2);
      Expr proj = reshape(linear(reshape(in, Shape{T * B, width}), g.param(*w.w_ih), g.param(*w.b_ih)),
                          Shape{T, B, w.w_ih->shape[0]});
      Expr h0 = given ? initial->h[k] : g.constant(Tensor::zeros(Shape{B, H}));
      Expr c0 = !lstm ? Expr() : given ? initial->c[k] : g.constant(Tensor::zeros(Shape{B, H}));
      RecurrentOutputs r = recurrent_layer(cell_, proj, g.param(*w.w_hh), g.param(*w.b_hh), h0, c0, mask);
      outputs.push_back(d ? reverse_sequences(r.outputs, lengths) : r.outputs);
      if (final != nullptr) {
        final->h.push_back(r.h_last);
        if (lstm) final->c.push_back(r.c_last);
      }
    }
    input = directions_ == 1 ? outputs[0] : concat(outputs, 2);
  }
  return input;
}

}  // namespace loom::nn

namespace loom::nn {

void save_rnn_state(const RnnState& state, StateDict& out) {
  for (std::size_t l = 0; l < state.h.size(); ++l) out.set_tensor("h." + std::to_string(l), state.h[l]);
  for (std::size_t l = 0; l < state.c.size(); ++l) out.set_tensor("c." + std::to_string(l), state.c[l]);
}

void load_rnn_state(RnnState& state, const StateDict& in, const Rnn& rnn) {
  state.reset();
  if (!in.has_tensor("h.0")) return;  // saved before the first batch: no state yet
  const bool lstm = rnn.cell() == CellType::kLstm;
  std::int64_t batch = -1;
  for (int l = 0; l < rnn.layers(); ++l) {
    for (const char* part : {"h.", "c."}) {
      if (part[0] == 'c' && !lstm) continue;
      std::string name = part + std::to_string(l);
      const Tensor& t = in.tensor(name);
      if (batch < 0) batch = t.rank() == 2 ? t.dim(0) : -1;
      if (t.rank() != 2 || t.dim(0) != batch || t.dim(1) != rnn.hidden())
        throw InputError(in.origin + ": carried state '" + name + "' is " + t.shape().str() + ", expected [" +
                         std::to_string(batch) + ", " + std::to_string(rnn.hidden()) + "]");
      (part[0] == 'h' ? state.h : state.c).push_back(t.clone());
    }
  }
  if (in.has_tensor("h." + std::to_string(rnn.layers())))
    throw InputError(in.origin + ": carried state has more layers than the model's " + std::to_string(rnn.layers()));
}

}  // namespace loom::nn
