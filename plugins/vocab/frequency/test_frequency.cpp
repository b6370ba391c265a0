// vocab/frequency through the real loader: id order, min_freq, max_size, stop-words,
// lowercase merging, and the vocabulary file format it is saved in.
#define BOOST_TEST_MODULE frequency
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/vocab.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::testing::expect_error;

namespace {

using Tokens = std::vector<std::string>;
using loom::testing::contracts::TempDir;

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

loom::Vocab build(const std::string& yaml, const loom::TokenCounts& counts) {
  Loaded l;
  loom::testing::Env env(l.registry);
  env.add("vocab", "frequency", yaml);
  return env.get<loom::VocabBuilder>("vocab").build(counts);
}

Tokens tokens_of(const loom::Vocab& v) {
  Tokens out;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(v.size()); ++i) out.push_back(v.token(i));
  return out;
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// "the" 5, "cat" and "sat" tied at 3, "The" and "on" tied at 2 ("The" < "on" bytewise), "mat" 1.
const loom::TokenCounts kCounts = {{"the", 5}, {"cat", 3}, {"sat", 3}, {"on", 2}, {"mat", 1}, {"The", 2}};

struct OrderCase {
  const char* yaml;
  Tokens expected;  // tokens in id order
};

const std::vector<OrderCase> kOrderCases = {
    {"{}", {"<unk>", "the", "cat", "sat", "The", "on", "mat"}},
    // Specials first in pad, unk, bos, eos order, whatever order the YAML names them in.
    {"{eos: </s>, bos: <s>, unk: <unk>, pad: <pad>}",
     {"<pad>", "<unk>", "<s>", "</s>", "the", "cat", "sat", "The", "on", "mat"}},
    {"{eos: </s>, bos: <s>}", {"<unk>", "<s>", "</s>", "the", "cat", "sat", "The", "on", "mat"}},
    {"{unk: ''}", {"the", "cat", "sat", "The", "on", "mat"}},
    {"{min_freq: 2}", {"<unk>", "the", "cat", "sat", "The", "on"}},
    {"{min_freq: 3}", {"<unk>", "the", "cat", "sat"}},
    {"{min_freq: 6}", {"<unk>"}},
    // max_size counts ordinary tokens only; ties are cut by the token's bytes.
    {"{max_size: 2}", {"<unk>", "the", "cat"}},
    {"{max_size: 2, pad: <pad>, bos: <s>, eos: </s>}", {"<pad>", "<unk>", "<s>", "</s>", "the", "cat"}},
    {"{max_size: 4}", {"<unk>", "the", "cat", "sat", "The"}},
    {"{max_size: 100}", {"<unk>", "the", "cat", "sat", "The", "on", "mat"}},
    {"{max_size: 5, min_freq: 3}", {"<unk>", "the", "cat", "sat"}},
    // Stop-words are removed before max_size is applied.
    {"{stop_words: [the, on]}", {"<unk>", "cat", "sat", "The", "mat"}},
    {"{stop_words: the}", {"<unk>", "cat", "sat", "The", "on", "mat"}},
    {"{stop_words: [the], max_size: 2}", {"<unk>", "cat", "sat"}},
    // The built-in English list has "the" and "on" (it is case-sensitive unless lowercase).
    {"{stop_words_list: english}", {"<unk>", "cat", "sat", "The", "mat"}},
    {"{stop_words_list: english, lowercase: true}", {"<unk>", "cat", "sat", "mat"}},
    {"{stop_words_list: english, stop_words: [cat]}", {"<unk>", "sat", "The", "mat"}},
    // Lowercase merges "The" into "the" (5 + 2 = 7).
    {"{lowercase: true}", {"<unk>", "the", "cat", "sat", "on", "mat"}},
    {"{lowercase: true, stop_words: [THE]}", {"<unk>", "cat", "sat", "on", "mat"}},
    {"{lowercase: true, max_size: 1}", {"<unk>", "the"}},
};

}  // namespace

BOOST_AUTO_TEST_CASE(ids_follow_specials_then_count_then_token) {
  for (const auto& c : kOrderCases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      loom::Vocab v = build(c.yaml, kCounts);
      BOOST_TEST(tokens_of(v) == c.expected, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(special_roles_and_counts) {
  loom::Vocab v = build("{pad: <pad>, bos: <s>, eos: </s>}", kCounts);
  BOOST_TEST(v.pad_id() == 0);
  BOOST_TEST(v.unk_id() == 1);
  BOOST_TEST(v.bos_id() == 2);
  BOOST_TEST(v.eos_id() == 3);
  BOOST_TEST(v.count(v.unk_id()) == 0);
  BOOST_TEST(v.count(v.find("the")) == 5);
  BOOST_TEST(v.count(v.find("sat")) == 3);
  BOOST_TEST(v.id("zebra") == 1);  // unknown -> unk

  loom::Vocab defaults = build("{}", kCounts);
  BOOST_TEST(defaults.pad_id() == loom::Vocab::kNone);
  BOOST_TEST(defaults.bos_id() == loom::Vocab::kNone);
  BOOST_TEST(defaults.eos_id() == loom::Vocab::kNone);
  BOOST_TEST(defaults.unk_id() == 0);

  loom::Vocab no_unk = build("{unk: ''}", kCounts);
  BOOST_TEST(no_unk.unk_id() == loom::Vocab::kNone);
  BOOST_TEST(no_unk.id("zebra") == loom::Vocab::kNone);
}

BOOST_AUTO_TEST_CASE(special_that_occurs_in_the_text_keeps_one_id_and_its_count) {
  const loom::TokenCounts counts = {{"<eos>", 7}, {"a", 3}, {"b", 3}};
  loom::Vocab v = build("{eos: <eos>}", counts);
  BOOST_TEST(tokens_of(v) == (Tokens{"<unk>", "<eos>", "a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(v.eos_id() == 1);
  BOOST_TEST(v.count(1) == 7);
  // It does not use up max_size, and min_freq never removes a special.
  BOOST_TEST(tokens_of(build("{eos: <eos>, max_size: 1}", counts)) == (Tokens{"<unk>", "<eos>", "a"}),
             boost::test_tools::per_element());
  BOOST_TEST(tokens_of(build("{eos: <eos>, min_freq: 10}", counts)) == (Tokens{"<unk>", "<eos>"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(same_counts_in_another_order_give_the_same_ids) {
  loom::TokenCounts reordered;
  reordered.rehash(1000);
  for (const char* t : {"mat", "The", "on", "sat", "cat", "the"}) reordered[t] = kCounts.at(t);
  for (const char* yaml : {"{}", "{max_size: 3}", "{lowercase: true}"})
    BOOST_TEST(tokens_of(build(yaml, reordered)) == tokens_of(build(yaml, kCounts)), yaml);
}

BOOST_AUTO_TEST_CASE(stop_words_from_a_file) {
  TempDir dir;
  write(dir / "stop.txt", "# a comment\n  the  \n\non\r\n\t# an indented comment\n");
  std::string path = (dir / "stop.txt").string();
  BOOST_TEST(tokens_of(build("{stop_words_file: " + path + "}", kCounts)) ==
                 (Tokens{"<unk>", "cat", "sat", "The", "mat"}),
             boost::test_tools::per_element());
  // Inline words and the file add up.
  BOOST_TEST(tokens_of(build("{stop_words: [mat], stop_words_file: " + path + "}", kCounts)) ==
                 (Tokens{"<unk>", "cat", "sat", "The"}),
             boost::test_tools::per_element());
  // With lowercase, the file's words are lowercased too.
  write(dir / "upper.txt", "THE\nCat\n");
  BOOST_TEST(tokens_of(build("{lowercase: true, stop_words_file: " + (dir / "upper.txt").string() + "}",
                             kCounts)) == (Tokens{"<unk>", "sat", "on", "mat"}),
             boost::test_tools::per_element());
  expect_error<loom::ConfigError>([&] { build("{stop_words_file: " + (dir / "none.txt").string() + "}", kCounts); },
                                  {"stop_words_file", "no such file", "none.txt"});
}

BOOST_AUTO_TEST_CASE(lowercase_merges_counts_and_lookups) {
  loom::Vocab v = build("{lowercase: true}", kCounts);
  BOOST_TEST(v.lowercase());
  BOOST_TEST(v.count(v.find("the")) == 7);
  BOOST_TEST(v.id("The") == v.id("the"));
  BOOST_TEST(v.id("THE") == v.id("the"));
  BOOST_TEST(v.id("Cat") == v.id("cat"));
  BOOST_TEST(v.id("the") != v.unk_id());
  BOOST_TEST(!v.contains("The"));  // only the lowercased form is stored
}

// Every token of a vocabulary must be found by its own spelling. A special token written with
// capitals under lowercase: true is stored as written, but lookups lowercase the query first,
// so find("<EOS>") misses it and every end-of-line token becomes <unk>.
BOOST_AUTO_TEST_CASE(specials_with_capitals_stay_reachable_under_lowercase) {
  loom::Vocab v = build("{lowercase: true, eos: <EOS>, unk: <UNK>}", kCounts);
  BOOST_TEST(v.find(v.token(v.eos_id())) == v.eos_id());
  BOOST_TEST(v.id("<EOS>") == v.eos_id());
  BOOST_TEST(v.find(v.token(v.unk_id())) == v.unk_id());
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([] { build("{unk: x, eos: x}", kCounts); },
                                  {"two special roles share the token 'x'"});
  expect_error<loom::ConfigError>([] { build("{min_freq: 0}", kCounts); }, {"'min_freq' must be at least 1, got 0"});
  expect_error<loom::ConfigError>([] { build("{max_size: -1}", kCounts); }, {"'max_size' must be at least 0"});
  expect_error<loom::ConfigError>([] { build("{min_frq: 2}", kCounts); }, {"did you mean 'min_freq'"});
  expect_error<loom::ConfigError>([] { build("{min_freq: lots}", kCounts); }, {"lots"});
}

BOOST_AUTO_TEST_CASE(save_load_round_trip) {
  TempDir dir;
  struct Case {
    const char* yaml;
    loom::TokenCounts counts;
  };
  const std::vector<Case> cases = {
      {"{}", kCounts},
      {"{pad: <pad>, bos: <s>, eos: </s>}", kCounts},
      {"{pad: <pad>, bos: <s>, eos: </s>, sep: <sep>}", kCounts},
      {"{lowercase: true, unk: ''}", kCounts},
      {"{}", {{"caf\xc3\xa9", 4}, {"\xe6\x9d\xb1\xe4\xba\xac", 2}, {"a#b", 1}}},
  };
  BOOST_TEST(build("{sep: <sep>}", kCounts).sep_id() == 1);  // after unk
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      loom::Vocab v = build(c.yaml, c.counts);
      v.save(dir / "vocab.txt");
      loom::Vocab back = loom::Vocab::load(dir / "vocab.txt");
      BOOST_TEST(tokens_of(back) == tokens_of(v), boost::test_tools::per_element());
      for (std::int32_t i = 0; i < static_cast<std::int32_t>(v.size()); ++i)
        BOOST_TEST(back.count(i) == v.count(i), "count of " << v.token(i));
      for (auto role : {loom::Special::kPad, loom::Special::kUnk, loom::Special::kBos, loom::Special::kEos, loom::Special::kSep})
        BOOST_TEST(back.special(role) == v.special(role), loom::special_name(role));
      BOOST_TEST(back.lowercase() == v.lowercase());
    }
  }
}

BOOST_AUTO_TEST_CASE(load_rejects_malformed_files_naming_file_and_line) {
  TempDir dir;
  struct Case {
    const char* name;
    std::string text;
    std::vector<std::string> fragments;  // besides the file name
  };
  const std::vector<Case> cases = {
      {"duplicate", "#loom-vocab 1 unk=0\n<unk>\t0\na\t3\na\t2\n", {":4:", "duplicate token 'a'"}},
      {"empty_token", "#loom-vocab 1\na\t1\n\t5\n", {":3:", "empty token"}},
      {"blank_line", "#loom-vocab 1\na\t1\n\nb\t1\n", {":3:", "empty token"}},
      {"no_header", "a\t1\n", {":1:", "#loom-vocab 1"}},
      {"bad_count", "#loom-vocab 1\na\t1\nb\tmany\n", {":3:", "bad count 'many'"}},
      {"special_outside", "#loom-vocab 1 unk=5\na\t1\n", {":1:", "unk id 5 outside the file"}},
      {"unknown_role", "#loom-vocab 1 mask=0\na\t1\n", {":1:", "unknown special role 'mask'"}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      auto path = dir / (std::string(c.name) + ".vocab");
      write(path, c.text);
      std::vector<std::string> fragments = c.fragments;
      fragments.push_back(path.string());
      try {
        loom::Vocab::load(path);
        BOOST_ERROR("no InputError");
      } catch (const loom::InputError& e) {
        std::string m = e.what();
        for (const auto& f : fragments) BOOST_TEST(m.find(f) != std::string::npos, m << " lacks " << f);
      }
    }
  }
  expect_error<loom::InputError>([&] { loom::Vocab::load(dir / "missing.vocab"); }, {"missing.vocab", "cannot open"});
}

BOOST_AUTO_TEST_CASE(passes_the_vocabulary_contract) {
  Loaded l;
  for (auto base : std::vector<std::map<std::string, std::string>>{{}, {{"lowercase", "true"}},
                                                                   {{"eos", "<eos>"}, {"pad", "<pad>"}}}) {
    auto failures = loom::testing::contracts::vocab_builder(l.registry, "frequency",
                                                            loom::testing::contracts::sample_counts(), base);
    BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
  }
}

// An empty unk means no unknown token, however YAML spells the emptiness: the vocabulary has
// no unk role and no "<unk>" entry, and a lookup of an unknown word gives kNone, never an id
// (the loaders then report the word; see data/text_classification's tests).
BOOST_AUTO_TEST_CASE(an_empty_unk_means_no_unknown_token) {
  for (const char* yaml : {"{unk: ''}", "{unk: \"\"}", "{unk: }", "{unk: ~}", "{unk: null}"}) {
    BOOST_TEST_CONTEXT(yaml) {
      loom::Vocab v = build(yaml, kCounts);
      BOOST_TEST(v.unk_id() == loom::Vocab::kNone);
      BOOST_TEST(v.find("<unk>") == loom::Vocab::kNone);
      BOOST_TEST(v.id("zebra") == loom::Vocab::kNone);
      BOOST_TEST(v.id("the") == 0);  // ids start at the first kept word
      BOOST_TEST(v.to_text().rfind("#loom-vocab 1\n", 0) == 0);
    }
  }
}
