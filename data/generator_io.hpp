#pragma once
// What the data generators (markov, sentiment, pig_latin) share: a random stream whose output
// is fixed by its definition, and writing a file whole under a temporary name then renaming
// it, with errors as one lower-case line naming the path. Standard library only.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace loom::data {

// splitmix64 (Steele, Lea and Flood 2014): a tiny generator whose output is fixed by its
// definition, so a corpus is the same with every standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n > 0; rejection removes the modulo bias.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = next();
      if (x >= threshold) return x % n;
    }
  }

  bool percent(std::uint64_t p) { return below(100) < p; }

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  std::uint64_t state_;
};

// "No such file" -> "no such file": system messages inside our one-line errors.
inline std::string first_lower(std::string text) {
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

// Writes `contents` to `path` through "<path>.tmp.<pid>" and a rename: one temporary name per
// process, so two writers of the same folder never share one. std::runtime_error naming the
// path when it fails.
inline void write_file_replacing(const std::filesystem::path& path, const std::string& contents) {
  std::filesystem::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + temp.string() + " for writing");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + temp.string());
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error)
    throw std::runtime_error("cannot rename " + temp.string() + " to " + path.string() + ": " +
                             first_lower(error.message()));
}

}  // namespace loom::data
