#include "loom/json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <cstdio>

#include "loom/errors.hpp"
#include "loom/text.hpp"

namespace loom {

bool Json::is_number() const {
  return std::holds_alternative<std::int64_t>(value_) || std::holds_alternative<double>(value_);
}

double Json::number() const {
  if (auto* i = std::get_if<std::int64_t>(&value_)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&value_)) return *d;
  if (is_null()) return std::numeric_limits<double>::quiet_NaN();
  throw AssertionError("json value is not a number");
}

Json& Json::operator[](const std::string& key) {
  if (!is_object()) value_ = Object{};
  for (auto& [k, v] : members())
    if (k == key) return v;
  members().emplace_back(key, Json());
  return members().back().second;
}

const Json* Json::find(const std::string& key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : members())
    if (k == key) return &v;
  return nullptr;
}

namespace {

void escape(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

void Json::dump_to(std::string& out, int indent, int depth) const {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * d), ' ');
  };
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out += std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) {
            out += "null";  // JSON has no NaN or infinity
          } else {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof buf, v);
            out.append(buf, r.ptr);
          }
        } else if constexpr (std::is_same_v<T, std::string>) {
          escape(out, v);
        } else if constexpr (std::is_same_v<T, Object>) {
          out += '{';
          bool first = true;
          for (const auto& [k, child] : v) {
            if (!first) out += indent < 0 ? ", " : ",";
            newline(depth + 1);
            escape(out, k);
            out += ": ";
            child.dump_to(out, indent, depth + 1);
            first = false;
          }
          if (!v.empty()) newline(depth);
          out += '}';
        } else {
          out += '[';
          bool first = true;
          for (const auto& child : v) {
            if (!first) out += ", ";
            child.dump_to(out, indent, depth + 1);
            first = false;
          }
          out += ']';
        }
      },
      value_);
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

namespace {

class Parser {
 public:
  Parser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Json parse_document() {
    Json v = value();
    skip();
    if (pos_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  // "at column C" for one-line texts (a metrics.jsonl line), else "at line L, column C".
  [[noreturn]] void fail(const std::string& what) const {
    std::size_t end = std::min(pos_, s_.size()), line = 1, column = 1;
    for (std::size_t i = 0; i < end; ++i) {
      if (s_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    bool one_line = s_.find('\n') == std::string::npos || s_.find('\n') == s_.size() - 1;
    throw InputError(source_ + ": malformed JSON at " +
                     (one_line ? "" : "line " + std::to_string(line) + ", ") + "column " +
                     std::to_string(column) + ": " + what);
  }
  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("bad \\u escape");
    unsigned cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
      else fail("bad \\u escape");
    }
    return cp;
  }
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::string string_literal() {
    if (!eat('"')) fail("expected a string");
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) fail("bad escape");
        char e = s_[pos_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'u': {
            unsigned cp = hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair: one code point
              if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') fail("unpaired surrogate");
              pos_ += 2;
              unsigned low = hex4();
              if (low < 0xDC00 || low > 0xDFFF) fail("unpaired surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail("unpaired surrogate");
            }
            append_utf8(out, cp);
            break;
          }
          default: --pos_; fail(std::string("unknown escape \\") + e);
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    ++pos_;
    return out;
  }
  // Nesting deeper than this is refused rather than recursed into (files loom reads are flat).
  static constexpr int kMaxDepth = 128;

  Json value() {
    skip();
    if (pos_ >= s_.size()) fail("unexpected end");
    char c = s_[pos_];
    if ((c == '{' || c == '[') && ++depth_ > kMaxDepth) fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    struct Leave {
      int& depth;
      bool nested;
      ~Leave() { depth -= nested; }
    } leave{depth_, c == '{' || c == '['};
    if (c == '{') {
      ++pos_;
      Json obj = Json::object();
      if (eat('}')) return obj;
      do {
        skip();
        std::string key = string_literal();
        if (!eat(':')) fail("expected ':'");
        obj[key] = value();
      } while (eat(','));
      if (!eat('}')) fail("expected '}'");
      return obj;
    }
    if (c == '[') {
      ++pos_;
      Json arr = Json::array();
      if (eat(']')) return arr;
      do arr.push_back(value());
      while (eat(','));
      if (!eat(']')) fail("expected ']'");
      return arr;
    }
    if (c == '"') return Json(string_literal());
    if (s_.compare(pos_, 4, "true") == 0) { pos_ += 4; return Json(true); }
    if (s_.compare(pos_, 5, "false") == 0) { pos_ += 5; return Json(false); }
    if (s_.compare(pos_, 4, "null") == 0) { pos_ += 4; return Json(); }
    // JSON's number grammar, strictly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    std::size_t p = pos_;
    auto digits = [&] {
      std::size_t start = p;
      while (p < s_.size() && s_[p] >= '0' && s_[p] <= '9') ++p;
      return p - start;
    };
    if (p < s_.size() && s_[p] == '-') ++p;
    if (p < s_.size() && s_[p] == '0') ++p;
    else if (digits() == 0) fail("unexpected character");
    bool integral = true;
    if (p < s_.size() && s_[p] == '.') {
      ++p;
      integral = false;
      if (digits() == 0) fail("a digit must follow '.'");
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      ++p;
      integral = false;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (digits() == 0) fail("a digit must follow the exponent");
    }
    const char* first = s_.data() + pos_;
    const char* last = s_.data() + p;
    // Integers stay integers (ids, counts, offsets); a fraction, an exponent, or a value too
    // large for 64 bits makes a double.
    if (integral) {
      std::int64_t i = 0;
      auto ri = std::from_chars(first, last, i);
      if (ri.ec == std::errc() && ri.ptr == last) {
        pos_ = p;
        return Json(i);
      }
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last) fail("number out of range");
    pos_ = p;
    return Json(d);
  }

  const std::string& s_;
  const std::string& source_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Json Json::parse(const std::string& text, const std::string& source) {
  return Parser(text, source).parse_document();
}

}  // namespace loom
