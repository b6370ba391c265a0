#pragma once
// Small string helpers the core and plugins share.
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

// "a, b, c" (or joined with `separator`).
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");
// printf formatting of one number: format_number("%.4f", 0.5) == "0.5000".
std::string format_number(const char* format, double value);
// 1234567 -> "1,234,567".
std::string with_commas(std::int64_t n);

}  // namespace loom
