#pragma once
// The ranks of a data-parallel run as the train stage and the Evaluator see them (DESIGN.md,
// "Beyond one machine"): every rank holds the same parameters and works on its share of each
// global batch; what the shares accumulate (losses, counts, metric statistics, gradients) is
// summed over the ranks, so every rank takes the same decisions and the same steps. In a world
// of one every function here is the identity, and a single process computes bit for bit what
// it computed before data parallelism existed.
#include <cstdint>
#include <string>
#include <vector>

#include "loom/graph.hpp"
#include "loom/parameters.hpp"
#include "loom/plugin.hpp"
#include "run/workspace.hpp"

namespace loom::replicas {

// Whether this process is one of several ranks.
bool several();
// This rank's share of a global batch (loom/dist.hpp: dist::shard), cut into `storage`; in a
// world of one, `batch` itself (no copy).
const Batch& share(const Batch& batch, Batch& storage);

// The sum over the ranks of each element of `values`, in place.
void sum(std::vector<double>& values);

// ConfigError naming a metric that cannot add up over ranks (no SumsStatistics) when several
// ranks run.
void require_summable(const MetricList& metrics, const std::string& stage);
// The metric's value over every rank's updates; its own accumulated state is left as it was.
double value(Metric& metric);
// Sets every rank's metric to the sum of all ranks' statistics (the whole split's state).
void gather_into(Metric& metric);

// Scales this rank's gradients by its share of the targets (`local_count` of `global_count`)
// and sums them over the ranks: every rank then holds the gradient of the mean loss over the
// global batch. One all-reduce of the gradient arena.
void reduce_gradients(Parameters& params, std::int64_t local_count, std::int64_t global_count);

// The same reduction in buckets of at most `bucket_bytes` that start while the backward pass
// of `loss` goes on (none when `loss` is undefined: a rank with no rows in this batch): a
// bucket's gradients are scaled and its sum started as soon as the
// backward has passed every use of its parameters (Graph::backward's `reached`), and the
// backward's later nodes run while it travels. Returns the seconds spent in MPI calls (what
// the overlap did not hide). Every rank must call it for the same step; a backward that throws
// on one rank leaves the others waiting, so the loss is checked on every rank before.
double backward_and_reduce(Graph& g, const Expr& loss, Parameters& params, std::int64_t local_count,
                           std::int64_t global_count, std::int64_t bucket_bytes);

// A checksum of the parameter values, equal on every rank while the replicas agree.
std::uint64_t checksum(const Parameters& params);

}  // namespace loom::replicas
