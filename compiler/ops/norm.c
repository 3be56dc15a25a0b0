/*
 * norm.c: BatchNormalization, InstanceNormalization, LayerNormalization,
 * GroupNormalization, RMSNormalization, MeanVarianceNormalization,
 * LpNormalization, LRN, Softmax, LogSoftmax, Hardmax.
 *
 * Each is one kernel of a few passes over the elements one statistic is
 * taken over (a Span: outer loops over the dims a statistic is kept for,
 * inner loops over the ones it is taken over); the last pass stores every
 * output element once (through lw_store, so elementwise successors fuse
 * into it). Mean and variance are two passes (span_moments): the sum, then
 * the sum of squared deviations from the mean.
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
 *   GroupNormalization   per (n, group of C / num_groups channels): m and v
 *                        over the group's channels and the spatial dims;
 *                        y = (x - m) / sqrt(v + eps) * scale + bias. From
 *                        opset 21 the statistics are in the stash type, the
 *                        normalized value is cast back, and scale/bias are
 *                        per channel [C]; opset 18 has them per group
 *                        [num_groups] and computes in x's type.
 *   RMSNormalization     per index of dims [0, axis): ms = mean of x^2 over
 *                        dims [axis, rank) in the stash type; y = x /
 *                        sqrt(ms + eps) cast to x's type, then to scale's,
 *                        * scale (broadcast to x).
 *   MeanVarianceNormalization  m and v over `axes` (default 0, 2, 3; an
 *                        empty list: all dims); y = (x - m) / (sqrt(v) + 1e-9).
 *   LpNormalization      nrm = sum |x| (p = 1) or sqrt(sum x^2) (p = 2)
 *                        along `axis`; y = x / nrm, 0 where nrm is 0.
 *   LRN                  per element, ss = sum of x^2 over the channels
 *                        [c - floor((size-1)/2), c + ceil((size-1)/2)]
 *                        that exist; y = x / (bias + alpha / size * ss)^beta.
 *   Softmax              mx = max, s = sum exp(x - mx), y = exp(x - mx) / s.
 *   LogSoftmax           the same passes, y = x - mx - log(s).
 *   Hardmax              index of the first maximum, then y = 1 there, 0
 *                        elsewhere.
 *
 * The softmax family works along one axis from opset 13; before, the input
 * is coerced to 2-D at `axis`, which is the same as working over all dims
 * from `axis` on. BatchNormalization and InstanceNormalization compute in
 * the input's type; the ops without a stash type compute f16 and bf16 in
 * f32 (op_calc_type), as kiln computes them anyway, so their constants (MVN's
 * 1e-9) are not rounded to 16 bits.
 */
#include "op.h"

#include <math.h>
#include <stdio.h>


/* ------------------------------------------------------------ loops */

/* Open one loop per dim i of s with sel[i] == which, named names[i], and
 * put the loop variables into coords. Returns the number opened. */
static int open_dims(Lower *L, const Shape *s, const int *sel, int which, IterKind it, char names[][16],
                     Expr **coords)
{
    KB *b = lw_kb(L);
    int opened = 0;
    for (int i = 0; i < s->rank; i++) {
        if (sel[i] != which)
            continue;
        coords[i] = kb_v(b, kb_for_k(b, arena_strdup(lw_arena(L), names[i]), s->dim[i], it));
        opened++;
    }
    return opened;
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

/* ------------------------------------------------------------ spans */

/* The elements each statistic of a normalization is taken over: x's dims
 * with sel[i] set (inner loops), once per index of the others (outer
 * loops). With `group`, dim 1 is split: the outer loop g runs over the
 * groups, the inner loop c over the `group` channels of one, and x's
 * channel is g * group + c (GroupNormalization). */
typedef struct Span {
    Shape s;                        /* x's shape */
    int sel[KILN_MAX_RANK];         /* 1: dim i is reduced (inner) */
    char names[KILN_MAX_RANK][16];  /* loop names */
    int64_t group;                  /* > 0: channels per group (dim 1 inner) */
    int64_t count;                  /* elements per statistic */
    Expr *g;                        /* group index (outer), with group */
    Expr *coords[KILN_MAX_RANK];    /* x's coordinates: outer ones after
                                       span_outer, all inside span_inner */
    int nouter, ninner;             /* loops open */
} Span;

/* A span over x of shape s reducing the dims with sel[i]; loops named n, c,
 * h, w when `nc`, else i<dim> and k<dim>. */
static void span_init(Span *sp, const Shape *s, const int *sel, int nc)
{
    *sp = (Span){.s = *s, .count = 1};
    for (int i = 0; i < s->rank; i++) {
        sp->sel[i] = sel[i];
        sp->count *= sel[i] ? s->dim[i] : 1;
    }
    if (nc)
        nc_names(s->rank, sp->names);
    else
        red_names(s->rank, sel, sp->names);
}

/* Split the (reduced) channel dim into `groups` groups; groups divides it. */
static void span_group(Span *sp, int64_t groups)
{
    sp->group = sp->s.dim[1] / groups;
    sp->count /= groups;
}

/* Open the outer loops (and, with a group, the group loop after dim 0). */
static void span_outer(Lower *L, Span *sp)
{
    KB *b = lw_kb(L);
    sp->nouter = 0;
    for (int i = 0; i < sp->s.rank; i++) {
        if (i == 1 && sp->group) {
            sp->g = kb_v(b, kb_for_k(b, "g", sp->s.dim[1] / sp->group, IT_DATA));
            sp->nouter++;
        }
        if (sp->sel[i])
            continue;
        sp->coords[i] = kb_v(b, kb_for_k(b, arena_strdup(lw_arena(L), sp->names[i]), sp->s.dim[i], IT_DATA));
        sp->nouter++;
    }
}

/* Open the inner loops: sp->coords then address one element of x. */
static void span_inner(Lower *L, Span *sp, IterKind it)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    sp->ninner = 0;
    for (int i = 0; i < sp->s.rank; i++) {
        if (!sp->sel[i])
            continue;
        int split = i == 1 && sp->group;
        Expr *v = kb_v(b, kb_for_k(b, arena_strdup(a, sp->names[i]), split ? sp->group : sp->s.dim[i], it));
        sp->coords[i] = split ? ke_bin(a, B_ADD, ke_bin(a, B_MUL, sp->g, ke_idx(a, sp->group)), v) : v;
        sp->ninner++;
    }
}

/* Input 0 of n at the span's coordinates (inside span_inner), cast to u. */
static Expr *span_x(Lower *L, Node *n, const Span *sp, DType u)
{
    return ke_cast(lw_arena(L), u, lw_load(L, n->in[0], sp->coords));
}

/* What span_sum adds up. */
typedef enum SumOf {
    SUM_X,    /* x */
    SUM_SQ,   /* (x - center)^2, or x^2 without a center */
    SUM_ABS,  /* |x| */
} SumOf;

/* One pass over the span (inside its outer loops): a new local `name` in
 * type u, the sum of f(x) for x = input 0 of n cast to u. Returns it. */
static int span_sum(Lower *L, Node *n, Span *sp, DType u, SumOf f, Expr *center, const char *name)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    int acc = kb_let(b, name, ke_const(a, u, 0));
    span_inner(L, sp, IT_REDUCE);
    Expr *x = span_x(L, n, sp, u);
    if (center)
        x = ke_bin(a, B_SUB, x, center);
    Expr *term = f == SUM_X ? x : f == SUM_ABS ? ke_un(a, U_ABS, x) : ke_bin(a, B_MUL, x, x);
    kb_assign(b, acc, ke_bin(a, B_ADD, kb_v(b, acc), term));
    lw_end_n(L, sp->ninner);
    return acc;
}

/* Locals mean and var (population variance) of input 0 of n over the span,
 * in type u: a pass for the sum, one for the squared deviations. */
static void span_moments(Lower *L, Node *n, Span *sp, DType u, int *out_mean, int *out_var)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Expr *cnt = ke_const(a, u, (double)sp->count);
    int sum = span_sum(L, n, sp, u, SUM_X, NULL, "sum");
    *out_mean = kb_let(b, "mean", ke_bin(a, B_DIV, kb_v(b, sum), cnt));
    int ss = span_sum(L, n, sp, u, SUM_SQ, kb_v(b, *out_mean), "ss");
    *out_var = kb_let(b, "var", ke_bin(a, B_DIV, kb_v(b, ss), cnt));
}

/* 1 / sqrt(var + eps), in var's type u. */
static Expr *inv_sd(Arena *a, Expr *var, DType u, double eps)
{
    return ke_bin(a, B_DIV, ke_const(a, u, 1), ke_un(a, U_SQRT, ke_bin(a, B_ADD, var, ke_const(a, u, eps))));
}

/* ------------------------------------------------------- attributes */

/* stash_type: the type statistics are computed in (f32 or f64). */
static int stash_attr(Graph *g, Node *n, DType *out, Diag *d)
{
    int64_t stash;
    if (attr_int(g, n, "stash_type", 1, &stash, d))
        return 1;
    if (stash != DT_F32 && stash != DT_F64)
        return diag_node(d, g, n, "stash_type %lld is not supported (1, float, and 11, double, are)",
                         (long long)stash);
    *out = (DType)stash;
    return 0;
}

/* Fail unless input i is present, of x's type when `same`, and
 * broadcasts (numpy, one way) to x's shape. */
static int param_bcast(Graph *g, Node *n, int i, int same, Diag *d)
{
    const Value *x = op_in(g, n, 0), *p = op_in(g, n, i);
    char b1[160], b2[160];
    Shape s;
    if (!p)
        return diag_node(d, g, n, "input %d is required", i);
    if (op_check_dtype(g, n, i, op_float_types, d) || (same && op_same_dtype(g, n, 0, i, d)))
        return 1;
    if (shape_broadcast(&x->shape, &p->shape, &s) || !shape_equal(&s, &x->shape))
        return diag_node(d, g, n, "input %d ('%s') of shape %s does not broadcast to X's %s", i, p->name,
                         shape_str(&p->shape, b1, sizeof b1), shape_str(&x->shape, b2, sizeof b2));
    return 0;
}

/* Fail unless input 0 is present, of a float type, of rank >= min_rank. */
static int check_x(Graph *g, Node *n, int min_rank, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    if (!x)
        return diag_node(d, g, n, "input 0 is required");
    if (op_check_dtype(g, n, 0, op_float_types, d))
        return 1;
    if (x->shape.rank < min_rank)
        return diag_node(d, g, n, "X must have rank >= %d%s, not %d", min_rank, min_rank == 2 ? " (N, C, ...)" : "",
                         x->shape.rank);
    return 0;
}

/* ------------------------------------------------- BatchNormalization */

/* BatchNormalization's parsed attributes (Node.attrs, infer_batchnorm). */
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
    BNAttrs *at = op_attrs(g, n, sizeof *at);
    const Value *x = op_in(g, n, 0);
    char buf[160];
    if (bn_attrs(g, n, at, d))
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
        int ok = p->shape.rank >= 1 && p->shape.rank < x->shape.rank && (at->per_elem || p->shape.rank == 1);
        for (int j = 0; ok && j < p->shape.rank; j++)
            ok = p->shape.dim[j] == x->shape.dim[1 + j];
        if (!ok)
            return diag_node(d, g, n, "input %d ('%s') has shape %s, expected [%lld]%s", i, p->name,
                             shape_str(&p->shape, buf, sizeof buf), (long long)x->shape.dim[1],
                             at->per_elem ? " or dims 1.. of X" : "");
    }
    if (at->training && at->per_elem)
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
    const BNAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    int sel[KILN_MAX_RANK];
    Span sp;
    for (int i = 0; i < x->shape.rank; i++)
        sel[i] = at->training && i != 1;
    span_init(&sp, &x->shape, sel, 1);
    span_outer(L, &sp);
    if (!at->training) {
        /* y[n, c, ...] = scale[c] * (x - mean[c]) / sqrt(var[c] + eps) + B[c] */
        Expr *sd = ke_un(a, U_SQRT, ke_bin(a, B_ADD, bn_param(L, n, 4, sp.coords, t), ke_const(a, t, at->eps)));
        Expr *y = bn_apply(a, span_x(L, n, &sp, t), bn_param(L, n, 3, sp.coords, t), sd,
                           bn_param(L, n, 1, sp.coords, t), bn_param(L, n, 2, sp.coords, t));
        lw_store(L, n, 0, sp.coords, y);
        lw_end_n(L, sp.nouter);
        return 0;
    }
    /* per channel c: statistics over n and the spatial dims, then y */
    int mean, var;
    span_moments(L, n, &sp, t, &mean, &var);
    int sd = kb_let(b, "sd", ke_un(a, U_SQRT, ke_bin(a, B_ADD, kb_v(b, var), ke_const(a, t, at->eps))));
    /* y[n, c, ...] = scale[c] * (x - mean) / sd + B[c] */
    span_inner(L, &sp, IT_DATA);
    Expr *y = bn_apply(a, span_x(L, n, &sp, t), kb_v(b, mean), kb_v(b, sd), bn_param(L, n, 1, sp.coords, t),
                       bn_param(L, n, 2, sp.coords, t));
    lw_store(L, n, 0, sp.coords, y);
    lw_end_n(L, sp.ninner);
    /* running_mean[c], running_var[c] = input * momentum + batch * (1 - momentum) */
    Expr *mom = ke_const(a, t, at->momentum), *rest = ke_const(a, t, 1.0 - at->momentum);
    Expr *stat[2] = {kb_v(b, mean), kb_v(b, var)};
    for (int i = 1; i < 3 && i < n->nout; i++) {
        Expr *run = ke_bin(a, B_ADD, ke_bin(a, B_MUL, bn_param(L, n, 2 + i, sp.coords, t), mom),
                           ke_bin(a, B_MUL, stat[i - 1], rest));
        lw_store(L, n, i, sp.coords + 1, run);
    }
    lw_end_n(L, sp.nouter);
    return 0;
}

int batchnorm_affine(const Graph *g, const Node *bn, int64_t channels, double *s, double *shift)
{
    const BNAttrs *at = bn->attrs;
    if (!at || at->training || bn->nin < 5 || bn->nout < 1 || bn->out[0] == VNONE ||
        has_extra_outputs(bn))
        return 0;
    for (int i = 1; i < 5; i++) {
        if (bn->in[i] == VNONE)
            return 0;
        const Value *v = &g->values[bn->in[i]];
        if (v->kind != VAL_CONST || !v->data || shape_numel(&v->shape) != channels || !dtype_is_float(v->dtype))
            return 0;
    }
    const Value *sc = &g->values[bn->in[1]], *bi = &g->values[bn->in[2]];
    const Value *mean = &g->values[bn->in[3]], *var = &g->values[bn->in[4]];
    for (int64_t c = 0; c < channels; c++) {
        /* sd in float, as lower_batchnorm computes it for f32 x */
        float sd = sqrtf((float)dtype_get_f(var->dtype, var->data, c) + (float)at->eps);
        s[c] = (float)dtype_get_f(sc->dtype, sc->data, c) / sd;
        shift[c] = (float)dtype_get_f(bi->dtype, bi->data, c) -
                   (float)dtype_get_f(mean->dtype, mean->data, c) * (float)s[c];
    }
    return 1;
}

/* ---------------------------------------------- InstanceNormalization */

/* InstanceNormalization's parsed attributes (Node.attrs). */
typedef struct INAttrs {
    double eps;
} INAttrs;

int infer_instancenorm(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    INAttrs *at = op_attrs(g, n, sizeof *at);
    char buf[160];
    if (attr_float(g, n, "epsilon", 1e-5, &at->eps, d))
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
    const INAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    int sel[KILN_MAX_RANK];
    Span sp;
    for (int i = 0; i < x->shape.rank; i++)
        sel[i] = i >= 2;
    span_init(&sp, &x->shape, sel, 1);
    /* per (n, c): mean and variance over the spatial dims */
    span_outer(L, &sp);
    int mean, var;
    span_moments(L, n, &sp, t, &mean, &var);
    int sd = kb_let(b, "sd", ke_un(a, U_SQRT, ke_bin(a, B_ADD, kb_v(b, var), ke_const(a, t, at->eps))));
    /* y[n, c, ...] = scale[c] * (x - mean) / sd + B[c] */
    span_inner(L, &sp, IT_DATA);
    Expr *y = bn_apply(a, span_x(L, n, &sp, t), kb_v(b, mean), kb_v(b, sd), lw_load(L, n->in[1], sp.coords + 1),
                       lw_load(L, n->in[2], sp.coords + 1));
    lw_store(L, n, 0, sp.coords, y);
    lw_end_n(L, sp.ninner);
    lw_end_n(L, sp.nouter);
    return 0;
}

/* ------------------------------------------------- LayerNormalization */

/* LayerNormalization's and RMSNormalization's parsed attributes (Node.attrs). */
typedef struct LNAttrs {
    int axis;        /* first normalized dim */
    double eps;
    DType stash;     /* type the statistics are computed in */
} LNAttrs;

/* LayerNormalization's attributes, which RMSNormalization shares. */
static int ln_attrs(Graph *g, Node *n, LNAttrs *at, Diag *d)
{
    int64_t axis;
    const Value *x = op_in(g, n, 0);
    if (attr_int(g, n, "axis", -1, &axis, d) || attr_float(g, n, "epsilon", 1e-5, &at->eps, d) ||
        stash_attr(g, n, &at->stash, d))
        return 1;
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "X must have rank >= 1");
    return op_axis(g, n, axis, x->shape.rank, &at->axis, d);
}

int infer_layernorm(Graph *g, Node *n, Diag *d)
{
    LNAttrs *at = op_attrs(g, n, sizeof *at);
    const Value *x = op_in(g, n, 0);
    if (check_x(g, n, 0, d) || ln_attrs(g, n, at, d))
        return 1;
    if (!op_in(g, n, 1))
        return diag_node(d, g, n, "input 1 (Scale) is required");
    if (param_bcast(g, n, 1, 1, d) || (op_in(g, n, 2) && param_bcast(g, n, 2, 1, d)))
        return 1;
    Shape stat = x->shape;
    for (int i = at->axis; i < stat.rank; i++)
        stat.dim[i] = 1;
    op_set_out(g, n, 0, x->dtype, &x->shape);
    op_set_out(g, n, 1, at->stash, &stat);
    op_set_out(g, n, 2, at->stash, &stat);
    return 0;
}

/* The span of LayerNormalization and RMSNormalization: dims [axis, rank). */
static void axis_span(Span *sp, const Shape *s, int axis)
{
    int sel[KILN_MAX_RANK];
    for (int i = 0; i < s->rank; i++)
        sel[i] = i >= axis;
    span_init(sp, s, sel, 0);
}

int lower_layernorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const LNAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = at->stash;
    int rank = x->shape.rank;
    Expr *sc[KILN_MAX_RANK];
    Span sp;
    axis_span(&sp, &x->shape, at->axis);
    /* per index of dims [0, axis): statistics over dims [axis, rank), in u */
    span_outer(L, &sp);
    int mean, var;
    span_moments(L, n, &sp, u, &mean, &var);
    int inv = kb_let(b, "inv", inv_sd(a, kb_v(b, var), u, at->eps));
    /* y[...] = cast((x - mean) * inv) * Scale + B */
    span_inner(L, &sp, IT_DATA);
    Expr *dx = ke_bin(a, B_SUB, span_x(L, n, &sp, u), kb_v(b, mean));
    Expr *y = ke_bin(a, B_MUL, ke_cast(a, t, ke_bin(a, B_MUL, dx, kb_v(b, inv))),
                     lw_load_bcast(L, n->in[1], rank, sp.coords));
    if (n->nin > 2 && n->in[2] != VNONE)
        y = ke_bin(a, B_ADD, y, lw_load_bcast(L, n->in[2], rank, sp.coords));
    lw_store(L, n, 0, sp.coords, y);
    lw_end_n(L, sp.ninner);
    /* Mean[..., 0...], InvStdDev[..., 0...] */
    for (int i = 0; i < rank; i++)
        sc[i] = sp.sel[i] ? ke_idx(a, 0) : sp.coords[i];
    if (n->nout > 1)
        lw_store(L, n, 1, sc, kb_v(b, mean));
    if (n->nout > 2)
        lw_store(L, n, 2, sc, kb_v(b, inv));
    lw_end_n(L, sp.nouter);
    return 0;
}

/* ---------------------------------------- Softmax, LogSoftmax, Hardmax */

/* Softmax's, LogSoftmax's and Hardmax's parsed attributes (Node.attrs):
 * the dims the op normalizes over, [lo, hi). */
typedef struct SoftmaxAttrs {
    int lo, hi;
} SoftmaxAttrs;

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
    SoftmaxAttrs *at = op_attrs(g, n, sizeof *at);
    if (!x)
        return diag_node(d, g, n, "input 0 is required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || softmax_dims(g, n, &at->lo, &at->hi, d))
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
    int loops = open_dims(L, s, sel, 1, IT_SERIAL, names, coords);
    Expr *x = lw_load(L, n->in[0], coords), *bv = kb_v(b, best);
    Expr *nan = ke_bin(a, B_AND, ke_un(a, U_ISNAN, x), ke_un(a, U_NOT, ke_un(a, U_ISNAN, bv)));
    kb_if(b, ke_bin(a, B_OR, ke_bin(a, B_GT, x, bv), nan));
    kb_assign(b, best, x);
    kb_assign(b, idx, kb_flat(b, sub, coords + lo));
    kb_end(b);
    lw_end_n(L, loops);
    loops = open_dims(L, s, sel, 1, IT_DATA, names, coords);
    Expr *hit = ke_bin(a, B_EQ, kb_flat(b, sub, coords + lo), kb_v(b, idx));
    lw_store(L, n, 0, coords, ke_select(a, hit, ke_const(a, t, 1), ke_const(a, t, 0)));
    lw_end_n(L, loops);
}

int lower_softmax(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const SoftmaxAttrs *at = n->attrs;
    int lo = at->lo, hi = at->hi;
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
    int outer = open_dims(L, &x->shape, sel, 0, IT_DATA, names, coords);
    if (n->op == OP_HARDMAX) {
        lower_hardmax(L, n, &sub, sel, names, coords, lo);
        lw_end_n(L, outer);
        return 0;
    }
    /* pass 1: mx = max x */
    int mx = kb_let(b, "mx", ke_float(a, t, -INFINITY));
    int loops = open_dims(L, &x->shape, sel, 1, IT_REDUCE, names, coords);
    kb_assign(b, mx, ke_bin(a, B_MAX, kb_v(b, mx), lw_load(L, n->in[0], coords)));
    lw_end_n(L, loops);
    /* pass 2: sum = sum exp(x - mx) */
    int sum = kb_let(b, "sum", ke_const(a, t, 0));
    loops = open_dims(L, &x->shape, sel, 1, IT_REDUCE, names, coords);
    Expr *sh = ke_bin(a, B_SUB, lw_load(L, n->in[0], coords), kb_v(b, mx));
    kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), ke_un(a, U_EXP, sh)));
    lw_end_n(L, loops);
    /* pass 3: y = exp(x - mx) / sum, or x - mx - log(sum) */
    loops = open_dims(L, &x->shape, sel, 1, IT_DATA, names, coords);
    sh = ke_bin(a, B_SUB, lw_load(L, n->in[0], coords), kb_v(b, mx));
    Expr *y = n->op == OP_LOGSOFTMAX ? ke_bin(a, B_SUB, sh, ke_un(a, U_LOG, kb_v(b, sum)))
                                     : ke_bin(a, B_DIV, ke_un(a, U_EXP, sh), kb_v(b, sum));
    lw_store(L, n, 0, coords, y);
    lw_end_n(L, loops);
    lw_end_n(L, outer);
    return 0;
}

/* --------------------------------------------------- RMSNormalization */

int infer_rmsnorm(Graph *g, Node *n, Diag *d)
{
    LNAttrs *at = op_attrs(g, n, sizeof *at);
    if (check_x(g, n, 0, d) || ln_attrs(g, n, at, d) || param_bcast(g, n, 1, 0, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 1)->dtype, &op_in(g, n, 0)->shape);
    return 0;
}

int lower_rmsnorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const LNAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = at->stash, v = g->values[n->in[1]].dtype;
    Span sp;
    axis_span(&sp, &x->shape, at->axis);
    /* per index of dims [0, axis): mean of x^2 over dims [axis, rank), in u */
    span_outer(L, &sp);
    int ss = span_sum(L, n, &sp, u, SUM_SQ, NULL, "ss");
    int inv = kb_let(b, "inv", inv_sd(a, ke_bin(a, B_DIV, kb_v(b, ss), ke_const(a, u, (double)sp.count)), u, at->eps));
    /* y[...] = cast(cast(x * inv, T), V) * scale */
    span_inner(L, &sp, IT_DATA);
    Expr *y = ke_cast(a, v, ke_cast(a, t, ke_bin(a, B_MUL, span_x(L, n, &sp, u), kb_v(b, inv))));
    y = ke_bin(a, B_MUL, y, lw_load_bcast(L, n->in[1], x->shape.rank, sp.coords));
    lw_store(L, n, 0, sp.coords, y);
    lw_end_n(L, sp.ninner);
    lw_end_n(L, sp.nouter);
    return 0;
}

/* ------------------------------------------------- GroupNormalization */

/* GroupNormalization's parsed attributes (Node.attrs). */
typedef struct GNAttrs {
    int64_t groups;  /* num_groups */
    double eps;
    DType stash;     /* type the statistics are computed in */
} GNAttrs;

static int gn_attrs(Graph *g, Node *n, GNAttrs *at, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    if (!node_attr(n, "num_groups"))
        return diag_node(d, g, n, "attribute 'num_groups' is required");
    if (attr_int(g, n, "num_groups", 1, &at->groups, d) || attr_float(g, n, "epsilon", 1e-5, &at->eps, d))
        return 1;
    /* opset 18 computes in X's type */
    at->stash = op_calc_type(x->dtype);
    if (n->opset >= 21 && stash_attr(g, n, &at->stash, d))
        return 1;
    if (at->groups < 1)
        return diag_node(d, g, n, "num_groups must be >= 1, not %lld", (long long)at->groups);
    if (x->shape.rank >= 2 && x->shape.dim[1] % at->groups)
        return diag_node(d, g, n, "num_groups %lld does not divide the %lld channels", (long long)at->groups,
                         (long long)x->shape.dim[1]);
    return 0;
}

int infer_groupnorm(Graph *g, Node *n, Diag *d)
{
    GNAttrs *at = op_attrs(g, n, sizeof *at);
    char buf[160];
    if (check_x(g, n, 2, d) || gn_attrs(g, n, at, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    /* scale and bias: per channel from opset 21, per group before */
    int64_t want = n->opset >= 21 ? x->shape.dim[1] : at->groups;
    for (int i = 1; i < 3; i++) {
        const Value *p = op_in(g, n, i);
        if (!p)
            return diag_node(d, g, n, "input %d is required", i);
        if (op_same_dtype(g, n, 0, i, d))
            return 1;
        if (p->shape.rank != 1 || p->shape.dim[0] != want)
            return diag_node(d, g, n, "input %d ('%s') has shape %s, expected [%lld] (one per %s)", i, p->name,
                             shape_str(&p->shape, buf, sizeof buf), (long long)want,
                             n->opset >= 21 ? "channel" : "group");
    }
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_groupnorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const GNAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = at->stash;
    int sel[KILN_MAX_RANK];
    Span sp;
    if (shape_numel(&x->shape) == 0)
        return 0; /* nothing to store (and no channels to group) */
    for (int i = 0; i < x->shape.rank; i++)
        sel[i] = i >= 1;
    span_init(&sp, &x->shape, sel, 1);
    span_group(&sp, at->groups);
    /* per (n, g): statistics over the group's channels and the spatial dims, in u */
    span_outer(L, &sp);
    int mean, var;
    span_moments(L, n, &sp, u, &mean, &var);
    int inv = kb_let(b, "inv", inv_sd(a, kb_v(b, var), u, at->eps));
    /* y[n, c, ...] = cast((x - mean) * inv) * scale[c] + bias[c]  ([g] before opset 21) */
    span_inner(L, &sp, IT_DATA);
    Expr *const *pc = n->opset >= 21 ? &sp.coords[1] : &sp.g;
    Expr *dx = ke_bin(a, B_SUB, span_x(L, n, &sp, u), kb_v(b, mean));
    Expr *y = ke_bin(a, B_MUL, ke_cast(a, t, ke_bin(a, B_MUL, dx, kb_v(b, inv))), lw_load(L, n->in[1], pc));
    y = ke_bin(a, B_ADD, y, lw_load(L, n->in[2], pc));
    lw_store(L, n, 0, sp.coords, y);
    lw_end_n(L, sp.ninner);
    lw_end_n(L, sp.nouter);
    return 0;
}

/* ------------------------------------------ MeanVarianceNormalization */

/* MeanVarianceNormalization's parsed attributes (Node.attrs). */
typedef struct MVNAttrs {
    int sel[KILN_MAX_RANK]; /* 1 for the dims normalized over */
} MVNAttrs;

/* sel[i] = 1 for the dims in `axes` (default 0, 2, 3; empty: all). */
static int mvn_axes(Graph *g, Node *n, int *sel, Diag *d)
{
    int64_t axes[KILN_MAX_RANK];
    int na, rank = op_in(g, n, 0)->shape.rank;
    if (attr_ints(g, n, "axes", axes, KILN_MAX_RANK, &na, d))
        return 1;
    if (na < 0) {
        axes[0] = 0, axes[1] = 2, axes[2] = 3;
        na = 3;
    }
    for (int i = 0; i < rank; i++)
        sel[i] = na == 0;
    for (int i = 0; i < na; i++) {
        int ax;
        if (op_axis(g, n, axes[i], rank, &ax, d))
            return 1;
        if (sel[ax])
            return diag_node(d, g, n, "axis %lld appears twice in axes", (long long)axes[i]);
        sel[ax] = 1;
    }
    return 0;
}

int infer_mvn(Graph *g, Node *n, Diag *d)
{
    MVNAttrs *at = op_attrs(g, n, sizeof *at);
    if (check_x(g, n, 0, d) || mvn_axes(g, n, at->sel, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &op_in(g, n, 0)->shape);
    return 0;
}

int lower_mvn(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const MVNAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = op_calc_type(t);
    Span sp;
    span_init(&sp, &x->shape, at->sel, 0);
    /* per index of the other dims: mean and variance over `axes` */
    span_outer(L, &sp);
    int mean, var;
    span_moments(L, n, &sp, u, &mean, &var);
    int sd = kb_let(b, "sd", ke_bin(a, B_ADD, ke_un(a, U_SQRT, kb_v(b, var)), ke_const(a, u, 1e-9)));
    /* y[...] = (x - mean) / (sqrt(var) + 1e-9) */
    span_inner(L, &sp, IT_DATA);
    Expr *y = ke_bin(a, B_DIV, ke_bin(a, B_SUB, span_x(L, n, &sp, u), kb_v(b, mean)), kb_v(b, sd));
    lw_store(L, n, 0, sp.coords, ke_cast(a, t, y));
    lw_end_n(L, sp.ninner);
    lw_end_n(L, sp.nouter);
    return 0;
}

/* ---------------------------------------------------- LpNormalization */

/* LpNormalization's parsed attributes (Node.attrs). */
typedef struct LpAttrs {
    int axis;
    int64_t p;       /* 1 or 2 */
} LpAttrs;

static int lp_attrs(Graph *g, Node *n, int *axis, int64_t *p, Diag *d)
{
    int64_t ax;
    if (attr_int(g, n, "axis", -1, &ax, d) || attr_int(g, n, "p", 2, p, d))
        return 1;
    if (*p != 1 && *p != 2)
        return diag_node(d, g, n, "p must be 1 or 2, not %lld", (long long)*p);
    return op_axis(g, n, ax, op_in(g, n, 0)->shape.rank, axis, d);
}

int infer_lpnorm(Graph *g, Node *n, Diag *d)
{
    LpAttrs *at = op_attrs(g, n, sizeof *at);
    if (check_x(g, n, 1, d) || lp_attrs(g, n, &at->axis, &at->p, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &op_in(g, n, 0)->shape);
    return 0;
}

int lower_lpnorm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const LpAttrs *at = n->attrs;
    int axis = at->axis, sel[KILN_MAX_RANK];
    int64_t p = at->p;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = op_calc_type(t);
    Span sp;
    for (int i = 0; i < x->shape.rank; i++)
        sel[i] = i == axis;
    span_init(&sp, &x->shape, sel, 0);
    /* per index of the other dims: nrm = sum |x| or sqrt(sum x^2) along axis */
    span_outer(L, &sp);
    int sum = span_sum(L, n, &sp, u, p == 1 ? SUM_ABS : SUM_SQ, NULL, "sum");
    int nrm = kb_let(b, "nrm", p == 1 ? kb_v(b, sum) : ke_un(a, U_SQRT, kb_v(b, sum)));
    /* y[...] = x / nrm, 0 where nrm == 0 */
    span_inner(L, &sp, IT_DATA);
    Expr *zero = ke_const(a, u, 0);
    Expr *y = ke_select(a, ke_bin(a, B_EQ, kb_v(b, nrm), zero), zero,
                        ke_bin(a, B_DIV, span_x(L, n, &sp, u), kb_v(b, nrm)));
    lw_store(L, n, 0, sp.coords, ke_cast(a, t, y));
    lw_end_n(L, sp.ninner);
    lw_end_n(L, sp.nouter);
    return 0;
}

/* ---------------------------------------------------------------- LRN */

/* LRN's parsed attributes (Node.attrs). */
typedef struct LRNAttrs {
    double alpha, beta, bias;
    int64_t size;    /* channels in the window */
} LRNAttrs;

static int lrn_attrs(Graph *g, Node *n, LRNAttrs *at, Diag *d)
{
    if (!node_attr(n, "size"))
        return diag_node(d, g, n, "attribute 'size' is required");
    if (attr_float(g, n, "alpha", 1e-4, &at->alpha, d) || attr_float(g, n, "beta", 0.75, &at->beta, d) ||
        attr_float(g, n, "bias", 1.0, &at->bias, d) || attr_int(g, n, "size", 1, &at->size, d))
        return 1;
    if (at->size < 1)
        return diag_node(d, g, n, "size must be >= 1, not %lld", (long long)at->size);
    return 0;
}

int infer_lrn(Graph *g, Node *n, Diag *d)
{
    LRNAttrs *at = op_attrs(g, n, sizeof *at);
    if (check_x(g, n, 2, d) || lrn_attrs(g, n, at, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &op_in(g, n, 0)->shape);
    return 0;
}

int lower_lrn(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const LRNAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, u = op_calc_type(t);
    /* The window [c - before, c + after] is cut to the channels that
     * exist, and a channel j in [0, C) is never more than C - 1 away from
     * c: clamping before and after to C - 1 reads the same channels (so a
     * size near INT64_MAX loops over at most 2C - 1 taps), while alpha
     * still divides by the size the model gives. */
    int64_t chans = x->shape.dim[1], before = (at->size - 1) / 2, after = at->size - 1 - before;
    int64_t reach = chans > 0 ? chans - 1 : 0;
    before = before < reach ? before : reach;
    after = after < reach ? after : reach;
    int sel[KILN_MAX_RANK] = {0};
    Expr *win[KILN_MAX_RANK];
    Span sp;
    span_init(&sp, &x->shape, sel, 1);
    /* per element [n, c, ...]: ss = sum of x[n, c - before + k, ...]^2, k <= before + after, inside C */
    span_outer(L, &sp);
    int ss = kb_let(b, "ss", ke_const(a, u, 0));
    Expr *k = kb_v(b, kb_for(b, "k", before + after + 1));
    for (int i = 0; i < x->shape.rank; i++)
        win[i] = sp.coords[i];
    win[1] = ke_bin(a, B_ADD, ke_bin(a, B_SUB, sp.coords[1], ke_idx(a, before)), k);
    kb_if(b, ke_bin(a, B_AND, ke_bin(a, B_GE, win[1], ke_idx(a, 0)), ke_bin(a, B_LT, win[1], ke_idx(a, chans))));
    Expr *xw = ke_cast(a, u, lw_load(L, n->in[0], win));
    kb_assign(b, ss, ke_bin(a, B_ADD, kb_v(b, ss), ke_bin(a, B_MUL, xw, xw)));
    kb_end(b);
    kb_end(b);
    /* y = x / (bias + alpha / size * ss)^beta */
    Expr *base = ke_bin(a, B_ADD, ke_const(a, u, at->bias), ke_bin(a, B_MUL, ke_const(a, u, at->alpha / (double)at->size),
                                                                   kb_v(b, ss)));
    Expr *y = ke_bin(a, B_DIV, span_x(L, n, &sp, u), ke_bin(a, B_POW, base, ke_const(a, u, at->beta)));
    lw_store(L, n, 0, sp.coords, ke_cast(a, t, y));
    lw_end_n(L, sp.nouter);
    return 0;
}
