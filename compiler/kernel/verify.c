/*
 * verify.c: the Kernel IR's invariants, checked after lowering and after
 * every loop pass (and by the unit tests).
 *
 *  - a variable is used only inside the loop or after the let defining it;
 *  - loads and stores name existing buffers, with DT_INDEX indices;
 *  - stores write the buffer's dtype; assignments the variable's type;
 *  - both operands of a binary operator have one type; a select's
 *    condition is bool and its arms agree; loop extents are DT_INDEX;
 *  - lanes agree: operands of one operation have the same lane count, a
 *    load has its index's lanes and a bool mask of as many, a ramp's base
 *    and a loop's extent are scalars, a horizontal reduce takes a vector;
 *  - expressions are at most KILN_MAX_EXPR_DEPTH deep, so that every
 *    recursive walk after this one (printers, interpreter, passes) is
 *    bounded whatever the model;
 *  - index arithmetic cannot overflow: the range of every DT_INDEX
 *    expression is computed from the loop extents (interval arithmetic,
 *    checked), and one that leaves int64 is an error, as is a kernel whose
 *    loops would run more than KILN_MAX_WORK iterations. Values read from
 *    memory or locals have no known range and are not judged;
 *  - GPU loops (gpumap.c) form launches: an L_GPU_BLOCK loop stands at a
 *    kernel's top level, with a constant extent, and its body is exactly
 *    one L_GPU_THREAD loop of constant extent at most 1024; GPU loops
 *    appear nowhere else, and no L_PARALLEL loop runs inside one; a
 *    kernel with one launch at its top level has nothing else there;
 *  - a kernel placed on the host (Kernel.host) has no GPU loop, and in a
 *    program with GPU launches every kernel that touches string records
 *    or calls a runtime routine is placed on the host (their data and
 *    code are the CPU's);
 *  - an L_PARALLEL loop (run on the thread pool wherever it stands, as a
 *    function of its own) holds no other, assigns no variable declared
 *    outside it, and reads only scalars from around it (the printers hand
 *    their values to the function).
 */
#include "kernel.h"

#include <stdio.h>
#include <string.h>

enum { KILN_MAX_EXPR_DEPTH = 2000 };
#define KILN_MAX_WORK ((int64_t)1 << 50)

typedef struct Check {
    const Program *p;
    const Kernel *k;
    unsigned char *live; /* [nvars]: defined in the current scope */
    KRange *vr;           /* [nvars]: range of each loop variable */
    int64_t work;        /* loop iterations of the kernel so far */
    Diag *d;
    int call_arg;        /* checking a call's argument */
} Check;

static int bad(Check *c, const char *what)
{
    /* the kernel's comment starts with the node it computes */
    const char *cm = c->k->comment ? c->k->comment : "";
    int n = (int)strcspn(cm, "\n");
    return diag_error(c->d, "%.*s%skernel %s: invalid Kernel IR: %s", n, cm, n ? ": " : "", c->k->name, what);
}

static int overflow(Check *c, const char *what)
{
    const char *cm = c->k->comment ? c->k->comment : "";
    int n = (int)strcspn(cm, "\n");
    return diag_error(c->d, "%.*s%s%s (kernel %s)", n, cm, n ? ": " : "", what, c->k->name);
}


static int expr_ok(Check *c, const Expr *e, int depth, KRange *r)
{
    char msg[256];
    KRange ra, rb, rc;
    *r = krange_top();
    if (e->lanes < 1 || e->lanes > KILN_MAX_LANES)
        return bad(c, "expression with an invalid lane count");
    if (!dtype_is_computable(e->type) && !(dtype_is_string(e->type) && e->kind == E_LOAD && depth == 0 && c->call_arg))
        return bad(c, dtype_is_string(e->type) ? "a string value outside a call's arguments"
                                               : "expression of a type kernels do not compute (packed types are converted by kernel/packed.c)");
    if (depth > KILN_MAX_EXPR_DEPTH) {
        snprintf(msg, sizeof msg, "expression deeper than %d", KILN_MAX_EXPR_DEPTH);
        return overflow(c, msg);
    }
    switch (e->kind) {
    case E_CONST:
        if (e->type == DT_INDEX)
            *r = krange_span(e->i, e->i);
        return 0;
    case E_VAR:
        if (e->var < 0 || e->var >= c->k->nvars || !c->live[e->var]) {
            snprintf(msg, sizeof msg, "variable %d used outside its scope", e->var);
            return bad(c, msg);
        }
        if (e->type != c->k->vars[e->var].type || e->lanes != c->k->vars[e->var].lanes)
            return bad(c, "variable read with the wrong type or lanes");
        *r = c->vr[e->var];
        return 0;
    case E_LOAD:
        if (e->buf < 0 || e->buf >= c->p->nbufs)
            return bad(c, "load of a buffer that does not exist");
        if (e->a->type != DT_INDEX)
            return bad(c, "load index is not an index expression");
        if (e->type != c->p->bufs[e->buf].dtype)
            return bad(c, "load type differs from its buffer's");
        if (e->a->lanes != e->lanes || (e->b && (e->b->type != DT_BOOL || e->b->lanes != e->lanes)))
            return bad(c, "load whose index or mask has other lanes than the load");
        return expr_ok(c, e->a, depth + 1, &ra) || (e->b && expr_ok(c, e->b, depth + 1, &rb));
    case E_RAMP:
        if (e->a->lanes != 1 || !dtype_is_int(e->a->type) || e->lanes < 2)
            return bad(c, "ramp of a vector or non-integer base");
        if (expr_ok(c, e->a, depth + 1, &ra))
            return 1;
        if (ra.known) {
            int64_t span_, lo, hi;
            if (ck_mul(e->i, e->lanes - 1, &span_) || ck_add(ra.lo, span_ < 0 ? span_ : 0, &lo) ||
                ck_add(ra.hi, span_ > 0 ? span_ : 0, &hi))
                return overflow(c, "index arithmetic overflows");
            *r = krange_span(lo, hi);
        }
        return 0;
    case E_HREDUCE:
        if (e->a->lanes < 2 || e->lanes != 1 || (e->op != B_ADD && e->op != B_MIN && e->op != B_MAX))
            return bad(c, "horizontal reduce of a scalar, or by an operator other than add, min, max");
        return expr_ok(c, e->a, depth + 1, &ra);
    case E_UNARY:
        if (e->a->lanes != e->lanes)
            return bad(c, "unary operator changes lanes");
        if (expr_ok(c, e->a, depth + 1, &ra))
            return 1;
        if (e->type == DT_INDEX && ra.known && e->op == U_NEG) {
            if (ra.lo == INT64_MIN)
                return overflow(c, "index arithmetic overflows");
            *r = krange_span(-ra.hi, -ra.lo);
        }
        return 0;
    case E_BINARY:
        if (e->a->type != e->b->type) {
            snprintf(msg, sizeof msg, "%s of %s and %s", binop_name((BinOp)e->op), dtype_name(e->a->type),
                     dtype_name(e->b->type));
            return bad(c, msg);
        }
        if (e->a->lanes != e->lanes || e->b->lanes != e->lanes)
            return bad(c, "binary operator on operands of different lanes");
        if (expr_ok(c, e->a, depth + 1, &ra) || expr_ok(c, e->b, depth + 1, &rb))
            return 1;
        if (e->type == DT_INDEX && krange_bin((BinOp)e->op, ra, rb, r))
            return overflow(c, "index arithmetic overflows");
        return 0;
    case E_SELECT:
        if (e->a->type != DT_BOOL || e->b->type != e->c->type)
            return bad(c, "select with a non-bool condition or arms of different types");
        if (e->a->lanes != e->lanes || e->b->lanes != e->lanes || e->c->lanes != e->lanes)
            return bad(c, "select whose operands have different lanes");
        if (expr_ok(c, e->a, depth + 1, &ra) || expr_ok(c, e->b, depth + 1, &rb) ||
            expr_ok(c, e->c, depth + 1, &rc))
            return 1;
        if (rb.known && rc.known)
            *r = krange_span(rb.lo < rc.lo ? rb.lo : rc.lo, rb.hi > rc.hi ? rb.hi : rc.hi);
        return 0;
    case E_BITCAST:
        if (dtype_size(e->type) != dtype_size(e->a->type) || e->type == DT_INDEX || e->a->type == DT_INDEX) {
            snprintf(msg, sizeof msg, "bitcast of %s to %s", dtype_name(e->a->type), dtype_name(e->type));
            return bad(c, msg);
        }
        return expr_ok(c, e->a, depth + 1, &ra);
    case E_CAST:
        if (expr_ok(c, e->a, depth + 1, &ra))
            return 1;
        /* integer constants and loop counters keep their range as an index */
        if (e->type == DT_INDEX && dtype_is_int(e->a->type) && e->a->type != DT_U64)
            *r = ra;
        return 0;
    case E_BCAST:
        if (e->a->lanes != 1)
            return bad(c, "broadcast of a vector");
        return expr_ok(c, e->a, depth + 1, r);
    }
    return bad(c, "unknown expression kind");
}

static int value_ok(Check *c, const Expr *e)
{
    KRange r;
    return expr_ok(c, e, 0, &r);
}

/* A block's statements; lets defined in it are out of scope at its end. */
static int block_ok(Check *c, const Stmt *s, int64_t trips)
{
    int rc = 0;
    const Stmt *first = s;
    for (; s && !rc; s = s->next) {
        switch (s->kind) {
        case S_LOOP: {
            KRange er;
            if (s->extent->type != DT_INDEX || s->extent->lanes != 1) {
                rc = bad(c, "loop extent is not an index expression");
                break;
            }
            if (s->var < 0 || s->var >= c->k->nvars || c->live[s->var]) {
                rc = bad(c, "loop variable already defined");
                break;
            }
            if ((rc = expr_ok(c, s->extent, 0, &er)))
                break;
            int64_t n = er.known ? er.hi : 0, inner = trips;
            if (er.known && n > 0 && ck_mul(trips, n, &inner))
                inner = KILN_MAX_WORK + 1;
            if (er.known && n > 0 && (ck_add(c->work, inner, &c->work) || c->work > KILN_MAX_WORK)) {
                rc = overflow(c, "its loops would run more than 2^50 iterations");
                break;
            }
            c->live[s->var] = 1;
            c->vr[s->var] = er.known ? krange_span(0, n > 0 ? n - 1 : 0) : krange_top();
            rc = block_ok(c, s->body, inner);
            c->live[s->var] = 0;
            break;
        }
        case S_STORE:
            if (s->buf < 0 || s->buf >= c->p->nbufs)
                rc = bad(c, "store to a buffer that does not exist");
            else if (s->index->type != DT_INDEX)
                rc = bad(c, "store index is not an index expression");
            else if (s->value->type != c->p->bufs[s->buf].dtype)
                rc = bad(c, "stored value's type differs from the buffer's");
            else if (s->value->lanes != s->index->lanes ||
                     (s->mask && (s->mask->type != DT_BOOL || s->mask->lanes != s->index->lanes)))
                rc = bad(c, "store whose index, value and mask lanes differ");
            else
                rc = value_ok(c, s->index) || value_ok(c, s->value) || (s->mask && value_ok(c, s->mask));
            break;
        case S_LET:
            if (s->var < 0 || s->var >= c->k->nvars || c->live[s->var]) {
                rc = bad(c, "let of a variable already defined");
                break;
            }
            if ((rc = value_ok(c, s->value)))
                break;
            if (s->value->type != c->k->vars[s->var].type || s->value->lanes != c->k->vars[s->var].lanes)
                rc = bad(c, "let of a value of another type or lanes");
            c->live[s->var] = 1;
            c->vr[s->var] = krange_top(); /* assignments may change it */
            break;
        case S_ASSIGN:
            if (s->var < 0 || s->var >= c->k->nvars || !c->live[s->var])
                rc = bad(c, "assignment to an undefined variable");
            else if (s->value->type != c->k->vars[s->var].type || s->value->lanes != c->k->vars[s->var].lanes)
                rc = bad(c, "assignment of a value of another type or lanes");
            else
                rc = value_ok(c, s->value);
            break;
        case S_IF:
            if (s->value->type != DT_BOOL || s->value->lanes != 1)
                rc = bad(c, "if condition is not a scalar bool");
            else
                rc = value_ok(c, s->value) || block_ok(c, s->body, trips) || block_ok(c, s->els, trips);
            break;
        case S_CALL:
            if (s->nout < 0 || s->nout > s->nargs || !s->routine)
                rc = bad(c, "call with more written arguments than arguments, or no routine");
            for (int i = 0; i < s->nargs && !rc; i++) {
                const Expr *e = s->args[i];
                c->call_arg = 1; /* a string element's address may be one */
                rc = value_ok(c, e);
                c->call_arg = 0;
                if (!rc && e->lanes != 1)
                    rc = bad(c, "call argument of several lanes");
                if (!rc && i >= s->nargs - s->nout) {
                    if (e->kind != E_LOAD || c->p->bufs[e->buf].kind == BUF_INPUT ||
                        c->p->bufs[e->buf].kind == BUF_WEIGHT)
                        rc = bad(c, "call writes an argument that is not the address of a writable buffer");
                }
            }
            break;
        }
    }
    for (s = first; s; s = s->next)
        if (s->kind == S_LET)
            c->live[s->var] = 0;
    return rc;
}

/* No GPU loop in block s, and no thread pool loop when `gpu` (inside a
 * launch). */
static int gpu_inner_ok(Check *c, const Stmt *s, int gpu)
{
    for (; s; s = s->next) {
        if (s->kind == S_LOOP && (s->loop == L_GPU_BLOCK || s->loop == L_GPU_THREAD))
            return bad(c, "GPU loop outside a launch (a block loop at the top holding one thread loop)");
        if (gpu && s->kind == S_LOOP && s->loop == L_PARALLEL)
            return bad(c, "parallel loop inside a GPU launch");
        if (gpu_inner_ok(c, s->body, gpu) || gpu_inner_ok(c, s->els, gpu))
            return 1;
    }
    return 0;
}

/* The parallel loops of block s (Check's comment); `in` when inside one. */
static int par_ok(Check *c, Arena *a, const Stmt *s, int in)
{
    for (; s; s = s->next) {
        int par = s->kind == S_LOOP && s->loop == L_PARALLEL;
        if (par && in)
            return bad(c, "parallel loop inside a parallel loop");
        if (par && kernel_stmt_inputs(a, c->k, s, NULL) < 0)
            return bad(c, "parallel loop assigns a variable declared outside it, or reads a vector one");
        if (par_ok(c, a, s->body, in || par) || par_ok(c, a, s->els, in || par))
            return 1;
    }
    return 0;
}

/* The launches of a kernel's top level (gpumap.c's form), if it has any. */
static int gpu_ok(Check *c)
{
    int launches = 0, other = 0;
    for (const Stmt *s = c->k->body; s; s = s->next) {
        if (s->kind != S_LOOP || s->loop != L_GPU_BLOCK) {
            other++;
            if (s->kind == S_LOOP && s->loop == L_GPU_THREAD)
                return bad(c, "GPU thread loop outside a GPU block loop");
            if (gpu_inner_ok(c, s->body, 0) || gpu_inner_ok(c, s->els, 0))
                return 1;
            continue;
        }
        launches++;
        int64_t nb, nt;
        const Stmt *t = s->body;
        if (!ke_is_const(s->extent, &nb) || nb < 1)
            return bad(c, "GPU block loop without a constant extent");
        if (!t || t->next || t->kind != S_LOOP || t->loop != L_GPU_THREAD)
            return bad(c, "GPU block loop whose body is not one GPU thread loop");
        if (!ke_is_const(t->extent, &nt) || nt < 1 || nt > 1024)
            return bad(c, "GPU thread loop without a constant extent of 1 to 1024");
        if (gpu_inner_ok(c, t->body, 1))
            return 1;
    }
    if (launches && other)
        return bad(c, "a kernel of GPU launches has other statements at its top level");
    if (launches && c->k->host)
        return bad(c, "a kernel placed on the host has GPU launches");
    return 0;
}

/* In a program with GPU launches, kernels on strings or calling runtime
 * routines are placed on the host. */
static int host_ok(const Program *p, Arena *a, Diag *d)
{
    int gpu = 0;
    for (int i = 0; i < p->nkernels; i++)
        for (const Stmt *s = p->kernels[i].body; s; s = s->next)
            gpu |= s->kind == S_LOOP && s->loop == L_GPU_BLOCK;
    for (int i = 0; gpu && i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        if (!k->host && kernel_host_only(p, k, a))
            return diag_error(d, "kernel %s: invalid Kernel IR: it touches string records or calls a runtime "
                                 "routine in a GPU program but is not placed on the host", k->name);
    }
    return 0;
}

int prog_verify(const Program *p, Diag *d)
{
    for (int i = 0; p->out_alias && i < p->noutputs; i++) {
        int j = p->out_alias[i];
        if (j >= p->ninputs || (j >= 0 && p->bufs[p->inputs[j]].numel != p->bufs[p->outputs[i]].numel))
            return diag_error(d, "invalid Kernel IR: output %d in place of input %d, which does not exist or has "
                                 "another size", i, j);
    }
    for (int i = 0; i < p->noutputs; i++) {
        int lb = prog_out_len(p, i);
        if (lb < 0)
            continue;
        const Buffer *ob = &p->bufs[p->outputs[i]];
        if (lb >= p->nbufs || p->bufs[lb].kind != BUF_ARENA || p->bufs[lb].dtype != DT_I64 ||
            p->bufs[lb].numel != 1 || p->out_dyn[i] < 0 || p->out_dyn[i] >= ob->shape.rank ||
            ob->elem != ob->dtype)
            return diag_error(d, "invalid Kernel IR: output %d's run-time length is not an arena i64[1] buffer "
                                 "for one of its dims", i);
    }
    for (int io = 0; io < 2; io++) {
        /* model_run's slots: each of the model's inputs (outputs) in turn */
        const int *list = io ? p->outputs : p->inputs;
        int n = io ? p->noutputs : p->ninputs;
        for (int i = 0; i < n; i++) {
            const Buffer *b = &p->bufs[list[i]];
            const Buffer *prev = i ? &p->bufs[list[i - 1]] : NULL;
            if (b->form & ~(IO_SEQ | IO_OPT | IO_NONE))
                return diag_error(d, "invalid Kernel IR: slot %s has form %d", b->name, b->form);
            if (b->group < 0 || (prev ? b->group != prev->group && b->group != prev->group + 1 : b->group != 0))
                return diag_error(d, "invalid Kernel IR: slot %s belongs to value %d after value %d", b->name,
                                  b->group, prev ? prev->group : -1);
            if ((b->form & IO_NONE) && (io || b->numel != 0))
                return diag_error(d, "invalid Kernel IR: slot %s holds nothing but is an output or has elements",
                                  b->name);
            if (prev && b->group == prev->group && (!(b->form & IO_SEQ) || b->form != prev->form))
                return diag_error(d, "invalid Kernel IR: slots %s and %s of one value are not one sequence's",
                                  prev->name, b->name);
        }
    }
    for (int i = 0; i < p->nguards; i++) {
        const Buffer *in = &p->bufs[p->guard_in[i]], *w = &p->bufs[p->guard_w[i]];
        if (in->kind != BUF_INPUT || w->kind != BUF_WEIGHT || w->dtype != in->dtype || w->numel > in->numel ||
            (w->numel < 1 && in->numel != 0))
            return diag_error(d, "invalid Kernel IR: guard %d compares %s with %s, which is not a weight of its type "
                                 "and at most its size (empty only for an empty input)", i, in->name, w->name);
    }
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        int packed_ok = b->dtype == DT_U8 && dtype_is_packed(b->elem) &&
                        b->numel == dtype_bytes(b->elem, shape_numel(&b->shape));
        if (b->elem != b->dtype ? !packed_ok : !dtype_is_computable(b->dtype) && !dtype_is_string(b->dtype))
            return diag_error(d, "buffer %s: type %s holding %s: packed types live in u8 buffers of their byte count",
                              b->name, dtype_name(b->dtype), dtype_name(b->elem));
        if (dtype_is_string(b->dtype) && (b->kind == BUF_WEIGHT || b->kind == BUF_LOCAL))
            return diag_error(d, "invalid Kernel IR: buffer %s: string records live in inputs, outputs and the arena, "
                                 "not in weights or kernel-local storage", b->name);
    }
    if (p->str_pool >= 0) {
        const Buffer *b = p->str_pool < p->nbufs ? &p->bufs[p->str_pool] : NULL;
        if (!b || b->kind != BUF_ARENA || b->dtype != DT_U8 || b->numel < 16 || b->alias >= 0)
            return diag_error(d, "invalid Kernel IR: the string pool is not a u8 arena buffer of at least its "
                                 "16-byte state");
    }
    if (p->status >= 0) {
        const Buffer *b = p->status < p->nbufs ? &p->bufs[p->status] : NULL;
        if (!b || b->kind != BUF_ARENA || b->dtype != DT_I64 || b->numel != 1 || b->alias >= 0)
            return diag_error(d, "invalid Kernel IR: the run status is not an i64[1] arena buffer");
    }
    Arena *a = arena_new();
    int rc = 0;
    for (int i = 0; i < p->nkernels && !rc; i++) {
        const Kernel *k = &p->kernels[i];
        Check c = {p, k, arena_alloc(a, (size_t)k->nvars + 1), arena_alloc(a, sizeof(KRange) * (size_t)(k->nvars + 1)),
                   0, d, 0};
        rc = block_ok(&c, k->body, 1) || gpu_ok(&c) || par_ok(&c, a, k->body, 0);
    }
    rc = rc || host_ok(p, a, d);
    arena_free(a);
    return rc;
}
