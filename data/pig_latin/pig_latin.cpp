#include "pig_latin.hpp"

#include "generator_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace loom::data {
namespace {

namespace fs = std::filesystem;

// ---- the rule -------------------------------------------------------------------------------

// Why `word` is not a word the rule applies to, or nothing when it is one.
std::optional<std::string> word_problem(std::string_view word) {
  if (word.empty()) return "empty word";
  for (const char c : word) {
    if ((c < 'a' || c > 'z') && c != '-') {
      const bool printable = c >= ' ' && c <= '~';
      return (printable ? "'" + std::string(1, c) + "'"
                        : "byte " + std::to_string(static_cast<unsigned char>(c))) +
             " is not a lower-case letter a-z or '-'";
    }
  }
  if (word.front() == '-' || word.back() == '-' || word.find("--") != std::string_view::npos) {
    return "empty part around a hyphen";
  }
  return std::nullopt;
}

// How many letters of `part` (a-z, not empty) come before its first vowel. The scan only ever
// looks at the leading consonants, so a u right after a q is always one of them.
std::size_t leading_consonants(std::string_view part) {
  for (std::size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' ||
                       (c == 'u' && (i == 0 || part[i - 1] != 'q')) || (c == 'y' && i > 0);
    if (vowel) return i;
  }
  return part.size();
}

void append_part(std::string& out, std::string_view part) {
  const std::size_t n = leading_consonants(part);
  if (n == 0) {
    out += part;
    out += "way";
  } else {
    // With no vowel at all, n is the whole part and nothing moves.
    out += part.substr(n);
    out += part.substr(0, n);
    out += "ay";
  }
}

// The translation of a word already checked by word_problem.
std::string translate_checked(std::string_view word) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t hyphen = std::min(word.find('-', start), word.size());
    append_part(out, word.substr(start, hyphen - start));
    if (hyphen == word.size()) return out;
    out += '-';
    start = hyphen + 1;
  }
}

// ---- generation -----------------------------------------------------------------------------

using Rng = SplitMix64;

enum Stream : std::uint64_t {
  kWordStream = 0,  // the word types and their split
  kTrainStream = 1,
  kValidStream = 2,
  kTestStream = 3,
};

// Hashing the seed before adding the stream index keeps seeds s and s + 1 from sharing streams.
std::uint64_t stream_seed(std::uint64_t seed, Stream stream) {
  Rng hashed(seed);
  Rng mixed(hashed.next() + static_cast<std::uint64_t>(stream));
  return mixed.next();
}

struct Weighted {
  std::string_view text;
  std::uint64_t weight;
};

// The syllable tables. The empty onset makes vowel-initial words; "qu", "squ" the qu block;
// "y" a y that is a consonant; the nucleus "y" a y that is a vowel (rhythm, my).
constexpr Weighted kOnsets[] = {
    {"", 14},   {"b", 3},   {"c", 3},  {"d", 3},  {"f", 3},   {"g", 3},  {"h", 3},  {"j", 1},
    {"k", 2},   {"l", 3},   {"m", 3},  {"n", 3},  {"p", 3},   {"r", 3},  {"s", 3},  {"t", 3},
    {"v", 2},   {"w", 2},   {"z", 1},  {"sh", 2}, {"th", 2},  {"ch", 2}, {"wh", 1}, {"st", 2},
    {"str", 1}, {"spr", 1}, {"rh", 1}, {"qu", 2}, {"squ", 1}, {"y", 2},  {"bl", 1}, {"br", 1},
    {"cl", 1},  {"cr", 1},  {"dr", 1}, {"fl", 1}, {"fr", 1},  {"gl", 1}, {"gr", 1}, {"pl", 1},
    {"pr", 1},  {"sl", 1},  {"sm", 1}, {"sn", 1}, {"sp", 1},  {"tr", 1}, {"sk", 1}, {"ph", 1},
    {"thr", 1}, {"sch", 1}, {"kn", 1}, {"scr", 1}};
constexpr Weighted kNuclei[] = {{"a", 4},  {"e", 4},  {"i", 4},  {"o", 4},  {"u", 3},
                                {"y", 2},  {"ai", 1}, {"ea", 1}, {"ee", 1}, {"oo", 1},
                                {"ou", 1}, {"ie", 1}, {"oa", 1}};
constexpr Weighted kCodas[] = {{"", 16},  {"n", 2},  {"r", 2},  {"s", 2},  {"t", 2},  {"l", 2},
                               {"m", 1},  {"ng", 1}, {"ck", 1}, {"st", 1}, {"nd", 1}, {"sh", 1},
                               {"th", 1}, {"x", 1},  {"mp", 1}, {"rt", 1}, {"ll", 1}, {"ss", 1}};
// Syllables per pseudo-word, in percent; the rest have three.
constexpr std::uint64_t kOneSyllablePercent = 35;
constexpr std::uint64_t kTwoSyllablePercent = 45;

// Words without a vowel (no a e i o u, no y after the first letter). Each must be distinct.
constexpr std::array<std::string_view, 20> kVowelless = {
    "nth", "hmm", "psst", "shh", "brr",   "tsk", "pfft", "grr",    "zzz",  "hmph",
    "mm",  "pst", "bzzt", "sh",  "crwth", "cwm", "pht",  "tsktsk", "brrr", "shhh"};

// Pseudo-word types generated per corpus, compounds included: 2400 train, 300 valid and
// 300 test types, enough that the large size repeats a training type about 40 times.
constexpr std::size_t kGeneratedTypes = 3000;
constexpr std::uint64_t kCompoundPercent = 5;
// The fewest types a words file may give: 10% of 10 is one type each for valid and test.
constexpr std::size_t kMinFileTypes = 10;

template <std::size_t N>
std::string_view pick(Rng& rng, const Weighted (&table)[N]) {
  std::uint64_t total = 0;
  for (const auto& entry : table) total += entry.weight;
  std::uint64_t draw = rng.below(total);
  for (const auto& entry : table) {
    if (draw < entry.weight) return entry.text;
    draw -= entry.weight;
  }
  return table[0].text;  // unreachable: draw < total
}

std::string pseudo_word(Rng& rng) {
  const std::uint64_t draw = rng.below(100);
  const int syllables = draw < kOneSyllablePercent                         ? 1
                        : draw < kOneSyllablePercent + kTwoSyllablePercent ? 2
                                                                           : 3;
  std::string word;
  for (int s = 0; s < syllables; ++s) {
    const std::string_view onset = pick(rng, kOnsets);
    std::string_view nucleus = pick(rng, kNuclei);
    // A y that starts the word is a consonant, so a nucleus y there would make a word without
    // a vowel, and those come from kVowelless only; "yy" and "quu" are merely unpronounceable.
    while ((nucleus == "y" && ((word.empty() && onset.empty()) || onset == "y")) ||
           (!onset.empty() && onset.back() == 'u' && nucleus.front() == 'u')) {
      nucleus = pick(rng, kNuclei);
    }
    word += onset;
    word += nucleus;
    word += pick(rng, kCodas);
  }
  return word;
}

// A pseudo-word not drawn before, as a word or as a compound's part.
std::string fresh_pseudo_word(Rng& rng, std::unordered_set<std::string>& used) {
  for (;;) {
    std::string word = pseudo_word(rng);
    if (used.insert(word).second) return word;
  }
}

using Types = std::array<std::vector<std::string>, 3>;  // train, valid, test

// Shuffles `types` and deals 10% (rounded down) to valid, as many to test, the rest to train.
void deal(std::vector<std::string> types, Rng& rng, Types& split) {
  rng.shuffle(types);
  const std::size_t held_out = types.size() / 10;
  const auto begin = types.begin();
  const auto valid_end = begin + static_cast<std::ptrdiff_t>(held_out);
  const auto test_end = valid_end + static_cast<std::ptrdiff_t>(held_out);
  split[1].insert(split[1].end(), begin, valid_end);
  split[2].insert(split[2].end(), valid_end, test_end);
  split[0].insert(split[0].end(), test_end, types.end());
}

Types generated_types(Rng& rng) {
  std::unordered_set<std::string> used;
  for (const auto word : kVowelless) used.emplace(word);
  std::vector<std::string> pseudo;
  pseudo.reserve(kGeneratedTypes);
  while (pseudo.size() < kGeneratedTypes) {
    if (rng.percent(kCompoundPercent)) {
      std::string first = fresh_pseudo_word(rng, used);
      pseudo.push_back(first + "-" + fresh_pseudo_word(rng, used));
    } else {
      pseudo.push_back(fresh_pseudo_word(rng, used));
    }
  }
  Types split;
  deal(std::move(pseudo), rng, split);
  deal(std::vector<std::string>(kVowelless.begin(), kVowelless.end()), rng, split);
  return split;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

Types file_types(const fs::path& path, Rng& rng) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open words file " + path.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("cannot read words file " + path.string());
  // Sorted, so the split depends on the set of words and not on their order in the file.
  std::set<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    if (is_space(text[start])) {
      ++start;
      continue;
    }
    std::size_t end = start;
    while (end < text.size() && !is_space(text[end])) ++end;
    std::string token = text.substr(start, end - start);
    for (char& c : token)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!word_problem(token)) words.insert(std::move(token));
    start = end;
  }
  if (words.size() < kMinFileTypes) {
    throw std::invalid_argument("words file " + path.string() + " gives " +
                                std::to_string(words.size()) + " word types, at least " +
                                std::to_string(kMinFileTypes) +
                                " are needed (tokens of a-z and inner hyphens)");
  }
  Types split;
  deal(std::vector<std::string>(words.begin(), words.end()), rng, split);
  return split;
}

std::vector<PigLatinPair> generate_split(std::int64_t sentences,
                                         const std::vector<std::string>& types,
                                         const PigLatinSpec& spec, Rng rng) {
  std::vector<PigLatinPair> split;
  split.reserve(static_cast<std::size_t>(sentences));
  const auto lengths = static_cast<std::uint64_t>(spec.max_words - spec.min_words + 1);
  for (std::int64_t i = 0; i < sentences; ++i) {
    const std::uint64_t length = static_cast<std::uint64_t>(spec.min_words) + rng.below(lengths);
    PigLatinPair pair;
    for (std::uint64_t w = 0; w < length; ++w) {
      const std::string& word = types[rng.below(types.size())];
      if (w > 0) pair.english += ' ', pair.pig_latin += ' ';
      pair.english += word;
      pair.pig_latin += translate_checked(word);
    }
    split.push_back(std::move(pair));
  }
  return split;
}

void validate(const PigLatinSpec& spec) {
  auto fail = [](const std::string& message) {
    throw std::invalid_argument("invalid pig latin spec: " + message);
  };
  for (const auto& [name, count] : {std::pair<const char*, std::int64_t>{"train", spec.train},
                                    {"valid", spec.valid},
                                    {"test", spec.test}}) {
    if (count < 1) {
      fail(std::string(name) + " must be at least 1 sentence, got " + std::to_string(count));
    }
  }
  if (spec.min_words < 1) {
    fail("min_words must be at least 1, got " + std::to_string(spec.min_words));
  }
  if (spec.max_words < spec.min_words) {
    fail("max_words must be at least min_words (" + std::to_string(spec.min_words) + "), got " +
         std::to_string(spec.max_words));
  }
}

// ---- writing --------------------------------------------------------------------------------

// Bump when the text generated for some spec changes, so that old folders stop matching.
constexpr int kVersion = 1;

std::string json_string(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string split_tsv(const std::vector<PigLatinPair>& split) {
  std::string tsv;
  for (const auto& pair : split) {
    tsv += pair.english;
    tsv += '\t';
    tsv += pair.pig_latin;
    tsv += '\n';
  }
  return tsv;
}

}  // namespace

std::string pig_latin_word(std::string_view word) {
  if (const auto problem = word_problem(word)) {
    throw std::invalid_argument("cannot translate '" + std::string(word) +
                                "' to pig latin: " + *problem);
  }
  return translate_checked(word);
}

std::string pig_latin_sentence(std::string_view sentence) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument("cannot translate sentence '" + std::string(sentence) +
                                "' to pig latin: " + why);
  };
  if (sentence.empty()) fail("empty sentence");
  std::string out;
  std::size_t start = 0;
  while (start <= sentence.size()) {
    const std::size_t end = std::min(sentence.find(' ', start), sentence.size());
    const std::string_view word = sentence.substr(start, end - start);
    if (word.empty()) fail("empty word: words are separated by single spaces");
    if (const auto problem = word_problem(word)) {
      fail("word '" + std::string(word) + "': " + *problem);
    }
    if (!out.empty()) out += ' ';
    out += translate_checked(word);
    start = end + 1;
  }
  return out;
}

PigLatinSpec pig_latin_spec(std::string_view size) {
  PigLatinSpec spec;
  if (size == "small") {
    spec.train = 2000, spec.valid = 200, spec.test = 200;
    spec.min_words = 1, spec.max_words = 4;
  } else if (size == "large") {
    spec.train = 20000, spec.valid = 1000, spec.test = 1000;
    spec.min_words = 1, spec.max_words = 8;
  } else {
    throw std::invalid_argument("unknown pig latin size '" + std::string(size) +
                                "' (small or large)");
  }
  return spec;
}

PigLatinCorpus generate_pig_latin(const PigLatinSpec& spec) {
  validate(spec);
  Rng word_rng(stream_seed(spec.seed, kWordStream));
  const Types types =
      spec.words_file.empty() ? generated_types(word_rng) : file_types(spec.words_file, word_rng);
  PigLatinCorpus corpus;
  corpus.train =
      generate_split(spec.train, types[0], spec, Rng(stream_seed(spec.seed, kTrainStream)));
  corpus.valid =
      generate_split(spec.valid, types[1], spec, Rng(stream_seed(spec.seed, kValidStream)));
  corpus.test = generate_split(spec.test, types[2], spec, Rng(stream_seed(spec.seed, kTestStream)));
  return corpus;
}

std::string pig_latin_spec_json(const PigLatinSpec& spec) {
  std::string json = "{\n";
  auto add = [&json](std::string_view key, const std::string& value, bool last = false) {
    json += "  \"";
    json += key;
    json += "\": ";
    json += value;
    json += last ? "\n" : ",\n";
  };
  add("version", std::to_string(kVersion));
  add("seed", std::to_string(spec.seed));
  add("train", std::to_string(spec.train));
  add("valid", std::to_string(spec.valid));
  add("test", std::to_string(spec.test));
  add("min_words", std::to_string(spec.min_words));
  add("max_words", std::to_string(spec.max_words));
  add("words_file", spec.words_file.empty() ? "null" : json_string(spec.words_file.string()),
      /*last=*/true);
  json += "}\n";
  return json;
}

PigLatinCorpus write_pig_latin(const PigLatinSpec& spec, const fs::path& dir) {
  PigLatinCorpus corpus = generate_pig_latin(spec);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    throw std::runtime_error("cannot create directory " + dir.string() + ": " +
                             first_lower(error.message()));
  }
  // Removing the old spec first keeps "spec.json present => complete corpus for that spec" true
  // even if this run dies half-way through replacing an earlier corpus.
  const fs::path spec_path = dir / "spec.json";
  fs::remove(spec_path, error);
  if (error) {
    throw std::runtime_error("cannot remove " + spec_path.string() + ": " +
                             first_lower(error.message()));
  }
  write_file_replacing(dir / "train.tsv", split_tsv(corpus.train));
  write_file_replacing(dir / "valid.tsv", split_tsv(corpus.valid));
  write_file_replacing(dir / "test.tsv", split_tsv(corpus.test));
  write_file_replacing(spec_path, pig_latin_spec_json(spec));
  return corpus;
}

}  // namespace loom::data
