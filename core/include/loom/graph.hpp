#pragma once
// Reverse-mode automatic differentiation over a tape built for one training step.
//
// A Graph owns its nodes; an Expr is a cheap handle (graph, index) to one of them. Ops (see
// ops.hpp) compute their value when called and record a backward function. backward(loss)
// walks the tape in reverse; every backward function ADDS into its inputs' gradients. clear()
// drops the tape (keeping its capacity) so the next step reuses it. A Graph is used by one
// thread at a time; ops may parallelise internally.
//
// Memory: once a node's backward has run, nothing reads its gradient again, so backward()
// frees it (leaves keep theirs: parameters, inputs, and nodes marked with retain_grad()). A
// backward function that writes its input's whole gradient in one pass asks grad_for_write():
// a first contribution then assigns into an uninitialised buffer instead of zeroing one and
// adding, and pass_grad() hands a node's gradient to its input without copying at all (the
// gradient of reshape, add, dropout-free residual paths).
#include <cstdint>
#include <functional>
#include <vector>

#include "loom/tensor.hpp"

namespace loom {

class Graph;
struct Parameter;
class WeightPack;

class Expr {
 public:
  Expr() = default;
  Expr(Graph* graph, int id) : graph_(graph), id_(id) {}

  bool defined() const { return graph_ != nullptr; }
  Graph& graph() const { return *graph_; }
  int id() const { return id_; }
  const Tensor& value() const;
  const Shape& shape() const { return value().shape(); }
  bool requires_grad() const;
  // The gradient accumulated so far (allocated as zeros on first use).
  Tensor& grad() const;

 private:
  Graph* graph_ = nullptr;
  int id_ = -1;
};

enum class Mode { kTrain, kEval };

class Graph {
 public:
  // A backward function reads the node's gradient and adds into its inputs' gradients.
  using Backward = std::function<void(Graph&, int self)>;

  explicit Graph(Mode mode = Mode::kTrain, std::uint64_t seed = 0);

  Mode mode() const { return mode_; }
  bool training() const { return mode_ == Mode::kTrain; }
  // Gradients are recorded in training mode, and in evaluation mode after record_gradients()
  // (gradient diagnostics: the model's evaluation behaviour, no dropout, with a backward).
  bool grad_enabled() const { return mode_ == Mode::kTrain || record_gradients_; }
  void record_gradients() { record_gradients_ = true; }

  // A value that needs no gradient (ids, masks, carried state).
  Expr constant(Tensor value);
  // A leaf whose gradient is wanted (tests, gradient checks).
  Expr input(Tensor value);
  // A model parameter: its gradient accumulates straight into the parameter's gradient.
  Expr param(const Parameter& p);
  // The node an op creates; `backward` is dropped unless some input requires a gradient.
  Expr add_node(Tensor value, bool requires_grad, Backward backward);

  // d loss / d loss = 1; loss must have one element.
  void backward(const Expr& loss);
  // The same, calling reached(id) before node `id`'s backward runs, for every id from the
  // loss's down to 0. By then the gradient of a parameter is complete when each of its uses
  // (param() nodes) has a number >= id: what flows into a node comes from nodes made after it.
  // Data-parallel training starts summing such gradients over the ranks while the backward
  // goes on.
  void backward(const Expr& loss, const std::function<void(int)>& reached);
  // Every param() node that takes a gradient: its number and where its gradient is (a view
  // into the parameters' gradient arena).
  struct ParamUse {
    int node;
    const float* grad;
    std::int64_t size;
  };
  const std::vector<ParamUse>& param_uses() const { return param_uses_; }
  // Drops every node; keeps capacity. Parameters' gradients are untouched.
  void clear();

  int size() const { return static_cast<int>(nodes_.size()); }
  const Tensor& value(int id) const { return nodes_[id].value; }
  bool requires_grad(int id) const { return nodes_[id].requires_grad; }
  // Gradient of node `id`, allocated as zeros if it has none yet.
  Tensor& grad(int id);
  bool has_grad(int id) const { return nodes_[id].grad.defined(); }
  // Node `id`'s gradient buffer for a caller that writes every element of it: `fresh` says
  // whether the buffer is new and uninitialised (assign) or holds contributions (add).
  float* grad_for_write(int id, bool& fresh);
  // Adds the gradient of node `from` (the node whose backward is running) into node `to`'s,
  // which has as many elements: if `to` has no gradient yet it takes `from`'s buffer (no copy).
  // `from`'s gradient must not be written afterwards; reading it is fine.
  void pass_grad(int from, int to);
  // Keeps the gradient of an intermediate node after backward (diagnostics, tests).
  void retain_grad(const Expr& e);

  // Weights packed for products with few rows (loom/packed.hpp): linear() multiplies with the
  // packed form of a weight found in `pack` when no gradient is wanted. The pack is not owned;
  // null (the default) turns this off. Kept by clear().
  void use_weight_pack(WeightPack* pack) { weight_pack_ = pack; }
  WeightPack* weight_pack() const { return weight_pack_; }

  // A fresh random stream for an op (dropout): depends on the graph's seed and the
  // op's position on the tape, so a step is reproducible.
  std::uint64_t next_random_key();
  void reseed(std::uint64_t seed);

 private:
  struct Node {
    Tensor value;
    Tensor grad;
    bool requires_grad = false;
    bool retain_grad = false;
    bool grad_given = false;  // pass_grad handed this gradient's buffer to an input
    Backward backward;
  };

  Mode mode_;
  bool record_gradients_ = false;
  std::uint64_t seed_;
  std::uint64_t random_calls_ = 0;
  std::vector<Node> nodes_;
  std::vector<ParamUse> param_uses_;
  WeightPack* weight_pack_ = nullptr;
};

}  // namespace loom
