// loom-sentiment-corpus: writes the negation/contrast sentiment set (train.tsv, valid.tsv,
// test.tsv) that a bag of words cannot solve.
//   loom-sentiment-corpus DIR [--seed N] [--train N] [--valid N] [--test N]
// Prints one line with what it wrote. Exit codes: 0 success, 2 bad arguments, 1 failure while
// writing.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "generator_cli.hpp"
#include "sentiment_corpus.hpp"

namespace {

constexpr const char* kUsage =
    "usage: loom-sentiment-corpus DIR [--seed N] [--train N] [--valid N] [--test N] "
    "(sentence counts even, default 4000 / 500 / 1000)";

using loom::data::parse_integer;
using loom::data::UsageError;

loom::data::SentimentSpec parse_arguments(int argc, char** argv, std::filesystem::path& dir) {
  loom::data::SentimentSpec spec;
  std::optional<std::filesystem::path> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-') {
      if (arg != "--seed" && arg != "--train" && arg != "--valid" && arg != "--test") {
        throw UsageError("unknown option " + std::string(arg));
      }
      if (i + 1 >= argc) throw UsageError("missing value for " + std::string(arg));
      const std::string_view value = argv[++i];
      if (arg == "--seed") {
        spec.seed = parse_integer<std::uint64_t>(arg, value);
      } else {
        (arg == "--train"   ? spec.train
         : arg == "--valid" ? spec.valid
                            : spec.test) = parse_integer<std::int64_t>(arg, value);
      }
    } else if (positional) {
      throw UsageError("unexpected argument '" + std::string(arg) + "'");
    } else {
      positional = std::filesystem::path(arg);
    }
  }
  if (!positional) throw UsageError("missing output directory");
  dir = *positional;
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::printf("%s\n", kUsage);
    return 0;
  }
  std::filesystem::path dir;
  loom::data::SentimentSpec spec;
  try {
    spec = parse_arguments(argc, argv, dir);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "loom-sentiment-corpus: %s (%s)\n", e.what(), kUsage);
    return 2;
  }
  try {
    const loom::data::SentimentCorpus corpus = loom::data::write_sentiment_corpus(spec, dir);
    std::printf("wrote %zu / %zu / %zu sentences (train / valid / test) to %s\n",
                corpus.train.size(), corpus.valid.size(), corpus.test.size(), dir.string().c_str());
  } catch (const std::invalid_argument& e) {
    // An odd or too small count is still the caller's argument error.
    std::fprintf(stderr, "loom-sentiment-corpus: %s (%s)\n", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom-sentiment-corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
