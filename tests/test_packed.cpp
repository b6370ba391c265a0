#define BOOST_TEST_MODULE packed
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "loom/graph.hpp"
#include "loom/ops.hpp"
#include "loom/packed.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"

using loom::PackedMatrix;
using loom::Shape;
using loom::Tensor;
using loom::WeightPack;

namespace {

std::vector<float> random_values(std::int64_t n, std::uint64_t key) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    v[static_cast<std::size_t>(i)] = 2.0f * loom::random_uniform(key, static_cast<std::uint64_t>(i)) - 1.0f;
  return v;
}

// What the header promises: per output, fused multiply-adds over k in order from 0, then the
// bias.
float fma_chain(const float* x, const float* w, std::int64_t k, const float* bias) {
  float acc = 0.0f;
  for (std::int64_t i = 0; i < k; ++i) acc = std::fma(x[i], w[i], acc);
  return bias ? acc + *bias : acc;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

BOOST_AUTO_TEST_CASE(products_are_fused_multiply_add_chains_in_order) {
  BOOST_TEST_MESSAGE("kernel: " << PackedMatrix::kernel_name());
  // Shapes with every kind of tail: rows past a tile of 8 (or 6), columns past a panel of 16
  // and a tile of 32, odd inner sizes, rows further apart than the inner size.
  const std::int64_t shapes[][4] = {{1, 1, 1, 1},    {3, 15, 7, 7},     {8, 16, 64, 64}, {9, 17, 33, 40},
                                    {13, 33, 3, 3},  {20, 100, 257, 260}, {6, 48, 16, 16}, {7, 31, 128, 130}};
  for (const auto& s : shapes) {
    const std::int64_t m = s[0], n = s[1], k = s[2], ld = s[3];
    BOOST_TEST_CONTEXT("m " << m << " n " << n << " k " << k << " ldw " << ld) {
      const auto w = random_values(n * ld, 1), x = random_values(m * ld, 2), bias = random_values(n, 3);
      const PackedMatrix p(w.data(), n, k, ld);
      BOOST_TEST(p.outputs() == n);
      BOOST_TEST(p.inputs() == k);
      for (const bool with_bias : {false, true}) {
        // y rows wider than n, with a sentinel past each row that must stay.
        const std::int64_t ldy = n + 3;
        std::vector<float> y(static_cast<std::size_t>(m * ldy), -7.0f);
        p.multiply(x.data(), m, ld, with_bias ? bias.data() : nullptr, y.data(), ldy);
        std::int64_t exact = 0, close = 0;
        for (std::int64_t i = 0; i < m; ++i) {
          for (std::int64_t j = 0; j < n; ++j) {
            const float got = y[static_cast<std::size_t>(i * ldy + j)];
            exact += same_bits(got, fma_chain(&x[static_cast<std::size_t>(i * ld)], &w[static_cast<std::size_t>(j * ld)], k,
                                              with_bias ? &bias[static_cast<std::size_t>(j)] : nullptr));
            double want = with_bias ? bias[static_cast<std::size_t>(j)] : 0.0;
            for (std::int64_t q = 0; q < k; ++q)
              want += static_cast<double>(x[static_cast<std::size_t>(i * ld + q)]) * w[static_cast<std::size_t>(j * ld + q)];
            close += std::abs(got - want) <= 1e-5 * (1.0 + std::abs(want)) * std::sqrt(static_cast<double>(k));
          }
          for (std::int64_t j = n; j < ldy; ++j) BOOST_TEST(y[static_cast<std::size_t>(i * ldy + j)] == -7.0f);
        }
        BOOST_TEST(exact == m * n);
        BOOST_TEST(close == m * n);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_row_does_not_depend_on_the_others_nor_on_the_thread_count) {
  const std::int64_t m = 37, n = 700, k = 96;  // large enough to be split over threads
  const auto w = random_values(n * k, 4), x = random_values(m * k, 5), bias = random_values(n, 6);
  const PackedMatrix p(w.data(), n, k, k);
  std::vector<float> all(static_cast<std::size_t>(m * n)), one(static_cast<std::size_t>(n)), two(all.size());
  loom::set_threads(2);
  p.multiply(x.data(), m, k, bias.data(), all.data(), n);
  loom::set_threads(1);
  p.multiply(x.data(), m, k, bias.data(), two.data(), n);
  BOOST_TEST(std::memcmp(all.data(), two.data(), all.size() * sizeof(float)) == 0);
  for (std::int64_t i = 0; i < m; ++i) {
    p.multiply(x.data() + i * k, 1, k, bias.data(), one.data(), n);
    BOOST_TEST(std::memcmp(one.data(), all.data() + i * n, one.size() * sizeof(float)) == 0, "row " << i);
  }
  loom::set_threads(loom::hardware_threads());
}

BOOST_AUTO_TEST_CASE(a_pack_holds_matrices_of_its_arena_only) {
  Tensor arena = Tensor::empty(Shape{1000});
  const auto v = random_values(1000, 7);
  std::copy(v.begin(), v.end(), arena.data());
  WeightPack pack(arena);
  const PackedMatrix* a = pack.find(arena.data() + 100, 20, 10, 10);
  BOOST_REQUIRE(a != nullptr);
  BOOST_TEST(a->outputs() == 20);
  BOOST_TEST(pack.find(arena.data() + 100, 20, 10, 10) == a);  // packed once
  BOOST_TEST(pack.find(arena.data() + 100, 10, 20, 20) != a);   // the same place seen as another shape
  BOOST_TEST(pack.matrices() == 2);
  // Outside the arena (an activation), or running past its end: not packed.
  std::vector<float> elsewhere(200);
  BOOST_TEST(pack.find(elsewhere.data(), 10, 20, 20) == nullptr);
  BOOST_TEST(pack.find(arena.data() + 990, 2, 10, 10) == nullptr);
  BOOST_TEST(pack.matrices() == 2);
  WeightPack empty{Tensor()};
  BOOST_TEST(empty.find(arena.data(), 1, 1, 1) == nullptr);
}

BOOST_AUTO_TEST_CASE(linear_uses_the_pack_only_when_no_gradient_is_wanted) {
  const std::int64_t rows = 5, in = 24, out = 40;
  Tensor arena = Tensor::empty(Shape{out * in + out});
  const auto v = random_values(arena.numel(), 8);
  std::copy(v.begin(), v.end(), arena.data());
  Tensor weight = arena.slice_rows(0, out * in).view(Shape{out, in});
  Tensor bias = arena.slice_rows(out * in, out * in + out);
  Tensor x = Tensor::empty(Shape{rows, in});
  const auto xv = random_values(rows * in, 9);
  std::copy(xv.begin(), xv.end(), x.data());

  WeightPack pack(arena);
  loom::Graph plain(loom::Mode::kEval);
  const Tensor want = loom::linear(plain.constant(x), plain.constant(weight), plain.constant(bias)).value();
  loom::Graph packed(loom::Mode::kEval);
  packed.use_weight_pack(&pack);
  const Tensor got = loom::linear(packed.constant(x), packed.constant(weight), packed.constant(bias)).value();
  BOOST_TEST(pack.matrices() == 1);
  BOOST_REQUIRE(got.shape() == want.shape());
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    BOOST_TEST(std::abs(got.data()[i] - want.data()[i]) <= 1e-5f * (1.0f + std::abs(want.data()[i])));
    const std::int64_t r = i / out, j = i % out;
    BOOST_TEST(same_bits(got.data()[i], fma_chain(x.data() + r * in, weight.data() + j * in, in, bias.data() + j)));
  }
  // Where a gradient is wanted (an input that takes one), the product is the graph's own.
  loom::Graph training(loom::Mode::kTrain);
  training.use_weight_pack(&pack);
  WeightPack unused(arena);
  training.use_weight_pack(&unused);
  loom::Expr y = loom::linear(training.input(x), training.constant(weight), training.constant(bias));
  BOOST_TEST(y.requires_grad());
  BOOST_TEST(unused.matrices() == 0);
}
