// Fuzz target: the pipeline loader. The input is a pipeline file; leading comment lines
// "#set key=value" are also passed as --set overrides (YAML ignores them, so every seed is a
// plain pipeline). The file goes through Pipeline::load (parse_yaml, overrides, ${var}
// substitution) and Pipeline::check against every plugin of the build.
//
// Properties:
//   - load throws nothing but ConfigError/InputError;
//   - check reports problems as lines and never throws;
//   - the loaded tree, rendered with to_yaml() (as the run folder's config.yaml is), parses
//     back to the same tree.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loom/config.hpp"
#include "loom/pipeline.hpp"
#include "support.hpp"

namespace {

using loom::ConfigNode;

std::vector<std::string> overrides_in(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.substr(0, 5) != "#set ") break;
    out.emplace_back(line.substr(5));
    start = end + 1;
  }
  return out;
}

// Same kinds, scalars, keys (in order) and items; locations differ by design. On a difference,
// `diff` says where.
bool same_tree(const ConfigNode& a, const ConfigNode& b, const std::string& at, std::string& diff) {
  if (a.kind() != b.kind()) {
    diff = at + ": " + a.kind_name() + " became " + b.kind_name();
    return false;
  }
  if (a.is_scalar() && a.str() != b.str()) {
    diff = at + ": " + loom::fuzz::printable(a.str()) + " became " + loom::fuzz::printable(b.str());
    return false;
  }
  if (a.is_sequence()) {
    if (a.items().size() != b.items().size()) {
      diff = at + ": " + std::to_string(a.items().size()) + " items became " +
             std::to_string(b.items().size());
      return false;
    }
    for (std::size_t i = 0; i < a.items().size(); ++i)
      if (!same_tree(a.items()[i], b.items()[i], at + "[" + std::to_string(i) + "]", diff))
        return false;
  }
  if (a.is_map()) {
    if (a.entries().size() != b.entries().size()) {
      diff = at + ": " + std::to_string(a.entries().size()) + " keys became " +
             std::to_string(b.entries().size());
      return false;
    }
    for (std::size_t i = 0; i < a.entries().size(); ++i) {
      const auto& [ka, va] = a.entries()[i];
      const auto& [kb, vb] = b.entries()[i];
      if (ka != kb) {
        diff = at + ": key " + loom::fuzz::printable(ka) + " became " + loom::fuzz::printable(kb);
        return false;
      }
      if (!same_tree(va, vb, at + "." + ka, diff)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  loom::fuzz::plugins();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::filesystem::path file = loom::fuzz::write_temp("pipeline.yaml", text);
  std::optional<loom::Pipeline> pipeline;
  if (!loom::fuzz::user_errors_only("Pipeline::load", [&] {
        pipeline.emplace(loom::Pipeline::load(file, overrides_in(text)));
      }))
    return 0;

  try {
    pipeline->check(loom::fuzz::plugins());
  } catch (const std::exception& e) {
    loom::fuzz::fail(std::string("Pipeline::check threw instead of reporting: ") + e.what());
  }

  std::string rendered = pipeline->config().to_yaml();
  ConfigNode again;
  try {
    again = loom::parse_yaml(rendered, "rendered");
  } catch (const std::exception& e) {
    loom::fuzz::fail(std::string("to_yaml() gave YAML that does not parse: ") + e.what() +
                     "\nrendered: " + loom::fuzz::printable(rendered, 2000));
  }
  std::string diff;
  if (!same_tree(pipeline->config(), again, "root", diff))
    loom::fuzz::fail("to_yaml() does not round-trip: " + diff +
                     "\nrendered: " + loom::fuzz::printable(rendered, 2000));
  return 0;
}
