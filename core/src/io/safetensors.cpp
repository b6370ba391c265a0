// safetensors: write and read float32 tensors with a JSON header.
#include "loom/safetensors.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/json.hpp"

namespace loom {

namespace {

void put_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u64_le(const std::string& in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

void write_safetensors(const std::filesystem::path& file, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    LOOM_ASSERT(!t.name.empty() && seen.insert(t.name).second, "safetensors: empty or repeated name '" + t.name + "'");
    LOOM_ASSERT(t.value.dtype() == DType::kFloat32, "safetensors: '" + t.name + "' is not float32");
    Json entry = Json::object();
    entry["dtype"] = "F32";
    Json shape = Json::array();
    for (int i = 0; i < t.value.rank(); ++i) shape.push_back(Json(t.value.dim(i)));
    entry["shape"] = shape;
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.value.numel()) * sizeof(float);
    Json offsets = Json::array();
    offsets.push_back(Json(static_cast<std::int64_t>(offset)));
    offsets.push_back(Json(static_cast<std::int64_t>(offset + bytes)));
    entry["data_offsets"] = offsets;
    header[t.name] = entry;
    offset += bytes;
  }
  std::string text = header.dump();
  // The data starts 8-byte aligned (the format allows trailing spaces in the header).
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  put_u64_le(out, text.size());
  out += text;
  for (const auto& t : tensors) {
    const auto* bytes = reinterpret_cast<const char*>(t.value.data());  // x86: little-endian
    out.append(bytes, static_cast<std::size_t>(t.value.numel()) * sizeof(float));
  }
  write_file_atomically(file, out);
}

Safetensors read_safetensors(const std::filesystem::path& file) {
  const std::string bytes = read_file(file, "safetensors file");
  const std::string where = file.string() + ": ";
  if (bytes.size() < 8) throw InputError(where + "too short for a safetensors file (" + std::to_string(bytes.size()) + " bytes)");
  const std::uint64_t n = get_u64_le(bytes);
  if (n > bytes.size() - 8) throw InputError(where + "header length " + std::to_string(n) + " runs past the end of the file");
  const Json header = Json::parse(bytes.substr(8, n), where + "header");
  if (!header.is_object()) throw InputError(where + "the header is not a JSON object");
  const std::size_t data_begin = 8 + n, data_size = bytes.size() - data_begin;
  Safetensors out;
  for (const auto& [name, entry] : header.members()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw InputError(where + "__metadata__ is not an object");
      for (const auto& [k, v] : entry.members())
        if (v.string()) out.metadata[k] = *v.string();
      continue;
    }
    const std::string at = where + "tensor '" + name + "': ";
    const Json* dtype = entry.is_object() ? entry.find("dtype") : nullptr;
    const Json* shape = entry.is_object() ? entry.find("shape") : nullptr;
    const Json* offsets = entry.is_object() ? entry.find("data_offsets") : nullptr;
    if (!dtype || !dtype->string() || !shape || !shape->is_array() || !offsets || !offsets->is_array() ||
        offsets->items().size() != 2)
      throw InputError(at + "needs dtype, shape and data_offsets [begin, end]");
    if (*dtype->string() != "F32") throw InputError(at + "dtype " + *dtype->string() + " (only F32 is read)");
    if (shape->items().size() > static_cast<std::size_t>(Shape::kMaxRank))
      throw InputError(at + "rank " + std::to_string(shape->items().size()) + " (at most 4)");
    Shape s;
    std::uint64_t count = 1;
    for (const auto& d : shape->items()) {
      if (!d.is_integer() || d.integer() < 0 || d.integer() > (std::int64_t{1} << 40))
        throw InputError(at + "a dimension is not a size");
      s = s.appended(d.integer());
      count *= static_cast<std::uint64_t>(d.integer());
    }
    const auto& o = offsets->items();
    if (!o[0].is_integer() || !o[1].is_integer() || o[0].integer() < 0 || o[1].integer() < o[0].integer() ||
        static_cast<std::uint64_t>(o[1].integer()) > data_size)
      throw InputError(at + "data_offsets outside the " + std::to_string(data_size) + " bytes of data");
    const auto begin = static_cast<std::uint64_t>(o[0].integer()), end = static_cast<std::uint64_t>(o[1].integer());
    if (end - begin != count * sizeof(float))
      throw InputError(at + std::to_string(end - begin) + " bytes of data for shape " + s.str());
    Tensor t = Tensor::empty(s);
    if (count > 0) std::memcpy(t.data(), bytes.data() + data_begin + begin, end - begin);
    out.tensors.push_back({name, t});
  }
  return out;
}

}  // namespace loom
