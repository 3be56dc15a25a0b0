/*
 * kernel.c: building Kernel IR programs, buffers, variables and expressions.
 *
 * Expression constructors simplify as they build: constant operands fold,
 * x+0, x*1, x-0, x/1 vanish, and integer x*0 is 0. Index arithmetic from
 * lowering (n*C*H*W + c*H*W + ...) therefore prints without noise when a
 * dimension is 1. Float arithmetic folds only when both operands are
 * constants, so results match what the generated code would compute.
 */
#include "kernel.h"
#include "../../runtime/kiln_f16.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *unop_names[] = {
#define U(e, s) s,
    KILN_UNOPS(U)
#undef U
};

static const struct {
    const char *name, *c;
} binop_info[] = {
#define B(e, s, c) {s, c},
    KILN_BINOPS(B)
#undef B
};

const char *unop_name(UnOp op) { return unop_names[op]; }
const char *binop_name(BinOp op) { return binop_info[op].name; }
const char *binop_c(BinOp op) { return binop_info[op].c; }

int binop_is_compare(BinOp op)
{
    return op == B_EQ || op == B_NE || op == B_LT || op == B_LE || op == B_GT || op == B_GE;
}

Program *prog_new(Arena *a, const char *model)
{
    Program *p = arena_alloc(a, sizeof *p);
    p->arena = a;
    p->model = arena_strdup(a, model ? model : "");
    p->threads = 1;
    p->str_pool = -1;
    p->status = -1;
    return p;
}

int prog_has_strings(const Program *p)
{
    int any = p->str_pool >= 0;
    for (int i = 0; i < p->nbufs; i++)
        any |= dtype_is_string(p->bufs[i].dtype);
    return any;
}

static int block_calls(const Stmt *s, const char *prefix)
{
    for (; s; s = s->next)
        if ((s->kind == S_CALL && !strncmp(s->routine, prefix, strlen(prefix))) || block_calls(s->body, prefix) ||
            block_calls(s->els, prefix))
            return 1;
    return 0;
}

int prog_calls(const Program *p, const char *prefix)
{
    for (int i = 0; i < p->nkernels; i++)
        if (block_calls(p->kernels[i].body, prefix))
            return i;
    return -1;
}

int kernel_host_only(const Program *p, const Kernel *k, Arena *a)
{
    if (block_calls(k->body, ""))
        return 1;
    KUse *use;
    int n = kernel_uses(k, a, &use);
    for (int j = 0; j < n; j++)
        if (dtype_is_string(p->bufs[use[j].buf].dtype) || use[j].buf == p->str_pool)
            return 1;
    return 0;
}

int prog_host_kernels(const Program *p)
{
    int n = 0;
    for (int i = 0; i < p->nkernels; i++)
        n += p->kernels[i].host != 0;
    return n;
}

int prog_add_buf(Program *p, const char *name, BufKind kind, DType t, const Shape *s)
{
    int id = p->nbufs;
    Buffer *b = ARENA_PUSH(p->arena, p->bufs, p->nbufs, p->cap_bufs);
    /* the C name is kiln's own: a kind letter and the buffer's number make
     * it unique and never a C keyword or a libc macro (int, NAN, NULL);
     * the sanitized value name after them only helps a reader */
    static const char kind_prefix[] = {'x', 'y', 'w', 't', 'l'};
    const char *nm = arena_printf(p->arena, "%c%d_%s", kind_prefix[kind], id,
                                  c_ident(p->arena, name && *name ? name : "t", 32));
    b->name = nm;
    b->label = arena_strdup(p->arena, name ? name : "");
    b->kind = kind;
    b->dtype = t;
    b->elem = t;
    b->shape = *s;
    b->numel = shape_numel(s);
    b->alias = -1;
    b->value = -1;
    b->first = b->last = -1;
    return id;
}

int prog_out_len(const Program *p, int i) { return p->out_len ? p->out_len[i] : -1; }

int prog_add_packed(Program *p, const char *name, BufKind kind, DType t, const Shape *s)
{
    int id = prog_add_buf(p, name, kind, DT_U8, s);
    p->bufs[id].elem = t;
    p->bufs[id].numel = dtype_bytes(t, shape_numel(s));
    return id;
}

Stmt *stmt_new(Arena *a, StmtKind kind)
{
    Stmt *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    return s;
}

Stmt *stmt_copy(Arena *a, const Stmt *s)
{
    Stmt *head = NULL, **tail = &head;
    for (; s; s = s->next) {
        Stmt *c = arena_alloc(a, sizeof *c);
        *c = *s;
        c->next = NULL;
        c->body = stmt_copy(a, s->body);
        c->els = stmt_copy(a, s->els);
        if (s->nargs) {
            c->args = arena_alloc(a, sizeof(Expr *) * (size_t)s->nargs);
            for (int i = 0; i < s->nargs; i++)
                c->args[i] = s->args[i];
        }
        *tail = c;
        tail = &c->next;
    }
    return head;
}

/* Rename variable `from` to `to` in block s: its lets, assignments and
 * every read. */
void stmt_rename_var(Arena *a, Kernel *k, Stmt *s, int from, int to)
{
    Expr *with = ke_var(a, k, to);
    for (; s; s = s->next) {
        if ((s->kind == S_LET || s->kind == S_ASSIGN) && s->var == from)
            s->var = to;
        s->extent = ke_subst(a, s->extent, from, with);
        s->index = ke_subst(a, s->index, from, with);
        s->value = ke_subst(a, s->value, from, with);
        s->mask = ke_subst(a, s->mask, from, with);
        for (int i = 0; i < s->nargs; i++)
            s->args[i] = ke_subst(a, s->args[i], from, with);
        stmt_rename_var(a, k, s->body, from, to);
        stmt_rename_var(a, k, s->els, from, to);
    }
}

/* Give every let of block s a fresh variable. */
void stmt_fresh_lets(Program *p, Kernel *k, Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_LET) {
            const Var *v = &k->vars[s->var];
            int nv = kernel_add_vec(p, k, v->name, v->type, v->lanes);
            stmt_rename_var(p->arena, k, s, s->var, nv);
        }
        stmt_fresh_lets(p, k, s->body);
        stmt_fresh_lets(p, k, s->els);
    }
}

Kernel *prog_add_kernel(Program *p, const char *name)
{
    Kernel *k = ARENA_PUSH(p->arena, p->kernels, p->nkernels, p->cap_kernels);
    k->name = arena_strdup(p->arena, name);
    k->group = -1;
    return k;
}

/* The variable names of a kernel: an open-addressing set, each entry with
 * the next suffix to try for names built on it, so that adding a variable
 * is O(1) however many share a base name. */
typedef struct NameSet {
    const char **key;
    int *next;
    size_t cap, n;
} NameSet;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* Slot of name in the set (empty if absent). */
static size_t name_slot(const NameSet *ns, const char *name)
{
    size_t i = name_hash(name) & (ns->cap - 1);
    while (ns->key[i] && strcmp(ns->key[i], name))
        i = (i + 1) & (ns->cap - 1);
    return i;
}

static void name_grow(Arena *a, NameSet *ns)
{
    NameSet old = *ns;
    ns->cap = old.cap ? old.cap * 2 : 64;
    ns->key = arena_alloc(a, ns->cap * sizeof *ns->key);
    ns->next = arena_alloc(a, ns->cap * sizeof *ns->next);
    for (size_t i = 0; i < old.cap; i++)
        if (old.key[i]) {
            size_t j = name_slot(ns, old.key[i]);
            ns->key[j] = old.key[i];
            ns->next[j] = old.next[i];
        }
}

int kernel_add_var(Program *p, Kernel *k, const char *name, DType t)
{
    /* names are unique within a kernel: "c", then "c1", "c2" ... */
    Arena *a = p->arena;
    if (!k->names)
        k->names = arena_alloc(a, sizeof *k->names);
    NameSet *ns = k->names;
    if ((ns->n + 1) * 2 > ns->cap)
        name_grow(a, ns);
    const char *nm = arena_strdup(a, name);
    size_t base = name_slot(ns, nm);
    if (ns->key[base]) {
        for (;;) {
            nm = arena_printf(a, "%s%d", name, ++ns->next[base]);
            if (!ns->key[name_slot(ns, nm)])
                break;
        }
    }
    size_t slot = name_slot(ns, nm);
    ns->key[slot] = nm;
    ns->n++;
    Var *v = ARENA_PUSH(a, k->vars, k->nvars, k->cap_vars);
    v->name = nm;
    v->type = t;
    v->lanes = 1;
    return k->nvars - 1;
}

int kernel_add_vec(Program *p, Kernel *k, const char *name, DType t, int lanes)
{
    int v = kernel_add_var(p, k, name, t);
    k->vars[v].lanes = lanes;
    return v;
}

/* ------------------------------------------------------------ expressions */

static Expr *mk(Arena *a, ExprKind kind, DType t)
{
    Expr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->type = t;
    e->lanes = 1;
    return e;
}

Expr *ke_int(Arena *a, DType t, int64_t v)
{
    Expr *e = mk(a, E_CONST, t);
    e->i = dtype_wrap(t, v);
    e->f = (double)e->i;
    return e;
}

Expr *ke_idx(Arena *a, int64_t v) { return ke_int(a, DT_INDEX, v); }

Expr *ke_float(Arena *a, DType t, double v)
{
    Expr *e = mk(a, E_CONST, t);
    /* a constant is a value of its type */
    e->f = t == DT_F32 ? (double)(float)v : t == DT_F16 ? kiln_round_f16((float)v)
                                          : t == DT_BF16 ? kiln_round_bf16((float)v) : v;
    return e;
}

Expr *ke_const(Arena *a, DType t, double v)
{
    return dtype_is_float(t) ? ke_float(a, t, v) : ke_int(a, t, (int64_t)v);
}

Expr *ke_var(Arena *a, const Kernel *k, int var)
{
    Expr *e = mk(a, E_VAR, k->vars[var].type);
    e->var = var;
    e->lanes = k->vars[var].lanes;
    return e;
}

Expr *ke_load(Arena *a, const Program *p, int buf, Expr *index)
{
    Expr *e = mk(a, E_LOAD, p->bufs[buf].dtype);
    e->buf = buf;
    e->a = index;
    e->lanes = index->lanes;
    return e;
}

Expr *ke_lowest(Arena *a, DType t)
{
    if (dtype_is_float(t))
        return ke_float(a, t, -INFINITY);
    switch (t) {
    case DT_I8: return ke_int(a, t, INT8_MIN);
    case DT_I16: return ke_int(a, t, INT16_MIN);
    case DT_I32: return ke_int(a, t, INT32_MIN);
    case DT_I64: case DT_INDEX: return ke_int(a, t, INT64_MIN);
    default: return ke_int(a, t, 0); /* unsigned and bool */
    }
}

Expr *ke_highest(Arena *a, DType t)
{
    if (dtype_is_float(t))
        return ke_float(a, t, INFINITY);
    switch (t) {
    case DT_I8: return ke_int(a, t, INT8_MAX);
    case DT_I16: return ke_int(a, t, INT16_MAX);
    case DT_I32: return ke_int(a, t, INT32_MAX);
    case DT_I64: case DT_INDEX: return ke_int(a, t, INT64_MAX);
    case DT_U8: return ke_int(a, t, UINT8_MAX);
    case DT_U16: return ke_int(a, t, UINT16_MAX);
    case DT_U32: return ke_int(a, t, UINT32_MAX);
    case DT_U64: return ke_int(a, t, -1); /* all bits */
    default: return ke_int(a, t, 1);      /* bool */
    }
}

int ke_is_const(const Expr *e, int64_t *out)
{
    if (e->kind != E_CONST || dtype_is_float(e->type))
        return 0;
    if (out)
        *out = e->i;
    return 1;
}

static int is_fconst(const Expr *e, double v)
{
    return e->kind == E_CONST && (dtype_is_float(e->type) ? e->f == v : e->i == (int64_t)v);
}

Expr *ke_un(Arena *a, UnOp op, Expr *x)
{
    DType t = x->type;
    if (op == U_ISNAN || op == U_ISINF)
        t = DT_BOOL;
    if (op == U_ABS && (dtype_is_int(t) && !dtype_is_signed(t)))
        return x; /* |x| of an unsigned value */
    if (x->kind == E_CONST && dtype_is_int(x->type)) {
        uint64_t neg = 0 - (uint64_t)x->i; /* wraps for INT64_MIN, as C with -fwrapv */
        if (op == U_NEG)
            return ke_int(a, t, (int64_t)neg);
        if (op == U_ABS)
            return ke_int(a, t, x->i < 0 ? (int64_t)neg : x->i);
    }
    Expr *e = mk(a, E_UNARY, t);
    e->op = op;
    e->a = x;
    e->lanes = x->lanes;
    return e;
}

/* Ramp algebra, so that vectorized index arithmetic stays a ramp (and a
 * stride-1 ramp is a contiguous access): ramp(b,s) + u = ramp(b+u, s),
 * ramp + ramp adds bases and strides, ramp(b,s) * c = ramp(b*c, s*c). */
static Expr *ramp_bin(Arena *a, BinOp op, Expr *x, Expr *y)
{
    int64_t c;
    if (op == B_ADD || op == B_SUB) {
        if (x->kind == E_RAMP && y->kind == E_RAMP && x->lanes == y->lanes)
            return ke_ramp(a, ke_bin(a, op, x->a, y->a), op == B_ADD ? x->i + y->i : x->i - y->i, x->lanes);
        if (x->kind == E_RAMP && y->lanes == 1)
            return ke_ramp(a, ke_bin(a, op, x->a, y), x->i, x->lanes);
        if (y->kind == E_RAMP && x->lanes == 1 && op == B_ADD)
            return ke_ramp(a, ke_bin(a, op, x, y->a), y->i, y->lanes);
        if (x->kind == E_RAMP && y->kind == E_BCAST)
            return ke_ramp(a, ke_bin(a, op, x->a, y->a), x->i, x->lanes);
        if (y->kind == E_RAMP && x->kind == E_BCAST && op == B_ADD)
            return ke_ramp(a, ke_bin(a, op, x->a, y->a), y->i, y->lanes);
    }
    if (op == B_MUL) {
        if (x->kind == E_RAMP && ke_is_const(y, &c))
            return ke_ramp(a, ke_bin(a, op, x->a, y), x->i * c, x->lanes);
        if (y->kind == E_RAMP && ke_is_const(x, &c))
            return ke_ramp(a, ke_bin(a, op, x, y->a), y->i * c, y->lanes);
    }
    return NULL;
}

Expr *ke_bin(Arena *a, BinOp op, Expr *x, Expr *y)
{
    DType t = binop_is_compare(op) ? DT_BOOL : x->type;
    int64_t cx, cy;
    if (x->lanes != y->lanes) {
        /* a scalar operand of a vector operation is broadcast */
        Expr *r = dtype_is_int(x->type) || x->type == DT_INDEX ? ramp_bin(a, op, x, y) : NULL;
        if (r)
            return r;
        if (x->lanes == 1)
            x = ke_bcast(a, x, y->lanes);
        else
            y = ke_bcast(a, y, x->lanes);
    }
    if (x->kind == E_RAMP || y->kind == E_RAMP) {
        Expr *r = ramp_bin(a, op, x, y);
        if (r)
            return r;
    }
    /* a comparison of a constant ramp with a constant decided for every
     * lane (remainder masks of full blocks) */
    if (binop_is_compare(op) && x->kind == E_RAMP && y->kind == E_BCAST && ke_is_const(x->a, &cx) &&
        ke_is_const(y->a, &cy)) {
        int64_t lo = x->i > 0 ? cx : cx + x->i * (x->lanes - 1), hi = x->i > 0 ? cx + x->i * (x->lanes - 1) : cx;
        int all = -1; /* 1: true in every lane, 0: false in every lane */
        switch (op) {
        case B_LT: all = hi < cy ? 1 : lo >= cy ? 0 : -1; break;
        case B_LE: all = hi <= cy ? 1 : lo > cy ? 0 : -1; break;
        case B_GT: all = lo > cy ? 1 : hi <= cy ? 0 : -1; break;
        case B_GE: all = lo >= cy ? 1 : hi < cy ? 0 : -1; break;
        default: break;
        }
        if (all >= 0)
            return ke_bcast(a, ke_int(a, DT_BOOL, all), x->lanes);
    }
    int kx = ke_is_const(x, &cx), ky = ke_is_const(y, &cy);
    if (kx && ky && t != DT_U64 && x->type != DT_U64) {
        switch (op) {
        /* integers wrap (as the generated code, built with -fwrapv, does);
         * the arithmetic is done unsigned so that kiln itself stays defined */
        case B_ADD: return ke_int(a, t, (int64_t)((uint64_t)cx + (uint64_t)cy));
        case B_SUB: return ke_int(a, t, (int64_t)((uint64_t)cx - (uint64_t)cy));
        case B_MUL: return ke_int(a, t, (int64_t)((uint64_t)cx * (uint64_t)cy));
        case B_DIV: if (cy && !(cx == INT64_MIN && cy == -1)) return ke_int(a, t, cx / cy); break;
        case B_MOD: if (cy && !(cx == INT64_MIN && cy == -1)) return ke_int(a, t, cx % cy); break;
        case B_MIN: return ke_int(a, t, cx < cy ? cx : cy);
        case B_MAX: return ke_int(a, t, cx > cy ? cx : cy);
        case B_EQ: return ke_int(a, t, cx == cy);
        case B_NE: return ke_int(a, t, cx != cy);
        case B_LT: return ke_int(a, t, cx < cy);
        case B_LE: return ke_int(a, t, cx <= cy);
        case B_GT: return ke_int(a, t, cx > cy);
        case B_GE: return ke_int(a, t, cx >= cy);
        default: break;
        }
    }
    if (x->kind == E_CONST && y->kind == E_CONST && dtype_is_float(t) && x->type == y->type) {
        double fx = x->f, fy = y->f;
        switch (op) {
        case B_ADD: return ke_float(a, t, fx + fy);
        case B_SUB: return ke_float(a, t, fx - fy);
        case B_MUL: return ke_float(a, t, fx * fy);
        case B_DIV: if (fy != 0) return ke_float(a, t, fx / fy); break;
        default: break;
        }
    }
    int isint = dtype_is_int(t);
    /* (x + c1) + c2 = x + (c1 + c2), and the same with subtractions:
     * constants gather at the end of index arithmetic */
    if ((op == B_ADD || op == B_SUB) && t == DT_INDEX && ky && x->kind == E_BINARY &&
        (x->op == B_ADD || x->op == B_SUB) && x->lanes == 1) {
        int64_t c1;
        if (ke_is_const(x->b, &c1)) {
            uint64_t sum = x->op == B_ADD ? (uint64_t)c1 : 0 - (uint64_t)c1;
            sum = op == B_ADD ? sum + (uint64_t)cy : sum - (uint64_t)cy;
            return ke_bin(a, B_ADD, x->a, ke_idx(a, (int64_t)sum));
        }
    }
    /* The constant of a scalar index sum moves out of the sum and out of
     * constant multiples: (x + c) + y = (x + y) + c, x + (y + c) = (x + y)
     * + c, (x + c) * k = x * k + c * k. An unrolled tile's loads then
     * index one shared expression plus a constant each, which a C
     * compiler computes once (the copies of a register-blocked
     * convolution otherwise keep an address register each, and spill). */
    if (t == DT_INDEX && x->lanes == 1 && y->lanes == 1) {
        int64_t c;
        if ((op == B_ADD || op == B_SUB) && !ky && x->kind == E_BINARY && x->op == B_ADD &&
            ke_is_const(x->b, &c))
            return ke_bin(a, B_ADD, ke_bin(a, op, x->a, y), x->b);
        if ((op == B_ADD || op == B_SUB) && !kx && y->kind == E_BINARY && y->op == B_ADD &&
            ke_is_const(y->b, &c))
            return ke_bin(a, B_ADD, ke_bin(a, op, x, y->a),
                          ke_idx(a, op == B_ADD ? c : (int64_t)(0 - (uint64_t)c)));
        if (op == B_MUL && ky && x->kind == E_BINARY && x->op == B_ADD && ke_is_const(x->b, &c))
            return ke_bin(a, B_ADD, ke_bin(a, B_MUL, x->a, y),
                          ke_idx(a, (int64_t)((uint64_t)c * (uint64_t)cy)));
    }
    /* x1 + (t / c) * c + t % c = x1 + t: a flat index decoded into
     * coordinates and flattened again (a tile's output pixel) */
    if (op == B_ADD && isint && y->kind == E_BINARY && y->op == B_MOD) {
        Expr *q = x, *rest = NULL;
        if (x->kind == E_BINARY && x->op == B_ADD)
            q = x->b, rest = x->a;
        if (q->kind == E_BINARY && q->op == B_MUL && q->a->kind == E_BINARY && q->a->op == B_DIV &&
            ke_equal(q->a->a, y->a) && ke_equal(q->a->b, y->b) && ke_equal(q->b, y->b))
            return rest ? ke_bin(a, B_ADD, rest, y->a) : y->a;
    }
    switch (op) {
    case B_ADD:
        if (is_fconst(y, 0) && !dtype_is_float(t)) return x;
        if (is_fconst(x, 0) && !dtype_is_float(t)) return y;
        break;
    case B_SUB:
        if (is_fconst(y, 0) && !dtype_is_float(t)) return x;
        break;
    case B_MUL:
        if (is_fconst(y, 1)) return x;
        if (is_fconst(x, 1)) return y;
        if (isint && (is_fconst(x, 0) || is_fconst(y, 0))) return ke_int(a, t, 0);
        break;
    case B_DIV:
        if (is_fconst(y, 1)) return x;
        break;
    case B_MOD:
        if (isint && is_fconst(y, 1)) return ke_int(a, t, 0);
        break;
    case B_AND: case B_OR:
        /* a known operand decides or drops out (conditions a pass proved) */
        if (t == DT_BOOL && x->lanes == 1 && (kx || ky)) {
            int64_t kv = kx ? cx : cy;
            Expr *other = kx ? y : x;
            if (op == B_AND)
                return kv ? other : ke_int(a, t, 0);
            return kv ? ke_int(a, t, 1) : other;
        }
        break;
    default:
        break;
    }
    Expr *e = mk(a, E_BINARY, t);
    e->op = op;
    e->a = x;
    e->b = y;
    e->lanes = x->lanes > y->lanes ? x->lanes : y->lanes;
    return e;
}

Expr *ke_select(Arena *a, Expr *c, Expr *x, Expr *y)
{
    int64_t k;
    if (ke_is_const(c, &k))
        return k ? x : y;
    int lanes = c->lanes > x->lanes ? c->lanes : x->lanes;
    lanes = lanes > y->lanes ? lanes : y->lanes;
    if (c->lanes != lanes)
        c = ke_bcast(a, c, lanes);
    if (x->lanes != lanes)
        x = ke_bcast(a, x, lanes);
    if (y->lanes != lanes)
        y = ke_bcast(a, y, lanes);
    Expr *e = mk(a, E_SELECT, x->type);
    e->a = c;
    e->b = x;
    e->c = y;
    e->lanes = x->lanes;
    return e;
}

Expr *ke_cast(Arena *a, DType t, Expr *x)
{
    if (x->type == t)
        return x;
    if (x->kind == E_CONST) {
        if (t == DT_BOOL)
            return ke_int(a, t, dtype_is_float(x->type) ? x->f != 0 : x->i != 0);
        if (dtype_is_float(t))
            return ke_float(a, t, dtype_is_float(x->type) ? x->f : (double)x->i);
        if (!dtype_is_float(x->type) && x->type != DT_U64 && t != DT_U64)
            return ke_int(a, t, x->i);
    }
    Expr *e = mk(a, E_CAST, t);
    e->a = x;
    e->lanes = x->lanes;
    return e;
}

Expr *ke_bcast(Arena *a, Expr *x, int lanes)
{
    if (x->lanes == lanes)
        return x;
    Expr *e = mk(a, E_BCAST, x->type);
    e->a = x;
    e->lanes = lanes;
    return e;
}

Expr *ke_ramp(Arena *a, Expr *base, int64_t stride, int lanes)
{
    if (stride == 0)
        return ke_bcast(a, base, lanes);
    if (base->lanes > 1) /* a base that became a vector (substitution): add the steps */
        return ke_bin(a, B_ADD, base, ke_ramp(a, ke_int(a, base->type, 0), stride, lanes));
    Expr *e = mk(a, E_RAMP, base->type);
    e->a = base;
    e->i = stride;
    e->lanes = lanes;
    return e;
}

Expr *ke_hreduce(Arena *a, BinOp op, Expr *x)
{
    if (x->lanes == 1)
        return x;
    Expr *e = mk(a, E_HREDUCE, x->type);
    e->op = op;
    e->a = x;
    return e;
}

Expr *ke_load_mask(Arena *a, const Program *p, int buf, Expr *index, Expr *mask)
{
    /* one constant element inside the buffer (a Clip bound, a scalar
     * weight) can be read whatever the mask: a scalar load, broadcast */
    int64_t c;
    Expr *one = index->kind == E_BCAST ? index->a : index;
    if (mask && ke_is_const(one, &c) && c >= 0 && c < p->bufs[buf].numel) {
        Expr *s = ke_load(a, p, buf, one);
        return index->lanes > 1 ? ke_bcast(a, s, index->lanes) : s;
    }
    Expr *e = ke_load(a, p, buf, index);
    e->lanes = index->lanes;
    if (mask) {
        int64_t k;
        if (ke_is_const(mask->kind == E_BCAST ? mask->a : mask, &k) && k)
            mask = NULL;
        else if (mask->lanes != e->lanes)
            mask = ke_bcast(a, mask, e->lanes);
    }
    e->b = mask;
    return e;
}

int ke_all_true(const Expr *m)
{
    int64_t k;
    return m->type == DT_BOOL && ke_is_const(m->kind == E_BCAST ? m->a : m, &k) && k;
}

int ke_uses_var(const Expr *e, int var)
{
    for (; e; e = e->a) {
        if (e->kind == E_VAR && e->var == var)
            return 1;
        if (e->b && ke_uses_var(e->b, var))
            return 1;
        if (e->c && ke_uses_var(e->c, var))
            return 1;
    }
    return 0;
}

int kernel_stores_use(const Program *p, const Stmt *s, int v)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE && p->bufs[s->buf].kind != BUF_LOCAL && !ke_uses_var(s->index, v))
            return 0;
        if (!kernel_stores_use(p, s->body, v) || !kernel_stores_use(p, s->els, v))
            return 0;
    }
    return 1;
}

/* Free-variable marks: FV_READ, FV_ASSIGN for a variable declared outside. */
enum { FV_READ = 1, FV_ASSIGN = 2 };

static void free_expr(const Expr *e, const unsigned char *decl, unsigned char *fr)
{
    for (; e; e = e->a) {
        if (e->kind == E_VAR && !decl[e->var])
            fr[e->var] |= FV_READ;
        if (e->b)
            free_expr(e->b, decl, fr);
        if (e->c)
            free_expr(e->c, decl, fr);
    }
}

/* Mark in decl[] the variables block s (the one statement s, with `one`)
 * declares, and in fr[] those declared outside it that it reads or
 * assigns. */
static void free_vars(const Stmt *s, int one, unsigned char *decl, unsigned char *fr)
{
    for (; s; s = one ? NULL : s->next) {
        free_expr(s->extent, decl, fr);
        free_expr(s->index, decl, fr);
        free_expr(s->value, decl, fr);
        free_expr(s->mask, decl, fr);
        for (int i = 0; i < s->nargs; i++)
            free_expr(s->args[i], decl, fr);
        if (s->kind == S_LET || s->kind == S_LOOP)
            decl[s->var] = 1;
        if (s->kind == S_ASSIGN && !decl[s->var])
            fr[s->var] |= FV_ASSIGN;
        free_vars(s->body, 0, decl, fr);
        free_vars(s->els, 0, decl, fr);
    }
}

int kernel_stmt_inputs(Arena *a, const Kernel *k, const Stmt *s, int **vars)
{
    unsigned char *decl = arena_alloc(a, (size_t)k->nvars + 1), *fr = arena_alloc(a, (size_t)k->nvars + 1);
    memset(decl, 0, (size_t)k->nvars + 1);
    memset(fr, 0, (size_t)k->nvars + 1);
    free_vars(s, 1, decl, fr);
    int n = 0;
    for (int v = 0; v < k->nvars; v++) {
        if ((fr[v] & FV_ASSIGN) || (fr[v] && k->vars[v].lanes != 1))
            return -1;
        n += fr[v] != 0;
    }
    if (vars) {
        *vars = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
        for (int v = 0, i = 0; v < k->nvars; v++)
            if (fr[v])
                (*vars)[i++] = v;
    }
    return n;
}

int kernel_stmt_closed(Arena *a, const Kernel *k, const Stmt *s)
{
    return kernel_stmt_inputs(a, k, s, NULL) == 0;
}

Expr *ke_bitcast(Arena *a, DType t, Expr *x)
{
    if (x->type == t)
        return x;
    Expr *e = mk(a, E_BITCAST, t);
    e->a = x;
    e->lanes = x->lanes;
    return e;
}

int ke_equal(const Expr *x, const Expr *y)
{
    if (x == y)
        return 1;
    if (!x || !y || x->kind != y->kind || x->type != y->type || x->lanes != y->lanes)
        return 0;
    switch (x->kind) {
    case E_CONST: return dtype_is_float(x->type) ? x->f == y->f : x->i == y->i;
    case E_VAR: return x->var == y->var;
    case E_LOAD: return x->buf == y->buf && ke_equal(x->a, y->a) && ke_equal(x->b, y->b);
    case E_RAMP: return x->i == y->i && ke_equal(x->a, y->a);
    case E_HREDUCE: return x->op == y->op && ke_equal(x->a, y->a);
    case E_UNARY: return x->op == y->op && ke_equal(x->a, y->a);
    case E_BINARY: return x->op == y->op && ke_equal(x->a, y->a) && ke_equal(x->b, y->b);
    case E_SELECT: return ke_equal(x->a, y->a) && ke_equal(x->b, y->b) && ke_equal(x->c, y->c);
    case E_CAST: case E_BITCAST: case E_BCAST: return ke_equal(x->a, y->a);
    }
    return 0;
}

/* Substitution of one variable (u->var by u->with) or of every variable
 * v below u->nmany with u->many[v] set, all at once: e rebuilt through
 * the folding constructors where it changed. With u->fn, every node is
 * also handed to fn once its operands are rebuilt (ke_rewrite). */
typedef struct Subst {
    int var;
    Expr *with;
    Expr *const *many;
    int nmany;
    Expr *(*fn)(void *ctx, Expr *e);
    void *ctx;
} Subst;

static Expr *subst_node(Arena *a, Expr *e, const Subst *u);

static Expr *subst(Arena *a, Expr *e, const Subst *u)
{
    e = subst_node(a, e, u);
    return e && u->fn ? u->fn(u->ctx, e) : e;
}

static Expr *subst_node(Arena *a, Expr *e, const Subst *u)
{
    if (!e)
        return NULL;
    switch (e->kind) {
    case E_CONST:
        return e;
    case E_VAR:
        if (u->many)
            return e->var < u->nmany && u->many[e->var] ? u->many[e->var] : e;
        return e->var == u->var ? u->with : e;
    case E_LOAD: {
        Expr *ix = subst(a, e->a, u), *m = subst(a, e->b, u);
        if (ix == e->a && m == e->b)
            return e;
        Expr *n = arena_alloc(a, sizeof *n);
        *n = *e;
        n->a = ix;
        n->b = m && !ke_all_true(m) ? m : NULL;
        n->lanes = ix->lanes;
        return n;
    }
    case E_RAMP: {
        Expr *x = subst(a, e->a, u);
        return x == e->a ? e : ke_ramp(a, x, e->i, e->lanes);
    }
    case E_HREDUCE: {
        Expr *x = subst(a, e->a, u);
        return x == e->a ? e : ke_hreduce(a, (BinOp)e->op, x);
    }
    case E_UNARY: {
        Expr *x = subst(a, e->a, u);
        return x == e->a ? e : ke_un(a, (UnOp)e->op, x);
    }
    case E_BINARY: {
        Expr *x = subst(a, e->a, u), *y = subst(a, e->b, u);
        return x == e->a && y == e->b ? e : ke_bin(a, (BinOp)e->op, x, y);
    }
    case E_SELECT: {
        Expr *c = subst(a, e->a, u), *x = subst(a, e->b, u);
        Expr *y = subst(a, e->c, u);
        return c == e->a && x == e->b && y == e->c ? e : ke_select(a, c, x, y);
    }
    case E_CAST: {
        Expr *x = subst(a, e->a, u);
        return x == e->a ? e : ke_cast(a, e->type, x);
    }
    case E_BITCAST: {
        Expr *x = subst(a, e->a, u);
        return x == e->a ? e : ke_bitcast(a, e->type, x);
    }
    case E_BCAST: {
        Expr *x = subst(a, e->a, u);
        return x == e->a ? e : ke_bcast(a, x, e->lanes);
    }
    }
    return e;
}

Expr *ke_subst(Arena *a, Expr *e, int var, Expr *with)
{
    Subst u = {var, with, NULL, 0, NULL, NULL};
    return subst(a, e, &u);
}

Expr *ke_subst_vars(Arena *a, Expr *e, Expr *const *with, int nvars)
{
    Subst u = {-1, NULL, with, nvars, NULL, NULL};
    return subst(a, e, &u);
}

Expr *ke_rewrite(Arena *a, Expr *e, Expr *(*fn)(void *ctx, Expr *e), void *ctx)
{
    Subst u = {-1, NULL, NULL, 0, fn, ctx};
    return subst(a, e, &u);
}

void stmt_subst(Arena *a, Stmt *s, int var, Expr *with)
{
    for (; s; s = s->next) {
        s->extent = ke_subst(a, s->extent, var, with);
        s->index = ke_subst(a, s->index, var, with);
        s->mask = ke_subst(a, s->mask, var, with);
        if (s->mask && ke_all_true(s->mask))
            s->mask = NULL;
        s->value = ke_subst(a, s->value, var, with);
        for (int i = 0; i < s->nargs; i++)
            s->args[i] = ke_subst(a, s->args[i], var, with);
        stmt_subst(a, s->body, var, with);
        stmt_subst(a, s->els, var, with);
    }
}

/* ------------------------------------------------------------ buffer use */

typedef struct UseList {
    Arena *a;
    KUse *u;
    int n, cap;
} UseList;

static void use_add(UseList *l, int buf, int rw)
{
    KUse *u = ARENA_PUSH(l->a, l->u, l->n, l->cap);
    u->buf = buf;
    u->rw = rw;
}

static void use_expr(UseList *l, const Expr *e)
{
    for (; e; e = e->a) {
        if (e->kind == E_LOAD)
            use_add(l, e->buf, KU_READ);
        if (e->b)
            use_expr(l, e->b);
        if (e->c)
            use_expr(l, e->c);
    }
}

static void use_block(UseList *l, const Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE)
            use_add(l, s->buf, KU_WRITE);
        use_expr(l, s->extent);
        use_expr(l, s->index);
        use_expr(l, s->value);
        for (int i = 0; i < s->nargs; i++) {
            const Expr *e = s->args[i];
            if (i >= s->nargs - s->nout && e->kind == E_LOAD) { /* written by the routine */
                use_add(l, e->buf, KU_WRITE);
                use_expr(l, e->a);
            } else {
                use_expr(l, e);
            }
        }
        use_block(l, s->body);
        use_block(l, s->els);
    }
}

static int by_buf(const void *x, const void *y)
{
    const KUse *a = x, *b = y;
    return (a->buf > b->buf) - (a->buf < b->buf);
}

int kernel_uses(const Kernel *k, Arena *a, KUse **out)
{
    return block_uses(k->body, 0, a, out);
}

int block_uses(const Stmt *s, int one, Arena *a, KUse **out)
{
    UseList l = {a, NULL, 0, 0};
    if (one) {
        Stmt only = *s;
        only.next = NULL;
        use_block(&l, &only);
    } else {
        use_block(&l, s);
    }
    if (l.n)
        qsort(l.u, (size_t)l.n, sizeof *l.u, by_buf);
    int n = 0;
    for (int i = 0; i < l.n; i++) {
        if (n && l.u[n - 1].buf == l.u[i].buf)
            l.u[n - 1].rw |= l.u[i].rw;
        else
            l.u[n++] = l.u[i];
    }
    *out = l.u;
    return n;
}

/* The coefficient of variable v in index expression e when e is affine in
 * v with a constant coefficient (e = coef*v + rest, rest free of v); 0 if
 * it is not. */
int ke_coef(const Expr *e, int v, int64_t *coef)
{
    int64_t ca, cb, k;
    if (!ke_uses_var(e, v)) {
        *coef = 0;
        return 1;
    }
    switch (e->kind) {
    case E_VAR:
        *coef = 1;
        return e->var == v;
    case E_BINARY:
        if (e->lanes != 1)
            return 0;
        if (e->op == B_ADD || e->op == B_SUB) {
            if (!ke_coef(e->a, v, &ca) || !ke_coef(e->b, v, &cb))
                return 0;
            return e->op == B_ADD ? !ck_add(ca, cb, coef) : !ck_sub(ca, cb, coef);
        }
        if (e->op == B_MUL) {
            if (ke_is_const(e->a, &k) && ke_coef(e->b, v, &cb))
                return !ck_mul(k, cb, coef);
            if (ke_is_const(e->b, &k) && ke_coef(e->a, v, &ca))
                return !ck_mul(k, ca, coef);
        }
        return 0;
    default:
        return 0;
    }
}

/* ---- interval arithmetic of index expressions ---- */

KRange krange_top(void) { return (KRange){0, 0, 0}; }
KRange krange_span(int64_t lo, int64_t hi) { return (KRange){1, lo, hi}; }

static int64_t min4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t m = a < b ? a : b;
    m = m < c ? m : c;
    return m < d ? m : d;
}

static int64_t max4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t m = a > b ? a : b;
    m = m > c ? m : c;
    return m > d ? m : d;
}

int krange_bin(BinOp op, KRange x, KRange y, KRange *out)
{
    *out = krange_top();
    if (!x.known || !y.known)
        return 0;
    int64_t a, b, cc, dd;
    switch (op) {
    case B_ADD:
        if (ck_add(x.lo, y.lo, &a) || ck_add(x.hi, y.hi, &b))
            return 1;
        *out = krange_span(a, b);
        return 0;
    case B_SUB:
        if (ck_sub(x.lo, y.hi, &a) || ck_sub(x.hi, y.lo, &b))
            return 1;
        *out = krange_span(a, b);
        return 0;
    case B_MUL:
        if (ck_mul(x.lo, y.lo, &a) || ck_mul(x.lo, y.hi, &b) || ck_mul(x.hi, y.lo, &cc) ||
            ck_mul(x.hi, y.hi, &dd))
            return 1;
        *out = krange_span(min4(a, b, cc, dd), max4(a, b, cc, dd));
        return 0;
    case B_DIV: case B_MOD:
        /* by a positive constant: the results stay within the dividend's
         * magnitude (C's truncating division and remainder) */
        if (y.lo == y.hi && y.lo > 0) {
            if (op == B_DIV)
                *out = krange_span(x.lo / y.lo, x.hi / y.lo);
            else
                *out = krange_span(x.lo < 0 ? -(y.lo - 1) : 0, x.hi > 0 ? y.lo - 1 : 0);
        }
        return 0;
    case B_MIN:
        *out = krange_span(x.lo < y.lo ? x.lo : y.lo, x.hi < y.hi ? x.hi : y.hi);
        return 0;
    case B_MAX:
        *out = krange_span(x.lo > y.lo ? x.lo : y.lo, x.hi > y.hi ? x.hi : y.hi);
        return 0;
    default:
        return 0;
    }
}

KRange krange_of(const Expr *e, const KRange *vr)
{
    KRange r;
    if (e->lanes != 1 || e->type != DT_INDEX)
        return krange_top();
    switch (e->kind) {
    case E_CONST:
        return krange_span(e->i, e->i);
    case E_VAR:
        return vr[e->var];
    case E_BINARY:
        return krange_bin((BinOp)e->op, krange_of(e->a, vr), krange_of(e->b, vr), &r) ? krange_top() : r;
    default:
        return krange_top();
    }
}
