#include "loom/pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "loom/checkpoint.hpp"
#include "loom/errors.hpp"
#include "loom/interrupt.hpp"
#include "loom/json.hpp"
#include "loom/manifest.hpp"
#include "loom/parallel.hpp"
#include "loom/parameters.hpp"
#include "loom/random.hpp"
#include "loom/report.hpp"
#include "loom/run_folder.hpp"
#include "loom/text.hpp"

namespace loom {

namespace {

const std::vector<std::string> kTopLevelKeys = {"name", "description", "seed", "vars", "threads",
                                                "components", "stages", "sweep"};

std::optional<Kind> kind_from_folder(const std::string& folder) {
  for (Kind k : {Kind::kTokenizer, Kind::kVocab, Kind::kData, Kind::kModel, Kind::kOptimizer,
                 Kind::kMetric})
    if (folder == kind_folder(k)) return k;
  return std::nullopt;
}

ParamSpec ref(const std::string& name, Kind kind, const std::string& doc) {
  return {name, ParamType::kComponent, "", doc, {kind_folder(kind)}};
}

// The stages the core runs, with their parameters.
const std::map<std::string, std::vector<ParamSpec>>& stage_specs() {
  static const std::map<std::string, std::vector<ParamSpec>> specs = {
      {"build_vocab",
       {{"split", ParamType::kString, "train", "split whose tokens are counted"},
        ref("data", Kind::kData, "data loader whose text is counted"),
        ref("vocab", Kind::kVocab, "vocabulary builder that decides what enters")}},
      {"train",
       {{"epochs", ParamType::kInt, "1", "passes over the training split", {}, 1},
        {"split", ParamType::kString, "train", "split to train on"},
        {"validate_on", ParamType::kString, "valid", "split evaluated after every epoch (empty: none)"},
        {"select", ParamType::kString, "", "metric id (or 'loss') that picks the best epoch; default: the first metric"},
        {"lr_anneal", ParamType::kFloat, "0", "divide the learning rate by this when the selected metric does not improve (0: off)", {}, 0},
        {"lr_decay", ParamType::kFloat, "1", "multiply the learning rate by this at the start of every epoch after lr_decay_after", {}, 0},
        {"lr_decay_after", ParamType::kInt, "0", "epochs before lr_decay starts", {}, 0},
        {"early_stop.patience", ParamType::kInt, "0", "stop after this many epochs without improvement (0: never)", {}, 0},
        {"log_interval", ParamType::kInt, "200", "batches between progress lines when output is not a terminal", {}, 1},
        {"max_batches_per_epoch", ParamType::kInt, "0", "stop each epoch after this many batches (0: all), for smoke runs", {}, 0},
        {"checkpoint.every", ParamType::kInt, "0", "also save checkpoints/last.ckpt every this many batches (0: at the end of each epoch only)", {}, 0},
        {"checkpoint.keep", ParamType::kInt, "0", "keep the checkpoints of the last N epochs as epoch-<N>.ckpt besides last and best", {}, 0},
        {"on_interrupt", ParamType::kString, "stop", "on SIGINT/SIGTERM, after saving: stop, or evaluate the best parameters with the pipeline's evaluate stages", {"stop", "evaluate"}},
        ref("model", Kind::kModel, "model to train"),
        ref("data", Kind::kData, "data loader"),
        ref("optimizer", Kind::kOptimizer, "optimizer"),
        {"metrics", ParamType::kStringList, "", "metric ids to compute (default: every metric)"}}},
      {"generate",
       {{"words", ParamType::kInt, "100", "tokens to sample", {}, 1},
        {"temperature", ParamType::kFloat, "1", "divide the log-probabilities by this before sampling (0: always the likeliest)", {}, 0},
        {"seed", ParamType::kInt, "0", "sampling seed (0: the pipeline's)", {}, 0},
        {"output", ParamType::kString, "generated.txt", "file in the run folder"},
        ref("model", Kind::kModel, "language model to sample from"),
        ref("tokenizer", Kind::kTokenizer, "tokenizer that joins the tokens back into text"),
        ref("vocab", Kind::kVocab, "vocabulary of the model")}},
      {"score",
       {{"input", ParamType::kPath, "", "text file, one line per entry"},
        {"output", ParamType::kString, "scores.tsv", "file in the run folder: per-line and total perplexity"},
        ref("model", Kind::kModel, "language model that scores"),
        ref("tokenizer", Kind::kTokenizer, "tokenizer of the text"),
        ref("vocab", Kind::kVocab, "vocabulary of the model")}},
      {"predict",
       {{"input", ParamType::kPath, "", "text file, one text per line"},
        {"output", ParamType::kString, "predictions.tsv", "file in the run folder: per line, the label and its probability"},
        ref("model", Kind::kModel, "classifier that predicts"),
        ref("data", Kind::kData, "data loader whose labels, tokenizer and batching the texts get")}},
      {"evaluate",
       {{"split", ParamType::kString, "test", "split to evaluate"},
        ref("model", Kind::kModel, "model to evaluate"),
        ref("data", Kind::kData, "data loader"),
        {"metrics", ParamType::kStringList, "", "metric ids to compute (default: every metric)"}}},
  };
  return specs;
}

// Nested stage options (early_stop: {patience: 5}) become dotted keys (early_stop.patience).
ConfigNode flatten(const ConfigNode& node) {
  if (!node.is_map()) return node;
  ConfigNode out = ConfigNode::map(node.where());
  for (const auto& [key, value] : node.entries()) {
    if (value.is_map() && key != "plugin") {
      ConfigNode inner = flatten(value);
      for (const auto& [k2, v2] : inner.entries()) out.set(key + "." + k2, v2, value.key_where(k2));
    } else {
      out.set(key, value, node.key_where(key));
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

// A pipeline as dotted keys -> (value, where), for comparing two versions of it. Stages are
// addressed by name ("stages.train.epochs"; a second stage of the same name is "evaluate#2");
// lists other than stages are compared as one value. `stage_names` gets the stage order.
using FlatConfig = std::map<std::string, std::pair<std::string, SourceLocation>>;

void flatten_config(const ConfigNode& n, const std::string& prefix, FlatConfig& out,
                    std::vector<std::string>* stage_names) {
  auto key = [&](const std::string& k) { return prefix.empty() ? k : prefix + "." + k; };
  if (n.is_map()) {
    for (const auto& [k, v] : n.entries()) flatten_config(v, key(k), out, stage_names);
  } else if (n.is_sequence() && prefix == "stages") {
    std::map<std::string, int> seen;
    for (const auto& item : n.items()) {
      std::string name = item.is_scalar() ? item.str() : item.is_map() && !item.entries().empty() ? item.entries()[0].first : "?";
      int count = ++seen[name];
      if (stage_names) stage_names->push_back(name);
      std::string stage_key = "stages." + name + (count > 1 ? "#" + std::to_string(count) : "");
      if (item.is_map() && !item.entries().empty()) flatten_config(item.entries()[0].second, stage_key, out, nullptr);
    }
  } else if (n.is_sequence()) {
    std::string text;
    for (const auto& item : n.items()) text += (text.empty() ? "" : ", ") + (item.is_scalar() ? item.str() : item.to_yaml());
    out[prefix] = {"[" + text + "]", n.where()};
  } else {
    out[prefix] = {n.is_scalar() ? n.str() : "", n.where()};
  }
}

ConfigNode parse_override_value(const std::string& text, const SourceLocation& where) {
  // Values are YAML too ("[1, 2]", "true"), but their location is the override itself.
  ConfigNode parsed;
  try {
    parsed = parse_yaml(text, where.file);
  } catch (const ConfigError&) {
    return ConfigNode::scalar(text, where);
  }
  std::function<ConfigNode(const ConfigNode&)> relocate = [&](const ConfigNode& n) {
    if (n.is_scalar()) return ConfigNode::scalar(n.str(), where);
    if (n.is_sequence()) {
      ConfigNode s = ConfigNode::sequence(where);
      for (const auto& i : n.items()) s.push_back(relocate(i));
      return s;
    }
    if (n.is_map()) {
      ConfigNode m = ConfigNode::map(where);
      for (const auto& [k, v] : n.entries()) m.set(k, relocate(v), where);
      return m;
    }
    return ConfigNode::scalar("", where);
  };
  return parsed.is_null() ? ConfigNode::scalar("", where) : relocate(parsed);
}

}  // namespace

void apply_override(ConfigNode& root, const std::string& assignment) {
  SourceLocation where{"--set " + assignment, 0, 0};
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected key=value, e.g. components.model.nhid=400");
  std::string path = assignment.substr(0, eq);
  ConfigNode value = parse_override_value(assignment.substr(eq + 1), where);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw ConfigError(where, "empty key in '" + path + "'");
    keys.push_back(k);
  }
  if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), keys[0]) == kTopLevelKeys.end()) {
    auto hint = did_you_mean(keys[0], kTopLevelKeys);
    throw ConfigError(where, "unknown top-level key '" + keys[0] + "'" +
                                 (hint ? " (did you mean '" + *hint + "'?)" : ""));
  }
  ConfigNode* node = &root;
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    const std::string& k = keys[i];
    if (node->is_sequence()) {
      // A list of one-key maps (stages): address an item by its key.
      ConfigNode* found = nullptr;
      std::vector<std::string> names;
      for (auto& item : const_cast<std::vector<ConfigNode>&>(node->items())) {
        if (item.is_map() && item.entries().size() == 1) {
          names.push_back(item.entries()[0].first);
          if (item.entries()[0].first == k && found == nullptr) found = &item.entries()[0].second;
        }
      }
      if (found == nullptr) {
        auto hint = did_you_mean(k, names);
        throw ConfigError(where, "no stage named '" + k + "'" +
                                     (hint ? " (did you mean '" + *hint + "'?)" : " (stages: " + join(names) + ")"));
      }
      if (!found->is_map()) *found = ConfigNode::map(where);
      node = found;
      continue;
    }
    ConfigNode* child = node->is_map() ? node->find(k) : nullptr;
    if (child == nullptr) {
      // A new component may be added by naming its plugin; any other unknown id is a typo.
      bool adds_component = keys.size() == 3 && keys[2] == "plugin";
      if (keys[0] == "components" && i == 1 && !adds_component) {
        std::vector<std::string> ids;
        for (const auto& [id, v] : node->entries()) ids.push_back(id);
        auto hint = did_you_mean(k, ids);
        throw ConfigError(where, "no component '" + k + "'" +
                                     (hint ? " (did you mean '" + *hint + "'?)" : " (components: " + join(ids) + ")"));
      }
      node->set(k, ConfigNode::map(where), where);
      child = node->find(k);
    }
    if (!child->is_map() && !child->is_sequence()) *child = ConfigNode::map(where);
    node = child;
  }
  if (node->is_sequence())
    throw ConfigError(where, "'" + path + "' names a stage: set its options one by one, e.g. --set " + path + ".epochs=5");
  node->set(keys.back(), value, where);
}

Pipeline Pipeline::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  Pipeline p;
  p.file_ = file;
  p.root_ = load_yaml_file(file);
  if (!p.root_.is_map())
    throw ConfigError(p.root_.where().file.empty() ? SourceLocation{file.string(), 0, 0} : p.root_.where(),
                      "a pipeline is a mapping with components: and stages:");
  for (const auto& o : overrides) apply_override(p.root_, o);
  std::map<std::string, std::string> vars;
  if (const ConfigNode* v = p.root_.find("vars")) vars = resolve_vars(*v);
  substitute_vars(p.root_, vars);
  p.name_ = file.stem().string();
  if (const ConfigNode* n = p.root_.find("name")) {
    // The name is a folder under runs/: one plain, non-empty path component.
    if (!n->is_scalar() || n->str().empty() || n->str().find('/') != std::string::npos || n->str() == "." ||
        n->str() == "..")
      throw ConfigError(n->where(), "name must be a plain non-empty name without '/' (it names the run folder), got '" +
                                        (n->is_scalar() ? n->str() : std::string("a list or mapping")) + "'");
    p.name_ = n->str();
  }
  if (const ConfigNode* s = p.root_.find("seed")) p.seed_ = static_cast<std::uint64_t>(s->as_int());
  if (const ConfigNode* t = p.root_.find("threads")) {
    auto n = t->as_int();
    if (n < 1 || n > 4096) throw ConfigError(t->where(), "threads must be between 1 and 4096, got " + t->str());
    p.threads_ = static_cast<int>(n);
  }
  return p;
}

// ---- checking ------------------------------------------------------------------------------

namespace {

struct ComponentDecl {
  std::string id;
  const LoadedPlugin* plugin = nullptr;
  SourceLocation where;
  std::map<std::string, ConfigNode> values;
};

struct Resolved {
  std::vector<ComponentDecl> components;
  std::vector<std::pair<std::string, std::map<std::string, ConfigNode>>> stages;
  std::vector<SourceLocation> stage_wheres;
};

// Resolves a component reference ("@id", or "" for the only one of its kind) to an id.
std::string article(const char* noun) {
  return std::string(std::string_view("aeiou").find(noun[0]) != std::string_view::npos ? "an " : "a ") + noun;
}

std::string resolve_ref(const std::vector<ComponentDecl>& comps, Kind kind, const ConfigNode& value,
                        const std::string& param, std::vector<std::string>* errors,
                        const SourceLocation& fallback = {}) {
  auto fail = [&](const std::string& msg) -> std::string {
    SourceLocation where = value.where().line > 0 ? value.where() : fallback;
    std::string line = (where.str().empty() ? "" : where.str() + ": ") + msg;
    if (errors) errors->push_back(line);
    else throw ConfigError(line);
    return "";
  };
  std::string text = value.is_scalar() ? value.str() : "";
  if (!text.empty()) {
    std::string id = text[0] == '@' ? text.substr(1) : text;
    std::vector<std::string> ids;
    for (const auto& c : comps) {
      ids.push_back(c.id);
      if (c.id == id) {
        if (c.plugin && c.plugin->descriptor->kind != kind)
          return fail(param + " must name " + article(kind_noun(kind)) + ", but '" + id + "' is " +
                      article(kind_noun(c.plugin->descriptor->kind)));
        return id;
      }
    }
    auto hint = did_you_mean(id, ids);
    return fail(param + " names no component '" + id + "'" + (hint ? " (did you mean '@" + *hint + "'?)" : ""));
  }
  std::vector<std::string> matches;
  for (const auto& c : comps)
    if (c.plugin && c.plugin->descriptor->kind == kind) matches.push_back(c.id);
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) return fail(param + " needs " + article(kind_noun(kind)) + ", and the pipeline has none");
  return fail(std::string("several ") + kind_folder(kind) + " (" + join(matches) + "): name one with " + param +
              ": \"@id\"");
}

// A stage's `metrics` must name metric components, and train's `select` one of those (or
// 'loss'): found here, before any work, rather than when the stage runs.
void check_metric_names(const std::vector<ComponentDecl>& comps, const std::string& stage,
                        std::map<std::string, ConfigNode>& values, std::vector<std::string>& errors) {
  std::vector<std::string> metric_ids;
  for (const auto& c : comps)
    if (c.plugin && c.plugin->descriptor->kind == Kind::kMetric) metric_ids.push_back(c.id);
  auto err = [&](const ConfigNode& at, const std::string& m) {
    errors.push_back((at.where().str().empty() ? "" : at.where().str() + ": ") + "stage '" + stage + "': " + m);
  };
  std::vector<std::string> computed = metric_ids;
  if (values.count("metrics") && !values["metrics"].is_null()) {
    computed.clear();
    for (const auto& id : values["metrics"].as_strings()) {
      if (std::find(metric_ids.begin(), metric_ids.end(), id) != metric_ids.end()) {
        computed.push_back(id);
        continue;
      }
      auto hint = did_you_mean(id, metric_ids);
      err(values["metrics"], "'metrics' names '" + id + "', which is not a metric component" +
                                 (hint ? " (did you mean '" + *hint + "'?)"
                                       : " (metrics: " + (metric_ids.empty() ? std::string("none") : join(metric_ids)) + ")"));
    }
  }
  if (!values.count("select")) return;
  const ConfigNode& select = values["select"];
  const std::string id = select.is_scalar() ? select.str() : "";
  if (id.empty() || id == "loss" || std::find(computed.begin(), computed.end(), id) != computed.end()) return;
  std::vector<std::string> choices = computed;
  choices.push_back("loss");
  auto hint = did_you_mean(id, choices);
  err(select, "'select' names '" + id + "', which is not a computed metric or 'loss'" +
                  (hint ? " (did you mean '" + *hint + "'?)" : " (choose from: " + join(choices) + ")"));
}

Resolved resolve_pipeline(const ConfigNode& root, const Registry& registry, std::vector<std::string>& errors,
                          PathCheck paths = PathCheck::kMustExist) {
  Resolved r;
  auto err = [&](const SourceLocation& w, const std::string& m) {
    errors.push_back((w.str().empty() ? "" : w.str() + ": ") + m);
  };
  for (const auto& [key, value] : root.entries()) {
    if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), key) == kTopLevelKeys.end()) {
      auto hint = did_you_mean(key, kTopLevelKeys);
      err(root.key_where(key), "unknown top-level key '" + key + "'" + (hint ? " (did you mean '" + *hint + "'?)" : ""));
    }
  }
  const ConfigNode* comps = root.find("components");
  if (comps == nullptr || !comps->is_map() || comps->entries().empty()) {
    err(comps ? comps->where() : root.where(), "the pipeline has no components:");
  } else {
    for (const auto& [id, decl] : comps->entries()) {
      ComponentDecl c;
      c.id = id;
      c.where = comps->key_where(id);
      if (!decl.is_map()) {
        err(decl.where(), "component '" + id + "' must be a mapping with a plugin: key");
        r.components.push_back(c);
        continue;
      }
      const ConfigNode* plugin = decl.find("plugin");
      if (plugin == nullptr || !plugin->is_scalar()) {
        err(c.where, "component '" + id + "' has no plugin: key");
        r.components.push_back(c);
        continue;
      }
      c.plugin = registry.find(plugin->str());
      if (c.plugin == nullptr) {
        auto hint = did_you_mean(plugin->str(), registry.names());
        err(plugin->where(), "unknown plugin '" + plugin->str() + "'" +
                                 (hint ? " (did you mean '" + *hint + "'?)"
                                       : " (loaded: " + join(registry.names()) + "; see 'loom plugins')"));
      }
      r.components.push_back(c);
    }
    // Parameters once every component's kind is known, so references can be checked.
    for (auto& c : r.components) {
      if (c.plugin == nullptr) continue;
      const ConfigNode& decl = *comps->find(c.id);
      const auto& d = *c.plugin->descriptor;
      c.values = check_params("component '" + c.id + "' (" + d.name + ")", d.params, decl, {"plugin"}, errors, paths);
      for (const auto& spec : d.params) {
        if (spec.type != ParamType::kComponent || !c.values.count(spec.name)) continue;
        auto kind = kind_from_folder(spec.choices.empty() ? "" : spec.choices[0]);
        if (kind)
          resolve_ref(r.components, *kind, c.values[spec.name], "component '" + c.id + "': '" + spec.name + "'", &errors,
                      c.where);
      }
    }
  }
  const ConfigNode* stages = root.find("stages");
  if (stages == nullptr || !stages->is_sequence() || stages->items().empty()) {
    err(stages ? stages->where() : root.where(), "the pipeline has no stages: (a list such as - train: {epochs: 1})");
    return r;
  }
  std::vector<std::string> stage_names;
  for (const auto& [n, s] : stage_specs()) stage_names.push_back(n);
  for (const auto& item : stages->items()) {
    std::string name;
    ConfigNode body;
    if (item.is_scalar()) {
      name = item.str();
    } else if (item.is_map() && item.entries().size() == 1) {
      name = item.entries()[0].first;
      body = item.entries()[0].second;
    } else {
      err(item.where(), "a stage is written '- name: {options}'");
      continue;
    }
    auto spec = stage_specs().find(name);
    if (spec == stage_specs().end()) {
      auto hint = did_you_mean(name, stage_names);
      err(item.where(), "unknown stage '" + name + "'" +
                            (hint ? " (did you mean '" + *hint + "'?)" : " (stages: " + join(stage_names) + ")"));
      continue;
    }
    auto values = check_params("stage '" + name + "'", spec->second, flatten(body), {}, errors, paths);
    for (const auto& s : spec->second) {
      if (s.type != ParamType::kComponent || !values.count(s.name)) continue;
      resolve_ref(r.components, *kind_from_folder(s.choices[0]), values[s.name], "stage '" + name + "': '" + s.name + "'",
                  &errors, item.where());
    }
    check_metric_names(r.components, name, values, errors);
    r.stages.emplace_back(name, values);
    r.stage_wheres.push_back(item.where());
  }
  return r;
}

}  // namespace

std::vector<std::string> Pipeline::check(const Registry& registry, PathCheck paths) const {
  std::vector<std::string> errors;
  resolve_pipeline(root_, registry, errors, paths);
  return errors;
}

void Pipeline::validate(const Registry& registry, PathCheck paths) const {
  auto errors = check(registry, paths);
  if (!errors.empty()) throw ConfigError(join(errors, "\n"));
}

// ---- running -------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int total = static_cast<int>(s + 0.5);
  char buf[32];
  if (total >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", total / 3600, total / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", total / 60, total % 60);
  return buf;
}

// A live progress line on a terminal; a line per log interval otherwise.
class Progress {
 public:
  Progress(bool quiet, std::int64_t log_interval)
      : quiet_(quiet), tty_(::isatty(STDOUT_FILENO) == 1), interval_(log_interval) {}

  void update(int epoch, std::int64_t batch, std::int64_t total, double lr, double loss,
              double tokens_per_s, double eta_s, bool show_ppl) {
    if (quiet_) return;
    bool last = batch == total;
    if (tty_) {
      if (!last && seconds_since(last_print_) < 0.2) return;
    } else if (batch % interval_ != 0 || last) {
      return;
    }
    last_print_ = Clock::now();
    std::string line = "epoch " + std::to_string(epoch) + " | batch " + std::to_string(batch) + "/" +
                       std::to_string(total) + " | lr " + format("%.4g", lr) + " | loss " +
                       format("%.4f", loss) + (show_ppl ? " | ppl " + format("%.2f", std::exp(loss)) : "") +
                       " | " + format("%.0f", tokens_per_s) + " tok/s | eta " + duration_text(eta_s);
    if (tty_) {
      std::printf("\r\033[K%s", line.c_str());
    } else {
      std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
    dirty_ = tty_;
  }

  // Ends a live line before other output.
  void finish() {
    if (dirty_) std::printf("\r\033[K");
    dirty_ = false;
  }

 private:
  bool quiet_, tty_;
  std::int64_t interval_;
  bool dirty_ = false;
  Clock::time_point last_print_{};
};

struct EvalResult {
  double loss = 0.0;
  std::int64_t count = 0;
  std::int64_t tokens = 0;
  double seconds = 0.0;
  std::vector<std::pair<std::string, double>> metrics;  // id -> value
};

class Run;

class RunContext : public BuildContext {
 public:
  RunContext(Run& run, Params params, std::uint64_t seed, const std::vector<ParamSpec>& specs)
      : BuildContext(std::move(params), seed), run_(run), specs_(specs) {}
  const Vocab& vocab(const std::string& param) const override;
  std::vector<std::string> label_names(const std::string& param) const override;

 protected:
  Component& component_for(const std::string& param) const override;

 private:
  Kind kind_of(const std::string& param) const;
  Run& run_;
  const std::vector<ParamSpec>& specs_;
};

class Run {
 public:
  Run(const Registry& registry, const ConfigNode& root, std::uint64_t seed, std::string name,
      std::filesystem::path dir, const RunOptions& options)
      : registry_(registry), root_(root), seed_(seed), name_(std::move(name)), dir_(std::move(dir)), options_(options) {
    std::vector<std::string> errors;
    resolved_ = resolve_pipeline(root_, registry_, errors, options_.paths);
    if (!errors.empty()) throw ConfigError(join(errors, "\n"));
    for (auto& c : resolved_.components) slots_[c.id].decl = &c;
  }

  void execute() {
    std::error_code ec;
    std::filesystem::create_directories(dir_ / "checkpoints", ec);
    if (ec) throw InputError("cannot create the run folder '" + dir_.string() + "': " + ec.message());
    // A resumed run writes nothing until its checkpoint has been read, compared and restored:
    // a resume that is refused leaves the folder as it was.
    deferring_ = options_.resume;
    // What made this run; a manifest still "running" with no end time belongs to a killed run.
    manifest_ = run_manifest(registry_, {options_.command, threads(), seed_});
    if (options_.resume && std::filesystem::exists(dir_ / "manifest.json")) {
      try {
        const auto path = dir_ / "manifest.json";
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        Json before = Json::parse(text.str(), path.string());
        Json history = Json::array();
        if (const Json* p = before.find("previous"); p && p->is_array()) history = *p;
        Json earlier = before;
        if (earlier.is_object()) earlier["previous"] = Json();
        history.push_back(earlier);
        manifest_["previous"] = history;
      } catch (const InputError&) {
        // An unreadable old manifest is not worth failing the resumed run for.
      }
    }
    write_later([this] { write_manifest(dir_, manifest_); });
    try {
      execute_stages();
    } catch (const Interrupted&) {
      end_manifest("interrupted");
      throw;
    } catch (const std::exception& e) {
      end_manifest(std::string("failed: ") + e.what());
      throw;
    }
    end_manifest("finished");
    // The report is a view of the files just written; failing to draw it does not fail the run.
    try {
      say("report: " + write_report(dir_).string());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: no report: %s\n", e.what());
    }
    say("run folder: " + dir_.string());
  }

  void end_manifest(const std::string& status) {
    if (deferring_) return;  // refused before anything was written: the folder stays as it was
    try {
      finish_manifest(manifest_, status);
      write_manifest(dir_, manifest_);
    } catch (const std::exception&) {
      // never hide the run's own outcome behind a manifest problem
    }
  }

  void execute_stages() {
    ConfigNode named = root_;
    if (named.find("name") == nullptr) named.set("name", ConfigNode::scalar(name_, {}), {});
    config_text_ = named.to_yaml();
    const std::filesystem::path metrics_path = dir_ / "metrics.jsonl";
    summary_ = Json::object();
    summary_["name"] = name_;
    if (options_.resume) {
      start_resume();
      std::error_code ec;
      auto size = std::filesystem::file_size(metrics_path, ec);
      // Lines written after the checkpoint are written again by the resumed run.
      std::uint64_t keep_bytes = static_cast<std::uint64_t>(resume_->section("run").integer("metrics_bytes"));
      if (ec || size < keep_bytes)
        throw InputError(metrics_path.string() + ": shorter than when the checkpoint was saved (" +
                         std::to_string(keep_bytes) + " bytes); it was changed after the run stopped");
      metrics_bytes_ = keep_bytes;
      write_later([this, metrics_path, keep_bytes] {
        std::filesystem::resize_file(metrics_path, keep_bytes);
        metrics_.open(metrics_path, std::ios::app);
        if (!metrics_) throw RuntimeError("cannot write '" + metrics_path.string() + "'");
      });
      const Json& saved = resume_->section("run").value("summary");
      if (saved.is_object()) summary_ = saved;
    } else {
      metrics_.open(metrics_path, std::ios::trunc);
      if (!metrics_) throw RuntimeError("cannot write '" + metrics_path.string() + "'");
    }
    // A resumed run rewrites config.yaml with its first checkpoint, so that the file always
    // describes the run the checkpoints continue (loom resume reads it).
    if (!options_.resume) write_config();
    for (std::size_t i = 0; i < resolved_.stages.size(); ++i) {
      stage_index_ = static_cast<int>(i);
      const auto& [stage, values] = resolved_.stages[i];
      Params params("stage " + stage, stage, stage_specs().at(stage), values);
      if (int sig = pending_interrupt())
        throw Interrupted(sig, "interrupted before stage '" + stage + "'" + resume_hint());
      if (stage == "build_vocab") {
        build_vocab(params);
      } else if (resume_stage_ > stage_index_) {
        say("stage '" + stage + "': done before the checkpoint, skipped");
        continue;
      } else if (stage == "train") {
        try {
          train(params);
        } catch (const Interrupted& e) {
          if (params.get_string("on_interrupt") == "evaluate") evaluate_after_interrupt(i, e);
          throw;
        }
      } else if (stage == "evaluate") {
        evaluate_stage(params);
      } else if (stage == "generate") {
        generate_stage(params);
      } else if (stage == "score") {
        score_stage(params);
      } else if (stage == "predict") {
        predict_stage(params);
      }
      write_summary();
    }
  }

  // on_interrupt: evaluate. The best parameters are in place (train restored them); run the
  // pipeline's evaluate stages after stage `train_index`. The handler has reset itself, so a
  // second signal now ends the process at once.
  void evaluate_after_interrupt(std::size_t train_index, const Interrupted& e) {
    clear_interrupt();
    say(std::string(e.what()) + "; evaluating as on_interrupt: evaluate asks");
    for (std::size_t j = train_index + 1; j < resolved_.stages.size(); ++j) {
      const auto& [stage, values] = resolved_.stages[j];
      if (stage != "evaluate") continue;
      evaluate_stage(Params("stage " + stage, stage, stage_specs().at(stage), values));
      write_summary();
    }
  }

  // Writes now, or, while a resume is still being checked, once it has been (commit_resume).
  void write_later(std::function<void()> write) {
    if (deferring_) deferred_.push_back(std::move(write));
    else write();
  }
  void write_file(const std::filesystem::path& path, std::string bytes) {
    write_later([path, bytes = std::move(bytes)] { write_file_atomically(path, bytes); });
  }
  // The resumed checkpoint has been restored: nothing can refuse the resume any more.
  void commit_resume() {
    deferring_ = false;
    auto writes = std::move(deferred_);
    deferred_.clear();
    for (auto& w : writes) w();
  }

  void write_config() {
    write_file_atomically(dir_ / "config.yaml",
                          "# resolved pipeline (variables substituted, --set overrides applied)" + config_text_ + "\n");
    config_written_ = true;
  }

  std::string resume_hint() const {
    std::error_code ec;
    if (std::filesystem::exists(dir_ / "checkpoints" / "last.ckpt", ec)) return "; continue with: loom resume " + dir_.string();
    return "; no checkpoint was saved yet, so there is nothing to resume: run it again";
  }

  // Reads the last checkpoint and compares its pipeline with this one: keys that cannot
  // change (the model, the data, the vocabulary, the seed) are errors; others are reported
  // with the value that wins.
  void start_resume() {
    const std::filesystem::path path = dir_ / "checkpoints" / "last.ckpt";
    if (!std::filesystem::exists(path))
      throw InputError(path.string() + ": no checkpoint to resume from (the run stopped before its first checkpoint, "
                       "or it ran in another folder: pass the same --out)");
    resume_ = Checkpoint::read(path);
    const StateDict& run = resume_->section("run");
    resume_stage_ = static_cast<int>(run.integer("stage"));
    if (resume_stage_ < 0 || resume_stage_ >= static_cast<int>(resolved_.stages.size()) ||
        resolved_.stages[static_cast<std::size_t>(resume_stage_)].first != "train")
      throw InputError(path.string() + ": the checkpoint was saved in stage " + std::to_string(resume_stage_ + 1) +
                       ", which is not a train stage of this pipeline");
    if (static_cast<std::uint64_t>(run.integer("seed")) != seed_)
      throw ConfigError("seed: " + std::to_string(run.integer("seed")) + " in the checkpoint, " +
                        std::to_string(seed_) + " now: the random streams of a resumed run come from the seed, "
                        "so it cannot change (start a new run instead)");
    std::string old_text = run.text("config");
    if (fingerprint(old_text) == fingerprint(config_text_)) {
      say("resuming from " + path.string() + " (same pipeline)");
      return;
    }
    ConfigNode old_root = parse_yaml(old_text, path.string() + " (its pipeline)");
    std::vector<std::string> notes, errors;
    compare_for_resume(old_root, root_, notes, errors);
    if (!errors.empty())
      throw ConfigError("cannot resume " + dir_.string() + ": the pipeline differs from the checkpoint's where it cannot change:\n  " +
                        join(errors, "\n  "));
    say("resuming from " + path.string() + "; the pipeline differs from the checkpoint's:");
    for (const auto& n : notes) say("  " + n);
  }

  void compare_for_resume(const ConfigNode& old_root, const ConfigNode& new_root, std::vector<std::string>& notes,
                          std::vector<std::string>& errors) {
    FlatConfig before, after;
    std::vector<std::string> old_stages, new_stages;
    flatten_config(old_root, "", before, &old_stages);
    flatten_config(new_root, "", after, &new_stages);
    if (old_stages != new_stages) {
      errors.push_back("stages: [" + join(old_stages) + "] in the checkpoint, [" + join(new_stages) +
                       "] now: a resumed run needs the same stages");
      return;
    }
    std::set<std::string> keys;
    for (const auto& [k, v] : before) keys.insert(k);
    for (const auto& [k, v] : after) keys.insert(k);
    for (const auto& key : keys) {
      auto b = before.find(key), a = after.find(key);
      std::string was = b == before.end() ? "(absent)" : b->second.first;
      std::string now = a == after.end() ? "(absent)" : a->second.first;
      if (was == now || key == "name" || key == "description") continue;
      std::string where = a != after.end() && !a->second.second.str().empty() ? a->second.second.str() + ": " : "";
      std::string change = key + ": " + was + " in the checkpoint, " + now + " now";
      std::optional<Kind> kind;
      if (key.rfind("components.", 0) == 0) {
        std::string id = key.substr(11, key.find('.', 11) == std::string::npos ? std::string::npos : key.find('.', 11) - 11);
        for (const auto& c : resolved_.components)
          if (c.id == id && c.plugin) kind = c.plugin->descriptor->kind;
        if (!kind) kind = Kind::kModel;  // a component removed or added: treat as a change of shape
      }
      if (key == "seed") {
        errors.push_back(where + change + ": the random streams come from the seed");
      } else if (kind && (*kind == Kind::kModel || *kind == Kind::kData || *kind == Kind::kVocab ||
                          *kind == Kind::kTokenizer)) {
        errors.push_back(where + change + ": the checkpoint's " + kind_noun(*kind) +
                         " cannot change on resume (start a new run, or --set " + key + "=" + was + ")");
      } else {
        const bool sets_lr =
            kind && *kind == Kind::kOptimizer && key.size() > 3 && key.compare(key.size() - 3, 3, ".lr") == 0;
        lr_overridden_ = lr_overridden_ || sets_lr;
        notes.push_back(where + change + ": the new value is used" + (sets_lr ? " as the learning rate from here on" : ""));
      }
    }
  }

  Component& get(const std::string& id) {
    auto it = slots_.find(id);
    LOOM_ASSERT(it != slots_.end(), "unknown component " + id);
    Slot& slot = it->second;
    if (slot.object) return *slot.object;
    if (slot.building) throw ConfigError(slot.decl->where, "component '" + id + "' depends on itself");
    slot.building = true;
    const auto& d = *slot.decl->plugin->descriptor;
    RunContext ctx(*this, Params(id, d.name, d.params, slot.decl->values), stream_key(seed_, id), d.params);
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
      say("model '" + id + "' (" + d.name + "): " + with_commas(model->parameters().count()) + " parameters");
    }
    return *slot.object;
  }

  // loom validate: builds every component as a run would, so that the checks each plugin's
  // factory makes run too, and returns their errors (each once). A model gets a stand-in
  // vocabulary of the four special tokens, since the real one needs the data counted.
  // Nothing is trained and nothing is written to a run folder.
  std::vector<std::string> build_for_check() {
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
    return errors;
  }

  static const Vocab& stand_in_vocab() {
    static const Vocab v = [] {
      Vocab out;
      out.set_special(Special::kPad, "<pad>");
      out.set_special(Special::kUnk, "<unk>");
      out.set_special(Special::kBos, "<bos>");
      out.set_special(Special::kEos, "<eos>");
      return out;
    }();
    return v;
  }

  std::string resolve(Kind kind, const Params& params, const std::string& param) const {
    ConfigNode value = params.has(param) ? ConfigNode::scalar(params.get_string(param), params.where(param)) : ConfigNode();
    return resolve_ref(resolved_.components, kind, value, "'" + param + "'", nullptr);
  }

  const Vocab& vocab_of(const std::string& id, const Params& asking, const std::string& param) const {
    auto it = slots_.find(id);
    if (checking_ && (it == slots_.end() || !it->second.vocab)) return stand_in_vocab();
    if (it == slots_.end() || !it->second.vocab)
      asking.fail(param, "needs the vocabulary of '" + id + "', which is not built yet: add '- build_vocab: {}' before this stage");
    return *it->second.vocab;
  }

 private:
  struct Slot {
    const ComponentDecl* decl = nullptr;
    std::unique_ptr<Component> object;
    bool building = false;
    std::optional<Vocab> vocab;
  };

  template <class T>
  T& get_as(Kind kind, const Params& params, const std::string& param) {
    return dynamic_cast<T&>(get(resolve(kind, params, param)));
  }

  void say(const std::string& line) {
    if (options_.quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  static std::string with_commas(std::int64_t n) {
    std::string s = std::to_string(n), out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (i && (s.size() - i) % 3 == 0) out += ',';
      out += s[i];
    }
    return out;
  }

  void build_vocab(const Params& p) {
    std::string data_id = resolve(Kind::kData, p, "data");
    std::string vocab_id = resolve(Kind::kVocab, p, "vocab");
    auto& data = dynamic_cast<DataLoader&>(get(data_id));
    auto& builder = dynamic_cast<VocabBuilder&>(get(vocab_id));
    std::string split = p.get_string("split");
    if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
    auto t0 = Clock::now();
    std::string file = vocab_file_name(vocab_id);
    std::optional<Vocab> vocab;
    std::map<std::string, std::int64_t> split_tokens;  // tokens per split, once counted
    if (resume_ && resume_->has_section("vocab." + vocab_id)) {
      // The checkpoint's vocabulary, not a new count: ids must mean what they meant.
      const std::string text = resume_->section("vocab." + vocab_id).text("text");
      vocab = Vocab::parse(text, resume_->section("vocab." + vocab_id).origin);
      write_file(dir_ / file, text);
      say("vocabulary '" + vocab_id + "': " + with_commas(static_cast<std::int64_t>(vocab->size())) +
          " tokens, from the checkpoint -> " + file);
    } else {
      TokenCounts counts = data.count_tokens(split);
      std::int64_t total = 0;
      for (const auto& [t, c] : counts) total += c;
      split_tokens[split] = total;
      vocab = builder.build(counts);
      vocab->save(dir_ / file);
      say("vocabulary '" + vocab_id + "': " + with_commas(static_cast<std::int64_t>(vocab->size())) + " tokens from " +
          with_commas(total) + " in split '" + split + "' (" + with_commas(static_cast<std::int64_t>(counts.size())) +
          " distinct), " + format("%.1f", seconds_since(t0)) + " s -> " + file);
    }
    data.prepare(*vocab);
    if (auto* labelled = dynamic_cast<const HasLabels*>(&data)) {
      std::string names;
      for (const auto& l : labelled->label_names()) names += l + "\n";
      write_file(dir_ / "labels.txt", names);
      say("labels: " + join(labelled->label_names()) + " -> labels.txt");
    }
    for (const auto& s : data.splits()) {
      std::int64_t unk = data.unknown_tokens(s);
      if (unk == 0) continue;
      if (!split_tokens.count(s))
        for (const auto& [t, c] : data.count_tokens(s)) split_tokens[s] += c;
      const std::int64_t tokens = split_tokens[s];
      say("  split '" + s + "': " + with_commas(unk) + " of " + with_commas(tokens) + " tokens (" +
          format("%.2f", tokens > 0 ? 100.0 * static_cast<double>(unk) / static_cast<double>(tokens) : 0.0) +
          "%) not in the vocabulary, mapped to unk");
    }
    vocab_texts_[vocab_id] = vocab->to_text();
    slots_[vocab_id].vocab = std::move(vocab);
    prepared_.insert(data_id);
  }

  std::string vocab_file_name(const std::string& vocab_id) const {
    int vocabs = 0;
    for (const auto& c : resolved_.components)
      if (c.plugin && c.plugin->descriptor->kind == Kind::kVocab) ++vocabs;
    return vocabs == 1 ? "vocab.txt" : "vocab_" + vocab_id + ".txt";
  }

  std::vector<std::pair<std::string, Metric*>> metrics_for(const Params& p) {
    std::vector<std::string> ids = p.get_strings("metrics");
    if (ids.empty())
      for (const auto& c : resolved_.components)
        if (c.plugin && c.plugin->descriptor->kind == Kind::kMetric) ids.push_back(c.id);
    std::vector<std::pair<std::string, Metric*>> out;
    for (const auto& id : ids) {
      auto it = slots_.find(id);
      if (it == slots_.end() || it->second.decl->plugin->descriptor->kind != Kind::kMetric)
        p.fail("metrics", "'" + id + "' is not a metric component");
      out.emplace_back(id, &dynamic_cast<Metric&>(get(id)));
    }
    return out;
  }

  void require_prepared(const std::string& data_id, const Params& p) {
    if (!prepared_.count(data_id))
      throw ConfigError("stage '" + p.plugin() + "' reads data '" + data_id +
                        "' before any build_vocab stage has numericalised it: add '- build_vocab: {}' first");
  }

  EvalResult evaluate_split(Model& model, DataLoader& data, const std::string& split,
                            std::vector<std::pair<std::string, Metric*>>& metrics) {
    EvalResult r;
    auto t0 = Clock::now();
    if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
    for (auto& [id, m] : metrics) m->reset();
    Graph g(Mode::kEval);
    double loss_sum = 0.0;
    std::int64_t n = data.num_batches(split, Mode::kEval);
    for (std::int64_t i = 0; i < n; ++i) {
      if (int sig = pending_interrupt())
        throw Interrupted(sig, "interrupted while evaluating split '" + split + "'" + resume_hint());
      g.clear();
      Batch b = data.batch(split, Mode::kEval, i);
      ModelOutput out = model.forward(g, b);
      loss_sum += out.loss_sum;
      r.count += out.count;
      r.tokens += b.target_tokens;
      for (auto& [id, m] : metrics) m->update(b, out);
    }
    r.loss = r.count > 0 ? loss_sum / static_cast<double>(r.count) : 0.0;
    for (auto& [id, m] : metrics) r.metrics.emplace_back(id, m->value());
    r.seconds = seconds_since(t0);
    return r;
  }

  static std::string describe(const EvalResult& r) {
    std::string s = "loss " + format("%.4f", r.loss);
    for (const auto& [id, v] : r.metrics) s += " | " + id + " " + format("%.4g", v);
    return s;
  }

  void write_metrics_line(int epoch, const std::string& split, const EvalResult& r, double lr,
                          std::optional<double> grad_norm) {
    Json line = Json::object();
    line["epoch"] = epoch;
    line["split"] = split;
    line["loss"] = r.loss;
    for (const auto& [id, v] : r.metrics) line[id] = v;
    line["lr"] = lr;
    if (grad_norm) line["grad_norm"] = *grad_norm;
    line["tokens"] = r.tokens;
    line["tokens_per_s"] = r.seconds > 0 ? static_cast<double>(r.tokens) / r.seconds : 0.0;
    line["seconds"] = r.seconds;
    std::string text = line.dump() + "\n";
    metrics_ << text;
    metrics_.flush();
    if (!metrics_) throw RuntimeError("cannot write '" + (dir_ / "metrics.jsonl").string() + "'");
    metrics_bytes_ += text.size();
  }

  static Json scores(const EvalResult& r) {
    Json j = Json::object();
    for (const auto& [id, v] : r.metrics) j[id] = v;
    j["loss"] = r.loss;
    return j;
  }

  // Where a train stage stands: the "run" section of its checkpoints.
  struct TrainState {
    int epoch = 1;             // the epoch in progress, or the next to start
    std::int64_t batch = 0;    // the next batch of that epoch; 0: the epoch has not started
    std::optional<double> best;
    int best_epoch = 0, since_best = 0;
    bool stopped = false;      // stopped early: the stage is complete
    double loss_sum = 0.0, norm_sum = 0.0, epoch_seconds = 0.0, train_seconds = 0.0;
    std::int64_t count = 0, tokens = 0;
  };

  struct Trainee {
    Model& model;
    Optimizer& optimizer;
    std::vector<std::pair<std::string, Metric*>>& metrics;
    Stateful* stateful;
  };

  Checkpoint make_checkpoint(const TrainState& st, const Trainee& t) {
    const Tensor& values = t.model.parameters().values();
    for (std::int64_t i = 0; i < values.numel(); ++i)
      if (!std::isfinite(values.data()[i]))
        throw DivergedError("training diverged: a parameter is " + format("%g", values.data()[i]) + " at epoch " +
                            std::to_string(st.epoch) + ", batch " + std::to_string(st.batch) +
                            "; not saved, the last checkpoint stays (try a lower learning rate or gradient clipping)");
    Checkpoint ck;
    StateDict& run = ck.add_section("run");
    run.set("loom_version", LOOM_VERSION_STRING);
    run.set("seed", static_cast<std::int64_t>(seed_));
    run.set("config", config_text_);
    run.set("config_fingerprint", fingerprint(config_text_));
    run.set("stage", stage_index_);
    run.set("epoch", st.epoch);
    run.set("batch", st.batch);
    run.set("stopped", st.stopped);
    run.set("best", st.best ? Json(*st.best) : Json());
    run.set("best_epoch", st.best_epoch);
    run.set("since_best", st.since_best);
    run.set("loss_sum", st.loss_sum);
    run.set("norm_sum", st.norm_sum);
    run.set("count", st.count);
    run.set("tokens", st.tokens);
    run.set("epoch_seconds", st.epoch_seconds);
    run.set("train_seconds", st.train_seconds);
    run.set("lr", t.optimizer.learning_rate());
    run.set("metrics_bytes", static_cast<std::int64_t>(metrics_bytes_));
    run.set("summary", summary_);
    save_parameters(t.model.parameters(), ck.add_section("parameters"));
    t.optimizer.save_state(ck.add_section("optimizer"));
    if (t.stateful) t.stateful->save_state(ck.add_section("model_state"));
    for (const auto& [id, m] : t.metrics) m->save_state(ck.add_section("metric." + id));
    for (const auto& [id, text] : vocab_texts_) ck.add_section("vocab." + id).set("text", text);
    return ck;
  }

  void restore(const Checkpoint& ck, TrainState& st, const Trainee& t) {
    const StateDict& run = ck.section("run");
    st.epoch = static_cast<int>(run.integer("epoch"));
    st.batch = run.integer("batch");
    if (st.epoch < 1 || st.batch < 0) throw InputError(run.origin + ": bad position (epoch " +
                                                       std::to_string(st.epoch) + ", batch " + std::to_string(st.batch) + ")");
    const Json& stopped = run.value("stopped");
    st.stopped = stopped.boolean() && *stopped.boolean();
    if (!run.value("best").is_null()) st.best = run.number("best");
    st.best_epoch = static_cast<int>(run.integer("best_epoch"));
    st.since_best = static_cast<int>(run.integer("since_best"));
    st.loss_sum = run.number("loss_sum");
    st.norm_sum = run.number("norm_sum");
    st.count = run.integer("count");
    st.tokens = run.integer("tokens");
    st.epoch_seconds = run.number("epoch_seconds");
    st.train_seconds = run.number("train_seconds");
    load_parameters(t.model.parameters(), ck.section("parameters"));
    t.optimizer.load_state(ck.section("optimizer"), t.model.parameters());
    if (!lr_overridden_) t.optimizer.set_learning_rate(run.number("lr"));
    if (t.stateful) {
      if (ck.has_section("model_state")) t.stateful->load_state(ck.section("model_state"));
      else t.stateful->reset_state();
    }
    for (const auto& [id, m] : t.metrics) {
      if (ck.has_section("metric." + id)) {
        m->load_state(ck.section("metric." + id));
      } else {
        m->reset();
        if (st.batch > 0) say("  metric '" + id + "' is new: its value for epoch " + std::to_string(st.epoch) +
                              " covers the batches after the checkpoint only");
      }
    }
  }

  void train(const Params& p) {
    std::string data_id = resolve(Kind::kData, p, "data");
    require_prepared(data_id, p);
    auto& data = dynamic_cast<DataLoader&>(get(data_id));
    auto& model = get_as<Model>(Kind::kModel, p, "model");
    auto& optimizer = get_as<Optimizer>(Kind::kOptimizer, p, "optimizer");
    auto metrics = metrics_for(p);
    const std::string split = p.get_string("split");
    const std::string valid = p.get_string("validate_on");
    if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "'");
    if (!valid.empty() && !data.has_split(valid))
      p.fail("validate_on", "the data has no split '" + valid + "' (it has: " + join(data.splits()) + ")");
    std::string select = p.get_string("select");
    if (select.empty()) select = metrics.empty() ? "loss" : metrics[0].first;
    bool higher_better = false;
    if (select != "loss") {
      auto it = std::find_if(metrics.begin(), metrics.end(), [&](auto& m) { return m.first == select; });
      if (it == metrics.end()) p.fail("select", "'" + select + "' is not one of the computed metrics or 'loss'");
      higher_better = it->second->higher_is_better();
    }
    const int epochs = static_cast<int>(p.get_int("epochs"));
    const double anneal = p.get_float("lr_anneal"), decay = p.get_float("lr_decay");
    const int decay_after = static_cast<int>(p.get_int("lr_decay_after"));
    const int patience = static_cast<int>(p.get_int("early_stop.patience"));
    const std::int64_t max_batches = p.get_int("max_batches_per_epoch");
    const std::int64_t every = p.get_int("checkpoint.every");
    const int keep = static_cast<int>(p.get_int("checkpoint.keep"));
    Progress progress(options_.quiet, p.get_int("log_interval"));
    bool perplexity_like = std::any_of(metrics.begin(), metrics.end(), [](auto& m) { return m.first == "ppl"; });
    Parameters& params = model.parameters();
    Trainee trainee{model, optimizer, metrics, dynamic_cast<Stateful*>(&model)};
    const std::filesystem::path ckdir = dir_ / "checkpoints";
    const std::filesystem::path last_path = ckdir / "last.ckpt", best_path = ckdir / "best.ckpt";

    TrainState st;
    if (resume_ && resume_stage_ == stage_index_) {
      restore(*resume_, st, trainee);
      say("resumed at epoch " + std::to_string(st.epoch) + ", batch " + std::to_string(st.batch) + " (lr " +
          format("%.4g", optimizer.learning_rate()) + (st.best ? ", best " + select + " " + format("%.4g", *st.best) : "") + ")");
      resume_.reset();  // the stages after this one start afresh
      resume_stage_ = -1;
      std::int64_t total = data.num_batches(split, Mode::kTrain);
      if (max_batches > 0) total = std::min(total, max_batches);
      if (st.batch > total)
        throw InputError(last_path.string() + ": the checkpoint stands at batch " + std::to_string(st.batch) +
                         " of epoch " + std::to_string(st.epoch) + ", but split '" + split + "' has " +
                         std::to_string(total) + " batches now");
      commit_resume();
    }
    std::string last_saved = st.epoch > 1 || st.batch > 0
                                 ? "epoch " + std::to_string(st.epoch) + ", batch " + std::to_string(st.batch)
                                 : "";
    auto where_diverged = [&](int epoch, std::int64_t i, std::int64_t total) {
      std::string s = " at epoch " + std::to_string(epoch) + ", batch " + std::to_string(i + 1) + "/" + std::to_string(total);
      if (last_saved.empty()) return s + "; no checkpoint was saved yet (try a lower learning rate or gradient clipping)";
      return s + "; the last checkpoint (" + last_saved + ") stays in " + last_path.string() +
             " (try a lower learning rate or gradient clipping, then --resume)";
    };
    auto save = [&](std::initializer_list<std::filesystem::path> paths) {
      std::string bytes = make_checkpoint(st, trainee).serialize();
      for (const auto& path : paths) write_file_atomically(path, bytes);
      if (!config_written_) write_config();
      last_saved = "epoch " + std::to_string(st.epoch) + ", batch " + std::to_string(st.batch);
    };

    Graph g(Mode::kTrain);
    const double seconds_before = st.train_seconds;
    auto train_start = Clock::now();
    while (!st.stopped && st.epoch <= epochs) {
      const int epoch = st.epoch;
      std::int64_t total = data.num_batches(split, Mode::kTrain);
      if (max_batches > 0) total = std::min(total, max_batches);
      if (st.batch > total)
        throw InputError(last_path.string() + ": the checkpoint stands at batch " + std::to_string(st.batch) +
                         " of epoch " + std::to_string(epoch) + ", but split '" + split + "' has " +
                         std::to_string(total) + " batches now");
      if (auto* shuffled = dynamic_cast<EpochAware*>(&data)) shuffled->start_epoch(epoch);
      if (st.batch == 0) {
        if (decay != 1.0 && epoch > decay_after) optimizer.set_learning_rate(optimizer.learning_rate() * decay);
        if (trainee.stateful) trainee.stateful->reset_state();
        for (auto& [id, m] : metrics) m->reset();
        st.loss_sum = st.norm_sum = st.epoch_seconds = 0.0;
        st.count = st.tokens = 0;
      }
      // Otherwise the carried state, the metrics and the sums come from the checkpoint.
      const double epoch_seconds_before = st.epoch_seconds;
      const std::int64_t first_batch = st.batch, tokens_before = st.tokens;
      auto t0 = Clock::now();
      for (std::int64_t i = first_batch; i < total; ++i) {
        Batch b = data.batch(split, Mode::kTrain, i);
        g.clear();
        g.reseed(random_bits(stream_key(seed_, "dropout"), static_cast<std::uint64_t>(epoch) << 32 | static_cast<std::uint64_t>(i)));
        ModelOutput out = model.forward(g, b);
        double batch_loss = out.loss.value().item();
        if (!std::isfinite(batch_loss)) {
          progress.finish();
          throw DivergedError("training diverged: loss is " + format("%g", batch_loss) + where_diverged(epoch, i, total));
        }
        g.backward(out.loss);
        double norm = optimizer.step(params);
        if (!std::isfinite(norm)) {
          progress.finish();
          throw DivergedError("training diverged: the gradient norm is " + format("%g", norm) + where_diverged(epoch, i, total));
        }
        st.norm_sum += norm;
        params.zero_grad();
        st.loss_sum += out.loss_sum;
        st.count += out.count;
        st.tokens += b.target_tokens;
        for (auto& [id, m] : metrics) m->update(b, out);
        st.batch = i + 1;
        double elapsed = seconds_since(t0);
        progress.update(epoch, i + 1, total, optimizer.learning_rate(), st.loss_sum / std::max<std::int64_t>(st.count, 1),
                        static_cast<double>(st.tokens - tokens_before) / std::max(elapsed, 1e-9),
                        elapsed / static_cast<double>(i + 1 - first_batch) * static_cast<double>(total - i - 1),
                        perplexity_like);
        if (int sig = pending_interrupt()) {
          progress.finish();
          st.epoch_seconds = epoch_seconds_before + seconds_since(t0);
          st.train_seconds = seconds_before + seconds_since(train_start);
          save({last_path});
          throw Interrupted(sig, "interrupted at epoch " + std::to_string(epoch) + ", batch " + std::to_string(i + 1) +
                                     "/" + std::to_string(total) + ": saved " + last_path.string() + resume_hint());
        }
        if (every > 0 && st.batch % every == 0 && st.batch < total) {
          st.epoch_seconds = epoch_seconds_before + seconds_since(t0);
          st.train_seconds = seconds_before + seconds_since(train_start);
          save({last_path});
        }
      }
      g.clear();
      progress.finish();
      st.epoch_seconds = epoch_seconds_before + seconds_since(t0);
      st.train_seconds = seconds_before + seconds_since(train_start);
      // Saved before validation, so an interrupt during it loses none of the epoch.
      save({last_path});
      EvalResult tr;
      tr.seconds = st.epoch_seconds;
      tr.count = st.count;
      tr.tokens = st.tokens;
      tr.loss = st.count > 0 ? st.loss_sum / static_cast<double>(st.count) : 0.0;
      for (auto& [id, m] : metrics) tr.metrics.emplace_back(id, m->value());
      double lr_used = optimizer.learning_rate();
      write_metrics_line(epoch, split, tr, lr_used, total > 0 ? std::optional<double>(st.norm_sum / static_cast<double>(total)) : std::nullopt);
      say("epoch " + std::to_string(epoch) + " " + split + ": " + describe(tr) + " | " +
          format("%.0f", static_cast<double>(tr.tokens) / std::max(tr.seconds, 1e-9)) + " tok/s | " +
          format("%.1f", tr.seconds) + " s");
      std::optional<EvalResult> vr;
      if (!valid.empty()) {
        vr = evaluate_split(model, data, valid, metrics);
        write_metrics_line(epoch, valid, *vr, lr_used, std::nullopt);
      }
      // A loss or metric that is not a number any more (an infinite perplexity, say) is a
      // divergence, even when every batch loss was finite: it must never become "best".
      for (const auto& [result, name] : {std::pair<const EvalResult*, std::string>{&tr, split},
                                         std::pair<const EvalResult*, std::string>{vr ? &*vr : nullptr, valid}}) {
        if (result == nullptr) continue;
        std::vector<std::pair<std::string, double>> values = result->metrics;
        values.emplace_back("loss", result->loss);
        for (const auto& [id, v] : values)
          if (!std::isfinite(v))
            throw DivergedError("training diverged: " + id + " on split '" + name + "' is " + format("%g", v) +
                                " after epoch " + std::to_string(epoch) + "; the best checkpoint stays (" +
                                (st.best_epoch > 0 ? "epoch " + std::to_string(st.best_epoch) : std::string("none yet")) +
                                "; try a lower learning rate or gradient clipping)");
      }
      const EvalResult& judged = vr ? *vr : tr;
      double value = judged.loss;
      for (const auto& [id, v] : judged.metrics)
        if (id == select) value = v;
      bool improved = !st.best || (higher_better ? value > *st.best : value < *st.best);
      std::string verdict;
      if (improved) {
        st.best = value;
        st.best_epoch = epoch;
        st.since_best = 0;
        verdict = "best so far, saved";
      } else {
        ++st.since_best;
        verdict = "no improvement on " + format("%.4g", *st.best) + " (epoch " + std::to_string(st.best_epoch) + ")";
        if (anneal > 0) {
          optimizer.set_learning_rate(optimizer.learning_rate() / anneal);
          verdict += ", lr -> " + format("%.4g", optimizer.learning_rate());
        }
      }
      st.stopped = patience > 0 && st.since_best >= patience;
      st.epoch = epoch + 1;
      st.batch = 0;
      st.train_seconds = seconds_before + seconds_since(train_start);
      const std::filesystem::path kept = ckdir / ("epoch-" + std::to_string(epoch) + ".ckpt");
      if (improved && keep > 0) save({best_path, kept, last_path});
      else if (improved) save({best_path, last_path});
      else if (keep > 0) save({kept, last_path});
      else save({last_path});
      if (keep > 0) std::filesystem::remove(ckdir / ("epoch-" + std::to_string(epoch - keep) + ".ckpt"));
      if (vr) say("epoch " + std::to_string(epoch) + " " + valid + ": " + describe(*vr) + " | " + verdict);
      else say("epoch " + std::to_string(epoch) + ": " + verdict);
      if (st.stopped) say("early stop: no improvement for " + std::to_string(patience) + " epochs");
    }
    release_cached_storage();
    if (st.best_epoch > 0) {
      load_parameters(params, Checkpoint::read(best_path).section("parameters"));
      say("restored the best epoch (" + std::to_string(st.best_epoch) + ", " + select + " " + format("%.4g", *st.best) + ")");
    }
    record_directions(metrics);
    Json& t = summary_["train"];
    t["best_epoch"] = st.best_epoch;
    t["select"] = select;
    if (st.best) t["best_" + select] = *st.best;
    t["seconds"] = st.train_seconds;
    t["parameters"] = params.count();
  }

  void evaluate_stage(const Params& p) {
    std::string data_id = resolve(Kind::kData, p, "data");
    require_prepared(data_id, p);
    auto& data = dynamic_cast<DataLoader&>(get(data_id));
    auto& model = get_as<Model>(Kind::kModel, p, "model");
    auto metrics = metrics_for(p);
    std::string split = p.get_string("split");
    if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
    record_directions(metrics);
    EvalResult r = evaluate_split(model, data, split, metrics);
    summary_["evaluate"][split] = scores(r);
    std::string line = "evaluate " + split + ": " + describe(r);
    if (auto* ref = dynamic_cast<const HasReferenceScores*>(&data)) {
      for (const auto& [key, v] : ref->reference_scores()) {
        summary_[key] = v;
        // "optimum_ppl" sits beside the metric "ppl": show how far from it we landed.
        for (const auto& [id, value] : r.metrics)
          if (key == "optimum_" + id)
            line += " (optimum " + format("%.4g", v) + ", " + format("%+.1f", 100.0 * (value / v - 1.0)) + "%)";
      }
    }
    say(line);
  }

  // ---- inference: the generate and score stages, and loom generate / score / evaluate ----
 public:

  // A run folder for inference: parameters from checkpoints/best.ckpt (last.ckpt when no
  // epoch was judged best), vocabularies from that checkpoint (the folder's vocab files must
  // agree with it), class names from labels.txt. Needs no file outside the folder. Returns
  // the checkpoint used.
  std::filesystem::path open_for_inference() {
    std::filesystem::path ckpt = dir_ / "checkpoints" / "best.ckpt";
    if (!std::filesystem::exists(ckpt)) ckpt = dir_ / "checkpoints" / "last.ckpt";
    if (!std::filesystem::exists(ckpt))
      throw InputError((dir_ / "checkpoints").string() + ": no best.ckpt or last.ckpt: the run saved no parameters yet");
    const Checkpoint checkpoint = Checkpoint::read(ckpt);
    for (const auto& c : resolved_.components) {
      if (!c.plugin || c.plugin->descriptor->kind != Kind::kVocab) continue;
      const auto file = dir_ / vocab_file_name(c.id);
      const std::string section = "vocab." + c.id;
      if (!checkpoint.has_section(section)) {  // a checkpoint without its vocabularies: the file alone
        if (!std::filesystem::exists(file))
          throw InputError(file.string() + ": the run folder has no vocabulary '" + c.id + "' (did its build_vocab stage run?)");
        slots_[c.id].vocab = Vocab::load(file);
        continue;
      }
      const std::string text = checkpoint.section(section).text("text");
      if (std::filesystem::exists(file) && read_text_file(file) != text)
        throw InputError(file.string() + ": differs from the vocabulary saved in " + ckpt.string() +
                         " (edited after training?): restore it, or delete it to use the checkpoint's copy");
      slots_[c.id].vocab = Vocab::parse(text, ckpt.string() + " (vocabulary '" + c.id + "')");
    }
    if (std::filesystem::exists(dir_ / "labels.txt")) {
      std::istringstream lines(read_text_file(dir_ / "labels.txt"));
      saved_labels_.emplace();
      for (std::string line; std::getline(lines, line);) saved_labels_->push_back(line);
      if (saved_labels_->size() < 2)
        throw InputError((dir_ / "labels.txt").string() + ": " + std::to_string(saved_labels_->size()) +
                         " label(s); a classifier's run has one line per class, 2 or more");
    }
    Model& model = only_model();
    load_parameters(model.parameters(), checkpoint.section("parameters"));
    return ckpt;
  }

  static std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path.string() + ": cannot read");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  Model& only_model() { return dynamic_cast<Model&>(get(resolve(Kind::kModel, Params(), "model"))); }

  LanguageModel& language_model(Model& model, const std::string& what) {
    auto* lm = dynamic_cast<LanguageModel*>(&model);
    if (lm == nullptr)
      throw ConfigError(what + ": the model is not a language model (its plugin gives no next-token probabilities)");
    return *lm;
  }

  // The token that ends a line: what the tokenizer makes of an empty line when that is one
  // token (the word tokenizer's <eos>), else the vocabulary's eos or bos. Text is generated
  // and scored as if it followed such a token, as every line but the first does in training.
  static std::int32_t line_end(const Tokenizer* tokenizer, const Vocab& vocab) {
    if (tokenizer != nullptr) {
      std::vector<std::string> empty = tokenizer->tokenize("");
      if (empty.size() == 1 && vocab.find(empty[0]) != Vocab::kNone) return vocab.find(empty[0]);
    }
    if (vocab.eos_id() != Vocab::kNone) return vocab.eos_id();
    return vocab.bos_id();
  }

  // Samples `words` tokens, starting after an end of line; writes lines of text.
  void generate_text(Model& model, const Tokenizer* tokenizer, const Vocab& vocab, std::int64_t words,
                     double temperature, std::uint64_t seed, std::ostream& out) {
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
        double top = *std::max_element(row, row + v), total = 0.0;
        for (std::int64_t i = 0; i < v; ++i) total += weights[i] = std::exp((row[i] - top) / temperature);
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

  struct ScoreTotals {
    std::int64_t lines = 0, tokens = 0, unknown = 0;
    double log_prob = 0.0;
  };

  static std::string ppl_text(double log_prob, std::int64_t tokens) {
    return tokens > 0 ? format("%.4f", std::exp(-log_prob / static_cast<double>(tokens))) : "";
  }

  // Per-line log-probability and perplexity of text, the state carried from line to line as
  // in training; a TSV table with a total row.
  ScoreTotals score_text(Model& model, const Tokenizer& tokenizer, const Vocab& vocab, std::istream& in,
                         const std::string& source, std::ostream& out) {
    LanguageModel& lm = language_model(model, "score");
    if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
    Graph g(Mode::kEval);
    ScoreTotals total;
    std::int32_t previous = line_end(&tokenizer, vocab);
    const std::int32_t unk = vocab.unk_id();
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
        for (std::size_t k = begin; k < end; ++k) log_prob += lp.data()[static_cast<std::int64_t>(k - begin) * lp.dim(1) + ids[k]];
        scored += n;
      }
      if (!ids.empty()) previous = ids.back();
      total.tokens += scored;
      total.unknown += unknown;
      total.log_prob += log_prob;
      out << total.lines << "\t" << scored << "\t" << unknown << "\t" << format("%.4f", log_prob) << "\t"
          << ppl_text(log_prob, scored) << "\n";
    }
    if (total.tokens == 0)
      throw InputError(source + ": no text to score (" + std::to_string(total.lines) + " line" +
                       (total.lines == 1 ? "" : "s") + ", no token with a context)");
    out << "total\t" << total.tokens << "\t" << total.unknown << "\t" << format("%.4f", total.log_prob) << "\t"
        << ppl_text(total.log_prob, total.tokens) << "\n";
    return total;
  }

  // A line of text to score or classify: text, not binary data, and UTF-8.
  static void check_text_line(const std::string& line, const std::string& source, std::int64_t line_no) {
    const std::string at = source + ":" + std::to_string(line_no) + ": ";
    if (auto nul = line.find('\0'); nul != std::string::npos)
      throw InputError(at + "binary data (a NUL byte at column " + std::to_string(nul + 1) + "), not text");
    if (auto bad = find_invalid_utf8(line); bad != std::string::npos)
      throw InputError(at + "not UTF-8 (byte " + std::to_string(bad + 1) + " of the line)");
  }

  void generate_stage(const Params& p) {
    Model& model = get_as<Model>(Kind::kModel, p, "model");
    const Tokenizer& tokenizer = get_as<Tokenizer>(Kind::kTokenizer, p, "tokenizer");
    const Vocab& vocab = vocab_of(resolve(Kind::kVocab, p, "vocab"), p, "vocab");
    std::uint64_t seed = p.get_int("seed") > 0 ? static_cast<std::uint64_t>(p.get_int("seed")) : seed_;
    std::ostringstream text;
    generate_text(model, &tokenizer, vocab, p.get_int("words"), p.get_float("temperature"), seed, text);
    write_file_atomically(dir_ / p.get_string("output"), text.str());
    say("generated " + std::to_string(p.get_int("words")) + " tokens -> " + (dir_ / p.get_string("output")).string());
  }

  void score_stage(const Params& p) {
    Model& model = get_as<Model>(Kind::kModel, p, "model");
    const Tokenizer& tokenizer = get_as<Tokenizer>(Kind::kTokenizer, p, "tokenizer");
    const Vocab& vocab = vocab_of(resolve(Kind::kVocab, p, "vocab"), p, "vocab");
    const std::string input = p.get_string("input");
    std::ifstream in(input);
    if (!in) p.fail("input", "cannot open '" + input + "'");
    std::ostringstream table;
    ScoreTotals t = score_text(model, tokenizer, vocab, in, input, table);
    write_file_atomically(dir_ / p.get_string("output"), table.str());
    Json& j = summary_["score"];
    j["input"] = input;
    j["lines"] = t.lines;
    j["tokens"] = t.tokens;
    j["unknown"] = t.unknown;
    if (t.tokens > 0) j["ppl"] = std::exp(-t.log_prob / static_cast<double>(t.tokens));
    say("score " + input + ": " + std::to_string(t.lines) + " lines, " + with_commas(t.tokens) + " tokens (" +
        with_commas(t.unknown) + " unknown), ppl " + ppl_text(t.log_prob, t.tokens) + " -> " +
        (dir_ / p.get_string("output")).string());
  }

  struct PredictTotals {
    std::int64_t lines = 0;
    std::map<std::string, std::int64_t> per_label;
  };

  // The vocabulary a data component was numericalised with: that of its build_vocab stage.
  const Vocab& vocab_of_data(const std::string& data_id) {
    for (const auto& [stage, values] : resolved_.stages) {
      if (stage != "build_vocab") continue;
      Params p("stage build_vocab", stage, stage_specs().at(stage), values);
      if (resolve(Kind::kData, p, "data") == data_id) return vocab_of(resolve(Kind::kVocab, p, "vocab"), p, "vocab");
    }
    throw ConfigError("the run's pipeline has no build_vocab stage for data '" + data_id + "', so its texts have no vocabulary");
  }

  // Label and probability of each line of `in` (`source` names it in messages): the data
  // component batches the texts as it batches its own, the model scores them; one TSV line
  // "label<TAB>probability" per input line, in order.
  PredictTotals predict_texts(Model& model, const std::string& data_id, std::istream& in, const std::string& source,
                              std::ostream& out) {
    auto& data = dynamic_cast<DataLoader&>(get(data_id));
    auto* batcher = dynamic_cast<const BatchesTexts*>(&data);
    auto* labelled = dynamic_cast<const HasLabels*>(&data);
    const std::string& plugin = slots_.at(data_id).decl->plugin->descriptor->name;
    if (batcher == nullptr || labelled == nullptr)
      throw ConfigError("predict: data '" + data_id + "' (" + plugin +
                        ") cannot batch new texts with labels; prediction needs a loader such as text_classification");
    const Vocab& vocab = vocab_of_data(data_id);
    // The run's own class names (labels.txt) when it was opened for inference: the training
    // data need not be read, nor be where it was.
    const std::vector<std::string>& names = saved_labels_ ? *saved_labels_ : labelled->label_names();
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
        out << label << "\t" << format("%.4f", 1.0 / sum) << "\n";
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

  void predict_stage(const Params& p) {
    Model& model = get_as<Model>(Kind::kModel, p, "model");
    const std::string data_id = resolve(Kind::kData, p, "data");
    const std::string input = p.get_string("input");
    std::ifstream in(input);
    if (!in) p.fail("input", "cannot open '" + input + "'");
    std::ostringstream table;
    PredictTotals t = predict_texts(model, data_id, in, input, table);
    write_file_atomically(dir_ / p.get_string("output"), table.str());
    Json& j = summary_["predict"];
    j = Json::object();
    j["input"] = input;
    j["lines"] = t.lines;
    Json& counts = j["labels"];
    counts = Json::object();
    std::string described;
    for (const auto& [label, n] : t.per_label) {
      counts[label] = n;
      described += (described.empty() ? "" : ", ") + label + " " + with_commas(n);
    }
    say("predict " + input + ": " + with_commas(t.lines) + " lines (" + (described.empty() ? "none" : described) + ") -> " +
        (dir_ / p.get_string("output")).string());
  }

  // loom evaluate: numericalise the data as the build_vocab stages did, with the run's
  // vocabularies, and evaluate the model on a split.
  std::string evaluate_for_cli(const std::string& split) {
    std::string data_id = resolve(Kind::kData, Params(), "data");
    auto& data = dynamic_cast<DataLoader&>(get(data_id));
    data.prepare(vocab_of_data(data_id));
    prepared_.insert(data_id);
    if (!data.has_split(split))
      throw ConfigError("--split: the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
    std::vector<std::pair<std::string, Metric*>> metrics;
    for (const auto& c : resolved_.components)
      if (c.plugin && c.plugin->descriptor->kind == Kind::kMetric) metrics.emplace_back(c.id, &dynamic_cast<Metric&>(get(c.id)));
    EvalResult r = evaluate_split(only_model(), data, split, metrics);
    return "evaluate " + split + ": " + describe(r) + " | " + with_commas(r.tokens) + " tokens";
  }

 private:
  // summary.json says which way each metric improves, for sweeps and reports.
  void record_directions(const std::vector<std::pair<std::string, Metric*>>& metrics) {
    Json& h = summary_["higher_is_better"];
    if (!h.is_object()) h = Json::object();
    for (const auto& [id, m] : metrics) h[id] = m->higher_is_better();
  }

  void write_summary() { write_file(dir_ / "summary.json", summary_.dump(2) + "\n"); }

  friend class RunContext;
  const Registry& registry_;
  const ConfigNode& root_;
  std::uint64_t seed_;
  std::string name_;
  std::filesystem::path dir_;
  RunOptions options_;
  Resolved resolved_;
  std::map<std::string, Slot> slots_;
  std::set<std::string> prepared_;
  std::ofstream metrics_;
  std::uint64_t metrics_bytes_ = 0;  // what metrics.jsonl holds, for checkpoints
  Json summary_;
  std::string config_text_;          // the resolved pipeline as YAML, kept in checkpoints
  std::map<std::string, std::string> vocab_texts_;  // vocab id -> its file, kept in checkpoints
  int stage_index_ = 0;
  std::optional<Checkpoint> resume_;  // the checkpoint being resumed from
  int resume_stage_ = -1;             // its stage, or -1
  bool lr_overridden_ = false;        // the resumed pipeline sets a new learning rate
  bool config_written_ = false;
  std::optional<std::vector<std::string>> saved_labels_;  // labels.txt, in a run opened for inference
  bool checking_ = false;  // building for loom validate: stand-in vocabularies
  bool deferring_ = false;                      // a resume not yet checked: writes wait
  std::vector<std::function<void()>> deferred_;  // the writes that wait, in order
  Json manifest_;
};

Kind RunContext::kind_of(const std::string& param) const {
  for (const auto& s : specs_)
    if (s.name == param && s.type == ParamType::kComponent && !s.choices.empty())
      if (auto k = kind_from_folder(s.choices[0])) return *k;
  throw AssertionError("plugin '" + params().plugin() + "' asks for component parameter '" + param +
                       "' that it did not declare as a component");
}

Component& RunContext::component_for(const std::string& param) const {
  return run_.get(run_.resolve(kind_of(param), params(), param));
}

std::vector<std::string> RunContext::label_names(const std::string& param) const {
  if (run_.saved_labels_) return *run_.saved_labels_;
  return BuildContext::label_names(param);
}

const Vocab& RunContext::vocab(const std::string& param) const {
  std::string id = run_.resolve(kind_of(param), params(), param);
  return run_.vocab_of(id, params(), param);
}

}  // namespace

namespace {

// The pipeline of a run folder, built for inference.
struct Inference {
  Pipeline pipeline;
  RunOptions options;
  std::unique_ptr<Run> run;
  std::filesystem::path checkpoint;

  Inference(const Registry& registry, const std::filesystem::path& dir, const std::vector<std::string>& overrides) {
    if (!std::filesystem::exists(dir / "config.yaml"))
      throw InputError(dir.string() + ": not a run folder (it has no config.yaml)");
    pipeline = Pipeline::load(dir / "config.yaml", overrides);
    // The run folder is all inference needs: the training files may have moved.
    pipeline.validate(registry, PathCheck::kUnchecked);
    options.paths = PathCheck::kUnchecked;
    options.quiet = true;
    options.out_dir = dir;
    run = std::make_unique<Run>(registry, pipeline.config(), pipeline.seed(), pipeline.name(), dir, options);
    checkpoint = run->open_for_inference();
  }
};

}  // namespace

std::filesystem::path generate_text(const Registry& registry, const std::filesystem::path& run_dir, std::int64_t words,
                                    double temperature, std::uint64_t seed, std::ostream& out) {
  if (words < 1) throw ConfigError("--words must be at least 1");
  if (!(temperature >= 0)) throw ConfigError("--temperature must be 0 or more");
  Inference inf(registry, run_dir, {});
  Params none;
  const Tokenizer* tokenizer = nullptr;
  try {
    tokenizer = &dynamic_cast<Tokenizer&>(inf.run->get(inf.run->resolve(Kind::kTokenizer, none, "tokenizer")));
  } catch (const ConfigError&) {
    // no tokenizer (or several): tokens are joined with spaces
  }
  const Vocab& vocab = inf.run->vocab_of(inf.run->resolve(Kind::kVocab, none, "vocab"), none, "vocab");
  inf.run->generate_text(inf.run->only_model(), tokenizer, vocab, words, temperature, seed, out);
  return inf.checkpoint;
}

ScoreSummary score_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                        const std::string& source, std::ostream& out) {
  Inference inf(registry, run_dir, {});
  Params none;
  const auto& tokenizer = dynamic_cast<Tokenizer&>(inf.run->get(inf.run->resolve(Kind::kTokenizer, none, "tokenizer")));
  const Vocab& vocab = inf.run->vocab_of(inf.run->resolve(Kind::kVocab, none, "vocab"), none, "vocab");
  auto t = inf.run->score_text(inf.run->only_model(), tokenizer, vocab, in, source, out);
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
  Inference inf(registry, run_dir, {});
  Params none;
  auto t = inf.run->predict_texts(inf.run->only_model(), inf.run->resolve(Kind::kData, none, "data"), in, source, out);
  PredictSummary s;
  s.lines = t.lines;
  s.per_label = t.per_label;
  s.checkpoint = inf.checkpoint;
  return s;
}

std::string evaluate_run(const Registry& registry, const std::filesystem::path& run_dir, const std::string& split,
                         const std::optional<std::filesystem::path>& file) {
  std::vector<std::string> overrides;
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
  Inference inf(registry, run_dir, overrides);
  return inf.run->evaluate_for_cli(split) + (file ? " (" + file->string() + ")" : std::string()) +
         " | parameters from " + inf.checkpoint.string();
}

std::vector<std::string> Pipeline::check_components(const Registry& registry) const {
  RunOptions options;
  options.quiet = true;
  Run run(registry, root_, seed_, name_, {}, options);
  return run.build_for_check();
}

std::filesystem::path Pipeline::run(const Registry& registry, const RunOptions& options) const {
  std::filesystem::path dir = options.out_dir ? *options.out_dir : std::filesystem::path("runs") / name_;
  if (dir.empty()) throw ConfigError("--out: the run folder is an empty name");
  // One process at a time in a run folder; the kernel drops the lock when this one ends.
  FolderLock lock(dir);
  if (!options.resume) {
    const EarlierRun earlier = earlier_run(dir);
    if (earlier.worth_keeping() && !options.overwrite)
      throw ConfigError("run folder '" + dir.string() + "' holds " + earlier.describe() + ": " +
                        (earlier.has_checkpoint ? "continue it with --resume (loom resume " + dir.string() + "), or "
                                                : std::string()) +
                        "replace it with --overwrite");
    if (earlier.exists) {
      if (!options.quiet) std::printf("run folder %s held %s: replaced\n", dir.string().c_str(), earlier.describe().c_str());
      clear_run_files(dir);
    }
  }
  // Temporaries of writes that a killed process, or a full disk, never finished.
  std::size_t stale = remove_stale_temporaries(dir) + remove_stale_temporaries(dir / "checkpoints");
  if (stale > 0 && !options.quiet)
    std::printf("removed %zu unfinished temporary file%s of an earlier process\n", stale, stale == 1 ? "" : "s");
  Run run(registry, root_, seed_, name_, dir, options);
  run.execute();
  return dir;
}

}  // namespace loom
