/*
 * plan.c: buffer placement.
 *
 * Every intermediate tensor (BUF_ARENA) lives in one arena whose size is a
 * compile-time constant. Liveness is an interval of kernel indices: from the
 * first kernel that touches the buffer to the last. Buffers are placed
 * greedily, largest first (ties by earlier first use), each at the lowest
 * 64-byte-aligned offset where it overlaps no placed buffer whose interval
 * intersects its own. Intervals are closed, so a kernel's inputs and outputs
 * never share memory. Weights are packed in order into the blob, each
 * 64-byte aligned.
 */
#include "kernel.h"

#include <stdlib.h>

enum { ALIGN = 64 };

static int64_t align_up(int64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static void touch_expr(Buffer *bufs, const Expr *e, int k)
{
    if (!e)
        return;
    if (e->kind == E_LOAD) {
        Buffer *b = &bufs[e->buf];
        if (b->first < 0 || k < b->first)
            b->first = k;
        if (k > b->last)
            b->last = k;
    }
    touch_expr(bufs, e->a, k);
    touch_expr(bufs, e->b, k);
    touch_expr(bufs, e->c, k);
}

static void touch_block(Buffer *bufs, const Stmt *s, int k)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE) {
            Buffer *b = &bufs[s->buf];
            if (b->first < 0 || k < b->first)
                b->first = k;
            if (k > b->last)
                b->last = k;
        }
        touch_expr(bufs, s->extent, k);
        touch_expr(bufs, s->index, k);
        touch_expr(bufs, s->value, k);
        for (int i = 0; i < s->nargs; i++)
            touch_expr(bufs, s->args[i], k);
        touch_block(bufs, s->body, k);
        touch_block(bufs, s->els, k);
    }
}

static const Buffer *sort_bufs;

static int by_size(const void *x, const void *y)
{
    const Buffer *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    int64_t sa = a->numel * dtype_size(a->dtype), sb = b->numel * dtype_size(b->dtype);
    if (sa != sb)
        return sa > sb ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

int prog_plan(Program *p, Diag *d)
{
    (void)d;
    for (int i = 0; i < p->nbufs; i++)
        p->bufs[i].first = p->bufs[i].last = -1;
    for (int k = 0; k < p->nkernels; k++)
        touch_block(p->bufs, p->kernels[k].body, k);

    /* weights: packed in buffer order */
    int64_t woff = 0;
    for (int i = 0; i < p->nbufs; i++) {
        Buffer *b = &p->bufs[i];
        if (b->kind != BUF_WEIGHT)
            continue;
        b->offset = woff;
        woff = align_up(woff + b->numel * dtype_size(b->dtype));
    }
    p->weight_bytes = woff;

    /* arena: greedy by size over live intervals */
    int *order = arena_alloc(p->arena, sizeof(int) * (size_t)(p->nbufs + 1));
    int n = 0;
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].kind == BUF_ARENA && p->bufs[i].first >= 0)
            order[n++] = i;
    sort_bufs = p->bufs;
    qsort(order, (size_t)n, sizeof *order, by_size);
    int64_t top = 0;
    for (int i = 0; i < n; i++) {
        Buffer *b = &p->bufs[order[i]];
        int64_t size = align_up(b->numel * dtype_size(b->dtype));
        int64_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                const Buffer *o = &p->bufs[order[j]];
                if (o->last < b->first || b->last < o->first)
                    continue; /* never live together */
                int64_t osize = align_up(o->numel * dtype_size(o->dtype));
                if (off < o->offset + osize && o->offset < off + size) {
                    off = o->offset + osize;
                    moved = 1;
                }
            }
        }
        b->offset = off;
        if (off + size > top)
            top = off + size;
    }
    p->arena_bytes = top;
    return 0;
}
