/*
 * lexpr.c: Kernel IR expressions as LLVM IR, scalar and vector alike.
 *
 * Values compute in the types the C target computes in: f16 and bf16 in
 * float (a load widens their bits, a store or a cast to them rounds), bool
 * in i1, DT_INDEX in the target's pointer-sized integer (the C target's
 * ptrdiff_t: i64, i32 on a 32-bit board). An expression of `lanes` > 1 is an LLVM vector of
 * that many elements, so vector loops stay vectors: a load at a ramp of
 * stride 1 is one vector load (llvm.masked.load under a mask), any other
 * index vector a gather (llvm.masked.gather), arithmetic works lane by lane
 * on the vector types. The Kernel IR's exact semantics are kept as the C
 * target keeps them: narrow integers wrap at their width (division and
 * shifts work in i32, as C promotes them), float min/max propagate NaN,
 * float to integer conversions saturate (NaN is 0) and then wrap, a
 * horizontal reduction combines lane i with lane i + W/2 (kiln_vec.h's
 * order). exp, log, tanh and erf of f32 vectors are built in line
 * (lmath.c: kiln_vec.h's polynomials); sin, cos and pow of f32 vectors of
 * 4, 8 or 16 lanes call kiln_vec.h's (vecmath); other math is an LLVM
 * intrinsic where LLVM has one and a libm call (lane by lane in a vector)
 * where it has none.
 */
#include "lemit.h"

#include <math.h>
#include <string.h>

static int narrow(DType t) { return t == DT_I8 || t == DT_U8 || t == DT_I16 || t == DT_U16; }
static int is_f(DType t) { return dtype_is_float(t); }
static int is_signed_int(DType t) { return !is_f(t) && dtype_is_signed(t); }

LLVMTypeRef lg_type(LG *g, DType t, int lanes)
{
    LLVMTypeRef s;
    switch (t) {
    case DT_F32: case DT_F16: case DT_BF16: s = LLVMFloatTypeInContext(g->cx); break;
    case DT_F64: s = LLVMDoubleTypeInContext(g->cx); break;
    case DT_BOOL: s = LLVMInt1TypeInContext(g->cx); break;
    case DT_I8: case DT_U8: s = LLVMInt8TypeInContext(g->cx); break;
    case DT_I16: case DT_U16: s = LLVMInt16TypeInContext(g->cx); break;
    case DT_I32: case DT_U32: s = LLVMInt32TypeInContext(g->cx); break;
    case DT_INDEX: s = g->index; break;
    default: s = LLVMInt64TypeInContext(g->cx); break;
    }
    return lanes > 1 ? LLVMVectorType(s, (unsigned)lanes) : s;
}

LLVMTypeRef lg_store_type(LG *g, DType t)
{
    if (dtype_is_half(t))
        return LLVMInt16TypeInContext(g->cx);
    if (t == DT_BOOL)
        return LLVMInt8TypeInContext(g->cx);
    if (dtype_is_string(t)) /* a kiln_str record: only its address is taken (a call's argument) */
        return LLVMArrayType(LLVMInt8TypeInContext(g->cx), (unsigned)dtype_size(t));
    return lg_type(g, t, 1);
}

static LLVMTypeRef i32t(LG *g) { return LLVMInt32TypeInContext(g->cx); }
static LLVMTypeRef i64t(LG *g) { return LLVMInt64TypeInContext(g->cx); }

static int lanes_of(LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(t) : 1;
}

/* t, or a vector of `lanes` t. */
static LLVMTypeRef like(LLVMTypeRef t, int lanes) { return lanes > 1 ? LLVMVectorType(t, (unsigned)lanes) : t; }

/* Scalar constant s repeated in `lanes` lanes (s itself for one lane):
 * integer, float and bool constants alike. */
static LLVMValueRef cconst(LLVMValueRef s, int lanes)
{
    if (lanes <= 1)
        return s;
    LLVMValueRef el[KILN_MAX_LANES];
    for (int i = 0; i < lanes; i++)
        el[i] = s;
    return LLVMConstVector(el, (unsigned)lanes);
}

/* Integer constant c of scalar type t in `lanes` lanes. */
static LLVMValueRef cint(LLVMTypeRef t, unsigned long long c, int lanes) { return cconst(LLVMConstInt(t, c, 0), lanes); }

LLVMValueRef lg_all_true(LG *g, int lanes) { return cint(LLVMInt1TypeInContext(g->cx), 1, lanes); }

LLVMValueRef lg_splat(LG *g, LLVMValueRef x, int lanes)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)lanes);
    LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetPoison(vt), x, LLVMConstInt(i32t(g), 0, 0), "");
    return LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(i32t(g), (unsigned)lanes)),
                                  "");
}

LLVMValueRef lg_intrinsic(LG *g, const char *name, LLVMTypeRef *over, int nover, LLVMValueRef *args, int nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->m, id, over, (size_t)nover);
    LLVMTypeRef ft = LLVMIntrinsicGetType(g->cx, id, over, (size_t)nover);
    return LLVMBuildCall2(g->b, ft, f, args, (unsigned)nargs, "");
}

static LLVMValueRef intr1(LG *g, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    return lg_intrinsic(g, name, &t, 1, &x, 1);
}

/* A float operation that may contract into an FMA (the C target builds
 * with -ffp-contract=fast). */
static LLVMValueRef contract(LLVMValueRef v)
{
    if (LLVMIsAInstruction(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowContract);
    return v;
}

/* libm's `name` (scalar, `nargs` arguments of scalar type t) applied lane
 * by lane. */
static LLVMValueRef libm(LG *g, const char *name, LLVMValueRef *x, int nargs)
{
    int lanes = lanes_of(x[0]);
    LLVMTypeRef t = LLVMTypeOf(x[0]);
    if (lanes > 1)
        t = LLVMGetElementType(t);
    LLVMTypeRef params[2] = {t, t};
    LLVMTypeRef ft = LLVMFunctionType(t, params, (unsigned)nargs, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->m, name);
    if (!f) {
        f = LLVMAddFunction(g->m, name, ft);
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
    }
    if (lanes == 1)
        return LLVMBuildCall2(g->b, ft, f, x, (unsigned)nargs, "");
    LLVMValueRef out = LLVMGetPoison(LLVMTypeOf(x[0]));
    for (int i = 0; i < lanes; i++) {
        LLVMValueRef lane = LLVMConstInt(i32t(g), (unsigned long long)i, 0), a[2];
        for (int j = 0; j < nargs; j++)
            a[j] = LLVMBuildExtractElement(g->b, x[j], lane, "");
        out = LLVMBuildInsertElement(g->b, out, LLVMBuildCall2(g->b, ft, f, a, (unsigned)nargs, ""), lane, "");
    }
    return out;
}

const char *const lg_vecmath_name[VM_COUNT] = {"sin", "cos", "pow"};

/* kiln_vec.h's function fn of f32 vectors x[0..nargs) (4, 8 or 16 lanes),
 * through PREFIX_vec_FN_f32xW(float *y, const float *x...): arrays, so that
 * no vector crosses the call (no ABI question between LLVM and the C
 * compiler). NULL for another width. */
static LLVMValueRef vecmath(LG *g, int fn, LLVMValueRef *x, int nargs)
{
    int lanes = lanes_of(x[0]);
    if (lanes != 4 && lanes != 8 && lanes != 16)
        return NULL;
    g->vecmath[fn] |= lanes == 4 ? 1u : lanes == 8 ? 2u : 4u;
    const char *name = arena_printf(g->a, "%s_vec_%s_f32x%d", g->pre, lg_vecmath_name[fn], lanes);
    LLVMTypeRef pt[3];
    for (int i = 0; i <= nargs; i++)
        pt[i] = LLVMPointerTypeInContext(g->cx, 0);
    LLVMTypeRef ft = LLVMFunctionType(LLVMVoidTypeInContext(g->cx), pt, (unsigned)nargs + 1, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->m, name);
    if (!f) {
        /* it reads its arguments' arrays and writes y's, and no memory of
         * the kernels (memory(argmem: readwrite, inaccessiblemem:
         * readwrite), MemoryEffects' encoding: ModRef, 3, for argument
         * memory in bits 0-1 and for memory outside the module, such as
         * the errno of the libm its far lanes may call, in bits 2-3); it
         * keeps no pointer: what LLVM holds in registers across the call
         * stays there */
        f = LLVMAddFunction(g->m, name, ft);
        const char *fa[] = {"nounwind", "willreturn", "nosync", "nofree"};
        for (int i = 0; i < 4; i++)
            LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                    LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName(fa[i], strlen(fa[i])), 0));
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName("memory", 6), 3 | 3 << 2));
        for (int i = 0; i <= nargs; i++) {
            const char *pa[] = {"noalias", "nocapture"};
            for (int j = 0; j < 2; j++)
                LLVMAddAttributeAtIndex(f, (LLVMAttributeIndex)(i + 1),
                                        LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName(pa[j], strlen(pa[j])), 0));
        }
    }
    LLVMTypeRef vt = LLVMTypeOf(x[0]);
    LLVMValueRef mem[3];
    for (int i = 0; i <= nargs; i++) {
        mem[i] = LLVMBuildAlloca(g->ab, vt, "");
        LLVMSetAlignment(mem[i], 64);
        if (i)
            LLVMSetAlignment(LLVMBuildStore(g->b, x[i - 1], mem[i]), 64);
    }
    LLVMBuildCall2(g->b, ft, f, mem, (unsigned)nargs + 1, "");
    LLVMValueRef y = LLVMBuildLoad2(g->b, vt, mem[0], "");
    LLVMSetAlignment(y, 64);
    return y;
}

/* libdevice's function `base` (exp, atan2, ...) of type t on x[0..nargs):
 * __nv_expf for f32, __nv_exp for f64, lane by lane in a vector. */
static LLVMValueRef gpu_math(LG *g, const char *base, DType t, LLVMValueRef *x, int nargs)
{
    return libm(g, arena_printf(g->a, "__nv_%s%s", base, t == DT_F64 ? "" : "f"), x, nargs);
}

/* x != 0 as i1 (lanes). */
static LLVMValueRef nonzero(LG *g, LLVMValueRef x, DType t)
{
    if (t == DT_BOOL)
        return x;
    LLVMValueRef z = LLVMConstNull(LLVMTypeOf(x));
    return is_f(t) ? LLVMBuildFCmp(g->b, LLVMRealUNE, x, z, "") : LLVMBuildICmp(g->b, LLVMIntNE, x, z, "");
}

/* ------------------------------------------------------- f16 and bf16 */

/* f16 in integer operations, as kiln_f16.h computes it: LLVM's fpext and
 * fptrunc of half become library calls on targets without a conversion
 * instruction (__extendhfsf2, __truncsfhf2), which some toolchains'
 * libgcc lacks (riscv64's in GCC 12). Without branches, so vectors stay
 * vectors. */

/* i32 (vector) constant c. */
static LLVMValueRef k32(LG *g, unsigned c, int lanes) { return cint(i32t(g), c, lanes); }

/* The f16 bits v (i16) as a float: normal numbers rebiased, inf and NaN
 * kept, subnormals m * 2^-24 (exact in float). */
static LLVMValueRef f16_to_f32(LG *g, LLVMValueRef v, int lanes)
{
    LLVMBuilderRef b = g->b;
    LLVMTypeRef it = like(i32t(g), lanes), ft = like(LLVMFloatTypeInContext(g->cx), lanes);
    LLVMValueRef h = LLVMBuildZExt(b, v, it, "");
    LLVMValueRef sign = LLVMBuildShl(b, LLVMBuildAnd(b, h, k32(g, 0x8000, lanes), ""), k32(g, 16, lanes), "");
    LLVMValueRef e = LLVMBuildAnd(b, LLVMBuildLShr(b, h, k32(g, 10, lanes), ""), k32(g, 0x1f, lanes), "");
    LLVMValueRef m = LLVMBuildAnd(b, h, k32(g, 0x3ff, lanes), "");
    LLVMValueRef m13 = LLVMBuildShl(b, m, k32(g, 13, lanes), "");
    LLVMValueRef normal = LLVMBuildOr(b, LLVMBuildShl(b, LLVMBuildAdd(b, e, k32(g, 112, lanes), ""), k32(g, 23, lanes), ""),
                                      m13, "");
    LLVMValueRef special = LLVMBuildOr(b, k32(g, 0x7f800000, lanes), m13, "");
    LLVMValueRef sub = LLVMBuildFMul(b, LLVMBuildUIToFP(b, m, ft, ""),
                                     cconst(LLVMConstReal(LLVMFloatTypeInContext(g->cx), 0x1p-24), lanes), "");
    sub = LLVMBuildBitCast(b, sub, it, "");
    LLVMValueRef r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, e, k32(g, 0x1f, lanes), ""), special, normal, "");
    r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, e, k32(g, 0, lanes), ""), sub, r, "");
    return LLVMBuildBitCast(b, LLVMBuildOr(b, r, sign, ""), ft, "");
}

/* hm + 1 where the bits below it, rem, are over half or half with hm odd:
 * round to nearest even. */
static LLVMValueRef round_even(LG *g, LLVMValueRef hm, LLVMValueRef rem, LLVMValueRef half, int lanes)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef odd = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, hm, k32(g, 1, lanes), ""), k32(g, 0, lanes), "");
    LLVMValueRef up = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntUGT, rem, half, ""),
                                  LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntEQ, rem, half, ""), odd, ""), "");
    return LLVMBuildAdd(b, hm, LLVMBuildZExt(b, up, LLVMTypeOf(hm), ""), "");
}

/* Float v as f16 bits (i16): round to nearest even, overflow to inf, NaN
 * kept quiet, subnormals rounded at their own position. */
static LLVMValueRef f32_to_f16(LG *g, LLVMValueRef v, int lanes)
{
    LLVMBuilderRef b = g->b;
    LLVMTypeRef it = like(i32t(g), lanes);
    LLVMValueRef x = LLVMBuildBitCast(b, v, it, "");
    LLVMValueRef sign = LLVMBuildAnd(b, LLVMBuildLShr(b, x, k32(g, 16, lanes), ""), k32(g, 0x8000, lanes), "");
    LLVMValueRef e = LLVMBuildAnd(b, LLVMBuildLShr(b, x, k32(g, 23, lanes), ""), k32(g, 0xff, lanes), "");
    LLVMValueRef m = LLVMBuildAnd(b, x, k32(g, 0x7fffff, lanes), "");
    LLVMValueRef ne = LLVMBuildSub(b, e, k32(g, 112, lanes), ""); /* the f16 exponent, signed */
    /* inf, NaN (quiet, the top of its payload), overflow */
    LLVMValueRef mhi = LLVMBuildLShr(b, m, k32(g, 13, lanes), "");
    LLVMValueRef nan = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntNE, m, k32(g, 0, lanes), ""),
                                       LLVMBuildOr(b, mhi, k32(g, 0x7e00, lanes), ""), k32(g, 0x7c00, lanes), "");
    /* normal: ne in [1, 30] */
    LLVMValueRef hn = LLVMBuildOr(b, LLVMBuildShl(b, ne, k32(g, 10, lanes), ""), mhi, "");
    hn = round_even(g, hn, LLVMBuildAnd(b, m, k32(g, 0x1fff, lanes), ""), k32(g, 0x1000, lanes), lanes);
    /* subnormal: ne in [-10, 0], the implicit bit shifted by 14 - ne
     * (24 where the result is 0, or not this one: no shift out of range) */
    LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, ne, k32(g, (unsigned)-10, lanes), "");
    LLVMValueRef out = LLVMBuildOr(b, neg, LLVMBuildICmp(b, LLVMIntSGT, ne, k32(g, 0, lanes), ""), "");
    LLVMValueRef sh = LLVMBuildSelect(b, out, k32(g, 24, lanes), LLVMBuildSub(b, k32(g, 14, lanes), ne, ""), "");
    LLVMValueRef mm = LLVMBuildOr(b, m, k32(g, 0x800000, lanes), "");
    LLVMValueRef ones = LLVMBuildSub(b, LLVMBuildShl(b, k32(g, 1, lanes), sh, ""), k32(g, 1, lanes), "");
    LLVMValueRef half = LLVMBuildShl(b, k32(g, 1, lanes), LLVMBuildSub(b, sh, k32(g, 1, lanes), ""), "");
    LLVMValueRef hs = round_even(g, LLVMBuildLShr(b, mm, sh, ""), LLVMBuildAnd(b, mm, ones, ""), half, lanes);
    hs = LLVMBuildSelect(b, neg, k32(g, 0, lanes), hs, "");
    LLVMValueRef r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLE, ne, k32(g, 0, lanes), ""), hs, hn, "");
    r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGE, ne, k32(g, 31, lanes), ""), k32(g, 0x7c00, lanes), r, "");
    r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, e, k32(g, 0xff, lanes), ""), nan, r, "");
    return LLVMBuildTrunc(b, LLVMBuildOr(b, r, sign, ""), like(LLVMInt16TypeInContext(g->cx), lanes), "");
}

LLVMValueRef lg_widen(LG *g, LLVMValueRef v, DType t)
{
    int lanes = lanes_of(v);
    if (t == DT_BOOL)
        return LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
    if (t == DT_F16)
        return f16_to_f32(g, v, lanes);
    if (t == DT_BF16) {
        LLVMValueRef w = LLVMBuildZExt(g->b, v, like(i32t(g), lanes), "");
        w = LLVMBuildShl(g->b, w, cint(i32t(g), 16, lanes), "");
        return LLVMBuildBitCast(g->b, w, like(LLVMFloatTypeInContext(g->cx), lanes), "");
    }
    return v;
}

LLVMValueRef lg_narrow(LG *g, LLVMValueRef v, DType t)
{
    int lanes = lanes_of(v);
    if (t == DT_BOOL)
        return LLVMBuildZExt(g->b, v, like(LLVMInt8TypeInContext(g->cx), lanes), "");
    if (t == DT_F16)
        return f32_to_f16(g, v, lanes); /* round to nearest even; a NaN stays quiet (kiln_f32_to_f16) */
    if (t == DT_BF16) {
        /* kiln_f32_to_bf16: x + 0x7fff + (x >> 16 & 1), NaN made quiet */
        LLVMTypeRef it = like(i32t(g), lanes);
        LLVMValueRef x = LLVMBuildBitCast(g->b, v, it, "");
        LLVMValueRef hi = LLVMBuildLShr(g->b, x, cint(i32t(g), 16, lanes), "");
        LLVMValueRef odd = LLVMBuildAnd(g->b, hi, cint(i32t(g), 1, lanes), "");
        LLVMValueRef r = LLVMBuildAdd(g->b, LLVMBuildAdd(g->b, x, cint(i32t(g), 0x7fff, lanes), ""), odd, "");
        r = LLVMBuildLShr(g->b, r, cint(i32t(g), 16, lanes), "");
        LLVMValueRef mag = LLVMBuildAnd(g->b, x, cint(i32t(g), 0x7fffffff, lanes), "");
        LLVMValueRef nan = LLVMBuildICmp(g->b, LLVMIntUGT, mag, cint(i32t(g), 0x7f800000, lanes), "");
        LLVMValueRef q = LLVMBuildOr(g->b, hi, cint(i32t(g), 0x40, lanes), "");
        r = LLVMBuildSelect(g->b, nan, q, r, "");
        return LLVMBuildTrunc(g->b, r, like(LLVMInt16TypeInContext(g->cx), lanes), "");
    }
    return v;
}

/* ---------------------------------------------------------------- casts */

/* v, of type `from`, converted to `to` (lane by lane). */
static LLVMValueRef cast(LG *g, LLVMValueRef v, DType from, DType to)
{
    int lanes = lanes_of(v);
    LLVMTypeRef tt = lg_type(g, to, lanes);
    if (to == DT_BOOL)
        return nonzero(g, v, from);
    if (dtype_is_half(to)) {
        /* to float first (as C's (float) does), then rounded to the type */
        LLVMValueRef f = cast(g, v, from, DT_F32);
        return lg_widen(g, lg_narrow(g, f, to), to);
    }
    if (dtype_is_half(from))
        from = DT_F32; /* its value is a float already */
    if (from == to || LLVMTypeOf(v) == tt) {
        if (is_f(from) == is_f(to))
            return v;
    }
    if (is_f(from) && is_f(to))
        return from == DT_F64 ? LLVMBuildFPTrunc(g->b, v, tt, "") : LLVMBuildFPExt(g->b, v, tt, "");
    if (from == DT_BOOL)
        return is_f(to) ? LLVMBuildUIToFP(g->b, v, tt, "") : LLVMBuildZExt(g->b, v, tt, "");
    if (is_f(to))
        return is_signed_int(from) ? LLVMBuildSIToFP(g->b, v, tt, "") : LLVMBuildUIToFP(g->b, v, tt, "");
    if (is_f(from)) {
        /* saturating (NaN is 0), then wrapped to the width: kiln_ftoi on a
         * double for scalars, as the C target; vectors saturate at their
         * own width (the C target's vectors convert without a rule) */
        if (lanes > 1) {
            LLVMTypeRef ov[2] = {tt, LLVMTypeOf(v)};
            return lg_intrinsic(g, is_signed_int(to) ? "llvm.fptosi.sat" : "llvm.fptoui.sat", ov, 2, &v, 1);
        }
        LLVMValueRef d = from == DT_F64 ? v : LLVMBuildFPExt(g->b, v, LLVMDoubleTypeInContext(g->cx), "");
        LLVMTypeRef ov[2] = {i64t(g), LLVMDoubleTypeInContext(g->cx)};
        LLVMValueRef r = lg_intrinsic(g, to == DT_U64 ? "llvm.fptoui.sat" : "llvm.fptosi.sat", ov, 2, &d, 1);
        return LLVMGetIntTypeWidth(tt) == 64 ? r : LLVMBuildTrunc(g->b, r, tt, "");
    }
    /* integer to integer: extended by the source's sign, or truncated */
    unsigned fw = LLVMGetIntTypeWidth(lanes > 1 ? LLVMGetElementType(LLVMTypeOf(v)) : LLVMTypeOf(v));
    unsigned tw = LLVMGetIntTypeWidth(lanes > 1 ? LLVMGetElementType(tt) : tt);
    if (fw == tw)
        return v;
    if (fw > tw)
        return LLVMBuildTrunc(g->b, v, tt, "");
    return is_signed_int(from) ? LLVMBuildSExt(g->b, v, tt, "") : LLVMBuildZExt(g->b, v, tt, "");
}

static LLVMValueRef bitcast(LG *g, const Expr *e)
{
    DType from = e->a->type, to = e->type;
    LLVMValueRef v = lg_expr(g, e->a);
    if (to == DT_BOOL)
        return nonzero(g, v, from);
    if (dtype_is_half(from) || from == DT_BOOL)
        v = lg_narrow(g, v, from); /* its stored bits: 16 for f16/bf16, a byte for bool */
    int lanes = e->lanes;
    LLVMTypeRef bits = dtype_is_half(to) ? like(LLVMInt16TypeInContext(g->cx), lanes) : lg_type(g, to, lanes);
    v = LLVMBuildBitCast(g->b, v, bits, "");
    return dtype_is_half(to) ? lg_widen(g, v, to) : v;
}

/* ------------------------------------------------------------ operators */

static const char *fsuf(DType t) { return t == DT_F64 ? "" : "f"; }

static LLVMValueRef unary(LG *g, const Expr *e)
{
    DType t = e->a->type;
    UnOp op = (UnOp)e->op;
    LLVMValueRef x = lg_expr(g, e->a);
    int lanes = e->lanes;
    if (op == U_ISNAN || op == U_ISINF) {
        if (!is_f(t))
            return cint(LLVMInt1TypeInContext(g->cx), 0, lanes);
        if (op == U_ISNAN)
            return LLVMBuildFCmp(g->b, LLVMRealUNO, x, x, "");
        LLVMValueRef inf = cconst(LLVMConstReal(lg_type(g, t, 1), INFINITY), lanes);
        return LLVMBuildFCmp(g->b, LLVMRealOEQ, intr1(g, "llvm.fabs", x), inf, "");
    }
    if (!is_f(t) && (op == U_FLOOR || op == U_CEIL || op == U_ROUND || op == U_TRUNC))
        return x;
    switch (op) {
    case U_NEG:
        return is_f(t) ? LLVMBuildFNeg(g->b, x, "") : LLVMBuildSub(g->b, LLVMConstNull(LLVMTypeOf(x)), x, "");
    case U_NOT:
        return LLVMBuildXor(g->b, nonzero(g, x, t), lg_all_true(g, lanes), "");
    case U_BNOT:
        return LLVMBuildNot(g->b, x, "");
    case U_ABS:
        if (is_f(t))
            return intr1(g, "llvm.fabs", x);
        if (!is_signed_int(t))
            return x;
        {
            /* wraps: abs(MIN) = MIN */
            LLVMTypeRef ty = LLVMTypeOf(x);
            LLVMValueRef a[2] = {x, LLVMConstInt(LLVMInt1TypeInContext(g->cx), 0, 0)};
            return lg_intrinsic(g, "llvm.abs", &ty, 1, a, 2);
        }
    default:
        break;
    }
    if (!is_f(t)) {
        g->bad = g->bad ? g->bad : arena_printf(g->a, "unary %s on %s", unop_name(op), dtype_name(t));
        return LLVMGetUndef(lg_type(g, e->type, lanes));
    }
    const char *in = NULL, *fn = NULL;
    switch (op) {
    case U_SQRT: in = "llvm.sqrt"; break;
    case U_EXP: in = "llvm.exp"; break;
    case U_LOG: in = "llvm.log"; break;
    case U_SIN: in = "llvm.sin"; break;
    case U_COS: in = "llvm.cos"; break;
    case U_FLOOR: in = "llvm.floor"; break;
    case U_CEIL: in = "llvm.ceil"; break;
    case U_TRUNC: in = "llvm.trunc"; break;
    case U_ROUND: in = "llvm.roundeven"; break; /* nearbyint: half to even */
    case U_TAN: fn = "tan"; break;
    case U_ASIN: fn = "asin"; break;
    case U_ACOS: fn = "acos"; break;
    case U_ATAN: fn = "atan"; break;
    case U_SINH: fn = "sinh"; break;
    case U_COSH: fn = "cosh"; break;
    case U_TANH: fn = "tanh"; break;
    case U_ASINH: fn = "asinh"; break;
    case U_ACOSH: fn = "acosh"; break;
    case U_ATANH: fn = "atanh"; break;
    case U_ERF: fn = "erf"; break;
    default: break;
    }
    if (g->gpu && op != U_SQRT && op != U_FLOOR && op != U_CEIL && op != U_TRUNC && op != U_ROUND) {
        /* NVPTX has no libm: CUDA's libdevice, linked by targets/ptx */
        const char *base = in ? in + 5 : fn; /* "llvm.exp" -> "exp" */
        if (base)
            return gpu_math(g, base, t, &x, 1);
    }
    if (lanes > 1 && t == DT_F32 && !g->gpu) {
        /* exp, log, tanh, erf in line (lmath.c); sin, cos through kiln_vec.h */
        int vm = op == U_SIN ? VM_SIN : op == U_COS ? VM_COS : -1;
        LLVMValueRef v = vm >= 0 ? vecmath(g, vm, &x, 1) : lg_math_f32(g, op, x);
        if (v)
            return v;
    }
    if (in)
        return intr1(g, in, x);
    if (fn)
        return libm(g, arena_printf(g->a, "%s%s", fn, fsuf(t)), &x, 1);
    g->bad = g->bad ? g->bad : arena_printf(g->a, "unary %s", unop_name(op));
    return LLVMGetUndef(lg_type(g, e->type, lanes));
}

/* An integer operation as C computes it on narrow types: in i32 (each
 * operand extended by its sign), truncated back. */
static LLVMValueRef promoted(LG *g, BinOp op, DType t, LLVMValueRef x, LLVMValueRef y)
{
    int lanes = lanes_of(x);
    LLVMTypeRef wt = like(i32t(g), lanes), nt = LLVMTypeOf(x);
    int s = is_signed_int(t);
    LLVMValueRef a = s ? LLVMBuildSExt(g->b, x, wt, "") : LLVMBuildZExt(g->b, x, wt, "");
    LLVMValueRef b = s ? LLVMBuildSExt(g->b, y, wt, "") : LLVMBuildZExt(g->b, y, wt, "");
    LLVMValueRef r;
    switch (op) {
    case B_DIV: r = LLVMBuildSDiv(g->b, a, b, ""); break; /* exact in i32 for both signs */
    case B_MOD: r = LLVMBuildSRem(g->b, a, b, ""); break;
    case B_SHL: r = LLVMBuildShl(g->b, a, b, ""); break;
    default: r = s ? LLVMBuildAShr(g->b, a, b, "") : LLVMBuildLShr(g->b, a, b, ""); break;
    }
    return LLVMBuildTrunc(g->b, r, nt, "");
}

static LLVMValueRef fcmp(LG *g, LLVMRealPredicate p, LLVMValueRef x, LLVMValueRef y)
{
    return LLVMBuildFCmp(g->b, p, x, y, "");
}

/* x op y for operands of type t (values already built). */
static LLVMValueRef binop(LG *g, BinOp op, DType t, LLVMValueRef x, LLVMValueRef y)
{
    int f = is_f(t), s = is_signed_int(t) || t == DT_INDEX;
    LLVMBuilderRef b = g->b;
    switch (op) {
    case B_ADD: return f ? contract(LLVMBuildFAdd(b, x, y, "")) : LLVMBuildAdd(b, x, y, "");
    case B_SUB: return f ? contract(LLVMBuildFSub(b, x, y, "")) : LLVMBuildSub(b, x, y, "");
    case B_MUL: return f ? contract(LLVMBuildFMul(b, x, y, "")) : LLVMBuildMul(b, x, y, "");
    case B_DIV:
        if (f)
            return LLVMBuildFDiv(b, x, y, "");
        if (narrow(t))
            return promoted(g, op, t, x, y);
        return s ? LLVMBuildSDiv(b, x, y, "") : LLVMBuildUDiv(b, x, y, "");
    case B_MOD:
        if (f && g->gpu) {
            LLVMValueRef a[2] = {x, y};
            return gpu_math(g, "fmod", t, a, 2);
        }
        if (f)
            return LLVMBuildFRem(b, x, y, ""); /* fmod */
        if (narrow(t))
            return promoted(g, op, t, x, y);
        return s ? LLVMBuildSRem(b, x, y, "") : LLVMBuildURem(b, x, y, "");
    case B_POW:
        if (f) {
            LLVMTypeRef ty = LLVMTypeOf(x);
            LLVMValueRef a[2] = {x, y}, v = NULL;
            if (g->gpu)
                return gpu_math(g, "pow", t, a, 2);
            if (t == DT_F32 && lanes_of(x) > 1)
                v = vecmath(g, VM_POW, a, 2);
            return v ? v : lg_intrinsic(g, "llvm.pow", &ty, 1, a, 2);
        }
        break; /* integers: ipow() below */
    case B_ATAN2: {
        LLVMValueRef a[2] = {x, y};
        if (g->gpu)
            return gpu_math(g, "atan2", t, a, 2);
        return libm(g, t == DT_F64 ? "atan2" : "atan2f", a, 2);
    }
    case B_MIN: case B_MAX: {
        LLVMValueRef c;
        if (f) {
            /* a < b || a != a ? a : b: a NaN in a propagates */
            c = fcmp(g, op == B_MIN ? LLVMRealOLT : LLVMRealOGT, x, y);
            c = LLVMBuildOr(b, c, fcmp(g, LLVMRealUNO, x, x), "");
        } else {
            LLVMIntPredicate p = op == B_MIN ? (s ? LLVMIntSLT : LLVMIntULT) : (s ? LLVMIntSGT : LLVMIntUGT);
            c = LLVMBuildICmp(b, p, x, y, "");
        }
        return LLVMBuildSelect(b, c, x, y, "");
    }
    case B_EQ: return f ? fcmp(g, LLVMRealOEQ, x, y) : LLVMBuildICmp(b, LLVMIntEQ, x, y, "");
    case B_NE: return f ? fcmp(g, LLVMRealUNE, x, y) : LLVMBuildICmp(b, LLVMIntNE, x, y, "");
    case B_LT: return f ? fcmp(g, LLVMRealOLT, x, y) : LLVMBuildICmp(b, s ? LLVMIntSLT : LLVMIntULT, x, y, "");
    case B_LE: return f ? fcmp(g, LLVMRealOLE, x, y) : LLVMBuildICmp(b, s ? LLVMIntSLE : LLVMIntULE, x, y, "");
    case B_GT: return f ? fcmp(g, LLVMRealOGT, x, y) : LLVMBuildICmp(b, s ? LLVMIntSGT : LLVMIntUGT, x, y, "");
    case B_GE: return f ? fcmp(g, LLVMRealOGE, x, y) : LLVMBuildICmp(b, s ? LLVMIntSGE : LLVMIntUGE, x, y, "");
    case B_AND: return LLVMBuildAnd(b, nonzero(g, x, t), nonzero(g, y, t), "");
    case B_OR: return LLVMBuildOr(b, nonzero(g, x, t), nonzero(g, y, t), "");
    case B_XOR: return LLVMBuildXor(b, nonzero(g, x, t), nonzero(g, y, t), "");
    case B_BAND: if (!f) return LLVMBuildAnd(b, x, y, ""); break;
    case B_BOR: if (!f) return LLVMBuildOr(b, x, y, ""); break;
    case B_BXOR: if (!f) return LLVMBuildXor(b, x, y, ""); break;
    case B_SHL: case B_SHR:
        if (f)
            break;
        if (narrow(t))
            return promoted(g, op, t, x, y);
        if (op == B_SHL)
            return LLVMBuildShl(b, x, y, "");
        return s ? LLVMBuildAShr(b, x, y, "") : LLVMBuildLShr(b, x, y, "");
    default:
        break;
    }
    return NULL;
}

/* Integer power b^e of type t, wrapping (the C target's kiln_pow_T): one
 * function per type in the module. */
static LLVMValueRef ipow(LG *g, DType t, LLVMValueRef x, LLVMValueRef y)
{
    const char *name = arena_printf(g->a, "kiln_llvm_pow_%s", dtype_name(t));
    LLVMTypeRef it = lg_type(g, t, 1), pt[2] = {it, it};
    LLVMTypeRef ft = LLVMFunctionType(it, pt, 2, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->m, name);
    if (!f) {
        f = LLVMAddFunction(g->m, name, ft);
        LLVMSetLinkage(f, LLVMInternalLinkage);
        LLVMBuilderRef b = LLVMCreateBuilderInContext(g->cx);
        LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->cx, f, "entry");
        LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(g->cx, f, "loop");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->cx, f, "done");
        LLVMBasicBlockRef neg = LLVMAppendBasicBlockInContext(g->cx, f, "neg");
        LLVMValueRef base = LLVMGetParam(f, 0), ex = LLVMGetParam(f, 1);
        LLVMValueRef zero = LLVMConstInt(it, 0, 0), one = LLVMConstInt(it, 1, 0);
        LLVMPositionBuilderAtEnd(b, entry);
        if (is_signed_int(t))
            LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, ex, zero, ""), neg, loop);
        else
            LLVMBuildBr(b, loop);
        /* e < 0: 1 for b == 1, +-1 for b == -1, else 0 */
        LLVMPositionBuilderAtEnd(b, neg);
        LLVMValueRef m1 = LLVMConstAllOnes(it);
        LLVMValueRef odd = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, ex, one, ""), zero, "");
        LLVMValueRef r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, base, m1, ""),
                                         LLVMBuildSelect(b, odd, m1, one, ""), zero, "");
        r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, base, one, ""), one, r, "");
        LLVMBuildRet(b, r);
        /* by squaring */
        LLVMPositionBuilderAtEnd(b, loop);
        LLVMValueRef pr = LLVMBuildPhi(b, it, "r"), pb = LLVMBuildPhi(b, it, "b"), pe = LLVMBuildPhi(b, it, "e");
        LLVMValueRef more = LLVMBuildICmp(b, is_signed_int(t) ? LLVMIntSGT : LLVMIntNE, pe, zero, "");
        LLVMBasicBlockRef step = LLVMAppendBasicBlockInContext(g->cx, f, "step");
        LLVMBuildCondBr(b, more, step, done);
        LLVMPositionBuilderAtEnd(b, step);
        LLVMValueRef bit = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, pe, one, ""), zero, "");
        LLVMValueRef nr = LLVMBuildSelect(b, bit, LLVMBuildMul(b, pr, pb, ""), pr, "");
        LLVMValueRef nb = LLVMBuildMul(b, pb, pb, "");
        LLVMValueRef ne = is_signed_int(t) ? LLVMBuildAShr(b, pe, one, "") : LLVMBuildLShr(b, pe, one, "");
        LLVMBuildBr(b, loop);
        LLVMValueRef rv[2] = {one, nr}, bv[2] = {base, nb}, ev[2] = {ex, ne};
        LLVMBasicBlockRef from[2] = {entry, step};
        LLVMAddIncoming(pr, rv, from, 2);
        LLVMAddIncoming(pb, bv, from, 2);
        LLVMAddIncoming(pe, ev, from, 2);
        LLVMPositionBuilderAtEnd(b, done);
        LLVMBuildRet(b, pr);
        LLVMDisposeBuilder(b);
    }
    LLVMValueRef a[2] = {x, y};
    if (lanes_of(x) == 1)
        return LLVMBuildCall2(g->b, ft, f, a, 2, "");
    LLVMValueRef out = LLVMGetPoison(LLVMTypeOf(x));
    for (int i = 0; i < lanes_of(x); i++) {
        LLVMValueRef lane = LLVMConstInt(i32t(g), (unsigned long long)i, 0);
        LLVMValueRef s[2] = {LLVMBuildExtractElement(g->b, x, lane, ""), LLVMBuildExtractElement(g->b, y, lane, "")};
        out = LLVMBuildInsertElement(g->b, out, LLVMBuildCall2(g->b, ft, f, s, 2, ""), lane, "");
    }
    return out;
}

static LLVMValueRef binary(LG *g, const Expr *e)
{
    DType t = e->a->type;
    LLVMValueRef x = lg_expr(g, e->a), y = lg_expr(g, e->b);
    if (e->op == B_POW && !is_f(t))
        return ipow(g, t, x, y);
    LLVMValueRef r = binop(g, (BinOp)e->op, t, x, y);
    if (!r) {
        g->bad = g->bad ? g->bad : arena_printf(g->a, "binary %s on %s", binop_name((BinOp)e->op), dtype_name(t));
        return LLVMGetUndef(lg_type(g, e->type, e->lanes));
    }
    return r;
}

/* The lanes of v combined by op in kiln_vec.h's tree order: lane i with
 * lane i + W/2, down to one lane. */
static LLVMValueRef hreduce(LG *g, const Expr *e)
{
    LLVMValueRef v = lg_expr(g, e->a);
    int w = e->a->lanes;
    DType t = e->a->type;
    while (w > 1 && !(w & 1)) {
        int h = w / 2;
        LLVMValueRef lo[KILN_MAX_LANES], hi[KILN_MAX_LANES];
        for (int i = 0; i < h; i++) {
            lo[i] = LLVMConstInt(i32t(g), (unsigned long long)i, 0);
            hi[i] = LLVMConstInt(i32t(g), (unsigned long long)(i + h), 0);
        }
        LLVMValueRef a = LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(lo, (unsigned)h), "");
        LLVMValueRef b = LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(hi, (unsigned)h), "");
        if (h == 1) {
            a = LLVMBuildExtractElement(g->b, a, LLVMConstInt(i32t(g), 0, 0), "");
            b = LLVMBuildExtractElement(g->b, b, LLVMConstInt(i32t(g), 0, 0), "");
        }
        v = binop(g, (BinOp)e->op, t, a, b);
        w = h;
    }
    if (w > 1) { /* an odd width: lane by lane */
        LLVMValueRef acc = LLVMBuildExtractElement(g->b, v, LLVMConstInt(i32t(g), 0, 0), "");
        for (int i = 1; i < w; i++)
            acc = binop(g, (BinOp)e->op, t, acc,
                        LLVMBuildExtractElement(g->b, v, LLVMConstInt(i32t(g), (unsigned long long)i, 0), ""));
        v = acc;
    }
    return v;
}

/* ---------------------------------------------------------------- loads */

LLVMValueRef lg_addr(LG *g, int buf, LLVMValueRef index)
{
    return LLVMBuildGEP2(g->b, lg_store_type(g, g->p->bufs[buf].dtype), g->buf[buf], &index, 1, "");
}

static int contiguous(const Expr *index) { return index->kind == E_RAMP && index->i == 1; }

static LLVMValueRef load(LG *g, const Expr *e)
{
    DType t = g->p->bufs[e->buf].dtype;
    LLVMTypeRef st = lg_store_type(g, t);
    unsigned align = (unsigned)dtype_size(t);
    int lanes = e->lanes;
    if (lanes == 1) {
        LLVMValueRef at = lg_addr(g, e->buf, lg_expr(g, e->a));
        if (!e->b) {
            LLVMValueRef v = LLVMBuildLoad2(g->b, st, at, "");
            LLVMSetAlignment(v, align);
            return lg_widen(g, v, t);
        }
        /* a scalar under a mask: read only when it is on */
        LLVMValueRef on = lg_expr(g, e->b);
        LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
        LLVMBasicBlockRef rd = LLVMAppendBasicBlockInContext(g->cx, g->fn, "mload");
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->cx, g->fn, "mjoin");
        LLVMBuildCondBr(g->b, on, rd, join);
        LLVMPositionBuilderAtEnd(g->b, rd);
        LLVMValueRef v = LLVMBuildLoad2(g->b, st, at, "");
        LLVMSetAlignment(v, align);
        v = lg_widen(g, v, t);
        LLVMBasicBlockRef rd_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, join);
        LLVMPositionBuilderAtEnd(g->b, join);
        LLVMValueRef phi = LLVMBuildPhi(g->b, LLVMTypeOf(v), "");
        LLVMValueRef vals[2] = {LLVMConstNull(LLVMTypeOf(v)), v};
        LLVMBasicBlockRef from[2] = {here, rd_end};
        LLVMAddIncoming(phi, vals, from, 2);
        return phi;
    }
    LLVMTypeRef vt = LLVMVectorType(st, (unsigned)lanes);
    LLVMValueRef mask = e->b ? lg_expr(g, e->b) : NULL, v;
    if (mask && e->b->lanes == 1)
        mask = lg_splat(g, mask, lanes); /* one condition for every lane */
    LLVMValueRef al = LLVMConstInt(i32t(g), align, 0);
    if (contiguous(e->a)) {
        LLVMValueRef at = lg_addr(g, e->buf, lg_expr(g, e->a->a));
        if (!mask) {
            v = LLVMBuildLoad2(g->b, vt, at, "");
            LLVMSetAlignment(v, align);
        } else {
            LLVMTypeRef ov[2] = {vt, LLVMTypeOf(at)};
            LLVMValueRef a[4] = {at, al, mask, LLVMConstNull(vt)};
            v = lg_intrinsic(g, "llvm.masked.load", ov, 2, a, 4);
        }
    } else {
        LLVMValueRef at = lg_addr(g, e->buf, lg_expr(g, e->a));
        LLVMTypeRef ov[2] = {vt, LLVMTypeOf(at)};
        LLVMValueRef a[4] = {at, al, mask ? mask : lg_all_true(g, lanes), LLVMConstNull(vt)};
        v = lg_intrinsic(g, "llvm.masked.gather", ov, 2, a, 4);
    }
    return lg_widen(g, v, t);
}

LLVMValueRef lg_var(LG *g, int v)
{
    if (!g->var[v]) {
        const Var *vr = &g->k->vars[v];
        g->var[v] = LLVMBuildAlloca(g->ab, lg_type(g, vr->type, vr->lanes), vr->name);
    }
    return g->var[v];
}

LLVMValueRef lg_expr(LG *g, const Expr *e)
{
    int lanes = e->lanes;
    switch (e->kind) {
    case E_CONST: {
        LLVMTypeRef t = lg_type(g, e->type, 1);
        LLVMValueRef c;
        if (is_f(e->type))
            c = LLVMConstReal(t, e->type == DT_F64 ? e->f : (double)(float)e->f);
        else if (e->type == DT_BOOL)
            c = LLVMConstInt(t, e->i != 0, 0);
        else {
            int bits = (int)LLVMGetIntTypeWidth(t);
            unsigned long long v = (unsigned long long)e->i;
            if (bits < 64)
                v &= (1ull << bits) - 1;
            c = LLVMConstInt(t, v, 0);
        }
        return cconst(c, lanes);
    }
    case E_VAR: {
        const Var *vr = &g->k->vars[e->var];
        return LLVMBuildLoad2(g->b, lg_type(g, vr->type, vr->lanes), lg_var(g, e->var), "");
    }
    case E_LOAD:
        return load(g, e);
    case E_UNARY:
        return unary(g, e);
    case E_BINARY:
        return binary(g, e);
    case E_SELECT: {
        LLVMValueRef c = lg_expr(g, e->a), x = lg_expr(g, e->b), y = lg_expr(g, e->c);
        return LLVMBuildSelect(g->b, nonzero(g, c, e->a->type), x, y, "");
    }
    case E_CAST:
        return cast(g, lg_expr(g, e->a), e->a->type, e->type);
    case E_BITCAST:
        return bitcast(g, e);
    case E_BCAST:
        return lg_splat(g, lg_expr(g, e->a), lanes);
    case E_RAMP: {
        LLVMValueRef base = lg_splat(g, lg_expr(g, e->a), lanes);
        LLVMTypeRef st = lg_type(g, e->type, 1);
        LLVMValueRef step[KILN_MAX_LANES];
        for (int i = 0; i < lanes; i++)
            step[i] = LLVMConstInt(st, (unsigned long long)(e->i * i), 1);
        return LLVMBuildAdd(g->b, base, LLVMConstVector(step, (unsigned)lanes), "");
    }
    case E_HREDUCE:
        return hreduce(g, e);
    }
    g->bad = g->bad ? g->bad : "an unknown expression";
    return LLVMGetUndef(lg_type(g, e->type, lanes));
}
