#!/bin/sh
# tests/demo.sh: README.md's first command. Installs what is missing, builds
# kiln, compiles the bundled LeNet (models/lenet) into a standalone program
# and runs it on a bundled sample input, printing what it computed and how
# long it took.
set -e
cd "$(dirname "$0")/.."
sh tests/install.sh
sh tests/build.sh
echo "$ build/kiln compile models/lenet/model.onnx -o out/lenet"
build/kiln compile models/lenet/model.onnx -o out/lenet
echo "$ out/lenet/model --in models/lenet/sample_input.pb --out out/lenet --bench 100"
out/lenet/model --in models/lenet/sample_input.pb --out out/lenet --bench 100
