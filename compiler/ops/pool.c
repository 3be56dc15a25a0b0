/*
 * pool.c: MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool.
 *
 * A pooling op reduces each window of x [N, C, in...] (geometry from
 * window_read() in conv.c: strides, dilations, pads, auto_pad, ceil_mode)
 * to one value:
 *
 *     for n, c, o...: acc = init; for k...: if (inside) acc = acc (+) x[...]; y = final(acc)
 *
 *   MaxPool      max over the taps inside x (padding never wins); the
 *                optional Indices output is the flat index into x of the
 *                first maximum (row-major, or column-major over the spatial
 *                dims with storage_order=1).
 *   AveragePool  sum / count, count = taps inside x, or with
 *                count_include_pad the taps inside the padded input (a
 *                ceil_mode window may reach past the padding; those taps
 *                never count).
 *   LpPool       (sum |x|^p)^(1/p) over the taps inside x.
 *
 * The global variants are the same reductions over all spatial positions.
 * QLinearAveragePool and QLinearGlobalAveragePool (com.microsoft) are the
 * average pools of int8/uint8 x: the sum of x - X_zero_point in int32,
 * requantized by quant.c's qpool_result (X_scale / count / Y_scale).
 */
#include "op.h"

#include <math.h>

/* Attributes a pooling op gained after its first version: a node of an
 * older opset that carries one is rejected. */
static const struct {
    OpKind op;
    const char *name;
    int since;
} pool_since[] = {
    {OP_AVERAGEPOOL, "count_include_pad", 7}, {OP_AVERAGEPOOL, "ceil_mode", 10},
    {OP_AVERAGEPOOL, "dilations", 19},        {OP_MAXPOOL, "storage_order", 8},
    {OP_MAXPOOL, "ceil_mode", 10},            {OP_MAXPOOL, "dilations", 10},
    {OP_LPPOOL, "ceil_mode", 18},             {OP_LPPOOL, "dilations", 18},
};

/* What a pooling node reads: its parsed attributes (Node.attrs), filled
 * once by infer_pool. */
typedef struct Pool {
    Window w;
    int64_t ceil_mode, count_include_pad, storage_order;
    double p;          /* LpPool's p */
    Shape out;         /* [N, C, out...] */
} Pool;

static const DType max_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_I8, DT_U8, DT_UNDEF};

static int pool_shape(Graph *g, Node *n, Pool *pl, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t kernel[KILN_MAX_RANK];
    char xs[160];
    if (n->op == OP_QLINEARAVERAGEPOOL ? qpool_check(g, n, d)
                                       : op_check_dtype(g, n, 0, n->op == OP_MAXPOOL ? max_types : op_float_types, d))
        return 1;
    if (x->shape.rank < 3)
        return diag_node(d, g, n, "input X has shape %s, expected rank 3 or more (N, C, spatial...)",
                         shape_str(&x->shape, xs, sizeof xs));
    for (size_t i = 0; i < sizeof pool_since / sizeof pool_since[0]; i++)
        if (pool_since[i].op == n->op && n->opset < pool_since[i].since && node_attr(n, pool_since[i].name))
            return diag_node(d, g, n, "attribute '%s' needs opset %d (the model imports opset %d)",
                             pool_since[i].name, pool_since[i].since, n->opset);
    if (!node_attr(n, "kernel_shape"))
        return diag_node(d, g, n, "attribute 'kernel_shape' is required");
    if (attr_int(g, n, "ceil_mode", 0, &pl->ceil_mode, d) ||
        attr_int(g, n, "count_include_pad", 0, &pl->count_include_pad, d) ||
        attr_int(g, n, "storage_order", 0, &pl->storage_order, d) || attr_float(g, n, "p", 2.0, &pl->p, d) ||
        window_ints(g, n, "kernel_shape", x->shape.rank - 2, 1, 1, kernel, d) ||
        window_read(g, n, &x->shape, kernel, pl->ceil_mode != 0, &pl->w, d))
        return 1;
    if (pl->storage_order != 0 && pl->storage_order != 1)
        return diag_node(d, g, n, "attribute 'storage_order' is %lld, expected 0 or 1", (long long)pl->storage_order);
    if (n->op == OP_LPPOOL && !(pl->p > 0))
        return diag_node(d, g, n, "attribute 'p' is %g, expected a positive value", pl->p);
    pl->out = x->shape;
    for (int i = 0; i < pl->w.rank; i++)
        pl->out.dim[i + 2] = pl->w.out[i];
    return 0;
}

int infer_pool(Graph *g, Node *n, Diag *d)
{
    Pool *pl = op_attrs(g, n, sizeof *pl);
    if (pool_shape(g, n, pl, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &pl->out);
    op_set_out(g, n, 1, DT_I64, &pl->out);
    return 0;
}

/* Flat index into x [N, C, in...] of (n, c, ix...): row-major, or with
 * storage_order=1 column-major over the spatial dims (n and c stay outer). */
static Expr *flat_index(Arena *a, const Window *w, int64_t C, Expr *n, Expr *c, Expr *const *ix, int colmajor)
{
    int64_t plane = 1;
    for (int i = 0; i < w->rank; i++)
        plane *= w->in[i];
    Expr *e = ke_bin(a, B_MUL, ke_bin(a, B_ADD, ke_bin(a, B_MUL, n, ke_idx(a, C)), c), ke_idx(a, plane));
    int64_t st = 1;
    for (int j = 0; j < w->rank; j++) {
        int i = colmajor ? j : w->rank - 1 - j;
        e = ke_bin(a, B_ADD, e, ke_bin(a, B_MUL, ix[i], ke_idx(a, st)));
        st *= w->in[i];
    }
    return e;
}

/* Drop the taps that no output position can read inside x: tap k reads
 * o*s - p0 + k*d, which lies in [0, in) for some o < out only when
 * p0 - (out-1)*s <= k*d <= p0 + in - 1. Such taps add nothing to a max,
 * an Lp sum or an average over the taps inside x, so the window starts at
 * the first useful tap (p0 shrinks by klo*d) and ends at the last: a
 * kernel of 2^40 taps padded as wide over a few pixels then loops over
 * those pixels, not over the padding. Not for count_include_pad, whose
 * divisor counts the padding taps. Window arithmetic is checked by
 * window_read, so nothing here overflows. */
static void pool_trim(Window *w)
{
    for (int i = 0; i < w->rank; i++) {
        if (w->out[i] == 0)
            continue;
        int64_t d = w->d[i], in = w->in[i], last = (w->out[i] - 1) * w->s[i];
        int64_t lo = w->p0[i] - last, hi = w->p0[i] + in - 1; /* bounds of k*d */
        int64_t klo = lo <= 0 ? 0 : lo / d + (lo % d != 0), khi = hi < 0 ? -1 : hi / d;
        if (khi > w->k[i] - 1)
            khi = w->k[i] - 1;
        if (khi < klo) { /* no tap ever reads x: an empty window */
            w->k[i] = 0;
            continue;
        }
        w->p0[i] -= klo * d;
        w->k[i] = khi - klo + 1;
    }
}

int lower_pool(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Pool pl = *(const Pool *)n->attrs; /* a copy: pool_trim narrows its window */
    int avg = n->op == OP_AVERAGEPOOL || n->op == OP_QLINEARAVERAGEPOOL, lp = n->op == OP_LPPOOL;
    int q = n->op == OP_QLINEARAVERAGEPOOL;
    if (!(avg && pl.count_include_pad))
        pool_trim(&pl.w);
    const Window *w = &pl.w;
    int r = w->rank;
    DType t = g->values[n->out[0]].dtype;
    int64_t N = pl.out.dim[0], C = pl.out.dim[1];
    int indices = n->op == OP_MAXPOOL && n->nout > 1 && n->out[1] != VNONE;
    char on[KILN_MAX_RANK][8], kn[KILN_MAX_RANK][8];
    window_names(r, "o", on);
    window_names(r, "k", kn);
    Expr *o[KILN_MAX_RANK], *k[KILN_MAX_RANK], *ix[KILN_MAX_RANK + 2], *yc[KILN_MAX_RANK + 2];

    /* the divisor of AveragePool with count_include_pad: the whole window,
     * unless a ceil_mode window can reach past the end padding */
    int pad_count = 0;
    double window_size = 1; /* a divisor only: a double cannot overflow here */
    for (int i = 0; i < r; i++) {
        window_size *= (double)w->k[i];
        if (w->out[i] > 0 && window_last(w, i) >= w->in[i] + w->p1[i])
            pad_count = 1;
    }
    /* count taps at run time only when some can fall outside what counts:
     * a window that never reaches the padding has window_size taps (and a
     * run-time count would be one more scalar in a loop the scheduler may
     * turn into vector lanes) */
    Shape padded;
    int reaches_pad = window_pads(w, &padded, &g->values[n->in[0]].shape);
    int count = avg && (pl.count_include_pad ? pad_count : reaches_pad);

    switch (n->op) {
    case OP_MAXPOOL: kb_comment(b, "y[n, c, o...] = max_{k...} x[n, c, o*s - p + k*d] over taps inside x"); break;
    case OP_AVERAGEPOOL: kb_comment(b, "y[n, c, o...] = sum_{k...} x[n, c, o*s - p + k*d] / count"); break;
    case OP_QLINEARAVERAGEPOOL:
        kb_comment(b, "y[n, c, o...] = saturate(round(sum_{k...} (x[n, c, o*s - p + k*d] - x_zp) * x_scale / count / y_scale) + y_zp)");
        break;
    default: kb_comment(b, "y[n, c, o...] = (sum_{k...} |x[n, c, o*s - p + k*d]|^p)^(1/p)"); break;
    }
    Expr *nn = kb_v(b, kb_for_k(b, "n", N, IT_DATA));
    Expr *c = kb_v(b, kb_for_k(b, "c", C, IT_DATA));
    for (int i = 0; i < r; i++)
        o[i] = kb_v(b, kb_for_k(b, on[i], w->out[i], IT_DATA));
    int acc = kb_let(b, "acc", n->op == OP_MAXPOOL ? ke_lowest(a, t) : q ? ke_int(a, DT_I32, 0) : ke_const(a, t, 0));
    int cnt = count ? kb_let(b, "cnt", ke_idx(a, 0)) : -1;
    int arg = indices ? kb_let(b, "arg", ke_int(a, DT_I64, -1)) : -1;
    for (int i = 0; i < r; i++)
        k[i] = kb_v(b, kb_for_k(b, kn[i], w->k[i], indices ? IT_SERIAL : IT_REDUCE));
    for (int i = 0; i < r; i++)
        ix[i + 2] = window_coord(a, w, i, o[i], k[i]);
    if (count && pl.count_include_pad) {
        /* count the taps inside the padded input [-p0, in + p1) */
        Expr *cond = NULL;
        for (int i = 0; i < r; i++) {
            Expr *e = ke_bin(a, B_LT, ix[i + 2], ke_idx(a, w->in[i] + w->p1[i]));
            cond = cond ? ke_bin(a, B_AND, cond, e) : e;
        }
        kb_if(b, cond);
        kb_assign(b, cnt, ke_bin(a, B_ADD, kb_v(b, cnt), ke_idx(a, 1)));
        kb_end(b);
    }
    Expr *inside = window_inside(a, w, ix + 2);
    if (inside)
        kb_if(b, inside);
    ix[0] = nn;
    ix[1] = c;
    Expr *v = lw_load(L, n->in[0], ix);
    Expr *va = kb_v(b, acc);
    if (indices) {
        /* the first maximum wins; NaN never does */
        int xv = kb_let(b, "v", v);
        kb_if(b, ke_bin(a, B_GT, kb_v(b, xv), va));
        kb_assign(b, acc, kb_v(b, xv));
        kb_assign(b, arg, ke_cast(a, DT_I64, flat_index(a, w, C, nn, c, ix + 2, pl.storage_order == 1)));
        kb_end(b);
    } else if (n->op == OP_MAXPOOL) {
        kb_assign(b, acc, ke_bin(a, B_MAX, va, v));
    } else if (avg) {
        kb_assign(b, acc, ke_bin(a, B_ADD, va, q ? qpool_centered(L, n, v) : v));
        if (count && !pl.count_include_pad)
            kb_assign(b, cnt, ke_bin(a, B_ADD, kb_v(b, cnt), ke_idx(a, 1)));
    } else {
        Expr *ax = ke_un(a, U_ABS, v);
        Expr *term = pl.p == 1 ? ax : pl.p == 2 ? ke_bin(a, B_MUL, v, v) : ke_bin(a, B_POW, ax, ke_const(a, t, pl.p));
        kb_assign(b, acc, ke_bin(a, B_ADD, va, term));
    }
    if (inside)
        kb_end(b);
    for (int i = 0; i < r; i++)
        kb_end(b);
    Expr *y = kb_v(b, acc);
    if (q)
        y = qpool_result(L, n, y, count ? kb_v(b, cnt) : ke_const(a, DT_F32, window_size));
    else if (avg)
        y = ke_bin(a, B_DIV, y, count ? ke_cast(a, t, kb_v(b, cnt)) : ke_const(a, t, window_size));
    else if (lp && pl.p == 2)
        y = ke_un(a, U_SQRT, y);
    else if (lp && pl.p != 1)
        y = ke_bin(a, B_POW, y, ke_const(a, t, 1.0 / pl.p));
    yc[0] = nn;
    yc[1] = c;
    for (int i = 0; i < r; i++)
        yc[i + 2] = o[i];
    lw_store(L, n, 0, yc, y);
    if (indices)
        lw_store(L, n, 1, yc, kb_v(b, arg));
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* c */
    kb_end(b); /* n */
    return 0;
}

/* ------------------------------------------------------------ global pools */

int infer_globalpool(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    char xs[160];
    if (n->op == OP_QLINEARGLOBALAVERAGEPOOL ? qpool_check(g, n, d) : op_check_dtype(g, n, 0, op_float_types, d))
        return 1;
    if (x->shape.rank < 2)
        return diag_node(d, g, n, "input X has shape %s, expected rank 2 or more (N, C, spatial...)",
                         shape_str(&x->shape, xs, sizeof xs));
    Shape out = x->shape;
    for (int i = 2; i < out.rank; i++)
        out.dim[i] = 1;
    op_set_out(g, n, 0, x->dtype, &out);
    return 0;
}

int lower_globalpool(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    int r = x->shape.rank - 2, max = n->op == OP_GLOBALMAXPOOL, q = n->op == OP_QLINEARGLOBALAVERAGEPOOL;
    int64_t size = 1;
    char sn[KILN_MAX_RANK][8];
    window_names(r, "", sn);
    Expr *ix[KILN_MAX_RANK], *yc[KILN_MAX_RANK], *zero = ke_idx(a, 0);

    kb_comment(b, max ? "y[n, c, 0...] = max_{spatial} x[n, c, ...]"
                  : q ? "y[n, c, 0...] = saturate(round(sum_{spatial} (x[n, c, ...] - x_zp) * x_scale / count / y_scale) + y_zp)"
                      : "y[n, c, 0...] = mean_{spatial} x[n, c, ...]");
    ix[0] = yc[0] = kb_v(b, kb_for(b, "n", x->shape.dim[0]));
    ix[1] = yc[1] = kb_v(b, kb_for(b, "c", x->shape.dim[1]));
    int acc = kb_let(b, "acc", max ? ke_lowest(a, t) : q ? ke_int(a, DT_I32, 0) : ke_const(a, t, 0));
    for (int i = 0; i < r; i++) {
        ix[i + 2] = kb_v(b, kb_for(b, sn[i], x->shape.dim[i + 2]));
        yc[i + 2] = zero;
        size *= x->shape.dim[i + 2];
    }
    Expr *v = lw_load(L, n->in[0], ix);
    kb_assign(b, acc, ke_bin(a, max ? B_MAX : B_ADD, kb_v(b, acc), q ? qpool_centered(L, n, v) : v));
    for (int i = 0; i < r; i++)
        kb_end(b);
    Expr *y = kb_v(b, acc);
    if (q)
        y = qpool_result(L, n, y, ke_const(a, DT_F32, (double)size));
    else if (!max)
        y = ke_bin(a, B_DIV, y, ke_const(a, t, (double)size));
    lw_store(L, n, 0, yc, y);
    kb_end(b); /* c */
    kb_end(b); /* n */
    return 0;
}
