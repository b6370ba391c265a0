#include "infer/inference.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <istream>
#include <ostream>
#include <set>
#include <sstream>
#include <vector>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/parameters.hpp"
#include "loom/random.hpp"
#include "loom/strings.hpp"
#include "loom/text.hpp"
#include "report/html.hpp"
#include "run/evaluator.hpp"

namespace loom {

LanguageModel& language_model(Model& model, const std::string& what) {
  auto* lm = dynamic_cast<LanguageModel*>(&model);
  if (lm == nullptr)
    throw ConfigError(what + ": the model is not a language model (its plugin gives no next-token probabilities)");
  return *lm;
}

// The token that ends a line: what the tokenizer makes of an empty line when that is one
// token (the word tokenizer's <eos>), else the vocabulary's eos or bos. Text is generated
// and scored as if it followed such a token, as every line but the first does in training.
std::int32_t line_end(const Tokenizer* tokenizer, const Vocab& vocab) {
  if (tokenizer != nullptr) {
    std::vector<std::string> empty = tokenizer->tokenize("");
    if (empty.size() == 1 && vocab.find(empty[0]) != Vocab::kNone) return vocab.find(empty[0]);
  }
  if (vocab.eos_id() != Vocab::kNone) return vocab.eos_id();
  return vocab.bos_id();
}

// Samples `words` tokens, starting after an end of line; writes lines of text.
void sample_text(Model& model, const Tokenizer* tokenizer, const Vocab& vocab, std::int64_t words,
                   double temperature, std::uint64_t seed, std::ostream& out, std::int64_t top_k) {
  LanguageModel& lm = language_model(model, "generate");
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  Rng rng(stream_key(seed, "generate"));
  Graph g(Mode::kEval);
  const std::int32_t end = line_end(tokenizer, vocab);
  std::int32_t token = end == Vocab::kNone ? 0 : end;
  std::vector<std::string> line;
  auto flush = [&] {
    if (line.empty()) return;
    std::string text;
    if (tokenizer) text = tokenizer->detokenize(line);
    else for (const auto& t : line) text += (text.empty() ? "" : " ") + t;
    out << text << "\n";
    line.clear();
  };
  std::vector<double> weights;
  std::vector<float> kth;
  for (std::int64_t w = 0; w < words; ++w) {
    g.clear();
    Tensor ids = Tensor::empty(Shape{1, 1}, DType::kInt32);
    ids.ids()[0] = token;
    Tensor lp = lm.next_log_probs(g, ids);
    const std::int64_t v = lp.dim(1);
    const float* row = lp.data();
    if (temperature == 0.0) {
      token = static_cast<std::int32_t>(std::max_element(row, row + v) - row);
    } else {
      weights.resize(static_cast<std::size_t>(v));
      // With top_k, tokens below the k-th largest log-probability get no weight (ties at the
      // k-th value are all kept).
      float floor = -INFINITY;
      if (top_k > 0 && top_k < v) {
        kth.assign(row, row + v);
        std::nth_element(kth.begin(), kth.begin() + (top_k - 1), kth.end(), std::greater<float>());
        floor = kth[static_cast<std::size_t>(top_k - 1)];
      }
      double top = *std::max_element(row, row + v), total = 0.0;
      for (std::int64_t i = 0; i < v; ++i)
        total += weights[i] = row[i] >= floor ? std::exp((row[i] - top) / temperature) : 0.0;
      double u = rng.uniform() * total;
      std::int64_t i = 0;
      for (; i < v - 1 && u >= weights[i]; ++i) u -= weights[i];
      token = static_cast<std::int32_t>(i);
    }
    line.push_back(vocab.token(token));
    if (token == end) flush();
  }
  flush();
}

std::string ppl_text(double log_prob, std::int64_t tokens) {
  return tokens > 0 ? format_number("%.4f", std::exp(-log_prob / static_cast<double>(tokens))) : "";
}

void check_text_line(const std::string& line, const std::string& source, std::int64_t line_no) {
  const std::string at = source + ":" + std::to_string(line_no) + ": ";
  if (auto nul = line.find('\0'); nul != std::string::npos)
    throw InputError(at + "binary data (a NUL byte at column " + std::to_string(nul + 1) + "), not text");
  if (auto bad = find_invalid_utf8(line); bad != std::string::npos)
    throw InputError(at + "not UTF-8 (byte " + std::to_string(bad + 1) + " of the line)");
}

// Per-line log-probability and perplexity of text, the state carried from line to line as
// in training; a TSV table with a total row.
ScoreTotals score_lines(Model& model, const Tokenizer& tokenizer, const Vocab& vocab, std::istream& in,
                       const std::string& source, std::ostream& out, bool per_token) {
  LanguageModel& lm = language_model(model, "score");
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  Graph g(Mode::kEval);
  ScoreTotals total;
  std::int32_t previous = line_end(&tokenizer, vocab);
  const std::int32_t unk = vocab.unk_id();
  if (per_token)
    out << "line\tposition\tcontext_id\tid\ttoken\tlog_prob\n";
  else
    out << "line\ttokens\tunknown\tlog_prob\tppl\n";
  std::string text;
  std::vector<std::string> tokens;
  while (std::getline(in, text)) {
    ++total.lines;
    check_text_line(text, source, total.lines);
    tokens.clear();
    tokenizer.tokenize(text, tokens);
    std::vector<std::int32_t> ids;
    std::int64_t unknown = 0;
    for (const auto& t : tokens) {
      std::int32_t id = vocab.find(t);
      if (id == Vocab::kNone) {
        if (unk == Vocab::kNone)
          throw InputError(source + ":" + std::to_string(total.lines) + ": token '" + t +
                           "' is not in the vocabulary, which has no unknown-token entry");
        id = unk;
        ++unknown;
      }
      ids.push_back(id);
    }
    // Without a start token the text's very first token has no context: it is only read.
    std::size_t first = previous == Vocab::kNone ? 1 : 0;
    double log_prob = 0.0;
    std::int64_t scored = 0;
    // Token k is scored after token k - 1 (the previous line's last for k = 0), in windows
    // whose log-probabilities [window, V] stay small however long the line; the model's
    // state carries from window to window.
    constexpr std::size_t kWindow = 512;
    for (std::size_t begin = first; begin < ids.size(); begin += kWindow) {
      const std::size_t end = std::min(ids.size(), begin + kWindow);
      const auto n = static_cast<std::int64_t>(end - begin);
      Tensor input = Tensor::empty(Shape{n, 1}, DType::kInt32);
      for (std::size_t k = begin; k < end; ++k) input.ids()[k - begin] = k == 0 ? previous : ids[k - 1];
      g.clear();
      Tensor lp = lm.next_log_probs(g, input);
      for (std::size_t k = begin; k < end; ++k) {
        const float token_lp = lp.data()[static_cast<std::int64_t>(k - begin) * lp.dim(1) + ids[k]];
        log_prob += token_lp;
        if (per_token)
          out << total.lines << "\t" << k + 1 << "\t" << input.ids()[k - begin] << "\t" << ids[k] << "\t" << tokens[k]
              << "\t" << format_number("%.9g", token_lp) << "\n";
      }
      scored += n;
    }
    if (!ids.empty()) previous = ids.back();
    total.tokens += scored;
    total.unknown += unknown;
    total.log_prob += log_prob;
    if (!per_token)
      out << total.lines << "\t" << scored << "\t" << unknown << "\t" << format_number("%.4f", log_prob) << "\t"
          << ppl_text(log_prob, scored) << "\n";
  }
  if (total.tokens == 0)
    throw InputError(source + ": no text to score (" + std::to_string(total.lines) + " line" +
                     (total.lines == 1 ? "" : "s") + ", no token with a context)");
  if (!per_token)
    out << "total\t" << total.tokens << "\t" << total.unknown << "\t" << format_number("%.4f", total.log_prob) << "\t"
      << ppl_text(total.log_prob, total.tokens) << "\n";
  return total;
}

// Label and probability of each line of `in` (`source` names it in messages): the data
// component batches the texts as it batches its own, the model scores them; one TSV line
// "label<TAB>probability" per input line, in order.
PredictTotals predict_lines(Workspace& ws, Model& model, const std::string& data_id, std::istream& in, const std::string& source,
                            std::ostream& out) {
  auto& data = dynamic_cast<DataLoader&>(ws.get(data_id));
  auto* batcher = dynamic_cast<const BatchesTexts*>(&data);
  auto* labelled = dynamic_cast<const HasLabels*>(&data);
  const std::string& plugin = ws.plugin_of(data_id);
  if (batcher == nullptr || labelled == nullptr)
    throw ConfigError("predict: data '" + data_id + "' (" + plugin +
                      ") cannot batch new texts with labels; prediction needs a loader such as text_classification");
  const Vocab& vocab = ws.vocab_of_data(data_id);
  // The run's own class names (labels.txt) when it was opened for inference: the training
  // data need not be read, nor be where it was.
  const std::vector<std::string>& names = ws.saved_labels() ? *ws.saved_labels() : labelled->label_names();
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  Graph g(Mode::kEval);
  PredictTotals total;
  constexpr std::size_t kChunk = 256;
  std::vector<std::string> texts;
  std::string line;
  auto flush = [&] {
    if (texts.empty()) return;
    g.clear();
    ModelOutput o = model.forward(g, batcher->batch_of_texts(texts, vocab));
    const Tensor& scores = o.predictions;
    const auto B = static_cast<std::int64_t>(texts.size()), C = static_cast<std::int64_t>(names.size());
    if (!scores.defined() || scores.rank() != 2 || scores.dim(0) != B || scores.dim(1) != C)
      throw ConfigError("predict: the model's predictions are " + (scores.defined() ? scores.shape().str() : std::string("missing")) +
                        ", not one score per label [" + std::to_string(B) + ", " + std::to_string(C) + "]: is it a classifier?");
    for (std::int64_t b = 0; b < B; ++b) {
      const float* row = scores.data() + b * C;
      const std::int64_t best = std::max_element(row, row + C) - row;  // the first highest, as the metrics take it
      double sum = 0.0;
      for (std::int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(row[c]) - row[best]);
      const std::string& label = names[static_cast<std::size_t>(best)];
      out << label << "\t" << format_number("%.4f", 1.0 / sum) << "\n";
      ++total.per_label[label];
    }
    total.lines += B;
    texts.clear();
  };
  std::int64_t line_no = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    check_text_line(line, source, ++line_no);
    texts.push_back(line);
    if (texts.size() == kChunk) flush();
  }
  flush();
  return total;
}

// A run folder for inference: parameters from checkpoints/best.ckpt (last.ckpt when no
// epoch was judged best), vocabularies from that checkpoint (the folder's vocab files must
// agree with it), class names from labels.txt. Needs no file outside the folder. Returns
// the checkpoint used.
std::filesystem::path open_for_inference(Workspace& ws, const std::filesystem::path& dir, const std::string& which) {
  std::filesystem::path ckpt = dir / "checkpoints" / (which.empty() ? "best.ckpt" : which + ".ckpt");
  if (!which.empty() && !std::filesystem::exists(ckpt))
    throw InputError(ckpt.string() + ": no such checkpoint" +
                     (which == "best" ? " (no epoch was judged best: use --checkpoint last)" : ""));
  if (!std::filesystem::exists(ckpt)) ckpt = dir / "checkpoints" / "last.ckpt";
  if (!std::filesystem::exists(ckpt))
    throw InputError((dir / "checkpoints").string() + ": no best.ckpt or last.ckpt: the run saved no parameters yet");
  const Checkpoint checkpoint = Checkpoint::read(ckpt);
  for (const auto& c : ws.resolved().components) {
    if (!c.plugin || c.plugin->descriptor->kind != Kind::kVocab) continue;
    const auto file = dir / ws.vocab_file_name(c.id);
    const std::string section = "vocab." + c.id;
    if (!checkpoint.has_section(section)) {  // a checkpoint without its vocabularies: the file alone
      if (!std::filesystem::exists(file))
        throw InputError(file.string() + ": the run folder has no vocabulary '" + c.id + "' (did its build_vocab stage run?)");
      ws.set_vocab(c.id, Vocab::load(file));
      continue;
    }
    const std::string text = checkpoint.section(section).text("text");
    if (std::filesystem::exists(file) && read_file(file) != text)
      throw InputError(file.string() + ": differs from the vocabulary saved in " + ckpt.string() +
                       " (edited after training?): restore it, or delete it to use the checkpoint's copy");
    ws.set_vocab(c.id, Vocab::parse(text, ckpt.string() + " (vocabulary '" + c.id + "')"));
  }
  // Learned tokenizers: the checkpoint's copy, else the run folder's file.
  for (const auto& [id, learner] : ws.learned_tokenizers()) {
    if (Workspace::restore_learned_tokenizer(checkpoint, id, *learner)) continue;
    const auto file = dir / Workspace::tokenizer_file_name(id);
    if (std::filesystem::exists(file)) learner->load_learned(read_file(file), file.string());
    else if (!learner->learned())
      throw InputError(file.string() + ": the run folder has no model of tokenizer '" + id + "' (did its build_vocab stage run?)");
  }
  if (std::filesystem::exists(dir / "labels.txt")) {
    std::istringstream lines(read_file(dir / "labels.txt"));
    std::vector<std::string> labels;
    for (std::string line; std::getline(lines, line);) labels.push_back(line);
    if (labels.size() < 2)
      throw InputError((dir / "labels.txt").string() + ": " + std::to_string(labels.size()) +
                       " label(s); a classifier's run has one line per class, 2 or more");
    ws.set_saved_labels(std::move(labels));
  }
  Model& model = ws.only_model();
  load_parameters(model.parameters(), checkpoint.section("parameters"));
  return ckpt;
}

DataLoader& data_with_split(Workspace& ws, const std::string& split) {
  const std::string data_id = ws.resolve(Kind::kData, Params(), "data");
  auto& data = dynamic_cast<DataLoader&>(ws.get(data_id));
  ws.prepare_data(data_id);
  if (!data.has_split(split))
    throw ConfigError("--split: the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
  return data;
}

EvalResult evaluate_split(Workspace& ws, const std::string& split) {
  DataLoader& data = data_with_split(ws, split);
  MetricList metrics = ws.metrics(Params());
  return Evaluator().evaluate(ws.only_model(), data, split, metrics);
}

std::string evaluate_opened(Workspace& ws, const std::string& split) {
  EvalResult r = evaluate_split(ws, split);
  return "evaluate " + split + ": " + describe(r) + " | " + with_commas(r.tokens) + " tokens";
}

namespace {

// Settings an evaluation of a trained model may change: those of data components that do not
// name another component (bptt, batch sizes, files). Anything else is refused, naming it.
void check_data_settings(const Registry& registry, const std::filesystem::path& run_dir,
                         const std::vector<std::string>& settings) {
  if (settings.empty()) return;
  Pipeline p = Pipeline::load(run_dir / "config.yaml", {});
  const ConfigNode* comps = p.config().find("components");
  for (const auto& setting : settings) {
    const auto eq = setting.find('=');
    const std::string key = setting.substr(0, eq);
    std::string why = "only the data's reading settings may change when evaluating a trained model";
    if (key.rfind("components.", 0) == 0 && comps != nullptr) {
      const std::string rest = key.substr(11);
      const auto dot = rest.find('.');
      const std::string id = rest.substr(0, dot), param = dot == std::string::npos ? "" : rest.substr(dot + 1);
      const ConfigNode* decl = comps->find(id);
      const ConfigNode* plugin = decl ? decl->find("plugin") : nullptr;
      const LoadedPlugin* lp = plugin ? registry.find(plugin->str()) : nullptr;
      if (lp != nullptr && lp->descriptor->kind == Kind::kData) {
        const auto& specs = lp->descriptor->params;
        auto spec = std::find_if(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == param; });
        if (spec != specs.end() && spec->type != ParamType::kComponent) continue;
        why = spec == specs.end() ? "data plugin '" + lp->descriptor->name + "' has no parameter '" + param + "'"
                                  : "'" + param + "' names another component";
      } else if (lp != nullptr) {
        why = std::string("component '") + id + "' is a " + kind_noun(lp->descriptor->kind) +
              ": changing it would not fit the trained parameters or vocabulary";
      }
    }
    throw ConfigError("--set " + setting + ": " + why);
  }
}

}  // namespace

OpenedRun::OpenedRun(const Registry& registry, const std::filesystem::path& dir, const std::vector<std::string>& overrides,
                     const std::string& which) {
  if (!std::filesystem::exists(dir / "config.yaml"))
    throw InputError(dir.string() + ": not a run folder (it has no config.yaml)");
  pipeline = Pipeline::load(dir / "config.yaml", overrides);
  // The run folder is all inference needs: the training files may have moved.
  pipeline.validate(registry, PathCheck::kUnchecked);
  workspace = std::make_unique<Workspace>(registry, pipeline.config(), pipeline.seed(), PathCheck::kUnchecked,
                                          [](const std::string&) {});
  checkpoint = open_for_inference(*workspace, dir, which);
}

std::filesystem::path generate_text(const Registry& registry, const std::filesystem::path& run_dir, std::int64_t words,
                                    double temperature, std::uint64_t seed, std::ostream& out, std::int64_t top_k) {
  if (top_k < 0) throw ConfigError("--top-k must be 0 (off) or more");
  if (words < 1) throw ConfigError("--words must be at least 1");
  if (!(temperature >= 0)) throw ConfigError("--temperature must be 0 or more");
  OpenedRun inf(registry, run_dir, {});
  Params none;
  const Tokenizer* tokenizer = nullptr;
  try {
    tokenizer = &dynamic_cast<Tokenizer&>(inf.workspace->get(inf.workspace->resolve(Kind::kTokenizer, none, "tokenizer")));
  } catch (const ConfigError&) {
    // no tokenizer (or several): tokens are joined with spaces
  }
  const Vocab& vocab = inf.workspace->vocab_of(inf.workspace->resolve(Kind::kVocab, none, "vocab"), none, "vocab");
  sample_text(inf.workspace->only_model(), tokenizer, vocab, words, temperature, seed, out, top_k);
  return inf.checkpoint;
}

ScoreSummary score_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                        const std::string& source, std::ostream& out, bool per_token) {
  OpenedRun inf(registry, run_dir, {});
  Params none;
  const auto& tokenizer = dynamic_cast<Tokenizer&>(inf.workspace->get(inf.workspace->resolve(Kind::kTokenizer, none, "tokenizer")));
  const Vocab& vocab = inf.workspace->vocab_of(inf.workspace->resolve(Kind::kVocab, none, "vocab"), none, "vocab");
  auto t = score_lines(inf.workspace->only_model(), tokenizer, vocab, in, source, out, per_token);
  ScoreSummary s;
  s.lines = t.lines;
  s.tokens = t.tokens;
  s.unknown = t.unknown;
  s.log_prob = t.log_prob;
  s.checkpoint = inf.checkpoint;
  return s;
}

PredictSummary predict_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                            const std::string& source, std::ostream& out) {
  OpenedRun inf(registry, run_dir, {});
  Params none;
  auto t = predict_lines(*inf.workspace, inf.workspace->only_model(), inf.workspace->resolve(Kind::kData, none, "data"), in, source, out);
  PredictSummary s;
  s.lines = t.lines;
  s.per_label = t.per_label;
  s.checkpoint = inf.checkpoint;
  return s;
}

std::string evaluate_run(const Registry& registry, const std::filesystem::path& run_dir, const std::string& split,
                         const std::optional<std::filesystem::path>& file, const std::vector<std::string>& settings) {
  if (!std::filesystem::exists(run_dir / "config.yaml"))
    throw InputError(run_dir.string() + ": not a run folder (it has no config.yaml)");
  check_data_settings(registry, run_dir, settings);
  std::vector<std::string> overrides = settings;
  if (file) {
    // The file replaces what the data component reads for that split (its parameter of the
    // same name: lm_stream's test: path, say).
    Pipeline p = Pipeline::load(run_dir / "config.yaml", {});
    std::string data_id;
    const ConfigNode* comps = p.config().find("components");
    for (const auto& [id, decl] : comps ? comps->entries() : std::vector<std::pair<std::string, ConfigNode>>{}) {
      const ConfigNode* plugin = decl.find("plugin");
      const LoadedPlugin* lp = plugin ? registry.find(plugin->str()) : nullptr;
      if (lp == nullptr || lp->descriptor->kind != Kind::kData) continue;
      bool reads_split = std::any_of(lp->descriptor->params.begin(), lp->descriptor->params.end(),
                                     [&](const ParamSpec& s) { return s.name == split && s.type == ParamType::kPath; });
      if (!reads_split)
        throw ConfigError("--file: data plugin '" + lp->descriptor->name + "' reads no file for split '" + split + "'");
      data_id = id;
    }
    if (data_id.empty()) throw ConfigError("--file: the run's pipeline has no data component");
    if (!std::filesystem::exists(*file)) throw InputError(file->string() + ": no such file");
    overrides.push_back("components." + data_id + "." + split + "=" + file->string());
  }
  OpenedRun inf(registry, run_dir, overrides);
  return evaluate_opened(*inf.workspace, split) + (file ? " (" + file->string() + ")" : std::string()) +
         " | parameters from " + inf.checkpoint.string();
}

ExportSummary export_run(const Registry& registry, const std::filesystem::path& run_dir, const std::string& which,
                         const std::filesystem::path& out) {
  if (!which.empty() && which != "best" && which != "last")
    throw ConfigError("--checkpoint must be best or last, got '" + which + "'");
  OpenedRun inf(registry, run_dir, {}, which);
  Model& model = inf.workspace->only_model();
  ExportSummary summary;
  summary.checkpoint = inf.checkpoint;
  std::vector<NamedTensor> tensors;
  if (auto* mirror = dynamic_cast<TorchExport*>(&model)) {
    summary.module = mirror->torch_module();
    if (!summary.module.empty()) tensors = mirror->torch_tensors();
  }
  if (summary.module.empty())
    for (const auto& p : model.parameters()) tensors.push_back({p.name, p.value.clone()});
  for (const auto& t : tensors) summary.values += t.value.numel();
  summary.tensors = static_cast<std::int64_t>(tensors.size());
  std::map<std::string, std::string> metadata{{"format", "pt"}, {"loom.checkpoint", inf.checkpoint.string()}};
  if (!summary.module.empty()) metadata["mirrors"] = summary.module;
  write_safetensors(out, tensors, metadata);
  return summary;
}

AttentionSummary attention_text(const Registry& registry, const std::filesystem::path& run_dir, const std::string& text,
                                const std::filesystem::path& out_dir) {
  OpenedRun inf(registry, run_dir, {});
  Params none;
  const auto& tokenizer = dynamic_cast<Tokenizer&>(inf.workspace->get(inf.workspace->resolve(Kind::kTokenizer, none, "tokenizer")));
  const Vocab& vocab = inf.workspace->vocab_of(inf.workspace->resolve(Kind::kVocab, none, "vocab"), none, "vocab");
  AttentionSummary s;
  s.tokens = write_attention(inf.workspace->only_model(), tokenizer, vocab, text, out_dir,
                             "attention: " + run_dir.filename().string());
  s.checkpoint = inf.checkpoint;
  return s;
}

EvaluateSweepSummary evaluate_sweep(const Registry& registry, const std::filesystem::path& run_dir, const std::string& split,
                                    const std::string& key, const std::vector<std::string>& values,
                                    const std::vector<std::string>& settings, const std::filesystem::path& out_dir) {
  if (values.empty()) throw ConfigError("--sweep " + key + ": no values");
  if (!std::filesystem::exists(run_dir / "config.yaml"))
    throw InputError(run_dir.string() + ": not a run folder (it has no config.yaml)");
  std::vector<std::string> all = settings;
  all.push_back(key + "=" + values.front());
  check_data_settings(registry, run_dir, all);
  EvaluateSweepSummary summary;
  std::vector<std::string> columns{"loss"};
  for (const auto& value : values) {
    std::vector<std::string> overrides = settings;
    overrides.push_back(key + "=" + value);
    OpenedRun inf(registry, run_dir, overrides);
    const EvalResult r = evaluate_split(*inf.workspace, split);
    std::map<std::string, double> scores{{"loss", r.loss}, {"tokens", static_cast<double>(r.tokens)}};
    for (const auto& [id, v] : r.metrics) {
      scores[id] = v;
      if (std::find(columns.begin(), columns.end(), id) == columns.end()) columns.push_back(id);
    }
    summary.rows.emplace_back(value, scores);
    summary.checkpoint = inf.checkpoint;
  }
  // The table, then a chart of each score against the value.
  const std::string name = key.substr(key.rfind('.') + 1);
  std::string tsv = name;
  for (const auto& c : columns) tsv += "\t" + c;
  tsv += "\ttokens\n";
  for (const auto& [value, scores] : summary.rows) {
    tsv += value;
    for (const auto& c : columns) tsv += "\t" + format_number("%.6g", scores.at(c));
    tsv += "\t" + format_number("%.0f", scores.at("tokens")) + "\n";
  }
  std::filesystem::create_directories(out_dir);
  summary.table = out_dir / "evaluate_sweep.tsv";
  summary.page = out_dir / "evaluate_sweep.html";
  write_file_atomically(summary.table, tsv);
  std::string main = "<section class=\"card\"><h2>" + report::escape_html(key) + " on split " + report::escape_html(split) +
                     "</h2><p>The trained model of " + report::escape_html(run_dir.string()) + " (" +
                     report::escape_html(summary.checkpoint.filename().string()) + ") evaluated once per value.</p><pre>" +
                     report::escape_html(tsv) + "</pre></section>\n";
  std::set<std::string> ids;
  for (const auto& c : columns) {
    std::vector<std::pair<double, double>> points;
    std::vector<std::string> categories;
    for (std::size_t i = 0; i < summary.rows.size(); ++i) {
      categories.push_back(summary.rows[i].first);
      points.emplace_back(static_cast<double>(i), summary.rows[i].second.at(c));
    }
    report::LineChart chart = report::make_chart("sweep", c + " by " + name, name, c,
                                                 {report::nth_series(0, c, std::move(points))});
    chart.categories = categories;
    chart.legend = false;
    main += report::chart_section(report::unique_id("chart-" + c, ids), chart);
  }
  write_file_atomically(summary.page, report::page("evaluate: " + name, report::escape_html(run_dir.filename().string()),
                                                   main, "loom evaluate --sweep"));
  return summary;
}

}  // namespace loom
