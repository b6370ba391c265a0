#include "loom/graph.hpp"

#include "loom/errors.hpp"
#include "loom/parameters.hpp"
#include "loom/random.hpp"

namespace loom {

const Tensor& Expr::value() const { return graph_->value(id_); }
bool Expr::requires_grad() const { return graph_->requires_grad(id_); }
Tensor& Expr::grad() const { return graph_->grad(id_); }

Graph::Graph(Mode mode, std::uint64_t seed) : mode_(mode), seed_(seed) { nodes_.reserve(256); }

Expr Graph::constant(Tensor value) { return add_node(std::move(value), false, nullptr); }

Expr Graph::input(Tensor value) {
  return add_node(std::move(value), grad_enabled(), nullptr);
}

Expr Graph::param(const Parameter& p) {
  Expr e = add_node(p.value, grad_enabled() && p.trainable, nullptr);
  if (nodes_[e.id()].requires_grad) nodes_[e.id()].grad = p.grad;
  return e;
}

Expr Graph::add_node(Tensor value, bool requires_grad, Backward backward) {
  Node node;
  node.value = std::move(value);
  node.requires_grad = requires_grad && grad_enabled();
  if (node.requires_grad) node.backward = std::move(backward);
  nodes_.push_back(std::move(node));
  return Expr(this, static_cast<int>(nodes_.size()) - 1);
}

Tensor& Graph::grad(int id) {
  Node& n = nodes_[id];
  if (!n.grad.defined()) n.grad = Tensor::zeros(n.value.shape());
  return n.grad;
}

void Graph::backward(const Expr& loss) {
  LOOM_ASSERT(loss.defined() && &loss.graph() == this, "backward of an expression of another graph");
  LOOM_ASSERT(loss.value().numel() == 1, "backward needs a scalar loss, got shape " +
                                             loss.value().shape().str());
  if (!nodes_[loss.id()].requires_grad) return;
  grad(loss.id()).fill(1.0f);
  for (int id = loss.id(); id >= 0; --id) {
    Node& n = nodes_[id];
    if (n.backward && n.grad.defined()) n.backward(*this, id);
  }
}

void Graph::clear() {
  nodes_.clear();
  random_calls_ = 0;
}

std::uint64_t Graph::next_random_key() { return random_bits(seed_, random_calls_++); }

void Graph::reseed(std::uint64_t seed) {
  seed_ = seed;
  random_calls_ = 0;
}

}  // namespace loom
