#!/bin/sh
# tests/llm/run.sh KILN: the decoder of models/llm compiled with its
# key/value caches updated in place (--alias) generates the same tokens as
# the hand-written forward pass (models/llm/hand.c), on 1 and 2 threads,
# with the caches passed as one buffer and as two. A small decoder (dim 64,
# 2 layers), some 30 s. Prints "PASS llm/..." or "FAIL llm/...: why".
kiln=${1:-build/kiln}
case $kiln in
    /*) ;;
    *) kiln=$(pwd)/$kiln ;;
esac
cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 models/llm/generate.py --test --kiln "$kiln" --out "$tmp"
