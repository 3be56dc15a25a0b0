/*
 * norm.c: BatchNormalization, InstanceNormalization, LayerNormalization, Softmax, LogSoftmax, Hardmax.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_batchnorm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_batchnorm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_instancenorm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_instancenorm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_layernorm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_layernorm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_softmax(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_softmax(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
