/*
 * loss.c: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_nllloss(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_nllloss(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_sceloss(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_sceloss(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
