#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped.
//
// A checkpoint is a set of named sections ("parameters", "optimizer", "model_state",
// "metric.ppl", "run", ...), each a StateDict of float tensors and JSON values. The file is
// data only: a magic string, a format version, a JSON header that lists every tensor's
// name, shape and place in the payload, the raw little-endian float32 payload, and a CRC-32
// of all that precedes it. Reading never runs anything from the file; every offset, shape and
// size is checked against the file before it is used, so a truncated, corrupted or foreign
// file gives one InputError naming it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "loom/json.hpp"
#include "loom/parameters.hpp"
#include "loom/tensor.hpp"

namespace loom {

// The state of one component: named float tensors and named JSON values.
class StateDict {
 public:
  // Stores a copy of `t` (float32).
  void set_tensor(const std::string& name, const Tensor& t);
  bool has_tensor(const std::string& name) const { return tensors_.count(name) > 0; }
  // Throws InputError naming the missing tensor.
  const Tensor& tensor(const std::string& name) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }

  void set(const std::string& key, Json value) { values_[key] = std::move(value); }
  bool has(const std::string& key) const { return values_.find(key) != nullptr; }
  // Typed reads; InputError when the key is missing or of another type.
  double number(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  std::string text(const std::string& key) const;
  const Json& value(const std::string& key) const;
  const Json& values() const { return values_; }
  Json& values() { return values_; }

  // For messages: "checkpoint section 'optimizer'".
  std::string origin;

 private:
  std::map<std::string, Tensor> tensors_;
  Json values_ = Json::object();
};

class Checkpoint {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;

  // The section of that name for writing, created empty when absent.
  StateDict& add_section(const std::string& name);
  bool has_section(const std::string& name) const { return sections_.count(name) > 0; }
  // Throws InputError naming the file and the missing section.
  const StateDict& section(const std::string& name) const;
  const std::map<std::string, StateDict>& sections() const { return sections_; }

  // Serialises; write() puts the bytes in place atomically (temporary file, fsync, rename,
  // fsync of the folder), so a kill at any moment leaves the previous file loadable.
  std::string serialize() const;
  void write(const std::filesystem::path& path) const;
  // Throws InputError naming `source` for anything that is not a complete, intact checkpoint.
  static Checkpoint parse(const std::string& bytes, const std::string& source);
  static Checkpoint read(const std::filesystem::path& path);

 private:
  std::map<std::string, StateDict> sections_;
  std::string source_;
};

// Parameter values into / out of a section, by name. load_parameters checks that the names
// and shapes match the model exactly and names the first difference.
void save_parameters(const Parameters& params, StateDict& out);
void load_parameters(Parameters& params, const StateDict& in);

// 64-bit FNV-1a, as 16 hex digits: a short fingerprint of a text (the resolved config).
std::string fingerprint(const std::string& text);

}  // namespace loom
