// dist::together (loom/dist.hpp): every rank fails with the lowest failing rank's error.
#include <new>
#include <sstream>
#include <string>

#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/interrupt.hpp"

namespace loom::dist {
namespace {

// The message of the error every rank is throwing, or "" (agreement points run on one thread).
std::string g_shared;

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "";
  }
}

// The kinds of error a rank can pass on: each is thrown again, as the same type, elsewhere.
enum Code : char {
  kConfig = 'C',
  kInput = 'I',
  kResource = 'R',
  kDiverged = 'D',
  kRuntime = 'T',
  kInterrupted = 'S',
  kAssertion = 'A',
  kOther = 'O',
};

// "<code><signal>\n<message>"
std::string pack(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const ConfigError& e) {
    return std::string(1, kConfig) + "0\n" + e.what();
  } catch (const InputError& e) {
    return std::string(1, kInput) + "0\n" + e.what();
  } catch (const ResourceError& e) {
    return std::string(1, kResource) + "0\n" + e.what();
  } catch (const DivergedError& e) {
    return std::string(1, kDiverged) + "0\n" + e.what();
  } catch (const RuntimeError& e) {
    return std::string(1, kRuntime) + "0\n" + e.what();
  } catch (const Interrupted& e) {
    return std::string(1, kInterrupted) + std::to_string(e.signal()) + "\n" + e.what();
  } catch (const AssertionError& e) {
    return std::string(1, kAssertion) + "0\n" + e.what();
  } catch (const std::bad_alloc&) {
    return std::string(1, kResource) + "0\nloom: out of memory (a smaller model, batch or text may fit)";
  } catch (const std::exception& e) {
    return std::string(1, kOther) + "0\ninternal error: " + e.what();
  } catch (...) {
    return std::string(1, kOther) + "0\ninternal error: an unknown exception";
  }
}

[[noreturn]] void throw_packed(const std::string& packed, const std::string& prefix) {
  const std::size_t eol = packed.find('\n');
  const char code = packed.empty() ? static_cast<char>(kOther) : packed[0];
  const int signal = eol == std::string::npos ? 0 : std::atoi(packed.substr(1, eol - 1).c_str());
  const std::string message = prefix + (eol == std::string::npos ? packed : packed.substr(eol + 1));
  switch (code) {
    case kConfig: throw ConfigError(message);
    case kInput: throw InputError(message);
    case kResource: throw ResourceError(message);
    case kDiverged: throw DivergedError(message);
    case kRuntime: throw RuntimeError(message);
    case kInterrupted: throw Interrupted(signal, message);
    case kAssertion: throw AssertionError(message);
    default: throw RuntimeError(message);
  }
}

}  // namespace

void together(const std::function<void()>& work) {
  const World& w = world();
  if (w.size <= 1) {
    work();
    return;
  }
  std::exception_ptr failure;
  try {
    work();
  } catch (...) {
    failure = std::current_exception();
    if (!g_shared.empty() && what_of(failure) == g_shared) throw;  // every rank has it already
  }
  const auto first = static_cast<int>(min_over_ranks(failure ? w.rank : w.size));
  if (first >= w.size) {
    g_shared.clear();
    return;
  }
  std::string packed = first == w.rank ? pack(failure) : std::string();
  broadcast(packed, first);
  const std::string host = first < static_cast<int>(w.hosts.size()) ? w.hosts[static_cast<std::size_t>(first)] : "?";
  try {
    throw_packed(packed, first == 0 ? std::string() : "rank " + std::to_string(first) + " (" + host + "): ");
  } catch (const std::exception& e) {
    g_shared = e.what();
    throw;
  }
}

void require_same(const std::string& text, const std::string& what) {
  if (world().size <= 1) return;
  together([] {});  // a rank that failed before meets the others here, not in the broadcast
  std::string first = text;
  broadcast(first, 0);
  together([&] {
    if (first == text) return;
    std::istringstream mine(text), theirs(first);
    std::string a, b;
    for (int line = 1;; ++line) {
      const bool more_a = static_cast<bool>(std::getline(mine, a)), more_b = static_cast<bool>(std::getline(theirs, b));
      if (!more_a && !more_b) break;
      if (more_a && more_b && a == b) continue;
      throw ConfigError(what + " differs from rank 0's at line " + std::to_string(line) + ": " +
                        (more_a ? "'" + a + "'" : std::string("nothing")) + " here, " +
                        (more_b ? "'" + b + "'" : std::string("nothing")) + " on rank 0");
    }
    throw ConfigError(what + " differs from rank 0's");
  });
}

void share_error(const std::string& what) { g_shared = what; }

bool error_is_shared(const std::string& what) { return !g_shared.empty() && what == g_shared; }

}  // namespace loom::dist
