// loom diagnose: the gradient through time of a trained recurrent model (loom/infer.hpp).
#include <algorithm>
#include <optional>

#include "infer/inference.hpp"
#include "loom/errors.hpp"
#include "loom/infer.hpp"
#include "loom/plugin.hpp"
#include "run/workspace.hpp"

namespace loom {

GradientThroughTime gradient_through_time(const Registry& registry, const std::filesystem::path& run_dir,
                                          const std::string& split, std::int64_t steps, std::int64_t windows) {
  OpenedRun inf(registry, run_dir, {});
  Workspace& ws = *inf.workspace;
  Model& model = ws.only_model();
  auto* recurrent = dynamic_cast<ShowsGradientThroughTime*>(&model);
  if (recurrent == nullptr)
    throw ConfigError("loom diagnose: the model of " + run_dir.string() +
                      " is not recurrent (gradients through time are measured for rnn_lm)");
  DataLoader& data = data_with_split(ws, split);
  if (windows < 1) throw ConfigError("--windows must be at least 1, got " + std::to_string(windows));
  if (steps < 0) throw ConfigError("--steps must be positive (or 0: the data's bptt), got " + std::to_string(steps));

  GradientThroughTime r;
  r.run = run_dir.filename().string();
  r.cell = recurrent->recurrent_cell();
  r.checkpoint = inf.checkpoint;
  const std::int64_t batches = data.num_batches(split, Mode::kEval);
  std::int64_t next = 0;
  // Rows of consecutive evaluation batches (the same columns), joined until a window is full.
  auto window = [&]() -> std::optional<Batch> {
    std::vector<std::int32_t> ids, targets;
    std::int64_t T = 0, B = 0;
    while (next < batches && (steps == 0 ? T == 0 : T < steps)) {
      Batch b = data.batch(split, Mode::kEval, next++);
      const Tensor& i = b.get("ids");
      if (B != 0 && i.dim(1) != B) return std::nullopt;  // the split's ragged end
      B = i.dim(1);
      const std::int64_t rows = steps == 0 ? i.dim(0) : std::min(i.dim(0), steps - T);
      ids.insert(ids.end(), i.ids(), i.ids() + rows * B);
      targets.insert(targets.end(), b.get("targets").ids(), b.get("targets").ids() + rows * B);
      T += rows;
    }
    if (T == 0 || (steps > 0 && T < steps)) return std::nullopt;
    Batch w;
    w.tensors["ids"] = Tensor::empty(Shape{T, B}, DType::kInt32);
    w.tensors["targets"] = Tensor::empty(Shape{T, B}, DType::kInt32);
    std::copy(ids.begin(), ids.end(), w.tensors["ids"].ids());
    std::copy(targets.begin(), targets.end(), w.tensors["targets"].ids());
    return w;
  };
  std::vector<double> sum;
  while (r.windows < windows) {
    auto w = window();
    if (!w) break;
    const std::vector<double> norms = recurrent->gradient_through_time(*w);
    if (sum.empty()) sum.assign(norms.size(), 0.0);
    for (std::size_t t = 0; t < norms.size(); ++t) sum[t] += norms[t];
    r.steps = static_cast<std::int64_t>(norms.size());
    r.columns += w->get("ids").dim(1);
    ++r.windows;
  }
  if (r.windows == 0)
    throw InputError("loom diagnose: split '" + split + "' of " + run_dir.string() + " is shorter than one window of " +
                     std::to_string(steps) + " steps (lower --steps)");
  for (std::size_t k = 0; k < sum.size(); ++k) r.norms.push_back(sum[sum.size() - 1 - k] / static_cast<double>(r.windows));
  return r;
}

}  // namespace loom
