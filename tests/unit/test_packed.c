/*
 * test_packed.c: the conversions of the packed types (kernel/packed.c),
 * run by the Kernel IR interpreter on kernels built with pk_load,
 * pk_decode and pk_encode, against references computed here from the
 * formats' definitions (ONNX's TensorProto and Cast spec, the OCP 8-bit
 * and MX formats), not from kiln's code:
 *
 *   decode  every code of every format against (-1)^s 2^(e - bias) (1 + m/2^M)
 *           (subnormals 2^(1 - bias) m/2^M), the format's NaNs and infinities;
 *   encode  values on, between, exactly halfway between and next to every
 *           representable value, past the largest one, tiny ones, zeros,
 *           infinities and NaN, from f32 and from f64, saturating or not,
 *           against the nearest representable value found by search (ties to
 *           the even code) and Cast's tables for what does not fit.
 */
#include "check.h"
#include "kernel/kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A float format as the spec defines it. nan: 0 all ones is NaN (e4m3fn),
 * 1 only 0x80 is NaN and there is no -0 (fnuz), 2 IEEE (top exponent inf
 * and NaN: e5m2), 3 none (f4e2m1). */
typedef struct Fmt {
    DType t;
    const char *name;
    int E, M, bias, nan;
} Fmt;

static const Fmt fmts[] = {
    {DT_F8E4M3FN, "f8e4m3fn", 4, 3, 7, 0},   {DT_F8E4M3FNUZ, "f8e4m3fnuz", 4, 3, 8, 1},
    {DT_F8E5M2, "f8e5m2", 5, 2, 15, 2},      {DT_F8E5M2FNUZ, "f8e5m2fnuz", 5, 2, 16, 1},
    {DT_F4E2M1, "f4e2m1", 2, 1, 1, 3},
};

static int ref_isnan(const Fmt *f, unsigned c)
{
    unsigned top = 1u << (f->E + f->M), mag = c & (top - 1);
    switch (f->nan) {
    case 0: return mag == top - 1;
    case 1: return c == top;
    case 2: return (mag >> f->M) == (1u << f->E) - 1 && (mag & ((1u << f->M) - 1));
    default: return 0;
    }
}

/* The value code c stands for (NaN for the NaNs). */
static double ref_value(const Fmt *f, unsigned c)
{
    unsigned top = 1u << (f->E + f->M), mag = c & (top - 1);
    int s = (c & top) != 0, e = (int)(mag >> f->M), m = (int)(mag & ((1u << f->M) - 1));
    if (ref_isnan(f, c))
        return NAN;
    if (f->nan == 2 && e == (1 << f->E) - 1)
        return s ? -INFINITY : INFINITY;
    double v = e ? ldexp(1.0 + ldexp(m, -f->M), e - f->bias) : ldexp(m, 1 - f->bias) / (1 << f->M);
    return s ? -v : v;
}

/* The largest finite code (positive). */
static unsigned ref_max(const Fmt *f)
{
    unsigned best = 0;
    for (unsigned c = 0; c < 1u << (f->E + f->M); c++)
        if (!isnan(ref_value(f, c)) && !isinf(ref_value(f, c)))
            best = c;
    return best;
}

/* The code Cast gives x (saturating or not); *any_nan set when any NaN
 * code is right. */
static unsigned ref_encode(const Fmt *f, double x, int saturate, int *any_nan)
{
    unsigned top = 1u << (f->E + f->M), max = ref_max(f), s = signbit(x) ? top : 0;
    double vmax = ref_value(f, max), ulp = vmax - ref_value(f, max - 1), ax = fabs(x);
    *any_nan = 0;
    if (isnan(x)) {
        *any_nan = f->nan != 3;
        return f->nan == 3 ? (s ? 0 : top) : 0; /* f4e2m1 has no NaN: the zero of the other sign (ml_dtypes) */
    }
    /* rounded to the format's precision with an unbounded exponent, is it past max? */
    int over = isinf(x) || ax > vmax + ulp / 2 || (ax == vmax + ulp / 2 && (max & 1));
    if (over) {
        if (saturate || f->nan == 3)
            return max | s;
        if (f->nan == 2)
            return (max + 1) | s; /* inf */
        if (f->nan == 0)
            return (top - 1) | s; /* NaN with the sign */
        return top;                /* fnuz: the one NaN */
    }
    unsigned best = 0;
    for (unsigned c = 1; c <= max; c++) {
        double d = fabs(ax - ref_value(f, c)), db = fabs(ax - ref_value(f, best));
        if (d < db || (d == db && !(c & 1)))
            best = c;
    }
    if (best == 0 && f->nan == 1)
        return 0; /* no -0 */
    return best | s;
}

/* A program: out[i] = decode(in[i]) for `n` codes of packed type t. */
static void run_decode(DType t, const uint8_t *codes, int n, float *out)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {1, {n}};
    int bi = prog_add_packed(p, "in", BUF_INPUT, t, &s);
    int bo = prog_add_buf(p, "out", BUF_OUTPUT, pk_calc_type(t), &s);
    Kernel *k = prog_add_kernel(p, "k0_decode");
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for(&b, "i", n));
    kb_store(&b, bo, i, pk_decode(&b, t, pk_load(&b, bi, i)));
    kb_end(&b);
    Diag d = {.file = "t"};
    CHECK_MSG(prog_verify(p, &d) == 0, "%s", d.msg);
    int32_t iv[256];
    void *mem[2] = {(void *)codes, pk_calc_type(t) == DT_F32 ? (void *)out : (void *)iv};
    CHECK_MSG(kernel_interp(p, k, mem, &d) == 0, "%s", d.msg);
    if (pk_calc_type(t) == DT_I32)
        for (int j = 0; j < n; j++)
            out[j] = (float)iv[j];
    arena_free(a);
}

/* out[i] = the code of x[i] (f32 or f64 per `wide`) in packed type t. */
static void run_encode(DType t, const void *x, int wide, int n, PkMode m, uint8_t *out)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {1, {n}};
    int bi = prog_add_buf(p, "x", BUF_INPUT, wide ? DT_F64 : DT_F32, &s);
    int bo = prog_add_buf(p, "out", BUF_OUTPUT, DT_U8, &s);
    Kernel *k = prog_add_kernel(p, "k0_encode");
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for(&b, "i", n));
    kb_store(&b, bo, i, ke_cast(a, DT_U8, pk_encode(&b, t, ke_load(a, p, bi, i), m)));
    kb_end(&b);
    Diag d = {.file = "t"};
    CHECK_MSG(prog_verify(p, &d) == 0, "%s", d.msg);
    void *mem[2] = {(void *)x, out};
    CHECK_MSG(kernel_interp(p, k, mem, &d) == 0, "%s", d.msg);
    arena_free(a);
}

static int same_float(float x, double want)
{
    float w = (float)want;
    return isnan(want) ? isnan(x) : memcmp(&x, &w, sizeof x) == 0;
}

static void test_decode_float_codes(void)
{
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++) {
        const Fmt *f = &fmts[fi];
        int n = 1 << (1 + f->E + f->M), per = 8 / dtype_bits(f->t);
        uint8_t bytes[256] = {0};
        float out[256];
        for (int c = 0; c < n; c++) /* packed as ONNX packs them */
            bytes[c / per] |= (uint8_t)(c << (c % per * dtype_bits(f->t)));
        run_decode(f->t, bytes, n, out);
        for (int c = 0; c < n; c++)
            CHECK_MSG(same_float(out[c], ref_value(f, (unsigned)c)), "%s code 0x%02x: %a, want %a", f->name, c,
                      out[c], ref_value(f, (unsigned)c));
    }
}

static void test_decode_e8m0_and_ints(void)
{
    uint8_t codes[256];
    float out[256];
    for (int c = 0; c < 256; c++)
        codes[c] = (uint8_t)c;
    run_decode(DT_F8E8M0, codes, 256, out);
    for (int c = 0; c < 256; c++)
        CHECK_MSG(same_float(out[c], c == 255 ? NAN : ldexp(1, c - 127)), "f8e8m0 code %d: %a", c, out[c]);
    /* the 16 (4) codes of each integer type, two's complement for the signed ones */
    static const struct { DType t; int bits, sign; } ints[] = {{DT_U4, 4, 0}, {DT_I4, 4, 1}, {DT_U2, 2, 0}, {DT_I2, 2, 1}};
    for (int k = 0; k < 4; k++) {
        int n = 1 << ints[k].bits, per = 8 / ints[k].bits;
        uint8_t bytes[8] = {0};
        for (int c = 0; c < n; c++)
            bytes[c / per] |= (uint8_t)(c << (c % per * ints[k].bits));
        run_decode(ints[k].t, bytes, n, out);
        for (int c = 0; c < n; c++) {
            int want = ints[k].sign && c >= n / 2 ? c - n : c;
            CHECK_MSG(out[c] == (float)want, "%s code %d: %g, want %d", dtype_name(ints[k].t), c, out[c], want);
        }
    }
}

/* The inputs of the encode tests for format f: on, around and between its values, and the specials. */
static int encode_inputs(const Fmt *f, double *x, int cap)
{
    int n = 0;
    unsigned max = ref_max(f);
    double prev = 0;
    for (unsigned c = 0; c <= max + 1; c++) {
        double v = c <= max ? ref_value(f, c) : 2 * ref_value(f, max) - ref_value(f, max - 1); /* one ulp past */
        double mid = (prev + v) / 2;
        double list[] = {v, mid, nextafter((float)mid, 0), nextafter((float)mid, INFINITY), nextafter((float)v, 0),
                         nextafter((float)v, INFINITY)};
        for (size_t j = 0; j < sizeof list / sizeof *list && n + 2 <= cap; j++) {
            x[n++] = list[j];
            x[n++] = -list[j];
        }
        prev = v;
    }
    double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 1e30, -1e30, 3e38, 1e-30, -1e-30, 1e-45};
    for (size_t j = 0; j < sizeof special / sizeof *special && n < cap; j++)
        x[n++] = special[j];
    for (int j = 0; j < 200 && n < cap; j++) /* and some arbitrary ones */
        x[n++] = ldexp((double)(rand() % 100000) / 50000.0 - 1.0, rand() % 24 - 12);
    return n;
}

static void test_encode_float_formats(void)
{
    enum { CAP = 4096 };
    static double x[CAP];
    static float xf[CAP];
    static uint8_t got[CAP];
    srand(7);
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++) {
        const Fmt *f = &fmts[fi];
        int n = encode_inputs(f, x, CAP);
        for (int i = 0; i < n; i++) {
            xf[i] = (float)x[i];
            x[i] = xf[i]; /* the same values from f32 and from f64 */
        }
        for (int wide = 0; wide < 2; wide++)
            for (int sat = 0; sat < 2; sat++) {
                PkMode m = {.saturate = sat};
                int bad = 0;
                run_encode(f->t, wide ? (void *)x : (void *)xf, wide, n, m, got);
                for (int i = 0; i < n && bad < 5; i++) {
                    int any_nan;
                    unsigned want = ref_encode(f, x[i], sat, &any_nan);
                    int ok = any_nan ? ref_isnan(f, got[i]) : got[i] == want;
                    if (!ok)
                        bad++;
                    CHECK_MSG(ok, "%s from %s, saturate %d: %a -> 0x%02x, want %s0x%02x", f->name, wide ? "f64" : "f32",
                              sat, x[i], got[i], any_nan ? "a NaN such as " : "", want);
                }
            }
    }
}

static void test_encode_e8m0(void)
{
    enum { N = 1200 };
    static float x[N];
    static uint8_t got[N];
    int n = 0;
    for (int e = -126; e <= 127; e++) { /* powers of two, just above them, and 1.5 times them */
        x[n++] = ldexpf(1, e);
        x[n++] = nextafterf(ldexpf(1, e), INFINITY);
        x[n++] = ldexpf(1.5f, e);
        x[n++] = nextafterf(ldexpf(2, e), 0);
    }
    x[n++] = 0;
    x[n++] = INFINITY;
    x[n++] = NAN;
    x[n++] = 3.4e38f;
    for (int up = 0; up < 2; up++)
        for (int sat = 0; sat < 2; sat++) {
            PkMode m = {.saturate = sat, .round = up ? PK_ROUND_UP : PK_ROUND_DOWN};
            run_encode(DT_F8E8M0, x, 0, n, m, got);
            for (int i = 0; i < n; i++) {
                unsigned want;
                if (isnan(x[i])) {
                    want = 255;
                } else if (isinf(x[i])) {
                    want = sat ? 254 : 255; /* the spec's table: inf saturates to E8M0_MAX */
                } else if (x[i] == 0) {
                    want = 0;
                } else {
                    int ex;
                    double fr = frexp(x[i], &ex); /* x = fr 2^ex, fr in [0.5, 1) */
                    int e = ex - 1 + 127;          /* 2^(e - 127) <= x */
                    if (up && fr != 0.5)
                        e++; /* the next power of two */
                    want = e > 254 ? (sat ? 254 : 255) : (unsigned)e;
                }
                CHECK_MSG(got[i] == want, "f8e8m0 %s saturate %d: %a -> %u, want %u", up ? "up" : "down", sat, x[i],
                          got[i], want);
            }
        }
}

static void test_encode_ints(void)
{
    enum { N = 61 };
    float x[N];
    uint8_t got[N];
    static const struct { DType t; int bits; } ints[] = {{DT_U4, 4}, {DT_I4, 4}, {DT_U2, 2}, {DT_I2, 2}};
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - 30) + (i % 3 ? 0.25f : 0); /* fractions truncate toward zero */
    for (int k = 0; k < 4; k++) {
        run_encode(ints[k].t, x, 0, N, (PkMode){1, 0}, got);
        for (int i = 0; i < N; i++) {
            int v = (int)truncf(x[i]);
            unsigned want = (unsigned)v & ((1u << ints[k].bits) - 1); /* wrapped to the width */
            CHECK_MSG(got[i] == want, "%s from %g: %u, want %u", dtype_name(ints[k].t), x[i], got[i], want);
        }
    }
}

int main(void)
{
    RUN(test_decode_float_codes);
    RUN(test_decode_e8m0_and_ints);
    RUN(test_encode_float_formats);
    RUN(test_encode_e8m0);
    RUN(test_encode_ints);
    return check_total_failed != 0;
}
