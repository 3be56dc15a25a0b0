/*
 * fold.c: constant folding by running the op's own lowering.
 *
 * A node whose inputs are all constant is lowered to Kernel IR exactly as it
 * would be for the generated program, and that kernel is run by the Kernel
 * IR interpreter (kernel/interp.c). So folding needs no second definition of
 * any operator, and it checks the lowering on real data as a side effect.
 * Views fold to a copy of their input's bytes. Outputs larger than their
 * inputs (and than FOLD_MAX_NEW elements) are left to run time, so that an
 * Expand of a scalar does not become megabytes of weights.
 */
#include "graph.h"
#include "../kernel/lower.h"
#include "../ops/op.h"

#include <string.h>

enum { FOLD_MAX_NEW = 1 << 16 };

int graph_fold_node(Graph *g, Node *n, int *out_folded, Diag *d)
{
    *out_folded = 0;
    const OpInfo *oi = &optab[n->op];
    int64_t in_elems = 0, out_elems = 0;
    int pending = 0;
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] != VNONE)
            in_elems += shape_numel(&g->values[n->in[i]].shape);
    for (int i = 0; i < n->nout; i++)
        if (n->out[i] != VNONE && g->values[n->out[i]].kind != VAL_CONST) {
            out_elems += shape_numel(&g->values[n->out[i]].shape);
            pending++;
        }
    if (!pending)
        return 0; /* infer computed them: graph_infer retires the node */
    if (out_elems > FOLD_MAX_NEW && out_elems > in_elems)
        return 0;

    if (oi->flags & OPF_VIEW) {
        Value *in = &g->values[n->in[0]], *out = &g->values[n->out[0]];
        size_t bytes = (size_t)(shape_numel(&out->shape) * dtype_size(out->dtype));
        out->data = arena_alloc(g->arena, bytes ? bytes : 1);
        if (bytes)
            memcpy(out->data, in->data, bytes);
    } else {
        if (!oi->lower)
            return 0;
        Arena *tmp = arena_new();
        Program *p;
        int rc = kernel_lower_node(g, n, tmp, &p, d);
        void **mem = rc ? NULL : arena_alloc(tmp, sizeof(void *) * (size_t)(p->nbufs + 1));
        for (int b = 0; !rc && b < p->nbufs; b++) {
            Buffer *buf = &p->bufs[b];
            size_t bytes = (size_t)(buf->numel * dtype_size(buf->dtype));
            if (buf->kind == BUF_WEIGHT || buf->kind == BUF_INPUT)
                mem[b] = (void *)buf->data;
            else if (buf->kind == BUF_OUTPUT)
                mem[b] = g->values[n->out[buf->index]].data = arena_alloc(g->arena, bytes ? bytes : 1);
            else
                mem[b] = arena_alloc(tmp, bytes ? bytes : 1);
        }
        for (int k = 0; !rc && k < p->nkernels; k++)
            rc = kernel_interp(p, &p->kernels[k], mem, d);
        arena_free(tmp);
        if (rc)
            return 1;
    }
    for (int i = 0; i < n->nout; i++) {
        if (n->out[i] == VNONE)
            continue;
        Value *v = &g->values[n->out[i]];
        v->kind = VAL_CONST;
        v->producer = -1;
    }
    n->dead = 1;
    *out_folded = 1;
    return 0;
}
