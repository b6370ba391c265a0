#include "loom/graph.hpp"

#include <algorithm>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
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
  if (nodes_[e.id()].requires_grad) {
    nodes_[e.id()].grad = p.grad;
    param_uses_.push_back({e.id(), p.grad.data(), p.grad.numel()});
  }
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

float* Graph::grad_for_write(int id, bool& fresh) {
  Node& n = nodes_[id];
  fresh = !n.grad.defined();
  if (fresh) n.grad = Tensor::empty(n.value.shape());
  return n.grad.data();
}

void Graph::pass_grad(int from, int to) {
  Node& dst = nodes_[to];
  const Tensor& g = nodes_[from].grad;
  LOOM_ASSERT(g.numel() == dst.value.numel(), "pass_grad between nodes of different sizes");
  const float* s = g.data();
  if (!dst.grad.defined()) {
    // The first input to ask takes the buffer; a second one gets a copy, or two gradients
    // would share one buffer (and so does the input of a node whose gradient is retained).
    if (!nodes_[from].grad_given && !nodes_[from].retain_grad) {
      dst.grad = g.view(dst.value.shape());
      nodes_[from].grad_given = true;
    } else {
      dst.grad = Tensor::empty(dst.value.shape());
      std::copy_n(s, g.numel(), dst.grad.data());
    }
    return;
  }
  float* d = dst.grad.data();
  parallel_chunks(g.numel(), std::int64_t{1} << 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) d[i] += s[i];
  });
}

void Graph::retain_grad(const Expr& e) {
  LOOM_ASSERT(e.defined() && &e.graph() == this, "retain_grad of an expression of another graph");
  nodes_[e.id()].retain_grad = true;
}

void Graph::backward(const Expr& loss) { backward(loss, {}); }

void Graph::backward(const Expr& loss, const std::function<void(int)>& reached) {
  LOOM_ASSERT(loss.defined() && &loss.graph() == this, "backward of an expression of another graph");
  LOOM_ASSERT(loss.value().numel() == 1, "backward needs a scalar loss, got shape " +
                                             loss.value().shape().str());
  if (!nodes_[loss.id()].requires_grad) return;
  grad(loss.id()).fill(1.0f);
  for (int id = loss.id(); id >= 0; --id) {
    if (reached) reached(id);
    Node& n = nodes_[id];
    if (!n.backward || !n.grad.defined()) continue;
    n.backward(*this, id);
    // Nothing reads this gradient again; its memory serves the gradients still to come.
    if (!n.retain_grad) nodes_[id].grad = Tensor();
  }
}

void Graph::clear() {
  nodes_.clear();
  param_uses_.clear();
  random_calls_ = 0;
}

std::uint64_t Graph::next_random_key() { return random_bits(seed_, random_calls_++); }

void Graph::reseed(std::uint64_t seed) {
  seed_ = seed;
  random_calls_ = 0;
}

}  // namespace loom
