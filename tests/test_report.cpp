#define BOOST_TEST_MODULE report
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/report.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"

namespace fs = std::filesystem;
using loom::InputError;
using loom::testing::expect_error;
using loom::testing::contracts::TempDir;

namespace {

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size()))
    ++n;
  return n;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The <svg> element whose data-chart attribute is `kind` (the first one), or "".
std::string chart(const std::string& html, const std::string& kind, std::size_t nth = 0) {
  std::size_t at = 0;
  for (std::size_t i = 0; i <= nth; ++i) {
    at = html.find("data-chart=\"" + kind + "\"", i == 0 ? 0 : at + 1);
    if (at == std::string::npos) return "";
  }
  std::size_t begin = html.rfind("<svg", at);
  return html.substr(begin, html.find("</svg>", at) + 6 - begin);
}

// Lines of metrics.jsonl as the runner writes them: train with grad_norm, valid without.
std::string metrics_lines(int epochs, double first_loss = 5.0) {
  std::string out;
  for (int e = 1; e <= epochs; ++e) {
    double loss = first_loss - 0.5 * e;
    out += "{\"epoch\": " + std::to_string(e) +
           ", \"split\": \"train\", \"loss\": " + std::to_string(loss) +
           ", \"ppl\": " + std::to_string(100.0 / e) +
           ", \"accuracy\": " + std::to_string(0.1 * e) + ", \"lr\": " + std::to_string(10.0 / e) +
           ", \"grad_norm\": 0.25, \"tokens\": 1000, \"tokens_per_s\": 50000, \"seconds\": 0.02}\n";
    out += "{\"epoch\": " + std::to_string(e) +
           ", \"split\": \"valid\", \"loss\": " + std::to_string(loss + 0.1) +
           ", \"ppl\": " + std::to_string(110.0 / e) +
           ", \"accuracy\": " + std::to_string(0.09 * e) + ", \"lr\": " + std::to_string(10.0 / e) +
           ", \"tokens\": 200, \"tokens_per_s\": 90000, \"seconds\": 0.002}\n";
  }
  return out;
}

const char* kSummary =
    R"({"name": "tiny", "train": {"best_epoch": 3, "select": "ppl", "best_ppl": 36.67, "seconds": 45.2, "parameters": 157614},)"
    R"( "evaluate": {"test": {"ppl": 38.1372, "loss": 3.641}}, "optimum_ppl": 5.59})";

// A run folder with three epochs of train and valid lines, a summary and a manifest.
void make_run(const fs::path& dir, int epochs = 3) {
  write(dir / "metrics.jsonl", metrics_lines(epochs));
  write(dir / "summary.json", kSummary);
  write(
      dir / "manifest.json",
      R"({"loom": {"version": "0.1.0", "commit": "abc123"}, "command": "loom run tiny.yaml", "threads": 2,)"
      R"( "seed": 1111, "cpu": {"model": "Test CPU", "flags": "sse2 avx2"}, "libraries": {"openblas": "0.3.21"},)"
      R"( "plugins": [{"name": "rnn_lm", "kind": "models", "version": "1.0", "abi": 2, "sha256": "00112233445566778899"}]})");
  write(dir / "config.yaml", "name: tiny\nstages:\n  - train: { epochs: 3 }\n");
}

std::string report_of(const fs::path& dir) {
  fs::path out = loom::write_report(dir);
  BOOST_TEST(out == dir / "report.html");
  return read(out);
}

// A sweep point as sweep.json lists it.
std::string point(const std::string& nhid, const std::string& nlayers, const std::string& status,
                  const std::string& results) {
  std::string id = "nhid=" + nhid + ",nlayers=" + nlayers;
  return R"({"id": ")" + id + R"(", "dir": ")" + id +
         R"(", "values": {"components.model.nhid": ")" + nhid +
         R"(", "components.model.nlayers": ")" + nlayers + R"("}, "status": ")" + status +
         R"(", "results": )" + results + "}";
}

std::string sweep_json(
    const std::vector<std::string>& points,
    const std::string& keys = R"(["components.model.nhid", "components.model.nlayers"])") {
  std::string list;
  for (const auto& p : points) list += (list.empty() ? "" : ",\n  ") + p;
  return R"({"name": "grid", "keys": )" + keys +
         R"(, "primary": "test.ppl", "higher_is_better": false,)"
         R"( "columns": ["test.ppl", "test.loss", "train.seconds"], "points": [)" +
         "\n  " + list + "]}\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(run_report_has_scores_and_one_chart_per_curve) {
  TempDir tmp;
  make_run(tmp / "run");
  std::string html = report_of(tmp / "run");
  // loss, ppl, accuracy, learning rate, gradient norm, tokens/s
  BOOST_TEST(count(html, "class=\"chart line-chart\"") == 6u);
  BOOST_TEST(count(html, "data-chart=\"metric\"") == 2u);
  for (const char* kind : {"loss", "lr", "grad_norm", "tokens_per_s"})
    BOOST_TEST(!chart(html, kind).empty(), kind);
  // Train and valid lines in the loss chart, three dots each; the learning rate has one line.
  std::string loss = chart(html, "loss");
  BOOST_TEST(count(loss, "<polyline") == 2u);
  BOOST_TEST(count(loss, "<circle") == 6u);
  BOOST_TEST(count(chart(html, "lr"), "<polyline") == 1u);
  BOOST_TEST(count(chart(html, "grad_norm"), "<circle") == 3u);  // valid lines have no grad_norm
  BOOST_TEST(contains(html, "data-series=\"train\""));
  BOOST_TEST(contains(html, "data-series=\"valid\""));
  BOOST_TEST(contains(loss, ">epoch</text>"));
  BOOST_TEST(contains(loss, "best epoch"));
  // The learning rate falls from 10 to 3.33, less than a factor of ten: a linear scale.
  BOOST_TEST(!contains(chart(html, "lr"), "(log scale)"));
  BOOST_TEST(contains(chart(html, "metric"), "ppl</text>"));
  // Scores, the training summary, the manifest and the configuration.
  BOOST_TEST(contains(html, "<title>tiny</title>"));
  BOOST_TEST(contains(html, "38.14"));    // test ppl, four significant digits
  BOOST_TEST(contains(html, "5.59"));     // the optimum beside it
  BOOST_TEST(contains(html, "157,614"));  // parameters
  BOOST_TEST(contains(html, "45.2 s"));
  BOOST_TEST(contains(html, "abc123"));
  BOOST_TEST(contains(html, "1111"));
  BOOST_TEST(contains(html, "0.3.21"));
  BOOST_TEST(contains(html, "<details>"));
  BOOST_TEST(contains(html, "stages:\n  - train: { epochs: 3 }"));
  BOOST_TEST(count(html, "<svg") == 6u);
}

BOOST_AUTO_TEST_CASE(report_is_self_contained_and_deterministic) {
  TempDir tmp;
  make_run(tmp / "a" / "run");
  make_run(tmp / "b" / "run");
  std::string first = report_of(tmp / "a" / "run");
  BOOST_TEST(first == report_of(tmp / "a" / "run"));  // again, over its own previous report
  BOOST_TEST(first == report_of(tmp / "b" / "run"));  // the same files elsewhere
  std::string l = lower(first);
  BOOST_TEST(!contains(l, "<script"));
  BOOST_TEST(!contains(l, "http"));
  BOOST_TEST(!contains(l, "src="));
  BOOST_TEST(!contains(l, "@import"));
  BOOST_TEST(!contains(l, "url("));
  BOOST_TEST(contains(first, "<style>"));
}

BOOST_AUTO_TEST_CASE(text_from_files_is_escaped) {
  TempDir tmp;
  fs::path run = tmp / "run";
  write(run / "metrics.jsonl",
        R"({"epoch": 1, "split": "<b>train</b>", "loss": 2.5, "<img src=x>": 3, "lr": 1})"
        "\n");
  write(run / "summary.json",
        R"({"name": "<script>alert('x')</script>", "evaluate": {"test&": {"\"q\"": 1.5}}})");
  write(run / "manifest.json", R"({"command": "loom run \"a b\" <x>", "note": "</dd><script>"})");
  write(run / "config.yaml", "name: x # </pre><script>alert(1)</script>\n");
  std::string html = report_of(run);
  BOOST_TEST(!contains(lower(html), "<script"));
  BOOST_TEST(!contains(html, "<b>"));
  BOOST_TEST(!contains(html, "<img"));
  BOOST_TEST(!contains(html, "<x>"));
  BOOST_TEST(contains(html, "<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</title>"));
  BOOST_TEST(contains(html, "data-series=\"&lt;b&gt;train&lt;/b&gt;\""));
  BOOST_TEST(contains(html, "data-metric=\"&lt;img src=x&gt;\""));
  BOOST_TEST(contains(html, "test&amp;"));
  BOOST_TEST(contains(html, "&quot;q&quot;"));
  BOOST_TEST(contains(html, "&lt;/pre&gt;&lt;script&gt;"));
}

BOOST_AUTO_TEST_CASE(unexpected_shapes_are_shown_and_integers_print_exactly) {
  TempDir tmp;
  fs::path run = tmp / "run";
  write(run / "metrics.jsonl", metrics_lines(1));
  // Scores that are not objects, a plugin entry that is not an object: shown as they are.
  write(run / "summary.json", R"({"evaluate": {"test": 5, "valid": {"ppl": 7.25}}})");
  write(run / "manifest.json", R"({"seed": 9007199254740993, "plugins": [1, {"name": "sgd"}]})");
  std::string html = report_of(run);
  BOOST_TEST(contains(html, "7.25"));
  BOOST_TEST(contains(html, "sgd"));
  BOOST_TEST(contains(html, "9007199254740993"));  // 2^53 + 1: no detour through a double
}

BOOST_AUTO_TEST_CASE(repeated_epoch_lines_are_replaced_not_duplicated) {
  TempDir tmp;
  fs::path run = tmp / "run";
  // A resumed run wrote epoch 2 twice; the later line counts.
  write(run / "metrics.jsonl", R"({"epoch": 1, "split": "train", "loss": 4.5, "lr": 1})"
                               "\n"
                               R"({"epoch": 2, "split": "train", "loss": 9.75, "lr": 1})"
                               "\n"
                               R"({"epoch": 2, "split": "train", "loss": 3.25, "lr": 1})"
                               "\n"
                               R"({"epoch": 3, "split": "train", "loss": 2.5, "lr": 1})"
                               "\n");
  std::string loss = chart(report_of(run), "loss");
  BOOST_TEST(count(loss, "<circle") == 3u);
  BOOST_TEST(contains(loss, "epoch 2: 3.25</title>"));
  BOOST_TEST(!contains(loss, "9.75"));
  BOOST_TEST(contains(report_of(run), "3 epochs"));
}

BOOST_AUTO_TEST_CASE(a_single_epoch_is_a_dot) {
  TempDir tmp;
  make_run(tmp / "run", 1);
  std::string loss = chart(report_of(tmp / "run"), "loss");
  BOOST_TEST(count(loss, "<circle") == 2u);
  BOOST_TEST(count(loss, "<polyline") == 0u);
  BOOST_TEST(contains(loss, ">1</text>"));  // the one epoch is labelled
}

BOOST_AUTO_TEST_CASE(wide_ranges_use_a_log_scale) {
  TempDir tmp;
  fs::path run = tmp / "run";
  write(run / "metrics.jsonl",
        R"({"epoch": 1, "split": "train", "loss": 6.9, "ppl": 992.3, "lr": 20})"
        "\n"
        R"({"epoch": 2, "split": "train", "loss": 4.6, "ppl": 99.5, "lr": 5})"
        "\n"
        R"({"epoch": 3, "split": "train", "loss": 2.0, "ppl": 7.4, "lr": 0.3125})"
        "\n");
  std::string html = report_of(run);
  BOOST_TEST(contains(chart(html, "metric"), "ppl (log scale)"));
  BOOST_TEST(contains(chart(html, "lr"), "lr (log scale)"));
  BOOST_TEST(!contains(chart(html, "loss"), "log scale"));
}

BOOST_AUTO_TEST_CASE(an_empty_metrics_file_still_gives_a_report) {
  TempDir tmp;
  write(tmp / "run" / "metrics.jsonl", "");
  std::string html = report_of(tmp / "run");
  BOOST_TEST(contains(html, "No epoch has been recorded"));
  BOOST_TEST(count(html, "<svg") == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_files_are_input_errors_naming_file_and_line) {
  TempDir tmp;
  fs::path run = tmp / "run";
  std::string good = R"({"epoch": 1, "split": "train", "loss": 2.5})"
                     "\n";
  struct Case {
    std::string metrics;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {good + good +
           R"({"epoch": 2, "split": "train", "loss" 2.5})"
           "\n",
       {"metrics.jsonl:3: malformed JSON at column 39: expected ':'"}},
      {good + R"({"epoch": 2, "split": "train", "loss": 2.5)"
              "\n",
       {"metrics.jsonl:2: malformed JSON", "expected '}'"}},
      {good + "\n" +
           R"({"epoch": 2, "split": "train", "loss": x})"
           "\n",
       {"metrics.jsonl:3: malformed JSON", "unexpected character"}},
      {good + R"({"split": "train", "loss": 2.5})"
              "\n",
       {"metrics.jsonl:2: the line has no numeric 'epoch'"}},
      {R"({"epoch": 1, "loss": 2.5})"
       "\n",
       {"metrics.jsonl:1: the line has no 'split' string"}},
      {"[1, 2]\n", {"metrics.jsonl:1: expected a JSON object per line"}},
      {good + R"({"epoch": 2, "split": "train"} x)"
              "\n",
       {"metrics.jsonl:2: malformed JSON at column 32: trailing characters"}},
  };
  for (const auto& c : cases) {
    write(run / "metrics.jsonl", c.metrics);
    std::vector<std::string> fragments = c.fragments;
    fragments.push_back((run / "metrics.jsonl").string());
    try {
      loom::write_report(run);
      BOOST_ERROR("no error for " << c.metrics);
    } catch (const InputError& e) {
      for (const auto& f : fragments) BOOST_TEST(contains(e.what(), f), e.what() << " lacks " << f);
    }
  }
  write(run / "metrics.jsonl", good);
  write(run / "summary.json", "{\"name\": \"x\",\n \"train\": {\"best_epoch\": }}");
  expect_error<InputError>([&] { loom::write_report(run); },
                           {"summary.json: malformed JSON at line 2, column 26"});
  write(run / "summary.json", "[]");
  expect_error<InputError>([&] { loom::write_report(run); },
                           {"summary.json: expected a JSON object"});
}

BOOST_AUTO_TEST_CASE(missing_inputs_are_input_errors) {
  TempDir tmp;
  fs::create_directories(tmp / "empty");
  expect_error<InputError>(
      [&] { loom::write_report(tmp / "empty"); },
      {(tmp / "empty" / "metrics.jsonl").string(), "no such file", "sweep.json"});
  expect_error<InputError>([&] { loom::write_report(tmp / "absent"); },
                           {"absent", "no such folder"});
  BOOST_TEST(!fs::exists(tmp / "empty" / "report.html"));
}

BOOST_AUTO_TEST_CASE(sweep_report_has_table_charts_heatmap_and_links) {
  TempDir tmp;
  fs::path sweep = tmp / "sweep";
  // A 2 x 3 grid: one failed point, one pending, the best at nhid=64, nlayers=2. Values are
  // listed out of order: numbers sort numerically.
  write(sweep / "sweep.json",
        sweep_json({point("64", "1", "done",
                          R"({"test.ppl": 6.25, "test.loss": 1.83, "train.seconds": 12.5})"),
                    point("32", "1", "done",
                          R"({"test.ppl": 7.5, "test.loss": 2.01, "train.seconds": 10})"),
                    point("32", "10", "failed", "{}"),
                    point("64", "2", "done",
                          R"({"test.ppl": 5.875, "test.loss": 1.77, "train.seconds": 95})"),
                    point("32", "2", "done",
                          R"({"test.ppl": 6.75, "test.loss": 1.91, "train.seconds": 11})"),
                    point("64", "10", "pending", "{}")}));
  make_run(sweep / "nhid=64,nlayers=1");
  make_run(sweep / "nhid=64,nlayers=2");
  loom::write_report(sweep / "nhid=64,nlayers=2");  // only this point has its report yet
  std::string html = report_of(sweep);

  BOOST_TEST(contains(html, "<title>grid</title>"));
  BOOST_TEST(count(html, "<tr class=\"point") == 6u);
  BOOST_TEST(count(html, "<td class=\"best\">") == 1u);
  BOOST_TEST(contains(html, "<td class=\"best\">5.875</td>"));
  BOOST_TEST(contains(html, "1 min 35 s"));  // train.seconds as a duration
  BOOST_TEST(contains(html, "status-failed"));
  BOOST_TEST(count(html, "class=\"point-report\"") == 1u);
  BOOST_TEST(contains(html, "href=\"nhid=64,nlayers=2/report.html\""));

  // One chart per swept key, with one line per value of the other key.
  BOOST_TEST(count(html, "data-chart=\"sweep\"") == 2u);
  std::string by_nhid = chart(html, "sweep");
  BOOST_TEST(contains(by_nhid, "data-key=\"components.model.nhid\""));
  BOOST_TEST(count(by_nhid, "<g class=\"series\"") ==
             2u);  // nlayers=1 and nlayers=2 (10 has no result)
  BOOST_TEST(contains(html, "nlayers=1</li>"));
  std::string by_nlayers = chart(html, "sweep", 1);
  std::size_t at1 = by_nlayers.find(">1</text>"), at2 = by_nlayers.find(">2</text>"),
              at10 = by_nlayers.find(">10</text>");
  BOOST_TEST((at1 < at2 && at2 < at10 && at10 != std::string::npos));

  // The heatmap: 2 x 3 cells, values printed, the failed and pending cells shown as such.
  std::string heat = chart(html, "heatmap");
  BOOST_TEST(count(heat, "<rect class=\"cell") == 6u);
  BOOST_TEST(contains(heat, "data-rows=\"2\" data-columns=\"3\""));
  BOOST_TEST(count(heat, "data-status=\"done\"") == 4u);
  BOOST_TEST(count(heat, "data-status=\"failed\"") == 1u);
  BOOST_TEST(count(heat, "data-status=\"pending\"") == 1u);
  BOOST_TEST(count(heat, "class=\"cell best\"") == 1u);
  for (const char* v : {">6.25<", ">7.5<", ">5.875<", ">6.75<", ">failed<", ">pending<"})
    BOOST_TEST(contains(heat, v), v);
  BOOST_TEST(contains(heat, "class=\"color-legend\""));

  // Validation curves of the points that have run folders.
  std::string curves = chart(html, "curves");
  BOOST_TEST(count(curves, "<g class=\"series\"") == 2u);
  BOOST_TEST(contains(html, "Validation curves (valid ppl)"));
  BOOST_TEST(!contains(lower(html), "http"));
  BOOST_TEST(html == report_of(sweep));
}

BOOST_AUTO_TEST_CASE(heatmap_only_for_two_keys_and_text_values_keep_their_order) {
  TempDir tmp;
  fs::path sweep = tmp / "sweep";
  auto one = [](const std::string& cell, double ppl) {
    return R"({"id": "cell=)" + cell + R"(", "values": {"components.model.cell": ")" + cell +
           R"("}, "status": "done", "results": {"test.ppl": )" + std::to_string(ppl) + "}}";
  };
  write(sweep / "sweep.json", sweep_json({one("lstm", 6.5), one("gru", 6.0), one("rnn", 9.0)},
                                         R"(["components.model.cell"])"));
  std::string html = report_of(sweep);
  BOOST_TEST(chart(html, "heatmap").empty());
  std::string c = chart(html, "sweep");
  BOOST_TEST(count(c, "<circle") == 3u);
  std::size_t lstm = c.find(">lstm</text>"), gru = c.find(">gru</text>"),
              rnn = c.find(">rnn</text>");
  BOOST_TEST((lstm < gru && gru < rnn && rnn != std::string::npos));
  BOOST_TEST(contains(html, "<td class=\"best\">6</td>"));
  BOOST_TEST(count(html, "class=\"point-report\"") == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_sweep_json_is_an_input_error) {
  TempDir tmp;
  fs::path sweep = tmp / "sweep";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"points\": [\n  {\"id\": \"a\",}\n]}", "sweep.json: malformed JSON at line 2, column 14"},
      {R"({"name": "x"})", "sweep.json: 'points' must be an array"},
      {R"({"points": [{"dir": "a"}]})", "sweep.json: point 1 has no 'id' string"},
      {R"({"keys": "nhid", "points": []})", "sweep.json: 'keys' must be an array of strings"},
      {R"({"higher_is_better": "yes", "points": []})", "'higher_is_better' must be true or false"},
  };
  for (const auto& [text, fragment] : cases) {
    write(sweep / "sweep.json", text);
    expect_error<InputError>([&] { loom::write_report(sweep); }, {fragment});
  }
}
