#!/usr/bin/env python3
"""FLOP accounting from the command line: a GPT-style transformer_lm trained under a FLOP
budget (max_flops) stops after the batch that spends it, validates and saves; metrics.jsonl
lines carry the stage's training FLOPs and tokens, summary.json the totals and the
non-embedding parameter count. The expected counts are worked out here from the layer
formula (2 FLOPs per multiply-accumulate, softmax 3 per score, 3 forwards per step), not
read from loom. A model that does not count its FLOPs (the throwing_model fixture: every
model that ships counts them) refuses a budget.

usage: cli_flops.py LOOM SOURCE_DIR FIXTURE_DIR
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, errors, finish  # noqa: E402
import loomtest  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-flops-")
B, T, D, H, L = 16, 12, 16, 2, 2
F = 4 * D  # gpt style


def loom(*args, expect=0):
    return loomtest.loom(LOOM, *args, expect=expect)


def pipeline(name, model, budget):
    return loomtest.lm_pipeline(os.path.join(TMP, name + ".yaml"), name, os.path.join(TMP, "markov"), model,
                                f"epochs: 3, max_flops: {budget}", batch_size=B, bptt=T)


try:
    loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
         "--set", "components.data.train_tokens=30000", "--set", "stages.train.epochs=1",
         "--set", "stages.train.max_batches_per_epoch=1", "--out", f"{TMP}/gen", "--quiet")
    gpt = f"{{ plugin: transformer_lm, style: gpt, d_model: {D}, heads: {H}, layers: {L}, block_size: {T} }}"
    # A first run without a budget tells the vocabulary size (and so the output layer's cost).
    probe = os.path.join(TMP, "probe")
    loom("run", pipeline("probe", gpt, 0), "--out", probe, "--quiet", "--set", "stages.train.max_batches_per_epoch=1",
         "--set", "stages.train.epochs=1")
    summary = json.load(open(os.path.join(probe, "summary.json")))
    params = summary["train"]["parameters"]
    # gpt: token table V D, positions T D, per layer 4 D^2 + 2 D F + 9 D + F (queries, keys and
    # values, output projection, the two feed-forward layers with biases, two norms), final
    # norm 2 D, untied head V D without bias: solve for V.
    per_layer = 4 * D * D + 2 * D * F + 9 * D + F
    V = (params - T * D - L * per_layer - 2 * D) // (2 * D)
    check(params == 2 * V * D + T * D + L * per_layer + 2 * D, f"parameter count {params} fits the gpt layout (V {V})")
    check(summary["train"]["parameters_non_embedding"] == params - V * D - T * D,
          f"non-embedding parameters {summary['train']['parameters_non_embedding']} leave out the token table and positions")
    window = L * (6 * T * D * D + 2 * T * T * D + 3 * H * T * T + 2 * T * T * D + 2 * T * D * D + 4 * T * D * F) + 2 * T * V * D
    step = 3 * B * window
    check(abs(summary["train"]["flops"] - step) <= 1e-9 * step, f"one step costs {summary['train']['flops']}, by hand {step}")

    # A budget of 10.5 steps: training stops after the 11th batch, validates and saves.
    run = os.path.join(TMP, "budget")
    r = loom("run", pipeline("budget", gpt, 10.5 * step), "--out", run)
    check("FLOP budget spent" in r.stderr + r.stdout, "the log says the budget is spent:\n" + r.stderr[-2000:])
    s = json.load(open(os.path.join(run, "summary.json")))["train"]
    check(abs(s["flops"] - 11 * step) <= 1e-9 * step, f"11 steps spent: {s['flops']} vs {11 * step}")
    check(s["tokens"] == 11 * B * T, f"11 batches of {B} x {T} target tokens: {s['tokens']}")
    check(abs(s["forward_flops_per_token"] - window / T) <= 1e-9 * window, "forward FLOPs per token")
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    check([l["split"] for l in lines] == ["train", "valid"], f"one epoch, validated: {[l['split'] for l in lines]}")
    check(all(abs(l["train_flops"] - 11 * step) <= 1e-9 * step and l["train_tokens"] == 11 * B * T for l in lines),
          "both lines carry the stage's FLOPs and tokens")
    check(os.path.exists(os.path.join(run, "checkpoints", "best.ckpt")), "the budget's last epoch is saved")
    # Resuming a finished budget does not train further.
    r = loom("resume", run)
    s2 = json.load(open(os.path.join(run, "summary.json")))["train"]
    check(s2["flops"] == s["flops"], f"a resumed run whose budget is spent trains no more: {s2['flops']}")

    # validate_at_flops: validation losses at budgets inside an epoch, as their own lines, and
    # training goes on as without them (an LSTM: its carried state survives the validation).
    lstm = "{ plugin: rnn_lm, emsize: 16, nhid: 16, nlayers: 1, dropout: 0 }"
    plain = os.path.join(TMP, "plain")
    loom("run", pipeline("plain", lstm, 0), "--out", plain, "--set", "stages.train.epochs=1",
         "--set", "stages.train.max_batches_per_epoch=8")
    lstm_step = json.load(open(os.path.join(plain, "summary.json")))["train"]["flops"] / 8
    probed = os.path.join(TMP, "probed")
    r = loom("run", pipeline("probed", lstm, 0), "--out", probed, "--set", "stages.train.epochs=1",
             "--set", "stages.train.max_batches_per_epoch=8",
             "--set", f"stages.train.validate_at_flops=[{2.5 * lstm_step}, {5.5 * lstm_step}, {5.7 * lstm_step}]")
    lines = [json.loads(l) for l in open(os.path.join(probed, "metrics.jsonl"))]
    at = [l for l in lines if "at_flops" in l]
    check([l["batch"] for l in at] == [3, 6] and [len(l["at_flops"]) for l in at] == [1, 2],
          f"one validation per step that crosses budgets: {[(l['batch'], l['at_flops']) for l in at]}")
    check(all(abs(l["train_flops"] - l["batch"] * lstm_step) <= 1e-9 * l["train_flops"] and l["split"] == "valid" for l in at),
          "each carries its training FLOPs")
    base = [json.loads(l) for l in open(os.path.join(plain, "metrics.jsonl"))]
    rest = [l for l in lines if "at_flops" not in l]
    check([(l["split"], l["loss"]) for l in rest] == [(l["split"], l["loss"]) for l in base],
          f"training and the epoch's validation are unchanged: {[(l['split'], l['loss']) for l in rest]} vs "
          f"{[(l['split'], l['loss']) for l in base]}")
    check("budget" in r.stdout + r.stderr, "the log says the budget's loss")

    # `loom plugins NAME` shows every shipped model's formula.
    for name, term in [("transformer_lm", "2 T V D"), ("transformer_classifier", "2 D C"), ("rnn_lm", "2 V H"),
                       ("hybrid_lm", "2 V H"), ("rnn_seq2seq", "4 H^2"), ("transformer_seq2seq", "4 T S D"),
                       ("rnn_classifier", "2 F C"), ("bow_classifier", "2 E C")]:
        out = loom("plugins", name).stdout
        check("forward FLOPs" in out and term in out, f"loom plugins {name} shows its FLOP formula:\n{out[-600:]}")

    # A model that does not count its FLOPs refuses a budget, naming the setting.
    mute = "{ plugin: throwing_model, when: never }"
    r = loom("run", pipeline("mute", mute, 1e9), "--out", os.path.join(TMP, "mute"), "--plugin-path",
             os.path.join(sys.argv[3], "throwing"), expect=2)
    check(any("max_flops" in l and "does not count its FLOPs" in l for l in errors(r)), "\n".join(errors(r)))
finally:
    shutil.rmtree(TMP, ignore_errors=True) if not os.environ.get("KEEP") else print(TMP)
finish("cli_flops")
