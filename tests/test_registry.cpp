#define BOOST_TEST_MODULE registry
#include <boost/test/unit_test.hpp>

#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <string>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::testing::expect_error;

namespace {
const std::string kFixtures = LOOM_TEST_FIXTURE_DIR;
}  // namespace

BOOST_AUTO_TEST_CASE(loads_every_built_plugin) {
  loom::Registry r;
  r.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  for (const char* name : {"word", "frequency", "lm_stream", "markov", "rnn_lm", "sgd", "perplexity"})
    BOOST_TEST(r.find(name) != nullptr, name);
  BOOST_TEST(r.find("nope") == nullptr);
  // A folder seen twice is read once: one plugin per library in it.
  r.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  std::size_t libraries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LOOM_TEST_PLUGIN_DIR))
    libraries += entry.path().extension() == ".so";
  BOOST_TEST(r.plugins().size() == libraries);
}

BOOST_AUTO_TEST_CASE(refuses_another_abi_version) {
  loom::Registry r;
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/wrong_abi", true); },
                     {"wrong_abi.so", "ABI version " + std::to_string(loom::kAbiVersion + 100),
                      "rebuild the plugin"});
}

BOOST_AUTO_TEST_CASE(refuses_a_library_without_entry_point) {
  loom::Registry r;
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/no_entry", true); },
                     {"no_entry.so", "not a loom plugin", "loom_plugin"});
}

BOOST_AUTO_TEST_CASE(refuses_a_duplicate_name) {
  loom::Registry r;
  r.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/duplicate_word", true); },
                     {"two plugins are named 'word'", "duplicate_word.so"});
}

BOOST_AUTO_TEST_CASE(refuses_descriptors_without_kind_name_or_factory) {
  loom::Registry r;
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/bad_kind", true); },
                                 {"bad_kind.so", "unknown kind (42)"});
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/empty_name", true); },
                                 {"empty_name.so", "empty name"});
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/null_factory", true); },
                                 {"null_factory.so", "plugin 'no_factory' has no factory"});
  BOOST_TEST(r.plugins().empty());
}

// The dynamic loader names a missing symbol by its mangled name; the message gives the C++
// name and the likely cause.
BOOST_AUTO_TEST_CASE(names_an_undefined_symbol_demangled) {
  loom::Registry r;
  expect_error<loom::InputError>([&] { r.load_directory(kFixtures + "/undefined_symbol", true); },
                                 {"undefined_symbol.so", "loom::removed_in_this_version(int)",
                                  "built against another loom or compiler?"});
}

// --plugin-path may name one library instead of a folder.
BOOST_AUTO_TEST_CASE(a_required_path_may_be_one_library) {
  loom::Registry r;
  r.load_directory(std::string(LOOM_TEST_PLUGIN_DIR) + "/loom_tokenizers_word.so", true);
  BOOST_TEST(r.plugins().size() == 1u);
  BOOST_TEST(r.find("word") != nullptr);
}

BOOST_AUTO_TEST_CASE(missing_folder_and_file) {
  loom::Registry r;
  r.load_directory("/nonexistent/loom/plugins");  // optional folders may be absent
  expect_error<loom::InputError>([&] { r.load_directory("/nonexistent/loom/plugins", true); }, {"does not exist"});
  expect_error<loom::InputError>([&] { r.load_library("/nonexistent/x.so"); }, {"cannot load plugin library", "/nonexistent/x.so"});
}

// A "*.so" symlink that loops (ELOOP) or dangles is skipped; it threw filesystem_error, which
// the host reported as an internal error.
BOOST_AUTO_TEST_CASE(skips_symlinks_that_loop_or_dangle) {
  namespace fs = std::filesystem;
  std::string pattern = (fs::temp_directory_path() / "loom-registry-XXXXXX").string();
  BOOST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  fs::path dir = pattern;
  fs::create_symlink("loop.so", dir / "loop.so");
  fs::create_symlink("missing.so", dir / "dangling.so");
  fs::copy_file(fs::path(LOOM_TEST_PLUGIN_DIR) / "loom_tokenizers_word.so", dir / "word.so");
  {
    loom::Registry r;
    BOOST_CHECK_NO_THROW(r.load_directory(dir, true));
    BOOST_TEST(r.plugins().size() == 1u);
    BOOST_TEST(r.find("word") != nullptr);
  }
  fs::remove_all(dir);
}
