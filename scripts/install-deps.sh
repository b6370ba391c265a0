#!/usr/bin/env bash
# Installs the Debian packages loom needs that are missing (run as root on Debian 12).
set -eu
# clang and its runtimes build the fuzzers and the sanitizer test build; chromium renders the
# HTML reports in their test; libre2-dev matches the patterns of the regex tokenizer; python3-torch
# (with numpy) runs the PyTorch equivalence test of exported models (tests/torch_equivalence.py);
# python3-nltk is the independent BLEU that tests/cli_bleu.py compares with; libsentencepiece-dev
# learns and applies the subword models of tokenizers/sentencepiece; python3-sentencepiece applies
# the same models in the PyTorch side of bench/seq2seq_bench.py; libopenmpi-dev and openmpi-bin
# run training over several processes (loom/dist.hpp) and its mpirun tests.
packages=(cmake g++ make libboost-dev libboost-program-options-dev libboost-test-dev libtbb-dev
          libopenblas-dev libyaml-cpp-dev python3 clang libclang-rt-14-dev chromium libre2-dev
          python3-torch python3-numpy python3-nltk libsentencepiece-dev python3-sentencepiece
          libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
