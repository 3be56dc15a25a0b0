/*
 * sequence.c: the sequence and optional ops, and Identity.
 *
 * A sequence is an ordered list of tensor values of one dtype whose length
 * is known at compile time; an optional is its content or, known at
 * compile time, absent (graph/seq.c). So no op here computes anything at
 * run time: each infer rule rewrites its node into tensors while inference
 * passes over it, and inference goes on to type what it made:
 *   SequenceConstruct, SequenceEmpty, SequenceInsert, SequenceErase,
 *   Identity of a sequence, Optional, OptionalGetElement of a sequence:
 *       the output is a new list of the same element values; node removed
 *   SequenceAt, OptionalGetElement of a tensor: an Identity of the element
 *   SequenceLength, OptionalHasElement: a constant
 *   SplitToSequence: a Split (with keepdims=0, a Squeeze per piece after it)
 *   ConcatFromSequence: a Concat (with new_axis=1, an Unsqueeze per element
 *       before it)
 * Positions (SequenceAt, SequenceInsert, SequenceErase) and split sizes
 * must be known at compile time (kiln check specializes a graph input that
 * gives one). SequenceMap becomes one copy of its body per element
 * (graph/expand.c), then a SequenceConstruct of the copies' results.
 */
#include "op.h"

#include <string.h>

/* Input i of n as a sequence (never absent); NULL with a message if it is
 * not one. */
static const Value *seq_in(Graph *g, Node *n, int i, Diag *d)
{
    const Value *s = op_in(g, n, i);
    if (!s || s->kind != VAL_SEQ || !s->seq || s->absent) {
        diag_node(d, g, n, "input %d ('%s') must be a sequence", i, s ? s->name : "");
        return NULL;
    }
    return s;
}

/* Output 0 of n is the sequence elems[ne] of dtype t; n has no work left. */
static void seq_out(Graph *g, Node *n, DType t, const ValueId *elems, int ne)
{
    graph_set_seq(g, n->out[0], t, elems, ne);
    n->dead = 1;
}

/* Make n read `x` through an Identity: what an element taken out of a
 * sequence or an optional becomes. */
static int become_identity(Graph *g, Node *n, ValueId x, Diag *d)
{
    n->op = OP_IDENTITY;
    n->op_type = optab[OP_IDENTITY].name;
    n->nin = 1;
    n->in[0] = x;
    n->nattr = 0;
    return infer_identity(g, n, d);
}

/* A compile-time position into a sequence of `len` elements, in [-len,
 * len - 1 + past] (past: one past the end allowed, for an insert). */
static int position(Graph *g, Node *n, int i, int64_t len, int past, int64_t def, int64_t *out, Diag *d)
{
    int64_t p[1];
    int np;
    if (op_const_ints(g, n, i, p, 1, &np, d))
        return 1;
    if (np < 0) {
        *out = def;
        return 0;
    }
    if (np != 1)
        return diag_node(d, g, n, "position has %d values, expected one", np);
    if (p[0] < -len || p[0] > len - 1 + past)
        return diag_node(d, g, n, "position %lld is out of range for a sequence of %lld", (long long)p[0],
                         (long long)len);
    *out = p[0] < 0 ? p[0] + len : p[0];
    return 0;
}

int infer_identity(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    if (x && x->kind == VAL_SEQ) {
        int seq = x->seq, opt = x->opt, absent = x->absent;
        seq_out(g, n, x->dtype, x->elems, x->nelems);
        Value *y = &g->values[n->out[0]];
        y->seq = seq;
        y->opt = opt;
        y->absent = absent;
        return 0;
    }
    if (infer_unary(g, n, d))
        return 1;
    g->values[n->out[0]].opt = g->values[n->in[0]].opt;
    return 0;
}

int infer_seqconstruct(Graph *g, Node *n, Diag *d)
{
    for (int i = 0; i < n->nin; i++) {
        const Value *x = op_in(g, n, i);
        if (!x || x->kind == VAL_SEQ)
            return diag_node(d, g, n, "input %d must be a tensor", i);
        if (op_same_dtype(g, n, 0, i, d))
            return 1;
    }
    seq_out(g, n, g->values[n->in[0]].dtype, n->in, n->nin);
    return 0;
}

int infer_seqempty(Graph *g, Node *n, Diag *d)
{
    int64_t t;
    if (attr_int(g, n, "dtype", DT_F32, &t, d))
        return 1;
    if (!dtype_known((int)t) || t == DT_UNDEF || !dtype_is_computable((DType)t))
        return diag_node(d, g, n, "dtype %lld is not a type kiln supports", (long long)t);
    seq_out(g, n, (DType)t, NULL, 0);
    return 0;
}

int infer_seqinsert(Graph *g, Node *n, Diag *d)
{
    const Value *s = seq_in(g, n, 0, d), *x = op_in(g, n, 1);
    if (!s)
        return 1;
    if (x->kind == VAL_SEQ)
        return diag_node(d, g, n, "input 1 must be a tensor");
    if (x->dtype != s->dtype)
        return diag_node(d, g, n, "inserts a %s tensor into a sequence of %s", dtype_name(x->dtype),
                         dtype_name(s->dtype));
    int64_t len = s->nelems, at;
    if (position(g, n, 2, len, 1, len, &at, d))
        return 1;
    ValueId *e = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(len + 2));
    for (int64_t i = 0, k = 0; i <= len; i++)
        e[i] = i == at ? n->in[1] : s->elems[k++];
    seq_out(g, n, s->dtype, e, (int)len + 1);
    return 0;
}

int infer_seqerase(Graph *g, Node *n, Diag *d)
{
    const Value *s = seq_in(g, n, 0, d);
    if (!s)
        return 1;
    int64_t len = s->nelems, at;
    if (len == 0)
        return diag_node(d, g, n, "erases from an empty sequence");
    if (position(g, n, 1, len, 0, len - 1, &at, d))
        return 1;
    ValueId *e = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(len + 1));
    for (int64_t i = 0, k = 0; i < len; i++)
        if (i != at)
            e[k++] = s->elems[i];
    seq_out(g, n, s->dtype, e, (int)len - 1);
    return 0;
}

int infer_seqat(Graph *g, Node *n, Diag *d)
{
    const Value *s = seq_in(g, n, 0, d);
    if (!s)
        return 1;
    int64_t at;
    if (s->nelems == 0)
        return diag_node(d, g, n, "reads from an empty sequence");
    if (!op_in(g, n, 1))
        return diag_node(d, g, n, "needs a position");
    if (position(g, n, 1, s->nelems, 0, 0, &at, d))
        return 1;
    return become_identity(g, n, s->elems[at], d);
}

int infer_seqlength(Graph *g, Node *n, Diag *d)
{
    const Value *s = seq_in(g, n, 0, d);
    if (!s)
        return 1;
    int64_t len = s->nelems;
    Shape sc = {0, {0}};
    op_set_const_out(g, n, 0, DT_I64, &sc, &len);
    return 0;
}

int infer_optional(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    if (!x) {
        /* an absent optional of the type the attribute gives */
        const Attr *t = node_attr(n, "type");
        if (!t || t->kind != ATTR_TYPE_PROTO || t->topt)
            return diag_node(d, g, n, "without an input, attribute 'type' (a tensor or a sequence type) is required");
        if (!dtype_is_computable(t->tdtype))
            return diag_node(d, g, n, "type has element type %s, which kiln does not support", dtype_name(t->tdtype));
        int seq = t->tseq;
        seq_out(g, n, t->tdtype, NULL, 0);
        Value *y = &g->values[n->out[0]];
        y->seq = seq;
        y->opt = 1;
        y->absent = 1;
        return 0;
    }
    if (x->opt)
        return diag_node(d, g, n, "input '%s' is already an optional", x->name);
    if (infer_identity(g, n, d))
        return 1;
    g->values[n->out[0]].opt = 1;
    return 0;
}

/* One copy of the body per element (graph/expand.c): the sequences'
 * lengths are known at compile time. */
int infer_seqmap(Graph *g, Node *n, Diag *d)
{
    if (!seq_in(g, n, 0, d))
        return 1;
    const Attr *body = node_attr(n, "body");
    if (!body || body->kind != ATTR_GRAPH || !body->g)
        return diag_node(d, g, n, "graph attribute 'body' is required");
    return graph_expand_map(g, (NodeId)(n - g->nodes), body->g, d);
}

int infer_opthas(Graph *g, Node *n, Diag *d)
{
    (void)d;
    const Value *x = op_in(g, n, 0);
    /* no input: an absent optional; a tensor or sequence that is not an
     * optional always has its element */
    unsigned char has = x && !x->absent;
    Shape sc = {0, {0}};
    op_set_const_out(g, n, 0, DT_BOOL, &sc, &has);
    return 0;
}

int infer_optget(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    if (x->absent)
        return diag_node(d, g, n, "input '%s' is an absent optional (kiln compiled for it absent): it has no element",
                         x->name);
    if (x->kind == VAL_SEQ) {
        seq_out(g, n, x->dtype, x->elems, x->nelems);
        return 0;
    }
    if (become_identity(g, n, n->in[0], d))
        return 1;
    g->values[n->out[0]].opt = 0;
    return 0;
}

/* An INT attribute list of one entry. */
static Attr *int_attr(Graph *g, const char *name, int64_t v)
{
    Attr *a = arena_alloc(g->arena, sizeof *a);
    a->name = name;
    a->kind = ATTR_INT;
    a->i = v;
    return a;
}

/* A constant i64 vector. */
static ValueId i64_const(Graph *g, const char *name, const int64_t *v, int n)
{
    Shape s = {1, {n}};
    return graph_add_const(g, arena_printf(g->arena, "%s", name), DT_I64, &s, v);
}

int infer_splittoseq(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t axis, keep, split[64];
    int ax, ns;
    if (x->kind == VAL_SEQ)
        return diag_node(d, g, n, "input 0 must be a tensor");
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "cannot split a scalar");
    if (attr_int(g, n, "axis", 0, &axis, d) || attr_int(g, n, "keepdims", 1, &keep, d) ||
        op_axis(g, n, axis, x->shape.rank, &ax, d) || op_const_ints(g, n, 1, split, 64, &ns, d))
        return 1;
    int64_t dim = x->shape.dim[ax], sizes[64];
    int parts;
    const Value *sp = op_in(g, n, 1);
    if (ns < 0) {
        /* no split: pieces of one, each squeezed unless keepdims */
        if (dim > 64)
            return diag_node(d, g, n, "splits into %lld pieces, at most 64 are supported", (long long)dim);
        parts = (int)dim;
        for (int i = 0; i < parts; i++)
            sizes[i] = 1;
    } else if (sp->shape.rank == 0) {
        /* a scalar: pieces of that size, the last one smaller */
        if (split[0] <= 0)
            return diag_node(d, g, n, "split %lld is not positive", (long long)split[0]);
        int64_t p = (dim + split[0] - 1) / split[0];
        if (p > 64)
            return diag_node(d, g, n, "splits into %lld pieces, at most 64 are supported", (long long)p);
        parts = (int)p;
        for (int i = 0; i < parts; i++)
            sizes[i] = i == parts - 1 ? dim - split[0] * (parts - 1) : split[0];
    } else {
        int64_t sum = 0;
        for (int i = 0; i < ns; i++) {
            if (split[i] < 0 || split[i] > dim)
                return diag_node(d, g, n, "split entry %d is %lld, out of range", i, (long long)split[i]);
            sum += split[i];
            sizes[i] = split[i];
        }
        if (sum != dim)
            return diag_node(d, g, n, "split sums to %lld, axis %d has %lld", (long long)sum, ax, (long long)dim);
        parts = ns;
    }
    int squeeze = ns < 0 && !keep;
    DType t = x->dtype;
    ValueId seq = n->out[0], data = n->in[0];
    int at = (int)(n - g->nodes);
    const char *base = g->values[seq].name;
    if (parts == 0) {
        seq_out(g, n, t, NULL, 0);
        return 0;
    }
    /* node `at` becomes Split(data, sizes) with a fresh output per piece */
    ValueId sizes_c = i64_const(g, arena_printf(g->arena, "%s_sizes", base), sizes, parts);
    ValueId *pieces = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(parts + 1));
    for (int i = 0; i < parts; i++) {
        pieces[i] = graph_add_fresh(g, arena_printf(g->arena, "%s_%d", base, i), VAL_NODE);
        g->values[pieces[i]].producer = at;
    }
    n = &g->nodes[at];
    n->op = OP_SPLIT;
    n->op_type = optab[OP_SPLIT].name;
    n->opset = n->opset > 18 ? n->opset : 18;
    n->in = arena_alloc(g->arena, sizeof(ValueId) * 3);
    n->in[0] = data;
    n->in[1] = sizes_c;
    n->nin = 2;
    n->out = pieces;
    n->nout = parts;
    n->attr = int_attr(g, "axis", ax);
    n->nattr = 1;
    ValueId *elems = pieces;
    if (squeeze) {
        /* keepdims=0: each piece of one squeezed (nodes after the Split,
         * which inference types next) */
        int64_t axes[1] = {ax};
        ValueId axes_c = i64_const(g, arena_printf(g->arena, "%s_axes", base), axes, 1);
        elems = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(parts + 1));
        for (int i = 0; i < parts; i++) {
            NodeId q = graph_insert_node(g, at + 1 + i, OP_SQUEEZE,
                                         arena_printf(g->arena, "%s_squeeze_%d", g->nodes[at].name, i), 2, 1);
            elems[i] = graph_add_fresh(g, arena_printf(g->arena, "%s_%d_squeezed", base, i), VAL_NODE);
            Node *qn = &g->nodes[q];
            qn->opset = g->nodes[at].opset;
            qn->in[0] = pieces[i];
            qn->in[1] = axes_c;
            qn->out[0] = elems[i];
            g->values[elems[i]].producer = q;
        }
    }
    graph_set_seq(g, seq, t, elems, parts);
    return infer_split(g, &g->nodes[at], d);
}

int infer_concatfromseq(Graph *g, Node *n, Diag *d)
{
    const Value *s = seq_in(g, n, 0, d);
    if (!s)
        return 1;
    int64_t axis, new_axis;
    if (attr_int(g, n, "axis", 0, &axis, d) || attr_int(g, n, "new_axis", 0, &new_axis, d))
        return 1;
    int ne = s->nelems, at = (int)(n - g->nodes);
    if (ne == 0)
        return diag_node(d, g, n, "concatenates an empty sequence");
    ValueId *ins = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(ne + 1));
    memcpy(ins, s->elems, sizeof(ValueId) * (size_t)ne);
    int rank = g->values[ins[0]].shape.rank, ax;
    if (op_axis(g, n, axis, rank + (new_axis != 0), &ax, d))
        return 1;
    ValueId out = n->out[0];
    const char *name = n->name;
    if (new_axis) {
        /* stacked: each element unsqueezed at ax (nodes before the
         * Concat, which moves after them) */
        int64_t axes[1] = {ax};
        ValueId axes_c = i64_const(g, arena_printf(g->arena, "%s_axes", name), axes, 1);
        for (int i = 0; i < ne; i++) {
            NodeId q = graph_insert_node(g, at + i, OP_UNSQUEEZE, arena_printf(g->arena, "%s_unsqueeze_%d", name, i),
                                         2, 1);
            ValueId u = graph_add_fresh(g, arena_printf(g->arena, "%s_%d_unsqueezed", name, i), VAL_NODE);
            Node *qn = &g->nodes[q];
            qn->opset = 13;
            qn->in[0] = ins[i];
            qn->in[1] = axes_c;
            qn->out[0] = u;
            g->values[u].producer = q;
            ins[i] = u;
        }
        at += ne;
    }
    n = &g->nodes[at];
    n->op = OP_CONCAT;
    n->op_type = optab[OP_CONCAT].name;
    n->opset = n->opset > 13 ? n->opset : 13;
    n->in = ins;
    n->nin = ne;
    n->attr = int_attr(g, "axis", ax);
    n->nattr = 1;
    g->values[out].producer = at;
    if (new_axis)
        return infer_unsqueeze(g, &g->nodes[at - ne], d); /* the loop types the rest, then this Concat */
    return infer_concat(g, n, d);
}
