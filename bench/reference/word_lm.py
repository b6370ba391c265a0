#!/usr/bin/env python3
"""PyTorch reference for the loom word-level language-model benchmark.

A re-implementation of the training loop of PyTorch's
examples/word_language_model (main.py / model.py / data.py) for an LSTM or GRU,
restricted to a fixed number of training batches so that it can be compared
batch-for-batch with loom:

  * corpus: every line split on whitespace plus "<eos>"; vocabulary from the
    train split only, ids ordered by count (descending), ties by token string;
  * batchify / get_batch exactly as in the example;
  * Embedding -> Dropout -> LSTM/GRU (inter-layer dropout) -> Dropout -> Linear;
  * truncated BPTT with the hidden state detached between batches, mean
    cross-entropy, gradient-norm clipping and a plain SGD update done by hand;
  * after the training batches, perplexity over the whole valid split.

Only the training batches are timed (after a short warm-up whose updates still
count as training batches).  Results are written as JSON.

Run with a Python that has torch (e.g. /usr/bin/python3):

  /usr/bin/python3 bench/reference/word_lm.py --data /path/to/wikitext-2 \
      --batches 300 --threads 2 --json /tmp/ref.json
"""

import argparse
import collections
import ctypes
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn

# Batches run before the timer starts: the first iterations pay for one-off
# costs (allocator growth, kernel selection, thread-pool start-up).
WARMUP_BATCHES = 3
# final_train_loss is the mean over this many trailing training batches.
LOSS_WINDOW = 50
# A progress line is printed every this many training batches.
LOG_INTERVAL = 50


# ---------------------------------------------------------------------------
# BLAS
# ---------------------------------------------------------------------------

def openblas_handle():
    """The OpenBLAS library torch is using, or None if it is not loaded.

    Only an already-mapped library is opened (same handle, no second copy)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "libopenblas" in os.path.basename(path):
                    return ctypes.CDLL(path)
    except OSError:
        pass
    return None


def configure_openblas(threads):
    """Make OpenBLAS use `threads` threads and report which kernels it chose.

    torch.set_num_threads does not reach a pthread-built OpenBLAS, which
    otherwise sizes its own pool from OMP_NUM_THREADS or the core count.  The
    core name matters: OpenBLAS releases that do not recognise the CPU fall
    back to old SSE kernels (e.g. "Prescott"), several times slower than the
    AVX-512 ones; OPENBLAS_CORETYPE can force a kernel set."""
    lib = openblas_handle()
    if lib is None:
        return {"openblas_core": None, "openblas_threads": None}
    lib.openblas_set_num_threads(ctypes.c_int(threads))
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return {"openblas_core": lib.openblas_get_corename().decode(),
            "openblas_threads": lib.openblas_get_num_threads()}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def read_tokens(path):
    """Words of a file, with "<eos>" appended to every line (blank ones too)."""
    tokens = []
    with open(path, "r", encoding="utf8") as f:
        for line in f:
            tokens.extend(line.split())
            tokens.append("<eos>")
    return tokens


def build_vocab(train_tokens):
    """Token -> id. Sorted by count descending, then by the token string, so
    that ids do not depend on the order of first appearance."""
    counts = collections.Counter(train_tokens)
    counts.setdefault("<unk>", 0)  # always present, even if train has none
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {tok: i for i, (tok, _) in enumerate(ordered)}


def numericalize(tokens, vocab):
    unk = vocab["<unk>"]
    return torch.tensor([vocab.get(t, unk) for t in tokens], dtype=torch.long)


def batchify(data, bsz):
    """As in the example: drop the tail that does not fill a whole column, then
    lay the stream out as bsz independent columns -> tensor [nbatch, bsz]."""
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].reshape(-1)
    return data, target


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

class RNNModel(nn.Module):
    """Encoder, recurrent module and decoder (untied), as in the example."""

    def __init__(self, cell, ntoken, ninp, nhid, nlayers, dropout):
        super().__init__()
        self.ntoken = ntoken
        self.cell = cell
        self.nhid = nhid
        self.nlayers = nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_cls(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()

    def init_weights(self):
        # The recurrent layers keep PyTorch's default initialisation.
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, inp, hidden):
        emb = self.drop(self.encoder(inp))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        # Logits; CrossEntropyLoss applies the log-softmax (the example applies
        # log_softmax in the model and uses NLLLoss, which is the same loss).
        return self.decoder(output).view(-1, self.ntoken), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        zeros = weight.new_zeros(self.nlayers, bsz, self.nhid)
        if self.cell == "lstm":
            return (zeros, weight.new_zeros(self.nlayers, bsz, self.nhid))
        return zeros


def repackage_hidden(h):
    """Detach the hidden state so that backprop stops at the batch boundary."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


# ---------------------------------------------------------------------------
# Training / evaluation
# ---------------------------------------------------------------------------

def train_step(model, criterion, data, targets, hidden, lr, clip):
    model.zero_grad()
    hidden = repackage_hidden(hidden)
    output, hidden = model(data, hidden)
    loss = criterion(output, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    return loss.item(), hidden


def evaluate(model, source, bptt, eval_bsz):
    """Returns (mean NLL per token, token count) over the whole of `source`.

    The NLL is summed over every target token and divided by the number of
    tokens once at the end (not a mean of per-batch means)."""
    model.eval()
    sum_criterion = nn.CrossEntropyLoss(reduction="sum")
    total_nll = 0.0
    total_tokens = 0
    hidden = model.init_hidden(eval_bsz)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, bptt):
            data, targets = get_batch(source, i, bptt)
            output, hidden = model(data, hidden)
            total_nll += sum_criterion(output, targets).item()
            total_tokens += targets.numel()
            hidden = repackage_hidden(hidden)
    return total_nll / total_tokens, total_tokens


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True,
                   help="directory holding train.txt, valid.txt (test.txt unused)")
    p.add_argument("--emsize", type=int, default=200)
    p.add_argument("--nhid", type=int, default=200)
    p.add_argument("--nlayers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--lr", type=float, default=20.0)
    p.add_argument("--clip", type=float, default=0.25)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--eval-batch-size", type=int, default=10)
    p.add_argument("--batches", type=int, default=300,
                   help="training batches to run from the start of the train "
                        "stream (warm-up batches included)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.batches <= WARMUP_BATCHES:
        p.error("--batches must be greater than the %d warm-up batches"
                % WARMUP_BATCHES)
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    blas = configure_openblas(args.threads)

    train_tokens = read_tokens(os.path.join(args.data, "train.txt"))
    vocab = build_vocab(train_tokens)
    valid_tokens = read_tokens(os.path.join(args.data, "valid.txt"))
    n_unk_valid = sum(1 for t in valid_tokens if t not in vocab)
    train_data = batchify(numericalize(train_tokens, vocab), args.batch_size)
    val_data = batchify(numericalize(valid_tokens, vocab), args.eval_batch_size)
    del train_tokens, valid_tokens
    ntokens = len(vocab)
    print("vocab %d | train %s | valid %s | valid words not in vocab %d | "
          "torch %s | threads %d | OpenBLAS core %s"
          % (ntokens, tuple(train_data.shape), tuple(val_data.shape),
             n_unk_valid, torch.__version__, torch.get_num_threads(),
             blas["openblas_core"]), flush=True)

    model = RNNModel(args.cell, ntokens, args.emsize, args.nhid, args.nlayers,
                     args.dropout)
    criterion = nn.CrossEntropyLoss()
    model.train()

    # Batch start offsets in the train stream.  If more batches are asked for
    # than one pass holds, training continues with a new pass (and, as at the
    # start of each epoch in the example, a fresh hidden state).
    starts = list(range(0, train_data.size(0) - 1, args.bptt))

    losses = []
    hidden = model.init_hidden(args.batch_size)
    timed_tokens = 0
    t_start = None
    log_t0 = time.perf_counter()
    for b in range(args.batches):
        pos = b % len(starts)
        if pos == 0 and b > 0:
            hidden = model.init_hidden(args.batch_size)
        if b == WARMUP_BATCHES:
            t_start = time.perf_counter()
        data, targets = get_batch(train_data, starts[pos], args.bptt)
        loss, hidden = train_step(model, criterion, data, targets, hidden,
                                  args.lr, args.clip)
        losses.append(loss)
        if b >= WARMUP_BATCHES:
            timed_tokens += targets.numel()
        if (b + 1) % LOG_INTERVAL == 0:
            now = time.perf_counter()
            cur = sum(losses[-LOG_INTERVAL:]) / LOG_INTERVAL
            print("| batch %5d/%5d | lr %.2f | ms/batch %7.2f | loss %5.2f | "
                  "ppl %8.2f" % (b + 1, args.batches, args.lr,
                                 (now - log_t0) * 1000 / LOG_INTERVAL, cur,
                                 math.exp(cur)), flush=True)
            log_t0 = now
    train_seconds = time.perf_counter() - t_start
    tokens_per_s = timed_tokens / train_seconds

    valid_loss, valid_count = evaluate(model, val_data, args.bptt,
                                       args.eval_batch_size)
    valid_ppl = math.exp(valid_loss)
    tail = losses[-LOSS_WINDOW:]
    result = {
        "tokens_per_s": tokens_per_s,
        "train_seconds": train_seconds,
        "train_batches": args.batches,
        "timed_batches": args.batches - WARMUP_BATCHES,
        "timed_tokens": timed_tokens,
        "valid_ppl": valid_ppl,
        "valid_loss": valid_loss,
        "valid_tokens": valid_count,
        "final_train_loss": sum(tail) / len(tail),
        "threads": args.threads,
        "cell": args.cell,
        "vocab_size": ntokens,
        "torch": torch.__version__,
        "openblas_core": blas["openblas_core"],
        "openblas_threads": blas["openblas_threads"],
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("| end | %d batches | %.1f tokens/s | train %.2f s | valid loss %.4f "
          "| valid ppl %.2f | peak RSS %.1f MiB"
          % (args.batches, tokens_per_s, train_seconds, valid_loss, valid_ppl,
             result["peak_rss_mb"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
