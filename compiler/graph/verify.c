/*
 * verify.c: the Graph IR's invariants, checked between passes.
 *
 * Ids in range, every input produced before it is read (topological order),
 * producers that agree with the node lists, once inference has run,
 * every live value typed and every constant holding data, and storage
 * orders (graph_layout) that are permutations, with halos only on values
 * made by nodes and never on graph inputs or outputs.
 */
#include "graph.h"
#include "../ops/op.h"

int graph_verify(const Graph *g, int typed, Diag *d)
{
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->op > OP_COUNT)
            return diag_error(d, "verify: node %d has op %d out of range", i, (int)n->op);
        for (int j = 0; j < n->nin; j++) {
            ValueId v = n->in[j];
            if (v == VNONE)
                continue;
            if (v < 0 || v >= g->nvalues)
                return diag_node(d, g, n, "verify: input %d is %%v%d, out of range", j, v);
            const Value *x = &g->values[v];
            if (x->kind == VAL_NODE && (x->producer < 0 || x->producer >= i))
                return diag_node(d, g, n, "verify: input '%s' is not produced before this node", x->name);
            if (x->kind == VAL_NODE && g->nodes[x->producer].dead)
                return diag_node(d, g, n, "verify: input '%s' comes from a removed node", x->name);
            if (typed && !x->typed)
                return diag_node(d, g, n, "verify: input '%s' has no type", x->name);
            if (x->kind == VAL_CONST && !x->data)
                return diag_node(d, g, n, "verify: constant '%s' has no data", x->name);
        }
        for (int j = 0; j < n->nout; j++) {
            ValueId v = n->out[j];
            if (v == VNONE)
                continue;
            if (v < 0 || v >= g->nvalues)
                return diag_node(d, g, n, "verify: output %d is %%v%d, out of range", j, v);
            if (g->values[v].kind == VAL_NODE && g->values[v].producer != i)
                return diag_node(d, g, n, "verify: output '%s' names another producer", g->values[v].name);
            if (typed && !g->values[v].typed)
                return diag_node(d, g, n, "verify: output '%s' has no type", g->values[v].name);
        }
    }
    for (int v = 0; v < g->nvalues; v++) {
        const Value *x = &g->values[v];
        unsigned seen = 0;
        if (x->permuted && (x->kind == VAL_INPUT || x->output >= 0))
            return diag_error(d, "verify: graph input or output '%s' has a storage order", x->name);
        for (int i = 0; x->permuted && i < x->shape.rank; i++) {
            if (x->perm[i] >= x->shape.rank || (seen & (1u << x->perm[i])))
                return diag_error(d, "verify: storage order of '%s' is not a permutation", x->name);
            seen |= 1u << x->perm[i];
        }
        if (x->haloed && (x->kind != VAL_NODE || x->output >= 0))
            return diag_error(d, "verify: '%s' has a halo but is not an intermediate value", x->name);
        for (int i = 0; x->haloed && i < x->shape.rank; i++)
            if (x->halo[i] < 0 || x->halo[i] > 64)
                return diag_error(d, "verify: halo of '%s' is %lld along dim %d", x->name, (long long)x->halo[i], i);
    }
    for (int i = 0; i < g->noutputs; i++) {
        ValueId v = g->outputs[i];
        if (v < 0 || v >= g->nvalues)
            return diag_error(d, "verify: graph output %d is %%v%d, out of range", i, v);
        if (g->values[v].output != i)
            return diag_error(d, "verify: graph output '%s' does not know its index", g->values[v].name);
    }
    return 0;
}
