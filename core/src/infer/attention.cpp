// Attention maps of a text: what loom attention and the attention stage write.
#include <filesystem>

#include "infer/inference.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/json.hpp"
#include "report/html.hpp"

namespace loom {

std::int64_t write_attention(Model& model, const Tokenizer& tokenizer, const Vocab& vocab, const std::string& text,
                             const std::filesystem::path& dir, const std::string& title) {
  auto* shows = dynamic_cast<ShowsAttention*>(&model);
  if (shows == nullptr) throw ConfigError("attention: the model has no attention layers to show");
  std::vector<std::string> tokens = tokenizer.tokenize(text);
  if (tokens.empty()) throw InputError("attention: the text has no tokens");
  std::vector<std::string> shown;
  const std::int32_t start = line_end(&tokenizer, vocab);
  if (start != Vocab::kNone) shown.push_back(vocab.token(start));
  Tensor ids = Tensor::empty(Shape{static_cast<std::int64_t>(tokens.size() + shown.size()), 1}, DType::kInt32);
  std::int64_t n = 0;
  if (start != Vocab::kNone) ids.ids()[n++] = start;
  for (const auto& t : tokens) {
    std::int32_t id = vocab.find(t);
    if (id == Vocab::kNone) {
      if (vocab.unk_id() == Vocab::kNone)
        throw InputError("attention: token '" + t + "' is not in the vocabulary, which has no unknown-token entry");
      id = vocab.unk_id();
    }
    ids.ids()[n++] = id;
    shown.push_back(id == vocab.unk_id() && vocab.token(id) != t ? t + " (" + vocab.token(id) + ")" : t);
  }
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  Graph g(Mode::kEval);
  const std::vector<AttentionMap> maps = shows->attention_maps(g, ids);
  Json json = Json::object();
  json["text"] = text;
  Json toks = Json::array();
  for (const auto& t : shown) toks.push_back(t);
  json["tokens"] = toks;
  Json layers = Json::array();
  for (const auto& m : maps) {
    Json layer = Json::object();
    layer["name"] = m.name;
    Json heads = Json::array();
    const std::int64_t H = m.weights.dim(0), tq = m.weights.dim(1), tk = m.weights.dim(2);
    for (std::int64_t h = 0; h < H; ++h) {
      Json rows = Json::array();
      for (std::int64_t i = 0; i < tq; ++i) {
        Json row = Json::array();
        for (std::int64_t j = 0; j < tk; ++j) row.push_back(static_cast<double>(m.weights.data()[(h * tq + i) * tk + j]));
        rows.push_back(row);
      }
      heads.push_back(rows);
    }
    layer["heads"] = heads;
    layers.push_back(layer);
  }
  json["layers"] = layers;
  std::filesystem::create_directories(dir);
  write_file_atomically(dir / "attention.json", json.dump() + "\n");
  write_file_atomically(dir / "attention.html", report::attention_page(title, text, shown, maps));
  return static_cast<std::int64_t>(shown.size());
}

}  // namespace loom
