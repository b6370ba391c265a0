#pragma once
// Header-only helpers for testing a plugin through the real loader, outside any pipeline.
//
//   loom::Registry registry;
//   registry.load_library(LOOM_TEST_PLUGIN_FILE);
//   loom::testing::Env env(registry);
//   env.add("tok", "word", "{eos: <eos>}");
//   auto& tok = env.get<loom::Tokenizer>("tok");
//
// Env builds components from YAML parameter text, resolves "@id" references between them and
// serves vocabularies set with set_vocab(). Parameter errors throw ConfigError as in a run.
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "loom/config.hpp"
#include "loom/errors.hpp"
#include "loom/plugin.hpp"
#include "loom/random.hpp"
#include "loom/registry.hpp"

namespace loom::testing {

class Env {
 public:
  explicit Env(const Registry& registry, std::uint64_t seed = 1) : registry_(registry), seed_(seed) {}

  // Declares component `id` made by plugin `plugin` with parameters written as a YAML mapping.
  // Built on first get().
  void add(const std::string& id, const std::string& plugin, const std::string& yaml = "{}") {
    const LoadedPlugin* p = registry_.find(plugin);
    if (p == nullptr) throw ConfigError("test env: no plugin named '" + plugin + "'");
    Slot slot;
    slot.plugin = p;
    slot.config = parse_yaml(yaml, "test:" + id);
    slots_[id] = std::move(slot);
    order_.push_back(id);
  }

  // The vocabulary that a component's kComponent parameter of kind vocab resolves to.
  void set_vocab(const std::string& vocab_id, Vocab vocab) { vocabs_[vocab_id] = std::move(vocab); }

  template <class T>
  T& get(const std::string& id) {
    auto* typed = dynamic_cast<T*>(&component(id));
    if (typed == nullptr) throw std::logic_error("test env: component '" + id + "' has another kind");
    return *typed;
  }

  Component& component(const std::string& id) {
    auto it = slots_.find(id);
    if (it == slots_.end()) throw std::logic_error("test env: no component '" + id + "'");
    Slot& s = it->second;
    if (!s.object) {
      std::vector<std::string> errors;
      const auto& d = *s.plugin->descriptor;
      auto values = check_params("component '" + id + "'", d.params, s.config, {}, errors);
      if (!errors.empty()) {
        std::string all;
        for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
        throw ConfigError(all);
      }
      Context ctx(*this, Params(id, d.name, d.params, std::move(values)), stream_key(seed_, id), d.params);
      s.object = d.factory(ctx);
    }
    return *s.object;
  }

 private:
  struct Slot {
    const LoadedPlugin* plugin = nullptr;
    ConfigNode config;
    std::unique_ptr<Component> object;
  };

  std::string resolve(const std::string& value, const std::string& kind_folder_name) const {
    if (!value.empty()) return value[0] == '@' ? value.substr(1) : value;
    std::string found;
    for (const auto& id : order_) {
      const auto& s = slots_.at(id);
      if (loom::kind_folder(s.plugin->descriptor->kind) == kind_folder_name) {
        if (!found.empty()) throw ConfigError("test env: several " + kind_folder_name + "; name one");
        found = id;
      }
    }
    if (found.empty()) {
      for (const auto& [id, v] : vocabs_)
        if (kind_folder_name == "vocab") return id;
      throw ConfigError("test env: no component of kind " + kind_folder_name);
    }
    return found;
  }

  class Context : public BuildContext {
   public:
    Context(Env& env, Params params, std::uint64_t seed, const std::vector<ParamSpec>& specs)
        : BuildContext(std::move(params), seed), env_(env), specs_(specs) {}
    const Vocab& vocab(const std::string& param) const override {
      std::string id = env_.resolve(params().get_string(param), kind(param));
      auto it = env_.vocabs_.find(id);
      if (it == env_.vocabs_.end()) params().fail(param, "test env: no vocabulary set for '" + id + "'");
      return it->second;
    }

   protected:
    Component& component_for(const std::string& param) const override {
      return env_.component(env_.resolve(params().get_string(param), kind(param)));
    }

   private:
    std::string kind(const std::string& param) const {
      for (const auto& s : specs_)
        if (s.name == param && !s.choices.empty()) return s.choices[0];
      throw std::logic_error("test env: '" + param + "' is not a component parameter");
    }
    Env& env_;
    const std::vector<ParamSpec>& specs_;
  };

  const Registry& registry_;
  std::uint64_t seed_;
  std::map<std::string, Slot> slots_;
  std::vector<std::string> order_;
  std::map<std::string, Vocab> vocabs_;
};

// A registry holding one plugin library (a suite's LOOM_TEST_PLUGIN_FILE), loaded on first use
// and kept until the process exits, after every object its plugin made in a test case.
inline const Registry& registry_of(const std::string& library) {
  static std::map<std::string, std::unique_ptr<Registry>> loaded;
  std::unique_ptr<Registry>& r = loaded[library];
  if (!r) {
    r = std::make_unique<Registry>();
    r->load_library(library);
  }
  return *r;
}

// The vocabulary of the language-model suites: <unk> 0, <eos> 1, then w2 .. w<size-1>.
inline Vocab numbered_vocab(std::int64_t size) {
  Vocab v;
  v.set_special(Special::kUnk, "<unk>");
  v.set_special(Special::kEos, "<eos>");
  for (std::int64_t i = 2; i < size; ++i) v.add("w" + std::to_string(i));
  return v;
}

}  // namespace loom::testing
