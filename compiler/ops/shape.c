/*
 * shape.c: Views (Reshape, Flatten, Squeeze, Unsqueeze), Dropout, and values computed from shapes or attributes (Shape, Size, Constant, ConstantOfShape, Range, EyeLike).
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_dropout(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_dropout(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_reshape(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_flatten(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_squeeze(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_unsqueeze(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_shape(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_size(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_constant(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int infer_constantofshape(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_constantofshape(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_range(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_range(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_eyelike(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_eyelike(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
