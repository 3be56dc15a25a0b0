/*
 * interp.c: run a kernel on concrete buffers.
 *
 * Constant folding runs each foldable node's own lowering through here, so
 * the semantics must be exactly those of the generated C: f32 arithmetic
 * rounds to float after every operation and uses the float libm functions
 * (expf, not exp); f16 and bf16 compute the same way and round to their
 * type when cast or stored; integers wrap to their width; u64 divides and
 * compares unsigned; casts from float truncate. Every load and store is bounds
 * checked, which makes the interpreter the test oracle for lowering bugs.
 * Vector expressions run lane by lane (eval's `l`): a ramp's lane is its
 * base plus l strides, a broadcast the scalar, a masked-off load lane 0; a
 * vector let or store computes all its lanes before it writes. The loop
 * passes' unit tests compare a kernel before and after a pass here.
 */
#include "kernel.h"
#include "../../runtime/kiln_f16.h"
#include "../../runtime/kiln_str.h"
#include "../../runtime/kiln_img.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct Val {
    int64_t i;  /* integer and bool types */
    double f;   /* float types */
} Val;

typedef struct Interp {
    const Program *p;
    const Kernel *k;
    void **mem;
    Val *vars;
    Diag *d;
    int failed;
} Interp;

/* A float result of type t: f64 keeps double precision, the others compute
 * in float. */
static int call(struct Interp *in, const Stmt *s);

static Val fval(DType t, double f)
{
    Val v = {0, t == DT_F64 ? f : (double)(float)f};
    return v;
}

static Val ival(DType t, int64_t i)
{
    Val v = {dtype_wrap(t, i), 0};
    return v;
}

static int fail(Interp *in, const char *fmt, ...)
{
    if (!in->failed) {
        va_list ap;
        va_start(ap, fmt);
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        diag_error(in->d, "kernel %s: %s", in->k->name, msg);
    }
    in->failed = 1;
    return 1;
}

static Val eval(Interp *in, const Expr *e, int l);

static double unary_f(UnOp op, DType t, double x)
{
    int s = t != DT_F64;
    float xf = (float)x;
    switch (op) {
    case U_NEG: return -x;
    case U_ABS: return s ? fabsf(xf) : fabs(x);
    case U_SQRT: return s ? sqrtf(xf) : sqrt(x);
    case U_EXP: return s ? expf(xf) : exp(x);
    case U_LOG: return s ? logf(xf) : log(x);
    case U_SIN: return s ? sinf(xf) : sin(x);
    case U_COS: return s ? cosf(xf) : cos(x);
    case U_TAN: return s ? tanf(xf) : tan(x);
    case U_ASIN: return s ? asinf(xf) : asin(x);
    case U_ACOS: return s ? acosf(xf) : acos(x);
    case U_ATAN: return s ? atanf(xf) : atan(x);
    case U_SINH: return s ? sinhf(xf) : sinh(x);
    case U_COSH: return s ? coshf(xf) : cosh(x);
    case U_TANH: return s ? tanhf(xf) : tanh(x);
    case U_ASINH: return s ? asinhf(xf) : asinh(x);
    case U_ACOSH: return s ? acoshf(xf) : acosh(x);
    case U_ATANH: return s ? atanhf(xf) : atanh(x);
    case U_ERF: return s ? erff(xf) : erf(x);
    case U_FLOOR: return s ? floorf(xf) : floor(x);
    case U_CEIL: return s ? ceilf(xf) : ceil(x);
    case U_ROUND: return s ? nearbyintf(xf) : nearbyint(x);
    case U_TRUNC: return s ? truncf(xf) : trunc(x);
    default: return x;
    }
}

static Val unary(Interp *in, const Expr *e, int l)
{
    Val x = eval(in, e->a, l);
    DType t = e->a->type;
    UnOp op = (UnOp)e->op;
    if (op == U_ISNAN)
        return ival(DT_BOOL, dtype_is_float(t) && isnan(x.f));
    if (op == U_ISINF)
        return ival(DT_BOOL, dtype_is_float(t) && isinf(x.f));
    if (op == U_NOT)
        return ival(DT_BOOL, !x.i);
    if (dtype_is_float(t))
        return fval(t, unary_f(op, t, x.f));
    switch (op) {
    case U_NEG: return ival(t, (int64_t)(0 - (uint64_t)x.i));
    case U_ABS: return ival(t, x.i < 0 ? (int64_t)(0 - (uint64_t)x.i) : x.i);
    case U_BNOT: return ival(t, ~x.i);
    case U_FLOOR: case U_CEIL: case U_ROUND: case U_TRUNC: return x;
    default:
        fail(in, "unary %s on integer type %s", unop_name(op), dtype_name(t));
        return x;
    }
}

static Val ipow(DType t, int64_t b, int64_t e)
{
    if (e < 0)
        return ival(t, b == 1 ? 1 : b == -1 ? (e % 2 ? -1 : 1) : 0);
    /* by squaring, wrapping: the same product mod 2^64 as e multiplications,
     * in log2(e) steps (a huge constant exponent must not hang folding) */
    uint64_t r = 1, x = (uint64_t)b;
    for (; e > 0; e >>= 1) {
        if (e & 1)
            r *= x;
        x *= x;
    }
    return ival(t, (int64_t)r);
}

static Val binary(Interp *in, const Expr *e, int l)
{
    Val x = eval(in, e->a, l), y = eval(in, e->b, l);
    DType t = e->a->type, rt = e->type;
    BinOp op = (BinOp)e->op;
    if (dtype_is_float(t)) {
        int s = t != DT_F64;
        double a = x.f, b = y.f;
        switch (op) {
        case B_ADD: return fval(t, a + b);
        case B_SUB: return fval(t, a - b);
        case B_MUL: return fval(t, a * b);
        case B_DIV: return fval(t, a / b);
        case B_MOD: return fval(t, s ? fmodf((float)a, (float)b) : fmod(a, b));
        case B_POW: return fval(t, s ? powf((float)a, (float)b) : pow(a, b));
        case B_ATAN2: return fval(t, s ? atan2f((float)a, (float)b) : atan2(a, b));
        case B_MIN: return fval(t, isnan(a) || a < b ? a : b);
        case B_MAX: return fval(t, isnan(a) || a > b ? a : b);
        case B_EQ: return ival(rt, a == b);
        case B_NE: return ival(rt, a != b);
        case B_LT: return ival(rt, a < b);
        case B_LE: return ival(rt, a <= b);
        case B_GT: return ival(rt, a > b);
        case B_GE: return ival(rt, a >= b);
        default:
            fail(in, "binary %s on float type %s", binop_name(op), dtype_name(t));
            return x;
        }
    }
    int64_t a = x.i, b = y.i;
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    int u64 = t == DT_U64;
    switch (op) {
    case B_ADD: return ival(rt, (int64_t)(ua + ub));
    case B_SUB: return ival(rt, (int64_t)(ua - ub));
    case B_MUL: return ival(rt, (int64_t)(ua * ub));
    case B_DIV:
        if (b == 0) {
            fail(in, "integer division by zero");
            return x;
        }
        return ival(rt, u64 ? (int64_t)(ua / ub) : (a == INT64_MIN && b == -1) ? a : a / b);
    case B_MOD:
        if (b == 0) {
            fail(in, "integer remainder by zero");
            return x;
        }
        return ival(rt, u64 ? (int64_t)(ua % ub) : (b == -1) ? 0 : a % b);
    case B_POW: return ipow(rt, a, b);
    case B_MIN: return ival(rt, u64 ? (int64_t)(ua < ub ? ua : ub) : a < b ? a : b);
    case B_MAX: return ival(rt, u64 ? (int64_t)(ua > ub ? ua : ub) : a > b ? a : b);
    case B_EQ: return ival(rt, a == b);
    case B_NE: return ival(rt, a != b);
    case B_LT: return ival(rt, u64 ? ua < ub : a < b);
    case B_LE: return ival(rt, u64 ? ua <= ub : a <= b);
    case B_GT: return ival(rt, u64 ? ua > ub : a > b);
    case B_GE: return ival(rt, u64 ? ua >= ub : a >= b);
    case B_AND: return ival(rt, a && b);
    case B_OR: return ival(rt, a || b);
    case B_XOR: return ival(rt, !a != !b);
    case B_BAND: return ival(rt, a & b);
    case B_BOR: return ival(rt, a | b);
    case B_BXOR: return ival(rt, a ^ b);
    case B_SHL: return ival(rt, b >= 64 ? 0 : (int64_t)(ua << b));
    case B_SHR:
        if (b >= 64)
            return ival(rt, 0);
        return ival(rt, dtype_is_signed(t) ? a >> b : (int64_t)(ua >> b));
    default:
        fail(in, "binary %s on integer type %s", binop_name(op), dtype_name(t));
        return x;
    }
}

static Val cast(Interp *in, const Expr *e, int l)
{
    Val x = eval(in, e->a, l);
    DType from = e->a->type, to = e->type;
    if (to == DT_BOOL)
        return ival(to, dtype_is_float(from) ? x.f != 0 : x.i != 0);
    if (dtype_is_float(to)) {
        double f = !dtype_is_float(from) ? (from == DT_U64 ? (double)(uint64_t)x.i : (double)x.i) : x.f;
        if (to == DT_F16)
            f = kiln_round_f16((float)f);
        else if (to == DT_BF16)
            f = kiln_round_bf16((float)f);
        return fval(to, f);
    }
    if (dtype_is_float(from)) {
        double f = trunc(x.f);
        if (isnan(f))
            return ival(to, 0);
        if (to == DT_U64)
            return ival(to, f >= 18446744073709551615.0 ? -1 : f <= 0 ? 0 : (int64_t)(uint64_t)f);
        if (f >= 9223372036854775807.0)
            return ival(to, INT64_MAX);
        if (f <= -9223372036854775808.0)
            return ival(to, INT64_MIN);
        return ival(to, (int64_t)f);
    }
    return ival(to, x.i);
}

/* The bits of a value of one type read as another of the same width:
 * stored as the first (f16/bf16 round to their bits), loaded as the second. */
static Val bitcast(Interp *in, const Expr *e, int l)
{
    Val x = eval(in, e->a, l);
    DType from = e->a->type, to = e->type;
    unsigned char bytes[8];
    if (dtype_is_float(from))
        dtype_set_f(from, bytes, 0, x.f);
    else
        dtype_set_i(from, bytes, 0, x.i);
    return dtype_is_float(to) ? fval(to, dtype_get_f(to, bytes, 0)) : ival(to, dtype_get_i(to, bytes, 0));
}

/* Lane l of e (scalars have one value, whatever l). */
static Val eval(Interp *in, const Expr *e, int l)
{
    Val zero = {0, 0};
    if (in->failed)
        return zero;
    if (e->lanes == 1)
        l = 0;
    switch (e->kind) {
    case E_CONST:
        return dtype_is_float(e->type) ? fval(e->type, e->f) : ival(e->type, e->i);
    case E_VAR:
        return in->vars[e->var * KILN_MAX_LANES + l];
    case E_LOAD: {
        if (e->b && !eval(in, e->b, l).i)
            return zero; /* a masked-off lane reads nothing */
        Val ix = eval(in, e->a, l);
        const Buffer *b = &in->p->bufs[e->buf];
        if (ix.i < 0 || ix.i >= b->numel) {
            fail(in, "load of %s[%lld] outside its %lld elements", b->name, (long long)ix.i,
                 (long long)b->numel);
            return zero;
        }
        void *m = in->mem[e->buf];
        return dtype_is_float(b->dtype) ? fval(b->dtype, dtype_get_f(b->dtype, m, ix.i))
                                        : ival(b->dtype, dtype_get_i(b->dtype, m, ix.i));
    }
    case E_UNARY:
        return unary(in, e, l);
    case E_BINARY:
        return binary(in, e, l);
    case E_SELECT:
        return eval(in, e->a, l).i ? eval(in, e->b, l) : eval(in, e->c, l);
    case E_CAST:
        return cast(in, e, l);
    case E_BITCAST:
        return bitcast(in, e, l);
    case E_BCAST:
        return eval(in, e->a, 0);
    case E_RAMP: {
        Val base = eval(in, e->a, 0);
        return ival(e->type, (int64_t)((uint64_t)base.i + (uint64_t)e->i * (uint64_t)l));
    }
    case E_HREDUCE: {
        /* lanes folded in order, as the binary operator would */
        Expr ca = {.kind = E_CONST, .type = e->type, .lanes = 1}, cb = ca;
        Expr step = {.kind = E_BINARY, .type = e->type, .lanes = 1, .op = e->op, .a = &ca, .b = &cb};
        Val acc = eval(in, e->a, 0);
        for (int i = 1; i < e->a->lanes && !in->failed; i++) {
            Val x = eval(in, e->a, i);
            ca.i = acc.i, ca.f = acc.f, cb.i = x.i, cb.f = x.f;
            acc = binary(in, &step, 0);
        }
        return acc;
    }
    }
    return zero;
}

static int exec(Interp *in, const Stmt *s)
{
    for (; s && !in->failed; s = s->next) {
        switch (s->kind) {
        case S_LOOP: {
            int64_t n = eval(in, s->extent, 0).i;
            for (int64_t i = 0; i < n && !in->failed; i++) {
                in->vars[s->var * KILN_MAX_LANES].i = i;
                exec(in, s->body);
            }
            break;
        }
        case S_STORE: {
            const Buffer *b = &in->p->bufs[s->buf];
            for (int l = 0; l < s->index->lanes && !in->failed; l++) {
                if (s->mask && !eval(in, s->mask, l).i)
                    continue;
                Val ix = eval(in, s->index, l), v = eval(in, s->value, l);
                if (in->failed)
                    break;
                if (ix.i < 0 || ix.i >= b->numel)
                    return fail(in, "store to %s[%lld] outside its %lld elements", b->name, (long long)ix.i,
                                (long long)b->numel);
                if (dtype_is_float(b->dtype))
                    dtype_set_f(b->dtype, in->mem[s->buf], ix.i, v.f);
                else
                    dtype_set_i(b->dtype, in->mem[s->buf], ix.i, v.i);
            }
            break;
        }
        case S_LET:
        case S_ASSIGN: {
            /* every lane is computed from the old value before any is written */
            Val tmp[KILN_MAX_LANES];
            int lanes = s->value->lanes;
            for (int l = 0; l < lanes; l++)
                tmp[l] = eval(in, s->value, l);
            for (int l = 0; l < lanes; l++)
                in->vars[s->var * KILN_MAX_LANES + l] = tmp[l];
            break;
        }
        case S_IF:
            if (eval(in, s->value, 0).i)
                exec(in, s->body);
            else
                exec(in, s->els);
            break;
        case S_CALL:
            if (call(in, s))
                return 1;
            break;
        }
    }
    return in->failed;
}

/* A call of one of the string routines (runtime/kiln_str.h) or of the
 * image decoder (runtime/kiln_img.h), which kiln links: loads are their element's address (checked inside the buffer),
 * values integers. Any other routine cannot be interpreted. */
static int call(Interp *in, const Stmt *s)
{
    void *p[8];
    int64_t v[8];
    if (s->nargs > 8)
        return fail(in, "runtime routine %s cannot be interpreted", s->routine);
    for (int i = 0; i < s->nargs; i++) {
        const Expr *e = s->args[i];
        p[i] = NULL;
        v[i] = 0;
        if (e->kind != E_LOAD) {
            v[i] = eval(in, e, 0).i;
            continue;
        }
        const Buffer *b = &in->p->bufs[e->buf];
        int64_t ix = eval(in, e->a, 0).i;
        if (ix < 0 || ix >= b->numel)
            return fail(in, "call of %s with %s[%lld] outside its %lld elements", s->routine, b->name,
                        (long long)ix, (long long)b->numel);
        p[i] = (char *)in->mem[e->buf] + ix * dtype_size(b->dtype);
    }
#define N(name, n) (!strcmp(s->routine, name) && s->nargs == (n))
    if (N("kiln_str_eq", 3))
        kiln_str_eq(p[0], p[1], p[2]);
    else if (N("kiln_str_copy", 2))
        kiln_str_copy(p[0], p[1]);
    else if (N("kiln_str_empty", 1))
        kiln_str_empty(p[0]);
    else if (N("kiln_str_concat", 5))
        kiln_str_concat(p[0], p[1], (ptrdiff_t)v[2], p[3], p[4]);
    else if (N("kiln_str_case", 5))
        kiln_str_case(p[0], (ptrdiff_t)v[1], (ptrdiff_t)v[2], p[3], p[4]);
    else if (N("kiln_str_find", 6))
        kiln_str_find(p[0], p[1], p[2], (ptrdiff_t)v[3], (ptrdiff_t)v[4], p[5]);
    else if (N("kiln_str_regex", 5))
        kiln_str_regex(p[0], p[1], (ptrdiff_t)v[2], p[3], p[4]);
    else if (N("kiln_str_split", 7))
        kiln_str_split(p[0], p[1], (ptrdiff_t)v[2], (ptrdiff_t)v[3], (ptrdiff_t)v[4], p[5], p[6]);
    else if (N("kiln_img_decode", 7))
        kiln_img_decode(p[0], (ptrdiff_t)v[1], (ptrdiff_t)v[2], (ptrdiff_t)v[3], p[4], p[5], p[6]);
    else
        return fail(in, "runtime routine %s cannot be interpreted", s->routine);
#undef N
    return in->failed;
}

int kernel_interp(const Program *p, const Kernel *k, void **mem, Diag *d)
{
    Arena *a = arena_new();
    Interp in = {p, k, mem, NULL, d, 0};
    in.vars = arena_alloc(a, sizeof(Val) * KILN_MAX_LANES * (size_t)(k->nvars + 1));
    exec(&in, k->body);
    arena_free(a);
    return in.failed;
}
