/*
 * lmath.c: f32 exp, log, tanh and erf of vectors as LLVM IR, built in
 * line where the kernel uses them: kiln_vec.h's branch-free polynomials
 * (runtime/kiln_vec.h, where each is derived and its error stated),
 * instruction for instruction, so the LLVM target computes what the C
 * target computes and LLVM schedules the math with the loop around it (a
 * call to the C wrapper would pass every vector through memory). Any
 * width: LLVM splits a vector wider than the target's registers.
 * Multiply-adds may contract into FMAs, as the C target's do
 * (-ffp-contract=fast); nothing is reassociated.
 */
#include "lemit.h"

#include <math.h>

typedef struct M {
    LG *g;
    int lanes;
    LLVMTypeRef f, i; /* <lanes x float>, <lanes x i32> */
} M;

static LLVMValueRef cf(M *m, double v)
{
    return lg_splat(m->g, LLVMConstReal(LLVMFloatTypeInContext(m->g->cx), v), m->lanes);
}

static LLVMValueRef ci(M *m, unsigned v)
{
    return lg_splat(m->g, LLVMConstInt(LLVMInt32TypeInContext(m->g->cx), v, 0), m->lanes);
}

static LLVMValueRef fl(LLVMValueRef v)
{
    if (LLVMIsAInstruction(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowContract);
    return v;
}

static LLVMValueRef add(M *m, LLVMValueRef a, LLVMValueRef b) { return fl(LLVMBuildFAdd(m->g->b, a, b, "")); }
static LLVMValueRef sub(M *m, LLVMValueRef a, LLVMValueRef b) { return fl(LLVMBuildFSub(m->g->b, a, b, "")); }
static LLVMValueRef mul(M *m, LLVMValueRef a, LLVMValueRef b) { return fl(LLVMBuildFMul(m->g->b, a, b, "")); }
static LLVMValueRef fdiv(M *m, LLVMValueRef a, LLVMValueRef b) { return fl(LLVMBuildFDiv(m->g->b, a, b, "")); }
static LLVMValueRef bits(M *m, LLVMValueRef x) { return LLVMBuildBitCast(m->g->b, x, m->i, ""); }
static LLVMValueRef flt(M *m, LLVMValueRef x) { return LLVMBuildBitCast(m->g->b, x, m->f, ""); }

/* c ? a : b for a float comparison x OP y (ordered: false on NaN). */
static LLVMValueRef sel(M *m, LLVMRealPredicate op, LLVMValueRef x, LLVMValueRef y, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(m->g->b, LLVMBuildFCmp(m->g->b, op, x, y, ""), a, b, "");
}

/* c[n-1] x^(n-1) + ... + c[0] by Horner's rule, c[n-1] first in the list
 * (kiln_vec.h's order of evaluation). */
static LLVMValueRef horner(M *m, LLVMValueRef x, const double *c, int n)
{
    LLVMValueRef p = cf(m, c[0]);
    for (int i = 1; i < n; i++)
        p = add(m, mul(m, p, x), cf(m, c[i]));
    return p;
}

#define LOG2E 0x1.715476p+0
#define LN2_HI 0x1.62e4p-1
#define LN2_LO 0x1.7f7d1cp-20
#define SHIFT 0x1.8p23
#define SHIFT_BITS 0x4b400000u

/* r + r^2 Q(r): e^r - 1 for |r| <= ln2/2 (KILN__EXPM1_POLY). */
static LLVMValueRef expm1_poly(M *m, LLVMValueRef r)
{
    static const double q[] = {0x1.6a4bf0p-10, 0x1.123e62p-7, 0x1.5558bap-5, 0x1.55548cp-3, 0x1.fffffcp-2};
    return add(m, r, mul(m, mul(m, r, r), horner(m, r, q, 5)));
}

/* x = n ln2 + r: k (n in its low bits), n and r. */
static void reduce(M *m, LLVMValueRef x, LLVMValueRef *k, LLVMValueRef *r)
{
    *k = add(m, mul(m, x, cf(m, LOG2E)), cf(m, SHIFT));
    LLVMValueRef n = sub(m, *k, cf(m, SHIFT));
    *r = sub(m, sub(m, x, mul(m, n, cf(m, LN2_HI))), mul(m, n, cf(m, LN2_LO)));
}

/* 2^n as a float, for n in k's low bits and n + 127 in [1, 254]. */
static LLVMValueRef scale(M *m, LLVMValueRef k)
{
    LLVMBuilderRef b = m->g->b;
    LLVMValueRef e = LLVMBuildAdd(b, LLVMBuildSub(b, bits(m, k), ci(m, SHIFT_BITS), ""), ci(m, 127), "");
    return flt(m, LLVMBuildShl(b, e, ci(m, 23), ""));
}

static LLVMValueRef exp_f32(M *m, LLVMValueRef x)
{
    LLVMBuilderRef b = m->g->b;
    x = sel(m, LLVMRealOLT, x, cf(m, -104.0), cf(m, -104.0), x); /* NaN stays */
    x = sel(m, LLVMRealOGT, x, cf(m, 89.0), cf(m, 89.0), x);
    LLVMValueRef k, r;
    reduce(m, x, &k, &r);
    LLVMValueRef p = expm1_poly(m, r);
    LLVMValueRef ni = LLVMBuildSub(b, bits(m, k), ci(m, SHIFT_BITS), "");
    LLVMValueRef n1 = LLVMBuildAShr(b, ni, ci(m, 1), ""), n2 = LLVMBuildSub(b, ni, n1, "");
    LLVMValueRef s1 = flt(m, LLVMBuildShl(b, LLVMBuildAdd(b, n1, ci(m, 127), ""), ci(m, 23), ""));
    LLVMValueRef s2 = flt(m, LLVMBuildShl(b, LLVMBuildAdd(b, n2, ci(m, 127), ""), ci(m, 23), ""));
    return mul(m, add(m, s1, mul(m, s1, p)), s2);
}

static LLVMValueRef log_f32(M *m, LLVMValueRef x)
{
    LLVMBuilderRef b = m->g->b;
    static const double pc[] = {-0x1.38da3cp-4, 0x1.056dfep-3, -0x1.0d8696p-3, 0x1.22d790p-3,
                                -0x1.5471f6p-3, 0x1.99a026p-3, -0x1.000228p-2, 0x1.555554p-2};
    LLVMValueRef tiny = LLVMBuildFCmp(b, LLVMRealOLT, x, cf(m, 0x1p-126), "");
    LLVMValueRef xs = LLVMBuildSelect(b, tiny, mul(m, x, cf(m, 0x1p23)), x, "");
    LLVMValueRef ix = LLVMBuildSub(b, bits(m, xs), ci(m, 0x3f3504f3u), "");
    LLVMValueRef k = LLVMBuildSub(b, LLVMBuildAShr(b, ix, ci(m, 23), ""),
                                  LLVMBuildSelect(b, tiny, ci(m, 23), ci(m, 0), ""), "");
    LLVMValueRef mant = LLVMBuildAdd(b, LLVMBuildAnd(b, ix, ci(m, 0x007fffffu), ""), ci(m, 0x3f3504f3u), "");
    LLVMValueRef f = sub(m, flt(m, mant), cf(m, 1.0));
    LLVMValueRef kf = LLVMBuildSIToFP(b, k, m->f, "");
    LLVMValueRef P = horner(m, f, pc, 8);
    LLVMValueRef y = mul(m, f, f);
    LLVMValueRef c = mul(m, y, sub(m, mul(m, f, P), cf(m, 0.5)));
    LLVMValueRef kh = mul(m, kf, cf(m, LN2_HI));
    LLVMValueRef hi = add(m, kh, f);
    LLVMValueRef lo = add(m, sub(m, kh, hi), f);
    LLVMValueRef r = add(m, hi, add(m, lo, add(m, mul(m, kf, cf(m, LN2_LO)), c)));
    r = sel(m, LLVMRealOEQ, x, cf(m, INFINITY), x, r);
    r = sel(m, LLVMRealOEQ, x, cf(m, 0.0), cf(m, -INFINITY), r);
    r = sel(m, LLVMRealOLT, x, cf(m, 0.0), cf(m, NAN), r);
    return sel(m, LLVMRealUNO, x, x, x, r);
}

/* |x| and x's sign bit. */
static LLVMValueRef split_sign(M *m, LLVMValueRef x, LLVMValueRef *sign)
{
    *sign = LLVMBuildAnd(m->g->b, bits(m, x), ci(m, 0x80000000u), "");
    return flt(m, LLVMBuildXor(m->g->b, bits(m, x), *sign, ""));
}

static LLVMValueRef with_sign(M *m, LLVMValueRef v, LLVMValueRef sign)
{
    return flt(m, LLVMBuildOr(m->g->b, bits(m, v), sign, ""));
}

static LLVMValueRef tanh_f32(M *m, LLVMValueRef x)
{
    static const double pc[] = {-0x1.9921a0p-8, 0x1.58e518p-6, -0x1.b91e7ep-5, 0x1.110ceep-3, -0x1.55554ap-2};
    LLVMValueRef sign, a = split_sign(m, x, &sign);
    LLVMValueRef z = mul(m, a, a);
    LLVMValueRef small = add(m, a, mul(m, mul(m, a, z), horner(m, z, pc, 5)));
    LLVMValueRef bb = sel(m, LLVMRealOGT, a, cf(m, 9.5), cf(m, 9.5), a); /* NaN stays */
    LLVMValueRef y = add(m, bb, bb), k, r;
    reduce(m, y, &k, &r);
    LLVMValueRef s = scale(m, k);
    LLVMValueRef A = mul(m, s, expm1_poly(m, r)), B = add(m, s, cf(m, 1.0));
    LLVMValueRef w = add(m, A, B), wl = add(m, sub(m, B, w), A); /* e^2|x| + 1 = w + wl */
    LLVMValueRef d = fdiv(m, cf(m, 2.0), w);
    LLVMValueRef t = sub(m, cf(m, 1.0), d), tl = sub(m, sub(m, cf(m, 1.0), t), d);
    LLVMValueRef big = add(m, t, add(m, tl, mul(m, mul(m, mul(m, cf(m, 0.5), d), d), wl)));
    return with_sign(m, sel(m, LLVMRealOLT, a, cf(m, 0.55), small, big), sign);
}

static LLVMValueRef erf_f32(M *m, LLVMValueRef x)
{
    static const double sc[] = {0x1.49badap-14, -0x1.a4c3a0p-11, 0x1.5430bcp-8, -0x1.b7ff88p-6,
                                0x1.ce2d5cp-4,  -0x1.812740p-2,  0x1.06eba8p-3};
    static const double rc[] = {-0x1.4029ecp-15, -0x1.883242p-14, -0x1.a40660p-13, 0x1.f47178p-13,
                                -0x1.6823c2p-11, 0x1.6fece8p-9,   -0x1.1b11aep-7,  0x1.b1eb1ep-6,
                                -0x1.3db498p-4,  0x1.b97384p-3};
    LLVMValueRef sign, a = split_sign(m, x, &sign);
    LLVMValueRef z = mul(m, a, a);
    LLVMValueRef small = add(m, a, mul(m, a, horner(m, z, sc, 7)));
    LLVMValueRef bb = sel(m, LLVMRealOLT, a, cf(m, 0.875), cf(m, 0.875), a);
    bb = sel(m, LLVMRealOGT, bb, cf(m, 4.0), cf(m, 4.0), bb); /* NaN stays */
    LLVMValueRef t = LLVMBuildFNeg(m->g->b, mul(m, bb, bb), ""), k, r;
    reduce(m, t, &k, &r);
    LLVMValueRef s = scale(m, k);
    LLVMValueRef e = add(m, s, mul(m, s, expm1_poly(m, r))); /* e^(-b^2) */
    LLVMValueRef R = horner(m, sub(m, bb, cf(m, 2.4375)), rc, 10);
    LLVMValueRef big = sub(m, cf(m, 1.0), mul(m, e, R));
    return with_sign(m, sel(m, LLVMRealOLT, a, cf(m, 0.875), small, big), sign);
}

LLVMValueRef lg_math_f32(LG *g, UnOp op, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return NULL;
    M m = {g, (int)LLVMGetVectorSize(t), t, LLVMVectorType(LLVMInt32TypeInContext(g->cx), LLVMGetVectorSize(t))};
    switch (op) {
    case U_EXP: return exp_f32(&m, x);
    case U_LOG: return log_f32(&m, x);
    case U_TANH: return tanh_f32(&m, x);
    case U_ERF: return erf_f32(&m, x);
    default: return NULL;
    }
}
