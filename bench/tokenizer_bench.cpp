// Tokenizer throughput on the 50,000 IMDB reviews: the regex tokenizer plugin (RE2), loaded
// through loom::Registry, against the same tokenization written with std::regex, both over the
// same reviews in one invocation, at 1 and 2 threads (TBB, loom::parallel_chunks). It prints
// reviews/s and tokens/s of each and their ratio, checks that both give the same tokens, and
// times one line on which a backtracking engine takes exponential time. Like the other
// benchmarks it is not a test, and it is not part of the CMake build.
//
// Build, from the repository root, once the plugin is built
// (cmake --build build -j1 --target loom_tokenizers_regex), with one command:
//
//   g++ -std=c++20 -O3 -march=native -DBOOST_DLL_USE_STD_FS -Icore/include
//       bench/tokenizer_bench.cpp -Lbuild/core -lloom_core -ltbb
//       -Wl,-rpath,"$PWD/build/core" -o build/tokenizer_bench
//
// Run:
//
//   build/tokenizer_bench [--data ../shared/data/imdb] [--plugins build/lib/loom/plugins]
//                         [--pattern '[A-Za-z]+'] [--reps 3] [--threads 1,2]
//
// --pattern goes to both sides: the plugin's `pattern`, and a std::regex (ECMAScript syntax,
// which reads simple patterns such as [A-Za-z]+|[0-9]+|[^\s\w] the same way; \pL it does not
// know). The std::regex side strips tags with the plugin's rule ('<' and a letter, "</" and a
// letter, "<!" or "<?", up to the next '>' with no '<' before it) and decodes no character
// references. IMDB has only numeric references, to non-ASCII characters, so with the default
// pattern both sides give the same tokens. std::regex works on bytes: a pattern that matches
// a non-ASCII character cuts it into bytes, which the count of invalid UTF-8 tokens shows.
// The timed runs only count tokens; the comparison of tokens is a separate, untimed pass. The
// two sides take turns, and each time is the best of --reps runs, because the machine is
// shared; "cores used" (CPU time over wall time) shows how much of the machine a run had.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "loom/parallel.hpp"
#include "loom/plugin.hpp"
#include "loom/registry.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/text.hpp"

namespace {

// The `column` field of every record of an RFC 4180 CSV file with a header (quoted fields
// may hold commas, doubled quotes and line breaks).
std::vector<std::string> read_csv_column(const std::string& path, const std::string& column) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<std::vector<std::string>> records(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        field += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      records.back().push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      records.back().push_back(std::move(field));
      field.clear();
      records.emplace_back();
    } else {
      field += c;
    }
  }
  if (!field.empty() || !records.back().empty()) records.back().push_back(std::move(field));
  if (records.back().empty()) records.pop_back();
  const auto& header = records.at(0);
  auto it = std::find(header.begin(), header.end(), column);
  if (it == header.end()) throw std::runtime_error(path + ": no column '" + column + "'");
  const auto index = static_cast<std::size_t>(it - header.begin());
  std::vector<std::string> values;
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != header.size())
      throw std::runtime_error(path + ": record " + std::to_string(r) + " has " +
                               std::to_string(records[r].size()) + " fields");
    values.push_back(std::move(records[r][index]));
  }
  return values;
}

// The same tokenization with std::regex: tags become a space, tokens are the matches,
// ASCII-lowercased.
class StdRegexTokenizer {
 public:
  explicit StdRegexTokenizer(const std::string& pattern)
      : tag_("<(?:[A-Za-z!?]|/[A-Za-z])[^<>]*>"), token_(pattern) {}

  void tokenize(const std::string& line, std::vector<std::string>& out) const {
    const std::string text = std::regex_replace(line, tag_, " ");
    for (std::sregex_iterator it(text.begin(), text.end(), token_), end; it != end; ++it) {
      if (it->length(0) == 0) continue;
      out.push_back(it->str(0));
      for (char& c : out.back())
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }

 private:
  std::regex tag_;
  std::regex token_;
};

std::uint64_t hash_tokens(const std::vector<std::string>& tokens) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a, with a separator after every token
  for (const auto& t : tokens) {
    for (unsigned char c : t) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
  }
  return h;
}

constexpr std::int64_t kGrain = 64;  // reviews per chunk

// CPU seconds (user and system) of every thread of the process so far.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

struct Timing {
  double seconds = 0;
  double cpu_seconds = 0;  // over `seconds`: the cores the run had (other work shares them)
  std::int64_t tokens = 0;
};

// Tokenizes every review once with `tokenize(review, out)` on the current thread bound.
template <class Tokenize>
Timing time_tokenize(const std::vector<std::string>& reviews, Tokenize&& tokenize) {
  const auto n = static_cast<std::int64_t>(reviews.size());
  std::vector<std::int64_t> tokens(static_cast<std::size_t>((n + kGrain - 1) / kGrain), 0);
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  loom::parallel_chunks(n, kGrain, [&](std::int64_t b, std::int64_t e) {
    std::vector<std::string> out;
    std::int64_t count = 0;
    for (std::int64_t i = b; i < e; ++i) {
      out.clear();
      tokenize(reviews[static_cast<std::size_t>(i)], out);
      count += static_cast<std::int64_t>(out.size());
    }
    tokens[static_cast<std::size_t>(b / kGrain)] = count;
  });
  Timing t;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.cpu_seconds = cpu_seconds() - cpu_start;
  for (auto c : tokens) t.tokens += c;
  return t;
}

// Untimed: a hash of each review's tokens, and the count of tokens that are not valid UTF-8.
template <class Tokenize>
std::pair<std::vector<std::uint64_t>, std::int64_t> fingerprint(
    const std::vector<std::string>& reviews, Tokenize&& tokenize) {
  std::vector<std::uint64_t> hashes(reviews.size());
  std::int64_t invalid = 0;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < reviews.size(); ++i) {
    out.clear();
    tokenize(reviews[i], out);
    hashes[i] = hash_tokens(out);
    for (const auto& t : out) invalid += loom::find_invalid_utf8(t) != std::string::npos;
  }
  return {hashes, invalid};
}

// Microseconds to tokenize `line` once, after one untimed call (RE2 builds its automaton's
// states as it first meets them).
template <class Tokenize>
double time_line(const std::string& line, Tokenize&& tokenize) {
  std::vector<std::string> out;
  tokenize(line, out);
  out.clear();
  const auto start = std::chrono::steady_clock::now();
  tokenize(line, out);
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

std::string yaml_single_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "../shared/data/imdb", plugins = "build/lib/loom/plugins";
  std::string pattern = "[A-Za-z]+", threads_list = "1,2";
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--data")
      data = value();
    else if (arg == "--plugins")
      plugins = value();
    else if (arg == "--pattern")
      pattern = value();
    else if (arg == "--reps")
      reps = std::stoi(value());
    else if (arg == "--threads")
      threads_list = value();
    else {
      std::cerr << "usage: tokenizer_bench [--data DIR] [--plugins DIR] [--pattern P] [--reps N] "
                   "[--threads 1,2]\n";
      return 2;
    }
  }
  try {
    std::vector<std::string> reviews = read_csv_column(data + "/train.csv", "review");
    for (auto& r : read_csv_column(data + "/test.csv", "review")) reviews.push_back(std::move(r));
    std::size_t bytes = 0;
    for (const auto& r : reviews) bytes += r.size();

    loom::Registry registry;
    registry.load_directory(plugins, true);
    loom::testing::Env env(registry);
    env.add("tok", "regex", "{pattern: " + yaml_single_quoted(pattern) + "}");
    const auto& re2_tokenizer = env.get<loom::Tokenizer>("tok");
    const StdRegexTokenizer std_tokenizer(pattern);

    auto ours = [&](const std::string& review, std::vector<std::string>& out) {
      re2_tokenizer.tokenize(review, out);
    };
    auto theirs = [&](const std::string& review, std::vector<std::string>& out) {
      std_tokenizer.tokenize(review, out);
    };

    std::printf("%zu reviews, %.1f MB; pattern %s; best of %d runs; %d hardware threads\n",
                reviews.size(), static_cast<double>(bytes) / 1e6, pattern.c_str(), reps,
                loom::hardware_threads());
    loom::set_threads(1);
    const auto [our_hashes, our_invalid] = fingerprint(reviews, ours);
    const auto [their_hashes, their_invalid] = fingerprint(reviews, theirs);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < reviews.size(); ++i) differ += our_hashes[i] != their_hashes[i];
    std::printf(
        "reviews whose tokens differ: %zu; tokens that are not valid UTF-8: RE2 %lld, "
        "std::regex %lld\n",
        differ, static_cast<long long>(our_invalid), static_cast<long long>(their_invalid));

    std::printf("%-8s %-20s %10s %12s %12s %10s %10s\n", "threads", "tokenizer", "reviews/s",
                "tokens/s", "tokens", "cores used", "RE2 ratio");
    std::stringstream list(threads_list);
    for (std::string item; std::getline(list, item, ',');) {
      const int threads = std::stoi(item);
      loom::set_threads(threads);
      // Alternated, so that both sides meet the same load from other work on the machine.
      Timing best[2];
      for (int rep = 0; rep < reps; ++rep) {
        const Timing t[2] = {time_tokenize(reviews, ours), time_tokenize(reviews, theirs)};
        for (int side = 0; side < 2; ++side)
          if (rep == 0 || t[side].seconds < best[side].seconds) best[side] = t[side];
      }
      const double n = static_cast<double>(reviews.size());
      for (int side = 0; side < 2; ++side) {
        const Timing& t = best[side];
        std::printf("%-8d %-20s %10.0f %12.0f %12lld %10.2f", threads,
                    side == 0 ? "regex plugin (RE2)" : "std::regex", n / t.seconds,
                    static_cast<double>(t.tokens) / t.seconds, static_cast<long long>(t.tokens),
                    t.cpu_seconds / t.seconds);
        if (side == 0) std::printf(" %9.2fx", best[1].seconds / best[0].seconds);
        std::printf("\n");
      }
    }

    // A backtracking engine takes exponential time on some patterns; RE2 takes linear time.
    const std::string nested = "(?:[a-z]+)+x";
    loom::testing::Env worst_env(registry);
    worst_env.add("tok", "regex", "{pattern: " + yaml_single_quoted(nested) + "}");
    const auto& re2_nested = worst_env.get<loom::Tokenizer>("tok");
    const StdRegexTokenizer std_nested(nested);
    std::printf("worst case: pattern %s on a line of n letters without an x (microseconds)\n",
                nested.c_str());
    for (int letters : {16, 18, 20, 22}) {
      const std::string line(static_cast<std::size_t>(letters), 'a');
      std::printf(
          "  n = %d: RE2 %.1f, std::regex %.1f\n", letters,
          time_line(line, [&](const std::string& l,
                              std::vector<std::string>& out) { re2_nested.tokenize(l, out); }),
          time_line(line, [&](const std::string& l, std::vector<std::string>& out) {
            std_nested.tokenize(l, out);
          }));
    }
  } catch (const std::exception& e) {
    std::cerr << "tokenizer_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
