#!/bin/sh
# tests/install.sh: install kiln's build and test dependencies on Debian 12
# (run as root). Does nothing when everything is already there.
set -e
need=""
for pkg in gcc pkg-config meson ninja-build protobuf-c-compiler libprotobuf-c-dev libonnx-dev python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    echo "installing:$need" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
