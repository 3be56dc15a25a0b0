/*
 * resize.c: Resize and Upsample.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_resize(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_resize(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
