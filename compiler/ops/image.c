/*
 * image.c: GridSample, AffineGrid, Col2Im, CenterCropPad, RoiAlign, MaxUnpool, DeformConv.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_gridsample(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_gridsample(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_affinegrid(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_affinegrid(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_col2im(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_col2im(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_centercroppad(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_centercroppad(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_roialign(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_roialign(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_maxunpool(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_maxunpool(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_deformconv(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_deformconv(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
