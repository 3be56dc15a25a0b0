/*
 * test_graph.c: graph passes on graphs built in C: inference and its
 * errors, constant folding, canonicalization (BatchNormalization folded
 * into Gemm, checked numerically), dead-code elimination, fusion decisions,
 * and whole programs lowered and run by the Kernel IR interpreter.
 */
#include "check.h"
#include "graph/graph.h"
#include "kernel/lower.h"
#include "ops/op.h"

#include <math.h>
#include <string.h>

static ValueId input(Graph *g, const char *name, DType t, Shape s)
{
    ValueId v = graph_add_value(g, name, VAL_INPUT);
    g->values[v].dtype = t;
    g->values[v].shape = s;
    g->values[v].typed = 1;
    *ARENA_PUSH(g->arena, g->inputs, g->ninputs, g->cap_inputs) = v;
    return v;
}

static ValueId cnst(Graph *g, const char *name, Shape s, const float *data)
{
    return graph_add_const(g, name, DT_F32, &s, data);
}

/* A node reading `in` (VNONE-terminated) and writing one new value `out`. */
static ValueId node(Graph *g, OpKind op, const char *name, const ValueId *in, int nin, const char *out)
{
    NodeId id = graph_add_node(g, op, name, nin, 1);
    for (int i = 0; i < nin; i++)
        g->nodes[id].in[i] = in[i];
    ValueId v = graph_add_value(g, out, VAL_NODE);
    g->values[v].producer = id;
    g->nodes[id].out[0] = v;
    g->nodes[id].opset = 13;
    return v;
}

static void output(Graph *g, ValueId v)
{
    g->values[v].output = g->noutputs;
    *ARENA_PUSH(g->arena, g->outputs, g->noutputs, g->cap_outputs) = v;
}

static void set_attr_float(Graph *g, NodeId n, const char *name, double f)
{
    Node *nd = &g->nodes[n];
    Attr *at = arena_alloc(g->arena, sizeof(Attr) * (size_t)(nd->nattr + 1));
    if (nd->nattr)
        memcpy(at, nd->attr, sizeof(Attr) * (size_t)nd->nattr);
    at[nd->nattr++] = (Attr){.name = name, .kind = ATTR_FLOAT, .f = f};
    nd->attr = at;
}

/* Run a lowered program with the interpreter: inputs and outputs by
 * position, arena and weights allocated here. */
static int run_program(const Program *p, void **inputs, void **outputs, Diag *d)
{
    Arena *a = arena_new();
    void **mem = arena_alloc(a, sizeof(void *) * (size_t)(p->nbufs + 1));
    for (int b = 0; b < p->nbufs; b++) {
        const Buffer *bf = &p->bufs[b];
        switch (bf->kind) {
        case BUF_INPUT: mem[b] = inputs[bf->index]; break;
        case BUF_OUTPUT: mem[b] = outputs[bf->index]; break;
        case BUF_WEIGHT: mem[b] = (void *)bf->data; break;
        case BUF_ARENA: case BUF_LOCAL: mem[b] = arena_alloc(a, (size_t)(bf->numel * dtype_size(bf->dtype)) + 1); break;
        }
    }
    int rc = 0;
    for (int k = 0; k < p->nkernels && !rc; k++)
        rc = kernel_interp(p, &p->kernels[k], mem, d);
    arena_free(a);
    return rc;
}

static void test_infer_broadcast_and_errors(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    ValueId x = input(g, "x", DT_F32, (Shape){2, {2, 3}});
    ValueId y = input(g, "y", DT_F32, (Shape){1, {3}});
    ValueId s = node(g, OP_ADD, "add1", (ValueId[]){x, y}, 2, "s");
    output(g, s);
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0);
    CHECK(g->values[s].typed && g->values[s].shape.rank == 2 && g->values[s].shape.dim[0] == 2 &&
          g->values[s].shape.dim[1] == 3);

    Graph *h = graph_new(a, "m.onnx");
    ValueId p = input(h, "p", DT_F32, (Shape){2, {2, 3}});
    ValueId q = input(h, "q", DT_F32, (Shape){1, {4}});
    output(h, node(h, OP_ADD, "add_bad", (ValueId[]){p, q}, 2, "r"));
    Diag e = {.file = "m.onnx"};
    CHECK(graph_infer(h, &e) != 0);
    CHECK(strstr(e.msg, "m.onnx: node 'add_bad' (Add): input shapes 2x3 and 4 do not broadcast") == e.msg);

    Graph *k = graph_new(a, "m.onnx");
    ValueId u = input(k, "u", DT_F32, (Shape){2, {2, 3}});
    ValueId w = input(k, "w", DT_F32, (Shape){2, {4, 5}});
    output(k, node(k, OP_MATMUL, "mm", (ValueId[]){u, w}, 2, "o"));
    Diag f = {.file = "m.onnx"};
    CHECK(graph_infer(k, &f) != 0);
    CHECK(strstr(f.msg, "node 'mm' (MatMul): inner dimensions differ") != NULL);
    arena_free(a);
}

static void test_fold_constants(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    float ca[3] = {1, 2, 3}, cb[3] = {10, 20, 30};
    ValueId x = input(g, "x", DT_F32, (Shape){1, {3}});
    ValueId c1 = cnst(g, "c1", (Shape){1, {3}}, ca), c2 = cnst(g, "c2", (Shape){1, {3}}, cb);
    ValueId s = node(g, OP_MUL, "mul_c", (ValueId[]){c1, c2}, 2, "s");
    ValueId y = node(g, OP_ADD, "add_x", (ValueId[]){x, s}, 2, "y");
    output(g, y);
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0);
    /* Mul of constants ran at compile time, through its own lowering */
    CHECK(g->values[s].kind == VAL_CONST && g->nodes[0].dead);
    const float *sv = g->values[s].data;
    CHECK(sv && sv[0] == 10 && sv[1] == 40 && sv[2] == 90);
    CHECK(g->values[y].kind == VAL_NODE && !g->nodes[1].dead);
    arena_free(a);
}

static void test_fuse_decisions(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    float wb[12] = {0}, bias[3] = {1, 2, 3};
    ValueId x = input(g, "x", DT_F32, (Shape){2, {2, 4}});
    ValueId w = cnst(g, "w", (Shape){2, {4, 3}}, wb);
    ValueId b = cnst(g, "b", (Shape){1, {3}}, bias);
    ValueId m = node(g, OP_MATMUL, "mm", (ValueId[]){x, w}, 2, "m");
    ValueId s = node(g, OP_ADD, "bias", (ValueId[]){m, b}, 2, "s");
    ValueId r = node(g, OP_RELU, "relu", (ValueId[]){s}, 1, "r");
    /* r is read twice: the next Mul cannot join, it starts a group */
    ValueId q = node(g, OP_MUL, "sq", (ValueId[]){r, r}, 2, "q");
    ValueId t = node(g, OP_ADD, "res", (ValueId[]){q, r}, 2, "t");
    output(g, t);
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0 && graph_dce(g, &d) == 0 && graph_fuse(g, &d) == 0);
    CHECK(g->nodes[0].group == g->nodes[1].group && g->nodes[1].group == g->nodes[2].group);
    CHECK(g->nodes[3].group != g->nodes[2].group);
    CHECK(g->nodes[4].group == g->nodes[3].group); /* q is single-use: res fuses into sq */
    CHECK(g->ngroups == 2);

    /* a chain value broadcast up to a larger shape does not fuse */
    Graph *h = graph_new(a, "m.onnx");
    ValueId u = input(h, "u", DT_F32, (Shape){1, {3}});
    ValueId v = input(h, "v", DT_F32, (Shape){2, {2, 3}});
    ValueId e = node(h, OP_EXP, "e", (ValueId[]){u}, 1, "e");
    output(h, node(h, OP_ADD, "add", (ValueId[]){e, v}, 2, "o"));
    CHECK(graph_infer(h, &d) == 0 && graph_fuse(h, &d) == 0);
    CHECK(h->nodes[0].group != h->nodes[1].group);
    arena_free(a);
}

static void test_dce_and_identity(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    ValueId x = input(g, "x", DT_F32, (Shape){1, {4}});
    ValueId i = node(g, OP_IDENTITY, "id", (ValueId[]){x}, 1, "i");
    ValueId r = node(g, OP_RELU, "relu", (ValueId[]){i}, 1, "r");
    node(g, OP_EXP, "unused", (ValueId[]){x}, 1, "e");
    output(g, r);
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0 && graph_canon(g, &d) == 0 && graph_dce(g, &d) == 0);
    CHECK(g->nodes[0].dead);                 /* identity bypassed */
    CHECK(g->nodes[1].in[0] == x);           /* relu reads x directly */
    CHECK(g->nodes[2].dead);                 /* nobody reads e */
    CHECK(graph_verify(g, 1, &d) == 0);
    arena_free(a);
}

/* y = BN(Gemm(x, W) + C) folds into one Gemm with the same results. */
static void test_bn_folds_into_gemm(void)
{
    Arena *a = arena_new();
    float W[6] = {1, -2, 0.5f, 3, -1, 2};   /* [3, 2] */
    float C[2] = {0.25f, -0.5f};
    float scale[2] = {2, 0.5f}, bias[2] = {1, -1}, mean[2] = {0.5f, -0.25f}, var[2] = {4, 0.25f};
    float xin[6] = {1, 2, 3, -1, 0, 0.5f};  /* [2, 3] */
    float want[4], got[4];
    for (int m = 0; m < 2; m++)
        for (int n = 0; n < 2; n++) {
            float acc = C[n];
            for (int k = 0; k < 3; k++)
                acc += xin[m * 3 + k] * W[k * 2 + n];
            want[m * 2 + n] = (acc - mean[n]) / sqrtf(var[n] + 1e-5f) * scale[n] + bias[n];
        }
    Graph *g = graph_new(a, "m.onnx");
    ValueId x = input(g, "x", DT_F32, (Shape){2, {2, 3}});
    ValueId w = cnst(g, "W", (Shape){2, {3, 2}}, W), c = cnst(g, "C", (Shape){1, {2}}, C);
    ValueId sc = cnst(g, "scale", (Shape){1, {2}}, scale), bi = cnst(g, "bias", (Shape){1, {2}}, bias);
    ValueId me = cnst(g, "mean", (Shape){1, {2}}, mean), va = cnst(g, "var", (Shape){1, {2}}, var);
    ValueId gm = node(g, OP_GEMM, "fc", (ValueId[]){x, w, c}, 3, "g");
    ValueId y = node(g, OP_BATCHNORMALIZATION, "bn", (ValueId[]){gm, sc, bi, me, va}, 5, "y");
    set_attr_float(g, 1, "epsilon", 1e-5);
    output(g, y);
    Diag d = {.file = "m.onnx"};
    /* canon folds BN by the attributes its inference parsed (Node.attrs) */
    g->nodes[1].opset = 15;
    CHECK(optab[OP_GEMM].infer(g, &g->nodes[0], &d) == 0);
    CHECK(optab[OP_BATCHNORMALIZATION].infer(g, &g->nodes[1], &d) == 0 && g->nodes[1].attrs);
    CHECK(graph_canon(g, &d) == 0);
    CHECK(g->nodes[1].dead && !g->nodes[0].dead && g->nodes[0].out[0] == y);
    CHECK(graph_dce(g, &d) == 0 && graph_fuse(g, &d) == 0);
    Program *p;
    CHECK(kernel_lower(g, 1, &p, &d) == 0 && prog_verify(p, &d) == 0);
    void *ins[1] = {xin}, *outs[1] = {got};
    CHECK(run_program(p, ins, outs, &d) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(fabsf(got[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])));
    arena_free(a);
}

/* Gemm + Add + Relu lowered to one kernel and run. */
static void test_lower_fused_program(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    float W[4] = {1, 2, 3, 4}, b[2] = {-10, 1};
    float xin[4] = {1, 1, 2, -1}, got[4];
    ValueId x = input(g, "x", DT_F32, (Shape){2, {2, 2}});
    ValueId w = cnst(g, "W", (Shape){2, {2, 2}}, W), bb = cnst(g, "b", (Shape){1, {2}}, b);
    ValueId m = node(g, OP_GEMM, "fc", (ValueId[]){x, w}, 2, "m");
    ValueId s = node(g, OP_ADD, "add", (ValueId[]){m, bb}, 2, "s");
    output(g, node(g, OP_RELU, "relu", (ValueId[]){s}, 1, "y"));
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0 && graph_dce(g, &d) == 0 && graph_fuse(g, &d) == 0);
    Program *p;
    CHECK(kernel_lower(g, 1, &p, &d) == 0 && prog_simplify(p, &d) == 0 && prog_verify(p, &d) == 0);
    CHECK(prog_plan(p, &d) == 0);
    CHECK(p->nkernels == 1 && strstr(p->kernels[0].name, "fc_add_relu") != NULL);
    CHECK(p->arena_bytes == 0); /* nothing intermediate is materialized */
    void *ins[1] = {xin}, *outs[1] = {got};
    CHECK(run_program(p, ins, outs, &d) == 0);
    /* x @ W = [[4, 6], [-1, 0]]; + b = [[-6, 7], [-11, 1]]; relu */
    float want[4] = {0, 7, 0, 1};
    CHECK(memcmp(got, want, sizeof want) == 0);
    arena_free(a);
}

/* NonZero, an output of data-dependent shape: its static shape is the
 * bound, the kernel stores the count in the length buffer (run here by
 * the interpreter) and the coordinates dense for the actual shape,
 * planning keeps the length live past the last kernel, and the verifier
 * rejects a length buffer that is not i64[1]; inference rejects a node
 * that reads such a value. */
static void test_dynamic_output(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    ValueId x = input(g, "x", DT_F32, (Shape){2, {2, 3}});
    ValueId y = node(g, OP_NONZERO, "nz", (ValueId[]){x}, 1, "y");
    output(g, y);
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0 && g->values[y].dynamic && g->values[y].dyn_axis == 1);
    CHECK(g->values[y].shape.rank == 2 && g->values[y].shape.dim[0] == 2 && g->values[y].shape.dim[1] == 6);
    CHECK(graph_dce(g, &d) == 0 && graph_fuse(g, &d) == 0);
    Program *p;
    CHECK(kernel_lower(g, 1, &p, &d) == 0 && prog_simplify(p, &d) == 0 && prog_verify(p, &d) == 0);
    CHECK(prog_plan(p, &d) == 0);
    int lb = prog_out_len(p, 0);
    CHECK(lb >= 0 && p->out_dyn[0] == 1 && p->bufs[lb].kind == BUF_ARENA && p->bufs[lb].last == p->nkernels);
    float xin[6] = {0, 1.5f, 0, -2, 0, 0.25f};
    int64_t got[12], len = -1;
    memset(got, 0x7f, sizeof got);
    void **mem = arena_alloc(a, sizeof(void *) * (size_t)(p->nbufs + 1));
    for (int b = 0; b < p->nbufs; b++)
        mem[b] = p->bufs[b].kind == BUF_INPUT ? (void *)xin : p->bufs[b].kind == BUF_OUTPUT ? (void *)got
                 : arena_alloc(a, (size_t)(p->bufs[b].numel * dtype_size(p->bufs[b].dtype)) + 1);
    mem[lb] = &len;
    for (int k = 0; k < p->nkernels; k++)
        CHECK(kernel_interp(p, &p->kernels[k], mem, &d) == 0);
    /* nonzeros at (0, 1), (1, 0), (1, 2): a [2, 3] result, rows first */
    int64_t want[6] = {0, 1, 1, 1, 0, 2};
    CHECK(len == 3 && memcmp(got, want, sizeof want) == 0);
    p->out_len[0] = p->outputs[0];
    Diag dv = {.file = "m.onnx"};
    CHECK(prog_verify(p, &dv) != 0 && strstr(dv.msg, "run-time length") != NULL);

    Graph *g2 = graph_new(a, "m.onnx");
    ValueId x2 = input(g2, "x", DT_F32, (Shape){1, {4}});
    ValueId y2 = node(g2, OP_NONZERO, "nz", (ValueId[]){x2}, 1, "y");
    output(g2, node(g2, OP_NEG, "neg", (ValueId[]){y2}, 1, "z"));
    Diag d2 = {.file = "m.onnx"};
    CHECK(graph_infer(g2, &d2) != 0);
    CHECK(strstr(d2.msg, "node 'neg'") && strstr(d2.msg, "data-dependent shape flows into this node"));
    arena_free(a);
}

/* SequenceMap over SequenceConstruct(a, b) with body Relu: expanded into
 * one Relu per element (graph/expand.c), the body itself left as it was,
 * and a ConcatFromSequence after it typed from the copies. */
static void test_expand_seqmap(void)
{
    Arena *a = arena_new();
    Graph *g = graph_new(a, "m.onnx");
    ValueId x = input(g, "a", DT_F32, (Shape){1, {4}}), y = input(g, "b", DT_F32, (Shape){1, {3}});
    ValueId s = node(g, OP_SEQUENCECONSTRUCT, "make", (ValueId[]){x, y}, 2, "s");
    Graph *body = graph_new(a, "m.onnx");
    body->is_body = 1;
    ValueId e = graph_add_value(body, "e", VAL_INPUT);
    *ARENA_PUSH(a, body->inputs, body->ninputs, body->cap_inputs) = e;
    output(body, node(body, OP_RELU, "relu", (ValueId[]){e}, 1, "r"));
    ValueId m = node(g, OP_SEQUENCEMAP, "map", (ValueId[]){s}, 1, "m");
    Node *mn = &g->nodes[g->values[m].producer];
    mn->attr = arena_alloc(a, sizeof(Attr));
    mn->attr[0] = (Attr){.name = "body", .kind = ATTR_GRAPH, .g = body};
    mn->nattr = 1;
    NodeId cat = graph_add_node(g, OP_CONCATFROMSEQUENCE, "cat", 1, 1);
    g->nodes[cat].in[0] = m;
    g->nodes[cat].opset = 13;
    ValueId out = graph_add_value(g, "y", VAL_NODE);
    g->values[out].producer = cat;
    g->nodes[cat].out[0] = out;
    output(g, out);
    Graph *copy = graph_clone(a, body);
    CHECK(copy->nodes != body->nodes && copy->nodes[0].in != body->nodes[0].in && copy->values != body->values);
    Diag d = {.file = "m.onnx"};
    CHECK(graph_infer(g, &d) == 0);
    CHECK(g->values[out].typed && g->values[out].shape.rank == 1 && g->values[out].shape.dim[0] == 7);
    int relus = 0, maps = 0;
    for (int i = 0; i < g->nnodes; i++) {
        relus += !g->nodes[i].dead && g->nodes[i].op == OP_RELU;
        maps += !g->nodes[i].dead && g->nodes[i].op == OP_SEQUENCEMAP;
    }
    CHECK(relus == 2 && maps == 0);
    CHECK(!body->values[e].typed && body->nnodes == 1); /* copied, never inferred */
    CHECK(graph_verify(g, 1, &d) == 0);
    arena_free(a);
}

int main(void)
{
    RUN(test_infer_broadcast_and_errors);
    RUN(test_fold_constants);
    RUN(test_fuse_decisions);
    RUN(test_dce_and_identity);
    RUN(test_bn_folds_into_gemm);
    RUN(test_lower_fused_program);
    RUN(test_dynamic_output);
    RUN(test_expand_seqmap);
    return check_total_failed != 0;
}
