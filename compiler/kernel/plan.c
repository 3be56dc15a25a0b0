/*
 * plan.c: buffer placement.
 *
 * Every intermediate tensor (BUF_ARENA) lives in one arena whose size is a
 * compile-time constant. Liveness is an interval of kernel indices: from the
 * first kernel that touches the buffer to the last. Placement sweeps the
 * kernels in order, as an allocator would run: buffers whose interval ended
 * are freed (joined with free neighbours), then each buffer first used at
 * this kernel, largest first, takes the lowest-addressed free block that
 * fits, or the space above the high-water mark. Free blocks live in a treap
 * ordered by offset and annotated with the largest block below each node,
 * so planning is O(n log n) in the number of buffers. Programs of at most
 * GREEDY_MAX buffers are also packed greedily, largest buffer first at the
 * lowest offset clear of the placed buffers live with it (tighter, but
 * quadratic), and keep whichever arena is smaller. Intervals are closed,
 * so a kernel's inputs and outputs never share memory. Weights are packed
 * in order into the blob, each 64-byte aligned.
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

/* ------------------------------------------------------- free blocks */

/* The arena's free blocks below the high-water mark, in a treap keyed by
 * offset; each node also knows the largest block in its subtree, so the
 * lowest-addressed block that fits is found in O(log n). */
typedef struct Block {
    int64_t off, size, maxsz;
    uint32_t prio;
    int l, r;                 /* children, -1 for none */
} Block;

typedef struct Free {
    Block *b;
    int n;
    int root;
    uint32_t seed;
} Free;

static int64_t maxsz(const Free *f, int t) { return t < 0 ? 0 : f->b[t].maxsz; }

static void update(Free *f, int t)
{
    Block *x = &f->b[t];
    x->maxsz = x->size;
    if (maxsz(f, x->l) > x->maxsz)
        x->maxsz = maxsz(f, x->l);
    if (maxsz(f, x->r) > x->maxsz)
        x->maxsz = maxsz(f, x->r);
}

static int merge(Free *f, int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    if (f->b[a].prio > f->b[b].prio) {
        f->b[a].r = merge(f, f->b[a].r, b);
        update(f, a);
        return a;
    }
    f->b[b].l = merge(f, a, f->b[b].l);
    update(f, b);
    return b;
}

/* Split t into blocks with offset < off (*lo) and >= off (*hi). */
static void split(Free *f, int t, int64_t off, int *lo, int *hi)
{
    if (t < 0) {
        *lo = *hi = -1;
        return;
    }
    if (f->b[t].off < off) {
        split(f, f->b[t].r, off, &f->b[t].r, hi);
        *lo = t;
    } else {
        split(f, f->b[t].l, off, lo, &f->b[t].l);
        *hi = t;
    }
    update(f, t);
}

static int new_block(Free *f, int64_t off, int64_t size)
{
    int t = f->n++;
    f->seed = f->seed * 1103515245u + 12345u; /* deterministic priorities */
    f->b[t] = (Block){off, size, size, f->seed, -1, -1};
    return t;
}

/* Lowest-addressed block of at least `size` bytes, or -1. */
static int first_fit(const Free *f, int t, int64_t size)
{
    while (t >= 0 && f->b[t].maxsz >= size) {
        if (maxsz(f, f->b[t].l) >= size)
            t = f->b[t].l;
        else if (f->b[t].size >= size)
            return t;
        else
            t = f->b[t].r;
    }
    return -1;
}

/* Remove the block at exactly offset off (present). */
static void take(Free *f, int64_t off)
{
    int lo, mid, hi;
    split(f, f->root, off, &lo, &mid);
    split(f, mid, off + 1, &mid, &hi);
    f->root = merge(f, lo, hi);
}

/* Return [off, off+size) to the free blocks, joined with its neighbours. */
static void give(Free *f, int64_t off, int64_t size)
{
    int lo, hi;
    split(f, f->root, off, &lo, &hi);
    int p = lo, q = hi;
    while (p >= 0 && f->b[p].r >= 0)
        p = f->b[p].r;  /* the block just below */
    while (q >= 0 && f->b[q].l >= 0)
        q = f->b[q].l;  /* the block just above */
    f->root = merge(f, lo, hi);
    if (p >= 0 && f->b[p].off + f->b[p].size == off) {
        off = f->b[p].off;
        size += f->b[p].size;
        take(f, off);
    }
    if (q >= 0 && off + size == f->b[q].off) {
        size += f->b[q].size;
        take(f, f->b[q].off);
    }
    split(f, f->root, off, &lo, &hi);
    f->root = merge(f, merge(f, lo, new_block(f, off, size)), hi);
}

/* ------------------------------------------------------------ placement */

static const Buffer *sort_bufs;

static int64_t buf_bytes(const Buffer *b) { return align_up(b->numel * dtype_size(b->dtype)); }

/* Allocation order: by first use, larger first at the same kernel. */
static int by_first(const void *x, const void *y)
{
    const Buffer *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    int64_t sa = buf_bytes(a), sb = buf_bytes(b);
    if (sa != sb)
        return sa > sb ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

static int by_last(const void *x, const void *y)
{
    const Buffer *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    if (a->last != b->last)
        return a->last < b->last ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

/* The sweep: offsets of the n buffers ids[] in *off; returns the arena size. */
static int64_t plan_sweep(Program *p, const int *ids, int n, int64_t *off)
{
    Arena *a = p->arena;
    int *alloc = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
    int *release = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
    int64_t *at = arena_alloc(a, sizeof(int64_t) * (size_t)(p->nbufs + 1));
    for (int i = 0; i < n; i++)
        alloc[i] = release[i] = ids[i];
    sort_bufs = p->bufs;
    qsort(alloc, (size_t)n, sizeof *alloc, by_first);
    qsort(release, (size_t)n, sizeof *release, by_last);
    /* each buffer makes at most two blocks: its release and the rest of
     * the block it was carved from */
    Free f = {arena_alloc(a, sizeof(Block) * (size_t)(2 * n + 1)), 0, -1, 12345u};
    int64_t top = 0;
    for (int i = 0, j = 0; i < n; i++) {
        const Buffer *b = &p->bufs[alloc[i]];
        for (; j < n && p->bufs[release[j]].last < b->first; j++)
            give(&f, at[release[j]], buf_bytes(&p->bufs[release[j]]));
        int64_t size = buf_bytes(b);
        int t = first_fit(&f, f.root, size);
        if (t >= 0) {
            int64_t o = f.b[t].off, rest = f.b[t].size - size;
            take(&f, o);
            if (rest)
                give(&f, o + size, rest);
            at[alloc[i]] = o;
        } else {
            /* a free block that ends at the top grows into new space */
            int hi = f.root;
            while (hi >= 0 && f.b[hi].r >= 0)
                hi = f.b[hi].r;
            if (hi >= 0 && f.b[hi].off + f.b[hi].size == top) {
                at[alloc[i]] = f.b[hi].off;
                take(&f, f.b[hi].off);
            } else {
                at[alloc[i]] = top;
            }
            top = at[alloc[i]] + size;
        }
    }
    for (int i = 0; i < n; i++)
        off[i] = at[ids[i]];
    return top;
}

static int by_size(const void *x, const void *y)
{
    const Buffer *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    int64_t sa = buf_bytes(a), sb = buf_bytes(b);
    if (sa != sb)
        return sa > sb ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

typedef struct Span {
    int64_t lo, hi;
} Span;

static int by_lo(const void *x, const void *y)
{
    const Span *a = x, *b = y;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

/* Greedy by size: largest buffer first, each at the lowest offset clear
 * of every placed buffer live at the same time. Packs tighter than the
 * sweep but costs O(n^2), so it runs only for programs of at most
 * GREEDY_MAX buffers. */
enum { GREEDY_MAX = 4096 };

static int64_t plan_greedy(Program *p, const int *ids, int n, int64_t *off)
{
    Arena *a = p->arena;
    int *order = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
    int64_t *at = arena_alloc(a, sizeof(int64_t) * (size_t)(p->nbufs + 1));
    Span *busy = arena_alloc(a, sizeof(Span) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        order[i] = ids[i];
    sort_bufs = p->bufs;
    qsort(order, (size_t)n, sizeof *order, by_size);
    int64_t top = 0;
    for (int i = 0; i < n; i++) {
        const Buffer *b = &p->bufs[order[i]];
        int nb = 0;
        for (int j = 0; j < i; j++) {
            const Buffer *o = &p->bufs[order[j]];
            if (o->last >= b->first && b->last >= o->first)
                busy[nb++] = (Span){at[order[j]], at[order[j]] + buf_bytes(o)};
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_lo);
        int64_t size = buf_bytes(b), o = 0;
        for (int j = 0; j < nb && busy[j].lo < o + size; j++)
            if (busy[j].hi > o)
                o = busy[j].hi;
        at[order[i]] = o;
        if (o + size > top)
            top = o + size;
    }
    for (int i = 0; i < n; i++)
        off[i] = at[ids[i]];
    return top;
}

int prog_plan(Program *p, Diag *d)
{
    (void)d;
    for (int i = 0; i < p->nbufs; i++)
        p->bufs[i].first = p->bufs[i].last = -1;
    for (int k = 0; k < p->nkernels; k++)
        touch_block(p->bufs, p->kernels[k].body, k);
    /* the run-time lengths of outputs are read after the last kernel */
    for (int i = 0; i < p->noutputs; i++) {
        int lb = prog_out_len(p, i);
        if (lb < 0)
            continue;
        if (p->bufs[lb].first < 0)
            p->bufs[lb].first = 0;
        p->bufs[lb].last = p->nkernels;
    }
    /* the string pool lives for the whole run: model_run clears its state
     * before the first kernel, and string outputs may point into it */
    if (p->str_pool >= 0 && p->nkernels) {
        p->bufs[p->str_pool].first = 0;
        p->bufs[p->str_pool].last = p->nkernels - 1;
    }
    /* so does the run status: model_run clears it first, reads it last */
    if (p->status >= 0 && p->nkernels) {
        p->bufs[p->status].first = 0;
        p->bufs[p->status].last = p->nkernels;
    }

    /* weights: packed in buffer order (each size was checked against
     * KILN_MAX_BYTES, so the sum of a program's cannot overflow); one that
     * no kernel reads (replaced by its packed copy) takes no room */
    for (int i = 0; i < p->nguards; i++)
        p->bufs[p->guard_w[i]].first = 0;
    int64_t woff = 0;
    for (int i = 0; i < p->nbufs; i++) {
        Buffer *b = &p->bufs[i];
        if (b->kind != BUF_WEIGHT)
            continue;
        if (b->first < 0) {
            b->offset = -1;
            continue;
        }
        b->offset = woff;
        woff = align_up(woff + b->numel * dtype_size(b->dtype));
    }
    p->weight_bytes = woff;

    /* arena: the sweep, and for small programs the greedy packing too;
     * the smaller arena wins */
    int *ids = arena_alloc(p->arena, sizeof(int) * (size_t)(p->nbufs + 1));
    int n = 0;
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].kind == BUF_ARENA && p->bufs[i].first >= 0)
            ids[n++] = i;
    int64_t *off = arena_alloc(p->arena, sizeof(int64_t) * (size_t)(n + 1));
    int64_t top = plan_sweep(p, ids, n, off);
    if (n <= GREEDY_MAX) {
        int64_t *off2 = arena_alloc(p->arena, sizeof(int64_t) * (size_t)(n + 1));
        int64_t top2 = plan_greedy(p, ids, n, off2);
        if (top2 < top) {
            top = top2;
            off = off2;
        }
    }
    for (int i = 0; i < n; i++)
        p->bufs[ids[i]].offset = off[i];
    p->arena_bytes = top;
    return 0;
}
