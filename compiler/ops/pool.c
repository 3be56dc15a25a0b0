/*
 * pool.c: MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_pool(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_pool(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_globalpool(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_globalpool(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
