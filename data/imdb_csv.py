#!/usr/bin/env python3
"""Makes IMDB's train.csv and test.csv (columns review,sentiment; RFC 4180 quoting) from the
aclImdb release: per split, for id = 0 .. n-1, the positive review <id>_*.txt, then the
negative one. Texts are kept as they are, <br /> tags included.

usage: imdb_csv.py ACLIMDB_DIR OUT_DIR
"""
import csv
import glob
import os
import sys


def reviews(folder):
    """{id: text} of the <id>_<rating>.txt files in folder."""
    out = {}
    for path in glob.glob(os.path.join(folder, "*_*.txt")):
        key = int(os.path.basename(path).split("_", 1)[0])
        with open(path, encoding="utf-8") as f:
            out[key] = f.read()
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    source, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for split in ("train", "test"):
        pos, neg = reviews(os.path.join(source, split, "pos")), reviews(os.path.join(source, split, "neg"))
        if not pos or sorted(pos) != sorted(neg):
            sys.exit(f"imdb_csv.py: {source}/{split}: the pos/ and neg/ folders do not hold the same ids")
        with open(os.path.join(out, f"{split}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            w.writerow(["review", "sentiment"])
            for key in sorted(pos):
                w.writerow([pos[key], "positive"])
                w.writerow([neg[key], "negative"])
        print(f"{out}/{split}.csv: {2 * len(pos)} reviews")


if __name__ == "__main__":
    main()
