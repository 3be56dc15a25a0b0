/*
 * packed.c: the packed types (kiln.h) as Kernel IR expressions.
 *
 * ONNX's float8 family (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz), f8e8m0,
 * f4e2m1 and the 4- and 2-bit integers live in u8 buffers as ONNX stores
 * them: one code per byte, or two (four) codes per byte, the first in the
 * low bits. Kernels never compute in these types. A load takes a code out
 * of its byte (pk_load), pk_decode turns it into an f32 or i32 value, and
 * pk_encode turns a value into a code; the lowerings that write packed
 * outputs assemble whole bytes (lw_store_packed in lower.c). Everything
 * here is integer arithmetic on the codes and on the bits of f32/f64
 * values (bitcasts to u32/u64), compares and selects, so the interpreter
 * and every printer run it unchanged.
 *
 * The rules are ONNX Cast's (onnx.defs Cast, opset 25) and, where the spec
 * leaves a case open, those of its reference implementation (onnx.reference
 * with ml_dtypes):
 *
 *   float -> float8   round to nearest even, at the target's precision
 *                     (subnormals included); then, when the rounded
 *                     magnitude is above the largest finite value:
 *                     saturate: +-max; otherwise NaN (e4m3fn: keeping the
 *                     sign; the fnuz types' one NaN 0x80) or +-inf (e5m2).
 *                     An infinity is such an overflow. NaN stays NaN
 *                     (e4m3fn: sign|0x7f, e5m2: sign|0x7e, fnuz: 0x80).
 *                     fnuz types have no -0: a value rounding to 0 is +0.
 *   float -> f4e2m1   the same rounding, always saturating (no inf, no
 *                     NaN); NaN becomes the zero of the other sign, as
 *                     ml_dtypes does.
 *   float -> f8e8m0   the exponent field of the f32 value (f64 rounds to
 *                     f32 first), rounded up when any mantissa bit is set
 *                     (round_mode "up"), by guard, round and sticky bits
 *                     ("nearest"), or not ("down"), as the reference
 *                     does; saturate keeps 2^127 from rounding into NaN
 *                     and makes inf 2^127 (the spec's table; the
 *                     reference makes it NaN), else inf is NaN (0xff), as
 *                     NaN always is. The sign is ignored (negative values
 *                     are undefined).
 *   x -> 4/2-bit int  the integer (floats truncate, as Cast does for fixed
 *                     point) wrapped to the width.
 *
 * A source value is converted from its own bits: f32 (and f16/bf16, exact
 * in f32) through u32, f64 and integers (exact in f64 up to 2^53) through
 * u64, so no value rounds twice.
 */
#include "kernel.h"

#define BIN(op, x, y) ke_bin(a, (op), (x), (y))
#define SEL(c, x, y) ke_select(a, (c), (x), (y))

/* e as a local of b, unless it is already a name or a constant. */
static Expr *named(KB *b, const char *name, Expr *e)
{
    if (e->kind == E_VAR || e->kind == E_CONST)
        return e;
    return kb_v(b, kb_let(b, name, e));
}

static Expr *i32(Arena *a, int64_t v) { return ke_int(a, DT_I32, v); }

DType pk_calc_type(DType t) { return dtype_packed_float(t) ? DT_F32 : DT_I32; }

Expr *pk_load(KB *b, int buf, Expr *index)
{
    Arena *a = b->a;
    int bits = dtype_bits(b->p->bufs[buf].elem), per = 8 / bits;
    if (per == 1)
        return ke_cast(a, DT_I32, ke_load(a, b->p, buf, index));
    Expr *byte = ke_cast(a, DT_I32, ke_load(a, b->p, buf, BIN(B_DIV, index, ke_idx(a, per))));
    Expr *shift = ke_cast(a, DT_I32, BIN(B_MUL, BIN(B_MOD, index, ke_idx(a, per)), ke_idx(a, bits)));
    return BIN(B_BAND, BIN(B_SHR, byte, shift), i32(a, (1 << bits) - 1));
}

/* ------------------------------------------------------------ decoding */

/* f32 bits (u32) of a code of float format f: normal, subnormal, zero and
 * the format's specials, with the sign. */
static Expr *float_bits(KB *b, const FloatFormat *f, Expr *c)
{
    Arena *a = b->a;
    int E = f->ebits, M = f->mbits;
    Expr *cu = named(b, "cu", ke_cast(a, DT_U32, c));
    Expr *sign = BIN(B_SHL, BIN(B_SHR, cu, ke_int(a, DT_U32, E + M)), ke_int(a, DT_U32, 31));
    Expr *mag = named(b, "mag", BIN(B_BAND, cu, ke_int(a, DT_U32, (1 << (E + M)) - 1)));
    Expr *ex = BIN(B_SHR, mag, ke_int(a, DT_U32, M));
    Expr *mt = named(b, "mt", BIN(B_BAND, mag, ke_int(a, DT_U32, (1 << M) - 1)));
    /* normal: the exponent rebased, the mantissa moved to the top */
    Expr *normal = BIN(B_ADD, BIN(B_SHL, mag, ke_int(a, DT_U32, 23 - M)),
                       ke_int(a, DT_U32, (int64_t)(127 - f->bias) << 23));
    /* subnormal mt * 2^(1 - bias - M), mt < 8: its top bit p becomes the
     * implicit one, the bits under it the mantissa */
    Expr *p = SEL(BIN(B_GE, mt, ke_int(a, DT_U32, 4)), ke_int(a, DT_U32, 2),
                  SEL(BIN(B_GE, mt, ke_int(a, DT_U32, 2)), ke_int(a, DT_U32, 1), ke_int(a, DT_U32, 0)));
    p = named(b, "p", p);
    Expr *sub = BIN(B_BOR,
                    BIN(B_SHL, BIN(B_ADD, p, ke_int(a, DT_U32, 127 + 1 - f->bias - M)), ke_int(a, DT_U32, 23)),
                    BIN(B_BAND, BIN(B_SHL, mt, BIN(B_SUB, ke_int(a, DT_U32, 23), p)), ke_int(a, DT_U32, 0x7fffff)));
    Expr *zero_ex = BIN(B_EQ, ex, ke_int(a, DT_U32, 0));
    Expr *bits = SEL(zero_ex, SEL(BIN(B_EQ, mt, ke_int(a, DT_U32, 0)), ke_int(a, DT_U32, 0), sub), normal);
    Expr *qnan = ke_int(a, DT_U32, 0x7fc00000);
    switch (f->kind) {
    case FF_FN: /* all ones: NaN */
        bits = SEL(BIN(B_EQ, mag, ke_int(a, DT_U32, (1 << (E + M)) - 1)), qnan, bits);
        break;
    case FF_FNUZ: /* 0x80 (a "negative zero"): NaN, the sign cleared below */
        bits = SEL(BIN(B_EQ, cu, ke_int(a, DT_U32, 1 << (E + M))), ke_int(a, DT_U32, 0xffc00000), bits);
        break;
    case FF_IEEE: /* top exponent: inf, or NaN */
        bits = SEL(BIN(B_EQ, ex, ke_int(a, DT_U32, (1 << E) - 1)),
                   SEL(BIN(B_EQ, mt, ke_int(a, DT_U32, 0)), ke_int(a, DT_U32, 0x7f800000), qnan), bits);
        break;
    default:
        break;
    }
    return BIN(B_BXOR, bits, sign);
}

Expr *pk_decode(KB *b, DType t, Expr *code)
{
    Arena *a = b->a;
    FloatFormat f;
    Expr *c = named(b, "c", code);
    switch (t) {
    case DT_U4: case DT_U2: return c;
    case DT_I4: return BIN(B_SUB, BIN(B_BXOR, c, i32(a, 8)), i32(a, 8));
    case DT_I2: return BIN(B_SUB, BIN(B_BXOR, c, i32(a, 2)), i32(a, 2));
    case DT_F8E8M0: {
        /* 2^(c - 127): the f32 exponent field, except 2^-127 (a subnormal) and NaN */
        Expr *cu = ke_cast(a, DT_U32, c);
        Expr *bits = SEL(BIN(B_EQ, c, i32(a, 0)), ke_int(a, DT_U32, 0x00400000),
                         SEL(BIN(B_EQ, c, i32(a, 255)), ke_int(a, DT_U32, 0x7fc00000),
                             BIN(B_SHL, cu, ke_int(a, DT_U32, 23))));
        return ke_bitcast(a, DT_F32, bits);
    }
    default:
        break;
    }
    if (dtype_float_format(t, &f))
        return NULL;
    return ke_bitcast(a, DT_F32, named(b, "fb", float_bits(b, &f, c)));
}

/* ------------------------------------------------------------ encoding */

/* The code of float value x (f32 or f64) in float format f. */
static Expr *float_code(KB *b, const FloatFormat *f, Expr *x, int saturate)
{
    Arena *a = b->a;
    int wide = x->type == DT_F64;
    DType ut = wide ? DT_U64 : DT_U32;
    int W = wide ? 64 : 32, MS = wide ? 52 : 23, SB = wide ? 1023 : 127;
    int E = f->ebits, M = f->mbits, top = E + M;
#define UK(v) ke_int(a, ut, (int64_t)(v))
    Expr *u = named(b, "u", ke_bitcast(a, ut, x));
    Expr *s = named(b, "s", ke_cast(a, DT_I32, BIN(B_SHR, u, UK(W - 1))));
    Expr *mag = named(b, "a", BIN(B_BAND, u, UK(wide ? INT64_MAX : 0x7fffffff)));
    Expr *isnan = BIN(B_GT, mag, UK(wide ? 0x7ff0000000000000 : 0x7f800000));
    Expr *e = named(b, "e", ke_cast(a, DT_I32, BIN(B_SHR, mag, UK(MS))));
    /* the significand with its implicit bit (subnormal sources have none, at exponent 1) */
    Expr *one = UK((uint64_t)1 << MS);
    Expr *sig = named(b, "m", BIN(B_BOR, BIN(B_BAND, mag, BIN(B_SUB, one, UK(1))),
                                  SEL(BIN(B_GT, e, i32(a, 0)), one, UK(0))));
    /* the exponent in the target's bias; below 1 the target is subnormal
     * and the significand shifts further right */
    Expr *te = named(b, "te", BIN(B_ADD, BIN(B_MAX, e, i32(a, 1)), i32(a, f->bias - SB)));
    Expr *sh = BIN(B_ADD, i32(a, MS - M), BIN(B_MAX, i32(a, 0), BIN(B_SUB, i32(a, 1), te)));
    sh = named(b, "sh", ke_cast(a, ut, BIN(B_MIN, sh, i32(a, W - 1))));
    /* round to nearest even: g keeps one bit more than the result (the
     * guard); up when it is set and anything under it is (sticky), or the
     * result is odd. (Only variables shift left: a constant 1 << sh could
     * print as a C int.) */
    Expr *g = named(b, "g", BIN(B_SHR, sig, BIN(B_SUB, sh, UK(1))));
    Expr *sticky = BIN(B_NE, BIN(B_SHL, g, BIN(B_SUB, sh, UK(1))), sig);
    Expr *guard = BIN(B_NE, BIN(B_BAND, g, UK(1)), UK(0));
    Expr *odd = BIN(B_NE, BIN(B_BAND, g, UK(2)), UK(0));
    Expr *rounded = BIN(B_ADD, BIN(B_SHR, g, UK(1)), SEL(BIN(B_AND, guard, BIN(B_OR, sticky, odd)), UK(1), UK(0)));
    Expr *base = BIN(B_SHL, BIN(B_MAX, i32(a, 0), BIN(B_SUB, te, i32(a, 1))), i32(a, M));
    Expr *code = named(b, "q", BIN(B_ADD, ke_cast(a, DT_I32, rounded), base));
    Expr *sbit = BIN(B_SHL, s, i32(a, top));
    Expr *max = BIN(B_BOR, i32(a, f->max), sbit);
    Expr *nan, *over;
    switch (f->kind) {
    case FF_FN: nan = BIN(B_BOR, i32(a, (1 << top) - 1), sbit); break;
    case FF_FNUZ: nan = i32(a, 1 << top); break;
    case FF_IEEE: nan = BIN(B_BOR, i32(a, f->max + 3), sbit); break; /* quiet: inf | top mantissa bit */
    default: nan = BIN(B_SHL, BIN(B_BXOR, s, i32(a, 1)), i32(a, top)); break;
    }
    if (saturate || f->kind == FF_NONE)
        over = max;
    else if (f->kind == FF_IEEE)
        over = BIN(B_BOR, i32(a, f->max + 1), sbit);
    else
        over = nan;
    Expr *fin = BIN(B_BOR, code, sbit);
    if (f->kind == FF_FNUZ)
        fin = SEL(BIN(B_EQ, code, i32(a, 0)), i32(a, 0), fin);
#undef UK
    return SEL(isnan, nan, SEL(BIN(B_GT, code, i32(a, f->max)), over, fin));
}

/* The code of x in f8e8m0. */
static Expr *e8m0_code(KB *b, Expr *x, PkMode m)
{
    Arena *a = b->a;
    Expr *u = named(b, "u", ke_bitcast(a, DT_U32, ke_cast(a, DT_F32, x)));
    Expr *e = named(b, "e", ke_cast(a, DT_I32, BIN(B_BAND, BIN(B_SHR, u, ke_int(a, DT_U32, 23)), ke_int(a, DT_U32, 0xff))));
    Expr *nz = NULL;
    if (m.round == PK_ROUND_UP) {
        nz = BIN(B_NE, BIN(B_BAND, u, ke_int(a, DT_U32, 0x7fffff)), ke_int(a, DT_U32, 0));
    } else if (m.round == PK_ROUND_NEAREST) {
        Expr *g = BIN(B_NE, BIN(B_BAND, u, ke_int(a, DT_U32, 0x400000)), ke_int(a, DT_U32, 0));
        Expr *r = BIN(B_NE, BIN(B_BAND, u, ke_int(a, DT_U32, 0x200000)), ke_int(a, DT_U32, 0));
        Expr *st = BIN(B_NE, BIN(B_BAND, u, ke_int(a, DT_U32, 0x1fffff)), ke_int(a, DT_U32, 0));
        nz = BIN(B_AND, g, BIN(B_OR, BIN(B_OR, r, st), BIN(B_GT, e, i32(a, 0))));
    }
    Expr *up = i32(a, 0);
    if (nz) {
        if (m.saturate)
            nz = BIN(B_AND, nz, BIN(B_NE, e, i32(a, 0xfe)));
        up = SEL(nz, i32(a, 1), i32(a, 0));
    }
    /* NaN stays NaN; inf is NaN too, or 2^127 when saturating (the spec's table) */
    Expr *special = i32(a, 0xff);
    if (m.saturate)
        special = SEL(BIN(B_EQ, BIN(B_BAND, u, ke_int(a, DT_U32, 0x7fffff)), ke_int(a, DT_U32, 0)), i32(a, 0xfe), special);
    return SEL(BIN(B_EQ, e, i32(a, 0xff)), special, BIN(B_ADD, e, up));
}

Expr *pk_encode(KB *b, DType t, Expr *x, PkMode m)
{
    Arena *a = b->a;
    FloatFormat f;
    if (!dtype_packed_float(t)) {
        int bits = dtype_bits(t);
        return BIN(B_BAND, ke_cast(a, DT_I32, x), i32(a, (1 << bits) - 1));
    }
    if (t == DT_F8E8M0)
        return e8m0_code(b, x, m);
    if (dtype_float_format(t, &f))
        return NULL;
    /* f16/bf16 and bool are exact in f32, integers in f64 (to 2^53) */
    if (dtype_is_int(x->type))
        x = ke_cast(a, DT_F64, x);
    else if (x->type != DT_F64)
        x = ke_cast(a, DT_F32, x);
    return float_code(b, &f, named(b, "x", x), m.saturate);
}
