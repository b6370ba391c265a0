// Checkpoint files: exact round trips, and one InputError (never a crash) for every
// truncation, every flipped byte, foreign files and other format versions.
#define BOOST_TEST_MODULE checkpoint
#include <boost/crc.hpp>
#include <boost/test/unit_test.hpp>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "loom/checkpoint.hpp"
#include "loom/errors.hpp"
#include "loom/safetensors.hpp"
#include "loom/testing/boost_checks.hpp"

namespace {

loom::Checkpoint sample() {
  loom::Checkpoint ck;
  auto& run = ck.add_section("run");
  run.set("epoch", 3);
  run.set("loss_sum", 0.1 + 0.2);  // not representable in decimal with fewer than 17 digits
  run.set("tiny", 4.9406564584124654e-324);
  run.set("big", std::int64_t{1} << 62);
  run.set("text", std::string("line one\n\"quoted\"\ttab \xc3\xa9"));
  run.set("flag", true);
  run.set("best", loom::Json());
  auto& params = ck.add_section("parameters");
  params.set_tensor("scalar", loom::Tensor::from(loom::Shape{}, {1.5f}));
  params.set_tensor("w", loom::Tensor::from(loom::Shape{2, 3}, {1, -2, 3.25f, 1e-30f, -0.0f, 7}));
  loom::Tensor four = loom::Tensor::empty(loom::Shape{2, 1, 2, 2});
  for (int i = 0; i < 8; ++i) four.data()[i] = static_cast<float>(i) / 3.0f;
  params.set_tensor("four", four);
  params.set_tensor("empty", loom::Tensor::empty(loom::Shape{0, 5}));
  ck.add_section("optimizer");  // an empty section survives too
  return ck;
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("loom-test-checkpoint-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_exact) {
  loom::Checkpoint ck = sample();
  std::string bytes = ck.serialize();
  loom::Checkpoint back = loom::Checkpoint::parse(bytes, "mem");
  BOOST_TEST(back.serialize() == bytes);  // byte for byte, so nothing was lost or reordered
  const auto& run = back.section("run");
  BOOST_TEST(run.integer("epoch") == 3);
  BOOST_TEST(run.number("loss_sum") == 0.1 + 0.2);
  BOOST_TEST(run.number("tiny") == 4.9406564584124654e-324);
  BOOST_TEST(run.integer("big") == (std::int64_t{1} << 62));
  BOOST_TEST(run.text("text") == std::string("line one\n\"quoted\"\ttab \xc3\xa9"));
  BOOST_TEST(std::isnan(run.number("best")));
  const auto& w = back.section("parameters").tensor("w");
  BOOST_TEST(w.shape().str() == loom::Shape({2, 3}).str());
  const float expected[] = {1, -2, 3.25f, 1e-30f, -0.0f, 7};
  BOOST_TEST(std::memcmp(w.data(), expected, sizeof expected) == 0);
  BOOST_TEST(back.section("parameters").tensor("four").data()[7] == 7.0f / 3.0f);
  BOOST_TEST(back.section("parameters").tensor("scalar").item() == 1.5f);
  BOOST_TEST(back.section("parameters").tensor("empty").numel() == 0);
  BOOST_TEST(back.has_section("optimizer"));
}

BOOST_AUTO_TEST_CASE(write_and_read_a_file) {
  auto path = temp_file("file.ckpt");
  sample().write(path);
  for (const auto& entry : std::filesystem::directory_iterator(path.parent_path()))  // no temporary left behind
    BOOST_TEST(entry.path().string().rfind(path.string() + ".tmp", 0) != 0, entry.path());
  BOOST_TEST(loom::Checkpoint::read(path).section("run").integer("epoch") == 3);
  std::filesystem::remove(path);
  loom::testing::expect_error<loom::InputError>([&] { loom::Checkpoint::read(path); },
                                                path.string() + ": cannot open checkpoint");
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_input_error) {
  std::string bytes = sample().serialize();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    BOOST_TEST_CONTEXT("first " << n << " bytes") {
      loom::testing::expect_error<loom::InputError>([&] { loom::Checkpoint::parse(bytes.substr(0, n), "cut.ckpt"); },
                                                    "cut.ckpt: ");
    }
  }
}

BOOST_AUTO_TEST_CASE(every_flipped_byte_is_an_input_error) {
  std::string bytes = sample().serialize();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char bit : {0x01, 0x80}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ bit);
      BOOST_TEST_CONTEXT("byte " << i << " ^ " << int(bit)) {
        loom::testing::expect_error<loom::InputError>([&] { loom::Checkpoint::parse(bad, "bad.ckpt"); }, "bad.ckpt: ");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(foreign_and_future_files) {
  loom::testing::expect_error<loom::InputError>([] { loom::Checkpoint::parse("", "x"); }, "not a loom checkpoint");
  loom::testing::expect_error<loom::InputError>(
      [] { loom::Checkpoint::parse("#loom-params\n\x01\x02", "x"); }, "not a loom checkpoint");
  std::string bytes = sample().serialize();
  std::uint32_t v = 7;
  std::memcpy(&bytes[8], &v, 4);
  loom::testing::expect_error<loom::InputError>([&] { loom::Checkpoint::parse(bytes, "x"); },
                                                "format version 7, this loom reads version 1 (written by a newer loom)");
}

// A file whose checksum is right but whose header lies (as a hand-made file could) is still
// refused before any out-of-bounds read.
BOOST_AUTO_TEST_CASE(consistent_checksum_with_a_lying_header) {
  auto forge = [](const std::string& header, const std::string& payload) {
    std::string out = "LOOMCKPT";
    std::uint32_t version = 1;
    std::uint64_t len = header.size();
    out.append(reinterpret_cast<const char*>(&version), 4);
    out.append(reinterpret_cast<const char*>(&len), 8);
    out += header + payload;
    boost::crc_32_type crc;  // the same checksum the writer uses
    crc.process_bytes(out.data(), out.size());
    std::uint32_t c = crc.checksum();
    out.append(reinterpret_cast<const char*>(&c), 4);
    return out;
  };
  const std::string p8(8, '\0');
  struct Case {
    std::string header, payload, message;
  };
  std::vector<Case> cases = {
      {R"({"format": "loom-checkpoint", "sections": {"s": {"values": {}, "tensors": [{"name": "t", "shape": [1000000], "offset": 0}]}}})", p8, "larger than the file"},
      {R"({"format": "loom-checkpoint", "sections": {"s": {"values": {}, "tensors": [{"name": "t", "shape": [2], "offset": 4}]}}})", p8, "outside the payload"},
      {R"({"format": "loom-checkpoint", "sections": {"s": {"values": {}, "tensors": [{"name": "t", "shape": [-2], "offset": 0}]}}})", p8, "bad dimension"},
      {R"({"format": "loom-checkpoint", "sections": {"s": {"values": {}, "tensors": [{"name": "t", "shape": [1,1,1,1,1], "offset": 0}]}}})", p8, "rank 5"},
      {R"({"format": "loom-checkpoint", "sections": {"s": {"values": {}, "tensors": [{"name": "t", "shape": [1], "offset": 0}]}}})", p8, "4 bytes of payload belong to no tensor"},
      {R"({"format": "loom-checkpoint", "sections": {"s": {"values": [], "tensors": []}}})", "", "lacks values or tensors"},
      {R"({"format": "something-else", "sections": {}})", "", "no format 'loom-checkpoint'"},
      {R"({"format": "loom-checkpoint", "sections": {)", "", "corrupt checkpoint header"},
      {R"([1, 2, 3])", "", "no format"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.header) {
      loom::testing::expect_error<loom::InputError>([&] { loom::Checkpoint::parse(forge(c.header, c.payload), "f"); },
                                                    c.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(typed_reads_name_what_is_missing) {
  const loom::Checkpoint back = loom::Checkpoint::parse(sample().serialize(), "ck");
  const auto& run = back.section("run");
  loom::testing::expect_error<loom::InputError>([&] { run.integer("nope"); }, "ck: section 'run': no value 'nope'");
  loom::testing::expect_error<loom::InputError>([&] { run.integer("loss_sum"); }, "value 'loss_sum' is not an integer");
  loom::testing::expect_error<loom::InputError>([&] { run.text("epoch"); }, "value 'epoch' is not a string");
  loom::testing::expect_error<loom::InputError>([&] { run.tensor("w"); }, "no tensor 'w'");
  loom::testing::expect_error<loom::InputError>([&] { back.section("model_state"); }, "ck: no section 'model_state'");
}

BOOST_AUTO_TEST_CASE(parameters_load_by_name_and_shape) {
  loom::Parameters a;
  a.add("encoder.weight", loom::Shape{4, 3}, loom::Init::uniform(1.0f));
  a.add("decoder.bias", loom::Shape{4}, loom::Init::uniform(1.0f));
  a.finalize(11);
  loom::Checkpoint ck;
  loom::save_parameters(a, ck.add_section("parameters"));
  loom::Checkpoint back = loom::Checkpoint::parse(ck.serialize(), "p.ckpt");

  loom::Parameters b;  // declared in another order: loading goes by name
  b.add("decoder.bias", loom::Shape{4}, loom::Init::zeros());
  b.add("encoder.weight", loom::Shape{4, 3}, loom::Init::zeros());
  b.finalize(1);
  loom::load_parameters(b, back.section("parameters"));
  BOOST_TEST(std::memcmp(b.find("encoder.weight")->value.data(), a.find("encoder.weight")->value.data(), 12 * 4) == 0);

  loom::Parameters shape;
  shape.add("encoder.weight", loom::Shape{4, 2}, loom::Init::zeros());
  shape.add("decoder.bias", loom::Shape{4}, loom::Init::zeros());
  shape.finalize(1);
  loom::testing::expect_error<loom::InputError>([&] { loom::load_parameters(shape, back.section("parameters")); },
                                                "p.ckpt: section 'parameters': parameter 'encoder.weight' is [4, 3] in the checkpoint but [4, 2] in the model");
  loom::Parameters extra;
  extra.add("encoder.weight", loom::Shape{4, 3}, loom::Init::zeros());
  extra.add("decoder.bias", loom::Shape{4}, loom::Init::zeros());
  extra.add("decoder.weight", loom::Shape{4, 3}, loom::Init::zeros());
  extra.finalize(1);
  loom::testing::expect_error<loom::InputError>([&] { loom::load_parameters(extra, back.section("parameters")); },
                                                "the model's parameter 'decoder.weight' is not in the checkpoint");
  loom::Parameters fewer;
  fewer.add("encoder.weight", loom::Shape{4, 3}, loom::Init::zeros());
  fewer.finalize(1);
  loom::testing::expect_error<loom::InputError>([&] { loom::load_parameters(fewer, back.section("parameters")); },
                                                "parameter 'decoder.bias' of the checkpoint is not in the model");
}

BOOST_AUTO_TEST_CASE(fingerprint_is_fnv1a) {
  // Reference values of 64-bit FNV-1a.
  BOOST_TEST(loom::fingerprint("") == "cbf29ce484222325");
  BOOST_TEST(loom::fingerprint("a") == "af63dc4c8601ec8c");
  BOOST_TEST(loom::fingerprint("foobar") == "85944171f73967e8");
}

// ---- safetensors (loom export) -------------------------------------------------------------

// Written and read back: names, order, shapes, values and metadata; the layout is the
// format's: an 8-byte little-endian header length, a JSON header, the data 8-byte aligned.
BOOST_AUTO_TEST_CASE(safetensors_round_trip_and_layout) {
  const auto file = temp_file("model.safetensors");
  loom::Tensor w = loom::Tensor::from(loom::Shape{2, 3}, {1, -2, 3.25f, 1e-30f, -0.0f, 7});
  loom::Tensor b = loom::Tensor::from(loom::Shape{3}, {0.5f, 0.25f, -1});
  loom::write_safetensors(file, {{"decoder.weight", w}, {"decoder.bias", b}}, {{"mirrors", "x.Y"}});
  const std::string bytes = [&] {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  BOOST_TEST((8 + n) % 8 == 0);
  BOOST_TEST(bytes.size() == 8 + n + 9 * sizeof(float));
  const std::string header = bytes.substr(8, n);
  BOOST_TEST(header.find("\"decoder.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}") != std::string::npos, header);
  BOOST_TEST(header.find("\"__metadata__\": {\"mirrors\": \"x.Y\"}") != std::string::npos, header);
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, sizeof first);
  BOOST_TEST(first == 1.0f);
  loom::Safetensors back = loom::read_safetensors(file);
  BOOST_REQUIRE(back.tensors.size() == 2u);
  BOOST_TEST(back.tensors[0].name == "decoder.weight");
  BOOST_TEST(back.tensors[1].value.shape().str() == "[3]");
  for (int i = 0; i < 6; ++i) BOOST_TEST(std::memcmp(&back.tensors[0].value.data()[i], &w.data()[i], 4) == 0);
  BOOST_TEST(back.metadata.at("mirrors") == "x.Y");
  std::filesystem::remove(file);
}

BOOST_AUTO_TEST_CASE(malformed_safetensors_are_input_errors) {
  const auto file = temp_file("bad.safetensors");
  auto write = [&](const std::string& header, std::size_t data_bytes, bool fix_length = true) {
    std::string out(8, '\0');
    std::uint64_t n = fix_length ? header.size() : 1000;
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out += header + std::string(data_bytes, '\0');
    std::ofstream(file, std::ios::binary) << out;
  };
  using loom::testing::expect_error;
  write("{}", 0, false);
  expect_error<loom::InputError>([&] { loom::read_safetensors(file); }, {"header length 1000 runs past the end"});
  write("{\"a\": ", 0);
  expect_error<loom::InputError>([&] { loom::read_safetensors(file); }, {"bad.safetensors"});
  write("{\"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4);
  expect_error<loom::InputError>([&] { loom::read_safetensors(file); }, {"tensor 'a'", "dtype F16"});
  write("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 8);
  expect_error<loom::InputError>([&] { loom::read_safetensors(file); }, {"data_offsets outside the 8 bytes"});
  write("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8);
  expect_error<loom::InputError>([&] { loom::read_safetensors(file); }, {"8 bytes of data for shape [3]"});
  std::filesystem::remove(file);
}
