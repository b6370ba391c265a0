// loom-pig-latin: writes an English -> Pig Latin translation set (train.tsv, valid.tsv,
// test.tsv, spec.json) whose test words never occur in training.
//   loom-pig-latin DIR [--seed N] [--size small|large] [--train N] [--valid N] [--test N]
//                      [--min-words N] [--max-words N] [--words FILE]
// --size sets the counts and sentence lengths first, wherever it stands; the other options
// override it. Prints one line with what it wrote. Exit codes: 0 success, 2 bad arguments,
// 1 failure while reading the words file or writing.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "generator_cli.hpp"
#include "pig_latin.hpp"

namespace {

constexpr const char* kUsage =
    "usage: loom-pig-latin DIR [--seed N] [--size small|large] [--train N] [--valid N] "
    "[--test N] [--min-words N] [--max-words N] [--words FILE] (default size small: 2000 / 200 "
    "/ 200 sentences of 1 to 4 words)";

using loom::data::parse_integer;
using loom::data::UsageError;

loom::data::PigLatinSpec parse_arguments(int argc, char** argv, std::filesystem::path& dir) {
  std::optional<std::filesystem::path> positional;
  std::optional<std::string_view> size;
  std::optional<std::uint64_t> seed;
  std::optional<std::int64_t> train, valid, test;
  std::optional<int> min_words, max_words;
  std::optional<std::filesystem::path> words_file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-') {
      if (arg != "--seed" && arg != "--size" && arg != "--train" && arg != "--valid" &&
          arg != "--test" && arg != "--min-words" && arg != "--max-words" && arg != "--words") {
        throw UsageError("unknown option " + std::string(arg));
      }
      if (i + 1 >= argc) throw UsageError("missing value for " + std::string(arg));
      const std::string_view value = argv[++i];
      if (arg == "--seed") {
        seed = parse_integer<std::uint64_t>(arg, value);
      } else if (arg == "--size") {
        size = value;
      } else if (arg == "--min-words" || arg == "--max-words") {
        (arg == "--min-words" ? min_words : max_words) = parse_integer<int>(arg, value);
      } else if (arg == "--words") {
        words_file = std::filesystem::path(value);
      } else {
        (arg == "--train"   ? train
         : arg == "--valid" ? valid
                            : test) = parse_integer<std::int64_t>(arg, value);
      }
    } else if (positional) {
      throw UsageError("unexpected argument '" + std::string(arg) + "'");
    } else {
      positional = std::filesystem::path(arg);
    }
  }
  if (!positional) throw UsageError("missing output directory");
  dir = *positional;
  loom::data::PigLatinSpec spec;
  if (size) {
    try {
      spec = loom::data::pig_latin_spec(*size);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  if (seed) spec.seed = *seed;
  if (train) spec.train = *train;
  if (valid) spec.valid = *valid;
  if (test) spec.test = *test;
  if (min_words) spec.min_words = *min_words;
  if (max_words) spec.max_words = *max_words;
  if (words_file) spec.words_file = *words_file;
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::printf("%s\n", kUsage);
    return 0;
  }
  std::filesystem::path dir;
  loom::data::PigLatinSpec spec;
  try {
    spec = parse_arguments(argc, argv, dir);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "loom-pig-latin: %s (%s)\n", e.what(), kUsage);
    return 2;
  }
  try {
    const loom::data::PigLatinCorpus corpus = loom::data::write_pig_latin(spec, dir);
    std::printf("wrote %zu / %zu / %zu sentence pairs (train / valid / test) to %s\n",
                corpus.train.size(), corpus.valid.size(), corpus.test.size(), dir.string().c_str());
  } catch (const std::invalid_argument& e) {
    // A count or length out of range, or too few words in the words file, is still the
    // caller's argument error.
    std::fprintf(stderr, "loom-pig-latin: %s (%s)\n", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom-pig-latin: %s\n", e.what());
    return 1;
  }
  return 0;
}
