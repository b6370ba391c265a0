#pragma once
// The three tiers of failure. ConfigError, InputError, ResourceError and DivergedError are the
// user's to fix (exit code 2); RuntimeError is an I/O failure (exit code 1); LOOM_ASSERT guards
// our own invariants (exit code 1). Only the host's main maps them to exit codes; library and
// plugin code throws.
//
// Every type here is exported from libloom_core with its destructor defined there (its key
// function), so that its vtable and typeinfo live in the core: a plugin may throw any of them
// and the host catches it by type, whatever the plugin's visibility settings.
#include <stdexcept>
#include <string>

#include "loom/export.hpp"

namespace loom {

// Where a value came from: a file position, or a description such as "--set".
struct LOOM_API SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown

  // "file:line:col", "file", or "" when nothing is known.
  std::string str() const;
};

// A problem in what the user wrote: a pipeline, a --set, a command-line argument.
class LOOM_API ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
  ConfigError(const SourceLocation& where, const std::string& message);
  ~ConfigError() override;
};

// A problem in the data the user gave: a missing file, a malformed vocab, an empty split.
class LOOM_API InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~InputError() override;
};

// What was asked for does not fit this machine: memory for a model or a tensor, disk space
// for a checkpoint. The user's to fix (a smaller model, batch or text; free space): exit 2.
class LOOM_API ResourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~ResourceError() override;
};

// A failure while working that is nobody's input: an I/O error of the system.
class LOOM_API RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~RuntimeError() override;
};

// Training diverged (a NaN or infinite loss or gradient). The user's to fix, like a bad
// configuration (a lower learning rate, clipping): exit code 2. The last good checkpoint stays.
class LOOM_API DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~DivergedError() override;
};

// Our own invariant does not hold: a bug in loom or in a plugin.
class LOOM_API AssertionError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
  ~AssertionError() override;
};

[[noreturn]] LOOM_API void assertion_failed(const char* expr, const char* file, int line,
                                   const std::string& message);

}  // namespace loom

#define LOOM_ASSERT(cond, message)                                             \
  do {                                                                         \
    if (!(cond)) ::loom::assertion_failed(#cond, __FILE__, __LINE__, (message)); \
  } while (false)
