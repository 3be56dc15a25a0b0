/*
 * dce.c: dead-code elimination.
 *
 * Walks the nodes backwards from the graph outputs; a node lives if a live
 * node or the caller reads one of its outputs. Constants nobody reads are
 * not emitted (lowering only creates buffers for values it touches).
 */
#include "graph.h"

int graph_dce(Graph *g, Diag *d)
{
    (void)d;
    unsigned char *live = arena_alloc(g->arena, (size_t)g->nvalues + 1);
    for (int i = 0; i < g->noutputs; i++)
        live[g->outputs[i]] = 1;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int used = 0;
        for (int j = 0; j < n->nout; j++)
            if (n->out[j] != VNONE && live[n->out[j]])
                used = 1;
        if (!used) {
            n->dead = 1;
            continue;
        }
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] != VNONE)
                live[n->in[j]] = 1;
    }
    graph_count_uses(g);
    return 0;
}
