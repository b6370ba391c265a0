#pragma once
// The report of a run folder or a sweep folder: one self-contained HTML file (inline CSS and
// SVG charts, no script, no network reference) that any browser shows offline.
//
// A run folder needs metrics.jsonl; summary.json, manifest.json and config.yaml are used when
// present. The run report holds the test scores, the training summary, what the manifest
// records about the run, one chart per epoch curve (loss, every metric id, learning rate,
// gradient norm, tokens/s) and the configuration.
//
// A sweep folder is recognised by its sweep.json. The sweep report holds the results table
// (one row per point, the best primary value marked, each point linked to its own
// report.html when that exists), one chart of the primary metric per swept key, a heatmap
// when exactly two keys are swept and the validation curves of the finished points.
//
// The output depends only on the contents of the input files and the folder's name, so the
// same inputs give the same bytes. Every text taken from a file is HTML-escaped. Each section
// has an id (results, run, chart-loss, chart-metric-<id>, chart-lr, chart-grad-norm,
// chart-tokens-per-s, chart-by-<key>, heatmap, chart-curves, config); report.html#<id> shows
// that section alone.
#include <filesystem>
#include <string>
#include <vector>

namespace loom {

namespace scaling {
struct Fit;
}
struct GradientThroughTime;

// Writes DIR/report.html (atomically) and returns its path. Throws InputError naming the file
// (and the line, for metrics.jsonl) when a required file is missing or a file is malformed
// (for a sweep, that includes the metrics.jsonl of a finished point); RuntimeError when
// report.html cannot be written. Reads only: the reports of a sweep's points are linked when
// they exist, never written here.
std::filesystem::path write_report(const std::filesystem::path& dir);

// The report of `loom scaling` (OUT/report.html, atomically; returns its path): the table of
// budgets, the IsoFLOP curves (loss against parameters, one line per budget, its quadratic
// dashed and its minimum N* marked; section chart-isoflop), and N* and D* against the budget
// on log-log axes with the fitted lines, extended to the `predict` budgets (chart-params,
// chart-tokens). `source` names the folder of runs in the heading.
// The report of `loom diagnose` (OUT/report.html, atomically; returns its path): one line per
// run of ||d loss_T / d h_t|| against the steps back from the last, on a log scale (section
// chart-gradient-through-time), and a table of each run's cell, window and decay per step.
// (norm k steps back / norm at the last step)^(1/k) over the whole window: below 1 vanishing.
double gradient_decay_per_step(const GradientThroughTime& r);
std::filesystem::path write_gradient_report(const std::filesystem::path& out, const std::vector<GradientThroughTime>& runs);

std::filesystem::path write_scaling_report(const std::filesystem::path& out, const std::string& source,
                                           const scaling::Fit& fit, const std::vector<double>& predict);

}  // namespace loom
