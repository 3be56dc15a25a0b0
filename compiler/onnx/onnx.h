/*
 * onnx.h: the frontend. Reads ONNX files into kiln's own structures; no
 * protobuf type is visible outside compiler/onnx/.
 */
#ifndef KILN_ONNX_H
#define KILN_ONNX_H

#include "../graph/graph.h"

/* Unsupported op found by a lenient import (kiln inspect lists them). */
typedef struct Unsupported {
    const char *node;    /* node name */
    const char *op;      /* "domain:op_type" or "op_type" */
    int opset;
} Unsupported;

typedef struct ImportResult {
    Graph *graph;
    Unsupported *unsupported;   /* [nunsupported], lenient mode only */
    int nunsupported, cap_unsupported;
} ImportResult;

/* -------------------------------------------------------------- import.c */
/* Read model `path` into a Graph allocated in `a`: initializers (typed
 * fields, raw_data, external data files), Constant nodes, opset imports,
 * inputs with their (maybe symbolic) dims, outputs; nodes sorted
 * topologically. Fails on a file that is not an ONNX model, a cycle, an
 * input nobody produces, and (unless `lenient`) on the first unsupported op;
 * lenient import keeps unsupported nodes with op == OP_COUNT and lists them. */
int onnx_import(Arena *a, const char *path, int lenient, ImportResult *out, Diag *d);

/* -------------------------------------------------------------- tensor.c */
/* Read a serialized TensorProto (a test's input_0.pb) into `out`. */
int onnx_read_tensor(Arena *a, const char *path, Tensor *out, Diag *d);

/* --------------------------------------------------------------- value.c */
/* Read a test data file holding a value of form `form` (IO_SEQ, IO_OPT,
 * both: a SequenceProto, an OptionalProto; 0: a TensorProto) as
 * model_run's slots, appended to ts[*n] (at most max): a sequence's
 * tensors, an optional's content, or, for an absent optional or an empty
 * sequence, one slot of form IO_NONE without data. Each slot gets
 * Tensor.group = group and its form. */
int onnx_read_value(Arena *a, const char *path, int form, int group, Tensor *ts, int max, int *n, Diag *d);

/* --------------------------------------------------------------- write.c */
/* A model of one operator (kiln compare): node op(inputs...), then each
 * unary op of post[] applied in turn, its result the graph output "Y".
 * An input with data is an initializer, one without a graph input. */
typedef struct OpModel {
    const char *op;            /* ONNX op_type, default domain */
    int opset;
    const Attr *attrs;         /* [nattrs] INT, FLOAT, STRING, INTS, FLOATS */
    int nattrs;
    const Tensor *inputs;      /* [ninputs] the node's inputs, in order */
    int ninputs;
    const char *const *post;   /* [npost] unary op_types: the fused chain */
    int npost;
} OpModel;
/* Write m as an ONNX model file at path; returns 0 or 1 with a message. */
int onnx_write_op_model(const OpModel *m, const char *path, Diag *d);

#endif
