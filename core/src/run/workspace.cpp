#include "run/workspace.hpp"

#include <algorithm>

#include "loom/errors.hpp"
#include "loom/random.hpp"
#include "loom/strings.hpp"
#include "stages/stage.hpp"

namespace loom {

// What a factory builds its component from: its parameters, and the components and
// vocabularies they name, resolved in the workspace.
class Workspace::Context : public BuildContext {
 public:
  Context(Workspace& ws, Params params, std::uint64_t seed, const std::vector<ParamSpec>& specs)
      : BuildContext(std::move(params), seed), ws_(ws), specs_(specs) {
    set_paths_checked(ws.paths_ == PathCheck::kMustExist);
  }

  const Vocab& vocab(const std::string& param) const override {
    return ws_.vocab_of(ws_.resolve(kind_of(param), params(), param), params(), param);
  }
  std::vector<std::string> label_names(const std::string& param) const override {
    if (ws_.saved_labels_) return *ws_.saved_labels_;
    return BuildContext::label_names(param);
  }

 protected:
  Component& component_for(const std::string& param) const override {
    return ws_.get(ws_.resolve(kind_of(param), params(), param));
  }

 private:
  Kind kind_of(const std::string& param) const {
    for (const auto& s : specs_)
      if (s.name == param && s.type == ParamType::kComponent && !s.choices.empty())
        if (auto k = kind_from_folder(s.choices[0])) return *k;
    throw AssertionError("plugin '" + params().plugin() + "' asks for component parameter '" + param +
                         "' that it did not declare as a component");
  }

  Workspace& ws_;
  const std::vector<ParamSpec>& specs_;
};

Workspace::Workspace(const Registry& registry, const ConfigNode& root, std::uint64_t seed, PathCheck paths,
                     std::function<void(const std::string&)> say)
    : registry_(registry), seed_(seed), paths_(paths), say_(std::move(say)) {
  std::vector<std::string> errors;
  resolved_ = resolve_pipeline(root, registry_, errors, paths);
  if (!errors.empty()) throw ConfigError(join(errors, "\n"));
  for (auto& c : resolved_.components) slots_[c.id].decl = &c;
}

Component& Workspace::get(const std::string& id) {
  auto it = slots_.find(id);
  LOOM_ASSERT(it != slots_.end(), "unknown component " + id);
  Slot& slot = it->second;
  if (slot.object) return *slot.object;
  if (slot.building) throw ConfigError(slot.decl->where, "component '" + id + "' depends on itself");
  slot.building = true;
  const auto& d = *slot.decl->plugin->descriptor;
  Context ctx(*this, Params(id, d.name, d.params, slot.decl->values), stream_key(seed_, id), d.params);
  try {
    slot.object = d.factory(ctx);
  } catch (...) {
    slot.building = false;  // a failed build may be asked for again (loom validate goes on)
    throw;
  }
  slot.building = false;
  LOOM_ASSERT(slot.object != nullptr, "plugin '" + d.name + "' built nothing");
  if (auto* model = dynamic_cast<Model*>(slot.object.get())) {
    LOOM_ASSERT(model->parameters().finalized(), "plugin '" + d.name + "' did not finalize its parameters");
    std::string counts = with_commas(model->parameters().count()) + " parameters";
    if (const auto* f = dynamic_cast<const CountsFlops*>(model))
      counts += " (" + with_commas(f->non_embedding_parameters()) + " without embeddings)";
    say("model '" + id + "' (" + d.name + "): " + counts);
    if (apply_init_from_ && slot.decl->init_from) {
      const InitReport report = loom::apply_init_from(*slot.decl->init_from, model->parameters());
      for (const auto& line : report.lines(id, *slot.decl->init_from)) say(line);
    }
  }
  return *slot.object;
}

std::string Workspace::resolve(Kind kind, const Params& params, const std::string& param) const {
  ConfigNode value = params.has(param) ? ConfigNode::scalar(params.get_string(param), params.where(param)) : ConfigNode();
  return resolve_ref(resolved_.components, kind, value, "'" + param + "'", nullptr);
}

const std::string& Workspace::plugin_of(const std::string& id) const {
  return slots_.at(id).decl->plugin->descriptor->name;
}

Model& Workspace::only_model() { return dynamic_cast<Model&>(get(resolve(Kind::kModel, Params(), "model"))); }

MetricList Workspace::metrics(const Params& p) {
  std::vector<std::string> ids = p.has("metrics") ? p.get_strings("metrics") : std::vector<std::string>{};
  if (ids.empty())
    for (const auto& c : resolved_.components)
      if (c.plugin && c.plugin->descriptor->kind == Kind::kMetric) ids.push_back(c.id);
  MetricList out;
  for (const auto& id : ids) {
    auto it = slots_.find(id);
    if (it == slots_.end() || it->second.decl->plugin->descriptor->kind != Kind::kMetric)
      p.fail("metrics", "'" + id + "' is not a metric component");
    out.emplace_back(id, &dynamic_cast<Metric&>(get(id)));
  }
  return out;
}

namespace {

const Vocab& stand_in_vocab() {
  static const Vocab v = [] {
    Vocab out;
    out.set_special(Special::kPad, "<pad>");
    out.set_special(Special::kUnk, "<unk>");
    out.set_special(Special::kBos, "<bos>");
    out.set_special(Special::kEos, "<eos>");
    out.set_special(Special::kSep, "<sep>");
    return out;
  }();
  return v;
}

}  // namespace

const Vocab& Workspace::vocab_of(const std::string& id, const Params& asking, const std::string& param) const {
  auto it = slots_.find(id);
  const bool built = it != slots_.end() && it->second.vocab;
  if (!built && checking_) return stand_in_vocab();
  if (!built)
    asking.fail(param, "needs the vocabulary of '" + id + "', which is not built yet: add '- build_vocab: {}' before this stage");
  return *it->second.vocab;
}

void Workspace::set_vocab(const std::string& id, Vocab vocab) {
  vocab_texts_[id] = vocab.to_text();
  slots_[id].vocab = std::move(vocab);
}

std::string Workspace::vocab_file_name(const std::string& vocab_id) const {
  int vocabs = 0;
  for (const auto& c : resolved_.components)
    if (c.plugin && c.plugin->descriptor->kind == Kind::kVocab) ++vocabs;
  return vocabs == 1 ? "vocab.txt" : "vocab_" + vocab_id + ".txt";
}

std::vector<std::pair<std::string, LearnsFromText*>> Workspace::learned_tokenizers() {
  std::vector<std::pair<std::string, LearnsFromText*>> out;
  for (const auto& c : resolved_.components)
    if (c.plugin && c.plugin->descriptor->kind == Kind::kTokenizer)
      if (auto* learner = dynamic_cast<LearnsFromText*>(&get(c.id))) out.emplace_back(c.id, learner);
  return out;
}

namespace {
std::string tokenizer_section(const std::string& id) { return "tokenizer." + id; }
}  // namespace

void Workspace::save_learned_tokenizers(Checkpoint& checkpoint) {
  for (const auto& [id, learner] : learned_tokenizers())
    if (learner->learned()) checkpoint.add_section(tokenizer_section(id)).set("model", base64_encode(learner->save_learned()));
}

std::optional<std::string> Workspace::restore_learned_tokenizer(const Checkpoint& checkpoint, const std::string& id,
                                                                LearnsFromText& learner) {
  if (!checkpoint.has_section(tokenizer_section(id))) return std::nullopt;
  const StateDict& saved = checkpoint.section(tokenizer_section(id));
  auto bytes = base64_decode(saved.text("model"));
  if (!bytes) throw InputError(saved.origin + ": 'model' is not base64");
  learner.load_learned(*bytes, saved.origin);
  return bytes;
}

const Vocab& Workspace::vocab_of_data(const std::string& data_id) {
  for (const auto& s : resolved_.stages) {
    if (s.name != "build_vocab") continue;
    Params p = s.params();
    if (resolve(Kind::kData, p, "data") == data_id) return vocab_of(resolve(Kind::kVocab, p, "vocab"), p, "vocab");
  }
  throw ConfigError("the run's pipeline has no build_vocab stage for data '" + data_id + "', so its texts have no vocabulary");
}

std::string Workspace::id_of(const Component& component) const {
  for (const auto& [id, slot] : slots_)
    if (slot.object.get() == &component) return id;
  throw AssertionError("a component that this workspace did not build");
}

void Workspace::prepare_data(const std::string& data_id) {
  auto& data = dynamic_cast<DataLoader&>(get(data_id));
  if (auto* sided = dynamic_cast<HasSides*>(&data)) {
    std::map<std::string, const Vocab*> vocabs;
    for (const auto& side : sided->sides())
      vocabs[side] = &vocab_of(id_of(sided->side_vocab(side)), Params(), side);
    sided->prepare_sides(vocabs);
  } else {
    data.prepare(vocab_of_data(data_id));
  }
  mark_prepared(data_id);
}

void Workspace::require_prepared(const std::string& data_id, const Params& p) const {
  if (!prepared_.count(data_id))
    throw ConfigError("stage '" + p.plugin() + "' reads data '" + data_id +
                      "' before any build_vocab stage has numericalised it: add '- build_vocab: {}' first");
}

std::vector<std::string> Workspace::build_for_check() {
  checking_ = true;
  std::vector<std::string> errors;
  auto note = [&](const std::string& message) {
    if (std::find(errors.begin(), errors.end(), message) == errors.end()) errors.push_back(message);
  };
  for (const auto& c : resolved_.components) {
    try {
      get(c.id);
    } catch (const ConfigError& e) {
      note(e.what());
    } catch (const InputError& e) {
      note(e.what());
    } catch (const ResourceError& e) {
      note(e.what());
    }
  }
  checking_ = false;
  return errors;
}

}  // namespace loom
