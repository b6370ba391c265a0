#pragma once
// Building blocks that model plugins compose. Each declares its parameters under a name
// prefix in the constructor (so "decoder" gives "decoder.weight", "decoder.bias") and builds
// graph nodes when called. Initialisation follows PyTorch's defaults unless an Init is given.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loom/checkpoint.hpp"
#include "loom/graph.hpp"
#include "loom/ops.hpp"
#include "loom/parameters.hpp"

namespace loom::nn {

// y = x W^T + b. x [..., in] -> [..., out]. Default init: uniform(+-1/sqrt(in)).
class Linear {
 public:
  Linear(Parameters& params, const std::string& name, std::int64_t in, std::int64_t out,
         bool bias = true, std::optional<Init> init = std::nullopt);
  Expr operator()(Graph& g, const Expr& x) const;
  Parameter* weight() const { return weight_; }
  Parameter* bias() const { return bias_; }

 private:
  Parameter* weight_;
  Parameter* bias_ = nullptr;
};

// ids int32 [...] -> [..., dim]. Default init: normal(0, 1), as torch.nn.Embedding.
class Embedding {
 public:
  Embedding(Parameters& params, const std::string& name, std::int64_t count, std::int64_t dim,
            std::optional<Init> init = std::nullopt);
  Expr operator()(Graph& g, const Tensor& ids) const;
  Parameter* weight() const { return weight_; }

 private:
  Parameter* weight_;
};

class Dropout {
 public:
  explicit Dropout(float p) : p_(p) {}
  Expr operator()(const Expr& x) const { return dropout(x, p_); }
  float p() const { return p_; }

 private:
  float p_;
};

CellType parse_cell(const std::string& name);  // lstm | gru | rnn_tanh | rnn_relu
const char* cell_name(CellType cell);

// Hidden state carried between calls: per layer h [B, H] (and c for LSTM). Values only: a
// carried state is detached from the graph that made it (truncated backpropagation).
struct RnnState {
  std::vector<Tensor> h;
  std::vector<Tensor> c;
  bool empty() const { return h.empty(); }
  void reset() {
    h.clear();
    c.clear();
  }
};

// Multi-layer recurrent network, time-major: x [T, B, in] -> [T, B, hidden].
// Parameters per layer l, PyTorch's layout and gate order: <name>.l<l>.w_ih [G*H, in],
// .w_hh [G*H, H], .b_ih [G*H], .b_hh [G*H]; default init uniform(+-1/sqrt(H)).
// Dropout `dropout` is applied to the outputs of every layer but the last, in training.
class Rnn {
 public:
  Rnn(Parameters& params, const std::string& name, CellType cell, std::int64_t input,
      std::int64_t hidden, int layers, float dropout, std::optional<Init> init = std::nullopt);

  // `state`: the initial state (zeros when empty or null); on return, when not null, it holds
  // the final state, detached.
  Expr operator()(Graph& g, const Expr& x, RnnState* state) const;
  // Gradients through time: the same network over x [T, B, in] from zeros, the lower layers
  // fused, the top layer a step at a time; returns the top layer's hidden state after every
  // step ([B, H] each, graph values whose gradients backward keeps), so that one backward from a
  // loss at the last step gives d loss / d h_t for every t.
  std::vector<Expr> unrolled_top(Graph& g, const Expr& x) const;

  CellType cell() const { return cell_; }
  std::int64_t hidden() const { return hidden_; }
  int layers() const { return static_cast<int>(layers_.size()); }
  // Forward FLOPs of one time step of one sequence: 2 per multiply-accumulate of every layer's
  // input and recurrent products (2 G H (in + H), G gates: 4 LSTM, 3 GRU, 1 RNN); the gates'
  // elementwise work is not counted (CountsFlops' conventions).
  double flops_per_step() const;

 private:
  struct Layer {
    Parameter *w_ih, *w_hh, *b_ih, *b_hh;
  };
  CellType cell_;
  std::int64_t hidden_;
  float dropout_;
  std::vector<Layer> layers_;
};

// A multi-layer recurrent network over padded batches, optionally bidirectional (a forward
// and a backward direction per layer, their outputs concatenated for the next layer, as
// PyTorch does), with nn.LSTM's parameter names: <name>.weight_ih_l0, .weight_hh_l0,
// .bias_ih_l0, .bias_hh_l0 (and _reverse). Padded steps keep the state (the fused layer's
// mask), so each final state is the sequence's after its last real step, as packed sequences
// give. The states are graph values: an encoder's final state can start a decoder and its
// gradient flows back. Dropout `dropout` between layers, in training.
class PaddedRnn {
 public:
  PaddedRnn(Parameters& params, const std::string& name, CellType cell, std::int64_t input, std::int64_t hidden,
            int layers, bool bidirectional, float dropout, Init init);
  struct State {
    std::vector<Expr> h, c;  // per layer and direction (index layer * directions + direction), [B, H]
  };
  // x [T, B, in] -> outputs [T, B, directions * H]. `lengths` int32 [B] and `mask` float [T, B]
  // mark the real steps (both undefined: every step is real; a bidirectional network needs
  // them). `initial` (null or empty: zeros); `final`, when not null, receives the last states.
  Expr operator()(Graph& g, const Expr& x, const Tensor& lengths, const Tensor& mask, const State* initial = nullptr,
                  State* final = nullptr) const;

  CellType cell() const { return cell_; }
  std::int64_t hidden() const { return hidden_; }
  int layers() const { return layers_; }
  int directions() const { return directions_; }
  // Forward FLOPs of one time step of one sequence, every layer and direction (as Rnn's).
  double flops_per_step() const;

 private:
  struct Weights {
    Parameter *w_ih, *w_hh, *b_ih, *b_hh;
  };
  CellType cell_;
  std::int64_t hidden_;
  int layers_, directions_;
  float dropout_;
  std::vector<Weights> weights_;
};

// Carried state in checkpoints: tensors "h.<layer>" and, for LSTMs, "c.<layer>".
// load_rnn_state checks layer count, hidden size and cell against `rnn` (InputError).
void save_rnn_state(const RnnState& state, StateDict& out);
void load_rnn_state(RnnState& state, const StateDict& in, const Rnn& rnn);

}  // namespace loom::nn
