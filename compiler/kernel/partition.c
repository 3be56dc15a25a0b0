/*
 * partition.c: split a loop where the bounds tests inside it stop
 * mattering, so that its middle runs without them.
 *
 * A window op that reads its input in place tests every tap:
 *
 *   for ow < 56:  ...  for kw < 3:  if (ow*2 - 1 + kw >= 0 && ow*2 - 1 + kw < 112) ...
 *
 * For the ow where the test holds whatever the inner loops' variables are
 * (here 1 <= ow < 56), it is true. loop_partition() finds, for every
 * comparison of such a condition that is affine in the loop variable (and
 * bounded in the loops inside it), that range, and splits the loop into a
 * head, a middle where those comparisons are replaced by true (and the ifs
 * they decided simplify away), and a tail. The middle is the loop worth
 * vectorizing; head and tail keep their tests. Comparisons that do not
 * involve the loop variable (the rows above, tested once per row) stay.
 */
#include "kernel.h"

enum { MAXV = 64 };

/* The ranges of the loop variables declared inside the partitioned loop
 * (known: their extents are constant), by variable. */
typedef struct Part {
    Program *p;
    Kernel *k;
    int var;                 /* the loop being partitioned */
    int64_t n;               /* its extent */
    int64_t lo, hi;          /* the range where every proven test holds */
    unsigned char *inner;    /* [nvars]: a loop variable inside, with range */
    int64_t *vmax;           /* [nvars]: its largest value */
    const Expr *atoms[MAXV]; /* the comparisons proven in [lo, hi) */
    int natoms;
} Part;

/* e = coef * var + rest, rest in [rlo, rhi] over the inner loops: fills
 * them; 0 if e is not of that form (or reads anything else). */
static int affine_in(Part *pt, const Expr *e, int64_t *coef, int64_t *rlo, int64_t *rhi)
{
    int64_t c;
    switch (e->kind) {
    case E_CONST:
        if (!ke_is_const(e, &c))
            return 0;
        *coef = 0, *rlo = *rhi = c;
        return 1;
    case E_VAR:
        if (e->var == pt->var) {
            *coef = 1, *rlo = *rhi = 0;
            return 1;
        }
        if (e->var < pt->k->nvars && pt->inner[e->var]) {
            *coef = 0, *rlo = 0, *rhi = pt->vmax[e->var];
            return 1;
        }
        return 0;
    case E_BINARY: {
        int64_t ca, la, ha, cb, lb, hb;
        if (e->op != B_ADD && e->op != B_SUB && e->op != B_MUL)
            return 0;
        if (!affine_in(pt, e->a, &ca, &la, &ha) || !affine_in(pt, e->b, &cb, &lb, &hb))
            return 0;
        if (e->op == B_ADD) {
            *coef = ca + cb, *rlo = la + lb, *rhi = ha + hb;
            return 1;
        }
        if (e->op == B_SUB) {
            *coef = ca - cb, *rlo = la - hb, *rhi = ha - lb;
            return 1;
        }
        /* a product with a constant */
        if (cb == 0 && lb == hb && !(ca == 0 && la != ha)) {
            int64_t k = lb;
            *coef = ca * k, *rlo = k >= 0 ? la * k : ha * k, *rhi = k >= 0 ? ha * k : la * k;
            return 1;
        }
        if (ca == 0 && la == ha) {
            int64_t k = la;
            *coef = cb * k, *rlo = k >= 0 ? lb * k : hb * k, *rhi = k >= 0 ? hb * k : lb * k;
            return 1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

/* If comparison e (x OP c, or c OP x) holds for the loop variable in a
 * range only, narrow [lo, hi) to it and remember e. */
static void atom(Part *pt, const Expr *e)
{
    if (e->kind != E_BINARY || e->lanes != 1 || pt->natoms == MAXV)
        return;
    BinOp op = (BinOp)e->op;
    if (op != B_LT && op != B_LE && op != B_GT && op != B_GE)
        return;
    int64_t c, coef, rlo, rhi;
    const Expr *x = e->a;
    if (ke_is_const(e->b, &c)) {
        x = e->a;
    } else if (ke_is_const(e->a, &c)) {
        x = e->b; /* c OP x: mirror */
        op = op == B_LT ? B_GT : op == B_LE ? B_GE : op == B_GT ? B_LT : B_LE;
    } else {
        return;
    }
    if (x->type != DT_INDEX || !affine_in(pt, x, &coef, &rlo, &rhi) || coef <= 0)
        return;
    /* coef*v + rest OP c for every rest in [rlo, rhi] */
    int64_t lo = 0, hi = pt->n;
    switch (op) {
    case B_GE: lo = ceil_div(c - rlo, coef); break;           /* coef*v + rlo >= c */
    case B_GT: lo = floor_div(c - rlo, coef) + 1; break;      /* coef*v + rlo > c */
    case B_LT: hi = ceil_div(c - rhi, coef); break;           /* coef*v + rhi < c */
    case B_LE: hi = floor_div(c - rhi, coef) + 1; break;      /* coef*v + rhi <= c */
    default: return;
    }
    if (lo > pt->lo)
        pt->lo = lo;
    if (hi < pt->hi)
        pt->hi = hi;
    pt->atoms[pt->natoms++] = e;
}

static void atoms_of(Part *pt, const Expr *c)
{
    if (c->kind == E_BINARY && c->op == B_AND && c->lanes == 1) {
        atoms_of(pt, c->a);
        atoms_of(pt, c->b);
        return;
    }
    atom(pt, c);
}

/* Note the inner loops' ranges and the if conditions' comparisons. */
static void scan(Part *pt, const Stmt *s)
{
    for (; s; s = s->next) {
        int64_t n;
        if (s->kind == S_LOOP && ke_is_const(s->extent, &n) && n > 0 && s->var < pt->k->nvars) {
            pt->inner[s->var] = 1;
            pt->vmax[s->var] = n - 1;
        }
        if (s->kind == S_IF)
            atoms_of(pt, s->value);
        scan(pt, s->body);
        scan(pt, s->els);
    }
}

/* c with the proven comparisons true. */
static Expr *drop(Part *pt, Expr *c)
{
    Arena *a = pt->p->arena;
    if (c->kind == E_BINARY && c->op == B_AND && c->lanes == 1)
        return ke_bin(a, B_AND, drop(pt, c->a), drop(pt, c->b));
    for (int i = 0; i < pt->natoms; i++)
        if (pt->atoms[i] == c)
            return ke_int(a, DT_BOOL, 1);
    return c;
}

static void drop_block(Part *pt, Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_IF)
            s->value = drop(pt, s->value);
        drop_block(pt, s->body);
        drop_block(pt, s->els);
    }
}

/* A copy of loop l over iterations [from, to) of its variable; with pt,
 * the proven tests dropped (before the variable is shifted: the tests are
 * found by identity). */
static Stmt *piece(Program *p, Kernel *k, const Stmt *l, int64_t from, int64_t to, Part *pt)
{
    Arena *a = p->arena;
    Stmt *c = stmt_copy(a, l);
    c->next = NULL;
    if (pt)
        drop_block(pt, c->body);
    c->extent = ke_idx(a, to - from);
    if (from) {
        int nv = kernel_add_var(p, k, k->vars[l->var].name, DT_INDEX);
        stmt_subst(a, c->body, l->var, ke_bin(a, B_ADD, ke_var(a, k, nv), ke_idx(a, from)));
        c->var = nv;
    }
    stmt_fresh_lets(p, k, c->body);
    return c;
}

Stmt *loop_partition(Program *p, Kernel *k, Stmt *l)
{
    int64_t n;
    if (l->kind != S_LOOP || !ke_is_const(l->extent, &n) || n < 2)
        return NULL;
    Arena *tmp = arena_new();
    Part pt = {p, k, l->var, n, 0, n, arena_alloc(tmp, (size_t)k->nvars + 1),
               arena_alloc(tmp, sizeof(int64_t) * (size_t)(k->nvars + 1)), {0}, 0};
    scan(&pt, l->body);
    Stmt *mid = NULL;
    if (pt.natoms && pt.lo < pt.hi && (pt.lo > 0 || pt.hi < n) && pt.hi - pt.lo >= 2) {
        /* head [0, lo), middle [lo, hi) without the proven tests, tail [hi, n) */
        Stmt *after = l->next;
        Stmt *tail = pt.hi < n ? piece(p, k, l, pt.hi, n, NULL) : NULL;
        mid = piece(p, k, l, pt.lo, pt.hi, &pt);
        Stmt *seq = mid;
        if (tail)
            mid->next = tail, tail->next = after;
        else
            mid->next = after;
        if (pt.lo > 0) {
            l->extent = ke_idx(p->arena, pt.lo); /* l itself is the head */
            l->next = seq;
        } else {
            *l = *mid; /* no head: l becomes the middle */
            mid = l;
        }
    }
    arena_free(tmp);
    return mid;
}
