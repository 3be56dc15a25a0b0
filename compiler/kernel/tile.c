/*
 * tile.c: loop splitting, the building block of tiling.
 *
 *   for i < N: body(i)
 * becomes
 *   for i_o < ceil(N / T):
 *     for i_i < min(T, N - i_o*T): body(i_o*T + i_i)
 *
 * When T divides N the inner extent is the constant T; otherwise the last
 * outer iteration runs the remainder (the extent is an expression, which
 * the Kernel IR allows precisely for this). Splitting twice and reordering
 * gives the register and cache blocking of MatMul and Conv; marking an
 * inner loop L_VECTOR or L_UNROLL is then a change of its kind.
 */
#include "kernel.h"

#include <stdio.h>

int loop_split(Program *p, Kernel *k, Stmt *loop, int64_t factor, Stmt **out_inner)
{
    Arena *a = p->arena;
    int64_t n;
    if (loop->kind != S_LOOP || factor < 1 || !ke_is_const(loop->extent, &n))
        return 1;
    const char *name = k->vars[loop->var].name;
    int outer = kernel_add_var(p, k, arena_printf(a, "%s_o", name), DT_INDEX);
    int inner = kernel_add_var(p, k, arena_printf(a, "%s_i", name), DT_INDEX);
    Expr *vo = ke_var(a, k, outer), *vi = ke_var(a, k, inner);
    Expr *tf = ke_idx(a, factor);
    /* the old variable is outer * T + inner everywhere in the body */
    stmt_subst(a, loop->body, loop->var, ke_bin(a, B_ADD, ke_bin(a, B_MUL, vo, tf), vi));

    Stmt *in = arena_alloc(a, sizeof *in);
    in->kind = S_LOOP;
    in->var = inner;
    in->loop = loop->loop;
    in->iter = loop->iter;
    in->body = loop->body;
    if (n % factor == 0)
        in->extent = tf;
    else
        in->extent = ke_bin(a, B_MIN, tf, ke_bin(a, B_SUB, ke_idx(a, n), ke_bin(a, B_MUL, vo, tf)));

    loop->var = outer;
    loop->extent = ke_idx(a, (n + factor - 1) / factor);
    loop->loop = L_SERIAL;
    loop->body = in;
    if (out_inner)
        *out_inner = in;
    return 0;
}

int loop_split_peel(Program *p, Kernel *k, Stmt *loop, int64_t factor, Stmt **out_inner, Stmt **out_tail)
{
    Arena *a = p->arena;
    int64_t n;
    *out_inner = *out_tail = NULL;
    if (loop->kind != S_LOOP || factor < 1 || !ke_is_const(loop->extent, &n))
        return 1;
    int64_t full = n / factor, rest = n % factor;
    if (full == 0) {
        *out_tail = loop; /* shorter than one block: the loop is its own tail */
        return 0;
    }
    Stmt *tail = NULL;
    if (rest) {
        /* the last rest iterations, as a copy of the loop starting at full*T */
        tail = stmt_copy(a, loop);
        tail->next = NULL;
        int tv = kernel_add_var(p, k, arena_printf(a, "%s_t", k->vars[loop->var].name), DT_INDEX);
        stmt_subst(a, tail->body, loop->var, ke_bin(a, B_ADD, ke_idx(a, full * factor), ke_var(a, k, tv)));
        tail->var = tv;
        tail->extent = ke_idx(a, rest);
        stmt_fresh_lets(p, k, tail->body);
    }
    Stmt *after = loop->next;
    /* the loop covers full*T iterations, split exactly */
    loop->extent = ke_idx(a, full * factor);
    if (loop_split(p, k, loop, factor, out_inner))
        return 1;
    if (tail) {
        tail->next = after;
        loop->next = tail;
    }
    *out_tail = tail;
    return 0;
}
