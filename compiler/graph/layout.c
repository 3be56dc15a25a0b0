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
 * elementwise) and the values so connected include a Conv's input or
 * output (a chain of elementwise ops alone gains nothing). Channels-last,
 * a contraction's output tile runs along output channels, its broadcast
 * operand walks a pixel's input channels contiguously, a depthwise Conv
 * puts one channel in each vector lane, and a padded Conv reads its input
 * in place (the halo, below). Measured against NCHW on the benchmark
 * models (ms, the least p10 of alternated runs, 1 thread, 2026-12-04):
 * MobileNetV1 0.124 vs 0.197, DS-CNN 0.034 vs 0.057, ResNet-8 0.155 vs
 * 0.163, U-Net 7.08 vs 7.41, SqueezeNet 5.06 vs 6.24, MobileNetV2 5.10
 * vs 6.57, ResNet-18 21.9 vs 25.0 (KILN_LAYOUT=nchw turns the pass off,
 * for such comparisons). The
 * choice is per component, not per value: a Conv between layouts writes
 * through a scattered epilogue, and the next one reads its input across
 * planes.
 *
 * A depthwise Conv's weights [M, 1, KH, KW], when nothing else reads
 * them, are stored [1, KH, KW, M] so that a tap of neighbouring channels
 * is one vector load.
 *
 * A channels-last value that a padded Conv reads gets a halo: a border of
 * zeros around it in its buffer, as wide as the widest padding a Conv
 * reads it with (at most MAX_HALO), which its producer's kernel writes
 * before the value itself. The Conv then reads the value in place
 * (conv.c, window_in_halo) instead of first copying it into a
 * zero-bordered scratch: MobileNetV2's second block copied 4.9 MB per
 * inference that way, and the network ran 25% faster without the copies.
 *
 * A depthwise Conv needs no halo: its taps are vectors of neighbouring
 * channels loaded under a bounds test, which loop_partition (partition.c)
 * removes from every pixel but the border ones. Its halo cost memory and
 * bought nothing: DS-CNN, whose depthwise Convs read 25x5 maps, had an
 * arena 1.26x its peak live set with halos (80384 bytes) and 1.00x
 * without (64000), and faster with the pixel loops partitioned (0.0322 vs 0.0329 ms, 1 thread,
 * 2026-12-05); MobileNetV1 0.103 vs 0.108 ms.
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
enum { MAX_HALO = 3 };

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
    for (int i = 0; i < s.rank; i++) {
        int d = v->permuted ? v->perm[i] : i;
        s.dim[i] = v->shape.dim[d] + (v->haloed ? 2 * v->halo[d] : 0);
    }
    return s;
}

/* A depthwise Conv: group = input channels = output channels, one input
 * channel per group. */
static int depthwise(Graph *g, const Node *n)
{
    if (n->op != OP_CONV || n->nin < 2 || n->in[1] == VNONE)
        return 0;
    const Value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
    Window win;
    int64_t group;
    if (w->shape.rank != 4 || x->shape.rank != 4 || conv_window(n, &win, &group))
        return 0; /* inference reported a bad Conv */
    return group > 1 && group == x->shape.dim[1] && w->shape.dim[0] == group && w->shape.dim[1] == 1;
}

/* ... whose constant weights only it reads. */
static int depthwise_weights(Graph *g, const Node *n)
{
    if (!depthwise(g, n))
        return 0;
    const Value *w = &g->values[n->in[1]];
    return w->kind == VAL_CONST && w->nuses == 1 && !dtype_is_half(w->dtype);
}

int graph_layout(Graph *g, Diag *d)
{
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
    for (int v = 0; v < nv; v++) {
        Value *x = &g->values[v];
        if (candidate(x) && !pinned[v] && conv[find(parent, v)]) {
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
    /* halos: each channels-last input of a padded Conv gets a zero border
     * as wide as the widest padding a Conv reads it with (at most
     * MAX_HALO), written once by its producer; not for a depthwise Conv,
     * which reads its taps under bounds tests that partition.c takes out
     * of the interior, as fast and without the border's memory */
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_CONV || n->in[1] == VNONE)
            continue;
        Value *x = &g->values[n->in[0]];
        Window win;
        int64_t group, need[KILN_MAX_RANK];
        if (!x->permuted || depthwise(g, n) || conv_window(n, &win, &group))
            continue; /* (or inference reported a bad Conv) */
        int ok = 1;
        for (int j = 0; j < win.rank; j++) {
            need[j] = window_border(&win, j);
            ok &= need[j] <= MAX_HALO;
        }
        for (int j = 0; ok && j < win.rank; j++)
            if (need[j] > x->halo[j + 2]) {
                x->halo[j + 2] = need[j];
                x->haloed = 1;
            }
    }
    free(parent);
    free(pinned);
    free(conv);
    return 0;
}
