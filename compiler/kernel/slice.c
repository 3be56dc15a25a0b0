/*
 * slice.c: a producer nest fused into its consumer, slice by slice.
 *
 * A kernel that first fills a scratch buffer T in one loop nest and then
 * reads it in the next (a convolution's or pooling's zero-bordered copy of
 * its input) writes and rereads all of T through memory. When both nests
 * run over the same outer loop (channels), iteration j of the producer
 * writes only slice j of T, and iteration j of the consumer reads only
 * slice j, the two loops become one, and T shrinks to one slice, reused:
 *
 *   for i < n: T[i*S + f] = ...          for m < n:
 *   for m < n: ... T[m*S + g] ...   ->     T[f] = ...      (i := m)
 *                                          ... T[g] ...
 *
 * with f and g in [0, S) for every value of the loops around them, so that
 * a depthwise convolution's padded plane stays in cache. Conditions, each
 * checked, none assumed:
 *   - the two loops are adjacent, serial, data-parallel, of the same
 *     constant extent, at the top of the kernel;
 *   - T is the kernel's own scratch (an arena buffer of no graph value,
 *     used by no other kernel and by no other statement of this one), the
 *     producer stores only to T, the consumer never stores to T;
 *   - the producer reads no buffer the consumer writes (so running
 *     producer j+1 after consumer j reads what it read before);
 *   - every T index, in both, is i*S + r (m*S + r) with r free of the
 *     outer variable and inside [0, S) by interval arithmetic over the
 *     loops around it (any let, or any other form, refuses).
 * The fused loop stores to T at indices that do not depend on its
 * variable, so it must not run in parallel (schedule.c parallelizes only a
 * loop every store of which depends on the loop's variable). For several
 * threads it is split into one chunk per thread, each with a slice of its
 * own (T[chunk*S + r]), and the chunk loop can run in parallel.
 */
#include "kernel.h"

#include <string.h>

typedef struct Fuse {
    Arena *a;
    const Program *p;
    int t;        /* the scratch buffer */
    int outer;    /* the loop variable of the nest being looked at */
    int64_t S;    /* the slice: T's elements per outer iteration */
    Expr *off;    /* added to every T index (rebase_block), or NULL */
    KRange *vr;   /* [nvars]: each loop variable's range in scope (krange_of) */
    int ok;
} Fuse;

/* Is T's index e outer*S + r with r in [0, S)? (The scope holds the
 * outer variable at 0, so the range of e is the range of r.) */
static int slice_index(Fuse *f, const Expr *e)
{
    int64_t c;
    if (!ke_coef(e, f->outer, &c) || c != f->S)
        return 0;
    KRange r = krange_of(e, f->vr);
    return r.known && r.lo >= 0 && r.hi < f->S;
}

/* Every load of T in e is a slice load. */
static void check_loads(Fuse *f, const Expr *e)
{
    for (; e && f->ok; e = e->a) {
        if (e->kind == E_LOAD && e->buf == f->t && (e->b || !slice_index(f, e->a)))
            f->ok = 0;
        check_loads(f, e->b);
        check_loads(f, e->c);
    }
}

/* Walk block s: T's stores and loads are slice accesses; stores to T only
 * when `store_t`, and only to T when `only_t`. Lets in scope refuse (an
 * index could use one). */
static void check_block(Fuse *f, const Stmt *s, int store_t, int only_t)
{
    for (; s && f->ok; s = s->next) {
        switch (s->kind) {
        case S_LOOP: {
            int64_t n;
            if (!ke_is_const(s->extent, &n) || n < 1) {
                f->ok = 0;
                return;
            }
            f->vr[s->var] = krange_span(0, n - 1);
            check_block(f, s->body, store_t, only_t);
            f->vr[s->var] = krange_top();
            break;
        }
        case S_STORE:
            if (s->mask || (s->buf == f->t ? !store_t || !slice_index(f, s->index) : only_t))
                f->ok = 0;
            check_loads(f, s->index);
            check_loads(f, s->value);
            break;
        case S_IF:
            check_loads(f, s->value);
            check_block(f, s->body, store_t, only_t);
            check_block(f, s->els, store_t, only_t);
            break;
        case S_LET: case S_ASSIGN:
            check_loads(f, s->value);
            break;
        default: /* calls: anything */
            f->ok = 0;
        }
    }
}

static int loads_t(const Fuse *f, const Expr *e)
{
    if (!e)
        return 0;
    if (e->kind == E_LOAD && e->buf == f->t)
        return 1;
    return loads_t(f, e->a) || loads_t(f, e->b) || loads_t(f, e->c);
}

/* A T index rebased: the outer variable set to 0 (outer >= 0), then
 * f->off added (when not NULL). */
static Expr *t_index(Fuse *f, Expr *ix)
{
    if (f->outer >= 0)
        ix = ke_subst(f->a, ix, f->outer, ke_idx(f->a, 0));
    return f->off ? ke_bin(f->a, B_ADD, ix, f->off) : ix;
}

/* e with its loads of T rebased (t_index). */
static Expr *rebase_expr(Fuse *f, Expr *e)
{
    if (!loads_t(f, e))
        return e;
    if (e->kind == E_LOAD && e->buf == f->t)
        return ke_load(f->a, f->p, f->t, t_index(f, e->a));
    Expr *c = arena_alloc(f->a, sizeof *c);
    *c = *e;
    c->a = rebase_expr(f, e->a);
    c->b = rebase_expr(f, e->b);
    c->c = rebase_expr(f, e->c);
    return c;
}

static void rebase_block(Fuse *f, Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE && s->buf == f->t)
            s->index = t_index(f, s->index);
        else if (s->index)
            s->index = rebase_expr(f, s->index);
        s->value = rebase_expr(f, s->value);
        rebase_block(f, s->body);
        rebase_block(f, s->els);
    }
}

/* The one buffer producer loop pl stores to, or -1. */
static int stored_buffer(const Stmt *s)
{
    int t = -1;
    for (; s; s = s->next) {
        int b = -1;
        if (s->kind == S_STORE)
            b = s->buf;
        else if (s->body || s->els) {
            int x = stored_buffer(s->body), y = stored_buffer(s->els);
            if (x == -2 || y == -2 || (x >= 0 && y >= 0 && x != y))
                return -2;
            b = x >= 0 ? x : y;
        }
        if (b == -2 || (b >= 0 && t >= 0 && b != t))
            return -2;
        if (b >= 0)
            t = b;
    }
    return t;
}

/* Fuse producer pl with the consumer after it, if every condition holds. */
static int try_fuse(Program *p, Kernel *k, Stmt *pl, const int *kernel_count, Arena *tmp)
{
    Stmt *cl = pl->next;
    int64_t n, m;
    if (!cl || pl->kind != S_LOOP || cl->kind != S_LOOP || pl->loop != L_SERIAL || cl->loop != L_SERIAL ||
        pl->iter != IT_DATA || cl->iter != IT_DATA || !ke_is_const(pl->extent, &n) ||
        !ke_is_const(cl->extent, &m) || n != m || n < 2)
        return 0;
    int t = stored_buffer(pl->body);
    if (t < 0)
        return 0;
    Buffer *tb = &p->bufs[t];
    if (tb->kind != BUF_ARENA || tb->value >= 0 || tb->alias >= 0 || kernel_count[t] != 1 || tb->numel % n)
        return 0;
    /* no other statement of the kernel uses T (an earlier one may have
     * written part of it: a Concat's inputs stored one nest each) */
    for (const Stmt *s = k->body; s; s = s == pl ? cl->next : s->next) {
        if (s == pl)
            continue;
        KUse *u;
        int nu = block_uses(s, 1, tmp, &u);
        for (int i = 0; i < nu; i++)
            if (u[i].buf == t)
                return 0;
    }
    /* the producer touches nothing the consumer writes (both use lists
     * are sorted by buffer: one merge) */
    KUse *pu, *cu;
    int np = block_uses(pl, 1, tmp, &pu), nc = block_uses(cl, 1, tmp, &cu);
    for (int i = 0, j = 0; i < np && j < nc;) {
        if (pu[i].buf < cu[j].buf)
            i++;
        else if (pu[i].buf > cu[j].buf)
            j++;
        else if (cu[j].rw & KU_WRITE)
            return 0;
        else
            i++, j++;
    }
    KRange *vr = arena_alloc(tmp, sizeof(KRange) * (size_t)(k->nvars + 1));
    for (int v = 0; v < k->nvars; v++)
        vr[v] = krange_top();
    Fuse f = {p->arena, p, t, pl->var, tb->numel / n, NULL, vr, 1};
    f.vr[pl->var] = krange_span(0, 0); /* the outer variable held at 0 (slice_index) */
    check_block(&f, pl->body, 1, 1);
    f.outer = cl->var;
    f.vr[pl->var] = krange_top();
    f.vr[cl->var] = krange_span(0, 0);
    check_block(&f, cl->body, 0, 0);
    if (!f.ok)
        return 0;
    /* rebase both bodies on the slice, then run the producer's body under
     * the consumer's variable */
    f.outer = pl->var;
    rebase_block(&f, pl->body);
    f.outer = cl->var;
    rebase_block(&f, cl->body);
    stmt_subst(p->arena, pl->body, pl->var, ke_var(p->arena, k, cl->var));
    if (!pl->body->comment)
        pl->body->comment = pl->comment;
    Stmt *last = pl->body;
    while (last->next)
        last = last->next;
    last->next = cl->body;
    cl->body = pl->body;
    *pl = *cl; /* pl's place in the block now holds the fused loop */
    int64_t slices = 1;
    if (p->threads > 1 && n >= 2 * (int64_t)p->threads) {
        /* one chunk of the outer loop per thread, each with a slice of
         * its own: T[chunk*S + r], the chunk loop parallel */
        int64_t per = (n + p->threads - 1) / p->threads;
        Stmt *in;
        if (!loop_split(p, k, pl, per, &in)) {
            f.outer = -1;
            f.off = ke_bin(p->arena, B_MUL, ke_var(p->arena, k, pl->var), ke_idx(p->arena, f.S));
            rebase_block(&f, in->body);
            pl->iter = IT_DATA;
            slices = (n + per - 1) / per;
        }
    }
    tb->numel = slices * f.S;
    tb->shape.rank = 1;
    tb->shape.dim[0] = tb->numel;
    return 1;
}

int prog_fuse_slices(Program *p, Diag *d)
{
    (void)d;
    Arena *tmp = arena_new();
    int *count = arena_alloc(tmp, sizeof(int) * (size_t)(p->nbufs + 1));
    memset(count, 0, sizeof(int) * (size_t)(p->nbufs + 1));
    for (int i = 0; i < p->nkernels; i++) {
        KUse *u;
        int nu = kernel_uses(&p->kernels[i], tmp, &u);
        for (int j = 0; j < nu; j++)
            count[u[j].buf]++;
    }
    for (int i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        for (Stmt *s = k->body; s; s = s->next)
            try_fuse(p, k, s, count, tmp);
    }
    arena_free(tmp);
    return 0;
}
