/*
 * build.c: the statement cursor lowering functions write loop nests with.
 *
 *   int c = kb_for(b, "c", C);          for (c = 0; c < C; c++) {
 *   int acc = kb_let(b, "acc", zero);       acc = 0;
 *   ...                                     ...
 *   kb_end(b);                          }
 *
 * The cursor keeps, per open block, the link the next statement goes into.
 */
#include "kernel.h"

#include <assert.h>

void kb_init(KB *b, Program *p, Kernel *k)
{
    b->a = p->arena;
    b->p = p;
    b->k = k;
    b->depth = 0;
    Stmt **tail = &k->body;
    while (*tail)
        tail = &(*tail)->next;
    b->tail[0] = tail;
    b->open[0] = NULL;
    b->comment = NULL;
}

static Stmt *append(KB *b, StmtKind kind)
{
    Stmt *s = arena_alloc(b->a, sizeof *s);
    s->kind = kind;
    s->comment = b->comment;
    b->comment = NULL;
    *b->tail[b->depth] = s;
    b->tail[b->depth] = &s->next;
    return s;
}

static void push(KB *b, Stmt *s, Stmt **tail)
{
    assert(b->depth + 1 < 64);
    b->depth++;
    b->open[b->depth] = s;
    b->tail[b->depth] = tail;
}

int kb_for_e(KB *b, const char *name, Expr *extent)
{
    int var = kernel_add_var(b->p, b->k, name, DT_INDEX);
    Stmt *s = append(b, S_LOOP);
    s->var = var;
    s->extent = extent;
    s->loop = L_SERIAL;
    push(b, s, &s->body);
    return var;
}

int kb_for(KB *b, const char *name, int64_t extent) { return kb_for_e(b, name, ke_idx(b->a, extent)); }

int kb_for_k(KB *b, const char *name, int64_t extent, IterKind iter)
{
    int var = kb_for(b, name, extent);
    b->open[b->depth]->iter = iter;
    return var;
}

void kb_end(KB *b)
{
    assert(b->depth > 0);
    b->depth--;
}

Expr *kb_v(KB *b, int var) { return ke_var(b->a, b->k, var); }

int kb_let(KB *b, const char *name, Expr *init)
{
    int var = kernel_add_var(b->p, b->k, name, init->type);
    Stmt *s = append(b, S_LET);
    s->var = var;
    s->value = init;
    return var;
}

void kb_assign(KB *b, int var, Expr *value)
{
    Stmt *s = append(b, S_ASSIGN);
    s->var = var;
    s->value = value;
}

void kb_store(KB *b, int buf, Expr *index, Expr *value)
{
    Stmt *s = append(b, S_STORE);
    s->buf = buf;
    s->index = index;
    s->value = ke_cast(b->a, b->p->bufs[buf].dtype, value);
}

void kb_call(KB *b, const char *routine, Expr *const *args, int nargs, int nout)
{
    Stmt *s = append(b, S_CALL);
    s->routine = routine;
    s->nargs = nargs;
    s->nout = nout;
    s->args = arena_alloc(b->a, sizeof(Expr *) * (size_t)(nargs + 1));
    for (int i = 0; i < nargs; i++)
        s->args[i] = args[i];
}

void kb_if(KB *b, Expr *cond)
{
    Stmt *s = append(b, S_IF);
    s->value = cond;
    push(b, s, &s->body);
}

void kb_else(KB *b)
{
    Stmt *s = b->open[b->depth];
    assert(s && s->kind == S_IF);
    b->tail[b->depth] = &s->els;
}

void kb_comment(KB *b, const char *text)
{
    b->comment = text;
}

Expr *kb_flat(KB *b, const Shape *s, Expr *const *coords)
{
    int64_t st[KILN_MAX_RANK];
    shape_strides(s, st);
    Expr *idx = ke_idx(b->a, 0);
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] == 1)
            continue; /* coordinate is 0 there */
        idx = ke_bin(b->a, B_ADD, idx, ke_bin(b->a, B_MUL, coords[i], ke_idx(b->a, st[i])));
    }
    return idx;
}
