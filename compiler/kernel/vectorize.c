/*
 * vectorize.c: L_VECTOR loops become vector expressions.
 *
 * A loop `for v < E` marked L_VECTOR (by the scheduler, on an IT_DATA or
 * IT_REDUCE loop of constant extent E <= KILN_MAX_LANES) is replaced by its
 * body run once on L lanes, L the power of two >= E:
 *
 *   - v becomes ramp(0, 1, L); index arithmetic keeps ramps as ramps
 *     (kernel.c), so a load at m*N + v reads L consecutive elements;
 *   - a local whose value depends on v becomes a vector local, found by a
 *     fixpoint over the lets and assignments of the body;
 *   - an `if` whose condition depends on v is if-converted: its stores and
 *     loads take the condition as a mask, its assignments become selects;
 *   - when E < L, every access is masked by lane < E;
 *   - an accumulator declared outside the loop (the loop is then IT_REDUCE)
 *     and updated as acc = acc op x (op add, min or max) gets a vector
 *     partner accumulated lane by lane from the op's identity, declared
 *     after acc's let and folded into acc (a horizontal reduce) after the
 *     reduction loops that enclose the vector loop.
 *
 * Anything else (a store of a vector value to one scalar index, a call, a
 * vector expression kiln_vec.h cannot print) leaves the loop serial: the
 * pass never changes what a kernel computes, only how.
 */
#include "kernel.h"

#include <string.h>

typedef struct Vec {
    Program *p;
    Kernel *k;
    Arena *a;
    int lanes;
    unsigned char *isvec;  /* [nvars]: the variable holds lanes inside the loop */
    unsigned char *inner;  /* [nvars]: declared inside the loop body */
    Expr **with;           /* [nvars]: what a variable becomes, or NULL */
    int *acc_vec;          /* [nvars]: vector partner of a reduction accumulator, -1 */
    Stmt **acc_fold;       /* [nvars]: the statement folding the partner back */
    int ok;
    int nvars;             /* variables before the pass added any */
    Expr *tail;            /* lane < E for a loop of E < lanes iterations, else NULL */
} Vec;

/* ---------------------------------------------------------- analysis */

static void mark_decls(Vec *v, const Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_LET || s->kind == S_LOOP)
            v->inner[s->var] = 1;
        mark_decls(v, s->body);
        mark_decls(v, s->els);
    }
}

static int uses_vec(const Vec *v, const Expr *e)
{
    for (; e; e = e->a) {
        if (e->kind == E_VAR && v->isvec[e->var])
            return 1;
        if (e->b && uses_vec(v, e->b))
            return 1;
        if (e->c && uses_vec(v, e->c))
            return 1;
    }
    return 0;
}

/* One round of the fixpoint: a local set from a lane-dependent value, or
 * set under a lane-dependent condition, holds lanes. Returns whether
 * anything changed. */
static int spread(Vec *v, const Stmt *s, int masked)
{
    int changed = 0;
    for (; s; s = s->next) {
        switch (s->kind) {
        case S_LET:
        case S_ASSIGN:
            if (!v->isvec[s->var] && (masked || uses_vec(v, s->value))) {
                v->isvec[s->var] = 1;
                changed = 1;
            }
            break;
        case S_IF: {
            int m = masked || uses_vec(v, s->value);
            changed |= spread(v, s->body, m) | spread(v, s->els, m);
            break;
        }
        case S_LOOP:
            changed |= spread(v, s->body, masked);
            break;
        default:
            break;
        }
    }
    return changed;
}

/* ---------------------------------------------------- printable vectors */

/* Can the C target print vector expression e (kiln_vec.h)? 32- and 64-bit
 * lanes; masks made by comparisons and logic; no bitcasts, no float to
 * integer conversions (they saturate, lane by lane). */
static int printable(const Expr *e)
{
    if (!e)
        return 1;
    if (e->lanes > 1) {
        int w = dtype_size(e->type);
        if (e->type == DT_BOOL) {
            int ok = (e->kind == E_BINARY && (binop_is_compare((BinOp)e->op) || e->op == B_AND ||
                                              e->op == B_OR || e->op == B_XOR)) ||
                     (e->kind == E_UNARY && e->op == U_NOT) || e->kind == E_BCAST;
            if (!ok)
                return 0;
            if (e->kind == E_BINARY && binop_is_compare((BinOp)e->op) && dtype_size(e->a->type) < 4)
                return 0;
        } else if (w != 4 && w != 8) {
            return 0;
        }
        if (dtype_is_half(e->type))
            return 0;
        switch (e->kind) {
        case E_BITCAST:
            return 0;
        case E_CAST:
            if (dtype_is_float(e->a->type) && !dtype_is_float(e->type))
                return 0;
            if (dtype_size(e->a->type) != 4 && dtype_size(e->a->type) != 8)
                return 0;
            break;
        case E_UNARY:
            switch (e->op) {
            case U_NEG: case U_NOT: case U_EXP: case U_LOG: case U_TANH: case U_ERF: case U_SQRT:
            case U_FLOOR: case U_CEIL: case U_TRUNC: case U_ROUND: case U_SIN: case U_COS:
                if (e->op != U_NEG && e->op != U_NOT && !dtype_is_float(e->type))
                    return 0;
                break;
            case U_ABS:
                if (!dtype_is_float(e->type))
                    return 0;
                break;
            case U_BNOT:
                if (dtype_is_float(e->type))
                    return 0;
                break;
            default:
                return 0;
            }
            break;
        case E_BINARY:
            if (e->op == B_ATAN2 || (e->op == B_MOD && dtype_is_float(e->a->type)))
                return 0;
            if (e->op == B_POW && !dtype_is_float(e->a->type))
                return 0;
            if ((e->op == B_AND || e->op == B_OR || e->op == B_XOR) && e->type != DT_BOOL)
                return 0;
            break;
        default:
            break;
        }
    }
    if (e->kind == E_HREDUCE && !printable(e->a))
        return 0;
    return printable(e->a) && printable(e->b) && printable(e->c);
}

static int block_printable(const Stmt *s)
{
    for (; s; s = s->next) {
        if (!printable(s->extent) || !printable(s->index) || !printable(s->value) || !printable(s->mask))
            return 0;
        if (s->kind == S_STORE && s->index->lanes > 1 &&
            (dtype_size(s->value->type) < 4 || dtype_is_half(s->value->type)))
            return 0;
        if (!block_printable(s->body) || !block_printable(s->els))
            return 0;
    }
    return 1;
}

/* -------------------------------------------------------- rewriting */

/* e with every variable replaced as v->with says, and every load whose
 * lanes may fall outside (under `mask`) masked. */
static Expr *rewrite(Vec *v, Expr *e, Expr *mask)
{
    Arena *a = v->a;
    if (!e)
        return NULL;
    /* at once: no replacement mentions a variable that is replaced (they
     * are ramps and variables the pass added, numbered from v->nvars) */
    e = ke_subst_vars(a, e, v->with, v->nvars);
    if (!mask)
        return e;
    /* loads under a mask read only the lanes it selects */
    switch (e->kind) {
    case E_LOAD: {
        /* a kernel's own storage cannot fault, and lanes outside the mask
         * never leave the masked region: its loads stay unmasked */
        if (v->p->bufs[e->buf].kind == BUF_LOCAL)
            return e;
        Expr *ix = rewrite(v, e->a, mask);
        if (ix->lanes == 1 && mask == v->tail && !e->b)
            return ke_load(a, v->p, e->buf, ix); /* lane 0 always runs: one scalar read is safe */
        if (ix->lanes == 1)
            ix = ke_bcast(a, ix, v->lanes);
        Expr *m = e->b ? ke_bin(a, B_AND, e->b, mask) : mask;
        return ke_load_mask(a, v->p, e->buf, ix, m);
    }
    case E_CONST: case E_VAR: case E_RAMP:
        return e;
    case E_UNARY: return ke_un(a, (UnOp)e->op, rewrite(v, e->a, mask));
    case E_BINARY: return ke_bin(a, (BinOp)e->op, rewrite(v, e->a, mask), rewrite(v, e->b, mask));
    case E_SELECT: return ke_select(a, rewrite(v, e->a, mask), rewrite(v, e->b, mask), rewrite(v, e->c, mask));
    case E_CAST: return ke_cast(a, e->type, rewrite(v, e->a, mask));
    case E_BITCAST: return ke_bitcast(a, e->type, rewrite(v, e->a, mask));
    case E_BCAST: return ke_bcast(a, rewrite(v, e->a, mask), e->lanes);
    case E_HREDUCE: return ke_hreduce(a, (BinOp)e->op, rewrite(v, e->a, mask));
    }
    return e;
}

/* A mask known for every lane: 1 (all true) or 0 (all false); -1 if not. */
static int mask_known(const Expr *m)
{
    int64_t k;
    if (!m)
        return 1;
    if (ke_is_const(m->kind == E_BCAST ? m->a : m, &k))
        return k != 0;
    return -1;
}

/* m && c, NULL standing for all lanes. */
static Expr *and_mask(Arena *a, Expr *m, Expr *c)
{
    if (mask_known(c) == 1)
        return m;
    if (mask_known(m) == 1)
        return c;
    return ke_bin(a, B_AND, m, c);
}

/* Is s an update acc = acc op x of accumulator acc (x free of acc)? */
static int fold_op(const Stmt *s, BinOp *op)
{
    const Expr *e = s->value;
    if (e->kind != E_BINARY || (e->op != B_ADD && e->op != B_MIN && e->op != B_MAX))
        return 0;
    const Expr *x;
    if (e->a->kind == E_VAR && e->a->var == s->var)
        x = e->b;
    else if (e->b->kind == E_VAR && e->b->var == s->var)
        x = e->a;
    else
        return 0;
    if (ke_uses_var(x, s->var))
        return 0;
    *op = (BinOp)e->op;
    return 1;
}

/* The vectorized copy of block s, appended at *tail. mask: the lanes that
 * run (NULL: all). */
static void vec_block(Vec *v, const Stmt *s, Expr *mask, Stmt ***tail)
{
    Arena *a = v->a;
    for (; s && v->ok; s = s->next) {
        Stmt *c = NULL;
        switch (s->kind) {
        case S_LOOP:
            if (uses_vec(v, s->extent)) {
                v->ok = 0;
                break;
            }
            c = stmt_new(a, S_LOOP);
            *c = *s;
            c->next = NULL;
            c->body = NULL;
            {
                Stmt **t = &c->body;
                vec_block(v, s->body, mask, &t);
            }
            break;
        case S_LET:
            c = stmt_new(a, S_LET);
            c->comment = s->comment;
            c->var = s->var;
            c->value = rewrite(v, s->value, mask);
            if (v->isvec[s->var]) {
                c->var = v->with[s->var]->var;
                c->value = ke_bcast(a, c->value, v->lanes);
            } else if (c->value->lanes > 1) {
                v->ok = 0;
            }
            break;
        case S_ASSIGN: {
            Expr *val = rewrite(v, s->value, mask);
            c = stmt_new(a, S_ASSIGN);
            c->comment = s->comment;
            if (!v->isvec[s->var]) {
                if (val->lanes > 1 || mask)
                    v->ok = 0;
                c->var = s->var;
                c->value = val;
                break;
            }
            Expr *target = v->with[s->var];
            if (!v->inner[s->var]) {
                /* a reduction into an accumulator of the enclosing nest */
                BinOp op;
                if (!fold_op(s, &op)) {
                    v->ok = 0;
                    break;
                }
            }
            val = ke_bcast(a, val, v->lanes);
            c->var = target->var;
            /* the lanes past a remainder never leave a local of the loop
             * (stores are masked); an accumulator from outside must not
             * take them in */
            c->value = mask && !(mask == v->tail && v->inner[s->var]) ? ke_select(a, mask, val, target) : val;
            break;
        }
        case S_STORE: {
            Expr *ix = rewrite(v, s->index, mask), *val = rewrite(v, s->value, mask);
            Expr *m = s->mask ? rewrite(v, s->mask, mask) : NULL;
            if (ix->lanes == 1 && (val->lanes > 1 || mask || (m && m->lanes > 1))) {
                v->ok = 0; /* every lane would write the same element */
                break;
            }
            c = stmt_new(a, S_STORE);
            c->comment = s->comment;
            c->buf = s->buf;
            c->index = ix;
            if (ix->lanes > 1) {
                val = ke_bcast(a, val, v->lanes);
                m = mask ? and_mask(a, m ? ke_bcast(a, m, v->lanes) : NULL, mask) : m ? ke_bcast(a, m, v->lanes) : NULL;
            }
            c->value = val;
            c->mask = mask_known(m) == 1 ? NULL : m;
            break;
        }
        case S_IF: {
            Expr *cond = rewrite(v, s->value, mask);
            if (cond->lanes == 1) {
                c = stmt_new(a, S_IF);
                c->comment = s->comment;
                c->value = cond;
                Stmt **t = &c->body;
                vec_block(v, s->body, mask, &t);
                t = &c->els;
                vec_block(v, s->els, mask, &t);
                break;
            }
            if (mask_known(cond) >= 0) {
                /* the same in every lane: only one arm runs */
                vec_block(v, mask_known(cond) ? s->body : s->els, mask, tail);
                continue;
            }
            /* if-conversion: both arms run, each under its mask */
            vec_block(v, s->body, and_mask(a, mask, cond), tail);
            if (s->els)
                vec_block(v, s->els, and_mask(a, mask, ke_un(a, U_NOT, cond)), tail);
            continue;
        }
        case S_CALL:
            v->ok = 0;
            break;
        }
        if (c) {
            **tail = c;
            *tail = &c->next;
        }
    }
}

/* --------------------------------------------------------- the pass */

/* An enclosing block: where its list starts, and the statement whose body
 * it is (NULL at the kernel's top). */
typedef struct Frame {
    Stmt **head;
    Stmt *owner;
} Frame;

/* The block of frames[0..depth] (innermost last) holding `let var`: its
 * index, with the let in *out; -1 if none does. */
static int find_let(Frame *frames, int depth, int var, Stmt **out)
{
    for (int d = depth; d >= 0; d--)
        for (Stmt *l = *frames[d].head; l; l = l->next)
            if (l->kind == S_LET && l->var == var) {
                *out = l;
                return d;
            }
    return -1;
}

/* Is var, in block s, only read by its own updates var = var op x? */
static int only_folds(const Stmt *s, int var)
{
    BinOp op;
    for (; s; s = s->next) {
        if (s->kind == S_ASSIGN && s->var == var && !fold_op(s, &op))
            return 0;
        if (!(s->kind == S_ASSIGN && s->var == var) && ke_uses_var(s->value, var))
            return 0;
        if (ke_uses_var(s->index, var) || ke_uses_var(s->extent, var) || ke_uses_var(s->mask, var))
            return 0;
        if (!only_folds(s->body, var) || !only_folds(s->els, var))
            return 0;
    }
    return 1;
}

/* The operator of the first update of accumulator var in block s. */
static int find_fold(const Stmt *s, int var, BinOp *op)
{
    for (; s; s = s->next) {
        if (s->kind == S_ASSIGN && s->var == var)
            return fold_op(s, op);
        if (find_fold(s->body, var, op) || find_fold(s->els, var, op))
            return 1;
    }
    return 0;
}

/* Vectorize the loop at *link, in block frames[depth]. Returns 1 if it
 * was replaced by vector statements. */
static int vectorize_loop(Program *p, Kernel *k, Stmt **link, Frame *frames, int depth, int *acc_vec,
                          Stmt **acc_fold)
{
    Stmt *s = *link;
    Arena *a = p->arena;
    int64_t e;
    if (!ke_is_const(s->extent, &e) || e < 2 || e > KILN_MAX_LANES || s->iter == IT_SERIAL) {
        s->loop = L_SERIAL;
        return 0;
    }
    int lanes = 4; /* the narrowest vector kiln_vec.h has of every element type */
    while (lanes < e)
        lanes *= 2;
    Arena *tmp = arena_new();
    Vec v = {p, k, a, lanes, arena_alloc(tmp, (size_t)k->nvars + 1), arena_alloc(tmp, (size_t)k->nvars + 1),
             arena_alloc(tmp, sizeof(Expr *) * (size_t)(k->nvars + 1)), acc_vec, acc_fold, 1, k->nvars, NULL};
    int nv0 = k->nvars;
    v.isvec[s->var] = 1;
    v.inner[s->var] = 1;
    mark_decls(&v, s->body);
    while (spread(&v, s->body, 0))
        ;
    /* an accumulator from outside needs this loop to be a reduction, and
     * its let in an enclosing block */
    for (int i = 0; i < nv0 && v.ok; i++) {
        Stmt *let;
        BinOp op;
        if (v.isvec[i] && !v.inner[i] &&
            (s->iter != IT_REDUCE || find_let(frames, depth, i, &let) < 0 || !find_fold(s->body, i, &op) ||
             !only_folds(s->body, i)))
            v.ok = 0;
    }
    /* a remainder loop runs on its main loop's partners: their lanes */
    for (int i = 0; i < nv0 && v.ok; i++)
        if (v.isvec[i] && !v.inner[i] && acc_vec[i] >= 0) {
            if (k->vars[acc_vec[i]].lanes < e)
                v.ok = 0;
            lanes = v.lanes = k->vars[acc_vec[i]].lanes;
        }
    Stmt *body = NULL, **tail = &body;
    if (v.ok) {
        v.with[s->var] = ke_ramp(a, ke_idx(a, 0), 1, lanes);
        for (int i = 0; i < nv0; i++) {
            if (!v.isvec[i] || i == s->var)
                continue;
            int vv = !v.inner[i] && acc_vec[i] >= 0
                         ? acc_vec[i]
                         : kernel_add_vec(p, k, arena_printf(a, "%sv", k->vars[i].name), k->vars[i].type, lanes);
            v.with[i] = ke_var(a, k, vv);
        }
        Expr *mask = e == lanes ? NULL : ke_bin(a, B_LT, ke_ramp(a, ke_idx(a, 0), 1, lanes), ke_idx(a, e));
        v.tail = mask;
        vec_block(&v, s->body, mask, &tail);
    }
    if (v.ok)
        v.ok = block_printable(body);
    for (int i = 0; i < nv0 && v.ok; i++) {
        if (!v.isvec[i] || v.inner[i])
            continue;
        if (acc_vec[i] >= 0) {
            /* a later loop of the same reduction (the remainder): the fold
             * moves after the statement holding this loop */
            Stmt *let = NULL;
            int d = find_let(frames, depth, i, &let);
            Stmt *anc = d == depth ? s : frames[d + 1].owner, *fold = acc_fold[i];
            int before = 0;
            for (Stmt *x = let; x && x != anc; x = x->next)
                before |= x->next == fold;
            if (before) {
                for (Stmt *x = let; x; x = x->next)
                    if (x->next == fold) {
                        x->next = fold->next;
                        break;
                    }
                fold->next = anc->next;
                anc->next = fold;
            }
            continue;
        }
        /* a new reduction partner: declared after the accumulator's let,
         * folded into it after the statement of that block that holds
         * this loop */
        Stmt *let = NULL;
        BinOp op = B_ADD;
        int d = find_let(frames, depth, i, &let);
        find_fold(s->body, i, &op);
        int vv = v.with[i]->var;
        DType t = k->vars[i].type;
        Expr *id = op == B_ADD ? ke_const(a, t, 0) : op == B_MAX ? ke_lowest(a, t) : ke_highest(a, t);
        Stmt *init = stmt_new(a, S_LET);
        init->var = vv;
        init->value = ke_bcast(a, id, lanes);
        init->next = let->next;
        let->next = init;
        Stmt *anc = d == depth ? s : frames[d + 1].owner;
        Stmt *fin = stmt_new(a, S_ASSIGN);
        fin->var = i;
        fin->value = ke_bin(a, op, ke_var(a, k, i), ke_hreduce(a, op, ke_var(a, k, vv)));
        fin->next = anc->next;
        anc->next = fin;
        acc_vec[i] = vv;
        acc_fold[i] = fin;
    }
    arena_free(tmp);
    if (!v.ok) {
        s->loop = L_SERIAL;
        return 0;
    }
    /* splice the vector body in place of the loop (a moved fold may have
     * changed which link points at it) */
    for (link = frames[depth].head; *link != s; link = &(*link)->next)
        ;
    Stmt *next = s->next;
    if (!body) {
        *link = next;
        return 1;
    }
    if (s->comment && !body->comment)
        body->comment = s->comment;
    Stmt *last = body;
    while (last->next)
        last = last->next;
    last->next = next;
    *link = body;
    return 1;
}

static void walk(Program *p, Kernel *k, Stmt **head, Stmt *owner, Frame *frames, int depth, int *acc_vec,
                 Stmt **acc_fold)
{
    if (depth >= 64)
        return;
    frames[depth] = (Frame){head, owner};
    for (Stmt **l = head; *l; l = &(*l)->next) {
        Stmt *s = *l;
        if (s->kind == S_LOOP && s->loop == L_VECTOR && vectorize_loop(p, k, l, frames, depth, acc_vec, acc_fold))
            continue; /* *l is the first vector statement now; vector code has no L_VECTOR loops */
        if (s->kind == S_LOOP || s->kind == S_IF) {
            walk(p, k, &s->body, s, frames, depth + 1, acc_vec, acc_fold);
            walk(p, k, &s->els, s, frames, depth + 1, acc_vec, acc_fold);
        }
    }
}

int prog_vectorize(Program *p, Diag *d)
{
    (void)d;
    for (int i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        Frame frames[64];
        int *acc_vec = arena_alloc(p->arena, sizeof(int) * (size_t)(k->nvars + 1));
        for (int j = 0; j < k->nvars; j++)
            acc_vec[j] = -1;
        Stmt **acc_fold = arena_alloc(p->arena, sizeof(Stmt *) * (size_t)(k->nvars + 1));
        walk(p, k, &k->body, NULL, frames, 0, acc_vec, acc_fold);
    }
    return 0;
}
