"""What the Python end-to-end tests share: running the loom command, recording failures,
and reading a run folder's results without its timings."""
import importlib
import json
import os
import subprocess
import sys

failures = []
_REEXEC_MARK = "LOOM_TEST_SYSTEM_PYTHON"


def ensure_modules(modules, package):
    """Makes sure the running script can import `modules`: when the current interpreter lacks
    one, the script runs itself again under Debian's /usr/bin/python3 (where `package`
    installs them); when that has none either, it fails saying what to install."""
    try:
        for m in modules:
            importlib.import_module(m)
        return
    except ImportError as e:
        missing = str(e)
    system_python = "/usr/bin/python3"
    if os.environ.get(_REEXEC_MARK) != "1" and os.path.exists(system_python):
        os.environ[_REEXEC_MARK] = "1"
        sys.stdout.flush()
        os.execv(system_python, [system_python, os.path.abspath(sys.argv[0]), *sys.argv[1:]])
    print(f"FAIL: {os.path.basename(sys.argv[0])} needs {', '.join(modules)} ({missing}) under {sys.executable}; "
          f"install them with `apt-get install {package}` (the README's set-up does), which provides them for "
          "/usr/bin/python3")
    sys.exit(1)


def lm_pipeline(path, name, text_dir, model, train, stages="", seed=3, batch_size=16, bptt=12,
                vocab='{ plugin: frequency, unk: "<unk>" }', optimizer="{ plugin: adamw, lr: 0.003 }"):
    """Writes a language-model pipeline over a generated corpus (text_dir/{train,valid,test}.txt,
    read by lm_stream) to `path`: build_vocab, a train stage with the options `train` (YAML
    mapping body), then `stages` (more stage lines). Returns the path."""
    with open(path, "w") as f:
        f.write(f"""name: {name}
seed: {seed}
components:
  tokenizer: {{ plugin: word, eos: "<eos>" }}
  vocab:     {vocab}
  data:      {{ plugin: lm_stream, train: {text_dir}/train.txt, valid: {text_dir}/valid.txt, test: {text_dir}/test.txt,
               batch_size: {batch_size}, eval_batch_size: 4, bptt: {bptt} }}
  model:     {model}
  optimizer: {optimizer}
  ppl:       {{ plugin: perplexity }}
stages:
  - build_vocab: {{ split: train }}
  - train: {{ {train} }}
{stages}""")
    return path


def check(cond, what):
    """Records a failure (and goes on) when `cond` is false."""
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def loom(loom_path, *args, expect=0, stdin=None, threads=2):
    """Runs `loom --threads THREADS ARGS` and checks its exit code."""
    r = subprocess.run([loom_path, "--threads", str(threads), *args], capture_output=True, text=True, input=stdin)
    if not check(r.returncode == expect, f"loom {' '.join(args[:3])} ... exited {r.returncode}, expected {expect}"):
        print(r.stdout[-3000:], r.stderr[-3000:])
    return r


def errors(r):
    """The stderr lines of a loom run other than the OpenBLAS note."""
    return [l for l in r.stderr.splitlines() if l and not l.startswith("loom: OpenBLAS")]


def results(run_dir):
    """metrics.jsonl lines and summary.json of a run folder, without the timings."""
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    for l in lines:
        l.pop("seconds"), l.pop("tokens_per_s")
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    summary["train"].pop("seconds")
    summary["train"].pop("data_parallel", None)  # the all-reduce's timings
    return lines, summary


def finish(name):
    """Exits 1 when anything failed."""
    if failures:
        print(f"{len(failures)} failure(s)")
        raise SystemExit(1)
    print(f"{name}: all passed")
