#include "loom/random.hpp"

#include <cmath>

namespace loom {

std::uint64_t stream_key(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return mix64(h ^ mix64(seed));
}

std::uint64_t Rng::below(std::uint64_t n) {
  // Lemire's multiply-shift; the bias is below 2^-32 for the sizes used here.
  unsigned __int128 product = static_cast<unsigned __int128>(next_bits()) * n;
  return static_cast<std::uint64_t>(product >> 64);
}

float Rng::normal() {
  // Box-Muller; 1 - u keeps the logarithm finite.
  float u1 = 1.0f - uniform();
  float u2 = uniform();
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.283185307179586f * u2);
}

}  // namespace loom
