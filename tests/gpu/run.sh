#!/bin/sh
# tests/gpu/run.sh: kiln's CUDA target on a machine with an NVIDIA GPU, nvcc,
# cc and python3 (numpy, onnx, torch), where kiln is not built: it takes a
# folder made by tests/gpu/prepare.sh on a machine with kiln.
#
#   sh tests/gpu/run.sh PACK [--out DIR] [--jobs N] [--node-every K] [--iters N] [--no-doc] [--append]
#       (--append: DIR/results.txt keeps an earlier pack's numbers, and the
#       report shows both: the bench models travel in several packs)
#   sh tests/gpu/run.sh PACK --build-only [--jobs N] [--node-every K]
#       (no GPU needed: builds every folder with nvcc and cc, runs nothing)
#
#   1. node tests: each folder of PACK/node.tar.gz built by its build.sh
#      (nvcc -arch=sm_90, cc), run on its inputs, its outputs compared as
#      kiln check does (tests/gpu/compare.py): PASS/FAIL gpu-node/NAME lines
#      in DIR/node.log and a count; --node-every K runs every K-th only;
#   2. models (PACK/models/NAME): built, run, compared with PyTorch's CPU
#      outputs made beside the ONNX file and with PyTorch eager on the GPU
#      (tests/gpu/torch_ref.py), and timed: `model --bench N` (whole runs,
#      copies included, and the kernels alone by CUDA events) against
#      PyTorch eager (CUDA events);
#   3. MatMul fp32 N = 1024..8192 (PACK/matmul/N): kiln's kernels (CUDA
#      events) against cuBLAS (tests/gpu/sgemm_cublas.cu), and the 1024
#      result against numpy;
#   4. the PTX target (tests/gpu/run_ptx.sh, when there is one);
#   5. the numbers: DIR/results.txt (key=value), DIR/gpu.md, and docs/gpu.md's
#      results section rewritten (not with --no-doc).
# DIR (default out/gpu) also gets node.log, models.log, matmul.log. The
# script needs no network and installs nothing. Exit 0 when every step ran
# (failing tests are counted, not fatal); 1 when there is no GPU or no nvcc.
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
[ $# -ge 1 ] || { echo "usage: sh tests/gpu/run.sh PACK [--out DIR] [--jobs N] [--node-every K] [--iters N] [--no-doc]" >&2; exit 2; }
pack=$1
shift
case "$pack" in /*) ;; *) pack="$root/$pack" ;; esac
out=out/gpu jobs=$(nproc 2>/dev/null || echo 4) every=1 iters=50 doc=1 build_only=0 append=0
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --node-every) every=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --no-doc) doc=0; shift ;;
    --build-only) build_only=1; shift ;;
    --append) append=1; shift ;;
    *) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case "$out" in /*) ;; *) out="$root/$out" ;; esac
[ -d "$pack/runtime" ] || { echo "run.sh: $pack is not a folder made by tests/gpu/prepare.sh" >&2; exit 1; }
mkdir -p "$out"
res="$out/results.txt"
[ "$append" = 1 ] || : >"$res"
note() { echo "$1" >>"$res"; }

# ---------------------------------------------------------------- machine
if [ -z "${NVCC:-}" ]; then
    cuda=${CUDA_HOME:-/usr/local/cuda}
    if command -v nvcc >/dev/null 2>&1; then NVCC=nvcc
    elif [ -x "$cuda/bin/nvcc" ]; then NVCC="$cuda/bin/nvcc"
    else echo "run.sh: nvcc not found (on PATH, in \$CUDA_HOME/bin or /usr/local/cuda/bin)" >&2; exit 1
    fi
fi
export NVCC
if [ "$build_only" = 1 ]; then
    # every folder of the pack built, nothing run: what needs no GPU
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    t0=$(date +%s)
    mkdir -p "$work/all"
    [ ! -f "$pack/node.tar.gz" ] || tar xzf "$pack/node.tar.gz" -C "$work"
    { ls -d "$work"/node/* 2>/dev/null | awk -v k="$every" '(NR - 1) % k == 0'
      ls -d "$pack"/models/* "$pack"/matmul/* 2>/dev/null; } >"$work/dirs"
    export pack
    export work
    xargs -P "$jobs" -n 1 sh -c '
        d=$1
        case "$d" in "$pack"/*) t="$work/all/$(basename "$(dirname "$d")")-$(basename "$d")"
                                 mkdir -p "$t"; cp -r "$d/src" "$t/"; d=$t ;; esac
        cp "$pack"/runtime/* "$d/src/"
        if (cd "$d/src" && sh build.sh >build.log 2>&1) && [ -x "$d/src/model" ]; then
            echo "PASS gpu-build/$(basename "$d")"
        else
            echo "FAIL gpu-build/$(basename "$d"): $(grep -m1 -i error "$d/src/build.log")"
        fi' sh <"$work/dirs" | tee "$work/log"
    echo "build-only: $(grep -c ^PASS "$work/log") of $(wc -l <"$work/dirs") folders built with $NVCC and cc in $(($(date +%s) - t0)) s"
    ! grep -q ^FAIL "$work/log"
    exit $?
fi
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || { echo "run.sh: no NVIDIA GPU (nvidia-smi lists none)" >&2; exit 1; }
note "device=$gpu"
note "driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
note "nvcc=$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1)"
note "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
note "kiln=$(head -1 "$pack/manifest.txt" | sed 's/^kiln //')"
echo "run.sh: $gpu; pack $(head -1 "$pack/manifest.txt")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The folder DIR/src built: the runtime put back, build.sh run. 0 if built.
build_one() {
    cp "$pack"/runtime/* "$1/src/" && (cd "$1/src" && sh build.sh >build.log 2>&1)
}

# --------------------------------------------------------- 1. node tests
if [ -f "$pack/node.tar.gz" ]; then
    t0=$(date +%s)
    tar xzf "$pack/node.tar.gz" -C "$work"
    ls "$work/node" | awk -v k="$every" '(NR - 1) % k == 0' >"$work/names"
    export pack work
    # build and run each test, $jobs at once; DIR/status says how far it got
    xargs -P "$jobs" -n 1 sh -c '
        d="$work/node/$1"
        cp "$pack"/runtime/* "$d/src/"
        if ! (cd "$d/src" && timeout 600 sh build.sh >build.log 2>&1); then
            echo "build failed: $(grep -m1 -i error "$d/src/build.log")" >"$d/status"; exit 0
        fi
        set -- ; i=0
        while [ -f "$d/input_$i.pb" ]; do set -- "$@" --in "$d/input_$i.pb"; i=$((i + 1)); done
        mkdir -p "$d/got"
        timeout 120 "$d/src/model" "$@" --out "$d/got" --quiet >"$d/run.log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
            echo ok >"$d/status"
        elif [ $rc -eq 124 ]; then
            echo "run timed out after 120 s" >"$d/status"
        else
            echo "run failed (exit $rc): $(head -1 "$d/run.log")" >"$d/status"
        fi' sh <"$work/names"
    python3 tests/gpu/compare.py node "$work/node" "$work/names" >"$out/node.log"
    summary=$(tail -1 "$out/node.log")
    note "node=${summary#node: } (every $every of the pack's tests; $(($(date +%s) - t0)) s)"
    echo "run.sh: $summary"
fi

# -------------------------------------------------------------- 2. models
[ "$append" = 1 ] || : >"$out/models.log"
mlist=""
for m in $(ls "$pack/models" 2>/dev/null); do
    d="$work/models/$m"
    gpuerr=""
    mkdir -p "$d/got" "$d/torch"
    cp -r "$pack/models/$m/." "$d/"
    mlist="$mlist $m"
    if ! build_one "$d"; then
        echo "$m: build failed: $(grep -m1 -i error "$d/src/build.log")" | tee -a "$out/models.log"
        continue
    fi
    set --
    i=0
    while [ -f "$d/input_$i.pb" ]; do set -- "$@" --in "$d/input_$i.pb"; i=$((i + 1)); done
    if ! timeout 300 "$d/src/model" "$@" --out "$d/got" --quiet >"$d/run.log" 2>&1; then
        echo "$m: run failed or timed out: $(head -1 "$d/run.log")" | tee -a "$out/models.log"
        continue
    fi
    cpu=$(python3 tests/gpu/compare.py outputs "$d" "$d/got")
    note "$m.err_cpu=$(echo "$cpu" | sed 's/max_abs=\([^ ]*\).*match=\(.*\)/\1 (within rtol 1e-3 atol 1e-4: \2)/')"
    timeout 300 "$d/src/model" "$@" --bench "$iters" --quiet >"$d/bench.log" 2>&1
    note "$m.run_ms=$(sed -n 's/^median_ms=\([^ ]*\).*/\1/p' "$d/bench.log")"
    note "$m.gpu_ms=$(sed -n 's/^gpu_kernels median_ms=\([^ ]*\).*/\1/p' "$d/bench.log")"
    if timeout 600 python3 tests/gpu/torch_ref.py "$m" "$d" "$d/torch" "$iters" >"$d/torch.log" 2>&1; then
        note "$m.torch_ms=$(sed -n 's/^torch_ms=//p' "$d/torch.log")"
        gpuerr=$(python3 tests/gpu/compare.py outputs "$d/torch" "$d/got")
        note "$m.err_gpu=$(echo "$gpuerr" | sed 's/max_abs=\([^ ]*\).*match=\(.*\)/\1 (within rtol 1e-3 atol 1e-4: \2)/')"
    else
        echo "$m: PyTorch on the GPU failed: $(tail -1 "$d/torch.log")" | tee -a "$out/models.log"
    fi
    echo "$m: vs PyTorch CPU $cpu; vs PyTorch GPU ${gpuerr:-none}; $(tail -2 "$d/bench.log" | tr '\n' ' ')" |
        tee -a "$out/models.log"
done
note "models=$mlist"

# -------------------------------------------------------------- 3. MatMul
[ "$append" = 1 ] || : >"$out/matmul.log"
sizes=""
if [ -d "$pack/matmul" ]; then
    "$NVCC" -O3 -arch=sm_90 -o "$work/sgemm_cublas" tests/gpu/sgemm_cublas.cu -lcublas >>"$out/matmul.log" 2>&1 ||
        echo "run.sh: the cuBLAS harness did not build (see matmul.log)" >&2
    for n in $(ls "$pack/matmul" | sort -n); do
        d="$work/matmul/$n"
        mkdir -p "$d/got"
        cp -r "$pack/matmul/$n/." "$d/"
        sizes="$sizes $n"
        if ! build_one "$d"; then
            echo "$n: build failed: $(grep -m1 -i error "$d/src/build.log")" | tee -a "$out/matmul.log"
            continue
        fi
        reps=$((n >= 4096 ? 5 : 20))
        timeout 300 "$d/src/model" --bench "$reps" --quiet >"$d/bench.log" 2>&1
        note "mm$n.kiln_ms=$(sed -n 's/^gpu_kernels median_ms=\([^ ]*\).*/\1/p' "$d/bench.log")"
        [ -x "$work/sgemm_cublas" ] && note "mm$n.cublas_ms=$("$work/sgemm_cublas" "$n" "$reps" | sed -n 's/.*median_ms=\([^ ]*\).*/\1/p')"
        if [ "$n" = 1024 ]; then
            python3 tests/gpu/compare.py matmul-inputs "$n" "$d"
            timeout 120 "$d/src/model" --in "$d/A.pb" --in "$d/B.pb" --out "$d/got" --quiet >"$d/run.log" 2>&1
            note "mm$n.check=$(python3 tests/gpu/compare.py matmul "$d")"
        fi
        echo "$n: $(tail -2 "$d/bench.log" | tr '\n' ' ')" | tee -a "$out/matmul.log"
    done
fi
note "matmul=$sizes"

# ------------------------------------------------------------ 4. PTX target
# The PTX target's checks (--target ptx) go here: tests/gpu/run_ptx.sh PACK
# OUT_DIR RESULTS, appending key=value lines to RESULTS.
if [ -f tests/gpu/run_ptx.sh ]; then
    sh tests/gpu/run_ptx.sh "$pack" "$out" "$res"
fi

# --------------------------------------------------------------- 5. report
cp docs/gpu.md "$out/gpu.md"
python3 tests/gpu/compare.py report "$res" "$out/gpu.md"
[ "$doc" = 0 ] || cp "$out/gpu.md" docs/gpu.md
cat "$res"
