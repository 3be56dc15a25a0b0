/*
 * contract.c: register blocking of contractions, the schedule that makes
 * MatMul, Gemm and Conv fast.
 *
 * A contraction is a kernel whose loop nest, as lowering wrote it, is
 *
 *   for s... [data]:                         output coordinates
 *     let acc = INIT(s)
 *     for r... [reduce]: acc = acc + X(s, r) * Y(s, r)
 *     let e = ...; store OUT[OIDX(s)] = G(acc, s)     (the fused epilogue)
 *
 * with X and Y loads. The output loops split by the operands they index:
 * N (the loop only B reads), M (the loops only A reads) and batch (both);
 * one of X, Y becomes B, read as vectors along N, the other A, read one
 * element at a time and broadcast. The nest is rewritten as a tile of MR
 * rows by NR = NRv vectors of outputs held in a local buffer (registers,
 * once unroll.c and promote.c are done):
 *
 *   for batch: for nb < N/NR: for mb < M/MR:          (or mb outside nb)
 *     T[mi][j] = INIT                                  tile start
 *     for r...:                                        the reduction
 *       for mi [unroll]: for jv [unroll]: for jl [vector]:
 *         T[mi][jv*L + jl] += A[m(mi), r] * B[n, r]
 *     for mi [unroll]: if m < M: for jv, jl: if n < N:
 *       OUT[OIDX] = G(T[mi][j])                        the epilogue, once per tile
 *
 * B is either a weight, packed at compile time into panels
 * Bp[nb][r...][NR] (zero past N) so the inner loop streams it, or a
 * runtime tensor read in place where it is contiguous along N. A is read
 * in place (any affine index; Conv's padding was made explicit by its
 * lowering, so there is no condition). M's loops may be several (a Conv's
 * output pixels); a tile row decodes its pixel once, outside the reduction.
 *
 * The tile shape comes from the machine: MR * NRv accumulators plus NRv B
 * vectors and one A value fit the vector registers, and among those the
 * shape that wastes the least of M x N on partial tiles while keeping
 * enough independent FMAs in flight wins (cost()).
 */
#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAXL = 16 };

typedef struct Nest {
    Stmt *dl[MAXL];   /* data loops, outer to inner */
    int nd;
    Stmt *let;        /* let acc = INIT */
    Stmt *rl[MAXL];   /* reduction loops, outer to inner */
    int nr;
    Stmt *upd;        /* acc = acc + X * Y */
    Stmt *epi;        /* first statement after the reduction: lets..., store */
    Stmt *store;      /* the last statement */
    Expr *x, *y;      /* the two loads */
} Nest;

/* Constant extent of loop l (0 if not constant). */
static int64_t extent(const Stmt *l)
{
    int64_t n;
    return ke_is_const(l->extent, &n) ? n : 0;
}

static int match(Stmt *top, Nest *n)
{
    memset(n, 0, sizeof *n);
    Stmt *s = top;
    while (s->kind == S_LOOP && s->iter == IT_DATA && extent(s) > 0 && n->nd < MAXL) {
        n->dl[n->nd++] = s;
        if (s->body && !s->body->next && s->body->kind == S_LOOP && s->body->iter == IT_DATA)
            s = s->body;
        else
            break;
    }
    if (!n->nd)
        return 0;
    Stmt *b = n->dl[n->nd - 1]->body;
    if (!b || b->kind != S_LET || b->value->type != DT_F32 || b->value->lanes != 1)
        return 0;
    n->let = b;
    Stmt *r = b->next;
    while (r && r->kind == S_LOOP && r->iter == IT_REDUCE && extent(r) > 0 && n->nr < MAXL) {
        n->rl[n->nr++] = r;
        if (r->body && !r->body->next && r->body->kind == S_LOOP && r->body->iter == IT_REDUCE)
            r = r->body;
        else
            break;
    }
    if (!n->nr)
        return 0;
    Stmt *u = n->rl[n->nr - 1]->body;
    if (!u || u->next || u->kind != S_ASSIGN || u->var != b->var)
        return 0;
    Expr *v = u->value, *prod;
    if (v->kind != E_BINARY || v->op != B_ADD)
        return 0;
    if (v->a->kind == E_VAR && v->a->var == b->var)
        prod = v->b;
    else if (v->b->kind == E_VAR && v->b->var == b->var)
        prod = v->a;
    else
        return 0;
    if (prod->kind != E_BINARY || prod->op != B_MUL || prod->a->kind != E_LOAD || prod->b->kind != E_LOAD ||
        prod->a->b || prod->b->b || prod->a->type != DT_F32 || prod->b->type != DT_F32)
        return 0;
    n->upd = u;
    n->x = prod->a;
    n->y = prod->b;
    /* after the reduction: lets, then one store, nothing else */
    n->epi = n->rl[0]->next;
    for (Stmt *e = n->epi; e; e = e->next) {
        if (e->kind == S_STORE && !e->next && !e->mask && e->value->type == DT_F32 &&
            !ke_uses_var(e->index, b->var))
            n->store = e;
        else if (e->kind != S_LET)
            return 0;
    }
    return n->store != NULL;
}

/* ------------------------------------------------------------ affine forms */

/* ix = base + sum coef[i] * var[i] over vars[0..nv)? Fills base and coef. */
static int affine(Program *p, Kernel *k, Expr *ix, const int *vars, int nv, int64_t *base, int64_t *coef)
{
    Arena *a = p->arena;
    Expr *z = ix;
    for (int i = 0; i < nv; i++) {
        Expr *r = ke_subst(a, ix, vars[i], ke_ramp(a, ke_var(a, k, vars[i]), 1, 2));
        if (r->lanes == 1)
            coef[i] = 0;
        else if (r->kind == E_RAMP)
            coef[i] = r->i;
        else
            return 0;
        z = ke_subst(a, z, vars[i], ke_idx(a, 0));
    }
    return ke_is_const(z, base);
}

static int uses(const Expr *e, int var) { return ke_uses_var(e, var); }

/* ------------------------------------------------------------ the schedule */

typedef struct Plan {
    Nest n;
    Expr *A, *B;          /* the broadcast operand and the vector one */
    int nvar;             /* the N loop variable */
    int mvars[MAXL], nm;  /* the M loop variables, outer to inner */
    int64_t mext[MAXL];
    int bvars[MAXL], nb;  /* batch loop variables */
    int64_t M, N, K;
    int lanes, MR, NRv;
    Expr *init;           /* the accumulator's start, N loops flattened */
    Stmt *epi;            /* the epilogue, N loops flattened */
    Expr *oindex;         /* the output's index in it */
    int contiguous;       /* the output is contiguous along N */
    int packed;           /* B is a packed weight */
    int bpack;            /* its buffer */
    int b_outer;          /* nb loop outside mb */
    int ew;               /* A reads N too: a vector per row, not a broadcast */
    int64_t kc0;          /* K blocking: iterations of the outermost reduction loop per block (0: none) */
    int64_t batch;        /* iterations of the batch loops */
} Plan;

/* How well an MR x NRv tile suits M x N: the share of the computed tile
 * area that is real output, times how close the tile comes to keeping
 * `inflight` FMAs busy, less the cost of its loads per FMA. */
static double cost(int64_t M, int64_t N, int64_t K, int MR, int NRv, int lanes, int inflight, int64_t l1)
{
    int64_t NR = (int64_t)NRv * lanes;
    double util = (double)(M * N) / (double)(((M + MR - 1) / MR) * MR * ((N + NR - 1) / NR) * NR);
    double fmas = (double)MR * NRv;
    double busy = fmas >= inflight ? 1.0 : fmas / inflight;
    /* few rows (M within one tile's reach) and a B larger than L1: B
     * streams from L2 once per row block, so a tile covering every row
     * reads it once. Each vector of it costs twice an A broadcast from L1
     * then (MobileNetV1's 9 x 256 x 256: 9 x 32 rather than 3 x 64, that
     * model 8% faster). Many rows re-read B whatever the tile, and keep
     * the plain count. */
    double wb = M <= 16 && K * N * 4 > l1 ? 2.0 : 1.0;
    double loads = (MR + wb * NRv) / fmas;
    return util * busy / (1.0 + 0.25 * loads);
}

static void choose_tile(Plan *pl, const Machine *m)
{
    double best = -1;
    int inflight = m->fma ? 8 : 4;
    for (int nrv = 1; nrv <= 4; nrv++)
        for (int mr = 1; mr <= 16; mr++) {
            if (mr * nrv + nrv + 1 > m->vec_regs)
                continue;
            if (mr > pl->M && mr > 1)
                continue;
            double c = cost(pl->M, pl->N, pl->K, mr, nrv, pl->lanes, inflight, m->l1);
            if (c > best + 1e-9) {
                best = c;
                pl->MR = mr;
                pl->NRv = nrv;
            }
        }
}

/* Is B a weight packed at compile time? Only a weight that every batch
 * iteration reads alike: one whose index uses a batch loop (a batched
 * MatMul by a constant [b, K, N]) is read as a runtime B is. */
static int b_packable(const Program *p, const Plan *pl, const Expr *B)
{
    const Buffer *bb = &p->bufs[B->buf];
    if (bb->kind != BUF_WEIGHT || !bb->data)
        return 0;
    for (int i = 0; i < pl->nb; i++)
        if (uses(B->a, pl->bvars[i]))
            return 0;
    return 1;
}

/* Can B (a load) be the vector operand with N loop variable nvar? */
static int b_ok(Program *p, Kernel *k, Plan *pl, Expr *B, int *rvars, int nr)
{
    int vars[2 * MAXL + 1];
    int64_t base, coef[2 * MAXL + 1];
    vars[0] = pl->nvar;
    for (int i = 0; i < nr; i++)
        vars[i + 1] = rvars[i];
    for (int i = 0; i < pl->nb; i++)
        vars[nr + 1 + i] = pl->bvars[i];
    if (!affine(p, k, B->a, vars, nr + 1 + pl->nb, &base, coef))
        return 0;
    if (b_packable(p, pl, B))
        return 1;
    return coef[0] == 1; /* in place: contiguous along N */
}

/* Pack weight B into panels [nb][r...][NR], zero past N: a new weight. */
static int pack_b(Program *p, Kernel *k, Plan *pl, int *rvars, int64_t *rext, int nr)
{
    Arena *a = p->arena;
    const Buffer *src = &p->bufs[pl->B->buf];
    int vars[MAXL + 1];
    int64_t base, coef[MAXL + 1];
    vars[0] = pl->nvar;
    for (int i = 0; i < nr; i++)
        vars[i + 1] = rvars[i];
    if (!affine(p, k, pl->B->a, vars, nr + 1, &base, coef))
        return -1;
    int64_t NR = (int64_t)pl->NRv * pl->lanes, NB = (pl->N + NR - 1) / NR, total;
    if (ck_mul(NB * NR, pl->K, &total) || total * 4 > KILN_MAX_BYTES)
        return -1;
    Shape s = {1, {total}};
    int id = prog_add_buf(p, arena_printf(a, "%s_packed", src->label), BUF_WEIGHT, DT_F32, &s);
    float *dst = arena_alloc(a, (size_t)total * 4 + 4);
    const float *w = src->data;
    int64_t r[MAXL] = {0};
    for (int64_t kl = 0; kl < pl->K; kl++) {
        int64_t off = base;
        for (int i = 0; i < nr; i++)
            off += coef[i + 1] * r[i];
        for (int64_t n = 0; n < NB * NR; n++) {
            int64_t at = ((n / NR) * pl->K + kl) * NR + n % NR;
            int64_t ix = off + coef[0] * n;
            dst[at] = n < pl->N && ix >= 0 && ix < src->numel ? w[ix] : 0.0f;
        }
        for (int i = nr - 1; i >= 0; i--) { /* next reduction tuple, row-major */
            if (++r[i] < rext[i])
                break;
            r[i] = 0;
        }
    }
    p->bufs[id].data = dst;
    return id;
}

static Stmt *loop(Program *p, Kernel *k, const char *name, int64_t n, IterKind it, LoopKind lk, int *var)
{
    Stmt *l = stmt_new(p->arena, S_LOOP);
    *var = l->var = kernel_add_var(p, k, name, DT_INDEX);
    l->extent = ke_idx(p->arena, n);
    l->iter = it;
    l->loop = lk;
    return l;
}

/* Append s to the block whose tail link is *t. */
static void put(Stmt ***t, Stmt *s)
{
    **t = s;
    *t = &s->next;
}

/* Append at **t the loops over one tile's elements: rows (mi, unrolled)
 * outside or inside the columns (jv unrolled, jl vector). Sets their
 * variables and the tile index T = mi*NR + jv*lanes + jl; returns the
 * link inside the innermost loop. */
static Stmt **tile_loops(Program *p, Kernel *k, const Plan *pl, Stmt ***t, int rows_inside, Expr **mi, Expr **jv,
                         Expr **jl, Expr **tix)
{
    Arena *a = p->arena;
    int vjv, vjl, vmi;
    Stmt *ljv = loop(p, k, "jv", pl->NRv, IT_DATA, L_UNROLL, &vjv);
    Stmt *ljl = loop(p, k, "jl", pl->lanes, IT_DATA, L_VECTOR, &vjl);
    Stmt *lmi = loop(p, k, "mi", pl->MR, IT_DATA, L_UNROLL, &vmi);
    *mi = ke_var(a, k, vmi);
    *jv = ke_var(a, k, vjv);
    *jl = ke_var(a, k, vjl);
    *tix = ke_bin(a, B_ADD, ke_bin(a, B_MUL, *mi, ke_idx(a, (int64_t)pl->NRv * pl->lanes)),
                  ke_bin(a, B_ADD, ke_bin(a, B_MUL, *jv, ke_idx(a, pl->lanes)), *jl));
    Stmt *order[3] = {lmi, ljv, ljl};
    if (rows_inside)
        order[0] = ljv, order[1] = ljl, order[2] = lmi;
    Stmt **tt = *t;
    for (int i = 0; i < 3; i++) {
        put(&tt, order[i]);
        tt = &order[i]->body;
    }
    *t = &order[0]->next;
    return tt;
}

/* Load ld (an operand read in place at tile column col) masked off past
 * N when the last column block is partial. */
static Expr *column_load(Program *p, const Plan *pl, Expr *ld, Expr *col)
{
    int64_t NR = (int64_t)pl->NRv * pl->lanes;
    if (pl->N % NR == 0)
        return ld;
    return ke_load_mask(p->arena, p, ld->buf, ld->a, ke_bin(p->arena, B_LT, col, ke_idx(p->arena, pl->N)));
}

/* Append at **t: dst[dbase + T] = src[sbase + T] over one tile (a NULL
 * base is 0): the tile spilled, saved as partial sums, or reloaded from
 * them. */
static void tile_copy(Program *p, Kernel *k, const Plan *pl, Stmt ***t, int dst, Expr *dbase, int src, Expr *sbase)
{
    Arena *a = p->arena;
    Expr *mi, *jv, *jl, *ti;
    Stmt **tt = tile_loops(p, k, pl, t, 0, &mi, &jv, &jl, &ti);
    Stmt *st = stmt_new(a, S_STORE);
    st->buf = dst;
    st->index = dbase ? ke_bin(a, B_ADD, dbase, ti) : ti;
    st->value = ke_load(a, p, src, sbase ? ke_bin(a, B_ADD, sbase, ti) : ti);
    put(&tt, st);
}

/* Substitute the M loop variables by their decoding of flat row m. */
static Expr *decode_m(Program *p, Kernel *k, Plan *pl, Expr *e, Expr *m)
{
    Arena *a = p->arena;
    int64_t below = 1;
    for (int i = pl->nm - 1; i >= 0; i--) {
        Expr *v = ke_bin(a, B_DIV, m, ke_idx(a, below));
        if (i > 0)
            v = ke_bin(a, B_MOD, v, ke_idx(a, pl->mext[i]));
        e = ke_subst(a, e, pl->mvars[i], v);
        below *= pl->mext[i];
    }
    (void)k;
    return e;
}

/* The stride of index ix along variable var (0 if it does not use it);
 * 0 returned when ix is not affine in it. */
static int stride_in(Program *p, Kernel *k, Expr *ix, int var, int64_t *out)
{
    Arena *a = p->arena;
    Expr *r = ke_subst(a, ix, var, ke_ramp(a, ke_var(a, k, var), 1, 2));
    if (r->lanes == 1)
        return *out = 0, 1;
    if (r->kind != E_RAMP)
        return 0;
    *out = r->i;
    return 1;
}

/* Classify the output loops for operands A (broadcast) and B (vectors):
 * M (only A reads them), N (only B), batch (both). Several N loops are
 * flattened into one when B and the output are both laid out
 * contiguously across them (a 1x1 Conv's pixels). Fills pl; 0 if this
 * orientation does not work. */
static int orient(Program *p, Kernel *k, Plan *pl, Expr *A, Expr *B, int *rvars, int nr)
{
    Arena *a = p->arena;
    Nest *n = &pl->n;
    int nv[MAXL], nn = 0;
    int64_t next[MAXL];
    pl->nm = pl->nb = 0;
    for (int i = 0; i < n->nd; i++) {
        int v = n->dl[i]->var, ua = uses(A->a, v), ub = uses(B->a, v);
        if (ua && ub)
            pl->bvars[pl->nb++] = v;
        else if (ub)
            nv[nn] = v, next[nn++] = extent(n->dl[i]);
        else if (ua)
            pl->mvars[pl->nm] = v, pl->mext[pl->nm++] = extent(n->dl[i]);
        else
            return 0; /* an output loop neither operand reads */
    }
    pl->ew = 0;
    if (!nn) {
        /* no loop only B reads: a loop both read contiguously, like the
         * output (a depthwise Conv's channels, stored last), is N, with A
         * read as vectors too: T[mi][j] += A[m, r, n] * B[r, n] */
        for (int i = pl->nb - 1; i >= 0 && !nn; i--) {
            int64_t sa, sb, so;
            int v = pl->bvars[i];
            if (!stride_in(p, k, A->a, v, &sa) || !stride_in(p, k, B->a, v, &sb) ||
                !stride_in(p, k, n->store->index, v, &so) || sa != 1 || sb != 1 || so != 1)
                continue;
            for (int j = 0; j < n->nd; j++)
                if (n->dl[j]->var == v)
                    next[0] = extent(n->dl[j]);
            nv[nn++] = v;
            pl->bvars[i] = pl->bvars[--pl->nb];
            pl->ew = 1;
        }
        if (!nn)
            return 0;
    }
    pl->A = A;
    pl->B = B;
    pl->init = n->let->value;
    pl->epi = n->epi;
    pl->oindex = n->store->index;
    pl->nvar = nv[0];
    pl->N = next[0];
    int flat = nn > 1;
    for (int i = 0; flat && i + 1 < nn; i++) {
        int64_t bo, bi, oo, oi;
        if (!stride_in(p, k, B->a, nv[i], &bo) || !stride_in(p, k, B->a, nv[i + 1], &bi) ||
            !stride_in(p, k, pl->oindex, nv[i], &oo) || !stride_in(p, k, pl->oindex, nv[i + 1], &oi) ||
            bo != bi * next[i + 1] || oo != oi * next[i + 1])
            flat = 0;
    }
    if (nn > 1 && !flat) {
        /* not one flat run (a k x k Conv's output rows, whose input rows
         * are padded wider): the innermost is N, the others run around
         * the tiles like batch loops */
        for (int i = 0; i + 1 < nn; i++)
            pl->bvars[pl->nb++] = nv[i];
        pl->nvar = nv[nn - 1];
        pl->N = next[nn - 1];
    } else if (nn > 1) {
        /* one flat loop variable; each N loop its decoding */
        int nf = kernel_add_var(p, k, "nf", DT_INDEX);
        int64_t below = 1;
        pl->epi = stmt_copy(a, n->epi);
        pl->N = 1;
        for (int i = nn - 1; i >= 0; i--) {
            Expr *v = ke_bin(a, B_DIV, ke_var(a, k, nf), ke_idx(a, below));
            if (i > 0)
                v = ke_bin(a, B_MOD, v, ke_idx(a, next[i]));
            pl->B = ke_subst(a, pl->B, nv[i], v);
            pl->init = ke_subst(a, pl->init, nv[i], v);
            stmt_subst(a, pl->epi, nv[i], v);
            below *= next[i];
        }
        for (Stmt *e = pl->epi; e; e = e->next)
            if (e->kind == S_STORE)
                pl->oindex = e->index;
        pl->nvar = nf;
        pl->N = below;
    }
    /* A: affine in its loops */
    int avars[3 * MAXL];
    int64_t abase, acoef[3 * MAXL];
    int na = 0;
    for (int i = 0; i < pl->nm; i++)
        avars[na++] = pl->mvars[i];
    for (int i = 0; i < pl->nb; i++)
        avars[na++] = pl->bvars[i];
    for (int i = 0; i < nr; i++)
        avars[na++] = rvars[i];
    if (pl->ew)
        avars[na++] = pl->nvar;
    if (!affine(p, k, A->a, avars, na, &abase, acoef) || !b_ok(p, k, pl, pl->B, rvars, nr))
        return 0;
    pl->M = 1;
    for (int i = 0; i < pl->nm; i++)
        pl->M *= pl->mext[i];
    pl->batch = 1;
    for (int i = 0; i < n->nd; i++)
        for (int j = 0; j < pl->nb; j++)
            if (pl->bvars[j] == n->dl[i]->var)
                pl->batch *= extent(n->dl[i]);
    int64_t st;
    pl->contiguous = stride_in(p, k, pl->oindex, pl->nvar, &st) && st == 1;
    return 1;
}

/* Estimated cycles of a plan, per batch iteration times the batch: the
 * FMAs of its tiles (partial tiles count whole), the epilogue (a vector
 * per row where the output is contiguous along N; where it is not, the
 * tile goes out through a transpose in cache, about a cycle an element),
 * and the copy of a runtime B into panels when it needs one (rtpack: a
 * vector load and store per NR-wide row of K). */
static double plan_cost(const Program *p, const Plan *pl, const Machine *m)
{
    int64_t NR = (int64_t)pl->NRv * pl->lanes;
    double tiles = (double)((pl->M + pl->MR - 1) / pl->MR) * (double)((pl->N + NR - 1) / NR);
    double compute = tiles * (double)pl->K * pl->MR * pl->NRv / (m->fma ? 2.0 : 1.0);
    double outs = (double)pl->M * (double)pl->N;
    double epi = pl->contiguous ? outs / pl->lanes * 2 : outs;
    int packed = b_packable(p, pl, pl->B);
    double pack = 0;
    if (!packed && pl->N % NR && pl->M >= 2 * pl->MR)
        pack = (double)pl->K * (double)((pl->N + NR - 1) / NR) * pl->NRv * 2;
    return (compute + epi + pack) * (double)pl->batch;
}

/* The reduction loops reordered so that A, read one element per FMA,
 * walks its memory contiguously: the loop along which A's stride is
 * smallest innermost (a channels-last Conv reads its input channel by
 * channel within a tap; the ONNX order c, kh, kw would jump a pixel per
 * step). The loops are perfectly nested and only accumulate, and B's
 * panels are packed in whatever order results. */
static void order_reduction(Program *p, Kernel *k, Plan *pl, int *rvars, int64_t *rext)
{
    Nest *n = &pl->n;
    int64_t st[MAXL];
    for (int i = 0; i < n->nr; i++) {
        if (!stride_in(p, k, pl->A->a, rvars[i], &st[i]))
            return;
        if (st[i] < 0)
            st[i] = -st[i];
    }
    for (int i = 1; i < n->nr; i++) /* insertion sort, stable: larger strides outside */
        for (int j = i; j > 0 && st[j - 1] < st[j]; j--) {
            int64_t ts = st[j], te = rext[j];
            int tv = rvars[j];
            Stmt *tl = n->rl[j];
            st[j] = st[j - 1], rext[j] = rext[j - 1], rvars[j] = rvars[j - 1], n->rl[j] = n->rl[j - 1];
            st[j - 1] = ts, rext[j - 1] = te, rvars[j - 1] = tv, n->rl[j - 1] = tl;
        }
}

/* K blocking. When a packed panel of B (K x NR) is larger than half of
 * L2, every row block of A would stream it from memory again (ResNet-18's
 * last 3x3 convolutions channels-last: 4608 x 64 floats, read once per 6
 * of 49 pixels). The outermost reduction loop is then cut into blocks of
 * kc0 iterations (the largest divisor of its extent whose panel slice fits
 * half of L2), run outside the row blocks: each slice of the panel
 * is read from cache by every row block, and the tiles carry partial sums
 * from block to block through a scratch buffer of the output's size. */
static void k_block(Plan *pl, const int64_t *rext, const Machine *m)
{
    int64_t NR = (int64_t)pl->NRv * pl->lanes, e0 = rext[0], inner = pl->K / e0;
    pl->kc0 = 0;
    if (!pl->packed || pl->K * NR * 4 <= m->l2 / 2 || pl->M <= pl->MR)
        return;
    for (int64_t c = e0 - 1; c >= 1; c--)
        if (e0 % c == 0 && c * inner * NR * 4 <= m->l2 / 2) {
            pl->kc0 = c;
            return;
        }
}

/* Register block the nest at *link if it is a contraction; 1 if it was
 * replaced (the statements after it stay after it). */
static int contract_nest(Program *p, Kernel *k, Stmt **link, const Machine *m)
{
    Arena *a = p->arena;
    Plan pl;
    memset(&pl, 0, sizeof pl);
    if (!match(*link, &pl.n))
        return 0;
    Nest *n = &pl.n;
    int rvars[MAXL];
    int64_t rext[MAXL];
    pl.K = 1;
    for (int i = 0; i < n->nr; i++) {
        rvars[i] = n->rl[i]->var;
        rext[i] = extent(n->rl[i]);
        pl.K *= rext[i];
    }
    pl.lanes = m->vec_bytes / 4;
    if (pl.lanes > KILN_MAX_LANES)
        pl.lanes = KILN_MAX_LANES;
    if (pl.lanes < 2)
        return 0;
    /* B = Y or B = X: the cheaper of the orientations that work */
    Plan best;
    double best_cost = -1;
    for (int pick = 0; pick < 2; pick++) {
        Plan c = pl;
        if (!orient(p, k, &c, pick ? n->y : n->x, pick ? n->x : n->y, rvars, n->nr))
            continue;
        if (c.K < 8 || c.N < 2) /* small reductions: the direct schedule does them */
            continue;
        /* a few columns (8 output channels) take narrower vectors rather
         * than half-empty wide ones */
        while (c.lanes > 4 && c.N <= c.lanes / 2)
            c.lanes /= 2;
        choose_tile(&c, m);
        double cost = plan_cost(p, &c, m);
        if (best_cost < 0 || cost < best_cost) {
            best = c;
            best_cost = cost;
        }
    }
    if (best_cost < 0)
        return 0;
    pl = best;
    order_reduction(p, k, &pl, rvars, rext);
    if (getenv("KILN_TILE")) /* experiment: force MRxNRv */
        sscanf(getenv("KILN_TILE"), "%dx%d", &pl.MR, &pl.NRv);
    int64_t NR = (int64_t)pl.NRv * pl.lanes, NB = (pl.N + NR - 1) / NR, MB = (pl.M + pl.MR - 1) / pl.MR;
    const Buffer *bb = &p->bufs[pl.B->buf];
    pl.packed = b_packable(p, &pl, pl.B);
    if (pl.packed && (pl.bpack = pack_b(p, k, &pl, rvars, rext, n->nr)) < 0)
        return 0;
    pl.b_outer = pl.K * pl.N * 4 > m->l2 / 2;
    k_block(&pl, rext, m);
    pl.b_outer |= pl.kc0 > 0;
    /* a runtime B is packed into scratch first when it is too large for
     * the cache (read in place, its rows would be a page apart) or ends in
     * a partial column block (which in place needs masked loads in the
     * innermost loop), unless there are too few rows of A to pay for it */
    int rtpack = !pl.packed && (pl.b_outer || pl.N % NR) && pl.M >= 2 * pl.MR;

    /* ---- the new nest */
    int tile = prog_add_buf(p, "tile", BUF_LOCAL, DT_F32, &(Shape){1, {(int64_t)pl.MR * NR}});
    Stmt *head = NULL, **t = &head;
    /* batch loops, as they were */
    for (int i = 0; i < n->nd; i++) {
        int v = n->dl[i]->var;
        int isb = 0;
        for (int j = 0; j < pl.nb; j++)
            isb |= pl.bvars[j] == v;
        if (!isb)
            continue;
        Stmt *l = stmt_new(a, S_LOOP);
        *l = *n->dl[i];
        l->body = l->next = NULL;
        put(&t, l);
        t = &l->body;
    }
    if (rtpack) {
        /* Bp[nb][r...][NR] = B[n, r] (0 past N), per batch */
        Shape ps = {1, {NB * NR * pl.K}};
        pl.bpack = prog_add_buf(p, arena_printf(a, "%s_packed", bb->label), BUF_ARENA, DT_F32, &ps);
        pl.packed = 1;
        int vpn, vpj, vpl;
        Stmt *lpn = loop(p, k, "pnb", NB, IT_DATA, L_SERIAL, &vpn);
        lpn->comment = "pack B into column panels";
        put(&t, lpn);
        Stmt **pt = &lpn->body;
        Expr *bv = pl.B, *kl = ke_idx(a, 0);
        for (int i = 0; i < n->nr; i++) {
            int nv;
            Stmt *l = loop(p, k, k->vars[rvars[i]].name, rext[i], IT_DATA, L_SERIAL, &nv);
            bv = ke_subst(a, bv, rvars[i], ke_var(a, k, nv));
            kl = ke_bin(a, B_ADD, ke_bin(a, B_MUL, kl, ke_idx(a, rext[i])), ke_var(a, k, nv));
            put(&pt, l);
            pt = &l->body;
        }
        Stmt *lpj = loop(p, k, "pjv", pl.NRv, IT_DATA, L_SERIAL, &vpj);
        Stmt *lpl = loop(p, k, "pjl", pl.lanes, IT_DATA, L_VECTOR, &vpl);
        put(&pt, lpj);
        pt = &lpj->body;
        put(&pt, lpl);
        pt = &lpl->body;
        Expr *j = ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, vpj), ke_idx(a, pl.lanes)), ke_var(a, k, vpl));
        Expr *col = ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, vpn), ke_idx(a, NR)), j);
        Expr *val = ke_subst(a, bv, pl.nvar, col);
        if (pl.N % NR) /* masked off past N: 0 */
            val = ke_load_mask(a, p, val->buf, val->a, ke_bin(a, B_LT, col, ke_idx(a, pl.N)));
        Stmt *st = stmt_new(a, S_STORE);
        st->buf = pl.bpack;
        st->index = ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, vpn),
                                                                                  ke_idx(a, pl.K)), kl),
                                             ke_idx(a, NR)), j);
        st->value = val;
        put(&pt, st);
    }
    int vnb, vmb, vkb = -1;
    Stmt *lnb = loop(p, k, "nb", NB, IT_DATA, L_SERIAL, &vnb);
    Stmt *lmb = loop(p, k, "mb", MB, IT_DATA, L_SERIAL, &vmb);
    int64_t nkb = pl.kc0 ? rext[0] / pl.kc0 : 1;
    int partial = -1;
    if (pl.b_outer) {
        put(&t, lnb);
        t = &lnb->body;
        if (pl.kc0) {
            /* K blocks in order, each slice of the panel read by every row block */
            Stmt *lkb = loop(p, k, "kb", nkb, IT_SERIAL, L_SERIAL, &vkb);
            put(&t, lkb);
            t = &lkb->body;
            Shape ps = {1, {NB * MB * (int64_t)pl.MR * NR}};
            partial = prog_add_buf(p, "partial", BUF_ARENA, DT_F32, &ps);
        }
        put(&t, lmb);
        t = &lmb->body;
    } else {
        put(&t, lmb);
        t = &lmb->body;
        put(&t, lnb);
        t = &lnb->body;
    }
    Stmt *note = pl.b_outer ? lnb : lmb;
    note->comment = arena_printf(a, "register blocked: %d x %lld tile of a %lld x %lld x %lld contraction%s", pl.MR,
                                (long long)NR, (long long)pl.M, (long long)pl.N, (long long)pl.K,
                                pl.packed ? ", B packed" : "");
    Expr *Enb = ke_var(a, k, vnb), *Emb = ke_var(a, k, vmb);

    /* K blocks after the first start from the partial sums */
    Expr *pbase = ke_bin(a, B_MUL, ke_bin(a, B_ADD, ke_bin(a, B_MUL, Enb, ke_idx(a, MB)), Emb),
                         ke_idx(a, (int64_t)pl.MR * NR));
    Stmt **after_start = NULL;
    if (pl.kc0) {
        Stmt *g = stmt_new(a, S_IF);
        g->value = ke_bin(a, B_GT, ke_var(a, k, vkb), ke_idx(a, 0));
        put(&t, g);
        Stmt **tt = &g->body;
        tile_copy(p, k, &pl, &tt, tile, NULL, partial, pbase);
        after_start = &g->next;
        t = &g->els;
    }
    {
        /* tile start: T[mi][j] = INIT(m, n), the operands' values at row
         * m (clamped) and column n (clamped) */
        Expr *Emi, *Ejv, *Ejl, *tix;
        Stmt **tt = tile_loops(p, k, &pl, &t, 1, &Emi, &Ejv, &Ejl, &tix);
        Expr *nexpr = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Enb, ke_idx(a, NR)),
                             ke_bin(a, B_ADD, ke_bin(a, B_MUL, Ejv, ke_idx(a, pl.lanes)), Ejl));
        Expr *mraw = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Emb, ke_idx(a, pl.MR)), Emi);
        Expr *mclamp = pl.M % pl.MR ? ke_bin(a, B_MIN, mraw, ke_idx(a, pl.M - 1)) : mraw;
        Expr *nclamp = pl.N % NR ? ke_bin(a, B_MIN, nexpr, ke_idx(a, pl.N - 1)) : nexpr;
        Stmt *st = stmt_new(a, S_STORE);
        st->buf = tile;
        st->index = tix;
        st->value = decode_m(p, k, &pl, ke_subst(a, pl.init, pl.nvar, nclamp), mclamp);
        put(&tt, st);
    }
    if (after_start)
        t = after_start;
    /* the reduction: for r...: for mi: for jv: for jl: T += A * B */
    Stmt *outer_r = NULL, **rt = t;
    for (int i = 0; i < n->nr; i++) {
        Stmt *l = stmt_new(a, S_LOOP);
        *l = *n->rl[i];
        l->body = l->next = NULL;
        if (!outer_r)
            outer_r = l;
        put(&rt, l);
        rt = &l->body;
    }
    t = &outer_r->next;
    Stmt *block_r = outer_r; /* its variable becomes kb * kc0 + r0 once the body is built */
    {
        /* rows outside, columns inside: one broadcast of A live at a time,
         * the NRv vectors of B loaded once (the C compiler shares the
         * identical loads of the unrolled rows) */
        Expr *E2mi, *E2jv, *E2jl, *t2;
        Stmt **tt = tile_loops(p, k, &pl, &rt, 0, &E2mi, &E2jv, &E2jl, &t2);
        Expr *jcol = ke_bin(a, B_ADD, ke_bin(a, B_MUL, E2jv, ke_idx(a, pl.lanes)), E2jl);
        Expr *col = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Enb, ke_idx(a, NR)), jcol);
        Expr *bval;
        if (pl.packed) {
            Expr *kl = ke_idx(a, 0);
            for (int i = 0; i < n->nr; i++)
                kl = ke_bin(a, B_ADD, ke_bin(a, B_MUL, kl, ke_idx(a, rext[i])), ke_var(a, k, rvars[i]));
            Expr *ix = ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_bin(a, B_ADD, ke_bin(a, B_MUL, Enb, ke_idx(a, pl.K)), kl),
                                                ke_idx(a, NR)),
                              jcol);
            bval = ke_load(a, p, pl.bpack, ix);
        } else {
            /* in place; the columns past N of the last block are masked
             * off (a clamped index would not be contiguous) */
            bval = column_load(p, &pl, ke_subst(a, pl.B, pl.nvar, col), col);
        }
        Expr *m2 = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Emb, ke_idx(a, pl.MR)), E2mi);
        if (pl.M % pl.MR)
            m2 = ke_bin(a, B_MIN, m2, ke_idx(a, pl.M - 1));
        Expr *aval = decode_m(p, k, &pl, pl.A, m2);
        if (pl.ew) /* A along the tile's columns too, masked off past N like B */
            aval = column_load(p, &pl, ke_subst(a, aval, pl.nvar, col), col);
        Stmt *acc = stmt_new(a, S_STORE);
        acc->buf = tile;
        acc->index = t2;
        acc->value = ke_bin(a, B_ADD, ke_load(a, p, tile, t2), ke_bin(a, B_MUL, aval, bval));
        put(&tt, acc);
    }
    /* the epilogue. When the output is contiguous along N: for mi: if m <
     * M: for jv: for jl: if n < N: lets; store, a vector per row. When it
     * is not (a Conv's output channels are a plane apart), the tile is
     * first spilled to a local array, then stored one element at a time,
     * rows innermost: compact code instead of scattered vector stores. */
    if (pl.kc0) {
        /* the outermost reduction loop runs one K block */
        int r0 = kernel_add_var(p, k, arena_printf(a, "%s_k", k->vars[block_r->var].name), DT_INDEX);
        stmt_subst(a, block_r->body, block_r->var,
                   ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, vkb), ke_idx(a, pl.kc0)), ke_var(a, k, r0)));
        block_r->var = r0;
        block_r->extent = ke_idx(a, pl.kc0);
        /* blocks before the last keep their partial sums; the last runs the epilogue */
        Stmt *g = stmt_new(a, S_IF);
        g->value = ke_bin(a, B_LT, ke_var(a, k, vkb), ke_idx(a, nkb - 1));
        put(&t, g);
        Stmt **tt = &g->body;
        tile_copy(p, k, &pl, &tt, partial, pbase, tile, NULL);
        t = &g->els;
    }
    if (!pl.contiguous) {
        int spill = prog_add_buf(p, "spill", BUF_LOCAL, DT_F32, &(Shape){1, {(int64_t)pl.MR * NR}});
        int vj, vi;
        tile_copy(p, k, &pl, &t, spill, NULL, tile, NULL);
        Stmt **tt;
        Stmt *lj = loop(p, k, "j", NR, IT_DATA, L_SERIAL, &vj);
        Stmt *li = loop(p, k, "i", pl.MR, IT_DATA, L_SERIAL, &vi);
        Expr *col = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Enb, ke_idx(a, NR)), ke_var(a, k, vj));
        Expr *row = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Emb, ke_idx(a, pl.MR)), ke_var(a, k, vi));
        put(&t, lj);
        tt = &lj->body;
        if (pl.N % NR) {
            Stmt *g = stmt_new(a, S_IF);
            g->value = ke_bin(a, B_LT, col, ke_idx(a, pl.N));
            put(&tt, g);
            tt = &g->body;
        }
        put(&tt, li);
        tt = &li->body;
        if (pl.M % pl.MR) {
            Stmt *g = stmt_new(a, S_IF);
            g->value = ke_bin(a, B_LT, row, ke_idx(a, pl.M));
            put(&tt, g);
            tt = &g->body;
        }
        Stmt *epi = stmt_copy(a, pl.epi);
        Expr *sx = ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, vi), ke_idx(a, NR)), ke_var(a, k, vj));
        stmt_subst(a, epi, n->let->var, ke_load(a, p, spill, sx));
        stmt_subst(a, epi, pl.nvar, col);
        for (Stmt *e = epi; e; e = e->next) {
            e->index = decode_m(p, k, &pl, e->index, row);
            e->value = decode_m(p, k, &pl, e->value, row);
        }
        *tt = epi;
    } else {
        int v3jv, v3jl, v3mi;
        Stmt *l3mi = loop(p, k, "mi", pl.MR, IT_DATA, L_UNROLL, &v3mi);
        Stmt *l3jv = loop(p, k, "jv", pl.NRv, IT_DATA, L_UNROLL, &v3jv);
        Stmt *l3jl = loop(p, k, "jl", pl.lanes, IT_DATA, L_VECTOR, &v3jl);
        Expr *E3jv = ke_var(a, k, v3jv), *E3jl = ke_var(a, k, v3jl), *E3mi = ke_var(a, k, v3mi);
        Expr *col = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Enb, ke_idx(a, NR)),
                           ke_bin(a, B_ADD, ke_bin(a, B_MUL, E3jv, ke_idx(a, pl.lanes)), E3jl));
        Expr *row = ke_bin(a, B_ADD, ke_bin(a, B_MUL, Emb, ke_idx(a, pl.MR)), E3mi);
        Expr *t3 = ke_bin(a, B_ADD, ke_bin(a, B_MUL, E3mi, ke_idx(a, NR)),
                          ke_bin(a, B_ADD, ke_bin(a, B_MUL, E3jv, ke_idx(a, pl.lanes)), E3jl));
        put(&t, l3mi);
        Stmt **tt = &l3mi->body;
        if (pl.M % pl.MR) {
            Stmt *g = stmt_new(a, S_IF);
            g->value = ke_bin(a, B_LT, row, ke_idx(a, pl.M));
            put(&tt, g);
            tt = &g->body;
        }
        put(&tt, l3jv);
        tt = &l3jv->body;
        put(&tt, l3jl);
        tt = &l3jl->body;
        if (pl.N % NR) {
            Stmt *g = stmt_new(a, S_IF);
            g->value = ke_bin(a, B_LT, col, ke_idx(a, pl.N));
            put(&tt, g);
            tt = &g->body;
        }
        Stmt *epi = stmt_copy(a, pl.epi);
        stmt_subst(a, epi, n->let->var, ke_load(a, p, tile, t3));
        stmt_subst(a, epi, pl.nvar, col);
        for (Stmt *e = epi; e; e = e->next) {
            e->index = decode_m(p, k, &pl, e->index, row);
            e->value = decode_m(p, k, &pl, e->value, row);
        }
        *tt = epi;
    }
    /* the new nest replaces the old one */
    if (head != note)
        head->comment = (*link)->comment;
    else if ((*link)->comment)
        note->comment = arena_printf(a, "%s\n%s", (*link)->comment, note->comment);
    Stmt *last = head;
    while (last->next)
        last = last->next;
    last->next = (*link)->next;
    *link = head;
    return 1;
}

/* Every contraction nest of block *link, at any depth (a MatMul's, or one
 * inside a recurrence's time loop). */
static int contract_block(Program *p, Kernel *k, Stmt **link, const Machine *m)
{
    int any = 0;
    while (*link) {
        Stmt *s = *link, *after = s->next;
        if (s->kind == S_LOOP && s->iter == IT_DATA && contract_nest(p, k, link, m)) {
            any = 1;
            while (*link != after) /* past the new nest */
                link = &(*link)->next;
            continue;
        }
        if (s->kind == S_LOOP || s->kind == S_IF)
            any |= contract_block(p, k, &s->body, m) | contract_block(p, k, &s->els, m);
        link = &s->next;
    }
    return any;
}

int contract_kernel(Program *p, Kernel *k, const Machine *m, Diag *d)
{
    (void)d;
    return contract_block(p, k, &k->body, m);
}

int prog_contract(Program *p, const Machine *m, Diag *d)
{
    for (int i = 0; i < p->nkernels; i++)
        contract_kernel(p, &p->kernels[i], m, d);
    return d->nerrors != 0;
}
