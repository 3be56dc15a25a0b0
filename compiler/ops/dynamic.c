/*
 * dynamic.c: operators whose output shape depends on the input data.
 * NonZero, Compress, Unique, NonMaxSuppression.
 *
 * An output of such an op has one data-dependent extent (Value.dynamic,
 * along Value.dyn_axis). Inference gives it its upper bound as its static
 * shape (NonZero: [rank, numel]; Compress: the condition's length; Unique:
 * numel or the axis extent; NonMaxSuppression: batches * classes *
 * min(max_output_boxes_per_class when constant, boxes)), so every buffer is
 * sized at compile time and nothing is allocated at run time. The kernel
 * counts as it goes, stores the elements dense row-major for the actual
 * shape (index arithmetic with the run-time count in it) and stores the
 * count in the value's length slot (lw_len), which model_output_shape
 * reports. Such a value may only be a graph output (graph/infer.c rejects
 * a node reading one).
 *
 * The algorithms are serial loop nests (IT_SERIAL: each iteration depends
 * on the counters the ones before it advanced, so no pass reorders them):
 * a counting pass then a writing pass for NonZero and Compress; Unique a
 * first-occurrence scan (O(n^2) compares of elements or slices), then each
 * unique slice's rank in sorted order counted (O(k^2)); NonMaxSuppression
 * per batch and class picks the best remaining box above the score
 * threshold (the lower index on ties) and keeps it unless its IoU with a
 * kept box exceeds the threshold, as onnxruntime does. The data inputs
 * (the condition, the thresholds, max_output_boxes_per_class) are read at
 * run time: the program works for any of their values.
 */
#include "op.h"

#include <string.h>

static Expr *I(Lower *L, int64_t v) { return ke_idx(lw_arena(L), v); }
static Expr *add(Arena *a, Expr *x, Expr *y) { return ke_bin(a, B_ADD, x, y); }
static Expr *mul(Arena *a, Expr *x, Expr *y) { return ke_bin(a, B_MUL, x, y); }

/* coords of element `flat` of shape s (row-major) */
static void unflat(Arena *a, const Shape *s, Expr *flat, Expr **c)
{
    int64_t st[KILN_MAX_RANK];
    shape_strides(s, st);
    for (int d = 0; d < s->rank; d++) {
        Expr *q = st[d] == 1 ? flat : ke_bin(a, B_DIV, flat, ke_idx(a, st[d]));
        c[d] = d == 0 ? q : ke_bin(a, B_MOD, q, ke_idx(a, s->dim[d]));
    }
}

/* row-major flat index of coords[from..to) in the dims s->dim[from..to) */
static Expr *flat_range(Arena *a, const Shape *s, Expr *const *c, int from, int to)
{
    Expr *f = ke_idx(a, 0);
    for (int d = from; d < to; d++)
        f = add(a, mul(a, f, ke_idx(a, s->dim[d])), c[d]);
    return f;
}

static Expr *nonzero(Arena *a, Expr *x)
{
    return x->type == DT_BOOL ? x : ke_bin(a, B_NE, x, ke_const(a, x->type, 0));
}

static Expr *as_i64(Arena *a, Expr *x) { return ke_cast(a, DT_I64, x); }

/* element 0 of a one-element input (a scalar or [1]) */
static Expr *load_scalar(Lower *L, ValueId v)
{
    Expr *c[KILN_MAX_RANK];
    for (int d = 0; d < KILN_MAX_RANK; d++)
        c[d] = I(L, 0);
    return lw_load(L, v, c);
}

/* --------------------------------------------------------------- NonZero */

int infer_nonzero(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "NonZero of a scalar (rank 0) is not supported");
    Shape s = {.rank = 2, .dim = {x->shape.rank, shape_numel(&x->shape)}};
    op_set_out(g, n, 0, DT_I64, &s);
    op_set_dyn(g, n, 0, 1);
    return 0;
}

int lower_nonzero(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Shape *xs = &lw_in(L, n, 0)->shape;
    int ob = lw_buf(L, n->out[0]), lb = lw_len(L, n->out[0]);
    Expr *c[KILN_MAX_RANK];
    /* count, then write the coordinates: out[d][j] for the j-th nonzero */
    int cnt = kb_let(b, "count", I(L, 0));
    lw_loops_k(L, xs, "i", IT_SERIAL, c);
    kb_if(b, nonzero(a, lw_load(L, n->in[0], c)));
    kb_assign(b, cnt, add(a, kb_v(b, cnt), I(L, 1)));
    lw_end_n(L, 1 + xs->rank);
    kb_store(b, lb, I(L, 0), as_i64(a, kb_v(b, cnt)));
    int j = kb_let(b, "j", I(L, 0));
    lw_loops_k(L, xs, "i", IT_SERIAL, c);
    kb_if(b, nonzero(a, lw_load(L, n->in[0], c)));
    for (int d = 0; d < xs->rank; d++)
        kb_store(b, ob, add(a, mul(a, I(L, d), kb_v(b, cnt)), kb_v(b, j)), as_i64(a, c[d]));
    kb_assign(b, j, add(a, kb_v(b, j), I(L, 1)));
    lw_end_n(L, 1 + xs->rank);
    return 0;
}

/* -------------------------------------------------------------- Compress */

/* The axis (-1: the flattened input) and the condition's length. */
static int compress_params(Graph *g, Node *n, int *axis, int64_t *len, Diag *d)
{
    static const DType bools[] = {DT_BOOL, DT_UNDEF};
    const Value *x = op_in(g, n, 0), *cond = op_in(g, n, 1);
    if (op_check_dtype(g, n, 1, bools, d))
        return 1;
    if (cond->shape.rank != 1)
        return diag_node(d, g, n, "condition must be 1-D, not of rank %d", cond->shape.rank);
    *axis = -1;
    int64_t extent = shape_numel(&x->shape);
    if (node_attr(n, "axis")) {
        int64_t ax;
        if (attr_int(g, n, "axis", 0, &ax, d) || op_axis(g, n, ax, x->shape.rank, axis, d))
            return 1;
        extent = x->shape.dim[*axis];
    }
    *len = cond->shape.dim[0];
    if (*len > extent)
        return diag_node(d, g, n, "condition has %lld entries, more than the %lld it selects from", (long long)*len,
                         (long long)extent);
    return 0;
}

/* Compress's parsed attributes (Node.attrs). */
typedef struct CompressAttrs {
    int axis;        /* -1: x flattened */
    int64_t len;     /* extent the condition selects from */
} CompressAttrs;

int infer_compress(Graph *g, Node *n, Diag *d)
{
    CompressAttrs *at = op_attrs(g, n, sizeof *at);
    if (compress_params(g, n, &at->axis, &at->len, d))
        return 1;
    int axis = at->axis;
    int64_t len = at->len;
    const Value *x = op_in(g, n, 0);
    Shape s = x->shape;
    if (axis < 0)
        s = (Shape){.rank = 1, .dim = {len}};
    else
        s.dim[axis] = len;
    op_set_out(g, n, 0, x->dtype, &s);
    op_set_dyn(g, n, 0, axis < 0 ? 0 : axis);
    return 0;
}

int lower_compress(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const CompressAttrs *at = n->attrs;
    int axis = at->axis;
    int64_t len = at->len;
    const Shape *xs = &lw_in(L, n, 0)->shape;
    int ob = lw_buf(L, n->out[0]), lb = lw_len(L, n->out[0]);
    Expr *zero[1] = {NULL}, *c[KILN_MAX_RANK];
    int cnt = kb_let(b, "count", I(L, 0));
    zero[0] = kb_v(b, kb_for(b, "c", len));
    kb_if(b, lw_load(L, n->in[1], zero));
    kb_assign(b, cnt, add(a, kb_v(b, cnt), I(L, 1)));
    lw_end_n(L, 2);
    kb_store(b, lb, I(L, 0), as_i64(a, kb_v(b, cnt)));
    int j = kb_let(b, "j", I(L, 0));
    Expr *ci = kb_v(b, kb_for(b, "c", len));
    zero[0] = ci;
    kb_if(b, lw_load(L, n->in[1], zero));
    if (axis < 0) {
        unflat(a, xs, ci, c);
        kb_store(b, ob, kb_v(b, j), lw_load(L, n->in[0], c));
    } else {
        /* the slice at ci goes to slot j: out[outer][j][inner] of the
         * actual shape (outer dims x count x inner dims) */
        Shape sl = *xs;
        sl.dim[axis] = 1;
        lw_loops_k(L, &sl, "i", IT_SERIAL, c);
        c[axis] = ci;
        Expr *outer = flat_range(a, xs, c, 0, axis), *inner = flat_range(a, xs, c, axis + 1, xs->rank);
        int64_t in_n = 1;
        for (int e = axis + 1; e < xs->rank; e++)
            in_n *= xs->dim[e];
        Expr *at = add(a, mul(a, add(a, mul(a, outer, kb_v(b, cnt)), kb_v(b, j)), I(L, in_n)), inner);
        kb_store(b, ob, at, lw_load(L, n->in[0], c));
        lw_end_loops(L, &sl);
    }
    kb_assign(b, j, add(a, kb_v(b, j), I(L, 1)));
    lw_end_n(L, 2);
    return 0;
}

/* ---------------------------------------------------------------- Unique */

/* What Unique compares: slices of x along axis (elements of the flattened
 * x when axis < 0), n of them. */
/* Unique's slices; with `sorted`, its parsed attributes (Node.attrs). */
typedef struct Slices {
    int axis;
    Shape xs;     /* x's shape */
    Shape sl;     /* one slice: x's shape with dim[axis] = 1 */
    int64_t n;    /* slices */
    int64_t in_n; /* elements after the axis */
    int sorted;   /* attribute 'sorted' */
} Slices;

static int unique_params(Graph *g, Node *n, Slices *s, int *sorted, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t srt;
    if (attr_int(g, n, "sorted", 1, &srt, d))
        return 1;
    memset(s, 0, sizeof *s); /* (sorted may point into s: set it after) */
    *sorted = srt != 0;
    s->xs = x->shape;
    s->axis = -1;
    s->n = shape_numel(&x->shape);
    s->in_n = 1;
    if (node_attr(n, "axis")) {
        int64_t ax;
        if (attr_int(g, n, "axis", 0, &ax, d) || op_axis(g, n, ax, x->shape.rank, &s->axis, d))
            return 1;
        s->n = x->shape.dim[s->axis];
        s->sl = x->shape;
        s->sl.dim[s->axis] = 1;
        for (int e = s->axis + 1; e < x->shape.rank; e++)
            s->in_n *= x->shape.dim[e];
    }
    return 0;
}

int infer_unique(Graph *g, Node *n, Diag *d)
{
    Slices *s = op_attrs(g, n, sizeof *s);
    if (unique_params(g, n, s, &s->sorted, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    Shape y = s->axis < 0 ? (Shape){.rank = 1, .dim = {s->n}} : x->shape, one = {.rank = 1, .dim = {s->n}};
    op_set_out(g, n, 0, x->dtype, &y);
    op_set_dyn(g, n, 0, s->axis < 0 ? 0 : s->axis);
    for (int i = 1; i < 4; i++)
        op_set_out(g, n, i, DT_I64, &one);
    op_set_dyn(g, n, 1, 0);
    op_set_dyn(g, n, 3, 0); /* inverse_indices (2) has one entry per slice */
    return 0;
}

/* Open the loops over the elements of one slice (none without an axis);
 * returns how many. c receives their coordinates. */
static int slice_loops(Lower *L, const Slices *s, Expr **c)
{
    if (s->axis < 0)
        return 0;
    lw_loops_k(L, &s->sl, "e", IT_SERIAL, c);
    return s->sl.rank;
}

/* Element c (from slice_loops) of slice k of x. */
static Expr *slice_load(Lower *L, const Slices *s, ValueId x, Expr *k, Expr *const *c)
{
    Expr *at[KILN_MAX_RANK];
    if (s->axis < 0) {
        unflat(lw_arena(L), &s->xs, k, at);
    } else {
        memcpy(at, c, sizeof at);
        at[s->axis] = k;
    }
    return lw_load(L, x, at);
}

int lower_unique(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Slices s = *(const Slices *)n->attrs;
    int sorted = s.sorted;
    if (s.n == 0) {
        for (int i = 0; i < 4; i++)
            if (i != 2 && i < n->nout && n->out[i] != VNONE)
                kb_store(b, lw_len(L, n->out[i]), I(L, 0), ke_int(a, DT_I64, 0));
        return 0;
    }
    ValueId x = n->in[0];
    Shape ns = {.rank = 1, .dim = {s.n}};
    int first = lw_temp(L, "unique_first", DT_I64, &ns); /* slice of each unique's first occurrence */
    int count = lw_temp(L, "unique_count", DT_I64, &ns);
    int which = lw_temp(L, "unique_of", DT_I64, &ns);    /* the unique (in first-occurrence order) of each slice */
    int pos = lw_temp(L, "unique_pos", DT_I64, &ns);     /* each unique's place in the output */
    Expr *c[KILN_MAX_RANK], *c2[KILN_MAX_RANK];

    /* first-occurrence scan: k uniques so far */
    int k = kb_let(b, "k", I(L, 0));
    Expr *kv = kb_v(b, k);
    Expr *i = kb_v(b, kb_for(b, "i", s.n));
    int found = kb_let(b, "found", I(L, -1));
    Expr *u = kb_v(b, kb_for(b, "u", s.n));
    kb_if(b, ke_bin(a, B_AND, ke_bin(a, B_LT, u, kv), ke_bin(a, B_LT, kb_v(b, found), I(L, 0))));
    Expr *fu = ke_cast(a, DT_INDEX, ke_load(a, b->p, first, u));
    int same = kb_let(b, "same", ke_int(a, DT_BOOL, 1));
    int nl = slice_loops(L, &s, c);
    Expr *eq = ke_bin(a, B_EQ, slice_load(L, &s, x, fu, c), slice_load(L, &s, x, i, c));
    kb_assign(b, same, ke_bin(a, B_AND, kb_v(b, same), eq));
    lw_end_n(L, nl);
    kb_if(b, kb_v(b, same));
    kb_assign(b, found, u);
    lw_end_n(L, 3); /* if same, if, loop u */
    kb_if(b, ke_bin(a, B_LT, kb_v(b, found), I(L, 0)));
    kb_store(b, first, kv, as_i64(a, i));
    kb_store(b, count, kv, ke_int(a, DT_I64, 1));
    kb_store(b, which, i, as_i64(a, kv));
    kb_assign(b, k, add(a, kv, I(L, 1)));
    kb_else(b);
    Expr *fd = kb_v(b, found);
    kb_store(b, count, fd, ke_bin(a, B_ADD, ke_load(a, b->p, count, fd), ke_int(a, DT_I64, 1)));
    kb_store(b, which, i, as_i64(a, fd));
    lw_end_n(L, 2); /* if, loop i */

    /* each unique's place: its rank among the uniques in ascending
     * (lexicographic for slices) order, or its first-occurrence order */
    u = kb_v(b, kb_for(b, "u", s.n));
    kb_if(b, ke_bin(a, B_LT, u, kv));
    if (sorted) {
        int rank = kb_let(b, "rank", I(L, 0));
        Expr *v = kb_v(b, kb_for(b, "v", s.n));
        kb_if(b, ke_bin(a, B_LT, v, kv));
        int st = kb_let(b, "order", ke_int(a, DT_I32, 0)); /* 0 equal so far, 1 v first, 2 u first */
        Expr *stv = kb_v(b, st);
        nl = slice_loops(L, &s, c);
        kb_if(b, ke_bin(a, B_EQ, stv, ke_int(a, DT_I32, 0)));
        Expr *xv = kb_v(b, kb_let(b, "xv", slice_load(L, &s, x, ke_cast(a, DT_INDEX, ke_load(a, b->p, first, v)), c)));
        Expr *xu = kb_v(b, kb_let(b, "xu", slice_load(L, &s, x, ke_cast(a, DT_INDEX, ke_load(a, b->p, first, u)), c)));
        kb_if(b, ke_bin(a, B_LT, xv, xu));
        kb_assign(b, st, ke_int(a, DT_I32, 1));
        kb_else(b);
        kb_if(b, ke_bin(a, B_GT, xv, xu));
        kb_assign(b, st, ke_int(a, DT_I32, 2));
        lw_end_n(L, 3 + nl);
        kb_if(b, ke_bin(a, B_EQ, stv, ke_int(a, DT_I32, 1)));
        kb_assign(b, rank, add(a, kb_v(b, rank), I(L, 1)));
        lw_end_n(L, 3); /* if, if v < k, loop v */
        kb_store(b, pos, u, as_i64(a, kb_v(b, rank)));
    } else {
        kb_store(b, pos, u, as_i64(a, u));
    }
    /* the outputs of unique u, at its place p */
    Expr *p = kb_v(b, kb_let(b, "p", ke_cast(a, DT_INDEX, ke_load(a, b->p, pos, u))));
    Expr *fu2 = kb_v(b, kb_let(b, "f", ke_cast(a, DT_INDEX, ke_load(a, b->p, first, u))));
    int yb = lw_buf(L, n->out[0]);
    nl = slice_loops(L, &s, c2);
    Expr *at = p;
    if (s.axis >= 0) {
        Expr *outer = flat_range(a, &s.xs, c2, 0, s.axis), *inner = flat_range(a, &s.xs, c2, s.axis + 1, s.xs.rank);
        at = add(a, mul(a, add(a, mul(a, outer, kv), p), I(L, s.in_n)), inner);
    }
    kb_store(b, yb, at, slice_load(L, &s, x, fu2, c2));
    lw_end_n(L, nl);
    if (n->nout > 1 && n->out[1] != VNONE)
        kb_store(b, lw_buf(L, n->out[1]), p, as_i64(a, fu2));
    if (n->nout > 3 && n->out[3] != VNONE)
        kb_store(b, lw_buf(L, n->out[3]), p, ke_load(a, b->p, count, u));
    lw_end_n(L, 2); /* if u < k, loop u */
    if (n->nout > 2 && n->out[2] != VNONE) {
        int ib = lw_buf(L, n->out[2]);
        i = kb_v(b, kb_for(b, "i", s.n));
        kb_store(b, ib, i, ke_load(a, b->p, pos, ke_cast(a, DT_INDEX, ke_load(a, b->p, which, i))));
        kb_end(b);
    }
    for (int o = 0; o < 4; o++)
        if (o != 2 && o < n->nout && n->out[o] != VNONE)
            kb_store(b, lw_len(L, n->out[o]), I(L, 0), as_i64(a, kv));
    return 0;
}

/* ----------------------------------------------------- NonMaxSuppression */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct NmsParams {
    int64_t batch, boxes, classes;
    int64_t bound; /* boxes kept per batch and class, at most */
    int center;    /* center_point_box */
} NmsParams;

static int nms_params(Graph *g, Node *n, NmsParams *p, Diag *d)
{
    const Value *bx = op_in(g, n, 0), *sc = op_in(g, n, 1);
    if (op_check_dtype(g, n, 0, op_float_types, d) || op_same_dtype(g, n, 0, 1, d))
        return 1;
    if (bx->shape.rank != 3 || bx->shape.dim[2] != 4)
        return diag_node(d, g, n, "boxes must be [batches, boxes, 4]");
    if (sc->shape.rank != 3 || sc->shape.dim[0] != bx->shape.dim[0] || sc->shape.dim[2] != bx->shape.dim[1])
        return diag_node(d, g, n, "scores must be [batches, classes, boxes] for boxes [%lld, %lld, 4]",
                         (long long)bx->shape.dim[0], (long long)bx->shape.dim[1]);
    static const DType i64s[] = {DT_I64, DT_UNDEF};
    for (int i = 2; i < 5 && i < n->nin; i++) {
        const Value *v = op_in(g, n, i);
        if (v && shape_numel(&v->shape) != 1)
            return diag_node(d, g, n, "input %d must hold one value", i);
        if (v && (i == 2 ? op_check_dtype(g, n, i, i64s, d) : op_check_dtype(g, n, i, op_float_types, d)))
            return 1;
    }
    int64_t center;
    if (attr_int(g, n, "center_point_box", 0, &center, d))
        return 1;
    if (center != 0 && center != 1)
        return diag_node(d, g, n, "center_point_box is %lld, not 0 or 1", (long long)center);
    p->center = (int)center;
    p->batch = bx->shape.dim[0];
    p->boxes = bx->shape.dim[1];
    p->classes = sc->shape.dim[1];
    p->bound = p->boxes;
    const Value *m = op_in(g, n, 2);
    if (!m) {
        p->bound = 0;
    } else if (m->kind == VAL_CONST) { /* a constant of the model (never a graph input's test value) */
        int64_t mv = *(const int64_t *)m->data;
        p->bound = mv < 0 ? 0 : mv < p->boxes ? mv : p->boxes;
    }
    return 0;
}

int infer_nms(Graph *g, Node *n, Diag *d)
{
    NmsParams *p = op_attrs(g, n, sizeof *p);
    if (nms_params(g, n, p, d))
        return 1;
    Shape s = {.rank = 2, .dim = {p->batch * p->classes * p->bound, 3}};
    op_set_out(g, n, 0, DT_I64, &s);
    op_set_dyn(g, n, 0, 0);
    return 0;
}

/* Box i of batch bi as lets (ymin, xmin, ymax, xmax), in type t. */
static void nms_box(Lower *L, Node *n, const NmsParams *p, DType t, Expr *bi, Expr *i, Expr **out)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Expr *v[4];
    for (int k = 0; k < 4; k++) {
        Expr *c[3] = {bi, i, I(L, k)};
        v[k] = kb_v(b, kb_let(b, "bx", ke_cast(a, t, lw_load(L, n->in[0], c))));
    }
    if (p->center) { /* [x_center, y_center, width, height] */
        Expr *half = ke_float(a, t, 0.5);
        Expr *hw = ke_bin(a, B_MUL, v[2], half), *hh = ke_bin(a, B_MUL, v[3], half);
        out[0] = ke_bin(a, B_SUB, v[1], hh);
        out[1] = ke_bin(a, B_SUB, v[0], hw);
        out[2] = ke_bin(a, B_ADD, v[1], hh);
        out[3] = ke_bin(a, B_ADD, v[0], hw);
    } else { /* [y1, x1, y2, x2], either corner first */
        out[0] = ke_bin(a, B_MIN, v[0], v[2]);
        out[1] = ke_bin(a, B_MIN, v[1], v[3]);
        out[2] = ke_bin(a, B_MAX, v[0], v[2]);
        out[3] = ke_bin(a, B_MAX, v[1], v[3]);
    }
    for (int k = 0; k < 4; k++)
        out[k] = kb_v(b, kb_let(b, "corner", out[k]));
}

int lower_nms(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const NmsParams *p = n->attrs;
    int ob = lw_buf(L, n->out[0]), lb = lw_len(L, n->out[0]);
    DType t = op_calc_type(lw_in(L, n, 0)->dtype);
    int total = kb_let(b, "total", I(L, 0));
    if (p->bound == 0 || p->boxes == 0) {
        kb_store(b, lb, I(L, 0), ke_int(a, DT_I64, 0));
        return 0;
    }
    Shape ns = {.rank = 1, .dim = {p->boxes}};
    int state = lw_temp(L, "nms_done", DT_I32, &ns); /* 1: box already taken in this class */
    int kept = lw_temp(L, "nms_kept", DT_I64, &ns);  /* the boxes kept in this class */
    const Value *iv = lw_in(L, n, 3), *sv = lw_in(L, n, 4);
    Expr *maxk = kb_v(b, kb_let(b, "max_boxes", ke_cast(a, DT_INDEX, load_scalar(L, n->in[2]))));
    Expr *iou_t = kb_v(b, kb_let(b, "iou_threshold", iv ? ke_cast(a, t, load_scalar(L, n->in[3])) : ke_float(a, t, 0)));
    Expr *sc_t = sv ? kb_v(b, kb_let(b, "score_threshold", ke_cast(a, t, load_scalar(L, n->in[4])))) : NULL;
    Expr *zero = ke_float(a, t, 0);

    Expr *bi = kb_v(b, kb_for(b, "b", p->batch));
    Expr *ci = kb_v(b, kb_for(b, "c", p->classes));
    Expr *i = kb_v(b, kb_for(b, "i", p->boxes));
    kb_store(b, state, i, ke_int(a, DT_I32, 0));
    kb_end(b);
    int nk = kb_let(b, "nkept", I(L, 0));
    Expr *nkv = kb_v(b, nk);
    kb_for(b, "step", p->boxes);
    /* the best box not taken yet that passes the score threshold */
    int best = kb_let(b, "best", I(L, -1));
    int bs = kb_let(b, "best_score", zero);
    i = kb_v(b, kb_for(b, "i", p->boxes));
    Expr *sc3[3] = {bi, ci, i};
    Expr *si = kb_v(b, kb_let(b, "s", ke_cast(a, t, lw_load(L, n->in[1], sc3))));
    Expr *ok = ke_bin(a, B_EQ, ke_load(a, b->p, state, i), ke_int(a, DT_I32, 0));
    if (sc_t)
        ok = ke_bin(a, B_AND, ok, ke_bin(a, B_GT, si, sc_t));
    ok = ke_bin(a, B_AND, ok, ke_bin(a, B_OR, ke_bin(a, B_LT, kb_v(b, best), I(L, 0)), ke_bin(a, B_GT, si, kb_v(b, bs))));
    kb_if(b, ok);
    kb_assign(b, best, i);
    kb_assign(b, bs, si);
    lw_end_n(L, 2);
    Expr *bv = kb_v(b, best);
    kb_if(b, ke_bin(a, B_AND, ke_bin(a, B_GE, bv, I(L, 0)), ke_bin(a, B_LT, nkv, maxk)));
    kb_store(b, state, bv, ke_int(a, DT_I32, 1));
    Expr *bb[4], *kbx[4];
    nms_box(L, n, p, t, bi, bv, bb);
    int keep = kb_let(b, "keep", ke_int(a, DT_BOOL, 1));
    Expr *s = kb_v(b, kb_for(b, "s", p->boxes));
    kb_if(b, ke_bin(a, B_LT, s, nkv));
    nms_box(L, n, p, t, bi, ke_cast(a, DT_INDEX, ke_load(a, b->p, kept, s)), kbx);
    /* intersection over union > threshold suppresses (onnxruntime's test) */
    Expr *iy = ke_bin(a, B_MAX, ke_bin(a, B_SUB, ke_bin(a, B_MIN, bb[2], kbx[2]), ke_bin(a, B_MAX, bb[0], kbx[0])), zero);
    Expr *ix = ke_bin(a, B_MAX, ke_bin(a, B_SUB, ke_bin(a, B_MIN, bb[3], kbx[3]), ke_bin(a, B_MAX, bb[1], kbx[1])), zero);
    Expr *inter = kb_v(b, kb_let(b, "inter", ke_bin(a, B_MUL, ix, iy)));
    Expr *a1 = kb_v(b, kb_let(b, "area", ke_bin(a, B_MUL, ke_bin(a, B_SUB, bb[2], bb[0]), ke_bin(a, B_SUB, bb[3], bb[1]))));
    Expr *a2 = kb_v(b, kb_let(b, "area", ke_bin(a, B_MUL, ke_bin(a, B_SUB, kbx[2], kbx[0]), ke_bin(a, B_SUB, kbx[3], kbx[1]))));
    Expr *uni = kb_v(b, kb_let(b, "uni", ke_bin(a, B_SUB, ke_bin(a, B_ADD, a1, a2), inter)));
    Expr *valid = ke_bin(a, B_AND, ke_bin(a, B_GT, inter, zero),
                         ke_bin(a, B_AND, ke_bin(a, B_GT, a1, zero),
                                ke_bin(a, B_AND, ke_bin(a, B_GT, a2, zero), ke_bin(a, B_GT, uni, zero))));
    kb_if(b, valid);
    kb_if(b, ke_bin(a, B_GT, ke_bin(a, B_DIV, inter, uni), iou_t));
    kb_assign(b, keep, ke_int(a, DT_BOOL, 0));
    lw_end_n(L, 4); /* ifs, if s < nkept, loop s */
    kb_if(b, kb_v(b, keep));
    kb_store(b, kept, nkv, as_i64(a, bv));
    Expr *tv = kb_v(b, total);
    Expr *row = ke_bin(a, B_MUL, tv, I(L, 3));
    kb_store(b, ob, row, as_i64(a, bi));
    kb_store(b, ob, add(a, row, I(L, 1)), as_i64(a, ci));
    kb_store(b, ob, add(a, row, I(L, 2)), as_i64(a, bv));
    kb_assign(b, nk, add(a, nkv, I(L, 1)));
    kb_assign(b, total, add(a, tv, I(L, 1)));
    lw_end_n(L, 5); /* if keep, if best, loop step, loop c, loop b */
    kb_store(b, lb, I(L, 0), as_i64(a, kb_v(b, total)));
    return 0;
}
