/*
 * lower.c: Graph IR -> Kernel IR.
 *
 * Each fusion group becomes one kernel, placed where the group's last node
 * stands (graph_fuse guarantees every input is ready there). The group's
 * first node (the producer) is lowered by its op's lower_* function; the
 * rest of the group is a chain of elementwise nodes applied, as an
 * epilogue, to every value the producer stores (lw_store). View nodes (Reshape, Flatten, ...) produce
 * no kernel: their output is their input's buffer, read with another shape.
 *
 * Buffers: graph inputs and outputs come first, in model order; constants
 * become weight buffers and node outputs arena buffers the first time a
 * kernel touches them, so nothing unused reaches the generated program.
 * A value of a packed type (float8, 4-bit, 2-bit) lives in a u8 buffer of
 * its bytes: lw_load decodes an element (kernel/packed.c), and the ops
 * that make such values store them with lw_store_packed, a byte at a time.
 */
#include "lower.h"
#include "../ops/op.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

struct Lower {
    Graph *g;
    Program *p;
    Diag *d;
    int *vbuf;     /* [g->nvalues]: buffer holding each value, -1 if none yet */
    KB kb;         /* cursor into the kernel being built */
    Node **epi;    /* the elementwise chain applied to the producer's stores */
    int nepi;
    int *tlike;    /* [ntlike]: the value whose storage order a scratch buffer follows, or -1 */
    int ntlike;
    int *vlen;     /* [g->nvalues]: the run-time length slot of a dynamic value, -1 if none yet */
    int depth;     /* subgraph nesting: 0 while lowering the model's graph */
};

KB *lw_kb(Lower *L) { return &L->kb; }
Arena *lw_arena(Lower *L) { return L->p->arena; }
Graph *lw_graph(Lower *L) { return L->g; }

Diag lw_diag(Lower *L) { return (Diag){.file = L->g->file}; }

int lw_error(Lower *L, Node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return diag_node(L->d, L->g, n, "%s", msg);
}

/* A constant's data in v's storage order. */
static void *stored_data(Arena *a, const Value *x)
{
    if (!x->permuted)
        return x->data;
    Shape st = value_storage_shape(x);
    int64_t n = shape_numel(&x->shape), lstride[KILN_MAX_RANK], idx[KILN_MAX_RANK] = {0};
    size_t es = (size_t)dtype_size(x->dtype);
    char *out = arena_alloc(a, (size_t)n * es + 1);
    shape_strides(&x->shape, lstride);
    /* walk the buffer in storage order, reading the logical element */
    for (int64_t i = 0; i < n; i++) {
        int64_t src = 0;
        for (int d = 0; d < st.rank; d++)
            src += idx[d] * lstride[x->perm[d]];
        memcpy(out + (size_t)i * es, (const char *)x->data + (size_t)src * es, es);
        for (int d = st.rank - 1; d >= 0 && ++idx[d] == st.dim[d]; d--)
            idx[d] = 0;
    }
    return out;
}

/* A buffer for a tensor of x's type and shape s: u8 bytes for a packed type. */
static int value_buf(Program *p, const char *name, BufKind kind, const Value *x, const Shape *s)
{
    if (dtype_is_packed(x->dtype))
        return prog_add_packed(p, name, kind, x->dtype, s);
    return prog_add_buf(p, name, kind, x->dtype, s);
}

int lw_buf(Lower *L, ValueId v)
{
    if (L->vbuf[v] >= 0)
        return L->vbuf[v];
    const Value *x = &L->g->values[v];
    BufKind kind = x->kind == VAL_CONST ? BUF_WEIGHT : BUF_ARENA;
    Shape st = value_storage_shape(x);
    assert(!dtype_is_packed(x->dtype) || (!x->permuted && !x->haloed)); /* graph_layout leaves them row-major */
    int b = value_buf(L->p, x->name, kind, x, &st);
    L->p->bufs[b].value = L->depth ? -1 : v; /* a subgraph's value is no value of the model's graph */
    if (kind == BUF_WEIGHT)
        L->p->bufs[b].data = stored_data(L->p->arena, x);
    L->vbuf[v] = b;
    return b;
}

/* The flat index of logical coordinates in a buffer stored as value x
 * (its order; its halo too unless `halo` is 0: a scratch copy has none). */
static Expr *value_flat(Lower *L, const Value *x, const Shape *logical, Expr *const *coords, int halo)
{
    if (!x || (!x->permuted && !(halo && x->haloed)))
        return kb_flat(&L->kb, logical, coords);
    Expr *pc[KILN_MAX_RANK];
    Shape st = *logical;
    for (int i = 0; i < logical->rank; i++) {
        int d = x->permuted ? x->perm[i] : i;
        pc[i] = coords[d];
        st.dim[i] = logical->dim[d];
        if (halo && x->haloed && x->halo[d]) {
            pc[i] = ke_bin(L->p->arena, B_ADD, pc[i], ke_idx(L->p->arena, x->halo[d]));
            st.dim[i] += 2 * x->halo[d];
        }
    }
    return kb_flat(&L->kb, &st, pc);
}

/* Zero the halo of value v (graph_layout) in the kernel being built: for
 * each dimension with one, a nest over the buffer with that dimension
 * limited to its leading and its trailing border. */
static void zero_halo(Lower *L, ValueId v)
{
    const Value *x = &L->g->values[v];
    Arena *a = L->p->arena;
    if (!x->haloed)
        return;
    Shape st = value_storage_shape(x);
    int b = lw_buf(L, v);
    kb_comment(&L->kb, "the zero border a padded Conv reads in place");
    for (int i = 0; i < st.rank; i++) {
        int64_t h = x->halo[x->permuted ? x->perm[i] : i];
        for (int side = 0; h && side < 2; side++) {
            Expr *c[KILN_MAX_RANK];
            for (int j = 0; j < st.rank; j++) {
                Expr *vj = kb_v(&L->kb, kb_for_k(&L->kb, "h", j == i ? h : st.dim[j], IT_DATA));
                c[j] = j == i && side ? ke_bin(a, B_ADD, vj, ke_idx(a, st.dim[i] - h)) : vj;
            }
            kb_store(&L->kb, b, kb_flat(&L->kb, &st, c), ke_const(a, x->dtype, 0));
            lw_end_n(L, st.rank);
        }
    }
}

Expr *lw_load(Lower *L, ValueId v, Expr *const *coords)
{
    int b = lw_buf(L, v);
    const Value *x = &L->g->values[v];
    Expr *flat = value_flat(L, x, &x->shape, coords, 1);
    if (dtype_is_packed(x->dtype))
        return pk_decode(&L->kb, x->dtype, pk_load(&L->kb, b, flat));
    return ke_load(L->p->arena, L->p, b, flat);
}

Expr *lw_load_bcast(Lower *L, ValueId v, int rank, Expr *const *coords)
{
    const Shape *s = &L->g->values[v].shape;
    Expr *c[KILN_MAX_RANK];
    assert(s->rank <= rank); /* inference made v broadcast to the rank */
    for (int j = 0; j < s->rank; j++)
        c[j] = s->dim[j] == 1 ? ke_idx(L->p->arena, 0) : coords[rank - s->rank + j];
    return lw_load(L, v, c);
}

/* value as it would read back had it been stored as a t: fusion must not
 * change results, and f16/bf16 values compute in float but round when
 * stored, so they round here too. */
static Expr *materialized(Arena *a, DType t, Expr *value)
{
    value = ke_cast(a, t, value);
    return dtype_is_half(t) ? ke_cast(a, t, ke_cast(a, DT_F32, value)) : value;
}

void lw_store(Lower *L, Node *n, int out, Expr *const *coords, Expr *value)
{
    Arena *a = L->p->arena;
    ValueId v = n->out[out];
    if (out == 0 && L->nepi) {
        int rank = L->g->values[v].shape.rank;
        for (int i = 0; i < L->nepi; i++) {
            Node *c = L->epi[i];
            Expr *args[64];
            if (c->nin > 64) {
                lw_error(L, c, "more than 64 inputs are not supported");
                return;
            }
            /* a value the next op may read twice gets a name: expression
             * trees stay as small as the chain is long, never exponential */
            if (i > 0 && value->kind != E_VAR && value->kind != E_CONST && value->kind != E_LOAD)
                value = kb_v(&L->kb, kb_let(&L->kb, "e", value));
            for (int j = 0; j < c->nin; j++) {
                if (c->in[j] == VNONE)
                    args[j] = NULL;
                else if (c->in[j] == v)
                    args[j] = materialized(a, L->g->values[v].dtype, value);
                else
                    args[j] = lw_load_bcast(L, c->in[j], rank, coords);
            }
            value = ew_scalar(L, c, args);
            if (!value)
                return; /* ew_scalar reported the error */
            v = c->out[0];
        }
    }
    if (v == VNONE)
        return;
    const Value *x = &L->g->values[v];
    if (dtype_is_packed(x->dtype)) {
        lw_error(L, n, "output '%s' of type %s is stored element by element (internal error: use lw_store_packed)",
                 x->name, dtype_name(x->dtype));
        return;
    }
    kb_store(&L->kb, lw_buf(L, v), value_flat(L, x, &x->shape, coords, 1), value);
}

void lw_store_packed(Lower *L, Node *n, int out, LwCode code, void *arg)
{
    Arena *a = L->p->arena;
    KB *b = &L->kb;
    const Value *x = &L->g->values[n->out[out]];
    const Shape *s = &x->shape;
    int buf = lw_buf(L, n->out[out]), bits = dtype_bits(x->dtype), per = 8 / bits;
    int64_t numel = shape_numel(s), nbytes = dtype_bytes(x->dtype, numel), stride[KILN_MAX_RANK];
    Expr *c[KILN_MAX_RANK];
    if (per == 1) { /* a byte per element: the plain loops over the coordinates */
        lw_loops(L, s, NULL, c);
        Expr *v = code(L, n, c, arg);
        if (v) /* else code reported an error */
            kb_store(b, buf, kb_flat(b, s, c), ke_cast(a, DT_U8, v));
        lw_end_loops(L, s);
        return;
    }
    /* one iteration per byte, computing each element it holds: no two
     * iterations write one byte. The last byte's unused bits are 0. */
    kb_comment(b, arena_printf(a, "%d elements of %s per byte, the first in the low bits", per,
                               dtype_name(x->dtype)));
    shape_strides(s, stride);
    Expr *byte = kb_v(b, kb_for_k(b, "byte", nbytes, IT_DATA)), *packed = NULL;
    for (int j = 0; j < per; j++) {
        Expr *e = ke_bin(a, B_ADD, ke_bin(a, B_MUL, byte, ke_idx(a, per)), ke_idx(a, j));
        int past = numel % per && j >= numel % per; /* the last byte lacks element j */
        Expr *ec = past ? ke_bin(a, B_MIN, e, ke_idx(a, numel - 1)) : e;
        for (int d = 0; d < s->rank; d++) {
            c[d] = ke_bin(a, B_DIV, ec, ke_idx(a, stride[d]));
            if (d > 0)
                c[d] = ke_bin(a, B_MOD, c[d], ke_idx(a, s->dim[d]));
        }
        Expr *v = code(L, n, c, arg);
        if (!v) { /* code reported an error */
            kb_end(b);
            return;
        }
        if (past)
            v = ke_select(a, ke_bin(a, B_LT, e, ke_idx(a, numel)), v, ke_int(a, DT_I32, 0));
        v = ke_bin(a, B_SHL, v, ke_int(a, DT_I32, j * bits));
        packed = packed ? ke_bin(a, B_BOR, packed, v) : v;
    }
    kb_store(b, buf, byte, ke_cast(a, DT_U8, packed));
    kb_end(b);
}

int lw_const(Lower *L, const char *name, DType t, const Shape *s, const void *data)
{
    int b = prog_add_buf(L->p, name, BUF_WEIGHT, t, s);
    size_t bytes = (size_t)(shape_numel(s) * dtype_size(t));
    void *copy = arena_alloc(L->p->arena, bytes ? bytes : 1);
    if (bytes)
        memcpy(copy, data, bytes);
    L->p->bufs[b].data = copy;
    return b;
}

int lw_len(Lower *L, ValueId v)
{
    if (L->vlen[v] < 0) {
        Shape one = {.rank = 1, .dim = {1}};
        L->vlen[v] = prog_add_buf(L->p, arena_printf(L->p->arena, "%s_len", L->g->values[v].name), BUF_ARENA,
                                  DT_I64, &one);
    }
    return L->vlen[v];
}

int lw_str_pool(Lower *L)
{
    Program *p = L->p;
    if (p->str_pool >= 0)
        return p->str_pool;
    int64_t cap = L->g->str_bytes > 0 ? L->g->str_bytes : KILN_STRING_BYTES;
    Shape s = {1, {16 + cap}};
    p->str_pool = prog_add_buf(p, "str_pool", BUF_ARENA, DT_U8, &s);
    return p->str_pool;
}

int lw_status(Lower *L)
{
    Program *p = L->p;
    if (p->status < 0) {
        Shape one = {1, {1}};
        p->status = prog_add_buf(p, "status", BUF_ARENA, DT_I64, &one);
    }
    return p->status;
}

int lw_temp(Lower *L, const char *name, DType t, const Shape *s)
{
    return prog_add_buf(L->p, name, BUF_ARENA, t, s);
}

int lw_local(Lower *L, const char *name, DType t, const Shape *s)
{
    return prog_add_buf(L->p, name, BUF_LOCAL, t, s);
}

/* The value a scratch buffer takes its storage order from, or NULL. */
static const Value *temp_like(Lower *L, int buf)
{
    return buf < L->ntlike && L->tlike[buf] >= 0 ? &L->g->values[L->tlike[buf]] : NULL;
}

int lw_temp_like(Lower *L, const char *name, const Shape *s, ValueId like)
{
    const Value *x = &L->g->values[like];
    Shape st = *s;
    if (x->permuted)
        for (int i = 0; i < s->rank; i++)
            st.dim[i] = s->dim[x->perm[i]];
    int b = prog_add_buf(L->p, name, BUF_ARENA, x->dtype, &st);
    if (x->permuted) {
        if (b >= L->ntlike) {
            int n = 2 * b + 16;
            int *t = arena_alloc(L->p->arena, sizeof(int) * (size_t)n);
            for (int i = 0; i < n; i++)
                t[i] = i < L->ntlike ? L->tlike[i] : -1;
            L->tlike = t;
            L->ntlike = n;
        }
        L->tlike[b] = like;
    }
    return b;
}

/* The flat index of logical coordinates in scratch buffer buf. */
static Expr *lw_temp_flat(Lower *L, int buf, Expr *const *coords)
{
    const Value *x = temp_like(L, buf);
    const Shape *st = &L->p->bufs[buf].shape;
    if (!x)
        return kb_flat(&L->kb, st, coords);
    Shape logical = *st;
    for (int i = 0; i < st->rank; i++)
        logical.dim[x->perm[i]] = st->dim[i];
    return value_flat(L, x, &logical, coords, 0);
}

void lw_store_temp(Lower *L, int buf, Expr *const *coords, Expr *value)
{
    kb_store(&L->kb, buf, lw_temp_flat(L, buf, coords), value);
}

Expr *lw_load_temp(Lower *L, int buf, Expr *const *coords)
{
    return ke_load(L->p->arena, L->p, buf, lw_temp_flat(L, buf, coords));
}

void lw_loops_k(Lower *L, const Shape *s, const char *names, IterKind iter, Expr **coords)
{
    int letters = names && (int)strlen(names) >= s->rank;
    for (int i = 0; i < s->rank; i++) {
        char nm[48];
        if (letters)
            snprintf(nm, sizeof nm, "%c", names[i]);
        else
            snprintf(nm, sizeof nm, "%.24s%d", names ? names : "i", i);
        coords[i] = kb_v(&L->kb, kb_for_k(&L->kb, nm, s->dim[i], iter));
    }
}

void lw_loops(Lower *L, const Shape *s, const char *names, Expr **coords)
{
    lw_loops_k(L, s, names, IT_DATA, coords);
}

Expr *lw_index(Lower *L, const char *name, Expr *raw, int64_t dim)
{
    Arena *a = L->p->arena;
    int k = kb_let(&L->kb, name, ke_cast(a, DT_INDEX, raw));
    Expr *kv = kb_v(&L->kb, k);
    kb_assign(&L->kb, k, ke_select(a, ke_bin(a, B_LT, kv, ke_idx(a, 0)), ke_bin(a, B_ADD, kv, ke_idx(a, dim)), kv));
    return kv;
}

Expr *idx_clamp(Arena *a, Expr *k, int64_t dim)
{
    return ke_bin(a, B_MAX, ke_idx(a, 0), ke_bin(a, B_MIN, k, ke_idx(a, dim - 1)));
}

Expr *idx_in_range(Arena *a, Expr *k, int64_t dim)
{
    return ke_bin(a, B_AND, ke_bin(a, B_GE, k, ke_idx(a, 0)), ke_bin(a, B_LT, k, ke_idx(a, dim)));
}

Expr *and_cond(Arena *a, Expr *c, Expr *x) { return c ? ke_bin(a, B_AND, c, x) : x; }

void lw_end_n(Lower *L, int count)
{
    for (int i = 0; i < count; i++)
        kb_end(&L->kb);
}

void lw_end_loops(Lower *L, const Shape *s) { lw_end_n(L, s->rank); }

const Value *lw_in(Lower *L, Node *n, int i) { return op_in(L->g, n, i); }
const Value *lw_out(Lower *L, Node *n, int i) { return &L->g->values[n->out[i]]; }

/* ------------------------------------------------------------- subgraphs */

void lw_scope(Lower *L, Node *n, Graph *body, LwScope *s)
{
    Arena *a = L->p->arena;
    s->g = body;
    s->vbuf = arena_alloc(a, sizeof(int) * (size_t)(body->nvalues + 1));
    for (int v = 0; v < body->nvalues; v++)
        s->vbuf[v] = -1;
    s->tlike = NULL;
    s->ntlike = 0;
    s->depth = L->depth + 1;
    /* a captured value is the enclosing graph's, read in its buffer and
     * its storage order */
    for (int c = 0; c < body->ncaps; c++) {
        Value *x = &body->values[body->caps[c]];
        ValueId outer = n->in[x->capture];
        const Value *o = &L->g->values[outer];
        s->vbuf[body->caps[c]] = lw_buf(L, outer);
        x->permuted = o->permuted;
        memcpy(x->perm, o->perm, sizeof x->perm);
        x->haloed = o->haloed;
        memcpy(x->halo, o->halo, sizeof x->halo);
    }
}

void lw_swap(Lower *L, LwScope *s)
{
    LwScope cur = {L->g, L->vbuf, L->tlike, L->ntlike, L->depth};
    L->g = s->g;
    L->vbuf = s->vbuf;
    L->tlike = s->tlike;
    L->ntlike = s->ntlike;
    L->depth = s->depth;
    *s = cur;
}

void lw_bind(Lower *L, ValueId v, int buf) { L->vbuf[v] = buf; }

int lw_nodes(Lower *L)
{
    Graph *g = L->g;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (optab[n->op].flags & OPF_VIEW) {
            L->vbuf[n->out[0]] = lw_buf(L, n->in[0]);
            continue;
        }
        if (!optab[n->op].lower)
            return lw_error(L, n, "is not lowered (internal error: a node of a subgraph left unfolded)");
        kb_comment(&L->kb, arena_printf(L->p->arena, "node '%s' (%s)", n->name, n->op_type));
        if (optab[n->op].lower(L, n) || L->d->nerrors)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- kernels */

static Kernel *open_kernel(Lower *L, Node **nodes, int nn)
{
    Arena *a = L->p->arena;
    char name[96];
    int len = snprintf(name, sizeof name, "k%d", L->p->nkernels);
    char comment[2048];
    size_t clen = 0;
    comment[0] = 0;
    for (int i = 0; i < nn; i++) {
        const char *id = c_ident(a, nodes[i]->name, 24);
        if (len < 60)
            len += snprintf(name + len, sizeof name - (size_t)len, "_%s", id);
        if (clen < sizeof comment)
            clen += (size_t)snprintf(comment + clen, sizeof comment - clen, "%snode '%s' (%s)", i ? "\n" : "",
                                     nodes[i]->name, nodes[i]->op_type);
    }
    Kernel *k = prog_add_kernel(L->p, c_ident(a, name, 64));
    k->comment = arena_strdup(a, comment);
    k->group = nodes[0]->group;
    kb_init(&L->kb, L->p, k);
    return k;
}

/* dst[i] = src[i] over `numel` elements (outputs that are views, inputs or
 * constants; the bytes of packed ones). */
static void copy_kernel(Lower *L, Node *n, const char *what, int dst, int src, int64_t numel)
{
    Arena *a = L->p->arena;
    Kernel *k;
    if (n) {
        k = open_kernel(L, &n, 1);
    } else {
        k = prog_add_kernel(L->p, arena_printf(a, "k%d_copy_%s", L->p->nkernels, c_ident(a, what, 40)));
        k->comment = arena_printf(a, "graph output '%s'", what);
        kb_init(&L->kb, L->p, k);
    }
    int i = kb_for(&L->kb, "i", numel);
    Expr *ix = kb_v(&L->kb, i);
    if (dtype_is_string(L->p->bufs[dst].dtype)) { /* records are copied by a routine (kernel.h) */
        Expr *args[2] = {ke_load(a, L->p, src, ix), ke_load(a, L->p, dst, ix)};
        kb_call(&L->kb, "kiln_str_copy", args, 2, 1);
    } else {
        kb_store(&L->kb, dst, ix, ke_load(a, L->p, src, ix));
    }
    kb_end(&L->kb);
}

static Lower *lower_new(Graph *g, Program *p, Diag *d)
{
    Lower *L = arena_alloc(p->arena, sizeof *L);
    L->g = g;
    L->p = p;
    L->d = d;
    L->vbuf = arena_alloc(p->arena, sizeof(int) * (size_t)(g->nvalues + 1));
    L->vlen = arena_alloc(p->arena, sizeof(int) * (size_t)(g->nvalues + 1));
    for (int v = 0; v < g->nvalues; v++)
        L->vbuf[v] = L->vlen[v] = -1;
    return L;
}

int kernel_lower(Graph *g, int inplace, Program **out, Diag *d)
{
    Program *p = prog_new(g->arena, g->file);
    Lower *L = lower_new(g, p, d);
    Arena *a = p->arena;
    unsigned char *done = arena_alloc(a, (size_t)g->nnodes + 1); /* nodes lowered (inplace_group) */

    p->ninputs = g->ninputs;
    p->inputs = arena_alloc(a, sizeof(int) * (size_t)(g->ninputs + 1));
    for (int i = 0; i < g->ninputs; i++) {
        const Value *v = &g->values[g->inputs[i]];
        int b = value_buf(p, v->name, BUF_INPUT, v, &v->shape);
        p->bufs[b].index = i;
        p->bufs[b].value = g->inputs[i];
        p->bufs[b].group = v->io_group;
        p->bufs[b].form = v->io_form;
        L->vbuf[g->inputs[i]] = b;
        p->inputs[i] = b;
    }
    /* inputs compiled for one value (kiln check), or for their first
     * bytes (an image header): checked on entry */
    p->guard_in = arena_alloc(a, sizeof(int) * (size_t)(g->ninputs + 1));
    p->guard_w = arena_alloc(a, sizeof(int) * (size_t)(g->ninputs + 1));
    for (int i = 0; i < g->ninputs; i++) {
        const Value *v = &g->values[g->inputs[i]];
        if (!v->specialized && !(v->guard_bytes > 0 && v->known))
            continue;
        /* a specialized input whole; else its first guard_bytes bytes */
        Shape gs = {1, {v->guard_bytes}};
        int w = value_buf(p, arena_printf(a, "%s_expected", v->name), BUF_WEIGHT, v,
                          v->specialized ? &v->shape : &gs);
        p->bufs[w].data = v->known;
        p->guard_in[p->nguards] = p->inputs[i];
        p->guard_w[p->nguards++] = w;
    }
    p->noutputs = g->noutputs;
    p->outputs = arena_alloc(a, sizeof(int) * (size_t)(g->noutputs + 1));
    for (int i = 0; i < g->noutputs; i++) {
        ValueId vid = g->outputs[i];
        const Value *v = &g->values[vid];
        int b = value_buf(p, v->name, BUF_OUTPUT, v, &v->shape);
        p->bufs[b].index = i;
        p->bufs[b].value = vid;
        p->bufs[b].group = v->out_group;
        p->bufs[b].form = v->out_form;
        p->outputs[i] = b;
        if (v->kind == VAL_NODE)
            L->vbuf[vid] = b; /* the producer writes straight into it */
    }
    /* outputs of a data-dependent extent: their producer stores the
     * actual length in a slot of their own */
    p->out_len = arena_alloc(a, sizeof(int) * (size_t)(g->noutputs + 1));
    p->out_dyn = arena_alloc(a, sizeof(int) * (size_t)(g->noutputs + 1));
    for (int i = 0; i < g->noutputs; i++) {
        const Value *v = &g->values[g->outputs[i]];
        p->out_len[i] = v->dynamic ? lw_len(L, g->outputs[i]) : -1;
        p->out_dyn[i] = v->dynamic ? v->dyn_axis : -1;
    }
    /* an output updated in place of an input (graph_alias): the input is
     * read through the output's buffer, which holds it on entry */
    p->out_alias = arena_alloc(a, sizeof(int) * (size_t)(g->noutputs + 1));
    for (int i = 0; i < g->noutputs; i++) {
        p->out_alias[i] = g->out_alias ? g->out_alias[i] : -1;
        if (p->out_alias[i] >= 0)
            L->vbuf[g->inputs[p->out_alias[i]]] = p->outputs[i];
    }

    /* members of each group, in node order (CSR: gstart[g]..gstart[g+1]) */
    int ng = g->ngroups;
    int *gstart = arena_alloc(a, sizeof(int) * (size_t)(ng + 2));
    Node **members = arena_alloc(a, sizeof(Node *) * (size_t)(g->nnodes + 1));
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && g->nodes[i].group >= 0)
            gstart[g->nodes[i].group + 1]++;
    for (int k = 0; k < ng; k++)
        gstart[k + 1] += gstart[k];
    int *fill = arena_alloc(a, sizeof(int) * (size_t)(ng + 1));
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (!n->dead && n->group >= 0)
            members[gstart[n->group] + fill[n->group]++] = n;
    }

    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (optab[n->op].flags & OPF_VIEW) {
            ValueId x = n->in[0], y = n->out[0];
            done[i] = 1;
            if (g->values[y].output >= 0)
                copy_kernel(L, n, NULL, L->vbuf[y], lw_buf(L, x), p->bufs[L->vbuf[y]].numel);
            else
                L->vbuf[y] = lw_buf(L, x);
            continue;
        }
        if (n->group < 0 || !optab[n->op].lower || members[gstart[n->group + 1] - 1] != n)
            continue; /* not lowered, or not the last node of its group */
        Node **group = &members[gstart[n->group]];
        int nn = gstart[n->group + 1] - gstart[n->group];
        Kernel *k = open_kernel(L, group, nn);
        for (int j = 0; j < nn; j++)
            for (int o = 0; o < group[j]->nout; o++)
                if (group[j]->out[o] != VNONE)
                    zero_halo(L, group[j]->out[o]);
        Stmt **start = L->kb.tail[0]; /* the group's own statements begin here */
        L->epi = group + 1;
        L->nepi = nn - 1;
        int rc = optab[group[0]->op].lower(L, group[0]);
        L->epi = NULL;
        L->nepi = 0;
        if (rc || d->nerrors)
            return 1;
        for (int j = 0; j < nn; j++)
            done[group[j] - g->nodes] = 1;
        /* a loop's kernel reads its inputs after writing its outputs */
        if (inplace && !(optab[group[0]->op].flags & OPF_BODY))
            inplace_group(g, p, L->vbuf, done, group, nn, k, *start);
    }
    /* outputs that no node writes: inputs and constants */
    for (int i = 0; i < g->noutputs; i++) {
        ValueId vid = g->outputs[i];
        const Value *v = &g->values[vid];
        if (v->kind != VAL_NODE)
            copy_kernel(L, NULL, v->name, p->outputs[i], lw_buf(L, vid), p->bufs[p->outputs[i]].numel);
    }
    *out = p;
    return 0;
}

int kernel_lower_node(Graph *g, Node *n, Arena *a, Program **out, Diag *d)
{
    Program *p = prog_new(a, g->file);
    Lower *L = lower_new(g, p, d);
    for (int j = 0; j < n->nout; j++) {
        ValueId v = n->out[j];
        if (v == VNONE)
            continue;
        const Value *x = &g->values[v];
        int b = value_buf(p, x->name, BUF_OUTPUT, x, &x->shape);
        p->bufs[b].index = j;
        p->bufs[b].value = v;
        L->vbuf[v] = b;
    }
    open_kernel(L, &n, 1);
    if (optab[n->op].lower(L, n) || d->nerrors)
        return 1;
    *out = p;
    return 0;
}
