#include "loom/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace loom {

ConfigNode ConfigNode::scalar(std::string value, SourceLocation where) {
  ConfigNode n;
  n.kind_ = Kind::kScalar;
  n.scalar_ = std::move(value);
  n.where_ = std::move(where);
  return n;
}

ConfigNode ConfigNode::sequence(SourceLocation where) {
  ConfigNode n;
  n.kind_ = Kind::kSequence;
  n.where_ = std::move(where);
  return n;
}

ConfigNode ConfigNode::map(SourceLocation where) {
  ConfigNode n;
  n.kind_ = Kind::kMap;
  n.where_ = std::move(where);
  return n;
}

const char* ConfigNode::kind_name() const {
  switch (kind_) {
    case Kind::kScalar: return "a scalar";
    case Kind::kSequence: return "a list";
    case Kind::kMap: return "a mapping";
    default: return "nothing";
  }
}

std::int64_t ConfigNode::as_int() const {
  if (!is_scalar()) throw ConfigError(where_, std::string("expected an integer, got ") + kind_name());
  std::int64_t v = 0;
  const char* b = scalar_.data();
  const char* e = b + scalar_.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e) {
    // Accept integral floats written like 1e3 or 20.0.
    char* end = nullptr;
    double d = std::strtod(scalar_.c_str(), &end);
    if (!scalar_.empty() && end == scalar_.c_str() + scalar_.size() && std::isfinite(d) &&
        d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<std::int64_t>(d);
    throw ConfigError(where_, "expected an integer, got '" + scalar_ + "'");
  }
  return v;
}

double ConfigNode::as_double() const {
  if (!is_scalar()) throw ConfigError(where_, std::string("expected a number, got ") + kind_name());
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(scalar_.c_str(), &end);
  if (scalar_.empty() || end != scalar_.c_str() + scalar_.size() || errno == ERANGE ||
      std::isnan(d))
    throw ConfigError(where_, "expected a number, got '" + scalar_ + "'");
  return d;
}

bool ConfigNode::as_bool() const {
  if (is_scalar()) {
    // ASCII only: ::tolower on a negative char (any UTF-8 byte) is undefined behaviour.
    std::string v = scalar_;
    for (char& c : v)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  }
  throw ConfigError(where_, "expected true or false, got " +
                                (is_scalar() ? "'" + scalar_ + "'" : std::string(kind_name())));
}

std::vector<std::string> ConfigNode::as_strings() const {
  if (is_scalar()) return {scalar_};
  if (is_null()) return {};
  if (!is_sequence()) throw ConfigError(where_, std::string("expected a list of strings, got ") + kind_name());
  std::vector<std::string> out;
  for (const auto& item : items_) {
    if (!item.is_scalar())
      throw ConfigError(item.where_, std::string("expected a string, got ") + item.kind_name());
    out.push_back(item.scalar_);
  }
  return out;
}

const ConfigNode* ConfigNode::find(const std::string& key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

ConfigNode* ConfigNode::find(const std::string& key) {
  for (auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

SourceLocation ConfigNode::key_where(const std::string& key) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].first == key) return i < key_wheres_.size() ? key_wheres_[i] : entries_[i].second.where();
  return where_;
}

void ConfigNode::set(const std::string& key, ConfigNode value, SourceLocation key_where) {
  if (kind_ != Kind::kMap) {
    kind_ = Kind::kMap;
    entries_.clear();
    key_wheres_.clear();
  }
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].first == key) {
      entries_[i].second = std::move(value);
      return;
    }
  if (key_where.file.empty()) key_where = value.where();
  entries_.emplace_back(key, std::move(value));
  key_wheres_.push_back(std::move(key_where));
}

const ConfigNode::Entry& ConfigNode::only_entry() const {
  if (!is_map() || entries_.size() != 1)
    throw ConfigError(where_, "expected a mapping with one key (the stage name)");
  return entries_[0];
}

namespace {

bool is_ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Plain only when YAML surely reads the text back unchanged, as a string: letters, digits,
// UTF-8 and a few punctuation bytes that are never indicators, with a safe first byte (a
// negative number is plain). Everything else is double-quoted: the plain spellings of null,
// line breaks, "key: value" and "? " inside a flow list, leading or trailing spaces, ...
bool needs_quotes(const std::string& s) {
  if (s.empty() || s == "null" || s == "Null" || s == "NULL") return true;
  for (char c : s)
    if (!is_ascii_alnum(c) && static_cast<unsigned char>(c) < 0x80 &&
        std::string_view(" _.-/+=$()<^;~").find(c) == std::string_view::npos)
      return true;
  char first = s.front(), second = s.size() > 1 ? s[1] : '\0';
  bool safe_first = is_ascii_alnum(first) || static_cast<unsigned char>(first) >= 0x80 ||
                    std::string_view("_/$(+=<^;").find(first) != std::string_view::npos ||
                    (first == '.' && second != '.') ||
                    (first == '-' && ((second >= '0' && second <= '9') || second == '.'));
  return !safe_first || s.back() == ' ';
}

// A double-quoted scalar: quote, backslash and control bytes escaped; other bytes, UTF-8 or
// not, are kept as they are.
std::string quoted(const std::string& s) {
  if (!needs_quotes(s)) return s;
  std::string out = "\"";
  for (char c : s) {
    auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\x%02x", byte);
          out += escape;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string ConfigNode::to_yaml(int indent) const {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  std::string out;
  switch (kind_) {
    case Kind::kNull: return "null";
    case Kind::kScalar: return quoted(scalar_);
    case Kind::kSequence: {
      bool leaves = std::all_of(items_.begin(), items_.end(), [](const ConfigNode& n) { return n.is_scalar(); });
      if (leaves) {
        out = "[";
        for (std::size_t i = 0; i < items_.size(); ++i) out += (i ? ", " : "") + items_[i].to_yaml();
        return out + "]";
      }
      for (const auto& item : items_) out += "\n" + pad + "- " + item.to_yaml(indent + 2);
      return out;
    }
    case Kind::kMap: {
      if (entries_.empty()) return "{}";
      // Nested mappings and lists of mappings go on their own lines; leaves stay inline.
      for (const auto& [k, v] : entries_) {
        std::string key = quoted(k);
        std::string child = v.to_yaml(indent + 2);
        bool block = !child.empty() && child[0] == '\n';
        // YAML reads an implicit key only up to 1024 characters; a longer one, as escaping
        // can make it, is written as an explicit "? key" with its ": value" on the next line.
        if (key.size() > 1000) key = "? " + key + "\n" + pad;
        out += "\n" + pad + key + ":" + (block ? child : " " + child);
      }
      return out;
    }
  }
  return out;
}

namespace {

SourceLocation location_of(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

// Reads the event stream before the tree is built, for what the tree no longer shows: where
// each document starts, and an alias met while the node it names is still open (the node
// would contain itself, and copying it out would never end).
class StreamScan : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> document_starts;
  std::optional<YAML::Mark> recursive_alias;

  void OnDocumentStart(const YAML::Mark& mark) override { document_starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!recursive_alias && std::find(open_.begin(), open_.end(), anchor) != open_.end())
      recursive_alias = mark;
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_.push_back(anchor);
  }
  void OnSequenceEnd() override { open_.pop_back(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open_.push_back(anchor);
  }
  void OnMapEnd() override { open_.pop_back(); }

 private:
  std::vector<YAML::anchor_t> open_;  // anchors of the lists and mappings being read
};

// yaml-cpp keeps an alias as a second reference to one node; the ConfigNode tree copies it,
// so the copies are counted against kMaxYamlValues and kMaxYamlDepth.
class Converter {
 public:
  explicit Converter(const std::string& file) : file_(file) {}

  ConfigNode convert(const YAML::Node& node, int depth = 1) {
    SourceLocation where = location_of(node.Mark(), file_);
    if (++values_ > kMaxYamlValues)
      throw ConfigError(where, "the document expands to more than " + std::to_string(kMaxYamlValues) +
                                   " values (an alias repeated too often?)");
    if (depth > kMaxYamlDepth && (node.IsSequence() || node.IsMap()))
      throw ConfigError(where, "the document nests lists and mappings more than " +
                                   std::to_string(kMaxYamlDepth) + " deep");
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        return ConfigNode::scalar(node.Scalar(), where);
      case YAML::NodeType::Sequence: {
        ConfigNode seq = ConfigNode::sequence(where);
        for (const auto& item : node) seq.push_back(convert(item, depth + 1));
        return seq;
      }
      case YAML::NodeType::Map: {
        ConfigNode map = ConfigNode::map(where);
        for (const auto& kv : node) {
          if (!kv.first.IsScalar())
            throw ConfigError(location_of(kv.first.Mark(), file_), "mapping keys must be plain names");
          std::string key = kv.first.Scalar();
          SourceLocation key_where = location_of(kv.first.Mark(), file_);
          if (map.find(key) != nullptr) throw ConfigError(key_where, "duplicate key '" + key + "'");
          map.set(key, convert(kv.second, depth + 1), key_where);
        }
        return map;
      }
      default:  // null or undefined
        return ConfigNode();
    }
  }

 private:
  const std::string& file_;
  std::int64_t values_ = 0;
};

}  // namespace

ConfigNode parse_yaml(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    StreamScan scan;
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(scan)) {
      if (scan.recursive_alias)
        throw ConfigError(location_of(*scan.recursive_alias, file),
                          "alias refers to the node that contains it");
      if (scan.document_starts.size() > 1)
        throw ConfigError(location_of(scan.document_starts[1], file),
                          "a pipeline is one YAML document; a second one starts here");
    }
    if (scan.document_starts.empty()) return ConfigNode();
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(location_of(e.mark, file), "malformed YAML: " + e.msg);
  }
  return Converter(file).convert(root);
}

ConfigNode load_yaml_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read pipeline '" + path.string() + "': no such file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_yaml(buffer.str(), path.string());
}

namespace {

// Expands ${name} references. A variable's value may hold references too: it is expanded in
// turn (once; the result is kept), and a variable met again while it is being expanded closes
// a cycle.
class VarExpander {
 public:
  struct Var {
    std::string text;
    SourceLocation where;  // empty: report at the text that uses the variable
  };

  explicit VarExpander(std::map<std::string, Var> vars) : vars_(std::move(vars)) {}

  // `text` as written at `where`, every reference expanded.
  std::string expand(const std::string& text, const SourceLocation& where) {
    origin_ = where;
    return expand_text(text, where);
  }

  // The expanded value of a variable that exists.
  std::string value(const std::string& name) {
    if (auto it = done_.find(name); it != done_.end()) return it->second;
    auto open = std::find(chain_.begin(), chain_.end(), name);
    if (open != chain_.end()) {
      std::string cycle;
      for (auto it = open; it != chain_.end(); ++it) cycle += *it + " -> ";
      throw ConfigError(where_of(*open), "variable cycle: " + cycle + name);
    }
    chain_.push_back(name);
    std::string out = expand_text(vars_.at(name).text, where_of(name));
    chain_.pop_back();
    return done_[name] = out;
  }

 private:
  SourceLocation where_of(const std::string& name) const {
    const SourceLocation& where = vars_.at(name).where;
    return where.str().empty() ? origin_ : where;
  }

  std::string expand_text(const std::string& s, const SourceLocation& where) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t open = s.find("${", i);
      if (open == std::string::npos) {
        out += s.substr(i);
        break;
      }
      std::size_t close = s.find('}', open);
      if (close == std::string::npos)
        throw ConfigError(where, "unterminated '${' in '" + s + "'");
      out += s.substr(i, open - i);
      std::string name = s.substr(open + 2, close - open - 2);
      if (vars_.count(name) == 0) {
        std::vector<std::string> names;
        for (const auto& [k, v] : vars_) names.push_back(k);
        auto hint = did_you_mean(name, names);
        throw ConfigError(where, "unknown variable '${" + name + "}'" +
                                     (hint ? " (did you mean '" + *hint + "'?)"
                                           : std::string(" (define it under vars:)")));
      }
      out += value(name);
      i = close + 1;
    }
    return out;
  }

  std::map<std::string, Var> vars_;
  std::map<std::string, std::string> done_;
  std::vector<std::string> chain_;  // the variables being expanded, outermost first
  SourceLocation origin_;
};

void substitute_in(ConfigNode& node, VarExpander& expander) {
  if (node.is_scalar()) {
    if (node.str().find("${") == std::string::npos) return;
    node = ConfigNode::scalar(expander.expand(node.str(), node.where()), node.where());
    return;
  }
  if (node.is_sequence()) {
    ConfigNode copy = ConfigNode::sequence(node.where());
    for (auto item : node.items()) {
      substitute_in(item, expander);
      copy.push_back(std::move(item));
    }
    node = std::move(copy);
    return;
  }
  if (node.is_map())
    for (auto& [k, v] : node.entries()) substitute_in(v, expander);
}

}  // namespace

std::map<std::string, std::string> resolve_vars(const ConfigNode& vars) {
  if (vars.is_null()) return {};
  if (!vars.is_map()) throw ConfigError(vars.where(), "vars: expects a mapping of names to values");
  std::map<std::string, VarExpander::Var> raw;
  for (const auto& [k, val] : vars.entries()) {
    if (!val.is_scalar()) throw ConfigError(val.where(), "variable '" + k + "' must be a plain value");
    raw[k] = {val.str(), val.where()};
  }
  VarExpander expander(raw);
  std::map<std::string, std::string> out;
  // In the order written, so that the first cycle in the file is the one reported.
  for (const auto& [k, val] : vars.entries()) out[k] = expander.value(k);
  return out;
}

void substitute_vars(ConfigNode& node, const std::map<std::string, std::string>& vars) {
  std::map<std::string, VarExpander::Var> raw;
  for (const auto& [k, v] : vars) raw[k] = {v, {}};
  VarExpander expander(std::move(raw));
  substitute_in(node, expander);
}

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      // Transposition of neighbours counts as one edit.
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates) {
  // A word that is a whole part of a longer name is more likely that name shortened than a
  // typo of a closer spelling: "label" among labels and label_column means label_column.
  std::optional<std::string> part_of;
  int parts_matched = 0;
  for (const auto& c : candidates) {
    const std::size_t first_end = c.find('_'), last_start = c.rfind('_');
    if (word.empty() || first_end == std::string::npos) continue;
    if (c.compare(0, first_end, word) == 0 || c.compare(last_start + 1, std::string::npos, word) == 0) {
      part_of = c;
      ++parts_matched;
    }
  }
  if (parts_matched == 1) return part_of;

  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

const char* param_type_name(ParamType type) {
  switch (type) {
    case ParamType::kInt: return "int";
    case ParamType::kFloat: return "float";
    case ParamType::kBool: return "bool";
    case ParamType::kString: return "string";
    case ParamType::kStringList: return "strings";
    case ParamType::kPath: return "path";
    case ParamType::kComponent: return "component";
  }
  return "?";
}

Params::Params(std::string component_id, std::string plugin, std::vector<ParamSpec> specs,
               std::map<std::string, ConfigNode> values)
    : component_id_(std::move(component_id)),
      plugin_(std::move(plugin)),
      specs_(std::move(specs)),
      values_(std::move(values)) {}

bool Params::has(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && !it->second.is_null();
}

const ConfigNode& Params::node(const std::string& name) const {
  auto it = values_.find(name);
  LOOM_ASSERT(it != values_.end(), "plugin '" + plugin_ + "' reads parameter '" + name +
                                       "' that it did not declare");
  return it->second;
}

std::int64_t Params::get_int(const std::string& name) const { return node(name).as_int(); }
double Params::get_float(const std::string& name) const { return node(name).as_double(); }
bool Params::get_bool(const std::string& name) const { return node(name).as_bool(); }
std::string Params::get_string(const std::string& name) const {
  const ConfigNode& n = node(name);
  return n.is_null() ? std::string() : n.str();
}
std::vector<std::string> Params::get_strings(const std::string& name) const {
  return node(name).as_strings();
}
std::filesystem::path Params::get_path(const std::string& name) const {
  return std::filesystem::path(get_string(name));
}
SourceLocation Params::where(const std::string& name) const { return node(name).where(); }

void Params::fail(const std::string& name, const std::string& message) const {
  auto it = values_.find(name);
  SourceLocation where = it != values_.end() ? it->second.where() : SourceLocation{};
  // The parameter's name leads the message unless the message starts with it already.
  const bool named = message.compare(0, name.size(), name) == 0;
  throw ConfigError(where, "component '" + component_id_ + "' (" + plugin_ + "): " + (named ? "" : name + ": ") + message);
}

std::map<std::string, ConfigNode> check_params(const std::string& what,
                                               const std::vector<ParamSpec>& specs,
                                               const ConfigNode& given,
                                               const std::vector<std::string>& ignored_keys,
                                               std::vector<std::string>& errors,
                                               PathCheck paths) {
  std::map<std::string, ConfigNode> values;
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  auto error = [&](const SourceLocation& where, const std::string& message) {
    errors.push_back((where.str().empty() ? "" : where.str() + ": ") + what + ": " + message);
  };
  if (!given.is_map() && !given.is_null()) {
    error(given.where(), std::string("expected a mapping of parameters, got ") + given.kind_name());
    return values;
  }
  for (const auto& [key, value] : given.entries()) {
    if (std::find(ignored_keys.begin(), ignored_keys.end(), key) != ignored_keys.end()) continue;
    // The binding is captured through a reference: clang before 16 cannot capture a binding.
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&name = key](const ParamSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      auto hint = did_you_mean(key, names);
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      error(given.key_where(key), "unknown parameter '" + key + "'" +
                                      (hint ? " (did you mean '" + *hint + "'?)"
                                            : " (known: " + (known.empty() ? "none" : known) + ")"));
      continue;
    }
    try {
      switch (spec->type) {
        case ParamType::kInt: {
          auto v = value.as_int();
          if (spec->min && v < *spec->min)
            throw ConfigError(value.where(), "'" + key + "' must be at least " +
                                                 std::to_string(static_cast<long long>(*spec->min)) +
                                                 ", got " + value.str());
          break;
        }
        case ParamType::kFloat: {
          auto v = value.as_double();
          if (spec->min && v < *spec->min) {
            std::ostringstream m;
            m << "'" << key << "' must be at least " << *spec->min << ", got " << value.str();
            throw ConfigError(value.where(), m.str());
          }
          break;
        }
        case ParamType::kBool: value.as_bool(); break;
        case ParamType::kStringList: value.as_strings(); break;
        case ParamType::kString:
        case ParamType::kPath:
        case ParamType::kComponent:
          if (!value.is_scalar() && !value.is_null())
            throw ConfigError(value.where(), "'" + key + "' expects a " + param_type_name(spec->type) +
                                                 ", got " + value.kind_name());
          if (spec->type == ParamType::kString && !spec->choices.empty() &&
              std::find(spec->choices.begin(), spec->choices.end(), value.str()) == spec->choices.end()) {
            std::string options;
            for (const auto& c : spec->choices) options += (options.empty() ? "" : ", ") + c;
            auto hint = did_you_mean(value.str(), spec->choices);
            throw ConfigError(value.where(), "'" + key + "' must be one of " + options + ", got '" +
                                                 value.str() + "'" +
                                                 (hint ? " (did you mean '" + *hint + "'?)" : ""));
          }
          if (spec->type == ParamType::kPath && value.is_scalar() && paths == PathCheck::kMustExist) {
            // Without the error code, a name the system refuses (too long, say) would throw
            // filesystem_error out of the check instead of being reported like a missing file.
            std::error_code ec;
            if (!std::filesystem::exists(value.str(), ec))
              throw ConfigError(value.where(), "'" + key + "': " +
                                                   (ec ? "cannot read '" + value.str() + "': " + ec.message()
                                                       : "no such file '" + value.str() + "'"));
          }
          if (spec->type == ParamType::kComponent && value.is_scalar() &&
              (value.str().empty() || value.str()[0] != '@'))
            throw ConfigError(value.where(), "'" + key + "' names a component as \"@id\", got '" +
                                                 value.str() + "'");
          break;
      }
      values[key] = value;
    } catch (const ConfigError& e) {
      errors.push_back(e.what());
    }
  }
  for (const auto& spec : specs) {
    if (values.count(spec.name)) continue;
    if (given.find(spec.name) != nullptr) continue;  // present but invalid: already reported
    if (spec.default_value) {
      values[spec.name] = spec.default_value->empty() && spec.type != ParamType::kString
                              ? ConfigNode()
                              : ConfigNode::scalar(*spec.default_value, {"default", 0, 0});
    } else {
      error(given.where(), "missing required parameter '" + spec.name + "' (" + spec.doc + ")");
    }
  }
  return values;
}

}  // namespace loom
