/*
 * attention.c: Attention and RotaryEmbedding.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_attention(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_attention(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_rotary(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_rotary(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
