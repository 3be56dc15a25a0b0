# tests/boards/symbols.sh: the symbol check of a board's static library,
# sourced by a suite (`. tests/boards/symbols.sh`). tests/boards/run.sh has
# the same check inline; this is the shared form for other suites
# (tests/tiny/run.sh).
#
#   check_symbols NM ARCHIVE TMPDIR
#
# Passes (status 0, no output) when every symbol ARCHIVE needs and does not
# define is memcpy/memset/memmove/memcmp, a libm function or one of the
# compiler's arithmetic helpers (__aeabi_* on Arm, __divdi3, ...), and the
# archive defines model_run. Otherwise prints one line saying why (the
# first few symbols outside that list: malloc, printf, fopen, ...) and
# returns 1. NM is the toolchain's nm; TMPDIR a writable folder.
symbols_allowed='^(memcpy|memset|memmove|memcmp)$'
symbols_allowed_libm='^(exp|expm1|exp2|log|log1p|log2|log10|pow|sqrt|cbrt|sin|cos|tan|asin|acos|atan|atan2|sinh|cosh|tanh|asinh|acosh|atanh|erf|erfc|tgamma|lgamma|fabs|floor|ceil|round|roundeven|trunc|rint|nearbyint|lrint|llrint|lround|llround|fmod|remainder|fmin|fmax|fma|copysign|hypot|ldexp|frexp|modf|nextafter)[fl]?$'
symbols_allowed_helpers='^(__aeabi_[a-z0-9_]+|__(add|sub|mul|div|neg|extend|trunc|fix|fixuns|float|floatun|cmp|eq|ne|lt|le|gt|ge|unord|pow|popcount|clz|ctz|ashl|ashr|lshr|udiv|umod|mod|udivmod|divmod|bswap)[a-z0-9]*)$'
check_symbols() {
    if ! "$1" "$2" >"$3/symbols.nm" 2>"$3/symbols.err"; then
        echo "nm failed: $(sed -n '/./{p;q;}' "$3/symbols.err")"
        return 1
    fi
    awk '$1 == "U" { print $2 }' "$3/symbols.nm" | sort -u >"$3/symbols.undef"
    awk 'NF >= 3 && $2 ~ /^[TDRBCVWtdrb]$/ { print $3 }' "$3/symbols.nm" | sort -u >"$3/symbols.def"
    symbols_bad=$(comm -23 "$3/symbols.undef" "$3/symbols.def" | grep -Ev "$symbols_allowed" |
        grep -Ev "$symbols_allowed_libm" | grep -Ev "$symbols_allowed_helpers" | head -n 5 | tr '\n' ' ')
    if [ -n "$symbols_bad" ]; then
        echo "needs symbols outside memcpy/memset/libm: $symbols_bad"
        return 1
    fi
    if ! grep -qx model_run "$3/symbols.def"; then
        echo "the archive defines no model_run"
        return 1
    fi
    return 0
}
