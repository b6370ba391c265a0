#pragma once
// Contracts of tokenizers, vocabulary builders and data loaders (see loom/testing/contracts.hpp).
#include <set>

#include "loom/batch_layout.hpp"
#include "loom/testing/contracts_base.hpp"

namespace loom::testing::contracts {

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

// Sentence pairs (loom/batch_layout.hpp, encoder_decoder): ids inside the vocabulary; tgt_in
// is bos then tgt_out shifted right; tgt_out ends each row with eos, then kIgnoreTarget;
// target_tokens adds up the target lengths; every pair (its index) once per pass.
inline void check_pairs(Failures& failures, const std::string& where, const std::vector<Batch>& batches,
                        const Vocab& vocab) {
  std::set<std::int32_t> seen;
  const auto V = static_cast<std::int32_t>(vocab.size());
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const Batch& b = batches[i];
    const std::string at = where + ": batch " + std::to_string(i);
    const Tensor &src = b.get("src"), &sl = b.get("src_lengths"), &in = b.get("tgt_in"), &out = b.get("tgt_out"),
                 &tl = b.get("tgt_lengths"), &index = b.get("index");
    const std::int64_t B = src.dim(0), S = src.dim(1), T = in.dim(1);
    if (src.rank() != 2 || in.rank() != 2 || out.shape() != in.shape() || in.dim(0) != B || sl.dim(0) != B ||
        tl.dim(0) != B || index.dim(0) != B) {
      failures.push_back(at + ": src " + src.shape().str() + ", tgt_in " + in.shape().str() + ", tgt_out " +
                         out.shape().str() + " do not fit together");
      return;
    }
    std::int64_t tokens = 0;
    for (std::int64_t r = 0; r < B; ++r) {
      const std::int32_t ls = sl.ids()[r], lt = tl.ids()[r];
      tokens += lt;
      if (!seen.insert(index.ids()[r]).second) failures.push_back(at + ": pair " + std::to_string(index.ids()[r]) + " again");
      if (ls < 1 || ls > S || lt < 1 || lt > T) {
        failures.push_back(at + ": row " + std::to_string(r) + " has lengths outside its tensors");
        continue;
      }
      for (std::int64_t t = 0; t < S; ++t)
        if (src.ids()[r * S + t] < 0 || src.ids()[r * S + t] >= V) failures.push_back(at + ": a source id outside the vocabulary");
      const std::int32_t* ri = in.ids() + r * T;
      const std::int32_t* ro = out.ids() + r * T;
      if (ri[0] != vocab.bos_id()) failures.push_back(at + ": row " + std::to_string(r) + " of tgt_in does not start with bos");
      if (ro[lt - 1] != vocab.eos_id()) failures.push_back(at + ": row " + std::to_string(r) + " of tgt_out does not end with eos");
      for (std::int64_t t = 1; t < lt; ++t)
        if (ri[t] != ro[t - 1]) {
          failures.push_back(at + ": row " + std::to_string(r) + ": tgt_in is not tgt_out shifted right");
          break;
        }
      for (std::int64_t t = lt; t < T; ++t)
        if (ro[t] != kIgnoreTarget) {
          failures.push_back(at + ": row " + std::to_string(r) + ": tgt_out padding is not kIgnoreTarget");
          break;
        }
    }
    if (b.target_tokens != tokens)
      failures.push_back(at + ": target_tokens " + std::to_string(b.target_tokens) + ", the target lengths add up to " +
                         std::to_string(tokens));
  }
  if (!seen.empty() && (*seen.begin() != 0 || *seen.rbegin() != static_cast<std::int32_t>(seen.size()) - 1))
    failures.push_back(where + ": the pairs' indices are not 0.." + std::to_string(seen.size() - 1));
}

// Decoder-only sequences: bos first; targets kIgnoreTarget before the prompt's last position
// and past the length, the next id within; target_tokens the number of targets; every pair once.
inline void check_prompted(Failures& failures, const std::string& where, const std::vector<Batch>& batches,
                           const Vocab& vocab) {
  std::set<std::int32_t> seen;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const Batch& b = batches[i];
    const std::string at = where + ": batch " + std::to_string(i);
    const Tensor &ids = b.get("ids"), &tg = b.get("targets"), &len = b.get("lengths"), &pl = b.get("prompt_lengths"),
                 &index = b.get("index");
    const std::int64_t T = ids.dim(0), B = ids.dim(1);
    std::int64_t targets = 0;
    for (std::int64_t r = 0; r < B; ++r) {
      if (!seen.insert(index.ids()[r]).second) failures.push_back(at + ": pair " + std::to_string(index.ids()[r]) + " again");
      const std::int32_t l = len.ids()[r], p = pl.ids()[r];
      if (ids.ids()[r] != vocab.bos_id()) failures.push_back(at + ": row " + std::to_string(r) + " does not start with bos");
      if (ids.ids()[(p - 1) * B + r] != vocab.sep_id()) failures.push_back(at + ": the prompt does not end with sep");
      for (std::int64_t t = 0; t < T; ++t) {
        const std::int32_t target = tg.ids()[t * B + r];
        const bool counted = t >= p - 1 && t < l;
        targets += counted;
        if (!counted && target != kIgnoreTarget) failures.push_back(at + ": a target outside the target part");
        if (counted && t + 1 < l && target != ids.ids()[(t + 1) * B + r]) failures.push_back(at + ": a target is not the next id");
        if (counted && t + 1 == l && target != vocab.eos_id()) failures.push_back(at + ": the last target is not eos");
      }
    }
    if (b.target_tokens != targets)
      failures.push_back(at + ": target_tokens " + std::to_string(b.target_tokens) + ", " + std::to_string(targets) + " targets");
  }
}

inline bool is_special(const Vocab& v, std::int32_t id) {
  for (Special r : {Special::kPad, Special::kUnk, Special::kBos, Special::kEos, Special::kSep})
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
  for (Special r : {Special::kPad, Special::kUnk, Special::kBos, Special::kEos, Special::kSep}) {
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
    if (first.count("src") && first.count("tgt_in") && first.count("tgt_out")) {
      detail::check_pairs(failures, where, batches, vocab);
      return;
    }
    if (first.count("prompt_lengths")) {
      detail::check_prompted(failures, where, batches, vocab);
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


}  // namespace loom::testing::contracts
