#pragma once
// The shared part of the plugin contracts (loom/testing/contracts.hpp): the failure list, test
// data builders and the helpers the checks of every kind use.
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "loom/checkpoint.hpp"
#include "loom/errors.hpp"
#include "loom/graph.hpp"
#include "loom/parameters.hpp"
#include "loom/plugin.hpp"
#include "loom/registry.hpp"
#include "loom/text.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"


namespace loom::testing::contracts {

using Failures = std::vector<std::string>;

// All failures on separate lines (for one assertion message).
inline std::string join(const Failures& failures) {
  std::string out;
  for (const auto& f : failures) out += (out.empty() ? "" : "\n") + f;
  return out;
}

// A padded classification batch in data/text_classification's layout: "ids" int32 [T, B]
// (padding 0), "lengths" [B], "mask" float [T, B], "labels" [B] (given, or 0, 1, 2, 0, ...).
inline Batch classification_batch(const std::vector<std::vector<std::int32_t>>& sequences,
                                  const std::vector<std::int32_t>& labels = {}) {
  const auto B = static_cast<std::int64_t>(sequences.size());
  std::int64_t T = 1;
  for (const auto& s : sequences) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(s.size()));
  Batch b;
  Tensor ids = Tensor::zeros(Shape{T, B}, DType::kInt32);
  Tensor lengths = Tensor::empty(Shape{B}, DType::kInt32);
  Tensor mask = Tensor::zeros(Shape{T, B});
  Tensor label = Tensor::empty(Shape{B}, DType::kInt32);
  for (std::int64_t j = 0; j < B; ++j) {
    const auto& s = sequences[static_cast<std::size_t>(j)];
    for (std::size_t t = 0; t < s.size(); ++t) {
      ids.ids()[static_cast<std::int64_t>(t) * B + j] = s[t];
      mask.data()[static_cast<std::int64_t>(t) * B + j] = 1.0f;
    }
    lengths.ids()[j] = static_cast<std::int32_t>(s.size());
    label.ids()[j] = labels.empty() ? static_cast<std::int32_t>(j % 3) : labels[static_cast<std::size_t>(j)];
    b.target_tokens += static_cast<std::int64_t>(s.size());
  }
  b.tensors = {{"ids", ids}, {"lengths", lengths}, {"mask", mask}, {"labels", label}};
  return b;
}

// A fresh folder under the system temporary folder, removed with its contents on
// destruction. For the files the contracts write (checkpoints) and the fixtures of a suite.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "loom-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw RuntimeError("cannot create a temporary folder");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

#ifdef LOOM_TEST_PLUGIN_DIR
// The build tree's plugins (LOOM_TEST_PLUGIN_DIR, which plugin suites get), loaded once: a
// classifier suite needs the word tokenizer and the text_classification loader beside its model.
inline Registry& build_tree_registry() {
  static Registry r;
  if (r.plugins().empty()) r.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  return r;
}
#endif

// A classifier model plugin built over a 9-token vocabulary (<pad>, then w1 .. w8) and a
// text_classification loader whose data has `labels` labels: the classifier suites' fixture.
struct ClassifierEnv {
  static constexpr std::int64_t kVocab = 9;
  ClassifierEnv(const Registry& registry, const std::string& plugin, const std::string& yaml, int labels = 3,
                std::uint64_t seed = 1)
      : env(registry, seed) {
    {
      std::ofstream csv(tmp / "train.csv");
      csv << "text,label\n";
      for (int i = 0; i < labels; ++i) csv << "a," << static_cast<char>('x' + i) << "\n";
    }
    env.add("tok", "word");
    env.add("data", "text_classification", "{tokenizer: '@tok', train: " + (tmp / "train.csv").string() + "}");
    Vocab v;
    v.set_special(Special::kPad, "<pad>");
    for (int i = 1; i < kVocab; ++i) v.add("w" + std::to_string(i));
    env.set_vocab("vocab", v);
    env.add("model", plugin, yaml);
    model = &env.get<Model>("model");
  }
  TempDir tmp;
  Env env;
  Model* model;
};

namespace detail {

// A value as C++ would write it: quoted, with control bytes escaped.
inline std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '"' || c == '\\') out += std::string("\\") + static_cast<char>(c);
    else if (c < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

inline std::string quoted(const std::vector<std::string>& tokens) {
  std::string out = "[";
  for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? ", " : "") + quoted(tokens[i]);
  return out + "]";
}

inline std::string number(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

// Runs `body`, turning an exception into a failure line that starts with `what`.
template <class F>
void guarded(Failures& failures, const std::string& what, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    failures.push_back(what + ": threw " + e.what());
  } catch (...) {
    failures.push_back(what + ": threw a non-standard exception");
  }
}

inline const ParamSpec* find_param(const PluginDescriptor& d, const std::string& name) {
  for (const auto& p : d.params)
    if (p.name == name) return &p;
  return nullptr;
}

// A YAML flow mapping of the given parameters (values written as given).
inline std::string yaml_map(const std::map<std::string, std::string>& params) {
  std::string out = "{";
  for (const auto& [k, v] : params) out += (out.size() > 1 ? ", " : "") + k + ": " + v;
  return out + "}";
}

inline bool close(double a, double b, double relative) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= relative * std::max(1.0, std::fabs(b));
}

}  // namespace detail

}  // namespace loom::testing::contracts
