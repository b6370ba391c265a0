#pragma once
// The three tiers of failure. ConfigError, InputError and DivergedError are the user's to fix
// (exit code 2); RuntimeError is an I/O failure (exit code 1); LOOM_ASSERT guards our own
// invariants (exit code 1). Only the host's main maps them to exit codes; library and plugin code throws.
#include <stdexcept>
#include <string>

namespace loom {

// Where a value came from: a file position, or a description such as "--set".
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown

  // "file:line:col", "file", or "" when nothing is known.
  std::string str() const;
};

// A problem in what the user wrote: a pipeline, a --set, a command-line argument.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
  ConfigError(const SourceLocation& where, const std::string& message);
};

// A problem in the data the user gave: a missing file, a malformed vocab, an empty split.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure while working: I/O errors, a NaN loss.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Training diverged (a NaN or infinite loss or gradient). The user's to fix, like a bad
// configuration (a lower learning rate, clipping): exit code 2. The last good checkpoint stays.
class DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Our own invariant does not hold: a bug in loom or in a plugin.
class AssertionError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line,
                                   const std::string& message);

}  // namespace loom

#define LOOM_ASSERT(cond, message)                                             \
  do {                                                                         \
    if (!(cond)) ::loom::assertion_failed(#cond, __FILE__, __LINE__, (message)); \
  } while (false)
