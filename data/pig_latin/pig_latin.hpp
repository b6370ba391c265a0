#pragma once
// A seeded generator of English -> Pig Latin sentence pairs, a small translation task whose
// rule is known exactly and whose test words are never seen in training, so that a model only
// scores well on test by learning the rule rather than the words. Self-contained: depends only
// on the standard library.
//
// The rule, for a word of lower-case letters a-z:
//   - the vowels are a e i o u, and y when it is not the first letter of the word;
//   - a word that starts with a vowel gets "way" appended: impress -> impressway;
//   - otherwise the consonants before the first vowel move to the end, followed by "ay":
//     team -> eamtay, shopping -> oppingshay, rhythm -> ythmrhay, yellow -> ellowyay,
//     my -> ymay; a u right after a q among those consonants is one of them, so "qu" moves as
//     a block: queen -> eenquay, square -> aresquay, quiet -> ietquay;
//   - a word without a vowel gets "ay" appended: nth -> nthay, hmm -> hmmay;
//   - a hyphenated word is translated part by part: well-being -> ellway-eingbay.
// A sentence is translated word by word; its words are separated by single spaces.
//
// The word types: by default pronounceable pseudo-words of one to three syllables drawn from
// the seed ("bleam", "squorin", "thyst"), a short fixed list of words without a vowel ("nth",
// "hmm", "psst") and, rarely, hyphenated compounds of two pseudo-words, so that every case of
// the rule occurs. No pseudo-word occurs twice, neither as a word nor as a compound's part.
// With words_file set, the word types are those of that text file instead (see PigLatinSpec).
//
// The split is by word type: the types are shuffled and cut into 80% train, 10% valid and 10%
// test types (rounded down for valid and test; the generated vowel-less words are cut on their
// own so that every split has some), and each split's sentences use only that split's types.
// A sentence has a length drawn uniformly from [min_words, max_words] and words drawn
// uniformly, with replacement, from its split's types.
//
// Determinism: the same spec gives byte-identical files on any platform (a splitmix64
// generator and integer arithmetic only; no std distributions). The word types and their split
// depend on the seed (and the words file) only, and each split's sentences come from a stream
// of their own, so changing the size of one split leaves the other splits unchanged; changing
// min_words or max_words changes all three.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace loom::data {

// The translation of one word, or of a hyphenated word part by part. Throws
// std::invalid_argument (one line quoting the word and saying what is wrong) when the word is
// empty, has a character other than a-z and '-', or has an empty part around a hyphen
// ("-ab", "a--b", "ab-").
std::string pig_latin_word(std::string_view word);

// The translation word by word of a sentence whose words are separated by single spaces.
// Throws std::invalid_argument (one line quoting the sentence and the bad word) for an empty
// sentence, an empty word (leading, trailing or doubled spaces) and every error of
// pig_latin_word.
std::string pig_latin_sentence(std::string_view sentence);

// The default members are the "small" size.
struct PigLatinSpec {
  std::uint64_t seed = 1;
  // Sentence pairs per split; each at least 1.
  std::int64_t train = 2000;
  std::int64_t valid = 200;
  std::int64_t test = 200;
  // Words per sentence, drawn uniformly from [min_words, max_words]; 1 <= min_words <=
  // max_words.
  int min_words = 1;
  int max_words = 4;
  // Empty: generated pseudo-words. Otherwise a text file whose word types are used instead:
  // its tokens split at white space, lower-cased (ASCII), kept only when made of a-z and
  // hyphens between letters ("well-being", not "-ab" or "fox,"), de-duplicated. It must give
  // at least 10 word types, so that every split gets one.
  std::filesystem::path words_file;
};

// A named size with the default seed and no words file: "small" is 2000 / 200 / 200 sentences
// of 1 to 4 words (train / valid / test), "large" 20000 / 1000 / 1000 sentences of 1 to 8
// words. Throws std::invalid_argument quoting any other name.
PigLatinSpec pig_latin_spec(std::string_view size);

struct PigLatinPair {
  std::string english;    // words separated by single spaces
  std::string pig_latin;  // pig_latin_sentence(english)
};

struct PigLatinCorpus {
  std::vector<PigLatinPair> train, valid, test;
};

// The three splits in memory, in generation order. Throws std::invalid_argument when the spec
// is out of range or the words file gives fewer than 10 word types (naming the file), and
// std::runtime_error naming the file when it cannot be read.
PigLatinCorpus generate_pig_latin(const PigLatinSpec& spec);

// What write_pig_latin writes to spec.json for `spec`: one JSON object with the keys version
// (of the generator's output; a new version means other text for the same spec), seed, train,
// valid, test, min_words, max_words and words_file (the path as given, or null). A folder
// matches a spec when its spec.json holds exactly this text. A words file's contents are not
// recorded: a changed file under the same path is not detected.
std::string pig_latin_spec_json(const PigLatinSpec& spec);

// Generates the corpus and writes dir/train.tsv, dir/valid.tsv and dir/test.tsv, one pair a
// line as `english TAB pig_latin`, no header, and dir/spec.json (pig_latin_spec_json). Creates
// dir if needed and replaces existing files. An existing spec.json is removed first and each
// file is written to a temporary name and renamed, spec.json last, so a present spec.json
// means a complete corpus for that spec. Not safe against concurrent writers to the same dir.
// Returns what it wrote. Throws as generate_pig_latin does, before touching dir, and
// std::runtime_error (one lower-case line naming the path) when the folder or a file cannot
// be created or written.
PigLatinCorpus write_pig_latin(const PigLatinSpec& spec, const std::filesystem::path& dir);

}  // namespace loom::data
