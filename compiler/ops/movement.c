/*
 * movement.c: Data movement: Transpose, Concat, Split, Slice, Gather, GatherElements, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Trilu.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_transpose(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_transpose(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_concat(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_concat(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_split(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_split(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_slice(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_slice(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_gather(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_gather(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_gatherelements(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_gatherelements(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_expand(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_expand(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_tile(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_tile(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_pad(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_pad(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_depthtospace(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_depthtospace(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_trilu(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_trilu(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
