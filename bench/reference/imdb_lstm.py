#!/usr/bin/python3
"""PyTorch reference for bench/classifier_bench.py: an LSTM sentiment classifier on IMDB.

The model is the one of bench/classifier_imdb_bench.yaml: nn.Embedding -> nn.LSTM fed with
pack_padded_sequence (--input packed, so padded steps cost nothing) or with the padded batch
(--input padded, every step runs) -> the last real state -> nn.Linear;
cross-entropy, Adam with PyTorch's defaults. Texts are tokenised as loom's regex tokenizer
does by default (HTML tags dropped, lowercased, [a-z]+), truncated to --max-length, and
numericalised with a min_freq 5 vocabulary with <pad> 0 and <unk> 1. Batches are drawn in a
seeded shuffle, so they have IMDB's real length distribution.

Only the training loop is timed (forward, backward, clipping, optimizer step). Writes a JSON
object to --json: sequences_per_s, tokens_per_s, seconds, batches, final_loss.
"""
import argparse
import collections
import csv
import json
import re
import sys
import time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

TAG = re.compile(r"<[A-Za-z/!?][^>]*>")
WORD = re.compile(r"[a-z]+")


def tokenize(text):
    return WORD.findall(TAG.sub(" ", text).lower())


class Classifier(nn.Module):
    def __init__(self, vocab, emsize, nhid, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emsize, padding_idx=0)
        self.rnn = nn.LSTM(emsize, nhid)
        self.fc = nn.Linear(nhid, classes)

    def forward(self, ids, lengths, packed=True):
        x = self.embedding(ids)
        if packed:
            _, (h, _) = self.rnn(pack_padded_sequence(x, lengths, enforce_sorted=False))
            return self.fc(h[-1])
        # Padded: every step runs; the state after each sequence's last real step is picked.
        out, _ = self.rnn(x)
        return self.fc(out[lengths - 1, torch.arange(ids.shape[1])])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, help="IMDB train.csv (review, sentiment)")
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--emsize", type=int, default=100)
    p.add_argument("--nhid", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--input", choices=["packed", "padded"], default="packed",
                   help="packed: pack_padded_sequence; padded: run every step and pick the last real state")
    p.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    p.add_argument("--test", help="IMDB test.csv: report the trained model's accuracy on it (not timed)")
    p.add_argument("--json", required=True)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    if a.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("imdb_lstm.py: this CPU cannot flush denormals")

    def read(path):
        texts, labels = [], []
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                texts.append(tokenize(row["review"])[: a.max_length] or ["<unk>"])
                labels.append(row["sentiment"])
        return texts, labels

    texts, labels = read(a.train)
    counts = collections.Counter(t for text in texts for t in text)
    itos = ["<pad>", "<unk>"] + sorted((w for w, c in counts.items() if c >= 5), key=lambda w: (-counts[w], w))
    stoi = {w: i for i, w in enumerate(itos)}
    names = sorted(set(labels))
    data = [([stoi.get(t, 1) for t in text], names.index(y)) for text, y in zip(texts, labels)]

    model = Classifier(len(itos), a.emsize, a.nhid, len(names))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(data)).tolist()

    def batch(i):
        rows = [data[order[(i * a.batch_size + k) % len(order)]] for k in range(a.batch_size)]
        lengths = torch.tensor([len(r[0]) for r in rows])
        ids = torch.zeros(int(lengths.max()), len(rows), dtype=torch.long)
        for b, (seq, _) in enumerate(rows):
            ids[: len(seq), b] = torch.tensor(seq)
        return ids, lengths, torch.tensor([r[1] for r in rows])

    batches = [batch(i) for i in range(a.batches)]  # built before the clock starts
    model.train()
    tokens = 0
    start = time.perf_counter()
    for ids, lengths, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(ids, lengths, a.input == "packed"), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        tokens += int(lengths.sum())
    seconds = time.perf_counter() - start
    accuracy = None
    if a.test:
        model.eval()
        test_texts, test_labels = read(a.test)
        test = [([stoi.get(t, 1) for t in text], names.index(y)) for text, y in zip(test_texts, test_labels)]
        right = 0
        with torch.no_grad():
            for i in range(0, len(test), 256):
                rows = test[i:i + 256]
                lengths = torch.tensor([len(r[0]) for r in rows])
                ids = torch.zeros(int(lengths.max()), len(rows), dtype=torch.long)
                for b, (seq, _) in enumerate(rows):
                    ids[: len(seq), b] = torch.tensor(seq)
                predicted = model(ids, lengths, a.input == "packed").argmax(1)
                right += int((predicted == torch.tensor([r[1] for r in rows])).sum())
        accuracy = right / len(test)
    out = {"test_accuracy": accuracy, "sequences_per_s": a.batches * a.batch_size / seconds, "tokens_per_s": tokens / seconds,
           "seconds": seconds, "batches": a.batches, "final_loss": float(loss), "vocab": len(itos),
           "torch": torch.__version__, "threads": a.threads, "input": a.input}
    with open(a.json, "w") as f:
        json.dump(out, f)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
