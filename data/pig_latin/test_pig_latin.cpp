#define BOOST_TEST_MODULE pig_latin
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pig_latin.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using loom::data::generate_pig_latin;
using loom::data::pig_latin_sentence;
using loom::data::pig_latin_spec;
using loom::data::pig_latin_spec_json;
using loom::data::pig_latin_word;
using loom::data::PigLatinCorpus;
using loom::data::PigLatinPair;
using loom::data::PigLatinSpec;
using loom::data::write_pig_latin;

// The suite's temporary folders.
struct TempDir : loom::data::testing::TempDir {
  TempDir() : loom::data::testing::TempDir("loom_pig_latin_test_") {}
};
using loom::data::testing::read_file;

std::vector<std::string> split_at(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

using Split = std::pair<const char*, const std::vector<PigLatinPair>*>;
std::vector<Split> splits_of(const PigLatinCorpus& c) {
  return {{"train", &c.train}, {"valid", &c.valid}, {"test", &c.test}};
}

bool same_pairs(const std::vector<PigLatinPair>& a, const std::vector<PigLatinPair>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].english != b[i].english || a[i].pig_latin != b[i].pig_latin) return false;
  return true;
}

bool same_corpus(const PigLatinCorpus& a, const PigLatinCorpus& b) {
  return same_pairs(a.train, b.train) && same_pairs(a.valid, b.valid) && same_pairs(a.test, b.test);
}

// The distinct words of a split's English side.
std::set<std::string> types_of(const std::vector<PigLatinPair>& split) {
  std::set<std::string> types;
  for (const auto& pair : split)
    for (const auto& word : split_at(pair.english, ' ')) types.insert(word);
  return types;
}

bool is_vowel_letter(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// Which cases of the rule a word shows, judged from its spelling alone.
std::set<std::string> cases_of(const std::string& word) {
  std::set<std::string> cases;
  if (word.find('-') != std::string::npos) cases.insert("hyphenated");
  for (const auto& part : split_at(word, '-')) {
    bool has_vowel = false;
    for (std::size_t i = 0; i < part.size(); ++i)
      has_vowel = has_vowel || is_vowel_letter(part[i]) || (i > 0 && part[i] == 'y');
    if (!has_vowel) {
      cases.insert("no vowel");
    } else if (is_vowel_letter(part[0])) {
      cases.insert("vowel first");
    } else if (part.rfind("qu", 0) == 0 || part.rfind("squ", 0) == 0) {
      cases.insert("qu");
    } else if (part[part.find_first_of("aeiouy", 1)] == 'y') {
      cases.insert("y as vowel");
    } else if (part.size() > 1 && !is_vowel_letter(part[1]) && part[1] != 'y') {
      cases.insert("consonant cluster");
    } else if (part[0] == 'y') {
      cases.insert("y as consonant");
    } else {
      cases.insert("one consonant");
    }
  }
  return cases;
}

PigLatinSpec small_spec(std::uint64_t seed) {
  PigLatinSpec spec = pig_latin_spec("small");
  spec.seed = seed;
  return spec;
}

// Reads a train/valid/test.tsv back into pairs.
std::vector<PigLatinPair> read_pairs(const fs::path& path) {
  const std::string text = read_file(path);
  BOOST_REQUIRE(!text.empty());
  BOOST_REQUIRE(text.back() == '\n');
  std::vector<PigLatinPair> pairs;
  for (const auto& line : split_at(text.substr(0, text.size() - 1), '\n')) {
    const std::vector<std::string> fields = split_at(line, '\t');
    BOOST_REQUIRE_MESSAGE(fields.size() == 2u, "line '" << line << "'");
    pairs.push_back({fields[0], fields[1]});
  }
  return pairs;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  BOOST_REQUIRE(out);
}

// Calls `f`, which must throw E with a one-line message containing every one of `needles`.
template <typename E, typename F>
void check_throws(F f, const std::vector<std::string>& needles) {
  try {
    f();
    BOOST_ERROR("no exception");
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& needle : needles)
      BOOST_TEST(message.find(needle) != std::string::npos, "'" << needle << "' in " << message);
    BOOST_TEST(message.find('\n') == std::string::npos, message);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_examples_translate_word_for_word) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"impress", "impressway"},
      {"team", "eamtay"},
      {"shopping", "oppingshay"},
      {"the", "ethay"},
      {"rhythm", "ythmrhay"},
      {"yellow", "ellowyay"},
      {"my", "ymay"},
      {"queen", "eenquay"},
      {"square", "aresquay"},
      {"quiet", "ietquay"},
      {"nth", "nthay"},
      {"hmm", "hmmay"},
      {"well-being", "ellway-eingbay"},
      // Beyond the examples: one-letter words, a u that is a vowel, qu after a vowel.
      {"a", "away"},
      {"y", "yay"},
      {"b", "bay"},
      {"under", "underway"},
      {"sun", "unsay"},
      {"aqua", "aquaway"},
      {"qu", "quay"},
      {"style", "ylestay"},
      {"yttrium", "iumyttray"}};
  for (const auto& [english, expected] : cases) BOOST_TEST(pig_latin_word(english) == expected);
}

BOOST_AUTO_TEST_CASE(hyphenated_words_and_sentences_go_part_by_part) {
  const std::vector<std::pair<std::string, std::string>> words = {
      {"x-ray", "xay-ayray"},
      {"self-aware", "elfsay-awareway"},
      {"quick-hmm-my", "ickquay-hmmay-ymay"}};
  for (const auto& [english, expected] : words) BOOST_TEST(pig_latin_word(english) == expected);
  const std::vector<std::pair<std::string, std::string>> sentences = {
      {"square", "aresquay"},
      {"the queen is quiet", "ethay eenquay isway ietquay"},
      {"my rhythm", "ymay ythmrhay"},
      {"a well-being nth", "away ellway-eingbay nthay"}};
  for (const auto& [english, expected] : sentences)
    BOOST_TEST(pig_latin_sentence(english) == expected);
}

BOOST_AUTO_TEST_CASE(bad_words_are_refused_naming_the_word) {
  for (const std::string word :
       {"", "Team", "ab1", "te am", "a_b", "-ab", "a--b", "ab-", "-", "caf\xc3\xa9", "tab\tx"}) {
    BOOST_TEST_CONTEXT("'" << word << "'") {
      check_throws<std::invalid_argument>([&] { pig_latin_word(word); }, {"'" + word + "'"});
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_sentences_are_refused_naming_the_sentence_and_word) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {" team", ""},
      {"team ", ""},
      {"the  queen", ""},
      {"the Queen", "'Queen'"},
      {"well--being is good", "'well--being'"},
      {"ab- cd", "'ab-'"},
      {"the queen.", "'queen.'"}};
  for (const auto& [sentence, word] : cases) {
    BOOST_TEST_CONTEXT("'" << sentence << "'") {
      std::vector<std::string> needles = {"'" + sentence + "'"};
      if (!word.empty()) needles.push_back(word);
      check_throws<std::invalid_argument>([&] { pig_latin_sentence(sentence); }, needles);
    }
  }
}

BOOST_AUTO_TEST_CASE(named_sizes) {
  const PigLatinSpec small = pig_latin_spec("small");
  BOOST_TEST(small.train == 2000);
  BOOST_TEST(small.valid == 200);
  BOOST_TEST(small.test == 200);
  BOOST_TEST(small.min_words == 1);
  BOOST_TEST(small.max_words == 4);
  BOOST_TEST(small.seed == 1u);
  BOOST_TEST(small.words_file.empty());
  const PigLatinSpec large = pig_latin_spec("large");
  BOOST_TEST(large.train == 20000);
  BOOST_TEST(large.valid == 1000);
  BOOST_TEST(large.test == 1000);
  BOOST_TEST(large.min_words == 1);
  BOOST_TEST(large.max_words == 8);
  // The default spec is the small size.
  BOOST_TEST(pig_latin_spec_json(PigLatinSpec{}) == pig_latin_spec_json(small));
  for (const std::string name : {"medium", "", "Small"})
    check_throws<std::invalid_argument>([&] { pig_latin_spec(name); }, {"'" + name + "'"});
}

BOOST_AUTO_TEST_CASE(same_spec_gives_identical_corpus_and_another_seed_differs) {
  const PigLatinCorpus a = generate_pig_latin(small_spec(7));
  BOOST_TEST(same_corpus(a, generate_pig_latin(small_spec(7))));
  const PigLatinCorpus b = generate_pig_latin(small_spec(8));
  BOOST_TEST(!same_pairs(a.train, b.train));
  BOOST_TEST(!same_pairs(a.valid, b.valid));
  BOOST_TEST(!same_pairs(a.test, b.test));
  std::set<std::string> sentences;
  for (const auto& pair : a.train) sentences.insert(pair.english);
  int shared = 0;
  for (const auto& pair : b.train) shared += static_cast<int>(sentences.count(pair.english));
  BOOST_TEST(shared < 20, shared << " of 2000 training sentences in common");
}

BOOST_AUTO_TEST_CASE(splits_use_independent_streams) {
  PigLatinSpec bigger = small_spec(3);
  bigger.train = 3000;
  const PigLatinCorpus a = generate_pig_latin(small_spec(3));
  const PigLatinCorpus b = generate_pig_latin(bigger);
  BOOST_TEST(same_pairs(a.valid, b.valid));
  BOOST_TEST(same_pairs(a.test, b.test));
  BOOST_REQUIRE(b.train.size() == 3000u);
  BOOST_TEST(
      same_pairs(a.train, std::vector<PigLatinPair>(b.train.begin(), b.train.begin() + 2000)));
}

// Test words are never seen in training: not as words, and for the generated words not as a
// hyphenated compound's part either.
BOOST_AUTO_TEST_CASE(splits_share_no_word_type) {
  for (const std::uint64_t seed : {1, 2, 99}) {
    const PigLatinCorpus corpus = generate_pig_latin(small_spec(seed));
    std::map<std::string, std::string> split_of_word, split_of_part;
    for (const auto& [name, split] : splits_of(corpus)) {
      const std::set<std::string> types = types_of(*split);
      BOOST_TEST(types.size() > (split == &corpus.train ? 1500u : 150u),
                 name << " " << types.size());
      for (const auto& word : types) {
        const auto [it, fresh] = split_of_word.emplace(word, name);
        BOOST_TEST(fresh,
                   "seed " << seed << ": '" << word << "' in " << it->second << " and " << name);
        for (const auto& part : split_at(word, '-')) {
          const auto [at, new_part] = split_of_part.emplace(part, name);
          BOOST_TEST((new_part || at->second == name), "seed " << seed << ": part '" << part
                                                               << "' in " << at->second << " and "
                                                               << name);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(counts_and_sentence_lengths_are_as_requested) {
  PigLatinSpec odd;
  odd.seed = 5, odd.train = 51, odd.valid = 7, odd.test = 1, odd.min_words = 3, odd.max_words = 6;
  PigLatinSpec fixed = odd;
  fixed.min_words = fixed.max_words = 2;
  for (const PigLatinSpec& spec : {small_spec(1), pig_latin_spec("large"), odd, fixed}) {
    BOOST_TEST_CONTEXT("train " << spec.train << ", words " << spec.min_words << " to "
                                << spec.max_words) {
      const PigLatinCorpus corpus = generate_pig_latin(spec);
      BOOST_TEST(corpus.train.size() == static_cast<std::size_t>(spec.train));
      BOOST_TEST(corpus.valid.size() == static_cast<std::size_t>(spec.valid));
      BOOST_TEST(corpus.test.size() == static_cast<std::size_t>(spec.test));
      std::set<std::size_t> train_lengths;
      for (const auto& [name, split] : splits_of(corpus))
        for (const auto& pair : *split) {
          const std::size_t length = split_at(pair.english, ' ').size();
          BOOST_TEST(length >= static_cast<std::size_t>(spec.min_words),
                     name << ": " << pair.english);
          BOOST_TEST(length <= static_cast<std::size_t>(spec.max_words),
                     name << ": " << pair.english);
          if (split == &corpus.train) train_lengths.insert(length);
        }
      // Every length in range occurs in a training set of more than a handful of sentences.
      BOOST_TEST(train_lengths.size() ==
                 static_cast<std::size_t>(spec.max_words - spec.min_words + 1));
    }
  }
}

BOOST_AUTO_TEST_CASE(every_case_of_the_rule_occurs_in_the_small_corpus) {
  const PigLatinCorpus corpus = generate_pig_latin(small_spec(1));
  std::map<std::string, int> seen;
  std::map<std::string, std::string> example;
  for (const auto& [name, split] : splits_of(corpus))
    for (const auto& pair : *split)
      for (const auto& word : split_at(pair.english, ' '))
        for (const auto& kind : cases_of(word)) {
          ++seen[kind];
          example.emplace(kind, word);
        }
  for (const char* kind : {"hyphenated", "no vowel", "vowel first", "qu", "y as vowel",
                           "consonant cluster", "y as consonant", "one consonant"}) {
    BOOST_TEST(seen[kind] >= 10, kind << ": " << seen[kind]);
    BOOST_TEST_MESSAGE(kind << ": " << seen[kind] << " words, e.g. " << example[kind] << " -> "
                            << pig_latin_word(example[kind]));
  }
}

BOOST_AUTO_TEST_CASE(every_target_is_the_rule_applied_to_its_source) {
  PigLatinSpec long_sentences = small_spec(12);
  long_sentences.max_words = 8;
  for (const PigLatinSpec& spec : {small_spec(1), long_sentences}) {
    const PigLatinCorpus corpus = generate_pig_latin(spec);
    for (const auto& [name, split] : splits_of(corpus))
      for (const auto& pair : *split) {
        BOOST_TEST_CONTEXT(name << ": " << pair.english) {
          std::string expected;
          BOOST_REQUIRE_NO_THROW(expected = pig_latin_sentence(pair.english));
          BOOST_TEST(pair.pig_latin == expected);
        }
      }
  }
}

BOOST_AUTO_TEST_CASE(a_words_file_gives_the_word_types) {
  TempDir tmp;
  const fs::path file = tmp.path() / "words.txt";
  write_text(
      file,
      "The quick brown fox jumps over the lazy dog.\nWell-being, of QUEENS and squares; a "
      "rhythm\t\tmy yellow   x-ray -dash dash- a--b caf\xc3\xa9 nth hmm 42 don't\r\nimpress");
  const std::set<std::string> expected = {"the",  "quick",  "brown",  "fox", "jumps", "over",
                                          "lazy", "of",     "queens", "and", "a",     "rhythm",
                                          "my",   "yellow", "x-ray",  "nth", "hmm",   "impress"};
  PigLatinSpec spec = small_spec(4);
  spec.train = 300, spec.valid = 30, spec.test = 30;
  spec.words_file = file;
  const PigLatinCorpus corpus = generate_pig_latin(spec);
  std::set<std::string> used;
  std::map<std::string, std::size_t> types_per_split;
  for (const auto& [name, split] : splits_of(corpus)) {
    const std::set<std::string> types = types_of(*split);
    types_per_split[name] = types.size();
    for (const auto& word : types) BOOST_TEST(used.insert(word).second, "'" << word << "' twice");
    for (const auto& pair : *split) BOOST_TEST(pair.pig_latin == pig_latin_sentence(pair.english));
  }
  BOOST_TEST(used == expected);
  // 18 types: one each for valid and test, 16 for train.
  BOOST_TEST(types_per_split["train"] == 16u);
  BOOST_TEST(types_per_split["valid"] == 1u);
  BOOST_TEST(types_per_split["test"] == 1u);
  BOOST_TEST(same_corpus(corpus, generate_pig_latin(spec)));

  // The split depends on the set of words, not on their order or repetition.
  const fs::path shuffled = tmp.path() / "shuffled.txt";
  std::string text;
  for (auto it = expected.rbegin(); it != expected.rend(); ++it) text += *it + "\n" + *it + " ";
  write_text(shuffled, text);
  spec.words_file = shuffled;
  BOOST_TEST(same_corpus(corpus, generate_pig_latin(spec)));
}

BOOST_AUTO_TEST_CASE(an_unreadable_or_too_small_words_file_is_refused) {
  TempDir tmp;
  PigLatinSpec spec = small_spec(1);
  spec.words_file = tmp.path() / "missing.txt";
  check_throws<std::runtime_error>([&] { generate_pig_latin(spec); }, {spec.words_file.string()});

  // Nine good types and junk: one short.
  spec.words_file = tmp.path() / "few.txt";
  write_text(spec.words_file, "a b c d e f g h i I A Z9 -j k- l--m");
  check_throws<std::invalid_argument>([&] { generate_pig_latin(spec); },
                                      {spec.words_file.string(), "9 word types"});
  write_text(spec.words_file, "a b c d e f g h i j");
  BOOST_CHECK_NO_THROW(generate_pig_latin(spec));
}

BOOST_AUTO_TEST_CASE(write_pig_latin_writes_the_splits_and_spec_json) {
  TempDir tmp;
  PigLatinSpec spec = small_spec(3);
  spec.valid = 123;
  const PigLatinCorpus corpus = write_pig_latin(spec, tmp.path() / "out");
  for (const auto& [name, split] : splits_of(corpus)) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(same_pairs(read_pairs(tmp.path() / "out" / (std::string(name) + ".tsv")), *split));
    }
  }
  BOOST_TEST(corpus.valid.size() == 123u);
  const std::string json = read_file(tmp.path() / "out" / "spec.json");
  BOOST_TEST(json == pig_latin_spec_json(spec));
  for (const char* line : {"\"seed\": 3,", "\"train\": 2000,", "\"valid\": 123,", "\"test\": 200,",
                           "\"min_words\": 1,", "\"max_words\": 4,", "\"words_file\": null"})
    BOOST_TEST(json.find(line) != std::string::npos, line << " in " << json);
  for (const auto& entry : fs::directory_iterator(tmp.path() / "out"))
    BOOST_TEST(entry.path().filename().string().find(".tmp") == std::string::npos, entry.path());

  // Every setting that shapes the text shows in spec.json.
  std::vector<PigLatinSpec> others(7, spec);
  others[0].seed = 4, others[1].train = 1999, others[2].valid = 124, others[3].test = 201;
  others[4].min_words = 2, others[5].max_words = 5, others[6].words_file = tmp.path() / "w.txt";
  for (const auto& other : others) BOOST_TEST(pig_latin_spec_json(other) != json);

  // Writing again replaces the corpus; a words file is recorded by its path.
  write_text(tmp.path() / "w.txt", "a b c d e f g h i j k l");
  const PigLatinCorpus again = write_pig_latin(others[6], tmp.path() / "out");
  BOOST_TEST(same_pairs(read_pairs(tmp.path() / "out" / "train.tsv"), again.train));
  const std::string json_again = read_file(tmp.path() / "out" / "spec.json");
  BOOST_TEST(json_again == pig_latin_spec_json(others[6]));
  BOOST_TEST(json_again.find("\"words_file\": \"" + (tmp.path() / "w.txt").string() + "\"") !=
                 std::string::npos,
             json_again);
}

BOOST_AUTO_TEST_CASE(bad_spec_and_unwritable_dir_throw) {
  TempDir tmp;
  std::vector<PigLatinSpec> bad(6, small_spec(1));
  bad[0].train = 0, bad[1].valid = -1, bad[2].test = 0, bad[3].min_words = 0;
  bad[4].min_words = 3, bad[4].max_words = 2;
  bad[5].words_file = tmp.path() / "missing.txt";
  for (std::size_t i = 0; i < bad.size(); ++i) {
    BOOST_TEST_CONTEXT("spec " << i) {
      if (i == 5) {
        BOOST_CHECK_THROW(write_pig_latin(bad[i], tmp.path() / "x"), std::runtime_error);
      } else {
        BOOST_CHECK_THROW(write_pig_latin(bad[i], tmp.path() / "x"), std::invalid_argument);
      }
    }
  }
  BOOST_TEST(!fs::exists(tmp.path() / "x"));

  const fs::path blocker = tmp.path() / "file";
  write_text(blocker, "not a directory");
  const fs::path target = blocker / "corpus";
  check_throws<std::runtime_error>([&] { write_pig_latin(small_spec(1), target); },
                                   {target.string()});
}
