#include "run/init_from.hpp"

#include <algorithm>

#include "loom/checkpoint.hpp"
#include "loom/errors.hpp"
#include "loom/strings.hpp"

namespace loom {

namespace {

bool any_glob(const std::vector<std::string>& globs, const std::string& name) {
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return glob_match(g, name); });
}

// "a, b, c and 4 more": long lists stay one readable line.
std::string some(const std::vector<std::string>& names, std::size_t shown = 6) {
  std::vector<std::string> head(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(std::min(shown, names.size())));
  std::string s = join(head);
  if (names.size() > shown) s += " and " + std::to_string(names.size() - shown) + " more";
  return s;
}

}  // namespace

InitFrom InitFrom::parse(const ConfigNode& node, const std::string& component, std::vector<std::string>& errors) {
  InitFrom f;
  f.where = node.where();
  const std::string what = "component '" + component + "': init_from";
  auto err = [&](const SourceLocation& at, const std::string& msg) {
    errors.push_back((at.str().empty() ? "" : at.str() + ": ") + what + msg);
  };
  if (!node.is_map()) {
    err(node.where(), " must be a mapping such as {run: runs/pretrain, checkpoint: best}, got " + std::string(node.kind_name()));
    return f;
  }
  for (const auto& [key, value] : node.entries()) {
    const SourceLocation at = node.key_where(key);
    if (key == "run" && value.is_scalar() && !value.str().empty()) {
      f.run = value.str();
    } else if (key == "checkpoint" && value.is_scalar()) {
      f.checkpoint = value.str();
      if (f.checkpoint != "best" && f.checkpoint != "last")
        err(value.where(), ".checkpoint: '" + f.checkpoint + "' is not best or last");
    } else if ((key == "include" || key == "exclude") && (value.is_scalar() || value.is_sequence())) {
      bool scalars = value.is_scalar() ||
                     std::all_of(value.items().begin(), value.items().end(), [](const ConfigNode& n) { return n.is_scalar(); });
      if (!scalars) err(value.where(), "." + key + ": must be a glob or a list of globs");
      else (key == "include" ? f.include : f.exclude) = value.as_strings();
    } else if (key == "rename" && value.is_map()) {
      for (const auto& [from, to] : value.entries()) {
        if (!to.is_scalar()) err(to.where(), ".rename: '" + from + "' must map to a name prefix, got " + to.kind_name());
        else f.rename.emplace_back(from, to.str());
      }
    } else if (key == "run" || key == "checkpoint" || key == "include" || key == "exclude" || key == "rename") {
      err(value.where(), "." + key + ": unexpected " + std::string(value.kind_name()));
    } else {
      err(at, ": unknown key '" + key + "' (known: run, checkpoint, include, exclude, rename)");
    }
  }
  if (f.run.empty()) err(node.where(), " needs run: the folder of a trained run");
  return f;
}

InitReport apply_init_from(const InitFrom& from, Parameters& params) {
  auto fail = [&](const std::string& msg) -> ConfigError { return ConfigError(from.where, "init_from: " + msg); };
  const std::filesystem::path path = from.checkpoint_path();
  if (!std::filesystem::is_directory(from.run)) throw fail("run folder '" + from.run.string() + "' does not exist");
  if (!std::filesystem::exists(path))
    throw fail("'" + path.string() + "' does not exist (the run has no " + from.checkpoint + " checkpoint" +
               (from.checkpoint == "best" ? "; it may not have validated: try checkpoint: last)" : ")"));
  const Checkpoint ck = Checkpoint::read(path);
  const StateDict& saved = ck.section("parameters");
  InitReport r;
  std::vector<std::string> mismatched;
  std::vector<std::pair<Parameter*, const Tensor*>> loads;
  for (const auto& [name, tensor] : saved.tensors()) {
    std::string target = name;
    for (const auto& [prefix, replacement] : from.rename)
      if (name.compare(0, prefix.size(), prefix) == 0) {
        target = replacement + name.substr(prefix.size());
        break;
      }
    Parameter* p = params.find(target);
    const bool wanted = p != nullptr && (from.include.empty() || any_glob(from.include, target)) &&
                        !any_glob(from.exclude, target);
    if (!wanted) {
      r.unused.push_back(name);
      continue;
    }
    if (tensor.shape() != p->shape) {
      mismatched.push_back(target + " (" + tensor.shape().str() + " in the run, " + p->shape.str() + " in the model)");
      continue;
    }
    loads.emplace_back(p, &tensor);
    if (target != name) r.renamed.emplace_back(name, target);
  }
  if (!mismatched.empty())
    throw fail("shapes differ between '" + path.string() + "' and the model: " + join(mismatched) +
               " (exclude them, or give the model the run's sizes)");
  if (loads.empty()) {
    std::vector<std::string> mine;
    for (const auto& p : params) mine.push_back(p.name);
    throw fail("nothing of '" + path.string() + "' fits the model: the run has " + some(r.unused) +
               "; the model has " + some(mine) + " (rename, include and exclude choose what loads)");
  }
  for (auto& [p, t] : loads) {
    p->value.copy_from(*t);
    r.loaded.push_back(p->name);
  }
  for (const auto& p : params)
    if (std::find(r.loaded.begin(), r.loaded.end(), p.name) == r.loaded.end()) r.initialised.push_back(p.name);
  return r;
}

std::vector<std::string> InitReport::lines(const std::string& component, const InitFrom& from) const {
  std::vector<std::string> out;
  const std::string head = "model '" + component + "': init_from " + from.checkpoint_path().string();
  out.push_back(head + ": loaded " + std::to_string(loaded.size()) + " parameters (" + some(loaded) + ")");
  if (!renamed.empty()) {
    std::vector<std::string> pairs;
    for (const auto& [a, b] : renamed) pairs.push_back(a + " -> " + b);
    out.push_back("  renamed " + std::to_string(renamed.size()) + ": " + some(pairs));
  }
  if (!initialised.empty())
    out.push_back("  left at initialisation " + std::to_string(initialised.size()) + ": " + some(initialised));
  if (!unused.empty()) out.push_back("  not used from the run " + std::to_string(unused.size()) + ": " + some(unused));
  return out;
}

}  // namespace loom
