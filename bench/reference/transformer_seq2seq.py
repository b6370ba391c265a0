#!/usr/bin/env python3
"""PyTorch reference for the loom translation benchmark (Transformer encoder-decoder, Multi30k).

The model of bench/translate_multi30k_bench.yaml (loom's transformer_seq2seq plugin) written
with torch.nn.Transformer, in two modes.

train: trains it for N batches and reports the training throughput and the validation
perplexity, to compare with `loom run bench/translate_multi30k_bench.yaml`.
  * Text becomes token ids exactly as in loom: the loom run folder's SentencePiece model
    (spm.model) cuts each line into pieces, and the run's vocab.txt gives their ids (a piece
    not in it is unk), so both sides see the same ids.
  * The batches are built as loom's parallel loader builds them
    (core/src/data/parallel_corpus.cpp): training pairs with more than --max-length pieces on
    a side are left out; src is the pieces then eos, tgt_in is bos then the pieces, tgt_out
    the pieces then eos; 64 pairs per batch, padded with pad. The order follows the same
    idea, from Python's random stream instead of loom's: shuffle, sort windows of 50
    batches by (source length, target length), then shuffle whole batches.
  * nn.Transformer(d_model 256, 4 heads, 3 + 3 layers, feed-forward 512, dropout 0.1,
    norm_first=True, batch_first=True), which ends encoder and decoder with a LayerNorm and
    draws every matrix of its layers from Xavier uniform, as loom does. One embedding table
    (normal, std d_model^-0.5) for source and target, multiplied by sqrt(d_model), plus
    sinusoidal positions, then dropout; the output layer is that table plus a bias.
    CrossEntropyLoss with label_smoothing 0.1 over the non-pad targets (their mean).
  * Adam (lr 7e-4, PyTorch's defaults otherwise), the gradient norm clipped at 1.0, and the
    learning rate of loom's schedule (core/src/run/lr_schedule.cpp): linear warm-up over
    --warmup-steps, then linear decay to 0 at --total-steps.
  * The whole training loop is timed, batch building included, as loom's trainer does.
    Tokens are counted as loom counts them: the non-pad tokens of tgt_out (eos included).
  * Validation perplexity: exp of the plain NLL (no smoothing) per target token over the
    whole validation split, in batches of 100 pairs, in file order.

translate: loads the parameters `loom export --run DIR --out F.safetensors` wrote (loom's
names, mapped one by one onto the module above; every tensor must be used and every shape
must fit), then translates a file with greedy search and with a beam, in batches of 32
sentences, and reports target tokens/s and the translations.
  * Decoding is incremental, as fairseq's: the encoder runs once per batch and each decoder
    layer's cross-attention keys and values are computed once from its output; the
    self-attention keys and values of earlier target positions are cached and extended by
    one position per step; beams reorder the caches' rows.
  * The search follows loom's core/src/infer/search.cpp rule for rule, so that both sides
    give the same translations up to floating-point differences: at most
    int(1.5 * source length + 10) tokens, source length counting eos; per sentence the 2k best
    continuations of its live beams by summed log-probability (ties: the earlier beam, then
    the lower token id); eos among the first k finishes a hypothesis, the first k others
    live on; a sentence is done with k finished hypotheses; with k >= 2 the greedy path is
    followed beside the beams and joins the finished ones; the result is the finished
    hypothesis with the best log-probability per token, eos counted (--length-norm average,
    loom's default). Beam 1 is greedy search, the lowest token id winning ties.
  * Tokens are counted as `loom translate` counts them: output tokens plus eos, per
    sentence. The timed part is tokenizing, searching, detokenizing and writing; the model
    is loaded, the input read and one sentence translated before the clock starts.
  * --valid PREFIX also scores PREFIX.de/.en with the loaded parameters (perplexity, as in
    training mode), which must equal loom's validation perplexity of the same checkpoint: a
    check of the name mapping and of the forward pass.

Run with Debian's Python, which has torch 1.13 and numpy; the SentencePiece Python module
comes from the python3-sentencepiece package (scripts/install-deps.sh installs it):

  /usr/bin/python3 bench/reference/transformer_seq2seq.py train --run LOOM_RUN_DIR \\
      --data ../shared/data/multi30k --batches 300 --threads 2 --flush-denormal --json out.json
  /usr/bin/python3 bench/reference/transformer_seq2seq.py translate --run LOOM_RUN_DIR \\
      --weights model.safetensors --input ../shared/data/multi30k/test2016.de --beams 1 5 \\
      --threads 2 --flush-denormal --out-dir /tmp/hyp --json out.json

bench/seq2seq_bench.py runs both modes beside loom and compares the figures.
"""

import argparse
import json
import math
import os
import random
import re
import resource
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import sentencepiece as spm
except ImportError:  # reported in main(), with the package to install
    spm = None

# word_lm.py sits beside this file: the same OpenBLAS set-up and report as the other references.
from word_lm import configure_openblas
from seq2seq_search import translate_lines  # noqa: E402

# loom's ignore value in tgt_out (loom::kIgnoreTarget) has no meaning here; PyTorch's default
# ignore_index marks the padding of the targets.
IGNORE = -100


# ---------------------------------------------------------------------------
# Tokens: the loom run's SentencePiece model and vocabulary
# ---------------------------------------------------------------------------

class Vocab(object):
    """A loom vocabulary file (core/src/data/vocab.cpp): a header
    "#loom-vocab 1 pad=0 unk=1 bos=2 eos=3 [lowercase=1]", then "token<TAB>count" per line,
    the line order giving the ids."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        header = lines[0]
        if not header.startswith("#loom-vocab 1"):
            raise ValueError("%s: not a loom vocabulary file (no '#loom-vocab 1' header)" % path)
        self.specials = {}
        self.lowercase = False
        for field in header[len("#loom-vocab 1"):].split():
            name, _, value = field.partition("=")
            if name == "lowercase":
                self.lowercase = value == "1"
            else:
                self.specials[name] = int(value)
        self.tokens = [line.split("\t", 1)[0] for line in lines[1:] if line]
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        for role in ("pad", "unk", "bos", "eos"):
            if role not in self.specials:
                raise ValueError("%s: the vocabulary has no %s token, which this model needs"
                                 % (path, role))
        self.pad, self.unk = self.specials["pad"], self.specials["unk"]
        self.bos, self.eos = self.specials["bos"], self.specials["eos"]

    def __len__(self):
        return len(self.tokens)

    def id(self, token):
        i = self.ids.get(token)
        if i is None and self.lowercase:
            i = self.ids.get(_ascii_lower(token))
        return self.unk if i is None else i


def _ascii_lower(token):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in token)


class Tokens(object):
    """Lines -> loom's token ids, and ids -> text, through the run folder's files."""

    def __init__(self, run_dir, spm_model=None, vocab_file=None):
        if spm is None:
            sys.exit("transformer_seq2seq.py: no sentencepiece module for %s; install Debian's "
                     "python3-sentencepiece (scripts/install-deps.sh)" % sys.executable)
        spm_model = spm_model or find_spm_model(run_dir)
        self.vocab = Vocab(vocab_file or os.path.join(run_dir, "vocab.txt"))
        self.sp = spm.SentencePieceProcessor()
        if not self.sp.Load(spm_model):
            sys.exit("transformer_seq2seq.py: cannot load SentencePiece model %s" % spm_model)
        self.spm_model = spm_model

    def encode(self, line):
        return [self.vocab.id(p) for p in self.sp.EncodeAsPieces(line)]

    def decode(self, ids):
        return self.sp.DecodePieces([self.vocab.tokens[i] for i in ids])


def find_spm_model(run_dir):
    models = sorted(f for f in os.listdir(run_dir) if f.endswith(".model"))
    if len(models) != 1:
        sys.exit("transformer_seq2seq.py: expected one SentencePiece .model file in %s, found %s "
                 "(name it with --spm)" % (run_dir, models or "none"))
    return os.path.join(run_dir, models[0])


def read_lines(path):
    """Lines as loom's TextFile reads them: split on \\n, one \\r before it dropped, no line
    after a final \\n."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [l[:-1] if l.endswith("\r") else l for l in lines]


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

def sinusoids(count, dim):
    """loom's nn::sinusoidal_positions, in float32 as there: sin at even, cos at odd
    columns, div_term = exp(2i * (-ln(10000) / dim)). [count, dim]."""
    f32 = np.float32
    rate = f32(-np.log(f32(10000.0))) / f32(dim)
    div = np.exp(np.arange(0, dim, 2, dtype=f32) * rate).astype(f32)
    angle = np.arange(count, dtype=f32)[:, None] * div[None, :]
    pe = np.zeros((count, dim), dtype=f32)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, :dim // 2])
    return torch.from_numpy(pe)


class Seq2Seq(nn.Module):
    """Shared embedding x sqrt(d) + sinusoids -> dropout -> nn.Transformer (pre-norm, final
    LayerNorms) -> tied output layer with a bias.

    forward: src [B, S], src_pad [B, S] (True at padding), tgt_in [B, T] -> logits [B, T, V]."""

    def __init__(self, vocab_size, d_model, heads, encoder_layers, decoder_layers, d_ff, dropout):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embedding.weight, 0.0, d_model ** -0.5)
        self.transformer = nn.Transformer(
            d_model=d_model, nhead=heads, num_encoder_layers=encoder_layers,
            num_decoder_layers=decoder_layers, dim_feedforward=d_ff, dropout=dropout,
            norm_first=True, batch_first=True)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        self.dropout = nn.Dropout(dropout)
        self.scale = math.sqrt(d_model)
        self.register_buffer("positions", sinusoids(512, d_model), persistent=False)
        self._causal = {}

    def position_rows(self, offset, count):
        if offset + count > self.positions.size(0):
            self.positions = sinusoids(2 * (offset + count), self.d_model)
        return self.positions[offset:offset + count]

    def embed(self, ids):
        x = self.embedding(ids) * self.scale + self.position_rows(0, ids.size(1))
        return self.dropout(x)

    def causal_mask(self, t):
        m = self._causal.get(t)
        if m is None:
            m = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
            self._causal[t] = m
        return m

    def encode(self, src, src_pad):
        return self.transformer.encoder(self.embed(src), src_key_padding_mask=src_pad)

    def forward(self, src, src_pad, tgt_in):
        h = self.transformer(self.embed(src), self.embed(tgt_in),
                             tgt_mask=self.causal_mask(tgt_in.size(1)),
                             src_key_padding_mask=src_pad, memory_key_padding_mask=src_pad)
        return F.linear(h, self.embedding.weight, self.output_bias)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

def make_batch(pairs, rows, voc):
    """Pairs (src ids, tgt ids) -> src [B, S] (pieces + eos), src_pad, tgt_in [B, T]
    (bos + pieces), tgt_out [B, T] (pieces + eos, IGNORE after) and the target token count,
    as ParallelCorpusLoader::make_batch."""
    B = len(rows)
    S = max(len(pairs[i][0]) for i in rows) + 1
    T = max(len(pairs[i][1]) for i in rows) + 1
    src = np.full((B, S), voc.pad, dtype=np.int64)
    src_len = np.empty(B, dtype=np.int64)
    tgt_in = np.full((B, T), voc.pad, dtype=np.int64)
    tgt_out = np.full((B, T), IGNORE, dtype=np.int64)
    tokens = 0
    for b, i in enumerate(rows):
        s, t = pairs[i]
        src[b, :len(s)] = s
        src[b, len(s)] = voc.eos
        src_len[b] = len(s) + 1
        tgt_in[b, 0] = voc.bos
        tgt_in[b, 1:len(t) + 1] = t
        tgt_out[b, :len(t)] = t
        tgt_out[b, len(t)] = voc.eos
        tokens += len(t) + 1
    src_pad = np.arange(S)[None, :] >= src_len[:, None]
    return (torch.from_numpy(src), torch.from_numpy(src_pad), torch.from_numpy(tgt_in),
            torch.from_numpy(tgt_out), tokens)


def bucketed_order(pairs, batch_size, seed):
    """Shuffle, sort windows of 50 batches by (source length, target length) (stable), then
    shuffle whole batches; returns the batches as lists of pair indices."""
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    window = batch_size * 50
    for w in range(0, len(order), window):
        order[w:w + window] = sorted(order[w:w + window],
                                     key=lambda i: (len(pairs[i][0]), len(pairs[i][1])))
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def lr_at(step, base, warmup, total):
    """loom's LrSchedule::lr_at with decay: linear and min_lr 0."""
    if step < warmup:
        return base * (step + 1.0) / warmup
    span = max(total - warmup, 1)
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    return base * (1.0 - progress)


def evaluate(model, pairs, voc, batch_size):
    """(mean plain NLL per target token, token count) over `pairs` in order."""
    model.eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        for b in range(0, len(pairs), batch_size):
            src, src_pad, tgt_in, tgt_out, tokens = make_batch(
                pairs, range(b, min(b + batch_size, len(pairs))), voc)
            logits = model(src, src_pad, tgt_in)
            nll += F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1),
                                   ignore_index=IGNORE, reduction="sum").item()
            count += tokens
    model.train()
    return nll / count, count


def encode_split(tok, prefix, src_lang, tgt_lang):
    src = read_lines(prefix + "." + src_lang)
    tgt = read_lines(prefix + "." + tgt_lang)
    if len(src) != len(tgt):
        sys.exit("transformer_seq2seq.py: %s.%s has %d lines but %s.%s has %d"
                 % (prefix, src_lang, len(src), prefix, tgt_lang, len(tgt)))
    return [(tok.encode(s), tok.encode(t)) for s, t in zip(src, tgt)]


def run_train(args, blas):
    tok = Tokens(args.run, args.spm, args.vocab)
    voc = tok.vocab
    t0 = time.perf_counter()
    train_all = encode_split(tok, os.path.join(args.data, "train"), args.src_lang, args.tgt_lang)
    train = [p for p in train_all
             if len(p[0]) <= args.max_length and len(p[1]) <= args.max_length]
    valid = encode_split(tok, os.path.join(args.data, "val"), args.src_lang, args.tgt_lang)
    batches = bucketed_order(train, args.batch_size, args.seed)
    unk_train = sum(ids.count(voc.unk) for p in train for ids in p)
    print("vocab %d | train %d pairs (%d longer than %d left out), %d batches per epoch, %d unk "
          "| valid %d pairs | encoded in %.1f s | torch %s | threads %d | OpenBLAS core %s | "
          "flush denormals %s"
          % (len(voc), len(train), len(train_all) - len(train), args.max_length, len(batches),
             unk_train, len(valid), time.perf_counter() - t0, torch.__version__,
             torch.get_num_threads(), blas["openblas_core"],
             "yes" if args.flush_denormal else "no"), flush=True)
    n_batches = min(args.batches, len(batches))
    if n_batches < args.batches:
        print("note: one epoch has %d batches; training %d, as loom's cut epoch does"
              % (len(batches), n_batches), flush=True)

    model = Seq2Seq(len(voc), args.d_model, args.heads, args.encoder_layers, args.decoder_layers,
                    args.d_ff, args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    print("model: nn.Transformer pre-norm | d_model %d | heads %d | layers %d + %d | d_ff %d | "
          "dropout %.2f | label smoothing %.2f | parameters %d"
          % (args.d_model, args.heads, args.encoder_layers, args.decoder_layers, args.d_ff,
             args.dropout, args.label_smoothing, n_params), flush=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    params = [p for p in model.parameters()]
    model.train()

    loss_sum, count, window_loss, window_count = 0.0, 0, 0.0, 0
    first_batch_seconds = None
    log_t0 = t_start = time.perf_counter()
    for step in range(n_batches):
        src, src_pad, tgt_in, tgt_out, tokens = make_batch(train, batches[step], voc)
        for g in optimizer.param_groups:
            g["lr"] = lr_at(step, args.lr, args.warmup_steps, args.total_steps)
        logits = model(src, src_pad, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1),
                               ignore_index=IGNORE, label_smoothing=args.label_smoothing)
        value = loss.item()
        if not math.isfinite(value):
            sys.exit("transformer_seq2seq.py: training diverged at batch %d (loss %g)"
                     % (step + 1, value))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += value * tokens
        count += tokens
        window_loss += value * tokens
        window_count += tokens
        if step == 0:
            first_batch_seconds = time.perf_counter() - t_start
        if (step + 1) % args.log_interval == 0 or step + 1 == n_batches:
            now = time.perf_counter()
            print("| batch %5d/%5d | lr %.3g | loss %.4f | %.0f tok/s"
                  % (step + 1, n_batches, optimizer.param_groups[0]["lr"],
                     window_loss / window_count, window_count / (now - log_t0)), flush=True)
            log_t0, window_loss, window_count = now, 0.0, 0
    train_seconds = time.perf_counter() - t_start
    tokens_per_s = count / train_seconds

    valid_loss, valid_tokens = evaluate(model, valid, voc, args.eval_batch_size)
    result = {
        "tokens_per_s": tokens_per_s,
        "train_seconds": train_seconds,
        "first_batch_seconds": first_batch_seconds,
        "train_batches": n_batches,
        "batches_per_epoch": len(batches),
        "train_tokens": count,
        "train_loss": loss_sum / count,
        "valid_nll": valid_loss,
        "valid_ppl": math.exp(valid_loss),
        "valid_tokens": valid_tokens,
        "parameters": n_params,
        "vocab_size": len(voc),
        "threads": args.threads,
        "flush_denormal": args.flush_denormal,
        "torch": torch.__version__,
        "openblas_core": blas["openblas_core"],
        "openblas_threads": blas["openblas_threads"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("| end | %d batches | %.1f tokens/s | train %.2f s | train loss %.4f | valid nll %.4f "
          "| valid ppl %.2f | peak RSS %.1f MiB"
          % (n_batches, tokens_per_s, train_seconds, result["train_loss"], valid_loss,
             result["valid_ppl"], result["peak_rss_mb"]), flush=True)
    return result


# ---------------------------------------------------------------------------
# loom's exported parameters
# ---------------------------------------------------------------------------

def read_safetensors(path):
    """name -> float32 tensor, from a .safetensors file (an 8-byte little-endian header size,
    a JSON header of dtype, shape and data_offsets per tensor, then the data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit("%s: tensor %s is %s, expected F32" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header.get("__metadata__", {})


def loom_to_torch_names(encoder_layers, decoder_layers):
    """loom's transformer_seq2seq parameter names (share_embeddings, tie_weights, sinusoidal
    positions; core/src/nn/attention.cpp) -> this module's state_dict names."""
    names = {"embedding.weight": "embedding.weight",
             "decoder.output.bias": "output_bias"}
    attention = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    ff = ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"]
    norms = ["norm%d.%s" % (k, w) for k in (1, 2, 3) for w in ("weight", "bias")]
    layers = [("encoder", l, ["self_attn." + a for a in attention] + ff + norms[:4])
              for l in range(encoder_layers)]
    layers += [("decoder", l, ["self_attn." + a for a in attention]
                + ["multihead_attn." + a for a in attention] + ff + norms)
               for l in range(decoder_layers)]
    for side, l, leaves in layers:
        for leaf in leaves:
            name = "%s.layers.%d.%s" % (side, l, leaf)
            names[name] = "transformer." + name
    for side in ("encoder", "decoder"):
        for w in ("weight", "bias"):
            names["%s.norm.%s" % (side, w)] = "transformer.%s.norm.%s" % (side, w)
    return names


def layer_count(tensors, side):
    found = set()
    for name in tensors:
        m = re.match(r"%s\.layers\.(\d+)\." % side, name)
        if m:
            found.add(int(m.group(1)))
    if found != set(range(len(found))):
        sys.exit("exported %s layers are not numbered 0..n-1: %s" % (side, sorted(found)))
    return len(found)


def config_value(run_dir, key):
    """`key: value` of the model component in the run's resolved config.yaml (block style,
    as loom writes it), or None."""
    try:
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"\n  model:\n((?:    .*\n)+)", text)
    if not m:
        return None
    v = re.search(r"^    %s: *(\S+)" % re.escape(key), m.group(1), re.M)
    return v.group(1) if v else None


def load_exported(args, vocab_size):
    tensors, metadata = read_safetensors(args.weights)
    if metadata.get("mirrors"):
        sys.exit("%s mirrors the module %r; this reference reads loom's own names"
                 % (args.weights, metadata["mirrors"]))
    problems = []
    for key, want in (("plugin", "transformer_seq2seq"), ("norm", "pre"),
                      ("share_embeddings", "true"), ("tie_weights", "true"),
                      ("heads", str(args.heads)), ("activation", "relu"),
                      ("positions", "sinusoidal"), ("scale_embedding", "true")):
        have = config_value(args.run, key)
        if have is not None and have != want:
            problems.append("%s is %s in the run, this reference builds %s" % (key, have, want))
    enc, dec = layer_count(tensors, "encoder"), layer_count(tensors, "decoder")
    emb = tensors.get("embedding.weight")
    ff = tensors.get("encoder.layers.0.linear1.weight")
    if emb is None or ff is None:
        sys.exit("%s: no embedding.weight or encoder.layers.0.linear1.weight; is it a "
                 "transformer_seq2seq run with share_embeddings and tie_weights?" % args.weights)
    if emb.shape[0] != vocab_size:
        problems.append("the embedding has %d rows but the vocabulary %d tokens"
                        % (emb.shape[0], vocab_size))
    model = Seq2Seq(emb.shape[0], emb.shape[1], args.heads, enc, dec, ff.shape[0], 0.0)
    names = loom_to_torch_names(enc, dec)
    state = model.state_dict()
    unused = sorted(set(tensors) - set(names))
    missing = sorted(set(names) - set(tensors))
    if unused:
        problems.append("exported tensors this model has no place for: " + ", ".join(unused))
    if missing:
        problems.append("tensors the model needs but the file lacks: " + ", ".join(missing))
    unfilled = sorted(set(state) - set(names.values()))
    if unfilled:
        problems.append("module parameters no exported tensor fills: " + ", ".join(unfilled))
    new_state = {}
    for loom_name, torch_name in names.items():
        if loom_name not in tensors or torch_name not in state:
            continue
        t = tensors[loom_name]
        if tuple(t.shape) != tuple(state[torch_name].shape):
            problems.append("%s is %s but %s is %s" % (loom_name, tuple(t.shape), torch_name,
                                                       tuple(state[torch_name].shape)))
        new_state[torch_name] = t
    if problems:
        sys.exit("transformer_seq2seq.py: %s does not fit the model:\n  %s"
                 % (args.weights, "\n  ".join(problems)))
    model.load_state_dict(new_state, strict=True)
    model.eval()
    return model, {"encoder_layers": enc, "decoder_layers": dec, "d_model": emb.shape[1],
                   "d_ff": ff.shape[0], "tensors": len(tensors),
                   "values": sum(t.numel() for t in tensors.values())}


def run_translate(args, blas):
    tok = Tokens(args.run, args.spm, args.vocab)
    model, shape = load_exported(args, len(tok.vocab))
    lines = read_lines(args.input)
    if args.sentences:
        lines = lines[:args.sentences]
    print("model from %s: %d tensors, %d values | d_model %d | heads %d | layers %d + %d | d_ff %d "
          "| vocab %d | %d sentences | batch %d (%s order) | torch %s | threads %d x %d | OpenBLAS "
          "core %s | flush denormals %s"
          % (args.weights, shape["tensors"], shape["values"], shape["d_model"], args.heads,
             shape["encoder_layers"], shape["decoder_layers"], shape["d_ff"], len(tok.vocab),
             len(lines), args.batch_size, args.order, torch.__version__,
             args.inter_threads, torch.get_num_threads(), blas["openblas_core"],
             "yes" if args.flush_denormal else "no"), flush=True)
    valid = None
    if args.valid:
        pairs = encode_split(tok, args.valid, args.src_lang, args.tgt_lang)
        nll, count = evaluate(model, pairs, tok.vocab, args.eval_batch_size)
        valid = {"split": args.valid, "nll": nll, "ppl": math.exp(nll), "tokens": count}
        print("| %s | %d pairs | %d target tokens | nll %.6f | ppl %.4f"
              % (args.valid, len(pairs), count, nll, valid["ppl"]), flush=True)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
    results = {}
    for beam in args.beams:
        translate_lines(model, tok, lines[:1], beam, args)  # warm-up, not timed
        t0 = time.perf_counter()
        out, tokens = translate_lines(model, tok, lines, beam, args)
        if args.out_dir:
            path = os.path.join(args.out_dir, "beam%d.txt" % beam)
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(l + "\n" for l in out))
        seconds = time.perf_counter() - t0
        results[str(beam)] = {"beam": beam, "sentences": len(lines), "tokens": tokens,
                              "seconds": seconds, "tokens_per_s": tokens / seconds,
                              "output": path if args.out_dir else None}
        print("| beam %d | %d sentences | %d output tokens | %.2f s | %.1f tokens/s"
              % (beam, len(lines), tokens, seconds, tokens / seconds), flush=True)
    return {"beams": results, "valid": valid, "torch": torch.__version__, "threads": args.threads,
            "inter_threads": args.inter_threads,
            "batch_size": args.batch_size, "order": args.order,
            "flush_denormal": args.flush_denormal, "openblas_core": blas["openblas_core"],
            "openblas_threads": blas["openblas_threads"], "model": shape,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--run", required=True,
                        help="loom run folder whose spm.model and vocab.txt give the token ids")
    common.add_argument("--spm", default=None, help="SentencePiece model (default: RUN/*.model)")
    common.add_argument("--vocab", default=None, help="loom vocabulary (default: RUN/vocab.txt)")
    common.add_argument("--heads", type=int, default=4)
    common.add_argument("--threads", type=int, default=1)
    common.add_argument("--flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True): subnormal floats become zero, as "
                             "loom always does")
    common.add_argument("--json", default=None, help="write the results here")

    t = sub.add_parser("train", parents=[common], help="train for N batches, then validate")
    t.add_argument("--data", required=True,
                   help="folder with train.{de,en} and val.{de,en} (Multi30k)")
    t.add_argument("--src-lang", default="de")
    t.add_argument("--tgt-lang", default="en")
    t.add_argument("--batches", type=int, default=300)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--eval-batch-size", type=int, default=100)
    t.add_argument("--max-length", type=int, default=80,
                   help="leave out training pairs with more pieces on a side")
    t.add_argument("--d-model", type=int, default=256)
    t.add_argument("--encoder-layers", type=int, default=3)
    t.add_argument("--decoder-layers", type=int, default=3)
    t.add_argument("--d-ff", type=int, default=512)
    t.add_argument("--dropout", type=float, default=0.1)
    t.add_argument("--label-smoothing", type=float, default=0.1)
    t.add_argument("--lr", type=float, default=7e-4)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--warmup-steps", type=int, default=800)
    t.add_argument("--total-steps", type=int, default=5448,
                   help="steps at which the linear decay reaches 0 (default: the pipeline's 12 "
                        "epochs of 454 batches, as bench/translate_multi30k_bench.yaml)")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--log-interval", type=int, default=50)

    d = sub.add_parser("translate", parents=[common],
                       help="translate a file with parameters exported by loom")
    d.add_argument("--weights", required=True, help="the .safetensors file of `loom export`")
    d.add_argument("--input", required=True, help="source sentences, one per line")
    d.add_argument("--sentences", type=int, default=0, help="only the first N lines (0: all)")
    d.add_argument("--beams", type=int, nargs="*", default=[1, 5],
                   help="beam sizes to translate with, one after the other (1: greedy; none: "
                        "only --valid)")
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--order", choices=["input", "length"], default="input",
                   help="batch sentences in input order, or sorted by source length within "
                        "windows of 16 batches (outputs stay in input order)")
    d.add_argument("--inter-threads", type=int, default=1,
                   help="batches searched at the same time, each on threads / N intra-op threads "
                        "(1: one batch at a time on all threads)")
    d.add_argument("--length-norm", choices=["none", "average", "gnmt"], default="average")
    d.add_argument("--alpha", type=float, default=0.6)
    d.add_argument("--max-len-a", type=float, default=1.5)
    d.add_argument("--max-len-b", type=int, default=10)
    d.add_argument("--no-unk", dest="allow_unk", action="store_false",
                   help="never output the unknown token")
    d.add_argument("--out-dir", default=None,
                   help="write the translations here, as beamK.txt")
    d.add_argument("--valid", default=None, metavar="PREFIX",
                   help="also report the perplexity of PREFIX.<src-lang> -> PREFIX.<tgt-lang> "
                        "(e.g. ../shared/data/multi30k/val) with the loaded parameters")
    d.add_argument("--src-lang", default="de")
    d.add_argument("--tgt-lang", default="en")
    d.add_argument("--eval-batch-size", type=int, default=100)
    args = p.parse_args(argv)
    if args.mode == "translate" and any(b < 1 for b in args.beams):
        p.error("beams must be at least 1")
    if args.mode == "translate" and args.inter_threads < 1:
        p.error("--inter-threads must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    intra = max(1, args.threads // max(1, getattr(args, "inter_threads", 1)))
    torch.set_num_threads(intra)
    torch.manual_seed(getattr(args, "seed", 1))
    if args.flush_denormal:
        if not torch.set_flush_denormal(True):
            sys.exit("transformer_seq2seq.py: this CPU cannot flush denormals")
        # numpy notices the flushing when it first describes float32, and warns.
        warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
    blas = configure_openblas(intra)
    result = run_train(args, blas) if args.mode == "train" else run_translate(args, blas)
    result["mode"] = args.mode
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
