#!/usr/bin/env python3
"""Side-by-side benchmark: loom vs PyTorch, Transformer translation on Multi30k (German -> English).

The model is that of pipelines/translate_multi30k_transformer.yaml: one joint SentencePiece
unigram model of 8,000 pieces, a Transformer encoder-decoder of width 256, 4 heads, 3 + 3
pre-norm layers, feed-forward 512, shared and tied embeddings. The PyTorch side is
bench/reference/transformer_seq2seq.py (torch.nn.Transformer), run under Debian's
/usr/bin/python3. Two commands:

train: trains the model for N batches with loom (bench/translate_multi30k_bench.yaml), then
with PyTorch on the same token ids (the reference reads loom's spm.model and vocab.txt from
its run folder), one after the other, and compares training target tokens/s, validation
perplexity and peak RSS.

  python3 bench/seq2seq_bench.py train --batches 300 --threads 2 [--json out.json]
  python3 bench/seq2seq_bench.py train --batches 400 --threads 1 --skip-reference \\
      --keep-run /tmp/s2s_run                    # a run folder for `translate`

translate: exports a trained run's parameters (`loom export`), translates test2016.de with
`loom translate` greedily and with beam 5 in batches of 32 sentences, then with the
PyTorch reference (incremental decoding, loom's search rules), and compares target tokens/s
(output tokens plus eos per sentence) and how many translations are identical.

  python3 bench/seq2seq_bench.py translate --run RUN_DIR --threads 2 [--sentences 200]

loom's translation time is the difference between the input's run and a one-sentence run,
each as `loom translate` reports it on stderr (its seconds include opening the run
folder), so loading does not count. The reference loads the model and translates one
sentence before its clock starts.

Both sides get OPENBLAS_CORETYPE set to the best kernel set the CPU supports
(lm_bench.best_coretype). The reference runs "tuned" by default, as bench/lm_bench.py's
(OMP_WAIT_POLICY=PASSIVE, MALLOC_MMAP_MAX_=0) plus torch.set_flush_denormal(True), since
loom always flushes subnormals; --reference-env default runs it with the library defaults.
On a shared machine, run the whole driver under `nice -n 19`; its children inherit it.

Requirements: a built loom (build/core/loom) with the transformer_seq2seq, sentencepiece
and parallel plugins; /usr/bin/python3 with torch, numpy and sentencepiece (Debian's
python3-torch, python3-numpy and python3-sentencepiece; scripts/install-deps.sh installs
them). This driver itself uses the standard library only.
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_bench  # noqa: E402  (run_child, child_env, ChildFailed, best_coretype, check_loom)

REPO_ROOT = lm_bench.REPO_ROOT
REFERENCE_PYTHON = lm_bench.REFERENCE_PYTHON
REFERENCE_SCRIPT = os.path.join(REPO_ROOT, "bench", "reference", "transformer_seq2seq.py")
PIPELINE = os.path.join(REPO_ROOT, "bench", "translate_multi30k_bench.yaml")
ChildFailed = lm_bench.ChildFailed

SEQ2SEQ_BENCH = lm_bench.Bench(
    description="loom vs PyTorch Transformer translation benchmark (Multi30k de-en).",
    reference_script=REFERENCE_SCRIPT,
    pipeline=PIPELINE,
    reference_env_help="tuned: OMP_WAIT_POLICY=PASSIVE, MALLOC_MMAP_MAX_=0 and "
                       "torch.set_flush_denormal(True) for the reference; default: none of "
                       "them (default: tuned)",
    tuned_reference_flags=["--flush-denormal"],
    required_plugins=["transformer_seq2seq", "sentencepiece", "parallel"])

# What `loom translate` writes to stderr when it is done (core/host/infer_commands.cpp).
TRANSLATE_SUMMARY = re.compile(
    r"loom translate: (\d+) sentences, (\d+) output tokens, ([0-9.]+) tokens/s")


def loom_env(args):
    return lm_bench.child_env(unset=["OPENBLAS_CORETYPE"], extra=args.blas_env)


def reference_cmd(args, mode, *rest):
    cmd = [REFERENCE_PYTHON, REFERENCE_SCRIPT, mode, "--threads", str(args.threads)] + list(rest)
    if args.reference_env == "tuned":
        cmd += SEQ2SEQ_BENCH.tuned_reference_flags
    return cmd


def check_reference_python():
    """Fail before any long run if the reference's interpreter lacks a module."""
    if not os.access(REFERENCE_PYTHON, os.X_OK):
        raise ChildFailed("%s (the Python with torch) not found" % REFERENCE_PYTHON)
    proc = subprocess.run([REFERENCE_PYTHON, "-c", "import numpy, torch, sentencepiece"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        said = proc.stdout.decode("utf-8", "replace").strip().splitlines()
        raise ChildFailed("%s cannot run the reference (%s); install Debian's python3-torch, "
                          "python3-numpy and python3-sentencepiece (scripts/install-deps.sh)"
                          % (REFERENCE_PYTHON, said[-1] if said else "exit status %d"
                             % proc.returncode))


def read_json(path, who):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ChildFailed("%s wrote no readable JSON to %s: %s" % (who, path, e))


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("\nwrote %s" % path)


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------

def train_loom(args, run_dir):
    cmd = [args.loom, "--threads", str(args.threads), "run", args.pipeline, "--out", run_dir] \
        + lm_bench.loom_set_args(args)
    rss = lm_bench.run_child("loom", cmd, loom_env(args), REPO_ROOT)
    metrics = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(metrics):
        raise ChildFailed("loom exited successfully but wrote no %s" % metrics)
    train, valid = lm_bench.read_loom_metrics(metrics)
    return {"tokens_per_s": float(train["tokens_per_s"]), "valid_ppl": float(valid["ppl"]),
            "train_loss": train.get("loss"), "peak_rss_mb": rss,
            "train_seconds": train.get("seconds"), "train_tokens": train.get("tokens"),
            # loom's validation loss is label-smoothed; its ppl is of the plain NLL.
            "valid_loss_smoothed": valid.get("loss"), "valid_tokens": valid.get("tokens")}


def train_reference(args, run_dir):
    fd, out_json = tempfile.mkstemp(prefix="seq2seq_bench_ref_", suffix=".json")
    os.close(fd)
    try:
        cmd = reference_cmd(args, "train", "--run", run_dir,
                            "--data", os.path.join(args.data, "multi30k"),
                            "--batches", str(args.batches), "--json", out_json)
        rss = lm_bench.run_child("pytorch", cmd, lm_bench.reference_env(args), REPO_ROOT)
        res = read_json(out_json, "the reference")
    finally:
        os.unlink(out_json)
    out = {k: res.get(k) for k in ("tokens_per_s", "valid_ppl", "train_loss", "train_seconds",
                                   "train_tokens", "valid_nll", "valid_tokens", "train_batches",
                                   "batches_per_epoch", "first_batch_seconds", "torch",
                                   "openblas_core")}
    out["peak_rss_mb"] = rss
    return out


def print_train_table(results, ratios):
    names = list(results)
    rows = [("tokens/s", "tokens_per_s", "%.1f"), ("train loss", "train_loss", "%.4f"),
            ("valid ppl", "valid_ppl", "%.2f"), ("peak RSS MiB", "peak_rss_mb", "%.1f")]
    print()
    print("%-14s" % "" + "".join("%14s" % n for n in names))
    for label, key, fmt in rows:
        print("%-14s" % label + "".join(
            "%14s" % (fmt % results[n][key] if results[n].get(key) is not None else "-")
            for n in names))
    if ratios:
        print()
        print("loom/PyTorch tokens/s      %.3fx" % ratios["tokens_per_s"])
        print("loom/PyTorch peak RSS      %.3fx" % ratios["peak_rss"])
        print("valid ppl, loom vs PyTorch %+.2f%%" % ratios["valid_ppl_diff_pct"])


def cmd_train(args):
    run_loom = not args.reference_only
    run_ref = not args.skip_reference
    if args.reference_only and not args.run:
        raise ChildFailed("--reference-only needs --run DIR, a loom run folder of this pipeline "
                          "whose spm.model and vocab.txt give the token ids")
    if run_ref:
        check_reference_python()
    results = collections.OrderedDict()
    if run_loom:
        lm_bench.check_loom(args)
        if args.keep_run and os.path.exists(args.keep_run):
            raise ChildFailed("--keep-run %s exists; give a new folder" % args.keep_run)
        run_dir = args.keep_run or tempfile.mkdtemp(prefix="seq2seq_bench_loom_")
        try:
            # One after the other: both use every core. The loom run folder stays until the
            # reference has read its spm.model and vocab.txt.
            results["loom"] = train_loom(args, run_dir)
            if run_ref:
                results["PyTorch"] = train_reference(args, run_dir)
        finally:
            if not args.keep_run:
                shutil.rmtree(run_dir, ignore_errors=True)
        if args.keep_run:
            print("\nloom run folder kept: %s" % args.keep_run)
    else:
        results["PyTorch"] = train_reference(args, args.run)

    ratios = None
    if len(results) == 2:
        lo, ref = results["loom"], results["PyTorch"]
        ratios = {"tokens_per_s": lo["tokens_per_s"] / ref["tokens_per_s"],
                  "peak_rss": lo["peak_rss_mb"] / ref["peak_rss_mb"],
                  "valid_ppl_diff_pct":
                      100.0 * (lo["valid_ppl"] - ref["valid_ppl"]) / ref["valid_ppl"]}
    print_train_table(results, ratios)
    ref = results.get("PyTorch", {})
    if ref.get("batches_per_epoch") and args.batches > ref["batches_per_epoch"]:
        print("\nnote: an epoch has %d batches; both sides trained that many, not %d"
              % (ref["batches_per_epoch"], args.batches))
    if args.json:
        write_json(args.json, {
            "command": "train",
            "config": {"batches": args.batches, "threads": args.threads, "data": args.data,
                       "pipeline": args.pipeline, "loom": args.loom if run_loom else None,
                       "reference_env": args.reference_env if run_ref else None,
                       "openblas_coretype": args.openblas_coretype},
            "results": results,
            "ratios_loom_over_pytorch": ratios})
    return 0


# ---------------------------------------------------------------------------
# translate
# ---------------------------------------------------------------------------

def run_translate_child(name, cmd, env, out_path):
    """Run `loom translate`, its stdout (the translations) into out_path; returns the numbers
    of its stderr summary and its peak RSS in MiB (from wait4, as lm_bench.run_child)."""
    print("[%s] $ %s > %s" % (name, " ".join(cmd), out_path), flush=True)
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.PIPE)
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = lm_bench._exit_code(status)
    for line in err.splitlines():
        print("[%s:err] %s" % (name, line), flush=True)
    if proc.returncode != 0:
        raise ChildFailed("%s failed with exit status %d:\n%s"
                          % (name, proc.returncode, "\n".join(err.splitlines()[-20:])))
    m = TRANSLATE_SUMMARY.search(err)
    if m is None:
        raise ChildFailed("%s: no 'loom translate: N sentences, T output tokens, R tokens/s' "
                          "line on stderr" % name)
    sentences, tokens, rate = int(m.group(1)), int(m.group(2)), float(m.group(3))
    return {"sentences": sentences, "tokens": tokens,
            "seconds": tokens / rate if rate > 0 else 0.0,
            "peak_rss_mb": rusage.ru_maxrss / 1024.0}


def translate_loom(args, beam, inputs, work):
    base = [args.loom, "--threads", str(args.threads), "translate", "--run", args.run,
            "--beam", str(beam), "--batch-size", str(args.batch_size)]
    one = run_translate_child("loom b%d 1 sentence" % beam, base + ["--file", inputs["one"]],
                              loom_env(args), os.path.join(work, "loom.one.beam%d.txt" % beam))
    full = run_translate_child("loom b%d" % beam, base + ["--file", inputs["all"]],
                               loom_env(args), os.path.join(work, "loom.beam%d.txt" % beam))
    seconds = full["seconds"] - one["seconds"]
    tokens = full["tokens"] - one["tokens"]
    if seconds <= 0:
        raise ChildFailed("loom translate took no longer for %d sentences than for one "
                          "(%.3f s against %.3f s); translate more sentences"
                          % (full["sentences"], full["seconds"], one["seconds"]))
    return {"tokens_per_s": tokens / seconds, "seconds": seconds, "tokens": full["tokens"],
            "sentences": full["sentences"], "seconds_with_loading": full["seconds"],
            "one_sentence_seconds": one["seconds"], "peak_rss_mb": full["peak_rss_mb"],
            "output": os.path.join(work, "loom.beam%d.txt" % beam)}


def translate_reference(args, inputs, weights, work):
    out_json = os.path.join(work, "pytorch.json")
    ref_dir = os.path.join(work, "pytorch")
    cmd = reference_cmd(args, "translate", "--run", args.run, "--weights", weights,
                        "--input", inputs["all"], "--batch-size", str(args.batch_size),
                        "--order", args.reference_order, "--inter-threads",
                        str(args.reference_inter_threads), "--out-dir", ref_dir,
                        "--json", out_json, "--beams", *[str(b) for b in args.beams])
    rss = lm_bench.run_child("pytorch", cmd, lm_bench.reference_env(args), REPO_ROOT)
    res = read_json(out_json, "the reference")
    out = {}
    for beam in args.beams:
        r = res["beams"][str(beam)]
        out[beam] = {"tokens_per_s": r["tokens_per_s"], "seconds": r["seconds"],
                     "tokens": r["tokens"], "sentences": r["sentences"], "peak_rss_mb": rss,
                     "output": r["output"]}
    return out, res


def reference_valid_ppl(args, weights, work):
    """Validation perplexity of the exported parameters in PyTorch, in a run of its own so
    that the translation's peak RSS does not include it; None without the split's files."""
    valid = os.path.join(args.data, "multi30k", "val")
    if not os.path.isfile(valid + ".de"):
        return None
    out_json = os.path.join(work, "pytorch.valid.json")
    cmd = reference_cmd(args, "translate", "--run", args.run, "--weights", weights,
                        "--input", os.path.join(work, "one.txt"), "--valid", valid,
                        "--json", out_json, "--beams")
    lm_bench.run_child("pytorch valid", cmd, lm_bench.reference_env(args), REPO_ROOT)
    return read_json(out_json, "the reference")["valid"]["ppl"]


def loom_best_ppl(run_dir):
    """The validation perplexity of the run's selected checkpoint, from summary.json."""
    try:
        with open(os.path.join(run_dir, "summary.json")) as f:
            value = json.load(f).get("train", {}).get("best_ppl")
        return float(value) if value is not None else None
    except (OSError, ValueError, AttributeError):
        return None


def read_translations(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def agreement(a_path, b_path):
    a, b = read_translations(a_path), read_translations(b_path)
    if len(a) != len(b):
        raise ChildFailed("%s has %d lines but %s has %d" % (a_path, len(a), b_path, len(b)))
    same = sum(x == y for x, y in zip(a, b))
    first = next(([i + 1, x, y] for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    return {"identical": same, "sentences": len(a), "share": same / max(len(a), 1),
            "first_difference": first}


def print_translate_table(results):
    print()
    print("%-6s%14s%15s%10s%20s%12s%13s" % ("beam", "loom tok/s", "PyTorch tok/s", "ratio",
                                            "identical", "loom RSS", "PyTorch RSS"))
    for beam, r in results.items():
        lo, ref, ag = r.get("loom"), r.get("PyTorch"), r.get("agreement")
        print("%-6d%14s%15s%10s%20s%12s%13s" % (
            beam, "%.1f" % lo["tokens_per_s"] if lo else "-",
            "%.1f" % ref["tokens_per_s"] if ref else "-",
            "%.3fx" % r["ratio_tokens_per_s"] if r.get("ratio_tokens_per_s") else "-",
            "%d/%d (%.1f%%)" % (ag["identical"], ag["sentences"], 100 * ag["share"])
            if ag else "-",
            "%.0f MiB" % lo["peak_rss_mb"] if lo else "-",
            "%.0f MiB" % ref["peak_rss_mb"] if ref else "-"))
    for beam, r in results.items():
        first = (r.get("agreement") or {}).get("first_difference")
        if first:
            print("\nbeam %d, first difference (line %d):\n  loom:    %s\n  PyTorch: %s"
                  % (beam, first[0], first[1], first[2]))


def cmd_translate(args):
    if not os.path.isfile(os.path.join(args.run, "config.yaml")):
        raise ChildFailed("%s is not a loom run folder (no config.yaml)" % args.run)
    if not os.path.isfile(args.input):
        raise ChildFailed("no such input file: %s" % args.input)
    run_ref = not args.skip_reference
    if run_ref:
        check_reference_python()
    if not os.access(args.loom, os.X_OK):
        raise ChildFailed("loom executable not found: %s (build it, or pass --loom)" % args.loom)
    work = args.out_dir or tempfile.mkdtemp(prefix="seq2seq_bench_translate_")
    os.makedirs(work, exist_ok=True)
    try:
        with open(args.input, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if args.sentences:
            lines = lines[:args.sentences]
        if len(lines) < 2:
            raise ChildFailed("%s: need at least 2 sentences to time" % args.input)
        inputs = {"all": os.path.join(work, "input.txt"), "one": os.path.join(work, "one.txt")}
        with open(inputs["all"], "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in lines))
        with open(inputs["one"], "w", encoding="utf-8") as f:
            f.write(lines[0] + "\n")

        weights = os.path.join(work, "model.safetensors")
        lm_bench.run_child("loom export", [args.loom, "--threads", str(args.threads), "export",
                                           "--run", args.run, "--out", weights],
                           loom_env(args), REPO_ROOT)
        results = collections.OrderedDict((b, {}) for b in args.beams)
        for beam in args.beams:
            results[beam]["loom"] = translate_loom(args, beam, inputs, work)
        ref_doc = None
        if run_ref:
            ref, ref_doc = translate_reference(args, inputs, weights, work)
            for beam in args.beams:
                r = results[beam]
                r["PyTorch"] = ref[beam]
                r["ratio_tokens_per_s"] = r["loom"]["tokens_per_s"] / ref[beam]["tokens_per_s"]
                r["agreement"] = agreement(r["loom"]["output"], ref[beam]["output"])
        valid_check = None
        ppl = reference_valid_ppl(args, weights, work) if run_ref else None
        if ppl is not None:
            valid_check = {"pytorch_ppl": ppl, "loom_best_ppl": loom_best_ppl(args.run)}
        print_translate_table(results)
        if valid_check:
            print("\nvalidation perplexity with loom's exported parameters: PyTorch %.4f, loom %s "
                  "(summary.json's best ppl; equal when the export is the best checkpoint)"
                  % (valid_check["pytorch_ppl"], "%.4f" % valid_check["loom_best_ppl"]
                     if valid_check["loom_best_ppl"] is not None else "not recorded"))
        if not args.out_dir:
            print("\n(translations were written to a temporary folder; --out-dir keeps them)")
        if not args.out_dir:  # the files go with the temporary folder
            for r in results.values():
                for side in ("loom", "PyTorch"):
                    r.get(side, {}).pop("output", None)
        if args.json:
            write_json(args.json, {
                "command": "translate",
                "config": {"run": args.run, "input": args.input, "sentences": len(lines),
                           "threads": args.threads, "batch_size": args.batch_size,
                           "beams": args.beams, "loom": args.loom,
                           "reference_env": args.reference_env if run_ref else None,
                           "reference_order": args.reference_order,
                           "reference_inter_threads": args.reference_inter_threads,
                           "openblas_coretype": args.openblas_coretype,
                           "torch": ref_doc.get("torch") if ref_doc else None,
                           "openblas_core": ref_doc.get("openblas_core") if ref_doc else None},
                "results": {str(b): r for b, r in results.items()},
                "valid_check": valid_check})
    finally:
        if not args.out_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=SEQ2SEQ_BENCH.description)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--loom", default=os.path.join(REPO_ROOT, "build", "core", "loom"),
                        help="loom executable (default: build/core/loom)")
    common.add_argument("--data", default=os.path.join(REPO_ROOT, "..", "shared", "data"),
                        help="data root holding multi30k/ (default: ../shared/data)")
    common.add_argument("--threads", type=int, default=2)
    common.add_argument("--skip-reference", action="store_true", help="run loom only")
    common.add_argument("--reference-env", choices=["tuned", "default"], default="tuned",
                        help=SEQ2SEQ_BENCH.reference_env_help)
    common.add_argument("--openblas-coretype", default=lm_bench.best_coretype(), metavar="NAME",
                        help="OPENBLAS_CORETYPE for every child (default: the best core type "
                             "this CPU supports, %(default)s)")
    common.add_argument("--json", default=None, help="also write the results here")

    t = sub.add_parser("train", parents=[common],
                       help="train N batches with each side, then compare tokens/s, "
                            "valid ppl and peak RSS")
    t.add_argument("--batches", type=int, default=300,
                   help="training batches for each side (default 300; an epoch has 454)")
    t.add_argument("--pipeline", default=PIPELINE,
                   help="loom pipeline (default: %s)" % os.path.relpath(PIPELINE, REPO_ROOT))
    t.add_argument("--reference-only", action="store_true",
                   help="run the PyTorch side only, on the token ids of --run")
    t.add_argument("--run", default=None,
                   help="with --reference-only: the loom run folder whose spm.model and "
                        "vocab.txt the reference uses")
    t.add_argument("--keep-run", default=None, metavar="DIR",
                   help="loom's run folder goes here and stays (for `translate`); it must "
                        "not exist")

    d = sub.add_parser("translate", parents=[common],
                       help="translate with an exported run on both sides, compare tokens/s "
                            "and outputs")
    d.add_argument("--run", required=True, help="a trained loom run folder of this model")
    d.add_argument("--input", default=None,
                   help="source sentences (default: DATA/multi30k/test2016.de)")
    d.add_argument("--sentences", type=int, default=0, help="only the first N lines (0: all)")
    d.add_argument("--beams", type=int, nargs="+", default=[1, 5],
                   help="beam sizes (default: 1 5; 1 is greedy)")
    d.add_argument("--batch-size", type=int, default=32, help="sentences searched together")
    d.add_argument("--reference-order", choices=["input", "length"], default="length",
                   help="how the reference batches sentences: sorted by source length in "
                        "windows of 16 batches, as loom translate does (the fair comparison), "
                        "or in input order (default: length)")
    d.add_argument("--reference-inter-threads", type=int, default=1, metavar="N",
                   help="batches the reference searches at the same time, each on threads / N "
                        "intra-op threads (loom translate searches one batch per thread; "
                        "default: 1, one batch at a time on all threads, PyTorch's usual way)")
    d.add_argument("--out-dir", default=None,
                   help="keep the exported parameters and both sides' translations here")
    args = p.parse_args(argv)

    args.loom = os.path.abspath(args.loom)
    args.data = os.path.abspath(args.data)
    args.bench = SEQ2SEQ_BENCH
    args.blas_env = ({"OPENBLAS_CORETYPE": args.openblas_coretype}
                     if args.openblas_coretype else {})
    if args.command == "train":
        args.pipeline = os.path.abspath(args.pipeline)
        if args.run:
            args.run = os.path.abspath(args.run)
        if args.keep_run:
            args.keep_run = os.path.abspath(args.keep_run)
        if args.batches < 1:
            p.error("--batches must be at least 1")
    else:
        args.run = os.path.abspath(args.run)
        args.input = os.path.abspath(args.input or os.path.join(args.data, "multi30k",
                                                                "test2016.de"))
        if args.out_dir:
            args.out_dir = os.path.abspath(args.out_dir)
        if any(b < 1 for b in args.beams):
            p.error("--beams must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        return cmd_train(args) if args.command == "train" else cmd_translate(args)
    except ChildFailed as e:
        sys.exit("error: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
