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
 *     y at one place S, and nowhere loads y;
 *   - S stores each element once: every loop around it is data-parallel
 *     and its variable appears in S's index;
 *   - every load of r in the kernel is in S's value, at S's own index, so
 *     each element of r is read just before the store that replaces it;
 *   - r is an intermediate of the same type and storage layout as y (order
 *     and halo), in a buffer of its own (not a view another value shares),
 *     that nothing outside this group reads and that is no graph output.
 * Passes that come later (contraction, vectorizing, threads) keep every
 * store after the loads its value needs, so the property survives them.
 */
#include "lower.h"

#include <string.h>

typedef struct Scan {
    int yb, rb;          /* output and candidate buffers */
    const Stmt *site;    /* the one store of yb */
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
            s->site = st;
            s->nsites++;
        }
        scan_block(s, st->body);
        scan_block(s, st->els);
    }
}

/* Loads of rb that are not S's own element, anywhere in the block. S's
 * element may be read by S's value and by the lets before S in its block
 * (the epilogue of a fused chain: let e = acc + r[i]; store y[i] = ...),
 * which run in the same iteration, before S. */
static int bad_r(const Stmt *block, int rb, const Stmt *site)
{
    int n = 0, before = 0;
    for (const Stmt *st = block; st; st = st->next)
        before |= st == site;
    for (const Stmt *st = block; st; st = st->next) {
        if (st == site)
            before = 0;
        const Expr *idx = st == site || (before && st->kind == S_LET) ? site->index : NULL;
        const Expr *ex[] = {st->extent, st->index, st->mask};
        for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
            n += count_loads(ex[i], rb);
        n += idx ? other_loads(st->value, rb, idx) : count_loads(st->value, rb);
        for (int i = 0; i < st->nargs; i++)
            n += count_loads(st->args[i], rb);
        n += bad_r(st->body, rb, site) + bad_r(st->els, rb, site);
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
    if (s.nsites != 1 || s.yloads || s.site->mask || !stores_once(k->body, s.site))
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
            b->dtype != p->bufs[yb].dtype || !read_at_site(k->body, rb, s.site))
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
        if (shared || bad_r(k->body, rb, s.site))
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
