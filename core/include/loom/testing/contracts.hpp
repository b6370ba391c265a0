#pragma once
// Contracts every plugin of a kind must honour, as plain functions independent of any test
// framework. Each returns the list of failures, one line each; an empty list is a pass. An
// out-of-tree plugin's own suite (Boost.Test, GoogleTest, ...) calls them and reports the
// lines:
//
//   loom::Registry registry;
//   registry.load_library(MY_PLUGIN_FILE);
//   loom::testing::Env env(registry);
//   env.add("tok", "my_tokenizer");
//   namespace c = loom::testing::contracts;
//   c::Failures f = c::tokenizer_round_trip(env.get<loom::Tokenizer>("tok"));
//   BOOST_TEST(f.empty(), c::join(f));
//
// No check throws for a plugin's misbehaviour: an exception escaping the plugin becomes a
// failure line quoting it. Header-only; needs loom::core (it numericalises text with
// loom/text.hpp and builds components with loom/testing/plugin_test.hpp). Not thread-safe:
// call from one thread.
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

// ---- tokenizers ----------------------------------------------------------------------------

// Lines that every tokenizer must survive: spacing variants, punctuation, an empty line and
// UTF-8 text in several scripts (2-, 3- and 4-byte sequences).
inline const std::vector<std::string>& sample_lines() {
  static const std::vector<std::string> lines = {
      "the cat sat on the mat",
      "  leading and trailing spaces  ",
      "tabs\tand   runs\t \tof  spaces",
      "",
      "Hello, World! It's 3.14 o'clock.",
      "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 Gr\xc3\xbc\xc3\x9f"
      "e aus K\xc3\xb6ln",                                       // naïve café — Grüße aus Köln
      "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80",  // Привет мир
      "\xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xaf \xe6\x99\xb4\xe3\x82\x8c",  // 東京は 晴れ
      "emoji \xf0\x9f\x99\x82 between \xf0\x9f\x8c\x8d words",         // 🙂 🌍
      "A MiXeD cAsE line with 123 numbers",
  };
  return lines;
}

// For every line: detokenize(tokenize(line)) tokenizes to the same tokens; tokenize(line, out)
// appends to `out` rather than replacing it; every token of a UTF-8 line, and the detokenized
// text, is valid UTF-8 (no multi-byte character cut in two).
inline Failures tokenizer_round_trip(const Tokenizer& tokenizer,
                                     const std::vector<std::string>& lines = sample_lines()) {
  Failures failures;
  for (const auto& line : lines) {
    const std::string what = "line " + detail::quoted(line);
    detail::guarded(failures, what, [&] {
      std::vector<std::string> first = tokenizer.tokenize(line);
      std::string text = tokenizer.detokenize(first);
      std::vector<std::string> again = tokenizer.tokenize(text);
      if (again != first)
        failures.push_back(what + ": tokens " + detail::quoted(first) + " detokenize to " +
                           detail::quoted(text) + ", which tokenizes to " + detail::quoted(again));
      std::vector<std::string> out = {"<already here>"};
      tokenizer.tokenize(line, out);
      if (out.empty() || out[0] != "<already here>" ||
          !std::equal(first.begin(), first.end(), out.begin() + 1, out.end()))
        failures.push_back(what + ": tokenize(line, out) does not append to out: got " +
                           detail::quoted(out));
      if (find_invalid_utf8(line) == std::string::npos) {
        for (const auto& t : first)
          if (find_invalid_utf8(t) != std::string::npos)
            failures.push_back(what + ": token " + detail::quoted(t) + " is not valid UTF-8");
        if (find_invalid_utf8(text) != std::string::npos)
          failures.push_back(what + ": detokenized text " + detail::quoted(text) +
                             " is not valid UTF-8");
      }
    });
  }
  return failures;
}

// ---- vocabulary builders -------------------------------------------------------------------

// Counts with ties, singletons, UTF-8 tokens and an end-of-line token.
inline const TokenCounts& sample_counts() {
  static const TokenCounts counts = {
      {"the", 9}, {"<eos>", 8}, {"a", 7},     {"cat", 5},         {"dog", 5},
      {"sat", 3}, {"on", 3},    {"mat", 2},   {"na\xc3\xafve", 2}, {"rug", 1},
      {"\xe6\x9d\xb1\xe4\xba\xac", 1}};
  return counts;
}

namespace detail {

inline bool is_special(const Vocab& v, std::int32_t id) {
  for (Special r : {Special::kPad, Special::kUnk, Special::kBos, Special::kEos})
    if (v.special(r) == id) return true;
  return false;
}

// The non-special tokens of a vocabulary, in id order.
inline std::vector<std::string> ordinary_tokens(const Vocab& v) {
  std::vector<std::string> out;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(v.size()); ++i)
    if (!is_special(v, i)) out.push_back(v.token(i));
  return out;
}

inline std::vector<std::string> all_tokens(const Vocab& v) {
  std::vector<std::string> out;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(v.size()); ++i) out.push_back(v.token(i));
  return out;
}

// Ids dense and unique, lookups consistent, special ids inside the vocabulary, and no token
// that is neither counted nor special.
inline void check_vocab_shape(const Vocab& v, const TokenCounts& counts, const std::string& what,
                              Failures& failures) {
  std::set<std::string> seen;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(v.size()); ++i) {
    const std::string& t = v.token(i);
    if (!seen.insert(t).second) failures.push_back(what + ": token " + quoted(t) + " has two ids");
    if (v.find(t) != i)
      failures.push_back(what + ": find(" + quoted(t) + ") gives " + std::to_string(v.find(t)) +
                         ", its id is " + std::to_string(i));
    if (!is_special(v, i) && counts.find(t) == counts.end())
      failures.push_back(what + ": token " + quoted(t) + " is neither counted nor special");
  }
  for (Special r : {Special::kPad, Special::kUnk, Special::kBos, Special::kEos}) {
    std::int32_t id = v.special(r);
    if (id != Vocab::kNone && (id < 0 || id >= static_cast<std::int32_t>(v.size())))
      failures.push_back(what + ": special " + special_name(r) + " has id " + std::to_string(id) +
                         " outside the vocabulary of " + std::to_string(v.size()));
  }
}

}  // namespace detail

// Builds plugin `plugin` (a vocabulary builder in `registry`) from `base` parameters and
// checks: ids are dense and unique; find() agrees with token(); every token is counted or
// special; two builds, from two instances and from counts inserted in another order, give the
// same ids. When the plugin has an int parameter min_freq, every non-special token kept with
// min_freq m has a count >= m, and raising min_freq only removes tokens. When it has an int
// parameter max_size, at most s non-special tokens are kept with max_size s, all of them
// among those kept without the limit.
inline Failures vocab_builder(const Registry& registry, const std::string& plugin,
                              const TokenCounts& counts = sample_counts(),
                              const std::map<std::string, std::string>& base = {}) {
  Failures failures;
  const LoadedPlugin* loaded = registry.find(plugin);
  if (loaded == nullptr) return {"no plugin named '" + plugin + "'"};
  const PluginDescriptor& d = *loaded->descriptor;

  auto build = [&](const std::map<std::string, std::string>& params, const TokenCounts& c) {
    Env env(registry);
    env.add("vocab", plugin, detail::yaml_map(params));
    return env.get<VocabBuilder>("vocab").build(c);
  };

  Vocab reference;
  bool built = false;
  detail::guarded(failures, "defaults " + detail::yaml_map(base), [&] {
    reference = build(base, counts);
    built = true;
    detail::check_vocab_shape(reference, counts, "defaults", failures);
    // Determinism: a second instance, the same instance twice, and reordered counts.
    Env env(registry);
    env.add("vocab", plugin, detail::yaml_map(base));
    auto& builder = env.get<VocabBuilder>("vocab");
    TokenCounts reordered;
    std::vector<std::pair<std::string, std::int64_t>> entries(counts.begin(), counts.end());
    std::reverse(entries.begin(), entries.end());
    reordered.rehash(97);
    for (const auto& e : entries) reordered.insert(e);
    for (const Vocab& other : {builder.build(counts), builder.build(reordered)})
      if (detail::all_tokens(other) != detail::all_tokens(reference))
        failures.push_back("defaults: two builds from the same counts differ: " +
                           detail::quoted(detail::all_tokens(reference)) + " vs " +
                           detail::quoted(detail::all_tokens(other)));
  });
  if (!built) return failures;
  std::vector<std::string> kept = detail::ordinary_tokens(reference);

  const ParamSpec* min_freq = detail::find_param(d, "min_freq");
  if (min_freq != nullptr && min_freq->type == ParamType::kInt) {
    for (int m : {2, 3, 6}) {
      auto params = base;
      params["min_freq"] = std::to_string(m);
      const std::string what = "min_freq " + std::to_string(m);
      detail::guarded(failures, what, [&] {
        Vocab v = build(params, counts);
        detail::check_vocab_shape(v, counts, what, failures);
        std::vector<std::string> tokens = detail::ordinary_tokens(v);
        for (const auto& t : tokens) {
          auto it = counts.find(t);
          if (it != counts.end() && it->second < m)
            failures.push_back(what + ": kept " + detail::quoted(t) + " seen " +
                               std::to_string(it->second) + " times");
        }
        for (const auto& t : kept) {
          auto it = counts.find(t);
          if (it != counts.end() && it->second >= m &&
              std::find(tokens.begin(), tokens.end(), t) == tokens.end())
            failures.push_back(what + ": dropped " + detail::quoted(t) + " seen " +
                               std::to_string(it->second) + " times");
        }
      });
    }
  }

  const ParamSpec* max_size = detail::find_param(d, "max_size");
  if (max_size != nullptr && max_size->type == ParamType::kInt) {
    for (int s : {1, 3, 5}) {
      auto params = base;
      params["max_size"] = std::to_string(s);
      const std::string what = "max_size " + std::to_string(s);
      detail::guarded(failures, what, [&] {
        Vocab v = build(params, counts);
        detail::check_vocab_shape(v, counts, what, failures);
        std::vector<std::string> tokens = detail::ordinary_tokens(v);
        if (static_cast<int>(tokens.size()) > s)
          failures.push_back(what + ": kept " + std::to_string(tokens.size()) + " tokens " +
                             detail::quoted(tokens));
        for (const auto& t : tokens)
          if (std::find(kept.begin(), kept.end(), t) == kept.end())
            failures.push_back(what + ": kept " + detail::quoted(t) + ", absent without the limit");
      });
    }
  }
  return failures;
}

// ---- data loaders --------------------------------------------------------------------------

// The token stream of a text file as `tokenizer` and `vocab` make it (the reference a
// stream loader is compared with).
inline std::vector<std::int32_t> numericalize_file(const std::filesystem::path& file,
                                                   const Tokenizer& tokenizer, const Vocab& vocab) {
  TextFile text = TextFile::read(file);
  return numericalize(text.lines(), tokenizer, vocab);
}

// Reads every batch of `split` in `mode` from a prepared loader and checks: there is at least
// one batch; every batch has target tokens and reads the same twice. For a loader whose
// batches hold "ids" and "targets" (the LM-stream layout of loom/lm_stream.hpp, [T, B] int32,
// targets the next token), also: ids inside the vocabulary; B constant; every window but the
// last of one length T, the last no longer; target_tokens = T * B; targets[t] = ids[t + 1]
// within a batch and the first ids of a batch = the last targets of the one before, so each
// position of the stream is a target exactly once per epoch; the tokens seen (targets plus
// the first row of ids) are the split's counted tokens minus fewer than B of them (the
// remainder dropped when batchifying). With `stream` (the split's whole token stream, e.g.
// from numericalize_file), the multiset of targets over the epoch must equal the stream
// trimmed to a multiple of B, minus the first row of the batchified matrix.
inline Failures data_loader_epoch(const DataLoader& loader, const std::string& split, Mode mode,
                                  const Vocab& vocab,
                                  const std::vector<std::int32_t>* stream = nullptr) {
  Failures failures;
  const std::string where =
      "split '" + split + "' (" + (mode == Mode::kTrain ? "train" : "eval") + " mode)";
  detail::guarded(failures, where, [&] {
    const std::int64_t n = loader.num_batches(split, mode);
    if (n <= 0) {
      failures.push_back(where + ": no batches");
      return;
    }
    std::vector<Batch> batches;
    for (std::int64_t i = 0; i < n; ++i) batches.push_back(loader.batch(split, mode, i));
    for (std::int64_t i = 0; i < n; ++i)
      if (batches[static_cast<std::size_t>(i)].target_tokens <= 0)
        failures.push_back(where + ": batch " + std::to_string(i) + " has no target tokens");
    {
      Batch again = loader.batch(split, mode, 0);
      for (const auto& [name, t] : batches[0].tensors) {
        auto it = again.tensors.find(name);
        bool same = it != again.tensors.end() && it->second.shape() == t.shape() &&
                    it->second.dtype() == t.dtype();
        if (same && t.dtype() == DType::kInt32)
          same = std::equal(t.ids(), t.ids() + t.numel(), it->second.ids());
        else if (same)
          same = std::equal(t.data(), t.data() + t.numel(), it->second.data());
        if (!same) failures.push_back(where + ": batch 0 reads differently twice ('" + name + "')");
      }
    }
    const auto& first = batches[0].tensors;
    if (first.count("labels") && first.count("lengths") && first.count("mask") && first.count("ids")) {
      // Labelled sequences (loom/plugin.hpp's classification layout): ids [T, B] inside the
      // vocabulary, 1 <= lengths <= T, the mask 1 exactly on the first `length` steps, one
      // label per column, and target_tokens the sum of the lengths.
      for (std::int64_t i = 0; i < n; ++i) {
        const Batch& b = batches[static_cast<std::size_t>(i)];
        const Tensor& ids = b.get("ids");
        const Tensor& len = b.get("lengths");
        const Tensor& mask = b.get("mask");
        const Tensor& labels = b.get("labels");
        const std::string at = where + ": batch " + std::to_string(i);
        if (ids.rank() != 2 || len.rank() != 1 || labels.rank() != 1 || len.dim(0) != ids.dim(1) ||
            labels.dim(0) != ids.dim(1) || mask.shape() != ids.shape()) {
          failures.push_back(at + ": ids " + ids.shape().str() + ", lengths " + len.shape().str() + ", mask " +
                             mask.shape().str() + " and labels " + labels.shape().str() + " do not fit together");
          return;
        }
        const std::int64_t T = ids.dim(0), B = ids.dim(1);
        std::int64_t tokens = 0;
        for (std::int64_t j = 0; j < B; ++j) {
          const std::int32_t l = len.ids()[j];
          tokens += l;
          if (l < 1 || l > T) failures.push_back(at + ": length " + std::to_string(l) + " outside 1.." + std::to_string(T));
          for (std::int64_t t = 0; t < T; ++t) {
            if (mask.data()[t * B + j] != (t < l ? 1.0f : 0.0f)) {
              failures.push_back(at + ": the mask of column " + std::to_string(j) + " does not match its length");
              break;
            }
            const std::int32_t id = ids.ids()[t * B + j];
            if (id < 0 || id >= static_cast<std::int32_t>(vocab.size())) {
              failures.push_back(at + ": an id outside the vocabulary of " + std::to_string(vocab.size()));
              return;
            }
          }
        }
        if (b.target_tokens != tokens)
          failures.push_back(at + ": target_tokens " + std::to_string(b.target_tokens) + ", the lengths add up to " +
                             std::to_string(tokens));
      }
      return;
    }
    if (first.count("ids") == 0 || first.count("targets") == 0) return;  // not a stream loader

    const std::int64_t width = batches[0].get("ids").rank() == 2 ? batches[0].get("ids").dim(1) : 0;
    const std::int64_t window = batches[0].get("ids").dim(0);
    std::vector<std::vector<std::int32_t>> columns(static_cast<std::size_t>(std::max<std::int64_t>(width, 0)));
    std::vector<std::int32_t> targets;
    const std::int32_t* previous_last = nullptr;
    for (std::int64_t i = 0; i < n; ++i) {
      const Batch& b = batches[static_cast<std::size_t>(i)];
      const Tensor& ids = b.get("ids");
      const Tensor& tg = b.get("targets");
      const std::string at = where + ": batch " + std::to_string(i);
      if (ids.dtype() != DType::kInt32 || tg.dtype() != DType::kInt32 || ids.rank() != 2 ||
          ids.shape() != tg.shape()) {
        failures.push_back(at + ": ids " + ids.shape().str() + " and targets " + tg.shape().str() +
                           " are not int32 [T, B] of one shape");
        return;
      }
      const std::int64_t T = ids.dim(0), B = ids.dim(1);
      if (B != width) {
        failures.push_back(at + ": " + std::to_string(B) + " columns, batch 0 has " +
                           std::to_string(width));
        return;
      }
      if (T > window || (i + 1 < n && T != window))
        failures.push_back(at + ": window of " + std::to_string(T) + " steps, batch 0 has " +
                           std::to_string(window) + " (only the last may be shorter)");
      if (b.target_tokens != T * B)
        failures.push_back(at + ": target_tokens " + std::to_string(b.target_tokens) + ", expected " +
                           std::to_string(T * B));
      const std::int32_t* x = ids.ids();
      const std::int32_t* y = tg.ids();
      for (std::int64_t k = 0; k < T * B; ++k)
        if (x[k] < 0 || x[k] >= static_cast<std::int32_t>(vocab.size()) || y[k] < 0 ||
            y[k] >= static_cast<std::int32_t>(vocab.size())) {
          failures.push_back(at + ": an id outside the vocabulary of " + std::to_string(vocab.size()));
          return;
        }
      for (std::int64_t t = 0; t + 1 < T; ++t)
        for (std::int64_t j = 0; j < B; ++j)
          if (y[t * B + j] != x[(t + 1) * B + j]) {
            failures.push_back(at + ": targets[" + std::to_string(t) + "][" + std::to_string(j) +
                               "] is not ids[" + std::to_string(t + 1) + "][" + std::to_string(j) + "]");
            return;
          }
      if (previous_last != nullptr && !std::equal(x, x + B, previous_last)) {
        failures.push_back(at + ": first ids row is not the last targets row of batch " +
                           std::to_string(i - 1) + " (a position skipped or read twice)");
        return;
      }
      previous_last = y + (T - 1) * B;
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t j = 0; j < B; ++j) {
          columns[static_cast<std::size_t>(j)].push_back(x[t * B + j]);
          targets.push_back(y[t * B + j]);
        }
    }
    for (std::int64_t j = 0; j < width; ++j) columns[static_cast<std::size_t>(j)].push_back(previous_last[j]);
    std::vector<std::int32_t> first_row;
    for (const auto& c : columns) first_row.push_back(c.front());
    const std::int64_t rows = static_cast<std::int64_t>(columns.empty() ? 0 : columns[0].size());

    // Seen tokens against the loader's own counts of the split.
    std::map<std::int32_t, std::int64_t> counted, seen;
    std::int64_t counted_total = 0;
    for (const auto& [token, c] : loader.count_tokens(split)) {
      counted[vocab.id(token)] += c;
      counted_total += c;
    }
    for (auto id : targets) ++seen[id];
    for (auto id : first_row) ++seen[id];
    for (const auto& [id, c] : seen)
      if (c > counted[id])
        failures.push_back(where + ": id " + std::to_string(id) + " seen " + std::to_string(c) +
                           " times, counted " + std::to_string(counted[id]) + " times in the split");
    const std::int64_t dropped = counted_total - rows * width;
    if (dropped < 0 || dropped >= width)
      failures.push_back(where + ": " + std::to_string(rows * width) + " tokens read of " +
                         std::to_string(counted_total) + " counted (at most " +
                         std::to_string(width - 1) + " may be dropped)");

    if (stream != nullptr) {
      const std::int64_t expected_rows = static_cast<std::int64_t>(stream->size()) / width;
      if (expected_rows != rows) {
        failures.push_back(where + ": " + std::to_string(rows) + " rows per column, the stream of " +
                           std::to_string(stream->size()) + " tokens gives " +
                           std::to_string(expected_rows));
        return;
      }
      std::map<std::int32_t, std::int64_t> expected, got;
      for (std::int64_t k = 0; k < rows * width; ++k) ++expected[(*stream)[static_cast<std::size_t>(k)]];
      for (std::int64_t j = 0; j < width; ++j) --expected[(*stream)[static_cast<std::size_t>(j * rows)]];
      for (auto id : targets) ++got[id];
      std::erase_if(expected, [](const auto& e) { return e.second == 0; });
      if (got != expected) {
        for (const auto& [id, c] : expected)
          if (got[id] != c)
            failures.push_back(where + ": id " + std::to_string(id) + " is a target " +
                               std::to_string(got[id]) + " times per epoch, expected " +
                               std::to_string(c));
        for (const auto& [id, c] : got)
          if (c != 0 && expected.count(id) == 0)
            failures.push_back(where + ": id " + std::to_string(id) + " is a target " +
                               std::to_string(c) + " times per epoch, expected 0");
      }
    }
  });
  return failures;
}

// ---- models --------------------------------------------------------------------------------

namespace detail {

struct Loss {
  double mean, sum;
  std::int64_t count;
};

// The model's loss on a batch from a fresh state, without dropout (evaluation mode).
inline Loss evaluate(Model& model, const Batch& batch, Mode mode = Mode::kEval) {
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  Graph g(mode, 7);
  ModelOutput out = model.forward(g, batch);
  return {out.loss.value().item(), out.loss_sum, out.count};
}

}  // namespace detail

// On `batch` (build the model without dropout): the loss is one finite value, the mean of
// loss_sum over count > 0 targets; and the parameter gradients agree with central finite
// differences (check_model_gradients, `per_parameter` values of each parameter) within
// `tolerance` as defined in loom/testing/gradcheck.hpp.
inline Failures model_gradients(Model& model, const Batch& batch, double tolerance = 2e-2,
                                int per_parameter = 6) {
  Failures failures;
  detail::guarded(failures, "gradient check", [&] {
    if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
    Graph g(Mode::kTrain, 7);
    ModelOutput out = model.forward(g, batch);
    if (out.loss.value().numel() != 1) {
      failures.push_back("loss has shape " + out.loss.shape().str() + ", not one value");
      return;
    }
    double loss = out.loss.value().item();
    if (!std::isfinite(loss)) failures.push_back("loss is " + detail::number(loss));
    if (out.count <= 0) failures.push_back("count of targets is " + std::to_string(out.count));
    else if (!detail::close(loss, out.loss_sum / static_cast<double>(out.count), 1e-4))
      failures.push_back("loss " + detail::number(loss) + " is not loss_sum / count = " +
                         detail::number(out.loss_sum) + " / " + std::to_string(out.count));
    GradCheck r = check_model_gradients(model, batch, per_parameter);
    if (r.checked == 0) failures.push_back("no trainable parameter to check");
    if (!r.ok(tolerance))
      failures.push_back("gradient error " + detail::number(r.worst_error) + " above " +
                         detail::number(tolerance) + " at " + r.worst_at);
  });
  return failures;
}

// Saving the parameters to `file`, changing them and loading them back restores every value
// and the loss on `batch` (evaluation mode, fresh state) exactly; when `other` (the same
// model built separately, e.g. with another seed) is given, it has exactly the same loss
// after loading the file.
inline Failures model_save_load(Model& model, const Batch& batch, const std::filesystem::path& file,
                                Model* other = nullptr) {
  Failures failures;
  detail::guarded(failures, "save/load", [&] {
    Parameters& params = model.parameters();
    const double before = detail::evaluate(model, batch).mean;
    std::vector<Tensor> saved;
    for (auto& p : params) saved.push_back(p.value.clone());
    params.save(file);
    for (auto& p : params) {
      float* v = p.value.data();
      for (std::int64_t i = 0; i < p.shape.numel(); ++i) v[i] = v[i] * 0.5f + 0.25f;
    }
    params.load(file);
    std::size_t k = 0;
    for (auto& p : params) {
      const Tensor& s = saved[k++];
      if (!std::equal(s.data(), s.data() + s.numel(), p.value.data()))
        failures.push_back("parameter '" + p.name + "' differs after load");
    }
    const double after = detail::evaluate(model, batch).mean;
    if (after != before)
      failures.push_back("loss " + detail::number(before) + " before saving, " +
                         detail::number(after) + " after loading");
    if (other != nullptr) {
      if (other->parameters().count() != params.count())
        failures.push_back("the second model has " + std::to_string(other->parameters().count()) +
                           " values, the first " + std::to_string(params.count()));
      other->parameters().load(file);
      const double loaded = detail::evaluate(*other, batch).mean;
      if (loaded != before)
        failures.push_back("loss " + detail::number(before) + ", the second model after loading " +
                           detail::number(loaded));
    }
  });
  return failures;
}

// ---- optimizers ----------------------------------------------------------------------------

// Minimises f(x) = |x - c|^2 over a parameter of 5 values starting at 0, the gradient
// 2 (x - c) set by hand before each of `steps` steps; f must fall by at least `factor` and
// stay finite. Every step returns the gradient norm before clipping. A second, frozen
// parameter (with a gradient of ones) is never changed.
inline Failures optimizer_minimises_quadratic(Optimizer& optimizer, int steps = 200,
                                              double factor = 100.0) {
  Failures failures;
  detail::guarded(failures, "quadratic", [&] {
    static const float c[5] = {1.0f, -2.0f, 3.0f, 0.5f, -1.5f};
    Parameters params;
    Parameter* x = params.add("x", Shape{5}, Init::zeros());
    Parameter* frozen = params.add("frozen", Shape{2}, Init::constant(0.75f));
    params.finalize(1);
    if (params.freeze("frozen") != 1) failures.push_back("freeze did not match 'frozen'");
    auto f = [&] {
      double s = 0;
      for (int i = 0; i < 5; ++i) s += (x->value.data()[i] - c[i]) * double(x->value.data()[i] - c[i]);
      return s;
    };
    const double start = f();
    bool norm_reported = false;
    for (int step = 0; step < steps; ++step) {
      params.zero_grad();
      for (int i = 0; i < 5; ++i) x->grad.data()[i] = 2.0f * (x->value.data()[i] - c[i]);
      frozen->grad.fill(1.0f);
      const double expected_norm = params.grad_norm();
      const double norm = optimizer.step(params);
      if (!norm_reported && !detail::close(norm, expected_norm, 1e-4)) {
        failures.push_back("step " + std::to_string(step) + " returned norm " + detail::number(norm) +
                           ", the gradient norm is " + detail::number(expected_norm));
        norm_reported = true;
      }
      if (!std::isfinite(f())) {
        failures.push_back("f is " + detail::number(f()) + " after step " + std::to_string(step));
        return;
      }
    }
    const double end = f();
    if (!(end * factor <= start))
      failures.push_back("f fell from " + detail::number(start) + " to " + detail::number(end) +
                         " in " + std::to_string(steps) + " steps, less than a factor " +
                         detail::number(factor));
    for (int i = 0; i < 2; ++i)
      if (frozen->value.data()[i] != 0.75f)
        failures.push_back("frozen parameter changed to " + detail::number(frozen->value.data()[i]));
  });
  return failures;
}

namespace detail {
// One section written to checkpoint bytes and read back, as a resumed run sees it.
inline StateDict round_trip(const std::function<void(StateDict&)>& save) {
  Checkpoint out;
  save(out.add_section("state"));
  return Checkpoint::parse(out.serialize(), "round trip").section("state");
}
}  // namespace detail

// `first` takes 3 steps on the quadratic of optimizer_minimises_quadratic; its state goes
// through checkpoint bytes into `second` (a fresh optimizer built the same way), which then
// takes 4 steps on a copy of the parameters while `first` takes the same 4: the values must
// be bitwise equal, as a run resumed from a checkpoint must continue exactly.
inline Failures optimizer_resumes_exactly(Optimizer& first, Optimizer& second) {
  Failures failures;
  detail::guarded(failures, "resume", [&] {
    static const float c[5] = {1.0f, -2.0f, 3.0f, 0.5f, -1.5f};
    Parameters a, b;
    for (Parameters* p : {&a, &b}) {
      p->add("x", Shape{5}, Init::uniform(0.5f));
      p->add("y", Shape{2, 3}, Init::uniform(0.5f));
      p->finalize(7);
    }
    auto step = [&](Optimizer& opt, Parameters& p) {
      p.zero_grad();
      for (int i = 0; i < 5; ++i) p[0].grad.data()[i] = 2.0f * (p[0].value.data()[i] - c[i]);
      for (int i = 0; i < 6; ++i) p[1].grad.data()[i] = p[1].value.data()[i] * 0.5f - 0.25f;
      opt.step(p);
    };
    for (int i = 0; i < 3; ++i) step(first, a);
    StateDict state = detail::round_trip([&](StateDict& s) { first.save_state(s); });
    b.values().copy_from(a.values());
    second.load_state(state, b);
    second.set_learning_rate(first.learning_rate());
    for (int i = 0; i < 4; ++i) {
      step(first, a);
      step(second, b);
    }
    for (std::int64_t i = 0; i < a.values().numel(); ++i)
      if (a.values().data()[i] != b.values().data()[i]) {
        failures.push_back("after resuming, value " + std::to_string(i) + " is " +
                           detail::number(b.values().data()[i]) + ", without interruption " +
                           detail::number(a.values().data()[i]) + ": save_state misses something");
        return;
      }
  });
  return failures;
}

// ---- metrics -------------------------------------------------------------------------------

struct MetricUpdate {
  Batch batch;
  ModelOutput output;
};

// After reset() and the given updates, value() is `expected` within `relative` tolerance
// (NaN expects NaN); reset() forgets everything, so doing it all again gives the same value.
inline Failures metric_matches(Metric& metric, const std::vector<MetricUpdate>& updates,
                               double expected, double relative = 1e-9) {
  Failures failures;
  detail::guarded(failures, "metric", [&] {
    double values[2];
    for (double& v : values) {
      metric.reset();
      for (const auto& u : updates) metric.update(u.batch, u.output);
      v = metric.value();
    }
    if (!detail::close(values[0], expected, relative))
      failures.push_back("value " + detail::number(values[0]) + " after " +
                         std::to_string(updates.size()) + " updates, expected " +
                         detail::number(expected));
    if (!detail::close(values[1], values[0], 0.0))
      failures.push_back("value " + detail::number(values[1]) + " after reset and the same updates, " +
                         "first time " + detail::number(values[0]));
  });
  return failures;
}

// The first half of `updates` goes into `first`, whose state then goes through checkpoint
// bytes into `second` (a fresh metric); the rest goes into `second`: its value must equal
// that of `first` given every update, bitwise.
inline Failures metric_resumes_exactly(Metric& first, Metric& second, const std::vector<MetricUpdate>& updates) {
  Failures failures;
  detail::guarded(failures, "metric resume", [&] {
    first.reset();
    second.reset();
    const std::size_t half = updates.size() / 2;
    for (std::size_t i = 0; i < half; ++i) first.update(updates[i].batch, updates[i].output);
    StateDict state = detail::round_trip([&](StateDict& s) { first.save_state(s); });
    second.load_state(state);
    for (std::size_t i = half; i < updates.size(); ++i) {
      first.update(updates[i].batch, updates[i].output);
      second.update(updates[i].batch, updates[i].output);
    }
    const double a = first.value(), b = second.value();
    if (!(a == b || (std::isnan(a) && std::isnan(b))))
      failures.push_back("value " + detail::number(b) + " after resuming, " + detail::number(a) +
                         " without interruption: save_state misses something");
  });
  return failures;
}

}  // namespace loom::testing::contracts
