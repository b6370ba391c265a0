#include "loom/tensor.hpp"

#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <list>
#include <mutex>
#include <limits>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <new>
#include <vector>

#include "loom/errors.hpp"

namespace loom {

const char* dtype_name(DType dtype) { return dtype == DType::kFloat32 ? "float32" : "int32"; }

Shape::Shape(std::initializer_list<std::int64_t> dims) {
  LOOM_ASSERT(dims.size() <= kMaxRank, "a shape has at most 4 dimensions");
  for (std::int64_t d : dims) {
    LOOM_ASSERT(d >= 0, "negative dimension");
    dims_[rank_++] = d;
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i)
    if (__builtin_mul_overflow(n, dims_[i], &n))
      throw ResourceError("a tensor of shape " + str() + " has more values than a 64-bit count holds");
  return n;
}

std::int64_t Shape::rows() const {
  std::int64_t n = 1;
  for (int i = 0; i + 1 < rank_; ++i) n *= dims_[i];
  return n;
}

Shape Shape::with_dim(int axis, std::int64_t value) const {
  LOOM_ASSERT(axis >= 0 && axis < rank_, "axis " + std::to_string(axis) + " out of range for " + str());
  Shape s = *this;
  s.dims_[axis] = value;
  return s;
}

Shape Shape::appended(std::int64_t value) const {
  LOOM_ASSERT(rank_ < kMaxRank, "cannot add a dimension to " + str());
  Shape s = *this;
  s.dims_[s.rank_++] = value;
  return s;
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != other.dims_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kHugeAlignment = std::size_t{2} << 20;

// Freed blocks keyed by size. A request takes the smallest cached block that is at least as
// large and not more than a quarter larger, so shapes that repeat every step (all of them in
// training) reuse the same memory without wasting much on near misses.
// The cache is bounded: it holds at most as many bytes as were ever in use at once (the peak
// of live storage, at least kMinCacheBytes), and past that frees the blocks cached longest
// ago. A training step whose shapes repeat is served from the cache entirely; one whose
// shapes vary from batch to batch (bucketed sentence lengths) cannot make it grow without
// end, as it would if every size ever freed were kept.
class StoragePool {
 public:
  // Returns a block of at least `bytes`; `capacity` receives its real size, which is what
  // give() must be told when the block comes back.
  void* take(std::size_t bytes, std::size_t& capacity) {
    std::size_t wanted = round_up(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = by_size_.lower_bound(wanted);
      if (it != by_size_.end() && it->first <= wanted + wanted / 4) {
        auto block = it->second;
        void* p = block->ptr;
        capacity = it->first;
        cached_ -= capacity;
        by_size_.erase(it);
        by_age_.erase(block);
        note_live(capacity);
        return p;
      }
    }
    capacity = wanted;
    void* p = allocate(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    note_live(capacity);
    return p;
  }

  // `capacity` is the size the block was allocated with.
  void give(void* p, std::size_t capacity) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_ -= capacity;
      by_age_.push_back(Block{p, capacity, {}});
      auto block = std::prev(by_age_.end());
      block->in_size = by_size_.emplace(capacity, block);
      cached_ += capacity;
      const std::size_t limit = std::max(peak_live_, kMinCacheBytes);
      while (cached_ > limit && !by_age_.empty()) {
        Block& oldest = by_age_.front();
        evicted.push_back(oldest.ptr);
        cached_ -= oldest.size;
        by_size_.erase(oldest.in_size);
        by_age_.pop_front();
      }
    }
    for (void* e : evicted) std::free(e);
  }

  std::size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& block : by_age_) std::free(block.ptr);
    by_age_.clear();
    by_size_.clear();
    cached_ = 0;
  }

 private:
  static constexpr std::size_t kMinCacheBytes = std::size_t{64} << 20;

  struct Block;
  using Age = std::list<Block>;
  struct Block {
    void* ptr;
    std::size_t size;
    std::multimap<std::size_t, Age::iterator>::iterator in_size;
  };

  void note_live(std::size_t capacity) {
    live_ += capacity;
    peak_live_ = std::max(peak_live_, live_);
  }

  static std::size_t round_up(std::size_t bytes) {
    std::size_t a = bytes >= kHugeAlignment ? kHugeAlignment : kAlignment;
    return std::max<std::size_t>(a, (bytes + a - 1) / a * a);
  }

  static void* allocate(std::size_t bytes) {
    std::size_t capacity = round_up(bytes);
    std::size_t align = capacity >= kHugeAlignment ? kHugeAlignment : kAlignment;
    void* p = std::aligned_alloc(align, capacity);
    if (p == nullptr) throw std::bad_alloc();
    // Large activations (the LM's logits are ~90 MB) are walked row by row every step;
    // huge pages cut the TLB misses of those walks.
    if (capacity >= kHugeAlignment) madvise(p, capacity, MADV_HUGEPAGE);
    return p;
  }

  std::mutex mutex_;
  Age by_age_;                                           // cached blocks, oldest first
  std::multimap<std::size_t, Age::iterator> by_size_;    // the same blocks by size
  std::size_t cached_ = 0, live_ = 0, peak_live_ = 0;    // bytes
};

StoragePool& pool() {
  // Never destroyed: storages may be freed during static destruction.
  static StoragePool* instance = new StoragePool();
  return *instance;
}

std::size_t element_size(DType) { return 4; }

}  // namespace

Storage::Storage(std::size_t bytes) : data_(pool().take(bytes, capacity_)), bytes_(bytes) {}

Storage::~Storage() { pool().give(data_, capacity_); }

std::size_t cached_storage_bytes() { return pool().cached(); }
void release_cached_storage() { pool().release(); }

void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

std::string bytes_text(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[48];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::uint64_t available_memory_bytes() {
  std::uint64_t available = UINT64_MAX;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    std::uint64_t kib = 0;
    meminfo >> kib;
    if (key == "MemAvailable:") {
      available = kib * 1024;
      break;
    }
    meminfo.ignore(64, '\n');
  }
  // A container's limit, where one is set (cgroup v2).
  std::ifstream cgroup_max("/sys/fs/cgroup/memory.max"), cgroup_current("/sys/fs/cgroup/memory.current");
  std::string max_text;
  std::uint64_t current = 0;
  if (cgroup_max >> max_text && max_text != "max" && cgroup_current >> current) {
    const std::uint64_t limit = std::strtoull(max_text.c_str(), nullptr, 10);
    available = std::min(available, limit > current ? limit - current : 0);
  }
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    available = std::min<std::uint64_t>(available, as.rlim_cur);
  // Blocks this process keeps for reuse count as available to it.
  return available == UINT64_MAX ? available : available + cached_storage_bytes();
}

namespace {

// Asking the system for more than it has either fails (std::bad_alloc, far from where the
// size was decided) or, under overcommit, succeeds and gets the process killed when the
// pages are touched. Large blocks are checked first, so the error names the tensor.
constexpr std::size_t kCheckedAllocationBytes = std::size_t{256} << 20;

[[noreturn]] void too_large(const Shape& shape, std::size_t bytes, std::uint64_t available) {
  throw ResourceError("cannot allocate " + bytes_text(bytes) + " for a tensor of shape " + shape.str() + ": " +
                      (available == 0 ? std::string("the system refused")
                                      : bytes_text(available) + " of memory is available, and one tensor may take half") +
                      " (a smaller model, batch or text may fit)");
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(shape.numel()), element_size(dtype), &bytes))
    too_large(shape, SIZE_MAX, available_memory_bytes());
  if (bytes >= kCheckedAllocationBytes) {
    // One tensor may take at most half of what is left: the computation that needs it
    // needs as much again (its gradient, or the next layer's output) a moment later.
    const std::uint64_t available = available_memory_bytes();
    if (bytes > available / 2) too_large(shape, bytes, available);
  }
  try {
    return Tensor(std::make_shared<Storage>(bytes), 0, shape, dtype);
  } catch (const std::bad_alloc&) {
    too_large(shape, bytes, 0);
  }
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.zero();
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from(const Shape& shape, std::initializer_list<float> values) {
  LOOM_ASSERT(static_cast<std::int64_t>(values.size()) == shape.numel(),
              "Tensor::from: " + std::to_string(values.size()) + " values for shape " +
                  shape.str());
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::from_ids(const Shape& shape, std::initializer_list<std::int32_t> values) {
  LOOM_ASSERT(static_cast<std::int64_t>(values.size()) == shape.numel(),
              "Tensor::from_ids: " + std::to_string(values.size()) + " values for shape " +
                  shape.str());
  Tensor t = empty(shape, DType::kInt32);
  std::copy(values.begin(), values.end(), t.ids());
  return t;
}

float* Tensor::data() {
  LOOM_ASSERT(dtype_ == DType::kFloat32, "float access to an int32 tensor");
  return storage_ ? static_cast<float*>(storage_->data()) + offset_ : nullptr;
}

const float* Tensor::data() const { return const_cast<Tensor*>(this)->data(); }

std::int32_t* Tensor::ids() {
  LOOM_ASSERT(dtype_ == DType::kInt32, "int32 access to a float32 tensor");
  return storage_ ? static_cast<std::int32_t*>(storage_->data()) + offset_ : nullptr;
}

const std::int32_t* Tensor::ids() const { return const_cast<Tensor*>(this)->ids(); }

float Tensor::item() const {
  LOOM_ASSERT(numel() == 1, "item() of a tensor with " + std::to_string(numel()) + " values");
  return data()[0];
}

Tensor make_view(const Tensor& base, std::size_t offset, const Shape& shape) {
  LOOM_ASSERT(base.defined(), "view of an empty tensor");
  std::size_t end = base.offset_ + offset + static_cast<std::size_t>(shape.numel());
  LOOM_ASSERT(end * element_size(base.dtype_) <= base.storage_->bytes(),
              "view " + shape.str() + " runs past its storage");
  return Tensor(base.storage_, base.offset_ + offset, shape, base.dtype_);
}

Tensor Tensor::view(const Shape& shape) const {
  LOOM_ASSERT(shape.numel() == numel(),
              "cannot view " + shape_.str() + " as " + shape.str());
  return make_view(*this, 0, shape);
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  LOOM_ASSERT(rank() >= 1 && 0 <= begin && begin <= end && end <= dim(0),
              "slice_rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                  shape_.str());
  std::int64_t inner = numel() / std::max<std::int64_t>(dim(0), 1);
  return make_view(*this, static_cast<std::size_t>(begin * inner), shape_.with_dim(0, end - begin));
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t = empty(shape_, dtype_);
  std::memcpy(static_cast<char*>(t.storage_->data()),
              static_cast<const char*>(storage_->data()) + offset_ * element_size(dtype_),
              static_cast<std::size_t>(numel()) * element_size(dtype_));
  return t;
}

void Tensor::fill(float value) {
  std::fill_n(data(), numel(), value);
}

void Tensor::zero() {
  if (!defined()) return;
  std::memset(static_cast<char*>(storage_->data()) + offset_ * element_size(dtype_), 0,
              static_cast<std::size_t>(numel()) * element_size(dtype_));
}

void Tensor::copy_from(const Tensor& other) {
  LOOM_ASSERT(shape_ == other.shape_ && dtype_ == other.dtype_,
              "copy_from " + other.shape_.str() + " into " + shape_.str());
  std::memcpy(static_cast<char*>(storage_->data()) + offset_ * element_size(dtype_),
              static_cast<const char*>(other.storage_->data()) +
                  other.offset_ * element_size(dtype_),
              static_cast<std::size_t>(numel()) * element_size(dtype_));
}

Tensor take_rows(const Tensor& t, const Tensor& rows) {
  LOOM_ASSERT(t.rank() >= 1 && rows.dtype() == DType::kInt32, "take_rows needs a tensor of rank >= 1 and int32 rows");
  const std::int64_t R = t.dim(0), width = R > 0 ? t.numel() / R : 0;
  Tensor out = Tensor::empty(t.shape().with_dim(0, rows.numel()), t.dtype());
  for (std::int64_t i = 0; i < rows.numel(); ++i) {
    const std::int64_t r = rows.ids()[i];
    LOOM_ASSERT(r >= 0 && r < R, "take_rows: row " + std::to_string(r) + " outside [0, " + std::to_string(R) + ")");
    if (t.dtype() == DType::kInt32)
      std::copy_n(t.ids() + r * width, width, out.ids() + i * width);
    else
      std::copy_n(t.data() + r * width, width, out.data() + i * width);
  }
  return out;
}

}  // namespace loom
