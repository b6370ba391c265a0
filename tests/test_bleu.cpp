// BLEU in the core: the 13a tokenizer on the cases its rules are about, lower-casing, the
// statistics of sentences worked out by hand, the score from them (textbook and sacreBLEU
// smoothing), and corpus statistics that do not depend on the thread count.
#define BOOST_TEST_MODULE bleu
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <sstream>

#include "loom/bleu.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"

using namespace loom;

namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(tokenize_13a_follows_its_rules) {
  // Punctuation and symbols stand alone; a period or comma stays inside a number.
  BOOST_TEST(tokenize_13a("Hello, world!") == "Hello , world !");
  BOOST_TEST(tokenize_13a("It costs $3.50, or 1,000.") == "It costs $ 3.50 , or 1,000 .");
  BOOST_TEST(tokenize_13a("U.S. policy") == "U . S . policy");  // not a number: split
  BOOST_TEST(tokenize_13a("end.") == "end .");
  BOOST_TEST(tokenize_13a("a.b") == "a . b");
  // A dash is split off after a digit only; an apostrophe is not a symbol for 13a.
  BOOST_TEST(tokenize_13a("1990-1995 e-mail") == "1990 - 1995 e-mail");
  BOOST_TEST(tokenize_13a("don't") == "don't");
  // Escapes are undone first (in sacreBLEU's order), "<skipped>" dropped.
  BOOST_TEST(tokenize_13a("a &amp; b &quot;c&quot; <skipped>") == "a & b \" c \"");
  BOOST_TEST(tokenize_13a("&amp;quot;") == "& quot ;");
  // Brackets, slashes and the ASCII symbol ranges.
  BOOST_TEST(tokenize_13a("(x/y)[z]{w}~") == "( x / y ) [ z ] { w } ~");
  // Non-ASCII letters are kept, a period after them is split; NBSP and U+3000 are spaces.
  BOOST_TEST(tokenize_13a("Straße.") == "Straße .");
  BOOST_TEST(tokenize_13a("a\xC2\xA0" "b\xE3\x80\x80" "c") == "a b c");
  // A byte-order mark is not white space: it stays on the first word, as sacreBLEU keeps it.
  BOOST_TEST(tokenize_13a("\xEF\xBB\xBFWord") == "\xEF\xBB\xBFWord");
  BOOST_TEST(tokenize_13a("") == "");
  BOOST_TEST(tokenize_13a("..,,") == ". . , ,");
}

BOOST_AUTO_TEST_CASE(lowercase_covers_european_letters) {
  BOOST_TEST(lowercase_utf8("ÄÖÜ ÀÉÎ Straße ŁÓDŹ") == "äöü àéî straße łódź");
  BOOST_TEST(lowercase_utf8("ΑΒΓ АБВ ЁЇ") == "αβγ абв ёї");
  BOOST_TEST(lowercase_utf8("×÷ 123 ABC") == "×÷ 123 abc");
  BOOST_TEST(lowercase_utf8(std::string("\xFF" "A", 2)) == std::string("\xFF" "a", 2));  // not UTF-8: kept
}

BOOST_AUTO_TEST_CASE(sentence_statistics_by_hand) {
  // the cat sat on the mat / the cat is on the mat:
  // unigrams 5/6 (the x2 clipped at 2), bigrams 3/5, trigrams 1/4, 4-grams 0/3.
  auto s = bleu_sentence_stats(words("the cat sat on the mat"), {words("the cat is on the mat")}, false);
  BOOST_TEST((s.matches == std::array<std::int64_t, 4>{5, 3, 1, 0}));
  BOOST_TEST((s.totals == std::array<std::int64_t, 4>{6, 5, 4, 3}));
  BOOST_TEST(s.sys_len == 6);
  BOOST_TEST(s.ref_len == 6);
  // Papineni's example: "the" seven times, clipped at its count in the best reference (2).
  auto p = bleu_sentence_stats(words("the the the the the the the"),
                               {words("the cat is on the mat"), words("there is a cat on the mat")}, false);
  BOOST_TEST(p.matches[0] == 2);
  BOOST_TEST(p.totals[0] == 7);
  BOOST_TEST(p.ref_len == 7);  // 6 and 7 tokens: 7 is closest
  // Closest reference length, ties to the shorter: hypothesis 5, references 4 and 6.
  auto t = bleu_sentence_stats(words("a b c d e"), {words("a b c d e f"), words("a b c d")}, false);
  BOOST_TEST(t.ref_len == 4);
  // Denominators: max(1, n-grams) in the textbook, raw counts for sacreBLEU.
  auto one = bleu_sentence_stats(words("a"), {words("a b")}, false);
  BOOST_TEST((one.totals == std::array<std::int64_t, 4>{1, 1, 1, 1}));
  auto raw = bleu_sentence_stats(words("a"), {words("a b")}, true);
  BOOST_TEST((raw.totals == std::array<std::int64_t, 4>{1, 0, 0, 0}));
  auto empty = bleu_sentence_stats({}, {words("a b")}, false);
  BOOST_TEST(empty.sys_len == 0);
  BOOST_TEST(empty.ref_len == 2);
}

BOOST_AUTO_TEST_CASE(scores_from_statistics) {
  BleuStats s = bleu_sentence_stats(words("the cat sat on the mat"), {words("the cat is on the mat")}, false);
  BleuOptions textbook;
  BOOST_TEST(bleu_from_stats(s, textbook).score == 0.0);  // p4 = 0
  BleuOptions exp;
  exp.smooth = BleuSmooth::kExp;
  auto e = bleu_from_stats(s, exp);
  const double expected = 100.0 * std::pow(5.0 / 6 * 3.0 / 5 * 1.0 / 4 * 1.0 / (2 * 3), 0.25);
  BOOST_TEST(std::abs(e.score - expected) < 1e-9);
  BOOST_TEST(std::abs(e.precisions[3] - 100.0 / 6) < 1e-9);
  // Brevity: hypothesis 4 tokens of a 6-token reference, every n-gram matching.
  auto b = bleu_from_stats(bleu_sentence_stats(words("a b c d"), {words("a b c d e f")}, false), textbook);
  BOOST_TEST(std::abs(b.bp - std::exp(1.0 - 6.0 / 4.0)) < 1e-12);
  BOOST_TEST(std::abs(b.score - 100.0 * std::exp(1.0 - 6.0 / 4.0)) < 1e-9);
  // Nothing hypothesised: 0, not a division by zero.
  auto z = bleu_from_stats(bleu_sentence_stats({}, {words("a")}, true), BleuOptions::sacrebleu());
  BOOST_TEST(z.score == 0.0);
  BOOST_TEST(z.bp == 0.0);
}

BOOST_AUTO_TEST_CASE(corpus_statistics_add_up_and_ignore_threads) {
  std::vector<std::string> hyps, refs;
  for (int i = 0; i < 1000; ++i) {
    std::string h, r;
    for (int k = 0; k < 3 + i % 11; ++k) {
      h += "w" + std::to_string((i * 7 + k * 3) % 13) + " ";
      r += "w" + std::to_string((i * 5 + k * 3) % 13) + " ";
    }
    hyps.push_back(h);
    refs.push_back(r);
  }
  BleuStats by_sentence;
  for (std::size_t i = 0; i < hyps.size(); ++i)
    by_sentence += bleu_sentence_stats(words(hyps[i]), {words(refs[i])}, false);
  set_threads(1);
  BleuStats one = corpus_bleu_stats(hyps, {refs}, BleuOptions{});
  set_threads(2);
  BleuStats two = corpus_bleu_stats(hyps, {refs}, BleuOptions{});
  BOOST_TEST((one.matches == by_sentence.matches));
  BOOST_TEST((one.totals == by_sentence.totals));
  BOOST_TEST((two.matches == one.matches));
  BOOST_TEST(two.ref_len == one.ref_len);
  BOOST_TEST(one.sentences == 1000);
  BOOST_CHECK_THROW(corpus_bleu_stats(hyps, {std::vector<std::string>(3)}, BleuOptions{}), InputError);
  BOOST_CHECK_THROW(corpus_bleu_stats(hyps, {}, BleuOptions{}), InputError);
}

BOOST_AUTO_TEST_CASE(text_and_json_output) {
  auto score = corpus_bleu({"the cat is on the mat"}, {{"the cat is on the mat"}}, BleuOptions::sacrebleu());
  auto sig = BleuOptions::sacrebleu().signature(1);
  BOOST_TEST(sig == "nrefs:1|case:mixed|tok:13a|smooth:exp|denominators:raw");
  BOOST_TEST(bleu_line(score, sig) ==
             "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6) " + sig);
  Json j = bleu_json(score, sig);
  BOOST_TEST(j.find("score")->number() == 100.0);
  BOOST_TEST(j.find("precisions")->items().size() == 4u);
  std::istringstream in("a\r\nb\n\nc");
  BOOST_TEST((read_lines(in) == std::vector<std::string>{"a", "b", "", "c"}));
}
