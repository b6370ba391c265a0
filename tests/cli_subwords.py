#!/usr/bin/env python3
"""Subword translation end to end: a Pig Latin run whose one tokenizer is sentencepiece (a
joint BPE model learned by build_vocab from both sides of the training split).

- build_vocab says what it learned and writes spm.model into the run folder; the vocabulary
  holds subword pieces (longer than characters);
- the translate stage writes translations.txt, the same lines `loom translate` prints;
- `loom translate` prints detokenized text (no U+2581 boundary marks), also after the run
  folder's spm.model is deleted (every checkpoint keeps the model), and the same text;
- the evaluate stage's bleu scored detokenized text: it equals `loom bleu` on translate's
  output against the raw references;
- a resumed run (stopped after 3 of 6 epochs) takes the tokenizer from its checkpoint and
  ends with the same results as a straight run;
- a run of parallel data translates after its training files moved (the run folder suffices);
- a language-model pipeline with a sentencepiece tokenizer that was never learned is refused
  with one line naming the tokenizer, exit code 2; a corrupt model file names the file.

usage: cli_subwords.py LOOM SOURCE_DIR
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loomtest  # noqa: E402
from loomtest import check, finish  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-subwords-")
SPACE = "\u2581"


def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


PIPELINE = """name: subwords
seed: 3
components:
  spm:       { plugin: sentencepiece, model_type: bpe, vocab_size: 300 }
  vocab:     { plugin: frequency, pad: "<pad>", bos: "<s>", eos: "</s>" }
  data:      { plugin: pig_latin, dir: DATA, size: small, train_pairs: 600, valid_pairs: 60, test_pairs: 60,
               batch_size: 32, eval_batch_size: 64 }
  model:     { plugin: rnn_seq2seq, cell: gru, emsize: 32, nhid: 48, attention: general }
  optimizer: { plugin: adam, lr: 0.003, clip: 1.0 }
  ppl:       { plugin: perplexity }
  bleu:      { plugin: bleu, smooth: exp }
stages:
  - build_vocab: { split: train }
  - train: { epochs: 6, validate_on: valid, select: ppl }
  - evaluate: { split: test }
  - translate: { split: test, beam: 1 }
"""

try:
    pipeline = os.path.join(TMP, "subwords.yaml")
    open(pipeline, "w").write(PIPELINE.replace("DATA", os.path.join(TMP, "pig_latin")))
    run = os.path.join(TMP, "run")
    r = loom("run", pipeline, "--out", run)
    said = [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("tokenizer 'spm'")]
    check(len(said) == 1 and "(bpe)" in said[0] and "src and tgt" in said[0] and "spm.model" in said[0],
          "build_vocab's line about the tokenizer:\n" + r.stdout[-2000:])
    check(os.path.getsize(os.path.join(run, "spm.model")) > 100, "spm.model in the run folder")
    vocab = [l.rstrip("\n") for l in open(os.path.join(run, "vocab.txt"), encoding="utf-8")]
    check(any(t.startswith(SPACE) and len(t) >= 4 for t in vocab), f"subword pieces in the vocabulary: {vocab[:20]}")

    pairs = [l.rstrip("\n").split("\t") for l in open(os.path.join(TMP, "pig_latin", "test.tsv"), encoding="utf-8")]
    sources = "\n".join(p[0] for p in pairs) + "\n"
    r = loom("translate", "--run", run, "--beam", "1", stdin=sources)
    out = r.stdout.splitlines()
    check(len(out) == len(pairs) and not any(SPACE in l for l in out), f"detokenized translations: {out[:5]}")
    # The translate stage wrote the same lines for the test split.
    written = open(os.path.join(run, "translations.txt"), encoding="utf-8").read()
    check(written == r.stdout, "translations.txt of the translate stage equals loom translate --beam 1 on the test sources")
    hyp, ref = os.path.join(TMP, "hyp.txt"), os.path.join(TMP, "ref.txt")
    open(hyp, "w", encoding="utf-8").write(r.stdout)
    open(ref, "w", encoding="utf-8").write("\n".join(p[1] for p in pairs) + "\n")
    b = loom("bleu", "--ref", ref, "--hyp", hyp, "--smooth", "exp", "--json")
    test = json.load(open(os.path.join(run, "summary.json")))["evaluate"]["test"]
    check(test["bleu"] > 0 and b.returncode == 0 and abs(json.loads(b.stdout)["score"] - test["bleu"]) < 1e-9,
          f"the bleu metric {test['bleu']} scored detokenized text as loom bleu does: {b.stdout}")

    # The checkpoint keeps the model: the same translations without the run folder's file.
    os.remove(os.path.join(run, "spm.model"))
    r = loom("translate", "--run", run, "--beam", "1", stdin=sources)
    check(r.stdout.splitlines() == out, "translations from the checkpoint's tokenizer")

    # Resume: stop after epoch 3 (by asking for 3 epochs), then resume to 6; the tokenizer comes
    # from the checkpoint and the results match the straight run.
    part = os.path.join(TMP, "part")
    loom("run", pipeline, "--out", part, "-q", "--set", "stages.train.epochs=3")
    os.remove(os.path.join(part, "spm.model"))
    r = loom("resume", part, "--set", "stages.train.epochs=6")
    check("tokenizer 'spm': from the checkpoint" in r.stdout + r.stderr,
          "resume takes the tokenizer from the checkpoint:\n" + r.stdout[-2000:])
    check(os.path.exists(os.path.join(part, "spm.model")), "resume writes spm.model back")
    a = json.load(open(os.path.join(run, "summary.json")))["evaluate"]["test"]
    c = json.load(open(os.path.join(part, "summary.json"))).get("evaluate", {}).get("test", {})
    check(a == c, f"resumed results {c} vs straight {a}")

    # A run of parallel data opens for translation after its training files have moved: it
    # needs only its run folder.
    pdir = os.path.join(TMP, "pairs")
    os.makedirs(pdir)
    for split in ("train", "valid", "test"):
        shutil.copy(os.path.join(TMP, "pig_latin", f"{split}.tsv"), os.path.join(pdir, f"{split}.tsv"))
    parallel = os.path.join(TMP, "parallel.yaml")
    text = open(pipeline).read()
    start = text.index("  data:")
    end = text.index("  model:")
    open(parallel, "w").write(text[:start] + f"  data: {{ plugin: parallel, train: {pdir}/train.tsv, valid: {pdir}/valid.tsv, "
                              f"test: {pdir}/test.tsv }}\n" + text[end:])
    prun = os.path.join(TMP, "prun")
    loom("run", parallel, "--out", prun, "-q", "--set", "stages.train.epochs=1")
    os.rename(pdir, pdir + ".moved")
    r = loom("translate", "--run", prun, "--beam", "1", stdin=sources)
    check(len(r.stdout.splitlines()) == len(pairs), "a parallel run translates after its training files moved:\n" + r.stderr)

    # Errors: a tokenizer that is never learned (lm_stream does not hand out its lines); a
    # corrupt model file.
    lm = os.path.join(TMP, "lm.yaml")
    open(lm, "w").write(open(os.path.join(SRC, "pipelines", "quickstart.yaml")).read())
    r = loom("run", lm, "--out", os.path.join(TMP, "lm"), "-q", "--set", f"components.data.dir={TMP}/markov",
             "--set", "components.tokenizer.plugin=sentencepiece", "--set", "stages.train.epochs=1", expect=2)
    lines = loomtest.errors(r)
    check(len(lines) == 1 and "tokenizer 'tokenizer'" in lines[0] and "learned from text" in lines[0],
          "unlearnable tokenizer refused:\n" + r.stderr)
    bad = os.path.join(TMP, "bad.model")
    open(bad, "wb").write(b"\x00garbage\xff" * 10)
    r = loom("run", pipeline, "--out", os.path.join(TMP, "bad"), "-q", "--set", f"components.spm.model={bad}", expect=2)
    lines = loomtest.errors(r)
    check(len(lines) == 1 and "bad.model" in lines[0] and "not a SentencePiece model" in lines[0], "corrupt model:\n" + r.stderr)
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("subwords")
