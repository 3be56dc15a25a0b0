/*
 * simplify.c: tidy loop nests after lowering.
 *
 * Loops of extent 0 disappear, and so do loops and ifs whose body is
 * empty; loops of extent 1 are replaced by their body
 * with the variable set to 0 (lowering opens a loop per dimension, batch 1
 * included), except GPU loops, which keep a launch's shape; an if with a constant condition keeps only the branch taken.
 * Substitution rebuilds expressions through the folding constructors, so
 * n*4096 + c*64 with n = 0 prints as c*64. A store of an element onto
 * itself (b[i] = b[i]: the copy that starts a scatter whose output is its
 * input's storage, --alias; an identity Pad written over its input,
 * inplace.c) does nothing and goes, and so does a kernel left empty.
 */
#include "kernel.h"

/* Splice block `body` in place of the statement at *link; returns the link
 * after the spliced statements. */
static Stmt **splice(Stmt **link, Stmt *body)
{
    Stmt *next = (*link)->next;
    if (body && !body->comment)
        body->comment = (*link)->comment;
    if (!body) {
        *link = next;
        return link;
    }
    *link = body;
    Stmt *last = body;
    while (last->next)
        last = last->next;
    last->next = next;
    return link; /* revisit the spliced statements: they may simplify too */
}

static void simplify_block(Arena *a, Stmt **link)
{
    while (*link) {
        Stmt *s = *link;
        int64_t n;
        if (s->kind == S_LOOP && ke_is_const(s->extent, &n) && (n < 1 || (n == 1 && s->loop < L_GPU_BLOCK))) {
            if (n == 1)
                stmt_subst(a, s->body, s->var, ke_idx(a, 0));
            link = splice(link, n == 1 ? s->body : NULL);
            continue;
        }
        if (s->kind == S_STORE && !s->mask && s->value->kind == E_LOAD && s->value->buf == s->buf &&
            !s->value->b && ke_equal(s->value->a, s->index)) {
            link = splice(link, NULL);
            continue;
        }
        if (s->kind == S_IF && ke_is_const(s->value, &n)) {
            link = splice(link, n ? s->body : s->els);
            continue;
        }
        if (s->kind == S_LOOP || s->kind == S_IF) {
            simplify_block(a, &s->body);
            simplify_block(a, &s->els);
            if (!s->body && !s->els) {
                /* a loop (or if) left with nothing to run: an empty tensor's
                 * outer loops must not spin */
                link = splice(link, NULL);
                continue;
            }
        }
        link = &s->next;
    }
}

int prog_simplify(Program *p, Diag *d)
{
    (void)d;
    int n = 0;
    for (int i = 0; i < p->nkernels; i++) {
        simplify_block(p->arena, &p->kernels[i].body);
        if (p->kernels[i].body) /* a kernel left with nothing to do goes */
            p->kernels[n++] = p->kernels[i];
    }
    p->nkernels = n;
    return 0;
}
