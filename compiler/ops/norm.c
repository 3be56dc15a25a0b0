/*
 * norm.c: BatchNormalization, InstanceNormalization, LayerNormalization,
 * Softmax, LogSoftmax, Hardmax.
 *
 * Each is one kernel of a few passes over the elements one statistic is
 * taken over; the last pass stores every output element once (through
 * lw_store, so elementwise successors fuse into it):
 *
 *   BatchNormalization   inference: y = scale * (x - mean) / sqrt(var + eps) + B,
 *                        the parameters indexed by channel (dim 1), or by
 *                        dims 1.. with the old spatial=0. Training
 *                        (training_mode=1, or before opset 14 a node asking
 *                        for the running statistics): per channel,
 *                        m = mean of x, v = population variance, y uses m
 *                        and v, and running_mean = mean * momentum + m *
 *                        (1 - momentum), running_var likewise.
 *   InstanceNormalization the same with m and v per (n, c) over the spatial
 *                        dims.
 *   LayerNormalization   per index of dims [0, axis): m and v over dims
 *                        [axis, rank) in the stash type (f32 by default);
 *                        y = (x - m) / sqrt(v + eps) cast back, * Scale + B
 *                        (both broadcast to x); Mean and InvStdDev outputs.
 *   Softmax              mx = max, s = sum exp(x - mx), y = exp(x - mx) / s.
 *   LogSoftmax           the same passes, y = x - mx - log(s).
 *   Hardmax              index of the first maximum, then y = 1 there, 0
 *                        elsewhere.
 *
 * The softmax family works along one axis from opset 13; before, the input
 * is coerced to 2-D at `axis`, which is the same as working over all dims
 * from `axis` on. Means and variances are computed in the input's type.
 */
#include "op.h"

#include <math.h>
#include <stdio.h>


/* ------------------------------------------------------------ loops */

/* Open one loop per dim i of s with sel[i] == which, named names[i], and
 * put the loop variables into coords. Returns the number opened. */
static int open_dims(Lower *L, const Shape *s, const int *sel, int which, char names[][16], Expr **coords)
{
    KB *b = lw_kb(L);
    int opened = 0;
    for (int i = 0; i < s->rank; i++) {
        if (sel[i] != which)
            continue;
        coords[i] = kb_v(b, kb_for(b, arena_strdup(lw_arena(L), names[i]), s->dim[i]));
        opened++;
    }
    return opened;
}

static void close_loops(Lower *L, int count)
{
    for (int i = 0; i < count; i++)
        kb_end(lw_kb(L));
}

/* Loop names of an [N, C, spatial...] tensor: n, c, then d h w (the last
 * ones of them), or s0, s1... beyond three spatial dims. */
static void nc_names(int rank, char names[][16])
{
    const char *dhw = "dhw";
    int ns = rank - 2;
    for (int i = 0; i < rank; i++) {
        if (i < 2)
            snprintf(names[i], 16, "%c", "nc"[i]);
        else if (ns <= 3)
            snprintf(names[i], 16, "%c", dhw[3 - ns + i - 2]);
        else
            snprintf(names[i], 16, "s%d", i - 2);
    }
}

/* Loop names of a reduction: i<dim> for the kept dims, k<dim> for the
 * dims a statistic is taken over (sel[i] == 1). */
static void red_names(int rank, const int *sel, char names[][16])
{
    for (int i = 0; i < rank; i++)
        snprintf(names[i], 16, "%c%d", sel[i] ? 'k' : 'i', i);
}

/* ------------------------------------------------- BatchNormalization */

typedef struct BNAttrs {
    double eps, momentum;
    int training;    /* compute the batch statistics (and running outputs) */
    int per_elem;    /* spatial=0: parameters indexed by dims 1.. of x */
} BNAttrs;

/* Any of outputs 1.. present. */
static int has_extra_outputs(const Node *n)
{
    for (int i = 1; i < n->nout; i++)
        if (n->out[i] != VNONE)
            return 1;
    return 0;
}

static int bn_attrs(Graph *g, Node *n, BNAttrs *at, Diag *d)
{
    int64_t training = 0, spatial = 1, is_test = 0;
    if (attr_float(g, n, "epsilon", 1e-5, &at->eps, d) || attr_float(g, n, "momentum", 0.9, &at->momentum, d) ||
        attr_int(g, n, "training_mode", 0, &training, d) || attr_int(g, n, "spatial", 1, &spatial, d) ||
        attr_int(g, n, "is_test", 0, &is_test, d))
        return 1;
    if (n->opset >= 14) {
        at->training = training != 0;
        if (!at->training && has_extra_outputs(n))
            return diag_node(d, g, n, "running_mean and running_var are outputs of training_mode=1 only");
    } else {
        /* old opsets train when asked for the statistics, unless is_test */
        at->training = has_extra_outputs(n);
        if (at->training && n->opset < 7 && is_test)
            return diag_node(d, g, n, "is_test=1 gives only output Y");
    }
    at->per_elem = n->opset < 9 && !spatial;
    return 0;
}

int infer_batchnorm(Graph *g, Node *n, Diag *d)
{
    BNAttrs at;
    const Value *x = op_in(g, n, 0);
    char buf[160];
    if (bn_attrs(g, n, &at, d))
        return 1;
    for (int i = 0; i < 5; i++)
        if (!op_in(g, n, i))
            return diag_node(d, g, n, "input %d is required", i);
        else if (op_check_dtype(g, n, i, op_float_types, d))
            return 1;
    if (x->shape.rank < 2)
        return diag_node(d, g, n, "X must have rank >= 2 (N, C, ...), not %d", x->shape.rank);
    for (int i = 1; i < 5; i++) {
        const Value *p = op_in(g, n, i);
        int ok = p->shape.rank >= 1 && p->shape.rank < x->shape.rank && (at.per_elem || p->shape.rank == 1);
        for (int j = 0; ok && j < p->shape.rank; j++)
            ok = p->shape.dim[j] == x->shape.dim[1 + j];
        if (!ok)
            return diag_node(d, g, n, "input %d ('%s') has shape %s, expected [%lld]%s", i, p->name,
                             shape_str(&p->shape, buf, sizeof buf), (long long)x->shape.dim[1],
                             at.per_elem ? " or dims 1.. of X" : "");
    }
    if (at.training && at.per_elem)
        return diag_node(d, g, n, "training with spatial=0 is not supported");
    op_set_out(g, n, 0, x->dtype, &x->shape);
    for (int i = 1; i < 3; i++)
        op_set_out(g, n, i, op_in(g, n, 2 + i)->dtype, &op_in(g, n, 2 + i)->shape);
    return 0;
}

/* Parameter input i of a BN node at x's coords, in type t: it is indexed
 * by dims 1.. of x (just the channel for a [C] parameter). */
static Expr *bn_param(Lower *L, Node *n, int i, Expr *const *coords, DType t)
{
    return ke_cast(lw_arena(L), t, lw_load(L, n->in[i], coords + 1));
}

/* scale * (x - mean) / sd + bias, in x's type t. */
static Expr *bn_apply(Arena *a, Expr *x, Expr *mean, Expr *sd, Expr *scale, Expr *bias)
{
    return ke_bin(a, B_ADD, ke_bin(a, B_DIV, ke_bin(a, B_MUL, scale, ke_bin(a, B_SUB, x, mean)), sd), bias);
}

int lower_batchnorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    BNAttrs at;
    Diag d = {.file = g->file};
    if (bn_attrs(g, n, &at, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    int rank = x->shape.rank;
    char names[KILN_MAX_RANK][16];
    Expr *coords[KILN_MAX_RANK];
    nc_names(rank, names);
    if (!at.training) {
        /* y[n, c, ...] = scale[c] * (x - mean[c]) / sqrt(var[c] + eps) + B[c] */
        int all[KILN_MAX_RANK] = {0};
        int loops = open_dims(L, &x->shape, all, 0, names, coords);
        Expr *sd = ke_un(a, U_SQRT, ke_bin(a, B_ADD, bn_param(L, n, 4, coords, t), ke_const(a, t, at.eps)));
        Expr *y = bn_apply(a, lw_load(L, n->in[0], coords), bn_param(L, n, 3, coords, t), sd,
                           bn_param(L, n, 1, coords, t), bn_param(L, n, 2, coords, t));
        lw_store(L, n, 0, coords, y);
        close_loops(L, loops);
        return 0;
    }
    /* per channel c: statistics over n and the spatial dims, then y */
    int sel[KILN_MAX_RANK];
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        sel[i] = i != 1;
        count *= sel[i] ? x->shape.dim[i] : 1;
    }
    Expr *cnt = ke_const(a, t, (double)count);
    int chan = open_dims(L, &x->shape, sel, 0, names, coords);
    int sum = kb_let(b, "sum", ke_const(a, t, 0));
    int loops = open_dims(L, &x->shape, sel, 1, names, coords);
    kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), lw_load(L, n->in[0], coords)));
    close_loops(L, loops);
    int mean = kb_let(b, "mean", ke_bin(a, B_DIV, kb_v(b, sum), cnt));
    int ss = kb_let(b, "ss", ke_const(a, t, 0));
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    Expr *dx = ke_bin(a, B_SUB, lw_load(L, n->in[0], coords), kb_v(b, mean));
    kb_assign(b, ss, ke_bin(a, B_ADD, kb_v(b, ss), ke_bin(a, B_MUL, dx, dx)));
    close_loops(L, loops);
    int var = kb_let(b, "var", ke_bin(a, B_DIV, kb_v(b, ss), cnt));
    int sd = kb_let(b, "sd", ke_un(a, U_SQRT, ke_bin(a, B_ADD, kb_v(b, var), ke_const(a, t, at.eps))));
    /* y[n, c, ...] = scale[c] * (x - mean) / sd + B[c] */
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    Expr *y = bn_apply(a, lw_load(L, n->in[0], coords), kb_v(b, mean), kb_v(b, sd), bn_param(L, n, 1, coords, t),
                       bn_param(L, n, 2, coords, t));
    lw_store(L, n, 0, coords, y);
    close_loops(L, loops);
    /* running_mean[c], running_var[c] = input * momentum + batch * (1 - momentum) */
    Expr *mom = ke_const(a, t, at.momentum), *rest = ke_const(a, t, 1.0 - at.momentum);
    Expr *stat[2] = {kb_v(b, mean), kb_v(b, var)};
    for (int i = 1; i < 3 && i < n->nout; i++) {
        Expr *run = ke_bin(a, B_ADD, ke_bin(a, B_MUL, bn_param(L, n, 2 + i, coords, t), mom),
                           ke_bin(a, B_MUL, stat[i - 1], rest));
        lw_store(L, n, i, coords + 1, run);
    }
    close_loops(L, chan);
    return 0;
}

/* ---------------------------------------------- InstanceNormalization */

int infer_instancenorm(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    double eps;
    char buf[160];
    if (attr_float(g, n, "epsilon", 1e-5, &eps, d))
        return 1;
    for (int i = 0; i < 3; i++)
        if (!op_in(g, n, i))
            return diag_node(d, g, n, "input %d is required", i);
        else if (op_check_dtype(g, n, i, op_float_types, d) || op_same_dtype(g, n, 0, i, d))
            return 1;
    if (x->shape.rank < 2)
        return diag_node(d, g, n, "input must have rank >= 2 (N, C, ...), not %d", x->shape.rank);
    for (int i = 1; i < 3; i++) {
        const Value *p = op_in(g, n, i);
        if (p->shape.rank != 1 || p->shape.dim[0] != x->shape.dim[1])
            return diag_node(d, g, n, "input %d ('%s') has shape %s, expected [%lld]", i, p->name,
                             shape_str(&p->shape, buf, sizeof buf), (long long)x->shape.dim[1]);
    }
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_instancenorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    double eps;
    Diag d = {.file = g->file};
    if (attr_float(g, n, "epsilon", 1e-5, &eps, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    int rank = x->shape.rank, sel[KILN_MAX_RANK];
    int64_t count = 1;
    char names[KILN_MAX_RANK][16];
    Expr *coords[KILN_MAX_RANK];
    nc_names(rank, names);
    for (int i = 0; i < rank; i++) {
        sel[i] = i >= 2;
        count *= sel[i] ? x->shape.dim[i] : 1;
    }
    Expr *cnt = ke_const(a, t, (double)count);
    /* per (n, c): mean and variance over the spatial dims */
    int outer = open_dims(L, &x->shape, sel, 0, names, coords);
    int sum = kb_let(b, "sum", ke_const(a, t, 0));
    int loops = open_dims(L, &x->shape, sel, 1, names, coords);
    kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), lw_load(L, n->in[0], coords)));
    close_loops(L, loops);
    int mean = kb_let(b, "mean", ke_bin(a, B_DIV, kb_v(b, sum), cnt));
    int ss = kb_let(b, "ss", ke_const(a, t, 0));
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    Expr *dx = ke_bin(a, B_SUB, lw_load(L, n->in[0], coords), kb_v(b, mean));
    kb_assign(b, ss, ke_bin(a, B_ADD, kb_v(b, ss), ke_bin(a, B_MUL, dx, dx)));
    close_loops(L, loops);
    int sd = kb_let(b, "sd", ke_un(a, U_SQRT, ke_bin(a, B_ADD, ke_bin(a, B_DIV, kb_v(b, ss), cnt), ke_const(a, t, eps))));
    /* y[n, c, ...] = scale[c] * (x - mean) / sd + B[c] */
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    Expr *y = bn_apply(a, lw_load(L, n->in[0], coords), kb_v(b, mean), kb_v(b, sd),
                       lw_load(L, n->in[1], coords + 1), lw_load(L, n->in[2], coords + 1));
    lw_store(L, n, 0, coords, y);
    close_loops(L, loops);
    close_loops(L, outer);
    return 0;
}

/* ------------------------------------------------- LayerNormalization */

typedef struct LNAttrs {
    int axis;        /* first normalized dim */
    double eps;
    DType stash;     /* type the statistics are computed in */
} LNAttrs;

static int ln_attrs(Graph *g, Node *n, LNAttrs *at, Diag *d)
{
    int64_t axis, stash;
    const Value *x = op_in(g, n, 0);
    if (attr_int(g, n, "axis", -1, &axis, d) || attr_float(g, n, "epsilon", 1e-5, &at->eps, d) ||
        attr_int(g, n, "stash_type", 1, &stash, d))
        return 1;
    if (stash != DT_F32 && stash != DT_F64)
        return diag_node(d, g, n, "stash_type %lld is not supported (1, float, is)", (long long)stash);
    at->stash = (DType)stash;
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "X must have rank >= 1");
    return op_axis(g, n, axis, x->shape.rank, &at->axis, d);
}

int infer_layernorm(Graph *g, Node *n, Diag *d)
{
    LNAttrs at;
    const Value *x = op_in(g, n, 0);
    char b1[160], b2[160];
    if (!x)
        return diag_node(d, g, n, "input 0 is required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || ln_attrs(g, n, &at, d))
        return 1;
    if (!op_in(g, n, 1))
        return diag_node(d, g, n, "input 1 (Scale) is required");
    for (int i = 1; i < 3; i++) {
        const Value *p = op_in(g, n, i);
        Shape s;
        if (!p)
            continue;
        if (op_same_dtype(g, n, 0, i, d))
            return 1;
        if (shape_broadcast(&x->shape, &p->shape, &s) || !shape_equal(&s, &x->shape))
            return diag_node(d, g, n, "input %d ('%s') of shape %s does not broadcast to X's %s", i, p->name,
                             shape_str(&p->shape, b1, sizeof b1), shape_str(&x->shape, b2, sizeof b2));
    }
    Shape stat = x->shape;
    for (int i = at.axis; i < stat.rank; i++)
        stat.dim[i] = 1;
    op_set_out(g, n, 0, x->dtype, &x->shape);
    op_set_out(g, n, 1, at.stash, &stat);
    op_set_out(g, n, 2, at.stash, &stat);
    return 0;
}

int lower_layernorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    LNAttrs at;
    Diag d = {.file = g->file};
    if (ln_attrs(g, n, &at, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = at.stash;
    int rank = x->shape.rank, sel[KILN_MAX_RANK];
    int64_t count = 1;
    char names[KILN_MAX_RANK][16];
    Expr *coords[KILN_MAX_RANK], *sc[KILN_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        sel[i] = i >= at.axis;
        count *= sel[i] ? x->shape.dim[i] : 1;
    }
    red_names(rank, sel, names);
    Expr *cnt = ke_const(a, u, (double)count);
    /* per index of dims [0, axis): statistics over dims [axis, rank), in u */
    int outer = open_dims(L, &x->shape, sel, 0, names, coords);
    int sum = kb_let(b, "sum", ke_const(a, u, 0));
    int loops = open_dims(L, &x->shape, sel, 1, names, coords);
    kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), ke_cast(a, u, lw_load(L, n->in[0], coords))));
    close_loops(L, loops);
    int mean = kb_let(b, "mean", ke_bin(a, B_DIV, kb_v(b, sum), cnt));
    int ss = kb_let(b, "ss", ke_const(a, u, 0));
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    Expr *dx = ke_bin(a, B_SUB, ke_cast(a, u, lw_load(L, n->in[0], coords)), kb_v(b, mean));
    kb_assign(b, ss, ke_bin(a, B_ADD, kb_v(b, ss), ke_bin(a, B_MUL, dx, dx)));
    close_loops(L, loops);
    Expr *sd = ke_un(a, U_SQRT, ke_bin(a, B_ADD, ke_bin(a, B_DIV, kb_v(b, ss), cnt), ke_const(a, u, at.eps)));
    int inv = kb_let(b, "inv", ke_bin(a, B_DIV, ke_const(a, u, 1), sd));
    /* y[...] = cast((x - mean) * inv) * Scale + B */
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    dx = ke_bin(a, B_SUB, ke_cast(a, u, lw_load(L, n->in[0], coords)), kb_v(b, mean));
    Expr *y = ke_bin(a, B_MUL, ke_cast(a, t, ke_bin(a, B_MUL, dx, kb_v(b, inv))),
                     lw_load_bcast(L, n->in[1], rank, coords));
    if (n->nin > 2 && n->in[2] != VNONE)
        y = ke_bin(a, B_ADD, y, lw_load_bcast(L, n->in[2], rank, coords));
    lw_store(L, n, 0, coords, y);
    close_loops(L, loops);
    /* Mean[..., 0...], InvStdDev[..., 0...] */
    for (int i = 0; i < rank; i++)
        sc[i] = sel[i] ? ke_idx(a, 0) : coords[i];
    if (n->nout > 1)
        lw_store(L, n, 1, sc, kb_v(b, mean));
    if (n->nout > 2)
        lw_store(L, n, 2, sc, kb_v(b, inv));
    close_loops(L, outer);
    return 0;
}

/* ---------------------------------------- Softmax, LogSoftmax, Hardmax */

/* The dims the op normalizes over: [*lo, *hi). */
static int softmax_dims(Graph *g, Node *n, int *lo, int *hi, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis;
    if (attr_int(g, n, "axis", n->opset < 13 ? 1 : -1, &axis, d))
        return 1;
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "input must have rank >= 1");
    if (op_axis(g, n, axis, x->shape.rank, lo, d))
        return 1;
    *hi = n->opset < 13 ? x->shape.rank : *lo + 1;
    return 0;
}

int infer_softmax(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int lo, hi;
    if (!x)
        return diag_node(d, g, n, "input 0 is required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || softmax_dims(g, n, &lo, &hi, d))
        return 1;
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

/* Hardmax: y = 1 at the first maximum over the normalized dims, else 0.
 * NaN counts as the maximum (numpy's argmax). */
static void lower_hardmax(Lower *L, Node *n, const Shape *sub, const int *sel, char names[][16], Expr **coords, int lo)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Shape *s = &lw_graph(L)->values[n->in[0]].shape;
    DType t = lw_graph(L)->values[n->in[0]].dtype;
    Expr *first[KILN_MAX_RANK];
    for (int i = 0; i < s->rank; i++)
        first[i] = sel[i] ? ke_idx(a, 0) : coords[i];
    int best = kb_let(b, "best", lw_load(L, n->in[0], first));
    int idx = kb_let(b, "idx", ke_idx(a, 0));
    int loops = open_dims(L, s, sel, 1, names, coords);
    Expr *x = lw_load(L, n->in[0], coords), *bv = kb_v(b, best);
    Expr *nan = ke_bin(a, B_AND, ke_un(a, U_ISNAN, x), ke_un(a, U_NOT, ke_un(a, U_ISNAN, bv)));
    kb_if(b, ke_bin(a, B_OR, ke_bin(a, B_GT, x, bv), nan));
    kb_assign(b, best, x);
    kb_assign(b, idx, kb_flat(b, sub, coords + lo));
    kb_end(b);
    close_loops(L, loops);
    loops = open_dims(L, s, sel, 1, names, coords);
    Expr *hit = ke_bin(a, B_EQ, kb_flat(b, sub, coords + lo), kb_v(b, idx));
    lw_store(L, n, 0, coords, ke_select(a, hit, ke_const(a, t, 1), ke_const(a, t, 0)));
    close_loops(L, loops);
}

int lower_softmax(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Diag d = {.file = g->file};
    int lo, hi;
    if (softmax_dims(g, n, &lo, &hi, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    int rank = x->shape.rank, sel[KILN_MAX_RANK];
    char names[KILN_MAX_RANK][16];
    Expr *coords[KILN_MAX_RANK];
    if (shape_numel(&x->shape) == 0)
        return 0; /* nothing to store */
    Shape sub = {hi - lo, {0}};
    for (int i = 0; i < rank; i++) {
        sel[i] = i >= lo && i < hi;
        if (sel[i])
            sub.dim[i - lo] = x->shape.dim[i];
    }
    red_names(rank, sel, names);
    int outer = open_dims(L, &x->shape, sel, 0, names, coords);
    if (n->op == OP_HARDMAX) {
        lower_hardmax(L, n, &sub, sel, names, coords, lo);
        close_loops(L, outer);
        return 0;
    }
    /* pass 1: mx = max x */
    int mx = kb_let(b, "mx", ke_float(a, t, -INFINITY));
    int loops = open_dims(L, &x->shape, sel, 1, names, coords);
    kb_assign(b, mx, ke_bin(a, B_MAX, kb_v(b, mx), lw_load(L, n->in[0], coords)));
    close_loops(L, loops);
    /* pass 2: sum = sum exp(x - mx) */
    int sum = kb_let(b, "sum", ke_const(a, t, 0));
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    Expr *sh = ke_bin(a, B_SUB, lw_load(L, n->in[0], coords), kb_v(b, mx));
    kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), ke_un(a, U_EXP, sh)));
    close_loops(L, loops);
    /* pass 3: y = exp(x - mx) / sum, or x - mx - log(sum) */
    loops = open_dims(L, &x->shape, sel, 1, names, coords);
    sh = ke_bin(a, B_SUB, lw_load(L, n->in[0], coords), kb_v(b, mx));
    Expr *y = n->op == OP_LOGSOFTMAX ? ke_bin(a, B_SUB, sh, ke_un(a, U_LOG, kb_v(b, sum)))
                                     : ke_bin(a, B_DIV, ke_un(a, U_EXP, sh), kb_v(b, sum));
    lw_store(L, n, 0, coords, y);
    close_loops(L, loops);
    close_loops(L, outer);
    return 0;
}

/* ---------------------------------------------- PLACEHOLDERS, implemented next */

int infer_rmsnorm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_rmsnorm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_groupnorm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_groupnorm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_lpnorm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_lpnorm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_mvn(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_mvn(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_lrn(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_lrn(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
