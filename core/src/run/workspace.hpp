#pragma once
// The components of a pipeline, built from its YAML when first asked for: what a training run
// and a trained run opened for inference (loom generate, score, predict, evaluate) both work
// with. It resolves "@id" references, serves the vocabularies build_vocab made (or a run
// folder holds) and gives each factory a BuildContext.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "loom/checkpoint.hpp"
#include "loom/plugin.hpp"
#include "run/resolve.hpp"

namespace loom {

using MetricList = std::vector<std::pair<std::string, Metric*>>;

class Workspace {
 public:
  // Resolves the pipeline (ConfigError listing every problem). `say` prints a progress line
  // (nothing when quiet).
  Workspace(const Registry& registry, const ConfigNode& root, std::uint64_t seed, PathCheck paths,
            std::function<void(const std::string&)> say);

  const Resolved& resolved() const { return resolved_; }
  std::uint64_t seed() const { return seed_; }
  void say(const std::string& line) const { say_(line); }

  // Whether models with init_from load it when built: a run that starts does; a resumed run,
  // a finished run opened for inference and loom validate do not.
  void apply_init_from(bool apply) { apply_init_from_ = apply; }

  // The component `id`, built on first use (ConfigError when it depends on itself).
  Component& get(const std::string& id);
  // The id a component parameter of a stage (or of nothing: Params()) resolves to.
  std::string resolve(Kind kind, const Params& params, const std::string& param) const;
  template <class T>
  T& get_as(Kind kind, const Params& params, const std::string& param) {
    return dynamic_cast<T&>(get(resolve(kind, params, param)));
  }
  // The plugin name of component `id`.
  const std::string& plugin_of(const std::string& id) const;
  // The one model of the pipeline (ConfigError when there is none or several).
  Model& only_model();
  // The metric components a stage computes: its `metrics`, or every metric.
  MetricList metrics(const Params& stage);

  // Vocabularies: what build_vocab made, or what a run folder holds.
  const Vocab& vocab_of(const std::string& id, const Params& asking, const std::string& param) const;
  void set_vocab(const std::string& id, Vocab vocab);
  // vocab id -> the text of its file, for checkpoints.
  const std::map<std::string, std::string>& vocab_texts() const { return vocab_texts_; }
  // "vocab.txt", or "vocab_<id>.txt" when the pipeline has several vocabularies.
  std::string vocab_file_name(const std::string& vocab_id) const;
  // The tokenizers learned from text (LearnsFromText) by id, in the pipeline's order.
  std::vector<std::pair<std::string, LearnsFromText*>> learned_tokenizers();
  // "<id>.model": the run-folder file of a learned tokenizer.
  static std::string tokenizer_file_name(const std::string& id) { return id + ".model"; }
  // Learned tokenizers in checkpoints: every learned one goes into section "tokenizer.<id>"
  // (its model, base64); restore_learned_tokenizer loads `id`'s model from `checkpoint` into
  // `learner` and returns the model's bytes, or nullopt when the checkpoint has none
  // (InputError when its copy is damaged).
  void save_learned_tokenizers(Checkpoint& checkpoint);
  static std::optional<std::string> restore_learned_tokenizer(const Checkpoint& checkpoint, const std::string& id,
                                                              LearnsFromText& learner);
  // The vocabulary a data component was numericalised with: that of its build_vocab stage.
  const Vocab& vocab_of_data(const std::string& data_id);
  // The id of a component built here (AssertionError for any other object).
  std::string id_of(const Component& component) const;
  // Numericalises data component `data_id` with the vocabularies the run has: one per side
  // for data with sides (HasSides), else its build_vocab stage's; then marks it prepared.
  void prepare_data(const std::string& data_id);

  // Data components numericalised by a build_vocab stage (or `loom evaluate`).
  void mark_prepared(const std::string& data_id) { prepared_.insert(data_id); }
  // ConfigError when `stage` reads data no build_vocab stage has numericalised.
  void require_prepared(const std::string& data_id, const Params& stage) const;

  // The class names a run folder's labels.txt gives (a run opened for inference); models get
  // these instead of reading the training data.
  void set_saved_labels(std::vector<std::string> labels) { saved_labels_ = std::move(labels); }
  const std::optional<std::vector<std::string>>& saved_labels() const { return saved_labels_; }

  // loom validate: builds every component as a run would, so that the checks each plugin's
  // factory makes run too, and returns their errors (each once). A model gets a stand-in
  // vocabulary of the four special tokens, since the real one needs the data counted.
  std::vector<std::string> build_for_check();

 private:
  struct Slot {
    const ComponentDecl* decl = nullptr;
    std::unique_ptr<Component> object;
    bool building = false;
    std::optional<Vocab> vocab;
  };
  class Context;

  const Registry& registry_;
  std::uint64_t seed_;
  PathCheck paths_;
  std::function<void(const std::string&)> say_;
  Resolved resolved_;
  std::map<std::string, Slot> slots_;
  std::set<std::string> prepared_;
  std::map<std::string, std::string> vocab_texts_;
  std::optional<std::vector<std::string>> saved_labels_;
  bool checking_ = false;
  bool apply_init_from_ = false;
};

}  // namespace loom
