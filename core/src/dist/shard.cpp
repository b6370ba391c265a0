// dist::shard (loom/dist.hpp): a rank's rows of a global batch.
#include <algorithm>
#include <cstring>

#include "loom/batch_layout.hpp"
#include "loom/dist.hpp"
#include "loom/errors.hpp"

namespace loom::dist {
namespace {

// The batch axis of a tensor by its name (loom/batch_layout.hpp).
int batch_axis(const std::string& name, const Tensor& t) {
  const bool time_major = name == "ids" || name == "targets" || name == "mask";
  return time_major && t.rank() >= 2 ? 1 : 0;
}

// Elements [begin, end) along `axis` of a contiguous tensor.
Tensor rows(const Tensor& t, int axis, std::int64_t begin, std::int64_t end) {
  const std::int64_t n = t.dim(axis);
  Tensor out = Tensor::empty(t.shape().with_dim(axis, end - begin), t.dtype());
  std::int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= t.dim(a);
  for (int a = axis + 1; a < t.rank(); ++a) inner *= t.dim(a);
  const auto* from = t.dtype() == DType::kInt32 ? reinterpret_cast<const char*>(t.ids()) : reinterpret_cast<const char*>(t.data());
  auto* to = t.dtype() == DType::kInt32 ? reinterpret_cast<char*>(out.ids()) : reinterpret_cast<char*>(out.data());
  const std::size_t row = static_cast<std::size_t>(inner) * 4, span = static_cast<std::size_t>(end - begin) * row;
  for (std::int64_t o = 0; o < outer; ++o)
    if (span > 0) std::memcpy(to + o * span, from + (o * n + begin) * static_cast<std::int64_t>(row), span);
  return out;
}

std::int64_t targets_in(const Tensor& t) {
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) n += t.ids()[i] != kIgnoreTarget;
  return n;
}

}  // namespace

std::int64_t rows(const Batch& batch) {
  if (batch.tensors.empty()) return static_cast<std::int64_t>(batch.references.size());
  const auto& [name, t] = *batch.tensors.begin();
  return t.rank() == 0 ? 1 : t.dim(batch_axis(name, t));
}

Batch shard(const Batch& batch, int rank, int size) {
  LOOM_ASSERT(size >= 1 && rank >= 0 && rank < size, "shard: rank " + std::to_string(rank) + " of " + std::to_string(size));
  if (size == 1) return batch;
  std::int64_t B = -1;
  for (const auto& [name, t] : batch.tensors) {
    const std::int64_t b = t.dim(batch_axis(name, t));
    LOOM_ASSERT(B < 0 || b == B, "shard: tensor '" + name + "' has " + std::to_string(b) + " rows along its batch axis, "
                                 "another " + std::to_string(B) + " (loom/batch_layout.hpp)");
    B = b;
  }
  if (B < 0) return batch;
  const std::int64_t begin = rank * B / size, end = (rank + 1) * B / size;
  Batch out;
  for (const auto& [name, t] : batch.tensors) out.tensors[name] = rows(t, batch_axis(name, t), begin, end);
  if (!batch.references.empty()) {
    LOOM_ASSERT(static_cast<std::int64_t>(batch.references.size()) == B, "shard: references do not match the batch");
    out.references.assign(batch.references.begin() + begin, batch.references.begin() + end);
  }
  if (out.tensors.count("targets")) out.target_tokens = targets_in(out.tensors.at("targets"));
  else if (out.tensors.count("tgt_out")) out.target_tokens = targets_in(out.tensors.at("tgt_out"));
  else if (out.tensors.count("lengths")) {
    const Tensor& l = out.tensors.at("lengths");
    for (std::int64_t i = 0; i < l.numel(); ++i) out.target_tokens += l.ids()[i];
  } else {
    out.target_tokens = end - begin;
  }
  return out;
}

}  // namespace loom::dist
