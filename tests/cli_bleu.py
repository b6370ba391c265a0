#!/usr/bin/env python3
"""`loom bleu` against independent implementations.

nltk (the default): the textbook BLEU, `loom bleu --json`, against NLTK's corpus_bleu without
smoothing on generated corpora: one to four references, reference lengths tied around the
hypothesis length, zero matches, empty lines, hypotheses shorter than four tokens, Unicode
white space. Score and brevity penalty to 1e-9, the four precisions against NLTK's
modified_precision sums, the lengths exactly. Also the command's errors (a reference with
another number of lines, bad flags) and --sacrebleu's options overridden by flags.

wmt17 DATA_DIR: the sacreBLEU mode on the 16 WMT17 English-German systems of
DATA_DIR/wmt17-en-de against sacreBLEU's algorithm written out below with Python's re (13a
tokenizer, exp smoothing, raw n-gram counts), to 1e-9 for every system, and against
sacreBLEU's published scores (online-A 20.7965 with hyp_len 62880 and ref_len 61287; online-B
26.7, online-F 15.5, online-G 18.2, LIUM-NMT 26.6 at one decimal). Exits 77 (ctest: skipped,
with the reason) when the data is not there.

usage: cli_bleu.py LOOM SOURCE_DIR [nltk | wmt17 DATA_DIR]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loomtest  # noqa: E402

MODE = sys.argv[3] if len(sys.argv) > 3 else "nltk"
if MODE == "nltk":
    loomtest.ensure_modules(["nltk"], "python3-nltk")

import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402

from loomtest import check, finish  # noqa: E402

LOOM = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="loom-bleu-")


def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


def write(name, lines):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def loom_bleu(hyps, refs, *flags):
    """loom bleu --json over lists of lines; refs is a list of reference streams."""
    args = ["bleu", "--json", "--hyp", write("hyp.txt", hyps)]
    for i, r in enumerate(refs):
        args += ["--ref", write(f"ref{i}.txt", r)]
    r = loom(*args, *flags)
    return json.loads(r.stdout) if r.returncode == 0 else None


# ---- the textbook BLEU against NLTK ----------------------------------------------------------
def corpus(rng, case):
    """Hypotheses and 1-4 reference streams over a small vocabulary (so n-grams match)."""
    words = [f"w{i}" for i in range(rng.randint(2, 9))]
    n_refs = rng.randint(1, 4)
    n = rng.randint(1, 25)
    hyps, refs = [], [[] for _ in range(n_refs)]
    for _ in range(n):
        length = rng.choice([0, 1, 2, 3] + list(range(4, 16))) if case != "long" else rng.randint(4, 30)
        hyp = [rng.choice(words) for _ in range(length)]
        for r in range(n_refs):
            if case == "ties" and r < 2:
                # Two references one token shorter and one longer: the tie goes to the shorter.
                ref_len = max(0, length - 1) if r == 0 else length + 1
            else:
                ref_len = max(0, length + rng.randint(-3, 3))
            ref = [rng.choice(words) for _ in range(ref_len)]
            if case == "disjoint":
                ref = ["z" + w for w in ref]
            refs[r].append(ref)
        hyps.append(hyp)
    if case == "empty":
        hyps = [[] for _ in hyps]
    if case == "identical":
        refs = [list(hyps)] + refs[1:]
    sep = "\u00a0" if case == "nbsp" else " "  # Python's split and loom's both split at NBSP
    return [sep.join(h) for h in hyps], [[" ".join(x) for x in r] for r in refs], hyps, refs


def nltk_reference(hyps_tok, refs_tok):
    from nltk.translate.bleu_score import brevity_penalty, closest_ref_length, corpus_bleu, modified_precision
    list_of_refs = [[r[i] for r in refs_tok] for i in range(len(hyps_tok))]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns about zero counts; they are part of the test
        score = corpus_bleu(list_of_refs, hyps_tok)
    nums, dens = [0] * 4, [0] * 4
    for refs, hyp in zip(list_of_refs, hyps_tok):
        for n in range(1, 5):
            p = modified_precision(refs, hyp, n)
            nums[n - 1] += p.numerator
            dens[n - 1] += p.denominator
    hyp_len = sum(len(h) for h in hyps_tok)
    ref_len = sum(closest_ref_length(refs, len(h)) for refs, h in zip(list_of_refs, hyps_tok))
    return score, brevity_penalty(ref_len, hyp_len), [a / b for a, b in zip(nums, dens)], hyp_len, ref_len


def check_nltk():
    rng = random.Random(20261201)
    cases = ["plain"] * 24 + ["ties"] * 6 + ["disjoint"] * 2 + ["empty"] * 2 + ["identical"] * 2 + ["long"] * 4 + ["nbsp"] * 2
    compared = 0
    for k, case in enumerate(cases):
        hyps, refs, hyps_tok, refs_tok = corpus(rng, case)
        ours = loom_bleu(hyps, refs)
        if ours is None:
            continue
        score, bp, precisions, hyp_len, ref_len = nltk_reference(hyps_tok, refs_tok)
        what = f"corpus {k} ({case}, {len(hyps)} lines, {len(refs)} refs)"
        check(abs(ours["score"] / 100 - score) <= 1e-9, f"{what}: loom {ours['score'] / 100!r} vs NLTK {score!r}")
        check(abs(ours["bp"] - bp) <= 1e-9, f"{what}: bp loom {ours['bp']} vs NLTK {bp}")
        check([ours["sys_len"], ours["ref_len"]] == [hyp_len, ref_len],
              f"{what}: lengths loom {ours['sys_len']}/{ours['ref_len']} vs NLTK {hyp_len}/{ref_len}")
        for n in range(4):
            check(abs(ours["precisions"][n] / 100 - precisions[n]) <= 1e-12,
                  f"{what}: p{n + 1} loom {ours['precisions'][n] / 100} vs NLTK {precisions[n]}")
        compared += 1
    check(compared == len(cases), f"compared {compared} of {len(cases)} corpora")
    # The cases that pin the definition down, beyond agreement.
    identical = loom_bleu(["a b c d e", "f g h i"], [["a b c d e", "f g h i"]])
    check(identical and abs(identical["score"] - 100) < 1e-12, f"a perfect match is 100: {identical}")
    disjoint = loom_bleu(["a b c d"], [["e f g h"]])
    check(disjoint and disjoint["score"] == 0 and disjoint["precisions"] == [0, 0, 0, 0], f"no match is 0: {disjoint}")
    short = loom_bleu(["a b c"], [["a b c d e f"]])
    check(short and short["score"] == 0 and short["precisions"][3] == 0 and short["bp"] > 0,
          f"a three-token hypothesis has p4 = 0/max(1, 0) = 0: {short}")


def check_command():
    hyp = write("h.txt", ["the cat sat on the mat"])
    ref = write("r.txt", ["the cat is on the mat"])
    two = write("two.txt", ["one", "two"])
    r = loom("bleu", "--ref", two, "--hyp", hyp, expect=2)
    check(f"loom bleu: {two} has 2 lines but {hyp} has 1" in r.stderr, "line-count mismatch names both files:\n" + r.stderr)
    r = loom("bleu", "--ref", ref, "--hyp", hyp, "--tokenize", "14a", expect=2)
    check("--tokenize must be none or 13a, got '14a'" in r.stderr, "bad --tokenize:\n" + r.stderr)
    r = loom("bleu", "--hyp", hyp, expect=2)
    check("missing --ref" in r.stderr, "no reference:\n" + r.stderr)
    r = loom("bleu", "--ref", os.path.join(TMP, "nope.txt"), "--hyp", hyp, expect=2)
    check("nope.txt: cannot open" in r.stderr, "missing reference file:\n" + r.stderr)
    # Worked by hand: p = 5/6, 3/5, 1/4, 0/3; with exp smoothing p4 = 1 / (2 * 3).
    r = loom("bleu", "--ref", ref, "--json", stdin="the cat sat on the mat\n")
    j = json.loads(r.stdout)
    check(j["score"] == 0 and abs(j["precisions"][0] - 500 / 6) < 1e-9 and abs(j["precisions"][1] - 60) < 1e-9,
          f"textbook: 0 with p4 = 0: {j}")
    r = loom("bleu", "--ref", ref, "--json", "--smooth", "exp", stdin="the cat sat on the mat\n")
    j = json.loads(r.stdout)
    expected = 100 * (5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25
    check(abs(j["score"] - expected) < 1e-9, f"exp smoothing: {j['score']} vs {expected}")
    # --sacrebleu then --tokenize none: the flag wins (white-space split keeps "mat." whole).
    r1 = json.loads(loom("bleu", "--ref", ref, "--json", "--sacrebleu", stdin="the cat is on the mat.\n").stdout)
    r2 = json.loads(loom("bleu", "--ref", ref, "--json", "--sacrebleu", "--tokenize", "none", stdin="the cat is on the mat.\n").stdout)
    check(r1["sys_len"] == 7 and r2["sys_len"] == 6 and "tok:none" in r2["signature"] and "smooth:exp" in r2["signature"],
          f"--sacrebleu with an override: {r1['signature']} {r1['sys_len']} / {r2['signature']} {r2['sys_len']}")
    r = loom("bleu", "--ref", ref, "--lowercase", "--json", stdin="THE CAT IS ON THE MAT\n")
    check(abs(json.loads(r.stdout)["score"] - 100) < 1e-9, "--lowercase compares lower-cased text")
    r = loom("bleu", "--ref", ref, stdin="the cat is on the mat\n")
    check(r.stdout.startswith("BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)"),
          "the text line:\n" + r.stdout)


# ---- sacreBLEU on WMT17 -----------------------------------------------------------------------
# sacreBLEU's Tokenizer13a and compute_bleu, restated (github.com/mjpost/sacrebleu,
# sacrebleu/tokenizers/tokenizer_13a.py, tokenizer_re.py, metrics/bleu.py).
RULES = [(re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),
         (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),
         (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),
         (re.compile(r'([0-9])(-)'), r'\1 \2 ')]


def tok13a(line):
    line = line.replace('<skipped>', '').replace('-\n', '').replace('\n', ' ')
    if '&' in line:
        line = line.replace('&quot;', '"').replace('&amp;', '&').replace('&lt;', '<').replace('&gt;', '>')
    line = f' {line} '
    for pattern, repl in RULES:
        line = pattern.sub(repl, line)
    return ' '.join(line.split())


def sacrebleu_score(hyps, ref):
    correct, total = [0] * 4, [0] * 4
    sys_len = ref_len = 0
    for h, r in zip(hyps, ref):
        ht, rt = tok13a(h).split(), tok13a(r).split()
        sys_len += len(ht)
        ref_len += len(rt)
        for n in range(1, 5):
            hc = Counter(tuple(ht[i:i + n]) for i in range(len(ht) - n + 1))
            rc = Counter(tuple(rt[i:i + n]) for i in range(len(rt) - n + 1))
            correct[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[n - 1] += max(0, len(ht) - n + 1)
    precisions, smooth = [0.0] * 4, 1.0
    for n in range(4):
        if total[n] == 0:
            break
        if correct[n] == 0:
            smooth *= 2
            precisions[n] = 100.0 / (smooth * total[n])
        else:
            precisions[n] = 100.0 * correct[n] / total[n]
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    logs = [math.log(p) if p > 0 else -9999999999 for p in precisions]
    return bp * math.exp(sum(logs) / 4), sys_len, ref_len


def check_wmt17(data_dir):
    folder = os.path.join(data_dir, "wmt17-en-de")
    ref = os.path.join(folder, "newstest2017-ende-ref.de")
    if not os.path.exists(ref):
        print(f"SKIP: no {ref} (the WMT17 system outputs; see ../shared/data/SOURCES.md)")
        raise SystemExit(77)
    systems = sorted(f for f in os.listdir(folder) if f.startswith("newstest2017.") and f.endswith(".en-de.de"))
    check(len(systems) == 16, f"16 WMT17 systems, found {len(systems)}")
    ref_lines = open(ref, encoding="utf-8").read().split("\n")[:-1]
    scores = {}
    for name in systems:
        path = os.path.join(folder, name)
        r = loom("bleu", "--sacrebleu", "--json", "--ref", ref, "--hyp", path)
        if r.returncode != 0:
            continue
        ours = json.loads(r.stdout)
        hyps = open(path, encoding="utf-8").read().split("\n")[:-1]
        expected, sys_len, ref_len = sacrebleu_score(hyps, ref_lines)
        check(abs(ours["score"] - expected) <= 1e-9, f"{name}: loom {ours['score']!r} vs sacreBLEU's algorithm {expected!r}")
        check([ours["sys_len"], ours["ref_len"]] == [sys_len, ref_len], f"{name}: lengths {ours['sys_len']}/{ours['ref_len']} vs {sys_len}/{ref_len}")
        scores[name.split(".")[1] + "." + name.split(".")[2]] = ours
    published_4 = {"online-A.0": (20.7965, 62880, 61287)}
    for name, (score, sys_len, ref_len) in published_4.items():
        s = scores.get(name)
        check(s is not None and abs(s["score"] - score) < 0.01 and s["sys_len"] == sys_len and s["ref_len"] == ref_len,
              f"{name}: published {score} hyp_len {sys_len} ref_len {ref_len}, loom {s and (s['score'], s['sys_len'], s['ref_len'])}")
    published_1 = {"online-B.0": 26.7, "online-F.0": 15.5, "online-G.0": 18.2, "LIUM-NMT.4900": 26.6}
    for name, score in published_1.items():
        s = scores.get(name)
        check(s is not None and f"{s['score']:.1f}" == f"{score:.1f}", f"{name}: published {score}, loom {s and s['score']}")


try:
    if MODE == "nltk":
        check_nltk()
        check_command()
    elif MODE == "wmt17":
        check_wmt17(sys.argv[4])
    else:
        check(False, f"unknown mode {MODE}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("bleu " + MODE)
