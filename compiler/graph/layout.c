/*
 * layout.c: the storage order of each value (graph_layout).
 *
 * ONNX states convolutions over NCHW tensors, where the channels of one
 * pixel lie H*W apart. The kernels that matter read the other way: a
 * convolution as a contraction over input channels wants a pixel's
 * channels side by side (its output tile then runs along output channels,
 * however few pixels a late layer has), and a depthwise convolution wants
 * the same tap of neighbouring channels side by side, to use one vector
 * lane per channel. So the activations of convolution chains are stored
 * channels-last (NHWC: a value's `perm` is 0 2 3 1).
 *
 * A layout is a fact about storage only. Ops index a value by its logical
 * (NCHW) coordinates and lowering maps them (lw_load, lw_store), so a
 * Conv that reads an NCHW input and writes an NHWC output transposes as it
 * goes: there are no conversion nodes, and any mix of layouts is correct.
 * What the pass must respect is which ops read storage directly: views
 * (Reshape, Flatten share their input's bytes in row-major order), graph
 * inputs and outputs (the caller's layout), and any op not known to go
 * through lw_load/lw_store. A value touched by such an op stays row-major.
 *
 * The rule: a float value of rank 4, made by a node and not a graph
 * output, is stored NHWC when every node that writes or reads it is a
 * layout-neutral op (Conv, ConvTranspose, Pad, pooling, Concat,
 * elementwise), the values so connected include a Conv's input or output
 * (a chain of elementwise ops alone gains nothing), and the convolutions
 * of those connected values gain from it: the component has a depthwise
 * Conv, or most of its convolution work (by multiply-adds) is in Convs
 * with at least four vectors of output channels. A contraction's output
 * tile runs along output channels in NHWC and along an output row (or a
 * run of rows) in NCHW. With few vectors of channels, the NHWC tile needs
 * nearly a broadcast per FMA and NCHW's longer rows win (U-Net's
 * 16-channel 3x3 convolutions at 128x128 ran 45% slower channels-last,
 * its 64-channel ones 10-15% faster). Weights larger than L2 are no
 * reason against: contract.c blocks the reduction so that a panel is read
 * from cache by every row block. The choice is per component, not per
 * value: a Conv between layouts writes through a scattered epilogue, and
 * the next one reads its input across planes.
 *
 * A depthwise Conv's weights [M, 1, KH, KW], when nothing else reads
 * them, are stored [1, KH, KW, M] so that a tap of neighbouring channels
 * is one vector load.
 *
 * The results show in `--dump graph` (a value stored otherwise than
 * row-major prints its order) and in `--dump kernel` (buffer shapes are
 * storage shapes).
 */
#include "graph.h"
#include "../ops/op.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char NHWC[4] = {0, 2, 3, 1};
static const unsigned char TAPS_MAJOR[4] = {1, 2, 3, 0};

/* Ops that index every value they touch through lw_load/lw_store. */
static int layout_neutral(const Node *n)
{
    switch (n->op) {
    case OP_CONV:
    case OP_CONVTRANSPOSE:
    case OP_PAD:
    case OP_MAXPOOL:
    case OP_AVERAGEPOOL:
    case OP_GLOBALAVERAGEPOOL:
    case OP_GLOBALMAXPOOL:
    case OP_CONCAT:
        return 1;
    default:
        return (optab[n->op].flags & OPF_EW) && !(optab[n->op].flags & OPF_VIEW);
    }
}

static int candidate(const Value *v)
{
    return v->typed && v->kind == VAL_NODE && v->output < 0 && v->shape.rank == 4 && dtype_is_float(v->dtype) &&
           !dtype_is_half(v->dtype);
}

static int find(int *parent, int x)
{
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

static void join(int *parent, int x, int y)
{
    x = find(parent, x);
    y = find(parent, y);
    if (x != y)
        parent[x] = y;
}

Shape value_storage_shape(const Value *v)
{
    Shape s = v->shape;
    if (v->permuted)
        for (int i = 0; i < s.rank; i++)
            s.dim[i] = v->shape.dim[v->perm[i]];
    return s;
}

/* A depthwise Conv: group = input channels = output channels, one input
 * channel per group. */
static int depthwise(const Graph *g, const Node *n)
{
    if (n->op != OP_CONV || n->nin < 2 || n->in[1] == VNONE)
        return 0;
    const Value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
    int64_t group = 1;
    const Attr *ga = node_attr(n, "group");
    if (ga && ga->kind == ATTR_INT)
        group = ga->i;
    return w->shape.rank == 4 && x->shape.rank == 4 && group > 1 && group == x->shape.dim[1] &&
           w->shape.dim[0] == group && w->shape.dim[1] == 1;
}

/* ... whose constant weights only it reads. */
static int depthwise_weights(const Graph *g, const Node *n)
{
    if (!depthwise(g, n))
        return 0;
    const Value *w = &g->values[n->in[1]];
    return w->kind == VAL_CONST && w->nuses == 1 && !dtype_is_half(w->dtype);
}

int graph_layout(Graph *g, int lanes, Diag *d)
{
    (void)d;
    const char *env = getenv("KILN_LAYOUT");
    if (env && !strcmp(env, "nchw"))
        return 0;
    graph_count_uses(g);
    int nv = g->nvalues;
    int *parent = malloc(sizeof(int) * (size_t)(nv + 1));
    unsigned char *pinned = calloc((size_t)nv + 1, 1), *conv = calloc((size_t)nv + 1, 1);
    if (!parent || !pinned || !conv) {
        free(parent);
        free(pinned);
        free(conv);
        return diag_error(d, "out of memory choosing layouts");
    }
    for (int v = 0; v < nv; v++)
        parent[v] = v;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int neutral = layout_neutral(n), first = -1;
        for (int j = 0; j < n->nin + n->nout; j++) {
            ValueId v = j < n->nin ? n->in[j] : n->out[j - n->nin];
            if (v == VNONE || !candidate(&g->values[v]))
                continue;
            if (!neutral) {
                pinned[v] = 1;
                continue;
            }
            if (first < 0)
                first = v;
            join(parent, first, v);
            if (n->op == OP_CONV || n->op == OP_CONVTRANSPOSE)
                conv[v] = 1;
        }
    }
    for (int v = 0; v < nv; v++)
        if (conv[v])
            conv[find(parent, v)] = 1;
    /* per component: multiply-adds of Convs that gain channels-last, less
     * those of Convs that lose; a depthwise Conv decides alone */
    double *gain = calloc((size_t)nv + 1, sizeof(double));
    if (!gain) {
        free(parent);
        free(pinned);
        free(conv);
        return diag_error(d, "out of memory choosing layouts");
    }
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_CONV || !candidate(&g->values[n->out[0]]))
            continue;
        const Value *y = &g->values[n->out[0]], *w = &g->values[n->in[1]];
        double macs = (double)shape_numel(&y->shape) * (double)shape_numel(&w->shape) / (double)w->shape.dim[0];
        int r = find(parent, n->out[0]);
        if (depthwise(g, n))
            gain[r] = 1e300;
        else if (gain[r] < 1e300)
            gain[r] += y->shape.dim[1] >= 4 * (int64_t)lanes ? macs : -macs;
    }
    for (int v = 0; v < nv; v++) {
        Value *x = &g->values[v];
        if (candidate(x) && !pinned[v] && conv[find(parent, v)] && gain[find(parent, v)] > 0) {
            x->permuted = 1;
            memcpy(x->perm, NHWC, sizeof NHWC);
        }
    }
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || !depthwise_weights(g, n))
            continue;
        if (!g->values[n->in[0]].permuted && !g->values[n->out[0]].permuted)
            continue;
        Value *w = &g->values[n->in[1]];
        w->permuted = 1;
        memcpy(w->perm, TAPS_MAJOR, sizeof TAPS_MAJOR);
    }
    free(parent);
    free(pinned);
    free(conv);
    free(gain);
    return 0;
}
