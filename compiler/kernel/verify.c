/*
 * verify.c: the Kernel IR's invariants, checked after lowering and after
 * every loop pass in debug builds (and by the unit tests).
 *
 *  - a variable is used only inside the loop or after the let defining it;
 *  - loads and stores name existing buffers, with DT_INDEX indices;
 *  - stores write the buffer's dtype; assignments the variable's type;
 *  - both operands of a binary operator have one type; a select's
 *    condition is bool and its arms agree; loop extents are DT_INDEX.
 */
#include "kernel.h"

#include <stdio.h>

typedef struct Check {
    const Program *p;
    const Kernel *k;
    unsigned char *live; /* [nvars]: defined in the current scope */
    Diag *d;
} Check;

static int bad(Check *c, const char *what)
{
    return diag_error(c->d, "kernel %s: invalid Kernel IR: %s", c->k->name, what);
}

static int expr_ok(Check *c, const Expr *e)
{
    char msg[256];
    switch (e->kind) {
    case E_CONST:
        return 0;
    case E_VAR:
        if (e->var < 0 || e->var >= c->k->nvars || !c->live[e->var]) {
            snprintf(msg, sizeof msg, "variable %d used outside its scope", e->var);
            return bad(c, msg);
        }
        return e->type != c->k->vars[e->var].type ? bad(c, "variable read with the wrong type") : 0;
    case E_LOAD:
        if (e->buf < 0 || e->buf >= c->p->nbufs)
            return bad(c, "load of a buffer that does not exist");
        if (e->a->type != DT_INDEX)
            return bad(c, "load index is not an index expression");
        if (e->type != c->p->bufs[e->buf].dtype)
            return bad(c, "load type differs from its buffer's");
        return expr_ok(c, e->a);
    case E_UNARY:
        return expr_ok(c, e->a);
    case E_BINARY:
        if (e->a->type != e->b->type) {
            snprintf(msg, sizeof msg, "%s of %s and %s", binop_name((BinOp)e->op), dtype_name(e->a->type),
                     dtype_name(e->b->type));
            return bad(c, msg);
        }
        return expr_ok(c, e->a) || expr_ok(c, e->b);
    case E_SELECT:
        if (e->a->type != DT_BOOL || e->b->type != e->c->type)
            return bad(c, "select with a non-bool condition or arms of different types");
        return expr_ok(c, e->a) || expr_ok(c, e->b) || expr_ok(c, e->c);
    case E_BITCAST:
        if (dtype_size(e->type) != dtype_size(e->a->type) || e->type == DT_INDEX || e->a->type == DT_INDEX) {
            snprintf(msg, sizeof msg, "bitcast of %s to %s", dtype_name(e->a->type), dtype_name(e->type));
            return bad(c, msg);
        }
        return expr_ok(c, e->a);
    case E_CAST:
    case E_BCAST:
        return expr_ok(c, e->a);
    }
    return bad(c, "unknown expression kind");
}

static int block_ok(Check *c, const Stmt *s)
{
    int defined[1024], nd = 0; /* lets of this block, undone at its end */
    int rc = 0;
    for (; s && !rc; s = s->next) {
        switch (s->kind) {
        case S_LOOP:
            if (s->extent->type != DT_INDEX)
                rc = bad(c, "loop extent is not an index expression");
            else if (c->live[s->var])
                rc = bad(c, "loop variable already defined");
            else if (!(rc = expr_ok(c, s->extent))) {
                c->live[s->var] = 1;
                rc = block_ok(c, s->body);
                c->live[s->var] = 0;
            }
            break;
        case S_STORE:
            if (s->buf < 0 || s->buf >= c->p->nbufs)
                rc = bad(c, "store to a buffer that does not exist");
            else if (s->index->type != DT_INDEX)
                rc = bad(c, "store index is not an index expression");
            else if (s->value->type != c->p->bufs[s->buf].dtype)
                rc = bad(c, "stored value's type differs from the buffer's");
            else
                rc = expr_ok(c, s->index) || expr_ok(c, s->value);
            break;
        case S_LET:
            if ((rc = expr_ok(c, s->value)))
                break;
            if (s->value->type != c->k->vars[s->var].type)
                rc = bad(c, "let of a value of another type");
            c->live[s->var] = 1;
            if (nd < 1024)
                defined[nd++] = s->var;
            break;
        case S_ASSIGN:
            if (!c->live[s->var])
                rc = bad(c, "assignment to an undefined variable");
            else if (s->value->type != c->k->vars[s->var].type)
                rc = bad(c, "assignment of a value of another type");
            else
                rc = expr_ok(c, s->value);
            break;
        case S_IF:
            if (s->value->type != DT_BOOL)
                rc = bad(c, "if condition is not bool");
            else
                rc = expr_ok(c, s->value) || block_ok(c, s->body) || block_ok(c, s->els);
            break;
        case S_CALL:
            for (int i = 0; i < s->nargs && !rc; i++)
                rc = expr_ok(c, s->args[i]);
            break;
        }
    }
    while (nd)
        c->live[defined[--nd]] = 0;
    return rc;
}

int prog_verify(const Program *p, Diag *d)
{
    for (int i = 0; i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        Arena *a = arena_new();
        Check c = {p, k, arena_alloc(a, (size_t)k->nvars + 1), d};
        int rc = block_ok(&c, k->body);
        arena_free(a);
        if (rc)
            return 1;
    }
    return 0;
}
