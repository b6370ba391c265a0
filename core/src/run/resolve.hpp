#pragma once
// A pipeline resolved against the loaded plugins: every component with its plugin and
// checked parameters, every stage with its entry in the stage table and checked options.
// What `loom validate` checks, and what a run and an opened run folder are built from.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loom/config.hpp"
#include "loom/registry.hpp"
#include "run/init_from.hpp"

namespace loom {

struct Stage;

struct ComponentDecl {
  std::string id;
  const LoadedPlugin* plugin = nullptr;  // nullptr: unknown plugin (already reported)
  SourceLocation where;
  std::map<std::string, ConfigNode> values;
  std::optional<InitFrom> init_from;  // a model's init_from (run/init_from.hpp)
};

struct ResolvedStage {
  std::string name;
  const Stage* stage = nullptr;  // its entry in the stage table
  std::map<std::string, ConfigNode> values;
  SourceLocation where;

  // The checked options as the stage reads them.
  Params params() const;
};

struct Resolved {
  std::vector<ComponentDecl> components;
  std::vector<ResolvedStage> stages;
};

// The top-level keys a pipeline may have.
const std::vector<std::string>& top_level_keys();

// "tokenizers" -> Kind::kTokenizer; nullopt for another word.
std::optional<Kind> kind_from_folder(const std::string& folder);
// A parameter that names a component of `kind` ("@id"; empty: the only one of its kind).
ParamSpec component_param(const std::string& name, Kind kind, const std::string& doc);

// Resolves a component reference ("@id", or "" for the only one of its kind) to an id. With
// `errors`, a problem is appended (at `fallback` when the value has no location) and "" is
// returned; without, it is thrown as a ConfigError.
std::string resolve_ref(const std::vector<ComponentDecl>& comps, Kind kind, const ConfigNode& value,
                        const std::string& param, std::vector<std::string>* errors, const SourceLocation& fallback = {});

// Checks the whole pipeline, appending one line per problem to `errors`.
Resolved resolve_pipeline(const ConfigNode& root, const Registry& registry, std::vector<std::string>& errors,
                          PathCheck paths = PathCheck::kMustExist);

// Nested stage options (early_stop: {patience: 5}) as dotted keys (early_stop.patience).
ConfigNode flatten(const ConfigNode& node);

}  // namespace loom
