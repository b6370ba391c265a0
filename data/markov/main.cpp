// loom-markov-corpus: writes a Markov-chain corpus with a known optimum perplexity.
//   loom-markov-corpus DIR [--seed N] [--vocab N] [--branching N] [--train-tokens N]
//                          [--valid-tokens N] [--test-tokens N]
// Prints one line with the test optimum perplexity. Exit codes: 0 success, 2 bad arguments,
// 1 failure while writing.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "generator_cli.hpp"
#include "markov_corpus.hpp"

namespace {

constexpr const char* kUsage =
    "usage: loom-markov-corpus DIR [--seed N] [--vocab N] [--branching N] [--train-tokens N] "
    "[--valid-tokens N] [--test-tokens N]";

using loom::data::parse_integer;
using loom::data::UsageError;

loom::data::MarkovSpec parse_arguments(int argc, char** argv, std::filesystem::path& dir) {
  loom::data::MarkovSpec spec;
  std::optional<std::filesystem::path> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      if (i + 1 >= argc) throw UsageError("missing value for " + std::string(arg));
      const std::string_view value = argv[++i];
      if (arg == "--seed") {
        spec.seed = parse_integer<std::uint64_t>(arg, value, 0);
      } else if (arg == "--vocab") {
        spec.vocab_size = parse_integer<int>(arg, value, 2);
      } else if (arg == "--branching") {
        spec.branching = parse_integer<int>(arg, value, 1);
      } else if (arg == "--train-tokens") {
        spec.train_tokens = parse_integer<std::int64_t>(arg, value, 1);
      } else if (arg == "--valid-tokens") {
        spec.valid_tokens = parse_integer<std::int64_t>(arg, value, 1);
      } else if (arg == "--test-tokens") {
        spec.test_tokens = parse_integer<std::int64_t>(arg, value, 1);
      } else {
        throw UsageError("unknown option " + std::string(arg));
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
  loom::data::MarkovSpec spec;
  try {
    spec = parse_arguments(argc, argv, dir);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "loom-markov-corpus: %s (%s)\n", e.what(), kUsage);
    return 2;
  }
  try {
    const loom::data::MarkovOptimum optimum = loom::data::write_markov_corpus(spec, dir);
    std::printf("optimum test perplexity %.17g (%s, %lld tokens)\n", optimum.test_perplexity,
                (dir / "test.txt").string().c_str(),
                static_cast<long long>(optimum.test_tokens));
  } catch (const std::invalid_argument& e) {
    // An out-of-range spec (e.g. --branching >= --vocab) is still the caller's argument error.
    std::fprintf(stderr, "loom-markov-corpus: %s (%s)\n", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom-markov-corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
