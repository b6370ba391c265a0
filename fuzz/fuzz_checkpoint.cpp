// Fuzz target: the checkpoint reader. The input is a checkpoint file's bytes, parsed with
// Checkpoint::parse twice: as it is (the checksum refuses almost every mutation), and with its
// CRC-32 recomputed, so mutations reach the header and payload checks behind it.
//
// Properties:
//   - parse throws nothing but InputError;
//   - a checkpoint that parses serializes to bytes that parse to the same bytes again;
//   - loading its "parameters" section into a model of other shapes is an InputError;
//   - every typed read of a value is either a value or an InputError.
#include <boost/crc.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "loom/checkpoint.hpp"
#include "support.hpp"

namespace {

void check(const std::string& bytes, const std::string& what) {
  loom::Checkpoint ck;
  if (!loom::fuzz::user_errors_only("Checkpoint::parse (" + what + ")",
                                    [&] { ck = loom::Checkpoint::parse(bytes, "fuzz.ckpt"); }))
    return;
  std::string again = ck.serialize();
  loom::Checkpoint back;
  try {
    back = loom::Checkpoint::parse(again, "again.ckpt");
  } catch (const std::exception& e) {
    loom::fuzz::fail(what + ": a parsed checkpoint does not parse after serialize: " + e.what());
  }
  LOOM_FUZZ_CHECK(back.serialize() == again, what + ": serialize, parse, serialize changed the bytes");
  for (const auto& entry : ck.sections()) {  // no structured bindings: the lambdas capture them
    const loom::StateDict& section = entry.second;
    for (const auto& member : section.values().members()) {
      const std::string& key = member.first;
      loom::fuzz::user_errors_only("typed read", [&] { section.number(key); });
      loom::fuzz::user_errors_only("typed read", [&] { section.integer(key); });
      loom::fuzz::user_errors_only("typed read", [&] { section.text(key); });
    }
  }
  if (ck.has_section("parameters")) {
    loom::Parameters params;
    params.add("encoder.weight", loom::Shape{3, 2}, loom::Init::zeros());
    params.add("decoder.bias", loom::Shape{3}, loom::Init::zeros());
    params.finalize(1);
    loom::fuzz::user_errors_only("load_parameters", [&] { loom::load_parameters(params, ck.section("parameters")); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  check(bytes, "as given");
  if (bytes.size() >= 4) {
    boost::crc_32_type crc;
    crc.process_bytes(bytes.data(), bytes.size() - 4);
    std::uint32_t sum = crc.checksum();
    std::memcpy(&bytes[bytes.size() - 4], &sum, 4);
    check(bytes, "checksum fixed");
  }
  return 0;
}
