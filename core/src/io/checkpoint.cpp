#include "loom/checkpoint.hpp"

#include <boost/crc.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/files.hpp"

namespace loom {

namespace {

// "LOOMCKPT", the format version (u32), the header length (u64), the JSON header, the
// payload, and the CRC-32 (u32) of everything before it. Integers are little-endian.
constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'C', 'K', 'P', 'T'};
constexpr std::size_t kPrefix = sizeof kMagic + 4 + 8;
constexpr std::uint64_t kMaxHeader = 1ull << 30;

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
T get_at(const std::string& bytes, std::size_t pos) {
  T v;
  std::memcpy(&v, bytes.data() + pos, sizeof v);
  return v;
}

std::uint32_t crc32(const char* data, std::size_t n) {
  boost::crc_32_type crc;
  crc.process_bytes(data, n);
  return crc.checksum();
}

}  // namespace

// ---- StateDict -----------------------------------------------------------------------------

void StateDict::set_tensor(const std::string& name, const Tensor& t) {
  LOOM_ASSERT(t.dtype() == DType::kFloat32, "state tensor '" + name + "' must be float32");
  tensors_[name] = t.clone();
}

const Tensor& StateDict::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw InputError(origin + ": no tensor '" + name + "'");
  return it->second;
}

const Json& StateDict::value(const std::string& key) const {
  const Json* v = values_.find(key);
  if (v == nullptr) throw InputError(origin + ": no value '" + key + "'");
  return *v;
}

double StateDict::number(const std::string& key) const {
  const Json& v = value(key);
  if (!v.is_number() && !v.is_null()) throw InputError(origin + ": value '" + key + "' is not a number");
  return v.number();
}

std::int64_t StateDict::integer(const std::string& key) const {
  const Json& v = value(key);
  if (!v.is_integer()) throw InputError(origin + ": value '" + key + "' is not an integer");
  return v.integer();
}

std::string StateDict::text(const std::string& key) const {
  const Json& v = value(key);
  if (v.string() == nullptr) throw InputError(origin + ": value '" + key + "' is not a string");
  return *v.string();
}

// ---- Checkpoint ----------------------------------------------------------------------------

StateDict& Checkpoint::add_section(const std::string& name) {
  StateDict& s = sections_[name];
  if (s.origin.empty()) s.origin = (source_.empty() ? "checkpoint" : source_) + ": section '" + name + "'";
  return s;
}

const StateDict& Checkpoint::section(const std::string& name) const {
  auto it = sections_.find(name);
  if (it == sections_.end())
    throw InputError((source_.empty() ? "checkpoint" : source_) + ": no section '" + name + "'");
  return it->second;
}

std::string Checkpoint::serialize() const {
  Json header = Json::object();
  header["format"] = "loom-checkpoint";
  Json sections = Json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, dict] : sections_) {
    Json s = Json::object();
    s["values"] = dict.values();
    Json tensors = Json::array();
    for (const auto& [tname, t] : dict.tensors()) {
      Json entry = Json::object();
      entry["name"] = tname;
      Json shape = Json::array();
      for (int i = 0; i < t.rank(); ++i) shape.push_back(t.dim(i));
      entry["shape"] = shape;
      entry["offset"] = static_cast<std::int64_t>(offset);
      offset += static_cast<std::uint64_t>(t.numel()) * sizeof(float);
      tensors.push_back(entry);
    }
    s["tensors"] = tensors;
    sections[name] = s;
  }
  header["sections"] = sections;
  std::string head = header.dump();
  std::string out(kMagic, sizeof kMagic);
  put<std::uint32_t>(out, kFormatVersion);
  put<std::uint64_t>(out, head.size());
  out += head;
  out.reserve(out.size() + offset + 4);
  for (const auto& [name, dict] : sections_)
    for (const auto& [tname, t] : dict.tensors())
      out.append(reinterpret_cast<const char*>(t.data()), static_cast<std::size_t>(t.numel()) * sizeof(float));
  put<std::uint32_t>(out, crc32(out.data(), out.size()));
  return out;
}

void Checkpoint::write(const std::filesystem::path& path) const {
  write_file_atomically(path, serialize());
}

Checkpoint Checkpoint::parse(const std::string& bytes, const std::string& source) {
  auto fail = [&](const std::string& what) -> InputError { return InputError(source + ": " + what); };
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw fail("not a loom checkpoint (it does not start with LOOMCKPT)");
  if (bytes.size() < kPrefix + 4) throw fail("truncated checkpoint (" + std::to_string(bytes.size()) + " bytes)");
  auto version = get_at<std::uint32_t>(bytes, sizeof kMagic);
  if (version != kFormatVersion)
    throw fail("checkpoint format version " + std::to_string(version) + ", this loom reads version " +
               std::to_string(kFormatVersion) + (version > kFormatVersion ? " (written by a newer loom)" : ""));
  auto stored_crc = get_at<std::uint32_t>(bytes, bytes.size() - 4);
  auto header_len = get_at<std::uint64_t>(bytes, sizeof kMagic + 4);
  if (header_len > kMaxHeader || header_len > bytes.size() - kPrefix - 4)
    throw fail("truncated or corrupt checkpoint (header of " + std::to_string(header_len) + " bytes in a file of " +
               std::to_string(bytes.size()) + ")");
  if (crc32(bytes.data(), bytes.size() - 4) != stored_crc)
    throw fail("corrupt checkpoint: the checksum does not match (the file was truncated or changed)");
  Json header;
  try {
    header = Json::parse(bytes.substr(kPrefix, header_len), source);
  } catch (const InputError& e) {
    throw fail(std::string("corrupt checkpoint header: ") + e.what());
  }
  const std::size_t payload_begin = kPrefix + header_len;
  const std::size_t payload_size = bytes.size() - 4 - payload_begin;
  const Json* format = header.is_object() ? header.find("format") : nullptr;
  if (format == nullptr || format->string() == nullptr || *format->string() != "loom-checkpoint")
    throw fail("corrupt checkpoint header: no format 'loom-checkpoint'");
  const Json* sections = header.find("sections");
  if (sections == nullptr || !sections->is_object()) throw fail("corrupt checkpoint header: no sections");

  Checkpoint ck;
  ck.source_ = source;
  std::size_t expected_offset = 0;
  for (const auto& [name, s] : sections->members()) {
    StateDict& dict = ck.add_section(name);
    const Json* values = s.is_object() ? s.find("values") : nullptr;
    const Json* tensors = s.is_object() ? s.find("tensors") : nullptr;
    if (values == nullptr || !values->is_object() || tensors == nullptr || !tensors->is_array())
      throw fail("corrupt checkpoint header: section '" + name + "' lacks values or tensors");
    dict.values() = *values;
    for (const Json& entry : tensors->items()) {
      const Json* tname = entry.is_object() ? entry.find("name") : nullptr;
      const Json* shape = entry.is_object() ? entry.find("shape") : nullptr;
      const Json* offset = entry.is_object() ? entry.find("offset") : nullptr;
      if (tname == nullptr || tname->string() == nullptr || shape == nullptr || !shape->is_array() ||
          offset == nullptr || !offset->is_integer())
        throw fail("corrupt checkpoint header: a tensor of section '" + name + "' lacks name, shape or offset");
      const std::string& tn = *tname->string();
      if (shape->items().size() > static_cast<std::size_t>(Shape::kMaxRank))
        throw fail("corrupt checkpoint header: tensor '" + tn + "' has rank " +
                   std::to_string(shape->items().size()));
      std::int64_t dims[Shape::kMaxRank] = {1, 1, 1, 1};
      std::uint64_t numel = 1;
      std::size_t rank = shape->items().size();
      for (std::size_t i = 0; i < rank; ++i) {
        const Json& d = shape->items()[i];
        if (!d.is_integer() || d.integer() < 0 || d.integer() > (1ll << 40))
          throw fail("corrupt checkpoint header: tensor '" + tn + "' has a bad dimension");
        dims[i] = d.integer();
        numel *= static_cast<std::uint64_t>(dims[i]);
        if (numel > payload_size / sizeof(float) + 1)
          throw fail("corrupt checkpoint: tensor '" + tn + "' is larger than the file");
      }
      std::uint64_t bytes_needed = numel * sizeof(float);
      if (offset->integer() != static_cast<std::int64_t>(expected_offset) ||
          expected_offset + bytes_needed > payload_size)
        throw fail("corrupt checkpoint: tensor '" + tn + "' lies outside the payload");
      Shape sh;
      switch (rank) {
        case 0: sh = Shape{}; break;
        case 1: sh = Shape{dims[0]}; break;
        case 2: sh = Shape{dims[0], dims[1]}; break;
        case 3: sh = Shape{dims[0], dims[1], dims[2]}; break;
        default: sh = Shape{dims[0], dims[1], dims[2], dims[3]}; break;
      }
      Tensor t = Tensor::empty(sh);
      if (bytes_needed > 0) std::memcpy(t.data(), bytes.data() + payload_begin + expected_offset, bytes_needed);
      dict.set_tensor(tn, t);
      expected_offset += bytes_needed;
    }
  }
  if (expected_offset != payload_size)
    throw fail("corrupt checkpoint: " + std::to_string(payload_size - expected_offset) +
               " bytes of payload belong to no tensor");
  return ck;
}

Checkpoint Checkpoint::read(const std::filesystem::path& path) {
  return parse(read_file(path, "checkpoint"), path.string());
}

// ---- parameters ----------------------------------------------------------------------------

void save_parameters(const Parameters& params, StateDict& out) {
  for (const auto& p : params) out.set_tensor(p.name, p.value);
  out.set("count", static_cast<std::int64_t>(params.size()));
}

void load_parameters(Parameters& params, const StateDict& in) {
  for (auto& p : params) {
    if (!in.has_tensor(p.name))
      throw InputError(in.origin + ": the model's parameter '" + p.name + "' is not in the checkpoint");
    const Tensor& t = in.tensor(p.name);
    if (t.shape() != p.shape)
      throw InputError(in.origin + ": parameter '" + p.name + "' is " + t.shape().str() +
                       " in the checkpoint but " + p.shape.str() + " in the model");
  }
  for (const auto& [name, t] : in.tensors())
    if (params.find(name) == nullptr)
      throw InputError(in.origin + ": parameter '" + name + "' of the checkpoint is not in the model");
  for (auto& p : params) p.value.copy_from(in.tensor(p.name));
}

std::string fingerprint(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace loom
