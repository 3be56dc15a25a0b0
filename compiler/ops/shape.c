/*
 * shape.c: views and values computed from shapes or attributes.
 *
 *  - Views: Reshape, Flatten, Squeeze, Unsqueeze. The output is the input's
 *    bytes read with another shape, so these only infer (lower.c makes the
 *    output share the input's buffer; folding copies the bytes).
 *  - Computed at compile time in infer: Shape, Size and Constant make their
 *    output a constant (op_set_const_out) and inference retires the node.
 *  - ConstantOfShape, Range and EyeLike: the output shape is known at compile
 *    time (shape input, start/limit/delta, input shape), the values are one
 *    loop nest storing literals (or, for Range, start + i * delta). They fold
 *    when their inputs are constant; the same lowering runs otherwise.
 *
 * Inputs that decide a shape (Reshape's shape, Squeeze's axes, Range's
 * scalars) are read at compile time with op_const_ints/op_const_floats; the
 * lowerings take extents from the output value that infer typed, so infer
 * and lower cannot disagree.
 */
#include "op.h"

#include <math.h>
#include <string.h>

static int need_input0(Graph *g, Node *n, Diag *d)
{
    if (!op_in(g, n, 0))
        return diag_node(d, g, n, "the first input is required");
    return 0;
}

/* Element i of `data` (dtype t) as a literal of type t. */
static Expr *literal(Arena *a, DType t, const void *data, int64_t i)
{
    if (dtype_is_float(t))
        return ke_float(a, t, dtype_get_f(t, data, i));
    return ke_int(a, t, dtype_get_i(t, data, i));
}

/* The one element of input i (a scalar or 1-element tensor) as an
 * expression of its own type: a literal when constant, else a load. */
static Expr *scalar_in(Lower *L, Node *n, int i)
{
    const Value *v = lw_in(L, n, i);
    if (v->kind == VAL_CONST)
        return literal(lw_arena(L), v->dtype, v->data, 0);
    Expr *zero[KILN_MAX_RANK];
    for (int k = 0; k < v->shape.rank; k++)
        zero[k] = ke_idx(lw_arena(L), 0);
    return lw_load(L, n->in[i], zero);
}

/* ---------------------------------------------------------------- Reshape */

/* Reshape's output shape: the shape input (from opset 5; the attribute
 * before), 0 copying the input's dim (a literal 0 with allowzero), one -1
 * inferred from the element count. */
static int reshape_shape(Graph *g, Node *n, Shape *out, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t want[KILN_MAX_RANK], allowzero = 0;
    int cnt;
    char a[160], b[160];
    if (need_input0(g, n, d))
        return 1;
    if (n->opset < 5) {
        if (attr_ints(g, n, "shape", want, KILN_MAX_RANK, &cnt, d))
            return 1;
        if (cnt < 0)
            return diag_node(d, g, n, "attribute 'shape' is required");
    } else {
        if (!op_in(g, n, 1))
            return diag_node(d, g, n, "the shape input is required");
        if (op_const_ints(g, n, 1, want, KILN_MAX_RANK, &cnt, d))
            return 1;
        if (op_in(g, n, 1)->shape.rank != 1)
            return diag_node(d, g, n, "shape must be a 1-D tensor, not of rank %d", op_in(g, n, 1)->shape.rank);
    }
    if (n->opset >= 14 && attr_int(g, n, "allowzero", 0, &allowzero, d))
        return 1;
    int infer_at = -1, has_zero = 0, overflow = 0;
    int64_t known = 1; /* product of the dims other than the -1 */
    out->rank = cnt;
    for (int i = 0; i < cnt; i++) {
        int64_t v = want[i];
        if (v == 0 && !allowzero) {
            if (i >= x->shape.rank)
                return diag_node(d, g, n, "shape[%d] is 0 (copy the input's dim), but the input %s has rank %d", i,
                                 shape_str(&x->shape, a, sizeof a), x->shape.rank);
            v = x->shape.dim[i];
        } else if (v == -1) {
            if (infer_at >= 0)
                return diag_node(d, g, n, "shape has more than one -1");
            infer_at = i;
            continue;
        } else if (v < -1) {
            return diag_node(d, g, n, "shape[%d] is %lld; dims must be >= -1", i, (long long)v);
        }
        has_zero |= v == 0;
        out->dim[i] = v;
        if (ck_mul(known, v, &known))
            overflow = 1; /* no tensor kiln keeps has that many elements */
    }
    int64_t total = shape_numel(&x->shape);
    if (overflow)
        return diag_node(d, g, n, "cannot reshape %s (%lld elements): the dims of the shape multiply past 64-bit integers",
                         shape_str(&x->shape, a, sizeof a), (long long)total);
    if (infer_at >= 0) {
        if (allowzero && has_zero)
            return diag_node(d, g, n, "shape has both 0 and -1, which allowzero=1 does not allow");
        if (known == 0 || total % known)
            return diag_node(d, g, n, "cannot infer the -1 in the shape: %lld elements do not divide into dims of %lld",
                             (long long)total, (long long)known);
        out->dim[infer_at] = total / known;
        known = total;
    }
    if (known != total)
        return diag_node(d, g, n, "cannot reshape %s (%lld elements) to %s", shape_str(&x->shape, a, sizeof a),
                         (long long)total, shape_str(out, b, sizeof b));
    return 0;
}

int infer_reshape(Graph *g, Node *n, Diag *d)
{
    Shape s;
    if (reshape_shape(g, n, &s, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &s);
    return 0;
}

/* ---------------------------------------------------------------- Flatten */

int infer_flatten(Graph *g, Node *n, Diag *d)
{
    const Value *x;
    int64_t axis;
    if (need_input0(g, n, d) || attr_int(g, n, "axis", 1, &axis, d))
        return 1;
    x = op_in(g, n, 0);
    int rank = x->shape.rank;
    /* axis in [-rank, rank]: rank itself puts every dim in the outer one */
    if (axis < -rank || axis > rank)
        return diag_node(d, g, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    Shape s = {2, {1, 1}};
    for (int i = 0; i < rank; i++)
        if (ck_mul(s.dim[i < axis ? 0 : 1], x->shape.dim[i], &s.dim[i < axis ? 0 : 1]))
            return diag_node(d, g, n, "the flattened extents overflow");
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

/* ------------------------------------------------------ Squeeze, Unsqueeze */

/* The axes of (Un)squeeze: the attribute before opset 13, input 1 from 13.
 * *out_n = -1 when absent. */
static int squeeze_axes(Graph *g, Node *n, int64_t *axes, int *out_n, Diag *d)
{
    if (n->opset < 13)
        return attr_ints(g, n, "axes", axes, KILN_MAX_RANK, out_n, d);
    if (op_const_ints(g, n, 1, axes, KILN_MAX_RANK, out_n, d))
        return 1;
    if (*out_n >= 0 && op_in(g, n, 1)->shape.rank > 1)
        return diag_node(d, g, n, "axes must be a 1-D tensor, not of rank %d", op_in(g, n, 1)->shape.rank);
    return 0;
}

/* Normalize axes[cnt] into [0, rank) into flags[rank]; error on repeats. */
static int mark_axes(Graph *g, Node *n, const int64_t *axes, int cnt, int rank, int *flags, Diag *d)
{
    memset(flags, 0, sizeof(int) * KILN_MAX_RANK);
    for (int i = 0; i < cnt; i++) {
        int ax;
        if (op_axis(g, n, axes[i], rank, &ax, d))
            return 1;
        if (rank == 0)
            return diag_node(d, g, n, "axis %lld is out of range for rank 0", (long long)axes[i]);
        if (flags[ax]++)
            return diag_node(d, g, n, "axis %lld is repeated", (long long)axes[i]);
    }
    return 0;
}

int infer_squeeze(Graph *g, Node *n, Diag *d)
{
    int64_t axes[KILN_MAX_RANK];
    int cnt, drop[KILN_MAX_RANK];
    char a[160];
    if (need_input0(g, n, d) || squeeze_axes(g, n, axes, &cnt, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    int rank = x->shape.rank;
    if (cnt < 0) {
        /* no axes: every dim of extent 1 */
        for (int i = 0; i < rank; i++)
            drop[i] = x->shape.dim[i] == 1;
    } else if (mark_axes(g, n, axes, cnt, rank, drop, d)) {
        return 1;
    }
    Shape s = {0, {0}};
    for (int i = 0; i < rank; i++) {
        if (!drop[i])
            s.dim[s.rank++] = x->shape.dim[i];
        else if (x->shape.dim[i] != 1)
            return diag_node(d, g, n, "cannot squeeze axis %d of %s: its extent is %lld, not 1", i,
                             shape_str(&x->shape, a, sizeof a), (long long)x->shape.dim[i]);
    }
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

int infer_unsqueeze(Graph *g, Node *n, Diag *d)
{
    int64_t axes[KILN_MAX_RANK];
    int cnt, added[KILN_MAX_RANK];
    if (need_input0(g, n, d))
        return 1;
    if (n->opset >= 13 && !op_in(g, n, 1))
        return diag_node(d, g, n, "the axes input is required");
    if (squeeze_axes(g, n, axes, &cnt, d))
        return 1;
    if (cnt < 0)
        return diag_node(d, g, n, "attribute 'axes' is required");
    const Value *x = op_in(g, n, 0);
    int rank = x->shape.rank + cnt;
    if (rank > KILN_MAX_RANK)
        return diag_node(d, g, n, "the output would have rank %d; at most %d is supported", rank, KILN_MAX_RANK);
    /* axes count in the output's rank */
    if (mark_axes(g, n, axes, cnt, rank, added, d))
        return 1;
    Shape s = {rank, {0}};
    for (int i = 0, k = 0; i < rank; i++)
        s.dim[i] = added[i] ? 1 : x->shape.dim[k++];
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

/* ------------------------------------------------------------ Shape, Size */

int infer_shape(Graph *g, Node *n, Diag *d)
{
    int64_t start = 0, end, dims_out[KILN_MAX_RANK];
    if (need_input0(g, n, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    int rank = x->shape.rank;
    end = rank;
    if (n->opset >= 15 && (attr_int(g, n, "start", 0, &start, d) || attr_int(g, n, "end", rank, &end, d)))
        return 1;
    /* negative counts from the back; both clamp into [0, rank] */
    if (start < 0)
        start += rank;
    if (end < 0)
        end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    Shape s = {1, {end > start ? end - start : 0}};
    for (int64_t i = 0; i < s.dim[0]; i++)
        dims_out[i] = x->shape.dim[start + i];
    op_set_const_out(g, n, 0, DT_I64, &s, dims_out);
    return 0;
}

int infer_size(Graph *g, Node *n, Diag *d)
{
    if (need_input0(g, n, d))
        return 1;
    int64_t numel = shape_numel(&op_in(g, n, 0)->shape);
    Shape scalar = {0, {0}};
    op_set_const_out(g, n, 0, DT_I64, &scalar, &numel);
    return 0;
}

/* --------------------------------------------------------------- Constant */

/* Constant's one value attribute: value (a tensor), value_float(s) (f32
 * scalar or list), value_int(s) (i64 scalar or list). */
int infer_constant(Graph *g, Node *n, Diag *d)
{
    static const char *unsupported[] = {"value_string", "value_strings", "sparse_value"};
    static const char *names[] = {"value", "value_float", "value_floats", "value_int", "value_ints"};
    const Attr *at = NULL;
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (node_attr(n, unsupported[i]))
            return diag_node(d, g, n, "attribute '%s' is not supported (kiln computes numbers and bools only)",
                             unsupported[i]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const Attr *x = node_attr(n, names[i]);
        if (x && at)
            return diag_node(d, g, n, "attributes '%s' and '%s' both give the value", at->name, x->name);
        if (x)
            at = x;
    }
    if (!at)
        return diag_node(d, g, n, "no value attribute (value, value_float(s) or value_int(s))");
    const char *name = at->name;
    Shape scalar = {0, {0}}, list = {1, {at->n}};
    if (!strcmp(name, "value")) {
        if (at->kind != ATTR_TENSOR)
            return diag_node(d, g, n, "attribute 'value' must be a tensor");
        const Tensor *t = at->t;
        if (!dtype_is_computable(t->dtype))
            return diag_node(d, g, n, "value has element type %s, which kiln does not support yet",
                             dtype_name(t->dtype));
        op_set_const_out(g, n, 0, t->dtype, &t->shape, t->data);
    } else if (!strcmp(name, "value_float")) {
        double f;
        if (attr_float(g, n, name, 0, &f, d))
            return 1;
        float v = (float)f;
        op_set_const_out(g, n, 0, DT_F32, &scalar, &v);
    } else if (!strcmp(name, "value_floats")) {
        if (at->kind != ATTR_FLOATS)
            return diag_node(d, g, n, "attribute 'value_floats' must be floats");
        float *v = arena_alloc(g->arena, sizeof(float) * (size_t)(at->n + 1));
        for (int i = 0; i < at->n; i++)
            v[i] = (float)at->floats[i];
        op_set_const_out(g, n, 0, DT_F32, &list, v);
    } else if (!strcmp(name, "value_int")) {
        int64_t v;
        if (attr_int(g, n, name, 0, &v, d))
            return 1;
        op_set_const_out(g, n, 0, DT_I64, &scalar, &v);
    } else {
        if (at->kind != ATTR_INTS)
            return diag_node(d, g, n, "attribute 'value_ints' must be ints");
        op_set_const_out(g, n, 0, DT_I64, &list, at->ints);
    }
    return 0;
}

/* -------------------------------------------------------- ConstantOfShape */

/* ConstantOfShape's fill value: the one element of the `value` tensor
 * attribute, or f32 0 when absent. *out_data is NULL for the default. */
/* ConstantOfShape's parsed attributes (Node.attrs). */
typedef struct CosAttrs {
    DType t;             /* the output's type */
    const void *data;    /* its one value; NULL: 0 */
} CosAttrs;

static int cos_value(Graph *g, Node *n, DType *out_t, const void **out_data, Diag *d)
{
    const Attr *at = node_attr(n, "value");
    *out_t = DT_F32;
    *out_data = NULL;
    if (!at)
        return 0;
    if (at->kind != ATTR_TENSOR)
        return diag_node(d, g, n, "attribute 'value' must be a tensor");
    if (shape_numel(&at->t->shape) != 1)
        return diag_node(d, g, n, "attribute 'value' must have one element, not %lld",
                         (long long)shape_numel(&at->t->shape));
    if (!dtype_is_computable(at->t->dtype))
        return diag_node(d, g, n, "value has element type %s, which kiln does not support yet",
                         dtype_name(at->t->dtype));
    *out_t = at->t->dtype;
    *out_data = at->t->data;
    return 0;
}

int infer_constantofshape(Graph *g, Node *n, Diag *d)
{
    int64_t want[KILN_MAX_RANK];
    int cnt;
    CosAttrs *at = op_attrs(g, n, sizeof *at);
    if (need_input0(g, n, d) || cos_value(g, n, &at->t, &at->data, d) ||
        op_const_ints(g, n, 0, want, KILN_MAX_RANK, &cnt, d))
        return 1;
    if (op_in(g, n, 0)->shape.rank != 1)
        return diag_node(d, g, n, "the shape input must be 1-D, not of rank %d", op_in(g, n, 0)->shape.rank);
    Shape s = {cnt, {0}};
    for (int i = 0; i < cnt; i++) {
        if (want[i] < 0)
            return diag_node(d, g, n, "shape[%d] is %lld; dims must be >= 0", i, (long long)want[i]);
        s.dim[i] = want[i];
    }
    op_set_out(g, n, 0, at->t, &s);
    return 0;
}

int lower_constantofshape(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const CosAttrs *at = n->attrs;
    DType t = at->t;
    const void *data = at->data;
    const Shape *s = &lw_out(L, n, 0)->shape;
    Expr *c[KILN_MAX_RANK];
    Expr *v = data ? literal(a, t, data, 0) : ke_const(a, t, 0);
    /* y[..] = value */
    lw_loops(L, s, NULL, c);
    lw_store(L, n, 0, c, v);
    lw_end_loops(L, s);
    return 0;
}

/* ------------------------------------------------------------------ Range */

static const DType range_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_I8, DT_I16, DT_I32, DT_I64,
                                    DT_U8, DT_U16, DT_U32, DT_U64, DT_UNDEF};

/* Elements of Range(start, limit, delta) = max(ceil((limit - start) / delta), 0),
 * with the difference taken in the inputs' type (as onnxruntime does). */
static int range_count(Graph *g, Node *n, int64_t *out, Diag *d)
{
    DType t = op_in(g, n, 0)->dtype;
    int cnt;
    if (dtype_is_float(t)) {
        double v[3][1];
        for (int i = 0; i < 3; i++)
            if (op_const_floats(g, n, i, v[i], 1, &cnt, d))
                return 1;
        double diff = v[1][0] - v[0][0];
        if (t == DT_F32)
            diff = (float)((float)v[1][0] - (float)v[0][0]);
        double q = ceil(diff / v[2][0]);
        if (v[2][0] == 0 || !isfinite(q) || q > (double)INT32_MAX)
            return diag_node(d, g, n, "start %g, limit %g, delta %g do not make a finite range", v[0][0], v[1][0],
                             v[2][0]);
        *out = q > 0 ? (int64_t)q : 0;
        return 0;
    }
    int64_t v[3][1];
    for (int i = 0; i < 3; i++)
        if (op_const_ints(g, n, i, v[i], 1, &cnt, d))
            return 1;
    int64_t start = v[0][0], limit = v[1][0], delta = v[2][0];
    if (delta == 0)
        return diag_node(d, g, n, "delta is 0");
    /* the count in unsigned 64-bit arithmetic: exact for every start,
     * limit and delta of the type (limit - start may not fit int64) */
    uint64_t count;
    if (!dtype_is_signed(t)) {
        uint64_t s = (uint64_t)start, l = (uint64_t)limit, dl = (uint64_t)delta;
        count = l > s ? (l - s - 1) / dl + 1 : 0;
    } else if (delta > 0) {
        count = limit > start ? ((uint64_t)limit - (uint64_t)start - 1) / (uint64_t)delta + 1 : 0;
    } else {
        count = start > limit ? ((uint64_t)start - (uint64_t)limit - 1) / (0 - (uint64_t)delta) + 1 : 0;
    }
    if (count > (uint64_t)KILN_MAX_BYTES)
        return diag_node(d, g, n, "start %lld, limit %lld, delta %lld make a range of %llu elements, too many",
                         (long long)start, (long long)limit, (long long)delta, (unsigned long long)count);
    *out = (int64_t)count;
    return 0;
}

int infer_range(Graph *g, Node *n, Diag *d)
{
    for (int i = 0; i < 3; i++) {
        const Value *v = op_in(g, n, i);
        if (!v)
            return diag_node(d, g, n, "input %d is required", i);
        if (shape_numel(&v->shape) != 1 || v->shape.rank > 1)
            return diag_node(d, g, n, "input %d ('%s') must be a scalar", i, v->name);
        if (op_same_dtype(g, n, 0, i, d))
            return 1;
    }
    int64_t count = 0;
    if (op_check_dtype(g, n, 0, range_types, d) || range_count(g, n, &count, d))
        return 1;
    Shape s = {1, {count}};
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &s);
    return 0;
}

int lower_range(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Value *y = lw_out(L, n, 0);
    DType t = y->dtype;
    Expr *start = scalar_in(L, n, 0), *delta = scalar_in(L, n, 2);
    /* y[i] = start + i * delta, i < N */
    Expr *i = kb_v(b, kb_for(b, "i", y->shape.dim[0]));
    lw_store(L, n, 0, &i, ke_bin(a, B_ADD, start, ke_bin(a, B_MUL, ke_cast(a, t, i), delta)));
    kb_end(b);
    return 0;
}

/* ---------------------------------------------------------------- EyeLike */

/* EyeLike's output type: the dtype attribute, or the input's type. */
static int eyelike_dtype(Graph *g, Node *n, DType *out, Diag *d)
{
    int64_t t;
    if (attr_int(g, n, "dtype", op_in(g, n, 0)->dtype, &t, d))
        return 1;
    if (t < 0 || t > 64 || !dtype_known((int)t))
        return diag_node(d, g, n, "dtype %lld is not an ONNX element type", (long long)t);
    if (!dtype_is_computable((DType)t) || t == DT_INDEX)
        return diag_node(d, g, n, "dtype %s is not supported yet", dtype_name((DType)t));
    *out = (DType)t;
    return 0;
}

/* EyeLike's parsed attributes (Node.attrs). */
typedef struct EyeAttrs {
    int64_t k;       /* the diagonal's offset */
} EyeAttrs;

int infer_eyelike(Graph *g, Node *n, Diag *d)
{
    DType t = DT_UNDEF;
    EyeAttrs *at = op_attrs(g, n, sizeof *at);
    if (need_input0(g, n, d) || eyelike_dtype(g, n, &t, d) || attr_int(g, n, "k", 0, &at->k, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    if (x->shape.rank != 2)
        return diag_node(d, g, n, "the input must have rank 2, not %d", x->shape.rank);
    op_set_out(g, n, 0, t, &x->shape);
    return 0;
}

int lower_eyelike(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    int64_t k = ((const EyeAttrs *)n->attrs)->k;
    const Value *y = lw_out(L, n, 0);
    DType t = y->dtype;
    /* y[r, c] = (c - r == k) ? 1 : 0, y [R, C] */
    Expr *c[2];
    c[0] = kb_v(b, kb_for(b, "r", y->shape.dim[0]));
    c[1] = kb_v(b, kb_for(b, "c", y->shape.dim[1]));
    Expr *on = ke_bin(a, B_EQ, ke_bin(a, B_SUB, c[1], c[0]), ke_idx(a, k));
    lw_store(L, n, 0, c, ke_select(a, on, ke_const(a, t, 1), ke_const(a, t, 0)));
    kb_end(b);
    kb_end(b);
    return 0;
}
