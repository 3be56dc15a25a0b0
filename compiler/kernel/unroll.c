/*
 * unroll.c: L_UNROLL loops become straight-line copies of their body.
 *
 *   for i < 3 [unroll]: body(i)      ->      body(0); body(1); body(2)
 *
 * Each copy's loop variable is a constant, folded into its index
 * arithmetic by the constructors, and each copy gets its own locals (a let
 * in a copy is renamed), so the C compiler sees independent values: after
 * register blocking that is what keeps a tile of accumulators in
 * registers. Only constant extents up to UNROLL_MAX unroll; a longer or
 * variable loop stays a serial loop.
 */
#include "kernel.h"

enum { UNROLL_MAX = 64 };

static void unroll_block(Program *p, Kernel *k, Stmt **link)
{
    Arena *a = p->arena;
    while (*link) {
        Stmt *s = *link;
        int64_t n;
        if (s->kind == S_LOOP && s->loop == L_UNROLL && ke_is_const(s->extent, &n) && n <= UNROLL_MAX) {
            unroll_block(p, k, &s->body); /* inner unrolls first */
            Stmt *head = NULL, **tail = &head;
            for (int64_t i = 0; i < n; i++) {
                Stmt *c = stmt_copy(a, s->body);
                stmt_subst(a, c, s->var, ke_idx(a, i));
                if (i > 0)
                    stmt_fresh_lets(p, k, c);
                *tail = c;
                while (*tail)
                    tail = &(*tail)->next;
            }
            if (head && !head->comment)
                head->comment = s->comment;
            *tail = s->next;
            *link = head ? head : s->next;
            /* continue after the copies */
            while (*link != s->next)
                link = &(*link)->next;
            continue;
        }
        if (s->kind == S_LOOP && s->loop == L_UNROLL)
            s->loop = L_SERIAL;
        if (s->kind == S_LOOP || s->kind == S_IF) {
            unroll_block(p, k, &s->body);
            unroll_block(p, k, &s->els);
        }
        link = &s->next;
    }
}

int prog_unroll(Program *p, Diag *d)
{
    (void)d;
    for (int i = 0; i < p->nkernels; i++)
        unroll_block(p, &p->kernels[i], &p->kernels[i].body);
    return 0;
}
