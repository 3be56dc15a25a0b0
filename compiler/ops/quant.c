/*
 * quant.c: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv.
 *
 * Quantized values are integers q with a real meaning (q - zero_point) *
 * scale. The conversions, as ONNX writes them:
 *
 *     quantize    y = saturate(round(x / scale) + zero_point)
 *     dequantize  y = (x - zero_point) * scale
 *
 * round is half to even (U_ROUND); saturate clamps to the range of the
 * quantized type before the float -> integer cast (ke_cast truncates and
 * would overflow), and sends NaN to the low end as the reference does. A
 * scale and its zero point spread over x per tensor (one value), per axis
 * (a vector along `axis`) or in blocks (x's shape with `axis` divided into
 * ceil(D / block_size) blocks); qparam_load() picks the element for a
 * coordinate of x.
 *
 * The packed types (kiln.h) quantize the same way: 4- and 2-bit integers
 * saturate to their ranges, and the float8 types and f4e2m1 take
 * x / scale + zero_point converted as Cast converts (saturate attribute,
 * kernel/packed.c); y is stored a byte at a time (lw_store_packed).
 * Dequantizing one decodes x and its zero point (lw_load) and computes
 * (x - zero_point) * scale, in f32 for the float types.
 *
 * The integer ops accumulate (x - x_zero_point) * (w - w_zero_point) in
 * int32 with the loop nests of MatMul and Conv (the window geometry comes
 * from conv.c: taps in the padding are skipped, which is reading x as its
 * zero point). The QLinear ops requantize the accumulator as the reference
 * does: saturate(round(acc * (a_scale * b_scale / y_scale)) + y_zero_point),
 * in the scales' float type, with per-row/per-column (MatMul) or per-output-
 * channel (Conv) scales. f16/bf16 scales: each operation between them rounds
 * to their type (as numpy computes "in f16"); the rest runs in f32, which
 * holds every quantized integer exactly. DynamicQuantizeLinear is the spec's
 * formula, uint8 only. Everything here is plain loop nests; nothing is
 * specialized for speed.
 */
#include "op.h"

#include <stdio.h>

/* Shorthands over the lowering arena `a`. */
#define BIN(op, x, y) ke_bin(a, (op), (x), (y))
#define CAST(t, x) ke_cast(a, (t), (x))

static const DType q8_types[] = {DT_U8, DT_I8, DT_UNDEF};
static const DType qout_types[] = {DT_U8, DT_I8, DT_U16, DT_I16, DT_U4, DT_I4, DT_U2, DT_I2, DT_F8E4M3FN,
                                   DT_F8E4M3FNUZ, DT_F8E5M2, DT_F8E5M2FNUZ, DT_F4E2M1, DT_UNDEF};
static const DType scale_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_UNDEF};

/* Range of a quantized integer type. */
static void qrange(DType q, double *lo, double *hi)
{
    switch (q) {
    case DT_I8: *lo = -128, *hi = 127; break;
    case DT_U16: *lo = 0, *hi = 65535; break;
    case DT_I16: *lo = -32768, *hi = 32767; break;
    case DT_U4: *lo = 0, *hi = 15; break;
    case DT_I4: *lo = -8, *hi = 7; break;
    case DT_U2: *lo = 0, *hi = 3; break;
    case DT_I2: *lo = -2, *hi = 1; break;
    default: *lo = 0, *hi = 255; break;
    }
}

/* v rounded to its type when that type computes wider than it stores
 * (f16 and bf16 compute in float): an operation "in f16" as numpy does it. */
static Expr *rounded(Arena *a, Expr *v)
{
    return dtype_is_half(v->type) ? CAST(v->type, CAST(DT_F32, v)) : v;
}

/* v in a type that holds every integer of the quantized ranges exactly:
 * f16/bf16 values widen to f32. */
static Expr *widened(Arena *a, Expr *v)
{
    return dtype_is_half(v->type) ? CAST(DT_F32, v) : v;
}

/* Float value v converted to integer type q, clamped to q's range first
 * (NaN goes to the low end). Emits one local, so v is computed once. A
 * packed q (4 or 2 bits) gives the clamped value as an i32. */
static Expr *saturate(KB *b, DType q, Expr *v)
{
    Arena *a = b->a;
    v = widened(a, v);
    DType t = v->type;
    double lo, hi;
    qrange(q, &lo, &hi);
    Expr *r = kb_v(b, kb_let(b, "q", v));
    Expr *top = ke_const(a, t, hi), *bot = ke_const(a, t, lo);
    /* r >= lo ? (r > hi ? hi : r) : lo */
    Expr *c = ke_select(a, BIN(B_GE, r, bot), ke_select(a, BIN(B_GT, r, top), top, r), bot);
    return CAST(dtype_is_packed(q) ? DT_I32 : q, c);
}

/* saturate(round(v) + zp) into q, in v's float type; zp may be NULL. */
static Expr *requantize(KB *b, DType q, Expr *v, Expr *zp)
{
    Arena *a = b->a;
    Expr *r = ke_un(a, U_ROUND, widened(a, v));
    if (zp)
        r = BIN(B_ADD, r, CAST(r->type, zp));
    return saturate(b, q, r);
}

/* x - zp of integer quantized values, in int32 (int64 for 32-bit x); of
 * decoded float8/float4 values, in f32. */
static Expr *centered(Arena *a, Expr *x, Expr *zp)
{
    if (dtype_is_float(x->type))
        return zp ? BIN(B_SUB, x, zp) : x;
    DType t = dtype_size(x->type) >= 4 ? DT_I64 : DT_I32;
    Expr *v = CAST(t, x);
    return zp ? BIN(B_SUB, v, CAST(t, zp)) : v;
}

/* Load v (a value with one element, of any rank) at its first element. */
static Expr *load_first(Lower *L, ValueId v)
{
    Expr *c[KILN_MAX_RANK];
    for (int i = 0; i < KILN_MAX_RANK; i++)
        c[i] = ke_idx(lw_arena(L), 0);
    return lw_load(L, v, c);
}

/* Fail unless input i is absent or holds exactly one value. */
static int need_scalar(Graph *g, Node *n, int i, Diag *d)
{
    const Value *v = op_in(g, n, i);
    char s[160];
    if (v && shape_numel(&v->shape) != 1)
        return diag_node(d, g, n, "input %d ('%s') has shape %s, expected a scalar (one value)", i, v->name,
                         shape_str(&v->shape, s, sizeof s));
    return 0;
}

/* "f32" for a type kiln knows, else its code. */
static const char *type_text(char *buf, size_t size, int64_t code)
{
    if (code > 0 && code < 64 && dtype_known((int)code))
        snprintf(buf, size, "%s", dtype_name((DType)code));
    else
        snprintf(buf, size, "element type %lld", (long long)code);
    return buf;
}

/* ------------------------------------------ QuantizeLinear, DequantizeLinear */

/* What both ops read from a node: x (input 0), scale (1), zero point (2).
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct QInfo {
    int axis;       /* quantization axis, normalized (used when a parameter is not a scalar) */
    int64_t block;  /* block_size; 0 when not blocked */
    DType out;      /* y's type */
    DType calc;     /* float type of the division (Quantize) or the product (Dequantize) */
    int saturate;   /* Quantize to a float8 type: out of range values become +-max */
} QInfo;

/* How parameter input i (scale or zero point) spreads over x: one value,
 * a vector of x.dim[axis] values, or blocks (x's shape with `axis` cut into
 * ceil(D / block) blocks). */
static int qparam_check(Graph *g, Node *n, int i, const Shape *x, QInfo *qi, int64_t axis, Diag *d)
{
    const Value *p = op_in(g, n, i);
    char ps[160], xs[160];
    if (!p || shape_numel(&p->shape) == 1)
        return 0;
    shape_str(&p->shape, ps, sizeof ps);
    shape_str(x, xs, sizeof xs);
    if (x->rank == 0)
        return diag_node(d, g, n, "input %d ('%s') has shape %s, but x is a scalar", i, p->name, ps);
    if (op_axis(g, n, axis, x->rank, &qi->axis, d))
        return 1;
    int ax = qi->axis;
    if (qi->block == 0) {
        if (p->shape.rank != 1 || p->shape.dim[0] != x->dim[ax])
            return diag_node(d, g, n,
                             "input %d ('%s') has shape %s: expected a scalar, or %lld values along axis %d of x "
                             "(%s)",
                             i, p->name, ps, (long long)x->dim[ax], ax, xs);
        return 0;
    }
    Shape want = *x;
    char ws[160];
    want.dim[ax] = x->dim[ax] / qi->block + (x->dim[ax] % qi->block != 0); /* ceil(D / block) blocks */
    if (!shape_equal(&p->shape, &want))
        return diag_node(d, g, n, "input %d ('%s') has shape %s: blocks of %lld along axis %d of x (%s) need %s", i,
                         p->name, ps, (long long)qi->block, ax, xs, shape_str(&want, ws, sizeof ws));
    return 0;
}

static int quant_read(Graph *g, Node *n, QInfo *qi, Diag *d)
{
    static const DType qx_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_I32, DT_UNDEF};
    static const DType dx_types[] = {DT_U8, DT_I8, DT_U16, DT_I16, DT_I32, DT_U4, DT_I4, DT_U2, DT_I2, DT_F8E4M3FN,
                                     DT_F8E4M3FNUZ, DT_F8E5M2, DT_F8E5M2FNUZ, DT_F4E2M1, DT_UNDEF};
    const Value *x = op_in(g, n, 0), *s = op_in(g, n, 1), *z = op_in(g, n, 2);
    int quantize = n->op == OP_QUANTIZELINEAR;
    int64_t axis, saturate_attr, out_dtype, precision; /* saturate: float8 only, read to check its kind */
    char t1[64], t2[64];
    if (attr_int(g, n, "axis", 1, &axis, d) || attr_int(g, n, "block_size", 0, &qi->block, d) ||
        attr_int(g, n, "output_dtype", 0, &out_dtype, d) || attr_int(g, n, "saturate", 1, &saturate_attr, d) ||
        attr_int(g, n, "precision", 0, &precision, d))
        return 1;
    qi->saturate = saturate_attr != 0;
    if (qi->block < 0)
        return diag_node(d, g, n, "attribute 'block_size' is %lld, expected a positive block size (or 0)",
                         (long long)qi->block);
    if (quantize) {
        if (op_check_dtype(g, n, 0, qx_types, d) || op_check_dtype(g, n, 1, qx_types, d) ||
            op_check_dtype(g, n, 2, qout_types, d))
            return 1;
        /* y's type: the zero point's, else output_dtype, else uint8 */
        qi->out = z ? z->dtype : out_dtype ? (DType)out_dtype : DT_U8;
        if (out_dtype && z && out_dtype != z->dtype)
            return diag_node(d, g, n, "attribute 'output_dtype' is %s but the zero point is %s",
                             type_text(t1, sizeof t1, out_dtype), dtype_name(z->dtype));
        if (!z && out_dtype) {
            int ok = 0;
            for (const DType *t = qout_types; *t != DT_UNDEF; t++)
                ok |= *t == out_dtype;
            if (!ok)
                return diag_node(d, g, n, "quantizing to %s is not supported (kiln quantizes to 16-, 8-, 4- and 2-bit "
                                 "integers, the float8 types and float4e2m1)",
                                 type_text(t1, sizeof t1, out_dtype));
        }
        /* the division runs in `precision`, else in the scale's float type */
        qi->calc = precision ? (DType)precision : dtype_is_float(s->dtype) ? s->dtype : DT_F64;
        if (precision && !(precision < 64 && dtype_known((int)precision) && dtype_is_float((DType)precision)))
            return diag_node(d, g, n, "attribute 'precision' is %s, expected a float type kiln supports",
                             type_text(t1, sizeof t1, precision));
    } else {
        if (op_check_dtype(g, n, 0, dx_types, d) || op_check_dtype(g, n, 1, scale_types, d))
            return 1;
        if (z && z->dtype != x->dtype)
            return diag_node(d, g, n, "the zero point is %s but x is %s: they must have the same type",
                             dtype_name(z->dtype), dtype_name(x->dtype));
        /* y's type, which the product runs in: output_dtype, else the scale's */
        if (out_dtype < 0 || out_dtype >= 64) /* checked before it becomes a DType */
            return diag_node(d, g, n, "attribute 'output_dtype' is %s, expected a float type kiln supports",
                             type_text(t2, sizeof t2, out_dtype));
        qi->out = out_dtype ? (DType)out_dtype : s->dtype;
        if (!(qi->out < 64 && dtype_known((int)qi->out) && dtype_is_float(qi->out)))
            return diag_node(d, g, n, "attribute 'output_dtype' is %s, expected a float type kiln supports",
                             type_text(t2, sizeof t2, out_dtype));
        qi->calc = dtype_is_half(qi->out) ? DT_F32 : qi->out; /* f16/bf16: one rounding, at the end */
    }
    qi->axis = 0;
    return qparam_check(g, n, 1, &x->shape, qi, axis, d) || qparam_check(g, n, 2, &x->shape, qi, axis, d);
}

int infer_quantize(Graph *g, Node *n, Diag *d)
{
    QInfo *qi = op_attrs(g, n, sizeof *qi);
    if (quant_read(g, n, qi, d))
        return 1;
    op_set_out(g, n, 0, qi->out, &op_in(g, n, 0)->shape);
    return 0;
}

/* Parameter v (scale or zero point) at coordinates xc of x. */
static Expr *qparam_load(Lower *L, ValueId v, const QInfo *qi, Expr *const *xc)
{
    Arena *a = lw_arena(L);
    const Shape *s = &lw_graph(L)->values[v].shape;
    Expr *c[KILN_MAX_RANK];
    if (shape_numel(s) == 1)
        return load_first(L, v);
    if (qi->block == 0)
        return lw_load(L, v, &xc[qi->axis]); /* per axis: a vector along `axis` */
    for (int j = 0; j < s->rank; j++)
        c[j] = j == qi->axis ? BIN(B_DIV, xc[j], ke_idx(a, qi->block)) : xc[j];
    return lw_load(L, v, c);
}

/* Element c of y: quantized (for a packed y, its code) or dequantized. */
static Expr *quant_at(Lower *L, Node *n, Expr *const *c, void *arg)
{
    const QInfo *qi = arg;
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    ValueId zv = n->nin > 2 ? n->in[2] : VNONE;
    Expr *x = lw_load(L, n->in[0], c);
    Expr *s = CAST(qi->calc, qparam_load(L, n->in[1], qi, c));
    Expr *z = zv != VNONE ? qparam_load(L, zv, qi, c) : NULL;
    if (n->op != OP_QUANTIZELINEAR)
        return CAST(qi->out, BIN(B_MUL, CAST(qi->calc, centered(a, x, z)), s));
    Expr *v = rounded(a, BIN(B_DIV, CAST(qi->calc, x), s));
    PkMode mode = {.saturate = qi->saturate};
    if (dtype_is_packed(qi->out) && dtype_packed_float(qi->out)) {
        /* x / scale + zero_point, converted as Cast would */
        v = widened(a, v);
        if (z)
            v = BIN(B_ADD, v, CAST(v->type, z));
        return pk_encode(b, qi->out, v, mode);
    }
    Expr *y = requantize(b, qi->out, v, z);
    return dtype_is_packed(qi->out) ? pk_encode(b, qi->out, y, mode) : y;
}

int lower_quantize(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    QInfo *qi = n->attrs; /* the LwCode argument of quant_at */
    const Shape *xs = &g->values[n->in[0]].shape;
    Expr *c[KILN_MAX_RANK];
    if (n->op == OP_QUANTIZELINEAR)
        kb_comment(b, "y[i...] = saturate(round(x[i...] / scale) + zero_point)");
    else
        kb_comment(b, "y[i...] = (x[i...] - zero_point) * scale");
    if (dtype_is_packed(qi->out)) {
        lw_store_packed(L, n, 0, quant_at, qi);
        return 0;
    }
    lw_loops(L, xs, NULL, c);
    lw_store(L, n, 0, c, quant_at(L, n, c, qi));
    lw_end_loops(L, xs);
    return 0;
}

/* --------------------------------------------------- DynamicQuantizeLinear */

int infer_dynquant(Graph *g, Node *n, Diag *d)
{
    static const DType f32_only[] = {DT_F32, DT_UNDEF};
    const Value *x = op_in(g, n, 0);
    Shape scalar = {0, {0}};
    if (op_check_dtype(g, n, 0, f32_only, d))
        return 1;
    op_set_out(g, n, 0, DT_U8, &x->shape);
    op_set_out(g, n, 1, DT_F32, &scalar);
    op_set_out(g, n, 2, DT_U8, &scalar);
    return 0;
}

int lower_dynquant(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Shape *xs = &g->values[n->in[0]].shape;
    Expr *c[KILN_MAX_RANK], *none[1] = {NULL};
    DType t = DT_F32;

    /* the range of x, widened to include 0 */
    kb_comment(b, "lo = min(0, min(x)), hi = max(0, max(x))");
    int lo = kb_let(b, "lo", ke_const(a, t, 0));
    int hi = kb_let(b, "hi", ke_const(a, t, 0));
    lw_loops_k(L, xs, NULL, IT_REDUCE, c);
    Expr *x = lw_load(L, n->in[0], c);
    kb_assign(b, lo, BIN(B_MIN, kb_v(b, lo), x));
    kb_assign(b, hi, BIN(B_MAX, kb_v(b, hi), x));
    lw_end_loops(L, xs);

    /* scale = (hi - lo) / 255 and zero point = saturate(round(0 - lo / scale)), the spec's
     * formula as its function body computes it: no special case when x is all zeros (scale 0,
     * lo / scale NaN, which saturates to zero point 0, and y is 0) */
    Expr *scale = kb_v(b, kb_let(b, "scale", BIN(B_DIV, BIN(B_SUB, kb_v(b, hi), kb_v(b, lo)), ke_const(a, t, 255))));
    /* round(clamp(v)) == clamp(round(v)) for integer bounds */
    Expr *izp = ke_un(a, U_ROUND, BIN(B_SUB, ke_const(a, t, 0), BIN(B_DIV, kb_v(b, lo), scale)));
    Expr *zp = kb_v(b, kb_let(b, "zp", saturate(b, DT_U8, izp)));
    lw_store(L, n, 1, none, scale);
    lw_store(L, n, 2, none, zp);

    kb_comment(b, "y[i...] = saturate(round(x[i...] / scale) + zp)");
    lw_loops(L, xs, NULL, c);
    x = lw_load(L, n->in[0], c);
    lw_store(L, n, 0, c, requantize(b, DT_U8, BIN(B_DIV, x, scale), zp));
    lw_end_loops(L, xs);
    return 0;
}

/* ------------------------------------------- MatMulInteger, QLinearMatMul */

/* A parameter (zero point or scale) of a matrix whose full shape is f
 * [batch.., rows, cols]: one value; for A (per_row), a vector of `rows`
 * values, one per row, as the spec writes per-row parameters; or a tensor
 * that broadcasts (numpy) to f, such as [.., rows, 1] or a vector of `cols`
 * values (per column). A scale multiplies the finished int32 sum, so it
 * must not vary along the summed dim: f's dim kdim (-1: no such rule). */
static int mm_param_check(Graph *g, Node *n, int i, const Shape *f, int per_row, int kdim, Diag *d)
{
    const Value *p = op_in(g, n, i);
    char ps[160], fs[160];
    if (!p || shape_numel(&p->shape) == 1)
        return 0;
    if (per_row && p->shape.rank == 1 && p->shape.dim[0] == f->dim[f->rank - 2])
        return 0;
    int ok = p->shape.rank <= f->rank, along_k = 0;
    for (int j = 0; ok && j < p->shape.rank; j++) {
        int fj = f->rank - 1 - j;
        int64_t e = p->shape.dim[p->shape.rank - 1 - j];
        ok = e == 1 || e == f->dim[fj];
        along_k |= fj == kdim && e > 1;
    }
    shape_str(&p->shape, ps, sizeof ps);
    shape_str(f, fs, sizeof fs);
    if (!ok)
        return diag_node(d, g, n, "input %d ('%s') has shape %s, which does not spread over a matrix of %s", i,
                         p->name, ps, fs);
    if (along_k)
        return diag_node(d, g, n, "scale input %d ('%s') has shape %s, which varies along the summed dim of %s", i,
                         p->name, ps, fs);
    return 0;
}

/* Parameter v at full coordinates fc[f->rank] (see mm_param_check). */
static Expr *mm_param_load(Lower *L, ValueId v, const Shape *f, int per_row, Expr *const *fc)
{
    const Shape *p = &lw_graph(L)->values[v].shape;
    if (shape_numel(p) == 1)
        return load_first(L, v);
    if (per_row && p->rank == 1 && p->dim[0] == f->dim[f->rank - 2])
        return lw_load(L, v, &fc[f->rank - 2]);
    return lw_load_bcast(L, v, f->rank, fc);
}

/* Operand v (promoted shape ps) at full coordinates fc [batch.., row, col]:
 * its batch dims broadcast against the output's, promoted dims dropped. */
static Expr *mm_operand(Lower *L, ValueId v, const Shape *ps, int nb, Expr *const *fc, int drop_row, int drop_col)
{
    Arena *a = lw_arena(L);
    Expr *c[KILN_MAX_RANK];
    int pb = ps->rank - 2, k = 0;
    for (int i = 0; i < pb; i++)
        c[k++] = ps->dim[i] == 1 ? ke_idx(a, 0) : fc[nb - pb + i];
    if (!drop_row)
        c[k++] = fc[nb];
    if (!drop_col)
        c[k++] = fc[nb + 1];
    return lw_load(L, v, c);
}

/* The int32 product nest of MatMulInteger and QLinearMatMul; za, zb are the
 * zero points' input indices (-1: none). Opens the batch, m and n loops,
 * leaves them open with acc = sum_k (a - za) * (b - zb), and returns acc's
 * var; fc receives the full output coordinates [batch.., m, n]. */
static int qmm_product(Lower *L, Node *n, const MatMulShape *s, int za, int zb, Expr **fc)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    int nb = s->full.rank - 2;
    Expr *ac[KILN_MAX_RANK], *bc[KILN_MAX_RANK];
    for (int i = 0; i < nb; i++)
        fc[i] = kb_v(b, kb_for(b, "b", s->full.dim[i]));
    fc[nb] = kb_v(b, kb_for(b, "m", s->full.dim[nb]));
    fc[nb + 1] = kb_v(b, kb_for(b, "n", s->full.dim[nb + 1]));
    int acc = kb_let(b, "acc", ke_int(a, DT_I32, 0));
    Expr *k = kb_v(b, kb_for(b, "k", s->a.dim[s->a.rank - 1]));
    for (int i = 0; i < nb; i++)
        ac[i] = bc[i] = fc[i];
    ac[nb] = fc[nb];
    ac[nb + 1] = k;
    bc[nb] = k;
    bc[nb + 1] = fc[nb + 1];
    Expr *x = mm_operand(L, n->in[s->ia], &s->a, nb, ac, s->drop_m, 0);
    Expr *y = mm_operand(L, n->in[s->ib], &s->b, nb, bc, 0, s->drop_n);
    Expr *xz = za >= 0 && op_in(lw_graph(L), n, za) ? mm_param_load(L, n->in[za], &s->fa, 1, ac) : NULL;
    Expr *yz = zb >= 0 && op_in(lw_graph(L), n, zb) ? mm_param_load(L, n->in[zb], &s->fb, 0, bc) : NULL;
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, centered(a, x, xz), centered(a, y, yz))));
    kb_end(b); /* k */
    return acc;
}

/* Output coordinates from the full ones: the promoted dims dropped. */
static void mm_out_coords(const MatMulShape *s, Expr *const *fc, Expr **oc)
{
    int nb = s->full.rank - 2, r = 0;
    for (int i = 0; i < nb; i++)
        oc[r++] = fc[i];
    if (!s->drop_m)
        oc[r++] = fc[nb];
    if (!s->drop_n)
        oc[r++] = fc[nb + 1];
}

static void mm_end(Lower *L, const MatMulShape *s)
{
    for (int i = 0; i < s->full.rank; i++)
        kb_end(lw_kb(L));
}

/* MatMulInteger: A (0), B (1), a_zero_point (2), b_zero_point (3). */
static int mmi_read(Graph *g, Node *n, MatMulShape *s, Diag *d)
{
    if (op_check_dtype(g, n, 0, q8_types, d) || op_check_dtype(g, n, 1, q8_types, d) ||
        op_same_dtype(g, n, 0, 2, d) || op_same_dtype(g, n, 1, 3, d) || matmul_shape(g, n, 0, 1, s, d))
        return 1;
    return mm_param_check(g, n, 2, &s->fa, 1, -1, d) || mm_param_check(g, n, 3, &s->fb, 0, -1, d);
}

int infer_matmulinteger(Graph *g, Node *n, Diag *d)
{
    MatMulShape *s = op_attrs(g, n, sizeof *s);
    if (mmi_read(g, n, s, d))
        return 1;
    op_set_out(g, n, 0, DT_I32, &s->out);
    return 0;
}

int lower_matmulinteger(Lower *L, Node *n)
{
    KB *b = lw_kb(L);
    const MatMulShape *s = n->attrs;
    Expr *fc[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
    kb_comment(b, "y[m, n] = sum_k (a[m, k] - a_zero_point) * (b[k, n] - b_zero_point), in int32");
    int acc = qmm_product(L, n, s, 2, 3, fc);
    mm_out_coords(s, fc, oc);
    lw_store(L, n, 0, oc, kb_v(b, acc));
    mm_end(L, s);
    return 0;
}

/* QLinearMatMul: a (0), a_scale (1), a_zero_point (2), b (3), b_scale (4),
 * b_zero_point (5), y_scale (6), y_zero_point (7). */
static int qlmm_read(Graph *g, Node *n, MatMulShape *s, Diag *d)
{
    if (op_check_dtype(g, n, 0, q8_types, d) || op_check_dtype(g, n, 3, q8_types, d) ||
        op_check_dtype(g, n, 7, q8_types, d) || op_check_dtype(g, n, 1, scale_types, d) ||
        op_same_dtype(g, n, 0, 2, d) || op_same_dtype(g, n, 3, 5, d) || op_same_dtype(g, n, 1, 4, d) ||
        op_same_dtype(g, n, 1, 6, d) || matmul_shape(g, n, 0, 3, s, d))
        return 1;
    int r = s->full.rank;
    return mm_param_check(g, n, 1, &s->fa, 1, r - 1, d) || mm_param_check(g, n, 2, &s->fa, 1, -1, d) ||
           mm_param_check(g, n, 4, &s->fb, 0, r - 2, d) || mm_param_check(g, n, 5, &s->fb, 0, -1, d) ||
           mm_param_check(g, n, 6, &s->full, 0, -1, d) || mm_param_check(g, n, 7, &s->full, 0, -1, d);
}

int infer_qlinearmatmul(Graph *g, Node *n, Diag *d)
{
    MatMulShape *s = op_attrs(g, n, sizeof *s);
    if (qlmm_read(g, n, s, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 7)->dtype, &s->out);
    return 0;
}

int lower_qlinearmatmul(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const MatMulShape *s = n->attrs;
    Expr *fc[KILN_MAX_RANK], *oc[KILN_MAX_RANK], *ac[KILN_MAX_RANK], *bc[KILN_MAX_RANK];
    DType q = g->values[n->out[0]].dtype;
    kb_comment(b, "y[m, n] = saturate(round(sum_k (a[m, k] - a_zp) * (b[k, n] - b_zp) * a_scale * b_scale / y_scale) + y_zp)");
    int acc = qmm_product(L, n, s, 2, 5, fc);
    /* the scales do not vary along k (qlmm_read): read them at k = 0 */
    int nb = s->full.rank - 2;
    for (int i = 0; i < nb; i++)
        ac[i] = bc[i] = fc[i];
    ac[nb] = fc[nb];
    ac[nb + 1] = ke_idx(a, 0);
    bc[nb] = ke_idx(a, 0);
    bc[nb + 1] = fc[nb + 1];
    Expr *sa = mm_param_load(L, n->in[1], &s->fa, 1, ac), *sb = mm_param_load(L, n->in[4], &s->fb, 0, bc);
    Expr *sy = mm_param_load(L, n->in[6], &s->full, 0, fc), *zy = mm_param_load(L, n->in[7], &s->full, 0, fc);
    Expr *mult = widened(a, rounded(a, BIN(B_DIV, rounded(a, BIN(B_MUL, sa, sb)), sy)));
    Expr *y = requantize(b, q, BIN(B_MUL, CAST(mult->type, kb_v(b, acc)), mult), zy);
    mm_out_coords(s, fc, oc);
    lw_store(L, n, 0, oc, y);
    mm_end(L, s);
    return 0;
}

/* ------------------------------------------------- ConvInteger, QLinearConv */

/* A convolution of x [N, C, in...] by w [M, C/group, k...].
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct QConv {
    int ix, iw;        /* input indices of x and w */
    Window w;          /* geometry (conv.c) */
    int64_t N, C, M;   /* batch, input channels, output channels */
    int64_t group;
    Shape out;         /* [N, M, out...] */
} QConv;

static int qconv_shape(Graph *g, Node *n, int ix, int iw, QConv *cs, Diag *d)
{
    const Value *x = op_in(g, n, ix), *w = op_in(g, n, iw);
    char xs[160], wsb[160];
    int64_t kernel[KILN_MAX_RANK];
    cs->ix = ix;
    cs->iw = iw;
    shape_str(&x->shape, xs, sizeof xs);
    shape_str(&w->shape, wsb, sizeof wsb);
    if (x->shape.rank < 3)
        return diag_node(d, g, n, "input x has shape %s, expected rank 3 or more (N, C, spatial...)", xs);
    if (w->shape.rank != x->shape.rank)
        return diag_node(d, g, n, "weight w has shape %s, expected rank %d like x (%s)", wsb, x->shape.rank, xs);
    if (attr_int(g, n, "group", 1, &cs->group, d))
        return 1;
    cs->N = x->shape.dim[0];
    cs->C = x->shape.dim[1];
    cs->M = w->shape.dim[0];
    if (cs->group < 1 || cs->C % cs->group || cs->M % cs->group)
        return diag_node(d, g, n, "group %lld does not divide the %lld input and %lld output channels",
                         (long long)cs->group, (long long)cs->C, (long long)cs->M);
    if (w->shape.dim[1] != cs->C / cs->group)
        return diag_node(d, g, n, "w has shape %s: expected %lld input channels per group (%lld / group %lld)", wsb,
                         (long long)(cs->C / cs->group), (long long)cs->C, (long long)cs->group);
    /* kernel_shape: w's spatial dims, and the attribute must agree when given */
    int r = x->shape.rank - 2;
    if (window_ints(g, n, "kernel_shape", r, 0, 1, kernel, d))
        return 1;
    for (int i = 0; i < r; i++) {
        if (!node_attr(n, "kernel_shape"))
            kernel[i] = w->shape.dim[i + 2];
        else if (kernel[i] != w->shape.dim[i + 2])
            return diag_node(d, g, n, "kernel_shape[%d] is %lld but w has %lld taps there", i, (long long)kernel[i],
                             (long long)w->shape.dim[i + 2]);
    }
    if (window_read(g, n, &x->shape, kernel, 0, &cs->w, d))
        return 1;
    cs->out = x->shape;
    cs->out.dim[1] = cs->M;
    for (int i = 0; i < r; i++)
        cs->out.dim[i + 2] = cs->w.out[i];
    return 0;
}

/* Fail unless input i is absent, one value, or a vector of M values (one
 * per output channel). */
static int per_channel(Graph *g, Node *n, int i, int64_t M, Diag *d)
{
    const Value *p = op_in(g, n, i);
    char s[160];
    if (!p || shape_numel(&p->shape) == 1 || (p->shape.rank == 1 && p->shape.dim[0] == M))
        return 0;
    return diag_node(d, g, n, "input %d ('%s') has shape %s, expected a scalar or %lld values (one per output channel)",
                     i, p->name, shape_str(&p->shape, s, sizeof s), (long long)M);
}

/* Parameter v (one value, or one per output channel) for channel m. */
static Expr *channel_load(Lower *L, ValueId v, Expr *m)
{
    return shape_numel(&lw_graph(L)->values[v].shape) == 1 ? load_first(L, v) : lw_load(L, v, &m);
}

/* The int32 window nest of ConvInteger and QLinearConv: opens n, m, o...,
 * leaves them open with acc = bias[m] + sum_{c, k...} (x - xz) * (w[m] - wz[m])
 * over the taps inside x, and returns acc's var; yc receives [n, m, o...].
 * xz, wz, bias: input indices, or -1. */
static int qconv_product(Lower *L, Node *n, const QConv *cs, int xz, int wz, int bias, Expr **yc)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Window *w = &cs->w;
    int r = w->rank;
    int64_t cg = cs->C / cs->group, mg = cs->M / cs->group;
    char on[KILN_MAX_RANK][8], kn[KILN_MAX_RANK][8];
    Expr *k[KILN_MAX_RANK], *ix[KILN_MAX_RANK + 2], *wx[KILN_MAX_RANK + 2];
    window_names(r, "o", on);
    window_names(r, "k", kn);
    yc[0] = kb_v(b, kb_for(b, "n", cs->N));
    Expr *m = yc[1] = kb_v(b, kb_for(b, "m", cs->M));
    for (int i = 0; i < r; i++)
        yc[i + 2] = kb_v(b, kb_for(b, on[i], w->out[i]));
    int acc = kb_let(b, "acc", bias >= 0 && op_in(g, n, bias) ? lw_load(L, n->in[bias], &m) : ke_int(a, DT_I32, 0));
    Expr *wzp = wz >= 0 && op_in(g, n, wz) ? kb_v(b, kb_let(b, "wz", channel_load(L, n->in[wz], m))) : NULL;
    Expr *c = kb_v(b, kb_for(b, "c", cg));
    for (int i = 0; i < r; i++)
        k[i] = kb_v(b, kb_for(b, kn[i], w->k[i]));
    for (int i = 0; i < r; i++)
        ix[i + 2] = window_coord(a, w, i, yc[i + 2], k[i]);
    Expr *inside = window_inside(a, w, ix + 2);
    if (inside)
        kb_if(b, inside); /* taps in the padding read x's zero point: they add nothing */
    ix[0] = yc[0];
    ix[1] = cs->group == 1 ? c : BIN(B_ADD, BIN(B_MUL, BIN(B_DIV, m, ke_idx(a, mg)), ke_idx(a, cg)), c);
    wx[0] = m;
    wx[1] = c;
    for (int i = 0; i < r; i++)
        wx[i + 2] = k[i];
    Expr *xzp = xz >= 0 && op_in(g, n, xz) ? load_first(L, n->in[xz]) : NULL;
    Expr *xv = centered(a, lw_load(L, n->in[cs->ix], ix), xzp);
    Expr *wv = centered(a, lw_load(L, n->in[cs->iw], wx), wzp);
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, xv, wv)));
    if (inside)
        kb_end(b);
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* c */
    return acc;
}

static void conv_end(Lower *L, const QConv *cs)
{
    for (int i = 0; i < cs->w.rank + 2; i++)
        kb_end(lw_kb(L));
}

/* ConvInteger: x (0), w (1), x_zero_point (2), w_zero_point (3). */
static int convi_read(Graph *g, Node *n, QConv *cs, Diag *d)
{
    if (op_check_dtype(g, n, 0, q8_types, d) || op_check_dtype(g, n, 1, q8_types, d) ||
        op_same_dtype(g, n, 0, 2, d) || op_same_dtype(g, n, 1, 3, d) || qconv_shape(g, n, 0, 1, cs, d))
        return 1;
    return need_scalar(g, n, 2, d) || per_channel(g, n, 3, cs->M, d);
}

int infer_convinteger(Graph *g, Node *n, Diag *d)
{
    QConv *cs = op_attrs(g, n, sizeof *cs);
    if (convi_read(g, n, cs, d))
        return 1;
    op_set_out(g, n, 0, DT_I32, &cs->out);
    return 0;
}

int lower_convinteger(Lower *L, Node *n)
{
    const QConv *cs = n->attrs;
    Expr *yc[KILN_MAX_RANK + 2];
    kb_comment(lw_kb(L), "y[n, m, o...] = sum_{c, k...} (x[n, group(m)*Cg + c, o*s - p + k*d] - x_zp) * (w[m, c, k...] - w_zp[m]), in int32");
    int acc = qconv_product(L, n, cs, 2, 3, -1, yc);
    lw_store(L, n, 0, yc, kb_v(lw_kb(L), acc));
    conv_end(L, cs);
    return 0;
}

/* QLinearConv: x (0), x_scale (1), x_zero_point (2), w (3), w_scale (4),
 * w_zero_point (5), y_scale (6), y_zero_point (7), B (8, int32). */
static int qlconv_read(Graph *g, Node *n, QConv *cs, Diag *d)
{
    static const DType i32_only[] = {DT_I32, DT_UNDEF};
    const Value *bias = op_in(g, n, 8);
    char s[160];
    if (op_check_dtype(g, n, 0, q8_types, d) || op_check_dtype(g, n, 3, q8_types, d) ||
        op_check_dtype(g, n, 7, q8_types, d) || op_check_dtype(g, n, 1, scale_types, d) ||
        op_check_dtype(g, n, 8, i32_only, d) || op_same_dtype(g, n, 0, 2, d) || op_same_dtype(g, n, 3, 5, d) ||
        op_same_dtype(g, n, 1, 4, d) || op_same_dtype(g, n, 1, 6, d) || qconv_shape(g, n, 0, 3, cs, d))
        return 1;
    if (need_scalar(g, n, 1, d) || need_scalar(g, n, 2, d) || per_channel(g, n, 4, cs->M, d) ||
        per_channel(g, n, 5, cs->M, d) || need_scalar(g, n, 6, d) || need_scalar(g, n, 7, d))
        return 1;
    if (bias && (bias->shape.rank != 1 || bias->shape.dim[0] != cs->M))
        return diag_node(d, g, n, "bias B has shape %s, expected %lld (one per output channel)",
                         shape_str(&bias->shape, s, sizeof s), (long long)cs->M);
    return 0;
}

int infer_qlinearconv(Graph *g, Node *n, Diag *d)
{
    QConv *cs = op_attrs(g, n, sizeof *cs);
    if (qlconv_read(g, n, cs, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 7)->dtype, &cs->out);
    return 0;
}

int lower_qlinearconv(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const QConv *cs = n->attrs;
    Expr *yc[KILN_MAX_RANK + 2];
    DType q = g->values[n->out[0]].dtype;
    kb_comment(b, "y[n, m, o...] = saturate(round((B[m] + sum_{c, k...} (x - x_zp) * (w[m, c, k...] - w_zp[m])) * x_scale * w_scale[m] / y_scale) + y_zp)");
    int acc = qconv_product(L, n, cs, 2, 5, 8, yc);
    Expr *sx = load_first(L, n->in[1]), *sw = channel_load(L, n->in[4], yc[1]), *sy = load_first(L, n->in[6]);
    Expr *mult = widened(a, rounded(a, BIN(B_DIV, rounded(a, BIN(B_MUL, sx, sw)), sy)));
    Expr *y = requantize(b, q, BIN(B_MUL, CAST(mult->type, kb_v(b, acc)), mult), load_first(L, n->in[7]));
    lw_store(L, n, 0, yc, y);
    conv_end(L, cs);
    return 0;
}

/* ----------------------------- QLinearAdd and the quantized average pools */

/*
 * ONNX Runtime's contrib domain (com.microsoft) quantizes Add and the
 * average pools; kiln's QDQ pass (graph/qdq.c) rewrites DequantizeLinear ->
 * Add / AveragePool / GlobalAveragePool -> QuantizeLinear into them, and a
 * model may use them directly. Every scale and zero point is one value (per
 * tensor), the scales f32, the quantized values int8 or uint8. The result
 * is that of the float ops between the DequantizeLinear and the
 * QuantizeLinear, computed per element in registers:
 *
 *   QLinearAdd     C = saturate(round(((A - A_zp) * A_scale + (B - B_zp) * B_scale) / C_scale) + C_zp)
 *   average pools  Y = saturate(round(sum(X - X_zp) * X_scale / count / Y_scale) + Y_zp)
 *                  with the sum in int32
 */

static const DType f32_only[] = {DT_F32, DT_UNDEF};

/* Scale and zero point inputs s, z of a per-tensor op: f32 and of q's type. */
static int qparams_scalar(Graph *g, Node *n, int q, int s, int z, int max_rank, Diag *d)
{
    if (op_check_dtype(g, n, s, f32_only, d) || need_scalar(g, n, s, d) || need_scalar(g, n, z, d) ||
        op_same_dtype(g, n, q, z, d))
        return 1;
    for (int i = s; i <= z; i++) {
        const Value *v = op_in(g, n, i);
        if (v && v->shape.rank > max_rank)
            return diag_node(d, g, n, "input %d ('%s') has rank %d, more than the output's %d", i, v->name,
                             v->shape.rank, max_rank);
    }
    return 0;
}

/* QLinearAdd: A (0), A_scale (1), A_zero_point (2), B (3), B_scale (4),
 * B_zero_point (5), C_scale (6), C_zero_point (7); numpy broadcasting. */
int infer_qlinearadd(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *y = op_in(g, n, 3);
    Shape s;
    char xs[160], ys[160];
    if (!y)
        return diag_node(d, g, n, "input B is required");
    if (op_check_dtype(g, n, 0, q8_types, d) || op_same_dtype(g, n, 0, 3, d))
        return 1;
    if (shape_broadcast(&x->shape, &y->shape, &s))
        return diag_node(d, g, n, "input shapes %s and %s do not broadcast", shape_str(&x->shape, xs, sizeof xs),
                         shape_str(&y->shape, ys, sizeof ys));
    if (op_in(g, n, 1) == NULL || op_in(g, n, 4) == NULL || op_in(g, n, 6) == NULL)
        return diag_node(d, g, n, "the scales A_scale, B_scale and C_scale are required");
    if (qparams_scalar(g, n, 0, 1, 2, s.rank, d) || qparams_scalar(g, n, 3, 4, 5, s.rank, d) ||
        qparams_scalar(g, n, 0, 6, 7, s.rank, d))
        return 1;
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

/* (x - zp) * scale in f32, as DequantizeLinear computes it. */
static Expr *dequantized(Arena *a, Expr *x, Expr *zp, Expr *scale)
{
    return BIN(B_MUL, CAST(DT_F32, centered(a, x, zp)), scale);
}

Expr *qlinear_add_scalar(Lower *L, Node *n, Expr **args)
{
    Arena *a = lw_arena(L);
    DType q = lw_graph(L)->values[n->out[0]].dtype;
    Expr *sum = BIN(B_ADD, dequantized(a, args[0], args[2], args[1]), dequantized(a, args[3], args[5], args[4]));
    return requantize(lw_kb(L), q, BIN(B_DIV, sum, args[6]), args[7]);
}

/* The average pools' parameters: X (0), X_scale (1), X_zero_point (2),
 * Y_scale (3), Y_zero_point (4); channels_last must be 0 (NCHW). */
int qpool_check(Graph *g, Node *n, Diag *d)
{
    int64_t last;
    if (op_check_dtype(g, n, 0, q8_types, d) || attr_int(g, n, "channels_last", 0, &last, d))
        return 1;
    if (last)
        return diag_node(d, g, n, "channels_last=%lld is not supported (only NCHW input)", (long long)last);
    if (!op_in(g, n, 1) || !op_in(g, n, 3))
        return diag_node(d, g, n, "the scales X_scale and Y_scale are required");
    return qparams_scalar(g, n, 0, 1, 2, KILN_MAX_RANK, d) || qparams_scalar(g, n, 0, 3, 4, KILN_MAX_RANK, d);
}

Expr *qpool_result(Lower *L, Node *n, Expr *sum, Expr *count)
{
    Arena *a = lw_arena(L);
    Graph *g = lw_graph(L);
    Expr *zy = op_in(g, n, 4) ? load_first(L, n->in[4]) : NULL;
    Expr *v = BIN(B_MUL, CAST(DT_F32, sum), load_first(L, n->in[1]));
    v = BIN(B_DIV, BIN(B_DIV, v, CAST(DT_F32, count)), load_first(L, n->in[3]));
    return requantize(lw_kb(L), g->values[n->out[0]].dtype, v, zy);
}

Expr *qpool_centered(Lower *L, Node *n, Expr *x)
{
    Graph *g = lw_graph(L);
    return centered(lw_arena(L), x, op_in(g, n, 2) ? load_first(L, n->in[2]) : NULL);
}
