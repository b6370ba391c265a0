// The attention blocks (loom/attention.hpp): finite-difference gradients of every block and
// setting, incremental decoding against the full forward, and worked examples from the
// literature computed by hand.
#define BOOST_TEST_MODULE attention
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "loom/attention.hpp"
#include "loom/random.hpp"
#include "loom/testing/gradcheck.hpp"

using loom::Expr;
using loom::Graph;
using loom::Shape;
using loom::Tensor;
namespace nn = loom::nn;
namespace tt = boost::test_tools;

namespace {

Tensor random_tensor(const Shape& s, std::uint64_t key, float scale = 1.0f) {
  Tensor t = Tensor::empty(s);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = (2.0f * loom::random_uniform(key, static_cast<std::uint64_t>(i)) - 1.0f) * scale;
  return t;
}

Expr weighted_sum(const Expr& y) {
  Tensor w = random_tensor(y.shape(), 999);
  return loom::sum(loom::mul(y, y.graph().constant(w)));
}

// A block under test: declares its parameters, then maps an input (and a memory) to an output.
struct BlockCase {
  std::string name;
  std::function<std::function<Expr(Graph&, const Expr&, const Expr&)>(loom::Parameters&)> make;
  Shape x_shape{2, 3, 4};
  Shape memory_shape{};  // rank 0: no memory
  // Central-difference step. Whole layers sum float noise over more ops (fast exp and tanh,
  // two layer norms), so their small gradients are resolved better with a larger step; their
  // curvature is low enough for it.
  double step = 1e-2;
};

std::ostream& operator<<(std::ostream& os, const BlockCase& c) { return os << c.name; }

// Central differences over every input value and every parameter value.
loom::testing::GradCheck check_block(const BlockCase& c) {
  loom::Parameters params;
  auto f = c.make(params);
  params.finalize(5);
  // Random values everywhere, including parameters that start at zero or one.
  Tensor pv = random_tensor(params.values().shape(), 77, 0.5f);
  params.values().copy_from(pv);
  std::vector<Tensor> inputs{random_tensor(c.x_shape, 11)};
  if (c.memory_shape.rank() > 0) inputs.push_back(random_tensor(c.memory_shape, 12));
  auto loss = [&](bool with_grad, std::vector<Tensor>* grads) {
    Graph g(loom::Mode::kTrain, 3);
    std::vector<Expr> leaves;
    for (auto& t : inputs) leaves.push_back(g.input(t));
    Expr y = weighted_sum(f(g, leaves[0], leaves.size() > 1 ? leaves[1] : Expr()));
    if (with_grad) {
      params.zero_grad();
      g.backward(y);
      for (auto& l : leaves) grads->push_back(g.has_grad(l.id()) ? l.grad().clone() : Tensor::zeros(l.shape()));
      grads->push_back(params.grads().clone());
    }
    return static_cast<double>(y.value().item());
  };
  std::vector<Tensor> grads;
  const double value = loss(true, &grads);
  std::vector<loom::testing::detail::Entry> entries;
  const double step = c.step;
  auto perturb = [&](float* x, float analytic, const std::string& where) {
    const float saved = *x;
    *x = saved + static_cast<float>(step);
    const double plus = loss(false, nullptr);
    *x = saved - static_cast<float>(step);
    const double minus = loss(false, nullptr);
    *x = saved;
    entries.push_back({analytic, (plus - minus) / (2 * step), where});
  };
  for (std::size_t i = 0; i < inputs.size(); ++i)
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j)
      perturb(inputs[i].data() + j, grads[i].data()[j], "input " + std::to_string(i) + " [" + std::to_string(j) + "]");
  for (auto& p : params) {
    const std::int64_t offset = p.value.data() - params.values().data();
    for (std::int64_t j = 0; j < p.shape.numel(); ++j)
      perturb(p.value.data() + j, grads.back().data()[offset + j], p.name + " [" + std::to_string(j) + "]");
  }
  return loom::testing::detail::judge(entries, value, step);
}

nn::AttentionOptions attention(std::int64_t d, std::int64_t heads) {
  nn::AttentionOptions o;
  o.d_model = d;
  o.heads = heads;
  o.seed = 9;
  return o;
}

std::vector<BlockCase> block_cases() {
  std::vector<BlockCase> c;
  auto mha = [](std::string name, nn::AttentionOptions o, loom::AttentionMask mask) {
    return BlockCase{name, [o, mask](loom::Parameters& p) {
                       auto block = std::make_shared<nn::MultiHeadAttention>(p, "attn", o);
                       return [block, mask](Graph& g, const Expr& x, const Expr& m) { return (*block)(g, x, m, mask); };
                     }};
  };
  c.push_back(mha("mha_full", attention(4, 2), {}));
  c.push_back(mha("mha_causal", attention(4, 2), {true, {}}));
  c.push_back(mha("mha_padded", attention(4, 2), {false, Tensor::from_ids(Shape{2}, {3, 1})}));
  for (auto score : {loom::nn::Score::kDot, loom::nn::Score::kGeneral}) {
    auto o = attention(4, 2);
    o.score = score;
    c.push_back(mha(score == nn::Score::kDot ? "mha_dot" : "mha_general", o, {true, {}}));
  }
  for (auto merge : {nn::HeadMerge::kShuffle, nn::HeadMerge::kShift, nn::HeadMerge::kReweight}) {
    auto o = attention(6, 3);
    o.merge = merge;
    BlockCase b = mha(std::string("mha_") + nn::head_merge_name(merge), o, {true, {}});
    b.x_shape = Shape{2, 3, 6};
    c.push_back(b);
  }
  {
    // reweight without a causal mask: norms over the whole window
    auto o = attention(6, 3);
    o.merge = nn::HeadMerge::kReweight;
    BlockCase b = mha("mha_reweight_full_window", o, {});
    b.x_shape = Shape{2, 3, 6};
    c.push_back(b);
  }
  {
    auto o = attention(4, 2);
    o.relative_distance = 1;
    c.push_back(mha("mha_relative_bias", o, {true, {}}));
  }
  {
    BlockCase b = mha("mha_cross_padded", attention(4, 2), {false, Tensor::from_ids(Shape{2}, {2, 4})});
    b.memory_shape = Shape{2, 4, 4};
    c.push_back(b);
  }
  auto layer = [](std::string name, nn::NormPlacement norm, nn::Activation act, bool cross) {
    nn::TransformerLayerOptions o;
    o.d_model = 4;
    o.heads = 2;
    o.d_ff = 6;
    o.dropout = 0.0f;
    o.norm = norm;
    o.activation = act;
    o.cross = cross;
    BlockCase b{name, [o](loom::Parameters& p) {
                  auto block = std::make_shared<nn::TransformerLayer>(p, "layer", o);
                  return [block](Graph& g, const Expr& x, const Expr& m) {
                    return (*block)(g, x, {true, {}}, m, {false, Tensor::from_ids(Shape{2}, {3, 2})});
                  };
                }};
    if (cross) b.memory_shape = Shape{2, 3, 4};
    b.step = 2e-2;
    return b;
  };
  c.push_back(layer("layer_post_relu", nn::NormPlacement::kPost, nn::Activation::kRelu, false));
  c.push_back(layer("layer_pre_gelu", nn::NormPlacement::kPre, nn::Activation::kGelu, false));
  c.push_back(layer("layer_no_norm", nn::NormPlacement::kNone, nn::Activation::kGelu, false));
  c.push_back(layer("decoder_layer_post", nn::NormPlacement::kPost, nn::Activation::kGelu, true));
  c.push_back(layer("decoder_layer_pre", nn::NormPlacement::kPre, nn::Activation::kGelu, true));
  return c;
}

}  // namespace

BOOST_DATA_TEST_CASE(blocks_have_finite_difference_gradients, boost::unit_test::data::make(block_cases()), c) {
  auto r = check_block(c);
  BOOST_TEST(r.checked > 0);
  BOOST_TEST(r.largest > 0.05, c.name << ": the largest gradient is " << r.largest);
  BOOST_TEST(r.ok(2e-2), c.name << ": worst error " << r.worst_error << " at " << r.worst_at);
}

// Feeding positions one at a time with a key/value cache gives the rows of the full causal
// forward; so does a decoder layer whose memory keys are cached at the first step. Reordering
// the cache's batch rows reorders the continuation.
BOOST_AUTO_TEST_CASE(cached_decoding_matches_the_full_forward) {
  // Without a relative bias, cached self attention multiplies with the cache's buffers
  // (KvCache::scores and mix); with one, it reads contiguous copies of the keys and values.
  for (int case_index = 0; case_index < 4; ++case_index) {
    const bool cross = case_index % 2 == 1;
    const std::int64_t relative = case_index < 2 ? 2 : 0;
    BOOST_TEST_CONTEXT("cross " << cross << ", relative distance " << relative) {
    nn::TransformerLayerOptions o;
    o.d_model = 8;
    o.heads = 2;
    o.d_ff = 16;
    o.dropout = 0.0f;
    o.norm = nn::NormPlacement::kPre;
    o.activation = nn::Activation::kGelu;
    o.cross = cross;
    o.attention.relative_distance = relative;
    loom::Parameters params;
    nn::TransformerLayer layer(params, "layer", o);
    params.finalize(3);
    params.values().copy_from(random_tensor(params.values().shape(), 5, 0.4f));
    const std::int64_t B = 2, T = 5, D = 8;
    Tensor x = random_tensor(Shape{B, T, D}, 6), memory = random_tensor(Shape{B, 3, D}, 7);
    Graph full(loom::Mode::kEval);
    Tensor expect = layer(full, full.constant(x), {true, {}}, cross ? full.constant(memory) : Expr()).value();
    nn::LayerCache cache;
    for (std::int64_t t = 0; t < T; ++t) {
      Graph g(loom::Mode::kEval);
      Expr step = loom::slice(g.constant(x), 1, t, t + 1);
      Tensor y = layer(g, step, {true, {}}, cross ? g.constant(memory) : Expr(), {}, &cache).value();
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t d = 0; d < D; ++d)
          BOOST_TEST(y.data()[b * D + d] == expect.data()[(b * T + t) * D + d], tt::tolerance(1e-4f));
    }
    BOOST_TEST(cache.self.length() == T);
    const Tensor before = cache.self.keys().clone();
    cache.self.reorder(Tensor::from_ids(Shape{3}, {1, 1, 0}));
    cache.self.reorder(Tensor::from_ids(Shape{2}, {2, 0}));  // composes: rows 0, 1 of before
    BOOST_TEST(cache.self.rows() == 2);
    const Tensor k = cache.self.keys();  // a handle: the cache's own changes with the next reorder
    BOOST_TEST(k.dim(0) == 2);
    const std::int64_t row = before.numel() / B;
    for (std::int64_t i = 0; i < row; ++i) {
      BOOST_TEST(k.data()[i] == before.data()[i]);
      BOOST_TEST(k.data()[row + i] == before.data()[row + i]);
    }
    // A pending reorder and an append make one copy with the same contents as doing both.
    cache.self.reorder(Tensor::from_ids(Shape{3}, {1, 0, 1}));
    const Tensor fresh = random_tensor(Shape{3, k.dim(1), 1, k.dim(3)}, 9);
    cache.self.append(fresh, fresh);
    const Tensor& after = cache.self.keys();
    BOOST_TEST(after.dim(0) == 3);
    BOOST_TEST(after.dim(2) == T + 1);
    const std::int64_t H = after.dim(1), Dh = after.dim(3);
    for (std::int64_t n = 0; n < 3; ++n)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t d = 0; d < Dh; ++d) {
          const std::int64_t from = n == 1 ? 0 : 1;
          BOOST_TEST(after.data()[((n * H + h) * (T + 1) + 2) * Dh + d] == before.data()[((from * H + h) * T + 2) * Dh + d]);
          BOOST_TEST(after.data()[((n * H + h) * (T + 1) + T) * Dh + d] == fresh.data()[(n * H + h) * Dh + d]);
        }
    }
  }
}

// A memory's cache (assign) is never moved by a reorder: scores() and mix() look each row up,
// and equal batched_matmul over the rows it stands for, bit for bit; keys() copies them.
BOOST_AUTO_TEST_CASE(a_memory_cache_looks_rows_up) {
  const std::int64_t B = 3, H = 2, S = 5, Dh = 4;
  const Tensor k = random_tensor(Shape{B, H, S, Dh}, 1), v = random_tensor(Shape{B, H, S, Dh}, 2);
  nn::KvCache cache;
  cache.assign(k.clone(), v.clone());
  cache.reorder(Tensor::from_ids(Shape{4}, {2, 0, 0, 1}));
  cache.reorder(Tensor::from_ids(Shape{3}, {3, 1, 2}));  // composes: rows 1, 0, 0 of k
  BOOST_TEST(cache.rows() == 3);
  const Tensor rows = Tensor::from_ids(Shape{3}, {1, 0, 0});
  const Tensor kk = loom::take_rows(k, rows), vv = loom::take_rows(v, rows);
  Graph g(loom::Mode::kEval);
  for (const std::int64_t t : {2, 1}) {  // several queries: bit for bit; one: to rounding
    BOOST_TEST_CONTEXT(t << " queries") {
      const Tensor q = random_tensor(Shape{3, H, t, Dh}, 3);
      const Tensor want = loom::batched_matmul(g.constant(q), g.constant(kk), loom::Transpose::kNo, loom::Transpose::kYes).value();
      const Tensor got = cache.scores(q);
      BOOST_TEST((got.shape() == want.shape()));
      const Tensor w = random_tensor(Shape{3, H, t, S}, 4);
      const Tensor mixed = loom::batched_matmul(g.constant(w), g.constant(vv)).value();
      const Tensor my_mix = cache.mix(w);
      BOOST_TEST((my_mix.shape() == mixed.shape()));
      for (std::int64_t i = 0; i < got.numel(); ++i)
        BOOST_TEST(got.data()[i] == want.data()[i], tt::tolerance(t == 1 ? 1e-5f : 0.0f));
      for (std::int64_t i = 0; i < my_mix.numel(); ++i)
        BOOST_TEST(my_mix.data()[i] == mixed.data()[i], tt::tolerance(t == 1 ? 1e-5f : 0.0f));
    }
  }
  const Tensor& keys = cache.keys();
  BOOST_TEST((keys.shape() == kk.shape()));
  BOOST_TEST(std::equal(keys.data(), keys.data() + keys.numel(), kk.data()));
  BOOST_CHECK_THROW(cache.append(random_tensor(Shape{3, H, 1, Dh}, 5), random_tensor(Shape{3, H, 1, Dh}, 6)),
                    loom::AssertionError);
}

// The cache's buffers grow by doubling, appends fill them in place, and a reorder that keeps
// ascending rows moves them down in place; tensors handed out earlier never change. scores()
// and mix() equal batched_matmul over the contiguous keys and values, bit for bit.
BOOST_AUTO_TEST_CASE(kv_cache_grows_in_place_and_multiplies_where_rows_lie) {
  const std::int64_t B = 3, H = 2, Dh = 4;
  nn::KvCache cache;
  // The reference: what the cache should hold, rebuilt by plain concatenation.
  std::vector<std::vector<std::vector<float>>> expect(B, std::vector<std::vector<float>>(H));
  auto append = [&](std::int64_t t, std::uint64_t key) {
    const std::int64_t N = cache.empty() ? B : cache.rows();
    Tensor k = random_tensor(Shape{N, H, t, Dh}, key);
    cache.append(k, k);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t h = 0; h < H; ++h)
        expect[n][h].insert(expect[n][h].end(), k.data() + (n * H + h) * t * Dh, k.data() + (n * H + h + 1) * t * Dh);
  };
  auto reorder = [&](std::vector<std::int32_t> rows) {
    Tensor r = Tensor::empty(Shape{static_cast<std::int64_t>(rows.size())}, loom::DType::kInt32);
    std::copy(rows.begin(), rows.end(), r.ids());
    cache.reorder(r);
    std::vector<std::vector<std::vector<float>>> next;
    for (auto i : rows) next.push_back(expect[i]);
    expect = next;
  };
  auto check_contents = [&](const char* when) {
    const Tensor& k = cache.keys();
    const Tensor& v = cache.values();
    const std::int64_t N = static_cast<std::int64_t>(expect.size()), T = cache.length();
    BOOST_TEST_CONTEXT(when) {
      BOOST_TEST((k.shape() == Shape{N, H, T, Dh}));
      BOOST_TEST((v.shape() == k.shape()));
      bool same = true;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t h = 0; h < H; ++h)
          for (std::int64_t i = 0; i < T * Dh; ++i)
            same = same && k.data()[(n * H + h) * T * Dh + i] == expect[n][h][i] &&
                   v.data()[(n * H + h) * T * Dh + i] == expect[n][h][i];
      BOOST_TEST(same);
      // scores and mix against batched_matmul on the contiguous copies, bit for bit.
      Graph g(loom::Mode::kEval);
      Tensor q = random_tensor(Shape{N, H, 2, Dh}, 77);
      Tensor scores = loom::batched_matmul(g.constant(q), g.constant(k), loom::Transpose::kNo, loom::Transpose::kYes).value();
      Tensor mine = cache.scores(q);
      BOOST_TEST((mine.shape() == scores.shape()));
      BOOST_TEST(std::equal(mine.data(), mine.data() + mine.numel(), scores.data()));
      Tensor w = random_tensor(Shape{N, H, 2, T}, 78);
      Tensor mixed = loom::batched_matmul(g.constant(w), g.constant(v)).value();
      Tensor my_mix = cache.mix(w);
      BOOST_TEST((my_mix.shape() == mixed.shape()));
      BOOST_TEST(std::equal(my_mix.data(), my_mix.data() + my_mix.numel(), mixed.data()));
    }
  };
  append(3, 1);
  BOOST_TEST(cache.capacity() == 16);
  check_contents("first append");
  const Tensor held = cache.keys();  // a tensor handed out: it must never change
  const Tensor held_copy = held.clone();
  for (std::uint64_t step = 0; step < 13; ++step) append(1, 10 + step);
  BOOST_TEST(cache.length() == 16);
  BOOST_TEST(cache.capacity() == 16);  // filled in place
  check_contents("filled");
  append(1, 40);
  BOOST_TEST(cache.capacity() == 32);  // doubled
  check_contents("grown");
  reorder({0, 2});  // ascending, each row moves down or stays: in place
  append(1, 41);
  check_contents("dropped a row");
  reorder({1, 1, 0});  // repeats: a new buffer
  reorder({2, 0, 1});  // composes with the pending one
  append(2, 42);
  check_contents("repeated and permuted rows");
  reorder({1});
  check_contents("settled without an append");
  BOOST_TEST(std::equal(held.data(), held.data() + held.numel(), held_copy.data()));
  nn::KvCache copy = cache;  // a copy owns its contents
  append(1, 43);
  BOOST_TEST(copy.length() + 1 == cache.length());
  BOOST_TEST(!copy.keys().shares_storage_with(cache.keys()));
  // A full cache hands out its buffer itself; a reorder then must not move rows inside it.
  nn::KvCache full;
  Tensor k = random_tensor(Shape{2, H, 16, Dh}, 50);
  full.append(k, k);
  const Tensor alias = full.keys();
  BOOST_TEST(std::equal(alias.data(), alias.data() + alias.numel(), k.data()));
  full.reorder(Tensor::from_ids(Shape{1}, {1}));
  const Tensor& kept = full.keys();
  BOOST_TEST(std::equal(alias.data(), alias.data() + alias.numel(), k.data()));
  BOOST_TEST(std::equal(kept.data(), kept.data() + kept.numel(), k.data() + k.numel() / 2));
}

BOOST_AUTO_TEST_CASE(sinusoidal_positions_as_word_language_model) {
  Tensor pe = nn::sinusoidal_positions(0, 3, 4);
  // position 2, i = 1: angle 2 / 10000^(2/4) = 0.02
  BOOST_TEST(pe.data()[2 * 4 + 0] == std::sin(2.0), tt::tolerance(1e-6));
  BOOST_TEST(pe.data()[2 * 4 + 1] == std::cos(2.0), tt::tolerance(1e-6));
  BOOST_TEST(pe.data()[2 * 4 + 2] == std::sin(0.02), tt::tolerance(1e-5));
  BOOST_TEST(pe.data()[2 * 4 + 3] == std::cos(0.02), tt::tolerance(1e-6));
  Tensor shifted = nn::sinusoidal_positions(2, 1, 4);
  for (int i = 0; i < 4; ++i) BOOST_TEST(shifted.data()[i] == pe.data()[8 + i]);
}

BOOST_AUTO_TEST_CASE(head_orders_are_documented_permutations) {
  for (auto merge : {nn::HeadMerge::kConcat, nn::HeadMerge::kShift, nn::HeadMerge::kShuffle}) {
    loom::Parameters p;
    auto o = attention(8, 4);
    o.merge = merge;
    nn::MultiHeadAttention a(p, "attn", o);
    std::vector<std::int32_t> order = a.head_order(), sorted = order;
    std::sort(sorted.begin(), sorted.end());
    BOOST_TEST(sorted == (std::vector<std::int32_t>{0, 1, 2, 3}), tt::per_element());
    if (merge == nn::HeadMerge::kConcat) BOOST_TEST(order == sorted, tt::per_element());
    if (merge == nn::HeadMerge::kShift) BOOST_TEST(order == (std::vector<std::int32_t>{1, 2, 3, 0}), tt::per_element());
  }
  // A shuffle is fixed by the seed and the layer's name.
  loom::Parameters p1, p2;
  auto o = attention(8, 4);
  o.merge = nn::HeadMerge::kShuffle;
  nn::MultiHeadAttention a(p1, "layers.0.attn", o), b(p2, "layers.0.attn", o);
  BOOST_TEST(a.head_order() == b.head_order(), tt::per_element());
}

// ---- worked examples -----------------------------------------------------------------------

// z5 = w2 relu(w1 x + b1) + b2 at x = 1, w1 = 1/4, b1 = 0, w2 = 1/3, b2 = 0; z6 = z5 + x.
BOOST_AUTO_TEST_CASE(scalar_graph_with_and_without_skip) {
  for (bool skip : {false, true}) {
    Graph g(loom::Mode::kTrain);
    auto scalar = [&](float v) { return g.input(Tensor::from(Shape{1}, {v})); };
    Expr x = scalar(1.0f), w1 = scalar(0.25f), b1 = scalar(0.0f), w2 = scalar(1.0f / 3), b2 = scalar(0.0f);
    Expr z = loom::add(loom::mul(w2, loom::relu(loom::add(loom::mul(w1, x), b1))), b2);
    if (skip) z = loom::add(z, x);
    g.backward(loom::sum(z));
    BOOST_TEST(z.value().data()[0] == (skip ? 13.0 / 12 : 1.0 / 12), tt::tolerance(1e-6));
    BOOST_TEST(w2.grad().data()[0] == 0.25, tt::tolerance(1e-6));       // relu(w1 x + b1)
    BOOST_TEST(b2.grad().data()[0] == 1.0, tt::tolerance(1e-6));
    BOOST_TEST(w1.grad().data()[0] == 1.0 / 3, tt::tolerance(1e-6));    // w2 x
    BOOST_TEST(b1.grad().data()[0] == 1.0 / 3, tt::tolerance(1e-6));    // w2
    BOOST_TEST(x.grad().data()[0] == (skip ? 13.0 / 12 : 1.0 / 12), tt::tolerance(1e-6));  // w2 w1 (+ 1)
  }
}

// u^T relu(W x + b1) + b2 with x = (1, 1), W = [[-1, -1], [1, 1]], b1 = 0, u = (1, 1), b2 = 0.
BOOST_AUTO_TEST_CASE(vector_graph_by_hand) {
  Graph g(loom::Mode::kTrain);
  Expr x = g.input(Tensor::from(Shape{1, 2}, {1, 1}));
  Expr W = g.input(Tensor::from(Shape{2, 2}, {-1, -1, 1, 1}));
  Expr b1 = g.input(Tensor::from(Shape{2}, {0, 0}));
  Expr u = g.input(Tensor::from(Shape{1, 2}, {1, 1}));
  Expr b2 = g.input(Tensor::from(Shape{1}, {0}));
  Expr h = loom::relu(loom::linear(x, W, b1));  // (0, 2)
  Expr z = loom::add(loom::reshape(loom::matmul(h, u, loom::Transpose::kNo, loom::Transpose::kYes), Shape{1}), b2);
  g.backward(loom::sum(z));
  BOOST_TEST(z.value().data()[0] == 2.0f);
  auto values = [](const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); };
  BOOST_TEST(values(u.grad()) == (std::vector<float>{0, 2}), tt::per_element());
  BOOST_TEST(values(W.grad()) == (std::vector<float>{0, 0, 1, 1}), tt::per_element());
  BOOST_TEST(values(b1.grad()) == (std::vector<float>{0, 1}), tt::per_element());
  BOOST_TEST(values(x.grad()) == (std::vector<float>{1, 1}), tt::per_element());
  BOOST_TEST(b2.grad().data()[0] == 1.0f);
}

namespace {

// One attention layer with explicitly set projections: in_proj rows (queries, keys, values)
// and the output projection, biases zero.
struct SetAttention {
  SetAttention(nn::AttentionOptions o, const std::vector<float>& in_proj, const std::vector<float>& out_proj) {
    o.bias = false;
    attn.emplace(params, "attn", o);
    params.finalize(1);
    std::copy(in_proj.begin(), in_proj.end(), params.find("attn.in_proj_weight")->value.data());
    std::copy(out_proj.begin(), out_proj.end(), params.find("attn.out_proj.weight")->value.data());
  }
  loom::Parameters params;
  std::optional<nn::MultiHeadAttention> attn;
};

}  // namespace

// Two heads of width 1 over x1 = (1, 2), x2 = (-1, 3): head 1 sees the first coordinate
// (W1^Q = W1^K = W1^V = (1, 0)), head 2 the second; W = I; h_{h,t} = a_{h,t} + q_{h,t}.
// Head 1, t = 1: weights softmax(1, -1) on values (1, -1): a = tanh 1; t = 2: a = -tanh 1.
// Head 2, t = 1: softmax(4, 6) on (2, 3): a = 2 + sigmoid(2); t = 2: softmax(6, 9): 2 + sigmoid(3).
BOOST_AUTO_TEST_CASE(two_head_self_attention_by_hand) {
  auto o = attention(2, 2);
  o.score = nn::Score::kDot;
  SetAttention a(o, {1, 0, 0, 1, /*K*/ 1, 0, 0, 1, /*V*/ 1, 0, 0, 1}, {1, 0, 0, 1});
  Graph g(loom::Mode::kEval);
  Expr x = g.constant(Tensor::from(Shape{1, 2, 2}, {1, 2, -1, 3}));
  Tensor z = loom::add((*a.attn)(g, x, Expr(), {}), x).value();  // q = x here
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  const double expect[4] = {1 + std::tanh(1.0), 2 + 2 + sigmoid(2), -1 - std::tanh(1.0), 3 + 2 + sigmoid(3)};
  for (int i = 0; i < 4; ++i) BOOST_TEST(z.data()[i] == expect[i], tt::tolerance(1e-5));
}

// W_Q = W_K = 0 and W_V = 3I, with a relative bias of ln 2 at offset -1, 0 at offset +1 and
// -inf elsewhere: y_i = 3 (2/3 x_{i-1} + 1/3 x_{i+1}) = 2 x_{i-1} + x_{i+1}, a convolution with
// kernel (2, 0, 1). With a large query/key scale and a window of offsets -1 .. 1 the same
// layer takes the maximum over the window (max pooling).
BOOST_AUTO_TEST_CASE(relative_attention_as_convolution_and_max_pooling) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> xs{0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -2.0f};
  const std::int64_t T = 6;
  {
    auto o = attention(1, 1);
    o.score = nn::Score::kDot;
    o.relative_distance = 2;
    SetAttention a(o, {0, 0, 3}, {1});
    float* table = a.params.find("attn.relative_bias")->value.data();
    const float bias[5] = {-inf, std::log(2.0f), -inf, 0.0f, -inf};  // offsets -2 .. 2
    std::copy(bias, bias + 5, table);
    Graph g(loom::Mode::kEval);
    Tensor y = (*a.attn)(g, g.constant(Tensor::from(Shape{1, T, 1}, {0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -2.0f})), Expr(), {}).value();
    for (std::int64_t i = 1; i + 1 < T; ++i) BOOST_TEST(y.data()[i] == 2 * xs[i - 1] + xs[i + 1], tt::tolerance(1e-5f));
  }
  {
    // Inputs (x_t, 1): queries (c, 0) from the constant channel, keys and values (x_t, 0).
    const float c = 200.0f;
    auto o = attention(2, 1);
    o.score = nn::Score::kDot;
    o.relative_distance = 2;
    SetAttention a(o, {0, c, 0, 0, /*K*/ 1, 0, 0, 0, /*V*/ 1, 0, 0, 0}, {1, 0, 0, 1});
    const float bias[5] = {-inf, 0.0f, 0.0f, 0.0f, -inf};
    std::copy(bias, bias + 5, a.params.find("attn.relative_bias")->value.data());
    Tensor x = Tensor::zeros(Shape{1, T, 2});
    for (std::int64_t t = 0; t < T; ++t) {
      x.data()[2 * t] = xs[t];
      x.data()[2 * t + 1] = 1.0f;
    }
    Graph g(loom::Mode::kEval);
    Tensor y = (*a.attn)(g, g.constant(x), Expr(), {}).value();
    for (std::int64_t i = 1; i + 1 < T; ++i)
      BOOST_TEST(y.data()[2 * i] == std::max({xs[i - 1], xs[i], xs[i + 1]}), tt::tolerance(1e-4f));
  }
}

// For fixed attention weights A [T, T], self attention is a fully connected layer on the
// stacked positions: with X = [x_1 ... x_T] (D x T) and column-major vec,
// vec(Y) = (A kron I_D) vec(X). The layer's output against that product, entry by entry.
BOOST_AUTO_TEST_CASE(self_attention_as_a_fully_connected_layer) {
  const std::int64_t T = 4, D = 3;
  auto o = attention(D, 1);
  std::vector<float> in_proj(3 * D * D, 0.0f), out_proj(D * D, 0.0f);
  Tensor qk = random_tensor(Shape{2 * D * D}, 31);
  std::copy(qk.data(), qk.data() + 2 * D * D, in_proj.begin());
  for (std::int64_t i = 0; i < D; ++i) {
    in_proj[2 * D * D + i * D + i] = 1.0f;  // W_V = I
    out_proj[i * D + i] = 1.0f;             // W_O = I
  }
  SetAttention a(o, in_proj, out_proj);
  Tensor x = random_tensor(Shape{1, T, D}, 32);
  Graph g(loom::Mode::kEval);
  Expr weights;
  Tensor y = (*a.attn)(g, g.constant(x), Expr(), {true, {}}, nullptr, &weights).value();
  const float* A = weights.value().data();  // [1, 1, T, T]
  // (A kron I_D)[(i, d), (j, e)] = A[i, j] * [d == e]; vec(X)[(j, e)] = x_j[e] = x.data()[j * D + e].
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t d = 0; d < D; ++d) {
      double sum = 0.0;
      for (std::int64_t j = 0; j < T; ++j)
        for (std::int64_t e = 0; e < D; ++e) sum += A[i * T + j] * (d == e ? 1.0 : 0.0) * x.data()[j * D + e];
      BOOST_TEST(y.data()[i * D + d] == sum, tt::tolerance(1e-5));
    }
}
