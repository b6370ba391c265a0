#!/usr/bin/env python3
"""PyTorch reference for the loom Transformer language-model benchmark.

The TransformerModel of PyTorch's examples/word_language_model (model.py) and
the Transformer branch of its main.py, restricted to a fixed number of training
batches so that it can be compared batch for batch with loom's transformer_lm
plugin (bench/transformer_wikitext2_bench.yaml):

  * corpus, vocabulary, batchify and get_batch as in word_lm.py (imported from
    it): words plus "<eos>", vocabulary from the train split, bptt windows of
    a [rows, batch] stream;
  * input embedding scaled by sqrt(ninp) -> PositionalEncoding (sinusoids, then
    dropout --dropout) -> nn.TransformerEncoder of post-norm
    nn.TransformerEncoderLayer (ReLU, dropout --layer-dropout, 0.1 as in the
    example) with a final LayerNorm -> untied Linear -> log_softmax, NLL loss;
  * a causal (square subsequent) mask; every window is independent: nothing
    is carried from one batch to the next;
  * gradient-norm clipping and a plain SGD update done by hand;
  * after the training batches, perplexity over the whole valid split.

Only the training batches are timed (after a short warm-up whose updates still
count as training batches).  The progress lines, the final "| end |" line and
the JSON written to --json have the same form as word_lm.py's.

Run with a Python that has torch (e.g. /usr/bin/python3):

  /usr/bin/python3 bench/reference/transformer_lm.py \\
      --data /path/to/wikitext-2 --batches 300 --threads 2 --flush-denormal \\
      --json /tmp/ref.json
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# word_lm.py sits beside this file, so its directory is sys.path[0] when this
# file is run as a script.  Corpus handling, BLAS set-up and the warm-up /
# logging constants are shared so that both references read the same batches
# and report in the same way.
from word_lm import (LOG_INTERVAL, LOSS_WINDOW, WARMUP_BATCHES, batchify,
                     build_vocab, configure_openblas, get_batch, numericalize,
                     read_tokens)


# ---------------------------------------------------------------------------
# Model (pytorch/examples word_language_model/model.py)
# ---------------------------------------------------------------------------

class PositionalEncoding(nn.Module):
    """Sinusoidal position encodings added to the input, then dropout; as in
    the example.  x: [seq, batch, d_model] -> [seq, batch, d_model]."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float()
                             * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Transformer):
    """The example's TransformerModel.

    As in the example it is an nn.Transformer, so that:
      * self.encoder is nn.TransformerEncoder(nn.TransformerEncoderLayer(ninp,
        nhead, nhid, layer_dropout, relu, post-norm, eps 1e-5), nlayers,
        norm=LayerNorm(ninp)): nn.Transformer gives its encoder a final
        LayerNorm;
      * nn.Transformer._reset_parameters draws every matrix of the encoder
        from xavier_uniform (biases and LayerNorms keep their defaults);
      * nn.Transformer's decoder stack is built too, then replaced by the
        output Linear (self.decoder), so it is never trained or kept.

    The example does not pass `dropout` to nn.Transformer.__init__, so its
    encoder layers (residual branches, attention weights, inside the
    feed-forward) use nn.Transformer's default 0.1 and only PositionalEncoding
    uses `dropout`.  The one addition here is `layer_dropout`, passed on to
    nn.Transformer; its default, 0.1, builds exactly the example's model (same
    modules, and the same weights for the same seed), which is also what
    loom's transformer_lm builds with style: wlm.
    """

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5,
                 layer_dropout=0.1):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                         num_encoder_layers=nlayers, dropout=layer_dropout)
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)

        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        # 0 on and below the diagonal, -inf above: position i sees 0..i.
        mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
        mask = mask.float().masked_fill(mask == 0, float("-inf")) \
                           .masked_fill(mask == 1, float(0.0))
        return mask

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        """src [seq, batch] ids -> log-probabilities [seq, batch, ntoken]."""
        if has_mask:
            device = src.device
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = self._generate_square_subsequent_mask(len(src)).to(device)
                self.src_mask = mask
        else:
            self.src_mask = None

        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


# ---------------------------------------------------------------------------
# Training / evaluation (the Transformer branch of the example's main.py)
# ---------------------------------------------------------------------------

def train_step(model, criterion, ntokens, data, targets, lr, clip):
    model.zero_grad()
    output = model(data).view(-1, ntokens)
    loss = criterion(output, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    return loss.item()


def evaluate(model, ntokens, source, bptt):
    """Returns (mean NLL per token, token count) over the whole of `source`.

    The NLL is summed over every target token and divided by the number of
    tokens once at the end, as word_lm.py does (the example weights each
    window's mean by its length, which is the same number)."""
    model.eval()
    sum_criterion = nn.NLLLoss(reduction="sum")
    total_nll = 0.0
    total_tokens = 0
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, bptt):
            data, targets = get_batch(source, i, bptt)
            output = model(data).view(-1, ntokens)
            total_nll += sum_criterion(output, targets).item()
            total_tokens += targets.numel()
    return total_nll / total_tokens, total_tokens


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True,
                   help="directory holding train.txt, valid.txt (test.txt unused)")
    p.add_argument("--emsize", type=int, default=200)
    p.add_argument("--nhid", type=int, default=200,
                   help="feed-forward width of each encoder layer")
    p.add_argument("--nlayers", type=int, default=2)
    p.add_argument("--nhead", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2,
                   help="dropout after the positional encoding")
    p.add_argument("--layer-dropout", type=float, default=0.1,
                   help="dropout inside the encoder layers (default 0.1: the "
                        "example leaves them at nn.Transformer's default)")
    p.add_argument("--lr", type=float, default=5.0)
    p.add_argument("--clip", type=float, default=0.25)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--eval-batch-size", type=int, default=10)
    p.add_argument("--batches", type=int, default=300,
                   help="training batches to run from the start of the train "
                        "stream (warm-up batches included)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): subnormal floats "
                        "become zero, as loom always does")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.batches <= WARMUP_BATCHES:
        p.error("--batches must be greater than the %d warm-up batches"
                % WARMUP_BATCHES)
    if args.emsize % args.nhead:
        p.error("--emsize (%d) must be a multiple of --nhead (%d)"
                % (args.emsize, args.nhead))
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("transformer_lm.py: this CPU cannot flush denormals")
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
          "torch %s | threads %d | OpenBLAS core %s | flush denormals %s"
          % (ntokens, tuple(train_data.shape), tuple(val_data.shape),
             n_unk_valid, torch.__version__, torch.get_num_threads(),
             blas["openblas_core"], "yes" if args.flush_denormal else "no"),
          flush=True)

    model = TransformerModel(ntokens, args.emsize, args.nhead, args.nhid,
                             args.nlayers, args.dropout, args.layer_dropout)
    n_params = sum(p.numel() for p in model.parameters())
    print("model: Transformer | emsize %d | heads %d | d_ff %d | layers %d | "
          "dropout %.2f | layer dropout %.2f | parameters %d"
          % (args.emsize, args.nhead, args.nhid, args.nlayers, args.dropout,
             args.layer_dropout, n_params), flush=True)
    criterion = nn.NLLLoss()
    model.train()

    # Batch start offsets in the train stream.  If more batches are asked for
    # than one pass holds, training goes on with a new pass (the windows are
    # independent, so there is no state to reset).
    starts = list(range(0, train_data.size(0) - 1, args.bptt))

    losses = []
    timed_tokens = 0
    t_start = None
    log_t0 = time.perf_counter()
    for b in range(args.batches):
        if b == WARMUP_BATCHES:
            t_start = time.perf_counter()
        data, targets = get_batch(train_data, starts[b % len(starts)],
                                  args.bptt)
        loss = train_step(model, criterion, ntokens, data, targets, args.lr,
                          args.clip)
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

    valid_loss, valid_count = evaluate(model, ntokens, val_data, args.bptt)
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
        "model": "transformer",
        "emsize": args.emsize,
        "nhead": args.nhead,
        "nhid": args.nhid,
        "nlayers": args.nlayers,
        "dropout": args.dropout,
        "layer_dropout": args.layer_dropout,
        "parameters": n_params,
        "flush_denormal": args.flush_denormal,
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
