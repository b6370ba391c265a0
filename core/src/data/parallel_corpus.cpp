#include "loom/parallel_corpus.hpp"

#include <algorithm>
#include <numeric>

#include "loom/batch_layout.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"
#include "loom/strings.hpp"

namespace loom {

namespace {

constexpr std::int64_t kGrain = 256;

void shuffle(std::vector<std::int64_t>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<std::size_t>(rng.below(i))]);
}

std::int32_t pad_of(const Vocab& v) {
  if (v.pad_id() != Vocab::kNone) return v.pad_id();
  if (v.eos_id() != Vocab::kNone) return v.eos_id();
  return 0;
}

}  // namespace

ParallelCorpusLoader::ParallelCorpusLoader(Options options) : options_(std::move(options)) {
  LOOM_ASSERT(options_.src_tokenizer && options_.tgt_tokenizer && options_.src_vocab && options_.tgt_vocab,
              "parallel corpus: tokenizers and vocabulary builders must be set");
  LOOM_ASSERT(options_.batch_size > 0, "parallel corpus: batch_size must be positive");
}

std::vector<ParamSpec> ParallelCorpusLoader::shared_params() {
  return {{"src_tokenizer", ParamType::kComponent, "", "tokenizer of the source side", {"tokenizers"}},
          {"tgt_tokenizer", ParamType::kComponent, "", "tokenizer of the target side", {"tokenizers"}},
          {"src_vocab", ParamType::kComponent, "", "vocabulary builder of the source side", {"vocab"}},
          {"tgt_vocab", ParamType::kComponent, "", "vocabulary builder of the target side (the same as src_vocab: joint)", {"vocab"}},
          {"layout", ParamType::kString, "encoder_decoder",
           "encoder_decoder: src, tgt_in, tgt_out; decoder_only: one sequence 'bos src sep tgt eos', loss on the target",
           {"encoder_decoder", "decoder_only"}},
          {"batch_size", ParamType::kInt, "32", "pairs per training batch", {}, 1},
          {"eval_batch_size", ParamType::kInt, "0", "pairs per evaluation batch (0: batch_size)", {}, 0},
          {"max_length", ParamType::kInt, "0", "leave out training pairs with more tokens on a side (0: keep all)", {}, 0},
          {"shuffle", ParamType::kBool, "true", "shuffle training pairs every epoch (from the seed)"},
          {"bucket", ParamType::kBool, "true", "batch training pairs of similar length together"}};
}

void ParallelCorpusLoader::read_shared_params(BuildContext& ctx, Options& o) {
  const Params& p = ctx.params();
  o.name = p.component_id();
  o.src_tokenizer = &ctx.component<Tokenizer>("src_tokenizer");
  o.tgt_tokenizer = &ctx.component<Tokenizer>("tgt_tokenizer");
  o.src_vocab = &ctx.component<VocabBuilder>("src_vocab");
  o.tgt_vocab = &ctx.component<VocabBuilder>("tgt_vocab");
  o.layout = p.get_string("layout") == "decoder_only" ? Layout::kDecoderOnly : Layout::kEncoderDecoder;
  if (o.layout == Layout::kDecoderOnly && o.src_vocab != o.tgt_vocab)
    p.fail("layout", "decoder_only reads source and target as one sequence: give src_vocab and tgt_vocab the same builder");
  o.batch_size = p.get_int("batch_size");
  o.eval_batch_size = p.get_int("eval_batch_size");
  o.max_length = p.get_int("max_length");
  o.shuffle = p.get_bool("shuffle");
  o.bucket = p.get_bool("bucket");
  o.seed = ctx.seed();
}

std::vector<std::string> ParallelCorpusLoader::splits_impl() const {
  std::vector<std::string> out;
  for (const auto& [name, files] : options_.splits) out.push_back(name);
  return out;
}

const Tokenizer& ParallelCorpusLoader::tokenizer(const std::string& side) const {
  if (side == "src") return *options_.src_tokenizer;
  if (side == "tgt") return *options_.tgt_tokenizer;
  throw AssertionError("parallel corpus: no side '" + side + "'");
}

const VocabBuilder& ParallelCorpusLoader::side_vocab(const std::string& side) const {
  if (side == "src") return *options_.src_vocab;
  if (side == "tgt") return *options_.tgt_vocab;
  throw AssertionError("parallel corpus: no side '" + side + "'");
}

const Vocab& ParallelCorpusLoader::vocab(const std::string& side) const {
  LOOM_ASSERT(src_vocab_ != nullptr, "parallel corpus: vocab() before prepare");
  if (side == "src") return *src_vocab_;
  if (side == "tgt") return *tgt_vocab_;
  throw AssertionError("parallel corpus: no side '" + side + "'");
}

const ParallelCorpusLoader::Raw& ParallelCorpusLoader::raw(const std::string& split) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = raw_.find(split);
  if (it != raw_.end()) return it->second;
  auto files = options_.splits.find(split);
  LOOM_ASSERT(files != options_.splits.end(), "parallel corpus: no split '" + split + "'");
  Raw r;
  const Files& f = files->second;
  if (!f.tsv.empty()) {
    r.files.push_back(TextFile::read(f.tsv));
    const auto& lines = r.files.back().lines();
    r.src_name = f.tsv.string() + " (column 1)";
    r.tgt_name = f.tsv.string() + " (column 2)";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string_view line = lines[i];
      const auto tab = line.find('\t');
      if (tab == std::string_view::npos || line.find('\t', tab + 1) != std::string_view::npos)
        throw InputError(f.tsv.string() + ":" + std::to_string(i + 1) + ": expected 'source<TAB>target', found " +
                         (tab == std::string_view::npos ? "no tab" : "more than one tab"));
      r.src.push_back(line.substr(0, tab));
      r.tgt.push_back(line.substr(tab + 1));
    }
  } else {
    r.files.push_back(TextFile::read(f.src));
    r.files.push_back(TextFile::read(f.tgt));
    r.src = r.files[0].lines();
    r.tgt = r.files[1].lines();
    r.src_name = f.src.string();
    r.tgt_name = f.tgt.string();
    if (r.src.size() != r.tgt.size())
      throw InputError(options_.name + ": split '" + split + "': " + r.src_name + " has " + with_commas(static_cast<std::int64_t>(r.src.size())) +
                       " lines but " + r.tgt_name + " has " + with_commas(static_cast<std::int64_t>(r.tgt.size())) +
                       "; the two sides must be aligned line by line");
  }
  return raw_.emplace(split, std::move(r)).first->second;
}

std::vector<std::string_view> ParallelCorpusLoader::side_lines(const std::string& split, const std::string& side) const {
  const Raw& r = raw(split);
  return side == "src" ? r.src : r.tgt;
}

TokenCounts ParallelCorpusLoader::count_side_tokens(const std::string& split, const std::string& side) const {
  const Raw& r = raw(split);
  return loom::count_tokens(side == "src" ? r.src : r.tgt, tokenizer(side));
}

TokenCounts ParallelCorpusLoader::count_tokens_impl(const std::string& split) const {
  TokenCounts counts = count_side_tokens(split, "src");
  for (const auto& [t, c] : count_side_tokens(split, "tgt")) counts[t] += c;
  return counts;
}

void ParallelCorpusLoader::prepare_impl(const Vocab& vocab) { prepare_sides({{"src", &vocab}, {"tgt", &vocab}}); }

std::vector<std::vector<std::int32_t>> ParallelCorpusLoader::encode(const std::vector<std::string_view>& lines,
                                                                    const Tokenizer& tokenizer, const Vocab& vocab,
                                                                    const std::string& source,
                                                                    std::int64_t& unknown) const {
  const auto n = static_cast<std::int64_t>(lines.size());
  std::vector<std::vector<std::int32_t>> out(lines.size());
  const std::int64_t chunks = parallel_chunk_count(n, kGrain);
  std::vector<std::int64_t> unknown_per_chunk(static_cast<std::size_t>(chunks), 0);
  std::vector<std::string> problems(static_cast<std::size_t>(chunks));  // the first per chunk
  parallel_chunks(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    std::vector<std::string> tokens;
    const auto c = static_cast<std::size_t>(begin / kGrain);
    for (std::int64_t i = begin; i < end; ++i) {
      tokens.clear();
      tokenizer.tokenize(lines[static_cast<std::size_t>(i)], tokens);
      auto& ids = out[static_cast<std::size_t>(i)];
      ids.reserve(tokens.size());
      for (const auto& t : tokens) {
        std::int32_t id = vocab.find(t);
        if (id == Vocab::kNone) {
          ++unknown_per_chunk[c];
          id = vocab.unk_id();
          if (id == Vocab::kNone && problems[c].empty())
            problems[c] = source + ":" + std::to_string(i + 1) + ": '" + t +
                          "' is not in the vocabulary, which has no unk token to stand for it";
        }
        ids.push_back(id);
      }
    }
  });
  for (const auto& p : problems)
    if (!p.empty()) throw InputError(p);
  unknown = std::accumulate(unknown_per_chunk.begin(), unknown_per_chunk.end(), std::int64_t{0});
  return out;
}

void ParallelCorpusLoader::prepare_sides(const std::map<std::string, const Vocab*>& vocabs) {
  LOOM_ASSERT(vocabs.count("src") && vocabs.count("tgt"), "parallel corpus: prepare_sides needs src and tgt");
  src_copy_ = *vocabs.at("src");
  tgt_copy_ = *vocabs.at("tgt");
  src_vocab_ = &src_copy_;
  tgt_vocab_ = &tgt_copy_;
  const Vocab& tv = tgt_copy_;
  auto require = [&](std::int32_t id, const char* role, const char* side) {
    if (id == Vocab::kNone)
      throw ConfigError(options_.name + ": the " + side + " vocabulary has no " + role + " token; set " + role +
                        ": on its vocabulary builder (e.g. " + role + ": \"<" + role + ">\")");
  };
  if (options_.layout == Layout::kEncoderDecoder) {
    require(tv.bos_id(), "bos", "target");
    require(tv.eos_id(), "eos", "target");
  } else {
    if (options_.src_vocab != options_.tgt_vocab)
      throw ConfigError(options_.name + ": layout decoder_only reads source and target as one sequence, so both sides need "
                                        "one vocabulary: give src_vocab and tgt_vocab the same builder");
    require(tv.bos_id(), "bos", "joint");
    require(tv.sep_id(), "sep", "joint");
    require(tv.eos_id(), "eos", "joint");
  }
  pairs_.clear();
  unknown_.clear();
  dropped_.clear();
  for (const auto& [split, files] : options_.splits) {
    const Raw& r = raw(split);
    std::int64_t unk_src = 0, unk_tgt = 0;
    auto src = encode(r.src, *options_.src_tokenizer, src_copy_, r.src_name, unk_src);
    auto tgt = encode(r.tgt, *options_.tgt_tokenizer, tgt_copy_, r.tgt_name, unk_tgt);
    unknown_[split] = unk_src + unk_tgt;
    std::vector<Pair>& out = pairs_[split];
    out.reserve(src.size());
    std::int64_t too_long = 0;
    const bool filter = split == "train" && options_.max_length > 0;
    for (std::size_t i = 0; i < src.size(); ++i) {
      if (filter && (static_cast<std::int64_t>(src[i].size()) > options_.max_length ||
                     static_cast<std::int64_t>(tgt[i].size()) > options_.max_length)) {
        ++too_long;
        continue;
      }
      out.push_back({std::move(src[i]), std::move(tgt[i]), static_cast<std::int64_t>(i)});
    }
    if (too_long > 0)
      dropped_[split] = with_commas(too_long) + " of " + with_commas(static_cast<std::int64_t>(src.size())) +
                        " pairs left out: more than max_length " + std::to_string(options_.max_length) +
                        " tokens on a side";
    if (out.empty())
      throw InputError(options_.name + ": split '" + split + "' has no pairs" +
                       (too_long > 0 ? " shorter than max_length " + std::to_string(options_.max_length) : std::string()) +
                       " (" + r.src_name + ")");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  orders_.clear();
}

void ParallelCorpusLoader::use_vocabs(const Vocab& src, const Vocab& tgt) {
  src_copy_ = src;
  tgt_copy_ = tgt;
  src_vocab_ = &src_copy_;
  tgt_vocab_ = &tgt_copy_;
}

std::string ParallelCorpusLoader::dropped(const std::string& split) const {
  auto it = dropped_.find(split);
  return it == dropped_.end() ? std::string() : it->second;
}

std::int64_t ParallelCorpusLoader::pairs(const std::string& split) const {
  auto it = pairs_.find(split);
  LOOM_ASSERT(it != pairs_.end(), "parallel corpus: pairs() of '" + split + "' before prepare");
  return static_cast<std::int64_t>(it->second.size());
}

std::int64_t ParallelCorpusLoader::unknown_tokens_impl(const std::string& split) const {
  auto it = unknown_.find(split);
  return it == unknown_.end() ? 0 : it->second;
}

std::int64_t ParallelCorpusLoader::batch_size(Mode mode) const {
  return mode == Mode::kTrain || options_.eval_batch_size <= 0 ? options_.batch_size : options_.eval_batch_size;
}

std::int64_t ParallelCorpusLoader::num_batches_impl(const std::string& split, Mode mode) const {
  const std::int64_t n = pairs(split);
  const std::int64_t bs = batch_size(mode);
  return (n + bs - 1) / bs;
}

const std::vector<std::int64_t>& ParallelCorpusLoader::order(const std::string& split, Mode mode) const {
  const bool train = mode == Mode::kTrain;
  const int epoch = train && options_.shuffle ? epoch_ : 0;
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_tuple(split, train, epoch);
  auto it = orders_.find(key);
  if (it != orders_.end()) return it->second;
  const auto& pairs = pairs_.at(split);
  std::vector<std::int64_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  if (train && (options_.shuffle || options_.bucket)) {
    Rng rng(random_bits(stream_key(options_.seed, "shuffle." + split), static_cast<std::uint64_t>(epoch)));
    if (options_.shuffle) shuffle(order, rng);
    if (options_.bucket) {
      const std::size_t bs = static_cast<std::size_t>(options_.batch_size);
      const std::size_t window = bs * 50;
      auto length = [&](std::int64_t i) {
        const Pair& p = pairs[static_cast<std::size_t>(i)];
        return std::make_pair(p.src.size(), p.tgt.size());
      };
      for (std::size_t w = 0; w < order.size(); w += window) {
        auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), w + window));
        std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(w), last,
                         [&](std::int64_t a, std::int64_t b) { return length(a) < length(b); });
      }
      // Whole batches in a new order, so that lengths do not rise through the epoch.
      std::vector<std::int64_t> batches((order.size() + bs - 1) / bs);
      std::iota(batches.begin(), batches.end(), 0);
      if (options_.shuffle) shuffle(batches, rng);
      std::vector<std::int64_t> regrouped;
      regrouped.reserve(order.size());
      for (auto b : batches)
        for (std::size_t i = static_cast<std::size_t>(b) * bs; i < std::min(order.size(), (static_cast<std::size_t>(b) + 1) * bs); ++i)
          regrouped.push_back(order[i]);
      order = std::move(regrouped);
    }
  }
  if (orders_.size() > 8) orders_.clear();  // earlier epochs are not read again
  return orders_[key] = std::move(order);
}

Batch ParallelCorpusLoader::batch_impl(const std::string& split, Mode mode, std::int64_t index) const {
  LOOM_ASSERT(src_vocab_ != nullptr, "parallel corpus: batch() before prepare()");
  const auto& pairs = pairs_.at(split);
  const auto& ord = order(split, mode);
  const std::int64_t bs = batch_size(mode);
  const std::int64_t begin = index * bs, end = std::min<std::int64_t>(begin + bs, static_cast<std::int64_t>(ord.size()));
  std::vector<const Pair*> rows;
  for (std::int64_t i = begin; i < end; ++i) rows.push_back(&pairs[static_cast<std::size_t>(ord[static_cast<std::size_t>(i)])]);
  return make_batch(rows, &raw(split).tgt);
}

Batch ParallelCorpusLoader::make_batch(const std::vector<const Pair*>& rows,
                                       const std::vector<std::string_view>* references) const {
  const auto B = static_cast<std::int64_t>(rows.size());
  const Vocab& sv = *src_vocab_;
  const Vocab& tv = *tgt_vocab_;
  Batch batch;
  Tensor index = Tensor::empty(Shape{B}, DType::kInt32);
  for (std::int64_t b = 0; b < B; ++b) {
    index.ids()[b] = static_cast<std::int32_t>(rows[static_cast<std::size_t>(b)]->line);
    if (references) batch.references.emplace_back((*references)[static_cast<std::size_t>(rows[static_cast<std::size_t>(b)]->line)]);
  }
  batch.tensors["index"] = index;
  const bool has_target = references != nullptr;
  if (options_.layout == Layout::kEncoderDecoder) {
    const std::int32_t src_eos = sv.eos_id();
    std::int64_t S = 1, T = 1;
    for (const Pair* p : rows) {
      S = std::max<std::int64_t>(S, static_cast<std::int64_t>(p->src.size()) + (src_eos != Vocab::kNone));
      T = std::max<std::int64_t>(T, static_cast<std::int64_t>(p->tgt.size()) + 1);
    }
    Tensor src = Tensor::empty(Shape{B, S}, DType::kInt32);
    Tensor src_lengths = Tensor::empty(Shape{B}, DType::kInt32);
    std::fill(src.ids(), src.ids() + B * S, pad_of(sv));
    for (std::int64_t b = 0; b < B; ++b) {
      const Pair& p = *rows[static_cast<std::size_t>(b)];
      std::int32_t* row = src.ids() + b * S;
      std::copy(p.src.begin(), p.src.end(), row);
      auto len = static_cast<std::int64_t>(p.src.size());
      if (src_eos != Vocab::kNone) row[len++] = src_eos;
      src_lengths.ids()[b] = static_cast<std::int32_t>(len);
    }
    batch.tensors["src"] = src;
    batch.tensors["src_lengths"] = src_lengths;
    if (!has_target) return batch;
    Tensor tgt_in = Tensor::empty(Shape{B, T}, DType::kInt32);
    Tensor tgt_out = Tensor::empty(Shape{B, T}, DType::kInt32);
    Tensor tgt_lengths = Tensor::empty(Shape{B}, DType::kInt32);
    std::fill(tgt_in.ids(), tgt_in.ids() + B * T, pad_of(tv));
    std::fill(tgt_out.ids(), tgt_out.ids() + B * T, kIgnoreTarget);
    for (std::int64_t b = 0; b < B; ++b) {
      const Pair& p = *rows[static_cast<std::size_t>(b)];
      const auto n = static_cast<std::int64_t>(p.tgt.size());
      std::int32_t* in = tgt_in.ids() + b * T;
      std::int32_t* out = tgt_out.ids() + b * T;
      in[0] = tv.bos_id();
      std::copy(p.tgt.begin(), p.tgt.end(), in + 1);
      std::copy(p.tgt.begin(), p.tgt.end(), out);
      out[n] = tv.eos_id();
      tgt_lengths.ids()[b] = static_cast<std::int32_t>(n + 1);
      batch.target_tokens += n + 1;
    }
    batch.tensors["tgt_in"] = tgt_in;
    batch.tensors["tgt_out"] = tgt_out;
    batch.tensors["tgt_lengths"] = tgt_lengths;
    return batch;
  }
  // decoder_only: bos src sep [tgt eos], time-major.
  std::int64_t T = 1;
  for (const Pair* p : rows) {
    const auto prompt = static_cast<std::int64_t>(p->src.size()) + 2;
    T = std::max<std::int64_t>(T, has_target ? prompt + static_cast<std::int64_t>(p->tgt.size()) : prompt);
  }
  Tensor ids = Tensor::empty(Shape{T, B}, DType::kInt32);
  Tensor targets = Tensor::empty(Shape{T, B}, DType::kInt32);
  Tensor lengths = Tensor::empty(Shape{B}, DType::kInt32);
  Tensor prompt_lengths = Tensor::empty(Shape{B}, DType::kInt32);
  std::fill(ids.ids(), ids.ids() + T * B, pad_of(tv));
  std::fill(targets.ids(), targets.ids() + T * B, kIgnoreTarget);
  for (std::int64_t b = 0; b < B; ++b) {
    const Pair& p = *rows[static_cast<std::size_t>(b)];
    std::vector<std::int32_t> seq;
    seq.reserve(p.src.size() + p.tgt.size() + 3);
    seq.push_back(tv.bos_id());
    seq.insert(seq.end(), p.src.begin(), p.src.end());
    seq.push_back(tv.sep_id());
    const auto prompt = static_cast<std::int64_t>(seq.size());
    if (has_target) {
      seq.insert(seq.end(), p.tgt.begin(), p.tgt.end());
      seq.push_back(tv.eos_id());
    }
    // Inputs are every token but the last (with targets); a prompt alone is all input.
    const auto len = has_target ? static_cast<std::int64_t>(seq.size()) - 1 : prompt;
    for (std::int64_t t = 0; t < len; ++t) {
      ids.ids()[t * B + b] = seq[static_cast<std::size_t>(t)];
      // Position t predicts seq[t + 1]: a target from the sep onwards (t + 1 >= prompt).
      if (has_target && t + 1 >= prompt) targets.ids()[t * B + b] = seq[static_cast<std::size_t>(t) + 1];
    }
    lengths.ids()[b] = static_cast<std::int32_t>(len);
    prompt_lengths.ids()[b] = static_cast<std::int32_t>(prompt);
    if (has_target) batch.target_tokens += static_cast<std::int64_t>(p.tgt.size()) + 1;
  }
  batch.tensors["ids"] = ids;
  if (has_target) batch.tensors["targets"] = targets;
  batch.tensors["lengths"] = lengths;
  batch.tensors["prompt_lengths"] = prompt_lengths;
  return batch;
}

Batch ParallelCorpusLoader::batch_of_texts(const std::vector<std::string>& texts, const Vocab& vocab) const {
  LOOM_ASSERT(tgt_vocab_ != nullptr, "parallel corpus: batch_of_texts() before prepare()");
  std::vector<std::string_view> lines(texts.begin(), texts.end());
  std::int64_t unknown = 0;
  auto src = encode(lines, *options_.src_tokenizer, vocab, "input", unknown);
  std::vector<Pair> pairs(texts.size());
  std::vector<const Pair*> rows;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    pairs[i].src = std::move(src[i]);
    pairs[i].line = static_cast<std::int64_t>(i);
    rows.push_back(&pairs[i]);
  }
  return make_batch(rows, nullptr);
}

}  // namespace loom
