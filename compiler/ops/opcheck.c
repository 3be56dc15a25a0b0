/*
 * opcheck.c: what every shape rule uses to read a node.
 *
 * Attribute accessors check the attribute's kind; constant-input readers
 * turn a constant tensor (or, under kiln check, a graph input whose value
 * the test data gives) into integers for shape arithmetic. Every failure is
 * a message naming the node.
 */
#include "op.h"

#include <string.h>

Value *op_in(Graph *g, const Node *n, int i)
{
    if (i < 0 || i >= n->nin || n->in[i] == VNONE)
        return NULL;
    return &g->values[n->in[i]];
}

void *op_attrs(Graph *g, Node *n, size_t size)
{
    n->attrs = arena_alloc(g->arena, size);
    return n->attrs;
}

void op_set_out(Graph *g, Node *n, int i, DType t, const Shape *s)
{
    if (i >= n->nout || n->out[i] == VNONE)
        return;
    Value *v = &g->values[n->out[i]];
    v->dtype = t;
    v->shape = *s;
    v->typed = 1;
}

void op_set_dyn(Graph *g, Node *n, int i, int axis)
{
    if (i >= n->nout || n->out[i] == VNONE)
        return;
    Value *v = &g->values[n->out[i]];
    v->dynamic = 1;
    v->dyn_axis = axis;
}

void op_set_const_out(Graph *g, Node *n, int i, DType t, const Shape *s, const void *data)
{
    int64_t numel;
    if (i >= n->nout || n->out[i] == VNONE)
        return;
    if (shape_check(s, dtype_size(t), &numel)) {
        op_set_out(g, n, i, t, s); /* no data for a shape that large: inference rejects it */
        return;
    }
    Value *v = &g->values[n->out[i]];
    size_t bytes = (size_t)dtype_bytes(t, numel);
    v->dtype = t;
    v->shape = *s;
    v->typed = 1;
    v->kind = VAL_CONST;
    v->data = arena_alloc(g->arena, bytes ? bytes : 1);
    if (data && bytes)
        memcpy(v->data, data, bytes);
}

static const Attr *get(Node *n, const char *name) { return node_attr(n, name); }

static const char *kind_name(AttrKind k)
{
    static const char *names[] = {"undefined", "float", "int", "string", "tensor", "graph",
                                  "floats", "ints", "strings", "tensors", "graphs"};
    return k >= 0 && k <= 10 ? names[k] : "unknown";
}

static int wrong(Graph *g, Node *n, const Attr *a, const char *want, Diag *d)
{
    return diag_node(d, g, n, "attribute '%s' is %s, expected %s", a->name, kind_name(a->kind), want);
}

int attr_int(Graph *g, Node *n, const char *name, int64_t def, int64_t *out, Diag *d)
{
    const Attr *a = get(n, name);
    *out = def;
    if (!a)
        return 0;
    if (a->kind != ATTR_INT)
        return wrong(g, n, a, "int", d);
    *out = a->i;
    return 0;
}

int attr_float(Graph *g, Node *n, const char *name, double def, double *out, Diag *d)
{
    const Attr *a = get(n, name);
    *out = def;
    if (!a)
        return 0;
    if (a->kind == ATTR_INT) { /* some exporters write 1 for 1.0 */
        *out = (double)a->i;
        return 0;
    }
    if (a->kind != ATTR_FLOAT)
        return wrong(g, n, a, "float", d);
    *out = a->f;
    return 0;
}

int attr_str(Graph *g, Node *n, const char *name, const char *def, const char **out, Diag *d)
{
    const Attr *a = get(n, name);
    *out = def;
    if (!a)
        return 0;
    if (a->kind != ATTR_STRING)
        return wrong(g, n, a, "string", d);
    *out = a->s;
    return 0;
}

int attr_ints(Graph *g, Node *n, const char *name, int64_t *out, int max, int *out_n, Diag *d)
{
    const Attr *a = get(n, name);
    *out_n = -1;
    if (!a)
        return 0;
    if (a->kind != ATTR_INTS)
        return wrong(g, n, a, "ints", d);
    if (a->n > max)
        return diag_node(d, g, n, "attribute '%s' has %d values, at most %d are supported", name, a->n, max);
    if (a->n > 0) /* an empty list may have no array */
        memcpy(out, a->ints, sizeof(int64_t) * (size_t)a->n);
    *out_n = a->n;
    return 0;
}

int attr_floats(Graph *g, Node *n, const char *name, double *out, int max, int *out_n, Diag *d)
{
    const Attr *a = get(n, name);
    *out_n = -1;
    if (!a)
        return 0;
    if (a->kind != ATTR_FLOATS)
        return wrong(g, n, a, "floats", d);
    if (a->n > max)
        return diag_node(d, g, n, "attribute '%s' has %d values, at most %d are supported", name, a->n, max);
    if (a->n > 0)
        memcpy(out, a->floats, sizeof(double) * (size_t)a->n);
    *out_n = a->n;
    return 0;
}

const void *op_const_data(Graph *g, const Node *n, int i)
{
    const Value *v = op_in(g, n, i);
    if (!v)
        return NULL;
    if (v->kind == VAL_CONST)
        return v->data;
    g->need_const = n->in[i];
    return NULL;
}

static int need(Graph *g, Node *n, int i, Diag *d)
{
    const Value *v = op_in(g, n, i);
    return diag_node(d, g, n,
                     "input %d ('%s') must be known at compile time: kiln compiles for static shapes "
                     "(make it an initializer or a constant expression)",
                     i, v ? v->name : "");
}

int op_const_ints(Graph *g, Node *n, int i, int64_t *out, int max, int *out_n, Diag *d)
{
    const Value *v = op_in(g, n, i);
    *out_n = -1;
    if (!v)
        return 0;
    const void *data = op_const_data(g, n, i);
    if (!data)
        return need(g, n, i, d);
    if (!dtype_is_int(v->dtype))
        return diag_node(d, g, n, "input %d ('%s') must be an integer tensor, not %s", i, v->name,
                         dtype_name(v->dtype));
    int64_t cnt = shape_numel(&v->shape);
    if (cnt > max)
        return diag_node(d, g, n, "input %d ('%s') has %lld values, at most %d are supported", i, v->name,
                         (long long)cnt, max);
    for (int64_t k = 0; k < cnt; k++)
        out[k] = dtype_get_i(v->dtype, data, k);
    *out_n = (int)cnt;
    return 0;
}

int op_const_floats(Graph *g, Node *n, int i, double *out, int max, int *out_n, Diag *d)
{
    const Value *v = op_in(g, n, i);
    *out_n = -1;
    if (!v)
        return 0;
    const void *data = op_const_data(g, n, i);
    if (!data)
        return need(g, n, i, d);
    int64_t cnt = shape_numel(&v->shape);
    if (cnt > max)
        return diag_node(d, g, n, "input %d ('%s') has %lld values, at most %d are supported", i, v->name,
                         (long long)cnt, max);
    for (int64_t k = 0; k < cnt; k++)
        out[k] = dtype_get_f(v->dtype, data, k);
    *out_n = (int)cnt;
    return 0;
}

int op_axis(Graph *g, Node *n, int64_t axis, int rank, int *out, Diag *d)
{
    if (axis < -rank || axis >= (rank ? rank : 1))
        return diag_node(d, g, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

int op_axes(Graph *g, Node *n, const int64_t *axes, int *naxes, int rank, int *out, Diag *d)
{
    if (*naxes < 0) {
        *naxes = rank;
        for (int i = 0; i < rank; i++)
            out[i] = i;
        return 0;
    }
    for (int i = 0; i < *naxes; i++) {
        if (op_axis(g, n, axes[i], rank, &out[i], d))
            return 1;
        for (int j = 0; j < i; j++)
            if (out[j] == out[i])
                return diag_node(d, g, n, "axis %d is listed twice in 'axes'", out[i]);
    }
    return 0;
}

const DType op_float_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_UNDEF};

DType op_calc_type(DType t) { return dtype_is_half(t) ? DT_F32 : t; }

int op_check_dtype(Graph *g, Node *n, int i, const DType *ok, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (!v)
        return 0;
    for (const DType *t = ok; *t != DT_UNDEF; t++)
        if (*t == v->dtype)
            return 0;
    return diag_node(d, g, n, "input %d ('%s') has type %s, which this op does not support", i, v->name,
                     dtype_name(v->dtype));
}

int op_same_dtype(Graph *g, Node *n, int i, int j, Diag *d)
{
    const Value *a = op_in(g, n, i), *b = op_in(g, n, j);
    if (a && b && a->dtype != b->dtype)
        return diag_node(d, g, n, "inputs %d and %d have different types (%s and %s)", i, j,
                         dtype_name(a->dtype), dtype_name(b->dtype));
    return 0;
}
