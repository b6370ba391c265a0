// Translating new text with a trained translation model: `loom translate`.
#include <algorithm>
#include <chrono>
#include <istream>
#include <numeric>
#include <ostream>

#include <tbb/parallel_for.h>

#include "infer/inference.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/parallel_corpus.hpp"
#include "loom/strings.hpp"
#include "report/html.hpp"

namespace loom {

namespace {

// The source tokens the model saw: the tokenizer's, then eos when the vocabulary has one.
std::vector<std::string> src_tokens(const ParallelCorpusLoader& data, const std::string& text) {
  std::vector<std::string> tokens = data.tokenizer("src").tokenize(text);
  const Vocab& v = data.vocab("src");
  if (v.eos_id() != Vocab::kNone) tokens.push_back(v.token(v.eos_id()));
  return tokens;
}

}  // namespace

std::string hypothesis_text(const Hypothesis& h, const Vocab& vocab, const Tokenizer& tokenizer) {
  std::vector<std::string> tokens;
  tokens.reserve(h.ids.size());
  for (auto id : h.ids) tokens.push_back(vocab.token(id));
  return tokenizer.detokenize(tokens);
}

TranslateTotals translate_lines(Workspace& ws, Model& model, const std::string& data_id, std::istream& in,
                                const std::string& source, std::ostream& out, const TranslateOptions& options) {
  auto* data = dynamic_cast<ParallelCorpusLoader*>(&ws.get(data_id));
  if (data == nullptr)
    throw ConfigError("translate: data '" + data_id + "' (" + ws.plugin_of(data_id) +
                      ") does not hold sentence pairs; translation needs a loader such as parallel");
  auto* decoder = dynamic_cast<IncrementalDecoder*>(&model);
  if (decoder == nullptr)
    throw ConfigError("translate: the model cannot decode a sentence step by step (it is no translation model)");
  if (options.batch_size < 1) throw ConfigError("--batch-size must be at least 1");
  const Vocab& src = ws.vocab_of(ws.id_of(data->side_vocab("src")), Params(), "src_vocab");
  const Vocab& tgt = ws.vocab_of(ws.id_of(data->side_vocab("tgt")), Params(), "tgt_vocab");
  data->use_vocabs(src, tgt);
  const Tokenizer& detok = data->tokenizer("tgt");
  TranslateTotals total;
  WeightPack weights(model.parameters().values());  // the parameters do not change here
  // Sentences are read in windows of kWindowBatches batches and searched in batches of similar
  // length in bytes (less padding, and beams of a batch finish together; the bytes stand in for
  // the token count, which would mean tokenizing every sentence twice), then written in input
  // order. The results do not depend on how sentences are batched (tests/cli_translate.py).
  constexpr std::int64_t kWindowBatches = 16;
  std::vector<std::string> texts;
  auto flush = [&] {
    if (texts.empty()) return;
    std::vector<std::size_t> order(texts.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return texts[a].size() < texts[b].size(); });
    std::vector<std::vector<Hypothesis>> results(texts.size());
    const auto bs = static_cast<std::size_t>(options.batch_size);
    std::vector<Batch> batches;
    for (std::size_t first = 0; first < order.size(); first += bs) {
      std::vector<std::string> batch_texts;
      for (std::size_t k = first; k < std::min(order.size(), first + bs); ++k) batch_texts.push_back(texts[order[k]]);
      batches.push_back(data->batch_of_texts(batch_texts, src));
    }
    // The batches are searched at the same time, one per thread: a step of one batch has too
    // little work to keep every core busy (most of its products are too small to split), and
    // each batch is searched exactly as it would be alone.
    tbb::parallel_for(std::size_t{0}, batches.size(), [&](std::size_t i) {
      auto found = beam_search(*decoder, batches[i], options.search, &weights);
      for (std::size_t k = 0; k < found.size(); ++k) results[order[i * bs + k]] = std::move(found[k]);
    });
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& list = results[i];
      if (options.search.nbest > 1) {
        for (const auto& h : list)
          out << total.lines + static_cast<std::int64_t>(i) << "\t" << format_number("%.4f", h.score) << "\t"
              << hypothesis_text(h, tgt, detok) << "\n";
      } else {
        out << (list.empty() ? std::string() : hypothesis_text(list[0], tgt, detok)) << "\n";
      }
      if (!list.empty()) total.tokens += static_cast<std::int64_t>(list[0].ids.size()) + 1;
      if (options.attention && !list.empty()) {
        TranslatedSentence t;
        t.source = src_tokens(*data, texts[i]);
        for (auto id : list[0].ids) t.target.push_back(tgt.token(id));
        t.target.push_back(tgt.token(tgt.eos_id()));
        t.weights = list[0].attention;
        options.attention->push_back(std::move(t));
      }
    }
    total.lines += static_cast<std::int64_t>(texts.size());
    texts.clear();
    out.flush();
  };
  std::string line;
  std::int64_t line_no = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    check_text_line(line, source, ++line_no);
    texts.push_back(line);
    if (static_cast<std::int64_t>(texts.size()) == options.batch_size * kWindowBatches) flush();
  }
  flush();
  return total;
}

TranslateSummary translate_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                                const std::string& source, std::ostream& out, const TranslateOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  OpenedRun run(registry, run_dir, {});
  Workspace& ws = *run.workspace;
  TranslateOptions o = options;
  std::vector<TranslatedSentence> sentences;
  if (!o.attention_page.empty()) {
    o.search.attention = true;
    o.attention = &sentences;
  }
  TranslateTotals t = translate_lines(ws, ws.only_model(), ws.resolve(Kind::kData, Params(), "data"), in, source, out, o);
  if (!o.attention_page.empty())
    write_file_atomically(o.attention_page, report::translation_attention_page("attention: " + run_dir.filename().string(), sentences));
  TranslateSummary s;
  s.lines = t.lines;
  s.tokens = t.tokens;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.checkpoint = run.checkpoint;
  return s;
}

}  // namespace loom
