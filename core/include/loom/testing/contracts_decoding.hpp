#pragma once
// Contracts of incremental decoders (translation models), on a batch of at least three
// sentences as the model's data loader makes them (see contracts.hpp for how to call them).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "loom/search.hpp"
#include "loom/testing/contracts_base.hpp"

namespace loom::testing::contracts {

namespace detail {
inline Tensor int_row(const std::vector<std::int32_t>& values) {
  Tensor t = Tensor::empty(Shape{static_cast<std::int64_t>(values.size())}, DType::kInt32);
  std::copy(values.begin(), values.end(), t.ids());
  return t;
}
}  // namespace detail

// reorder keeps, duplicates and drops rows with their whole state: after reorder({2, 0, 2})
// one step gives, row for row, exactly what a fresh start gives for sentences 2, 0 and 2.
inline Failures decoder_reorder_moves_rows(IncrementalDecoder& decoder, const Batch& batch) {
  Failures f;
  try {
    Graph g(Mode::kEval);
    Tensor logp;
    auto state = decoder.start(g, batch, logp);
    if (state->rows() < 3) return {"decoder_reorder_moves_rows needs a batch of at least 3 sentences"};
    const std::int64_t V = decoder.vocab_size();
    const std::int32_t token = static_cast<std::int32_t>(std::min<std::int64_t>(5, V - 1));
    decoder.reorder(*state, detail::int_row({2, 0, 2}));
    if (state->rows() != 3) f.push_back("after reorder to 3 rows, the state has " + std::to_string(state->rows()));
    const Tensor after = decoder.step(g, *state, detail::int_row({token, token, token}));
    auto fresh = decoder.start(g, batch, logp);
    const Tensor direct = decoder.step(g, *fresh, detail::int_row(std::vector<std::int32_t>(static_cast<std::size_t>(fresh->rows()), token)));
    const std::int64_t from[] = {2, 0, 2};
    for (std::int64_t r = 0; r < 3; ++r)
      for (std::int64_t v = 0; v < V; ++v)
        if (after.data()[r * V + v] != direct.data()[from[r] * V + v]) {
          f.push_back("after reorder, row " + std::to_string(r) + " differs from sentence " + std::to_string(from[r]) +
                      " at token " + std::to_string(v));
          return f;
        }
  } catch (const std::exception& e) {
    f.push_back(std::string("threw: ") + e.what());
  }
  return f;
}

// Greedy search (beam 1) picks the likeliest token at every step, and a hypothesis's log_prob
// is the sum of its tokens' log-probabilities (eos included), replayed one sentence at a time.
inline Failures greedy_search_takes_the_likeliest_token(IncrementalDecoder& decoder, const Batch& batch,
                                                         std::int64_t max_len = 5) {
  Failures f;
  try {
    SearchOptions o;
    o.max_len_a = 0;
    o.max_len_b = max_len;
    const auto out = beam_search(decoder, batch, o);
    for (std::size_t b = 0; b < out.size(); ++b) {
      if (out[b].empty()) {
        f.push_back("sentence " + std::to_string(b) + ": no hypothesis");
        continue;
      }
      const auto& h = out[b][0];
      Graph g(Mode::kEval);
      Tensor logp;
      auto state = decoder.start(g, batch, logp);
      decoder.reorder(*state, detail::int_row({static_cast<std::int32_t>(b)}));
      Tensor row = Tensor::empty(Shape{1, logp.dim(1)});
      std::copy_n(logp.data() + static_cast<std::int64_t>(b) * logp.dim(1), logp.dim(1), row.data());
      double total = 0;
      for (std::size_t i = 0; i <= h.ids.size(); ++i) {
        const std::int32_t chosen = i < h.ids.size() ? h.ids[i] : decoder.eos_id();
        const float* p = row.data();
        const auto best = std::max_element(p, p + row.dim(1)) - p;
        // The last forced eos (at the length limit) need not be the likeliest.
        if (static_cast<std::int64_t>(i) < max_len && best != chosen)
          f.push_back("sentence " + std::to_string(b) + ", step " + std::to_string(i) + ": chose " + std::to_string(chosen) +
                      ", the likeliest is " + std::to_string(best));
        total += p[chosen];
        if (i < h.ids.size()) row = decoder.step(g, *state, detail::int_row({chosen}));
      }
      if (std::abs(total - h.log_prob) > 1e-5)
        f.push_back("sentence " + std::to_string(b) + ": log_prob " + std::to_string(h.log_prob) +
                    ", the replayed steps sum to " + std::to_string(total));
    }
  } catch (const std::exception& e) {
    f.push_back(std::string("threw: ") + e.what());
  }
  return f;
}

}  // namespace loom::testing::contracts
