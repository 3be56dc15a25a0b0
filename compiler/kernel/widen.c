/*
 * widen.c: narrow output rows computed as one wide run.
 *
 * A nest over output rows and columns whose inputs are rows of a wider
 * pitch P (a convolution or pooling over a padded plane: the input row of
 * output (oh, ow) starts at (oh*s + kh)*P, its column at ow*s + kw) reads
 * at b*(oh*P + ow) + rest(kh, kw...). When the rows are narrow (DS-CNN's
 * 5, MobileNet's 6 or 12), vectors along a row are mostly remainder. The
 * same loads over the flat position o = oh*P + ow are one run:
 *
 *   for oh < OH: for ow < OW:           for o < (OH-1)*P + OW:
 *     ... X[b*(oh*P + ow) + r] ...  ->    ... X[b*o + r] ...; W[o] = value
 *     Y[oh*OW + ow] = value             for oh < OH: for ow < OW:
 *                                         Y[oh*OW + ow] = W[oh*P + ow]
 *
 * computing P - OW columns per row that nobody keeps (their loads stay
 * inside what the original nest read: every o is at most the flat
 * position of the last output) into a scratch W, then copying the kept
 * columns out. Conditions, each checked:
 *   - the two loops are perfectly nested, serial, data-parallel, constant;
 *   - every load that uses oh or ow is b*(oh*P + ow) + rest, the same P
 *     (P > OW: with P = OW the rows are one run already) for all, rest
 *     free of both; nothing else uses them;
 *   - one store, at the top of the column loop, unmasked, to Y at
 *     oh*OW + ow + rest, and Y is not read in the nest;
 *   - the program runs on one thread (W is one scratch);
 *   - it runs after contract.c, whose register-blocked nests it leaves
 *     alone (their stores are not at ow's stride 1 alone);
 *   - it pays: the wide run's vectors plus the copy cost less than the
 *     row vectors (widen_pays, for the machine's vector width).
 */
#include "kernel.h"

#include <string.h>

typedef struct Widen {
    Program *p;
    Kernel *k;
    int oh, ow;
    int64_t P;  /* the input pitch; 0 until a load sets it */
    int ok;
} Widen;

static int uses_rc(const Widen *w, const Expr *e) { return ke_uses_var(e, w->oh) || ke_uses_var(e, w->ow); }

/* Check the loads in e: any that uses oh or ow is b*(oh*P + ow) + rest. */
static void check_expr(Widen *w, const Expr *e)
{
    if (!e || !w->ok)
        return;
    if (e->kind == E_LOAD) {
        if (e->b && uses_rc(w, e->b)) {
            w->ok = 0;
            return;
        }
        if (uses_rc(w, e->a)) {
            int64_t a, b;
            if (!ke_coef(e->a, w->oh, &a) || !ke_coef(e->a, w->ow, &b) || b <= 0 || a % b) {
                w->ok = 0;
                return;
            }
            if (!w->P)
                w->P = a / b;
            if (a / b != w->P)
                w->ok = 0;
            return; /* the index's other terms are free of oh, ow (ke_coef) */
        }
        check_expr(w, e->b);
        return;
    }
    if (e->kind == E_VAR && (e->var == w->oh || e->var == w->ow)) {
        w->ok = 0; /* used outside a load's index */
        return;
    }
    check_expr(w, e->a);
    check_expr(w, e->b);
    check_expr(w, e->c);
}

/* Y is read somewhere in e. */
static int reads(const Expr *e, int buf)
{
    if (!e)
        return 0;
    if (e->kind == E_LOAD && e->buf == buf)
        return 1;
    return reads(e->a, buf) || reads(e->b, buf) || reads(e->c, buf);
}

static int block_reads(const Stmt *s, int buf)
{
    for (; s; s = s->next)
        if (reads(s->index, buf) || reads(s->value, buf) || reads(s->extent, buf) || reads(s->mask, buf) ||
            block_reads(s->body, buf) || block_reads(s->els, buf))
            return 1;
    return 0;
}

/* Every statement of block s: loads checked, no store (the one store is
 * checked by the caller), no call. */
static void check_block(Widen *w, const Stmt *s)
{
    for (; s && w->ok; s = s->next) {
        switch (s->kind) {
        case S_LOOP:
            if (uses_rc(w, s->extent))
                w->ok = 0;
            check_block(w, s->body);
            break;
        case S_IF:
            check_expr(w, s->value);
            check_block(w, s->body);
            check_block(w, s->els);
            break;
        case S_LET: case S_ASSIGN:
            check_expr(w, s->value);
            break;
        default:
            w->ok = 0;
        }
    }
}

/* e with its loads of b*(oh*P + ow) + rest read at b*o + rest. */
static Expr *to_flat(Widen *w, Expr *e, Expr *o)
{
    Arena *a = w->p->arena;
    if (!e || !uses_rc(w, e))
        return e;
    if (e->kind == E_LOAD) {
        int64_t b;
        ke_coef(e->a, w->ow, &b);
        Expr *rest = ke_subst(a, ke_subst(a, e->a, w->oh, ke_idx(a, 0)), w->ow, ke_idx(a, 0));
        return ke_load(a, w->p, e->buf, ke_bin(a, B_ADD, ke_bin(a, B_MUL, o, ke_idx(a, b)), rest));
    }
    Expr *c = arena_alloc(a, sizeof *c);
    *c = *e;
    c->a = to_flat(w, e->a, o);
    c->b = to_flat(w, e->b, o);
    c->c = to_flat(w, e->c, o);
    return c;
}

static void flat_block(Widen *w, Stmt *s, Expr *o)
{
    for (; s; s = s->next) {
        s->value = to_flat(w, s->value, o);
        flat_block(w, s->body, o);
        flat_block(w, s->els, o);
    }
}

/* Does the wide run pay? At least 3 of every 5 columns it computes are
 * kept (a stride-2 nest, whose pitch is twice its rows, keeps half and
 * measured slower), and its vectors plus the copy (a store a vector, about
 * a fifth of a body's cost) are fewer than the rows' vectors. */
static int widen_pays(int64_t OH, int64_t OW, int64_t P, int lanes)
{
    int64_t L = (OH - 1) * P + OW;
    double rows = (double)OH * (double)sched_vectors(OW, lanes);
    double wide = (double)((L + lanes - 1) / lanes) + 0.2 * rows;
    return 5 * OW >= 3 * P && wide < rows;
}

/* Widen the nest at *link when every condition holds; 1 if it did. */
static int try_widen(Program *p, Kernel *k, Stmt **link, int lanes)
{
    Stmt *lo = *link, *li = lo->body;
    int64_t OH, OW;
    if (lo->kind != S_LOOP || !li || li->next || li->kind != S_LOOP || lo->loop != L_SERIAL ||
        li->loop != L_SERIAL || lo->iter != IT_DATA || li->iter != IT_DATA || !ke_is_const(lo->extent, &OH) ||
        !ke_is_const(li->extent, &OW) || OH < 2 || OW < 1)
        return 0;
    /* the column loop's body: statements, then the one store, last */
    Stmt *st = li->body, *prev = NULL;
    if (!st)
        return 0;
    while (st->next)
        prev = st, st = st->next;
    int64_t c;
    Widen w = {p, k, lo->var, li->var, 0, 1};
    if (st->kind != S_STORE || st->mask || st->index->lanes != 1 || !ke_coef(st->index, li->var, &c) || c != 1 ||
        !ke_coef(st->index, lo->var, &c) || c != OW || block_reads(li->body, st->buf))
        return 0;
    if (prev) {
        prev->next = NULL;
        check_block(&w, li->body);
        prev->next = st;
    }
    check_expr(&w, st->value);
    if (!w.ok || w.P <= OW || !widen_pays(OH, OW, w.P, lanes))
        return 0;
    Arena *a = p->arena;
    int64_t L = (OH - 1) * w.P + OW;
    const Buffer *yb = &p->bufs[st->buf];
    Shape ws = {1, {L}};
    int wbuf = prog_add_buf(p, arena_printf(a, "%s_wide", yb->label), BUF_ARENA, yb->dtype, &ws);
    /* the wide run: the column body over o, its store to W[o] */
    int ov = kernel_add_var(p, k, "o", DT_INDEX);
    Expr *o = ke_var(a, k, ov);
    Stmt *body = stmt_copy(a, li->body), *last = body;
    while (last->next)
        last = last->next;
    flat_block(&w, body, o);
    last->buf = wbuf;
    last->index = o;
    Stmt *run = stmt_new(a, S_LOOP);
    run->var = ov;
    run->extent = ke_idx(a, L);
    run->iter = IT_DATA;
    run->loop = L_SERIAL;
    run->body = body;
    run->comment = arena_printf(a, "rows of %lld computed as one run of pitch %lld, then the kept columns copied",
                                (long long)OW, (long long)w.P);
    /* the copy: Y[oh*OW + ow + r] = W[oh*P + ow] */
    Stmt *copy = stmt_new(a, S_STORE);
    copy->buf = st->buf;
    copy->index = st->index;
    copy->value = ke_load(a, p, wbuf,
                          ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, lo->var), ke_idx(a, w.P)),
                                 ke_var(a, k, li->var)));
    li->body = copy;
    run->next = lo;
    *link = run;
    return 1;
}

static void widen_block(Program *p, Kernel *k, Stmt **link, int lanes)
{
    for (; *link; link = &(*link)->next) {
        if (try_widen(p, k, link, lanes)) {
            link = &(*link)->next; /* onto the copy nest; the loop steps past it */
            continue;
        }
        Stmt *s = *link;
        if (s->kind == S_LOOP || s->kind == S_IF) {
            widen_block(p, k, &s->body, lanes);
            widen_block(p, k, &s->els, lanes);
        }
    }
}

int prog_widen(Program *p, const Machine *m, Diag *d)
{
    (void)d;
    int lanes = m->vec_bytes / 4;
    if (p->threads > 1 || lanes < 4)
        return 0;
    for (int i = 0; i < p->nkernels; i++)
        widen_block(p, &p->kernels[i], &p->kernels[i].body, lanes);
    return 0;
}
