/*
 * fuse.c: group nodes into kernels.
 *
 * Every node that computes something starts a group, except an elementwise
 * node (OPF_EW) that reads the output of the node that currently ends a
 * group, when that value
 *   - is the producer's first output and has no other reader,
 *   - is not a graph output,
 *   - has the elementwise node's output shape (it is not broadcast up),
 * and the producer can take an epilogue (not OPF_NOEPI) and has no other
 * output anyone reads, and no value involved has a packed type (float8,
 * 4-bit, 2-bit: a Cast to or from one loads and stores whole bytes itself). Such a node joins the group: lowering applies it to
 * each value the producer stores, so Conv -> Add(bias) -> Relu is one loop
 * nest and the intermediate tensors never exist. Chains are linear, so a
 * group is a producer plus a list.
 *
 * A group's kernel runs where its last node stands: by then every value any
 * member reads has been computed, and the only value the group makes
 * visible, the last node's output, is read only by later nodes.
 */
#include "graph.h"
#include "../ops/op.h"

/* Does n read or write a value of a packed type, or read a string? */
static int touches_packed(const Graph *g, const Node *n)
{
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] != VNONE && (dtype_is_packed(g->values[n->in[i]].dtype) || dtype_is_string(g->values[n->in[i]].dtype)))
            return 1;
    for (int i = 0; i < n->nout; i++)
        if (n->out[i] != VNONE && dtype_is_packed(g->values[n->out[i]].dtype))
            return 1;
    return 0;
}

/* Does p have an output other than out[0] that someone reads? */
static int other_outputs_used(const Graph *g, const Node *p)
{
    for (int i = 1; i < p->nout; i++)
        if (p->out[i] != VNONE && (g->values[p->out[i]].nuses || g->values[p->out[i]].output >= 0))
            return 1;
    return 0;
}

int graph_fuse(Graph *g, Diag *d)
{
    (void)d;
    graph_count_uses(g);
    int *last = arena_alloc(g->arena, sizeof(int) * (size_t)(g->nnodes + 1)); /* group -> last node */
    int ngroups = 0;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        n->group = -1;
        if (n->dead || !optab[n->op].lower)
            continue;
        int joined = 0;
        if ((optab[n->op].flags & OPF_EW) && !touches_packed(g, n)) {
            const Value *out = &g->values[n->out[0]];
            for (int j = 0; j < n->nin && !joined; j++) {
                ValueId v = n->in[j];
                if (v == VNONE)
                    continue;
                const Value *x = &g->values[v];
                if (x->producer < 0 || x->nuses != 1 || x->output >= 0)
                    continue;
                Node *p = &g->nodes[x->producer];
                if (p->group < 0 || last[p->group] != x->producer || p->out[0] != v)
                    continue;
                if ((optab[p->op].flags & OPF_NOEPI) || other_outputs_used(g, p))
                    continue;
                if (!shape_equal(&x->shape, &out->shape))
                    continue;
                n->group = p->group;
                last[p->group] = i;
                joined = 1;
            }
        }
        if (!joined) {
            n->group = ngroups;
            last[ngroups++] = i;
        }
    }
    g->ngroups = ngroups;
    return 0;
}
