// Greedy and beam search (loom/search.hpp) over hand-built decoders whose next-token
// distribution depends on the last token only (a table), so the best sequence can be found by
// enumerating every sequence: beam 1 is greedy, a wide beam finds the best, a beam of 2 finds
// what greedy misses in a table built for it, beam search does not score below greedy, n-best
// lists are sorted, unk can be excluded, lengths are capped, the thread count changes nothing.
#define BOOST_TEST_MODULE search
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"
#include "loom/search.hpp"

using namespace loom;

namespace {

constexpr std::int32_t kEos = 0, kUnk = 1;

// log P(next | last) from a table; the first token of sentence b follows start[b].
class TableDecoder : public IncrementalDecoder {
 public:
  explicit TableDecoder(std::vector<std::vector<double>> table) : table_(std::move(table)) {}

  struct State : DecoderState {
    std::vector<std::int32_t> last;
    std::int64_t steps = 0;
    std::int64_t rows() const override { return static_cast<std::int64_t>(last.size()); }
  };

  std::unique_ptr<DecoderState> start(Graph&, const Batch& batch, Tensor& log_probs) override {
    auto s = std::make_unique<State>();
    const Tensor& first = batch.get("start");
    for (std::int64_t b = 0; b < first.numel(); ++b) s->last.push_back(first.ids()[b]);
    log_probs = probs(*s);
    return s;
  }
  Tensor step(Graph&, DecoderState& state, const Tensor& ids) override {
    auto& s = dynamic_cast<State&>(state);
    BOOST_REQUIRE(ids.numel() == s.rows());
    for (std::int64_t r = 0; r < ids.numel(); ++r) {
      BOOST_REQUIRE(ids.ids()[r] != kEos);  // a finished row is never extended
      s.last[static_cast<std::size_t>(r)] = ids.ids()[r];
    }
    ++s.steps;
    ++steps_;
    return probs(s);
  }
  void reorder(DecoderState& state, const Tensor& rows) override {
    auto& s = dynamic_cast<State&>(state);
    std::vector<std::int32_t> kept;
    for (std::int64_t i = 0; i < rows.numel(); ++i) {
      BOOST_REQUIRE((rows.ids()[i] >= 0 && rows.ids()[i] < s.rows()));
      kept.push_back(s.last[static_cast<std::size_t>(rows.ids()[i])]);
    }
    s.last = kept;
  }
  // Where a row "looks": one-hot at its last token, over 8 source positions.
  Tensor last_attention(const DecoderState& state) const override {
    const auto& s = dynamic_cast<const State&>(state);
    Tensor t = Tensor::zeros(Shape{s.rows(), 8});
    for (std::int64_t r = 0; r < s.rows(); ++r) t.data()[r * 8 + s.last[static_cast<std::size_t>(r)] % 8] = 1.0f;
    return t;
  }
  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(table_.size()); }
  std::int32_t eos_id() const override { return kEos; }
  std::int32_t unk_id() const override { return kUnk; }

  double log_prob(std::int32_t last, std::int32_t next) const {
    return table_[static_cast<std::size_t>(last)][static_cast<std::size_t>(next)];
  }
  std::int64_t steps_ = 0;

 private:
  Tensor probs(const State& s) const {
    const auto V = vocab_size();
    Tensor t = Tensor::empty(Shape{s.rows(), V});
    for (std::int64_t r = 0; r < s.rows(); ++r)
      for (std::int64_t v = 0; v < V; ++v)
        t.data()[r * V + v] = static_cast<float>(table_[static_cast<std::size_t>(s.last[static_cast<std::size_t>(r)])][static_cast<std::size_t>(v)]);
    return t;
  }
  std::vector<std::vector<double>> table_;
};

// Rows of log-probabilities from random logits (in float, as the decoder hands them out).
std::vector<std::vector<double>> random_table(std::int64_t V, std::uint64_t seed, double eos_bias) {
  Rng rng(stream_key(seed, "table"));
  std::vector<std::vector<double>> t(static_cast<std::size_t>(V), std::vector<double>(static_cast<std::size_t>(V)));
  for (auto& row : t) {
    double z = 0;
    for (std::size_t v = 0; v < row.size(); ++v) {
      row[v] = 2.0 * rng.normal() + (v == kEos ? eos_bias : 0.0);
      z += std::exp(row[v]);
    }
    for (auto& x : row) x = static_cast<double>(static_cast<float>(x - std::log(z)));
  }
  return t;
}

Batch starts(const std::vector<std::int32_t>& first, const std::vector<std::int32_t>& src_len = {}) {
  Batch b;
  Tensor s = Tensor::empty(Shape{static_cast<std::int64_t>(first.size())}, DType::kInt32);
  std::copy(first.begin(), first.end(), s.ids());
  b.tensors["start"] = s;
  if (!src_len.empty()) {
    Tensor l = Tensor::empty(Shape{static_cast<std::int64_t>(src_len.size())}, DType::kInt32);
    std::copy(src_len.begin(), src_len.end(), l.ids());
    b.tensors["src_lengths"] = l;
  }
  return b;
}

// The log-probability of a whole output (eos included) under the table.
double sequence_log_prob(const TableDecoder& d, std::int32_t first, const std::vector<std::int32_t>& ids) {
  double lp = 0;
  std::int32_t last = first;
  for (auto id : ids) {
    lp += d.log_prob(last, id);
    last = id;
  }
  return lp + d.log_prob(last, kEos);
}

// Greedy written out on its own: the likeliest token (lowest id on ties) until eos or max_len.
std::vector<std::int32_t> greedy(const TableDecoder& d, std::int32_t first, std::int64_t max_len) {
  std::vector<std::int32_t> out;
  std::int32_t last = first;
  for (;;) {
    std::int32_t best = kEos;
    if (static_cast<std::int64_t>(out.size()) < max_len)
      for (std::int32_t v = 0; v < d.vocab_size(); ++v)
        if (d.log_prob(last, v) > d.log_prob(last, best)) best = v;
    if (best == kEos) return out;
    out.push_back(best);
    last = best;
  }
}

// The best output of at most max_len tokens, by enumerating them all.
double best_by_enumeration(const TableDecoder& d, std::int32_t first, std::int64_t max_len) {
  double best = -1e300;
  std::function<void(std::int32_t, std::int64_t, double)> walk = [&](std::int32_t last, std::int64_t len, double lp) {
    best = std::max(best, lp + d.log_prob(last, kEos));
    if (len == max_len) return;
    for (std::int32_t v = 1; v < d.vocab_size(); ++v) walk(v, len + 1, lp + d.log_prob(last, v));
  };
  walk(first, 0, 0.0);
  return best;
}

SearchOptions plain(std::int64_t beam, std::int64_t max_len) {
  SearchOptions o;
  o.beam = beam;
  o.nbest = 1;
  o.length_norm = LengthNorm::kNone;
  o.max_len_a = 0;
  o.max_len_b = max_len;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(beam_of_one_is_greedy) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    TableDecoder d(random_table(6, seed, 1.0));
    auto out = beam_search(d, starts({2, 3, 4, 5}), plain(1, 7));
    for (std::int32_t b = 0; b < 4; ++b) {
      BOOST_TEST_CONTEXT("seed " << seed << " sentence " << b) {
        BOOST_REQUIRE(out[static_cast<std::size_t>(b)].size() == 1u);
        const Hypothesis& h = out[static_cast<std::size_t>(b)][0];
        BOOST_TEST(h.ids == greedy(d, b + 2, 7), boost::test_tools::per_element());
        BOOST_TEST(std::abs(h.log_prob - sequence_log_prob(d, b + 2, h.ids)) < 1e-9);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_wide_beam_finds_the_best_sequence) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    TableDecoder d(random_table(4, seed, 0.0));
    // 3 tokens besides eos, at most 4 of them: 121 outputs; a beam of 81 keeps every prefix.
    auto out = beam_search(d, starts({1, 2, 3}), plain(81, 4));
    for (std::int32_t b = 0; b < 3; ++b)
      BOOST_TEST(std::abs(out[static_cast<std::size_t>(b)][0].log_prob - best_by_enumeration(d, b + 1, 4)) < 1e-9,
                 "seed " << seed << " sentence " << b);
  }
}

BOOST_AUTO_TEST_CASE(a_beam_of_two_finds_what_greedy_misses) {
  // From token 1: "2" (log 0.6) then only bad continuations; "3" (log 0.4) then eos for sure.
  // Greedy: 2 then its best, 2 -> eos at log 0.3: 0.6 * 0.3 = 0.18. Best: 3 then eos: 0.4 * 1.
  const double n = std::log(1e-9);
  std::vector<std::vector<double>> t = {
      {n, n, n, n},                                         // after eos (never used)
      {n, n, std::log(0.6), std::log(0.4) - 1e-9},          // after 1
      {std::log(0.3), std::log(0.35), std::log(0.35), n},   // after 2
      {0.0, n, n, n},                                       // after 3: eos
  };
  TableDecoder d(t);
  auto g = beam_search(d, starts({1}), plain(1, 5))[0][0];
  auto b = beam_search(d, starts({1}), plain(2, 5))[0][0];
  BOOST_TEST(g.ids.front() == 2);
  BOOST_TEST(b.ids == (std::vector<std::int32_t>{3}), boost::test_tools::per_element());
  BOOST_TEST(std::abs(b.log_prob - std::log(0.4)) < 1e-6);
  BOOST_TEST(b.log_prob > g.log_prob);
}

BOOST_AUTO_TEST_CASE(beam_search_does_not_score_below_greedy) {
  int strictly_better = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    TableDecoder d(random_table(8, seed, 0.5));
    auto g = beam_search(d, starts({1, 2, 3, 4, 5, 6, 7}), plain(1, 6));
    for (std::int64_t k : {2, 4, 8}) {
      auto b = beam_search(d, starts({1, 2, 3, 4, 5, 6, 7}), plain(k, 6));
      for (std::size_t s = 0; s < g.size(); ++s) {
        BOOST_TEST(b[s][0].log_prob >= g[s][0].log_prob - 1e-12, "seed " << seed << " beam " << k << " sentence " << s);
        strictly_better += b[s][0].log_prob > g[s][0].log_prob + 1e-9;
      }
    }
  }
  BOOST_TEST(strictly_better > 0);  // the tables are hard enough for the beam to matter
}

BOOST_AUTO_TEST_CASE(nbest_lists_are_sorted_and_distinct) {
  TableDecoder d(random_table(6, 3, 0.0));
  SearchOptions o = plain(5, 6);
  o.nbest = 5;
  for (auto norm : {LengthNorm::kNone, LengthNorm::kAverage, LengthNorm::kGnmt}) {
    o.length_norm = norm;
    auto out = beam_search(d, starts({1, 2}), o);
    for (const auto& list : out) {
      BOOST_TEST(list.size() == 5u);
      std::set<std::vector<std::int32_t>> seen;
      for (std::size_t i = 0; i < list.size(); ++i) {
        BOOST_TEST(seen.insert(list[i].ids).second);
        if (i > 0) BOOST_TEST(list[i - 1].score >= list[i].score);
        const auto tokens = static_cast<std::int64_t>(list[i].ids.size()) + 1;
        BOOST_TEST(std::abs(list[i].score - normalized_score(list[i].log_prob, tokens, o)) < 1e-12);
      }
    }
  }
  BOOST_TEST(std::abs(normalized_score(-6.0, 3, o) - (-6.0 / std::pow(8.0 / 6.0, 0.6))) < 1e-12);  // GNMT
  o.length_norm = LengthNorm::kAverage;
  BOOST_TEST(normalized_score(-6.0, 3, o) == -2.0);
  o.nbest = 6;
  BOOST_CHECK_THROW(beam_search(d, starts({1}), o), ConfigError);
  o.nbest = 1;
  o.beam = 0;
  BOOST_CHECK_THROW(beam_search(d, starts({1}), o), ConfigError);
}

BOOST_AUTO_TEST_CASE(unk_lengths_attention_and_threads) {
  // A table that loves unk and long outputs.
  auto t = random_table(6, 11, -4.0);
  for (auto& row : t) row[kUnk] = -0.01;
  TableDecoder d(t);
  SearchOptions o = plain(3, 0);
  o.max_len_a = 2.0;
  o.max_len_b = 1;
  o.attention = true;
  auto with_unk = beam_search(d, starts({2, 3}, {2, 4}), o);
  o.allow_unk = false;
  set_threads(1);
  auto one = beam_search(d, starts({2, 3}, {2, 4}), o);
  set_threads(2);
  auto two = beam_search(d, starts({2, 3}, {2, 4}), o);
  bool any_unk = false;
  for (std::size_t s = 0; s < 2; ++s) {
    const std::int64_t max_len = s == 0 ? 5 : 9;  // 2 * src + 1
    for (auto id : with_unk[s][0].ids) any_unk |= id == kUnk;
    BOOST_TEST(static_cast<std::int64_t>(with_unk[s][0].ids.size()) == max_len);  // eos only when forced
    for (auto id : one[s][0].ids) BOOST_TEST(id != kUnk);
    BOOST_TEST(static_cast<std::int64_t>(one[s][0].ids.size()) <= max_len);
    BOOST_TEST(one[s][0].ids == two[s][0].ids, boost::test_tools::per_element());
    BOOST_TEST(one[s][0].log_prob == two[s][0].log_prob);
    // One attention row per output token and eos: one-hot at the token it followed.
    const auto& h = one[s][0];
    BOOST_REQUIRE(h.attention.size() == h.ids.size() + 1);
    std::int32_t last = static_cast<std::int32_t>(s) + 2;
    for (std::size_t i = 0; i < h.attention.size(); ++i) {
      BOOST_TEST(h.attention[i][static_cast<std::size_t>(last % 8)] == 1.0f);
      if (i < h.ids.size()) last = h.ids[i];
    }
  }
  BOOST_TEST(any_unk);
}

// Rows re-ranked within their sentences keep what came from the source; expanding a sentence to
// several rows, dropping a finished one or moving a row to another sentence does not.
BOOST_AUTO_TEST_CASE(source_rows_tell_when_rows_change_sentences) {
  loom::SourceRows sources(2);
  BOOST_TEST(sources.reorder(Tensor::from_ids(loom::Shape{4}, {0, 0, 1, 1})));   // expand: 0 0 1 1
  BOOST_TEST(!sources.reorder(Tensor::from_ids(loom::Shape{4}, {1, 0, 3, 3})));  // re-rank: 0 0 1 1
  BOOST_TEST(!sources.reorder(Tensor::from_ids(loom::Shape{4}, {0, 1, 2, 3})));
  BOOST_TEST(sources.reorder(Tensor::from_ids(loom::Shape{2}, {2, 3})));         // sentence 0 done: 1 1
  BOOST_TEST(!sources.reorder(Tensor::from_ids(loom::Shape{2}, {1, 0})));
  BOOST_TEST(!sources.reorder(Tensor::from_ids(loom::Shape{2}, {0, 0})));       // both of sentence 1
  loom::SourceRows three(3);
  BOOST_TEST(three.reorder(Tensor::from_ids(loom::Shape{3}, {0, 2, 1})));        // rows swap sentences
  BOOST_CHECK_THROW(three.reorder(Tensor::from_ids(loom::Shape{1}, {3})), loom::AssertionError);
}
