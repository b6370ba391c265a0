// data/text_classification through the real loader: CSV and TSV columns, label ids, split
// cuts that do not depend on threads, padded batches with lengths and masks, truncation,
// shuffling per epoch, bucketing, and malformed files.
#define BOOST_TEST_MODULE text_classification
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

namespace {

loom::Registry& registry() {
  static loom::Registry r;
  if (r.plugins().empty()) r.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  return r;
}

struct Files {
  loom::testing::contracts::TempDir dir;
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
};

// A loader with the word tokenizer and a vocabulary of every training token.
struct Loader {
  Loader(const std::string& yaml, std::uint64_t seed = 1) : env(registry(), seed) {
    env.add("tok", "word");
    env.add("data", "text_classification", yaml);
    data = &env.get<loom::DataLoader>("data");
    loom::Vocab v;
    v.set_special(loom::Special::kPad, "<pad>");
    v.set_special(loom::Special::kUnk, "<unk>");
    for (const auto& [t, c] : data->count_tokens("train")) v.add(t);
    vocab = v;
    data->prepare(vocab);
  }
  std::vector<std::string> labels() const { return dynamic_cast<const loom::HasLabels&>(*data).label_names(); }
  void epoch(int e) { dynamic_cast<loom::EpochAware&>(*data).start_epoch(e); }
  // The label ids of a split in the order the batches give them.
  std::vector<int> label_order(const std::string& split, loom::Mode mode) {
    std::vector<int> out;
    for (std::int64_t i = 0; i < data->num_batches(split, mode); ++i) {
      auto b = data->batch(split, mode, i);
      const auto& l = b.get("labels");
      out.insert(out.end(), l.ids(), l.ids() + l.dim(0));
    }
    return out;
  }
  loom::testing::Env env;
  loom::DataLoader* data;
  loom::Vocab vocab;
};

const char* kCsv =
    "review,sentiment\n"
    "\"Great film, really great\",positive\n"
    "\"He said \"\"dull\"\".\nTwo lines.\",negative\n"
    "fine,positive\n";

}  // namespace

BOOST_AUTO_TEST_CASE(csv_columns_by_name_and_padded_batches) {
  Files f;
  std::string train = f.write("train.csv", kCsv);
  Loader l("{tokenizer: '@tok', train: " + train + ", test: " + train +
           ", text_column: review, label_column: sentiment, batch_size: 8, shuffle: false}");
  BOOST_TEST(l.labels() == (std::vector<std::string>{"negative", "positive"}), boost::test_tools::per_element());
  BOOST_TEST(l.data->splits() == (std::vector<std::string>{"train", "test"}), boost::test_tools::per_element());
  BOOST_REQUIRE(l.data->num_batches("train", loom::Mode::kTrain) == 1);
  auto b = l.data->batch("train", loom::Mode::kTrain, 0);
  const auto& ids = b.get("ids");
  BOOST_REQUIRE(ids.dim(1) == 3);
  BOOST_TEST(ids.dim(0) == 5);  // "He said "dull". Two lines." is 5 words
  const auto* len = b.get("lengths").ids();
  BOOST_TEST((std::vector<int>(len, len + 3)) == (std::vector<int>{4, 5, 1}), boost::test_tools::per_element());
  BOOST_TEST((std::vector<int>(b.get("labels").ids(), b.get("labels").ids() + 3)) == (std::vector<int>{1, 0, 1}),
             boost::test_tools::per_element());
  // "fine" is one token: rows 1..4 of its column are padding with mask 0.
  for (int t = 0; t < 5; ++t) {
    BOOST_TEST(b.get("mask").data()[t * 3 + 2] == (t < 1 ? 1.0f : 0.0f));
    if (t >= 1) BOOST_TEST(ids.ids()[t * 3 + 2] == l.vocab.pad_id());
  }
  BOOST_TEST(ids.ids()[0] == l.vocab.find("Great"));
  BOOST_TEST(b.target_tokens == 10);
}

BOOST_AUTO_TEST_CASE(tsv_without_header_and_numeric_labels) {
  Files f;
  std::string train = f.write("train.tsv", "10\tten \"quoted\" words\n2\ttwo\n1\tone, with comma\n");
  Loader l("{tokenizer: '@tok', train: " + train + ", header: false, label_column: '0', text_column: '1'}");
  BOOST_TEST(l.labels() == (std::vector<std::string>{"1", "2", "10"}), boost::test_tools::per_element());
  auto b = l.data->batch("train", loom::Mode::kEval, 0);
  BOOST_TEST((std::vector<int>(b.get("labels").ids(), b.get("labels").ids() + 3)) == (std::vector<int>{2, 1, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(b.get("lengths").ids()[0] == 3);  // the quotes are part of the TSV text
}

BOOST_AUTO_TEST_CASE(one_file_cut_by_ratios_the_same_at_any_thread_count) {
  Files f;
  std::string text = "text,label\n";
  for (int i = 0; i < 100; ++i) text += "word" + std::to_string(i) + (i % 3 ? ",a\n" : ",b\n");
  std::string all = f.write("all.csv", text);
  std::vector<std::vector<int>> seen;
  for (int threads : {1, 2}) {
    loom::set_threads(threads);
    Loader l("{tokenizer: '@tok', file: " + all + ", batch_size: 7}");
    BOOST_TEST(l.label_order("train", loom::Mode::kEval).size() == 70u);
    BOOST_TEST(l.label_order("valid", loom::Mode::kEval).size() == 10u);
    BOOST_TEST(l.label_order("test", loom::Mode::kEval).size() == 20u);
    seen.push_back(l.label_order("test", loom::Mode::kEval));
  }
  loom::set_threads(loom::hardware_threads());
  BOOST_TEST(seen[0] == seen[1], boost::test_tools::per_element());
  Loader other("{tokenizer: '@tok', file: " + all + ", ratios: [8, 1, 1]}", 2);
  BOOST_TEST(other.label_order("train", loom::Mode::kEval).size() == 80u);
  Loader carve("{tokenizer: '@tok', train: " + all + ", valid_ratio: 0.25}");
  BOOST_TEST(carve.label_order("train", loom::Mode::kEval).size() == 75u);
  BOOST_TEST(carve.label_order("valid", loom::Mode::kEval).size() == 25u);
}

BOOST_AUTO_TEST_CASE(shuffled_per_epoch_bucketed_and_truncated) {
  Files f;
  std::string text = "text,label\n";
  for (int i = 0; i < 200; ++i) {
    std::string words;
    for (int w = 0; w <= (i * 37) % 23; ++w) words += "w" + std::to_string(w) + " ";
    text += words + "," + std::to_string(i % 5) + "\n";
  }
  std::string path = f.write("t.csv", text);
  Loader l("{tokenizer: '@tok', train: " + path + ", batch_size: 10}");
  std::vector<int> eval = l.label_order("train", loom::Mode::kEval);
  l.epoch(1);
  auto e1 = l.label_order("train", loom::Mode::kTrain);
  l.epoch(2);
  auto e2 = l.label_order("train", loom::Mode::kTrain);
  l.epoch(1);
  BOOST_TEST(l.label_order("train", loom::Mode::kTrain) == e1, boost::test_tools::per_element());
  BOOST_TEST(e1 != e2);
  BOOST_TEST(e1 != eval);
  std::sort(e1.begin(), e1.end());
  std::sort(eval.begin(), eval.end());
  BOOST_TEST(e1 == eval, boost::test_tools::per_element());  // every example once per epoch

  // Bucketing: a batch's lengths are close; without it they spread.
  auto spread = [](Loader& x) {
    std::int64_t worst = 0;
    for (std::int64_t i = 0; i < x.data->num_batches("train", loom::Mode::kTrain); ++i) {
      auto b = x.data->batch("train", loom::Mode::kTrain, i);
      const auto* len = b.get("lengths").ids();
      auto [lo, hi] = std::minmax_element(len, len + b.get("lengths").dim(0));
      worst = std::max<std::int64_t>(worst, *hi - *lo);
    }
    return worst;
  };
  Loader bucketed("{tokenizer: '@tok', train: " + path + ", batch_size: 10, bucket: true}");
  bucketed.epoch(3);
  BOOST_TEST(spread(bucketed) <= 3);
  BOOST_TEST(spread(l) >= 15);
  Loader cut("{tokenizer: '@tok', train: " + path + ", max_length: 4}");
  BOOST_TEST(cut.data->batch("train", loom::Mode::kEval, 0).get("ids").dim(0) == 4);
}

BOOST_AUTO_TEST_CASE(empty_texts_and_unknown_words) {
  Files f;
  std::string train = f.write("train.csv", "text,label\nknown words,x\n\"\",y\n");
  std::string test = f.write("test.csv", "text,label\nknown strange,x\n");
  Loader l("{tokenizer: '@tok', train: " + train + ", test: " + test + "}");
  auto b = l.data->batch("train", loom::Mode::kEval, 0);
  BOOST_TEST(b.get("lengths").ids()[1] == 1);
  BOOST_TEST(b.get("ids").ids()[1] == l.vocab.unk_id());
  BOOST_TEST(l.data->unknown_tokens("test") == 1);
}

BOOST_AUTO_TEST_CASE(malformed_files) {
  Files f;
  std::string bad = f.write("bad.csv", "text,label\nok,x\nbroken\"quote,y\nshort\nfine,z\n");
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', train: " + bad + "}"); },
                                                {"bad.csv:3: a quote inside unquoted field 1"});
  Loader skip("{tokenizer: '@tok', train: " + bad + ", on_bad_row: skip}");
  BOOST_TEST(skip.label_order("train", loom::Mode::kEval).size() == 2u);  // "ok" and "fine"
  std::string cols = f.write("cols.csv", "review,sentiment\na,b\n");
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', train: " + cols + "}"); },
                                                {"cols.csv:1: no text column 'text' (columns: review, sentiment)"});
  std::string latin = f.write("latin.csv", "text,label\nok,x\ncaf\xe9,y\n");
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', train: " + latin + "}"); },
                                                {"latin.csv:3: not UTF-8"});
  std::string labels = f.write("labels.csv", "text,label\na,pos\nb,neg\nc,meh\n");
  loom::testing::expect_error<loom::InputError>(
      [&] { Loader("{tokenizer: '@tok', train: " + labels + ", labels: [neg, pos]}"); },
      {"label 'meh' of split 'train' is not one of labels: [neg, pos]"});
  loom::testing::expect_error<loom::ConfigError>([&] { Loader("{tokenizer: '@tok'}"); }, {"no data"});
}

// New texts (loom predict) are batched exactly as the split's own texts: same ids, lengths,
// mask and truncation; unknown words become unk; rows follow the texts' order.
BOOST_AUTO_TEST_CASE(new_texts_are_batched_as_the_splits_are) {
  Files f;
  std::string train = f.write("train.csv", kCsv);
  Loader l("{tokenizer: '@tok', train: " + train + ", test: " + train +
           ", text_column: review, label_column: sentiment, batch_size: 8, shuffle: false, max_length: 3}");
  auto* batcher = dynamic_cast<const loom::BatchesTexts*>(l.data);
  BOOST_REQUIRE(batcher != nullptr);
  loom::Batch own = l.data->batch("test", loom::Mode::kEval, 0);
  loom::Batch fresh = batcher->batch_of_texts({"Great film, really great", "He said \"dull\".\nTwo lines.", "fine"}, l.vocab);
  for (const char* name : {"ids", "lengths", "mask"}) {
    const loom::Tensor &a = own.get(name), &b = fresh.get(name);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(a.shape().str() == b.shape().str());
      if (a.dtype() == loom::DType::kInt32)
        BOOST_TEST(std::equal(a.ids(), a.ids() + a.numel(), b.ids()));
      else
        BOOST_TEST(std::equal(a.data(), a.data() + a.numel(), b.data()));
    }
  }
  BOOST_TEST(fresh.get("lengths").ids()[0] == 3);  // truncated to max_length
  BOOST_TEST(fresh.get("labels").ids()[1] == 0);
  loom::Batch unknown = batcher->batch_of_texts({"zebra", ""}, l.vocab);
  const std::int32_t unk = l.vocab.unk_id();
  BOOST_TEST(unknown.get("ids").ids()[0] == unk);  // [T=1, B=2]: the unknown word
  BOOST_TEST(unknown.get("ids").ids()[1] == unk);  // an empty text gets one unk
  BOOST_TEST(unknown.get("lengths").ids()[1] == 1);
}

// A data row with more fields than the header (or the first row) has a field too many, most
// often a comma in an unquoted text; its columns cannot be trusted.
BOOST_AUTO_TEST_CASE(rows_wider_than_the_header_are_bad_rows) {
  Files f;
  std::string wide = f.write("wide.csv", "text,label\na,x\nb,y\nshifted, text,z\nd,x\nfine,y\nlast,too,wide\n");
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', train: " + wide + "}"); },
                                                {"wide.csv:4: 3 fields, the header has 2 (on_bad_row: skip skips such rows)"});
  Loader skip("{tokenizer: '@tok', train: " + wide + ", on_bad_row: skip}");
  BOOST_TEST(skip.label_order("train", loom::Mode::kEval).size() == 4u);
  std::string tsv = f.write("wide.tsv", "x\tone\ny\ttwo\tthree\n");
  loom::testing::expect_error<loom::InputError>(
      [&] { Loader("{tokenizer: '@tok', train: " + tsv + ", header: false, label_column: '0', text_column: '1'}"); },
      {"wide.tsv:2: 3 fields, the first row has 2"});
}

BOOST_AUTO_TEST_CASE(a_file_without_data_rows_is_named) {
  Files f;
  std::string head = f.write("head.csv", "text,label\n");
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', train: " + head + "}"); },
                                                {"head.csv: a header row and no data rows"});
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', file: " + head + "}"); },
                                                {"head.csv: a header row and no data rows"});
  std::string broken = f.write("broken.csv", "text,label\n\"a\"b,x\nc,d,e\n");
  loom::testing::expect_error<loom::InputError>(
      [&] { Loader("{tokenizer: '@tok', train: " + broken + ", on_bad_row: skip}"); },
      {"broken.csv: no data rows: all 2 are malformed (on_bad_row: skip skipped them)"});
  // A split left empty by valid_ratio names the file it was carved from, and why.
  std::string two = f.write("two.csv", "text,label\na,x\nb,y\n");
  loom::testing::expect_error<loom::InputError>(
      [&] { Loader("{tokenizer: '@tok', train: " + two + ", valid_ratio: 0.1}"); },
      {"two.csv: split 'valid' has no examples (valid_ratio 0.1 of its 2 rows gives it none)"});
  loom::testing::expect_error<loom::InputError>(
      [&] { Loader("{tokenizer: '@tok', train: " + two + ", valid_ratio: 0.9}"); },
      {"two.csv: split 'train' has no examples (valid_ratio 0.9 takes all of its 2 rows)"});
}

BOOST_AUTO_TEST_CASE(an_empty_label_is_a_bad_row) {
  Files f;
  std::string path = f.write("empty_label.csv", "text,label\na,x\nb,\nc,y\n");
  loom::testing::expect_error<loom::InputError>([&] { Loader("{tokenizer: '@tok', train: " + path + "}"); },
                                                {"empty_label.csv:3: 2 fields, the label is empty"});
  Loader skip("{tokenizer: '@tok', train: " + path + ", on_bad_row: skip}");
  BOOST_TEST(skip.labels() == (std::vector<std::string>{"x", "y"}), boost::test_tools::per_element());
  // A label that is not one of `labels` names its file and line.
  loom::testing::expect_error<loom::InputError>(
      [&] { Loader("{tokenizer: '@tok', train: " + path + ", on_bad_row: skip, labels: [x]}"); },
      {"empty_label.csv:4: label 'y' of split 'train' is not one of labels: [x]"});
}

// vocab/frequency with `unk: ''` builds a vocabulary without an unknown token, and documents
// that unknown tokens are then an error: no word may quietly become id 0 (or pad).
BOOST_AUTO_TEST_CASE(without_an_unk_token_unknown_words_are_errors) {
  Files f;
  std::string train = f.write("train.csv", "text,label\nknown words,x\nmore words,y\n");
  std::string test = f.write("test.csv", "text,label\nknown words,x\nknown strange,y\n");
  std::string empty = f.write("empty.csv", "text,label\nknown,x\n\"\",y\n");
  loom::testing::Env env(registry());
  env.add("tok", "word");
  env.add("vocab", "frequency", "{unk: ''}");
  env.add("data", "text_classification", "{tokenizer: '@tok', train: " + train + ", test: " + test + "}");
  env.add("empty", "text_classification", "{tokenizer: '@tok', train: " + empty + "}");
  auto& data = env.get<loom::DataLoader>("data");
  loom::Vocab vocab = env.get<loom::VocabBuilder>("vocab").build(data.count_tokens("train"));
  BOOST_REQUIRE(vocab.unk_id() == loom::Vocab::kNone);
  loom::testing::expect_error<loom::InputError>(
      [&] { data.prepare(vocab); },
      {"test.csv:3: token 'strange' is not in the vocabulary, which has no unk token"});
  loom::testing::expect_error<loom::InputError>(
      [&] { dynamic_cast<const loom::BatchesTexts&>(data).batch_of_texts({"known", "zebra"}, vocab); },
      {"text 2: token 'zebra' is not in the vocabulary, which has no unk token"});
  // An empty text stands as pad when there is no unk, and is an error with neither.
  loom::testing::expect_error<loom::InputError>(
      [&] { env.get<loom::DataLoader>("empty").prepare(vocab); },
      {"empty.csv:3: an empty text, and the vocabulary has neither an unk nor a pad token for it"});
  env.add("vocab_pad", "frequency", "{unk: '', pad: <pad>}");
  loom::Vocab with_pad = env.get<loom::VocabBuilder>("vocab_pad").build(data.count_tokens("train"));
  auto& padded = env.get<loom::DataLoader>("empty");
  padded.prepare(with_pad);
  auto b = padded.batch("train", loom::Mode::kEval, 0);
  BOOST_TEST(b.get("ids").ids()[1] == with_pad.pad_id());
  BOOST_TEST(b.get("lengths").ids()[1] == 1);
}
