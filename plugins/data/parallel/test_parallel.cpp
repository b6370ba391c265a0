// data/parallel through the real loader, with the word tokenizer and frequency vocabularies:
// the encoder-decoder and decoder-only batch layouts worked out by hand, TSV and aligned files
// giving the same batches, max_length filtering, shuffling and buckets per epoch, and the
// errors (misaligned files, a malformed TSV line, missing special tokens, a decoder-only
// layout without a joint vocabulary).
#define BOOST_TEST_MODULE parallel
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "loom/batch_layout.hpp"
#include "loom/errors.hpp"
#include "loom/parallel_corpus.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::Mode;
using loom::testing::expect_error;
using loom::testing::contracts::TempDir;
using Ids = std::vector<std::int32_t>;

namespace {

void write(const std::filesystem::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

Ids ids_of(const loom::Tensor& t) { return Ids(t.ids(), t.ids() + t.numel()); }

struct Fixture {
  Fixture() {
    registry.load_library(LOOM_TEST_PLUGIN_FILE);
    registry.load_directory(LOOM_TEST_PLUGIN_DIR, true);
    write(dir.path() / "train.de", "a b\nc\nb a c a\n");
    write(dir.path() / "train.en", "x\ny z\nz\n");
    write(dir.path() / "train.tsv", "a b\tx\nc\ty z\nb a c a\tz\n");
  }
  loom::Registry registry;
  TempDir dir;
};

// A loader over the fixture's files and its vocabularies, built and prepared as build_vocab
// would: one vocabulary per builder, from the sides that use it.
struct Loaded {
  Loaded(const loom::Registry& registry, const std::string& params, const std::string& src_vocab = "{eos: </s>}",
         const std::string& tgt_vocab = "{pad: <pad>, bos: <s>, eos: </s>}", bool joint = false)
      : env(registry) {
    env.add("tok", "word");
    env.add("vsrc", "frequency", src_vocab);
    if (!joint) env.add("vtgt", "frequency", tgt_vocab);
    std::string vocabs = joint ? "src_vocab: '@vsrc', tgt_vocab: '@vsrc'" : "src_vocab: '@vsrc', tgt_vocab: '@vtgt'";
    env.add("data", "parallel", "{" + vocabs + ", " + params + "}");
    data = &env.get<loom::ParallelCorpusLoader>("data");
  }
  void prepare() {
    auto build = [&](const std::string& id, const std::vector<std::string>& sides) {
      loom::TokenCounts counts;
      for (const auto& s : sides)
        for (const auto& [t, c] : data->count_side_tokens("train", s)) counts[t] += c;
      return env.get<loom::VocabBuilder>(id).build(counts);
    };
    if (env_has_tgt()) {
      src = build("vsrc", {"src"});
      tgt = build("vtgt", {"tgt"});
    } else {
      src = build("vsrc", {"src", "tgt"});
      tgt = src;
    }
    data->prepare_sides({{"src", &src}, {"tgt", &tgt}});
  }
  bool env_has_tgt() { return &data->side_vocab("tgt") != &data->side_vocab("src"); }
  loom::testing::Env env;
  loom::ParallelCorpusLoader* data = nullptr;
  loom::Vocab src, tgt;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(encoder_decoder_batches_by_hand, Fixture) {
  Loaded l(registry, "train: '" + (dir.path() / "train").string() + "', src_lang: de, tgt_lang: en, eval_batch_size: 3");
  l.prepare();
  // Source vocabulary: <unk> 0, </s> 1, then by count: a (3), b (2), c (2) -> 2, 3, 4.
  BOOST_TEST(l.src.token(2) == "a");
  BOOST_TEST(l.src.token(3) == "b");
  BOOST_TEST(l.src.token(4) == "c");
  // Target: <pad> 0, <unk> 1, <s> 2, </s> 3, then z (2) 4, x 5, y 6.
  BOOST_TEST(l.tgt.token(4) == "z");
  BOOST_TEST(l.tgt.token(5) == "x");
  loom::Batch b = l.data->batch("train", Mode::kEval, 0);
  // src [3, 5]: "a b </s>", "c </s>", "b a c a </s>", padded with the source's eos (no pad).
  BOOST_TEST(ids_of(b.get("src")) == (Ids{2, 3, 1, 1, 1, /**/ 4, 1, 1, 1, 1, /**/ 3, 2, 4, 2, 1}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("src_lengths")) == (Ids{3, 2, 5}), boost::test_tools::per_element());
  // tgt_in [3, 3]: <s> x / <s> y z / <s> z, padded with <pad>; tgt_out: x </s> / y z </s> / z </s>.
  BOOST_TEST(ids_of(b.get("tgt_in")) == (Ids{2, 5, 0, /**/ 2, 6, 4, /**/ 2, 4, 0}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("tgt_out")) == (Ids{5, 3, loom::kIgnoreTarget, /**/ 6, 4, 3, /**/ 4, 3, loom::kIgnoreTarget}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("tgt_lengths")) == (Ids{2, 3, 2}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("index")) == (Ids{0, 1, 2}), boost::test_tools::per_element());
  BOOST_TEST(b.target_tokens == 7);
  BOOST_TEST(b.references == (std::vector<std::string>{"x", "y z", "z"}), boost::test_tools::per_element());
  // New source text is batched the same way, without target tensors.
  loom::Batch t = l.data->batch_of_texts({"c a", "zzz"}, l.src);
  BOOST_TEST(ids_of(t.get("src")) == (Ids{4, 2, 1, 0, 1, 1}), boost::test_tools::per_element());  // zzz -> <unk>
  BOOST_TEST(t.tensors.count("tgt_in") == 0u);
}

BOOST_FIXTURE_TEST_CASE(tsv_and_aligned_files_agree, Fixture) {
  Loaded a(registry, "train: '" + (dir.path() / "train").string() + "', src_lang: de, tgt_lang: en, batch_size: 2");
  Loaded t(registry, "train: '" + (dir.path() / "train.tsv").string() + "', batch_size: 2");
  a.prepare();
  t.prepare();
  for (int epoch : {0, 1}) {
    a.data->start_epoch(epoch);
    t.data->start_epoch(epoch);
    BOOST_TEST(a.data->num_batches("train", Mode::kTrain) == 2);
    for (std::int64_t i = 0; i < 2; ++i)
      for (const char* name : {"src", "tgt_in", "tgt_out", "index"})
        BOOST_TEST(ids_of(a.data->batch("train", Mode::kTrain, i).get(name)) ==
                       ids_of(t.data->batch("train", Mode::kTrain, i).get(name)),
                   boost::test_tools::per_element());
  }
}

BOOST_FIXTURE_TEST_CASE(decoder_only_sequence_by_hand, Fixture) {
  Loaded l(registry, "train: '" + (dir.path() / "train.tsv").string() + "', layout: decoder_only, eval_batch_size: 2",
           "{bos: <s>, eos: </s>, sep: <sep>}", "", true);
  l.prepare();
  // Joint vocabulary: <unk> 0, <s> 1, </s> 2, <sep> 3, then a b c z x y by count.
  const auto id = [&](const char* t) { return l.src.find(t); };
  loom::Batch b = l.data->batch("train", Mode::kEval, 0);
  // Pair 0: <s> a b <sep> x </s>, prompt 4: ids "<s> a b <sep> x", targets "- - - x </s>"
  // (position t predicts token t + 1; targets from the sep on).
  // Pair 1: <s> c <sep> y z </s>, prompt 3: ids "<s> c <sep> y z", targets "- - y z </s>".
  // Time-major [5, 2]: row t holds (pair 0, pair 1).
  const std::int32_t I = loom::kIgnoreTarget;
  BOOST_TEST(ids_of(b.get("ids")) == (Ids{id("<s>"), id("<s>"), id("a"), id("c"), id("b"), id("<sep>"), id("<sep>"), id("y"),
                                          id("x"), id("z")}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("targets")) == (Ids{I, I, I, I, I, id("y"), id("x"), id("z"), id("</s>"), id("</s>")}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("lengths")) == (Ids{5, 5}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b.get("prompt_lengths")) == (Ids{4, 3}), boost::test_tools::per_element());
  BOOST_TEST(b.target_tokens == 5);  // x </s>, y z </s>
  // The prompt alone for new text: <s> src <sep>.
  loom::Batch t = l.data->batch_of_texts({"a"}, l.src);
  BOOST_TEST(ids_of(t.get("ids")) == (Ids{id("<s>"), id("a"), id("<sep>")}), boost::test_tools::per_element());
  BOOST_TEST(t.tensors.count("targets") == 0u);
}

BOOST_FIXTURE_TEST_CASE(max_length_leaves_out_long_training_pairs, Fixture) {
  write(dir.path() / "valid.tsv", "a b c d e\tx\n");
  Loaded l(registry, "train: '" + (dir.path() / "train.tsv").string() + "', valid: '" + (dir.path() / "valid.tsv").string() +
                         "', max_length: 2");
  l.prepare();
  BOOST_TEST(l.data->pairs("train") == 2);  // "b a c a" has 4 tokens
  BOOST_TEST(l.data->dropped("train") == "1 of 3 pairs left out: more than max_length 2 tokens on a side");
  BOOST_TEST(l.data->pairs("valid") == 1);  // evaluation splits keep every pair
  BOOST_TEST(l.data->dropped("valid").empty());
  BOOST_TEST(l.data->unknown_tokens("valid") == 2);  // d and e
}

BOOST_FIXTURE_TEST_CASE(epochs_shuffle_and_bucket, Fixture) {
  std::string tsv;
  for (int i = 0; i < 200; ++i) {
    std::string src;
    for (int k = 0; k <= i % 17; ++k) src += (k ? " " : "") + std::string("a");
    tsv += src + "\tx\n";
  }
  write(dir.path() / "big.tsv", tsv);
  Loaded l(registry, "train: '" + (dir.path() / "big.tsv").string() + "', batch_size: 10");
  l.prepare();
  auto epoch_order = [&](int epoch) {
    l.data->start_epoch(epoch);
    Ids all;
    for (std::int64_t i = 0; i < l.data->num_batches("train", Mode::kTrain); ++i) {
      Ids idx = ids_of(l.data->batch("train", Mode::kTrain, i).get("index"));
      all.insert(all.end(), idx.begin(), idx.end());
    }
    return all;
  };
  Ids e0 = epoch_order(0), e1 = epoch_order(1), again = epoch_order(0);
  BOOST_TEST(e0 == again, boost::test_tools::per_element());  // a function of the seed and epoch
  BOOST_TEST((e0 != e1));
  Ids sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  Ids expected(200);
  for (int i = 0; i < 200; ++i) expected[static_cast<std::size_t>(i)] = i;
  BOOST_TEST(sorted == expected, boost::test_tools::per_element());  // every pair once
  // Buckets: within a batch the source lengths differ by little (17 lengths, 200 pairs,
  // windows of 500 pairs sorted by length).
  l.data->start_epoch(0);
  for (std::int64_t i = 0; i < l.data->num_batches("train", Mode::kTrain); ++i) {
    Ids len = ids_of(l.data->batch("train", Mode::kTrain, i).get("src_lengths"));
    BOOST_TEST(*std::max_element(len.begin(), len.end()) - *std::min_element(len.begin(), len.end()) <= 1);
  }
}

BOOST_FIXTURE_TEST_CASE(errors_name_the_files, Fixture) {
  write(dir.path() / "short.de", "a\nb\n");
  write(dir.path() / "short.en", "x\n");
  {
    Loaded l(registry, "train: '" + (dir.path() / "short").string() + "', src_lang: de, tgt_lang: en");
    expect_error<loom::InputError>([&] { l.prepare(); }, {"short.de has 2 lines but", "short.en has 1",
                                                          "aligned line by line"});
  }
  write(dir.path() / "bad.tsv", "a\tx\nno tab here\n");
  {
    Loaded l(registry, "train: '" + (dir.path() / "bad.tsv").string() + "'");
    expect_error<loom::InputError>([&] { l.prepare(); }, {"bad.tsv:2", "expected 'source<TAB>target'", "no tab"});
  }
  {
    Loaded l(registry, "train: '" + (dir.path() / "train.tsv").string() + "'", "{eos: </s>}", "{eos: </s>}");
    expect_error<loom::ConfigError>([&] { l.prepare(); }, {"target vocabulary has no bos token", "bos:"});
  }
  {
    Loaded l(registry, "train: '" + (dir.path() / "train.tsv").string() + "', layout: decoder_only",
             "{bos: <s>, eos: </s>}", "", true);
    expect_error<loom::ConfigError>([&] { l.prepare(); }, {"joint vocabulary has no sep token"});
  }
  expect_error<loom::ConfigError>(
      [&] { Loaded l(registry, "train: '" + (dir.path() / "train.tsv").string() + "', layout: decoder_only"); },
      {"decoder_only", "same builder"});
  expect_error<loom::ConfigError>([&] { Loaded l(registry, "train: '" + (dir.path() / "nope.tsv").string() + "'"); },
                                  {"nope.tsv", "TSV"});
  expect_error<loom::ConfigError>(
      [&] { Loaded l(registry, "train: '" + (dir.path() / "train").string() + "', src_lang: de"); },
      {"set both src_lang and tgt_lang"});
}
