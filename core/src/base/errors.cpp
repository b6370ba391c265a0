#include "loom/errors.hpp"

#include "loom/interrupt.hpp"

namespace loom {

std::string SourceLocation::str() const {
  if (file.empty()) return "";
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

ConfigError::ConfigError(const SourceLocation& where, const std::string& message)
    : std::runtime_error(where.str().empty() ? message : where.str() + ": " + message) {}

// The key functions: each type's vtable and typeinfo are emitted here, in libloom_core.
ConfigError::~ConfigError() = default;
InputError::~InputError() = default;
ResourceError::~ResourceError() = default;
RuntimeError::~RuntimeError() = default;
DivergedError::~DivergedError() = default;
AssertionError::~AssertionError() = default;
Interrupted::~Interrupted() = default;

void assertion_failed(const char* expr, const char* file, int line, const std::string& message) {
  throw AssertionError(std::string("internal error: ") + message + " (" + expr + " at " + file +
                       ":" + std::to_string(line) + ")");
}

}  // namespace loom
