/*
 * index.c: GatherND, ScatterND, ScatterElements, Scatter, OneHot, CumSum, CumProd, ReverseSequence, TopK.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_gathernd(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_gathernd(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_scatter(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_scatter(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_onehot(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_onehot(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_cumulative(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_cumulative(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_reversesequence(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_reversesequence(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_topk(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_topk(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
