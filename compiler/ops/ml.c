/*
 * ml.c: ai.onnx.ml ops (Binarizer, ArrayFeatureExtractor, LabelEncoder,
 * TreeEnsemble), TfIdfVectorizer, and the ai.onnx.preview.training
 * optimizers (Adagrad, Adam, Momentum).
 *
 * PLACEHOLDER: not implemented yet.
 */
#include "op.h"

int infer_binarizer(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_binarizer(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_arrayfeature(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_arrayfeature(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_labelencoder(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_labelencoder(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_treeensemble(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_treeensemble(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_tfidf(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_tfidf(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_optimizer(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_optimizer(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
