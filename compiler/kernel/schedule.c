/*
 * schedule.c: how each kernel runs, chosen from its loop structure and the
 * machine description, written into the IR as loop marks.
 *
 * The algorithm (what a kernel computes) comes from lowering; this pass
 * only decides how, from a small vocabulary applied in order:
 *
 *   1. contraction: a reduction nest acc += x * y whose operands split the
 *      loops into rows and columns (MatMul, Gemm, Conv as im2col) is
 *      register blocked with packed operands (contract.c, prog_contract,
 *      which compile_model runs first);
 *   2. vector over outputs: the innermost IT_DATA loop in which every
 *      store is contiguous is split by the vector width and marked
 *      L_VECTOR (its remainder a masked tail) -- elementwise chains,
 *      pooling and depthwise convolution along a row, transposes; when
 *      bounds tests sit inside, the loop is first partitioned
 *      (partition.c) and only its middle, free of them, is vectorized;
 *   3. vector over a reduction: an innermost IT_REDUCE loop that only
 *      folds loads contiguous in it into accumulators (softmax sums,
 *      normalization statistics, reductions along the last axis);
 *   4. threads: the outermost IT_DATA loops of a kernel with enough work
 *      each are marked L_PARALLEL when the program has more than one
 *      thread; under a loop that cannot be shared (a recurrence's time
 *      steps) the data-parallel loops of its body are taken instead, each
 *      run on the pool once per step, the step's variables handed to it.
 *
 * Every choice is checked again by the pass that carries it out
 * (vectorize.c keeps a loop serial if it cannot be vectorized), so a
 * schedule can be wrong only about speed.
 */
#include "kernel.h"

typedef struct Sched {
    Program *p;
    Kernel *k;
    const Machine *m;
} Sched;

/* The stride of index ix along loop variable var: 1 with *stride set when
 * ix is affine in var, 0 otherwise. */
static int stride_of(Sched *s, const Expr *ix, int var, int64_t *stride)
{
    Arena *a = s->p->arena;
    Expr *r = ke_subst(a, (Expr *)ix, var, ke_ramp(a, ke_var(a, s->k, var), 1, 2));
    if (r->lanes == 1) {
        *stride = 0;
        return 1;
    }
    if (r->kind == E_RAMP) {
        *stride = r->i;
        return 1;
    }
    return 0;
}

/* Lanes of a vector of elements of type t. */
static int lanes_for(const Sched *s, DType t)
{
    int w = dtype_size(t);
    if (w != 4 && w != 8)
        return 0;
    int n = s->m->vec_bytes / w;
    return n > KILN_MAX_LANES ? KILN_MAX_LANES : n;
}

typedef struct Probe {
    int stores, contiguous, calls, loops, folds, other, contiguous_loads;
    int lanes;       /* lanes of the stored (or folded) type; 0 if mixed or unsupported */
} Probe;

static void probe_expr(Sched *s, const Expr *e, int var, Probe *pr)
{
    for (; e; e = e->a) {
        int64_t st;
        if (e->kind == E_LOAD && stride_of(s, e->a, var, &st) && st == 1)
            pr->contiguous_loads++;
        if (e->b)
            probe_expr(s, e->b, var, pr);
        if (e->c)
            probe_expr(s, e->c, var, pr);
    }
}

static void set_lanes(Sched *s, Probe *pr, DType t)
{
    int l = lanes_for(s, t);
    if (pr->lanes == -1)
        pr->lanes = l;
    else if (pr->lanes != l)
        pr->lanes = 0;
}

static void probe(Sched *s, const Stmt *st, int var, Probe *pr)
{
    for (; st; st = st->next) {
        int64_t stride;
        switch (st->kind) {
        case S_STORE:
            pr->stores++;
            if (stride_of(s, st->index, var, &stride) && stride == 1)
                pr->contiguous++;
            set_lanes(s, pr, s->p->bufs[st->buf].dtype);
            break;
        case S_CALL:
            pr->calls++;
            break;
        case S_LOOP:
            pr->loops++;
            break;
        case S_ASSIGN:
            if (st->value->kind == E_BINARY && (st->value->op == B_ADD || st->value->op == B_MAX ||
                                                st->value->op == B_MIN)) {
                pr->folds++;
                /* an index counter (AveragePool's count) is the same in
                 * every lane: it does not choose the width */
                if (s->k->vars[st->var].type != DT_INDEX)
                    set_lanes(s, pr, s->k->vars[st->var].type);
            } else {
                pr->other++;
            }
            break;
        default:
            break;
        }
        probe_expr(s, st->index, var, pr);
        probe_expr(s, st->value, var, pr);
        probe(s, st->body, var, pr);
        probe(s, st->els, var, pr);
    }
}

static int has_if(const Stmt *s)
{
    for (; s; s = s->next)
        if (s->kind == S_IF || has_if(s->body) || has_if(s->els))
            return 1;
    return 0;
}

/* A remainder of e iterations, e not a power of two, becomes vectors of
 * the powers of two in e, widest first (12: 8 then 4), down to the
 * narrowest vector (4 lanes), which takes what is left masked: full
 * vectors need no mask, and a strided or gathered load under a mask is a
 * lane loop. The width of the next full vector of such a remainder, or 0
 * when e is one vector (a power of two, or at most 4, masked). */
static int64_t tail_piece(int64_t e)
{
    if (e <= 4 || !(e & (e - 1)))
        return 0;
    int64_t p2 = 4;
    while (p2 * 2 <= e)
        p2 *= 2;
    return p2;
}

int64_t sched_vectors(int64_t n, int lanes)
{
    int64_t v = n / lanes, rest = n % lanes, p2;
    for (; (p2 = tail_piece(rest)) != 0; rest -= p2)
        v++;
    return v + (rest > 0);
}

/* Mark a remainder loop L_VECTOR, split as tail_piece says. */
static void mark_tail(Sched *s, Stmt *t)
{
    int64_t e, p2;
    while (t && ke_is_const(t->extent, &e) && (p2 = tail_piece(e)) != 0) {
        Stmt *in, *rest;
        if (loop_split_peel(s->p, s->k, t, p2, &in, &rest))
            break;
        in->loop = L_VECTOR;
        t = rest;
    }
    if (t)
        t->loop = L_VECTOR;
}

/* Split loop l by the vector width and mark the pieces L_VECTOR. */
static int mark_vector(Sched *s, Stmt *l, int lanes)
{
    Stmt *inner, *tail;
    if (loop_split_peel(s->p, s->k, l, lanes, &inner, &tail))
        return 0;
    if (inner)
        inner->loop = L_VECTOR;
    mark_tail(s, tail);
    return 1;
}

/* Loop l, split into l (the vector blocks) around one vector loop, has a
 * perfect nest of serial data loops under the vector loop (a
 * channels-last pooling: c blocks around oh, ow around the window): the
 * nest moves outside, so that the vector body is the window alone and
 * consecutive iterations are independent vectors over neighbouring
 * memory, instead of one sweep of the whole plane per block of channels.
 * Data loops of constant extent run in any order. */
static void sink_vector(Arena *a, Stmt *l)
{
    enum { MAXD = 8 };
    Stmt *vec = l->body, *chain[MAXD], *b;
    int n = 0;
    int64_t e;
    if (!vec || vec->next || vec->kind != S_LOOP || vec->loop != L_VECTOR)
        return;
    for (b = vec->body; b && !b->next && b->kind == S_LOOP && b->iter == IT_DATA && b->loop == L_SERIAL &&
                        ke_is_const(b->extent, &e) && n < MAXD;
         b = b->body)
        chain[n++] = b;
    if (!n)
        return;
    Stmt *blocks = arena_alloc(a, sizeof *blocks);
    *blocks = *l;
    blocks->next = NULL;
    blocks->comment = NULL;
    vec->body = b;
    chain[n - 1]->body = blocks;
    Stmt *next = l->next;
    const char *comment = l->comment;
    *l = *chain[0];
    l->next = next;
    l->comment = comment;
}

/* After sink_vector: the data loops now around the vector loop, from l
 * inwards, each split where the bounds tests inside it hold (a depthwise
 * Conv's pixels, whose taps are read under tests): the middle of each,
 * where most of the work is, runs without them. */
static void partition_outer(Sched *s, Stmt *l)
{
    while (l && l->kind == S_LOOP && l->loop == L_SERIAL && l->iter == IT_DATA && has_if(l->body)) {
        Stmt *mid = loop_partition(s->p, s->k, l);
        l = (mid ? mid : l)->body;
        if (l && l->next)
            return; /* not a chain of loops */
    }
}

/* Vector over outputs: loop l when every store under it is contiguous in
 * its variable. */
static int try_data(Sched *s, Stmt *l)
{
    int64_t n;
    if (l->iter != IT_DATA || !ke_is_const(l->extent, &n) || n < 4)
        return 0;
    Probe pr = {0};
    pr.lanes = -1;
    probe(s, l->body, l->var, &pr);
    if (!pr.stores || pr.contiguous != pr.stores || pr.calls || pr.lanes <= 1)
        return 0;
    /* bounds tests inside: vectorize the middle where they all hold */
    Stmt *mid = has_if(l->body) ? loop_partition(s->p, s->k, l) : NULL;
    if (!mark_vector(s, mid ? mid : l, pr.lanes))
        return 0;
    if (!mid && n % pr.lanes == 0) {
        sink_vector(s->p->arena, l);
        partition_outer(s, l);
    }
    return 1;
}

/* Vector over a reduction: an innermost reduction loop of folds. */
static int try_reduce(Sched *s, Stmt *l)
{
    int64_t n;
    if (l->iter != IT_REDUCE || !ke_is_const(l->extent, &n) || n < 8)
        return 0;
    Probe pr = {0};
    pr.lanes = -1;
    probe(s, l->body, l->var, &pr);
    if (pr.stores || pr.calls || pr.loops || pr.other || !pr.folds || !pr.contiguous_loads || pr.lanes <= 1)
        return 0;
    return mark_vector(s, l, pr.lanes);
}

/* Post-order: inner loops choose first. Returns whether anything under
 * (or at) the block was vectorized. */
static int sched_block(Sched *s, Stmt *st)
{
    int any = 0;
    for (; st; st = st->next) {
        if (st->kind != S_LOOP && st->kind != S_IF)
            continue;
        int inner = sched_block(s, st->body) | sched_block(s, st->els);
        if (st->kind == S_LOOP && (st->loop == L_VECTOR || st->loop == L_UNROLL))
            inner = 1; /* already scheduled (a register-blocked nest) */
        if (!inner && st->kind == S_LOOP && st->loop == L_SERIAL) {
            Stmt *next = st->next;
            inner = try_data(s, st) || try_reduce(s, st);
            /* a peeled tail was inserted after st: skip it */
            while (st->next != next)
                st = st->next;
        }
        any |= inner;
    }
    return any;
}

/* ------------------------------------------------------------ threads */



/* Loop iterations under s (its extent times its body's), saturating. */
static int64_t work(const Stmt *s)
{
    int64_t total = 0;
    for (; s; s = s->next) {
        int64_t n = 1, inner = 1;
        if (s->kind == S_LOOP && !ke_is_const(s->extent, &n))
            n = 1;
        inner = s->body || s->els ? work(s->body) + work(s->els) : 1;
        if (ck_mul(n, inner, &inner) || ck_add(total, inner, &total))
            return INT64_MAX;
    }
    return total;
}

/* Loop iterations under the one statement s (not its successors). */
static int64_t work_of(const Stmt *s)
{
    Stmt one = *s;
    one.next = NULL;
    return work(&one);
}

/* The outermost data-parallel loops of a kernel run on the thread pool
 * when each does enough work to pay for waking it (a round of the pool
 * costs some 0.3 us when its threads spin, docs/performance.md). */
enum { PARALLEL_MIN_WORK = 16384 };

/* Can loop st run on the pool: data-parallel, of at least two iterations
 * and enough work, each iteration storing its own elements, and reading
 * only scalars from around it, which it does not assign? */
static int shareable(Sched *s, const Stmt *st)
{
    int64_t n;
    /* a loop whose iterations all write one place (a scratch slice
     * reused by each, slice.c) stays serial, and so does one that
     * assigns a variable set outside it or reads a vector one */
    return st->kind == S_LOOP && st->iter == IT_DATA && st->loop == L_SERIAL && ke_is_const(st->extent, &n) &&
           n >= 2 && work_of(st) >= PARALLEL_MIN_WORK && kernel_stores_use(s->p, st->body, st->var) &&
           kernel_stmt_inputs(s->p->arena, s->k, st, NULL) >= 0;
}

/* Mark the outermost shareable loops of block b; look inside serial
 * loops and branches for them. */
static void sched_threads(Sched *s, Stmt *b)
{
    for (Stmt *st = b; st; st = st->next) {
        if (shareable(s, st))
            st->loop = L_PARALLEL;
        else if ((st->kind == S_LOOP && st->loop == L_SERIAL) || st->kind == S_IF) {
            sched_threads(s, st->body);
            sched_threads(s, st->els);
        }
    }
}

void prog_threads(Program *p, const Machine *m)
{
    int64_t total = 0;
    for (int i = 0; i < p->nkernels; i++)
        if (ck_add(total, work(p->kernels[i].body), &total))
            total = INT64_MAX;
    p->threads = m->threads > 1 && total >= m->par_work ? m->threads : 1;
}

int prog_schedule(Program *p, const Machine *m, Diag *d)
{
    for (int i = 0; i < p->nkernels; i++) {
        Sched s = {p, &p->kernels[i], m};
        sched_block(&s, p->kernels[i].body);
        if (m->threads > 1 && p->threads > 1)
            sched_threads(&s, s.k->body);
    }
    return d->nerrors != 0;
}
