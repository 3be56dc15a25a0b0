/*
 * test_import.c: the ONNX frontend on models built here with protobuf-c:
 * every initializer storage form (typed fields, raw_data, external data),
 * symbolic dims, topological sorting of unsorted graphs, and the errors for
 * cycles, dangling inputs and files that are not models.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "onnx/onnx.h"
#include "onnx.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* ------------------------------------------------- building ModelProtos */

typedef struct Builder {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto *nodes[16];
    Onnx__TensorProto *inits[16];
    Onnx__ValueInfoProto *ins[8], *outs[8];
} Builder;

static void builder_init(Builder *b)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opsets[0] = &b->opset;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.graph = &b->graph;
    b->graph.name = "g";
    b->graph.node = b->nodes;
    b->graph.initializer = b->inits;
    b->graph.input = b->ins;
    b->graph.output = b->outs;
}

static void add_node(Builder *b, const char *op, const char *name, const char *in0, const char *in1,
                     const char *out)
{
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->n_input = in1 ? 2 : 1;
    n->input = calloc(2, sizeof(char *));
    n->input[0] = (char *)in0;
    n->input[1] = (char *)in1;
    n->n_output = 1;
    n->output = calloc(1, sizeof(char *));
    n->output[0] = (char *)out;
    b->nodes[b->graph.n_node++] = n;
}

/* A tensor-typed value info; dims < 0 are the symbol "N". */
static Onnx__ValueInfoProto *value_info(const char *name, int dtype, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = calloc(1, sizeof *vi);
    Onnx__TypeProto *tp = calloc(1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
    Onnx__TensorShapeProto *sh = calloc(1, sizeof *sh);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)rank;
    sh->dim = calloc((size_t)rank + 1, sizeof *sh->dim);
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = calloc(1, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        }
        sh->dim[i] = d;
    }
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

static Onnx__TensorProto *tensor(const char *name, int dtype, int rank, const int64_t *dims)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = (int64_t *)dims;
    return t;
}

static const char *write_model(Builder *b, const char *file)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, file);
    size_t n = onnx__model_proto__get_packed_size(&b->model);
    unsigned char *buf = malloc(n);
    onnx__model_proto__pack(&b->model, buf);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
    return path;
}

static const Value *find(const Graph *g, const char *name)
{
    ValueId v = graph_find_value(g, name);
    return v == VNONE ? NULL : &g->values[v];
}

/* --------------------------------------------------------------- tests */

static void test_initializer_forms(void)
{
    Builder b;
    builder_init(&b);
    static const int64_t d3[1] = {3}, d2[1] = {2};
    /* float_data */
    Onnx__TensorProto *t1 = tensor("f", DT_F32, 1, d3);
    static float fv[3] = {1.5f, -2, 3};
    t1->n_float_data = 3;
    t1->float_data = fv;
    /* raw_data */
    Onnx__TensorProto *t2 = tensor("r", DT_F32, 1, d3);
    static float rv[3] = {4, 5, 6};
    t2->has_raw_data = 1;
    t2->raw_data.len = sizeof rv;
    t2->raw_data.data = (uint8_t *)rv;
    /* int32_data carrying int8 */
    Onnx__TensorProto *t3 = tensor("i8", DT_I8, 1, d2);
    static int32_t iv[2] = {-7, 100};
    t3->n_int32_data = 2;
    t3->int32_data = iv;
    /* int64_data */
    Onnx__TensorProto *t4 = tensor("i64", DT_I64, 1, d2);
    static int64_t lv[2] = {INT64_MIN, 42};
    t4->n_int64_data = 2;
    t4->int64_data = lv;
    /* external data: 3 floats at offset 4 of w.bin */
    Onnx__TensorProto *t5 = tensor("ext", DT_F32, 1, d3);
    static Onnx__StringStringEntryProto loc, off, len, *ext[3];
    onnx__string_string_entry_proto__init(&loc);
    onnx__string_string_entry_proto__init(&off);
    onnx__string_string_entry_proto__init(&len);
    loc.key = "location", loc.value = "w.bin";
    off.key = "offset", off.value = "4";
    len.key = "length", len.value = "12";
    ext[0] = &loc, ext[1] = &off, ext[2] = &len;
    t5->has_data_location = 1;
    t5->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t5->n_external_data = 3;
    t5->external_data = ext;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/w.bin", tmpdir);
    float ev[4] = {0, 7, 8, 9};
    FILE *f = fopen(bin, "wb");
    fwrite(ev, 1, sizeof ev, f);
    fclose(f);

    Onnx__TensorProto *all[5] = {t1, t2, t3, t4, t5};
    for (int i = 0; i < 5; i++)
        b.inits[b.graph.n_initializer++] = all[i];
    add_node(&b, "Add", "add", "f", "r", "y");
    b.outs[b.graph.n_output++] = value_info("y", DT_F32, 1, d3);
    const char *path = write_model(&b, "inits.onnx");

    Arena *a = arena_new();
    Diag d = {.file = path};
    ImportResult r;
    CHECK(onnx_import(a, path, 0, &r, &d) == 0);
    if (!d.nerrors) {
        const Value *v;
        CHECK((v = find(r.graph, "f")) && v->kind == VAL_CONST && ((float *)v->data)[0] == 1.5f);
        CHECK((v = find(r.graph, "r")) && ((float *)v->data)[2] == 6);
        CHECK((v = find(r.graph, "i8")) && v->dtype == DT_I8 && ((int8_t *)v->data)[0] == -7 &&
              ((int8_t *)v->data)[1] == 100);
        CHECK((v = find(r.graph, "i64")) && ((int64_t *)v->data)[0] == INT64_MIN);
        CHECK((v = find(r.graph, "ext")) && ((float *)v->data)[0] == 7 && ((float *)v->data)[2] == 9);
        CHECK(r.graph->opset == 13 && r.graph->nnodes == 1 && r.graph->noutputs == 1);
    } else {
        printf("  %s\n", d.msg);
    }
    arena_free(a);
}

static void test_sorts_and_binds(void)
{
    Builder b;
    builder_init(&b);
    static const int64_t dims[2] = {-1, 4};
    b.ins[b.graph.n_input++] = value_info("x", DT_F32, 2, dims);
    /* listed consumer first: import must sort */
    add_node(&b, "Relu", "second", "t", NULL, "y");
    add_node(&b, "Exp", "first", "x", NULL, "t");
    b.outs[b.graph.n_output++] = value_info("y", DT_F32, 2, dims);
    const char *path = write_model(&b, "unsorted.onnx");
    Arena *a = arena_new();
    Diag d = {.file = path};
    ImportResult r;
    CHECK(onnx_import(a, path, 0, &r, &d) == 0);
    Graph *g = r.graph;
    CHECK(g && g->nnodes == 2 && !strcmp(g->nodes[0].name, "first") && !strcmp(g->nodes[1].name, "second"));
    /* the symbolic dim needs a binding... */
    Diag e = {.file = path};
    CHECK(graph_bind(g, NULL, 0, NULL, 0, &e) != 0);
    CHECK(strstr(e.msg, "symbolic dimension 'N'") && strstr(e.msg, "--shape x="));
    /* ...which --shape gives */
    ShapeBind sb = {"x", {2, {3, 4}}};
    Diag f = {.file = path};
    CHECK(graph_bind(g, &sb, 1, NULL, 0, &f) == 0);
    CHECK(g->values[g->inputs[0]].shape.dim[0] == 3);
    ShapeBind bad = {"x", {2, {3, 5}}};
    Diag h = {.file = path};
    CHECK(graph_bind(g, &bad, 1, NULL, 0, &h) != 0 && strstr(h.msg, "does not match"));
    arena_free(a);
}

static void test_cycle_and_dangling(void)
{
    static const int64_t dims[1] = {4};
    Builder b;
    builder_init(&b);
    b.ins[b.graph.n_input++] = value_info("x", DT_F32, 1, dims);
    add_node(&b, "Add", "p", "x", "q_out", "p_out");
    add_node(&b, "Relu", "q", "p_out", NULL, "q_out");
    b.outs[b.graph.n_output++] = value_info("q_out", DT_F32, 1, dims);
    const char *path = write_model(&b, "cycle.onnx");
    Arena *a = arena_new();
    Diag d = {.file = path};
    ImportResult r;
    CHECK(onnx_import(a, path, 0, &r, &d) != 0);
    CHECK(strstr(d.msg, "cycle") && strstr(d.msg, "node 'p' (Add)"));

    Builder c;
    builder_init(&c);
    c.ins[c.graph.n_input++] = value_info("x", DT_F32, 1, dims);
    add_node(&c, "Add", "adder", "x", "nowhere", "y");
    c.outs[c.graph.n_output++] = value_info("y", DT_F32, 1, dims);
    path = write_model(&c, "dangling.onnx");
    Diag e = {.file = path};
    CHECK(onnx_import(a, path, 0, &r, &e) != 0);
    CHECK(strstr(e.msg, "node 'adder' (Add): input 'nowhere' is not produced") != NULL);
    arena_free(a);
}

static void test_not_a_model(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/junk.onnx", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("this is not a protobuf at all\n", f);
    fclose(f);
    Arena *a = arena_new();
    Diag d = {.file = path};
    ImportResult r;
    CHECK(onnx_import(a, path, 0, &r, &d) != 0);
    CHECK(strstr(d.msg, "not an ONNX model") != NULL);
    Diag e = {.file = "missing.onnx"};
    CHECK(onnx_import(a, "/nonexistent/missing.onnx", 0, &r, &e) != 0);
    CHECK(strstr(e.msg, "cannot read") != NULL);
    arena_free(a);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kiln-unit-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL unit/test_import: cannot make a temporary folder\n");
        return 1;
    }
    RUN(test_initializer_forms);
    RUN(test_sorts_and_binds);
    RUN(test_cycle_and_dangling);
    RUN(test_not_a_model);
    if (remove_tree(tmpdir) != 0)
        printf("  (could not remove %s)\n", tmpdir);
    return check_total_failed != 0;
}
