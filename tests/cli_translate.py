#!/usr/bin/env python3
"""Translation end to end: a Pig Latin pipeline (default translate_piglatin_rnn_attention)
trains on the embedded generator, then `loom translate`:

- greedy translations of the test split (words never seen in training) reach the given word
  accuracy (exact match per word), in input order (a shuffled input gives the same
  translations shuffled, at any batch size);
- beam 1 and the default beam give lines for every input; --nbest 3 gives "index<TAB>score<TAB>text"
  lines, three per sentence, scores descending;
- --attention writes an HTML page with one heatmap per sentence;
- a language-model run refuses to translate, binary input is refused naming the line;
- the evaluate stage's word_accuracy (decoding greedily, as the stage's beam says) equals the
  accuracy of `loom translate --beam 1`'s output, and its bleu metric equals `loom bleu` on it.

usage: cli_translate.py LOOM SOURCE_DIR [PIPELINE MIN_ACCURACY [EPOCHS]]
  PIPELINE: a file name in pipelines/; EPOCHS overrides the pipeline's (a mechanics check,
  then MIN_ACCURACY should be 0). LOOM_TRANSLATE_EPOCHS (the sanitizer build) does the same.
"""
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loomtest  # noqa: E402
from loomtest import check, finish  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
PIPELINE = sys.argv[3] if len(sys.argv) > 3 else "translate_piglatin_rnn_attention.yaml"
MIN_ACCURACY = float(sys.argv[4]) if len(sys.argv) > 4 else 0.95
EPOCHS = sys.argv[5] if len(sys.argv) > 5 else os.environ.get("LOOM_TRANSLATE_EPOCHS")
TMP = tempfile.mkdtemp(prefix="loom-translate-")


def loom(*args, expect=0, stdin=None, threads=2):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin, threads=threads)


def word_accuracy(hyps, refs):
    total = sum(len(r.split()) for r in refs)
    right = sum(sum(a == b for a, b in zip(h.split(), r.split())) for h, r in zip(hyps, refs))
    return right / total


try:
    pipeline = os.path.join(SRC, "pipelines", PIPELINE)
    run = os.path.join(TMP, "run")
    data = os.path.join(TMP, "pig_latin")
    # A few epochs on 2,000 training pairs (the sanitizer build, or a mechanics check) test
    # the mechanics, not the quality, which the normal build holds.
    epochs = EPOCHS
    loom("run", pipeline, "--out", run, "-q", "--set", f"components.data.dir={data}",
         *(["--set", f"stages.train.epochs={epochs}", "--set", "components.data.train_pairs=2000"] if epochs else []))
    pairs = [l.rstrip("\n").split("\t") for l in open(os.path.join(data, "test.tsv"), encoding="utf-8")]
    sources = [p[0] for p in pairs]
    refs = [p[1] for p in pairs]
    r = loom("translate", "--run", run, "--beam", "1", stdin="\n".join(sources) + "\n")
    greedy = r.stdout.splitlines()
    check(len(greedy) == len(sources), f"{len(greedy)} translations of {len(sources)} sentences")
    acc = word_accuracy(greedy, refs)
    print(f"greedy word accuracy {acc:.3f}")
    if not epochs:
        check(acc >= MIN_ACCURACY, f"greedy word accuracy {acc:.3f} below {MIN_ACCURACY}")
    check(f"loom translate: {len(sources)} sentences" in r.stderr, "summary line:\n" + r.stderr)
    # The evaluate stage decoded the same way (greedy) for its word_accuracy and bleu metrics.
    test = json.load(open(os.path.join(run, "summary.json")))["evaluate"]["test"]
    check(abs(test["accuracy"] - acc) < 1e-12, f"evaluate's accuracy {test['accuracy']} vs loom translate's {acc}")

    # Input order: a shuffled input gives the same translations, shuffled alike.
    order = list(range(len(sources)))
    random.Random(1).shuffle(order)
    r = loom("translate", "--run", run, "--beam", "1", "--batch-size", "7", stdin="\n".join(sources[i] for i in order) + "\n")
    check(r.stdout.splitlines() == [greedy[i] for i in order], "translations follow the input order at any batch size")
    # One thread, or batches searched at the same time on two: the same beam-5 translations.
    some = "\n".join(sources[:60]) + "\n"
    by_threads = [loom("translate", "--run", run, "--batch-size", "7", stdin=some, threads=t).stdout for t in (1, 2)]
    check(by_threads[0] == by_threads[1] and len(by_threads[0].splitlines()) == 60,
          "beam 5 translations differ between 1 and 2 threads")

    # Beam search and n-best lists.
    src_file = os.path.join(TMP, "src.txt")
    with open(src_file, "w", encoding="utf-8") as f:
        f.write("\n".join(sources[:10]) + "\n")
    r = loom("translate", "--run", run, src_file)
    check(len(r.stdout.splitlines()) == 10, "beam 5 (the default) gives a line per sentence")
    r = loom("translate", "--run", run, src_file, "--nbest", "3")
    rows = [l.split("\t") for l in r.stdout.splitlines()]
    check(len(rows) == 30 and all(len(x) == 3 for x in rows), f"n-best rows: {rows[:4]}")
    for i in range(10):
        mine = [x for x in rows if x[0] == str(i)]
        scores = [float(x[1]) for x in mine]
        check(len(mine) == 3 and scores == sorted(scores, reverse=True), f"sentence {i}: {mine}")

    # Attention heatmaps.
    page = os.path.join(TMP, "att.html")
    r = loom("translate", "--run", run, src_file, "--attention", page)
    html = open(page, encoding="utf-8").read() if os.path.exists(page) else ""
    check(html.count('class="heatmap"') == 10 and "<script" not in html, "one heatmap per sentence, no script")

    # BLEU of the greedy output against the references.
    hyp = os.path.join(TMP, "hyp.txt")
    ref = os.path.join(TMP, "ref.txt")
    open(hyp, "w", encoding="utf-8").write("\n".join(greedy) + "\n")
    open(ref, "w", encoding="utf-8").write("\n".join(refs) + "\n")
    r = loom("bleu", "--ref", ref, "--hyp", hyp, "--json")
    check(r.returncode == 0 and abs(json.loads(r.stdout)["score"] - test["bleu"]) < 1e-9,
          f"loom bleu on the translations {r.stdout} vs the bleu metric {test['bleu']}")

    # Errors: binary input; a run whose model does not translate (once: it trains a model).
    r = loom("translate", "--run", run, stdin="ok\nbad\0line\n", expect=2)
    check("stdin:2: binary data" in r.stderr, "binary input:\n" + r.stderr)
    if PIPELINE == "translate_piglatin_rnn_attention.yaml":
        lm = os.path.join(TMP, "lm")
        loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--out", lm, "-q", "--set", f"components.data.dir={TMP}/markov",
             "--set", "components.data.train_tokens=3000", "--set", "components.data.valid_tokens=500",
             "--set", "components.data.test_tokens=500", "--set", "stages.train.epochs=1")
        r = loom("translate", "--run", lm, stdin="a b\n", expect=2)
        check("does not hold sentence pairs" in r.stderr or "no translation model" in r.stderr, "LM run refused:\n" + r.stderr)
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("translate")
