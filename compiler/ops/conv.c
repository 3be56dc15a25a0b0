/*
 * conv.c: Conv and ConvTranspose.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_conv(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_conv(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_convtranspose(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_convtranspose(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
