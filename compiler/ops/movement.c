/*
 * movement.c: data movement. Transpose, Concat, Split, Slice, Gather,
 * GatherElements, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Trilu.
 *
 * No op here computes on its data: each output element is one element of
 * an input (or a padding constant), found by index arithmetic. So
 * each lowers to a loop nest over the output (Concat: one nest per input,
 * Split: one per output) whose body is a single lw_store of a single load,
 * which lets an elementwise successor fuse in as an epilogue.
 *
 * Whatever decides a shape (Slice's starts, Pad's pads, Split's split, ...)
 * is read at compile time by a *_params() helper that infer and lower both
 * call, so the two never disagree; everything else about the index mapping
 * then folds to constants. Runtime index data (Gather's indices) is loaded in
 * the kernel, wrapped when negative and clamped into the axis, so that bad
 * indices in the data read a valid element instead of stray memory (ONNX
 * calls them an error; generated code has no error path). Constant index
 * data is checked at compile time instead: an index out of range there is
 * a compile error naming the node.
 */
#include "op.h"

#include <string.h>

static Expr *idx(Lower *L, int64_t v) { return ke_idx(lw_arena(L), v); }
static Expr *add(Lower *L, Expr *x, Expr *y) { return ke_bin(lw_arena(L), B_ADD, x, y); }
static Expr *mul(Lower *L, Expr *x, Expr *y) { return ke_bin(lw_arena(L), B_MUL, x, y); }

/* Runtime index value `raw` (any integer type) as a position on an axis of
 * `dim` elements: negative counts from the end, then clamped into [0, dim). */
static Expr *wrap_index(Lower *L, Expr *raw, int64_t dim)
{
    return dim == 1 ? idx(L, 0) : idx_clamp(lw_arena(L), lw_index(L, "k", raw, dim), dim);
}

/* The one element of scalar (or 1-element) value v as an expression of
 * type t: a literal when v is constant, else a load at run time. */
static Expr *scalar_of(Lower *L, const Value *v, ValueId id, DType t)
{
    Arena *a = lw_arena(L);
    if (v->kind == VAL_CONST)
        return ke_cast(a, t, dtype_is_float(v->dtype) ? ke_float(a, v->dtype, dtype_get_f(v->dtype, v->data, 0))
                                                      : ke_int(a, v->dtype, dtype_get_i(v->dtype, v->data, 0)));
    Expr *zero[KILN_MAX_RANK];
    for (int i = 0; i < v->shape.rank; i++)
        zero[i] = idx(L, 0);
    return ke_cast(a, t, lw_load(L, id, zero));
}

static const DType index_types[] = {DT_I32, DT_I64, DT_UNDEF};

/* Fail when input i of n is constant index data (known at compile time)
 * with an entry outside [-dim, dim) of the axis it selects on. ONNX calls
 * such an index an error; only indices known at run time get the clamp. */
static int const_indices(Graph *g, Node *n, int i, int64_t dim, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (!v || v->kind != VAL_CONST || !v->data || !dtype_is_int(v->dtype))
        return 0;
    int64_t cnt = shape_numel(&v->shape);
    for (int64_t k = 0; k < cnt; k++) {
        int64_t j = dtype_get_i(v->dtype, v->data, k);
        if (j < -dim || j >= dim)
            return diag_node(d, g, n, "index %lld (element %lld of '%s') is out of range for an axis of %lld", (long long)j,
                             (long long)k, v->name, (long long)dim);
    }
    return 0;
}

/* ------------------------------------------------------------- Transpose */

/* perm of Transpose into out[rank]: the attribute, or the dims reversed. */
static int transpose_perm(Graph *g, Node *n, int out[KILN_MAX_RANK], Diag *d)
{
    int rank, np;
    int64_t perm[KILN_MAX_RANK];
    rank = op_in(g, n, 0)->shape.rank;
    if (attr_ints(g, n, "perm", perm, KILN_MAX_RANK, &np, d))
        return 1;
    if (np < 0) {
        for (int i = 0; i < rank; i++)
            out[i] = rank - 1 - i;
        return 0;
    }
    if (np != rank)
        return diag_node(d, g, n, "perm has %d entries, the input has rank %d", np, rank);
    int seen[KILN_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++) {
        if (perm[i] < 0 || perm[i] >= rank || seen[perm[i]]++)
            return diag_node(d, g, n, "perm is not a permutation of 0..%d", rank - 1);
        out[i] = (int)perm[i];
    }
    return 0;
}

/* Transpose's parsed attributes (Node.attrs). */
typedef struct PermAttrs {
    int perm[KILN_MAX_RANK];
} PermAttrs;

int infer_transpose(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    PermAttrs *at = op_attrs(g, n, sizeof *at);
    const int *perm = at->perm;
    if (transpose_perm(g, n, at->perm, d))
        return 1;
    Shape s = {x->shape.rank, {0}};
    for (int i = 0; i < s.rank; i++)
        s.dim[i] = x->shape.dim[perm[i]];
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_transpose(Lower *L, Node *n)
{
    const int *perm = ((const PermAttrs *)n->attrs)->perm;
    const Shape *os = &lw_out(L, n, 0)->shape;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* y[i0, i1, ..] = x[j0, j1, ..] where j[perm[k]] = i[k] */
    lw_loops(L, os, NULL, oc);
    for (int i = 0; i < os->rank; i++)
        ic[perm[i]] = oc[i];
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], ic));
    lw_end_loops(L, os);
    return 0;
}

/* ---------------------------------------------------------------- Concat */

/* Concat's axis in [0, rank): required from opset 4, 1 before. */
static int concat_axis(Graph *g, Node *n, int *out, Diag *d)
{
    int64_t axis;
    const Value *x = op_in(g, n, 0);
    if (attr_int(g, n, "axis", 1, &axis, d))
        return 1;
    if (!node_attr(n, "axis") && n->opset >= 4)
        return diag_node(d, g, n, "attribute 'axis' is required");
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "cannot concatenate scalars");
    return op_axis(g, n, axis, x->shape.rank, out, d);
}

int infer_concat(Graph *g, Node *n, Diag *d)
{
    AxisAttrs *at = op_attrs(g, n, sizeof *at);
    char a[160], b[160];
    if (concat_axis(g, n, &at->axis, d))
        return 1;
    int axis = at->axis;
    const Value *x = op_in(g, n, 0);
    Shape s = x->shape;
    s.dim[axis] = 0;
    for (int i = 0; i < n->nin; i++) {
        const Value *v = op_in(g, n, i);
        if (!v)
            return diag_node(d, g, n, "input %d is missing", i); /* "" */
        if (op_same_dtype(g, n, 0, i, d))
            return 1;
        int ok = v->shape.rank == s.rank;
        for (int j = 0; ok && j < s.rank; j++)
            ok = j == axis || v->shape.dim[j] == s.dim[j];
        if (!ok)
            return diag_node(d, g, n, "input %d has shape %s, which does not concatenate with %s on axis %d", i,
                             shape_str(&v->shape, a, sizeof a), shape_str(&x->shape, b, sizeof b), axis);
        if (ck_add(s.dim[axis], v->shape.dim[axis], &s.dim[axis]))
            return diag_node(d, g, n, "the extents along axis %d overflow when summed", axis);
    }
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_concat(Lower *L, Node *n)
{
    int axis = ((const AxisAttrs *)n->attrs)->axis;
    int64_t offset = 0;
    /* one nest per input: y[.., offset + i, ..] = x_k[.., i, ..] */
    for (int k = 0; k < n->nin; k++) {
        const Shape *s = &lw_in(L, n, k)->shape;
        if (shape_numel(s) == 0) {
            offset += s->dim[axis];
            continue;
        }
        Expr *ic[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
        kb_comment(lw_kb(L), arena_printf(lw_arena(L), "input %d", k));
        lw_loops(L, s, NULL, ic);
        memcpy(oc, ic, sizeof(Expr *) * (size_t)s->rank);
        oc[axis] = add(L, ic[axis], idx(L, offset));
        lw_store(L, n, 0, oc, lw_load(L, n->in[k], ic));
        lw_end_loops(L, s);
        offset += s->dim[axis];
    }
    return 0;
}

/* ----------------------------------------------------------------- Split */

/* Split's parsed attributes (Node.attrs). */
typedef struct SplitParams {
    int axis;                   /* in [0, rank) */
    int64_t size[64];           /* [nout] extent of each output along axis */
} SplitParams;

/* Sizes of Split's outputs: the 'split' attribute (opset < 13; Split-1 also
 * took it as input 1) or input (13+), else num_outputs (18+) or the output
 * count: equal parts, the last one smaller when uneven (18+). */
static int split_params(Graph *g, Node *n, SplitParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis, num = -1, split[64];
    int ns = -1;
    if (n->nout > 64)
        return diag_node(d, g, n, "%d outputs, at most 64 are supported", n->nout);
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "cannot split a scalar");
    if (attr_int(g, n, "axis", 0, &axis, d) || op_axis(g, n, axis, x->shape.rank, &p->axis, d))
        return 1;
    if (n->opset < 13 && attr_ints(g, n, "split", split, 64, &ns, d))
        return 1;
    if (ns < 0 && op_const_ints(g, n, 1, split, 64, &ns, d))
        return 1;
    if (ns == 0 && n->nout > 0)
        ns = -1; /* an empty split: equal parts */
    if (n->opset >= 18 && attr_int(g, n, "num_outputs", -1, &num, d))
        return 1;
    int64_t dim = x->shape.dim[p->axis];
    if (ns >= 0) {
        if (ns != n->nout)
            return diag_node(d, g, n, "split has %d entries for %d outputs", ns, n->nout);
        int64_t sum = 0;
        for (int i = 0; i < ns; i++) {
            if (split[i] < 0)
                return diag_node(d, g, n, "split entry %d is negative (%lld)", i, (long long)split[i]);
            p->size[i] = split[i];
            if (ck_add(sum, split[i], &sum))
                return diag_node(d, g, n, "split entries overflow when summed");
        }
        if (sum != dim)
            return diag_node(d, g, n, "split sums to %lld, axis %d has %lld", (long long)sum, p->axis,
                             (long long)dim);
        return 0;
    }
    if (num >= 0 && num != n->nout)
        return diag_node(d, g, n, "num_outputs is %lld but the node has %d outputs", (long long)num, n->nout);
    int64_t parts = n->nout;
    if (dim % parts && n->opset < 18)
        return diag_node(d, g, n, "axis %d of %lld elements does not split into %lld equal parts", p->axis,
                         (long long)dim, (long long)parts);
    int64_t chunk = (dim + parts - 1) / parts, last = dim - chunk * (parts - 1);
    if (last < 0)
        return diag_node(d, g, n, "axis %d of %lld elements cannot split into %lld parts of %lld", p->axis,
                         (long long)dim, (long long)parts, (long long)chunk);
    for (int i = 0; i < parts; i++)
        p->size[i] = i == parts - 1 ? last : chunk;
    return 0;
}

int infer_split(Graph *g, Node *n, Diag *d)
{
    SplitParams *p = op_attrs(g, n, sizeof *p);
    if (split_params(g, n, p, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    for (int i = 0; i < n->nout; i++) {
        Shape s = x->shape;
        s.dim[p->axis] = p->size[i];
        op_set_out(g, n, i, x->dtype, &s);
    }
    return 0;
}

int lower_split(Lower *L, Node *n)
{
    const SplitParams *p = n->attrs;
    int64_t offset = 0;
    /* one nest per output: y_k[.., i, ..] = x[.., offset_k + i, ..] */
    for (int k = 0; k < n->nout; k++) {
        if (n->out[k] == VNONE || p->size[k] == 0) {
            offset += p->size[k];
            continue;
        }
        const Shape *s = &lw_out(L, n, k)->shape;
        Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
        kb_comment(lw_kb(L), arena_printf(lw_arena(L), "output %d", k));
        lw_loops(L, s, NULL, oc);
        memcpy(ic, oc, sizeof(Expr *) * (size_t)s->rank);
        ic[p->axis] = add(L, oc[p->axis], idx(L, offset));
        lw_store(L, n, k, oc, lw_load(L, n->in[0], ic));
        lw_end_loops(L, s);
        offset += p->size[k];
    }
    return 0;
}

/* ----------------------------------------------------------------- Slice */

/* Slice's parsed attributes (Node.attrs). */
typedef struct SliceParams {
    int64_t start[KILN_MAX_RANK];  /* first input element read, per dim */
    int64_t step[KILN_MAX_RANK];   /* input stride per output element, != 0 */
    Shape out;
} SliceParams;

/* Effective start, step and extent of every dim, clamped as the spec says:
 * starts/ends/axes attributes before opset 10, inputs 1..4 from 10. */
static int slice_params(Graph *g, Node *n, SliceParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t starts[KILN_MAX_RANK], ends[KILN_MAX_RANK], axes[KILN_MAX_RANK], steps[KILN_MAX_RANK];
    int ns, ne, na, nst = -1;
    int rank = x->shape.rank;
    if (n->opset < 10) {
        if (attr_ints(g, n, "starts", starts, KILN_MAX_RANK, &ns, d) ||
            attr_ints(g, n, "ends", ends, KILN_MAX_RANK, &ne, d) ||
            attr_ints(g, n, "axes", axes, KILN_MAX_RANK, &na, d))
            return 1;
        if (ns < 0 || ne < 0)
            return diag_node(d, g, n, "attributes 'starts' and 'ends' are required");
    } else {
        if (!op_in(g, n, 1) || !op_in(g, n, 2))
            return diag_node(d, g, n, "inputs 'starts' and 'ends' are required");
        if (op_const_ints(g, n, 1, starts, KILN_MAX_RANK, &ns, d) ||
            op_const_ints(g, n, 2, ends, KILN_MAX_RANK, &ne, d) ||
            op_const_ints(g, n, 3, axes, KILN_MAX_RANK, &na, d) ||
            op_const_ints(g, n, 4, steps, KILN_MAX_RANK, &nst, d))
            return 1;
    }
    if (ns != ne)
        return diag_node(d, g, n, "starts has %d entries, ends %d", ns, ne);
    if (na >= 0 && na != ns)
        return diag_node(d, g, n, "axes has %d entries, starts %d", na, ns);
    if (nst >= 0 && nst != ns)
        return diag_node(d, g, n, "steps has %d entries, starts %d", nst, ns);
    if (na < 0 && ns > rank)
        return diag_node(d, g, n, "starts has %d entries, the input has rank %d", ns, rank);
    p->out = x->shape;
    for (int i = 0; i < rank; i++) {
        p->start[i] = 0;
        p->step[i] = 1;
    }
    int seen[KILN_MAX_RANK] = {0};
    for (int i = 0; i < ns; i++) {
        int ax = i;
        if (na >= 0 && op_axis(g, n, axes[i], rank, &ax, d))
            return 1;
        if (seen[ax]++)
            return diag_node(d, g, n, "axis %d is sliced twice", ax);
        int64_t step = nst >= 0 ? steps[i] : 1, dim = x->shape.dim[ax];
        int64_t s = starts[i], e = ends[i];
        if (step == 0)
            return diag_node(d, g, n, "steps entry %d is 0", i);
        if (step < -INT64_MAX)
            step = -INT64_MAX; /* same slice (one element at most), and -step exists */
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? dim : dim - 1;
        s = s < 0 ? 0 : s > (step > 0 ? dim : dim - 1) ? (step > 0 ? dim : dim - 1) : s;
        e = e < lo ? lo : e > hi ? hi : e;
        int64_t len;
        if (step > 0)
            len = e > s ? (e - s - 1) / step + 1 : 0;
        else
            len = s > e ? (s - e - 1) / -step + 1 : 0;
        p->start[ax] = s < 0 ? 0 : s; /* an empty dim (dim 0, negative step) reads nothing */
        p->step[ax] = step;
        p->out.dim[ax] = len;
    }
    return 0;
}

int infer_slice(Graph *g, Node *n, Diag *d)
{
    SliceParams *p = op_attrs(g, n, sizeof *p);
    if (slice_params(g, n, p, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &p->out);
    return 0;
}

int lower_slice(Lower *L, Node *n)
{
    const SliceParams *p = n->attrs;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* y[.., i, ..] = x[.., start + i * step, ..] */
    lw_loops(L, &p->out, NULL, oc);
    for (int i = 0; i < p->out.rank; i++)
        ic[i] = ke_bin(lw_arena(L), p->step[i] > 0 ? B_ADD : B_SUB, idx(L, p->start[i]),
                       mul(L, oc[i], idx(L, p->step[i] > 0 ? p->step[i] : -p->step[i])));
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], ic));
    lw_end_loops(L, &p->out);
    return 0;
}

/* ---------------------------------------------------------------- Gather */

static int gather_axis(Graph *g, Node *n, int *out, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis;
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "data must have rank >= 1");
    return attr_int(g, n, "axis", 0, &axis, d) || op_axis(g, n, axis, x->shape.rank, out, d);
}

int infer_gather(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *ix = op_in(g, n, 1);
    AxisAttrs *at = op_attrs(g, n, sizeof *at);
    if (gather_axis(g, n, &at->axis, d) || op_check_dtype(g, n, 1, index_types, d))
        return 1;
    int axis = at->axis;
    int r = x->shape.rank, q = ix->shape.rank;
    if (r - 1 + q > KILN_MAX_RANK)
        return diag_node(d, g, n, "output rank %d is too large", r - 1 + q);
    if (x->shape.dim[axis] == 0 && shape_numel(&ix->shape) > 0)
        return diag_node(d, g, n, "gathers from axis %d, which is empty", axis);
    if (const_indices(g, n, 1, x->shape.dim[axis], d))
        return 1;
    /* data[:axis] + indices + data[axis+1:] */
    Shape s = {0, {0}};
    for (int i = 0; i < axis; i++)
        s.dim[s.rank++] = x->shape.dim[i];
    for (int i = 0; i < q; i++)
        s.dim[s.rank++] = ix->shape.dim[i];
    for (int i = axis + 1; i < r; i++)
        s.dim[s.rank++] = x->shape.dim[i];
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_gather(Lower *L, Node *n)
{
    int axis = ((const AxisAttrs *)n->attrs)->axis;
    const Shape *xs = &lw_in(L, n, 0)->shape, *os = &lw_out(L, n, 0)->shape;
    int q = lw_in(L, n, 1)->shape.rank;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* y[a.., i.., b..] = x[a.., indices[i..], b..] */
    lw_loops(L, os, NULL, oc);
    for (int i = 0; i < axis; i++)
        ic[i] = oc[i];
    ic[axis] = wrap_index(L, lw_load(L, n->in[1], oc + axis), xs->dim[axis]);
    for (int i = axis + 1; i < xs->rank; i++)
        ic[i] = oc[i - 1 + q];
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], ic));
    lw_end_loops(L, os);
    return 0;
}

/* -------------------------------------------------------- GatherElements */

int infer_gatherelements(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *ix = op_in(g, n, 1);
    AxisAttrs *at = op_attrs(g, n, sizeof *at);
    char a[160], b[160];
    if (gather_axis(g, n, &at->axis, d) || op_check_dtype(g, n, 1, index_types, d))
        return 1;
    int axis = at->axis;
    if (ix->shape.rank != x->shape.rank)
        return diag_node(d, g, n, "indices have rank %d, data rank %d", ix->shape.rank, x->shape.rank);
    int ok = 1;
    for (int i = 0; ok && i < x->shape.rank; i++)
        ok = i == axis || ix->shape.dim[i] <= x->shape.dim[i];
    if (!ok)
        return diag_node(d, g, n, "indices of shape %s do not fit data of shape %s on axis %d",
                         shape_str(&ix->shape, a, sizeof a), shape_str(&x->shape, b, sizeof b), axis);
    if (x->shape.dim[axis] == 0 && shape_numel(&ix->shape) > 0)
        return diag_node(d, g, n, "gathers from axis %d, which is empty", axis);
    if (const_indices(g, n, 1, x->shape.dim[axis], d))
        return 1;
    op_set_out(g, n, 0, x->dtype, &ix->shape);
    return 0;
}

int lower_gatherelements(Lower *L, Node *n)
{
    int axis = ((const AxisAttrs *)n->attrs)->axis;
    const Shape *xs = &lw_in(L, n, 0)->shape, *os = &lw_out(L, n, 0)->shape;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* y[i..] = x[i.. with i_axis replaced by indices[i..]] */
    lw_loops(L, os, NULL, oc);
    memcpy(ic, oc, sizeof(Expr *) * (size_t)os->rank);
    ic[axis] = wrap_index(L, lw_load(L, n->in[1], oc), xs->dim[axis]);
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], ic));
    lw_end_loops(L, os);
    return 0;
}

/* ---------------------------------------------------------------- Expand */

int infer_expand(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t dims[KILN_MAX_RANK];
    int nd;
    char a[160], b[160];
    if (op_const_ints(g, n, 1, dims, KILN_MAX_RANK, &nd, d))
        return 1;
    if (op_in(g, n, 1)->shape.rank != 1)
        return diag_node(d, g, n, "shape must be a 1-D tensor");
    Shape want = {nd, {0}}, s;
    for (int i = 0; i < nd; i++) {
        if (dims[i] < 0)
            return diag_node(d, g, n, "shape entry %d is negative (%lld)", i, (long long)dims[i]);
        want.dim[i] = dims[i];
    }
    if (shape_broadcast(&x->shape, &want, &s))
        return diag_node(d, g, n, "input of shape %s does not broadcast to %s", shape_str(&x->shape, a, sizeof a),
                         shape_str(&want, b, sizeof b));
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_expand(Lower *L, Node *n)
{
    const Shape *os = &lw_out(L, n, 0)->shape;
    Expr *oc[KILN_MAX_RANK];
    /* y[i..] = x[i.. broadcast] */
    lw_loops(L, os, NULL, oc);
    lw_store(L, n, 0, oc, lw_load_bcast(L, n->in[0], os->rank, oc));
    lw_end_loops(L, os);
    return 0;
}

/* ------------------------------------------------------------------ Tile */

int infer_tile(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t rep[KILN_MAX_RANK];
    int nr;
    if (n->opset < 6)
        return diag_node(d, g, n, "Tile before opset 6 (tiles and axis inputs) is not supported");
    if (op_const_ints(g, n, 1, rep, KILN_MAX_RANK, &nr, d))
        return 1;
    if (nr != x->shape.rank)
        return diag_node(d, g, n, "repeats has %d entries, the input has rank %d", nr, x->shape.rank);
    Shape s = x->shape;
    for (int i = 0; i < nr; i++) {
        if (rep[i] < 0)
            return diag_node(d, g, n, "repeats entry %d is negative (%lld)", i, (long long)rep[i]);
        if (ck_mul(s.dim[i], rep[i], &s.dim[i]))
            return diag_node(d, g, n, "repeats entry %d (%lld) times the extent %lld overflows", i, (long long)rep[i],
                             (long long)x->shape.dim[i]);
    }
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_tile(Lower *L, Node *n)
{
    const Shape *xs = &lw_in(L, n, 0)->shape, *os = &lw_out(L, n, 0)->shape;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* y[i..] = x[i % dim..] */
    lw_loops(L, os, NULL, oc);
    for (int i = 0; i < os->rank; i++)
        ic[i] = os->dim[i] == xs->dim[i] ? oc[i] : ke_bin(lw_arena(L), B_MOD, oc[i], idx(L, xs->dim[i]));
    lw_store(L, n, 0, oc, lw_load(L, n->in[0], ic));
    lw_end_loops(L, os);
    return 0;
}

/* ------------------------------------------------------------------- Pad */

typedef enum PadMode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } PadMode;

/* Pad's parsed attributes (Node.attrs). */
typedef struct PadParams {
    PadMode mode;
    double value;                  /* attribute 'value' (opset < 11), else 0 */
    int64_t begin[KILN_MAX_RANK];  /* elements added (< 0: removed) before, per dim */
    int64_t end[KILN_MAX_RANK];    /* and after */
    Shape out;
} PadParams;

/* Mode and pads of every dim: the 'paddings' (opset 1) or 'pads' (2..10)
 * attribute, or the pads input with optional axes input (18+). Negative
 * pads crop the input first; the padding modes then see the cropped input. */
static int pad_params(Graph *g, Node *n, PadParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    const char *mode;
    int64_t pads[2 * KILN_MAX_RANK], axes[KILN_MAX_RANK];
    int np, na = -1;
    if (attr_str(g, n, "mode", "constant", &mode, d) ||
        (n->opset < 11 && attr_float(g, n, "value", 0.0, &p->value, d)))
        return 1;
    int rank = x->shape.rank;
    static const char *modes[] = {"constant", "reflect", "edge", "wrap"};
    p->mode = (PadMode)-1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(mode, modes[i]))
            p->mode = (PadMode)i;
    if ((int)p->mode < 0)
        return diag_node(d, g, n, "mode '%s' is not one of constant, reflect, edge, wrap", mode);
    if (n->opset < 11) {
        const char *name = n->opset < 2 ? "paddings" : "pads";
        if (attr_ints(g, n, name, pads, 2 * KILN_MAX_RANK, &np, d))
            return 1;
        if (np < 0)
            return diag_node(d, g, n, "attribute '%s' is required", name);
    } else {
        if (!op_in(g, n, 1))
            return diag_node(d, g, n, "input 'pads' is required");
        if (op_const_ints(g, n, 1, pads, 2 * KILN_MAX_RANK, &np, d))
            return 1;
        if (n->opset >= 18 && op_const_ints(g, n, 3, axes, KILN_MAX_RANK, &na, d))
            return 1;
    }
    int nax = na >= 0 ? na : rank;
    if (np != 2 * nax)
        return diag_node(d, g, n, "pads has %d entries, expected %d (2 per %s)", np, 2 * nax,
                         na >= 0 ? "axis" : "input dim");
    p->out = x->shape;
    for (int i = 0; i < rank; i++)
        p->begin[i] = p->end[i] = 0;
    int seen[KILN_MAX_RANK] = {0};
    for (int i = 0; i < nax; i++) {
        int ax = i;
        if (na >= 0 && op_axis(g, n, axes[i], rank, &ax, d))
            return 1;
        if (seen[ax]++)
            return diag_node(d, g, n, "axis %d is padded twice", ax);
        int64_t b = pads[i], e = pads[nax + i], dim = x->shape.dim[ax], kept, out;
        /* negative pads crop: kept = dim + min(b, 0) + min(e, 0) (a pad may be INT64_MIN) */
        if (ck_add(dim, b < 0 ? b : 0, &kept) || ck_add(kept, e < 0 ? e : 0, &kept) || kept < 0)
            return diag_node(d, g, n, "pads %lld and %lld remove more than the %lld elements of axis %d",
                             (long long)b, (long long)e, (long long)dim, ax);
        if (kept == 0 && (b > 0 || e > 0) && p->mode != PAD_CONSTANT)
            return diag_node(d, g, n, "%s padding of axis %d, which has no elements left", modes[p->mode], ax);
        p->begin[ax] = b;
        p->end[ax] = e;
        if (ck_add(kept, b > 0 ? b : 0, &out) || ck_add(out, e > 0 ? e : 0, &out))
            return diag_node(d, g, n, "pads %lld and %lld overflow the extent of axis %d", (long long)b, (long long)e, ax);
        p->out.dim[ax] = out;
    }
    return 0;
}

int infer_pad(Graph *g, Node *n, Diag *d)
{
    PadParams *p = op_attrs(g, n, sizeof *p);
    const Value *x = op_in(g, n, 0), *cv = op_in(g, n, 2);
    if (pad_params(g, n, p, d))
        return 1;
    if (n->opset >= 11 && cv) {
        if (op_same_dtype(g, n, 0, 2, d))
            return 1;
        if (shape_numel(&cv->shape) > 1)
            return diag_node(d, g, n, "constant_value must be a scalar");
    }
    op_set_out(g, n, 0, x->dtype, &p->out);
    return 0;
}

/* The padding value: attribute 'value' (opset < 11) or input 2, loaded at
 * run time; 0 when absent. */
static Expr *pad_value(Lower *L, Node *n, DType t)
{
    const Value *cv = lw_in(L, n, 2);
    if (n->opset < 11)
        return ke_const(lw_arena(L), t, ((const PadParams *)n->attrs)->value);
    if (!cv || shape_numel(&cv->shape) == 0)
        return ke_const(lw_arena(L), t, 0);
    return scalar_of(L, cv, n->in[2], t);
}

/* Position j clamped into [0, m) on the sides that are padded. */
static Expr *clamp_pad(Lower *L, Expr *j, int64_t pad_begin, int64_t pad_end, int64_t m)
{
    Arena *a = lw_arena(L);
    if (pad_end > 0)
        j = ke_bin(a, B_MIN, j, idx(L, m - 1));
    if (pad_begin > 0)
        j = ke_bin(a, B_MAX, idx(L, 0), j);
    return j;
}

int lower_pad(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const PadParams *p = n->attrs;
    const Shape *xs = &lw_in(L, n, 0)->shape;
    DType t = lw_out(L, n, 0)->dtype;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    Expr *inside = NULL; /* constant mode: the output element has an input element */
    int empty = 0; /* nothing of the input is left: all padding */
    for (int i = 0; i < xs->rank; i++)
        empty |= xs->dim[i] - (p->begin[i] < 0 ? -p->begin[i] : 0) - (p->end[i] < 0 ? -p->end[i] : 0) == 0;
    /* y[o..] = x[src(o)..], src per dim by mode, over the input cropped to
     * [lo, lo + m) and shifted by the begin pad pb */
    lw_loops(L, &p->out, NULL, oc);
    for (int i = 0; i < xs->rank && !empty; i++) {
        int64_t lo = p->begin[i] < 0 ? -p->begin[i] : 0, pb = p->begin[i] > 0 ? p->begin[i] : 0;
        int64_t m = xs->dim[i] - lo - (p->end[i] < 0 ? -p->end[i] : 0);
        Expr *o = oc[i];
        if (p->begin[i] <= 0 && p->end[i] <= 0) {
            ic[i] = add(L, o, idx(L, lo)); /* cropped at most: no padding on this dim */
            continue;
        }
        Expr *j = ke_bin(a, B_SUB, o, idx(L, pb)); /* position in the cropped input */
        Expr *src = NULL;
        switch (p->mode) {
        case PAD_CONSTANT: {
            /* j in [0, m) on the padded sides; the load is clamped too, so
             * that it stays in bounds even where the select is not taken */
            Expr *in = NULL;
            if (pb > 0)
                in = ke_bin(a, B_GE, j, idx(L, 0));
            if (p->end[i] > 0) {
                Expr *below = ke_bin(a, B_LT, j, idx(L, m));
                in = in ? ke_bin(a, B_AND, in, below) : below;
            }
            inside = inside ? ke_bin(a, B_AND, inside, in) : in;
            src = clamp_pad(L, j, pb, p->end[i], m);
            break;
        }
        case PAD_EDGE:
            src = clamp_pad(L, j, pb, p->end[i], m);
            break;
        case PAD_WRAP: {
            int64_t lift = (pb + m - 1) / m * m; /* makes j + lift >= 0 */
            src = ke_bin(a, B_MOD, add(L, o, idx(L, lift - pb)), idx(L, m));
            break;
        }
        case PAD_REFLECT: {
            if (m == 1) {
                src = idx(L, 0);
                break;
            }
            int64_t period = 2 * (m - 1), lift = (pb + period - 1) / period * period;
            KB *b = lw_kb(L);
            int r = kb_let(b, "r", ke_bin(a, B_MOD, add(L, o, idx(L, lift - pb)), idx(L, period)));
            Expr *rv = kb_v(b, r);
            src = ke_select(a, ke_bin(a, B_LT, rv, idx(L, m)), rv, ke_bin(a, B_SUB, idx(L, period), rv));
            break;
        }
        }
        ic[i] = add(L, src, idx(L, lo));
    }
    Expr *v;
    if (empty)
        v = pad_value(L, n, t);
    else if (inside)
        v = ke_select(a, inside, lw_load(L, n->in[0], ic), pad_value(L, n, t));
    else
        v = lw_load(L, n->in[0], ic);
    lw_store(L, n, 0, oc, v);
    lw_end_loops(L, &p->out);
    return 0;
}

/* ------------------------------------------------ DepthToSpace, SpaceToDepth */

/* DepthToSpace's and SpaceToDepth's parsed attributes (Node.attrs). */
typedef struct D2SAttrs {
    int64_t b;       /* blocksize */
    int crd;         /* DepthToSpace in CRD order (DCR is the default) */
} D2SAttrs;

/* blocksize, and whether DepthToSpace uses CRD order (DCR is the default). */
static int d2s_params(Graph *g, Node *n, int64_t *out_b, int *out_crd, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    const char *mode = "DCR";
    if (attr_int(g, n, "blocksize", 0, out_b, d))
        return 1;
    if (!node_attr(n, "blocksize") || *out_b <= 0)
        return diag_node(d, g, n, "attribute 'blocksize' must be given and positive");
    if (n->op == OP_DEPTHTOSPACE && attr_str(g, n, "mode", "DCR", &mode, d))
        return 1;
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
        return diag_node(d, g, n, "mode '%s' is not DCR or CRD", mode);
    *out_crd = !strcmp(mode, "CRD");
    if (x->shape.rank != 4)
        return diag_node(d, g, n, "input must have rank 4 (N, C, H, W), not %d", x->shape.rank);
    return 0;
}

int infer_depthtospace(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    D2SAttrs *at = op_attrs(g, n, sizeof *at);
    if (d2s_params(g, n, &at->b, &at->crd, d))
        return 1;
    int64_t b = at->b;
    Shape s = x->shape;
    int64_t bb;
    if (ck_mul(b, b, &bb))
        return diag_node(d, g, n, "blocksize %lld is too large (its square overflows)", (long long)b);
    if (n->op == OP_DEPTHTOSPACE) {
        if (s.dim[1] % bb)
            return diag_node(d, g, n, "channels (%lld) are not a multiple of blocksize^2 (%lld)",
                             (long long)s.dim[1], (long long)bb);
        s.dim[1] /= bb;
        if (ck_mul(s.dim[2], b, &s.dim[2]) || ck_mul(s.dim[3], b, &s.dim[3]))
            return diag_node(d, g, n, "blocksize %lld times the height or width overflows", (long long)b);
    } else {
        if (s.dim[2] % b || s.dim[3] % b)
            return diag_node(d, g, n, "height and width (%lld, %lld) are not multiples of blocksize %lld",
                             (long long)s.dim[2], (long long)s.dim[3], (long long)b);
        if (ck_mul(s.dim[1], bb, &s.dim[1]))
            return diag_node(d, g, n, "blocksize^2 (%lld) times the channels overflows", (long long)bb);
        s.dim[2] /= b;
        s.dim[3] /= b;
    }
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int lower_depthtospace(Lower *L, Node *n)
{
    KB *kb = lw_kb(L);
    const D2SAttrs *at = n->attrs;
    int64_t b = at->b;
    int crd = at->crd;
    int d2s = n->op == OP_DEPTHTOSPACE;
    /* the space side (N, C, H*b, W*b), walked as its blocks (n, c, h, bh, w, bw) */
    const Shape *space = &(d2s ? lw_out(L, n, 0) : lw_in(L, n, 0))->shape;
    int64_t C = space->dim[1], H = space->dim[2] / b, W = space->dim[3] / b;
    Expr *nn = kb_v(kb, kb_for(kb, "n", space->dim[0]));
    Expr *c = kb_v(kb, kb_for(kb, "c", C));
    Expr *h = kb_v(kb, kb_for(kb, "h", H));
    Expr *bh = kb_v(kb, kb_for(kb, "bh", b));
    Expr *w = kb_v(kb, kb_for(kb, "w", W));
    Expr *bw = kb_v(kb, kb_for(kb, "bw", b));
    Expr *block = add(L, mul(L, bh, idx(L, b)), bw);
    /* depth channel: DCR (bh*b + bw)*C + c, CRD c*b*b + bh*b + bw */
    Expr *depth = crd ? add(L, mul(L, c, idx(L, b * b)), block) : add(L, mul(L, block, idx(L, C)), c);
    Expr *sc[4] = {nn, c, add(L, mul(L, h, idx(L, b)), bh), add(L, mul(L, w, idx(L, b)), bw)};
    Expr *dc[4] = {nn, depth, h, w};
    Expr **from = d2s ? dc : sc, **to = d2s ? sc : dc;
    lw_store(L, n, 0, to, lw_load(L, n->in[0], from));
    for (int i = 0; i < 6; i++)
        kb_end(kb);
    return 0;
}

/* ----------------------------------------------------------------- Trilu */

/* Trilu's parsed attributes (Node.attrs). */
typedef struct TriluAttrs {
    int64_t upper;
} TriluAttrs;

int infer_trilu(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *k = op_in(g, n, 1);
    TriluAttrs *at = op_attrs(g, n, sizeof *at);
    static const DType k_types[] = {DT_I64, DT_UNDEF};
    if (attr_int(g, n, "upper", 1, &at->upper, d) || op_check_dtype(g, n, 1, k_types, d))
        return 1;
    if (x->shape.rank < 2)
        return diag_node(d, g, n, "input must have rank >= 2, not %d", x->shape.rank);
    if (k && shape_numel(&k->shape) != 1)
        return diag_node(d, g, n, "k must be a single value");
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_trilu(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const Value *kv = lw_in(L, n, 1);
    const Shape *s = &lw_out(L, n, 0)->shape;
    int64_t upper = ((const TriluAttrs *)n->attrs)->upper;
    Expr *oc[KILN_MAX_RANK];
    lw_loops(L, s, NULL, oc);
    Expr *k = kv ? scalar_of(L, kv, n->in[1], DT_INDEX) : idx(L, 0); /* diagonal offset */
    /* y[.., i, j] = (upper ? j - i >= k : j - i <= k) ? x[.., i, j] : 0 */
    Expr *diag = ke_bin(a, B_SUB, oc[s->rank - 1], oc[s->rank - 2]);
    Expr *keep = ke_bin(a, upper ? B_GE : B_LE, diag, k);
    DType t = lw_out(L, n, 0)->dtype;
    lw_store(L, n, 0, oc, ke_select(a, keep, lw_load(L, n->in[0], oc), ke_const(a, t, 0)));
    lw_end_loops(L, s);
    return 0;
}
