/*
 * reduce.c: The Reduce* family, ArgMax and ArgMin.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_reduce(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_reduce(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_argminmax(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_argminmax(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
