/*
 * infer.c: shape and dtype inference, with constant folding on the way.
 *
 * Nodes are visited in topological order. Each op's infer rule checks its
 * inputs and attributes and types its outputs; then, if every input is a
 * constant, the node is folded (fold.c). Folding as we go is what lets a
 * PyTorch export's Shape -> Gather -> Concat -> Reshape chain resolve: by the
 * time the Reshape is inferred, its shape input is a constant. Sequence
 * and optional ops rewrite themselves into tensor ops here (ops/sequence.c),
 * inserting nodes that the walk then visits.
 */
#include "graph.h"
#include "../ops/op.h"

/* May n read and write values of packed types (float8, 4-bit, 2-bit)?
 * The ops that convert them (OPF_PACKED), and views, which only pass
 * their bytes on. */
static int takes_packed(const Node *n) { return (optab[n->op].flags & (OPF_PACKED | OPF_VIEW)) != 0; }

static int check_inputs(Graph *g, Node *n, Diag *d)
{
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i] == VNONE) {
            /* "" for a required input: op rules may assume required inputs exist */
            if (i < optab[n->op].min_in)
                return diag_node(d, g, n, "input %d is required but the model leaves it empty", i);
            continue;
        }
        const Value *v = &g->values[n->in[i]];
        if (v->dynamic)
            return diag_node(d, g, n,
                             "a data-dependent shape flows into this node: input '%s' has an extent known "
                             "only at run time, which kiln supports only in a graph output",
                             v->name);
        if (!v->typed)
            return diag_node(d, g, n, "input '%s' has no type (internal error: not inferred)", v->name);
        if (v->kind == VAL_SEQ && !(optab[n->op].flags & OPF_SEQ))
            return diag_node(d, g, n, "input '%s' is %s; this op takes tensors", v->name,
                             v->absent ? "an absent optional" : "a sequence");
        if (dtype_is_packed(v->dtype) && !takes_packed(n))
            return diag_node(d, g, n,
                             "input '%s' has element type %s, which kiln supports only in Cast, CastLike, "
                             "QuantizeLinear, DequantizeLinear and reshaping views",
                             v->name, dtype_name(v->dtype));
        if (dtype_is_string(v->dtype) && !(optab[n->op].flags & OPF_STRING))
            return diag_node(d, g, n, "input '%s' is a string tensor, which kiln supports only in Equal, "
                             "StringConcat, StringSplit, StringNormalizer, RegexFullMatch and LabelEncoder",
                             v->name);
        if (dtype_is_string(v->dtype) && v->kind == VAL_CONST)
            return diag_node(d, g, n, "input '%s' is a constant string tensor, which kiln does not support "
                             "(constant strings are supported as attributes)", v->name);
        if (!dtype_is_computable(v->dtype) && !dtype_is_packed(v->dtype) && !dtype_is_string(v->dtype))
            return diag_node(d, g, n, "input '%s' has element type %s, which kiln does not support yet",
                             v->name, dtype_name(v->dtype));
    }
    return 0;
}

/* Did inference compute every output (Shape, Constant)? */
static int outputs_const(const Graph *g, const Node *n)
{
    for (int i = 0; i < n->nout; i++)
        if (n->out[i] != VNONE && g->values[n->out[i]].kind != VAL_CONST)
            return 0;
    return 1;
}

static int all_const(const Graph *g, const Node *n)
{
    for (int i = 0; i < n->nout; i++)
        if (n->out[i] != VNONE && g->values[n->out[i]].dynamic)
            return 0; /* a data-dependent shape: computed at run time, never folded */
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] != VNONE && g->values[n->in[i]].kind != VAL_CONST)
            return 0;
    return 1;
}

int graph_infer(Graph *g, Diag *d)
{
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->op == OP_COUNT)
            return diag_node(d, g, n, "unsupported op '%s' (opset %d)", n->op_type, n->opset);
        if (check_inputs(g, n, d))
            return 1;
        if (optab[n->op].infer(g, n, d))
            return 1;
        n = &g->nodes[i]; /* infer may add values and nodes: re-read */
        if (n->dead)
            continue; /* a sequence op whose output is a list of values (sequence.c) */
        for (int j = 0; j < n->nout; j++) {
            if (n->out[j] == VNONE)
                continue;
            const Value *v = &g->values[n->out[j]];
            int64_t numel;
            char sh[160];
            if (!v->typed)
                return diag_node(d, g, n, "output %d was not typed (internal error)", j);
            if (dtype_is_packed(v->dtype) && !takes_packed(n) && v->kind != VAL_CONST)
                return diag_node(d, g, n, "output '%s' has element type %s, which only Cast and QuantizeLinear make",
                                 v->name, dtype_name(v->dtype));
            if (shape_check(&v->shape, dtype_size(v->dtype), &numel))
                return diag_node(d, g, n, "output '%s' of shape %s (%s) would hold more than 2^40 bytes", v->name,
                                 shape_str(&v->shape, sh, sizeof sh), dtype_name(v->dtype));
        }
        int folded = 0;
        if (outputs_const(g, n)) {
            /* inference computed the outputs: the node has no work left */
            for (int j = 0; j < n->nout; j++)
                if (n->out[j] != VNONE)
                    g->values[n->out[j]].producer = -1;
            n->dead = 1;
        } else if (all_const(g, n) && graph_fold_node(g, n, &folded, d)) {
            return 1;
        }
    }
    return 0;
}
