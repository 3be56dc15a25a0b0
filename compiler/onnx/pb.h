/*
 * pb.h: private to compiler/onnx/: the protobuf-c side of the frontend.
 */
#ifndef KILN_ONNX_PB_H
#define KILN_ONNX_PB_H

#include "onnx.pb-c.h"
#include "onnx.h"

/* Convert a TensorProto into a Tensor (data copied into `a`). `dir` is the
 * folder external data paths are relative to (NULL: external data is an
 * error). `what` names the tensor in messages. */
int pb_tensor(Arena *a, const Onnx__TensorProto *tp, const char *dir,
              const char *what, Tensor *out, Diag *d);

#endif
