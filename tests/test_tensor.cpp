#define BOOST_TEST_MODULE tensor
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "loom/errors.hpp"
#include "loom/parameters.hpp"
#include "loom/tensor.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::Shape;
using loom::Tensor;

BOOST_AUTO_TEST_CASE(storage_is_aligned_and_views_share_it) {
  Tensor t = Tensor::from(Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0u);
  Tensor rows = t.slice_rows(1, 3);
  BOOST_TEST(rows.shape().str() == "[2, 2]");
  BOOST_TEST(rows.data()[0] == 3.0f);
  rows.data()[0] = 30.0f;
  BOOST_TEST(t.data()[2] == 30.0f);
  Tensor v = t.view(Shape{6});
  BOOST_TEST(v.shares_storage_with(t));
  Tensor c = t.clone();
  c.data()[0] = -1.0f;
  BOOST_TEST(t.data()[0] == 1.0f);
  BOOST_CHECK_THROW(t.view(Shape{4}), loom::AssertionError);
  BOOST_CHECK_THROW(t.ids(), loom::AssertionError);
}

BOOST_AUTO_TEST_CASE(pool_reuses_freed_blocks) {
  loom::release_cached_storage();
  const float* first;
  {
    Tensor big = Tensor::empty(Shape{1 << 20});
    first = big.data();
  }
  BOOST_TEST(loom::cached_storage_bytes() >= (4u << 20));
  Tensor again = Tensor::empty(Shape{1 << 20});
  BOOST_TEST(again.data() == first);
}

BOOST_AUTO_TEST_CASE(pool_stays_bounded_when_sizes_vary) {
  // Steps whose tensors change size every time (bucketed sentence lengths) must not make the
  // pool keep every size ever freed: it holds at most the peak of live storage (at least
  // 64 MiB). 200 steps of 1 MiB .. 51 MiB tensors, two live at once: without the bound the
  // pool would keep gigabytes.
  loom::release_cached_storage();
  for (int step = 0; step < 200; ++step) {
    const std::int64_t n = (std::int64_t{1} << 18) * (1 + (step * 37) % 51);  // 1 .. 51 MiB
    Tensor a = Tensor::empty(Shape{n});
    Tensor b = Tensor::empty(Shape{n / 2 + 7});
    a.data()[0] = b.data()[0] = 1.0f;
  }
  const std::size_t peak = (std::size_t{51} << 20) + (std::size_t{26} << 20);  // both tensors of the largest step
  BOOST_TEST(loom::cached_storage_bytes() <= std::max<std::size_t>(peak + (std::size_t{4} << 20), std::size_t{64} << 20));
  BOOST_TEST(loom::cached_storage_bytes() > 0u);
}

BOOST_AUTO_TEST_CASE(parameters_live_in_one_arena_and_round_trip) {
  loom::Parameters p;
  auto* a = p.add("layer.weight", Shape{3, 5}, loom::Init::uniform(0.5f));
  auto* b = p.add("layer.bias", Shape{5}, loom::Init::constant(0.25f));
  p.finalize(7);
  BOOST_TEST(p.count() == 20);
  BOOST_TEST(a->value.shares_storage_with(p.values()));
  BOOST_TEST(b->value.data()[4] == 0.25f);
  for (std::int64_t i = 0; i < 15; ++i) BOOST_TEST(std::abs(a->value.data()[i]) <= 0.5f);
  // Same seed, same values, whatever the declaration order.
  loom::Parameters q;
  q.add("layer.bias", Shape{5}, loom::Init::constant(0.25f));
  auto* a2 = q.add("layer.weight", Shape{3, 5}, loom::Init::uniform(0.5f));
  q.finalize(7);
  BOOST_TEST(a2->value.data()[7] == a->value.data()[7]);

  // Clipping: gradient (3, 4) has norm 5; clip to 1 gives (0.6, 0.8).
  b->grad.data()[0] = 3.0f;
  b->grad.data()[1] = 4.0f;
  BOOST_TEST(p.clip_grad_norm(1.0) == 5.0, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(b->grad.data()[1] == 0.8f, boost::test_tools::tolerance(1e-5f));

  auto path = std::filesystem::temp_directory_path() / "loom_test_params.bin";
  p.save(path);
  a->value.fill(0.0f);
  p.load(path);
  BOOST_TEST(a->value.data()[7] == a2->value.data()[7]);
  BOOST_TEST(p.freeze("layer.w*") == 1);
  BOOST_TEST(!a->trainable);

  // A truncated file is refused with its name.
  std::filesystem::resize_file(path, 30);
  BOOST_CHECK_EXCEPTION(p.load(path), loom::InputError, [&](const loom::InputError& e) {
    return std::string(e.what()).find(path.string()) != std::string::npos;
  });
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(glob_matching) {
  BOOST_TEST(loom::glob_match("rnn.*", "rnn.l0.w_ih"));
  BOOST_TEST(loom::glob_match("*.bias", "decoder.bias"));
  BOOST_TEST(loom::glob_match("rnn.l?.w_hh", "rnn.l1.w_hh"));
  BOOST_TEST(!loom::glob_match("rnn.l?.w_hh", "rnn.l10.w_hh"));
  BOOST_TEST(!loom::glob_match("encoder.*", "decoder.weight"));
}

// What does not fit the machine is refused before anything is allocated, naming the shape
// and the figures (it ended in std::bad_alloc, or in the kernel's OOM killer).
BOOST_AUTO_TEST_CASE(allocations_beyond_memory_are_refused_with_the_figure) {
  const std::int64_t big = std::int64_t{1} << 40;
  loom::testing::expect_error<loom::ResourceError>([&] { Tensor::empty(Shape{big, 1024}); },
                                                   {"cannot allocate 4.0 PiB", "[1099511627776, 1024]",
                                                    "of memory is available"});
  loom::testing::expect_error<loom::ResourceError>([&] { (void)Shape{big, big, big}.numel(); },
                                                   {"[1099511627776, 1099511627776, 1099511627776]",
                                                    "more values than a 64-bit count holds"});
  loom::Parameters params;
  params.add("w", Shape{big, 4}, loom::Init::zeros());
  loom::testing::expect_error<loom::ResourceError>([&] { params.finalize(1); },
                                                   {"the model has 4398046511104 parameters", "32.0 TiB",
                                                    "of memory is available"});
  BOOST_TEST(loom::available_memory_bytes() > 0u);
  BOOST_TEST(loom::bytes_text(512) == "512 bytes");
  BOOST_TEST(loom::bytes_text(1536) == "1.5 KiB");
  BOOST_TEST(loom::bytes_text(std::uint64_t{3} << 30) == "3.0 GiB");
  // Small tensors are not checked against the system and still allocate.
  BOOST_TEST(Tensor::empty(Shape{4, 4}).numel() == 16);
}

// A temporary of a process that is gone is removed; one of a live process (this one) stays.
BOOST_AUTO_TEST_CASE(stale_temporaries_of_dead_processes_are_removed) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("loom-stale-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto touch = [&](const std::string& name) { std::ofstream(dir / name) << "x"; };
  touch("last.ckpt.tmp.999999999");                          // no such process
  touch("summary.json.tmp." + std::to_string(::getpid()));  // this one, alive
  touch("notes.tmp.txt");                                    // not a temporary of ours
  touch("last.ckpt");
  BOOST_TEST(loom::remove_stale_temporaries(dir) == 1u);
  BOOST_TEST(!fs::exists(dir / "last.ckpt.tmp.999999999"));
  BOOST_TEST(fs::exists(dir / ("summary.json.tmp." + std::to_string(::getpid()))));
  BOOST_TEST(fs::exists(dir / "notes.tmp.txt"));
  BOOST_TEST(fs::exists(dir / "last.ckpt"));
  fs::remove_all(dir);
}

// take_rows copies whole rows in the order asked, repeats included, for float and int32.
BOOST_AUTO_TEST_CASE(take_rows_copies_rows_in_the_order_asked) {
  const Tensor f = Tensor::from(Shape{3, 2}, {0, 1, 10, 11, 20, 21});
  const Tensor picked = loom::take_rows(f, Tensor::from_ids(Shape{4}, {2, 0, 2, 1}));
  BOOST_TEST(picked.shape().str() == Shape({4, 2}).str());
  const std::vector<float> want = {20, 21, 0, 1, 20, 21, 10, 11};
  BOOST_TEST(std::vector<float>(picked.data(), picked.data() + 8) == want, boost::test_tools::per_element());
  BOOST_TEST(!picked.shares_storage_with(f));
  const Tensor ids = loom::take_rows(Tensor::from_ids(Shape{3}, {7, 8, 9}), Tensor::from_ids(Shape{2}, {1, 1}));
  BOOST_TEST(ids.ids()[0] == 8);
  BOOST_TEST(ids.ids()[1] == 8);
  loom::testing::expect_error<loom::AssertionError>(
      [&] { loom::take_rows(f, Tensor::from_ids(Shape{1}, {3})); }, {"row 3 outside [0, 3)"});
}
