// The commands that use a trained run folder (inference), and loom bleu.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "host.hpp"
#include "loom/bleu.hpp"
#include "loom/errors.hpp"
#include "loom/infer.hpp"
#include "loom/parallel.hpp"

namespace host {

std::ifstream open_text_file(const std::string& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) throw loom::InputError(file + ": a folder, not a text file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw loom::InputError(file + ": cannot open (" + std::strerror(errno) + ")");
  return in;
}

// generate, score, evaluate, predict, attention, export and translate: inference on a trained run folder.
int inference_command(const std::string& command, const std::vector<std::string>& args, const Global& global,
                      const char* argv0) {
  loom::keep_freed_memory();
  po::options_description desc("loom " + command + " --run DIR [options]");
  desc.add_options()("help,h", "show this help")("run", po::value<std::string>(), "the run folder")(
      "threads", po::value<int>(), "threads")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "another folder of plugins");
  po::positional_options_description pos;
  if (command == "generate") {
    desc.add_options()("words", po::value<std::int64_t>()->default_value(100), "tokens to sample")(
        "temperature", po::value<double>()->default_value(1.0), "sampling temperature (0: always the likeliest token)")(
        "seed", po::value<std::uint64_t>()->default_value(1), "sampling seed")(
        "top-k", po::value<std::int64_t>()->default_value(0), "sample only among the k likeliest tokens (0: all)");
  } else if (command == "score") {
    desc.add_options()("file", po::value<std::string>(), "text to score, one entry per line (default: stdin)")(
        "tokens", "one row per token (line, position, context_id, id, token, log_prob) instead of per line");
    pos.add("file", 1);
  } else if (command == "predict") {
    desc.add_options()("text", po::value<std::vector<std::string>>(), "a text to classify (several: one each; none: the lines of --file or stdin)")(
        "file", po::value<std::string>(), "texts to classify, one per line");
    pos.add("text", -1);
  } else if (command == "attention") {
    desc.add_options()("text", po::value<std::string>(), "the text whose attention to show")(
        "out", po::value<std::string>(), "folder for attention.html and attention.json (default: RUN/attention)");
    pos.add("text", 1);
  } else if (command == "translate") {
    desc.add_options()("file", po::value<std::string>(), "sentences to translate, one per line (default: stdin)")(
        "beam", po::value<std::int64_t>()->default_value(5), "beam size (1: greedy)")(
        "nbest", po::value<std::int64_t>()->default_value(1), "translations per sentence, as index<TAB>score<TAB>text")(
        "length-norm", po::value<std::string>()->default_value("average"), "rank by log-probability: none, average (per token) or gnmt")(
        "alpha", po::value<double>()->default_value(0.6), "GNMT's length exponent")(
        "max-len-a", po::value<double>()->default_value(1.5), "outputs have at most a * source length + b tokens")(
        "max-len-b", po::value<std::int64_t>()->default_value(10), "(see --max-len-a)")(
        "no-unk", "never output the unknown token")(
        "batch-size", po::value<std::int64_t>()->default_value(32), "sentences searched together")(
        "attention", po::value<std::string>(), "write each sentence's attention as heatmaps to this HTML file");
    pos.add("file", 1);
  } else if (command == "export") {
    desc.add_options()("out", po::value<std::string>(), "the .safetensors file to write")(
        "checkpoint", po::value<std::string>()->default_value(""), "best or last (default: best, else last)");
  } else {
    desc.add_options()("split", po::value<std::string>()->default_value("test"), "split to evaluate")(
        "file", po::value<std::string>(), "evaluate this file as the split instead of the run's")(
        "set", po::value<std::vector<std::string>>()->composing(),
        "key=value: a data setting to evaluate with (components.data.bptt=50); settings of the model are refused")(
        "sweep", po::value<std::string>(),
        "key=v1,v2,...: evaluate once per value of a data setting, into a table and a chart")(
        "out", po::value<std::string>(), "with --sweep: the folder for evaluate_sweep.tsv and .html (default: RUN/evaluate-<key>)");
  }
  if (wants_help(args)) {
    std::cout << desc << "\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (!vm.count("run")) throw loom::ConfigError("loom " + command + ": missing --run DIR (see --help)");
  Global g = with_command_options(global, vm);
  loom::set_threads(g.threads ? *g.threads : loom::hardware_threads());
  loom::Registry registry;
  load_plugins(registry, g, argv0);
  const std::filesystem::path dir = vm["run"].as<std::string>();
  if (command == "generate") {
    auto ckpt = loom::generate_text(registry, dir, vm["words"].as<std::int64_t>(), vm["temperature"].as<double>(),
                                    vm["seed"].as<std::uint64_t>(), std::cout, vm["top-k"].as<std::int64_t>());
    std::fprintf(stderr, "loom generate: parameters from %s\n", ckpt.c_str());
  } else if (command == "score") {
    loom::ScoreSummary s;
    if (vm.count("file")) {
      std::string file = vm["file"].as<std::string>();
      std::ifstream in = open_text_file(file);
      s = loom::score_text(registry, dir, in, file, std::cout, vm.count("tokens") > 0);
    } else {
      s = loom::score_text(registry, dir, std::cin, "stdin", std::cout, vm.count("tokens") > 0);
    }
    std::fprintf(stderr, "loom score: %lld lines, %lld tokens (%lld unknown, mapped to unk), perplexity %.4f; parameters from %s\n",
                 static_cast<long long>(s.lines), static_cast<long long>(s.tokens), static_cast<long long>(s.unknown),
                 s.perplexity(), s.checkpoint.c_str());
  } else if (command == "predict") {
    loom::PredictSummary s;
    if (vm.count("text")) {
      if (vm.count("file")) throw loom::ConfigError("loom predict: give texts or --file, not both");
      std::string lines;
      for (std::string text : vm["text"].as<std::vector<std::string>>()) {
        std::replace(text.begin(), text.end(), '\n', ' ');  // one text, one output line
        lines += text + "\n";
      }
      std::istringstream in(lines);
      s = loom::predict_text(registry, dir, in, "argument", std::cout);
    } else if (vm.count("file")) {
      std::string file = vm["file"].as<std::string>();
      std::ifstream in = open_text_file(file);
      s = loom::predict_text(registry, dir, in, file, std::cout);
    } else {
      s = loom::predict_text(registry, dir, std::cin, "stdin", std::cout);
    }
    std::string counts;
    for (const auto& [label, n] : s.per_label) counts += (counts.empty() ? "" : ", ") + label + " " + std::to_string(n);
    std::fprintf(stderr, "loom predict: %lld texts (%s); parameters from %s\n", static_cast<long long>(s.lines),
                 counts.empty() ? "none" : counts.c_str(), s.checkpoint.c_str());
  } else if (command == "attention") {
    if (!vm.count("text")) throw loom::ConfigError("loom attention: missing the TEXT to show (see --help)");
    const std::filesystem::path out = vm.count("out") ? std::filesystem::path(vm["out"].as<std::string>()) : dir / "attention";
    auto a = loom::attention_text(registry, dir, vm["text"].as<std::string>(), out);
    std::printf("%s\n", (out / "attention.html").c_str());
    std::fprintf(stderr, "loom attention: %lld tokens -> %s and attention.json; parameters from %s\n",
                 static_cast<long long>(a.tokens), (out / "attention.html").c_str(), a.checkpoint.c_str());
  } else if (command == "translate") {
    loom::TranslateOptions o;
    o.search.beam = vm["beam"].as<std::int64_t>();
    o.search.nbest = vm["nbest"].as<std::int64_t>();
    const std::string norm = vm["length-norm"].as<std::string>();
    if (norm != "none" && norm != "average" && norm != "gnmt")
      throw loom::ConfigError("--length-norm must be none, average or gnmt, got '" + norm + "'");
    o.search.length_norm = norm == "none" ? loom::LengthNorm::kNone : norm == "gnmt" ? loom::LengthNorm::kGnmt : loom::LengthNorm::kAverage;
    o.search.alpha = vm["alpha"].as<double>();
    o.search.max_len_a = vm["max-len-a"].as<double>();
    o.search.max_len_b = vm["max-len-b"].as<std::int64_t>();
    o.search.allow_unk = vm.count("no-unk") == 0;
    o.batch_size = vm["batch-size"].as<std::int64_t>();
    if (vm.count("attention")) o.attention_page = vm["attention"].as<std::string>();
    loom::TranslateSummary s;
    if (vm.count("file")) {
      std::string file = vm["file"].as<std::string>();
      std::ifstream in = open_text_file(file);
      s = loom::translate_text(registry, dir, in, file, std::cout, o);
    } else {
      s = loom::translate_text(registry, dir, std::cin, "stdin", std::cout, o);
    }
    std::fprintf(stderr, "loom translate: %lld sentences, %lld output tokens, %.1f tokens/s (beam %lld)%s; parameters from %s\n",
                 static_cast<long long>(s.lines), static_cast<long long>(s.tokens),
                 s.seconds > 0 ? static_cast<double>(s.tokens) / s.seconds : 0.0, static_cast<long long>(o.search.beam),
                 o.attention_page.empty() ? "" : (", attention in " + o.attention_page.string()).c_str(), s.checkpoint.c_str());
  } else if (command == "export") {
    if (!vm.count("out")) throw loom::ConfigError("loom export: missing --out FILE.safetensors (see --help)");
    const std::filesystem::path out = vm["out"].as<std::string>();
    auto e = loom::export_run(registry, dir, vm["checkpoint"].as<std::string>(), out);
    std::fprintf(stderr, "loom export: %lld tensors, %lld values, %s, to %s; parameters from %s\n",
                 static_cast<long long>(e.tensors), static_cast<long long>(e.values),
                 e.module.empty() ? "under loom's names (the model mirrors no PyTorch module)"
                                  : ("as " + e.module).c_str(),
                 out.c_str(), e.checkpoint.c_str());
  } else {
    std::optional<std::filesystem::path> file;
    if (vm.count("file")) file = vm["file"].as<std::string>();
    std::vector<std::string> settings;
    if (vm.count("set")) settings = vm["set"].as<std::vector<std::string>>();
    if (vm.count("sweep")) {
      if (file) throw loom::ConfigError("loom evaluate: --sweep and --file do not go together");
      const std::string sweep = vm["sweep"].as<std::string>();
      const auto eq = sweep.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == sweep.size())
        throw loom::ConfigError("--sweep " + sweep + ": expected key=v1,v2,... (e.g. components.data.bptt=10,20,30)");
      const std::string key = sweep.substr(0, eq);
      std::vector<std::string> values;
      std::stringstream list(sweep.substr(eq + 1));
      for (std::string v; std::getline(list, v, ',');)
        if (!v.empty()) values.push_back(v);
      const std::filesystem::path out = vm.count("out") ? std::filesystem::path(vm["out"].as<std::string>())
                                                        : dir / ("evaluate-" + key.substr(key.rfind('.') + 1));
      auto s = loom::evaluate_sweep(registry, dir, vm["split"].as<std::string>(), key, values, settings, out);
      std::ifstream table(s.table);
      std::cout << table.rdbuf();
      std::fprintf(stderr, "loom evaluate: %zu values -> %s and %s; parameters from %s\n", s.rows.size(), s.table.c_str(),
                   s.page.c_str(), s.checkpoint.c_str());
    } else {
      std::cout << loom::evaluate_run(registry, dir, vm["split"].as<std::string>(), file, settings) << "\n";
    }
  }
  return 0;
}

// BLEU of a hypothesis file against one or more references: no model, no run folder.
int bleu_command(const std::vector<std::string>& args, const Global& global) {
  po::options_description desc("loom bleu --ref REF [--ref REF2]... [options] < HYP");
  desc.add_options()("help,h", "show this help")(
      "ref", po::value<std::vector<std::string>>()->composing(), "a reference file, one sentence per line (repeat for several)")(
      "hyp", po::value<std::string>(), "the hypotheses, one per line (default: stdin)")(
      "tokenize", po::value<std::string>(), "none (split at white space; the default) or 13a (mteval-v13a, as sacreBLEU)")(
      "smooth", po::value<std::string>(), "none (the default) or exp (sacreBLEU's)")(
      "lowercase", "compare lower-cased text")(
      "sacrebleu", "sacreBLEU's defaults: 13a, exp smoothing, raw n-gram counts as denominators (flags still override)")(
      "json", "one JSON object: score, precisions, bp, ratio, sys_len, ref_len, signature")(
      "threads", po::value<int>(), "threads");
  po::positional_options_description pos;
  if (wants_help(args)) {
    std::cout << desc << "\n"
              << "Without --sacrebleu this is the textbook corpus BLEU (NLTK's corpus_bleu without smoothing):\n"
                 "clipped n-gram matches over max(1, hypothesis n-grams) per sentence, the closest reference\n"
                 "length (ties: the shorter) in the brevity penalty.\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (!vm.count("ref")) throw loom::ConfigError("loom bleu: missing --ref REF (see --help)");
  Global g = with_command_options(global, vm);
  loom::set_threads(g.threads ? *g.threads : loom::hardware_threads());
  loom::BleuOptions options = vm.count("sacrebleu") ? loom::BleuOptions::sacrebleu() : loom::BleuOptions{};
  if (vm.count("tokenize")) {
    const std::string t = vm["tokenize"].as<std::string>();
    if (t != "none" && t != "13a") throw loom::ConfigError("loom bleu: --tokenize must be none or 13a, got '" + t + "'");
    options.tokenize = t == "13a" ? loom::BleuTokenize::k13a : loom::BleuTokenize::kNone;
  }
  if (vm.count("smooth")) {
    const std::string m = vm["smooth"].as<std::string>();
    if (m != "none" && m != "exp") throw loom::ConfigError("loom bleu: --smooth must be none or exp, got '" + m + "'");
    options.smooth = m == "exp" ? loom::BleuSmooth::kExp : loom::BleuSmooth::kNone;
  }
  options.lowercase = vm.count("lowercase") > 0;
  std::vector<std::string> hypotheses;
  std::string hyp_name = "stdin";
  if (vm.count("hyp")) {
    hyp_name = vm["hyp"].as<std::string>();
    std::ifstream in = open_text_file(hyp_name);
    hypotheses = loom::read_lines(in);
  } else {
    hypotheses = loom::read_lines(std::cin);
  }
  std::vector<std::vector<std::string>> references;
  for (const auto& file : vm["ref"].as<std::vector<std::string>>()) {
    std::ifstream in = open_text_file(file);
    references.push_back(loom::read_lines(in));
    if (references.back().size() != hypotheses.size())
      throw loom::InputError("loom bleu: " + file + " has " + std::to_string(references.back().size()) + " lines but " +
                             hyp_name + " has " + std::to_string(hypotheses.size()) + "; each reference needs one line per hypothesis");
  }
  const auto score = loom::corpus_bleu(hypotheses, references, options);
  const auto signature = options.signature(references.size());
  std::cout << (vm.count("json") ? loom::bleu_json(score, signature).dump(1) : loom::bleu_line(score, signature)) << "\n";
  return 0;
}

}  // namespace host
