"""Incremental decoding and loom's beam search, in PyTorch, for bench/reference/transformer_seq2seq.py.

IncrementalDecoder runs a trained Seq2Seq (transformer_seq2seq.py) one target position at a
time with cached self-attention keys and values and the encoder's keys and values projected
once, as fairseq's incremental decoding does. beam_search follows loom's core/src/infer/search.cpp
rule for rule (length normalisation, maximum length a * src_len + b, the greedy path kept beside
the beam, tie-breaking), so that both sides produce the same translations from the same weights.
"""

import concurrent.futures
import math

import numpy as np

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Incremental decoding
# ---------------------------------------------------------------------------

class IncrementalDecoder(object):
    """Step-by-step decoding with the weights of a Seq2Seq in eval mode.

    start(src [B, S], src_lengths [B]) encodes and returns the log-probabilities after bos
    [B, V]; step(ids [R]) feeds one token per row and returns [R, V]; reorder(rows [R'])
    keeps the state's rows `rows` (repeats allowed), in that order, before a step. Caches per
    decoder layer: self-attention keys and values [R, H, t, Dh] (one position longer per
    step) and the encoder's keys and values [R, H, S, Dh], projected once."""

    def __init__(self, model, bos):
        self.model = model
        self.bos = bos
        self.layers = list(model.transformer.decoder.layers)
        self.final_norm = model.transformer.decoder.norm
        self.D = model.d_model
        self.H = self.layers[0].self_attn.num_heads
        self.Dh = self.D // self.H
        self.scale = 1.0 / math.sqrt(self.Dh)

    def heads(self, x):  # [R, t, D] -> [R, H, t, Dh]
        return x.view(x.size(0), x.size(1), self.H, self.Dh).transpose(1, 2)

    def attend(self, q, k, v, key_pad):
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # [R, H, 1, Tk]
        if key_pad is not None:
            scores = scores.masked_fill(key_pad, float("-inf"))
        a = torch.matmul(torch.softmax(scores, dim=-1), v)  # [R, H, 1, Dh]
        return a.transpose(1, 2).reshape(a.size(0), 1, self.D)

    def start(self, src, src_lengths):
        src_pad = torch.arange(src.size(1))[None, :] >= src_lengths[:, None]
        memory = self.model.encode(src, src_pad)
        D = self.D
        self.memory_kv = []
        for layer in self.layers:
            w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            self.memory_kv.append((self.heads(F.linear(memory, w[D:2 * D], b[D:2 * D])),
                                   self.heads(F.linear(memory, w[2 * D:], b[2 * D:]))))
        self.key_pad = src_pad[:, None, None, :]
        self.self_kv = [None] * len(self.layers)
        self.position = 0
        bos = torch.full((src.size(0),), self.bos, dtype=torch.long)
        return self.step(bos)

    def step(self, ids):
        m, D = self.model, self.D
        x = (m.embedding(ids) * m.scale + m.position_rows(self.position, 1))[:, None, :]
        self.position += 1
        for l, layer in enumerate(self.layers):
            sa = layer.self_attn
            qkv = F.linear(layer.norm1(x), sa.in_proj_weight, sa.in_proj_bias)
            q, k, v = (self.heads(t) for t in qkv.split(D, dim=-1))
            if self.self_kv[l] is not None:
                k = torch.cat([self.self_kv[l][0], k], dim=2)
                v = torch.cat([self.self_kv[l][1], v], dim=2)
            self.self_kv[l] = (k, v)
            x = x + F.linear(self.attend(q, k, v, None), sa.out_proj.weight, sa.out_proj.bias)
            ca = layer.multihead_attn
            q = self.heads(F.linear(layer.norm2(x), ca.in_proj_weight[:D], ca.in_proj_bias[:D]))
            mk, mv = self.memory_kv[l]
            x = x + F.linear(self.attend(q, mk, mv, self.key_pad), ca.out_proj.weight,
                             ca.out_proj.bias)
            x = x + layer.linear2(F.relu(layer.linear1(layer.norm3(x))))
        h = self.final_norm(x[:, 0])
        return F.log_softmax(F.linear(h, m.embedding.weight, m.output_bias), dim=-1)

    def reorder(self, rows):
        self.self_kv = [(k.index_select(0, rows), v.index_select(0, rows))
                        for k, v in self.self_kv]
        self.memory_kv = [(k.index_select(0, rows), v.index_select(0, rows))
                          for k, v in self.memory_kv]
        self.key_pad = self.key_pad.index_select(0, rows)


# ---------------------------------------------------------------------------
# Search (loom's core/src/infer/search.cpp)
# ---------------------------------------------------------------------------

class Live(object):
    __slots__ = ("ids", "log_prob", "row")

    def __init__(self, ids, log_prob, row):
        self.ids, self.log_prob, self.row = ids, log_prob, row


class Sentence(object):
    def __init__(self, row, max_len, with_greedy):
        self.live = [Live([], 0.0, row)]
        self.finished = []  # (score, ids, log_prob), in the order found
        self.max_len = max_len
        self.done = False
        self.greedy = Live([], 0.0, row) if with_greedy else None
        self.greedy_done = not with_greedy
        self.greedy_result = None


def normalized_score(log_prob, tokens, norm, alpha):
    n = float(max(tokens, 1))
    if norm == "average":
        return log_prob / n
    if norm == "gnmt":
        return log_prob / ((5.0 + n) / 6.0) ** alpha
    return log_prob


def allowed_rows(lp, rows, must_end, eos, ban):
    """Rows `rows` of lp [R, V] float32, with what loom never picks at -inf: NaN, every token
    but eos in rows that must end, and the banned token (unk under --no-unk)."""
    sel = lp[rows]
    np.nan_to_num(sel, copy=False, nan=-np.inf, posinf=-np.inf)
    if must_end.any():
        keep = sel[must_end, eos].copy()
        sel[must_end] = -np.inf
        sel[must_end, eos] = keep
    if ban is not None:
        sel[:, ban] = -np.inf
    return sel


def best_per_row(sel, n):
    """The n best tokens of each row of sel [R, V] in loom's order (higher value, then lower
    token id): values float32 [R, n], tokens [R, n]. torch.topk finds them; rows where the
    n-th and the next value tie are redone exactly, since topk breaks ties its own way."""
    V = sel.shape[1]
    m = min(n + 1, V)
    v, ix = torch.topk(torch.from_numpy(sel), m, dim=1)
    v, ix = v.numpy(), ix.numpy()
    order = np.lexsort((ix, -v), axis=1)
    v, ix = np.take_along_axis(v, order, 1), np.take_along_axis(ix, order, 1)
    if m > n:
        for r in np.nonzero((v[:, n - 1] == v[:, n]) & np.isfinite(v[:, n - 1]))[0]:
            toks = np.nonzero(sel[r] >= v[r, n - 1])[0]
            toks = toks[np.lexsort((toks, -sel[r, toks]))][:n]
            ix[r, :n], v[r, :n] = toks, sel[r, toks]
    return v[:, :n], ix[:, :n]


def beam_search(dec, src, src_lengths, beam, eos, unk, opts):
    """Per sentence of the batch, its best finished hypothesis (ids without eos, log_prob) or
    None, searched as loom's beam_search with nbest 1."""
    k = beam
    ban = unk if (not opts.allow_unk and unk is not None and unk != eos) else None
    logp = dec.start(src, src_lengths)
    B = logp.size(0)
    sents = [Sentence(b, int(opts.max_len_a * int(src_lengths[b])) + opts.max_len_b, k > 1)
             for b in range(B)]
    while True:
        lp = logp.numpy()
        active = [s for s in sents if not s.done]
        if active:
            A = len(active)
            rows = np.zeros((A, k), dtype=np.int64)
            base = np.full((A, k), -np.inf)  # float64, as loom's sums
            must_end = np.zeros((A, k), dtype=bool)
            for a, s in enumerate(active):
                for j, l in enumerate(s.live):
                    rows[a, j], base[a, j] = l.row, l.log_prob
                    must_end[a, j] = len(l.ids) >= s.max_len
            sel = allowed_rows(lp, rows.reshape(-1), must_end.reshape(-1), eos, ban)
            # A beam gives at most 2k candidates to its sentence's best 2k.
            v, tok = best_per_row(sel, min(2 * k, sel.shape[1]))
            c = v.shape[1]
            value = (base.reshape(-1, 1) + v.astype(np.float64)).reshape(A, k * c)
            tok = tok.reshape(A, k * c)
            beam_of = np.repeat(np.arange(k), c)[None, :].repeat(A, 0)
            order = np.lexsort((tok, beam_of, -value), axis=1)[:, :2 * k]
            value = np.take_along_axis(value, order, 1)
            tok = np.take_along_axis(tok, order, 1)
            beam_of = np.take_along_axis(beam_of, order, 1)
            for a, s in enumerate(active):
                nxt = []
                for i in range(order.shape[1]):
                    val = value[a, i]
                    if not math.isfinite(val):
                        break  # the rest are -inf too: not candidates
                    src_beam = s.live[beam_of[a, i]]
                    t = int(tok[a, i])
                    if t == eos:
                        if i >= k:
                            continue
                        s.finished.append((normalized_score(val, len(src_beam.ids) + 1,
                                                            opts.length_norm, opts.alpha),
                                           src_beam.ids, float(val)))
                    elif len(nxt) < k:
                        nxt.append(Live(src_beam.ids + [t], float(val), src_beam.row))
                s.live = nxt
                if len(s.finished) >= k or not nxt:
                    s.done = True
                    s.live = []
        greedy = [s for s in sents if not s.greedy_done]
        if greedy:
            g_rows = np.array([s.greedy.row for s in greedy], dtype=np.int64)
            g_end = np.array([len(s.greedy.ids) >= s.max_len for s in greedy])
            sel = allowed_rows(lp, g_rows, g_end, eos, ban)
            best = sel.argmax(axis=1)  # the first maximum: the lowest id on ties
            for s, r, t in zip(greedy, range(len(greedy)), best):
                g = s.greedy
                lpv = sel[r, t]
                if not math.isfinite(lpv):
                    s.greedy_done = True
                    continue
                g.log_prob += float(lpv)
                if t == eos:
                    s.greedy_result = (normalized_score(g.log_prob, len(g.ids) + 1,
                                                        opts.length_norm, opts.alpha),
                                       g.ids, g.log_prob)
                    s.greedy_done = True
                else:
                    g.ids = g.ids + [int(t)]
        # The rows the live beams extend, in sentence order, then renumbered.
        rows, tokens = [], []
        for s in sents:
            for l in s.live:
                rows.append(l.row)
                tokens.append(l.ids[-1])
                l.row = len(rows) - 1
            if not s.greedy_done:
                rows.append(s.greedy.row)
                tokens.append(s.greedy.ids[-1])
                s.greedy.row = len(rows) - 1
        if not rows:
            break
        dec.reorder(torch.tensor(rows, dtype=torch.long))
        logp = dec.step(torch.tensor(tokens, dtype=torch.long))
    out = []
    for s in sents:
        f = list(s.finished)
        if s.greedy_result is not None and all(h[1] != s.greedy_result[1] for h in f):
            f.append(s.greedy_result)
        f.sort(key=lambda h: -h[0])  # stable: the earlier found first on equal scores
        out.append(f[0] if f else None)
    return out


def translate_lines(model, tok, lines, beam, opts):
    """Translations of `lines` and the output token count (tokens + eos per sentence)."""
    voc = tok.vocab
    dec = IncrementalDecoder(model, voc.bos)
    order = list(range(len(lines)))
    if opts.order == "length":
        # As loom's translate.cpp with length sorting: windows of 16 batches, each sorted by
        # the source's piece count.
        window = opts.batch_size * 16
        lengths = [len(tok.sp.EncodeAsPieces(l)) for l in lines]
        order = []
        for w in range(0, len(lines), window):
            order += sorted(range(w, min(w + window, len(lines))), key=lambda i: lengths[i])
    out = [None] * len(lines)
    inter = getattr(opts, "inter_threads", 1)

    def search(first):
        batch = order[first:first + opts.batch_size]
        ids = [tok.encode(lines[i]) + [voc.eos] for i in batch]
        S = max(len(x) for x in ids)
        src = torch.full((len(ids), S), voc.pad, dtype=torch.long)
        for b, x in enumerate(ids):
            src[b, :len(x)] = torch.tensor(x, dtype=torch.long)
        src_lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        # A decoder of its own: it keeps the batch's state.
        mine = dec if inter == 1 else IncrementalDecoder(model, voc.bos)
        with torch.no_grad():
            return batch, beam_search(mine, src, src_lengths, beam, voc.eos, voc.unk, opts)

    firsts = range(0, len(order), opts.batch_size)
    if inter > 1:
        # Several batches at once, one per Python thread (torch releases the GIL in its ops),
        # as loom translate searches one batch per thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=inter) as pool:
            found = list(pool.map(search, firsts))
    else:
        found = [search(first) for first in firsts]
    tokens = 0
    for batch, hypotheses in found:
        for i, h in zip(batch, hypotheses):
            out[i] = "" if h is None else tok.decode(h[1])
            tokens += 0 if h is None else len(h[1]) + 1
    return out, tokens
