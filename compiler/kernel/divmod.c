/*
 * divmod.c: index division and remainder by a constant, rewritten with
 * what the loops prove.
 *
 * A register tile of a convolution decodes each of its pixels from a flat
 * index: pixel j of block mb is at row (mb*16 + j) / 32, column
 * (mb*16 + j) % 32. Every one of those is a different expression to the C
 * compiler, which keeps sixteen addresses (spilled: there are sixteen
 * general registers) where one would do, because it cannot know that the
 * sixteen pixels share a row. The loops know: mb*16 is a multiple of 16,
 * 16 divides 32 and j < 16, so the row is (mb*16) / 32 for all of them
 * and the column (mb*16) % 32 + j: one base address and constant offsets.
 *
 * For x / D and x % D with D a positive constant and x >= 0, x is taken
 * as a sum of terms, each with a known divisor (its constant factors:
 * mb*16 is a multiple of 16, a loop variable of 1) and a range (loop
 * variables run from 0 to their extent less one):
 *   - terms that D divides leave the division exact: (P + R) / D is
 *     P/D + R/D and (P + R) % D is R % D, when R >= 0;
 *   - of the rest, if terms Q share a divisor g that divides D and the
 *     others C stay in [0, g), then (Q + C) / D is Q / D and (Q + C) % D
 *     is Q % D + C;
 *   - R in [0, D) leaves R / D = 0 and R % D = R.
 * Nothing else changes. Runs last among the loop passes, once unrolling
 * has made the tile's offsets constants.
 */
#include "kernel.h"

#include <stdlib.h>

enum { MAX_TERMS = 32 };

typedef struct DivMod {
    Program *p;
    KRange *vr;      /* range of each variable in scope (unknown for locals) */
} DivMod;

static int64_t gcd(int64_t x, int64_t y)
{
    x = x < 0 ? -x : x;
    y = y < 0 ? -y : y;
    while (y) {
        int64_t t = x % y;
        x = y;
        y = t;
    }
    return x;
}

static KRange range_of(const DivMod *c, const Expr *e) { return krange_of(e, c->vr); }

/* A number that divides every value of e (0: e is 0), 1 when none is known. */
static int64_t divisor_of(const Expr *e)
{
    if (e->lanes != 1 || e->type != DT_INDEX)
        return 1;
    if (e->kind == E_CONST)
        return e->i < 0 ? (e->i == INT64_MIN ? 1 : -e->i) : e->i;
    if (e->kind != E_BINARY)
        return 1;
    int64_t x = divisor_of(e->a), y = divisor_of(e->b), m;
    switch (e->op) {
    case B_ADD: case B_SUB:
        return gcd(x, y);
    case B_MUL:
        return __builtin_mul_overflow(x, y, &m) ? (x > y ? x : y) : m;
    default:
        return 1;
    }
}

/* e / d for a d that divides divisor_of(e), as an expression; NULL when
 * the factor cannot be taken out of e's structure. */
static Expr *div_exact(Arena *a, Expr *e, int64_t d)
{
    if (e->kind == E_CONST)
        return e->i % d ? NULL : ke_idx(a, e->i / d);
    if (e->kind != E_BINARY)
        return NULL;
    Expr *x, *y;
    switch (e->op) {
    case B_ADD: case B_SUB:
        x = div_exact(a, e->a, d);
        y = x ? div_exact(a, e->b, d) : NULL;
        return y ? ke_bin(a, (BinOp)e->op, x, y) : NULL;
    case B_MUL:
        if (divisor_of(e->a) % d == 0 && (x = div_exact(a, e->a, d)))
            return ke_bin(a, B_MUL, x, e->b);
        if (divisor_of(e->b) % d == 0 && (y = div_exact(a, e->b, d)))
            return ke_bin(a, B_MUL, e->a, y);
        return NULL;
    default:
        return NULL;
    }
}

/* The terms of sum e (additions only; a constant subtracted is a negative
 * term); 0 when there are too many. */
static int terms_of(Arena *a, Expr *e, Expr **t, int n)
{
    if (n < 0)
        return -1;
    if (e->kind == E_BINARY && e->lanes == 1 && e->op == B_ADD)
        return terms_of(a, e->b, t, terms_of(a, e->a, t, n));
    if (e->kind == E_BINARY && e->lanes == 1 && e->op == B_SUB && e->b->kind == E_CONST && e->b->i != INT64_MIN)
        return terms_of(a, ke_idx(a, -e->b->i), t, terms_of(a, e->a, t, n));
    if (n >= MAX_TERMS)
        return -1;
    t[n] = e;
    return n + 1;
}

static Expr *sum(Arena *a, Expr **t, int n)
{
    Expr *s = ke_idx(a, 0);
    for (int i = 0; i < n; i++)
        s = ke_bin(a, B_ADD, s, t[i]);
    return s;
}

static int nonneg(KRange r) { return r.known && r.lo >= 0; }

static Expr *rewrite(void *ctx, Expr *e)
{
    DivMod *c = ctx;
    Arena *a = c->p->arena;
    if (e->kind != E_BINARY || (e->op != B_DIV && e->op != B_MOD) || e->lanes != 1 || e->type != DT_INDEX ||
        e->b->kind != E_CONST || e->b->i <= 0)
        return e;
    int64_t d = e->b->i;
    int div = e->op == B_DIV;
    if (!nonneg(range_of(c, e->a)))
        return e;
    Expr *t[MAX_TERMS], *q[MAX_TERMS], *r[MAX_TERMS];
    int n = terms_of(a, e->a, t, 0), nq = 0, nr = 0, changed = 0;
    if (n <= 0)
        return e;
    /* terms d divides come out of the division whole */
    for (int i = 0; i < n; i++) {
        Expr *x = divisor_of(t[i]) % d == 0 ? div_exact(a, t[i], d) : NULL;
        if (x)
            q[nq++] = x;
        else
            r[nr++] = t[i];
    }
    Expr *rest = sum(a, r, nr);
    if (nq) {
        if (!nonneg(range_of(c, rest)))
            return e; /* truncation would differ from floor */
        changed = 1;
    }
    KRange rr = range_of(c, rest);
    Expr *rdiv = NULL, *rmod = NULL;
    if (rr.known && rr.lo >= 0 && rr.hi < d) {
        rdiv = ke_idx(a, 0);
        rmod = rest;
    } else {
        /* terms sharing a divisor g | d, plus a rest in [0, g): the
         * constants join the rest, less the multiple of g they hold */
        Expr *g_t[MAX_TERMS + 1], *c_t[MAX_TERMS + 1];
        int ng = 0, nc = 0;
        int64_t g = 0, c0 = 0;
        for (int i = 0; i < nr; i++) {
            int64_t dv = divisor_of(r[i]);
            if (r[i]->kind == E_CONST && !__builtin_add_overflow(c0, r[i]->i, &c0))
                continue;
            if (r[i]->kind != E_CONST && dv > 1 && d % gcd(g, dv) == 0) {
                g = gcd(g, dv);
                g_t[ng++] = r[i];
            } else {
                c_t[nc++] = r[i];
            }
        }
        if (g > 1 && ng) {
            int64_t whole = c0 / g, rem = c0 % g;
            if (rem < 0)
                rem += g, whole -= 1;
            if (whole)
                g_t[ng++] = ke_idx(a, whole * g);
            if (rem)
                c_t[nc++] = ke_idx(a, rem);
            Expr *gs = sum(a, g_t, ng), *cs = sum(a, c_t, nc);
            KRange gr = range_of(c, gs), cr = range_of(c, cs);
            if (nonneg(gr) && cr.known && cr.lo >= 0 && cr.hi < g) {
                rdiv = ke_bin(a, B_DIV, gs, e->b);
                rmod = nc ? ke_bin(a, B_ADD, ke_bin(a, B_MOD, gs, e->b), cs) : ke_bin(a, B_MOD, gs, e->b);
                if (!nc && !whole && ke_equal(gs, rest))
                    rdiv = NULL; /* nothing to take out: x is gs itself */
            }
        }
    }
    if (!rdiv && !changed)
        return e;
    if (!rdiv) {
        rdiv = ke_bin(a, B_DIV, rest, e->b);
        rmod = ke_bin(a, B_MOD, rest, e->b);
    }
    return div ? ke_bin(a, B_ADD, sum(a, q, nq), rdiv) : rmod;
}

static void rewrite_block(DivMod *c, Stmt *s)
{
    Arena *a = c->p->arena;
    for (; s; s = s->next) {
        s->extent = s->extent ? ke_rewrite(a, s->extent, rewrite, c) : NULL;
        s->index = s->index ? ke_rewrite(a, s->index, rewrite, c) : NULL;
        s->mask = s->mask ? ke_rewrite(a, s->mask, rewrite, c) : NULL;
        s->value = s->value ? ke_rewrite(a, s->value, rewrite, c) : NULL;
        for (int i = 0; i < s->nargs; i++)
            s->args[i] = ke_rewrite(a, s->args[i], rewrite, c);
        if (s->kind == S_LOOP) {
            KRange er = range_of(c, s->extent);
            /* a loop variable runs from 0 to its extent less one */
            c->vr[s->var] = er.known && er.hi > 0 ? krange_span(0, er.hi - 1) : krange_span(0, INT64_MAX);
        }
        rewrite_block(c, s->body);
        rewrite_block(c, s->els);
        if (s->kind == S_LOOP)
            c->vr[s->var] = krange_top();
    }
}

int prog_divmod(Program *p, Diag *d)
{
    for (int i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        KRange *vr = calloc((size_t)k->nvars + 1, sizeof *vr); /* all unknown */
        if (!vr)
            return diag_error(d, "out of memory");
        DivMod c = {p, vr};
        rewrite_block(&c, k->body);
        free(vr);
    }
    return 0;
}
