/*
 * canon.c: canonicalization before fusion.
 *
 *  - Identity, and Dropout in inference (no mask read), disappear: readers
 *    read the input instead (unless the output is a graph output, which
 *    stays a view that lowering turns into a copy).
 *  - BatchNormalization after a Conv or Gemm with constant weights is folded
 *    into them: with BN as y = x * s + shift (batchnorm_affine, norm.c:
 *    s = scale / sqrt(var + eps), shift = bias - mean * s),
 *        W'[m, ...] = W[m, ...] * s[m]
 *        B'[m]      = B[m] * s[m] + shift[m]
 *    and the BN node is removed. (For Gemm, m runs over the output columns:
 *    rows of B when transB, columns otherwise; beta is folded into B'.)
 */
#include "graph.h"
#include "../ops/op.h"

#include <string.h>

/* Identity, or a Dropout that only passes its input through (input 0
 * and output 0 both present). */
static int is_passthrough(const Graph *g, const Node *n)
{
    if (n->nin < 1 || n->in[0] == VNONE || n->nout < 1 || n->out[0] == VNONE)
        return 0;
    if (n->op == OP_IDENTITY)
        return 1;
    if (n->op != OP_DROPOUT || (n->nout > 1 && n->out[1] != VNONE))
        return 0;
    /* training_mode (input 2) must be absent or a constant false */
    if (n->nin > 2 && n->in[2] != VNONE) {
        const Value *t = &g->values[n->in[2]];
        if (t->kind != VAL_CONST || shape_numel(&t->shape) != 1 || dtype_get_i(t->dtype, t->data, 0))
            return 0;
    }
    const Attr *is_test = node_attr(n, "is_test");
    if (n->opset < 7 && is_test && is_test->kind == ATTR_INT && is_test->i == 0)
        return 0;
    return 1;
}

/* Fold BN node `bn` into its producer p (Conv or Gemm), and infer p
 * again, so that its parsed attributes (Node.attrs) see its new inputs.
 * Returns 1 if done, 0 if not foldable, -1 if p's inference failed. */
static int fold_bn(Graph *g, Node *bn, Diag *d)
{
    ValueId x = bn->nin > 0 ? bn->in[0] : VNONE;
    if (x == VNONE)
        return 0;
    Value *xv = &g->values[x];
    if (xv->producer < 0 || xv->nuses != 1 || xv->output >= 0 || !dtype_is_float(xv->dtype))
        return 0;
    NodeId pid = xv->producer;
    Node *p = &g->nodes[pid];
    int gemm = p->op == OP_GEMM;
    if ((p->op != OP_CONV && !gemm) || p->nin < 2 || p->in[1] == VNONE || p->nout < 1 || p->out[0] != x)
        return 0;
    if (xv->shape.rank < 2 || (gemm && xv->shape.rank != 2))
        return 0;
    const Value *w = &g->values[p->in[1]];
    const Value *b = p->nin > 2 && p->in[2] != VNONE ? &g->values[p->in[2]] : NULL;
    int64_t m = xv->shape.dim[1];
    if (w->kind != VAL_CONST || !w->data || w->dtype != xv->dtype ||
        (b && (b->kind != VAL_CONST || !b->data || b->dtype != xv->dtype)))
        return 0;
    if (b && shape_numel(&b->shape) != m && shape_numel(&b->shape) != 1)
        return 0;
    int64_t trans_b = 0;
    double beta = 1, alpha = 1;
    if (gemm) {
        const Attr *a;
        if ((a = node_attr(p, "transB")) && a->kind == ATTR_INT) trans_b = a->i;
        if ((a = node_attr(p, "beta")) && a->kind == ATTR_FLOAT) beta = a->f;
        if ((a = node_attr(p, "alpha")) && a->kind == ATTR_FLOAT) alpha = a->f;
        if (b && b->shape.rank == 2 && b->shape.dim[0] != 1)
            return 0;
        (void)alpha;
    }
    double *s = arena_alloc(g->arena, sizeof(double) * (size_t)(m + 1));
    double *shift = arena_alloc(g->arena, sizeof(double) * (size_t)(m + 1));
    if (!batchnorm_affine(g, bn, m, s, shift))
        return 0;

    DType t = xv->dtype;
    ValueId nw = graph_add_const(g, arena_printf(g->arena, "%s_bn", w->name), t, &w->shape, w->data);
    w = &g->values[p->in[1]];
    Value *wv = &g->values[nw];
    int64_t total = shape_numel(&wv->shape);
    for (int64_t i = 0; i < total; i++) {
        /* which output channel element i belongs to */
        int64_t c;
        if (!gemm)
            c = i / (total / m);
        else
            c = trans_b ? i / wv->shape.dim[1] : i % wv->shape.dim[1];
        dtype_set_f(t, wv->data, i, (float)dtype_get_f(t, wv->data, i) * (float)s[c]);
    }
    Shape bs = {1, {m}};
    ValueId nb = graph_add_const(g, arena_printf(g->arena, "%s_bn_bias", p->name), t, &bs, NULL);
    Value *bv = &g->values[nb];
    b = p->nin > 2 && p->in[2] != VNONE ? &g->values[p->in[2]] : NULL;
    for (int64_t c = 0; c < m; c++) {
        double b0 = b ? beta * dtype_get_f(t, b->data, shape_numel(&b->shape) == 1 ? 0 : c) : 0;
        dtype_set_f(t, bv->data, c, (float)b0 * (float)s[c] + (float)shift[c]);
    }

    /* Rewire: p reads W', B' and writes the BN's output. */
    ValueId *in = arena_alloc(g->arena, sizeof(ValueId) * 4);
    in[0] = p->in[0];
    in[1] = nw;
    in[2] = nb;
    p->in = in;
    p->nin = 3;
    if (gemm) {
        Attr *attr = arena_alloc(g->arena, sizeof(Attr) * (size_t)(p->nattr + 1));
        int na = 0;
        for (int i = 0; i < p->nattr; i++)
            if (strcmp(p->attr[i].name, "beta"))
                attr[na++] = p->attr[i];
        attr[na++] = (Attr){.name = "beta", .kind = ATTR_FLOAT, .f = 1.0};
        p->attr = attr;
        p->nattr = na;
    }
    ValueId y = bn->out[0];
    p->out[0] = y;
    g->values[y].producer = pid;
    g->values[x].producer = -1;
    g->values[x].nuses = 0;
    bn->dead = 1;
    return optab[p->op].infer(g, p, d) ? -1 : 1;
}

/* Two linear passes. First the pass-throughs go: in node order, each
 * input is forwarded through fwd[] (the value a removed node's output
 * stands for, already resolved since nodes are in topological order), so a
 * chain of any length costs one visit per node. Then, with uses counted
 * once, each BatchNormalization folds into its producer; a fold only
 * retargets that producer's output, so the other counts stay right. */
int graph_canon(Graph *g, Diag *d)
{
    ValueId *fwd = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(g->nvalues + 1));
    for (ValueId v = 0; v < g->nvalues; v++)
        fwd[v] = v;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] != VNONE)
                n->in[j] = fwd[n->in[j]];
        if (is_passthrough(g, n) && g->values[n->out[0]].output < 0) {
            fwd[n->out[0]] = n->in[0];
            n->dead = 1;
        }
    }
    graph_count_uses(g);
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (!n->dead && n->op == OP_BATCHNORMALIZATION && fold_bn(g, n, d) < 0)
            return 1;
    }
    graph_count_uses(g);
    return 0;
}
