#pragma once
// The plugin API: one abstract class per kind of component, the descriptor each plugin
// library exports, and the context a factory builds its component from.
//
// A plugin library exports exactly one entry point with LOOM_PLUGIN(descriptor_function),
// returning a PluginDescriptor whose first member is the core ABI version it was built
// against; the loader refuses libraries of another version. The component classes (Tokenizer,
// VocabBuilder, DataLoader, Model, Optimizer, Metric) follow one pattern: a public non-virtual
// method (checking its contract where it has one, as DataLoader::batch and Model::forward do)
// calls a protected *_impl hook. The optional abilities (EpochAware, HasSides, HasLabels,
// BatchesTexts, HasReferenceScores, Stateful, LanguageModel, IncrementalDecoder, LearnsFromText) are small interfaces of public pure virtuals,
// which a component derives from besides its class.
#include <boost/dll/alias.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loom/checkpoint.hpp"
#include "loom/config.hpp"
#include "loom/export.hpp"
#include "loom/graph.hpp"
#include "loom/parameters.hpp"
#include "loom/safetensors.hpp"
#include "loom/tensor.hpp"
#include "loom/vocab.hpp"

namespace loom {

// Bumped whenever a class or function a plugin uses changes layout or meaning.
// 2: optimizers, metrics and stateful models save and load their state (checkpoints).
// 3: the interfaces' vtables and typeinfo live in libloom_core; BuildContext::label_names.
// 4: TorchExport, ShowsAttention; ElementwiseOptimizer's Slice carries the parameter's weight decay.
// 5: the sep special role (Vocab holds five); HasSides; IncrementalDecoder; ComparesTexts.
// 6: label smoothing in the NLL losses; AttentionMask::key_starts; ModelOutput::nll_sum.
// 7: LearnsFromText; HasSides::side_tokenizer and side_lines; BuildContext::paths_checked.
// 8: TransformerLayerOptions::attention_dropout.
// 9: KvCache is a class (deferred reorders); SourceRows.
// 10: KvCache keeps buffers with room to grow, scores() and mix().
// 11: CountsFlops.
// 12: nn::TransformerBody (loom/transformer.hpp); PluginDescriptor::flops;
//     ShowsGradientThroughTime; Graph::record_gradients.
constexpr int kAbiVersion = 13;

enum class Kind { kTokenizer, kVocab, kData, kModel, kOptimizer, kMetric };
// "tokenizers", "vocab", "data", "models", "optimizers", "metrics": the plugin folders.
const char* kind_folder(Kind kind);
// "tokenizer", "vocabulary builder", ...: for messages.
const char* kind_noun(Kind kind);

// Every component derives from this. Plugin libraries stay loaded until the process exits.
//
// Every class in this file is exported from libloom_core with its destructor defined there
// (its key function), so that its vtable and typeinfo exist once, in the core: dynamic_cast
// between these interfaces works across libraries, whatever a plugin's visibility settings.
class LOOM_API Component {
 public:
  virtual ~Component();
};

// ---- tokenizers ----------------------------------------------------------------------------
class LOOM_API Tokenizer : public Component {
 public:
  ~Tokenizer() override;
  // Appends the tokens of one line of text to `out`. Thread-safe (const).
  void tokenize(std::string_view line, std::vector<std::string>& out) const {
    tokenize_impl(line, out);
  }
  std::vector<std::string> tokenize(std::string_view line) const {
    std::vector<std::string> out;
    tokenize_impl(line, out);
    return out;
  }
  // Joins tokens back into text; detokenize(tokenize(line)) gives the line back, normalised
  // the way the tokenizer documents (e.g. runs of spaces become one).
  std::string detokenize(const std::vector<std::string>& tokens) const {
    return detokenize_impl(tokens);
  }

 protected:
  virtual void tokenize_impl(std::string_view line, std::vector<std::string>& out) const = 0;
  virtual std::string detokenize_impl(const std::vector<std::string>& tokens) const = 0;
};

// Optional: a tokenizer learned from the training text before it can tokenize (subwords:
// sentencepiece's BPE or unigram model). build_vocab hands it the raw lines of the split it
// counts (every side that uses it), then keeps what it learned in the run folder
// (`<id>.model`) and in every checkpoint (section "tokenizer.<id>"); a resumed run, and a run
// opened for inference, give it back with load_learned before any text is read.
class LOOM_API LearnsFromText {
 public:
  virtual ~LearnsFromText();
  // Whether it can tokenize now (learned, or given a model file by its parameters).
  virtual bool learned() const = 0;
  // Learns from raw lines; returns one line for the log ("8,000 pieces (bpe) from ...").
  // InputError when the text cannot give a model (too little of it, say).
  virtual std::string learn(const std::vector<std::string_view>& lines) = 0;
  // What was learned, as bytes (the file the run folder keeps), and back; load_learned
  // throws InputError naming `origin` when the bytes are not such a model.
  virtual std::string save_learned() const = 0;
  virtual void load_learned(const std::string& bytes, const std::string& origin) = 0;
};

// ---- vocabulary builders -------------------------------------------------------------------
using TokenCounts = std::unordered_map<std::string, std::int64_t>;

class LOOM_API VocabBuilder : public Component {
 public:
  ~VocabBuilder() override;
  // Decides which tokens enter (min_freq, max_size, stop-words, specials). Deterministic:
  // the same counts give the same ids.
  Vocab build(const TokenCounts& counts) const { return build_impl(counts); }

 protected:
  virtual Vocab build_impl(const TokenCounts& counts) const = 0;
};

// ---- data loaders --------------------------------------------------------------------------
// Named tensors of one batch plus the count of target tokens (for throughput and metrics).
struct Batch {
  std::map<std::string, Tensor> tensors;
  std::int64_t target_tokens = 0;
  std::vector<std::string> references;  // reference texts, for metrics that decode

  // Throws AssertionError naming the missing tensor.
  const Tensor& get(const std::string& name) const;
};

class LOOM_API DataLoader : public Component {
 public:
  ~DataLoader() override;
  // "train", "valid", "test": the splits this loader has.
  std::vector<std::string> splits() const { return splits_impl(); }
  bool has_split(const std::string& split) const;
  // Token counts of a split, for vocabulary building (parallel, deterministic).
  TokenCounts count_tokens(const std::string& split) const;
  // Numericalises every split with `vocab`; must be called before batches are read.
  void prepare(const Vocab& vocab) { prepare_impl(vocab); }
  // Batches of a split, in order; random access so that runs can stop and resume anywhere.
  std::int64_t num_batches(const std::string& split, Mode mode) const;
  Batch batch(const std::string& split, Mode mode, std::int64_t index) const;
  // Tokens of a split that were not in the vocabulary (after prepare).
  std::int64_t unknown_tokens(const std::string& split) const { return unknown_tokens_impl(split); }

 protected:
  virtual std::vector<std::string> splits_impl() const = 0;
  virtual TokenCounts count_tokens_impl(const std::string& split) const = 0;
  virtual void prepare_impl(const Vocab& vocab) = 0;
  virtual std::int64_t num_batches_impl(const std::string& split, Mode mode) const = 0;
  virtual Batch batch_impl(const std::string& split, Mode mode, std::int64_t index) const = 0;
  virtual std::int64_t unknown_tokens_impl(const std::string& split) const { return 0; }
};

// Optional: a data loader whose training batches depend on the epoch (shuffled anew every
// epoch from its seed). The runner calls start_epoch before it reads an epoch's batches,
// also when a run resumes in the middle of one, so the order is a function of the seed and
// the epoch alone and a resumed run reads the batches an uninterrupted one would.
class LOOM_API EpochAware {
 public:
  virtual ~EpochAware();
  virtual void start_epoch(int epoch) = 0;
};

// Optional: a data loader of text in two (or more) sides, each with its own tokenizer and
// vocabulary (translation: "src" and "tgt"); sides may share one vocabulary builder (a joint
// vocabulary). build_vocab builds one vocabulary per builder from the sides that use it and
// numericalises with prepare_sides instead of DataLoader::prepare.
class LOOM_API HasSides {
 public:
  virtual ~HasSides();
  virtual std::vector<std::string> sides() const = 0;
  // The vocabulary builder a side's vocabulary comes from, and its tokenizer.
  virtual const VocabBuilder& side_vocab(const std::string& side) const = 0;
  virtual const Tokenizer& side_tokenizer(const std::string& side) const = 0;
  // The raw text of one side of a split, a line per example (valid while the loader lives).
  virtual std::vector<std::string_view> side_lines(const std::string& split, const std::string& side) const = 0;
  // Token counts of one side of a split.
  virtual TokenCounts count_side_tokens(const std::string& split, const std::string& side) const = 0;
  // Numericalises every split, side s with *vocabs.at(s); then batches can be read.
  virtual void prepare_sides(const std::map<std::string, const Vocab*>& vocabs) = 0;
  // Examples of a split left out while preparing (too long, say), and why, for the log ("" when none).
  virtual std::string dropped(const std::string& split) const = 0;
};

// Optional: a data loader of labelled examples; its class ids are indices into these names
// (written to the run folder as labels.txt).
class LOOM_API HasLabels {
 public:
  virtual ~HasLabels();
  virtual const std::vector<std::string>& label_names() const = 0;
};

// Optional: a data loader of texts that batches new texts exactly as it batches its own (same
// tokenizer, truncation, unknown-token mapping and tensor layout; labels, if any, are 0), for
// `loom predict` and the predict stage. Row b of the batch is texts[b].
class LOOM_API BatchesTexts {
 public:
  virtual ~BatchesTexts();
  virtual Batch batch_of_texts(const std::vector<std::string>& texts, const Vocab& vocab) const = 0;
};

// Optional: a data loader that knows the best achievable scores on its data (a generated
// corpus), e.g. {"optimum_ppl": 5.59}; reported beside the results.
class LOOM_API HasReferenceScores {
 public:
  virtual ~HasReferenceScores();
  virtual std::map<std::string, double> reference_scores() const = 0;
};

// ---- models --------------------------------------------------------------------------------
struct ModelOutput {
  Expr loss;                  // mean loss over counted targets: what backward differentiates
  double loss_sum = 0.0;      // sum of the per-target losses (nats): loss x count
  // Sum of the per-target negative log-likelihoods, which perplexity measures; differs from
  // loss_sum when the loss adds to the NLL (label smoothing). NaN: the same as loss_sum
  // (Model::forward fills it in).
  double nll_sum = std::numeric_limits<double>::quiet_NaN();
  std::int64_t count = 0;     // number of targets in loss_sum
  Tensor predictions;         // optional, model-specific
};

class LOOM_API Model : public Component {
 public:
  ~Model() override;
  Parameters& parameters() { return parameters_; }
  const Parameters& parameters() const { return parameters_; }
  // Builds the forward computation of one batch on `g` (training or evaluation per g.mode()).
  ModelOutput forward(Graph& g, const Batch& batch);

 protected:
  virtual ModelOutput forward_impl(Graph& g, const Batch& batch) = 0;
  Parameters parameters_;
};

// Optional: a model that carries state from one batch to the next (RNN language models).
// The state is detached between batches and reset at the start of every split. It is part
// of a checkpoint, so that a run resumed mid-epoch continues with the same state.
class LOOM_API Stateful {
 public:
  virtual ~Stateful();
  virtual void reset_state() = 0;
  // The carried state, e.g. tensors "h.0", "c.0"; an empty dict when there is none yet.
  virtual void save_state(StateDict& out) const = 0;
  // Restores what save_state wrote; throws InputError (naming in.origin) when it does not fit.
  virtual void load_state(const StateDict& in) = 0;
};

// Optional: a model of the next token, for sampling text and scoring arbitrary text
// (loom generate, loom score, and the generate and score stages).
class LOOM_API LanguageModel {
 public:
  virtual ~LanguageModel();
  // Log-probabilities of the next token after every position of ids [T, B]: [T * B, V],
  // row t * B + b, in evaluation mode (g.mode() is kEval). Carries state from call to call
  // as forward does (Stateful), so a text can be fed a piece at a time.
  virtual Tensor next_log_probs(Graph& g, const Tensor& ids) = 0;
  // The vocabulary size V.
  virtual std::int64_t vocab_size() const = 0;
};

// Optional: a model that accounts for its compute (FLOP budgets, scaling laws). FLOPs are
// counted from the model's own layers and the batch's shapes: 2 per multiply-accumulate of
// every matrix product, attention's products over positions included (padding too: the
// products run over it), softmax as 3 per score; embeddings' lookups, biases, norms,
// activations and dropout are not counted. A training step costs three forwards (the backward
// is twice the forward). Each model documents its formula where it implements this.
class LOOM_API CountsFlops {
 public:
  virtual ~CountsFlops();
  // Forward FLOPs of one batch.
  virtual double forward_flops(const Batch& batch) const = 0;
  // Forward FLOPs per token of one sequence of `length` tokens (for an encoder-decoder, a
  // source and a target of that length), the whole sequence's count over its length.
  virtual double flops_per_token(std::int64_t length) const = 0;
  // Parameters outside the token and position tables (scaling laws count these).
  virtual std::int64_t non_embedding_parameters() const = 0;
};

// Optional: a model that writes a sequence one token at a time from cached state, in the
// manner of fairseq's incremental decoder and Marian's decoder state: encode the source once,
// then step. Greedy and beam search (loom/search.hpp), `loom translate`, the translate stage
// and BLEU validation use it for every translation model alike.
//
// The search owns one DecoderState per batch. Rows of the state are hypotheses: after start
// there is one row per sentence of the batch; the search then calls reorder to keep, repeat or
// drop rows (beams pruned, sentences finished) and step to extend every row by one token.
// Everything runs in evaluation mode (g.mode() is kEval); the search clears `g` between calls.
class LOOM_API DecoderState {
 public:
  virtual ~DecoderState();
  // Rows now in the state.
  virtual std::int64_t rows() const = 0;
};
// Which sentence of the batch each row of a decoder state belongs to. The rows of one sentence
// share everything computed from its source (encoder outputs, cross-attention keys and
// values), so a reorder that leaves every row with the sentence it had (beams re-ranked within
// their sentence, the common case) need not move those tensors; reorder() says when it must.
class LOOM_API SourceRows {
 public:
  // One row per sentence, in order.
  explicit SourceRows(std::int64_t sentences = 0);
  // Applies a reorder (int32 rows [R']); true when some row's sentence changed, so tensors
  // with one row per state row that depend only on the source must be reordered too.
  bool reorder(const Tensor& rows);

 private:
  std::vector<std::int32_t> sentence_;
};

// Searches of different batches run at the same time on one model (`loom translate` searches
// one batch per thread): start, step and reorder must keep everything they change in the
// DecoderState and the Graph they are given, never in the model.
class LOOM_API IncrementalDecoder {
 public:
  virtual ~IncrementalDecoder();
  // The state for the sentences of `batch` (its source side, or a decoder-only model's
  // prompt) and the log-probabilities of each sentence's first output token, [B, V].
  virtual std::unique_ptr<DecoderState> start(Graph& g, const Batch& batch, Tensor& log_probs) = 0;
  // Extends every row by its token ids[r] (int32 [R]) and returns the log-probabilities of
  // the next token, [R, V].
  virtual Tensor step(Graph& g, DecoderState& state, const Tensor& ids) = 0;
  // Keeps rows `rows` (int32 [R'], each in 0..R-1, repeats allowed), in that order.
  virtual void reorder(DecoderState& state, const Tensor& rows) = 0;
  // Where the last step looked in the source, [R, S] (rows sum to 1), for attention heatmaps;
  // an undefined tensor when the model has no such weights.
  virtual Tensor last_attention(const DecoderState& state) const { (void)state; return Tensor(); }
  virtual std::int64_t vocab_size() const = 0;
  // The token that ends an output, and the unknown token (kNone when there is none).
  virtual std::int32_t eos_id() const = 0;
  virtual std::int32_t unk_id() const = 0;
};

// Optional: a model that mirrors a PyTorch module, for `loom export`: its parameters under
// that module's state_dict names and layouts (float32), so that module.load_state_dict takes
// them. A configuration the module cannot express (a knob PyTorch's module lacks) returns an
// empty module name; its tensors then keep loom's names.
class LOOM_API TorchExport {
 public:
  virtual ~TorchExport();
  // "word_language_model.RNNModel", "minGPT.GPT", ... or "".
  virtual std::string torch_module() const = 0;
  virtual std::vector<NamedTensor> torch_tensors() const = 0;
};

// Optional: a model whose attention weights can be looked at (loom attention, the attention
// stage). For ids [T, 1], in evaluation mode and from a fresh state, the weights of every
// attention layer: name ("layer 0", "layer 1 (cross)") and weights [H, Tq, Tk], row i the
// distribution of query i over the keys.
struct AttentionMap {
  std::string name;
  Tensor weights;
};
// Recurrent models whose gradient through time `loom diagnose` measures.
class LOOM_API ShowsGradientThroughTime {
 public:
  virtual ~ShowsGradientThroughTime();
  // The recurrent cell: lstm, gru, rnn_tanh or rnn_relu.
  virtual std::string recurrent_cell() const = 0;
  // For a window (ids and targets [T, B]) run from a zero state in evaluation mode (no dropout):
  // for t = 0 .. T-1, ||d loss_T / d h_t||, loss_T the loss at the window's last step (summed
  // over the B columns) and h_t the top recurrent layer's hidden state after step t; the norm
  // of each column's [H] gradient, averaged over the columns. Leaves parameter gradients as
  // they were.
  virtual std::vector<double> gradient_through_time(const Batch& window) = 0;
};

class LOOM_API ShowsAttention {
 public:
  virtual ~ShowsAttention();
  virtual std::vector<AttentionMap> attention_maps(Graph& g, const Tensor& ids) = 0;
};
// Maps named "layer 0", "layer 1", ... from weights [1, H, Tq, Tk] per layer (as
// TransformerLayer hands them out for a batch of one).
std::vector<AttentionMap> layer_attention_maps(const std::vector<Expr>& weights);

// ---- optimizers ----------------------------------------------------------------------------
class LOOM_API Optimizer : public Component {
 public:
  ~Optimizer() override;
  // One update from the gradients in `params`; clipping, if configured, happens here.
  // Returns the gradient norm before clipping.
  double step(Parameters& params) { return step_impl(params); }
  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr) { lr_ = lr; }
  // Everything the next step depends on besides the parameters and the learning rate
  // (momentum buffers, moment estimates, step counts), so that a resumed run takes exactly
  // the steps an uninterrupted one would. The learning rate is saved by the runner.
  void save_state(StateDict& out) const { save_state_impl(out); }
  // Throws InputError (naming in.origin) when the state does not fit `params`.
  void load_state(const StateDict& in, const Parameters& params) { load_state_impl(in, params); }

 protected:
  virtual double step_impl(Parameters& params) = 0;
  virtual void save_state_impl(StateDict& out) const = 0;
  virtual void load_state_impl(const StateDict& in, const Parameters& params) = 0;
  double lr_ = 0.0;
};

// ---- metrics -------------------------------------------------------------------------------
// Classification: the data's batch has "labels" (int32 [B], class ids) and the model's output
// has predictions (float [B, C], class scores or log-probabilities). The predicted class of
// row b is the first highest score. Throws ConfigError naming `metric` when the batch or the
// output does not have these (a metric for classes used with another kind of model).
struct ClassPredictions {
  const std::int32_t* labels = nullptr;
  std::vector<std::int32_t> predicted;  // per row
  std::int64_t classes = 0;             // C
};
ClassPredictions class_predictions(const Batch& batch, const ModelOutput& output, const std::string& metric);

// Optional: a metric of decoded text (BLEU, word accuracy). The Evaluator decodes each batch
// of the split with the model's IncrementalDecoder (greedy, or the stage's beam) and hands over
// the detokenized hypotheses with the batch's references; update() gets nothing for it.
class LOOM_API ComparesTexts {
 public:
  virtual ~ComparesTexts();
  virtual void update_texts(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) = 0;
};

// Optional: a metric whose accumulated state is a list of sums (counts, summed losses, n-gram
// matches), so that what the ranks of a data-parallel run accumulated on their shares of a
// split adds up to what one process accumulates on the whole split. Lists of different lengths
// add as if the shorter ended in zeros (per-class counts that grow with the classes seen).
// Every metric of a run with several ranks needs it.
class LOOM_API SumsStatistics {
 public:
  virtual ~SumsStatistics();
  virtual std::vector<double> statistics() const = 0;
  // Replaces the accumulated state with `sums` (a list statistics() gave, or a sum of them).
  virtual void set_statistics(const std::vector<double>& sums) = 0;
};

class LOOM_API Metric : public Component {
 public:
  ~Metric() override;
  void reset() { reset_impl(); }
  void update(const Batch& batch, const ModelOutput& output) { update_impl(batch, output); }
  double value() const { return value_impl(); }
  bool higher_is_better() const { return higher_is_better_impl(); }
  // What has been accumulated since reset(), so that an epoch interrupted and resumed
  // reports the same value as one that ran through. Doubles round-trip exactly.
  void save_state(StateDict& out) const { save_state_impl(out); }
  void load_state(const StateDict& in) { load_state_impl(in); }

 protected:
  virtual void reset_impl() = 0;
  virtual void update_impl(const Batch& batch, const ModelOutput& output) = 0;
  virtual double value_impl() const = 0;
  virtual bool higher_is_better_impl() const = 0;
  virtual void save_state_impl(StateDict& out) const = 0;
  virtual void load_state_impl(const StateDict& in) = 0;
};

// ---- building components -------------------------------------------------------------------
// What a factory gets: its checked parameters and access to the components it names.
class LOOM_API BuildContext {
 public:
  virtual ~BuildContext();
  const Params& params() const { return params_; }
  std::uint64_t seed() const { return seed_; }

  // The component named by a kComponent parameter ("@id"), or the only one of its kind.
  template <class T>
  T& component(const std::string& param) const {
    Component& c = component_for(param);
    auto* typed = dynamic_cast<T*>(&c);
    if (typed == nullptr) params_.fail(param, "names a component of the wrong kind");
    return *typed;
  }
  // The vocabulary built by the vocabulary component a parameter names; a ConfigError when
  // no build_vocab stage has built it yet.
  virtual const Vocab& vocab(const std::string& param) const = 0;
  // The class names of the labelled data loader a parameter names: its label_names() while
  // training; for a trained run opened for inference, the run's labels.txt, so that a model
  // can be rebuilt without reading the training data. ConfigError naming the parameter when
  // the loader has no labels.
  virtual std::vector<std::string> label_names(const std::string& param) const;
  // Whether the input files a component names must exist now: false for a trained run opened
  // for inference, whose training files may have moved (a factory then leaves them unchecked).
  bool paths_checked() const { return paths_checked_; }

 protected:
  BuildContext(Params params, std::uint64_t seed) : params_(std::move(params)), seed_(seed) {}
  virtual Component& component_for(const std::string& param) const = 0;
  void set_paths_checked(bool checked) { paths_checked_ = checked; }

 private:
  Params params_;
  std::uint64_t seed_;
  bool paths_checked_ = true;
};

// ---- what classifier models share ----------------------------------------------------------
// The number of classes of the labelled data loader that `param` names; a ConfigError naming
// the parameter when the loader has no labels or fewer than 2.
std::int64_t class_count(const BuildContext& ctx, const std::string& param);
// Cross-entropy of logits [B, C] against the batch's "labels" [B], as a ModelOutput whose
// predictions are the logits (for the accuracy and f1 metrics and `loom predict`).
ModelOutput classification_output(const Expr& logits, const Batch& batch);

using Factory = std::function<std::unique_ptr<Component>(BuildContext&)>;

struct PluginDescriptor {
  int abi_version = kAbiVersion;  // must stay the first member
  Kind kind;
  std::string name;     // unique per kind; never changes meaning (new semantics, new name)
  std::string version;  // the plugin's own version
  std::string doc;      // one line
  std::vector<ParamSpec> params;
  Factory factory;
  // A model that counts its FLOPs (CountsFlops): the forward FLOPs as a formula of its
  // settings, shown by `loom plugins NAME` (2 per multiply-accumulate; backward 2x forward).
  std::string flops = {};
};

}  // namespace loom

// Exports the plugin's one entry point, the Boost.DLL alias "loom_plugin". `fn` is a function
// `const loom::PluginDescriptor& fn()` (use it once per library, at namespace scope).
#define LOOM_PLUGIN(fn)                                                         \
  namespace {                                                                   \
  const ::loom::PluginDescriptor* loom_plugin_entry_() { return &fn(); }        \
  }                                                                             \
  BOOST_DLL_ALIAS(loom_plugin_entry_, loom_plugin)
