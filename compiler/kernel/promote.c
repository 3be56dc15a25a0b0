/*
 * promote.c: kernel-local buffers (BUF_LOCAL) whose every access has a
 * constant index become variables, that is registers.
 *
 * Register blocking accumulates a tile in a local buffer; after the tile's
 * loops are unrolled and vectorized, every access to it reads or writes a
 * constant slot (element c, or lanes c..c+L-1 through a ramp of stride 1).
 * Each slot becomes a local variable of L lanes, declared at the head of
 * the innermost block that holds every access: the C compiler then keeps
 * the tile in vector registers instead of memory. A buffer with any other
 * access (a variable index, a mask, overlapping slots of different widths)
 * stays an array in the kernel's frame.
 */
#include "kernel.h"

typedef struct Slot {
    int64_t at;   /* first element */
    int lanes;
    int var;      /* the variable holding it */
} Slot;

typedef struct Promo {
    Program *p;
    Kernel *k;
    int buf;
    Slot *slots;
    int nslots, cap;
    int ok;
    int count;    /* accesses */
} Promo;

/* The constant first element of an access index, or -1. */
static int64_t slot_at(const Expr *ix, int *lanes)
{
    int64_t c;
    *lanes = ix->lanes;
    if (ix->lanes == 1)
        return ke_is_const(ix, &c) ? c : -1;
    if (ix->kind == E_RAMP && ix->i == 1 && ke_is_const(ix->a, &c))
        return c;
    return -1;
}

static void note(Promo *pr, const Expr *ix, const Expr *mask)
{
    int lanes;
    int64_t at = slot_at(ix, &lanes);
    pr->count++;
    if (at < 0 || mask) {
        pr->ok = 0;
        return;
    }
    for (int i = 0; i < pr->nslots; i++) {
        Slot *s = &pr->slots[i];
        if (s->at == at && s->lanes == lanes)
            return;
        if (at < s->at + s->lanes && s->at < at + lanes) {
            pr->ok = 0; /* overlapping slots of another shape */
            return;
        }
    }
    Slot *s = ARENA_PUSH(pr->p->arena, pr->slots, pr->nslots, pr->cap);
    s->at = at;
    s->lanes = lanes;
    s->var = -1;
}

static void scan_expr(Promo *pr, const Expr *e)
{
    for (; e; e = e->a) {
        if (e->kind == E_LOAD && e->buf == pr->buf)
            note(pr, e->a, e->b);
        if (e->b)
            scan_expr(pr, e->b);
        if (e->c)
            scan_expr(pr, e->c);
    }
}

static void scan(Promo *pr, const Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE && s->buf == pr->buf)
            note(pr, s->index, s->mask);
        scan_expr(pr, s->extent);
        scan_expr(pr, s->index);
        scan_expr(pr, s->value);
        scan_expr(pr, s->mask);
        for (int i = 0; i < s->nargs; i++)
            scan_expr(pr, s->args[i]);
        scan(pr, s->body);
        scan(pr, s->els);
    }
}

static int slot_var(Promo *pr, const Expr *ix)
{
    int lanes;
    int64_t at = slot_at(ix, &lanes);
    for (int i = 0; i < pr->nslots; i++)
        if (pr->slots[i].at == at && pr->slots[i].lanes == lanes)
            return pr->slots[i].var;
    return -1;
}

static Expr *replace(Promo *pr, Expr *e)
{
    Arena *a = pr->p->arena;
    if (!e)
        return NULL;
    switch (e->kind) {
    case E_LOAD:
        if (e->buf == pr->buf)
            return ke_var(a, pr->k, slot_var(pr, e->a));
        return e;
    case E_CONST: case E_VAR: case E_RAMP:
        return e;
    case E_UNARY: return ke_un(a, (UnOp)e->op, replace(pr, e->a));
    case E_BINARY: return ke_bin(a, (BinOp)e->op, replace(pr, e->a), replace(pr, e->b));
    case E_SELECT: return ke_select(a, replace(pr, e->a), replace(pr, e->b), replace(pr, e->c));
    case E_CAST: return ke_cast(a, e->type, replace(pr, e->a));
    case E_BITCAST: return ke_bitcast(a, e->type, replace(pr, e->a));
    case E_BCAST: return ke_bcast(a, replace(pr, e->a), e->lanes);
    case E_HREDUCE: return ke_hreduce(a, (BinOp)e->op, replace(pr, e->a));
    }
    return e;
}

static void rewrite(Promo *pr, Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE && s->buf == pr->buf) {
            s->kind = S_ASSIGN;
            s->var = slot_var(pr, s->index);
            s->index = NULL;
        }
        s->extent = replace(pr, s->extent);
        s->index = replace(pr, s->index);
        s->value = replace(pr, s->value);
        for (int i = 0; i < s->nargs; i++)
            s->args[i] = replace(pr, s->args[i]);
        rewrite(pr, s->body);
        rewrite(pr, s->els);
    }
}

/* Accesses in block s. */
static int count(Promo *pr, const Stmt *s)
{
    Promo c = *pr;
    c.count = 0;
    c.slots = NULL;
    c.nslots = c.cap = 0;
    scan(&c, s);
    return c.count;
}

/* The innermost block holding all `total` accesses, starting at *head. */
static Stmt **lca(Promo *pr, Stmt **head, int total)
{
    for (Stmt *s = *head; s; s = s->next) {
        if (s->body && count(pr, s->body) == total)
            return lca(pr, &s->body, total);
        if (s->els && count(pr, s->els) == total)
            return lca(pr, &s->els, total);
    }
    return head;
}

int prog_promote(Program *p, Diag *d)
{
    (void)d;
    Arena *a = p->arena;
    for (int i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        KUse *use;
        int nuse = kernel_uses(k, a, &use);
        for (int u = 0; u < nuse; u++) {
            const Buffer *b = &p->bufs[use[u].buf];
            if (b->kind != BUF_LOCAL)
                continue;
            Promo pr = {p, k, use[u].buf, NULL, 0, 0, 1, 0};
            scan(&pr, k->body);
            if (!pr.ok || !pr.nslots)
                continue;
            Stmt **at = lca(&pr, &k->body, pr.count);
            for (int j = pr.nslots - 1; j >= 0; j--) {
                Slot *sl = &pr.slots[j];
                sl->var = kernel_add_vec(p, k, "r", b->dtype, sl->lanes);
                Stmt *let = stmt_new(a, S_LET);
                let->var = sl->var;
                let->value = ke_bcast(a, ke_const(a, b->dtype, 0), sl->lanes);
                let->next = *at;
                *at = let;
            }
            rewrite(&pr, k->body);
        }
    }
    return 0;
}
