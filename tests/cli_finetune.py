#!/usr/bin/env python3
"""Fine-tuning seams from the command line.

- The train stage's `freeze` and `trainable` globs: frozen parameters come out of training
  bit-identical to their initial values (read from a run with learning rate 0), even under
  AdamW's weight decay, while the others move; the summary counts the trainable parameters;
  a glob that matches nothing, or both settings at once, is an error naming the setting.
- A model's `init_from`: a run started from another run's checkpoint (learning rate 0, so
  the loaded values are what comes out) has its parameters, except what exclude leaves at
  initialisation; rename moves parameters between names (two layers swapped); the log says
  what was loaded, renamed, left and not used; shapes that differ and a missing run are
  errors naming them.
- A transformer_classifier starts from a transformer_lm run: every body parameter loads under
  its own name (the language model's output layer is not used, the classifier's head is left
  at its initialisation), and with the body frozen only the head moves in training.

usage: cli_finetune.py LOOM SOURCE_DIR
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
TMP = tempfile.mkdtemp(prefix="loom-finetune-")


def loom(*args, expect=0):
    return loomtest.loom(LOOM, *args, expect=expect)


def safetensors(path):
    """name -> raw bytes of each tensor in a .safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}


def pipeline(name, train, lr=0.01, model_extra="", d_model=16, vocab='{ plugin: frequency, unk: "<unk>" }', style="gpt"):
    model = f"{{ plugin: transformer_lm, style: {style}, d_model: {d_model}, heads: 2, layers: 2, block_size: 8{model_extra} }}"
    return loomtest.lm_pipeline(os.path.join(TMP, name + ".yaml"), name, os.path.join(TMP, "markov"), model,
                                "epochs: 1, max_batches_per_epoch: 20" + (", " + train if train else ""), seed=5,
                                batch_size=8, bptt=8, vocab=vocab,
                                optimizer=f"{{ plugin: adamw, lr: {lr}, weight_decay: 0.1 }}")


def exported(name, train, lr=0.01, model_extra="", style="gpt"):
    run = os.path.join(TMP, name)
    r = loom("run", pipeline(name, train, lr, model_extra, style=style), "--out", run)
    loom("export", "--run", run, "--out", run + ".safetensors", "--checkpoint", "last")
    return r, safetensors(run + ".safetensors"), json.load(open(os.path.join(run, "summary.json")))["train"]


try:
    loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
         "--set", "components.data.train_tokens=30000", "--set", "stages.train.epochs=1",
         "--set", "stages.train.max_batches_per_epoch=1", "--out", f"{TMP}/gen", "--quiet")
    _, initial, _ = exported("initial", "", lr=0)  # a rate of 0 (decoupled decay too): the initial values
    r, frozen, summary = exported("frozen", 'freeze: ["embedding.*", "layers.0.*"]')
    names = sorted(initial)
    body0 = [n for n in names if n.startswith("transformer.h.0.") or n == "transformer.wte.weight"]
    rest = [n for n in names if n not in body0]
    check(len(body0) >= 9 and len(rest) >= 9, f"the export's names: {names}")
    check(all(frozen[n] == initial[n] for n in body0), "frozen parameters are bit-identical to their initial values: " +
          str([n for n in body0 if frozen[n] != initial[n]]))
    check(all(frozen[n] != initial[n] for n in rest), "every other parameter moved: " +
          str([n for n in rest if frozen[n] == initial[n]]))
    total = summary["parameters"]
    frozen_count = sum(len(initial[n]) // 4 for n in body0)
    check(summary["parameters_trainable"] == total - frozen_count,
          f"trainable {summary['parameters_trainable']} of {total}, {frozen_count} frozen")
    check(f"frozen by freeze: embedding.*, layers.0.*" in r.stderr + r.stdout, "the log says what is frozen")

    # trainable: the complement.
    _, only, summary = exported("only", 'trainable: ["layers.1.*", "norm.*", "decoder.*"]')
    moving = [n for n in rest if n != "transformer.wpe.weight"]
    check(all(only[n] == initial[n] for n in body0 + ["transformer.wpe.weight"]) and
          all(only[n] != initial[n] for n in moving), "trainable lists exactly what moves")
    check(summary["parameters_trainable"] == total - frozen_count - sum(len(initial[n]) // 4 for n in names
                                                                          if n == "transformer.wpe.weight"),
          f"positions are frozen too under trainable: {summary['parameters_trainable']}")

    # init_from: everything loads (the starting values are the source's last checkpoint).
    source = os.path.join(TMP, "frozen")
    r, loaded, _ = exported("loaded", "", lr=0, model_extra=f", init_from: {{run: {source}, checkpoint: last}}")
    check(all(loaded[n] == frozen[n] for n in names), "init_from loads every parameter")
    check(f"init_from {source}/checkpoints/last.ckpt: loaded {len(names)} parameters" in r.stderr + r.stdout,
          "the log says what loaded:\n" + (r.stderr + r.stdout)[-1500:])
    # vocab/fixed gives a run the source's vocabulary file, ids and all.
    fixed = os.path.join(TMP, "fixed")
    loom("run", pipeline("fixed", "", vocab=f"{{ plugin: fixed, file: {source}/vocab.txt }}",
                         model_extra=f", init_from: {{run: {source}, checkpoint: last}}"), "--out", fixed)
    check(open(os.path.join(fixed, "vocab.txt")).read() == open(os.path.join(source, "vocab.txt")).read(),
          "vocab/fixed keeps the file's vocabulary")
    # exclude leaves the head at its initialisation (the same seed: the initial run's values).
    r, partial, _ = exported("partial", "", lr=0,
                             model_extra=f", init_from: {{run: {source}, checkpoint: last, exclude: ['decoder.*']}}")
    head = "lm_head.weight"
    check(head in names and partial[head] == initial[head] and partial[head] != frozen[head],
          "an excluded parameter keeps its initialisation")
    check(all(partial[n] == frozen[n] for n in names if n != head), "the rest loads")
    check("left at initialisation 1: decoder.weight" in r.stderr + r.stdout and
          "not used from the run 1: decoder.weight" in r.stderr + r.stdout, (r.stderr + r.stdout)[-1500:])
    # rename swaps the two layers.
    r, swapped, _ = exported("swapped", "", lr=0, model_extra=f", init_from: {{run: {source}, checkpoint: last, "
                             "rename: {'layers.0.': 'layers.1.', 'layers.1.': 'layers.0.'}}")
    layer_names = [n for n in names if n.startswith("transformer.h.0.")]
    check(all(swapped[n] == frozen[n.replace(".h.0.", ".h.1.")] and swapped[n.replace(".h.0.", ".h.1.")] == frozen[n]
              for n in layer_names), "renamed parameters load under their new names")
    check("renamed " in r.stderr + r.stdout and "layers.0.norm1.weight -> layers.1.norm1.weight" in r.stderr + r.stdout,
          (r.stderr + r.stdout)[-1500:])
    # Shapes that differ, a missing run, an unknown key: errors that name them.
    r = loom("run", pipeline("wide", "", model_extra=f", init_from: {{run: {source}, checkpoint: last}}", d_model=32),
             "--out", os.path.join(TMP, "wide"), expect=2)
    check(any("shapes differ" in l and "embedding.weight ([" in l and "in the model" in l for l in errors(r)),
          "\n".join(errors(r)))
    r = loom("run", pipeline("missing", "", model_extra=", init_from: {run: /nonexistent/run}"), "--out",
             os.path.join(TMP, "missing"), expect=2)
    check(any("missing.yaml:" in l and "'/nonexistent/run' does not exist" in l for l in errors(r)), "\n".join(errors(r)))
    r = loom("run", pipeline("typo", "", model_extra=f", init_from: {{run: {source}, exclud: ['x']}}"), "--out",
             os.path.join(TMP, "typo"), expect=2)
    check(any("unknown key 'exclud'" in l for l in errors(r)), "\n".join(errors(r)))

    # Errors name the setting and the glob.
    r = loom("run", pipeline("bad", 'freeze: ["encoder.*"]'), "--out", os.path.join(TMP, "bad"), expect=2)
    check(any("freeze" in l and "'encoder.*' matches no parameter" in l for l in errors(r)), "\n".join(errors(r)))
    r = loom("run", pipeline("both", 'freeze: ["norm.*"], trainable: ["decoder.*"]'), "--out",
             os.path.join(TMP, "both"), expect=2)
    check(any("not both" in l for l in errors(r)), "\n".join(errors(r)))

    # A classifier on the language model's body: labelled lines of the same corpus (label: does
    # the line hold more than 8 words), the run's vocabulary (vocab/fixed).
    with open(os.path.join(TMP, "markov", "train.txt")) as f:
        lines = [l.split() for l in f.read().splitlines() if l.strip()][:200]
    with open(os.path.join(TMP, "labelled.csv"), "w") as f:
        f.write("text,label\n" + "".join(f"{' '.join(w)},{'long' if len(w) > 8 else 'short'}\n" for w in lines))
    lm_run = os.path.join(TMP, "lm_wlm")
    # wlm without an output bias: no PyTorch module mirrors it, so the export keeps loom's names.
    r, lm_values, _ = exported("lm_wlm", "", model_extra=", output_bias: false, activation: gelu", style="wlm")

    def classifier(name, train, init=True, lr=0.01):
        path = os.path.join(TMP, name + ".yaml")
        init_from = f", init_from: {{run: {lm_run}, checkpoint: last}}" if init else ""
        with open(path, "w") as f:
            f.write(f"""name: {name}
seed: 9
components:
  tokenizer: {{ plugin: word }}
  vocab:     {{ plugin: fixed, file: {lm_run}/vocab.txt }}
  data:      {{ plugin: text_classification, train: {TMP}/labelled.csv, valid_ratio: 0.2, batch_size: 16 }}
  model:     {{ plugin: transformer_classifier, style: wlm, d_model: 16, heads: 2, layers: 2, block_size: 8,
               activation: gelu, pooling: mean{init_from} }}
  optimizer: {{ plugin: adam, lr: {lr} }}
  accuracy:  {{ plugin: accuracy }}
stages:
  - build_vocab: {{ split: train }}
  - train: {{ epochs: 2, validate_on: valid, select: accuracy{", " + train if train else ""} }}
""")
        run = os.path.join(TMP, name)
        r = loom("run", path, "--out", run)
        loom("export", "--run", run, "--out", run + ".safetensors", "--checkpoint", "last")
        return r, safetensors(run + ".safetensors")

    _, cls_initial = classifier("cls_initial", "", init=False, lr=0)
    r, cls_loaded = classifier("cls_loaded", "", lr=0)
    out = r.stderr + r.stdout
    body = sorted(n for n in cls_loaded if not n.startswith("head."))
    check(sorted(n for n in lm_values if not n.startswith("decoder.")) == body,
          f"the classifier's body has the language model's names: {body} / {sorted(lm_values)}")
    check(all(cls_loaded[n] == lm_values[n] for n in body), "every body parameter loads from the language model")
    check(all(cls_loaded[n] == cls_initial[n] and cls_loaded[n] != b"" for n in ["head.weight", "head.bias"]),
          "the head keeps its initialisation")
    check(f"loaded {len(body)} parameters" in out and "left at initialisation 2: head.weight, head.bias" in out and
          "not used from the run 1: decoder.weight" in out, "the log says what loaded:\n" + out[-1500:])
    r, cls_frozen = classifier("cls_frozen", 'freeze: ["embedding.*", "layers.*", "norm.*"]')
    check(all(cls_frozen[n] == lm_values[n] for n in body), "a frozen body stays the language model's, bit for bit")
    check(cls_frozen["head.weight"] != cls_initial["head.weight"], "the head trains")
finally:
    shutil.rmtree(TMP, ignore_errors=True)
finish("cli_finetune")
