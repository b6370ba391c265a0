#pragma once
// Configuration values that remember where they came from.
//
// A pipeline file is read with yaml-cpp into a tree of ConfigNodes, each carrying the file,
// line and column of its value, so every error can point at the text the user wrote. Plugins
// never see this tree directly: they get a Params view checked against their ParamSpecs.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loom/errors.hpp"

namespace loom {

class ConfigNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  ConfigNode() = default;
  static ConfigNode scalar(std::string value, SourceLocation where);
  static ConfigNode sequence(SourceLocation where);
  static ConfigNode map(SourceLocation where);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_scalar() const { return kind_ == Kind::kScalar; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_map() const { return kind_ == Kind::kMap; }
  const SourceLocation& where() const { return where_; }
  // "a scalar", "a list", "a mapping", "nothing"
  const char* kind_name() const;

  // Scalars; the typed forms throw ConfigError naming the location and the value.
  const std::string& str() const { return scalar_; }
  std::int64_t as_int() const;
  double as_double() const;
  bool as_bool() const;
  std::vector<std::string> as_strings() const;  // a list of scalars, or one scalar

  // Sequences.
  const std::vector<ConfigNode>& items() const { return items_; }
  void push_back(ConfigNode node) { items_.push_back(std::move(node)); }

  // Maps (insertion order kept).
  using Entry = std::pair<std::string, ConfigNode>;
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& entries() { return entries_; }
  const ConfigNode* find(const std::string& key) const;
  ConfigNode* find(const std::string& key);
  // Where the key itself was written (for "unknown key" errors).
  SourceLocation key_where(const std::string& key) const;
  void set(const std::string& key, ConfigNode value, SourceLocation key_where = {});
  // The single child of a one-entry map (stage lists: "- train: {...}").
  const Entry& only_entry() const;

  // Renders back to YAML (flow style for leaves), for the resolved config in the run folder.
  std::string to_yaml(int indent = 0) const;

 private:
  Kind kind_ = Kind::kNull;
  std::string scalar_;
  std::vector<ConfigNode> items_;
  std::vector<Entry> entries_;
  std::vector<SourceLocation> key_wheres_;
  SourceLocation where_;
};

// What one document may expand to once its aliases are copied out: far above any real
// pipeline, far below what a "billion laughs" document (nested aliases) would take.
inline constexpr std::int64_t kMaxYamlValues = 100000;  // nodes: scalars, lists and mappings
inline constexpr int kMaxYamlDepth = 64;                 // lists and mappings inside each other

// Parses YAML text that holds one document (or none: the result is null); errors name
// `file:line:col`: malformed YAML, duplicate keys, a second document, an alias inside the
// node it refers to, and a document that expands past kMaxYamlValues or kMaxYamlDepth.
ConfigNode parse_yaml(const std::string& text, const std::string& file);
// Reads and parses a file; a missing file is a ConfigError naming it.
ConfigNode load_yaml_file(const std::filesystem::path& path);

// The `vars:` mapping of a pipeline (null: none) as names and values, each value with its own
// ${name} references expanded, so that variables may build on each other
// (train: "${root}/train.txt"). Throws ConfigError at the value: not a mapping, a value that is
// not a plain scalar, an unknown name, or a cycle ("variable cycle: a -> b -> a").
std::map<std::string, std::string> resolve_vars(const ConfigNode& vars);

// Replaces ${name} in every scalar with the value from `vars`, expanding ${...} inside those
// values in turn, so no scalar keeps a "${". An unknown name, an unterminated "${" and a
// cycle among the values are errors at the scalar's location.
void substitute_vars(ConfigNode& node, const std::map<std::string, std::string>& vars);

// The candidate most likely meant by `word`: the only one that has `word` as its first or
// last '_'-separated part (label -> label_column), else the closest by edit distance when
// close enough to be a likely typo.
std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates);

// ---- plugin parameters ---------------------------------------------------------------------

enum class ParamType {
  kInt,
  kFloat,
  kBool,
  kString,
  kStringList,  // a list of strings, or one string
  kPath,        // a path to an input file that must exist (unless PathCheck::kUnchecked)
  kComponent,   // "@id" of another component; empty default = the only one of its kind
};
const char* param_type_name(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type;
  // Default as written in YAML; nullopt = required.
  std::optional<std::string> default_value;
  std::string doc;
  // For kString: the allowed values (empty = any). For kComponent: the component kind.
  std::vector<std::string> choices = {};
  // For kInt and kFloat: the smallest allowed value.
  std::optional<double> min = std::nullopt;
};

// Read-only, typed view of one component's parameters, already checked against its specs:
// every key is known, every value parses, defaults are filled in. Errors a plugin finds
// itself are raised with fail(), which names the value's location.
class Params {
 public:
  Params() = default;
  Params(std::string component_id, std::string plugin, std::vector<ParamSpec> specs,
         std::map<std::string, ConfigNode> values);

  const std::string& component_id() const { return component_id_; }
  const std::string& plugin() const { return plugin_; }
  bool has(const std::string& name) const;  // given in YAML, or has a default
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  std::string get_string(const std::string& name) const;
  std::vector<std::string> get_strings(const std::string& name) const;
  std::filesystem::path get_path(const std::string& name) const;
  SourceLocation where(const std::string& name) const;
  // Throws ConfigError "file:line:col: component 'id' (plugin): name: message" (the name left out
  // when the message starts with it), at the value's location.
  [[noreturn]] void fail(const std::string& name, const std::string& message) const;

 private:
  const ConfigNode& node(const std::string& name) const;
  std::string component_id_;
  std::string plugin_;
  std::vector<ParamSpec> specs_;
  std::map<std::string, ConfigNode> values_;
};

// Whether check_params looks for the files that kPath parameters name. kUnchecked is for
// reopening a trained run (inference) when the files it was trained on have moved.
enum class PathCheck { kMustExist, kUnchecked };

// Checks `given` (a component's mapping, minus "plugin") against `specs`, appending one
// message per problem (unknown key with did-you-mean, wrong type, missing required value,
// value outside choices or range, a missing file unless `paths` is kUnchecked) to `errors`.
// Returns the values with defaults filled in.
std::map<std::string, ConfigNode> check_params(const std::string& what,
                                               const std::vector<ParamSpec>& specs,
                                               const ConfigNode& given,
                                               const std::vector<std::string>& ignored_keys,
                                               std::vector<std::string>& errors,
                                               PathCheck paths = PathCheck::kMustExist);

}  // namespace loom
