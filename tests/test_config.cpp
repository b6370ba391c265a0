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

// to_yaml() writes the run folder's config.yaml: every key and scalar must read back as the
// same string. Each of these once came back changed or did not parse (fuzz/fuzz_pipeline,
// fuzz/regressions/pipeline/).
BOOST_AUTO_TEST_CASE(to_yaml_reads_back_every_key_and_scalar) {
  const std::vector<std::string> texts = {
      "plain", "<unk>", "${data_dir}/train.txt", "", " ", "null", "Null", "NULL", "~", "true",
      "two\nlines", "tab\there", "cr\r", std::string("nul\0byte", 8), "\x01\x1b\x7f",
      "quote \" and \\", "build? o", "?", "a ? b", "a: b", "# not a comment", "a #b", "-",
      "- item", "-1", "-.5", "-x", "--- x", "... y", "..", " lead", "trail ", "[x]", "{x}",
      "&anchor", "*alias", "!tag", "|", ">", "'single'", "%directive", "@id", "`tick`",
      "caf\xc3\xa9", "\xe6\x9d\xb1\xe4\xba\xac", "bad \xff utf-8", "\xef\xbb\xbf" "bom",
      std::string(1100, 'k'), std::string(300, '\x1e')};
  ConfigNode root = ConfigNode::map({"t.yaml", 1, 1});
  ConfigNode list = ConfigNode::sequence({"t.yaml", 1, 1});
  ConfigNode nested = ConfigNode::map({"t.yaml", 1, 1});
  for (std::size_t i = 0; i < texts.size(); ++i) {
    root.set(texts[i], ConfigNode::scalar(texts[i], {"t.yaml", 1, 1}));
    list.push_back(ConfigNode::scalar(texts[i], {"t.yaml", 1, 1}));
    nested.set(std::to_string(i), ConfigNode::scalar(texts[i], {"t.yaml", 1, 1}));
  }
  root.set("__list", list);
  ConfigNode items = ConfigNode::sequence({"t.yaml", 1, 1});
  items.push_back(nested);
  root.set("__nested", items);
  std::string yaml = root.to_yaml();
  ConfigNode back;
  BOOST_REQUIRE_NO_THROW(back = loom::parse_yaml(yaml, "back.yaml"));
  BOOST_REQUIRE(back.is_map());
  for (const auto& text : texts) {
    const ConfigNode* value = back.find(text);
    BOOST_TEST_CONTEXT("key and value " << text.substr(0, 40)) {
      BOOST_REQUIRE(value != nullptr);
      BOOST_TEST(value->is_scalar());
      BOOST_TEST(value->str() == text);
    }
  }
  const ConfigNode* back_list = back.find("__list");
  BOOST_REQUIRE(back_list != nullptr);
  BOOST_REQUIRE(back_list->items().size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i)
    BOOST_TEST(back_list->items()[i].str() == texts[i]);
  const ConfigNode* back_nested = back.find("__nested");
  BOOST_REQUIRE(back_nested != nullptr);
  BOOST_REQUIRE(back_nested->items().size() == 1u);
  for (std::size_t i = 0; i < texts.size(); ++i)
    BOOST_TEST(back_nested->items()[0].find(std::to_string(i))->str() == texts[i]);
  // Ordinary values stay plain, so config.yaml stays readable.
  BOOST_TEST(contains(yaml, "\nplain: plain\n"));
  BOOST_TEST(contains(yaml, "\n-1: -1\n"));
}

// A path the system refuses to look up (a name longer than NAME_MAX) is reported like any
// other bad path; it threw std::filesystem::filesystem_error out of check_params.
BOOST_AUTO_TEST_CASE(an_unreadable_path_is_reported_not_thrown) {
  ConfigNode given = loom::parse_yaml("file: " + std::string(300, 'x') + "\n", "p.yaml");
  std::vector<std::string> errors;
  BOOST_CHECK_NO_THROW(loom::check_params("c", kSpecs, given, {}, errors));
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(contains(errors[0], "p.yaml:1:7: 'file': cannot read 'xxx"));
  BOOST_TEST(contains(errors[0], "File name too long"));
}

BOOST_AUTO_TEST_CASE(booleans_ignore_ascii_case_only) {
  BOOST_TEST(ConfigNode::scalar("YES", {}).as_bool());
  BOOST_TEST(!ConfigNode::scalar("Off", {}).as_bool());
  BOOST_CHECK_THROW(ConfigNode::scalar("tru\xc3\x89", {}).as_bool(), ConfigError);
}

namespace {

// The message of the ConfigError `f` throws, or "<no error>", so a failed check shows it.
template <typename F>
std::string config_error_of(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string parse_error(const std::string& text, const std::string& file) {
  return config_error_of([&] { loom::parse_yaml(text, file); });
}

// "a: &a [x, x, ...]", then each level a list of nine aliases of the one before: 9^levels
// values once the aliases are copied out.
std::string laughs(int levels) {
  std::string text, name = "a";
  text += "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < levels; ++level) {
    std::string next(1, static_cast<char>('a' + level));
    text += next + ": &" + next + " [";
    for (int i = 0; i < 9; ++i) text += (i ? ", *" : "*") + name;
    text += "]\n";
    name = next;
  }
  return text;
}

std::string nested_lists(int depth) { return std::string(depth, '[') + "x" + std::string(depth, ']'); }

}  // namespace

BOOST_AUTO_TEST_CASE(aliases_are_copied_within_limits) {
  ConfigNode root = loom::parse_yaml("defaults: &d {lr: 0.1, clip: [1, 2]}\nmodel: *d\n", "a.yaml");
  BOOST_TEST(root.find("model")->find("lr")->as_double() == 0.1);
  BOOST_TEST(root.find("model")->find("clip")->items().size() == 2u);
  // Four levels are 9^4 = 6561 values: well within the limit.
  BOOST_CHECK_NO_THROW(loom::parse_yaml(laughs(4), "l.yaml"));
}

BOOST_AUTO_TEST_CASE(a_document_that_expands_too_far_is_refused) {
  std::string m = parse_error(laughs(9), "l.yaml");
  BOOST_TEST(m.rfind("l.yaml:1:", 0) == 0, m);  // one of the x on the first line
  BOOST_TEST(contains(m, ": the document expands to more than 100000 values (an alias repeated too often?)"), m);

  // The limit itself: the root list and its items count, kMaxYamlValues in all is fine.
  auto list = [](std::int64_t items) {
    std::string text = "[x";
    for (std::int64_t i = 1; i < items; ++i) text += ",x";
    return text + "]";
  };
  BOOST_CHECK_NO_THROW(loom::parse_yaml(list(loom::kMaxYamlValues - 1), "big.yaml"));
  m = parse_error(list(loom::kMaxYamlValues), "big.yaml");
  BOOST_TEST(contains(m, "big.yaml:1:" + std::to_string(2 * loom::kMaxYamlValues) +
                             ": the document expands to more than 100000 values"), m);
}

BOOST_AUTO_TEST_CASE(a_document_that_nests_too_deep_is_refused) {
  BOOST_CHECK_NO_THROW(loom::parse_yaml(nested_lists(loom::kMaxYamlDepth), "d.yaml"));
  std::string m = parse_error(nested_lists(loom::kMaxYamlDepth + 1), "d.yaml");
  BOOST_TEST(contains(m, "d.yaml:1:65: the document nests lists and mappings more than 64 deep"), m);
  // Aliases nest too: 40 levels inside 40 levels.
  std::string half = std::string(40, '[') + "x" + std::string(40, ']');
  m = parse_error("a: &a " + half + "\nb: " + std::string(40, '[') + "*a" + std::string(40, ']') + "\n",
                  "d.yaml");
  BOOST_TEST(contains(m, "d.yaml:1:"), m);
  BOOST_TEST(contains(m, ": the document nests lists and mappings more than 64 deep"), m);
}

BOOST_AUTO_TEST_CASE(an_alias_inside_its_own_node_is_refused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a: &a [*a]\n", "r.yaml:1:8: alias refers to the node that contains it"},
      {"a: &a {b: *a}\n", "r.yaml:1:11: alias refers to the node that contains it"},
      {"a: &a\n  b:\n    - c: *a\n", "r.yaml:3:10: alias refers to the node that contains it"},
  };
  for (const auto& [text, expected] : cases) BOOST_TEST(parse_error(text, "r.yaml") == expected, text);
  // An alias of a finished node, or of a sibling, is no recursion.
  BOOST_CHECK_NO_THROW(loom::parse_yaml("a: &a [1]\nb: [*a, *a]\nc: {d: *a}\n", "r.yaml"));
}

BOOST_AUTO_TEST_CASE(a_second_document_is_refused) {
  BOOST_TEST(parse_error("a: 1\n---\nb: 2\n", "m.yaml") ==
             "m.yaml:2:1: a pipeline is one YAML document; a second one starts here");
  BOOST_TEST(parse_error("a: 1\n--- \n", "m.yaml") ==
             "m.yaml:2:1: a pipeline is one YAML document; a second one starts here");
  // One document, with its markers, or none.
  BOOST_TEST(loom::parse_yaml("---\na: 1\n...\n", "m.yaml").find("a")->as_int() == 1);
  BOOST_TEST(loom::parse_yaml("", "m.yaml").is_null());
  BOOST_TEST(loom::parse_yaml("# nothing\n", "m.yaml").is_null());
}

BOOST_AUTO_TEST_CASE(variables_build_on_each_other) {
  ConfigNode root = loom::parse_yaml(
      "vars:\n  root: /data\n  train: \"${root}/train.txt\"\n  both: \"${train} ${valid}\"\n"
      "  valid: \"${root}/valid.txt\"\nx: \"${both}\"\n",
      "v.yaml");
  auto vars = loom::resolve_vars(*root.find("vars"));
  BOOST_TEST(vars.at("train") == "/data/train.txt");
  BOOST_TEST(vars.at("both") == "/data/train.txt /data/valid.txt");
  loom::substitute_vars(root, vars);
  BOOST_TEST(root.find("x")->str() == "/data/train.txt /data/valid.txt");
  BOOST_TEST(root.find("vars")->find("train")->str() == "/data/train.txt");
  BOOST_TEST(loom::resolve_vars(ConfigNode()).empty());

  // Values that refer to others are expanded by substitute_vars too: no "${" is left.
  ConfigNode plain = loom::parse_yaml("x: \"${a}\"\n", "v.yaml");
  loom::substitute_vars(plain, {{"a", "${b}/x"}, {"b", "${c}"}, {"c", "/data"}});
  BOOST_TEST(plain.find("x")->str() == "/data/x");
}

BOOST_AUTO_TEST_CASE(variable_cycles_and_bad_variables_name_the_variable) {
  auto resolve_error = [](const std::string& text) {
    return config_error_of([&] { loom::resolve_vars(*loom::parse_yaml(text, "v.yaml").find("vars")); });
  };
  BOOST_TEST(resolve_error("vars:\n  a: ${b}\n  b: ${a}\n") == "v.yaml:2:6: variable cycle: a -> b -> a");
  BOOST_TEST(resolve_error("vars:\n  a: x${a}\n") == "v.yaml:2:6: variable cycle: a -> a");
  // Only the variables of the cycle are named, at the first one's value.
  BOOST_TEST(resolve_error("vars:\n  x: ${b}\n  a: ${c}\n  b: ${a}\n  c: ${b}\n") ==
             "v.yaml:4:6: variable cycle: b -> a -> c -> b");
  BOOST_TEST(resolve_error("vars:\n  root: /d\n  a: ${rot}/x\n") ==
             "v.yaml:3:6: unknown variable '${rot}' (did you mean 'root'?)");
  BOOST_TEST(resolve_error("vars:\n  a: ${b\n") == "v.yaml:2:6: unterminated '${' in '${b'");
  BOOST_TEST(resolve_error("vars:\n  a: [1]\n") == "v.yaml:2:6: variable 'a' must be a plain value");
  BOOST_TEST(resolve_error("vars: [a]\n") == "v.yaml:1:7: vars: expects a mapping of names to values");

  // Without resolve_vars, a cycle among the values is reported where it is used.
  ConfigNode root = loom::parse_yaml("x: \"${a}\"\n", "v.yaml");
  BOOST_TEST(config_error_of([&] { loom::substitute_vars(root, {{"a", "${b}"}, {"b", "${a}"}}); }) ==
             "v.yaml:1:4: variable cycle: a -> b -> a");
}

// Parameter names of data/text_classification.
const std::vector<std::string> kClassificationParams = {
    "tokenizer", "train", "valid", "test", "file", "ratios", "valid_ratio", "text_column",
    "label_column", "header", "labels", "batch_size", "eval_batch_size", "max_length", "shuffle",
    "bucket", "on_bad_row"};

BOOST_AUTO_TEST_CASE(did_you_mean_prefers_the_one_name_a_word_is_part_of) {
  // "labels" is one edit away, but "label" is the first part of label_column alone.
  BOOST_TEST(loom::did_you_mean("label", kClassificationParams).value_or("-") == "label_column");
  BOOST_TEST(loom::did_you_mean("batch", kClassificationParams).value_or("-") == "batch_size");
  BOOST_TEST(loom::did_you_mean("length", kClassificationParams).value_or("-") == "max_length");
  // Two names end in "column": edit distance decides, and finds neither close enough.
  BOOST_TEST(!loom::did_you_mean("column", kClassificationParams).has_value());
  // Typos still go by edit distance.
  BOOST_TEST(loom::did_you_mean("shufle", kClassificationParams).value_or("-") == "shuffle");
  BOOST_TEST(loom::did_you_mean("lables", kClassificationParams).value_or("-") == "labels");

  std::vector<ParamSpec> specs;
  for (const auto& name : kClassificationParams) specs.push_back({name, ParamType::kString, "", ""});
  std::vector<std::string> errors;
  loom::check_params("c", specs, loom::parse_yaml("label: sentiment\n", "t.yaml"), {}, errors);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0] == "t.yaml:1:1: c: unknown parameter 'label' (did you mean 'label_column'?)");
}

BOOST_AUTO_TEST_CASE(paths_may_be_left_unchecked) {
  ConfigNode given = loom::parse_yaml("file: /nonexistent/f.txt\n", "u.yaml");
  std::vector<std::string> errors;
  auto values = loom::check_params("c", kSpecs, given, {}, errors, loom::PathCheck::kUnchecked);
  BOOST_TEST(errors.empty());
  BOOST_TEST(values.at("file").str() == "/nonexistent/f.txt");
  BOOST_TEST(values.at("file").where().str() == "u.yaml:1:7");
  // Every other check still applies.
  loom::check_params("c", kSpecs, loom::parse_yaml("nhid: 0\n", "u.yaml"), {}, errors, loom::PathCheck::kUnchecked);
  BOOST_REQUIRE(errors.size() == 2u);
  BOOST_TEST(contains(errors[0], "u.yaml:1:7: 'nhid' must be at least 1, got 0"));
  BOOST_TEST(contains(errors[1], "missing required parameter 'file'"));
  // The default still looks.
  errors.clear();
  loom::check_params("c", kSpecs, given, {}, errors);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(contains(errors[0], "u.yaml:1:7: 'file': no such file '/nonexistent/f.txt'"));
}
