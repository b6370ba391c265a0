// data/text_classification: labelled texts from CSV (RFC 4180) or TSV files, for sentiment
// and other classifiers.
//
// Splits come from one file each (train, valid, test), or from one `file` cut by `ratios`
// (default 0.7 / 0.1 / 0.2), or valid is carved from train by `valid_ratio`; every cut is a
// shuffle from the component's seed, the same at any thread count. Columns are named by the
// header row, or are 0-based indices for files without one. Label names become ids in sorted
// order (numerically when every name is a number), or in the order `labels` gives.
//
// Batch tensors, time-major like the language-model loaders: "ids" int32 [T, B] padded with
// the vocabulary's pad id (or 0), "lengths" int32 [B], "mask" float [T, B] (1 on tokens, 0 on
// padding) and "labels" int32 [B]; T is the longest text of the batch after truncation to
// `max_length`. Training batches are shuffled every epoch from the seed (EpochAware); with
// `bucket`, texts of similar length share batches (sorted within windows of 50 batches,
// which are then shuffled), which wastes less on padding. A text with no tokens gets one
// unk token (pad when the vocabulary has no unk), so that every example has a length of at
// least one. Without an unk token, a word not in the vocabulary is an error, not an id.
#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "loom/csv.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/parallel.hpp"
#include "loom/plugin.hpp"
#include "loom/random.hpp"
#include "loom/strings.hpp"
#include "loom/text.hpp"

namespace {

struct Example {
  std::string text;
  std::int32_t label = 0;
  std::vector<std::int32_t> ids;
  std::int64_t line = 0;  // in its split's file
};

// A data row of a file, before labels become ids.
struct Row {
  std::string text, label;
  std::int64_t line = 0;
};

// Why a text has no ids: a word the vocabulary lacks (and it has no unk token), or an empty
// text and neither an unk nor a pad token to stand for it.
struct EncodeProblem {
  std::string token;  // empty for an empty text
  std::string message() const {
    return token.empty() ? "an empty text, and the vocabulary has neither an unk nor a pad token for it"
                         : "token '" + token + "' is not in the vocabulary, which has no unk token";
  }
};

struct Options {
  std::map<std::string, std::filesystem::path> files;  // split -> file
  std::filesystem::path file;                          // one file cut by ratios
  std::vector<double> ratios{0.7, 0.1, 0.2};
  double valid_ratio = 0.0;
  std::string text_column, label_column;
  bool header = true;
  bool skip_bad_rows = false;
  std::vector<std::string> labels;  // fixed order, or empty
  const loom::Tokenizer* tokenizer = nullptr;
  std::int64_t batch_size = 64, eval_batch_size = 0, max_length = 0;
  bool shuffle = true, bucket = false;
  std::uint64_t seed = 1;
};

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

class TextClassification : public loom::DataLoader,
                           public loom::EpochAware,
                           public loom::HasLabels,
                           public loom::BatchesTexts {
 public:
  // The files are read when first needed, not here: a trained run opened for inference
  // (loom predict) builds this loader to batch new texts and never reads its training data.
  explicit TextClassification(Options o) : o_(std::move(o)) {}

  void start_epoch(int epoch) override { epoch_ = epoch; }
  const std::vector<std::string>& label_names() const override {
    ensure_loaded();
    return labels_;
  }

  loom::Batch batch_of_texts(const std::vector<std::string>& texts, const loom::Vocab& vocab) const override {
    std::vector<Example> examples(texts.size());
    std::vector<std::string> tokens;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      std::optional<EncodeProblem> problem;
      encode(texts[i], vocab, tokens, examples[i].ids, problem);
      if (problem) throw loom::InputError("text " + std::to_string(i + 1) + ": " + problem->message());
    }
    std::vector<const Example*> rows;
    for (const auto& ex : examples) rows.push_back(&ex);
    return make_batch(rows, pad_of(vocab));
  }

 protected:
  std::vector<std::string> splits_impl() const override {
    ensure_loaded();
    std::vector<std::string> out;
    for (const char* s : {"train", "valid", "test"})
      if (splits_.count(s)) out.push_back(s);
    return out;
  }

  loom::TokenCounts count_tokens_impl(const std::string& split) const override {
    ensure_loaded();
    const auto& examples = splits_.at(split);
    std::vector<loom::TokenCounts> parts(loom::parallel_chunk_count(static_cast<std::int64_t>(examples.size()), kGrain));
    loom::parallel_chunks(static_cast<std::int64_t>(examples.size()), kGrain, [&](std::int64_t b, std::int64_t e) {
      auto& counts = parts[static_cast<std::size_t>(b / kGrain)];
      std::vector<std::string> tokens;
      for (std::int64_t i = b; i < e; ++i) {
        tokens.clear();
        o_.tokenizer->tokenize(examples[static_cast<std::size_t>(i)].text, tokens);
        for (auto& t : tokens) ++counts[t];
      }
    });
    loom::TokenCounts total;
    for (auto& part : parts)
      for (auto& [t, c] : part) total[t] += c;
    return total;
  }

  void prepare_impl(const loom::Vocab& vocab) override {
    ensure_loaded();
    pad_ = pad_of(vocab);
    for (auto& entry : splits_) {  // not a structured binding: the lambda below captures it
      auto& examples = entry.second;
      const std::size_t chunks = loom::parallel_chunk_count(static_cast<std::int64_t>(examples.size()), kGrain);
      std::vector<std::int64_t> unknown(chunks, 0);
      // Each chunk's first problem, so that the first in the file is reported at any thread count.
      std::vector<std::pair<std::int64_t, std::optional<EncodeProblem>>> problems(chunks);
      loom::parallel_chunks(static_cast<std::int64_t>(examples.size()), kGrain, [&](std::int64_t b, std::int64_t e) {
        std::vector<std::string> tokens;
        const auto c = static_cast<std::size_t>(b / kGrain);
        for (std::int64_t i = b; i < e; ++i) {
          Example& ex = examples[static_cast<std::size_t>(i)];
          std::optional<EncodeProblem> problem;
          unknown[c] += encode(ex.text, vocab, tokens, ex.ids, problem);
          if (problem && !problems[c].second) problems[c] = {ex.line, problem};
        }
      });
      for (const auto& [line, problem] : problems)
        if (problem)
          throw loom::InputError(sources_.at(entry.first) + ":" + std::to_string(line) + ": " + problem->message());
      unknown_[entry.first] = std::accumulate(unknown.begin(), unknown.end(), std::int64_t{0});
    }
    prepared_ = true;
  }

  std::int64_t num_batches_impl(const std::string& split, loom::Mode mode) const override {
    ensure_loaded();
    const auto n = static_cast<std::int64_t>(splits_.at(split).size());
    const std::int64_t bs = batch_size(mode);
    return (n + bs - 1) / bs;
  }

  loom::Batch batch_impl(const std::string& split, loom::Mode mode, std::int64_t index) const override {
    LOOM_ASSERT(prepared_, "text_classification: batch() before prepare()");
    const auto& examples = splits_.at(split);
    const std::vector<std::int64_t>& order = this->order(split, mode);
    const std::int64_t bs = batch_size(mode);
    const std::int64_t begin = index * bs, end = std::min<std::int64_t>(begin + bs, static_cast<std::int64_t>(order.size()));
    std::vector<const Example*> rows;
    for (std::int64_t i = begin; i < end; ++i) rows.push_back(&examples[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
    return make_batch(rows, pad_);
  }

  std::int64_t unknown_tokens_impl(const std::string& split) const override {
    auto it = unknown_.find(split);
    return it == unknown_.end() ? 0 : it->second;
  }

 private:
  static constexpr std::int64_t kGrain = 512;

  static std::int32_t pad_of(const loom::Vocab& vocab) {
    return vocab.pad_id() != loom::Vocab::kNone ? vocab.pad_id() : 0;
  }

  // A text's ids: tokens cut to max_length, unknown ones mapped to unk; a text without tokens
  // gets unk, or pad when the vocabulary has no unk. Returns how many were unknown. Without
  // an unk token, an unknown word (or an empty text and no pad either) is set in `problem`.
  std::int64_t encode(const std::string& text, const loom::Vocab& vocab, std::vector<std::string>& tokens,
                      std::vector<std::int32_t>& ids, std::optional<EncodeProblem>& problem) const {
    const std::int32_t unk = vocab.unk_id();
    tokens.clear();
    o_.tokenizer->tokenize(text, tokens);
    if (o_.max_length > 0 && static_cast<std::int64_t>(tokens.size()) > o_.max_length)
      tokens.resize(static_cast<std::size_t>(o_.max_length));
    ids.clear();
    std::int64_t unknown = 0;
    for (const auto& t : tokens) {
      std::int32_t id = vocab.find(t);
      if (id == loom::Vocab::kNone) {
        if (unk == loom::Vocab::kNone && !problem) problem = EncodeProblem{t};
        id = unk;
        ++unknown;
      }
      ids.push_back(id);
    }
    if (ids.empty()) {
      const std::int32_t stand_in = unk != loom::Vocab::kNone ? unk : vocab.pad_id();
      if (stand_in == loom::Vocab::kNone && !problem) problem = EncodeProblem{};
      ids.push_back(stand_in);
    }
    return unknown;
  }

  // The batch tensors of `rows`, in that order (see the top of the file).
  static loom::Batch make_batch(const std::vector<const Example*>& rows, std::int32_t pad) {
    const auto B = static_cast<std::int64_t>(rows.size());
    std::int64_t T = 1;
    for (const Example* ex : rows) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(ex->ids.size()));
    loom::Batch batch;
    loom::Tensor ids = loom::Tensor::empty(loom::Shape{T, B}, loom::DType::kInt32);
    loom::Tensor lengths = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
    loom::Tensor mask = loom::Tensor::zeros(loom::Shape{T, B});
    loom::Tensor labels = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
    std::fill(ids.ids(), ids.ids() + T * B, pad);
    for (std::int64_t b = 0; b < B; ++b) {
      const Example& ex = *rows[static_cast<std::size_t>(b)];
      const auto len = static_cast<std::int64_t>(ex.ids.size());
      for (std::int64_t t = 0; t < len; ++t) {
        ids.ids()[t * B + b] = ex.ids[static_cast<std::size_t>(t)];
        mask.data()[t * B + b] = 1.0f;
      }
      lengths.ids()[b] = static_cast<std::int32_t>(len);
      labels.ids()[b] = ex.label;
      batch.target_tokens += len;
    }
    batch.tensors["ids"] = ids;
    batch.tensors["lengths"] = lengths;
    batch.tensors["mask"] = mask;
    batch.tensors["labels"] = labels;
    return batch;
  }

  std::int64_t batch_size(loom::Mode mode) const {
    return mode == loom::Mode::kTrain || o_.eval_batch_size <= 0 ? o_.batch_size : o_.eval_batch_size;
  }

  // The order examples are read in: as stored for evaluation; for training a permutation of
  // (seed, epoch), by length within windows when bucketing. Cached per (split, mode, epoch).
  const std::vector<std::int64_t>& order(const std::string& split, loom::Mode mode) const {
    const int epoch = mode == loom::Mode::kTrain && o_.shuffle ? epoch_ : 0;
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_tuple(split, mode == loom::Mode::kTrain, epoch);
    auto it = orders_.find(key);
    if (it != orders_.end()) return it->second;
    const auto& examples = splits_.at(split);
    std::vector<std::int64_t> order(examples.size());
    std::iota(order.begin(), order.end(), 0);
    if (mode == loom::Mode::kTrain && (o_.shuffle || o_.bucket)) {
      loom::Rng rng(loom::random_bits(loom::stream_key(o_.seed, "shuffle." + split), static_cast<std::uint64_t>(epoch)));
      if (o_.shuffle) shuffle(order, rng);
      if (o_.bucket) {
        const std::int64_t window = o_.batch_size * 50;
        for (std::size_t w = 0; w < order.size(); w += static_cast<std::size_t>(window)) {
          auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), w + static_cast<std::size_t>(window)));
          std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(w), last, [&](std::int64_t a, std::int64_t b) {
            return examples[static_cast<std::size_t>(a)].ids.size() < examples[static_cast<std::size_t>(b)].ids.size();
          });
        }
        // Whole batches in a new order, so that lengths do not rise through the epoch.
        std::vector<std::int64_t> batches((order.size() + static_cast<std::size_t>(o_.batch_size) - 1) / static_cast<std::size_t>(o_.batch_size));
        std::iota(batches.begin(), batches.end(), 0);
        if (o_.shuffle) shuffle(batches, rng);
        std::vector<std::int64_t> regrouped;
        regrouped.reserve(order.size());
        for (auto b : batches)
          for (std::int64_t i = b * o_.batch_size; i < std::min<std::int64_t>((b + 1) * o_.batch_size, static_cast<std::int64_t>(order.size())); ++i)
            regrouped.push_back(order[static_cast<std::size_t>(i)]);
        order = std::move(regrouped);
      }
    }
    if (orders_.size() > 8) orders_.clear();  // earlier epochs are not read again
    return orders_[key] = std::move(order);
  }

  static void shuffle(std::vector<std::int64_t>& v, loom::Rng& rng) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<std::size_t>(rng.below(i))]);
  }

  void ensure_loaded() const {
    // Not const in spirit, but once: the object is never const itself, only seen through
    // the const interface. A failed load throws and is tried again on the next call.
    std::call_once(loaded_, [this] { const_cast<TextClassification*>(this)->load(); });
  }

  // Reads the files, maps labels to ids and cuts the splits.
  void load() {
    std::map<std::string, std::vector<Row>> raw;  // split -> rows
    // Why a split is empty, when it is, after its file's name.
    std::map<std::string, std::string> why_empty;
    if (!o_.file.empty()) {
      auto rows = read(o_.file);
      std::vector<std::int64_t> order(rows.size());
      std::iota(order.begin(), order.end(), 0);
      loom::Rng rng(loom::stream_key(o_.seed, "split"));
      shuffle(order, rng);
      const double total = o_.ratios[0] + o_.ratios[1] + o_.ratios[2];
      const auto n = static_cast<std::int64_t>(rows.size());
      const auto n_train = static_cast<std::int64_t>(static_cast<double>(n) * o_.ratios[0] / total + 0.5);
      const auto n_valid = static_cast<std::int64_t>(static_cast<double>(n) * o_.ratios[1] / total + 0.5);
      for (std::int64_t i = 0; i < n; ++i) {
        const char* split = i < n_train ? "train" : i < n_train + n_valid ? "valid" : "test";
        raw[split].push_back(std::move(rows[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]));
      }
      // A share too small for any row leaves its split out, as a share of 0 does.
      for (const char* split : {"train", "valid", "test"}) sources_[split] = o_.file.string();
    }
    for (const auto& [split, path] : o_.files) {
      raw[split] = read(path);
      sources_[split] = path.string();
    }
    if (o_.valid_ratio > 0 && raw.count("train") && !o_.files.count("valid")) {
      auto& train = raw["train"];
      std::vector<std::int64_t> order(train.size());
      std::iota(order.begin(), order.end(), 0);
      loom::Rng rng(loom::stream_key(o_.seed, "valid_split"));
      shuffle(order, rng);
      const auto n_valid = static_cast<std::size_t>(static_cast<double>(train.size()) * o_.valid_ratio + 0.5);
      sources_["valid"] = sources_["train"];
      std::ostringstream ratio;
      ratio << o_.valid_ratio;
      const std::string of_rows = " of its " + std::to_string(train.size()) + " rows";
      if (n_valid == 0) why_empty["valid"] = "valid_ratio " + ratio.str() + of_rows + " gives it none";
      if (n_valid == train.size()) why_empty["train"] = "valid_ratio " + ratio.str() + " takes all" + of_rows;
      std::vector<Row> keep, valid;
      std::vector<bool> to_valid(train.size(), false);
      for (std::size_t i = 0; i < n_valid; ++i) to_valid[static_cast<std::size_t>(order[i])] = true;
      for (std::size_t i = 0; i < train.size(); ++i) (to_valid[i] ? valid : keep).push_back(std::move(train[i]));
      train = std::move(keep);
      raw["valid"] = std::move(valid);
    }
    // Label ids.
    if (!o_.labels.empty()) {
      labels_ = o_.labels;
    } else {
      std::set<std::string> names;
      for (const auto& [split, rows] : raw)
        for (const auto& r : rows) names.insert(r.label);
      labels_.assign(names.begin(), names.end());
      if (std::all_of(labels_.begin(), labels_.end(), is_number))
        std::sort(labels_.begin(), labels_.end(), [](const auto& a, const auto& b) { return std::stod(a) < std::stod(b); });
    }
    std::map<std::string, std::int32_t> ids;
    for (std::size_t i = 0; i < labels_.size(); ++i) ids[labels_[i]] = static_cast<std::int32_t>(i);
    for (auto& [split, rows] : raw) {
      const std::string& source = sources_.at(split);
      auto& examples = splits_[split];
      for (auto& row : rows) {
        auto it = ids.find(row.label);
        if (it == ids.end())
          throw loom::InputError(source + ":" + std::to_string(row.line) + ": label '" + row.label + "' of split '" +
                                 split + "' is not one of labels: [" + loom::join(labels_) + "]");
        examples.push_back({std::move(row.text), it->second, {}, row.line});
      }
      if (examples.empty())
        throw loom::InputError(source + ": split '" + split + "' has no examples" +
                               (why_empty.count(split) ? " (" + why_empty[split] + ")" : ""));
    }
  }

  // The data rows of a file.
  std::vector<Row> read(const std::filesystem::path& path) {
    const std::string bytes = loom::read_file(path, "data file");
    if (auto bad = loom::find_invalid_utf8(bytes); bad != std::string::npos)
      throw loom::InputError(path.string() + ":" + std::to_string(1 + std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bad), '\n')) +
                             ": not UTF-8 (byte " + std::to_string(bad) + ")");
    std::int64_t skipped = 0;
    auto on_bad = [&](std::int64_t, const std::string&) { ++skipped; };
    auto records = o_.skip_bad_rows ? loom::parse_csv(bytes, loom::csv_options_for(path), path.string(), on_bad)
                                    : loom::parse_csv(bytes, loom::csv_options_for(path), path.string());
    if (records.empty()) throw loom::InputError(path.string() + ": no rows");
    if (o_.header && records.size() == 1 && skipped == 0)
      throw loom::InputError(path.string() + ": a header row and no data rows");
    std::size_t text_col = 0, label_col = 0, first = 0;
    auto column = [&](const std::string& spec, const char* what) -> std::size_t {
      if (o_.header) {
        const auto& head = records[0].fields;
        auto it = std::find(head.begin(), head.end(), spec);
        if (it == head.end())
          throw loom::InputError(path.string() + ":1: no " + what + " column '" + spec + "' (columns: " + loom::join(head) + ")");
        return static_cast<std::size_t>(it - head.begin());
      }
      if (!is_number(spec) || spec.find_first_not_of("0123456789") != std::string::npos)
        throw loom::InputError(path.string() + ": without a header row, the " + what + " column is a 0-based index, got '" + spec + "'");
      return static_cast<std::size_t>(std::stoul(spec));
    };
    text_col = column(o_.text_column, "text");
    label_col = column(o_.label_column, "label");
    first = o_.header ? 1 : 0;
    std::vector<Row> rows;
    const std::size_t need = std::max(text_col, label_col) + 1;
    // A row wider than the first one has a field too many: most often a delimiter in an
    // unquoted text, which shifted its columns.
    const std::size_t width = records[0].fields.size();
    for (std::size_t i = first; i < records.size(); ++i) {
      auto& r = records[i];
      std::string problem;
      if (r.fields.size() < need)
        problem = ", too few for column " + std::to_string(need - 1);
      else if (r.fields.size() > width)
        problem = std::string(o_.header ? ", the header has " : ", the first row has ") + std::to_string(width);
      else if (r.fields[label_col].empty())
        problem = ", the label is empty";
      if (!problem.empty()) {
        if (!o_.skip_bad_rows)
          throw loom::InputError(path.string() + ":" + std::to_string(r.line) + ": " + std::to_string(r.fields.size()) +
                                 " fields" + problem + " (on_bad_row: skip skips such rows)");
        ++skipped;
        continue;
      }
      rows.push_back({std::move(r.fields[text_col]), std::move(r.fields[label_col]), r.line});
    }
    if (rows.empty())
      throw loom::InputError(path.string() + ": no data rows: all " + std::to_string(skipped) +
                             " are malformed (on_bad_row: skip skipped them)");
    if (skipped > 0) skipped_[path.string()] = skipped;
    return rows;
  }

  Options o_;
  std::map<std::string, std::vector<Example>> splits_;
  std::vector<std::string> labels_;
  std::map<std::string, std::int64_t> unknown_, skipped_;
  std::map<std::string, std::string> sources_;  // split -> the file its rows come from
  std::int32_t pad_ = 0;
  bool prepared_ = false;
  int epoch_ = 1;
  mutable std::map<std::tuple<std::string, bool, int>, std::vector<std::int64_t>> orders_;
  mutable std::mutex mutex_;
  mutable std::once_flag loaded_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kData,
      "text_classification",
      "1.0",
      "labelled texts from CSV or TSV files, padded batches with lengths and masks",
      {{"tokenizer", loom::ParamType::kComponent, "", "tokenizer of the texts", {"tokenizers"}},
       {"train", loom::ParamType::kPath, "", "training file (.csv, or .tsv/.tab)"},
       {"valid", loom::ParamType::kPath, "", "validation file"},
       {"test", loom::ParamType::kPath, "", "test file"},
       {"file", loom::ParamType::kPath, "", "one file cut into train, valid and test by `ratios`"},
       {"ratios", loom::ParamType::kStringList, "0.7,0.1,0.2", "train, valid and test shares of `file`"},
       {"valid_ratio", loom::ParamType::kFloat, "0", "carve this share of train out as valid (when no valid file)", {}, 0.0},
       {"text_column", loom::ParamType::kString, "text", "column of the text: a header name, or a 0-based index with header: false"},
       {"label_column", loom::ParamType::kString, "label", "column of the label"},
       {"header", loom::ParamType::kBool, "true", "the first row names the columns"},
       {"labels", loom::ParamType::kStringList, "", "label names in id order (default: sorted)"},
       {"batch_size", loom::ParamType::kInt, "64", "examples per training batch", {}, 1},
       {"eval_batch_size", loom::ParamType::kInt, "0", "examples per evaluation batch (0: batch_size)", {}, 0},
       {"max_length", loom::ParamType::kInt, "0", "keep the first N tokens of a text (0: all)", {}, 0},
       {"shuffle", loom::ParamType::kBool, "true", "shuffle training examples every epoch"},
       {"bucket", loom::ParamType::kBool, "false", "batch texts of similar length together"},
       {"on_bad_row", loom::ParamType::kString, "error", "a malformed row: error, or skip and count it", {"error", "skip"}}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        o.tokenizer = &ctx.component<loom::Tokenizer>("tokenizer");
        for (const char* split : {"train", "valid", "test"})
          if (!p.get_string(split).empty()) o.files[split] = p.get_path(split);
        if (!p.get_string("file").empty()) {
          if (!o.files.empty()) p.fail("file", "give either file (cut by ratios) or train/valid/test files, not both");
          o.file = p.get_path("file");
        }
        if (o.files.empty() && o.file.empty()) p.fail("train", "no data: give train (and valid, test) files, or file");
        std::vector<std::string> ratios;  // [0.8, 0.1, 0.1] or "0.8,0.1,0.1"
        for (const auto& item : p.get_strings("ratios")) {
          std::stringstream ss(item);
          for (std::string r; std::getline(ss, r, ',');) ratios.push_back(r.substr(r.find_first_not_of(' ') == std::string::npos ? 0 : r.find_first_not_of(' ')));
        }
        if (ratios.size() != 3) p.fail("ratios", "expects three shares: train, valid, test");
        for (std::size_t i = 0; i < 3; ++i) {
          if (!is_number(ratios[i]) || std::stod(ratios[i]) < 0) p.fail("ratios", "'" + ratios[i] + "' is not a share");
          o.ratios[i] = std::stod(ratios[i]);
        }
        if (o.ratios[0] + o.ratios[1] + o.ratios[2] <= 0) p.fail("ratios", "the shares add up to 0");
        o.valid_ratio = p.get_float("valid_ratio");
        if (o.valid_ratio >= 1) p.fail("valid_ratio", "must be below 1");
        o.text_column = p.get_string("text_column");
        o.label_column = p.get_string("label_column");
        o.header = p.get_bool("header");
        o.labels = p.get_strings("labels");
        o.batch_size = p.get_int("batch_size");
        o.eval_batch_size = p.get_int("eval_batch_size");
        o.max_length = p.get_int("max_length");
        o.shuffle = p.get_bool("shuffle");
        o.bucket = p.get_bool("bucket");
        o.skip_bad_rows = p.get_string("on_bad_row") == "skip";
        o.seed = ctx.seed();
        return std::make_unique<TextClassification>(std::move(o));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
