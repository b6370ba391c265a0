// vocab/fixed through the real loader: the file's tokens, ids and special roles whatever the
// counts; a missing or damaged file is an error naming it.
#define BOOST_TEST_MODULE fixed
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/vocab.hpp"

namespace {

using loom::testing::contracts::TempDir;

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

loom::Vocab saved() {
  loom::Vocab v;
  v.set_special(loom::Special::kPad, "<pad>");
  v.set_special(loom::Special::kUnk, "<unk>");
  v.set_special(loom::Special::kEos, "<eos>");
  for (const char* t : {"the", "cat", "sat"}) v.set_count(v.add(t), 3);
  return v;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(fixed, Loaded)

BOOST_AUTO_TEST_CASE(the_file_wins_over_the_counts) {
  TempDir dir;
  const std::string path = (dir / "vocab.txt").string();
  saved().save(path);
  loom::testing::Env env(registry);
  env.add("vocab", "fixed", "{file: '" + path + "'}");
  const loom::Vocab v = env.get<loom::VocabBuilder>("vocab").build({{"dog", 100}, {"cat", 1}});
  BOOST_TEST(v.to_text() == saved().to_text());
  BOOST_TEST(v.size() == 6u);
  BOOST_TEST(v.find("cat") == 4);
  BOOST_TEST(v.pad_id() == 0);
  BOOST_TEST(v.eos_id() == 2);
  BOOST_TEST(!v.contains("dog"));
}

BOOST_AUTO_TEST_CASE(missing_and_damaged_files_are_named) {
  TempDir dir;
  const std::string missing = (dir / "none.txt").string();
  loom::testing::Env env(registry);
  env.add("vocab", "fixed", "{file: '" + missing + "'}");
  BOOST_CHECK_EXCEPTION(env.get<loom::VocabBuilder>("vocab"), std::exception,
                        [&](const std::exception& e) { return std::string(e.what()).find("none.txt") != std::string::npos; });
  const std::string bad = (dir / "bad.txt").string();
  std::ofstream(bad) << "not a vocabulary\n";
  loom::testing::Env env2(registry);
  env2.add("vocab", "fixed", "{file: '" + bad + "'}");
  BOOST_CHECK_EXCEPTION(env2.get<loom::VocabBuilder>("vocab"), loom::InputError,
                        [&](const loom::InputError& e) { return std::string(e.what()).find("bad.txt") != std::string::npos; });
}

BOOST_AUTO_TEST_SUITE_END()
