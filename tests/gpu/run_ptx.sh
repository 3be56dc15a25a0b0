#!/bin/sh
# tests/gpu/run_ptx.sh PACK OUT_DIR RESULTS: the PTX target on the GPU, step 4
# of tests/gpu/run.sh (which calls it from the repository root).
#
# PACK/ptx.tar.gz (tests/gpu/prepare.sh: node tests and bundled models
# compiled with --target ptx) is unpacked into a temporary folder, and
# tests/gpu/ptx.py run builds each folder with cc (build.sh), runs it on its
# inputs through the CUDA driver and compares the outputs as kiln check
# does; the bundled models are also timed (--bench). Its lines go to
# OUT_DIR/ptx.log; RESULTS gets key=value lines: ptx.tests (the count, by
# output type) and ptx.MODEL.gpu_ms / ptx.MODEL.run_ms (medians of 100 runs:
# the kernels by CUDA events, whole runs with copies).
set -u
[ $# -eq 3 ] || { echo "usage: sh tests/gpu/run_ptx.sh PACK OUT_DIR RESULTS" >&2; exit 2; }
pack=$1 out=$2 res=$3
if [ ! -f "$pack/ptx.tar.gz" ]; then
    echo "run_ptx.sh: no $pack/ptx.tar.gz (prepared with --no-ptx?): skipped" >&2
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar xzf "$pack/ptx.tar.gz" -C "$work"
python3 "$(dirname "$0")/ptx.py" run "$work/ptx" --bench --jobs "${JOBS:-8}" >"$out/ptx.log" 2>&1
summary=$(grep '^ptx-gpu:' "$out/ptx.log" | tail -1)
echo "run_ptx.sh: $summary"
echo "ptx.tests=${summary#ptx-gpu: }" >>"$res"
sed -n 's|^bench ptx-gpu/models/\([^:]*\): .*|\1|p' "$out/ptx.log" | sort -u | while read -r m; do
    g=$(grep "^bench ptx-gpu/models/$m: gpu_kernels" "$out/ptx.log" | sed -n 's/.*gpu_kernels median_ms=\([^ ]*\).*/\1/p')
    r=$(grep "^bench ptx-gpu/models/$m: median_ms" "$out/ptx.log" | sed -n 's/.*: median_ms=\([^ ]*\).*/\1/p')
    echo "ptx.$m.gpu_ms=$g" >>"$res"
    echo "ptx.$m.run_ms=$r" >>"$res"
done
exit 0
