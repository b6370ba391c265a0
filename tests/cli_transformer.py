#!/usr/bin/env python3
"""Transformer and hybrid language models from the command line: the attention stage and
`loom attention` (heatmaps and weights), evaluation at another bptt (length generalisation)
and the settings it refuses, generation with and without the key/value cache, and `loom
export` of a model that mirrors no PyTorch module.

Tiny models trained for a few batches on a generated Markov corpus read by lm_stream.

usage: cli_transformer.py LOOM SOURCE_DIR
"""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, errors, finish  # noqa: E402
import loomtest  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-transformer-")
TEXT = "mo ka ri de su"


def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


def pipeline(name, model):
    return loomtest.lm_pipeline(os.path.join(TMP, name + ".yaml"), name, os.path.join(TMP, "markov"), model,
                                "epochs: 1, max_batches_per_epoch: 30",
                                stages=f'  - evaluate: {{ split: test }}\n  - attention: {{ text: "{TEXT}" }}\n',
                                optimizer='{ plugin: adamw, lr: 0.003, no_decay: ["*.bias", "*norm*"] }')


def ppl_of(line):
    return float(line.split("ppl ")[1].split()[0])


try:
    loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
         "--set", "components.data.train_tokens=30000", "--set", "stages.train.epochs=1",
         "--set", "stages.train.max_batches_per_epoch=1", "--out", f"{TMP}/gen", "--quiet")
    models = {
        "wlm": "{ plugin: transformer_lm, style: wlm, d_model: 16, heads: 2, layers: 2, d_ff: 32 }",
        "gpt": "{ plugin: transformer_lm, style: gpt, d_model: 16, heads: 4, layers: 1, block_size: 16 }",
        "hybrid": "{ plugin: hybrid_lm, emsize: 16, nhid: 16, heads: 2, layers: 1, context: 12 }",
    }
    layers_heads = {"wlm": (2, 2), "gpt": (1, 4), "hybrid": (1, 2)}
    runs = {}
    for name, model in models.items():
        runs[name] = os.path.join(TMP, name)
        loom("run", pipeline(name, model), "--out", runs[name], "--quiet")

    # The attention stage: one map per layer, each head's rows distributions over the keys,
    # zero above the diagonal (causal); the page draws one heatmap per layer and head.
    for name, run in runs.items():
        att = json.load(open(os.path.join(run, "attention", "attention.json")))
        tokens = att["tokens"]
        check(tokens[0] == "<eos>" and tokens[1:6] == TEXT.split(), f"{name}: the text's tokens after the line end: {tokens}")
        layers, heads = layers_heads[name]
        check(len(att["layers"]) == layers and all(len(l["heads"]) == heads for l in att["layers"]),
              f"{name}: {layers} layers of {heads} heads")
        ok_rows = all(abs(sum(row) - 1) < 1e-5 and all(w == 0 for w in row[i + 1:])
                      for l in att["layers"] for h in l["heads"] for i, row in enumerate(h))
        check(ok_rows, f"{name}: every row sums to 1 and sees no later token")
        html = open(os.path.join(run, "attention", "attention.html")).read()
        check(html.count("<figure class=\"heatmap\">") == layers * heads, f"{name}: one heatmap per layer and head")

    # loom attention writes the same weights as the stage for the same text.
    out = os.path.join(TMP, "att")
    loom("attention", "--run", runs["wlm"], "--out", out, TEXT)
    check(json.load(open(os.path.join(out, "attention.json")))["layers"] ==
          json.load(open(os.path.join(runs["wlm"], "attention", "attention.json")))["layers"],
          "loom attention gives the stage's weights")
    r = loom("attention", "--run", os.path.join(TMP, "gen"), "--out", out, TEXT, expect=2)
    check(any("no attention layers" in l for l in errors(r)), "an LSTM has no attention to show")

    # Length generalisation: the same trained model evaluated at other bptt values.
    base = loom("evaluate", "--run", runs["wlm"]).stdout
    short = loom("evaluate", "--run", runs["wlm"], "--set", "components.data.bptt=4").stdout
    check(ppl_of(base) != ppl_of(short), f"bptt 4 gives another perplexity ({ppl_of(short)} vs {ppl_of(base)})")
    check(ppl_of(short) > ppl_of(base), "shorter windows give less context, so a higher perplexity")
    sweep = os.path.join(TMP, "sweep")
    r = loom("evaluate", "--run", runs["wlm"], "--sweep", "components.data.bptt=4,12", "--out", sweep)
    rows = [l.split("\t") for l in open(os.path.join(sweep, "evaluate_sweep.tsv")).read().splitlines()]
    check(rows[0] == ["bptt", "loss", "ppl", "tokens"] and [r[0] for r in rows[1:]] == ["4", "12"],
          f"evaluate --sweep writes one row per value: {rows}")
    check(abs(float(rows[2][2]) - ppl_of(base)) < 1e-3 * ppl_of(base) and abs(float(rows[1][2]) - ppl_of(short)) < 1e-3 * ppl_of(short),
          "the sweep's rows are the single evaluations at those values")
    page = open(os.path.join(sweep, "evaluate_sweep.html")).read()
    check(page.count("<svg") >= 2, "the sweep page charts loss and ppl")
    r = loom("evaluate", "--run", runs["gpt"], "--set", "components.data.bptt=20", expect=2)
    check(any("longer than block_size 16" in l for l in errors(r)), "gpt refuses windows past its block_size")
    r = loom("evaluate", "--run", runs["wlm"], "--set", "components.model.heads=4", expect=2)
    check(any("component 'model' is a model" in l for l in errors(r)), "model settings are refused")

    # Generation: sampled text (one seed) is the same with the key/value cache and with
    # recomputation of the prefix: the distributions agree to float rounding. (gpt's context is
    # 16 tokens; past it the two slide differently, by half a context and by one token.)
    for name in ("wlm", "gpt"):
        copy = os.path.join(TMP, name + "-nocache")
        shutil.copytree(runs[name], copy)
        cfg = open(os.path.join(copy, "config.yaml")).read()
        check("    plugin: transformer_lm\n" in cfg, f"{name}: config.yaml names the plugin on its own line")
        open(os.path.join(copy, "config.yaml"), "w").write(
            cfg.replace("    plugin: transformer_lm\n", "    plugin: transformer_lm\n    kv_cache: false\n"))
        words = "40" if name == "wlm" else "15"
        cached = loom("generate", "--run", runs[name], "--words", words, "--seed", "3").stdout
        recomputed = loom("generate", "--run", copy, "--words", words, "--seed", "3").stdout
        check(len(cached.split()) >= int(words) // 2 and cached == recomputed,
              f"{name}: generation with the cache equals recomputing the prefix")

    # top-k: with k = 1 sampling is greedy, whatever the temperature and seed.
    greedy = loom("generate", "--run", runs["wlm"], "--words", "30", "--temperature", "0").stdout
    top1 = loom("generate", "--run", runs["wlm"], "--words", "30", "--temperature", "1.5", "--top-k", "1", "--seed", "9").stdout
    check(greedy == top1, "--top-k 1 samples the likeliest token")
    top5 = [loom("generate", "--run", runs["wlm"], "--words", "30", "--top-k", "5", "--seed", str(k)).stdout for k in (1, 2)]
    check(top5[0] != top5[1], "--top-k 5 still samples")
    r = loom("generate", "--run", runs["wlm"], "--top-k", "-1", expect=2)
    check(any("--top-k must be 0" in l for l in errors(r)), "a negative top-k is refused")

    # Export of a model that mirrors no PyTorch module: loom's names, no "mirrors".
    st = os.path.join(TMP, "hybrid.safetensors")
    r = loom("export", "--run", runs["hybrid"], "--out", st)
    raw = open(st, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    check("mirrors" not in header.get("__metadata__", {}) and "rnn.l0.w_ih" in header and "layers.0.self_attn.in_proj_weight" in header,
          "hybrid_lm exports under loom's names")
    check(any("under loom's names" in l for l in errors(r)), "export says it used loom's names")
finally:
    shutil.rmtree(TMP, ignore_errors=True)
finish("cli_transformer")
