/*
 * inplace.c: a kernel's output written over an input that dies with it.
 *
 * A residual block ends in Add(conv(x), r) (then Relu): fused, one kernel
 * stores y[i] = relu(acc + r[i]), and r is read nowhere after it. Given
 * separate buffers, y, r and the convolution's input are live together,
 * three activations at the arena's peak; written over r, two. The kernel
 * is rewritten to store into r's buffer, and later kernels read y there.
 *
 * Decided on the Kernel IR of the group just lowered, where soundness can
 * be seen rather than assumed from what the operator is:
 *   - apart from the zero border of y (its halo, stored first, over r's
 *     own zero border: the two have one storage layout), the kernel stores
 *     y at one place S, or at a few places in one block (a Winograd tile's
 *     outputs), and nowhere loads y;
 *   - the stores write each element once: for one S, every loop around it
 *     is data-parallel and its variable appears in S's index; for several,
 *     their indices are affine in the loops around the block, and the
 *     stores, enumerated, never meet (stores_all_once);
 *   - every load of r in the kernel is in a store's value, at that store's
 *     own index, or in a let before it (after the previous store), so each
 *     element of r is read just before the store that replaces it;
 *   - r is an intermediate of the same type and storage layout as y (order
 *     and halo), in a buffer of its own (not a view another value shares),
 *     that nothing outside this group reads and that is no graph output.
 * Passes that come later (contraction, vectorizing, threads) keep every
 * store after the loads its value needs, so the property survives them.
 */
#include "lower.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_SITES = 8 };

typedef struct Scan {
    int yb, rb;          /* output and candidate buffers */
    const Stmt *site[MAX_SITES]; /* the stores of yb */
    int nsites;
    int yloads;          /* loads of yb */
    int rbad;            /* loads of rb anywhere but at S's index in S */
} Scan;

static int count_loads(const Expr *e, int buf)
{
    if (!e)
        return 0;
    return (e->kind == E_LOAD && e->buf == buf) + count_loads(e->a, buf) + count_loads(e->b, buf) +
           count_loads(e->c, buf);
}

/* Loads of buf in e whose index is not idx (or that are masked). */
static int other_loads(const Expr *e, int buf, const Expr *idx)
{
    if (!e)
        return 0;
    int n = e->kind == E_LOAD && e->buf == buf && (e->b || !ke_equal(e->a, idx));
    return n + other_loads(e->a, buf, idx) + other_loads(e->b, buf, idx) + other_loads(e->c, buf, idx);
}

static void scan_block(Scan *s, const Stmt *st)
{
    for (; st; st = st->next) {
        const Expr *ex[] = {st->extent, st->index, st->mask, st->value};
        for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
            s->yloads += count_loads(ex[i], s->yb);
        for (int i = 0; i < st->nargs; i++)
            s->yloads += count_loads(st->args[i], s->yb);
        if (st->kind == S_STORE && st->buf == s->yb) {
            if (s->nsites < MAX_SITES)
                s->site[s->nsites] = st;
            s->nsites++;
        }
        scan_block(s, st->body);
        scan_block(s, st->els);
    }
}

/* Is st one of the n sites? */
static int is_site(const Stmt *st, const Stmt *const *site, int n)
{
    for (int i = 0; i < n; i++)
        if (st == site[i])
            return 1;
    return 0;
}

/* The first site at or after st in its block, or NULL. */
static const Stmt *next_site(const Stmt *st, const Stmt *const *site, int n)
{
    for (; st; st = st->next)
        if (is_site(st, site, n))
            return st;
    return NULL;
}

/* Loads of rb that are not a site's own element, anywhere in the block. A
 * site's element may be read by its value and by the lets before it in its
 * block, after the previous site (the epilogue of a fused chain: let e =
 * acc + r[i]; store y[i] = ...), which run in the same iteration, before
 * it. */
static int bad_r(const Stmt *block, int rb, const Stmt *const *site, int nsites)
{
    int n = 0;
    for (const Stmt *st = block; st; st = st->next) {
        const Stmt *next = next_site(st, site, nsites);
        const Expr *idx = next && (st == next || st->kind == S_LET) ? next->index : NULL;
        const Expr *ex[] = {st->extent, st->index, st->mask};
        for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
            n += count_loads(ex[i], rb);
        n += idx ? other_loads(st->value, rb, idx) : count_loads(st->value, rb);
        for (int i = 0; i < st->nargs; i++)
            n += count_loads(st->args[i], rb);
        n += bad_r(st->body, rb, site, nsites) + bad_r(st->els, rb, site, nsites);
    }
    return n;
}

/* Loads of rb in the site's value and in the lets before it in its block. */
static int read_at_site(const Stmt *block, int rb, const Stmt *site)
{
    for (const Stmt *st = block; st; st = st->next)
        if (st == site) {
            int n = count_loads(site->value, rb);
            for (const Stmt *t = block; t != site; t = t->next)
                n += t->kind == S_LET ? count_loads(t->value, rb) : 0;
            return n;
        }
    for (const Stmt *st = block; st; st = st->next) {
        int n = read_at_site(st->body, rb, site) + read_at_site(st->els, rb, site);
        if (n)
            return n;
    }
    return 0;
}

/* The loops around `site` in block st (outermost first) into path; 1 when
 * found. */
static int path_to(const Stmt *st, const Stmt *site, const Stmt **path, int *n)
{
    for (; st; st = st->next) {
        if (st == site)
            return 1;
        if (st->kind == S_LOOP && *n < 64)
            path[(*n)++] = st;
        if (path_to(st->body, site, path, n) || path_to(st->els, site, path, n))
            return 1;
        if (st->kind == S_LOOP)
            (*n)--;
    }
    return 0;
}

/* Does the site store each element at most once? */
static int stores_once(const Stmt *body, const Stmt *site)
{
    const Stmt *path[64];
    int n = 0;
    if (!path_to(body, site, path, &n))
        return 0;
    for (int i = 0; i < n; i++) {
        int64_t e;
        int single = ke_is_const(path[i]->extent, &e) && e == 1;
        if (path[i]->iter != IT_DATA || (!single && !ke_uses_var(site->index, path[i]->var)))
            return 0;
    }
    return 1;
}

/* The most stores stores_all_once enumerates. */
#define ONCE_MAX_STORES (INT64_C(1) << 22)

/* Do the sites, all in one block, together store each element at most
 * once? Each index must be affine in the loops around the block, of
 * constant extents (any kind: a loop reusing scratch is serial, yet may
 * store y once); the stores are then enumerated and marked, up to
 * ONCE_MAX_STORES of them. */
static int stores_all_once(Arena *a, const Stmt *body, const Stmt *const *site, int nsites)
{
    const Stmt *path[64];
    int n = 0;
    if (!path_to(body, site[0], path, &n))
        return 0;
    int64_t ext[64], coef[MAX_SITES][64], base[MAX_SITES], total = nsites, lo = INT64_MAX, hi = INT64_MIN;
    for (int i = 0; i < n; i++)
        if (!ke_is_const(path[i]->extent, &ext[i]) || ext[i] < 1 || ck_mul(total, ext[i], &total) ||
            total > ONCE_MAX_STORES)
            return 0;
    for (int k = 0; k < nsites; k++) {
        Expr *rest = site[k]->index;
        for (int i = 0; i < n; i++) {
            if (!ke_coef(site[k]->index, path[i]->var, &coef[k][i]))
                return 0;
            rest = ke_subst(a, rest, path[i]->var, ke_idx(a, 0));
        }
        if (!ke_is_const(rest, &base[k]))
            return 0;
        int64_t l = base[k], h = base[k];
        for (int i = 0; i < n; i++) {
            int64_t span;
            if (ck_mul(coef[k][i], ext[i] - 1, &span) || ck_add(span < 0 ? l : h, span, span < 0 ? &l : &h))
                return 0;
        }
        lo = l < lo ? l : lo;
        hi = h > hi ? h : hi;
    }
    int64_t range;
    if (ck_sub(hi, lo, &range) || range >= ONCE_MAX_STORES * 4)
        return 0;
    size_t words = (size_t)((hi - lo) / 64 + 1);
    uint64_t *seen = calloc(words, sizeof *seen);
    int64_t it[64] = {0};
    int ok = seen != NULL;
    for (int64_t done = 0; ok && done < total / nsites; done++) {
        for (int k = 0; k < nsites && ok; k++) {
            int64_t x = base[k] - lo;
            for (int i = 0; i < n; i++)
                x += coef[k][i] * it[i];
            ok = !(seen[x / 64] >> (x % 64) & 1);
            seen[x / 64] |= UINT64_C(1) << (x % 64);
        }
        for (int i = n - 1; i >= 0 && ++it[i] == ext[i]; i--)
            it[i] = 0;
    }
    free(seen);
    return ok;
}

static int same_layout(const Value *a, const Value *b)
{
    if (a->dtype != b->dtype || !shape_equal(&a->shape, &b->shape) || a->permuted != b->permuted ||
        a->haloed != b->haloed)
        return 0;
    for (int i = 0; i < a->shape.rank; i++)
        if ((a->permuted && a->perm[i] != b->perm[i]) || (a->haloed && a->halo[i] != b->halo[i]))
            return 0;
    return 1;
}

/* Is value r read by no node lowered after this group? done[i]: node i's
 * kernel is built (this group's included). */
static int dies_in(const Graph *g, ValueId r, const unsigned char *done)
{
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        for (int j = 0; !n->dead && j < n->nin; j++)
            if (n->in[j] == r && !done[i])
                return 0;
    }
    return 1;
}

static void retarget(Stmt *st, int from, int to)
{
    for (; st; st = st->next) {
        if (st->kind == S_STORE && st->buf == from)
            st->buf = to;
        retarget(st->body, from, to);
        retarget(st->els, from, to);
    }
}

/* The buffer to write output y over, or -1. */
static int candidate(const Graph *g, Program *p, const int *vbuf, const unsigned char *done, Kernel *k,
                     const Stmt *start, ValueId y)
{
    const Value *yv = &g->values[y];
    int yb = vbuf[y];
    if (yb < 0 || p->bufs[yb].kind != BUF_ARENA || yv->output >= 0 || dtype_is_packed(yv->dtype))
        return -1;
    Scan s;
    memset(&s, 0, sizeof s);
    s.yb = yb;
    scan_block(&s, start);
    if (s.nsites < 1 || s.nsites > MAX_SITES || s.yloads)
        return -1;
    for (int i = 0; i < s.nsites; i++)
        if (s.site[i]->mask)
            return -1;
    /* several sites: one block holds them all (each is found from the
     * first), and together they store each element once */
    for (int i = 1; i < s.nsites; i++) {
        const Stmt *t = s.site[0];
        while (t && t != s.site[i])
            t = t->next;
        if (!t)
            return -1;
    }
    if (s.nsites == 1 ? !stores_once(k->body, s.site[0]) : !stores_all_once(p->arena, k->body, s.site, s.nsites))
        return -1;
    /* the halo stores before start are y's zero border, and nothing else */
    for (const Stmt *h = k->body; h && h != start; h = h->next) {
        Scan hs;
        memset(&hs, 0, sizeof hs);
        hs.yb = yb;
        Stmt one = *h;
        one.next = NULL;
        scan_block(&hs, &one);
        if (hs.yloads)
            return -1;
    }
    for (int rb = 0; rb < p->nbufs; rb++) {
        const Buffer *b = &p->bufs[rb];
        if (rb == yb || b->kind != BUF_ARENA || b->value < 0 || b->numel != p->bufs[yb].numel ||
            b->dtype != p->bufs[yb].dtype || !read_at_site(k->body, rb, s.site[0]))
            continue;
        ValueId r = b->value;
        const Value *rv = &g->values[r];
        if (rv->kind != VAL_NODE || rv->output >= 0 || !same_layout(rv, yv) || !dies_in(g, r, done))
            continue;
        /* another value in the buffer (a view of r, or a value that r was
         * itself written over) must be as dead as r */
        int shared = 0;
        for (ValueId v = 0; v < g->nvalues && !shared; v++)
            shared = v != r && vbuf[v] == rb && (g->values[v].output >= 0 || !dies_in(g, v, done));
        if (shared || bad_r(k->body, rb, s.site, s.nsites))
            continue;
        return rb;
    }
    return -1;
}

int inplace_group(const Graph *g, Program *p, int *vbuf, const unsigned char *done, Node *const *group, int nn,
                  Kernel *k, const Stmt *start)
{
    int count = 0;
    for (int j = 0; j < nn; j++)
        for (int o = 0; o < group[j]->nout; o++) {
            ValueId y = group[j]->out[o];
            if (y == VNONE)
                continue;
            int rb = candidate(g, p, vbuf, done, k, start, y);
            if (rb < 0)
                continue;
            retarget(k->body, vbuf[y], rb);
            k->comment = arena_printf(p->arena, "%s\n'%s' written over '%s'", k->comment ? k->comment : "",
                                      g->values[y].name, g->values[p->bufs[rb].value].name);
            vbuf[y] = rb;
            p->bufs[rb].value = y;
            count++;
        }
    return count;
}
