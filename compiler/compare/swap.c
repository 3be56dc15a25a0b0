/*
 * swap.c: one kernel of a model replaced by a call of the user's function
 * (kiln compare MODEL.onnx --kernel NAME --ref FILE.c:FUNC).
 *
 * A kernel computes one fusion group: a producer node and the elementwise
 * chain graph_fuse joined to it (Kernel.group says which). The user's
 * function computes the same group in the ABI of compare's operator mode,
 *
 *   void FUNC(const void *const *inputs, void *const *outputs);
 *
 * with dense row-major arrays in the group's ONNX order: the producer's
 * inputs, then each chained node's inputs other than the chain's value;
 * the producer's outputs, its first replaced by the chain's last value.
 * An absent optional input or output is a NULL pointer.
 *
 * Everything comes from program facts, nothing from what the nodes are:
 *   - a constant (a weight) is handed over as the model's data, dense and
 *     row-major, from a weight buffer of its own: kiln's kernel may read a
 *     packed or reordered copy that the call has no use for;
 *   - a value kiln stores otherwise than dense row-major (a storage order
 *     from graph_layout, a halo) is copied into a row-major scratch buffer
 *     before the call, or, an output, copied back from one after it, its
 *     halo zeroed; those copies are Kernel IR loops like any other;
 *   - a value stored row-major is passed in place.
 * The kernel's body becomes those copies around one S_CALL of kc_swap
 * (the routine compare generates: it gathers the pointers into the two
 * arrays and calls FUNC). It runs where compile_model would plan the
 * program, so the new buffers get arena and blob offsets like the others,
 * and buffers only the old body used get none.
 *
 * Not swappable, with a message: a copy into a graph output (no group), a
 * value of a packed type (float8, 4-bit: kept as bytes), a value read
 * through a view of a reordered value.
 */
#include "../driver.h"
#include "../ops/op.h"

#include <stdio.h>
#include <string.h>

/* v, or the value a chain of views (Reshape, Flatten, ...) reads it from:
 * the one whose buffer holds its bytes. */
static ValueId view_root(const Graph *g, ValueId v)
{
    for (int guard = 0; guard < g->nnodes; guard++) {
        const Value *x = &g->values[v];
        if (x->kind != VAL_NODE || x->producer < 0)
            break;
        const Node *n = &g->nodes[x->producer];
        if (!(optab[n->op].flags & OPF_VIEW) || n->nin < 1 || n->in[0] == VNONE)
            break;
        v = n->in[0];
    }
    return v;
}

/* The buffer of p holding value v (through views), preferring one kernel
 * k touches (`use`, nuse of them) the way `rw` says; -1 if none. */
static int value_buffer(const Graph *g, const Program *p, ValueId v, const KUse *use, int nuse, int rw)
{
    ValueId root = view_root(g, v);
    int any = -1;
    for (int i = 0; i < nuse; i++)
        if (p->bufs[use[i].buf].value == root && (use[i].rw & rw))
            return use[i].buf;
    for (int b = 0; b < p->nbufs && rw == KU_READ; b++)
        if (p->bufs[b].value == root && p->bufs[b].kind != BUF_LOCAL && any < 0)
            any = b;
    return any;
}

/* Fill a for value v, which the kernel reads (rw KU_READ) or writes. */
static int plan_arg(const Graph *g, const Program *p, const Kernel *k, ValueId v, const KUse *use, int nuse,
                    int rw, SwapArg *a, Diag *d)
{
    memset(a, 0, sizeof *a);
    a->value = v;
    a->buf = -1;
    if (v == VNONE)
        return 0;
    const Value *x = &g->values[v];
    if (dtype_is_packed(x->dtype))
        return diag_error(d, "kernel %s: '%s' is of type %s, kept as packed bytes: compare swaps kernels of "
                             "unpacked types only", k->name, x->name, dtype_name(x->dtype));
    if (x->kind == VAL_CONST && rw == KU_READ) {
        a->konst = 1;
        return 0;
    }
    a->buf = value_buffer(g, p, v, use, nuse, rw);
    if (a->buf < 0)
        return diag_error(d, "kernel %s: no buffer of the program holds '%s' where the kernel %s it", k->name,
                          x->name, rw == KU_READ ? "reads" : "writes");
    const Value *r = &g->values[view_root(g, v)];
    if (r != x && (r->permuted || r->haloed))
        return diag_error(d, "kernel %s: '%s' is a view of '%s', which kiln stores reordered", k->name, x->name,
                          r->name);
    if (p->bufs[a->buf].numel != shape_numel(&x->shape) && !(x->permuted || x->haloed))
        return diag_error(d, "kernel %s: the buffer of '%s' does not hold it densely", k->name, x->name);
    a->convert = x->permuted || x->haloed;
    return 0;
}

int swap_plan(const Graph *g, const Program *p, int kernel, SwapPlan *out, Diag *d)
{
    const Kernel *k = &p->kernels[kernel];
    memset(out, 0, sizeof *out);
    out->kernel = kernel;
    if (k->group < 0)
        return diag_error(d, "kernel %s copies a value into a graph output: there is no node to hand-write", k->name);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->group != k->group)
            continue;
        if (out->nnodes == SWAP_MAX)
            return diag_error(d, "kernel %s computes more than %d nodes", k->name, SWAP_MAX);
        out->nodes[out->nnodes++] = n;
    }
    if (!out->nnodes)
        return diag_error(d, "kernel %s: its nodes are not in the graph", k->name);
    Arena *a = arena_new();
    KUse *use;
    int nuse = kernel_uses(k, a, &use), rc = 0;
    const Node *prod = out->nodes[0], *last = out->nodes[out->nnodes - 1];
    /* inputs: the producer's, then each chained node's but the chain */
    for (int j = 0; j < out->nnodes && !rc; j++) {
        const Node *n = out->nodes[j];
        for (int i = 0; i < n->nin && !rc; i++) {
            if (j > 0 && n->in[i] == out->nodes[j - 1]->out[0])
                continue;
            if (out->nin == SWAP_MAX) {
                rc = diag_error(d, "kernel %s has more than %d inputs", k->name, SWAP_MAX);
                break;
            }
            SwapArg *s = &out->in[out->nin++];
            rc = plan_arg(g, p, k, n->in[i], use, nuse, KU_READ, s, d);
            s->node = j, s->slot = i;
        }
    }
    /* outputs: the producer's, the first at the end of the chain */
    for (int i = 0; i < prod->nout && !rc; i++) {
        if (out->nout == SWAP_MAX) {
            rc = diag_error(d, "kernel %s has more than %d outputs", k->name, SWAP_MAX);
            break;
        }
        SwapArg *s = &out->out[out->nout++];
        rc = plan_arg(g, p, k, i == 0 ? last->out[0] : prod->out[i], use, nuse, KU_WRITE, s, d);
        s->node = i == 0 ? out->nnodes - 1 : 0, s->slot = i;
    }
    arena_free(a);
    return rc;
}

/* ------------------------------------------------------------ the swap */

/* The flat index in x's buffer (its storage order and halo) of logical
 * coordinates c. */
static Expr *stored_at(KB *b, const Value *x, Expr *const *c)
{
    Shape st = value_storage_shape(x);
    Expr *pc[KILN_MAX_RANK];
    for (int i = 0; i < st.rank; i++) {
        int dim = x->permuted ? x->perm[i] : i;
        pc[i] = c[dim];
        if (x->haloed && x->halo[dim])
            pc[i] = ke_bin(b->a, B_ADD, pc[i], ke_idx(b->a, x->halo[dim]));
    }
    return kb_flat(b, &st, pc);
}

/* A nest over x's logical shape copying between x's buffer `stored` and
 * the dense row-major `plain`: into plain when `in`, else out of it. */
static void copy_nest(KB *b, const Value *x, int stored, int plain, int in)
{
    Expr *c[KILN_MAX_RANK];
    for (int i = 0; i < x->shape.rank; i++)
        c[i] = kb_v(b, kb_for_k(b, "i", x->shape.dim[i], IT_DATA));
    Expr *flat = kb_flat(b, &x->shape, c), *st = stored_at(b, x, c);
    if (in)
        kb_store(b, plain, flat, ke_load(b->a, b->p, stored, st));
    else
        kb_store(b, stored, st, ke_load(b->a, b->p, plain, flat));
    for (int i = 0; i < x->shape.rank; i++)
        kb_end(b);
}

/* The pointer argument for a: the buffer the call reads or writes. */
static int call_buffer(Program *p, const Graph *g, KB *b, const SwapArg *a, int in)
{
    const Value *x = &g->values[a->value];
    if (a->konst) { /* the model's data, row-major */
        int w = prog_add_buf(p, arena_printf(p->arena, "%s_rowmajor", x->name), BUF_WEIGHT, x->dtype, &x->shape);
        p->bufs[w].data = x->data;
        p->bufs[w].value = a->value;
        return w;
    }
    if (!a->convert)
        return a->buf;
    int t = prog_add_buf(p, arena_printf(p->arena, "%s_rowmajor", x->name), BUF_ARENA, x->dtype, &x->shape);
    if (in) {
        kb_comment(b, arena_printf(p->arena, "'%s' as the call takes it: dense, row-major", x->name));
        copy_nest(b, x, a->buf, t, 1);
    }
    return t;
}

int prog_swap(Graph *g, Program *p, const char *kernel, const char *routine, Diag *d)
{
    int kn = -1;
    for (int i = 0; i < p->nkernels; i++)
        if (!strcmp(p->kernels[i].name, kernel))
            kn = i;
    if (kn < 0)
        return diag_error(d, "no kernel '%s' in the program", kernel);
    SwapPlan pl;
    if (swap_plan(g, p, kn, &pl, d))
        return 1;
    Kernel *k = &p->kernels[kn];
    Arena *a = p->arena;
    KB b;
    k->body = NULL;
    kb_init(&b, p, k);
    Expr **args = arena_alloc(a, sizeof(Expr *) * (size_t)(pl.nin + pl.nout + 1));
    int nargs = 0, plain[SWAP_MAX], inbuf[SWAP_MAX];
    for (int i = 0; i < pl.nin; i++) {
        if (pl.in[i].value == VNONE)
            continue;
        inbuf[i] = -1;
        for (int j = 0; j < i; j++) /* a value read twice is copied once */
            if (pl.in[j].value == pl.in[i].value)
                inbuf[i] = inbuf[j];
        if (inbuf[i] < 0)
            inbuf[i] = call_buffer(p, g, &b, &pl.in[i], 1);
        args[nargs++] = ke_load(a, p, inbuf[i], ke_idx(a, 0));
    }
    int nout = 0;
    for (int i = 0; i < pl.nout; i++) {
        plain[i] = -1;
        if (pl.out[i].value == VNONE)
            continue;
        plain[i] = call_buffer(p, g, &b, &pl.out[i], 0);
        args[nargs++] = ke_load(a, p, plain[i], ke_idx(a, 0));
        nout++;
    }
    kb_comment(&b, "kiln compare: the user's function in place of the kernel");
    Stmt *call = stmt_new(a, S_CALL);
    call->routine = routine;
    call->args = args;
    call->nargs = nargs;
    call->nout = nout;
    call->comment = b.comment;
    b.comment = NULL;
    *b.tail[0] = call;
    b.tail[0] = &call->next;
    for (int i = 0; i < pl.nout; i++) {
        const SwapArg *s = &pl.out[i];
        if (s->value == VNONE || !s->convert)
            continue;
        const Value *x = &g->values[s->value];
        kb_comment(&b, arena_printf(a, "'%s' back into kiln's storage of it", x->name));
        if (x->haloed) { /* the zero border the next Conv reads */
            int e = kb_for_k(&b, "i", p->bufs[s->buf].numel, IT_DATA);
            kb_store(&b, s->buf, kb_v(&b, e), ke_const(a, x->dtype, 0));
            kb_end(&b);
        }
        copy_nest(&b, x, s->buf, plain[i], 0);
    }
    k->comment = arena_printf(a, "%s\n(kiln compare: swapped for a call of the user's function)",
                              k->comment ? k->comment : "");
    return 0;
}
