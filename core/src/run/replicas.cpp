#include "run/replicas.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <cstring>

#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"

namespace loom::replicas {

bool several() { return dist::world().size > 1; }

const Batch& share(const Batch& batch, Batch& storage) {
  const dist::World& w = dist::world();
  if (w.size <= 1) return batch;
  storage = dist::shard(batch, w.rank, w.size);
  return storage;
}

void sum(std::vector<double>& values) { dist::allreduce_sum(values.data(), static_cast<std::int64_t>(values.size())); }

void require_summable(const MetricList& metrics, const std::string& stage) {
  if (!several()) return;
  for (const auto& [id, m] : metrics)
    if (dynamic_cast<SumsStatistics*>(m) == nullptr)
      throw ConfigError(stage + ": metric '" + id + "' cannot add up what " + std::to_string(dist::world().size) +
                        " ranks measured on their shares (its plugin does not implement SumsStatistics); run it in one "
                        "process, or leave it out of the stage's metrics");
}

namespace {

// Every rank's statistics of `m`, summed (lists padded with zeros to the longest).
std::vector<double> summed_statistics(const SumsStatistics& s) {
  std::vector<double> v = s.statistics();
  v.resize(static_cast<std::size_t>(dist::max_over_ranks(static_cast<std::int64_t>(v.size()))), 0.0);
  sum(v);
  return v;
}

}  // namespace

double value(Metric& metric) {
  if (!several()) return metric.value();
  auto* s = dynamic_cast<SumsStatistics*>(&metric);
  LOOM_ASSERT(s != nullptr, "require_summable lets only summable metrics run on several ranks");
  const std::vector<double> mine = s->statistics();
  s->set_statistics(summed_statistics(*s));
  const double v = metric.value();
  s->set_statistics(mine);
  return v;
}

void gather_into(Metric& metric) {
  if (!several()) return;
  auto* s = dynamic_cast<SumsStatistics*>(&metric);
  LOOM_ASSERT(s != nullptr, "require_summable lets only summable metrics run on several ranks");
  s->set_statistics(summed_statistics(*s));
}

void reduce_gradients(Parameters& params, std::int64_t local_count, std::int64_t global_count) {
  if (!several()) return;
  Tensor& grads = params.grads();
  const std::int64_t n = grads.numel();
  float* g = grads.data();
  // The mean over the global batch: sum over ranks of (local count / global count) x the
  // gradient of the local mean.
  const float scale = global_count > 0 ? static_cast<float>(static_cast<double>(local_count) / static_cast<double>(global_count)) : 0.0f;
  if (scale != 1.0f)
    parallel_chunks(n, 1 << 16, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) g[i] *= scale;
    });
  dist::allreduce_sum(g, n);
}

double backward_and_reduce(Graph& g, const Expr& loss, Parameters& params, std::int64_t local_count,
                           std::int64_t global_count, std::int64_t bucket_bytes) {
  using Clock = std::chrono::steady_clock;
  float* base = params.grads().data();
  const std::int64_t n = params.grads().numel();
  const std::int64_t cap = std::max<std::int64_t>(bucket_bytes / 4, 1 << 14);
  const std::int64_t buckets = (n + cap - 1) / cap;
  // A bucket is ready once the backward reaches the first (lowest-numbered) use of any of
  // its parameters; one whose parameters the step does not use is ready at once.
  std::vector<int> ready_at(static_cast<std::size_t>(buckets), std::numeric_limits<int>::max());
  for (const auto& use : g.param_uses()) {
    const std::int64_t begin = use.grad - base, end = begin + use.size;
    if (begin < 0 || end > n) continue;
    for (std::int64_t b = begin / cap; b * cap < end; ++b)
      ready_at[static_cast<std::size_t>(b)] = std::min(ready_at[static_cast<std::size_t>(b)], use.node);
  }
  // Every rank must start the same sums in the same order, whatever its graph looks like (a
  // shard's shapes can change how many nodes a model makes): the order is fixed, from the end
  // of the arena to its start, which is the order in which a backward pass completes the
  // gradients of parameters declared in the order the forward uses them. A bucket starts when
  // it is ready and every bucket before it has started.
  std::vector<std::int64_t> order(static_cast<std::size_t>(buckets));
  for (std::int64_t b = 0; b < buckets; ++b) order[static_cast<std::size_t>(b)] = buckets - 1 - b;
  const float scale = global_count > 0 ? static_cast<float>(static_cast<double>(local_count) / static_cast<double>(global_count)) : 0.0f;
  double in_mpi = 0.0;
  std::size_t next = 0;
  int calls = 0;
  auto start = [&](std::int64_t b) {
    float* p = base + b * cap;
    const std::int64_t len = std::min(cap, n - b * cap);
    if (scale != 1.0f)
      parallel_chunks(len, 1 << 16, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) p[i] *= scale;
      });
    const auto t0 = Clock::now();
    dist::start_allreduce_sum(p, len);
    in_mpi += std::chrono::duration<double>(Clock::now() - t0).count();
  };
  if (loss.defined()) g.backward(loss, [&](int id) {
    while (next < order.size() && ready_at[static_cast<std::size_t>(order[next])] >= id) start(order[next++]);
    if (next > 0 && ++calls % 8 == 0) {
      const auto t0 = Clock::now();
      dist::progress();
      in_mpi += std::chrono::duration<double>(Clock::now() - t0).count();
    }
  });
  while (next < order.size()) start(order[next++]);
  const auto t0 = Clock::now();
  dist::wait_all();
  return in_mpi + std::chrono::duration<double>(Clock::now() - t0).count();
}

std::uint64_t checksum(const Parameters& params) {
  const Tensor& v = params.values();
  // FNV-1a over 64-bit words: a bit that differs anywhere changes it.
  std::uint64_t h = 1469598103934665603ULL;
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t bytes = static_cast<std::size_t>(v.numel()) * sizeof(float);
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + i, 8);
    h = (h ^ word) * 1099511628211ULL;
  }
  for (; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

}  // namespace loom::replicas
