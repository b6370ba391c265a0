// The attention page: one heatmap per layer and head, keys across, queries down, drawn as
// inline SVG (viridis, 0 to 1), each cell titled with its weight. Self-contained HTML.
#include <algorithm>
#include <string>
#include <vector>

#include "loom/plugin.hpp"
#include "report/html.hpp"

namespace loom::report {

namespace {

// Weights [queries x keys], row i the distribution of query i over the keys.
std::string heatmap(const std::vector<std::string>& queries, const std::vector<std::string>& keys, const float* w,
                    const std::string& label) {
  const auto tq = static_cast<std::int64_t>(queries.size()), tk = static_cast<std::int64_t>(keys.size());
  const double cell = std::clamp(420.0 / static_cast<double>(std::max<std::int64_t>({tq, tk, 1})), 6.0, 22.0);
  std::size_t longest = 1;
  for (const auto* list : {&queries, &keys})
    for (const auto& t : *list) longest = std::max(longest, std::min<std::size_t>(t.size(), 16));
  const double margin = 7.0 * static_cast<double>(longest) + 8.0;
  const double width = 1.5 * margin + cell * static_cast<double>(tk), height = margin + cell * static_cast<double>(tq);
  auto shown = [&](const std::string& t) { return escape_html(t.size() > 16 ? t.substr(0, 15) + "\xE2\x80\xA6" : t); };
  std::string s = "<figure class=\"heatmap\"><figcaption>" + escape_html(label) + "</figcaption>\n<svg role=\"img\" aria-label=\"" +
                  escape_html(label) + "\" width=\"" + coord(width) + "\" height=\"" + coord(height) + "\" viewBox=\"0 0 " +
                  coord(width) + " " + coord(height) + "\" font-size=\"11\">\n";
  for (std::int64_t j = 0; j < tk; ++j) {
    const double x = margin + cell * (static_cast<double>(j) + 0.5);
    s += "<text transform=\"translate(" + coord(x) + "," + coord(margin - 4) + ") rotate(-60)\">" +
         shown(keys[static_cast<std::size_t>(j)]) + "</text>\n";
  }
  for (std::int64_t i = 0; i < tq; ++i) {
    const double y = margin + cell * (static_cast<double>(i) + 0.5) + 4;
    const std::string q = shown(queries[static_cast<std::size_t>(i)]);
    s += "<text x=\"" + coord(margin - 4) + "\" y=\"" + coord(y) + "\" text-anchor=\"end\">" + q + "</text>\n";
    for (std::int64_t j = 0; j < tk; ++j) {
      const float v = w[i * tk + j];
      s += "<rect x=\"" + coord(margin + cell * static_cast<double>(j)) + "\" y=\"" + coord(margin + cell * static_cast<double>(i)) +
           "\" width=\"" + coord(cell) + "\" height=\"" + coord(cell) + "\" fill=\"" + viridis(v) + "\"><title>" + q +
           " \xE2\x86\x92 " + shown(keys[static_cast<std::size_t>(j)]) + ": " + to_text(v, std::chars_format::fixed, 3) +
           "</title></rect>\n";
    }
  }
  return s + "</svg></figure>\n";
}

}  // namespace

std::string attention_page(const std::string& title, const std::string& text, const std::vector<std::string>& tokens,
                           const std::vector<AttentionMap>& maps) {
  std::string main = "<section class=\"card\"><h2>Text</h2><p>" + escape_html(text) + "</p><p>" +
                     std::to_string(tokens.size()) +
                     " tokens; each heatmap shows, for every query token (down), its attention over the key tokens "
                     "(across), from 0 (dark) to 1 (yellow). Hover a cell for its weight.</p></section>\n";
  for (const auto& m : maps) {
    const std::int64_t heads = m.weights.dim(0), tq = m.weights.dim(1), tk = m.weights.dim(2);
    main += "<section class=\"card\"><h2>" + escape_html(m.name) + "</h2>\n<div style=\"display:flex;flex-wrap:wrap;gap:16px\">\n";
    // Queries are the last tq tokens (all of them when tq = tk); keys the first tk.
    const std::vector<std::string> queries(tokens.end() - tq, tokens.end()), keys(tokens.begin(), tokens.begin() + tk);
    for (std::int64_t h = 0; h < heads; ++h)
      main += heatmap(queries, keys, m.weights.data() + h * tq * tk, m.name + ", head " + std::to_string(h));
    main += "</div></section>\n";
  }
  return page(title, "attention weights of every layer and head", main, "loom attention");
}

std::string translation_attention_page(const std::string& title, const std::vector<TranslatedSentence>& sentences) {
  std::string main = "<section class=\"card\"><h2>Attention of the decoder</h2><p>" + std::to_string(sentences.size()) +
                     " sentences; for every output token (down), where the decoder looked in the source (across), from "
                     "0 (dark) to 1 (yellow). Hover a cell for its weight.</p></section>\n";
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    const auto& t = sentences[i];
    main += "<section class=\"card\"><h2>Sentence " + std::to_string(i + 1) + "</h2>\n";
    const bool fits = t.weights.size() == t.target.size() &&
                      std::all_of(t.weights.begin(), t.weights.end(), [&](const auto& r) { return r.size() >= t.source.size(); });
    if (!fits || t.source.empty()) {
      main += "<p>No attention weights for this sentence (the model has none).</p></section>\n";
      continue;
    }
    std::vector<float> w;
    for (const auto& row : t.weights) w.insert(w.end(), row.begin(), row.begin() + static_cast<std::ptrdiff_t>(t.source.size()));
    main += heatmap(t.target, t.source, w.data(), "sentence " + std::to_string(i + 1)) + "</section>\n";
  }
  return page(title, "where the decoder looked, token by token", main, "loom translate");
}

}  // namespace loom::report
