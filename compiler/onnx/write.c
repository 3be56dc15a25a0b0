/*
 * write.c: a one-operator ONNX model, written for `kiln compare`.
 *
 * compare builds the operator it measures as an ordinary model file and
 * compiles it through the normal pipeline, so the operator gets the same
 * passes and schedules as in any model. The model is packed by protobuf-c
 * from kiln's own structures (no protobuf type leaves compiler/onnx/):
 *
 *   inputs[0..]  graph inputs (data NULL) or initializers (data given)
 *   node         op_type(inputs...) -> t0, with the attributes
 *   post[k]      unary op_type(t_k) -> t_{k+1}  (a fused chain: Conv+Relu)
 *   output       "Y"
 */
#include "pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A TensorShapeProto of static dims, in a. */
static Onnx__TypeProto *tensor_type(Arena *a, DType dt, const Shape *s)
{
    Onnx__TypeProto *tp = arena_alloc(a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena_alloc(a, sizeof *tt);
    Onnx__TensorShapeProto *sp = arena_alloc(a, sizeof *sp);
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    *sp = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    tt->has_elem_type = 1;
    tt->elem_type = dt;
    sp->n_dim = (size_t)s->rank;
    sp->dim = arena_alloc(a, sizeof *sp->dim * (size_t)(s->rank + 1));
    for (int i = 0; i < s->rank; i++) {
        Onnx__TensorShapeProto__Dimension *dm = arena_alloc(a, sizeof *dm);
        *dm = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dm->dim_value = s->dim[i];
        sp->dim[i] = dm;
    }
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    return tp;
}

static Onnx__ValueInfoProto *value_info(Arena *a, const char *name, Onnx__TypeProto *tp)
{
    Onnx__ValueInfoProto *vi = arena_alloc(a, sizeof *vi);
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

static Onnx__AttributeProto *attribute(Arena *a, const Attr *at)
{
    Onnx__AttributeProto *ap = arena_alloc(a, sizeof *ap);
    *ap = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    ap->name = (char *)at->name;
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)at->kind;
    switch (at->kind) {
    case ATTR_INT:
        ap->has_i = 1;
        ap->i = at->i;
        break;
    case ATTR_FLOAT:
        ap->has_f = 1;
        ap->f = (float)at->f;
        break;
    case ATTR_STRING:
        ap->has_s = 1;
        ap->s.data = (uint8_t *)at->s;
        ap->s.len = strlen(at->s);
        break;
    case ATTR_INTS:
        ap->n_ints = (size_t)at->n;
        ap->ints = at->ints;
        break;
    case ATTR_FLOATS:
        ap->n_floats = (size_t)at->n;
        ap->floats = arena_alloc(a, sizeof(float) * (size_t)(at->n + 1));
        for (int i = 0; i < at->n; i++)
            ap->floats[i] = (float)at->floats[i];
        break;
    default:
        return NULL;
    }
    return ap;
}

static Onnx__NodeProto *node(Arena *a, const char *op, const char *name, char **in, int nin, char *out)
{
    Onnx__NodeProto *np = arena_alloc(a, sizeof *np);
    *np = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    np->op_type = (char *)op;
    np->name = (char *)name;
    np->n_input = (size_t)nin;
    np->input = in;
    np->n_output = 1;
    np->output = arena_alloc(a, sizeof(char *));
    np->output[0] = out;
    return np;
}

int onnx_write_op_model(const OpModel *m, const char *path, Diag *d)
{
    Arena *a = arena_new();
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsp = &ops;
    int rc = 0;

    gp.name = "compare";
    gp.input = arena_alloc(a, sizeof *gp.input * (size_t)(m->ninputs + 1));
    gp.initializer = arena_alloc(a, sizeof *gp.initializer * (size_t)(m->ninputs + 1));
    char **in = arena_alloc(a, sizeof(char *) * (size_t)(m->ninputs + 1));
    for (int i = 0; i < m->ninputs; i++) {
        const Tensor *t = &m->inputs[i];
        in[i] = (char *)t->name;
        if (!t->data) {
            gp.input[gp.n_input++] = value_info(a, t->name, tensor_type(a, t->dtype, &t->shape));
            continue;
        }
        Onnx__TensorProto *tp = arena_alloc(a, sizeof *tp);
        *tp = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
        tp->name = (char *)t->name;
        tp->has_data_type = 1;
        tp->data_type = t->dtype;
        tp->n_dims = (size_t)t->shape.rank;
        tp->dims = (int64_t *)t->shape.dim;
        tp->has_raw_data = 1;
        tp->raw_data.data = t->data;
        tp->raw_data.len = (size_t)shape_numel(&t->shape) * dtype_size(t->dtype);
        gp.initializer[gp.n_initializer++] = tp;
    }

    /* the node, then the chain of unary ops on its output */
    gp.node = arena_alloc(a, sizeof *gp.node * (size_t)(m->npost + 1));
    char *cur = m->npost ? "t0" : "Y";
    Onnx__NodeProto *np = node(a, m->op, "op", in, m->ninputs, cur);
    np->attribute = arena_alloc(a, sizeof *np->attribute * (size_t)(m->nattrs + 1));
    for (int i = 0; i < m->nattrs; i++) {
        Onnx__AttributeProto *ap = attribute(a, &m->attrs[i]);
        if (!ap) {
            rc = diag_error(d, "attribute '%s' has a kind compare cannot write", m->attrs[i].name);
            goto done;
        }
        np->attribute[np->n_attribute++] = ap;
    }
    gp.node[gp.n_node++] = np;
    for (int k = 0; k < m->npost; k++) {
        char **pin = arena_alloc(a, sizeof(char *));
        pin[0] = cur;
        char *next = k + 1 < m->npost ? arena_printf(a, "t%d", k + 1) : "Y";
        gp.node[gp.n_node++] = node(a, m->post[k], arena_printf(a, "post%d", k), pin, 1, next);
        cur = next;
    }
    Onnx__ValueInfoProto *out = value_info(a, "Y", NULL);
    gp.n_output = 1;
    gp.output = &out;

    ops.has_version = 1;
    ops.version = m->opset;
    ops.domain = "";
    mp.has_ir_version = 1;
    mp.ir_version = 8;
    mp.producer_name = "kiln compare";
    mp.n_opset_import = 1;
    mp.opset_import = &opsp;
    mp.graph = &gp;

    size_t size = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = arena_alloc(a, size + 1);
    onnx__model_proto__pack(&mp, buf);
    if (write_file(path, buf, size))
        rc = diag_error(d, "cannot write %s: %s", path, strerror(errno));
done:
    arena_free(a);
    return rc;
}
