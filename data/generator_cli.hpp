#pragma once
// What the data generators' command lines (loom-markov-corpus, loom-sentiment-corpus) share:
// the error for a bad argument (exit code 2) and whole-string integer parsing.
#include <charconv>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace loom::data {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whole-string parse: "12x", "", out-of-range values and values below `min_value` are
// rejected rather than truncated.
template <typename T>
T parse_integer(std::string_view flag, std::string_view text, T min_value = std::numeric_limits<T>::lowest()) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min_value) {
    throw UsageError("invalid value for " + std::string(flag) + ": '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace loom::data
