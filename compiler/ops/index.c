/*
 * index.c: operators driven by runtime index data, and scans. GatherND,
 * ScatterND, ScatterElements, Scatter, OneHot, CumSum, CumProd,
 * ReverseSequence, TopK.
 *
 * Index values are data, known only at run time: the kernel loads them,
 * casts them to DT_INDEX and adds the axis extent when negative. ONNX calls
 * an index outside its axis an error, but generated code has no error path,
 * so each op gives it a meaning that never touches memory outside a buffer:
 *   GatherND         clamps into the axis (reads a valid element), as Gather;
 *   Scatter*         skips the update (a clamped write would change an
 *                    element the model never named);
 *   OneHot           leaves the row all off_value (what the spec says);
 *   ReverseSequence  clamps each sequence length into [0, time extent].
 * Index data that is constant (known at compile time) is checked instead:
 * GatherND's and the scatters' out-of-range indices are compile errors.
 *
 * GatherND, OneHot, CumSum/CumProd and ReverseSequence store each output
 * element once through lw_store, so an elementwise successor may fuse in as
 * an epilogue. The scatters copy data into the output and then update it in
 * place, and TopK insertion-sorts into its outputs: both store an element
 * more than once (OPF_NOEPI in ops.h) and write with kb_store.
 *
 * What decides a shape or the loop structure (TopK's k, OneHot's depth, the
 * cumulative axis) is read at compile time by a *_params() helper that infer
 * and lower both call, so the two never disagree.
 */
#include "op.h"

#include <string.h>

static Expr *idx(Lower *L, int64_t v) { return ke_idx(lw_arena(L), v); }

static const DType index_types[] = {DT_I32, DT_I64, DT_UNDEF};

/* Fail when input i of n is constant index data with an entry outside
 * [-dims[k % period], dims[k % period]) at flat position k: the axis each
 * entry selects on cycles with period 1 (Scatter*) or with the length of
 * an index tuple (GatherND, ScatterND). ONNX calls such an index an error;
 * only indices known at run time get the documented clamp or skip. */
static int const_indices(Graph *g, Node *n, int i, const int64_t *dims, int period, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (!v || v->kind != VAL_CONST || !v->data || !dtype_is_int(v->dtype) || period < 1)
        return 0;
    int64_t cnt = shape_numel(&v->shape);
    for (int64_t k = 0; k < cnt; k++) {
        int64_t j = dtype_get_i(v->dtype, v->data, k), dim = dims[k % period];
        if (j < -dim || j >= dim)
            return diag_node(d, g, n, "index %lld (element %lld of '%s') is out of range for an axis of %lld",
                             (long long)j, (long long)k, v->name, (long long)dim);
    }
    return 0;
}

/* Fail unless input i holds numbers (an integer or float type, not bool). */
static int need_numeric(Graph *g, Node *n, int i, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (v && !dtype_is_int(v->dtype) && !dtype_is_float(v->dtype))
        return diag_node(d, g, n, "input %d ('%s') has type %s, which this op does not support", i, v->name,
                         dtype_name(v->dtype));
    return 0;
}

/* -------------------------------------------------------------- GatherND */

/* GatherND's parsed attributes (Node.attrs). */
typedef struct GatherNDAttrs {
    int bd;          /* batch_dims */
    int k;           /* length of each index tuple */
} GatherNDAttrs;

/* batch_dims and the length k of each index tuple of GatherND, checked
 * against the shapes of data [r] and indices [q]. */
static int gathernd_params(Graph *g, Node *n, int *out_b, int *out_k, Diag *d)
{
    const Value *x = op_in(g, n, 0), *ix = op_in(g, n, 1);
    int64_t bd;
    if (op_check_dtype(g, n, 1, index_types, d) ||
        attr_int(g, n, "batch_dims", 0, &bd, d))
        return 1;
    int r = x->shape.rank, q = ix->shape.rank;
    if (r < 1 || q < 1)
        return diag_node(d, g, n, "data and indices must have rank >= 1 (they have %d and %d)", r, q);
    if (bd < 0 || bd >= r || bd >= q)
        return diag_node(d, g, n, "batch_dims %lld is outside [0, %d) (below the rank of data and of indices)",
                         (long long)bd, r < q ? r : q);
    for (int i = 0; i < bd; i++)
        if (x->shape.dim[i] != ix->shape.dim[i])
            return diag_node(d, g, n, "batch dim %d differs: %lld in data, %lld in indices", i,
                             (long long)x->shape.dim[i], (long long)ix->shape.dim[i]);
    int64_t k = ix->shape.dim[q - 1];
    if (k < 1 || k > r - bd)
        return diag_node(d, g, n, "indices.shape[-1] is %lld, expected 1 to %lld (rank of data minus batch_dims)",
                         (long long)k, (long long)(r - bd));
    if (q - 1 + r - bd - k > KILN_MAX_RANK)
        return diag_node(d, g, n, "output rank %lld is too large", (long long)(q - 1 + r - bd - k));
    Shape tuples = ix->shape;
    tuples.rank--;
    for (int j = 0; j < k; j++)
        if (x->shape.dim[bd + j] == 0 && shape_numel(&tuples) > 0)
            return diag_node(d, g, n, "gathers from axis %lld, which is empty", (long long)(bd + j));
    if (const_indices(g, n, 1, x->shape.dim + bd, (int)k, d))
        return 1;
    *out_b = (int)bd;
    *out_k = (int)k;
    return 0;
}

int infer_gathernd(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *ix = op_in(g, n, 1);
    GatherNDAttrs *at = op_attrs(g, n, sizeof *at);
    if (gathernd_params(g, n, &at->bd, &at->k, d))
        return 1;
    int bd = at->bd, k = at->k;
    /* indices.shape[:-1] ++ data.shape[batch_dims + k:] */
    Shape s = {0, {0}};
    for (int i = 0; i < ix->shape.rank - 1; i++)
        s.dim[s.rank++] = ix->shape.dim[i];
    for (int i = bd + k; i < x->shape.rank; i++)
        s.dim[s.rank++] = x->shape.dim[i];
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_gathernd(Lower *L, Node *n)
{
    const GatherNDAttrs *at = n->attrs;
    int bd = at->bd, k = at->k;
    const Shape *xs = &lw_in(L, n, 0)->shape;
    int q = lw_in(L, n, 1)->shape.rank;
    Expr *oc[KILN_MAX_RANK], *xc[KILN_MAX_RANK], *tc[KILN_MAX_RANK];
    /* y[t.., s..] = x[t[:b].., indices[t.., 0]..indices[t.., k-1], s..]
     * for each index tuple t over indices.shape[:-1] (batch dims first),
     * then each element s of its slice, over data.shape[b+k:] */
    Shape tuples = lw_in(L, n, 1)->shape, slice = {0, {0}};
    tuples.rank--;
    for (int i = bd + k; i < xs->rank; i++)
        slice.dim[slice.rank++] = xs->dim[i];
    lw_loops(L, &tuples, "t", oc);
    for (int i = 0; i < bd; i++)
        xc[i] = oc[i];
    memcpy(tc, oc, sizeof(Expr *) * (size_t)(q - 1));
    for (int j = 0; j < k; j++) {
        tc[q - 1] = idx(L, j);
        Expr *kj = lw_index(L, arena_printf(lw_arena(L), "k%d", j), lw_load(L, n->in[1], tc),
                               xs->dim[bd + j]);
        xc[bd + j] = idx_clamp(lw_arena(L), kj, xs->dim[bd + j]); /* out of range: clamped */
    }
    lw_loops(L, &slice, "s", oc + q - 1);
    for (int i = bd + k; i < xs->rank; i++)
        xc[i] = oc[q - 1 + i - bd - k];
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], xc));
    lw_end_loops(L, &slice);
    lw_end_loops(L, &tuples);
    return 0;
}

/* ---------------------------------------- ScatterND, ScatterElements, Scatter */

typedef enum Reduction { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } Reduction;

/* The scatters' parsed attributes (Node.attrs). */
typedef struct ScatterParams {
    Reduction red;  /* how an update combines with the element it lands on */
    int axis;       /* ScatterElements, Scatter: the axis indices select on */
    int k;          /* ScatterND: length of each index tuple */
} ScatterParams;

/* The reduction attribute: absent before opset 16 (and in Scatter), add and
 * mul from 16, max and min from 18. */
static int scatter_reduction(Graph *g, Node *n, Reduction *out, Diag *d)
{
    static const char *names[] = {"none", "add", "mul", "max", "min"};
    static const char *allowed[] = {"", "none", "", "none, add, mul", "", "none, add, mul, max, min"};
    const char *s;
    *out = RED_NONE;
    if (attr_str(g, n, "reduction", "none", &s, d))
        return 1;
    int avail = n->op == OP_SCATTER || n->opset < 16 ? 1 : n->opset < 18 ? 3 : 5;
    for (int r = 0; r < avail; r++)
        if (!strcmp(s, names[r])) {
            *out = (Reduction)r;
            return 0;
        }
    return diag_node(d, g, n, "reduction '%s' is not supported in opset %d (allowed: %s)", s, n->opset,
                     allowed[avail]);
}

static int scatter_params(Graph *g, Node *n, ScatterParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0), *ix = op_in(g, n, 1), *u = op_in(g, n, 2);
    char a[160], b[160];
    memset(p, 0, sizeof *p);
    if (op_check_dtype(g, n, 1, index_types, d) ||
        op_same_dtype(g, n, 0, 2, d) || scatter_reduction(g, n, &p->red, d))
        return 1;
    int r = x->shape.rank, q = ix->shape.rank;
    if (r < 1)
        return diag_node(d, g, n, "data must have rank >= 1");
    if (n->op == OP_SCATTERND) {
        if (q < 1)
            return diag_node(d, g, n, "indices must have rank >= 1");
        int64_t k = ix->shape.dim[q - 1];
        if (k < 1 || k > r)
            return diag_node(d, g, n, "indices.shape[-1] is %lld, expected 1 to %d (the rank of data)",
                             (long long)k, r);
        if (q - 1 + r - k > KILN_MAX_RANK)
            return diag_node(d, g, n, "updates rank %lld is too large", (long long)(q - 1 + r - k));
        /* updates: indices.shape[:-1] ++ data.shape[k:] */
        Shape want = {0, {0}};
        for (int i = 0; i < q - 1; i++)
            want.dim[want.rank++] = ix->shape.dim[i];
        for (int i = (int)k; i < r; i++)
            want.dim[want.rank++] = x->shape.dim[i];
        if (!shape_equal(&u->shape, &want))
            return diag_node(d, g, n, "updates have shape %s, expected %s (indices.shape[:-1] ++ data.shape[k:])",
                             shape_str(&u->shape, a, sizeof a), shape_str(&want, b, sizeof b));
        p->k = (int)k;
        return const_indices(g, n, 1, x->shape.dim, p->k, d);
    }
    int64_t axis;
    if (attr_int(g, n, "axis", 0, &axis, d) || op_axis(g, n, axis, r, &p->axis, d))
        return 1;
    if (q != r || !shape_equal(&u->shape, &ix->shape))
        return diag_node(d, g, n, "indices (%s) and updates (%s) must have one shape, of the rank of data (%d)",
                         shape_str(&ix->shape, a, sizeof a), shape_str(&u->shape, b, sizeof b), r);
    for (int i = 0; i < r; i++)
        if (i != p->axis && ix->shape.dim[i] > x->shape.dim[i])
            return diag_node(d, g, n, "indices of shape %s do not fit data of shape %s on dim %d",
                             shape_str(&ix->shape, a, sizeof a), shape_str(&x->shape, b, sizeof b), i);
    return const_indices(g, n, 1, &x->shape.dim[p->axis], 1, d);
}

int infer_scatter(Graph *g, Node *n, Diag *d)
{
    ScatterParams *p = op_attrs(g, n, sizeof *p);
    if (scatter_params(g, n, p, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

/* The value an update u leaves at an element holding old. On bool, add and
 * max are `or`, mul and min `and` (numpy's answers). */
static Expr *reduce_into(Arena *a, Reduction r, Expr *old, Expr *u)
{
    int is_bool = old->type == DT_BOOL;
    switch (r) {
    case RED_NONE: return u;
    case RED_ADD: return ke_bin(a, is_bool ? B_OR : B_ADD, old, u);
    case RED_MUL: return ke_bin(a, is_bool ? B_AND : B_MUL, old, u);
    case RED_MAX: return ke_bin(a, is_bool ? B_OR : B_MAX, old, u);
    case RED_MIN: return ke_bin(a, is_bool ? B_AND : B_MIN, old, u);
    }
    return u;
}

/* y[i] = x[i] over every element of input 0: the scatters start from a copy. */
static void copy_input(Lower *L, Node *n, int yb)
{
    KB *b = lw_kb(L);
    Expr *i = kb_v(b, kb_for(b, "i", shape_numel(&lw_in(L, n, 0)->shape)));
    kb_store(b, yb, i, ke_load(lw_arena(L), b->p, lw_buf(L, n->in[0]), i));
    kb_end(b);
}

int lower_scatter(Lower *L, Node *n)
{
    const ScatterParams *p = n->attrs;
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Shape *xs = &lw_in(L, n, 0)->shape, *us = &lw_in(L, n, 2)->shape;
    int q = lw_in(L, n, 1)->shape.rank;
    int yb = lw_buf(L, n->out[0]);
    Expr *uc[KILN_MAX_RANK], *yc[KILN_MAX_RANK], *tc[KILN_MAX_RANK];

    copy_input(L, n, yb); /* y = x, then the updates */

    /* each update, in order (later ones win without a reduction); an index
     * outside its axis skips the update */
    Expr *ok;
    if (n->op == OP_SCATTERND) {
        /* y[indices[t.., 0]..indices[t.., k-1], s..] = f(that, updates[t.., s..])
         * for each index tuple t over indices.shape[:-1], then each element s
         * of its slice, over data.shape[k:] */
        Shape tuples = *us, slice = {0, {0}};
        tuples.rank = q - 1;
        for (int j = p->k; j < xs->rank; j++)
            slice.dim[slice.rank++] = xs->dim[j];
        lw_loops_k(L, &tuples, "t", IT_SERIAL, uc);
        ok = NULL;
        memcpy(tc, uc, sizeof(Expr *) * (size_t)(q - 1));
        for (int j = 0; j < p->k; j++) {
            tc[q - 1] = idx(L, j);
            yc[j] = lw_index(L, arena_printf(a, "k%d", j), lw_load(L, n->in[1], tc), xs->dim[j]);
            Expr *inj = idx_in_range(lw_arena(L), yc[j], xs->dim[j]);
            ok = ok ? ke_bin(a, B_AND, ok, inj) : inj;
        }
        kb_if(b, ok);
        lw_loops_k(L, &slice, "s", IT_SERIAL, uc + q - 1);
        for (int j = p->k; j < xs->rank; j++)
            yc[j] = uc[q - 1 + j - p->k];
        Expr *at = kb_flat(b, xs, yc);
        kb_store(b, yb, at, reduce_into(a, p->red, ke_load(a, b->p, yb, at), lw_load(L, n->in[2], uc)));
        lw_end_loops(L, &slice);
        kb_end(b);
        lw_end_loops(L, &tuples);
        return 0;
    }
    /* y[u.. with u_axis replaced by indices[u..]] = f(that, updates[u..]) */
    lw_loops_k(L, us, "u", IT_SERIAL, uc);
    memcpy(yc, uc, sizeof(Expr *) * (size_t)xs->rank);
    yc[p->axis] = lw_index(L, "k", lw_load(L, n->in[1], uc), xs->dim[p->axis]);
    ok = idx_in_range(lw_arena(L), yc[p->axis], xs->dim[p->axis]);
    kb_if(b, ok);
    Expr *at = kb_flat(b, xs, yc);
    kb_store(b, yb, at, reduce_into(a, p->red, ke_load(a, b->p, yb, at), lw_load(L, n->in[2], uc)));
    kb_end(b);
    lw_end_loops(L, us);
    return 0;
}

/* --------------------------------------------------------- TensorScatter */

/* TensorScatter: a KV-cache update. The sequence axis (never 0, the batch
 * axis) of past and update may differ; circular mode wraps write positions
 * modulo the cache length. */
/* TensorScatter's parsed attributes (Node.attrs). */
typedef struct TSParams {
    int axis;
    int circular;
} TSParams;

static int tscatter_params(Graph *g, Node *n, TSParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0), *u = op_in(g, n, 1), *w = op_in(g, n, 2);
    const char *mode;
    int64_t axis;
    char a[160], b[160];
    if (op_same_dtype(g, n, 0, 1, d) || attr_str(g, n, "mode", "linear", &mode, d) ||
        attr_int(g, n, "axis", -2, &axis, d))
        return 1;
    if (strcmp(mode, "linear") && strcmp(mode, "circular"))
        return diag_node(d, g, n, "mode '%s' is not 'linear' or 'circular'", mode);
    p->circular = !strcmp(mode, "circular");
    int r = x->shape.rank;
    if (r < 2)
        return diag_node(d, g, n, "past_cache must have rank >= 2 (batch, ..., sequence, ...)");
    if (op_axis(g, n, axis, r, &p->axis, d))
        return 1;
    if (p->axis == 0)
        return diag_node(d, g, n, "axis must not be 0, the batch axis");
    int ok = u->shape.rank == r;
    for (int i = 0; ok && i < r; i++)
        ok = i == p->axis ? u->shape.dim[i] <= x->shape.dim[i] : u->shape.dim[i] == x->shape.dim[i];
    if (!ok)
        return diag_node(d, g, n, "update has shape %s, expected that of past_cache %s with at most as many entries on axis %d",
                         shape_str(&u->shape, a, sizeof a), shape_str(&x->shape, b, sizeof b), p->axis);
    if (w) {
        static const DType i64[] = {DT_I64, DT_UNDEF};
        if (op_check_dtype(g, n, 2, i64, d))
            return 1;
        if (w->shape.rank != 1 || w->shape.dim[0] != x->shape.dim[0])
            return diag_node(d, g, n, "write_indices has shape %s, expected [%lld] (one per batch entry)",
                             shape_str(&w->shape, a, sizeof a), (long long)x->shape.dim[0]);
    }
    return 0;
}

int infer_tensorscatter(Graph *g, Node *n, Diag *d)
{
    TSParams *p = op_attrs(g, n, sizeof *p);
    if (tscatter_params(g, n, p, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_tensorscatter(Lower *L, Node *n)
{
    const TSParams *p = n->attrs;
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Shape *xs = &lw_in(L, n, 0)->shape, *us = &lw_in(L, n, 1)->shape;
    int64_t len = xs->dim[p->axis];
    int yb = lw_buf(L, n->out[0]);
    Expr *uc[KILN_MAX_RANK], *yc[KILN_MAX_RANK];

    copy_input(L, n, yb); /* y = past, then the update */

    /* y[.., w[b] + s, ..] = update[.., s, ..] (mod len when circular; a
     * linear position outside the cache is skipped) */
    kb_comment(b, p->circular ? "y[b, .., (w[b] + s) mod len, ..] = update[b, .., s, ..]"
                             : "y[b, .., w[b] + s, ..] = update[b, .., s, ..]");
    lw_loops_k(L, us, "u", IT_SERIAL, uc);
    memcpy(yc, uc, sizeof(Expr *) * (size_t)xs->rank);
    Expr *at = uc[p->axis];
    int has_w = n->nin > 2 && n->in[2] != VNONE;
    if (has_w)
        at = ke_bin(a, B_ADD, ke_cast(a, DT_INDEX, lw_load(L, n->in[2], &uc[0])), at);
    int guarded = 0;
    if (p->circular && has_w) {
        /* floor modulo: w may be any int64 */
        Expr *m = ke_idx(a, len);
        at = ke_bin(a, B_MOD, ke_bin(a, B_ADD, ke_bin(a, B_MOD, at, m), m), m);
    } else if (has_w) {
        kb_if(b, idx_in_range(lw_arena(L), at, len));
        guarded = 1;
    }
    yc[p->axis] = at;
    kb_store(b, yb, kb_flat(b, xs, yc), lw_load(L, n->in[1], uc));
    if (guarded)
        kb_end(b);
    lw_end_loops(L, us);
    return 0;
}

/* ---------------------------------------------------------------- OneHot */

/* OneHot's axis in [0, rank(indices)] and depth (input 1, at compile time). */
/* OneHot's parsed attributes (Node.attrs); depth is input 1's value. */
typedef struct OneHotAttrs {
    int axis;
    int64_t depth;
} OneHotAttrs;

static int onehot_params(Graph *g, Node *n, int *out_axis, int64_t *out_depth, Diag *d)
{
    const Value *ix = op_in(g, n, 0), *vals = op_in(g, n, 2);
    int64_t axis;
    double depth;
    int nd;
    char a[160];
    if (need_numeric(g, n, 0, d) || need_numeric(g, n, 1, d))
        return 1;
    if (vals->shape.rank != 1 || vals->shape.dim[0] != 2)
        return diag_node(d, g, n, "values has shape %s, expected 2 ([off_value, on_value])",
                         shape_str(&vals->shape, a, sizeof a));
    if (ix->shape.rank + 1 > KILN_MAX_RANK)
        return diag_node(d, g, n, "output rank %d is too large", ix->shape.rank + 1);
    if (op_const_floats(g, n, 1, &depth, 1, &nd, d))
        return 1;
    if (nd != 1)
        return diag_node(d, g, n, "depth must hold one value");
    if (!(depth >= 0 && depth < 2147483648.0))
        return diag_node(d, g, n, "depth %g is not a usable extent", depth);
    *out_depth = (int64_t)depth;
    return attr_int(g, n, "axis", -1, &axis, d) || op_axis(g, n, axis, ix->shape.rank + 1, out_axis, d);
}

int infer_onehot(Graph *g, Node *n, Diag *d)
{
    const Value *ix = op_in(g, n, 0);
    OneHotAttrs *at = op_attrs(g, n, sizeof *at);
    if (onehot_params(g, n, &at->axis, &at->depth, d))
        return 1;
    int axis = at->axis;
    int64_t depth = at->depth;
    /* indices.shape with depth inserted at axis */
    Shape s = {ix->shape.rank + 1, {0}};
    for (int i = 0, j = 0; i < s.rank; i++)
        s.dim[i] = i == axis ? depth : ix->shape.dim[j++];
    op_set_out(g, n, 0, op_in(g, n, 2)->dtype, &s);
    return 0;
}

int lower_onehot(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const OneHotAttrs *at = n->attrs;
    int axis = at->axis;
    int64_t depth = at->depth;
    const Shape *os = &lw_out(L, n, 0)->shape;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    Expr *zero = idx(L, 0), *one = idx(L, 1);
    /* y[a.., c, b..] = indices[a.., b..] == c ? values[1] : values[0], with
     * negative indices counting from depth (opset 11 on; before, they are
     * out of range); out of range matches no c */
    lw_loops(L, os, "i", oc);
    for (int i = 0, j = 0; i < os->rank; i++)
        if (i != axis)
            ic[j++] = oc[i];
    Expr *raw = lw_load(L, n->in[0], ic);
    Expr *k = n->opset >= 11 ? lw_index(L, "k", raw, depth) : ke_cast(a, DT_INDEX, raw);
    Expr *on = lw_load(L, n->in[2], &one), *off = lw_load(L, n->in[2], &zero);
    lw_store(L, n, 0, oc, ke_select(a, ke_bin(a, B_EQ, k, oc[axis]), on, off));
    lw_end_loops(L, os);
    return 0;
}

/* ------------------------------------------------------ CumSum, CumProd */

/* The axis of a cumulative op: input 1, one integer known at compile time. */
static int cumulative_axis(Graph *g, Node *n, int *out, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis;
    int na;
    if (need_numeric(g, n, 0, d) || op_check_dtype(g, n, 1, index_types, d))
        return 1;
    if (x->shape.rank < 1)
        return diag_node(d, g, n, "x must have rank >= 1");
    if (op_const_ints(g, n, 1, &axis, 1, &na, d))
        return 1;
    if (na != 1)
        return diag_node(d, g, n, "axis must hold one value");
    return op_axis(g, n, axis, x->shape.rank, out, d);
}

/* CumSum's and CumProd's parsed attributes (Node.attrs); axis is input 1's value. */
typedef struct CumAttrs {
    int axis;
    int64_t exclusive, reverse;
} CumAttrs;

int infer_cumulative(Graph *g, Node *n, Diag *d)
{
    CumAttrs *at = op_attrs(g, n, sizeof *at);
    if (cumulative_axis(g, n, &at->axis, d) || attr_int(g, n, "exclusive", 0, &at->exclusive, d) ||
        attr_int(g, n, "reverse", 0, &at->reverse, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_cumulative(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const CumAttrs *at = n->attrs;
    int axis = at->axis;
    int64_t exclusive = at->exclusive, reverse = at->reverse;
    const Value *x = lw_in(L, n, 0);
    const Shape *xs = &x->shape;
    int64_t len = xs->dim[axis];
    BinOp op = n->op == OP_CUMPROD ? B_MUL : B_ADD;
    Expr *c[KILN_MAX_RANK];
    /* for every line along axis: acc = identity; for t (backwards when
     * reverse): y[.., t, ..] = acc op x[.., t, ..] (acc before the op when
     * exclusive), acc = acc op x[.., t, ..] */
    int open = 0;
    for (int i = 0; i < xs->rank; i++)
        if (i != axis) {
            c[i] = kb_v(b, kb_for(b, arena_printf(a, "i%d", i), xs->dim[i]));
            open++;
        }
    int acc = kb_let(b, "acc", ke_const(a, x->dtype, op == B_MUL ? 1 : 0));
    Expr *t = kb_v(b, kb_for(b, "t", len));
    c[axis] = reverse ? ke_bin(a, B_SUB, idx(L, len - 1), t) : t;
    Expr *next = ke_bin(a, op, kb_v(b, acc), lw_load(L, n->in[0], c));
    if (exclusive)
        lw_store(L, n, 0, c, kb_v(b, acc));
    kb_assign(b, acc, next);
    if (!exclusive)
        lw_store(L, n, 0, c, kb_v(b, acc));
    kb_end(b);
    while (open--)
        kb_end(b);
    return 0;
}

/* ------------------------------------------------------- ReverseSequence */

/* ReverseSequence's parsed attributes (Node.attrs). */
typedef struct RevSeqAttrs {
    int batch, time;
} RevSeqAttrs;

/* batch_axis and time_axis: 0 and 1, in either order. */
static int revseq_params(Graph *g, Node *n, int *out_batch, int *out_time, Diag *d)
{
    const Value *x = op_in(g, n, 0), *lens = op_in(g, n, 1);
    int64_t batch, time;
    char a[160];
    if (op_check_dtype(g, n, 1, index_types, d) ||
        attr_int(g, n, "batch_axis", 1, &batch, d) || attr_int(g, n, "time_axis", 0, &time, d))
        return 1;
    if (x->shape.rank < 2)
        return diag_node(d, g, n, "input must have rank >= 2");
    if (batch < 0 || batch > 1 || time < 0 || time > 1 || batch == time)
        return diag_node(d, g, n, "batch_axis %lld and time_axis %lld must be 0 and 1, in either order",
                         (long long)batch, (long long)time);
    if (lens->shape.rank != 1 || lens->shape.dim[0] != x->shape.dim[batch])
        return diag_node(d, g, n, "sequence_lens has shape %s, expected %lld (the batch extent)",
                         shape_str(&lens->shape, a, sizeof a), (long long)x->shape.dim[batch]);
    *out_batch = (int)batch;
    *out_time = (int)time;
    return 0;
}

int infer_reversesequence(Graph *g, Node *n, Diag *d)
{
    RevSeqAttrs *at = op_attrs(g, n, sizeof *at);
    if (revseq_params(g, n, &at->batch, &at->time, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_reversesequence(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const RevSeqAttrs *at = n->attrs;
    int batch = at->batch, time = at->time;
    const Shape *xs = &lw_in(L, n, 0)->shape;
    int64_t steps = xs->dim[time];
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* y[.., b, .., t, ..] = x[.., b, .., t < len[b] ? len[b] - 1 - t : t, ..],
     * len[b] clamped into [0, steps] */
    lw_loops(L, xs, "i", oc);
    Expr *raw = ke_cast(a, DT_INDEX, lw_load(L, n->in[1], &oc[batch]));
    int len = kb_let(b, "len", ke_bin(a, B_MAX, idx(L, 0), ke_bin(a, B_MIN, raw, idx(L, steps))));
    Expr *lv = kb_v(b, len), *t = oc[time];
    memcpy(ic, oc, sizeof(Expr *) * (size_t)xs->rank);
    ic[time] = ke_select(a, ke_bin(a, B_LT, t, lv), ke_bin(a, B_SUB, ke_bin(a, B_SUB, lv, idx(L, 1)), t), t);
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], ic));
    lw_end_loops(L, xs);
    return 0;
}

/* ------------------------------------------------------------------ TopK */

/* TopK's parsed attributes (Node.attrs). */
typedef struct TopKParams {
    int axis;       /* in [0, rank) */
    int64_t k;      /* elements kept, in [0, extent of axis] */
    int largest;    /* 1: the largest, 0: the smallest */
} TopKParams;

/* k from the attribute (opset 1) or input K (opset 10 on, at compile time). */
static int topk_params(Graph *g, Node *n, TopKParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis, largest = 1, sorted, k;
    int nk;
    if (need_numeric(g, n, 0, d))
        return 1;
    if (x->shape.rank < 1)
        return diag_node(d, g, n, "X must have rank >= 1");
    if (attr_int(g, n, "axis", -1, &axis, d) || op_axis(g, n, axis, x->shape.rank, &p->axis, d))
        return 1;
    if (n->opset < 10) {
        if (!node_attr(n, "k"))
            return diag_node(d, g, n, "attribute 'k' is required");
        if (attr_int(g, n, "k", 0, &k, d))
            return 1;
    } else {
        if (!op_in(g, n, 1))
            return diag_node(d, g, n, "input K is required from opset 10");
        if (op_check_dtype(g, n, 1, index_types, d) || op_const_ints(g, n, 1, &k, 1, &nk, d))
            return 1;
        if (nk != 1)
            return diag_node(d, g, n, "K must hold one value");
    }
    if (n->opset >= 11 && (attr_int(g, n, "largest", 1, &largest, d) || attr_int(g, n, "sorted", 1, &sorted, d)))
        return 1;
    int64_t len = x->shape.dim[p->axis];
    if (k < 0 || k > len)
        return diag_node(d, g, n, "k = %lld is outside [0, %lld] (the extent of axis %d)", (long long)k,
                         (long long)len, p->axis);
    p->k = k;
    p->largest = largest != 0;
    return 0;
}

int infer_topk(Graph *g, Node *n, Diag *d)
{
    TopKParams *p = op_attrs(g, n, sizeof *p);
    if (topk_params(g, n, p, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    Shape s = x->shape;
    s.dim[p->axis] = p->k;
    op_set_out(g, n, 0, x->dtype, &s);
    op_set_out(g, n, 1, DT_I64, &s);
    return 0;
}

/* Whether x ranks strictly before y: larger (smaller) when `largest` (not),
 * NaN counting as larger than any number, as a stable sort of the values
 * places it. */
static Expr *topk_before(Arena *a, int largest, Expr *x, Expr *y)
{
    Expr *c = ke_bin(a, largest ? B_GT : B_LT, x, y);
    if (!dtype_is_float(x->type))
        return c;
    Expr *nan_x = ke_un(a, U_ISNAN, x), *nan_y = ke_un(a, U_ISNAN, y);
    Expr *nan = largest ? ke_bin(a, B_AND, nan_x, ke_un(a, U_NOT, nan_y))
                        : ke_bin(a, B_AND, nan_y, ke_un(a, U_NOT, nan_x));
    return ke_bin(a, B_OR, c, nan);
}

int lower_topk(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const TopKParams *p = n->attrs;
    const Value *x = lw_in(L, n, 0);
    const Shape *xs = &x->shape;
    Shape os = *xs;
    os.dim[p->axis] = p->k;
    if (shape_numel(&os) == 0)
        return 0; /* nothing to store */
    /* an absent output still serves as the sort's scratch */
    int vb = n->out[0] != VNONE ? lw_buf(L, n->out[0]) : lw_temp(L, "topk_values", x->dtype, &os);
    int ib = n->nout > 1 && n->out[1] != VNONE ? lw_buf(L, n->out[1]) : lw_temp(L, "topk_indices", DT_I64, &os);
    int64_t len = xs->dim[p->axis], k = p->k;
    Expr *c[KILN_MAX_RANK] = {0}, *sc[KILN_MAX_RANK];

    /* For every line along axis, insertion sort into the outputs:
     * values[.., 0..k-1, ..] and indices[..] hold the best of x[.., 0..i-1, ..]
     * seen so far, best first. x[.., i, ..] goes to slot pos, after every kept
     * element that ranks at least as well (the lower index wins ties); the
     * slots from pos on move down one and the last falls off. */
    int open = 0;
    for (int i = 0; i < xs->rank; i++)
        if (i != p->axis) {
            c[i] = kb_v(b, kb_for(b, arena_printf(a, "i%d", i), xs->dim[i]));
            open++;
        }
    memcpy(sc, c, sizeof c);
    Expr *i = kb_v(b, kb_for(b, "i", len));
    c[p->axis] = i;
    Expr *xi = kb_v(b, kb_let(b, "x", lw_load(L, n->in[0], c)));
    int pos = kb_let(b, "pos", idx(L, 0));
    Expr *pv = kb_v(b, pos);
    /* pos = 1 + last filled slot s (s < i) that x does not rank before */
    Expr *s = kb_v(b, kb_for(b, "s", k));
    sc[p->axis] = s;
    kb_if(b, ke_bin(a, B_LT, s, i));
    kb_if(b, ke_un(a, U_NOT, topk_before(a, p->largest, xi, ke_load(a, b->p, vb, kb_flat(b, &os, sc)))));
    kb_assign(b, pos, ke_bin(a, B_ADD, s, idx(L, 1)));
    kb_end(b);
    kb_end(b);
    kb_end(b);
    kb_if(b, ke_bin(a, B_LT, pv, idx(L, k)));
    /* slots s = k-1 down to pos+1 take slot s-1, where that one is filled */
    Expr *j = kb_v(b, kb_for(b, "j", k - 1));
    Expr *dst = ke_bin(a, B_SUB, idx(L, k - 1), j);
    sc[p->axis] = dst;
    Expr *to = kb_flat(b, &os, sc);
    sc[p->axis] = ke_bin(a, B_SUB, dst, idx(L, 1));
    Expr *from = kb_flat(b, &os, sc);
    kb_if(b, ke_bin(a, B_AND, ke_bin(a, B_GT, dst, pv), ke_bin(a, B_LE, dst, i)));
    kb_store(b, vb, to, ke_load(a, b->p, vb, from));
    kb_store(b, ib, to, ke_load(a, b->p, ib, from));
    kb_end(b);
    kb_end(b);
    sc[p->axis] = pv;
    Expr *at = kb_flat(b, &os, sc);
    kb_store(b, vb, at, xi);
    kb_store(b, ib, at, ke_cast(a, DT_I64, i));
    kb_end(b);
    kb_end(b);
    while (open--)
        kb_end(b);
    return 0;
}
