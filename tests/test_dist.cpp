// loom/dist.hpp in the world it is launched in: LOOM_TEST_WORLD_SIZE says how many ranks to
// expect (1 alone, 2 under mpirun, over shared memory or TCP). Sums, broadcasts and the
// equality check give the values worked out here from every rank's contribution.
#define BOOST_TEST_MODULE dist
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "loom/dist.hpp"

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
