#!/usr/bin/env bash
# cmake/LoomBuildStamp.cmake on throwaway trees: the commit of a clean checkout, "dirty" once
# a tracked file changes (an untracked one does not count), "unknown" outside a checkout, and
# the generated file is rewritten only when what it says changes.
set -u
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
stamp() { cmake -DSRC="$1" -DOUT="$tmp/stamp.cpp" -P "$src/cmake/LoomBuildStamp.cmake" || fail "the script failed"; }

mkdir "$tmp/repo" && cd "$tmp/repo" || exit 1
git init -q . && git config user.email t@example.org && git config user.name t
echo one > tracked.txt && git add tracked.txt && git commit -q -m one
head=$(git rev-parse HEAD)
stamp "$tmp/repo"
grep -qF "build_commit() { return \"$head\"; }" "$tmp/stamp.cpp" || fail "commit: $(cat "$tmp/stamp.cpp")"
grep -qF "build_tree_dirty() { return false; }" "$tmp/stamp.cpp" || fail "clean tree: $(cat "$tmp/stamp.cpp")"
touch -d '2000-01-01' "$tmp/stamp.cpp"
stamp "$tmp/repo"
[ "$(stat -c %Y "$tmp/stamp.cpp")" -lt 1000000000 ] || fail "an unchanged stamp was rewritten"
echo new > untracked.txt
stamp "$tmp/repo"
grep -qF "return false;" "$tmp/stamp.cpp" || fail "an untracked file made the tree dirty"
echo two > tracked.txt
stamp "$tmp/repo"
grep -qF "build_tree_dirty() { return true; }" "$tmp/stamp.cpp" || fail "changed tree: $(cat "$tmp/stamp.cpp")"
mkdir "$tmp/plain"
stamp "$tmp/plain"
grep -qF 'build_commit() { return "unknown"; }' "$tmp/stamp.cpp" || fail "not a checkout: $(cat "$tmp/stamp.cpp")"
echo "build stamp: all passed"
