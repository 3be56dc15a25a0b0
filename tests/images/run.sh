#!/bin/sh
# tests/images/run.sh KILN [TARGET]: ImageDecoder against Pillow.
#
# For each tests/images/cases/<case>/ (made by make_cases.py: expected
# outputs from ONNX's reference, which decodes with Pillow) runs
#
#   KILN check cases/<case>/model.onnx cases/<case>/test_data_set_0
#
# and prints "PASS images/<case>" or "FAIL images/<case>: <kiln's last
# line>". Then the run-time header guard: the executable built for the
# first BMP must refuse other_header.pb (the same image, one header byte
# changed) with exit status 1 and its one-line message, and still decode
# the image it was built for: "PASS images/header-guard". With TARGET
# (llvm) every check runs with --target TARGET and its lines end with
# " --target TARGET". Exits 1 if any failed.
kiln=${1:-build/kiln}
target=${2:-}
case $kiln in
    /*) ;;
    *) kiln=$(pwd)/$kiln ;;
esac
cd "$(dirname "$0")" || exit 1
if [ ! -x "$kiln" ]; then
    echo "FAIL images: kiln not found at $kiln"
    exit 1
fi
suffix=
[ -n "$target" ] && suffix=" --target $target"
status=0
for dir in cases/*/; do
    dir=${dir%/}
    name=images/${dir#cases/}
    if [ -n "$target" ]; then
        out=$("$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" --target "$target" 2>&1)
    else
        out=$("$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" 2>&1)
    fi
    if [ $? -eq 0 ]; then
        echo "PASS $name$suffix"
    else
        echo "FAIL $name$suffix: $(printf '%s\n' "$out" | tail -n 1)"
        status=1
    fi
done

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
case=cases/bmp24_bottom_up_rgb
if [ -n "$target" ]; then
    "$kiln" check "$case/model.onnx" "$case/test_data_set_0" -o "$work/b" --target "$target" >/dev/null 2>&1
else
    "$kiln" check "$case/model.onnx" "$case/test_data_set_0" -o "$work/b" >/dev/null 2>&1
fi
"$work/b/model" --in cases/other_header.pb --quiet >"$work/out" 2>"$work/err"
rc=$?
if [ ! -x "$work/b/model" ]; then
    echo "FAIL images/header-guard$suffix: kiln check -o did not build the executable"
    status=1
elif [ $rc -ne 1 ] || [ "$(wc -l <"$work/err")" -ne 1 ] || ! grep -q "header of an image" "$work/err"; then
    echo "FAIL images/header-guard$suffix: another header gave exit $rc and: $(head -n 1 "$work/err")"
    status=1
elif ! "$work/b/model" --in "$case/test_data_set_0/input_0.pb" --quiet >/dev/null 2>&1; then
    echo "FAIL images/header-guard$suffix: the image it was built for fails"
    status=1
else
    echo "PASS images/header-guard$suffix"
fi
exit $status
