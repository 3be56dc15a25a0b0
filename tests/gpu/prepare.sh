#!/bin/sh
# tests/gpu/prepare.sh: make, on a machine with kiln built (no GPU needed),
# the folder tests/gpu/run.sh takes to a machine with a GPU, where kiln is
# not built: `kiln check --target cuda --emit src` folders (the sources
# check would build, for each test's shapes and values) with their test
# data, and the CUDA runtime files once.
#
#   sh tests/gpu/prepare.sh [options] OUT
#     --kiln PATH        kiln to use (default build/kiln)
#     --models "LIST"    bench models to include (default "mobilenetv2 bert"),
#                        "" for none; made by models/bench/make_bench_models.py
#                        (/usr/bin/python3 with torch) into out/bench/models
#                        when missing. Weights travel in the folder:
#                        resnet18 47 MB, gpt 21 MB, bert 21 MB, mobilenetv2
#                        14 MB, so a 64 MiB transfer holds two at most: make
#                        a second folder (--no-node --no-matmul --models
#                        "resnet18") for the others
#     --no-node          leave out the ONNX node tests
#     --node-every K     only every K-th listed node test (default 1: all)
#     --no-matmul        leave out the MatMul models (1024..8192)
#     --no-ptx           leave out the PTX target's folders (ptx.tar.gz)
#     --max-mib M        fail if OUT is larger (default 58: with the
#                        repository, under the 64 MiB a transfer takes)
#
# OUT holds:
#   runtime/            kiln_cuda.h, kiln_f16.h, kiln_rt.[ch], kiln_main.c
#   node.tar.gz         node/NAME/src (model.cu, model.h, weights.*, build.sh)
#                       and node/NAME/input_N.pb, output_N.pb: the listed
#                       node tests (tests/onnx/expected_pass.txt: they pass
#                       on the C target) whose outputs numpy compares
#                       (float, bool and integer types), and the bundled
#                       models as node/model_NAME (with a file `tolerance`)
#   models/NAME/src, models/NAME/input_N.pb, output_N.pb (PyTorch's, on CPU)
#   matmul/N/src        C = A @ B, fp32 [N, N], for N = 1024 2048 4096 8192
#   ptx.tar.gz          ptx/: the same node tests (--node-every) and the bundled
#                       models with --target ptx, made by tests/gpu/ptx.py
#                       prepare (tests/gpu/run_ptx.sh runs them)
#   manifest.txt        what was made, by which kiln commit
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
kiln=build/kiln
models="mobilenetv2 bert"
node=1 matmul=1 every=1 maxmib=58 ptx=1
while [ $# -gt 1 ]; do
    case "$1" in
    --kiln) kiln=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --no-node) node=0; shift ;;
    --node-every) every=$2; shift 2 ;;
    --no-matmul) matmul=0; shift ;;
    --no-ptx) ptx=0; shift ;;
    --max-mib) maxmib=$2; shift 2 ;;
    *) echo "prepare.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: sh tests/gpu/prepare.sh [options] OUT (see the comment at its top)" >&2; exit 2; }
out=$1
case "$out" in /*) ;; *) out="$root/$out" ;; esac
case "$kiln" in /*) ;; *) kiln="$root/$kiln" ;; esac
[ -x "$kiln" ] || { echo "prepare.sh: $kiln not found: build kiln first (sh tests/build.sh)" >&2; exit 1; }
tests=${KILN_ONNX_TESTS:-$root/../shared/onnx-tests/node}
rm -rf "$out"
mkdir -p "$out/runtime"
for f in kiln_cuda.h kiln_f16.h kiln_rt.c kiln_rt.h kiln_main.c; do
    cp "runtime/$f" "$out/runtime/"
done
{
    echo "kiln $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo '+changes'), $(date -u +%Y-%m-%dT%H:%MZ)"
} >"$out/manifest.txt"
# the sources of one check: FOLDER/src without the runtime files (run.sh
# puts runtime/ back), the test data beside it
emit() { # MODEL DATA FOLDER
    e_dir=$3
    mkdir -p "$e_dir"
    if ! "$kiln" check "$1" "$2" --target cuda --emit src -o "$e_dir/src" >"$e_dir/kiln.log" 2>&1; then
        echo "prepare.sh: $(tail -1 "$e_dir/kiln.log")" >&2
        rm -rf "$e_dir"
        return 1
    fi
    rm -f "$e_dir/kiln.log"
    for f in "$e_dir"/src/kiln_*; do rm -f "$f"; done
    cp "$2"/*.pb "$e_dir/"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$node" = 1 ]; then
    [ -d "$tests" ] || { echo "prepare.sh: no node tests in $tests (set KILN_ONNX_TESTS)" >&2; exit 1; }
    python3 tests/gpu/pack.py node-list "$tests" tests/onnx/expected_pass.txt "$every" >"$tmp/names"
    n=0 bad=0
    # two at a time (kiln check --emit src takes ~0.5 s)
    export kiln tests tmp
    xargs -P 2 -I NAME sh -c '
        d="$tmp/node/NAME"
        mkdir -p "$d"
        if "$kiln" check "$tests/NAME/model.onnx" "$tests/NAME/test_data_set_0" --target cuda --emit src \
               -o "$d/src" >/dev/null 2>"$d.err"; then
            rm -f "$d.err" "$d"/src/kiln_*
            cp "$tests/NAME/test_data_set_0"/*.pb "$d/"
        else
            echo "prepare.sh: NAME: $(tail -1 "$d.err")" >&2
            rm -rf "$d"
        fi' <"$tmp/names"
    # the bundled models (models/NAME/test_data_set_0), compared as
    # tests/models/run.sh does (the file `tolerance`: rtol atol)
    for m in models/*/; do
        m=${m%/}
        [ -d "$m/test_data_set_0" ] || continue
        d="$tmp/node/model_$(basename "$m")"
        if "$kiln" check "$m/model.onnx" "$m/test_data_set_0" --target cuda --emit src -o "$d/src" >/dev/null 2>"$tmp/err"; then
            rm -f "$d"/src/kiln_*
            cp "$m/test_data_set_0"/*.pb "$d/"
            echo "1e-3 1e-4" >"$d/tolerance"
        else
            echo "prepare.sh: $m: $(tail -1 "$tmp/err")" >&2
            rm -rf "$d"
        fi
    done
    nm=$(ls "$tmp/node" | grep -c '^model_' || true)
    n=$(ls "$tmp/node" | grep -v '\.err$' | grep -vc '^model_' || true)
    bad=$(ls "$tmp/node" | grep -c '\.err$' || true)
    rm -f "$tmp"/node/*.err
    tar czf "$out/node.tar.gz" -C "$tmp" node
    echo "node: $n node tests (of $(wc -l <"$tmp/names") listed with plain output types, every $every; $bad failed to emit) and $nm bundled models" >>"$out/manifest.txt"
fi
if [ -n "$models" ]; then
    mdir="$root/out/bench/models"
    for m in $models; do
        if [ ! -f "$mdir/$m/model.onnx" ]; then
            /usr/bin/python3 models/bench/make_bench_models.py --out "$mdir" "$m" >&2
        fi
        emit "$mdir/$m/model.onnx" "$mdir/$m/test_data_set_0" "$out/models/$m"
        echo "model: $m" >>"$out/manifest.txt"
    done
fi
if [ "$matmul" = 1 ]; then
    for n in 1024 2048 4096 8192; do
        mkdir -p "$out/matmul/$n"
        python3 tests/gpu/pack.py matmul "$n" "$tmp/matmul$n.onnx"
        "$kiln" compile "$tmp/matmul$n.onnx" --target cuda --emit src -o "$out/matmul/$n/src" 2>"$tmp/log" ||
            { cat "$tmp/log" >&2; exit 1; }
        for f in "$out/matmul/$n"/src/kiln_*; do rm -f "$f"; done
    done
    echo "matmul: 1024 2048 4096 8192" >>"$out/manifest.txt"
fi
if [ "$ptx" = 1 ]; then
    # the PTX target: its own folders (cc builds them; the driver runs them)
    python3 tests/gpu/ptx.py prepare "$tmp/ptx" --kiln "$kiln" --every "$every" >"$tmp/ptx.log"
    tar czf "$out/ptx.tar.gz" -C "$tmp" ptx
    echo "ptx: $(tail -1 "$tmp/ptx.log" | sed "s|$tmp/||")" >>"$out/manifest.txt"
fi
kib=$(du -sk "$out" | cut -f1)
echo "size: $kib KiB" >>"$out/manifest.txt"
cat "$out/manifest.txt"
if [ "$kib" -gt $((maxmib * 1024)) ]; then
    echo "prepare.sh: $out is $kib KiB, over --max-mib $maxmib: leave something out" >&2
    exit 1
fi
