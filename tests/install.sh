#!/bin/sh
# tests/install.sh: install kiln's build and test dependencies on Debian 12
# (run as root). Does nothing when everything is already there.
# The test suite also builds kiln with ASan+UBSan (gcc's libasan/libubsan)
# and fuzzes it: clang and libclang-rt-14-dev (libFuzzer), llvm-14 (the
# llvm-symbolizer that puts file:line in the sanitizers' stacks), and
# python3-onnx/python3-numpy for the seeds and the structural mutator.
# The boards (tests/boards, targets/boards/): the cross compilers with
# newlib for the Cortex-M4, and qemu to run what they build.
# llvm-19-dev: the LLVM target (--target llvm), found through llvm-config-19.
# python3-torch: Debian's /usr/bin/python3 makes the MLPerf Tiny and bench
# models with it (models/bench/make_bench_models.py). The python3 on the PATH
# (which may be another than Debian's) needs onnx, numpy, onnxruntime (the
# references of the dynamic, control, qdq and tiny suites, and the int8
# quantizer) and Pillow (tests/images): installed from PyPI when missing.
set -e
need=""
for pkg in gcc pkg-config meson ninja-build protobuf-c-compiler libprotobuf-c-dev libonnx-dev python3 \
           clang libclang-rt-14-dev llvm-14 python3-onnx python3-numpy llvm-19-dev \
           gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-aarch64-linux-gnu \
           gcc-riscv64-linux-gnu qemu-user python3-torch python3-pip; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    echo "installing:$need" >&2
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
pips="onnx==1.23.2 numpy onnxruntime==1.32.0 pillow"
if ! python3 -c 'import onnx, numpy, onnxruntime, PIL' >/dev/null 2>&1; then
    echo "installing (pip, for $(command -v python3)): $pips" >&2
    # shellcheck disable=SC2086
    python3 -m pip install -q $pips >/dev/null 2>&1 ||
        python3 -m pip install -q --break-system-packages $pips >/dev/null 2>&1 ||
        echo "warning: pip could not install $pips: the suites that need them print SKIP" >&2
fi
