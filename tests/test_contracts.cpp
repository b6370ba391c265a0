// Contract suites: every plugin in the build tree's plugin folder, of every kind, against the
// contract of its kind (loom/testing/contracts.hpp), so a new plugin is checked without
// editing this file. Each plugin is built with its default parameters plus the fixtures of
// its kind:
//   - a kComponent parameter of kind tokenizers gets a word tokenizer with {eos: <eos>};
//     one of kind vocab gets a hand-made vocabulary (12 tokens for models);
//   - kPath parameters named train, valid or test get small text files, a string parameter
//     named dir a fresh folder, int parameters named *_tokens their minimum (at least 100),
//     and batch_size / eval_batch_size / bptt small values so an epoch has several batches;
//   - a float parameter named dropout is 0 (gradient checks need a deterministic loss), one
//     named lr is 0.05 (the quadratic is reached in 500 steps) or the plugin's entry in
//     kOptimizerLr;
//   - metrics are checked against reference values, kept per plugin in kMetricReferences:
//     a new metric must add its own.
// The second half checks the kit itself: deliberately broken components must fail.
#define BOOST_TEST_MODULE contracts
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/ops.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

namespace {

namespace c = loom::testing::contracts;
using loom::Mode;

loom::Registry& registry() {
  static loom::Registry r;
  if (r.plugins().empty()) r.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  return r;
}

std::vector<const loom::PluginDescriptor*> plugins_of(loom::Kind kind) {
  std::vector<const loom::PluginDescriptor*> out;
  for (const auto& p : registry().plugins())
    if (p.descriptor->kind == kind) out.push_back(p.descriptor);
  return out;
}

void report(const c::Failures& failures) { BOOST_TEST(failures.empty(), c::join(failures)); }

// Text over 30 words, `lines` lines; `extra` adds words no other file has.
std::string corpus_text(int lines, std::uint64_t seed, bool extra) {
  std::string text;
  std::uint64_t x = seed;
  for (int l = 0; l < lines; ++l) {
    int words = 2 + l % 6;
    for (int w = 0; w < words; ++w) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      int k = static_cast<int>((x >> 33) % 30);
      text += (w ? " " : "") + ((extra && k == 29) ? std::string("rare") + std::to_string(l) : "w" + std::to_string(k));
    }
    text += "\n";
  }
  return text;
}

// Learning rates for the quadratic where 0.05 is too small: Adagrad's steps shrink as
// 1 / sqrt(t), so at 0.05 it covers about 2 of the 3 units to the minimum in 500 steps.
const std::map<std::string, std::string> kOptimizerLr = {{"adagrad", "0.5"}};

// What the fixtures made for one plugin.
struct Fixture {
  std::string yaml;
  std::map<std::string, std::filesystem::path> split_files;  // split -> its text file
  std::filesystem::path dir;                                 // the "dir" parameter, if any
};

// The YAML parameters of plugin `d` under the fixture rules above; adds the components it
// names to `env`.
Fixture fixture_for(const loom::PluginDescriptor& d, const c::TempDir& tmp, loom::testing::Env& env) {
  Fixture f;
  std::map<std::string, std::string> params;
  for (const auto& s : d.params) {
    if (s.type == loom::ParamType::kComponent && !s.choices.empty() && s.choices[0] == "tokenizers") {
      env.add("tok", "word", "{eos: <eos>}");
      params[s.name] = "'@tok'";
    } else if (s.type == loom::ParamType::kPath && (s.name == "train" || s.name == "valid" || s.name == "test") &&
               std::any_of(d.params.begin(), d.params.end(), [](const auto& p) { return p.name == "label_column"; })) {
      // A loader of labelled texts: a CSV file with text and label columns.
      auto path = tmp / (s.name + ".csv");
      std::ofstream out(path);
      out << "text,label\n";
      std::istringstream lines(corpus_text(s.name == "train" ? 80 : 30, s.name.size(), s.name != "train"));
      int i = 0;
      for (std::string line; std::getline(lines, line); ++i) out << "\"" << line << "\"," << (i % 3 ? "pos" : "neg") << "\n";
      params[s.name] = path.string();
    } else if (s.type == loom::ParamType::kString && (s.name == "train" || s.name == "valid" || s.name == "test") &&
               std::any_of(d.params.begin(), d.params.end(), [](const auto& p) { return p.name == "src_lang"; })) {
      // A loader of sentence pairs: a TSV file of source and target (the words reversed).
      auto path = tmp / (s.name + ".tsv");
      std::ofstream out(path);
      std::istringstream lines(corpus_text(s.name == "train" ? 80 : 30, s.name.size(), s.name != "train"));
      for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> w{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
        std::string reversed;
        for (auto it = w.rbegin(); it != w.rend(); ++it) reversed += (reversed.empty() ? "" : " ") + *it;
        out << line << "\t" << reversed << "\n";
      }
      params[s.name] = path.string();
    } else if (s.type == loom::ParamType::kComponent && !s.choices.empty() && s.choices[0] == "vocab" &&
               d.kind == loom::Kind::kData) {
      // Sentence pairs name their vocabulary builders (one, joint, here).
      env.add("vb", "frequency", "{bos: <bos>, eos: <eos>, sep: <sep>}");
      params[s.name] = "'@vb'";
    } else if (s.type == loom::ParamType::kPath && (s.name == "train" || s.name == "valid" || s.name == "test")) {
      auto path = tmp / (s.name + ".txt");
      std::ofstream(path) << corpus_text(s.name == "train" ? 80 : 30, s.name.size(), s.name != "train");
      params[s.name] = path.string();
      f.split_files[s.name] = path;
    } else if (s.type == loom::ParamType::kString && s.name == "dir") {
      f.dir = tmp / "corpus";
      params[s.name] = f.dir.string();
    } else if (s.type == loom::ParamType::kInt && s.name.size() > 7 &&
               s.name.compare(s.name.size() - 7, 7, "_tokens") == 0) {
      params[s.name] = std::to_string(static_cast<std::int64_t>(std::max(100.0, s.min.value_or(0.0))));
    } else if (s.type == loom::ParamType::kInt && s.name == "batch_size") {
      params[s.name] = "3";
    } else if (s.type == loom::ParamType::kInt && s.name == "eval_batch_size") {
      params[s.name] = "2";
    } else if (s.type == loom::ParamType::kInt && s.name == "bptt") {
      params[s.name] = "5";
    } else if (s.type == loom::ParamType::kFloat && s.name.size() >= 7 &&
               s.name.compare(s.name.size() - 7, 7, "dropout") == 0) {
      params[s.name] = "0";
    } else if (s.type == loom::ParamType::kFloat && s.name == "lr") {
      params[s.name] = kOptimizerLr.count(d.name) ? kOptimizerLr.at(d.name) : "0.05";
    }
  }
  // Settings some plugins need for finite differences to mean something: a Transformer of
  // ReLU units at width 200 has units near the kink, where a central difference is not the
  // derivative; GELU is smooth, and a narrow model is checked in full (at width 200 the
  // smallest of the sampled gradients sit at the float resolution of the loss).
  static const std::map<std::string, std::map<std::string, std::string>> kContractSettings = {
      {"transformer_lm", {{"activation", "gelu"}, {"d_model", "8"}, {"d_ff", "12"}}},
      {"transformer_classifier", {{"activation", "gelu"}, {"d_model", "8"}, {"d_ff", "12"}}},
      {"hybrid_lm", {{"emsize", "8"}, {"nhid", "8"}, {"d_ff", "12"}}},
      {"rnn_seq2seq", {{"emsize", "8"}, {"nhid", "8"}}},
      {"transformer_seq2seq", {{"activation", "gelu"}, {"d_model", "8"}, {"heads", "2"}, {"d_ff", "12"}}}};
  if (auto it = kContractSettings.find(d.name); it != kContractSettings.end())
    for (const auto& [k, v] : it->second) params[k] = v;
  f.yaml = c::detail::yaml_map(params);
  return f;
}

// <unk>, <eos>, then the given tokens in order.
loom::Vocab vocab_of(const std::vector<std::string>& tokens, bool translation = false) {
  loom::Vocab v;
  v.set_special(loom::Special::kUnk, "<unk>");
  v.set_special(loom::Special::kEos, "<eos>");
  if (translation) {  // what sentence pairs need besides: the target's start, the separator
    v.set_special(loom::Special::kBos, "<bos>");
    v.set_special(loom::Special::kSep, "<sep>");
  }
  for (const auto& t : tokens) v.add(t);
  return v;
}

loom::Vocab model_vocab() {
  std::vector<std::string> words;
  for (int i = 0; i < 10; ++i) words.push_back("w" + std::to_string(i));
  return vocab_of(words);  // 12 tokens
}

// model_vocab() with bos and sep too (ids 12 and 13): what translation models need.
loom::Vocab translation_vocab() {
  std::vector<std::string> words;
  for (int i = 0; i < 10; ++i) words.push_back("w" + std::to_string(i));
  loom::Vocab v = vocab_of(words);
  v.set_special(loom::Special::kBos, "<bos>");
  v.set_special(loom::Special::kSep, "<sep>");
  return v;
}

// Sentence pairs over translation_vocab() (loom/batch_layout.hpp, encoder_decoder): sources of
// 3, 1 and 2 tokens and targets of 2, 3 and 1, each with eos, padded.
loom::Batch translation_batch() {
  auto ints = [](const loom::Shape& shape, const std::vector<std::int32_t>& values) {
    loom::Tensor t = loom::Tensor::empty(shape, loom::DType::kInt32);
    std::copy(values.begin(), values.end(), t.ids());
    return t;
  };
  loom::Batch b;
  b.tensors["src"] = ints({3, 4}, {2, 3, 4, 1, /**/ 5, 1, 1, 1, /**/ 6, 7, 1, 1});
  b.tensors["src_lengths"] = ints({3}, {4, 2, 3});
  b.tensors["tgt_in"] = ints({3, 4}, {12, 8, 9, 1, /**/ 12, 2, 10, 11, /**/ 12, 4, 1, 1});
  b.tensors["tgt_out"] = ints({3, 4}, {8, 9, 1, -1, /**/ 2, 10, 11, 1, /**/ 4, 1, -1, -1});
  b.tensors["tgt_lengths"] = ints({3}, {3, 4, 2});
  b.tensors["index"] = ints({3}, {0, 1, 2});
  b.target_tokens = 9;
  return b;
}

// ids and targets [5, 3] over the 12 ids of model_vocab(), targets the next step's ids.
// Three padded sequences of lengths 5, 2 and 3 over model_vocab(), labels 0, 1, 2.
loom::Batch classification_batch() {
  // Lengths 5, 2 and 3 in T = 5, labels 0, 1, 2.
  std::vector<std::vector<std::int32_t>> sequences;
  for (std::int32_t j : {0, 1, 2}) {
    const std::int32_t length = j == 0 ? 5 : j == 1 ? 2 : 3;
    std::vector<std::int32_t> s;
    for (std::int32_t t = 0; t < length; ++t) s.push_back(2 + (t * 3 + j * 5) % 10);
    sequences.push_back(s);
  }
  return c::classification_batch(sequences);
}

loom::Batch model_batch() {
  const std::int64_t T = 5, B = 3;
  loom::Tensor ids = loom::Tensor::zeros(loom::Shape{T, B}, loom::DType::kInt32);
  loom::Tensor targets = loom::Tensor::zeros(loom::Shape{T, B}, loom::DType::kInt32);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t j = 0; j < B; ++j) {
      ids.ids()[t * B + j] = static_cast<std::int32_t>((7 * t + 3 * j + 1) % 12);
      targets.ids()[t * B + j] = static_cast<std::int32_t>((7 * (t + 1) + 3 * j + 1) % 12);
    }
  loom::Batch b;
  b.tensors["ids"] = ids;
  b.tensors["targets"] = targets;
  b.target_tokens = T * B;
  return b;
}

// Finite-difference tolerances per model plugin (see loom/testing/gradcheck.hpp).
const std::map<std::string, double> kGradientTolerance = {{"rnn_lm", 2e-2}};
constexpr double kDefaultGradientTolerance = 2e-2;

struct MetricReference {
  std::vector<std::pair<double, std::int64_t>> outputs;  // (loss_sum, count) per update
  double expected;
  // Classification metrics: per update, labels and predicted classes (scored 1, others 0).
  std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>> classes = {};
  std::int64_t class_count = 2;
  // Metrics of decoded text: per update, hypotheses and references.
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> texts = {};
};
// Reference values per metric plugin, worked by hand.
const std::map<std::string, std::vector<MetricReference>> kMetricReferences = {
    {"perplexity",
     {
         {{{2.0, 2}, {6.0, 4}}, 3.7936678946831774},  // exp(8 / 6)
         {{{0.0, 7}}, 1.0},
         {{{3 * std::log(12.0), 3}}, 12.0},           // uniform over 12 words
         {{}, std::nan("")},                           // no targets
     }},
    // Labels 1 0 1 1 predicted 1 1 0 1, then 0 0 predicted 0 1: 3 of 6 right.
    {"accuracy", {{{}, 0.5, {{{1, 0, 1, 1}, {1, 1, 0, 1}}, {{0, 0}, {0, 1}}}}, {{}, std::nan(""), {}}}},
    // Class 1 over the same: tp 2, fp 2, fn 1 -> P 1/2, R 2/3, F1 4/7.
    {"f1", {{{}, 4.0 / 7.0, {{{1, 0, 1, 1}, {1, 1, 0, 1}}, {{0, 0}, {0, 1}}}}, {{}, std::nan(""), {}}}},
    // "a b c d e" / "a b c d f", then "x y" / "x y": p = 6/7, 4/5, 2/4, 1/3, BP 1.
    {"bleu", {{{}, 100.0 * std::pow(6.0 / 7 * 4.0 / 5 * 2.0 / 4 * 1.0 / 3, 0.25), {}, 2, {{{"a b c d e"}, {"a b c d f"}}, {{"x y"}, {"x y"}}}},
              {{}, std::nan(""), {}}}},
    // Words by position: 2 of 3, then 1 of 2.
    {"word_accuracy", {{{}, 0.6, {}, 2, {{{"a b c"}, {"a x c"}}, {{"d"}, {"d e"}}}}, {{}, std::nan(""), {}}}},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(every_plugin)

BOOST_AUTO_TEST_CASE(every_kind_has_plugins) {
  for (loom::Kind kind : {loom::Kind::kTokenizer, loom::Kind::kVocab, loom::Kind::kData, loom::Kind::kModel,
                          loom::Kind::kOptimizer, loom::Kind::kMetric})
    BOOST_TEST(!plugins_of(kind).empty(), loom::kind_folder(kind));
}

BOOST_AUTO_TEST_CASE(tokenizers_round_trip) {
  for (const auto* d : plugins_of(loom::Kind::kTokenizer)) {
    BOOST_TEST_CONTEXT("tokenizer plugin '" << d->name << "'") {
      c::TempDir tmp;
      loom::testing::Env env(registry());
      Fixture f = fixture_for(*d, tmp, env);
      env.add("subject", d->name, f.yaml);
      auto& tokenizer = env.get<loom::Tokenizer>("subject");
      // A tokenizer learned from text learns from the sample lines first, as build_vocab would.
      if (auto* learner = dynamic_cast<loom::LearnsFromText*>(&tokenizer); learner != nullptr && !learner->learned())
        learner->learn(std::vector<std::string_view>(c::sample_lines().begin(), c::sample_lines().end()));
      report(c::tokenizer_round_trip(tokenizer));
    }
  }
}

BOOST_AUTO_TEST_CASE(vocabulary_builders_respect_their_limits) {
  for (const auto* d : plugins_of(loom::Kind::kVocab)) {
    BOOST_TEST_CONTEXT("vocab plugin '" << d->name << "'") {
      // A builder that reads a file (vocab/fixed) gets one saved from the sample counts.
      c::TempDir tmp;
      std::map<std::string, std::string> base;
      if (std::any_of(d->params.begin(), d->params.end(), [](const loom::ParamSpec& p) { return p.name == "file"; })) {
        loom::Vocab saved;
        saved.set_special(loom::Special::kUnk, "<unk>");
        std::vector<std::pair<std::string, std::int64_t>> counted(c::sample_counts().begin(), c::sample_counts().end());
        std::sort(counted.begin(), counted.end());
        for (const auto& [token, n] : counted) saved.set_count(saved.add(token), n);
        saved.save(tmp / "vocab.txt");
        base["file"] = (tmp / "vocab.txt").string();
      }
      report(c::vocab_builder(registry(), d->name, c::sample_counts(), base));
    }
  }
}

BOOST_AUTO_TEST_CASE(data_loaders_cover_every_token_once_per_epoch) {
  for (const auto* d : plugins_of(loom::Kind::kData)) {
    BOOST_TEST_CONTEXT("data plugin '" << d->name << "'") {
      c::TempDir tmp;
      loom::testing::Env env(registry());
      Fixture f = fixture_for(*d, tmp, env);
      env.add("subject", d->name, f.yaml);
      loom::DataLoader* data = nullptr;
      loom::Vocab vocab;
      try {
        data = &env.get<loom::DataLoader>("subject");
        BOOST_TEST_REQUIRE(!data->splits().empty());
        // Every training token (and <unk>); the other splits then have unknown tokens.
        std::string first = data->has_split("train") ? "train" : data->splits()[0];
        std::vector<std::string> tokens;
        for (const auto& [t, n] : data->count_tokens(first)) tokens.push_back(t);
        std::sort(tokens.begin(), tokens.end());
        vocab = vocab_of(tokens, dynamic_cast<loom::HasSides*>(data) != nullptr);
        data->prepare(vocab);
      } catch (const std::exception& e) {
        BOOST_ERROR("building and preparing with " << f.yaml << " threw: " << e.what());
        continue;
      }
      if (auto* scores = dynamic_cast<loom::HasReferenceScores*>(data))
        for (const auto& [name, value] : scores->reference_scores())
          BOOST_TEST((std::isfinite(value) && value > 0), "reference score " << name << " = " << value);
      for (const auto& split : data->splits()) {
        std::filesystem::path file;
        if (f.split_files.count(split)) file = f.split_files[split];
        else if (!f.dir.empty() && std::filesystem::exists(f.dir / (split + ".txt"))) file = f.dir / (split + ".txt");
        std::vector<std::int32_t> stream;
        if (!file.empty()) stream = c::numericalize_file(file, env.get<loom::Tokenizer>("tok"), vocab);
        for (Mode mode : {Mode::kTrain, Mode::kEval})
          report(c::data_loader_epoch(*data, split, mode, vocab, file.empty() ? nullptr : &stream));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(models_pass_gradient_checks_and_save_load) {
  for (const auto* d : plugins_of(loom::Kind::kModel)) {
    BOOST_TEST_CONTEXT("model plugin '" << d->name << "'") {
      c::TempDir tmp;
      loom::testing::Env env(registry(), 1), other_env(registry(), 2);
      Fixture f = fixture_for(*d, tmp, env);
      fixture_for(*d, tmp, other_env);
      loom::Model *model = nullptr, *other = nullptr;
      // A model that names a data loader classifies: give it labelled data and batches. One
      // that names a source vocabulary translates: sentence pairs (loom/batch_layout.hpp).
      const bool classifier = std::any_of(d->params.begin(), d->params.end(), [](const auto& p) {
        return p.type == loom::ParamType::kComponent && !p.choices.empty() && p.choices[0] == "data";
      });
      const bool translator = std::any_of(d->params.begin(), d->params.end(), [](const auto& p) { return p.name == "src_vocab"; });
      try {
        for (auto* e : {&env, &other_env}) {
          e->set_vocab("vocab", translator ? translation_vocab() : model_vocab());
          if (classifier) {
            std::ofstream(tmp / "labelled.csv") << "text,label\na,x\nb,y\nc,z\n";
            e->add("tok", "word");
            e->add("data", "text_classification", "{tokenizer: '@tok', train: " + (tmp / "labelled.csv").string() + "}");
          }
          e->add("subject", d->name, f.yaml);
        }
        model = &env.get<loom::Model>("subject");
        other = &other_env.get<loom::Model>("subject");
      } catch (const std::exception& e) {
        BOOST_ERROR("building with " << f.yaml << " threw: " << e.what());
        continue;
      }
      auto tol = kGradientTolerance.count(d->name) ? kGradientTolerance.at(d->name) : kDefaultGradientTolerance;
      const loom::Batch batch = classifier ? classification_batch() : translator ? translation_batch() : model_batch();
      report(c::model_gradients(*model, batch, tol));
      report(c::model_save_load(*model, batch, tmp / "model.bin", other));
    }
  }
}

BOOST_AUTO_TEST_CASE(optimizers_minimise_a_convex_quadratic) {
  for (const auto* d : plugins_of(loom::Kind::kOptimizer)) {
    BOOST_TEST_CONTEXT("optimizer plugin '" << d->name << "'") {
      c::TempDir tmp;
      loom::testing::Env env(registry());
      Fixture f = fixture_for(*d, tmp, env);
      env.add("subject", d->name, f.yaml);
      env.add("first", d->name, f.yaml);
      env.add("second", d->name, f.yaml);
      report(c::optimizer_minimises_quadratic(env.get<loom::Optimizer>("subject"), 500, 100.0));
      report(c::optimizer_resumes_exactly(env.get<loom::Optimizer>("first"), env.get<loom::Optimizer>("second")));
    }
  }
}

BOOST_AUTO_TEST_CASE(metrics_reproduce_reference_values) {
  for (const auto* d : plugins_of(loom::Kind::kMetric)) {
    BOOST_TEST_CONTEXT("metric plugin '" << d->name << "'") {
      auto refs = kMetricReferences.find(d->name);
      if (refs == kMetricReferences.end()) {
        BOOST_ERROR("no reference values: add them to kMetricReferences in tests/test_contracts.cpp");
        continue;
      }
      c::TempDir tmp;
      loom::testing::Env env(registry());
      Fixture f = fixture_for(*d, tmp, env);
      env.add("subject", d->name, f.yaml);
      env.add("first", d->name, f.yaml);
      env.add("second", d->name, f.yaml);
      for (const auto& ref : refs->second) {
        std::vector<c::MetricUpdate> updates;
        for (const auto& [sum, count] : ref.outputs) {
          c::MetricUpdate u;
          u.output.loss_sum = sum;
          u.output.count = count;
          u.batch.target_tokens = count;
          updates.push_back(u);
        }
        for (const auto& [labels, predicted] : ref.classes) {
          c::MetricUpdate u;
          const auto n = static_cast<std::int64_t>(labels.size());
          u.batch.tensors["labels"] = loom::Tensor::empty(loom::Shape{n}, loom::DType::kInt32);
          std::copy(labels.begin(), labels.end(), u.batch.tensors["labels"].ids());
          u.output.predictions = loom::Tensor::zeros(loom::Shape{n, ref.class_count});
          for (std::int64_t i = 0; i < n; ++i)
            u.output.predictions.data()[i * ref.class_count + predicted[static_cast<std::size_t>(i)]] = 1.0f;
          updates.push_back(u);
        }
        for (const auto& [hyps, refs] : ref.texts) {
          c::MetricUpdate u;
          u.hypotheses = hyps;
          u.references = refs;
          updates.push_back(u);
        }
        report(c::metric_matches(env.get<loom::Metric>("subject"), updates, ref.expected, 1e-10));
        report(c::metric_resumes_exactly(env.get<loom::Metric>("first"), env.get<loom::Metric>("second"), updates));
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the kit itself: broken components must fail their contract ----------------------------

namespace {

// Splits on spaces but joins without them, replaces `out`, and cuts tokens into bytes when
// asked: three ways to break the tokenizer contract.
class BrokenTokenizer : public loom::Tokenizer {
 public:
  enum class Bug { kJoinWithoutSpaces, kReplacesOutput, kSplitsBytes };
  explicit BrokenTokenizer(Bug bug) : bug_(bug) {}

 protected:
  void tokenize_impl(std::string_view line, std::vector<std::string>& out) const override {
    if (bug_ == Bug::kReplacesOutput) out.clear();
    if (bug_ == Bug::kSplitsBytes) {
      for (char ch : line)
        if (ch != ' ') out.emplace_back(1, ch);
      return;
    }
    std::string word;
    for (char ch : std::string(line) + " ")
      if (ch == ' ' || ch == '\t') {
        if (!word.empty()) out.push_back(word);
        word.clear();
      } else {
        word += ch;
      }
  }
  std::string detokenize_impl(const std::vector<std::string>& tokens) const override {
    std::string text;
    for (const auto& t : tokens) text += (bug_ == Bug::kJoinWithoutSpaces || text.empty() ? "" : " ") + t;
    return text;
  }

 private:
  Bug bug_;
};

// An LM-stream-like loader over ids 0..n-1 (token "t<id>"), 2 columns, windows of 3, with an
// optional bug.
class FakeStream : public loom::DataLoader {
 public:
  enum class Bug { kNone, kTargetsNotShifted, kOverlappingWindows, kCountsWrong };
  explicit FakeStream(Bug bug) : bug_(bug) {
    for (std::int32_t i = 0; i < 21; ++i) stream_.push_back(i % 10);
  }
  const std::vector<std::int32_t>& stream() const { return stream_; }

 protected:
  std::vector<std::string> splits_impl() const override { return {"train"}; }
  loom::TokenCounts count_tokens_impl(const std::string&) const override {
    loom::TokenCounts counts;
    for (auto id : stream_) ++counts["t" + std::to_string(id)];
    if (bug_ == Bug::kCountsWrong) counts["t0"] -= 2;
    return counts;
  }
  void prepare_impl(const loom::Vocab&) override {}
  std::int64_t num_batches_impl(const std::string&, Mode) const override { return (rows() - 1 + 2) / 3; }
  loom::Batch batch_impl(const std::string&, Mode, std::int64_t index) const override {
    std::int64_t start = index * 3 - (bug_ == Bug::kOverlappingWindows && index > 0 ? 1 : 0);
    std::int64_t len = std::min<std::int64_t>(3, rows() - 1 - start);
    loom::Tensor ids = loom::Tensor::zeros(loom::Shape{len, 2}, loom::DType::kInt32);
    loom::Tensor targets = loom::Tensor::zeros(loom::Shape{len, 2}, loom::DType::kInt32);
    const std::int64_t shift = bug_ == Bug::kTargetsNotShifted ? 0 : 1;
    for (std::int64_t t = 0; t < len; ++t)
      for (std::int64_t j = 0; j < 2; ++j) {
        ids.ids()[t * 2 + j] = stream_[static_cast<std::size_t>(j * rows() + start + t)];
        targets.ids()[t * 2 + j] = stream_[static_cast<std::size_t>(j * rows() + start + t + shift)];
      }
    loom::Batch b;
    b.tensors["ids"] = ids;
    b.tensors["targets"] = targets;
    b.target_tokens = len * 2;
    return b;
  }

 private:
  std::int64_t rows() const { return static_cast<std::int64_t>(stream_.size()) / 2; }
  Bug bug_;
  std::vector<std::int32_t> stream_;
};

// loss = sum of w^2 over 3 values, with a backward that is right or 1.5 times too large.
class SquareModel : public loom::Model {
 public:
  explicit SquareModel(float gradient_factor) : factor_(gradient_factor) {
    w_ = parameters_.add("w", loom::Shape{3}, loom::Init::constant(0.5f));
    parameters_.finalize(1);
    w_->value.data()[1] = -1.0f;
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch&) override {
    loom::Expr w = g.param(*w_);
    float s = 0;
    for (int i = 0; i < 3; ++i) s += w_->value.data()[i] * w_->value.data()[i];
    loom::Tensor value = loom::Tensor::full(loom::Shape{}, s);
    const float factor = factor_;
    loom::Expr loss = g.add_node(value, w.requires_grad(), [w, factor](loom::Graph& graph, int self) {
      float upstream = graph.grad(self).data()[0];
      loom::Tensor& gw = graph.grad(w.id());
      for (int i = 0; i < 3; ++i) gw.data()[i] += upstream * 2.0f * factor * graph.value(w.id()).data()[i];
    });
    loom::ModelOutput out;
    out.loss = loss;
    out.loss_sum = s;
    out.count = 1;
    return out;
  }

 private:
  float factor_;
  loom::Parameter* w_;
};

// Moves along the gradient instead of against it, or reports no norm.
class BrokenOptimizer : public loom::Optimizer {
 public:
  enum class Bug { kAscends, kNormZero };
  explicit BrokenOptimizer(Bug bug) : bug_(bug) { lr_ = 0.1; }

 protected:
  double step_impl(loom::Parameters& params) override {
    double norm = params.grad_norm();
    for (auto& p : params)
      for (std::int64_t i = 0; i < p.shape.numel(); ++i)
        p.value.data()[i] += static_cast<float>((bug_ == Bug::kAscends ? 1 : -1) * lr_) * p.grad.data()[i];
    return bug_ == Bug::kNormZero ? 0.0 : norm;
  }
  void save_state_impl(loom::StateDict&) const override {}
  void load_state_impl(const loom::StateDict&, const loom::Parameters&) override {}

 private:
  Bug bug_;
};

// The mean of per-batch perplexities: the classic mistake.
// Heavy-ball momentum that keeps its velocity out of save_state.
class ForgetfulMomentum : public loom::Optimizer {
 public:
  ForgetfulMomentum() { lr_ = 0.05; }

 protected:
  double step_impl(loom::Parameters& params) override {
    if (velocity_.empty()) velocity_.assign(static_cast<std::size_t>(params.grads().numel()), 0.0f);
    for (std::int64_t i = 0; i < params.values().numel(); ++i) {
      velocity_[i] = 0.9f * velocity_[i] + params.grads().data()[i];
      params.values().data()[i] -= static_cast<float>(lr_) * velocity_[i];
    }
    return params.grad_norm();
  }
  void save_state_impl(loom::StateDict&) const override {}
  void load_state_impl(const loom::StateDict&, const loom::Parameters&) override {}

 private:
  std::vector<float> velocity_;
};

class MeanOfBatches : public loom::Metric {
 protected:
  void reset_impl() override { values_.clear(); }
  void update_impl(const loom::Batch&, const loom::ModelOutput& o) override {
    values_.push_back(std::exp(o.loss_sum / static_cast<double>(o.count)));
  }
  double value_impl() const override {
    double s = 0;
    for (double v : values_) s += v;
    return s / static_cast<double>(values_.size());
  }
  bool higher_is_better_impl() const override { return false; }
  // Forgets what it accumulated: the resume contract must notice.
  void save_state_impl(loom::StateDict&) const override {}
  void load_state_impl(const loom::StateDict&) override {}

 private:
  std::vector<double> values_;
};

// Passes `failures` when `expect_failure` is false, else requires at least one whose text
// contains `fragment`.
void expect(const c::Failures& failures, bool expect_failure, const std::string& fragment = "") {
  if (!expect_failure) {
    BOOST_TEST(failures.empty(), c::join(failures));
    return;
  }
  BOOST_TEST(!failures.empty(), "the contract did not notice the bug");
  bool found = false;
  for (const auto& f : failures) found = found || f.find(fragment) != std::string::npos;
  BOOST_TEST(found, "no failure mentions '" << fragment << "': " << c::join(failures));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kit_catches_broken_components)

BOOST_AUTO_TEST_CASE(tokenizer) {
  using Bug = BrokenTokenizer::Bug;
  expect(c::tokenizer_round_trip(BrokenTokenizer(Bug::kJoinWithoutSpaces)), true, "which tokenizes to");
  expect(c::tokenizer_round_trip(BrokenTokenizer(Bug::kReplacesOutput)), true, "does not append");
  expect(c::tokenizer_round_trip(BrokenTokenizer(Bug::kSplitsBytes)), true, "is not valid UTF-8");
}

BOOST_AUTO_TEST_CASE(data_loader) {
  using Bug = FakeStream::Bug;
  std::vector<std::string> tokens;
  for (int i = 0; i < 10; ++i) tokens.push_back("t" + std::to_string(i));
  loom::Vocab vocab;  // t0..t9 as ids 0..9
  for (const auto& t : tokens) vocab.add(t);
  FakeStream good(Bug::kNone);
  expect(c::data_loader_epoch(good, "train", Mode::kTrain, vocab, &good.stream()), false);
  FakeStream unshifted(Bug::kTargetsNotShifted);
  expect(c::data_loader_epoch(unshifted, "train", Mode::kTrain, vocab), true, "is not ids[");
  FakeStream overlapping(Bug::kOverlappingWindows);
  expect(c::data_loader_epoch(overlapping, "train", Mode::kTrain, vocab), true, "read twice");
  FakeStream miscounted(Bug::kCountsWrong);
  expect(c::data_loader_epoch(miscounted, "train", Mode::kTrain, vocab), true, "counted");
  // A reference stream that differs from what the loader reads.
  std::vector<std::int32_t> other = good.stream();
  other[15] = 9;
  expect(c::data_loader_epoch(good, "train", Mode::kTrain, vocab, &other), true, "times per epoch");
}

BOOST_AUTO_TEST_CASE(model) {
  loom::Batch batch;
  SquareModel right(1.0f), wrong(1.5f);
  expect(c::model_gradients(right, batch), false);
  expect(c::model_gradients(wrong, batch), true, "gradient error");
  c::TempDir tmp;
  SquareModel other(1.0f);
  other.parameters().values().fill(2.0f);
  expect(c::model_save_load(right, batch, tmp / "w.bin", &other), false);
}

BOOST_AUTO_TEST_CASE(optimizer) {
  BrokenOptimizer ascends(BrokenOptimizer::Bug::kAscends);
  expect(c::optimizer_minimises_quadratic(ascends), true, "f fell from");
  BrokenOptimizer no_norm(BrokenOptimizer::Bug::kNormZero);
  expect(c::optimizer_minimises_quadratic(no_norm), true, "returned norm 0");
  // Updating a frozen parameter is caught too (the broken optimizer ignores `trainable`).
  expect(c::optimizer_minimises_quadratic(no_norm), true, "frozen parameter changed");
  // Plain gradient descent has no state: resuming is exact.
  BrokenOptimizer a(BrokenOptimizer::Bug::kNormZero), b(BrokenOptimizer::Bug::kNormZero);
  expect(c::optimizer_resumes_exactly(a, b), false);
  // Momentum whose buffer is not saved: the resumed steps differ.
  ForgetfulMomentum f1, f2;
  expect(c::optimizer_resumes_exactly(f1, f2), true, "save_state misses something");
}

BOOST_AUTO_TEST_CASE(metric) {
  MeanOfBatches mean;
  std::vector<c::MetricUpdate> updates(2);
  updates[0].output.loss_sum = 2.0;
  updates[0].output.count = 2;
  updates[1].output.loss_sum = 6.0;
  updates[1].output.count = 4;
  expect(c::metric_matches(mean, updates, 3.7936678946831774), true, "expected 3.79366789");
  MeanOfBatches first, second;
  expect(c::metric_resumes_exactly(first, second, updates), true, "save_state misses something");
}

BOOST_AUTO_TEST_SUITE_END()
