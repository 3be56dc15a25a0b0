/*
 * quant.c: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_quantize(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_quantize(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_dynquant(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_dynquant(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_matmulinteger(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_matmulinteger(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_qlinearmatmul(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_qlinearmatmul(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_convinteger(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_convinteger(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_qlinearconv(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_qlinearconv(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
