// tokenizers/sentencepiece through the real loader: BPE and unigram models learned from a
// generated corpus, exact round trips, the vocabulary size, learning twice gives the same
// model, saving and loading (bytes and a model file), normalisation, and the errors.
#define BOOST_TEST_MODULE sentencepiece
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::expect_error;
using Tokens = std::vector<std::string>;

namespace {

loom::Registry& registry() {
  static loom::Registry* r = [] {
    auto* x = new loom::Registry;  // lives as long as the process, as the plugin library does
    x->load_library(LOOM_TEST_PLUGIN_FILE);
    return x;
  }();
  return *r;
}

struct Spm {
  explicit Spm(const std::string& yaml = "{}") : env(registry()) {
    env.add("spm", "sentencepiece", yaml);
    tok = &env.get<loom::Tokenizer>("spm");
    learner = &env.get<loom::LearnsFromText>("spm");
  }
  loom::testing::Env env;
  loom::Tokenizer* tok;
  loom::LearnsFromText* learner;
};

// Sentences of seeded pseudo-words over a small syllable set, so that subwords recur.
std::vector<std::string> corpus(std::size_t lines, unsigned seed) {
  static const char* syllables[] = {"ka", "lo", "mi", "ran", "tes", "u", "vor", "shi", "pe", "dan", "o", "gri"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lines; ++i) {
    std::string line;
    const int words = 2 + static_cast<int>(rng() % 6);
    for (int w = 0; w < words; ++w) {
      if (w > 0) line += ' ';
      const int n = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < n; ++k) line += syllables[rng() % 12];
    }
    if (i % 7 == 0) line += ".";
    out.push_back(line);
  }
  return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& lines) {
  return {lines.begin(), lines.end()};
}

const std::string kSpace = "\xE2\x96\x81";  // U+2581

}  // namespace

BOOST_AUTO_TEST_CASE(bpe_and_unigram_round_trip_exactly_on_seen_and_unseen_text) {
  const auto train = corpus(400, 1), unseen = corpus(50, 2);
  for (const char* type : {"bpe", "unigram"}) {
    Spm s(std::string("{model_type: ") + type + ", vocab_size: 60}");
    BOOST_TEST(!s.learner->learned());
    const std::string said = s.learner->learn(views(train));
    BOOST_TEST(s.learner->learned());
    BOOST_TEST(said.find(type) != std::string::npos, said);
    for (const auto* lines : {&train, &unseen})
      for (const auto& line : *lines) {
        const Tokens pieces = s.tok->tokenize(line);
        BOOST_TEST(s.tok->detokenize(pieces) == line, type << ": " << line);
        // Pieces are subwords: joined, with the boundary mark as a space, they give the line.
        std::string joined;
        for (const auto& p : pieces) joined += p;
        std::string spaced = kSpace;
        for (char c : line) spaced += c == ' ' ? kSpace : std::string(1, c);
        BOOST_TEST(joined == spaced, type << ": " << line);
      }
    // Subwords, not characters: fewer pieces than characters on the training text.
    std::size_t pieces = 0, chars = 0;
    for (const auto& line : train) {
      pieces += s.tok->tokenize(line).size();
      chars += line.size();
    }
    BOOST_TEST(pieces * 2 < chars, type << ": " << pieces << " pieces for " << chars << " characters");
  }
}

BOOST_AUTO_TEST_CASE(at_most_vocab_size_pieces_and_the_same_model_every_time) {
  const auto train = corpus(400, 3);
  Spm a("{model_type: bpe, vocab_size: 40}"), b("{model_type: bpe, vocab_size: 40}");
  a.learner->learn(views(train));
  b.learner->learn(views(train));
  BOOST_TEST(a.learner->save_learned() == b.learner->save_learned());
  std::set<std::string> distinct;
  for (const auto& line : train)
    for (const auto& p : a.tok->tokenize(line)) distinct.insert(p);
  BOOST_TEST(distinct.size() <= 40u);
  BOOST_TEST(distinct.size() > 20u);
  // A larger budget gives longer pieces.
  Spm big("{model_type: bpe, vocab_size: 120}");
  big.learner->learn(views(train));
  BOOST_TEST(big.tok->tokenize(train[0]).size() <= a.tok->tokenize(train[0]).size());
  // A tiny corpus cannot give 5,000 pieces: fewer, not an error.
  Spm small("{vocab_size: 5000}");
  const std::string said = small.learner->learn(views(corpus(20, 4)));
  BOOST_TEST(said.find("pieces") != std::string::npos, said);
}

BOOST_AUTO_TEST_CASE(a_saved_model_loads_from_bytes_and_from_a_file) {
  const auto train = corpus(300, 5), unseen = corpus(30, 6);
  Spm s("{vocab_size: 50}");
  s.learner->learn(views(train));
  const std::string bytes = s.learner->save_learned();
  Spm loaded;
  loaded.learner->load_learned(bytes, "test bytes");
  const auto file = std::filesystem::temp_directory_path() / "loom-test-spm.model";
  loom::write_file_atomically(file, bytes);
  Spm from_file("{model: '" + file.string() + "'}");
  BOOST_TEST(from_file.learner->learned());
  for (const auto& line : unseen) {
    BOOST_TEST(loaded.tok->tokenize(line) == s.tok->tokenize(line), boost::test_tools::per_element());
    BOOST_TEST(from_file.tok->tokenize(line) == s.tok->tokenize(line), boost::test_tools::per_element());
  }
  std::filesystem::remove(file);
}

BOOST_AUTO_TEST_CASE(end_of_line_token_and_normalisation) {
  const auto train = corpus(300, 7);
  Spm eos("{vocab_size: 50, eos: '</s>'}");
  eos.learner->learn(views(train));
  const Tokens t = eos.tok->tokenize(train[1]);
  BOOST_REQUIRE(!t.empty());
  BOOST_TEST(t.back() == "</s>");
  BOOST_TEST(eos.tok->detokenize(t) == train[1]);
  // identity keeps characters and turns runs of spaces into one; nmt_nfkc also folds
  // full-width letters (U+FF4B 'ｋ') into ASCII.
  BOOST_TEST(eos.tok->detokenize(eos.tok->tokenize("  kalo   mi ")) == "kalo mi");
  Spm nfkc("{vocab_size: 50, normalization: nmt_nfkc}");
  nfkc.learner->learn(views(train));
  BOOST_TEST(nfkc.tok->detokenize(nfkc.tok->tokenize("\xEF\xBD\x8B" "alo mi")) == "kalo mi");
  BOOST_TEST(eos.tok->detokenize(eos.tok->tokenize("\xEF\xBD\x8B" "alo mi")) == "\xEF\xBD\x8B" "alo mi");
}

BOOST_AUTO_TEST_CASE(errors_name_the_tokenizer_and_what_is_wrong) {
  Spm s;
  expect_error<loom::ConfigError>([&] { s.tok->tokenize("kalo"); }, {"tokenizer 'spm'", "not learned yet"});
  expect_error<loom::InputError>([&] { s.learner->load_learned("not a model", "x.model"); }, {"x.model", "not a SentencePiece model"});
  expect_error<loom::InputError>([&] { s.learner->learn(views(std::vector<std::string>{"", "  ", ""})); },
                                 {"tokenizer 'spm'", "every line is empty"});
  BOOST_TEST(!s.learner->learned());
  expect_error<loom::ConfigError>([] { Spm bad("{character_coverage: 1.5}"); }, {"character_coverage", "at most 1"});
  expect_error<loom::ConfigError>([] { Spm bad("{model_type: word}"); }, {"model_type"});
  expect_error<loom::ConfigError>([] { Spm bad("{vocab_size: 1}"); }, {"vocab_size"});
}
