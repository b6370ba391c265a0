#pragma once
// Counter-based random numbers: value i of stream `key` is a pure function of (key, i), so
// initialisation and dropout masks are identical whatever the thread count or the order in
// which parameters are created.
#include <cstdint>
#include <string_view>

namespace loom {

// SplitMix64's finaliser: a bijective mix of 64 bits.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// 64 random bits, element `counter` of stream `key`.
constexpr std::uint64_t random_bits(std::uint64_t key, std::uint64_t counter) {
  return mix64(key ^ mix64(counter));
}

// Uniform in [0, 1) with 24 bits of precision.
inline float random_uniform(std::uint64_t key, std::uint64_t counter) {
  return static_cast<float>(random_bits(key, counter) >> 40) * (1.0f / 16777216.0f);
}

// A stream key derived from a seed and a name (a parameter's, say): FNV-1a then mixed.
std::uint64_t stream_key(std::uint64_t seed, std::string_view name);

// A sequential generator over one stream, for code that draws values one by one.
class Rng {
 public:
  explicit Rng(std::uint64_t key) : key_(key) {}
  std::uint64_t next_bits() { return random_bits(key_, counter_++); }
  float uniform() { return random_uniform(key_, counter_++); }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n);
  float normal();
  std::uint64_t key() const { return key_; }
  std::uint64_t position() const { return counter_; }

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

}  // namespace loom
