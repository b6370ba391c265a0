#pragma once
// Shared by every fuzz target: a per-process scratch folder for APIs that read a path, the
// build tree's plugins loaded once, and the check that turns a broken property into a crash.
//
// A fuzz target defines LLVMFuzzerTestOneInput (and optionally LLVMFuzzerInitialize). It is
// linked either with libFuzzer (LOOM_FUZZ builds) or with replay_main.cpp, which feeds it the
// committed seeds and regression inputs as a ctest. Not thread-safe: one input at a time.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "loom/errors.hpp"
#include "loom/registry.hpp"

namespace loom::fuzz {

// Writes `bytes` to `name` inside this process's scratch folder and returns its path. The
// folder (under $LOOM_FUZZ_TMPDIR, else /dev/shm when writable, else the system temporary
// folder) is created on first use and removed at exit; the same name is overwritten by the
// next input, so a target keeps no state between inputs.
std::filesystem::path write_temp(const std::string& name, std::string_view bytes);
// The path `name` would have in the scratch folder (for files a target lets loom write).
std::filesystem::path temp_path(const std::string& name);

// Every plugin in the build tree's plugin folder (LOOM_FUZZ_PLUGIN_DIR), loaded on first use
// and kept until exit. Throws InputError when the folder is missing.
const Registry& plugins();

// A property of the code under test does not hold: print what and abort, which libFuzzer
// reports as a crash (and saves the input) and which fails the replay test.
[[noreturn]] void fail(const std::string& what);

// The input as text, with control and non-ASCII bytes escaped, for failure messages.
std::string printable(std::string_view bytes, std::size_t max_bytes = 200);

// Runs `body` and returns true when it finished. ConfigError and InputError are the expected
// answer to bad input (false); anything else escaping (AssertionError, std::out_of_range,
// std::filesystem::filesystem_error, ...) is a bug and fails with `what` and the message.
template <class Body>
bool user_errors_only(const std::string& what, Body&& body) {
  try {
    body();
    return true;
  } catch (const ConfigError&) {
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    fail(what + ": unexpected exception: " + e.what());
  }
  return false;
}

}  // namespace loom::fuzz

#define LOOM_FUZZ_CHECK(cond, what)                                                  \
  do {                                                                               \
    if (!(cond)) ::loom::fuzz::fail(std::string(#cond " does not hold: ") + (what)); \
  } while (false)
