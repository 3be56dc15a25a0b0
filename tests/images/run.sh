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
# the image it was built for: "PASS images/header-guard". Then corrupt
# data: for each cases/corrupt/<case>/, the executable built for <case>
# (with -fsanitize=address,undefined where the C compiler has them) must
# refuse each fail_*.pb with exit status 1 and one line saying the data is
# malformed, and either decode or so refuse each any_*.pb, never crash nor
# trip a sanitizer: "PASS images/corrupt-<case>". With TARGET (llvm) every
# check runs with --target TARGET and its lines end with " --target
# TARGET". Exits 1 if any failed.
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
    [ "$dir" = cases/corrupt ] && continue
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

# corrupt data, under the sanitizers when cc has them (ASan's own exit
# status 99, so that it never reads as the model's refusal)
san="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
printf 'int main(void) { return 0; }\n' >"$work/probe.c"
cc $san "$work/probe.c" -o "$work/probe" >/dev/null 2>&1 && "$work/probe" || san=
export ASAN_OPTIONS=detect_leaks=0:exitcode=99
for dir in cases/corrupt/*/; do
    dir=${dir%/}
    case=${dir#cases/corrupt/}
    name=images/corrupt-$case$suffix
    rm -rf "$work/c"
    if [ -n "$target" ]; then
        CFLAGS=$san "$kiln" check "cases/$case/model.onnx" "cases/$case/test_data_set_0" -o "$work/c" \
            --target "$target" >"$work/out" 2>&1
    else
        CFLAGS=$san "$kiln" check "cases/$case/model.onnx" "cases/$case/test_data_set_0" -o "$work/c" \
            >"$work/out" 2>&1
    fi
    if [ $? -ne 0 ] || [ ! -x "$work/c/model" ]; then
        echo "FAIL $name: building and checking $case${san:+ with the sanitizers} failed: $(tail -n 1 "$work/out")"
        status=1
        continue
    fi
    why=
    for pb in "$dir"/*.pb; do
        "$work/c/model" --in "$pb" --quiet >/dev/null 2>"$work/err"
        rc=$?
        b=$(basename "$pb")
        if [ $rc -eq 0 ] && [ "${b#any_}" != "$b" ] && [ ! -s "$work/err" ]; then
            continue
        fi
        if [ $rc -ne 1 ] || [ "$(wc -l <"$work/err")" -ne 1 ] || ! grep -q "malformed" "$work/err"; then
            why="$b gave exit $rc and: $(head -n 1 "$work/err")"
            break
        fi
    done
    if [ -n "$why" ]; then
        echo "FAIL $name: $why"
        status=1
    else
        echo "PASS $name${san:+ (address and undefined sanitizers)}"
    fi
done
exit $status
