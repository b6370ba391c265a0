#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include <string>

#include "loom/config.hpp"
#include "loom/pipeline.hpp"

using loom::ConfigError;
using loom::ConfigNode;
using loom::ParamSpec;
using loom::ParamType;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::vector<ParamSpec> kSpecs = {
    {"lr", ParamType::kFloat, "0.1", "learning rate", {}, 0.0},
    {"clip", ParamType::kFloat, "0", "clip"},
    {"nhid", ParamType::kInt, "200", "hidden", {}, 1},
    {"cell", ParamType::kString, "lstm", "cell", {"lstm", "gru"}},
    {"file", ParamType::kPath, std::nullopt, "required file"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(values_remember_file_line_and_column) {
  ConfigNode root = loom::parse_yaml("a: 1\nmodel:\n  nhid: 400\n", "p.yaml");
  const ConfigNode* nhid = root.find("model")->find("nhid");
  BOOST_TEST(nhid->where().str() == "p.yaml:3:9");
  BOOST_TEST(nhid->as_int() == 400);
  BOOST_TEST(root.key_where("model").str() == "p.yaml:2:1");
}

BOOST_AUTO_TEST_CASE(malformed_yaml_and_duplicates_name_the_place) {
  BOOST_CHECK_EXCEPTION(loom::parse_yaml("a: [1, 2\nb: 3\n", "bad.yaml"), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "bad.yaml:") && contains(e.what(), "malformed YAML"); });
  BOOST_CHECK_EXCEPTION(loom::parse_yaml("a: 1\na: 2\n", "dup.yaml"), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "dup.yaml:2:1: duplicate key 'a'"); });
}

BOOST_AUTO_TEST_CASE(every_problem_is_reported_at_once_with_did_you_mean) {
  ConfigNode given = loom::parse_yaml("lrr: 3\nnhid: abc\ncell: lstn\n", "x.yaml");
  std::vector<std::string> errors;
  loom::check_params("component 'optimizer' (sgd)", kSpecs, given, {}, errors);
  BOOST_REQUIRE(errors.size() == 4u);
  BOOST_TEST(errors[0] == "x.yaml:1:1: component 'optimizer' (sgd): unknown parameter 'lrr' (did you mean 'lr'?)");
  BOOST_TEST(contains(errors[1], "x.yaml:2:7: expected an integer, got 'abc'"));
  BOOST_TEST(contains(errors[2], "x.yaml:3:7: 'cell' must be one of lstm, gru, got 'lstn' (did you mean 'lstm'?)"));
  BOOST_TEST(contains(errors[3], "missing required parameter 'file'"));
}

BOOST_AUTO_TEST_CASE(ranges_and_defaults) {
  ConfigNode given = loom::parse_yaml("nhid: 0\nfile: /nonexistent/f.txt\n", "y.yaml");
  std::vector<std::string> errors;
  auto values = loom::check_params("c", kSpecs, given, {}, errors);
  BOOST_REQUIRE(errors.size() == 2u);
  BOOST_TEST(contains(errors[0], "y.yaml:1:7: 'nhid' must be at least 1, got 0"));
  BOOST_TEST(contains(errors[1], "y.yaml:2:7: 'file': no such file '/nonexistent/f.txt'"));
  BOOST_TEST(values.at("lr").as_double() == 0.1);
}

BOOST_AUTO_TEST_CASE(variables_are_substituted) {
  ConfigNode root = loom::parse_yaml("x: \"${dir}/train.txt\"\ny: [\"${dir}\"]\n", "v.yaml");
  loom::substitute_vars(root, {{"dir", "/data"}});
  BOOST_TEST(root.find("x")->str() == "/data/train.txt");
  BOOST_TEST(root.find("y")->items()[0].str() == "/data");
  ConfigNode bad = loom::parse_yaml("x: ${dri}\n", "v.yaml");
  BOOST_CHECK_EXCEPTION(loom::substitute_vars(bad, {{"dir", "/data"}}), ConfigError, [](const ConfigError& e) {
    return contains(e.what(), "v.yaml:1:4: unknown variable '${dri}' (did you mean 'dir'?)");
  });
}

BOOST_AUTO_TEST_CASE(overrides_address_components_and_stages) {
  ConfigNode root = loom::parse_yaml(
      "components:\n  model: {plugin: rnn_lm, nhid: 200}\nstages:\n  - build_vocab: {}\n  - train: {epochs: 6}\n", "o.yaml");
  loom::apply_override(root, "components.model.nhid=400");
  loom::apply_override(root, "stages.train.epochs=1");
  BOOST_TEST(root.find("components")->find("model")->find("nhid")->as_int() == 400);
  BOOST_TEST(root.find("components")->find("model")->find("nhid")->where().file == "--set components.model.nhid=400");
  BOOST_TEST(root.find("stages")->items()[1].find("train")->find("epochs")->as_int() == 1);
  BOOST_CHECK_EXCEPTION(loom::apply_override(root, "stages.trian.epochs=1"), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "no stage named 'trian' (did you mean 'train'?)"); });
  BOOST_CHECK_EXCEPTION(loom::apply_override(root, "components.modle.nhid=1"), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "did you mean 'model'?"); });
  BOOST_CHECK_THROW(loom::apply_override(root, "nhid"), ConfigError);
}

BOOST_AUTO_TEST_CASE(did_you_mean_only_suggests_close_words) {
  BOOST_TEST(*loom::did_you_mean("lrr", {"lr", "clip"}) == "lr");
  BOOST_TEST(*loom::did_you_mean("epcohs", {"epochs", "split"}) == "epochs");
  BOOST_TEST(!loom::did_you_mean("banana", {"lr", "clip"}).has_value());
}
