#!/bin/sh
# tests/gpu/smoke.sh KILN: the CUDA target on the machine the tests run on.
# Lines "PASS cuda/..." or "FAIL cuda/...: reason", or one "SKIP cuda: ..."
# line when there is no nvcc (a machine without the CUDA toolkit).
#   - kiln compile --target cuda builds models/mlp with nvcc;
#   - without a GPU the executable says so in one line and exits 1 (with a
#     GPU: kiln check --target cuda passes on the bundled models instead);
#   - with no nvcc to find, kiln compile --target cuda fails with one line
#     naming the CUDA toolkit, and --emit src still writes the folder.
kiln=${1:-build/kiln}
case $kiln in */*) ;; *) kiln=./$kiln ;; esac
cuda=${CUDA_HOME:-/usr/local/cuda}
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x "$cuda/bin/nvcc" ]; then
    echo "SKIP cuda: no nvcc (on PATH or in $cuda/bin): the CUDA target's tests need the CUDA toolkit"
    exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
pass() { echo "PASS cuda/$1"; }
fail() { echo "FAIL cuda/$1: $2"; status=1; }

m=models/mlp
if "$kiln" compile "$m/model.onnx" -o "$tmp/mlp" --target cuda 2>"$tmp/err" && [ -x "$tmp/mlp/model" ]; then
    pass compile
else
    fail compile "$(head -1 "$tmp/err")"
fi
if nvidia-smi -L 2>/dev/null | grep -q GPU; then
    for dir in models/*/; do
        dir=${dir%/}
        [ -d "$dir/test_data_set_0" ] || continue
        if "$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" --target cuda --rtol 1e-3 --atol 1e-4 \
               >/dev/null 2>"$tmp/err"; then
            pass "$dir"
        else
            fail "$dir" "$(head -1 "$tmp/err")"
        fi
    done
elif [ -x "$tmp/mlp/model" ]; then
    "$tmp/mlp/model" --in "$m/test_data_set_0/input_0.pb" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^model: no CUDA GPU" "$tmp/err"; then
        pass no-gpu-message
    else
        fail no-gpu-message "exit $rc, stderr: $(head -2 "$tmp/err" | tr '\n' '|')"
    fi
fi
if PATH=/usr/bin:/bin CUDA_HOME=/nonexistent "$kiln" compile "$m/model.onnx" -o "$tmp/nonvcc" --target cuda \
       2>"$tmp/err"; then
    fail no-nvcc "compiled without nvcc"
elif [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "needs nvcc (the CUDA toolkit)" "$tmp/err" && [ ! -e "$tmp/nonvcc/model" ]; then
    pass no-nvcc
else
    fail no-nvcc "$(head -2 "$tmp/err" | tr '\n' '|')"
fi
if PATH=/usr/bin:/bin CUDA_HOME=/nonexistent "$kiln" compile "$m/model.onnx" -o "$tmp/src" --target cuda --emit src \
       2>/dev/null && [ -f "$tmp/src/model.cu" ] && [ -f "$tmp/src/build.sh" ] && [ -f "$tmp/src/kiln_cuda.h" ]; then
    pass emit-src-without-nvcc
else
    fail emit-src-without-nvcc "no model.cu, build.sh and kiln_cuda.h"
fi
exit $status
