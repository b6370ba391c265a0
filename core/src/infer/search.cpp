#include "loom/search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "loom/errors.hpp"
#include "loom/graph.hpp"
#include "loom/parallel.hpp"
#include "tensor/kernels.hpp"

namespace loom {

SourceRows::SourceRows(std::int64_t sentences) : sentence_(static_cast<std::size_t>(sentences)) {
  for (std::size_t i = 0; i < sentence_.size(); ++i) sentence_[i] = static_cast<std::int32_t>(i);
}

bool SourceRows::reorder(const Tensor& rows) {
  LOOM_ASSERT(rows.dtype() == DType::kInt32 && rows.rank() == 1, "SourceRows::reorder needs int32 rows [R]");
  std::vector<std::int32_t> next(static_cast<std::size_t>(rows.numel()));
  for (std::size_t i = 0; i < next.size(); ++i) {
    const std::int32_t r = rows.ids()[i];
    LOOM_ASSERT(r >= 0 && static_cast<std::size_t>(r) < sentence_.size(),
                "reorder: row " + std::to_string(r) + " outside [0, " + std::to_string(sentence_.size()) + ")");
    next[i] = sentence_[static_cast<std::size_t>(r)];
  }
  const bool moved = next != sentence_;
  sentence_ = std::move(next);
  return moved;
}

double normalized_score(double log_prob, std::int64_t tokens, const SearchOptions& options) {
  const double n = static_cast<double>(std::max<std::int64_t>(tokens, 1));
  switch (options.length_norm) {
    case LengthNorm::kNone: return log_prob;
    case LengthNorm::kAverage: return log_prob / n;
    case LengthNorm::kGnmt: return log_prob / std::pow((5.0 + n) / 6.0, options.alpha);
  }
  return log_prob;
}

namespace {

struct Live {
  std::vector<std::int32_t> ids;
  double log_prob = 0.0;
  std::int64_t row = 0;  // in the decoder's state
  std::vector<std::vector<float>> attention;
};

struct Sentence {
  std::vector<Live> live;
  std::vector<Hypothesis> finished;
  std::int64_t max_len = 0;
  bool done = false;  // the beams are
  // With a beam of 2 or more, the greedy path too, never pruned, so that no result scores
  // below greedy decoding's (a plain beam can prune the greedy prefix for prefixes that end
  // worse).
  bool with_greedy = false;
  Live greedy;
  bool greedy_done = true;
  std::optional<Hypothesis> greedy_result;
};

struct Candidate {
  double value;
  std::int64_t beam;  // index into the sentence's live beams
  std::int32_t token;
};

// Candidates before others: higher value, then the earlier beam, then the lower token id.
bool better(const Candidate& a, const Candidate& b) {
  if (a.value != b.value) return a.value > b.value;
  if (a.beam != b.beam) return a.beam < b.beam;
  return a.token < b.token;
}

// The source length of sentence b: src_lengths, else prompt_lengths, else 0.
std::int64_t source_length(const Batch& batch, std::int64_t b) {
  for (const char* name : {"src_lengths", "prompt_lengths"}) {
    auto it = batch.tensors.find(name);
    if (it != batch.tensors.end() && it->second.numel() > b) return it->second.ids()[b];
  }
  return 0;
}

std::vector<float> attention_row(const Tensor& att, std::int64_t row) {
  if (!att.defined() || att.rank() != 2) return {};
  const std::int64_t S = att.dim(1);
  return std::vector<float>(att.data() + row * S, att.data() + (row + 1) * S);
}

// One sentence's step: the 2k best candidates from `logp` (rows of its live beams); finished
// ones (eos among the first k) are recorded, the first k others become the new live beams.
void advance(Sentence& s, const Tensor& logp, const Tensor& att, const SearchOptions& o, std::int32_t eos,
             std::int32_t unk) {
  const std::int64_t V = logp.dim(1);
  const auto k = static_cast<std::size_t>(o.beam);
  std::vector<Candidate> pool;
  std::vector<Candidate> mine;
  for (std::size_t bi = 0; bi < s.live.size(); ++bi) {
    const Live& beam = s.live[bi];
    const float* row = logp.data() + beam.row * V;
    const bool must_end = static_cast<std::int64_t>(beam.ids.size()) >= s.max_len;
    // A beam contributes at most its 2k best candidates to the sentence's best 2k: kept in a
    // heap whose front is the worst of them, so most tokens cost one comparison.
    mine.clear();
    // Once the heap is full, a token must beat its front: a float below `floor` cannot (the
    // floor sits a little under the exact bound, so the double comparison decides near it).
    float floor = -INFINITY;
    for (std::int32_t v = 0; v < static_cast<std::int32_t>(V); ++v) {
      if (!(row[v] >= floor)) continue;  // also skips NaN
      if (must_end && v != eos) continue;
      if (!o.allow_unk && v == unk && v != eos) continue;
      const double lp = row[v];
      if (!std::isfinite(lp)) continue;
      const Candidate c{beam.log_prob + lp, static_cast<std::int64_t>(bi), v};
      if (mine.size() < 2 * k) {
        mine.push_back(c);
        std::push_heap(mine.begin(), mine.end(), better);
      } else if (better(c, mine.front())) {
        std::pop_heap(mine.begin(), mine.end(), better);
        mine.back() = c;
        std::push_heap(mine.begin(), mine.end(), better);
      } else {
        continue;
      }
      if (mine.size() == 2 * k) {
        const double bound = mine.front().value - beam.log_prob;
        floor = static_cast<float>(bound - 1e-6 * (1.0 + std::fabs(bound)));
      }
    }
    std::sort_heap(mine.begin(), mine.end(), better);
    pool.insert(pool.end(), mine.begin(), mine.end());
  }
  const std::size_t best = std::min(pool.size(), 2 * k);
  std::partial_sort(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(best), pool.end(), better);
  std::vector<Live> next;
  for (std::size_t i = 0; i < best; ++i) {
    const Candidate& c = pool[i];
    const Live& from = s.live[static_cast<std::size_t>(c.beam)];
    if (c.token == eos) {
      if (i >= k) continue;
      Hypothesis h;
      h.ids = from.ids;
      h.log_prob = c.value;
      h.score = normalized_score(c.value, static_cast<std::int64_t>(h.ids.size()) + 1, o);
      if (o.attention) {
        h.attention = from.attention;
        h.attention.push_back(attention_row(att, from.row));
      }
      s.finished.push_back(std::move(h));
    } else if (next.size() < k) {
      Live l;
      l.ids = from.ids;
      l.ids.push_back(c.token);
      l.log_prob = c.value;
      l.row = from.row;  // the row it extends; renumbered after the reorder
      if (o.attention) {
        l.attention = from.attention;
        l.attention.push_back(attention_row(att, from.row));
      }
      next.push_back(std::move(l));
    }
  }
  s.live = std::move(next);
  if (s.finished.size() >= k || s.live.empty()) {
    s.done = true;
    s.live.clear();
  }
}

// The greedy row's step: its likeliest allowed token (the lowest id on ties); eos finishes it.
void advance_greedy(Sentence& s, const Tensor& logp, const Tensor& att, const SearchOptions& o, std::int32_t eos,
                    std::int32_t unk) {
  const std::int64_t V = logp.dim(1);
  Live& g = s.greedy;
  const float* row = logp.data() + g.row * V;
  const bool must_end = static_cast<std::int64_t>(g.ids.size()) >= s.max_len;
  std::int32_t best = -1;
  // Usually the row's largest value is finite and allowed: one vectorised pass for it, one to
  // find where it first is.
  const float top = must_end ? -INFINITY : kernels::max_of(row, V);
  if (std::isfinite(top)) {
    std::int32_t v = 0;
    while (row[v] != top) ++v;
    if (o.allow_unk || v != unk || v == eos) best = v;
  }
  if (best < 0) {
    for (std::int32_t v = 0; v < static_cast<std::int32_t>(V); ++v) {
      if ((must_end && v != eos) || (!o.allow_unk && v == unk && v != eos) || !std::isfinite(row[v])) continue;
      if (best < 0 || row[v] > row[best]) best = v;
    }
  }
  if (best < 0) {  // nothing allowed is finite: no greedy result
    s.greedy_done = true;
    return;
  }
  g.log_prob += row[best];
  if (o.attention) g.attention.push_back(attention_row(att, g.row));
  if (best == eos) {
    Hypothesis h;
    h.ids = g.ids;
    h.log_prob = g.log_prob;
    h.score = normalized_score(g.log_prob, static_cast<std::int64_t>(h.ids.size()) + 1, o);
    h.attention = std::move(g.attention);
    s.greedy_result = std::move(h);
    s.greedy_done = true;
    return;
  }
  g.ids.push_back(best);
}

}  // namespace

std::vector<std::vector<Hypothesis>> beam_search(IncrementalDecoder& model, const Batch& batch,
                                                 const SearchOptions& options, WeightPack* weights) {
  if (options.beam < 1) throw ConfigError("beam must be at least 1, got " + std::to_string(options.beam));
  if (options.nbest < 1 || options.nbest > options.beam)
    throw ConfigError("nbest must be between 1 and the beam (" + std::to_string(options.beam) + "), got " +
                      std::to_string(options.nbest));
  if (options.max_len_a < 0 || options.max_len_b < 0)
    throw ConfigError("the maximum length a * source length + b needs a >= 0 and b >= 0");
  const std::int32_t eos = model.eos_id(), unk = model.unk_id();
  Graph g(Mode::kEval);
  std::optional<WeightPack> own;
  if (weights == nullptr)
    if (const auto* m = dynamic_cast<const Model*>(&model)) weights = &own.emplace(m->parameters().values());
  g.use_weight_pack(weights);
  Tensor logp;
  std::unique_ptr<DecoderState> state = model.start(g, batch, logp);
  LOOM_ASSERT(logp.rank() == 2 && logp.dim(1) == model.vocab_size(),
              "IncrementalDecoder::start returned log-probabilities of shape " + logp.shape().str());
  const std::int64_t B = logp.dim(0);
  std::vector<Sentence> sentences(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) {
    Sentence& s = sentences[static_cast<std::size_t>(b)];
    s.max_len = static_cast<std::int64_t>(options.max_len_a * static_cast<double>(source_length(batch, b))) + options.max_len_b;
    s.live.push_back(Live{{}, 0.0, b, {}});
    if (options.beam > 1) {
      s.with_greedy = true;
      s.greedy = Live{{}, 0.0, b, {}};
      s.greedy_done = false;
    }
  }
  Tensor att = options.attention ? model.last_attention(*state) : Tensor();
  for (;;) {
    parallel_chunks(B, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t b = begin; b < end; ++b) {
        Sentence& s = sentences[static_cast<std::size_t>(b)];
        if (!s.done) advance(s, logp, att, options, eos, unk);
        if (!s.greedy_done) advance_greedy(s, logp, att, options, eos, unk);
      }
    });
    // The rows the live beams extend, in sentence order; each beam's row becomes its place here.
    std::vector<std::int32_t> rows, tokens;
    for (auto& s : sentences) {
      for (auto& l : s.live) {
        rows.push_back(static_cast<std::int32_t>(l.row));
        tokens.push_back(l.ids.back());
        l.row = static_cast<std::int64_t>(rows.size()) - 1;
      }
      if (!s.greedy_done) {
        rows.push_back(static_cast<std::int32_t>(s.greedy.row));
        tokens.push_back(s.greedy.ids.back());
        s.greedy.row = static_cast<std::int64_t>(rows.size()) - 1;
      }
    }
    if (rows.empty()) break;
    const auto R = static_cast<std::int64_t>(rows.size());
    Tensor row_ids = Tensor::empty(Shape{R}, DType::kInt32), token_ids = Tensor::empty(Shape{R}, DType::kInt32);
    std::copy(rows.begin(), rows.end(), row_ids.ids());
    std::copy(tokens.begin(), tokens.end(), token_ids.ids());
    // Unchanged rows (greedy search, until a sentence ends) need no reordering, which copies
    // every cached key and value.
    bool unchanged = R == state->rows();
    for (std::int64_t r = 0; unchanged && r < R; ++r) unchanged = rows[static_cast<std::size_t>(r)] == r;
    if (!unchanged) model.reorder(*state, row_ids);
    g.clear();
    logp = model.step(g, *state, token_ids);
    LOOM_ASSERT(logp.rank() == 2 && logp.dim(0) == R && logp.dim(1) == model.vocab_size(),
                "IncrementalDecoder::step returned log-probabilities of shape " + logp.shape().str() + " for " +
                    std::to_string(R) + " rows");
    if (options.attention) att = model.last_attention(*state);
  }
  std::vector<std::vector<Hypothesis>> out(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) {
    Sentence& s = sentences[static_cast<std::size_t>(b)];
    auto& f = s.finished;
    if (s.greedy_result && std::none_of(f.begin(), f.end(), [&](const Hypothesis& h) { return h.ids == s.greedy_result->ids; }))
      f.push_back(std::move(*s.greedy_result));
    std::stable_sort(f.begin(), f.end(), [](const Hypothesis& x, const Hypothesis& y) { return x.score > y.score; });
    if (static_cast<std::int64_t>(f.size()) > options.nbest) f.resize(static_cast<std::size_t>(options.nbest));
    out[static_cast<std::size_t>(b)] = std::move(f);
  }
  return out;
}

}  // namespace loom
