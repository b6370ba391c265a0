// loom/dist.hpp in the world it is launched in: LOOM_TEST_WORLD_SIZE says how many ranks to
// expect (1 alone, 2 under mpirun, over shared memory or TCP). Sums, broadcasts and the
// equality check give the values worked out here from every rank's contribution.
#define BOOST_TEST_MODULE dist
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "loom/batch_layout.hpp"
#include "loom/dist.hpp"
#include "loom/errors.hpp"

namespace {

int expected_size() {
  const char* s = std::getenv("LOOM_TEST_WORLD_SIZE");
  return s ? std::atoi(s) : 1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_world_is_the_launchers) {
  BOOST_TEST(loom::dist::launched_by_mpi() == (expected_size() > 1));
  const auto& w = loom::dist::init();
  BOOST_TEST(w.size == expected_size());
  BOOST_TEST((w.rank >= 0 && w.rank < w.size));
  BOOST_TEST(w.mpi == (expected_size() > 1));
  BOOST_TEST(static_cast<int>(w.hosts.size()) == w.size);
  BOOST_TEST(!w.host.empty());
  BOOST_TEST(&loom::dist::world() == &w);
}

// Rank r contributes (r + 1) (i + 1) at i: the sum is (i + 1) W (W + 1) / 2, exact in float.
// 3,000,001 doubles exercise a long buffer.
BOOST_AUTO_TEST_CASE(allreduce_sums_every_ranks_values) {
  const auto& w = loom::dist::init();
  const double ranks = w.size * (w.size + 1) / 2.0;
  std::vector<float> f(1000);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>((w.rank + 1) * (i + 1));
  loom::dist::allreduce_sum(f.data(), static_cast<std::int64_t>(f.size()));
  for (std::size_t i = 0; i < f.size(); ++i) BOOST_TEST_REQUIRE(f[i] == static_cast<float>((i + 1) * ranks));
  std::vector<double> d(3000001);
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = (w.rank + 1) * 0.5 * static_cast<double>(i % 97);
  loom::dist::allreduce_sum(d.data(), static_cast<std::int64_t>(d.size()));
  for (std::size_t i = 0; i < d.size(); i += 1013) BOOST_TEST_REQUIRE(d[i] == ranks * 0.5 * static_cast<double>(i % 97));
  loom::dist::allreduce_sum(f.data(), 0);  // nothing to sum: no call, no hang
}

BOOST_AUTO_TEST_CASE(broadcast_and_equality) {
  const auto& w = loom::dist::init();
  std::string text = w.rank == 0 ? "the config of rank 0" : "rank " + std::to_string(w.rank) + "'s own, longer text";
  loom::dist::broadcast(text);
  BOOST_TEST(text == "the config of rank 0");
  BOOST_TEST(loom::dist::all_equal(0x5eedULL));
  BOOST_TEST(loom::dist::all_equal(static_cast<std::uint64_t>(w.rank)) == (w.size == 1));
  loom::dist::barrier();
}

// Shards of a classification batch (time-major ids and mask, batch-major lengths and labels)
// over 1 to 6 ranks: rows [r B / W, (r + 1) B / W), target_tokens the shard's lengths, and the
// shards' rows put back in rank order give the batch again. A translation batch's tokens are
// its targets that are not ignored.
BOOST_AUTO_TEST_CASE(shards_cut_every_tensor_along_its_batch_axis) {
  const std::int64_t T = 3, B = 5;
  loom::Batch batch;
  batch.tensors["ids"] = loom::Tensor::empty(loom::Shape{T, B}, loom::DType::kInt32);
  batch.tensors["mask"] = loom::Tensor::empty(loom::Shape{T, B});
  batch.tensors["lengths"] = loom::Tensor::from_ids(loom::Shape{B}, {3, 1, 2, 3, 2});
  batch.tensors["labels"] = loom::Tensor::from_ids(loom::Shape{B}, {0, 1, 1, 0, 1});
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t b = 0; b < B; ++b) {
      batch.tensors["ids"].ids()[t * B + b] = static_cast<std::int32_t>(10 * t + b);
      batch.tensors["mask"].data()[t * B + b] = t < batch.tensors["lengths"].ids()[b] ? 1.0f : 0.0f;
    }
  batch.references = {"a", "b", "c", "d", "e"};
  batch.target_tokens = 11;
  for (int W = 1; W <= 6; ++W) {
    std::int64_t next = 0, tokens = 0;
    for (int r = 0; r < W; ++r) {
      const loom::Batch s = loom::dist::shard(batch, r, W);
      const std::int64_t n = (r + 1) * B / W - r * B / W;
      BOOST_TEST_REQUIRE(s.tensors.at("ids").dim(1) == n);
      BOOST_TEST(loom::dist::rows(s) == n);
      BOOST_TEST_REQUIRE(s.tensors.at("labels").dim(0) == n);
      BOOST_TEST_REQUIRE(s.references.size() == static_cast<std::size_t>(n));
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t b = next + j;
        for (std::int64_t t = 0; t < T; ++t) {
          BOOST_TEST(s.tensors.at("ids").ids()[t * n + j] == 10 * t + b);
          BOOST_TEST(s.tensors.at("mask").data()[t * n + j] == batch.tensors["mask"].data()[t * B + b]);
        }
        BOOST_TEST(s.tensors.at("lengths").ids()[j] == batch.tensors["lengths"].ids()[b]);
        BOOST_TEST(s.tensors.at("labels").ids()[j] == batch.tensors["labels"].ids()[b]);
        BOOST_TEST(s.references[static_cast<std::size_t>(j)] == batch.references[static_cast<std::size_t>(b)]);
      }
      next += n;
      tokens += s.target_tokens;
    }
    BOOST_TEST(next == B);
    BOOST_TEST(tokens == 11, W << " ranks");
  }
  loom::Batch pairs;
  pairs.tensors["src"] = loom::Tensor::from_ids(loom::Shape{2, 2}, {4, 1, 5, 1});
  pairs.tensors["tgt_out"] = loom::Tensor::from_ids(loom::Shape{2, 3}, {6, 7, 1, 8, 1, loom::kIgnoreTarget});
  BOOST_TEST(loom::dist::shard(pairs, 0, 2).target_tokens == 3);
  BOOST_TEST(loom::dist::shard(pairs, 1, 2).target_tokens == 2);
  BOOST_TEST(loom::dist::shard(pairs, 1, 2).tensors.at("src").ids()[0] == 5);
  BOOST_TEST(loom::dist::rows(pairs) == 2);
  BOOST_TEST(loom::dist::rows(loom::dist::shard(pairs, 0, 3)) == 0);  // 2 rows among 3 ranks: rank 0 gets none
}

// Rank r contributes (r + 1) (i + 1): gathers, float broadcasts, extremes, and sums started in
// pieces that finish at wait_all().
BOOST_AUTO_TEST_CASE(gathers_broadcasts_and_started_sums) {
  const auto& w = loom::dist::init();
  const auto all = loom::dist::gather("rank " + std::to_string(w.rank) + std::string(static_cast<std::size_t>(w.rank), '+'));
  if (w.rank == 0) {
    BOOST_TEST_REQUIRE(static_cast<int>(all.size()) == w.size);
    for (int r = 0; r < w.size; ++r) BOOST_TEST(all[static_cast<std::size_t>(r)] == "rank " + std::to_string(r) + std::string(static_cast<std::size_t>(r), '+'));
  } else {
    BOOST_TEST(all.empty());
  }
  std::vector<float> v(5000, static_cast<float>(w.rank + 7));
  loom::dist::broadcast(v.data(), static_cast<std::int64_t>(v.size()));
  for (float x : v) BOOST_TEST_REQUIRE(x == 7.0f);
  BOOST_TEST(loom::dist::min_over_ranks(10 + w.rank) == 10);
  BOOST_TEST(loom::dist::max_over_ranks(10 + w.rank) == 10 + w.size - 1);
  std::vector<float> f(70000);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>((w.rank + 1) * (i % 1000 + 1));
  // Three pieces, started in the same order on every rank, with progress in between.
  loom::dist::start_allreduce_sum(f.data() + 40000, 30000);
  loom::dist::progress();
  loom::dist::start_allreduce_sum(f.data() + 10000, 30000);
  loom::dist::start_allreduce_sum(f.data(), 10000);
  loom::dist::progress();
  loom::dist::wait_all();
  const double ranks = w.size * (w.size + 1) / 2.0;
  for (std::size_t i = 0; i < f.size(); ++i) BOOST_TEST_REQUIRE(f[i] == static_cast<float>(ranks * (i % 1000 + 1)));
  loom::dist::wait_all();  // nothing started: returns at once
}

// Texts that differ on one rank: every rank throws a ConfigError naming the first line that
// differs, from the lowest rank that differs.
BOOST_AUTO_TEST_CASE(require_same_names_the_first_difference) {
  const auto& w = loom::dist::init();
  loom::dist::require_same("a: 1\nb: 2\n", "the text");  // equal everywhere
  if (w.size == 1) return;
  const std::string mine = w.rank == 1 ? "a: 1\nb: 3\n" : "a: 1\nb: 2\n";
  try {
    loom::dist::require_same(mine, "the text");
    BOOST_TEST(false, "require_same let a difference pass");
  } catch (const loom::ConfigError& e) {
    BOOST_TEST(std::string(e.what()) == "rank 1 (" + w.hosts[1] + "): the text differs from rank 0's at line 2: 'b: 3' here, 'b: 2' on rank 0");
  }
  BOOST_TEST(loom::dist::error_is_shared("rank 1 (" + w.hosts[1] + "): the text differs from rank 0's at line 2: 'b: 3' here, 'b: 2' on rank 0"));
  loom::dist::together([] {});  // handled: no longer shared
  BOOST_TEST(!loom::dist::error_is_shared("rank 1 (" + w.hosts[1] + "): the text differs from rank 0's at line 2: 'b: 3' here, 'b: 2' on rank 0"));
}

// An error on one rank reaches every rank at the agreement point, as the same type; work that
// succeeds everywhere passes.
BOOST_AUTO_TEST_CASE(together_fails_every_rank_with_the_lowest_failing_ranks_error) {
  const auto& w = loom::dist::init();
  int ran = 0;
  loom::dist::together([&] { ++ran; });
  BOOST_TEST(ran == 1);
  const int failing = w.size - 1;
  try {
    loom::dist::together([&] {
      if (w.rank == failing) throw loom::InputError("data.txt: line 3 is broken");
    });
    BOOST_TEST(false, "no error reached rank " << w.rank);
  } catch (const loom::InputError& e) {
    const std::string prefix = failing == 0 ? "" : "rank " + std::to_string(failing) + " (" + w.hosts[static_cast<std::size_t>(failing)] + "): ";
    BOOST_TEST(std::string(e.what()) == prefix + "data.txt: line 3 is broken");
    BOOST_TEST(loom::dist::error_is_shared(e.what()) == (w.size > 1));
  }
}
