#include "loom/parameters.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"

namespace loom {

Parameter* Parameters::add(const std::string& name, const Shape& shape, Init init) {
  LOOM_ASSERT(!finalized_, "parameter '" + name + "' declared after finalize");
  LOOM_ASSERT(find(name) == nullptr, "parameter '" + name + "' declared twice");
  params_.push_back(Parameter{name, shape, init, true, {}, {}});
  return &params_.back();
}

Parameter* Parameters::find(const std::string& name) {
  for (auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

std::int64_t Parameters::count() const {
  std::int64_t n = 0;
  for (const auto& p : params_) n += p.shape.numel();
  return n;
}

std::int64_t Parameters::count_except(const std::vector<std::string>& names) const {
  std::int64_t n = 0;
  for (const auto& p : params_)
    if (std::find(names.begin(), names.end(), p.name) == names.end()) n += p.shape.numel();
  return n;
}

namespace {

// Each parameter starts on a 16-float (64-byte) boundary of the arena.
std::int64_t padded(std::int64_t n) { return (n + 15) / 16 * 16; }

void initialise(Parameter& p, std::uint64_t seed) {
  float* v = p.value.data();
  std::int64_t n = p.shape.numel();
  std::uint64_t key = stream_key(seed, p.name);
  switch (p.init.kind) {
    case Init::Kind::kConstant:
      std::fill_n(v, n, p.init.a);
      break;
    case Init::Kind::kUniform:
      for (std::int64_t i = 0; i < n; ++i)
        v[i] = (2.0f * random_uniform(key, static_cast<std::uint64_t>(i)) - 1.0f) * p.init.a;
      break;
    case Init::Kind::kNormal: {
      Rng rng(key);
      for (std::int64_t i = 0; i < n; ++i) v[i] = rng.normal() * p.init.a;
      break;
    }
  }
}

}  // namespace

void Parameters::finalize(std::uint64_t seed) {
  LOOM_ASSERT(!finalized_, "finalize called twice");
  std::int64_t total = 0;
  for (const auto& p : params_)
    if (__builtin_add_overflow(total, padded(p.shape.numel()), &total))
      throw ResourceError("the model's parameters have more values than a 64-bit count holds");
  // Values and gradients, allocated here: refused with the figure rather than half-way
  // through (an optimizer's buffers are checked when it allocates them).
  const double need = 8.0 * static_cast<double>(total);
  const std::uint64_t available = available_memory_bytes();
  if (need > static_cast<double>(available))
    throw ResourceError("the model has " + std::to_string(total) + " parameters, which need " +
                        bytes_text(static_cast<std::uint64_t>(std::min(need, 1.8e19))) +
                        " for their values and gradients; " + bytes_text(available) +
                        " of memory is available (choose smaller layers or a smaller vocabulary)");
  values_ = Tensor::zeros(Shape{total});
  grads_ = Tensor::zeros(Shape{total});
  std::int64_t offset = 0;
  for (auto& p : params_) {
    p.value = make_view(values_, static_cast<std::size_t>(offset), p.shape);
    p.grad = make_view(grads_, static_cast<std::size_t>(offset), p.shape);
    initialise(p, seed);
    offset += padded(p.shape.numel());
  }
  finalized_ = true;
}

bool glob_match(const std::string& glob, const std::string& name) {
  // Iterative matcher with single-star backtracking.
  std::size_t g = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
      ++g;
      ++n;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = n;
    } else if (star != std::string::npos) {
      g = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

int Parameters::freeze(const std::string& glob) {
  int matched = 0;
  for (auto& p : params_)
    if (glob_match(glob, p.name)) {
      p.trainable = false;
      ++matched;
    }
  return matched;
}

void Parameters::zero_grad() {
  if (!grads_.defined()) return;
  float* g = grads_.data();
  // Every step clears the whole arena (tens of MB for a large vocabulary): split it.
  parallel_chunks(grads_.numel(), 1 << 18, [&](std::int64_t b, std::int64_t e) {
    std::memset(g + b, 0, static_cast<std::size_t>(e - b) * sizeof(float));
  });
}

namespace {
// Fixed chunks (independent of the thread count) so the norm is the same at any thread count.
constexpr std::int64_t kNormGrain = 1 << 16;
}  // namespace

double Parameters::grad_norm() const {
  if (!grads_.defined()) return 0.0;
  const float* g = grads_.data();
  const std::int64_t n = grads_.numel();
  std::vector<double> partial(static_cast<std::size_t>((n + kNormGrain - 1) / kNormGrain), 0.0);
  parallel_chunks(n, kNormGrain, [&](std::int64_t b, std::int64_t e) {
    // 16 float lanes vectorise; a chunk is short enough for float to stay exact enough.
    float acc[16] = {};
    std::int64_t i = b;
    for (; i + 16 <= e; i += 16)
      for (int k = 0; k < 16; ++k) acc[k] += g[i + k] * g[i + k];
    double sum = 0.0;
    for (; i < e; ++i) sum += double(g[i]) * g[i];
    for (float a : acc) sum += a;
    partial[static_cast<std::size_t>(b / kNormGrain)] = sum;
  });
  double sum = 0.0;
  for (double p : partial) sum += p;
  return std::sqrt(sum);
}

double Parameters::clip_grad_norm(double max_norm) {
  double norm = grad_norm();
  if (norm > max_norm && norm > 0.0) {
    float scale = static_cast<float>(max_norm / (norm + 1e-6));
    float* g = grads_.data();
    parallel_chunks(grads_.numel(), kNormGrain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) g[i] *= scale;
    });
  }
  return norm;
}

namespace {

constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'P', 'R', 'M', '1'};

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& bytes, const std::filesystem::path& path)
      : bytes_(bytes), path_(path) {}
  template <class T>
  T get() {
    T v;
    need(sizeof(T));
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const char* take(std::size_t n) {
    need(n);
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(path_.string() + ": " + what);
  }

 private:
  void need(std::size_t n) const {
    if (pos_ + n > bytes_.size()) fail("truncated parameter file");
  }
  const std::string& bytes_;
  const std::filesystem::path& path_;
  std::size_t pos_ = 0;
};

}  // namespace

void Parameters::save(const std::filesystem::path& path) const {
  std::string out(kMagic, sizeof kMagic);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(params_.size()));
  for (const auto& p : params_) {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(p.name.size()));
    out += p.name;
    put<std::uint32_t>(out, static_cast<std::uint32_t>(p.shape.rank()));
    for (int i = 0; i < p.shape.rank(); ++i) put<std::int64_t>(out, p.shape[i]);
    out.append(reinterpret_cast<const char*>(p.value.data()),
               static_cast<std::size_t>(p.shape.numel()) * sizeof(float));
  }
  write_file_atomically(path, out);
}

void Parameters::load(const std::filesystem::path& path) {
  const std::string bytes = read_file(path, "parameter file");
  Reader r(bytes, path);
  if (std::memcmp(r.take(sizeof kMagic), kMagic, sizeof kMagic) != 0)
    r.fail("not a loom parameter file");
  std::uint32_t count = r.get<std::uint32_t>();
  if (count != params_.size())
    r.fail("holds " + std::to_string(count) + " parameters, the model has " +
           std::to_string(params_.size()));
  for (std::uint32_t k = 0; k < count; ++k) {
    std::uint32_t len = r.get<std::uint32_t>();
    if (len > 4096) r.fail("corrupt parameter name");
    std::string name(r.take(len), len);
    Parameter* p = find(name);
    if (p == nullptr) r.fail("parameter '" + name + "' is not in the model");
    std::uint32_t rank = r.get<std::uint32_t>();
    if (rank > Shape::kMaxRank) r.fail("corrupt shape of '" + name + "'");
    std::int64_t dims[Shape::kMaxRank] = {0, 0, 0, 0};
    for (std::uint32_t i = 0; i < rank; ++i) dims[i] = r.get<std::int64_t>();
    bool same = static_cast<int>(rank) == p->shape.rank();
    for (std::uint32_t i = 0; same && i < rank; ++i) same = dims[i] == p->shape[i];
    if (!same) r.fail("parameter '" + name + "' has another shape than the model's " +
                      p->shape.str());
    std::size_t bytes_needed = static_cast<std::size_t>(p->shape.numel()) * sizeof(float);
    std::memcpy(p->value.data(), r.take(bytes_needed), bytes_needed);
  }
}

}  // namespace loom
