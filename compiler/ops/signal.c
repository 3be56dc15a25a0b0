/*
 * signal.c: HannWindow, HammingWindow, BlackmanWindow, DFT, STFT, MelWeightMatrix, Einsum, Det.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_window(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_window(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_dft(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_dft(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_stft(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_stft(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_melweightmatrix(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_melweightmatrix(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_einsum(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_einsum(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_det(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_det(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
