/*
 * rnn.c: LSTM.
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_lstm(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_lstm(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
