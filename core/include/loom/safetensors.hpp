#pragma once
// The safetensors format, float32 only: an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}}, then the raw little-endian data, tensors back to back in
// header order. What `loom export` writes for PyTorch (safetensors.torch.load_file, or any
// reader of the format).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "loom/tensor.hpp"

namespace loom {

struct NamedTensor {
  std::string name;
  Tensor value;  // float32
};

// Writes atomically (a temporary file renamed into place). Names must be unique and non-empty.
void write_safetensors(const std::filesystem::path& file, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

struct Safetensors {
  std::vector<NamedTensor> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};
// Reads a file of F32 tensors of rank <= 4; InputError naming the file and the problem
// (truncated, a header that is not JSON, another dtype, offsets outside the data).
Safetensors read_safetensors(const std::filesystem::path& file);

}  // namespace loom
