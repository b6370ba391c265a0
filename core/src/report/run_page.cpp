#include "report/html.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/errors.hpp"
#include "loom/json.hpp"
#include "loom/parameters.hpp"

namespace loom::report {
namespace {

// ---------------------------------------------------------------------------------------------
// Run folders.

// The fields of a metrics line that are not metric ids.
bool is_bookkeeping(const std::string& key) {
  static const std::set<std::string> kKeys = {"epoch",     "split",  "loss",         "lr",      "grad_norm",
                                              "tokens",    "tokens_per_s", "seconds", "train_tokens", "train_flops",
                                              "batch",     "at_flops"};
  return kKeys.count(key) > 0;
}

// metrics.jsonl, the last line of each epoch and split (a resumed run repeats lines).


std::string metric_title(const std::string& id) {
  static const std::map<std::string, std::string> kNames = {
      {"ppl", "Perplexity"}, {"accuracy", "Accuracy"},
      {"acc", "Accuracy"},   {"f1", "F1"},
      {"bleu", "BLEU"},      {"precision", "Precision"},
      {"recall", "Recall"},  {"bpc", "Bits per character"}};
  auto it = kNames.find(id);
  return it == kNames.end() ? id : it->second + " (" + id + ")";
}

// One series per split, coloured by the split's position.
std::vector<Series> per_split(const EpochMetrics& m, const std::string& key) {
  std::vector<Series> out;
  for (std::size_t i = 0; i < m.splits.size(); ++i) {
    auto points = m.series(m.splits[i], key);
    if (points.empty()) continue;
    out.push_back(nth_series(i, m.splits[i], std::move(points)));
  }
  return out;
}

// A <dl class="kv"> list of keys and values, built row by row.
struct KeyValues {
  std::string rows;

  void add(const std::string& key, const std::string& value_html) {
    rows += "<dt>" + escape_html(key) + "</dt><dd>" + value_html + "</dd>";
  }
  std::string html() const { return rows.empty() ? "" : "<dl class=\"kv\">" + rows + "</dl>\n"; }
};

std::string scores_html(const Json& summary) {
  const Json* evaluate = summary.find("evaluate");
  std::string s;
  std::set<std::string> shown;
  if (evaluate != nullptr && !members_of(*evaluate).empty()) {
    std::vector<std::string> columns;
    for (const auto& [split, scores] : evaluate->members())
      for (const auto& [id, v] : members_of(scores)) add_unique(columns, id);
    s += "<table class=\"scores\">\n<tr><th class=\"text\">split</th>";
    for (const auto& id : columns) s += "<th>" + escape_html(id) + "</th>";
    s += "</tr>\n";
    for (const auto& [split, scores] : evaluate->members()) {
      s += "<tr><td class=\"text\">" + escape_html(split) + "</td>";
      for (const auto& id : columns) {
        const Json* v = scores.find(id);
        s += "<td>" + (v != nullptr ? escape_html(compact(*v)) : kDash) + "</td>";
      }
      s += "</tr>\n";
    }
    // "optimum_ppl" beside the metric "ppl": the best possible score the data generator knows.
    bool any_optimum = false;
    std::string optimum_row = "<tr class=\"optimum\"><td class=\"text\">optimum</td>";
    for (const auto& id : columns) {
      auto v = number_of(summary, "optimum_" + id);
      optimum_row += "<td>" + (v ? format_value(*v) : std::string()) + "</td>";
      if (v) {
        any_optimum = true;
        shown.insert("optimum_" + id);
      }
    }
    if (any_optimum) s += optimum_row + "</tr>\n";
    s += "</table>\n";
  }
  KeyValues kv;
  if (const Json* train = summary.find("train"); train != nullptr && train->is_object()) {
    std::set<std::string> known = {"best_epoch", "select", "seconds", "parameters"};
    if (auto best = number_of(*train, "best_epoch"))
      kv.add("best epoch", escape_html(format_value(*best)));
    if (const std::string* select = string_of(*train, "select")) {
      known.insert("best_" + *select);
      std::string text = *select;
      if (auto best = number_of(*train, "best_" + *select)) text += " " + format_value(*best);
      kv.add("selected by", escape_html(text));
    }
    if (auto seconds = number_of(*train, "seconds"))
      kv.add("training time", escape_html(format_seconds(*seconds)));
    if (auto parameters = number_of(*train, "parameters"))
      kv.add("parameters", escape_html(format_value(*parameters)));
    for (const auto& [key, v] : train->members())
      if (known.count(key) == 0) kv.add(key, escape_html(compact(v)));
  }
  for (const auto& [key, v] : summary.members())
    if (key != "name" && key != "train" && key != "evaluate" && shown.count(key) == 0)
      kv.add(key, escape_html(compact(v)));
  return s + kv.html();
}

std::string manifest_html(const Json& manifest) {
  KeyValues kv;
  std::string plugins;
  for (const auto& [key, v] : manifest.members()) {
    if (key == "loom" && v.is_object()) {
      std::string text;
      if (const std::string* version = string_of(v, "version")) text = *version;
      if (const std::string* commit = string_of(v, "commit"))
        text += (text.empty() ? "commit " : " \xC2\xB7 commit ") + *commit;
      for (const auto& [k, item] : v.members())
        if (k != "version" && k != "commit")
          text += (text.empty() ? "" : " \xC2\xB7 ") + k + " " + compact(item, Numbers::kExact);
      kv.add("loom", escape_html(text));
    } else if (key == "command" && v.string() != nullptr) {
      kv.add("command", "<code>" + escape_html(*v.string()) + "</code>");
    } else if (key == "cpu" && v.is_object()) {
      for (const auto& [k, item] : v.members()) {
        if (const std::string* flags = item.string(); k == "flags" && flags != nullptr) {
          std::size_t count = 0;
          std::istringstream words(*flags);
          for (std::string w; words >> w;) ++count;
          kv.add("cpu flags", "<details><summary>" + std::to_string(count) +
                                  " flags</summary><div class=\"flags\">" + escape_html(*flags) +
                                  "</div></details>");
        } else {
          kv.add(k == "model" ? "cpu" : "cpu " + k, escape_html(compact(item, Numbers::kExact)));
        }
      }
    } else if (key == "plugins" && v.is_array()) {
      std::vector<std::string> columns;
      for (const auto& p : v.items())
        for (const auto& [k, item] : members_of(p)) add_unique(columns, k);
      plugins = "<table class=\"plugins\">\n<tr>";
      for (const auto& col : columns) plugins += "<th class=\"text\">" + escape_html(col) + "</th>";
      plugins += "</tr>\n";
      for (const auto& p : v.items()) {
        plugins += "<tr>";
        for (const auto& col : columns) {
          const Json* item = p.find(col);
          std::string text = item != nullptr ? compact(*item, Numbers::kExact) : "";
          if (col == "sha256" && text.size() > 12)  // the full digest stays in the tooltip
            plugins += "<td class=\"text\"><code title=\"" + escape_html(text) + "\">" +
                       escape_html(text.substr(0, 12)) + "\xE2\x80\xA6</code></td>";
          else
            plugins += "<td class=\"text\">" + escape_html(text) + "</td>";
        }
        plugins += "</tr>\n";
      }
      plugins += "</table>\n";
    } else {
      kv.add(key, escape_html(compact(v, Numbers::kExact)));
    }
  }
  std::string s = kv.html();
  if (!plugins.empty()) s += "<h3 class=\"plugins-title\">plugins</h3>\n" + plugins;
  return s;
}

}  // namespace

EpochMetrics read_metrics(const fs::path& file) {
  auto text = read_if_present(file);
  if (!text)
    throw InputError(file.string() +
                     ": no such file (a run folder has metrics.jsonl, a sweep folder sweep.json)");
  EpochMetrics m;
  std::string_view rest(*text);
  for (int line_no = 1; !rest.empty(); ++line_no) {
    std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string where = file.string() + ":" + std::to_string(line_no);
    Json v = Json::parse(std::string(line), where);
    if (!v.is_object()) throw InputError(where + ": expected a JSON object per line");
    auto epoch = number_of(v, "epoch");
    if (!epoch) throw InputError(where + ": the line has no numeric 'epoch'");
    const std::string* split = string_of(v, "split");
    if (split == nullptr) throw InputError(where + ": the line has no 'split' string");
    add_unique(m.splits, *split);
    for (const auto& [key, value] : v.members()) {
      bool numeric = value.is_number() || value.is_null();  // null: a NaN was written
      if (numeric && !is_bookkeeping(key)) add_unique(m.metric_ids, key);
    }
    m.lines[*split][*epoch] = std::move(v);
  }
  return m;
}

std::string run_report(const fs::path& dir) {
  EpochMetrics m = read_metrics(dir / "metrics.jsonl");
  auto summary = read_object_if_present(dir / "summary.json");
  auto manifest = read_object_if_present(dir / "manifest.json");
  std::string name = folder_name(dir);
  if (const std::string* given = summary ? string_of(*summary, "name") : nullptr) name = *given;

  std::optional<double> best_epoch;
  if (summary)
    if (const Json* train = summary->find("train"))
      if (auto b = number_of(*train, "best_epoch"); b && *b > 0) best_epoch = b;

  std::set<std::string> ids;
  std::string main_html;
  if (summary) {
    std::string scores = scores_html(*summary);
    if (!scores.empty())
      main_html += "<section class=\"card\" id=\"" + unique_id("results", ids) +
                   "\">\n<h2>Results</h2>\n" + scores + "</section>\n";
  }
  if (manifest && !manifest->members().empty())
    main_html += "<section class=\"card\" id=\"" + unique_id("run", ids) + "\">\n<h2>Run</h2>\n" +
                 manifest_html(*manifest) + "</section>\n";

  main_html += "<h2 class=\"group\">Curves per epoch</h2>\n";
  if (m.lines.empty()) {
    main_html += "<section class=\"card\" id=\"" + unique_id("no-epochs", ids) +
                 "\">\n<p>No epoch has been recorded in metrics.jsonl yet.</p>\n</section>\n";
  } else {
    std::string charts;
    auto add = [&](const std::string& id, LineChart c) {
      charts += chart_section(unique_id(id, ids), c);
    };
    auto curve = [&](const std::string& kind, const std::string& title, const std::string& key,
                     const std::string& y_label) {
      LineChart c = make_chart(kind, title, "epoch", y_label, per_split(m, key));
      if (best_epoch) {
        c.marker_x = best_epoch;
        c.marker_label = "best epoch";
      }
      return c;
    };
    add("chart-loss", curve("loss", "Loss", "loss", "loss"));
    for (const auto& id : m.metric_ids) {
      LineChart c = curve("metric", metric_title(id), id, id);
      c.attributes = " data-metric=\"" + escape_html(id) + "\"";
      add("chart-metric-" + id, std::move(c));
    }
    // The learning rate and gradient norm belong to training: one line, from the first split
    // that records them.
    for (const auto& [key, title] :
         {std::pair<std::string, std::string>{"lr", "Learning rate"},
          std::pair<std::string, std::string>{"grad_norm", "Gradient norm"}}) {
      for (const auto& split : m.splits) {
        auto points = m.series(split, key);
        if (points.empty()) continue;
        LineChart c =
            make_chart(key, title, "epoch", key, {{split, kPalette[0], false, std::move(points)}});
        c.legend = false;
        add("chart-" + key, std::move(c));
        break;
      }
    }
    if (m.has("tokens_per_s"))
      add("chart-tokens-per-s", make_chart("tokens_per_s", "Throughput", "epoch", "tokens/s",
                                           per_split(m, "tokens_per_s")));
    main_html += "<div class=\"charts\">\n" + charts + "</div>\n";
  }
  main_html += config_section(dir, ids);

  std::string subtitle = "run report \xC2\xB7 folder " + escape_html(folder_name(dir)) +
                         " \xC2\xB7 " + std::to_string(m.epochs()) +
                         (m.epochs() == 1 ? " epoch" : " epochs");
  if (best_epoch) subtitle += " \xC2\xB7 best epoch " + format_value(*best_epoch);
  return page(name, subtitle, main_html,
              "Written by <code>loom report</code> from the files of the run folder.");
}


}  // namespace loom::report
