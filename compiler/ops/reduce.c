/*
 * reduce.c: the Reduce* family, ArgMax and ArgMin.
 *
 * A reduction is a loop nest over the kept dims of x with an accumulator,
 * and an inner nest over the reduced dims:
 *
 *     for (kept i...) { acc = identity; for (reduced r...) acc = acc (+) pre(x[i, r]); y[i] = post(acc) }
 *
 *   op               identity       pre      (+)   post
 *   ReduceSum        0              x        +     acc
 *   ReduceMean       0              x        +     acc / count
 *   ReduceProd       1              x        *     acc
 *   ReduceMax        lowest of T    x        max   acc
 *   ReduceMin        highest of T   x        min   acc
 *   ReduceL1         0              |x|      +     acc
 *   ReduceL2         0              x*x      +     sqrt(acc)
 *   ReduceSumSquare  0              x*x      +     acc
 *   ReduceLogSum     0              x        +     log(acc)
 *   ReduceLogSumExp  two passes: m = max of the finite x (0 if none),
 *                    then log(sum exp(x - m)) + m
 *
 * so a reduction over an empty set gives post(identity): 0, 1, -inf, ...
 * The reduced axes come from the `axes` attribute, or from the optional
 * second input from opset 13 (ReduceSum) or 18 (the others). Absent or
 * empty axes reduce every dim, unless noop_with_empty_axes is set: then
 * nothing is reduced and the op is pre/post applied elementwise.
 * Integer inputs accumulate in 64 bits (sums and products wrap to the same
 * result; the mean, L2 and log see the exact sum), sqrt and log are taken
 * in f64, and the result is truncated back to the input type.
 *
 * ArgMax/ArgMin keep the best value and its index along one axis; the first
 * occurrence wins, or the last with select_last_index. NaN counts as the
 * maximum and the minimum (numpy's argmax/argmin).
 */
#include "op.h"

#include <math.h>

/* What a Reduce node does to its input's dims: its parsed attributes
 * (Node.attrs), filled once by infer_reduce. */
typedef struct RedPlan {
    int rank;                        /* rank of x */
    int reduced[KILN_MAX_RANK];      /* 1 where dim i is reduced */
    int keepdims;                    /* reduced dims stay, with extent 1 */
    Shape out;                       /* shape of the result */
} RedPlan;

/* The opset in which `axes` moved from an attribute to an input. */
static int axes_input_since(OpKind op) { return op == OP_REDUCESUM ? 13 : 18; }

static int reduce_plan(Graph *g, Node *n, RedPlan *r, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axes[KILN_MAX_RANK + 1], keepdims, noop = 0;
    int naxes, rank = x->shape.rank;
    if (attr_int(g, n, "keepdims", 1, &keepdims, d))
        return 1;
    if (n->opset >= axes_input_since(n->op)) {
        if (node_attr(n, "axes"))
            return diag_node(d, g, n, "attribute 'axes' is an input since opset %d", axes_input_since(n->op));
        if (attr_int(g, n, "noop_with_empty_axes", 0, &noop, d) ||
            op_const_ints(g, n, 1, axes, KILN_MAX_RANK + 1, &naxes, d))
            return 1;
    } else {
        if (op_in(g, n, 1))
            return diag_node(d, g, n, "axes is an attribute before opset %d, not an input",
                             axes_input_since(n->op));
        if (attr_ints(g, n, "axes", axes, KILN_MAX_RANK + 1, &naxes, d))
            return 1;
    }
    r->rank = rank;
    r->keepdims = keepdims != 0;
    for (int i = 0; i < rank; i++)
        r->reduced[i] = naxes <= 0 && !noop;
    for (int k = 0; k < naxes; k++) {
        int ax;
        if (op_axis(g, n, axes[k], rank, &ax, d))
            return 1;
        if (rank == 0)
            return diag_node(d, g, n, "axis %lld is out of range for a scalar", (long long)axes[k]);
        if (r->reduced[ax])
            return diag_node(d, g, n, "axis %lld is repeated in axes", (long long)axes[k]);
        r->reduced[ax] = 1;
    }
    r->out.rank = 0;
    for (int i = 0; i < rank; i++)
        if (!r->reduced[i])
            r->out.dim[r->out.rank++] = x->shape.dim[i];
        else if (r->keepdims)
            r->out.dim[r->out.rank++] = 1;
    return 0;
}

static const DType reduce_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_I8, DT_I16, DT_I32, DT_I64, DT_U8,
                                     DT_U16, DT_U32, DT_U64, DT_BOOL, DT_UNDEF};

int infer_reduce(Graph *g, Node *n, Diag *d)
{
    RedPlan *r = op_attrs(g, n, sizeof *r);
    const Value *x = op_in(g, n, 0);
    if (!x)
        return diag_node(d, g, n, "input 0 is required");
    if (op_check_dtype(g, n, 0, reduce_types, d))
        return 1;
    if (x->dtype == DT_BOOL && n->op != OP_REDUCEMAX && n->op != OP_REDUCEMIN)
        return diag_node(d, g, n, "input 0 ('%s') has type bool, which this op does not support", x->name);
    if (reduce_plan(g, n, r, d))
        return 1;
    op_set_out(g, n, 0, x->dtype, &r->out);
    return 0;
}

/* Open one loop per dim of x that `which` selects (kept: reduced[i] == 0,
 * reduced: reduced[i] == 1), named i<dim> or r<dim>, and put the loop
 * variables into coords. Returns the number of loops opened. */
static int open_dims(Lower *L, const Shape *s, const int *reduced, int which, Expr **coords)
{
    KB *b = lw_kb(L);
    int opened = 0;
    for (int i = 0; i < s->rank; i++) {
        if (reduced[i] != which)
            continue;
        const char *name = arena_printf(lw_arena(L), "%c%d", which ? 'r' : 'i', i);
        coords[i] = kb_v(b, kb_for_k(b, name, s->dim[i], which ? IT_REDUCE : IT_DATA));
        opened++;
    }
    return opened;
}

/* Coordinates of the result for input coords: reduced dims dropped, or 0
 * with keepdims. */
static void out_coords(Lower *L, const RedPlan *r, Expr *const *coords, Expr **oc)
{
    int k = 0;
    for (int i = 0; i < r->rank; i++)
        if (!r->reduced[i])
            oc[k++] = coords[i];
        else if (r->keepdims)
            oc[k++] = ke_idx(lw_arena(L), 0);
}

/* log(sum exp(x)) over the reduced dims, shifted by the largest finite x;
 * in the input's float type (f64 for integer inputs). */
static Expr *log_sum_exp(Lower *L, Node *n, const RedPlan *r, Expr **coords)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &lw_graph(L)->values[n->in[0]];
    DType t = dtype_is_float(x->dtype) ? x->dtype : DT_F64;
    /* pass 1: m = max of the finite x */
    int mx = kb_let(b, "mx", ke_float(a, t, -INFINITY));
    int loops = open_dims(L, &x->shape, r->reduced, 1, coords);
    Expr *v = ke_cast(a, t, lw_load(L, n->in[0], coords));
    kb_assign(b, mx, ke_select(a, ke_un(a, U_ISINF, v), kb_v(b, mx), ke_bin(a, B_MAX, kb_v(b, mx), v)));
    lw_end_n(L, loops);
    int shift = kb_let(b, "shift", ke_select(a, ke_un(a, U_ISINF, kb_v(b, mx)), ke_float(a, t, 0), kb_v(b, mx)));
    /* pass 2: sum of exp(x - shift) */
    int acc = kb_let(b, "acc", ke_float(a, t, 0));
    loops = open_dims(L, &x->shape, r->reduced, 1, coords);
    v = ke_cast(a, t, lw_load(L, n->in[0], coords));
    kb_assign(b, acc, ke_bin(a, B_ADD, kb_v(b, acc), ke_un(a, U_EXP, ke_bin(a, B_SUB, v, kb_v(b, shift)))));
    lw_end_n(L, loops);
    return ke_bin(a, B_ADD, ke_un(a, U_LOG, kb_v(b, acc)), kb_v(b, shift));
}

int lower_reduce(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const RedPlan *r = n->attrs;
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype;
    Expr *coords[KILN_MAX_RANK], *oc[KILN_MAX_RANK], *v;
    int64_t count = 1;
    for (int i = 0; i < r->rank; i++)
        if (r->reduced[i])
            count *= x->shape.dim[i];
    /* y[kept...] = post(acc over reduced...) */
    int kept = open_dims(L, &x->shape, r->reduced, 0, coords);
    if (n->op == OP_REDUCELOGSUMEXP) {
        v = log_sum_exp(L, n, r, coords);
    } else {
        /* integer sums and products accumulate in 64 bits */
        int minmax = n->op == OP_REDUCEMAX || n->op == OP_REDUCEMIN;
        DType at = dtype_is_int(t) && !minmax ? (dtype_is_signed(t) ? DT_I64 : DT_U64) : t;
        Expr *init = n->op == OP_REDUCEPROD  ? ke_const(a, at, 1)
                     : n->op == OP_REDUCEMAX ? ke_lowest(a, at)
                     : n->op == OP_REDUCEMIN ? ke_highest(a, at)
                                             : ke_const(a, at, 0);
        int acc = kb_let(b, "acc", init);
        int loops = open_dims(L, &x->shape, r->reduced, 1, coords);
        Expr *xv = ke_cast(a, at, lw_load(L, n->in[0], coords)), *av = kb_v(b, acc);
        switch (n->op) {
        case OP_REDUCEPROD: v = ke_bin(a, B_MUL, av, xv); break;
        case OP_REDUCEMAX: v = ke_bin(a, B_MAX, av, xv); break;
        case OP_REDUCEMIN: v = ke_bin(a, B_MIN, av, xv); break;
        case OP_REDUCEL1: v = ke_bin(a, B_ADD, av, ke_un(a, U_ABS, xv)); break;
        case OP_REDUCEL2: case OP_REDUCESUMSQUARE: v = ke_bin(a, B_ADD, av, ke_bin(a, B_MUL, xv, xv)); break;
        default: v = ke_bin(a, B_ADD, av, xv); break;
        }
        kb_assign(b, acc, v);
        lw_end_n(L, loops);
        v = kb_v(b, acc);
        DType ft = dtype_is_float(t) ? t : DT_F64; /* where sqrt and log are taken */
        if (n->op == OP_REDUCEMEAN && (dtype_is_float(t) || count > 0))
            v = ke_bin(a, B_DIV, v, ke_const(a, at, (double)count));
        else if (n->op == OP_REDUCEL2)
            v = ke_un(a, U_SQRT, ke_cast(a, ft, v));
        else if (n->op == OP_REDUCELOGSUM)
            v = ke_un(a, U_LOG, ke_cast(a, ft, v));
    }
    out_coords(L, r, coords, oc);
    lw_store(L, n, 0, oc, ke_cast(a, t, v));
    lw_end_n(L, kept);
    return 0;
}

/* ------------------------------------------------------- ArgMax, ArgMin */

/* ArgMax's and ArgMin's parsed attributes (Node.attrs). */
typedef struct ArgAttrs {
    int axis;                 /* normalized */
    int64_t keepdims, last;   /* keepdims, select_last_index */
} ArgAttrs;

static int arg_attrs(Graph *g, Node *n, ArgAttrs *at, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis;
    if (attr_int(g, n, "axis", 0, &axis, d) || attr_int(g, n, "keepdims", 1, &at->keepdims, d) ||
        attr_int(g, n, "select_last_index", 0, &at->last, d))
        return 1;
    if (at->last && n->opset < 12)
        return diag_node(d, g, n, "attribute 'select_last_index' needs opset 12");
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "input must have rank >= 1");
    return op_axis(g, n, axis, x->shape.rank, &at->axis, d);
}

int infer_argminmax(Graph *g, Node *n, Diag *d)
{
    ArgAttrs *at = op_attrs(g, n, sizeof *at);
    const Value *x = op_in(g, n, 0);
    if (!x)
        return diag_node(d, g, n, "input 0 is required");
    if (op_check_dtype(g, n, 0, reduce_types, d) || arg_attrs(g, n, at, d))
        return 1;
    Shape rest = x->shape;
    rest.dim[at->axis] = 1;
    if (x->shape.dim[at->axis] == 0 && shape_numel(&rest) > 0)
        return diag_node(d, g, n, "axis %d has extent 0: there is no element to select", at->axis);
    Shape out = x->shape;
    if (at->keepdims) {
        out.dim[at->axis] = 1;
    } else {
        for (int i = at->axis; i + 1 < out.rank; i++)
            out.dim[i] = out.dim[i + 1];
        out.rank--;
    }
    op_set_out(g, n, 0, DT_I64, &out);
    return 0;
}

/* Whether x replaces the best value so far: a strictly better value, an
 * equal one when the last occurrence wins, and NaN (which beats anything
 * but an earlier NaN unless the last occurrence wins). */
static Expr *arg_better(Arena *a, OpKind op, int last, Expr *x, Expr *best)
{
    Expr *c = ke_bin(a, op == OP_ARGMAX ? (last ? B_GE : B_GT) : (last ? B_LE : B_LT), x, best);
    if (!dtype_is_float(x->type))
        return c;
    Expr *nan = ke_un(a, U_ISNAN, x);
    if (!last)
        nan = ke_bin(a, B_AND, nan, ke_un(a, U_NOT, ke_un(a, U_ISNAN, best)));
    return ke_bin(a, B_OR, c, nan);
}

int lower_argminmax(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const ArgAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]];
    if (shape_numel(&x->shape) == 0)
        return 0; /* nothing to store */
    RedPlan r = {.rank = x->shape.rank, .keepdims = at->keepdims != 0};
    r.reduced[at->axis] = 1;
    Expr *coords[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
    /* y[kept...] = index along axis of the best x[kept..., k, ...] */
    int kept = open_dims(L, &x->shape, r.reduced, 0, coords);
    coords[at->axis] = ke_idx(a, 0);
    int best = kb_let(b, "best", lw_load(L, n->in[0], coords));
    int idx = kb_let(b, "idx", ke_int(a, DT_I64, 0));
    Expr *k = kb_v(b, kb_for(b, "k", x->shape.dim[at->axis]));
    coords[at->axis] = k;
    Expr *xv = lw_load(L, n->in[0], coords);
    kb_if(b, arg_better(a, n->op, at->last != 0, xv, kb_v(b, best)));
    kb_assign(b, best, xv);
    kb_assign(b, idx, ke_cast(a, DT_I64, k));
    kb_end(b);
    kb_end(b);
    out_coords(L, &r, coords, oc);
    lw_store(L, n, 0, oc, kb_v(b, idx));
    lw_end_n(L, kept);
    return 0;
}
