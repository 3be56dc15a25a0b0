/*
 * fold.c: constant folding by running the op's own lowering.
 *
 * A node whose inputs are all constant is lowered to Kernel IR exactly as it
 * would be for the generated program, and that kernel is run by the Kernel
 * IR interpreter (kernel/interp.c). So folding needs no second definition of
 * any operator, and it checks the lowering on real data as a side effect.
 * Views fold to a copy of their input's bytes. Outputs larger than their
 * inputs (and than FOLD_MAX_NEW elements) are left to run time, so that an
 * Expand of a scalar does not become megabytes of weights. Outputs with no
 * elements fold without running anything, and a node whose kernels would
 * run more than FOLD_MAX_WORK statements is left to run time too: folding
 * must not make compile time unbounded (a loop nest over an empty tensor
 * may still have a huge outer extent).
 */
#include "graph.h"
#include "../kernel/lower.h"
#include "../ops/op.h"

#include <string.h>

enum { FOLD_MAX_NEW = 1 << 16 };
#define FOLD_MAX_WORK 268435456.0 /* 2^28 statements: a few seconds of interpreting */

/* Statements the interpreter runs for the block s (an estimate: both arms
 * of an if count). A loop runs its extent times its body plus the test; a
 * double saturates where int64 would overflow. Nesting is that of one
 * kernel's loops, never as deep as the graph. */
static double block_work(const Stmt *s)
{
    double w = 0;
    for (; s; s = s->next) {
        w += 1;
        if (s->kind == S_LOOP)
            w += (s->extent->kind == E_CONST ? (double)s->extent->i : FOLD_MAX_WORK) * (1 + block_work(s->body));
        else if (s->kind == S_IF)
            w += block_work(s->body) + block_work(s->els);
    }
    return w;
}

int graph_fold_node(Graph *g, Node *n, int *out_folded, Diag *d)
{
    *out_folded = 0;
    const OpInfo *oi = &optab[n->op];
    int64_t in_elems = 0, out_elems = 0;
    int pending = 0;
    /* string values are records pointing at bytes: a folded one would
     * point into memory the fold frees (kiln takes string constants only
     * as attributes) */
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] != VNONE && dtype_is_string(g->values[n->in[i]].dtype))
            return 0;
    for (int i = 0; i < n->nout; i++)
        if (n->out[i] != VNONE && dtype_is_string(g->values[n->out[i]].dtype))
            return 0;
    /* sums of element counts, saturating (a node may read one large
     * value many times); a shape that fails shape_check is not folded */
    for (int i = 0; i < n->nin; i++) {
        int64_t e;
        if (n->in[i] == VNONE)
            continue;
        if (shape_check(&g->values[n->in[i]].shape, 1, &e))
            return 0;
        if (ck_add(in_elems, e, &in_elems))
            in_elems = INT64_MAX;
    }
    for (int i = 0; i < n->nout; i++) {
        int64_t e;
        if (n->out[i] == VNONE || g->values[n->out[i]].kind == VAL_CONST)
            continue;
        if (shape_check(&g->values[n->out[i]].shape, 1, &e))
            return 0;
        if (ck_add(out_elems, e, &out_elems))
            out_elems = INT64_MAX;
        pending++;
    }
    if (!pending)
        return 0; /* infer computed them: graph_infer retires the node */
    if (out_elems > FOLD_MAX_NEW && out_elems > in_elems)
        return 0;

    if (out_elems == 0) {
        for (int i = 0; i < n->nout; i++)
            if (n->out[i] != VNONE && g->values[n->out[i]].kind != VAL_CONST)
                g->values[n->out[i]].data = arena_alloc(g->arena, 1);
    } else if (oi->flags & OPF_VIEW) {
        Value *in = &g->values[n->in[0]], *out = &g->values[n->out[0]];
        size_t bytes = (size_t)dtype_bytes(out->dtype, shape_numel(&out->shape));
        out->data = arena_alloc(g->arena, bytes ? bytes : 1);
        if (bytes)
            memcpy(out->data, in->data, bytes);
    } else {
        if (!oi->lower)
            return 0;
        Arena *tmp = arena_new();
        Program *p;
        int rc = kernel_lower_node(g, n, tmp, &p, d);
        double work = 0;
        for (int k = 0; !rc && k < p->nkernels; k++)
            work += block_work(p->kernels[k].body);
        if (!rc && work > FOLD_MAX_WORK) {
            arena_free(tmp);
            return 0; /* too slow to run here: the program computes it */
        }
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
        /* a routine found its constant data malformed (Program.status) */
        if (!rc && p->status >= 0 && *(const int64_t *)mem[p->status])
            rc = diag_node(d, g, n, "its constant input is malformed (a corrupt or truncated image)");
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
