#pragma once
// A small ordered JSON value for the files runs write (metrics.jsonl, summary.json) and the
// few small JSON files loom reads (optimum.json). Numbers print in their shortest exact form.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace loom {

class Json {
 public:
  using Object = std::vector<std::pair<std::string, Json>>;
  using Array = std::vector<Json>;

  Json() : value_(nullptr) {}
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool v) : value_(v) {}
  Json(int v) : value_(static_cast<std::int64_t>(v)) {}
  Json(std::int64_t v) : value_(v) {}
  Json(double v) : value_(v) {}
  Json(const char* v) : value_(std::string(v)) {}
  Json(std::string v) : value_(std::move(v)) {}
  static Json object() { Json j; j.value_ = Object{}; return j; }
  static Json array() { Json j; j.value_ = Array{}; return j; }

  bool is_object() const { return std::holds_alternative<Object>(value_); }
  bool is_array() const { return std::holds_alternative<Array>(value_); }
  bool is_null() const { return std::holds_alternative<std::nullptr_t>(value_); }
  bool is_integer() const { return std::holds_alternative<std::int64_t>(value_); }
  bool is_number() const;
  double number() const;  // int or double; NaN for null (how non-finite numbers are written)
  std::int64_t integer() const { return std::get<std::int64_t>(value_); }
  const bool* boolean() const { return std::get_if<bool>(&value_); }
  const std::string* string() const { return std::get_if<std::string>(&value_); }

  // Objects: sets (replacing) or reads a member; operator[] adds a null member if absent.
  Json& operator[](const std::string& key);
  const Json* find(const std::string& key) const;
  Object& members() { return std::get<Object>(value_); }
  const Object& members() const { return std::get<Object>(value_); }
  // Arrays.
  void push_back(Json v) { std::get<Array>(value_).push_back(std::move(v)); }
  const Array& items() const { return std::get<Array>(value_); }

  // One line when indent < 0, otherwise pretty-printed.
  std::string dump(int indent = -1) const;
  // Throws InputError naming `source` on malformed text.
  static Json parse(const std::string& text, const std::string& source);

 private:
  void dump_to(std::string& out, int indent, int depth) const;
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Object, Array> value_;
};

}  // namespace loom
