#pragma once
// Tensor: a contiguous, row-major block of float32 or int32 values with up to four dimensions.
// Storage is reference counted and 64-byte aligned; copies of a Tensor share it (use clone()
// for a deep copy). A Tensor may be a view of part of another one's storage (rows, reshape),
// which is how parameters live inside one arena. Not thread-safe for concurrent writes to the
// same elements; distinct Tensors may be used from distinct threads.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "loom/export.hpp"

namespace loom {

enum class DType { kFloat32, kInt32 };

const char* dtype_name(DType dtype);

// Dimensions of a tensor, rank 0 (a scalar) to 4.
class Shape {
 public:
  static constexpr int kMaxRank = 4;
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const { return dims_[axis]; }
  std::int64_t numel() const;
  // Product of all dimensions but the last: the number of rows of the 2-D view.
  std::int64_t rows() const;
  // The last dimension (1 for a scalar).
  std::int64_t cols() const { return rank_ == 0 ? 1 : dims_[rank_ - 1]; }
  // This shape with dimension `axis` set to `value`.
  Shape with_dim(int axis, std::int64_t value) const;
  // This shape with one more, innermost dimension (rank + 1 <= 4).
  Shape appended(std::int64_t value) const;
  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }
  // "[2, 3]"
  std::string str() const;

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// Aligned memory from a caching pool: buffers freed by one training step are reused by the
// next, so a step does not page-fault fresh memory for its large activations.
class Storage {
 public:
  explicit Storage(std::size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t capacity_ = 0;  // size of the pooled block, at least bytes_
  void* data_;
  std::size_t bytes_;
};

// Bytes held by the pool for reuse, and a way to give them back (after an epoch, say).
std::size_t cached_storage_bytes();
// Memory this process can still take: the system's MemAvailable, bounded by a cgroup limit
// and RLIMIT_AS where set, plus the blocks kept for reuse. Tensor::empty checks large
// allocations against it and throws ResourceError naming the shape when they do not fit.
std::uint64_t available_memory_bytes();
// "512 bytes", "1.5 GiB": sizes in messages.
std::string bytes_text(std::uint64_t bytes);
void release_cached_storage();
// For inference commands, whose tensors change shape at every batch and step (decoding):
// large freed blocks stay with the process instead of going back to the system, which would
// page them in and clear them again at the next allocation (glibc's malloc: no mmap for large
// blocks, no trimming). Training keeps the defaults: its shapes repeat and the pool serves
// them.
void keep_freed_memory();

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised values.
  static Tensor empty(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor full(const Shape& shape, float value);
  // A copy of the given values; throws if the count does not match the shape.
  static Tensor from(const Shape& shape, std::initializer_list<float> values);
  static Tensor from_ids(const Shape& shape, std::initializer_list<std::int32_t> values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int axis) const { return shape_[axis]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t rows() const { return shape_.rows(); }
  std::int64_t cols() const { return shape_.cols(); }

  // Typed access; throws AssertionError on a dtype mismatch.
  float* data();
  const float* data() const;
  std::int32_t* ids();
  const std::int32_t* ids() const;
  float item() const;  // the single value of a one-element float tensor

  // The same storage seen with another shape of equal size.
  Tensor view(const Shape& shape) const;
  // Rows [begin, end) along axis 0, sharing storage.
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;
  Tensor clone() const;
  void fill(float value);
  void zero();
  void copy_from(const Tensor& other);  // same shape and dtype
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  // Whether another tensor (a view, a copy of the handle) holds this storage too.
  bool storage_shared() const { return storage_ != nullptr && storage_.use_count() > 1; }

 private:
  Tensor(std::shared_ptr<Storage> storage, std::size_t offset, const Shape& shape, DType dtype)
      : storage_(std::move(storage)), offset_(offset), shape_(shape), dtype_(dtype) {}
  friend Tensor make_view(const Tensor&, std::size_t, const Shape&);

  std::shared_ptr<Storage> storage_;
  std::size_t offset_ = 0;  // in elements
  Shape shape_;
  DType dtype_ = DType::kFloat32;
};

// A view of `base`'s storage starting `offset` elements after the start of `base`.
Tensor make_view(const Tensor& base, std::size_t offset, const Shape& shape);

// A copy of the rows (along axis 0) of a float or int32 tensor picked by int32 indices [N]
// (repeats allowed): [R, ...] -> [N, ...]. Decoders reorder their cached state with it.
LOOM_API Tensor take_rows(const Tensor& t, const Tensor& rows);

}  // namespace loom
