#include "run/resolve.hpp"

#include <algorithm>
#include <string_view>

#include "loom/errors.hpp"
#include "loom/strings.hpp"
#include "stages/stage.hpp"

namespace loom {

const std::vector<std::string>& top_level_keys() {
  static const std::vector<std::string> keys = {"name", "description", "seed", "vars", "threads",
                                                "components", "stages", "sweep"};
  return keys;
}

Params ResolvedStage::params() const { return Params("stage " + name, name, stage->params, values); }

std::optional<Kind> kind_from_folder(const std::string& folder) {
  for (Kind k : {Kind::kTokenizer, Kind::kVocab, Kind::kData, Kind::kModel, Kind::kOptimizer,
                 Kind::kMetric})
    if (folder == kind_folder(k)) return k;
  return std::nullopt;
}

ParamSpec component_param(const std::string& name, Kind kind, const std::string& doc) {
  return {name, ParamType::kComponent, "", doc, {kind_folder(kind)}};
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

namespace {

std::string article(const char* noun) {
  return std::string(std::string_view("aeiou").find(noun[0]) != std::string_view::npos ? "an " : "a ") + noun;
}

}  // namespace

std::string resolve_ref(const std::vector<ComponentDecl>& comps, Kind kind, const ConfigNode& value,
                        const std::string& param, std::vector<std::string>* errors, const SourceLocation& fallback) {
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

namespace {

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

}  // namespace

Resolved resolve_pipeline(const ConfigNode& root, const Registry& registry, std::vector<std::string>& errors,
                          PathCheck paths) {
  Resolved r;
  auto err = [&](const SourceLocation& w, const std::string& m) {
    errors.push_back((w.str().empty() ? "" : w.str() + ": ") + m);
  };
  for (const auto& [key, value] : root.entries()) {
    if (std::find(top_level_keys().begin(), top_level_keys().end(), key) == top_level_keys().end()) {
      auto hint = did_you_mean(key, top_level_keys());
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
      const bool model = d.kind == Kind::kModel;
      c.values = check_params("component '" + c.id + "' (" + d.name + ")", d.params, decl,
                              model ? std::vector<std::string>{"plugin", "init_from"} : std::vector<std::string>{"plugin"},
                              errors, paths);
      if (const ConfigNode* init = decl.find("init_from"); model && init != nullptr)
        c.init_from = InitFrom::parse(*init, c.id, errors);
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
  for (const auto& s : stage_table()) stage_names.push_back(s.name);
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
    const Stage* spec = find_stage(name);
    if (spec == nullptr) {
      auto hint = did_you_mean(name, stage_names);
      err(item.where(), "unknown stage '" + name + "'" +
                            (hint ? " (did you mean '" + *hint + "'?)" : " (stages: " + join(stage_names) + ")"));
      continue;
    }
    auto values = check_params("stage '" + name + "'", spec->params, flatten(body), {}, errors, paths);
    for (const auto& s : spec->params) {
      if (s.type != ParamType::kComponent || !values.count(s.name)) continue;
      resolve_ref(r.components, *kind_from_folder(s.choices[0]), values[s.name], "stage '" + name + "': '" + s.name + "'",
                  &errors, item.where());
    }
    check_metric_names(r.components, name, values, errors);
    r.stages.push_back({name, spec, std::move(values), item.where()});
  }
  return r;
}


}  // namespace loom
