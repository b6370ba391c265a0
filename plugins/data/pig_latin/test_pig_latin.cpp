// data/pig_latin through the real loader: the corpus is generated into `dir` once and kept
// while the spec is the same, made again when it changes; its pairs are the generator's and
// follow the rule; batches come out as data/parallel's (character tokens here).
#define BOOST_TEST_MODULE pig_latin
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "loom/errors.hpp"
#include "loom/parallel_corpus.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "pig_latin/pig_latin.hpp"

using loom::Mode;
using loom::testing::expect_error;
using loom::testing::contracts::TempDir;

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Fixture {
  Fixture() {
    registry.load_library(LOOM_TEST_PLUGIN_FILE);
    registry.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  }
  // A loader with a char tokenizer and one joint vocabulary, prepared as build_vocab would.
  loom::ParallelCorpusLoader& loader(loom::testing::Env& env, const std::string& params) {
    env.add("tok", "char");
    env.add("v", "frequency", "{bos: <s>, eos: </s>, sep: <sep>}");
    env.add("data", "pig_latin", "{dir: '" + (dir.path() / "pl").string() + "', " + params + "}");
    auto& data = env.get<loom::ParallelCorpusLoader>("data");
    loom::TokenCounts counts = data.count_tokens("train");
    vocab = env.get<loom::VocabBuilder>("v").build(counts);
    data.prepare(vocab);
    return data;
  }
  loom::Registry registry;
  TempDir dir;
  loom::Vocab vocab;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(generates_once_and_again_when_the_spec_changes, Fixture) {
  {
    loom::testing::Env env(registry);
    auto& data = loader(env, "train_pairs: 50, valid_pairs: 10, test_pairs: 12, batch_size: 8");
    BOOST_TEST(data.pairs("train") == 50);
    BOOST_TEST(data.pairs("test") == 12);
  }
  const auto pl = dir.path() / "pl";
  // The pairs on disk are the generator's for that spec, and follow the rule.
  loom::data::PigLatinSpec spec = loom::data::pig_latin_spec("small");
  spec.train = 50;
  spec.valid = 10;
  spec.test = 12;
  const auto corpus = loom::data::generate_pig_latin(spec);
  std::string expected;
  for (const auto& p : corpus.test) {
    BOOST_TEST(p.pig_latin == loom::data::pig_latin_sentence(p.english));
    expected += p.english + "\t" + p.pig_latin + "\n";
  }
  BOOST_TEST(read(pl / "test.tsv") == expected);
  // The same spec: the files are kept (a marker written into one survives).
  std::ofstream(pl / "valid.tsv", std::ios::app) << "";
  const auto stamp = std::filesystem::last_write_time(pl / "spec.json");
  {
    loom::testing::Env env(registry);
    loader(env, "train_pairs: 50, valid_pairs: 10, test_pairs: 12");
  }
  BOOST_TEST((std::filesystem::last_write_time(pl / "spec.json") == stamp));
  // Another seed: made again.
  {
    loom::testing::Env env(registry);
    auto& data = loader(env, "seed: 7, train_pairs: 30, valid_pairs: 10, test_pairs: 12");
    BOOST_TEST(data.pairs("train") == 30);
  }
  BOOST_TEST(read(pl / "spec.json").find("\"seed\": 7") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(batches_as_parallel_does, Fixture) {
  loom::testing::Env env(registry);
  auto& data = loader(env, "train_pairs: 40, valid_pairs: 10, test_pairs: 10, batch_size: 4, layout: decoder_only");
  loom::Batch b = data.batch("valid", Mode::kEval, 0);
  BOOST_TEST(b.tensors.count("prompt_lengths") == 1u);
  BOOST_TEST(b.references.size() == 4u);
  // The references are the Pig Latin side, in the file's order.
  std::istringstream valid(read(dir.path() / "pl" / "valid.tsv"));
  std::string line;
  std::getline(valid, line);
  BOOST_TEST(b.references[0] == line.substr(line.find('\t') + 1));
}

BOOST_FIXTURE_TEST_CASE(bad_settings_are_refused, Fixture) {
  loom::testing::Env env(registry);
  expect_error<loom::ConfigError>([&] { loader(env, "min_words: 5, max_words: 2"); }, {"max_words", "below min_words"});
  loom::testing::Env env2(registry);
  expect_error<loom::ConfigError>([&] { loader(env2, "words_file: /nonexistent/words.txt"); },
                                  {"words_file", "/nonexistent/words.txt"});
  loom::testing::Env env3(registry);
  expect_error<loom::ConfigError>([&] { loader(env3, "size: huge"); }, {"huge"});
}
