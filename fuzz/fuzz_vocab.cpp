// Fuzz target: the vocabulary file reader. The input is a vocabulary file ("#loom-vocab 1"
// header, then "token<TAB>count" lines), read with Vocab::load from a temporary file.
//
// Properties:
//   - load throws nothing but InputError;
//   - a loaded vocabulary is consistent: ids 0..size-1, find(token(id)) == id, special ids
//     inside it;
//   - save then load gives the same tokens, counts, special ids and lowercase flag.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "loom/vocab.hpp"
#include "support.hpp"

namespace {

constexpr loom::Special kRoles[] = {loom::Special::kPad, loom::Special::kUnk, loom::Special::kBos,
                                    loom::Special::kEos};

void check_consistent(const loom::Vocab& v, const std::string& what) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto id = static_cast<std::int32_t>(i);
    const std::string& token = v.token(id);
    LOOM_FUZZ_CHECK(!token.empty(), what + ": empty token at id " + std::to_string(id));
    LOOM_FUZZ_CHECK(v.find(token) == id, what + ": token " + loom::fuzz::printable(token) +
                                             " at id " + std::to_string(id) + " is found at " +
                                             std::to_string(v.find(token)));
  }
  for (auto role : kRoles) {
    std::int32_t id = v.special(role);
    LOOM_FUZZ_CHECK(
        id == loom::Vocab::kNone || (id >= 0 && static_cast<std::size_t>(id) < v.size()),
        what + ": " + loom::special_name(role) + " id " + std::to_string(id));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::filesystem::path file = loom::fuzz::write_temp("vocab.txt", bytes);
  loom::Vocab v;
  if (!loom::fuzz::user_errors_only("Vocab::load", [&] { v = loom::Vocab::load(file); })) return 0;
  check_consistent(v, "loaded");

  std::filesystem::path saved = loom::fuzz::temp_path("saved.txt");
  loom::Vocab again;
  try {
    v.save(saved);
    again = loom::Vocab::load(saved);
  } catch (const std::exception& e) {
    loom::fuzz::fail(std::string("a loaded vocabulary does not save and load again: ") + e.what());
  }
  check_consistent(again, "reloaded");
  LOOM_FUZZ_CHECK(again.size() == v.size(), "save/load changed the size");
  LOOM_FUZZ_CHECK(again.lowercase() == v.lowercase(), "save/load changed lowercase");
  for (auto role : kRoles)
    LOOM_FUZZ_CHECK(again.special(role) == v.special(role),
                    std::string("save/load changed the ") + loom::special_name(role) + " id");
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto id = static_cast<std::int32_t>(i);
    LOOM_FUZZ_CHECK(again.token(id) == v.token(id),
                    "save/load changed token " + std::to_string(id) + " from " +
                        loom::fuzz::printable(v.token(id)) + " to " +
                        loom::fuzz::printable(again.token(id)));
    LOOM_FUZZ_CHECK(again.count(id) == v.count(id),
                    "save/load changed the count of token " + std::to_string(id));
  }
  return 0;
}
