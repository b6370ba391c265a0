// data/lm_stream through the real loader (with the word tokenizer beside it): batchifying as
// PyTorch's word_language_model does, windows of bptt steps, unknown tokens, epoch coverage,
// identical results at 1 and 2 threads, and the errors for missing and non-UTF-8 files.
#define BOOST_TEST_MODULE lm_stream
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/lm_stream.hpp"
#include "loom/parallel.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/text.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::testing::expect_error;

namespace {

using Ids = std::vector<std::int32_t>;
using loom::Mode;
using loom::testing::contracts::TempDir;

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// <unk> 0, <eos> 1, then a..l as 2..13 (leaving out the letters in `without`).
loom::Vocab letters_vocab(const std::string& without = "", bool with_unk = true) {
  loom::Vocab v;
  if (with_unk) v.set_special(loom::Special::kUnk, "<unk>");
  v.set_special(loom::Special::kEos, "<eos>");
  for (char c = 'a'; c <= 'l'; ++c)
    if (without.find(c) == std::string::npos) v.add(std::string(1, c));
  return v;
}

// The train text of the hand-worked cases: 4 + 3 + 5 words, an <eos> after each line:
// stream = a b c d <eos> e f g <eos> h i j k l <eos> = 2 3 4 5 1 6 7 8 1 9 10 11 12 13 1.
const std::string kTrainText = "a b c d\ne f g\nh i j k l\n";
const Ids kTrainStream = {2, 3, 4, 5, 1, 6, 7, 8, 1, 9, 10, 11, 12, 13, 1};

// A plugin registry with word and lm_stream, and a loader built over files in a temp dir.
struct Fixture {
  Fixture() {
    registry.load_library(LOOM_TEST_PLUGIN_FILE);
    registry.load_directory(LOOM_TEST_PLUGIN_DIR, true);  // the word tokenizer
  }
  loom::Registry registry;
  TempDir dir;
};

struct Loader {
  // `params`: the YAML mapping's inner text, e.g. "train: x, batch_size: 2".
  Loader(const loom::Registry& registry, const std::string& params, const loom::Vocab& vocab,
         const std::string& tokenizer = "{eos: <eos>}")
      : env(registry) {
    env.add("tok", "word", tokenizer);
    env.set_vocab("vocab", vocab);
    env.add("data", "lm_stream", "{tokenizer: '@tok', " + params + "}");
    data = &env.get<loom::DataLoader>("data");
  }
  loom::testing::Env env;
  loom::DataLoader* data;
};

Ids ids_of(const loom::Tensor& t) { return Ids(t.ids(), t.ids() + t.numel()); }

std::vector<std::int64_t> shape_of(const loom::Tensor& t) {
  std::vector<std::int64_t> s;
  for (int a = 0; a < t.rank(); ++a) s.push_back(t.dim(a));
  return s;
}

// Batch i of a stream batchified into `columns` and read in windows of `bptt`, as PyTorch's
// word_language_model does: batchify keeps len // columns rows, column j = stream[j*rows ..];
// get_batch(i) = rows [i, i + seq_len) and targets the rows one later,
// seq_len = min(bptt, rows - 1 - i).
struct Reference {
  Reference(const Ids& stream, std::int64_t columns, std::int64_t bptt)
      : columns(columns), bptt(bptt), rows(static_cast<std::int64_t>(stream.size()) / columns) {
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < columns; ++j) data.push_back(stream[static_cast<std::size_t>(j * rows + i)]);
  }
  std::int64_t num_batches() const {
    std::int64_t n = 0;
    for (std::int64_t i = 0; i < rows - 1; i += bptt) ++n;
    return n;
  }
  std::pair<Ids, Ids> batch(std::int64_t index) const {
    std::int64_t i = index * bptt, len = std::min(bptt, rows - 1 - i);
    auto at = [&](std::int64_t r) { return data.begin() + r * columns; };
    return {Ids(at(i), at(i + len)), Ids(at(i + 1), at(i + 1 + len))};
  }
  std::int64_t columns, bptt, rows;
  Ids data;  // [rows, columns]
};

// Every split's batches of a mode, with the counts, for comparing two runs.
struct Snapshot {
  std::map<std::string, std::vector<Ids>> batches;
  std::map<std::string, std::int64_t> unknown;
  std::map<std::string, std::map<std::string, std::int64_t>> counts;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(loom::DataLoader& data, const loom::Vocab& vocab) {
  Snapshot s;
  for (const auto& split : data.splits()) {
    for (const auto& [t, c] : data.count_tokens(split)) s.counts[split][t] = c;
  }
  data.prepare(vocab);
  for (const auto& split : data.splits()) {
    s.unknown[split] = data.unknown_tokens(split);
    for (Mode mode : {Mode::kTrain, Mode::kEval})
      for (std::int64_t i = 0; i < data.num_batches(split, mode); ++i) {
        loom::Batch b = data.batch(split, mode, i);
        s.batches[split].push_back(ids_of(b.get("ids")));
        s.batches[split].push_back(ids_of(b.get("targets")));
      }
  }
  return s;
}

// Deterministic text of `lines` lines over a 40-word vocabulary plus words outside it.
std::string generated_text(int lines) {
  std::string text;
  std::uint64_t x = 12345;
  for (int l = 0; l < lines; ++l) {
    int words = 1 + static_cast<int>(l % 7);
    for (int w = 0; w < words; ++w) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      int k = static_cast<int>((x >> 33) % 45);
      text += (w ? " " : "") + (k < 40 ? "w" + std::to_string(k) : "oov" + std::to_string(k));
    }
    text += l % 5 == 0 ? "  \t\n" : "\n";
  }
  return text;
}

loom::Vocab generated_vocab() {
  loom::Vocab v;
  v.set_special(loom::Special::kUnk, "<unk>");
  v.set_special(loom::Special::kEos, "<eos>");
  for (int k = 0; k < 40; ++k) v.add("w" + std::to_string(k));
  return v;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(lm_stream, Fixture)

BOOST_AUTO_TEST_CASE(splits_and_counts) {
  write(dir / "train.txt", kTrainText);
  write(dir / "valid.txt", "a a b c\nb c d e f\n");  // more than 15 bytes: see short_files
  Loader l(registry, "train: " + (dir / "train.txt").string() + ", valid: " + (dir / "valid.txt").string(),
           letters_vocab());
  BOOST_TEST(l.data->splits() == (std::vector<std::string>{"train", "valid"}), boost::test_tools::per_element());
  BOOST_TEST(!l.data->has_split("test"));
  auto counts = l.data->count_tokens("valid");
  BOOST_TEST(counts.size() == 7u);
  BOOST_TEST(counts["a"] == 2);
  BOOST_TEST(counts["b"] == 2);
  BOOST_TEST(counts["c"] == 2);
  BOOST_TEST(counts["f"] == 1);
  BOOST_TEST(counts["<eos>"] == 2);
  auto train = l.data->count_tokens("train");
  BOOST_TEST(train["<eos>"] == 3);
  BOOST_TEST(train["l"] == 1);
  expect_error<loom::ConfigError>([&] { l.data->num_batches("test", Mode::kEval); },
                                  {"no split 'test'", "it has: train, valid"});
  l.data->prepare(letters_vocab());
  BOOST_TEST(dynamic_cast<loom::LmStreamLoader&>(*l.data).stream_tokens("train") == 15);
  BOOST_TEST(dynamic_cast<loom::LmStreamLoader&>(*l.data).stream_tokens("valid") == 11);
  // The text is read again for counting after prepare dropped it.
  BOOST_TEST(l.data->count_tokens("valid")["b"] == 2);
}

// One file cut into splits by shares of its lines, in order: 10 lines at 0.6 / 0.2 / 0.2 give
// lines 1-6, 7-8 and 9-10; a share of 0 leaves the split out; bad shares are errors.
BOOST_AUTO_TEST_CASE(shares_cut_one_file_into_splits) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += std::string(1, static_cast<char>('a' + i)) + " a\n";
  write(dir / "all.txt", text);
  const std::string file = "train: " + (dir / "all.txt").string();
  Loader l(registry, file + ", shares: [0.6, 0.2, 0.2]", letters_vocab());
  BOOST_TEST(l.data->splits() == (std::vector<std::string>{"train", "valid", "test"}), boost::test_tools::per_element());
  auto train = l.data->count_tokens("train"), valid = l.data->count_tokens("valid"), test = l.data->count_tokens("test");
  BOOST_TEST((train["a"] == 7 && train["f"] == 1 && train.count("g") == 0));  // "a a", then one a per line
  BOOST_TEST((valid["g"] == 1 && valid["h"] == 1 && valid["a"] == 2 && valid["<eos>"] == 2));
  BOOST_TEST((test["i"] == 1 && test["j"] == 1 && test["<eos>"] == 2));
  l.data->prepare(letters_vocab());
  BOOST_TEST(dynamic_cast<loom::LmStreamLoader&>(*l.data).stream_tokens("valid") == 6);
  Loader no_test(registry, file + ", shares: [0.8, 0.2, 0]", letters_vocab());
  BOOST_TEST(no_test.data->splits() == (std::vector<std::string>{"train", "valid"}), boost::test_tools::per_element());
  expect_error<loom::ConfigError>([&] { Loader x(registry, file + ", shares: [0.5, 0.2]", letters_vocab()); },
                                  {"needs three shares"});
  expect_error<loom::ConfigError>([&] { Loader x(registry, file + ", shares: [0.5, 0.2, 0.2]", letters_vocab()); },
                                  {"add up to 1"});
  expect_error<loom::ConfigError>([&] { Loader x(registry, file + ", shares: [0.9, x, 0.1]", letters_vocab()); },
                                  {"'x' is not a share"});
  expect_error<loom::ConfigError>([&] { Loader x(registry, file + ", valid: " + (dir / "all.txt").string() +
                                                               ", shares: [0.8, 0.1, 0.1]", letters_vocab()); },
                                  {"give no valid or test file"});
}

// The batches of the hand-worked stream, every value written out.
BOOST_AUTO_TEST_CASE(batchify_by_hand) {
  write(dir / "train.txt", kTrainText);
  Loader l(registry, "train: " + (dir / "train.txt").string() + ", batch_size: 2, eval_batch_size: 3, bptt: 4",
           letters_vocab());
  l.data->prepare(letters_vocab());
  // Training, 2 columns of 7 rows (the last <eos> dropped): column 0 = 2 3 4 5 1 6 7,
  // column 1 = 8 1 9 10 11 12 13. Windows of 4 over 6 target rows: 4 then 2.
  BOOST_TEST(l.data->num_batches("train", Mode::kTrain) == 2);
  loom::Batch b0 = l.data->batch("train", Mode::kTrain, 0);
  BOOST_TEST(shape_of(b0.get("ids")) == (std::vector<std::int64_t>{4, 2}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b0.get("ids")) == (Ids{2, 8, 3, 1, 4, 9, 5, 10}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b0.get("targets")) == (Ids{3, 1, 4, 9, 5, 10, 1, 11}), boost::test_tools::per_element());
  BOOST_TEST(b0.target_tokens == 8);
  loom::Batch b1 = l.data->batch("train", Mode::kTrain, 1);
  BOOST_TEST(shape_of(b1.get("ids")) == (std::vector<std::int64_t>{2, 2}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b1.get("ids")) == (Ids{1, 11, 6, 12}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(b1.get("targets")) == (Ids{6, 12, 7, 13}), boost::test_tools::per_element());
  BOOST_TEST(b1.target_tokens == 4);
  // Evaluation, eval_batch_size 3: columns 2 3 4 5 1 | 6 7 8 1 9 | 10 11 12 13 1, one window.
  BOOST_TEST(l.data->num_batches("train", Mode::kEval) == 1);
  loom::Batch e0 = l.data->batch("train", Mode::kEval, 0);
  BOOST_TEST(shape_of(e0.get("ids")) == (std::vector<std::int64_t>{4, 3}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(e0.get("ids")) == (Ids{2, 6, 10, 3, 7, 11, 4, 8, 12, 5, 1, 13}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(e0.get("targets")) == (Ids{3, 7, 11, 4, 8, 12, 5, 1, 13, 1, 9, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(e0.target_tokens == 12);
}

// Many shapes against the PyTorch reference: num_batches = ceil((rows - 1) / bptt), the
// last window shorter when bptt does not divide rows - 1.
BOOST_AUTO_TEST_CASE(batchify_like_pytorch) {
  struct Case {
    std::int64_t batch_size, bptt, num_batches, last_len;
  };
  // 15 tokens: rows = 15 / batch_size.
  const std::vector<Case> cases = {
      {1, 1, 14, 1}, {1, 5, 3, 4}, {1, 14, 1, 14}, {1, 35, 1, 14}, {2, 1, 6, 1},
      {2, 3, 2, 3},  {3, 2, 2, 2}, {3, 3, 2, 1},   {4, 100, 1, 2}, {7, 1, 1, 1},
  };
  write(dir / "train.txt", kTrainText);
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("batch_size " << c.batch_size << ", bptt " << c.bptt) {
      Loader l(registry,
               "train: " + (dir / "train.txt").string() + ", batch_size: " + std::to_string(c.batch_size) +
                   ", eval_batch_size: " + std::to_string(c.batch_size) + ", bptt: " + std::to_string(c.bptt),
               letters_vocab());
      l.data->prepare(letters_vocab());
      Reference ref(kTrainStream, c.batch_size, c.bptt);
      BOOST_TEST(ref.num_batches() == c.num_batches);
      for (Mode mode : {Mode::kTrain, Mode::kEval}) {
        BOOST_REQUIRE(l.data->num_batches("train", mode) == c.num_batches);
        for (std::int64_t i = 0; i < c.num_batches; ++i) {
          loom::Batch b = l.data->batch("train", mode, i);
          auto [ids, targets] = ref.batch(i);
          BOOST_TEST(ids_of(b.get("ids")) == ids, boost::test_tools::per_element());
          BOOST_TEST(ids_of(b.get("targets")) == targets, boost::test_tools::per_element());
          BOOST_TEST(b.get("ids").dim(1) == c.batch_size);
          BOOST_TEST(b.get("ids").dim(0) == (i + 1 == c.num_batches ? c.last_len : c.bptt));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_tokens_are_counted_and_map_to_unk) {
  write(dir / "train.txt", kTrainText);
  write(dir / "valid.txt", "a zzz b\nyyy c d e\n");
  loom::Vocab vocab = letters_vocab("kl");  // <unk> <eos> a..j
  Loader l(registry,
           "train: " + (dir / "train.txt").string() + ", valid: " + (dir / "valid.txt").string() +
               ", batch_size: 1, eval_batch_size: 1, bptt: 20",
           vocab);
  l.data->prepare(vocab);
  BOOST_TEST(l.data->unknown_tokens("train") == 2);  // k, l
  BOOST_TEST(l.data->unknown_tokens("valid") == 2);  // zzz, yyy
  loom::Batch b = l.data->batch("train", Mode::kTrain, 0);
  BOOST_TEST(ids_of(b.get("ids")) == (Ids{2, 3, 4, 5, 1, 6, 7, 8, 1, 9, 10, 11, 0, 0}), boost::test_tools::per_element());
  loom::Batch v = l.data->batch("valid", Mode::kEval, 0);
  // a zzz b <eos> yyy c d e <eos> -> 2 0 3 1 0 4 5 6 1
  BOOST_TEST(ids_of(v.get("ids")) == (Ids{2, 0, 3, 1, 0, 4, 5, 6}), boost::test_tools::per_element());
  BOOST_TEST(ids_of(v.get("targets")) == (Ids{0, 3, 1, 0, 4, 5, 6, 1}), boost::test_tools::per_element());

  // Without an unk token an unknown token is an input error naming it.
  loom::Vocab no_unk = letters_vocab("kl", false);
  Loader strict(registry, "train: " + (dir / "train.txt").string(), no_unk);
  expect_error<loom::InputError>([&] { strict.data->prepare(no_unk); },
                                 {"token 'k' is not in the vocabulary", "no unk token"});
}

// Over one epoch every position of the trimmed stream is a target exactly once, except the
// first row of the batchified matrix, whose tokens are never predicted.
BOOST_AUTO_TEST_CASE(every_token_is_a_target_once_per_epoch) {
  write(dir / "train.txt", generated_text(60));
  write(dir / "valid.txt", generated_text(23));
  loom::Vocab vocab = generated_vocab();
  Loader l(registry,
           "train: " + (dir / "train.txt").string() + ", valid: " + (dir / "valid.txt").string() +
               ", batch_size: 3, eval_batch_size: 2, bptt: 5",
           vocab);
  l.data->prepare(vocab);
  for (const std::string split : {"train", "valid"}) {
    const auto& tok = l.env.get<loom::Tokenizer>("tok");
    Ids stream = loom::testing::contracts::numericalize_file(dir / (split + ".txt"), tok, vocab);
    for (Mode mode : {Mode::kTrain, Mode::kEval}) {
      BOOST_TEST_CONTEXT(split << (mode == Mode::kTrain ? " train" : " eval")) {
        const std::int64_t columns = mode == Mode::kTrain ? 3 : 2;
        const std::int64_t rows = static_cast<std::int64_t>(stream.size()) / columns;
        std::vector<int> hits(stream.size(), 0);
        std::int64_t row = 0;  // first row of the current window
        for (std::int64_t i = 0; i < l.data->num_batches(split, mode); ++i) {
          loom::Batch b = l.data->batch(split, mode, i);
          const loom::Tensor& targets = b.get("targets");
          for (std::int64_t t = 0; t < targets.dim(0); ++t)
            for (std::int64_t j = 0; j < columns; ++j) {
              std::size_t position = static_cast<std::size_t>(j * rows + row + t + 1);
              BOOST_TEST(targets.ids()[t * columns + j] == stream[position]);
              ++hits[position];
            }
          row += targets.dim(0);
        }
        BOOST_TEST(row == rows - 1);
        for (std::size_t p = 0; p < stream.size(); ++p) {
          bool first_row = static_cast<std::int64_t>(p) % rows == 0;
          bool trimmed = static_cast<std::int64_t>(p) >= rows * columns;
          BOOST_TEST(hits[p] == (first_row || trimmed ? 0 : 1), "position " << p);
        }
        auto failures = loom::testing::contracts::data_loader_epoch(*l.data, split, mode, vocab, &stream);
        BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(same_numbers_at_1_and_2_threads) {
  // Above the 2048-line chunk of tokenising and numericalising, so that 2 threads split it.
  write(dir / "train.txt", generated_text(5000));
  write(dir / "valid.txt", generated_text(2100));
  loom::Vocab vocab = generated_vocab();
  const std::string params = "train: " + (dir / "train.txt").string() + ", valid: " +
                             (dir / "valid.txt").string() + ", batch_size: 4, eval_batch_size: 3, bptt: 7";
  const int saved = loom::threads();
  loom::set_threads(1);
  Loader one(registry, params, vocab);
  Snapshot at1 = snapshot(*one.data, vocab);
  loom::set_threads(2);
  Loader two(registry, params, vocab);
  Snapshot at2 = snapshot(*two.data, vocab);
  loom::set_threads(saved);
  BOOST_TEST(at1.unknown["train"] > 0);  // the text has out-of-vocabulary words
  BOOST_TEST(at1.batches["train"].size() > 100u);
  BOOST_TEST(at1.unknown == at2.unknown);
  BOOST_TEST((at1.counts == at2.counts));
  BOOST_TEST((at1.batches == at2.batches));
}

// TextFile keeps string_views of its lines into its own std::string, and is moved into the
// loader's cache after reading: a file short enough for the string's small-buffer storage
// (15 bytes or fewer with libstdc++) moves its bytes, and the views dangle.
BOOST_AUTO_TEST_CASE(short_files) {
  struct Case {
    std::string text;
    std::map<std::string, std::int64_t> counts;
    Ids stream;
  };
  const std::vector<Case> cases = {
      {"a a b\n", {{"a", 2}, {"b", 1}, {"<eos>", 1}}, {2, 2, 3, 1}},
      {"c\nd\n", {{"c", 1}, {"d", 1}, {"<eos>", 2}}, {4, 1, 5, 1}},
      {"a b c d e f g h\n", {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}, {"g", 1}, {"h", 1}, {"<eos>", 1}},
       {2, 3, 4, 5, 6, 7, 8, 9, 1}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text.size() << " bytes: " << loom::testing::contracts::detail::quoted(c.text)) {
      write(dir / "short.txt", c.text);
      Loader l(registry, "train: " + (dir / "short.txt").string() + ", batch_size: 1, bptt: 20", letters_vocab());
      std::map<std::string, std::int64_t> counts;
      for (const auto& [t, n] : l.data->count_tokens("train")) counts[t] = n;
      BOOST_TEST((counts == c.counts));
      l.data->prepare(letters_vocab());
      loom::Batch b = l.data->batch("train", Mode::kTrain, 0);
      BOOST_TEST(ids_of(b.get("ids")) == Ids(c.stream.begin(), c.stream.end() - 1), boost::test_tools::per_element());
      BOOST_TEST(ids_of(b.get("targets")) == Ids(c.stream.begin() + 1, c.stream.end()), boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(missing_file) {
  // Checked when the parameters are: a ConfigError naming the file.
  expect_error<loom::ConfigError>(
      [&] { Loader l(registry, "train: " + (dir / "absent.txt").string(), letters_vocab()); },
      {"'train'", "no such file", "absent.txt"});
  // Gone by the time it is read: an InputError naming it.
  write(dir / "train.txt", kTrainText);
  Loader l(registry, "train: " + (dir / "train.txt").string(), letters_vocab());
  std::filesystem::remove(dir / "train.txt");
  expect_error<loom::InputError>([&] { l.data->prepare(letters_vocab()); }, {(dir / "train.txt").string(), "no such file"});
  expect_error<loom::InputError>([&] { l.data->count_tokens("train"); }, {(dir / "train.txt").string()});
}

BOOST_AUTO_TEST_CASE(non_utf8_file_names_file_and_line) {
  struct Case {
    const char* name;
    std::string text;
    int line;
  };
  const std::vector<Case> cases = {
      {"latin1", "fine line\nbad caf\xe9 byte\nok\n", 2},
      {"lone_continuation", "\x80 first\n", 1},
      {"overlong", "a\nb\nc \xc0\xaf\n", 3},
      {"surrogate", "a\n\nx \xed\xa0\x80\n", 3},
      {"truncated_at_end", "a b\nc \xe6\x9d", 2},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      auto path = dir / (std::string(c.name) + ".txt");
      write(path, c.text);
      Loader l(registry, "train: " + path.string(), letters_vocab());
      const std::string where = path.string() + ":" + std::to_string(c.line) + ":";
      expect_error<loom::InputError>([&] { l.data->count_tokens("train"); }, {where, "not UTF-8"});
      expect_error<loom::InputError>([&] { l.data->prepare(letters_vocab()); }, {where, "not UTF-8"});
    }
  }
}

BOOST_AUTO_TEST_CASE(too_little_text) {
  // One token and no end-of-line token: nothing to predict.
  write(dir / "one.txt", "a                    \n");
  Loader one(registry, "train: " + (dir / "one.txt").string(), letters_vocab(), "{}");
  expect_error<loom::InputError>([&] { one.data->prepare(letters_vocab()); },
                                 {"one.txt", "fewer than two tokens"});
  // 15 tokens in 8 columns leave 1 row: an error when batches are asked for.
  write(dir / "train.txt", kTrainText);
  Loader wide(registry, "train: " + (dir / "train.txt").string() + ", batch_size: 8", letters_vocab());
  wide.data->prepare(letters_vocab());
  expect_error<loom::InputError>([&] { wide.data->num_batches("train", Mode::kTrain); },
                                 {"train.txt", "15 tokens", "too few for 8 columns"});
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  write(dir / "train.txt", kTrainText);
  const std::string train = "train: " + (dir / "train.txt").string();
  expect_error<loom::ConfigError>([&] { Loader l(registry, train + ", bptt: 0", letters_vocab()); },
                                  {"'bptt' must be at least 1"});
  expect_error<loom::ConfigError>([&] { Loader l(registry, train + ", batch_sise: 4", letters_vocab()); },
                                  {"did you mean 'batch_size'"});
  expect_error<loom::ConfigError>(
      [&] {
        loom::testing::Env env(registry);
        env.add("tok", "word");
        env.add("data", "lm_stream", "{batch_size: 2}");
        env.get<loom::DataLoader>("data");
      },
      {"train"});
}

BOOST_AUTO_TEST_SUITE_END()
