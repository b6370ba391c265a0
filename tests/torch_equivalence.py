#!/usr/bin/env python3
"""loom's language models against the PyTorch modules they mirror, token by token.

For each of rnn_lm (lstm), rnn_lm (gru), transformer_lm style wlm and transformer_lm style
gpt: a tiny pipeline is trained briefly on a small generated Markov corpus (dropout on in
training), `loom export` writes its parameters as safetensors under the PyTorch names,
`loom score --tokens` gives the log-probability of every token of a held-out text, and the
PyTorch module (word_language_model's RNNModel and TransformerModel, minGPT's GPT, written
out below) loaded from the safetensors file must give the same log-probabilities: at most
1e-4 apart for every token. The PyTorch side runs in float64 on the float32 parameters (the
reference is the exact function of loom's weights).

Also checked: the safetensors file itself (header, F32, offsets covering the data without
holes, string metadata naming the mirrored module), that its tensor names are exactly the
module's parameters, and that the per-token table chains its contexts, maps the text's
tokens to the vocabulary's ids, and adds up to the per-line `loom score` table.

usage: torch_equivalence.py LOOM SOURCE_DIR
       torch_equivalence.py --self-test   (the parser and modules alone, without loom)

Needs PyTorch and numpy: Debian's python3-torch, under /usr/bin/python3 (the script re-runs
itself there when the current interpreter has no torch).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loomtest  # noqa: E402

loomtest.ensure_modules(["numpy", "torch"], "python3-torch")

import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TOLERANCE = 1e-4  # largest |log p loom - log p torch| per token
SCORE_HEADER = ["line", "position", "context_id", "id", "token", "log_prob"]


class Failure(Exception):
    """A check that failed: the model's comparison stops there."""


def require(cond, what):
    if not cond:
        raise Failure(what)


# ---- The PyTorch modules ---------------------------------------------------------------------
# pytorch/examples word_language_model/model.py, as published (the forward passes take the
# mask's dtype from the input so that the module also runs in float64).


class RNNModel(nn.Module):
    """word_language_model's RNNModel: encoder, dropout, a recurrent net, dropout, decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


class PositionalEncoding(nn.Module):
    """word_language_model's sinusoidal positions (computed in float32), then dropout."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Transformer):
    """word_language_model's TransformerModel: nn.Transformer whose decoder stack is replaced
    by a Linear to the vocabulary; sequence-first input [T, B]."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

    def _generate_square_subsequent_mask(self, sz, dtype=torch.float32):
        return torch.log(torch.tril(torch.ones(sz, sz, dtype=dtype)))

    def forward(self, src, has_mask=True):
        self.src_mask = self._generate_square_subsequent_mask(len(src), self.input_emb.weight.dtype) if has_mask else None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


# karpathy/minGPT mingpt/model.py: the same modules and names (configuration as arguments).


class NewGELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, attn_pdrop, resid_pdrop):
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(attn_pdrop)
        self.resid_dropout = nn.Dropout(resid_pdrop)
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))
        self.n_head = n_head
        self.n_embd = n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        return y


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, attn_pdrop, resid_pdrop):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, attn_pdrop, resid_pdrop)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.ModuleDict(dict(
            c_fc=nn.Linear(n_embd, 4 * n_embd),
            c_proj=nn.Linear(4 * n_embd, n_embd),
            act=NewGELU(),
            dropout=nn.Dropout(resid_pdrop),
        ))
        m = self.mlp
        self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlpf(self.ln_2(x))
        return x


class GPT(nn.Module):
    """minGPT's GPT: batch-first input [B, T]; logits [B, T, V] (and the loss given targets)."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(embd_pdrop),
            h=nn.ModuleList([Block(n_embd, n_head, block_size, attn_pdrop, resid_pdrop) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.block_size, f"Cannot forward sequence of length {t}, block size is only {self.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device).unsqueeze(0)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


# ---- The parameter names each module must have -----------------------------------------------


def rnn_names(nlayers):
    names = ["encoder.weight", "decoder.weight", "decoder.bias"]
    for k in range(nlayers):
        names += [f"rnn.weight_ih_l{k}", f"rnn.weight_hh_l{k}", f"rnn.bias_ih_l{k}", f"rnn.bias_hh_l{k}"]
    return names


def wlm_names(nlayers):
    names = ["input_emb.weight", "encoder.norm.weight", "encoder.norm.bias", "decoder.weight", "decoder.bias"]
    for i in range(nlayers):
        p = f"encoder.layers.{i}."
        names += [p + "self_attn.in_proj_weight", p + "self_attn.in_proj_bias", p + "self_attn.out_proj.weight",
                  p + "self_attn.out_proj.bias"]
        names += [p + f"{m}.{w}" for m in ("linear1", "linear2", "norm1", "norm2") for w in ("weight", "bias")]
    return names


def gpt_names(nlayers):
    names = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "transformer.ln_f.bias",
             "lm_head.weight"]
    for i in range(nlayers):
        p = f"transformer.h.{i}."
        names += [p + f"{m}.{w}" for m in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")
                  for w in ("weight", "bias")]
    return names


# ---- safetensors -----------------------------------------------------------------------------


def read_safetensors(path):
    """Tensors (name -> float32 numpy array) and metadata of a safetensors file of F32 tensors,
    checked as the format requires: an 8-byte little-endian header length, a JSON header, and
    data offsets that cover the data exactly, without holes or overlaps."""
    with open(path, "rb") as f:
        data = f.read()
    require(len(data) >= 8, f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    require(8 + n <= len(data), f"{path}: header length {n} runs past the end of the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure(f"{path}: the header is not JSON: {e}")
    require(isinstance(header, dict), f"{path}: the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    require(isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()),
            f"{path}: __metadata__ must map strings to strings: {metadata!r}")
    base, size = 8 + n, len(data) - 8 - n
    tensors, spans = {}, []
    for name, info in header.items():
        require(isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"},
                f"{path}: {name}: entry {info!r} is not {{dtype, shape, data_offsets}}")
        require(info["dtype"] == "F32", f"{path}: {name}: dtype {info['dtype']}, expected F32")
        shape, offsets = info["shape"], info["data_offsets"]
        require(isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape),
                f"{path}: {name}: bad shape {shape!r}")
        require(isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets),
                f"{path}: {name}: bad data_offsets {offsets!r}")
        begin, end = offsets
        count = int(np.prod(shape, dtype=np.int64))
        require(0 <= begin <= end <= size and end - begin == 4 * count,
                f"{path}: {name}: data_offsets {offsets} for shape {shape} (4 bytes each) in {size} bytes of data")
        tensors[name] = np.frombuffer(data, dtype="<f4", count=count, offset=base + begin).reshape(shape)
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        require(begin == at, f"{path}: {name} starts at {begin}, expected {at} (a hole or an overlap in the data)")
        at = end
    require(at == size, f"{path}: the tensors end at byte {at} of {size} bytes of data")
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes name -> float32 array as safetensors (for the self-test)."""
    header, chunks, at = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def load_into(module, tensors, expected_names):
    """Loads the tensors into the module: the file's names must be exactly the spec's list and
    the module's parameters; only buffers may be left out. Returns the module in float64."""
    names, params = set(tensors), {n for n, _ in module.named_parameters()}
    buffers = {n for n, _ in module.named_buffers()}
    require(params == set(expected_names),
            f"the PyTorch module's parameters differ from the name list: {sorted(params ^ set(expected_names))}")
    require(names == params, f"tensor names: missing {sorted(params - names)}, unexpected {sorted(names - params)}")
    state = {}
    for name, a in tensors.items():
        want = tuple(module.state_dict()[name].shape)
        require(tuple(a.shape) == want, f"{name}: shape {list(a.shape)}, PyTorch's is {list(want)}")
        require(np.isfinite(a).all(), f"{name}: not finite")
        state[name] = torch.from_numpy(np.array(a, dtype=np.float32))
    result = module.load_state_dict(state, strict=False)
    require(not result.unexpected_keys, f"unexpected keys {result.unexpected_keys}")
    require(set(result.missing_keys) <= buffers, f"missing parameters {sorted(set(result.missing_keys) - buffers)}")
    return module.double().eval()


# ---- Log-probabilities in PyTorch ------------------------------------------------------------


def torch_log_probs(kind, module, inputs, targets):
    """log p(targets[t] | inputs[:t + 1]) for one stream (batch 1), as float64 numpy."""
    with torch.no_grad():
        x = torch.tensor(inputs, dtype=torch.long)
        if kind == "rnn":
            lp, _ = module(x.view(-1, 1), module.init_hidden(1))  # [T, V]
        elif kind == "wlm":
            lp = module(x.view(-1, 1)).view(len(inputs), -1)
        else:
            logits, _ = module(x.view(1, -1))
            lp = F.log_softmax(logits, dim=-1).view(len(inputs), -1)
        return lp[torch.arange(len(targets)), torch.tensor(targets, dtype=torch.long)].numpy()


def build_module(model, vocab_size):
    """The PyTorch module of a model below (sizes from its pipeline parameters) and the
    parameter names it must have."""
    p = model["params"]
    if model["kind"] == "rnn":
        m = RNNModel(p["cell"].upper(), vocab_size, p["emsize"], p["nhid"], p["nlayers"], p["dropout"],
                     p.get("tie_weights", False))
        return m, rnn_names(p["nlayers"])
    if model["kind"] == "wlm":
        d_ff = p.get("d_ff") or p["d_model"]
        m = TransformerModel(vocab_size, p["d_model"], p["heads"], d_ff, p["layers"], p["dropout"])
        return m, wlm_names(p["layers"])
    require(p.get("d_ff", 0) in (0, 4 * p["d_model"]), "minGPT's MLP is 4 d_model wide")
    m = GPT(vocab_size, p["block_size"], p["layers"], p["heads"], p["d_model"], p["dropout"], p["layer_dropout"],
            p["layer_dropout"])
    return m, gpt_names(p["layers"])


# ---- The models compared ---------------------------------------------------------------------

MODELS = [
    {"name": "rnn_lm lstm", "kind": "rnn", "mirrors": "word_language_model.RNNModel", "tokens": 400,
     "params": {"plugin": "rnn_lm", "cell": "lstm", "emsize": 16, "nhid": 24, "nlayers": 2, "dropout": 0.2}},
    {"name": "rnn_lm gru", "kind": "rnn", "mirrors": "word_language_model.RNNModel", "tokens": 400,
     "params": {"plugin": "rnn_lm", "cell": "gru", "emsize": 20, "nhid": 16, "nlayers": 2, "dropout": 0.2}},
    {"name": "transformer_lm wlm", "kind": "wlm", "mirrors": "word_language_model.TransformerModel", "tokens": 400,
     "params": {"plugin": "transformer_lm", "style": "wlm", "d_model": 16, "heads": 2, "layers": 2, "d_ff": 24,
                "dropout": 0.2, "layer_dropout": 0.1}},
    {"name": "transformer_lm gpt", "kind": "gpt", "mirrors": "minGPT.GPT", "tokens": 200,
     "params": {"plugin": "transformer_lm", "style": "gpt", "d_model": 16, "heads": 2, "layers": 2, "d_ff": 0,
                "dropout": 0.1, "layer_dropout": 0.1, "block_size": 256}},
]


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def pipeline_text(model, markov_dir):
    params = ", ".join(f"{k}: {yaml_value(v)}" for k, v in model["params"].items())
    return f"""name: torch_equivalence
seed: 5
components:
  tokenizer: {{ plugin: word, eos: "<eos>" }}
  vocab:     {{ plugin: frequency, unk: "<unk>" }}
  data:      {{ plugin: markov, dir: {markov_dir}, seed: 3, vocab_size: 60, branching: 4, train_tokens: 8000,
               valid_tokens: 1000, test_tokens: 2000, batch_size: 8, eval_batch_size: 4, bptt: 16 }}
  model:     {{ {params} }}
  optimizer: {{ plugin: adam, lr: 0.01, clip: 1.0 }}
  ppl:       {{ plugin: perplexity }}
stages:
  - build_vocab: {{ split: train }}
  - train: {{ epochs: 1, max_batches_per_epoch: 20 }}
"""


def run_loom(loom, *args):
    r = subprocess.run([loom, "--threads", "2", *args], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise Failure(f"loom {' '.join(args)} exited {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def held_out_text(test_file, budget, path):
    """The first lines of the corpus's test text, with their <eos>, up to `budget` tokens, and
    a last line with a word outside the vocabulary; returns the lines' tokens."""
    lines, count = [], 0
    for line in open(test_file).read().splitlines():
        words = line.split()
        if count + len(words) + 1 > budget - 4:
            break
        lines.append(words)
        count += len(words) + 1
    lines.append([lines[0][0], "qqqq", lines[0][-1]])
    with open(path, "w") as f:
        f.write("".join(" ".join(w) + "\n" for w in lines))
    return lines


def read_vocab(path):
    rows = open(path).read().splitlines()
    require(rows and rows[0].startswith("#loom-vocab"), f"{path}: not a loom vocabulary")
    return {row.split("\t")[0]: i for i, row in enumerate(rows[1:])}


def parse_token_table(stdout):
    rows = [r.split("\t") for r in stdout.splitlines()]
    require(rows and rows[0] == SCORE_HEADER, f"score --tokens header {rows[0] if rows else None}, expected {SCORE_HEADER}")
    body = rows[1:]
    if body and body[-1][0] == "total":  # tolerated, though the spec lists token rows only
        body = body[:-1]
    out = []
    for r in body:
        require(len(r) == 6, f"score --tokens row {r}: not 6 fields")
        try:
            out.append({"line": int(r[0]), "position": int(r[1]), "context_id": int(r[2]), "id": int(r[3]),
                        "token": r[4], "log_prob": float(r[5])})
        except ValueError:
            raise Failure(f"score --tokens row {r}: line, position, context_id, id must be integers, log_prob a number")
    return out


def check_table(rows, lines, vocab):
    """The token table against the text: one row per token and <eos>, the vocabulary's ids,
    contexts chained from the start token."""
    eos, unk = vocab["<eos>"], vocab["<unk>"]
    expected = [(n + 1, w) for n, words in enumerate(lines) for w in words + ["<eos>"]]
    require(len(rows) == len(expected), f"{len(rows)} token rows for {len(expected)} tokens (words and <eos>) of the text")
    for r, (line, word) in zip(rows, expected):
        want = vocab.get(word, unk)
        require(r["line"] == line and r["id"] == want and r["token"] in (word, "<unk>" if want == unk else word),
                f"row {r}: expected line {line}, token {word!r}, id {want}")
    require(rows[0]["context_id"] == eos, f"the first row's context_id is {rows[0]['context_id']}, not <eos> ({eos})")
    for a, b in zip(rows, rows[1:]):
        require(b["context_id"] == a["id"], f"row {b}: context_id is not the previous row's id {a['id']}")
    # Positions count from 0 or 1, in the line or in the whole text.
    positions = [r["position"] for r in rows]
    in_line = [k for words in lines for k in range(len(words) + 1)]
    require(any(positions == [p + base for p in counting] for base in (0, 1) for counting in (in_line, range(len(rows)))),
            f"positions {positions[:12]}... count neither the tokens of each line nor of the text, from 0 or 1")


def compare(loom, model, work, markov_dir):
    name = model["name"].replace(" ", "_")
    pipeline = os.path.join(work, f"{name}.yaml")
    with open(pipeline, "w") as f:
        f.write(pipeline_text(model, markov_dir))
    run = os.path.join(work, f"{name}.run")
    run_loom(loom, "run", pipeline, "--out", run, "--quiet")
    # Export the checkpoint that score reads: best.ckpt if the run has one, else last.ckpt.
    which = "best" if os.path.exists(os.path.join(run, "checkpoints", "best.ckpt")) else "last"
    exported = os.path.join(work, f"{name}.safetensors")
    run_loom(loom, "export", "--run", run, "--checkpoint", which, "--out", exported)
    tensors, metadata = read_safetensors(exported)
    require(metadata.get("mirrors") == model["mirrors"],
            f"__metadata__ mirrors is {metadata.get('mirrors')!r}, expected {model['mirrors']!r}")

    vocab = read_vocab(os.path.join(run, "vocab.txt"))
    text = os.path.join(work, f"{name}.txt")
    lines = held_out_text(os.path.join(markov_dir, "test.txt"), model["tokens"], text)
    rows = parse_token_table(run_loom(loom, "score", "--run", run, "--tokens", text).stdout)
    check_table(rows, lines, vocab)
    # The per-token rows add up to the per-line scores.
    per_line = [r.split("\t") for r in run_loom(loom, "score", "--run", run, text).stdout.splitlines()[1:-1]]
    require(len(per_line) == len(lines), f"score gave {len(per_line)} line rows for {len(lines)} lines")
    for fields in per_line:
        total = sum(r["log_prob"] for r in rows if r["line"] == int(fields[0]))
        require(abs(total - float(fields[3])) < 2e-3, f"line {fields[0]}: token rows add up to {total:.4f}, score says {fields[3]}")

    module, names = build_module(model, len(vocab))
    module = load_into(module, tensors, names)
    inputs = [rows[0]["context_id"]] + [r["id"] for r in rows[:-1]]
    targets = [r["id"] for r in rows]
    if model["kind"] == "gpt":
        require(len(inputs) <= model["params"]["block_size"], "the held-out text is longer than block_size")
    ref = torch_log_probs(model["kind"], module, inputs, targets)
    got = np.array([r["log_prob"] for r in rows])
    diff = np.abs(got - ref)
    worst = int(np.argmax(diff))
    print(f"{model['name']}: max |loom - torch| {diff.max():.2e} over {len(rows)} tokens "
          f"(mean log-prob {ref.mean():.4f}; checkpoint {which}, {len(tensors)} tensors)")
    require(diff.max() <= TOLERANCE,
            f"token {worst} (row {rows[worst]}): loom {got[worst]:.6f}, torch {ref[worst]:.6f}; "
            f"{int((diff > TOLERANCE).sum())} of {len(rows)} tokens differ by more than {TOLERANCE}")


# ---- Self-test: the parser and the modules without loom ---------------------------------------


def self_test():
    """Round trip through the safetensors reader, the name lists against the modules, and the
    float64 reference against the modules' own float32 forward on random weights."""
    torch.manual_seed(0)
    work = tempfile.mkdtemp(prefix="loom-torch-eq-self-")
    failures = 0
    try:
        V = 23
        for model in MODELS:
            module, names = build_module(model, V)
            buffers = {n for n, _ in module.named_buffers()}
            keys = set(module.state_dict())
            ok = keys - buffers == set(names) and {n for n, _ in module.named_parameters()} == set(names)
            with torch.no_grad():
                for p in module.parameters():
                    p.uniform_(-0.3, 0.3)
            tensors = {n: t.detach().numpy().copy() for n, t in module.state_dict().items() if n not in buffers}
            path = os.path.join(work, "m.safetensors")
            write_safetensors(path, tensors, {"mirrors": model["mirrors"], "format": "pt"})
            back, meta = read_safetensors(path)
            ok = ok and meta["mirrors"] == model["mirrors"] and all(np.array_equal(back[n], tensors[n]) for n in tensors)
            fresh, _ = build_module(model, V)
            fresh = load_into(fresh, back, names)
            gen = np.random.RandomState(1)
            inputs = list(gen.randint(0, V, size=50))
            targets = inputs[1:] + [0]
            ref = torch_log_probs(model["kind"], fresh, inputs, targets)
            f32 = torch_log_probs(model["kind"], module.float().eval(), inputs, targets)
            diff = float(np.abs(ref - f32).max())
            ok = ok and diff < 1e-5
            print(f"self-test {model['name']}: {len(names)} parameters as the name list ({sorted(buffers)} buffers), "
                  f"safetensors round trip, float64 vs float32 forward {diff:.1e}: {'ok' if ok else 'FAIL'}")
            failures += not ok
        # Malformed files are refused.
        good = open(path, "rb").read()
        (n,) = struct.unpack("<Q", good[:8])
        for what, data in [("truncated data", good[:-4]), ("header length past the end", struct.pack("<Q", 10**9) + good[8:]),
                           ("extra data", good + b"\0\0\0\0")]:
            with open(path, "wb") as f:
                f.write(data)
            try:
                read_safetensors(path)
                print(f"self-test: {what} accepted: FAIL")
                failures += 1
            except Failure as e:
                print(f"self-test: {what} refused ({str(e).split(': ', 1)[1]})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return failures


def main():
    torch.set_num_threads(2)
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(1 if self_test() else 0)
    if len(sys.argv) != 3:
        print("usage: torch_equivalence.py LOOM SOURCE_DIR | --self-test")
        sys.exit(2)
    loom = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="loom-torch-eq-")
    failures = []
    try:
        markov_dir = os.path.join(work, "markov")
        for model in MODELS:
            try:
                compare(loom, model, work, markov_dir)
            except Failure as e:
                failures.append(model["name"])
                print(f"FAIL: {model['name']}: {e}")
            except subprocess.TimeoutExpired as e:
                failures.append(model["name"])
                print(f"FAIL: {model['name']}: loom took over {e.timeout} s: {' '.join(e.cmd)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s): {', '.join(failures)}")
        sys.exit(1)
    print("torch equivalence: all passed")


if __name__ == "__main__":
    main()
