#pragma once
// Finds and loads plugin libraries. A library once loaded stays loaded until the process
// exits (an object a plugin made, such as an exception it threw, may outlive the registry).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "loom/plugin.hpp"

namespace loom {

struct LoadedPlugin {
  const PluginDescriptor* descriptor;
  std::filesystem::path file;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Loads every "*.so" in `dir` (in name order). A missing folder is skipped unless
  // `required`; a required path that is a file is loaded as one library. Errors are
  // InputErrors naming the file: not loadable (undefined symbols demangled), no "loom_plugin"
  // entry point, another ABI version, a descriptor without a name, a known kind or a
  // factory, or a name some other library already registered.
  void load_directory(const std::filesystem::path& dir, bool required = false);
  void load_library(const std::filesystem::path& file);

  // nullptr when no plugin has that name.
  const LoadedPlugin* find(const std::string& name) const;
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  std::vector<std::string> names() const;
  // Folders searched so far, in order.
  const std::vector<std::filesystem::path>& searched() const { return searched_; }

 private:
  std::vector<LoadedPlugin> plugins_;
  std::vector<std::filesystem::path> searched_;
};

// The default search order: the build tree's plugin folder (when `executable` lives in the
// build tree), <prefix>/lib/loom/plugins beside an installed executable, then each folder of
// LOOM_PLUGIN_PATH (colon-separated). --plugin-path folders come after these.
std::vector<std::filesystem::path> default_plugin_dirs(const std::filesystem::path& executable);

}  // namespace loom
