// vocab/frequency: keeps the most frequent tokens. Ids: the special tokens first (pad, unk,
// bos, eos, sep, those that are set, in that order), then tokens by count, most frequent first,
// ties broken by the token's bytes, so the same counts always give the same ids.
#include <algorithm>
#include <fstream>
#include <set>

#include "loom/errors.hpp"
#include "loom/plugin.hpp"

namespace {

struct FrequencyOptions {
  std::int64_t min_freq = 1;
  std::int64_t max_size = 0;  // 0: no limit; specials not counted
  std::string pad, unk, bos, eos, sep;
  bool lowercase = false;
  std::set<std::string> stop_words;
};

class FrequencyBuilder : public loom::VocabBuilder {
 public:
  explicit FrequencyBuilder(FrequencyOptions o) : o_(std::move(o)) {}

 protected:
  loom::Vocab build_impl(const loom::TokenCounts& raw) const override {
    loom::TokenCounts merged;
    const loom::TokenCounts* counts = &raw;
    if (o_.lowercase) {
      for (const auto& [t, c] : raw) merged[loom::ascii_lower(t)] += c;
      counts = &merged;
    }
    loom::Vocab v;
    v.set_lowercase(o_.lowercase);
    const std::pair<loom::Special, const std::string*> specials[] = {
        {loom::Special::kPad, &o_.pad}, {loom::Special::kUnk, &o_.unk},
        {loom::Special::kBos, &o_.bos}, {loom::Special::kEos, &o_.eos}, {loom::Special::kSep, &o_.sep}};
    for (const auto& [role, token] : specials)
      if (!token->empty()) v.set_special(role, *token);
    std::vector<std::pair<std::string, std::int64_t>> entries;
    for (const auto& [t, c] : *counts) {
      if (c < o_.min_freq || o_.stop_words.count(t)) continue;
      entries.emplace_back(t, c);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    std::int64_t added = 0;
    for (const auto& [t, c] : entries) {
      if (v.contains(t)) {  // a special token that also occurs in the text
        v.set_count(v.find(t), c);
        continue;
      }
      if (o_.max_size > 0 && added >= o_.max_size) break;
      v.set_count(v.add(t), c);
      ++added;
    }
    return v;
  }

 private:
  FrequencyOptions o_;
};

// The built-in English list: articles, pronouns, auxiliaries, prepositions and other
// function words. Negations and contrast words (not, no, nor, but, never, very, too, only)
// are left out on purpose: they change a sentence's sentiment, and classifiers need them.
const char* const kEnglishStopWords[] = {
    "a", "an", "the", "and", "or", "if", "then", "than", "so", "as", "of", "at", "by", "for", "with", "about",
    "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up",
    "down", "in", "out", "on", "off", "over", "under", "again", "further", "once", "here", "there", "when",
    "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "own",
    "same", "s", "t", "can", "will", "just", "should", "now", "i", "me", "my", "myself", "we", "our", "ours",
    "ourselves", "you", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "her",
    "hers", "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which",
    "who", "whom", "this", "that", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being",
    "have", "has", "had", "having", "do", "does", "did", "doing", "would", "could", "while", "until", "because"};

std::set<std::string> read_stop_words(const loom::Params& p) {
  std::set<std::string> words;
  if (p.get_string("stop_words_list") == "english")
    for (const char* w : kEnglishStopWords) words.insert(w);
  for (const auto& w : p.get_strings("stop_words")) words.insert(w);
  std::string file = p.get_string("stop_words_file");
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) p.fail("stop_words_file", "cannot read '" + file + "'");
    for (std::string line; std::getline(in, line);) {
      auto end = line.find_last_not_of(" \t\r");
      auto start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      words.insert(line.substr(start, end - start + 1));
    }
  }
  if (p.get_bool("lowercase")) {
    std::set<std::string> low;
    for (const auto& w : words) low.insert(loom::ascii_lower(w));
    return low;
  }
  return words;
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kVocab,
      "frequency",
      "1.0",
      "most frequent tokens, with min_freq, max_size, special tokens and stop-words",
      {{"min_freq", loom::ParamType::kInt, "1", "drop tokens seen fewer times", {}, 1},
       {"max_size", loom::ParamType::kInt, "0", "keep at most this many tokens besides the specials (0: all)", {}, 0},
       {"pad", loom::ParamType::kString, "", "padding token (empty: none)"},
       {"unk", loom::ParamType::kString, "<unk>", "token for everything not kept (empty: none, then unknown tokens are an error)"},
       {"bos", loom::ParamType::kString, "", "begin-of-sequence token (empty: none)"},
       {"eos", loom::ParamType::kString, "", "end-of-sequence token (empty: none; a tokenizer's <eos> is counted like any token)"},
       {"sep", loom::ParamType::kString, "", "separator between source and target in a decoder-only translator's sequence (empty: none)"},
       {"lowercase", loom::ParamType::kBool, "false", "merge tokens that differ only in ASCII case"},
       {"stop_words", loom::ParamType::kStringList, "", "tokens never kept (they map to unk)"},
       {"stop_words_file", loom::ParamType::kPath, "", "file of stop-words, one per line, # comments"},
       {"stop_words_list", loom::ParamType::kString, "", "a built-in list added to the stop-words (english: function words, negations kept)", {"", "english"}}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        FrequencyOptions o;
        o.min_freq = p.get_int("min_freq");
        o.max_size = p.get_int("max_size");
        o.pad = p.get_string("pad");
        o.unk = p.get_string("unk");
        o.bos = p.get_string("bos");
        o.eos = p.get_string("eos");
        o.sep = p.get_string("sep");
        o.lowercase = p.get_bool("lowercase");
        o.stop_words = read_stop_words(p);
        std::set<std::string> specials;
        for (const auto* s : {&o.pad, &o.unk, &o.bos, &o.eos, &o.sep})
          if (!s->empty() && !specials.insert(*s).second)
            p.fail("unk", "two special roles share the token '" + *s + "'");
        return std::make_unique<FrequencyBuilder>(std::move(o));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
