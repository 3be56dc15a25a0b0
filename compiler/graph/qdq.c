/*
 * qdq.c: QDQ models to integer kernels.
 *
 * A model in QDQ format (ONNX Runtime's static quantizer with
 * QuantFormat.QDQ) keeps float ops and brackets them with
 * DequantizeLinear (DQ) on every input and QuantizeLinear (Q) on the
 * output. Read literally it runs float kernels on float copies of int8
 * tensors (constant folding would even turn DQ(weights) into float
 * weights). This pass, which runs before inference folds anything, puts the
 * integer op in place of each bracketed float op it recognizes:
 *
 *   DQ(x), DQ(w) [, DQ(bias int32)] -> Conv   -> Q    QLinearConv
 *   DQ(x), DQ(w)                    -> MatMul -> Q    QLinearMatMul
 *   DQ(x), DQ(w)                    -> Gemm   -> Q    QLinearMatMul (no C,
 *                                                     transA=0, alpha=1;
 *                                                     transB=1: w transposed)
 *   DQ(a), DQ(b)                    -> Add    -> Q    QLinearAdd
 *   DQ(x) -> AveragePool / GlobalAveragePool  -> Q    QLinear... (com.microsoft)
 *   DQ(x) -> MaxPool / Flatten / Reshape / Transpose / Squeeze / Unsqueeze /
 *            Pad (constant) -> Q, the same scale and zero point on both
 *            sides: the op on x itself (Pad's value quantized)
 *
 * w is a constant int8/uint8 tensor, quantized per tensor or per output
 * channel (Conv axis 0, MatMul axis 1, Gemm with transB=1 axis 0); the
 * activations per tensor; the bias int32 with zero point 0 and scale
 * x_scale * w_scale (ONNX Runtime's rule, checked to 1e-6). Scales are f32.
 * A Relu or Clip between the op and its Q folds into the output range:
 * Q(max(v, lo)) = max(Q(v), Q(lo)) since Q is monotone, so it vanishes when
 * Q(lo) is the bottom of the quantized type (the quantizer's usual zero
 * point for a Relu), and otherwise stays as an int8 Clip that joins the
 * integer op's kernel as its epilogue.
 *
 * The integer ops accumulate in int32 and requantize in their epilogue,
 * so int8 weights stay int8 and no float tensor exists between quantized
 * ops. Their results are the bracketed float computation's up to float
 * rounding: an output may differ by one quantization step where the float
 * value lies within rounding of a half step. Anything else (another
 * pattern, a value read elsewhere in float, f16 scales, blocked
 * quantization) is left as it is and runs as the float graph says.
 * DequantizeLinear nodes nobody reads any more are removed.
 */
#include "graph.h"
#include "../ops/op.h"

#include <math.h>
#include <string.h>

/* A DequantizeLinear's integer input, or a QuantizeLinear's float input,
 * with its constant scale and zero point. */
typedef struct QP {
    ValueId x, scale, zp;
    int64_t axis;
} QP;

typedef struct Pass {
    Graph *g;
    NodeId *user; /* value -> the node reading it, when it has one reader */
} Pass;

static Node *producer(Graph *g, ValueId v)
{
    if (v == VNONE || g->values[v].kind != VAL_NODE || g->values[v].producer < 0)
        return NULL;
    Node *n = &g->nodes[g->values[v].producer];
    return n->dead ? NULL : n;
}

/* The only reader of v (not a graph output), or NULL. */
static Node *sole_user(const Pass *P, ValueId v)
{
    const Value *x = &P->g->values[v];
    if (x->nuses != 1 || x->output >= 0 || P->user[v] < 0)
        return NULL;
    return &P->g->nodes[P->user[v]];
}

static int is_q8(DType t) { return t == DT_I8 || t == DT_U8; }

/* n is a live `op` (DQ or Q) with a constant f32 scale and a constant zero
 * point of an 8-bit type (or int32, with `i32`) of the scale's shape. */
static int qparams(const Graph *g, const Node *n, OpKind op, int i32, QP *p)
{
    if (!n || n->dead || n->op != op || n->nin < 3 || n->in[1] == VNONE || n->in[2] == VNONE)
        return 0;
    const Value *s = &g->values[n->in[1]], *z = &g->values[n->in[2]];
    if (s->kind != VAL_CONST || !s->data || s->dtype != DT_F32 || z->kind != VAL_CONST || !z->data ||
        !(is_q8(z->dtype) || (i32 && z->dtype == DT_I32)) || !shape_equal(&s->shape, &z->shape))
        return 0;
    const Attr *a = node_attr(n, "block_size");
    if ((a && (a->kind != ATTR_INT || a->i != 0)) || node_attr(n, "output_dtype"))
        return 0;
    a = node_attr(n, "axis");
    if (a && a->kind != ATTR_INT)
        return 0;
    p->x = n->in[0];
    p->scale = n->in[1];
    p->zp = n->in[2];
    p->axis = a ? a->i : 1;
    return 1;
}

static int64_t numel(const Graph *g, ValueId v) { return shape_numel(&g->values[v].shape); }

/* v = DQ(x) per tensor, 8-bit. */
static int dq_act(Graph *g, ValueId v, QP *p)
{
    return v != VNONE && qparams(g, producer(g, v), OP_DEQUANTIZELINEAR, 0, p) && numel(g, p->scale) == 1;
}

/* v = DQ(w) of a constant 8-bit w of rank `rank`, per tensor or per
 * channel along `axis` (numel of the scale: w's dim there). */
static int dq_weight(Graph *g, ValueId v, int rank, int axis, QP *p)
{
    if (v == VNONE || !qparams(g, producer(g, v), OP_DEQUANTIZELINEAR, 0, p))
        return 0;
    const Value *w = &g->values[p->x];
    if (w->kind != VAL_CONST || !w->data || !is_q8(w->dtype) || w->shape.rank != rank)
        return 0;
    if (numel(g, p->scale) == 1)
        return 1;
    int64_t ax = p->axis < 0 ? p->axis + rank : p->axis;
    return ax == axis && g->values[p->scale].shape.rank == 1 && g->values[p->scale].shape.dim[0] == w->shape.dim[axis];
}

/* Scale element i of a per-tensor or per-channel scale. */
static float scale_at(const Graph *g, ValueId s, int64_t i)
{
    return ((const float *)g->values[s].data)[numel(g, s) == 1 ? 0 : i];
}

/* v = DQ(b) of a constant int32 vector of M values with zero point 0 and
 * scale x_scale * w_scale[m]. */
static int dq_bias(Graph *g, ValueId v, int64_t M, const QP *px, const QP *pw, QP *p)
{
    if (!qparams(g, producer(g, v), OP_DEQUANTIZELINEAR, 1, p))
        return 0;
    const Value *b = &g->values[p->x], *z = &g->values[p->zp];
    if (b->kind != VAL_CONST || !b->data || b->dtype != DT_I32 || b->shape.rank != 1 || b->shape.dim[0] != M ||
        z->dtype != DT_I32)
        return 0;
    int64_t ns = numel(g, p->scale);
    if (ns != 1 && (ns != M || (p->axis != 0 && p->axis != -1)))
        return 0;
    float sx = scale_at(g, px->scale, 0);
    for (int64_t m = 0; m < M; m++) {
        double want = (double)(sx * scale_at(g, pw->scale, m)), got = scale_at(g, p->scale, m);
        if (dtype_get_i(DT_I32, z->data, ns == 1 ? 0 : m) != 0 || fabs(got - want) > 1e-6 * fabs(want))
            return 0;
    }
    return 1;
}

/* Range of an 8-bit quantized type. */
static void qrange(DType t, double *lo, double *hi)
{
    *lo = t == DT_I8 ? -128 : 0;
    *hi = t == DT_I8 ? 127 : 255;
}

/* QuantizeLinear of the real value r (f32 arithmetic, half to even). */
static double quantize(const Graph *g, const QP *p, double r)
{
    double lo, hi;
    DType t = g->values[p->zp].dtype;
    qrange(t, &lo, &hi);
    float q = nearbyintf((float)r / scale_at(g, p->scale, 0)) + (float)dtype_get_i(t, g->values[p->zp].data, 0);
    return q < lo ? lo : q > hi ? hi : q;
}

/* Read a Relu or Clip node's real range [*lo, *hi]; 0 if it is neither or
 * its bounds are not constant scalars. */
static int act_range(const Graph *g, const Node *n, double *lo, double *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (n->op == OP_RELU) {
        *lo = 0;
        return 1;
    }
    if (n->op != OP_CLIP)
        return 0;
    for (int i = 1; i < n->nin && i < 3; i++) {
        if (n->in[i] == VNONE)
            continue;
        const Value *v = &g->values[n->in[i]];
        if (v->kind != VAL_CONST || !v->data || !dtype_is_float(v->dtype) || shape_numel(&v->shape) != 1)
            return 0;
        *(i == 1 ? lo : hi) = dtype_get_f(v->dtype, v->data, 0);
    }
    const Attr *a;
    if ((a = node_attr(n, "min")) && a->kind == ATTR_FLOAT)
        *lo = a->f;
    if ((a = node_attr(n, "max")) && a->kind == ATTR_FLOAT)
        *hi = a->f;
    return 1;
}

/* The QuantizeLinear (per tensor, 8-bit) that alone reads y, directly or
 * through one Relu/Clip that alone reads y (*act, else NULL). */
static Node *q_after(Pass *P, ValueId y, Node **act, QP *p)
{
    Graph *g = P->g;
    double lo, hi;
    Node *u = sole_user(P, y);
    *act = NULL;
    if (u && act_range(g, u, &lo, &hi) && u->in[0] == y) {
        *act = u;
        u = sole_user(P, u->out[0]);
    }
    if (!u || u->in[0] != (*act ? (*act)->out[0] : y))
        return NULL;
    return qparams(g, u, OP_QUANTIZELINEAR, 0, p) && numel(g, p->scale) == 1 ? u : NULL;
}

static ValueId *inputs(Graph *g, int n)
{
    ValueId *in = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        in[i] = VNONE;
    return in;
}

/* An 8-bit scalar constant of the zero point's type. */
static ValueId q8_const(Graph *g, const QP *p, const char *name, double v)
{
    Shape s = {0, {0}};
    ValueId c = graph_add_const(g, name, g->values[p->zp].dtype, &s, NULL);
    dtype_set_i(g->values[c].dtype, g->values[c].data, 0, (int64_t)v);
    return c;
}

/* Node n now computes `op` from in[nin] and writes the value Q node qn
 * wrote; an activation act between them vanishes, or becomes an 8-bit
 * Clip of n's output when it still clamps the quantized range. */
static void retarget(Pass *P, Node *n, OpKind op, ValueId *in, int nin, Node *qn, Node *act, const QP *py)
{
    Graph *g = P->g;
    NodeId id = (NodeId)(n - g->nodes);
    ValueId y = n->out[0], z = qn->out[0];
    if (n->op != op) {
        n->op = op;
        n->op_type = optab[op].name;
        if (strcmp(optab[op].domain, ""))
            n->opset = 1;
    }
    n->in = in;
    n->nin = nin;
    qn->dead = 1;
    double lo = -INFINITY, hi = INFINITY, tlo, thi;
    qrange(g->values[py->zp].dtype, &tlo, &thi);
    if (act)
        act_range(g, act, &lo, &hi);
    double qlo = lo == -INFINITY ? tlo : quantize(g, py, lo), qhi = hi == INFINITY ? thi : quantize(g, py, hi);
    if (act && (qlo > tlo || qhi < thi)) {
        /* n writes y (now 8-bit); act clamps it into z */
        Value *yv = &g->values[y];
        yv->typed = 0;
        yv->dtype = DT_UNDEF;
        ValueId *ain = inputs(g, 3);
        ain[0] = y;
        ain[1] = q8_const(g, py, arena_printf(g->arena, "%s_qmin", act->name), qlo);
        ain[2] = q8_const(g, py, arena_printf(g->arena, "%s_qmax", act->name), qhi);
        act->op = OP_CLIP;
        act->op_type = optab[OP_CLIP].name;
        act->opset = g->opset > 13 ? g->opset : 13;
        act->in = ain;
        act->nin = 3;
        act->nattr = 0;
        act->out[0] = z;
        g->values[z].producer = (NodeId)(act - g->nodes);
        return;
    }
    if (act)
        act->dead = 1;
    n->out[0] = z;
    g->values[z].producer = id;
    g->values[y].producer = -1;
}

static int attr_i(const Node *n, const char *name, int64_t def)
{
    const Attr *a = node_attr(n, name);
    return a && a->kind == ATTR_INT ? (int)a->i : (int)def;
}

static double attr_f(const Node *n, const char *name, double def)
{
    const Attr *a = node_attr(n, name);
    return a && a->kind == ATTR_FLOAT ? a->f : def;
}

/* The transpose of the constant matrix w [N, K] as a new constant [K, N]. */
static ValueId transposed(Graph *g, ValueId w)
{
    Shape s = g->values[w].shape;
    int64_t N = s.dim[0], K = s.dim[1];
    size_t es = (size_t)dtype_size(g->values[w].dtype);
    Shape t = {2, {K, N}};
    ValueId v = graph_add_const(g, arena_printf(g->arena, "%s_T", g->values[w].name), g->values[w].dtype, &t, NULL);
    const unsigned char *src = g->values[w].data;
    unsigned char *dst = g->values[v].data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            memcpy(dst + (size_t)(k * N + n) * es, src + (size_t)(n * K + k) * es, es);
    return v;
}

/* Conv, MatMul, Gemm -> QLinearConv, QLinearMatMul. */
static int linear(Pass *P, Node *n)
{
    Graph *g = P->g;
    QP px, pw, pb, py;
    Node *act, *qn;
    int conv = n->op == OP_CONV, gemm = n->op == OP_GEMM;
    int trans_b = gemm ? attr_i(n, "transB", 0) : 0;
    if (gemm && (attr_i(n, "transA", 0) || attr_f(n, "alpha", 1.0) != 1.0 || (n->nin > 2 && n->in[2] != VNONE)))
        return 0;
    if (n->nin < 2 || !dq_act(g, n->in[0], &px))
        return 0;
    if (!(qn = q_after(P, n->out[0], &act, &py)))
        return 0;
    if (conv) {
        const Value *w;
        if (!qparams(g, producer(g, n->in[1]), OP_DEQUANTIZELINEAR, 0, &pw))
            return 0;
        w = &g->values[pw.x];
        if (w->shape.rank < 3 || !dq_weight(g, n->in[1], w->shape.rank, 0, &pw))
            return 0;
        int bias = n->nin > 2 && n->in[2] != VNONE;
        if (bias && !dq_bias(g, n->in[2], w->shape.dim[0], &px, &pw, &pb))
            return 0;
        ValueId *in = inputs(g, 9);
        ValueId src[9] = {px.x, px.scale, px.zp, pw.x, pw.scale, pw.zp, py.scale, py.zp, bias ? pb.x : VNONE};
        memcpy(in, src, sizeof src);
        retarget(P, n, OP_QLINEARCONV, in, bias ? 9 : 8, qn, act, &py);
        return 1;
    }
    if (!dq_weight(g, n->in[1], 2, trans_b ? 0 : 1, &pw))
        return 0;
    ValueId w = trans_b ? transposed(g, pw.x) : pw.x;
    ValueId *in = inputs(g, 8);
    ValueId src[8] = {px.x, px.scale, px.zp, w, pw.scale, pw.zp, py.scale, py.zp};
    memcpy(in, src, sizeof src);
    n->nattr = 0;
    retarget(P, n, OP_QLINEARMATMUL, in, 8, qn, act, &py);
    return 1;
}

/* Add, AveragePool, GlobalAveragePool -> their com.microsoft QLinear forms. */
static int requantized(Pass *P, Node *n)
{
    Graph *g = P->g;
    QP pa, pb, py;
    Node *act, *qn;
    int add = n->op == OP_ADD;
    if (n->nin < (add ? 2 : 1) || !dq_act(g, n->in[0], &pa) || (add && !dq_act(g, n->in[1], &pb)))
        return 0;
    if (add && g->values[pa.zp].dtype != g->values[pb.zp].dtype)
        return 0;
    if (!(qn = q_after(P, n->out[0], &act, &py)) || g->values[py.zp].dtype != g->values[pa.zp].dtype)
        return 0;
    if (add) {
        ValueId *in = inputs(g, 8);
        ValueId src[8] = {pa.x, pa.scale, pa.zp, pb.x, pb.scale, pb.zp, py.scale, py.zp};
        memcpy(in, src, sizeof src);
        retarget(P, n, OP_QLINEARADD, in, 8, qn, act, &py);
        return 1;
    }
    ValueId *in = inputs(g, 5);
    ValueId src[5] = {pa.x, pa.scale, pa.zp, py.scale, py.zp};
    memcpy(in, src, sizeof src);
    retarget(P, n, n->op == OP_AVERAGEPOOL ? OP_QLINEARAVERAGEPOOL : OP_QLINEARGLOBALAVERAGEPOOL, in, 5, qn, act, &py);
    return 1;
}

/* Same scale and zero point (values and types). */
static int same_qp(const Graph *g, const QP *a, const QP *b)
{
    return g->values[a->zp].dtype == g->values[b->zp].dtype && scale_at(g, a->scale, 0) == scale_at(g, b->scale, 0) &&
           dtype_get_i(g->values[a->zp].dtype, g->values[a->zp].data, 0) ==
               dtype_get_i(g->values[b->zp].dtype, g->values[b->zp].data, 0);
}

/* MaxPool and data movement between equal DQ and Q: the op on x itself. */
static int passthrough(Pass *P, Node *n)
{
    Graph *g = P->g;
    QP px, py;
    Node *act, *qn;
    if (n->op == OP_MAXPOOL && n->nout > 1 && n->out[1] != VNONE &&
        (g->values[n->out[1]].nuses || g->values[n->out[1]].output >= 0))
        return 0;
    if (n->nin < 1 || !dq_act(g, n->in[0], &px) || !(qn = q_after(P, n->out[0], &act, &py)) || act ||
        !same_qp(g, &px, &py))
        return 0;
    ValueId *in = inputs(g, n->nin > 3 ? n->nin : 3);
    memcpy(in, n->in, sizeof(ValueId) * (size_t)n->nin);
    in[0] = px.x;
    int nin = n->nin;
    if (n->op == OP_PAD) {
        const Attr *m = node_attr(n, "mode");
        if (n->opset < 11 || (m && (m->kind != ATTR_STRING || strcmp(m->s, "constant"))))
            return 0;
        double c = 0;
        if (nin > 2 && in[2] != VNONE) {
            const Value *v = &g->values[in[2]];
            if (v->kind != VAL_CONST || !v->data || !dtype_is_float(v->dtype) || shape_numel(&v->shape) != 1)
                return 0;
            c = dtype_get_f(v->dtype, v->data, 0);
        }
        in[2] = q8_const(g, &py, arena_printf(g->arena, "%s_qvalue", n->name), quantize(g, &py, c));
        nin = nin > 3 ? nin : 3;
    }
    retarget(P, n, n->op, in, nin, qn, NULL, &py);
    return 1;
}

int graph_qdq(Graph *g, Diag *d)
{
    (void)d;
    Pass P = {g, arena_alloc(g->arena, sizeof(NodeId) * (size_t)(g->nvalues + 1))};
    graph_count_uses(g);
    for (ValueId v = 0; v < g->nvalues; v++)
        P.user[v] = -1;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead)
            for (int j = 0; j < g->nodes[i].nin; j++)
                if (g->nodes[i].in[j] != VNONE)
                    P.user[g->nodes[i].in[j]] = i;
    int changed = 0;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || n->nout < 1 || n->out[0] == VNONE)
            continue;
        switch (n->op) {
        case OP_CONV: case OP_MATMUL: case OP_GEMM: changed |= linear(&P, n); break;
        case OP_ADD: case OP_AVERAGEPOOL: case OP_GLOBALAVERAGEPOOL: changed |= requantized(&P, n); break;
        case OP_MAXPOOL: case OP_FLATTEN: case OP_RESHAPE: case OP_TRANSPOSE: case OP_SQUEEZE: case OP_UNSQUEEZE:
        case OP_PAD: changed |= passthrough(&P, n); break;
        default: break;
        }
    }
    if (!changed)
        return 0;
    /* DequantizeLinear nodes left without readers (the weights' and the
     * activations' float copies) go now, before inference folds them */
    graph_count_uses(g);
    for (int i = g->nnodes - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_DEQUANTIZELINEAR || n->nout < 1 || n->out[0] == VNONE)
            continue;
        const Value *y = &g->values[n->out[0]];
        if (y->nuses || y->output >= 0)
            continue;
        n->dead = 1;
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] != VNONE)
                g->values[n->in[j]].nuses--;
    }
    return 0;
}
