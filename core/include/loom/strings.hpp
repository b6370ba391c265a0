#pragma once
// Small string helpers the core and plugins share.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

// "a, b, c" (or joined with `separator`).
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");
// printf formatting of one number: format_number("%.4f", 0.5) == "0.5000".
std::string format_number(const char* format, double value);
// 1234567 -> "1,234,567".
std::string with_commas(std::int64_t n);
// RFC 4648 base64 (with padding), for bytes kept in JSON (a tokenizer's model in a
// checkpoint). base64_decode gives nothing for text that is not canonical base64.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace loom
