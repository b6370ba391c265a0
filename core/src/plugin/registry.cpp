#include "loom/registry.hpp"

#include <cxxabi.h>

#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include "loom/errors.hpp"

namespace loom {

namespace {

// Every plugin library ever loaded, kept until the process exits. Objects a plugin made (its
// components, an exception it threw, a std::function it returned) point into its code and
// read-only data, and some of them outlive any one registry: an exception on its way to
// main, say. Unloading is what turned such an exception into a crash, so nothing is unloaded.
void keep_loaded(std::shared_ptr<boost::dll::shared_library> lib) {
  static std::mutex mutex;
  static auto* libraries = new std::vector<std::shared_ptr<boost::dll::shared_library>>();  // never freed
  std::lock_guard<std::mutex> lock(mutex);
  libraries->push_back(std::move(lib));
}

// The dynamic loader's message with C++ names demangled: "undefined symbol: _ZN4loom..." reads
// "undefined symbol: loom::Vocab::find(...) const".
std::string demangle_symbols(const std::string& message) {
  std::string out;
  std::size_t i = 0;
  while (i < message.size()) {
    std::size_t start = message.find("_Z", i);
    if (start == std::string::npos) {
      out += message.substr(i);
      break;
    }
    std::size_t end = start;
    while (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '_' ||
                                    message[end] == '.'))
      ++end;
    out += message.substr(i, start - i);
    std::string mangled = message.substr(start, end - start);
    int status = 0;
    char* plain = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
    out += status == 0 && plain != nullptr ? std::string(plain) : mangled;
    std::free(plain);
    i = end;
  }
  if (message.find("undefined symbol") != std::string::npos)
    out += " (built against another loom or compiler? rebuild the plugin against this loom)";
  return out;
}

bool known_kind(Kind kind) {
  switch (kind) {
    case Kind::kTokenizer:
    case Kind::kVocab:
    case Kind::kData:
    case Kind::kModel:
    case Kind::kOptimizer:
    case Kind::kMetric: return true;
  }
  return false;
}

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::load_directory(const std::filesystem::path& dir, bool required) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    if (!required) return;
    if (std::filesystem::is_regular_file(dir, ec)) {
      // --plugin-path may name one library as well as a folder of them.
      load_library(dir);
      return;
    }
    throw InputError("plugin folder '" + dir.string() + "' does not exist");
  }
  std::filesystem::path canonical = std::filesystem::canonical(dir, ec);
  for (const auto& seen : searched_)
    if (std::filesystem::equivalent(seen, canonical, ec)) return;
  searched_.push_back(canonical);
  std::vector<std::filesystem::path> files;
  // The error-code form: a "*.so" symlink that loops is skipped like a dangling one, rather
  // than throwing filesystem_error out of the loader.
  for (const auto& entry : std::filesystem::directory_iterator(canonical, ec))
    if (entry.is_regular_file(ec) && entry.path().extension() == ".so")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_library(f);
}

void Registry::load_library(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(file, ec);
  for (const auto& p : plugins_)
    if (p.file == canonical) return;
  auto lib = std::make_shared<boost::dll::shared_library>();
  try {
    lib->load(canonical, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw InputError("cannot load plugin library '" + file.string() + "': " + demangle_symbols(e.what()));
  }
  keep_loaded(lib);
  if (!lib->has("loom_plugin"))
    throw InputError("'" + file.string() +
                     "' is not a loom plugin: it has no 'loom_plugin' entry point "
                     "(export one with LOOM_PLUGIN)");
  using Entry = const PluginDescriptor*();
  const PluginDescriptor* d = lib->get_alias<Entry>("loom_plugin")();
  if (d == nullptr) throw InputError("'" + file.string() + "': its entry point returned nothing");
  // Only the first member may be read before the version is known to match.
  if (d->abi_version != kAbiVersion)
    throw InputError("'" + file.string() + "' was built for loom ABI version " +
                     std::to_string(d->abi_version) + ", this loom has version " +
                     std::to_string(kAbiVersion) + ": rebuild the plugin against this loom");
  if (!known_kind(d->kind))
    throw InputError("'" + file.string() + "': its descriptor has an unknown kind (" +
                     std::to_string(static_cast<int>(d->kind)) + ")");
  if (d->name.empty()) throw InputError("'" + file.string() + "': its descriptor has an empty name");
  if (!d->factory) throw InputError("'" + file.string() + "': plugin '" + d->name + "' has no factory");
  for (const auto& p : plugins_)
    if (p.descriptor->name == d->name)
      throw InputError("two plugins are named '" + d->name + "': '" + p.file.string() +
                       "' and '" + canonical.string() + "'");
  plugins_.push_back({d, canonical});
}

const LoadedPlugin* Registry::find(const std::string& name) const {
  for (const auto& p : plugins_)
    if (p.descriptor->name == name) return &p;
  return nullptr;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) out.push_back(p.descriptor->name);
  return out;
}

std::vector<std::filesystem::path> default_plugin_dirs(const std::filesystem::path& executable) {
  std::vector<std::filesystem::path> dirs;
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::weakly_canonical(executable, ec);
#ifdef LOOM_BUILD_DIR
  std::filesystem::path build = std::filesystem::weakly_canonical(LOOM_BUILD_DIR, ec);
  auto rel = exe.lexically_relative(build);
  if (!rel.empty() && *rel.begin() != "..") dirs.push_back(LOOM_BUILD_PLUGIN_DIR);
#endif
  dirs.push_back(exe.parent_path().parent_path() / LOOM_INSTALL_LIBDIR / "loom" / "plugins");
  if (const char* env = std::getenv("LOOM_PLUGIN_PATH")) {
    std::string s = env;
    std::size_t start = 0;
    while (start <= s.size()) {
      std::size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.emplace_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  return dirs;
}

}  // namespace loom
