/*
 * expand.c: subgraphs expanded into the graph that runs them.
 *
 * Where the structure of what a subgraph computes hangs on what it runs
 * on, kiln does not lower its node as one kernel around a body
 * (ops/control.c) but replaces the node, during inference, by copies of
 * the body's nodes placed right after it:
 *   Loop         carrying a sequence or an optional (whose length may
 *                change each iteration), or whose body needs its
 *                iteration number at compile time: one copy per
 *                iteration, the trip count known at compile time and at
 *                most UNROLL_MAX;
 *   SequenceMap  one copy per element of its input sequences;
 *   If           with a condition known at compile time: its branch.
 * Inference goes on over the copies, so each is typed and folded on its
 * own: the element count after iteration i is known when iteration i + 1
 * is inferred. The node is marked dead; its outputs are made by nodes put
 * after the copies (an Identity of a result, a SequenceConstruct of the
 * per-element results, a ConcatFromSequence stacking a Loop's scan
 * outputs). Bodies are copied before anything infers them, so a copy is
 * the model's own nodes; subgraphs nested in a body are cloned per copy.
 */
#include "graph.h"
#include "../ops/op.h"

#include <string.h>


static Attr *clone_attrs(Arena *a, const Attr *at, int n)
{
    Attr *c = arena_alloc(a, sizeof(Attr) * (size_t)(n + 1));
    if (n)
        memcpy(c, at, sizeof(Attr) * (size_t)n);
    for (int i = 0; i < n; i++)
        if (c[i].kind == ATTR_GRAPH && c[i].g)
            c[i].g = graph_clone(a, c[i].g);
    return c;
}

static void *dup(Arena *a, const void *p, size_t bytes)
{
    void *c = arena_alloc(a, bytes ? bytes : 1);
    if (p && bytes)
        memcpy(c, p, bytes);
    return c;
}

Graph *graph_clone(Arena *a, const Graph *b)
{
    Graph *c = arena_alloc(a, sizeof *c);
    *c = *b;
    c->values = dup(a, b->values, sizeof(Value) * (size_t)b->nvalues);
    c->cap_values = b->nvalues;
    c->nodes = dup(a, b->nodes, sizeof(Node) * (size_t)b->nnodes);
    c->cap_nodes = b->nnodes;
    for (int i = 0; i < b->nnodes; i++) {
        Node *n = &c->nodes[i];
        n->in = dup(a, n->in, sizeof(ValueId) * (size_t)n->nin);
        n->out = dup(a, n->out, sizeof(ValueId) * (size_t)n->nout);
        n->attr = clone_attrs(a, n->attr, n->nattr);
    }
    c->inputs = dup(a, b->inputs, sizeof(ValueId) * (size_t)b->ninputs);
    c->cap_inputs = b->ninputs;
    c->outputs = dup(a, b->outputs, sizeof(ValueId) * (size_t)b->noutputs);
    c->cap_outputs = b->noutputs;
    c->caps = dup(a, b->caps, sizeof(ValueId) * (size_t)b->ncaps);
    c->cap_caps = b->ncaps;
    return c;
}

/* The copy in g of body value v: what map[] holds, or for a constant of
 * the body a constant of g (made once, kept in map[] across copies). */
static ValueId map_value(Graph *g, const Graph *body, ValueId *map, ValueId v)
{
    if (v == VNONE || map[v] != VNONE)
        return v == VNONE ? VNONE : map[v];
    const Value *x = &body->values[v];
    if (x->kind != VAL_CONST)
        return VNONE;
    map[v] = graph_add_const(g, graph_fresh_name(g, x->name), x->dtype, &x->shape, x->data);
    return map[v];
}

/* Node `op` at *at (then *at moves past it) reading in[nin], writing out. */
static NodeId put_node(Graph *g, int *at, OpKind op, const char *name, const ValueId *in, int nin, ValueId out,
                       int opset)
{
    NodeId id = graph_insert_node(g, (*at)++, op, name, nin, 1);
    Node *n = &g->nodes[id];
    n->opset = opset;
    for (int j = 0; j < nin; j++)
        n->in[j] = in[j];
    n->out[0] = out;
    g->values[out].producer = id;
    return id;
}

/* Copy body's nodes into g at *at (which moves past them): body input i
 * reads args[i], a value the body captures reads the input of the node
 * `outer_in` that holds it (Value.capture). Every body value's copy is
 * left in map[body->nvalues] (constants made once, kept across calls);
 * `tag` tells the copies' names apart. */
static int copy_body(Graph *g, const Node *owner, const ValueId *outer_in, const Graph *body, const ValueId *args,
                     ValueId *map, const char *tag, int *at, Diag *d)
{
    for (int v = 0; v < body->nvalues; v++)
        if (body->values[v].kind != VAL_CONST)
            map[v] = VNONE;
    for (int i = 0; i < body->ninputs; i++)
        map[body->inputs[i]] = args[i];
    for (int c = 0; c < body->ncaps; c++)
        map[body->caps[c]] = outer_in[body->values[body->caps[c]].capture];
    for (int k = 0; k < body->nnodes; k++) {
        const Node *bn = &body->nodes[k];
        if (bn->dead)
            continue;
        if (bn->op == OP_COUNT)
            return diag_node(d, g, owner, "its body has the unsupported op '%s' (node '%s')", bn->op_type, bn->name);
        const char *name = arena_printf(g->arena, "%s_%s", bn->name, tag);
        NodeId id = graph_insert_node(g, (*at)++, bn->op, name, bn->nin, bn->nout);
        for (int j = 0; j < bn->nin; j++) {
            ValueId v = map_value(g, body, map, bn->in[j]);
            if (bn->in[j] != VNONE && v == VNONE)
                return diag_node(d, g, owner, "body value '%s' has no copy (internal error)",
                                 body->values[bn->in[j]].name);
            g->nodes[id].in[j] = v;
        }
        for (int j = 0; j < bn->nout; j++) {
            if (bn->out[j] == VNONE)
                continue;
            ValueId v = graph_add_fresh(g, arena_printf(g->arena, "%s_%s", body->values[bn->out[j]].name, tag),
                                        VAL_NODE);
            g->values[v].producer = id;
            g->nodes[id].out[j] = v;
            map[bn->out[j]] = v;
        }
        Node *n = &g->nodes[id];
        n->op_type = bn->op_type;
        n->opset = bn->opset;
        n->ncap = bn->ncap;
        n->nattr = bn->nattr;
        n->attr = clone_attrs(g->arena, bn->attr, bn->nattr);
    }
    return 0;
}

/* Body output i's copy (after copy_body); VNONE with a message if none. */
static ValueId result(Graph *g, const Node *owner, const Graph *body, ValueId *map, int i, Diag *d)
{
    ValueId v = map_value(g, body, map, body->outputs[i]);
    if (v == VNONE)
        diag_node(d, g, owner, "body output '%s' has no copy (internal error)", body->values[body->outputs[i]].name);
    return v;
}

/* The node's copy, for messages after g->nodes may have moved. */
static Node snapshot(const Graph *g, NodeId id) { return g->nodes[id]; }

int graph_inline_branch(Graph *g, NodeId id, const Graph *body, Diag *d)
{
    Node n = snapshot(g, id);
    if (body->ninputs != 0 || body->noutputs != n.nout)
        return diag_node(d, g, &n, "its branch has %d inputs and %d outputs, expected none and %d", body->ninputs,
                         body->noutputs, n.nout);
    ValueId *map = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(body->nvalues + 1));
    for (int v = 0; v < body->nvalues; v++)
        map[v] = VNONE;
    int at = id + 1;
    if (copy_body(g, &n, n.in, body, NULL, map, n.name, &at, d))
        return 1;
    for (int o = 0; o < n.nout; o++) {
        ValueId r = result(g, &n, body, map, o, d);
        if (r == VNONE)
            return 1;
        if (n.out[o] != VNONE)
            put_node(g, &at, OP_IDENTITY, g->values[n.out[o]].name, &r, 1, n.out[o], g->opset);
    }
    g->nodes[id].dead = 1;
    return 0;
}

/* An i64 scalar constant. */
static ValueId i64_scalar(Graph *g, const char *name, int64_t v)
{
    Shape s = {0, {0}};
    return graph_add_const(g, graph_fresh_name(g, name), DT_I64, &s, &v);
}

int graph_unroll_loop(Graph *g, NodeId id, const Graph *body, int64_t m, Diag *d)
{
    Node n = snapshot(g, id);
    Arena *a = g->arena;
    int nreal = n.nin - n.ncap, nstate = nreal > 2 ? nreal - 2 : 0, nscan = body->noutputs - 1 - nstate;
    if (body->ninputs != nstate + 2 || nscan < 0 || n.nout != nstate + nscan)
        return diag_node(d, g, &n, "body has %d inputs and %d outputs: expected %d and the condition, %d carried "
                                   "values and the scan outputs",
                         body->ninputs, body->noutputs, nstate + 2, nstate);
    if (m > UNROLL_MAX)
        return diag_node(d, g, &n, "kiln expands this loop per iteration at compile time (it carries or reads a "
                                   "sequence or an optional, or its body needs the iteration number): its trip count "
                                   "%lld is more than %d",
                         (long long)m, UNROLL_MAX);
    if (nscan > 0 && m == 0)
        return diag_node(d, g, &n, "kiln expands this loop per iteration at compile time, and it runs none: kiln "
                                   "cannot type its empty scan outputs");
    ValueId *map = arena_alloc(a, sizeof(ValueId) * (size_t)(body->nvalues + 1));
    for (int v = 0; v < body->nvalues; v++)
        map[v] = VNONE;
    ValueId *args = arena_alloc(a, sizeof(ValueId) * (size_t)(nstate + 2));
    ValueId *scan = arena_alloc(a, sizeof(ValueId) * (size_t)(nscan * m + 1));
    if (n.in[1] != VNONE) {
        args[1] = n.in[1];
    } else {
        unsigned char one = 1;
        Shape s = {0, {0}};
        args[1] = graph_add_const(g, graph_fresh_name(g, arena_printf(a, "%s_cond", n.name)), DT_BOOL, &s, &one);
    }
    for (int j = 0; j < nstate; j++)
        args[2 + j] = n.in[2 + j];
    int at = id + 1;
    for (int64_t k = 0; k < m; k++) {
        const char *tag = arena_printf(a, "%s_%lld", n.name, (long long)k);
        args[0] = i64_scalar(g, arena_printf(a, "%s_iter", tag), k);
        if (copy_body(g, &n, n.in, body, args, map, tag, &at, d))
            return 1;
        for (int j = 0; j < nstate + nscan; j++) {
            ValueId r = result(g, &n, body, map, 1 + j, d);
            if (r == VNONE)
                return 1;
            if (j < nstate)
                args[2 + j] = r;
            else
                scan[(j - nstate) * m + k] = r;
        }
    }
    for (int j = 0; j < nstate; j++)
        if (n.out[j] != VNONE)
            put_node(g, &at, OP_IDENTITY, g->values[n.out[j]].name, &args[2 + j], 1, n.out[j], n.opset);
    for (int s = 0; s < nscan; s++) {
        ValueId out = n.out[nstate + s];
        if (out == VNONE)
            continue;
        /* scan output s: its M per-iteration values stacked on a new axis 0 */
        const char *name = g->values[out].name;
        ValueId seq = graph_add_fresh(g, arena_printf(a, "%s_rows", name), VAL_NODE);
        put_node(g, &at, OP_SEQUENCECONSTRUCT, g->values[seq].name, &scan[s * m], (int)m, seq, n.opset);
        NodeId c = put_node(g, &at, OP_CONCATFROMSEQUENCE, name, &seq, 1, out, n.opset > 11 ? n.opset : 11);
        Attr *at2 = arena_alloc(a, sizeof(Attr) * 2);
        at2[0] = (Attr){.name = "axis", .kind = ATTR_INT, .i = 0};
        at2[1] = (Attr){.name = "new_axis", .kind = ATTR_INT, .i = 1};
        g->nodes[c].attr = at2;
        g->nodes[c].nattr = 2;
    }
    g->nodes[id].dead = 1;
    return 0;
}

int graph_expand_map(Graph *g, NodeId id, const Graph *body, Diag *d)
{
    Node n = snapshot(g, id);
    Arena *a = g->arena;
    int nreal = n.nin - n.ncap;
    if (body->ninputs != nreal || body->noutputs != n.nout)
        return diag_node(d, g, &n, "body has %d inputs and %d outputs, the node %d and %d", body->ninputs,
                         body->noutputs, nreal, n.nout);
    int len = g->values[n.in[0]].nelems;
    for (int i = 0; i < nreal; i++) {
        const Value *x = &g->values[n.in[i]];
        if (x->kind == VAL_SEQ && (x->absent || x->nelems != len))
            return diag_node(d, g, &n, "input %d ('%s') is %s, input 0 a sequence of %d", i, x->name,
                             x->absent ? "an absent optional" : arena_printf(a, "a sequence of %d", x->nelems), len);
    }
    if (len == 0)
        return diag_node(d, g, &n, "maps an empty sequence: kiln cannot type the empty sequences it makes");
    ValueId *map = arena_alloc(a, sizeof(ValueId) * (size_t)(body->nvalues + 1));
    for (int v = 0; v < body->nvalues; v++)
        map[v] = VNONE;
    ValueId *args = arena_alloc(a, sizeof(ValueId) * (size_t)(nreal + 1));
    ValueId *outs = arena_alloc(a, sizeof(ValueId) * (size_t)(n.nout * len + 1));
    int at = id + 1;
    for (int e = 0; e < len; e++) {
        for (int i = 0; i < nreal; i++) {
            const Value *x = &g->values[n.in[i]];
            args[i] = x->kind == VAL_SEQ ? x->elems[e] : n.in[i];
        }
        if (copy_body(g, &n, n.in, body, args, map, arena_printf(a, "%s_%d", n.name, e), &at, d))
            return 1;
        for (int o = 0; o < n.nout; o++)
            if ((outs[o * len + e] = result(g, &n, body, map, o, d)) == VNONE)
                return 1;
    }
    for (int o = 0; o < n.nout; o++)
        if (n.out[o] != VNONE)
            put_node(g, &at, OP_SEQUENCECONSTRUCT, g->values[n.out[o]].name, &outs[o * len], len, n.out[o],
                     n.opset);
    g->nodes[id].dead = 1;
    return 0;
}
