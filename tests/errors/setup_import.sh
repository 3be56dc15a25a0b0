#!/bin/sh
# tests/errors/setup_import.sh CASE TMP [KILN]: lays out in TMP a case of
# cases_import.txt that git cannot hold (a symbolic link, a FIFO), from the
# files make_import.py wrote to tests/errors/cases/import/. Run from the
# repository root (run.sh does). The model is TMP/m/model.onnx.
#   file-ok       w.bin a regular file (the control: it must compile)
#   file-link     w.bin a symlink to ../secret.bin, outside the folder
#   file-abslink  w.bin a symlink to an absolute path outside the folder
#   dir-link      data/ a symlink to ../outside/, which holds w.bin
#   fifo          w.bin a FIFO (reading it would block forever)
#   out-link      TMP/out/model built by KILN from add.onnx, and TMP/o/output_0.pb
#                 a symlink to TMP/victim (which must never be created)
set -e
src=tests/errors/cases/import
tmp=$2
mkdir -p "$tmp/m"
case $1 in
    file-ok)
        cp "$src/ext_file.onnx" "$tmp/m/model.onnx"
        cp "$src/w.bin" "$tmp/m/w.bin" ;;
    file-link)
        cp "$src/ext_file.onnx" "$tmp/m/model.onnx"
        cp "$src/w.bin" "$tmp/secret.bin"
        ln -s ../secret.bin "$tmp/m/w.bin" ;;
    file-abslink)
        cp "$src/ext_file.onnx" "$tmp/m/model.onnx"
        cp "$src/w.bin" "$tmp/secret.bin"
        ln -s "$(cd "$tmp" && pwd)/secret.bin" "$tmp/m/w.bin" ;;
    dir-link)
        cp "$src/ext_subdir.onnx" "$tmp/m/model.onnx"
        mkdir -p "$tmp/outside"
        cp "$src/w.bin" "$tmp/outside/w.bin"
        ln -s ../outside "$tmp/m/data" ;;
    fifo)
        cp "$src/ext_file.onnx" "$tmp/m/model.onnx"
        mkfifo "$tmp/m/w.bin" ;;
    out-link)
        "$3" compile tests/errors/cases/add.onnx -o "$tmp/out" >/dev/null
        mkdir -p "$tmp/o"
        ln -s ../victim "$tmp/o/output_0.pb" ;;
    *)
        echo "setup_import.sh: unknown case '$1'" >&2
        exit 2 ;;
esac
