"""Hostile input to the loom command, as a table: every row is one case with the command it
runs, the exit code it must end with and the fragments its one line on stderr must contain.

What a row promises: the exit code (2 for what the user gave or what does not fit the machine,
1 for a failure of the system or of loom itself), never a signal, never "internal error" for
bad input, one line of error (unless the row says the message lists several problems), and,
where the row has a `then` check, what the run folder looks like afterwards (unchanged after
a refused resume, no temporaries left, the manifest telling how the run ended).

The cases: errors raised inside a plugin (every error type, from its factory, in training and
in evaluation, as a plugin built with hidden visibility raises them), hostile YAML (billion
laughs, recursive aliases, a second document, variable cycles), run folders (locked while in
use, never silently replaced, a refused resume writes nothing, temporaries of dead processes
removed, a full disk), runs that need only their folder, sizes beyond the machine, a loss that
becomes infinite, and the smaller holes of the plugin loader and the data readers.

usage: cli_hostile.py LOOM SOURCE_DIR FIXTURE_DIR
"""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, errors, finish  # noqa: E402

LOOM, SRC, FIXTURES = (os.path.abspath(a) for a in sys.argv[1:4])
TMP = tempfile.mkdtemp(prefix="loom-hostile-")


def write(name, text, mode="w"):
    path = os.path.join(TMP, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)
    return path


def run(*args, cwd=None, preexec=None, stdin=None, timeout=300):
    return subprocess.run([LOOM, "--threads", "1", *args], capture_output=True, text=True, cwd=cwd,
                          preexec_fn=preexec, input=stdin, timeout=timeout, errors="replace")


def snapshot(folder):
    """Every file below `folder` with the SHA-256 of its bytes."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def leftovers(folder):
    return [os.path.join(r, n) for r, _, fs in os.walk(folder) for n in fs if ".tmp." in n]


def dead_pid():
    """A process id that no process has now."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
            pid += 1
        except ProcessLookupError:
            return pid
        except PermissionError:
            pid += 1


# ---- data and pipelines -------------------------------------------------------------------
MARKOV = os.path.join(TMP, "markov")
LM = """name: hostile-lm
seed: 7
components:
  tokenizer: {{ plugin: word, eos: "<eos>" }}
  vocab:     {{ plugin: frequency, unk: "<unk>" }}
  data:      {{ plugin: markov, dir: {markov}, vocab_size: 40, train_tokens: 3000, valid_tokens: 400,
               test_tokens: 400, batch_size: 4, eval_batch_size: 4, bptt: 8 }}
  model:     {{ plugin: {model}, {model_params} }}
  optimizer: {{ plugin: sgd, lr: {lr} }}
  ppl:       {{ plugin: perplexity }}
stages:
  - build_vocab: {{}}
  - train: {{ epochs: {epochs}, validate_on: valid{train_extra} }}
  - evaluate: {{ split: test }}
"""


def lm(name, model="rnn_lm", model_params="nhid: 8, emsize: 8", lr=1, epochs=1, train_extra=""):
    return write(f"{name}.yaml", LM.format(markov=MARKOV, model=model, model_params=model_params, lr=lr,
                                           epochs=epochs, train_extra=train_extra))


def throwing(error, when):
    return lm(f"throw-{error}-{when}", model="throwing_model", model_params=f"error: {error}, when: {when}")


CLS_DATA = os.path.join(TMP, "cls")
rows = ["good fine great,pos", "bad awful poor,neg", "fine good,pos", "poor bad,neg", "great good,pos",
        "awful bad,neg"]
write("cls/train.csv", "text,label\n" + "\n".join(rows * 6) + "\n")
write("cls/test.csv", "text,label\n" + "\n".join(rows) + "\n")
CLS = """name: hostile-cls
seed: 3
components:
  tokenizer: {{ plugin: word }}
  vocab:     {{ plugin: frequency, unk: "{unk}", pad: "<pad>" }}
  data:      {{ plugin: text_classification, train: {train}, test: {test}, batch_size: 4{data_extra} }}
  model:     {{ plugin: {model}, {model_params} }}
  optimizer: {{ plugin: adam, lr: 0.01 }}
  accuracy:  {{ plugin: accuracy }}
stages:
  - build_vocab: {{}}
  - train: {{ epochs: 2, validate_on: "" }}
  - evaluate: {{ split: test }}
"""


def cls(name, train=None, test=None, unk="<unk>", data_extra="", model="rnn_classifier",
        model_params="nhid: 8, emsize: 8"):
    return write(f"{name}.yaml", CLS.format(train=train or f"{CLS_DATA}/train.csv", test=test or f"{CLS_DATA}/test.csv",
                                            unk=unk, data_extra=data_extra, model=model, model_params=model_params))


def yaml_file(name, text):
    return write(name, text)


# Runs the cases below build on: a trained language model and a trained classifier.
LM_RUN, CLS_RUN = os.path.join(TMP, "lm-run"), os.path.join(TMP, "cls-run")
for args in (["run", lm("base"), "--out", LM_RUN], ["run", cls("base-cls"), "--out", CLS_RUN]):
    r = run(*args, "--quiet")
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"setup run failed: {' '.join(args)}")


def copy_run(source, name):
    dest = os.path.join(TMP, name)
    shutil.copytree(source, dest)
    return dest


# ---- the table ------------------------------------------------------------------------------
# Each row: name, arguments (a list, or a function returning (arguments, run options)), exit
# code, fragments of the error, and optional keys: lines (None: several allowed), then (a
# check after the run, returning an error text or None).
CASES = []


def case(name, args, code, fragments, lines=1, then=None, **options):
    CASES.append(dict(name=name, args=args, code=code, fragments=fragments, lines=lines, then=then,
                      options=options))


PLUGIN = ["--plugin-path", os.path.join(FIXTURES, "throwing")]
# 1. Errors raised inside a plugin: every type, from the factory, in training, in evaluation.
codes = {"config": 2, "input": 2, "resource": 2, "diverged": 2, "own": 2, "runtime": 1, "std": 1, "assertion": 1}
places = {"factory": "the factory", "train": "training", "eval": "evaluation"}
for when, place in places.items():
    for error, code in codes.items():
        fragments = [f"throwing_model: {error} error raised in {place}"]
        if error == "std":
            fragments.insert(0, "internal error: ")
        case(f"plugin throws {error} in {when}", lambda e=error, w=when: PLUGIN + ["run", throwing(e, w), "--out",
                                                                                    f"{TMP}/throw-{e}-{w}"],
             code, fragments)
write("cls/header-only.csv", "text,label\n")
write("cls/empty-label.csv", "text,label\ngood,pos\nbad,\n")
write("cls/wide.csv", "text,label\ngood,pos\nbad,neg,extra\n")
case("header-only CSV", lambda: ["run", cls("h", train=f"{CLS_DATA}/header-only.csv"), "--out", f"{TMP}/h"], 2,
     ["header-only.csv", "a header row and no data rows"])
case("empty label", lambda: ["run", cls("el", train=f"{CLS_DATA}/empty-label.csv"), "--out", f"{TMP}/el"], 2,
     ["empty-label.csv:3", "the label is empty"])
case("missing column name", lambda: ["run", cls("mc", data_extra=", label_column: sentiment"), "--out", f"{TMP}/mc"],
     2, [".csv:1: no label column 'sentiment' (columns: text, label)"])
case("row with extra fields", lambda: ["run", cls("wide", train=f"{CLS_DATA}/wide.csv"), "--out", f"{TMP}/wide"], 2,
     ["wide.csv:3", "3 fields, the header has 2"])
case("accuracy on a language model", lambda: ["run", write("acc.yaml", open(lm("acc0")).read().replace(
    "ppl:       { plugin: perplexity }", "acc:       { plugin: accuracy }")), "--out", f"{TMP}/acc"], 2,
     ["needs batches with class labels"])

# 2. Hostile YAML.
laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
case("billion laughs", lambda: ["validate", yaml_file("laughs.yaml", laughs)], 2,
     ["laughs.yaml:", "the document expands to more than 100000 values"])
case("recursive alias in a list", lambda: ["validate", yaml_file("self.yaml", "a: &a [*a]\n")], 2,
     ["self.yaml:1:", "alias refers to the node that contains it"])
case("recursive alias in a mapping", lambda: ["validate", yaml_file("self2.yaml", "a: &a {b: *a}\n")], 2,
     ["self2.yaml:1:", "alias refers to the node that contains it"])
case("deep nesting", lambda: ["validate", yaml_file("deep.yaml", "a: " + "[" * 200 + "]" * 200 + "\n")], 2,
     ["deep.yaml:"])
case("second document", lambda: ["validate", yaml_file("two.yaml", open(lm("two0")).read() + "---\nname: b\n")], 2,
     ["two.yaml:", "a pipeline is one YAML document; a second one starts here"])
case("variable cycle", lambda: ["validate", yaml_file("cycle.yaml", open(lm("cyc0")).read().replace(
    "seed: 7", "seed: 7\nvars: { a: '${b}', b: '${a}' }\ndescription: '${a}'"))], 2, ["variable cycle: a -> b -> a"])
case("select names no metric", lambda: ["validate", lm("sel", train_extra=", select: acuracy")], 2,
     ["sel.yaml:", "'select' names 'acuracy', which is not a computed metric or 'loss'"])
case("metrics names a non-metric", lambda: ["validate", lm("met", train_extra=", metrics: [model]")], 2,
     ["met.yaml:", "'metrics' names 'model', which is not a metric component"])
case("validate runs a factory's checks",
     lambda: ["validate", lm("tie", model_params="nhid: 8, emsize: 4, tie_weights: true")], 2,
     ["tie.yaml:", "component 'model' (rnn_lm): tie_weights: needs emsize (4) equal to nhid (8)"])
case("did you mean a suffix", lambda: ["validate", cls("sfx", data_extra=", label: x")], 2,
     ["unknown parameter 'label' (did you mean 'label_column'?)"])


def bomb_in(run_dir_name, command):
    def make():
        d = copy_run(LM_RUN, run_dir_name)
        with open(os.path.join(d, "config.yaml"), "w") as f:
            f.write(laughs)
        return [command, "--run", d] if command != "resume" else ["resume", d]
    return make


case("alias bomb in a run's config.yaml (generate)", bomb_in("bomb-gen", "generate"), 2,
     ["config.yaml:", "the document expands to more than 100000 values"])
case("alias bomb in a run's config.yaml (resume)", bomb_in("bomb-resume", "resume"), 2,
     ["config.yaml:", "the document expands to more than 100000 values"])


# 3. Run folders.
def unchanged(folder, before):
    after = snapshot(folder)
    return None if after == before else f"the folder changed: {sorted(set(before.items()) ^ set(after.items()))[:4]}"


def refused_resume(name, override):
    state = {}

    def make():
        d = copy_run(LM_RUN, name)
        state["dir"], state["before"] = d, snapshot(d)
        return ["resume", d, "--set", override]
    return make, lambda: unchanged(state["dir"], state["before"])


make, then = refused_resume("refused-seed", "seed=5")
case("refused resume (seed) writes nothing", make, 2, ["seed: 7 in the checkpoint, 5 now"], then=then)
make, then = refused_resume("refused-model", "components.model.nhid=9")
case("refused resume (model) writes nothing", make, 2, ["components.model.nhid: 8 in the checkpoint, 9 now"],
     lines=None, then=then)
case("run into a finished run", lambda: ["run", lm("again"), "--out", copy_run(LM_RUN, "finished")], 2,
     ["holds a finished run of pipeline 'hostile-lm'", "--resume", "--overwrite"])
case("run into a finished run of another pipeline", lambda: ["run", cls("other"), "--out", copy_run(LM_RUN, "other")],
     2, ["holds a finished run of pipeline 'hostile-lm'", "--overwrite"])


def overwrite():
    d = copy_run(LM_RUN, "overwritten")
    write("overwritten/checkpoints/epoch-9.ckpt", "stale")
    return ["run", lm("ow"), "--out", d, "--overwrite", "--quiet"]


case("--overwrite replaces the earlier run", overwrite, 0, [], lines=0,
     then=lambda: None if not os.path.exists(f"{TMP}/overwritten/checkpoints/epoch-9.ckpt")
     else "a stale checkpoint stayed after --overwrite")
case("--out ''", lambda: ["run", lm("empty-out"), "--out", ""], 2, ["--out: the run folder is an empty name"])
case("--resume with --overwrite", lambda: ["run", lm("both"), "--out", f"{TMP}/both", "--resume", "--overwrite"], 2,
     ["--resume and --overwrite exclude each other"])
stale_pid = dead_pid()


def stale():
    d = copy_run(LM_RUN, "stale")
    write(f"stale/checkpoints/last.ckpt.tmp.{stale_pid}", "x" * 1000)
    write(f"stale/summary.json.tmp.{stale_pid}", "{")
    return ["resume", d, "--set", "stages.train.epochs=2", "--quiet"]


case("temporaries of a dead process are removed", stale, 0, [], lines=0,
     then=lambda: None if not leftovers(f"{TMP}/stale") else f"left: {leftovers(f'{TMP}/stale')}")


def limit_file_size():
    # Files above 20 kB cannot be written: the checkpoint fails as on a full disk. SIGXFSZ is
    # ignored so that the write returns EFBIG instead of killing the process.
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def manifest_failed(folder):
    import json
    m = json.load(open(os.path.join(folder, "manifest.json")))
    if not m.get("status", "").startswith("failed: cannot write"):
        return f"manifest status: {m.get('status')}"
    return f"left: {leftovers(folder)}" if leftovers(folder) else None


case("no space for a checkpoint", lambda: ["run", lm("full", model_params="nhid: 48, emsize: 48"), "--out",
                                           f"{TMP}/full"], 2,
     ["cannot write", "last.ckpt", "File too large", "free some space"], preexec=limit_file_size,
     then=lambda: manifest_failed(f"{TMP}/full"))


# Runs need only their folder: the data moved away, labels renamed in labels.txt, another cwd.
def moved_classifier():
    d = copy_run(CLS_RUN, "cls-moved")
    shutil.move(CLS_DATA, CLS_DATA + "-gone")  # moved back by predicted_renamed_labels, run or not
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("NEGATIVE\nPOSITIVE\n")
    return ["predict", "--run", d, "good great", "awful poor"]


def predicted_renamed_labels(r):
    shutil.move(CLS_DATA + "-gone", CLS_DATA)
    labels = [line.split("\t")[0] for line in r.stdout.splitlines()] if r else []
    return None if labels == ["POSITIVE", "NEGATIVE"] else f"labels: {labels}"


case("predict needs only the run folder", moved_classifier, 0, [], lines=0, then_result=predicted_renamed_labels,
     cwd="/")


def moved_lm(command):
    def make():
        d = copy_run(LM_RUN, f"lm-moved-{command}")
        os.rename(MARKOV, MARKOV + "-gone")  # moved back by restore_markov, run or not
        return [command, "--run", d] + (["--words", "5"] if command == "generate" else [])
    return make


def restore_markov(r):
    os.rename(MARKOV + "-gone", MARKOV)
    return None


case("generate needs only the run folder", moved_lm("generate"), 0, [], lines=None, then_result=restore_markov,
     cwd="/")
case("score needs only the run folder", moved_lm("score"), 0, [], lines=None, then_result=restore_markov, cwd="/",
     stdin="w1 w2 w3\n")


def edited_vocab():
    d = copy_run(LM_RUN, "vocab-edited")
    with open(os.path.join(d, "vocab.txt"), "a") as f:
        f.write("extra\t1\n")
    return ["generate", "--run", d, "--words", "3"]


case("an edited vocab.txt is refused", edited_vocab, 2, ["vocab.txt: differs from the vocabulary saved in"])

# 4. Sizes and resources.
case("a model too large for memory", lambda: ["run", lm("huge", model_params="nhid: 100000, emsize: 8"), "--out",
                                              f"{TMP}/huge"], 2, ["parameters, which need", "of memory is available"])
case("validate refuses a model too large for memory",
     lambda: ["validate", lm("huge2", model_params="nhid: 1000000000, emsize: 8")], 2, ["parameters"])
write("cls/long.csv", "text,label\n\"" + "good " * 300_000 + "\",pos\nbad,neg\n")
case("a long CSV field padded beyond memory",
     lambda: ["run", cls("long", train=f"{CLS_DATA}/long.csv", model_params="nhid: 8, emsize: 20000"), "--out",
              f"{TMP}/long"], 2, ["cannot allocate", "for a tensor of shape [300000, 2, 20000]", "is available"])
long_line = "w1 " * 400_000 + "\n"
case("score of a 1.2 MB line", lambda: ["score", "--run", LM_RUN], 0, [], lines=None, stdin=long_line)
case("a batch loss that becomes infinite", lambda: ["run", lm("inf", lr="1e38", epochs=2), "--out", f"{TMP}/inf"],
     2, ["training diverged: loss is inf at epoch 1"])
# At lr 1e30 every batch loss stays finite (huge); the perplexity of the epoch does not.
case("a perplexity that becomes infinite", lambda: ["run", lm("inf30", lr="1e30", epochs=2), "--out",
                                                    f"{TMP}/inf30"], 2,
     ["training diverged: ppl on split 'train' is inf after epoch 1"])

# 5. Smaller holes.
write("cls/unknown.csv", "text,label\nzebra good,pos\n")
case("unk '' and an unknown word", lambda: ["run", cls("nounk", unk="", test=f"{CLS_DATA}/unknown.csv"), "--out",
                                            f"{TMP}/nounk"], 2,
     ["unknown.csv:2: token 'zebra' is not in the vocabulary, which has no unk token"])
os.makedirs(f"{TMP}/a-folder", exist_ok=True)
write("binary.txt", "good\n\x00\x01\x02\n")
write("latin1.bin", b"caf\xe9 good\n", mode="wb")
write("empty.txt", "")
case("score a folder", lambda: ["score", "--run", LM_RUN, f"{TMP}/a-folder"], 2, ["a-folder: a folder, not a text file"])
case("predict a folder", lambda: ["predict", "--run", CLS_RUN, "--file", f"{TMP}/a-folder"], 2,
     ["a-folder: a folder, not a text file"])
case("score binary data", lambda: ["score", "--run", LM_RUN, f"{TMP}/binary.txt"], 2,
     ["binary.txt:2: binary data (a NUL byte at column 1)"])
case("predict binary data", lambda: ["predict", "--run", CLS_RUN, "--file", f"{TMP}/binary.txt"], 2,
     ["binary.txt:2: binary data"])
case("score invalid UTF-8", lambda: ["score", "--run", LM_RUN, f"{TMP}/latin1.bin"], 2,
     ["latin1.bin:1: not UTF-8 (byte 4 of the line)"])
case("predict invalid UTF-8", lambda: ["predict", "--run", CLS_RUN, "--file", f"{TMP}/latin1.bin"], 2,
     ["latin1.bin:1: not UTF-8"])
case("score empty input", lambda: ["score", "--run", LM_RUN, f"{TMP}/empty.txt"], 2,
     ["empty.txt: no text to score (0 lines"])
# Evaluating a trained model with other settings: the data's reading settings only.
case("evaluate --set of the model", lambda: ["evaluate", "--run", LM_RUN, "--set", "components.model.nhid=16"], 2,
     ["--set components.model.nhid=16: component 'model' is a model"])
case("evaluate --set naming another component", lambda: ["evaluate", "--run", LM_RUN, "--set",
                                                         "components.data.tokenizer=@vocab"], 2,
     ["'tokenizer' names another component"])
case("evaluate --set of an unknown data parameter", lambda: ["evaluate", "--run", LM_RUN, "--set",
                                                             "components.data.bptz=5"], 2,
     ["has no parameter 'bptz'"])
case("export without --out", lambda: ["export", "--run", LM_RUN], 2, ["missing --out FILE.safetensors"])
case("export of a checkpoint that is not there", lambda: ["export", "--run", LM_RUN, "--checkpoint", "middle",
                                                          "--out", f"{TMP}/x.safetensors"], 2,
     ["--checkpoint must be best or last, got 'middle'"])
for fixture, fragment in (("bad_kind", "unknown kind (42)"), ("empty_name", "empty name"),
                          ("null_factory", "plugin 'no_factory' has no factory"),
                          ("undefined_symbol", "loom::removed_in_this_version(int)")):
    case(f"plugin loader: {fixture}", lambda f=fixture: ["--plugin-path", os.path.join(FIXTURES, f), "plugins"], 2,
         [f"{fixture}.so", fragment])
case("--plugin-path naming a library", lambda: ["--plugin-path", os.path.join(FIXTURES, "throwing",
                                                                             "fixture_throwing_model.so"),
                                                "plugins", "throwing_model"], 0, [], lines=0)
case("--plugin-path naming nothing", lambda: ["--plugin-path", f"{TMP}/nothing-here", "plugins"], 2,
     ["plugin folder", "nothing-here", "does not exist"])


# ---- running the table --------------------------------------------------------------------
right = wrong = 0
for c in CASES:
    try:
        args = c["args"]() if callable(c["args"]) else c["args"]
        opts = c["options"]
        r = run(*args, cwd=opts.get("cwd"), preexec=opts.get("preexec"), stdin=opts.get("stdin"))
    except Exception as e:  # noqa: BLE001 - a broken case is a failed case
        check(False, f"{c['name']}: could not run ({e})")
        wrong += 1
        if opts.get("then_result") is not None:
            opts["then_result"](None)  # puts back what the case moved
        continue
    lines = errors(r)
    problems = []
    if r.returncode < 0:
        problems.append(f"killed by signal {-r.returncode}")
    if r.returncode != c["code"]:
        problems.append(f"exit {r.returncode}, expected {c['code']}")
    if c["code"] == 2 and any("internal error" in line for line in lines):
        problems.append("bad input reported as an internal error")
    if c["lines"] is not None and c["code"] != 0 and len(lines) != c["lines"]:
        problems.append(f"{len(lines)} error lines, expected {c['lines']}")
    text = "\n".join(lines)
    problems += [f"no '{f}'" for f in c["fragments"] if f not in text]
    if c["then"] is not None:
        extra = c["then"]()
        if extra:
            problems.append(extra)
    if opts.get("then_result") is not None:
        extra = opts["then_result"](r)
        if extra:
            problems.append(extra)
    if problems:
        wrong += 1
        check(False, f"{c['name']}: {'; '.join(problems)}\n    stderr: {text[-600:]!r}")
    else:
        right += 1
        print(f"ok   {c['name']}: exit {r.returncode}" + (f": {lines[-1][:150]}" if lines and c['code'] else ""))


# Two processes in one run folder: the second is refused while the first holds the lock, and
# the lock goes with the process (SIGKILL included).
def lock_cases():
    global right, wrong
    busy = os.path.join(TMP, "busy")
    slow = lm("slow", model_params="nhid: 64, emsize: 64", epochs=50)
    first = subprocess.Popen([LOOM, "--threads", "1", "run", slow, "--out", busy, "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    # Locked, and far enough to be a run folder (config.yaml written): resume must meet the lock.
    while time.time() < deadline and not (os.path.exists(f"{busy}/config.yaml") and os.path.exists(f"{busy}/.lock")
                                          and "pid" in open(f"{busy}/.lock").read()):
        time.sleep(0.05)
    for name, args in (("second run in a busy folder", ["run", slow, "--out", busy, "--overwrite"]),
                       ("resume beside a running training", ["resume", busy])):
        r = run(*args)
        lines = errors(r)
        ok = r.returncode == 2 and len(lines) == 1 and "is in use by another loom (pid " + str(first.pid) in lines[0]
        right, wrong = right + ok, wrong + (not ok)
        check(ok, f"{name}: exit {r.returncode}: {lines}")
        if ok:
            print(f"ok   {name}: exit 2: {lines[0][:150]}")
    first.kill()
    first.wait()
    r = run("run", lm("after-kill"), "--out", busy, "--overwrite", "--quiet")
    ok = r.returncode == 0
    right, wrong = right + ok, wrong + (not ok)
    check(ok, f"the lock goes with a killed process: exit {r.returncode}: {errors(r)}")
    if ok:
        print("ok   the lock goes with a killed process: exit 0")


# SIGTERM before the first checkpoint (while the corpus is made and counted): the message says
# there is nothing to resume, and running the pipeline again replaces the stopped run.
def sigterm_before_checkpoint():
    global right, wrong
    slow = lm("slow-data", epochs=1)
    with open(slow) as f:
        text = f.read().replace(MARKOV, MARKOV + "-large").replace("train_tokens: 3000", "train_tokens: 3000000")
    with open(slow, "w") as f:
        f.write(text)
    p = subprocess.Popen([LOOM, "--threads", "1", "run", slow, "--out", f"{TMP}/term"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("loom: pipeline"):
            break
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=300)
    lines = [l for l in err.splitlines() if l and not l.startswith("loom: OpenBLAS")]
    ok = (p.returncode == 143 and len(lines) == 1 and "interrupted before stage" in lines[0] and
          "no checkpoint was saved yet, so there is nothing to resume: run it again" in lines[0])
    again = run("run", slow.replace("slow-data", "slow-data"), "--out", f"{TMP}/term", "--set",
                "components.data.train_tokens=3000", "--set", f"components.data.dir={MARKOV}", "--quiet")
    ok = ok and again.returncode == 0
    right, wrong = right + bool(ok), wrong + (not ok)
    check(ok, f"SIGTERM before the first checkpoint: exit {p.returncode}: {lines}; run again: {errors(again)}")
    if ok:
        print(f"ok   SIGTERM before the first checkpoint: exit 143: {lines[-1][:150]}")


lock_cases()
sigterm_before_checkpoint()
print(f"\nhostile cases: {right + wrong}, right {right}, wrong {wrong}")
shutil.rmtree(TMP, ignore_errors=True)
finish("cli hostile")
