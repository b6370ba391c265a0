#pragma once
// The names and shapes of batch tensors, one convention per kind of data, so that loaders and
// models agree without knowing each other. int32 ids; float masks.
//
// Language-model windows (lm_stream, markov), time-major as the RNN ops:
//   ids [T, B], targets [T, B] (the next token).
// Classification (text_classification), time-major:
//   ids [T, B] (padded), lengths [B], mask [T, B] (1 on tokens), labels [B].
// Translation, encoder-decoder (parallel, layout encoder_decoder), batch-major as attention:
//   src [B, S]          source ids then eos (when the source vocabulary has one), padded
//   src_lengths [B]     real source positions, eos included
//   tgt_in [B, T]       bos then the target ids (teacher forcing), padded
//   tgt_out [B, T]      the target ids then eos; padding is kIgnoreTarget
//   tgt_lengths [B]     real target positions (tokens + 1)
//   index [B]           the pair's line in its split (0-based), to put outputs back in order
// Translation, decoder-only (parallel, layout decoder_only), time-major as language models:
//   ids [T, B]          bos src sep tgt (the last token, eos, is only a target), padded
//   targets [T, B]      the next token where it is a target token or eos, else kIgnoreTarget
//   lengths [B]         real positions of ids
//   prompt_lengths [B]  positions up to and including sep: what a translation starts from
//   index [B]           as above
// Padding ids are the vocabulary's pad id, else its eos id, else 0; models must not look at
// them (lengths and masks say where they are).
#include <cstdint>

namespace loom {

// A target the loss skips (the ignore_index of log_softmax_nll).
constexpr std::int32_t kIgnoreTarget = -1;

}  // namespace loom
