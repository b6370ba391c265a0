#include "run/replicas.hpp"

#include <algorithm>
#include <cstring>

#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"

namespace loom::replicas {

bool several() { return dist::world().size > 1; }

Batch share(const Batch& batch) {
  const dist::World& w = dist::world();
  return w.size > 1 ? dist::shard(batch, w.rank, w.size) : batch;
}

std::int64_t rows(const Batch& batch) {
  if (batch.tensors.empty()) return static_cast<std::int64_t>(batch.references.size());
  const auto& [name, t] = *batch.tensors.begin();
  const bool time_major = name == "ids" || name == "targets" || name == "mask";
  if (t.rank() == 0) return 1;
  return time_major && t.rank() >= 2 ? t.dim(1) : t.dim(0);
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
