/*
 * test_passes.c: the loop passes change how kernels run, never what they
 * compute. Each case builds a kernel the way lowering writes it, runs it
 * in the interpreter, then schedules it for a machine (schedule, vectorize,
 * unroll, simplify, promote), checks the IR and runs it again on the same
 * inputs: the outputs must agree (to rounding, since reductions are
 * reassociated). Every case runs for the machine descriptions kiln knows,
 * so both 8- and 16-lane vectors, register tiles of several shapes and the
 * masked remainders are exercised. It also checks that the passes did
 * their job (a vector store, a promoted tile), so a schedule that silently
 * stopped applying fails here.
 */
#include "check.h"
#include "kernel/kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef Program *(*BuildFn)(Arena *a);

/* ------------------------------------------------------------- kernels */

/* y[m, n] = relu(b[n] + sum_k x[m, k] * w[k, n]), w a weight: a MatMul with
 * a fused bias and activation, w packed at compile time. */
static int M_ = 13, K_ = 37, N_ = 29;

static float *weights(Arena *a, int64_t n, unsigned seed)
{
    float *w = arena_alloc(a, sizeof(float) * (size_t)n);
    srand(seed);
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)rand() / RAND_MAX - 0.5f;
    return w;
}

static Program *build_matmul(Arena *a)
{
    Program *p = prog_new(a, "t");
    Shape sx = {2, {M_, K_}}, sw = {2, {K_, N_}}, sb = {1, {N_}}, sy = {2, {M_, N_}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &sx);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    int bw = prog_add_buf(p, "w", BUF_WEIGHT, DT_F32, &sw);
    int bb = prog_add_buf(p, "b", BUF_WEIGHT, DT_F32, &sb);
    p->bufs[bw].data = weights(a, K_ * N_, 1);
    p->bufs[bb].data = weights(a, N_, 2);
    p->bufs[by].index = 0;
    Kernel *k = prog_add_kernel(p, "k0_mm");
    KB b;
    kb_init(&b, p, k);
    Expr *m = kb_v(&b, kb_for_k(&b, "m", M_, IT_DATA));
    Expr *n = kb_v(&b, kb_for_k(&b, "n", N_, IT_DATA));
    int acc = kb_let(&b, "acc", ke_float(a, DT_F32, 0));
    Expr *kk = kb_v(&b, kb_for_k(&b, "k", K_, IT_REDUCE));
    Expr *xc[2] = {m, kk}, *wc[2] = {kk, n}, *yc[2] = {m, n};
    kb_assign(&b, acc, ke_bin(a, B_ADD, kb_v(&b, acc), ke_bin(a, B_MUL, ke_load(a, p, bx, kb_flat(&b, &sx, xc)),
                                                                 ke_load(a, p, bw, kb_flat(&b, &sw, wc)))));
    kb_end(&b);
    Expr *v = ke_bin(a, B_ADD, kb_v(&b, acc), ke_load(a, p, bb, n));
    int e = kb_let(&b, "e", v);
    kb_store(&b, by, kb_flat(&b, &sy, yc), ke_bin(a, B_MAX, kb_v(&b, e), ke_float(a, DT_F32, 0)));
    kb_end(&b);
    kb_end(&b);
    return p;
}

/* y[b, m, n] = sum_k x[b, m, k] * w[b, k, n], w a weight of its own per
 * batch (a batched MatMul by a constant): w cannot be one packed panel,
 * so it is read in place like a runtime operand, and still blocked. */
static Program *build_bmm_weight(Arena *a)
{
    enum { BB = 3, BM = 9, BK = 21, BN = 40 };
    Program *p = prog_new(a, "t");
    Shape sx = {3, {BB, BM, BK}}, sw = {3, {BB, BK, BN}}, sy = {3, {BB, BM, BN}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &sx);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    int bw = prog_add_buf(p, "w", BUF_WEIGHT, DT_F32, &sw);
    p->bufs[bw].data = weights(a, BB * BK * BN, 3);
    p->bufs[by].index = 0;
    Kernel *k = prog_add_kernel(p, "k0_bmm");
    KB b;
    kb_init(&b, p, k);
    Expr *bt = kb_v(&b, kb_for_k(&b, "b", BB, IT_DATA));
    Expr *m = kb_v(&b, kb_for_k(&b, "m", BM, IT_DATA));
    Expr *n = kb_v(&b, kb_for_k(&b, "n", BN, IT_DATA));
    int acc = kb_let(&b, "acc", ke_float(a, DT_F32, 0));
    Expr *kk = kb_v(&b, kb_for_k(&b, "k", BK, IT_REDUCE));
    Expr *xc[3] = {bt, m, kk}, *wc[3] = {bt, kk, n}, *yc[3] = {bt, m, n};
    kb_assign(&b, acc, ke_bin(a, B_ADD, kb_v(&b, acc), ke_bin(a, B_MUL, ke_load(a, p, bx, kb_flat(&b, &sx, xc)),
                                                                 ke_load(a, p, bw, kb_flat(&b, &sw, wc)))));
    kb_end(&b);
    kb_store(&b, by, kb_flat(&b, &sy, yc), kb_v(&b, acc));
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    return p;
}

/* y[m, n] = sum_k x[m, k] * z[k, n] with both operands inputs: the vector
 * operand is read in place. */
static Program *build_matmul_rt(Arena *a)
{
    Program *p = prog_new(a, "t");
    Shape sx = {2, {M_, K_}}, sz = {2, {K_, N_}}, sy = {2, {M_, N_}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &sx);
    int bz = prog_add_buf(p, "z", BUF_INPUT, DT_F32, &sz);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    p->bufs[bz].index = 1;
    Kernel *k = prog_add_kernel(p, "k0_mm");
    KB b;
    kb_init(&b, p, k);
    Expr *m = kb_v(&b, kb_for_k(&b, "m", M_, IT_DATA));
    Expr *n = kb_v(&b, kb_for_k(&b, "n", N_, IT_DATA));
    int acc = kb_let(&b, "acc", ke_float(a, DT_F32, 0));
    Expr *kk = kb_v(&b, kb_for_k(&b, "k", K_, IT_REDUCE));
    Expr *xc[2] = {m, kk}, *zc[2] = {kk, n}, *yc[2] = {m, n};
    kb_assign(&b, acc, ke_bin(a, B_ADD, kb_v(&b, acc), ke_bin(a, B_MUL, ke_load(a, p, bx, kb_flat(&b, &sx, xc)),
                                                                 ke_load(a, p, bz, kb_flat(&b, &sz, zc)))));
    kb_end(&b);
    kb_store(&b, by, kb_flat(&b, &sy, yc), kb_v(&b, acc));
    kb_end(&b);
    kb_end(&b);
    return p;
}

/* The same with B too large for the cache (260 x 260): packed at run time
 * into scratch before the tiles read it. */
static Program *with_sizes(Arena *a, BuildFn build, int m, int k, int n)
{
    int m0 = M_, k0 = K_, n0 = N_;
    M_ = m, K_ = k, N_ = n;
    Program *p = build(a);
    M_ = m0, K_ = k0, N_ = n0;
    return p;
}

static Program *build_matmul_rt_big(Arena *a) { return with_sizes(a, build_matmul_rt, 5, 260, 260); }

/* A valid 3x3 convolution over a 2-row, 9x11 image with 5 output
 * channels: y[m, oh, ow] = bias[m] + sum_{c, kh, kw} x[c, oh+kh, ow+kw] *
 * w[m, c, kh, kw]; the output pixels are the tile's rows. */
static Program *build_conv(Arena *a)
{
    Program *p = prog_new(a, "t");
    int C = 2, H = 9, W = 11, Mo = 5, OH = 7, OW = 9;
    Shape sx = {3, {C, H, W}}, sw = {4, {Mo, C, 3, 3}}, sb = {1, {Mo}}, sy = {3, {Mo, OH, OW}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &sx);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    int bw = prog_add_buf(p, "w", BUF_WEIGHT, DT_F32, &sw);
    int bb = prog_add_buf(p, "b", BUF_WEIGHT, DT_F32, &sb);
    p->bufs[bw].data = weights(a, Mo * C * 9, 3);
    p->bufs[bb].data = weights(a, Mo, 4);
    Kernel *k = prog_add_kernel(p, "k0_conv");
    KB b;
    kb_init(&b, p, k);
    Expr *m = kb_v(&b, kb_for_k(&b, "m", Mo, IT_DATA));
    Expr *oh = kb_v(&b, kb_for_k(&b, "oh", OH, IT_DATA));
    Expr *ow = kb_v(&b, kb_for_k(&b, "ow", OW, IT_DATA));
    int acc = kb_let(&b, "acc", ke_load(a, p, bb, m));
    Expr *c = kb_v(&b, kb_for_k(&b, "c", C, IT_REDUCE));
    Expr *kh = kb_v(&b, kb_for_k(&b, "kh", 3, IT_REDUCE));
    Expr *kw = kb_v(&b, kb_for_k(&b, "kw", 3, IT_REDUCE));
    Expr *xc[3] = {c, ke_bin(a, B_ADD, oh, kh), ke_bin(a, B_ADD, ow, kw)}, *wc[4] = {m, c, kh, kw};
    Expr *yc[3] = {m, oh, ow};
    kb_assign(&b, acc, ke_bin(a, B_ADD, kb_v(&b, acc), ke_bin(a, B_MUL, ke_load(a, p, bx, kb_flat(&b, &sx, xc)),
                                                                 ke_load(a, p, bw, kb_flat(&b, &sw, wc)))));
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    kb_store(&b, by, kb_flat(&b, &sy, yc), kb_v(&b, acc));
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    return p;
}

/* Softmax-like rows: s = sum_j exp(x[i, j]); y[i, j] = exp(x[i, j]) / s,
 * 3 rows of 21: a vectorized reduction with a masked tail, then an
 * elementwise loop. */
static Program *build_rows(Arena *a)
{
    Program *p = prog_new(a, "t");
    Shape s = {2, {3, 21}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    Kernel *k = prog_add_kernel(p, "k0_rows");
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for_k(&b, "i", 3, IT_DATA));
    int sum = kb_let(&b, "s", ke_float(a, DT_F32, 0));
    Expr *j = kb_v(&b, kb_for_k(&b, "j", 21, IT_REDUCE));
    Expr *ij[2] = {i, j};
    kb_assign(&b, sum, ke_bin(a, B_ADD, kb_v(&b, sum), ke_un(a, U_EXP, ke_load(a, p, bx, kb_flat(&b, &s, ij)))));
    kb_end(&b);
    Expr *j2 = kb_v(&b, kb_for_k(&b, "j", 21, IT_DATA));
    Expr *ij2[2] = {i, j2};
    kb_store(&b, by, kb_flat(&b, &s, ij2),
             ke_bin(a, B_DIV, ke_un(a, U_EXP, ke_load(a, p, bx, kb_flat(&b, &s, ij2))), kb_v(&b, sum)));
    kb_end(&b);
    kb_end(&b);
    return p;
}

/* Max pooling 3x3 stride 1 over a 1-pixel padded 6x19 image, as lowering
 * writes it (a guarded tap): vectorized across the output row with masks. */
static Program *build_pool(Arena *a)
{
    Program *p = prog_new(a, "t");
    int H = 6, W = 19;
    Shape s = {2, {H, W}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    Kernel *k = prog_add_kernel(p, "k0_pool");
    KB b;
    kb_init(&b, p, k);
    Expr *oh = kb_v(&b, kb_for_k(&b, "oh", H, IT_DATA));
    Expr *ow = kb_v(&b, kb_for_k(&b, "ow", W, IT_DATA));
    int acc = kb_let(&b, "acc", ke_lowest(a, DT_F32));
    Expr *kh = kb_v(&b, kb_for_k(&b, "kh", 3, IT_REDUCE));
    Expr *kw = kb_v(&b, kb_for_k(&b, "kw", 3, IT_REDUCE));
    Expr *ih = ke_bin(a, B_SUB, ke_bin(a, B_ADD, oh, kh), ke_idx(a, 1));
    Expr *iw = ke_bin(a, B_SUB, ke_bin(a, B_ADD, ow, kw), ke_idx(a, 1));
    Expr *in = ke_bin(a, B_AND, ke_bin(a, B_AND, ke_bin(a, B_GE, ih, ke_idx(a, 0)), ke_bin(a, B_LT, ih, ke_idx(a, H))),
                      ke_bin(a, B_AND, ke_bin(a, B_GE, iw, ke_idx(a, 0)), ke_bin(a, B_LT, iw, ke_idx(a, W))));
    kb_if(&b, in);
    Expr *xc[2] = {ih, iw}, *yc[2] = {oh, ow};
    kb_assign(&b, acc, ke_bin(a, B_MAX, kb_v(&b, acc), ke_load(a, p, bx, kb_flat(&b, &s, xc))));
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    kb_store(&b, by, kb_flat(&b, &s, yc), kb_v(&b, acc));
    kb_end(&b);
    kb_end(&b);
    return p;
}

/* A depthwise 3x3 convolution with padding 1, as lowering writes it: a
 * zero-bordered copy xp of the input in a scratch buffer, filled by one
 * nest over the channels, then read by the convolution's nest over the
 * same channels (slice.c fuses them and keeps one padded plane).
 * `reduce_channels` makes it a full convolution instead (output channel m
 * reads every input channel): then the nests must stay apart. */
static int dwC = 3, dwH = 5, dwW = 13;

static Program *build_dw_pad_either(Arena *a, int reduce_channels)
{
    Program *p = prog_new(a, "t");
    int C = dwC, H = dwH, W = dwW;
    Shape sx = {3, {C, H, W}}, sp = {3, {C, H + 2, W + 2}}, sw = {3, {C, 3, 3}}, sy = {3, {C, H, W}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &sx);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    int bw = prog_add_buf(p, "w", BUF_WEIGHT, DT_F32, &sw);
    int bp = prog_add_buf(p, "xp", BUF_ARENA, DT_F32, &sp);
    p->bufs[bw].data = weights(a, C * 9, 5);
    Kernel *k = prog_add_kernel(p, "k0_dw");
    KB b;
    kb_init(&b, p, k);
    Expr *c = kb_v(&b, kb_for_k(&b, "c", C, IT_DATA));
    Expr *i = kb_v(&b, kb_for_k(&b, "i", H + 2, IT_DATA));
    Expr *j = kb_v(&b, kb_for_k(&b, "j", W + 2, IT_DATA));
    Expr *xi = ke_bin(a, B_SUB, i, ke_idx(a, 1)), *xj = ke_bin(a, B_SUB, j, ke_idx(a, 1));
    Expr *in = ke_bin(a, B_AND, ke_bin(a, B_AND, ke_bin(a, B_GE, xi, ke_idx(a, 0)), ke_bin(a, B_LT, xi, ke_idx(a, H))),
                      ke_bin(a, B_AND, ke_bin(a, B_GE, xj, ke_idx(a, 0)), ke_bin(a, B_LT, xj, ke_idx(a, W))));
    Expr *pc[3] = {c, i, j}, *xc[3] = {c, xi, xj};
    kb_if(&b, in);
    kb_store(&b, bp, kb_flat(&b, &sp, pc), ke_load(a, p, bx, kb_flat(&b, &sx, xc)));
    kb_else(&b);
    kb_store(&b, bp, kb_flat(&b, &sp, pc), ke_float(a, DT_F32, 0));
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    Expr *m = kb_v(&b, kb_for_k(&b, "m", C, IT_DATA));
    Expr *oh = kb_v(&b, kb_for_k(&b, "oh", H, IT_DATA));
    Expr *ow = kb_v(&b, kb_for_k(&b, "ow", W, IT_DATA));
    int acc = kb_let(&b, "acc", ke_float(a, DT_F32, 0));
    Expr *cc = m;
    if (reduce_channels)
        cc = kb_v(&b, kb_for_k(&b, "ci", C, IT_REDUCE));
    Expr *kh = kb_v(&b, kb_for_k(&b, "kh", 3, IT_REDUCE));
    Expr *kw = kb_v(&b, kb_for_k(&b, "kw", 3, IT_REDUCE));
    Expr *rc[3] = {cc, ke_bin(a, B_ADD, oh, kh), ke_bin(a, B_ADD, ow, kw)}, *wc[3] = {m, kh, kw}, *yc[3] = {m, oh, ow};
    kb_assign(&b, acc, ke_bin(a, B_ADD, kb_v(&b, acc), ke_bin(a, B_MUL, ke_load(a, p, bp, kb_flat(&b, &sp, rc)),
                                                                 ke_load(a, p, bw, kb_flat(&b, &sw, wc)))));
    kb_end(&b);
    kb_end(&b);
    if (reduce_channels)
        kb_end(&b);
    kb_store(&b, by, kb_flat(&b, &sy, yc), kb_v(&b, acc));
    kb_end(&b);
    kb_end(&b);
    kb_end(&b);
    return p;
}

static Program *build_dw_pad(Arena *a) { return build_dw_pad_either(a, 0); }
static Program *build_conv_pad(Arena *a) { return build_dw_pad_either(a, 1); }

/* 16 channels of 40x40: enough work to be split over two threads */
static Program *build_dw_pad_big(Arena *a)
{
    dwC = 16, dwH = 40, dwW = 40;
    Program *p = build_dw_pad_either(a, 0);
    dwC = 3, dwH = 5, dwW = 13;
    return p;
}

/* ------------------------------------------------------------- running */

/* Run every kernel of p on inputs filled from `seed`; outputs land in
 * out[] (one array per output buffer, in buffer order). */
static int run(Program *p, float **outs, Diag *d)
{
    Arena *a = arena_new();
    void **mem = arena_alloc(a, sizeof(void *) * (size_t)p->nbufs);
    int no = 0;
    for (int i = 0; i < p->nbufs; i++) {
        Buffer *b = &p->bufs[i];
        size_t bytes = (size_t)b->numel * (size_t)dtype_size(b->dtype) + 64;
        if (b->kind == BUF_WEIGHT) {
            mem[i] = (void *)b->data;
        } else if (b->kind == BUF_INPUT) {
            float *x = arena_alloc(a, bytes);
            for (int64_t j = 0; j < b->numel; j++)
                x[j] = (float)((j * 7919 + i * 104729) % 1000) / 500.0f - 1.0f;
            mem[i] = x;
        } else if (b->kind == BUF_OUTPUT) {
            mem[i] = outs[no++];
        } else {
            mem[i] = arena_alloc(a, bytes);
        }
    }
    int rc = 0;
    for (int k = 0; k < p->nkernels && !rc; k++)
        rc = kernel_interp(p, &p->kernels[k], mem, d);
    arena_free(a);
    return rc;
}

/* Count vector stores, vector locals and local buffers left in p. */
typedef struct Shape_ {
    int vstores, vlets, locals;
} Facts;

/* locals: stores to kernel-local memory inside a reduction loop, where a
 * register tile must live in registers. */
static void facts_block(const Program *p, const Stmt *s, int in_reduce, Facts *f)
{
    for (; s; s = s->next) {
        if (s->kind == S_STORE && s->index->lanes > 1)
            f->vstores++;
        if (s->kind == S_STORE && p->bufs[s->buf].kind == BUF_LOCAL && in_reduce)
            f->locals++;
        int r = in_reduce || (s->kind == S_LOOP && s->iter == IT_REDUCE);
        facts_block(p, s->body, r, f);
        facts_block(p, s->els, r, f);
    }
}

static Facts facts(const Program *p)
{
    Facts f = {0, 0, 0};
    for (int i = 0; i < p->nkernels; i++) {
        facts_block(p, p->kernels[i].body, 0, &f);
        for (int v = 0; v < p->kernels[i].nvars; v++)
            f.vlets += p->kernels[i].vars[v].lanes > 1;
    }
    return f;
}

static int64_t out_numel(Program *p)
{
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].kind == BUF_OUTPUT)
            return p->bufs[i].numel;
    return 0;
}

/* Build, run plain, schedule for m, run again, compare. want_tile: the
 * schedule must have promoted a register tile (no local stores left). */
static void check_case(const char *name, BuildFn build, const Machine *m, int want_vector)
{
    Arena *a = arena_new();
    Diag d = {.file = name};
    Program *ref = build(a), *opt = build(a);
    int64_t n = out_numel(ref);
    float *want = arena_alloc(a, sizeof(float) * (size_t)n), *got = arena_alloc(a, sizeof(float) * (size_t)n);
    CHECK_MSG(prog_verify(ref, &d) == 0 && run(ref, &want, &d) == 0, "%s: %s", name, d.msg);
    prog_threads(opt, m);
    int rc = prog_simplify(opt, &d) || prog_fuse_slices(opt, &d) || prog_verify(opt, &d) ||
             prog_contract(opt, m, &d) || prog_widen(opt, m, &d) || prog_verify(opt, &d) ||
             prog_schedule(opt, m, &d) || prog_verify(opt, &d) || prog_vectorize(opt, &d) ||
             prog_verify(opt, &d) || prog_unroll(opt, &d) || prog_simplify(opt, &d) || prog_verify(opt, &d) ||
             prog_promote(opt, &d) || prog_verify(opt, &d);
    CHECK_MSG(rc == 0, "%s on %s: %s", name, m->name, d.msg);
    if (rc && getenv("KILN_TEST_DUMP"))
        prog_dump(opt, stdout);
    if (rc) {
        arena_free(a);
        return;
    }
    Facts f = facts(opt);
    if (want_vector)
        CHECK_MSG(f.vstores > 0 && f.vlets > 0, "%s on %s: not vectorized", name, m->name);
    CHECK_MSG(f.locals == 0, "%s on %s: %d stores to local memory left in a reduction", name, m->name, f.locals);
    CHECK_MSG(run(opt, &got, &d) == 0, "%s on %s: %s", name, m->name, d.msg);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (1e-5 + fabs(want[i]));
        if (!(e <= worst))
            worst = e;
    }
    CHECK_MSG(worst < 1e-4, "%s on %s: results differ (worst relative error %g)", name, m->name, worst);
    if (!(worst < 1e-4) && getenv("KILN_TEST_DUMP"))
        prog_dump(opt, stdout);
    arena_free(a);
}

static void test_passes_keep_results(void)
{
    static const char *machines[] = {"x86-64-avx2", "x86-64-avx512", "aarch64", "generic"};
    for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++) {
        const Machine *m = machine_find(machines[i]);
        CHECK(m != NULL);
        if (!m)
            continue;
        check_case("matmul", build_matmul, m, 1);
        check_case("matmul_rt", build_matmul_rt, m, 1);
        check_case("matmul_rt_big", build_matmul_rt_big, m, 1);
        check_case("bmm_weight", build_bmm_weight, m, 1);
        if (m->vec_bytes >= 32) {
            /* and it is register blocked */
            Arena *a = arena_new();
            Diag d = {.file = "bmm_weight"};
            Program *p = build_bmm_weight(a);
            CHECK_MSG(contract_kernel(p, &p->kernels[0], m, &d) == 1, "bmm_weight on %s: not register blocked",
                      m->name);
            arena_free(a);
        }
        check_case("conv", build_conv, m, 1);
        check_case("rows", build_rows, m, 1);
        check_case("pool", build_pool, m, 1);
        check_case("dw_pad", build_dw_pad, m, 1);
        check_case("conv_pad", build_conv_pad, m, 1);
        Machine two = *m;
        two.threads = 2; /* parallel marks do not change results */
        two.par_work = 0;
        check_case("conv_threads", build_conv, &two, 1);
        check_case("dw_pad_threads", build_dw_pad_big, &two, 1);
    }
}

/* A MatMul of more rows than one register tile holds (K blocks pay only
 * when several row blocks read a panel). */
static Program *build_matmul_tall(Arena *a) { return with_sizes(a, build_matmul, 64, 48, 40); }

/* A buffer labelled `label` in p? */
static int has_buf(const Program *p, const char *label)
{
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].label && !strcmp(p->bufs[i].label, label))
            return 1;
    return 0;
}

/* K blocking: on a machine whose L2 cannot hold a weight panel, the
 * contraction carries partial sums between blocks of the reduction
 * (a "partial" scratch buffer), and the results stay the same. */
static void test_k_blocking(void)
{
    static const char *machines[] = {"x86-64-avx2", "x86-64-avx512"};
    for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++) {
        Machine small = *machine_find(machines[i]);
        small.l2 = 2048;
        Arena *a = arena_new();
        Diag d = {.file = "kblock"};
        Program *p = build_matmul_tall(a);
        CHECK(prog_simplify(p, &d) == 0 && prog_contract(p, &small, &d) == 0 && prog_verify(p, &d) == 0);
        CHECK_MSG(has_buf(p, "partial"), "matmul on %s with a 2 KiB L2: no K blocks", small.name);
        Program *big = build_matmul_tall(a);
        CHECK(prog_simplify(big, &d) == 0 && prog_contract(big, machine_find(machines[i]), &d) == 0);
        CHECK_MSG(!has_buf(big, "partial"), "matmul on %s: K blocks where the panel fits L2", machines[i]);
        arena_free(a);
        check_case("matmul_kblock", build_matmul_tall, &small, 1);
        check_case("conv_kblock", build_conv, &small, 1);
        small.threads = 2;
        small.par_work = 0;
        check_case("conv_kblock_threads", build_conv, &small, 1);
    }
}

/* Top-level statements of p's first kernel. */
static int top_statements(const Program *p)
{
    int n = 0;
    for (const Stmt *s = p->kernels[0].body; s; s = s->next)
        n++;
    return n;
}

/* slice.c fuses the depthwise nests and shrinks the scratch to one plane;
 * it leaves the full convolution (every channel read per output channel)
 * alone; with two threads the fused loop is split in two chunks with a
 * plane each, and only the chunk loop is made parallel. */
static void test_fuse_slices(void)
{
    Arena *a = arena_new();
    Diag d = {.file = "fuse"};
    Program *dw = build_dw_pad(a), *conv = build_conv_pad(a);
    Program *dw2 = build_dw_pad_big(a), *unfused = build_dw_pad_big(a);
    dw2->threads = unfused->threads = 2;
    CHECK(prog_fuse_slices(dw, &d) == 0 && prog_verify(dw, &d) == 0);
    CHECK_MSG(top_statements(dw) == 1, "depthwise: %d top-level nests after fusion, want 1", top_statements(dw));
    CHECK_MSG(dw->bufs[3].numel == 7 * 15, "depthwise: scratch of %lld elements, want one plane (105)",
              (long long)dw->bufs[3].numel);
    CHECK(prog_fuse_slices(conv, &d) == 0 && top_statements(conv) == 2 && conv->bufs[3].numel == 3 * 7 * 15);
    Machine m = *machine_find("x86-64-avx2");
    m.threads = 2;
    m.par_work = 0; /* a small program, made parallel all the same */
    CHECK(prog_fuse_slices(dw2, &d) == 0 && top_statements(dw2) == 1 && prog_contract(dw2, &m, &d) == 0 &&
          prog_schedule(dw2, &m, &d) == 0);
    const Stmt *chunks = dw2->kernels[0].body;
    int64_t nch = 0;
    CHECK_MSG(chunks->loop == L_PARALLEL && ke_is_const(chunks->extent, &nch) && nch == 2,
              "two threads: want a parallel loop of 2 chunks");
    CHECK_MSG(dw2->bufs[3].numel == 2 * 42 * 42, "two threads: scratch of %lld elements, want 2 planes (3528)",
              (long long)dw2->bufs[3].numel);
    /* unfused, the same nests are made parallel (so the check above can fail) */
    CHECK(prog_contract(unfused, &m, &d) == 0 && prog_schedule(unfused, &m, &d) == 0 &&
          unfused->kernels[0].body->loop == L_PARALLEL);
    arena_free(a);
}

/* Buffers of p whose label ends in "_wide" (widen.c's scratch). */
static int wide_buffers(const Program *p)
{
    int n = 0;
    for (int i = 0; i < p->nbufs; i++) {
        size_t l = strlen(p->bufs[i].label);
        n += l >= 5 && !strcmp(p->bufs[i].label + l - 5, "_wide");
    }
    return n;
}

/* widen.c computes the depthwise rows of 13 (pitch 15) as one run; it
 * leaves the full convolution (a contraction, register blocked first)
 * and a program on two threads alone. */
static void test_widen(void)
{
    Arena *a = arena_new();
    Diag d = {.file = "widen"};
    const Machine *m = machine_find("x86-64-avx512");
    Program *dw = build_dw_pad(a), *conv = build_conv_pad(a), *dw2 = build_dw_pad(a);
    dw2->threads = 2;
    Program *ps[3] = {dw, conv, dw2};
    for (int i = 0; i < 3; i++)
        CHECK(prog_simplify(ps[i], &d) == 0 && prog_fuse_slices(ps[i], &d) == 0 && prog_contract(ps[i], m, &d) == 0 &&
              prog_widen(ps[i], m, &d) == 0 && prog_verify(ps[i], &d) == 0);
    CHECK_MSG(wide_buffers(dw) == 1, "depthwise rows of 13: %d wide runs, want 1", wide_buffers(dw));
    CHECK_MSG(wide_buffers(conv) == 0, "full convolution widened");
    CHECK_MSG(wide_buffers(dw2) == 0, "two threads widened");
    arena_free(a);
}


/* divmod.c: the divisions and remainders of a tile's decoded pixels lose
 * the tile offset (a tile of 16 pixels in rows of 32 shares a row; 6 in
 * rows of 6 is one row), and nothing that could change a value changes:
 * a dividend that may be negative, a rest that may cross a row. Every
 * form is computed in the interpreter before and after. */
static int count_divmod(const Expr *e)
{
    if (!e)
        return 0;
    int n = e->kind == E_BINARY && (e->op == B_DIV || e->op == B_MOD);
    return n + count_divmod(e->a) + count_divmod(e->b) + count_divmod(e->c);
}

/* The dividend of the first division or remainder in e, or NULL. */
static const Expr *dividend(const Expr *e)
{
    if (!e)
        return NULL;
    if (e->kind == E_BINARY && (e->op == B_DIV || e->op == B_MOD))
        return e->a;
    const Expr *x = dividend(e->a);
    x = x ? x : dividend(e->b);
    return x ? x : dividend(e->c);
}

static void test_divmod(void)
{
    Arena *a = arena_new();
    Diag d = {.file = "test"};
    Program *p = prog_new(a, "t");
    enum { NMB = 7, NJ = 16, NFORMS = 9 };
    Shape s = {3, {NFORMS, NMB, NJ}};
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_I64, &s);
    Kernel *k = prog_add_kernel(p, "k0_divmod");
    KB b;
    kb_init(&b, p, k);
    Expr *mb = kb_v(&b, kb_for_k(&b, "mb", NMB, IT_DATA));
    Expr *j = kb_v(&b, kb_for_k(&b, "j", NJ, IT_DATA));
    Expr *c16 = ke_idx(a, 16), *c32 = ke_idx(a, 32), *c6 = ke_idx(a, 6);
    Expr *x16 = ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, c16), j);                    /* mb*16 + j */
    Expr *x6 = ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, c6), ke_bin(a, B_MOD, j, c6)); /* mb*6 + j%6 */
    Expr *forms[NFORMS] = {
        ke_bin(a, B_DIV, x16, c32),                                        /* -> (mb*16)/32 */
        ke_bin(a, B_MOD, x16, c32),                                        /* -> (mb*16)%32 + j */
        ke_bin(a, B_DIV, x6, c6),                                          /* -> mb */
        ke_bin(a, B_MOD, ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, ke_idx(a, 64)), j), c32), /* -> j */
        ke_bin(a, B_DIV, ke_bin(a, B_SUB, x16, ke_idx(a, 1)), c32),        /* may be -1: kept */
        ke_bin(a, B_DIV, ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, c16), ke_bin(a, B_MUL, j, ke_idx(a, 3))), c32), /* crosses rows: kept */
        ke_bin(a, B_MOD, ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, ke_idx(a, 8)), j), ke_idx(a, 12)), /* 8 does not divide 12: kept */
        ke_bin(a, B_DIV, ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, c16), ke_idx(a, 6)), c32), /* -> (mb*16)/32 */
        ke_bin(a, B_MOD, ke_bin(a, B_ADD, ke_bin(a, B_MUL, mb, c16), ke_idx(a, 22)), c32), /* -> (mb*16+16)%32 + 6 */
    };
    for (int f = 0; f < NFORMS; f++) {
        Expr *ix[3] = {ke_idx(a, f), mb, j};
        kb_store(&b, by, kb_flat(&b, &s, ix), ke_cast(a, DT_I64, forms[f]));
    }
    kb_end(&b);
    kb_end(&b);
    int64_t before[NFORMS * NMB * NJ], after[NFORMS * NMB * NJ];
    void *mem[1] = {before};
    CHECK(!kernel_interp(p, k, mem, &d));
    CHECK(!prog_divmod(p, &d) && !prog_verify(p, &d));
    mem[0] = after;
    CHECK(!kernel_interp(p, k, mem, &d));
    for (int i = 0; i < NFORMS * NMB * NJ; i++)
        CHECK_MSG(before[i] == after[i], "form %d, mb %d, j %d: %lld before, %lld after", i / (NMB * NJ),
                  i / NJ % NMB, i % NJ, (long long)before[i], (long long)after[i]);
    /* what was rewritten: one division or remainder left in each of the
     * first two forms and the last two (of mb*16 alone, the constant's
     * part below 16 taken out), none in the next two */
    int want[NFORMS] = {1, 1, 0, 0, 1, 1, 1, 1, 1};
    int f = 0;
    for (const Stmt *st = k->body->body->body; st && f < NFORMS; st = st->next, f++)
        CHECK_MSG(count_divmod(st->value) == want[f], "form %d: %d divisions or remainders left, want %d", f,
                  count_divmod(st->value), want[f]);
    CHECK(f == NFORMS);
    /* the last two divide mb*16 (and mb*16 + 16) alone */
    const Stmt *last = k->body->body->body;
    for (int i = 0; i < 7 && last; i++)
        last = last->next;
    Expr *mb16 = ke_bin(a, B_MUL, mb, c16);
    CHECK(last && last->next && ke_equal(dividend(last->value), mb16) &&
          ke_equal(dividend(last->next->value), ke_bin(a, B_ADD, mb16, c16)));
    arena_free(a);
}

/* ------------------------------------------------------------- gpumap */

/* The threads of the launches of p (blocks times threads, summed) and
 * whether every kernel's top level is launches only. */
static int64_t gpu_threads(const Program *p, int *all_launches)
{
    int64_t total = 0, nb, nt;
    *all_launches = 1;
    for (int i = 0; i < p->nkernels; i++)
        for (const Stmt *s = p->kernels[i].body; s; s = s->next) {
            if (s->kind != S_LOOP || s->loop != L_GPU_BLOCK || !s->body || s->body->loop != L_GPU_THREAD ||
                !ke_is_const(s->extent, &nb) || !ke_is_const(s->body->extent, &nt)) {
                *all_launches = 0;
                continue;
            }
            total += nb * nt;
        }
    return total;
}

/* Map build()'s program to GPU launches: it verifies, runs in the
 * interpreter to the same outputs bit for bit (the mapping reorders no
 * arithmetic), and spreads over at least want_threads threads. */
static void check_gpu(const char *name, BuildFn build, int64_t want_threads)
{
    Arena *a = arena_new();
    Diag d = {.file = name};
    Program *ref = build(a), *gpu = build(a);
    int64_t n = out_numel(ref);
    float *want = arena_alloc(a, sizeof(float) * (size_t)n), *got = arena_alloc(a, sizeof(float) * (size_t)n);
    CHECK_MSG(prog_verify(ref, &d) == 0 && run(ref, &want, &d) == 0, "%s: %s", name, d.msg);
    int rc = prog_simplify(gpu, &d) || prog_gpumap(gpu, machine_host(), &d) || prog_verify(gpu, &d) ||
             prog_simplify(gpu, &d) || prog_divmod(gpu, &d) || prog_verify(gpu, &d);
    CHECK_MSG(rc == 0, "%s: %s", name, d.msg);
    if (getenv("KILN_TEST_DUMP"))
        prog_dump(gpu, stdout);
    int all;
    int64_t threads = gpu_threads(gpu, &all);
    CHECK_MSG(all, "%s: a kernel's top level is not GPU launches only", name);
    CHECK_MSG(threads >= want_threads, "%s: %lld GPU threads, expected at least %lld", name, (long long)threads,
              (long long)want_threads);
    CHECK_MSG(!rc && run(gpu, &got, &d) == 0, "%s: %s", name, d.msg);
    CHECK_MSG(!memcmp(want, got, sizeof(float) * (size_t)n), "%s: results differ after mapping", name);
    arena_free(a);
}

/* y[0] = sum_i x[i], y[1] = y[0] * 2: a let and stores at the top level,
 * which must run as one block of one thread. */
static Program *build_total(Arena *a)
{
    Program *p = prog_new(a, "t");
    Shape sx = {1, {50}}, sy = {1, {2}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &sx);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    Kernel *k = prog_add_kernel(p, "k0_total");
    KB b;
    kb_init(&b, p, k);
    int acc = kb_let(&b, "acc", ke_float(a, DT_F32, 0));
    Expr *i = kb_v(&b, kb_for_k(&b, "i", 50, IT_REDUCE));
    kb_assign(&b, acc, ke_bin(a, B_ADD, kb_v(&b, acc), ke_load(a, p, bx, i)));
    kb_end(&b);
    kb_store(&b, by, ke_idx(a, 0), kb_v(&b, acc));
    kb_store(&b, by, ke_idx(a, 1), ke_bin(a, B_MUL, kb_v(&b, acc), ke_float(a, DT_F32, 2)));
    return p;
}

/* A prefix sum y[i] = y[i-1] + x[i]: an IT_SERIAL loop, one thread. */
static Program *build_scan(Arena *a)
{
    Program *p = prog_new(a, "t");
    Shape s = {1, {300}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    Kernel *k = prog_add_kernel(p, "k0_scan");
    KB b;
    kb_init(&b, p, k);
    kb_store(&b, by, ke_idx(a, 0), ke_load(a, p, bx, ke_idx(a, 0)));
    Expr *i = kb_v(&b, kb_for_k(&b, "i", 299, IT_SERIAL));
    Expr *i1 = ke_bin(a, B_ADD, i, ke_idx(a, 1));
    kb_store(&b, by, i1, ke_bin(a, B_ADD, ke_load(a, p, by, i), ke_load(a, p, bx, i1)));
    kb_end(&b);
    return p;
}

static void test_gpumap(void)
{
    check_gpu("matmul", build_matmul, (int64_t)M_ * N_);       /* one thread per output, a guarded block */
    check_gpu("matmul_tall", build_matmul_tall, 64 * 40);
    check_gpu("conv", build_conv, 5 * 7 * 9);
    check_gpu("rows", build_rows, 3);                          /* one thread per row */
    check_gpu("pool", build_pool, 6 * 19);
    check_gpu("dw_pad", build_dw_pad, 3 * 7 * 15);             /* two launches, in order */
    check_gpu("conv_pad", build_conv_pad, 3 * 5 * 13);
    check_gpu("dw_pad_big", build_dw_pad_big, 16 * 42 * 42);
    check_gpu("total", build_total, 1);
    check_gpu("scan", build_scan, 1);
    /* the scan and the total run on exactly one thread */
    Arena *a = arena_new();
    Diag d = {.file = "gpumap"};
    Program *p = build_scan(a);
    int all;
    CHECK(prog_gpumap(p, machine_host(), &d) == 0 && gpu_threads(p, &all) == 1 && all);
    p = build_total(a);
    CHECK(prog_gpumap(p, machine_host(), &d) == 0 && gpu_threads(p, &all) == 1 && all);
    /* the verifier rejects a GPU thread loop that is not in a block loop */
    p = build_total(a);
    CHECK(prog_gpumap(p, machine_host(), &d) == 0 && prog_verify(p, &d) == 0);
    p->kernels[0].body = p->kernels[0].body->body;
    CHECK(prog_verify(p, &d) != 0 && strstr(d.msg, "GPU"));
    /* and a launch beside other statements at the top */
    d = (Diag){.file = "gpumap"};
    p = build_scan(a);
    CHECK(prog_gpumap(p, machine_host(), &d) == 0);
    Stmt *extra = stmt_new(a, S_STORE);
    extra->buf = 1;
    extra->index = ke_idx(a, 0);
    extra->value = ke_float(a, DT_F32, 0);
    extra->next = p->kernels[0].body;
    p->kernels[0].body = extra;
    CHECK_MSG(prog_verify(p, &d) != 0 && strstr(d.msg, "top level"), "%s", d.msg);
    arena_free(a);
}

/* gpumap places a kernel on strings (a runtime call) on the host and maps
 * the numeric one after it; the verifier holds both placements. */
static void test_gpumap_host(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {1, {300}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_STRING, &s);
    int be = prog_add_buf(p, "e", BUF_ARENA, DT_BOOL, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    Kernel *k = prog_add_kernel(p, "k0_eq");
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for_k(&b, "i", 300, IT_DATA));
    Expr *eq[3] = {ke_load(a, p, bx, i), ke_load(a, p, bx, ke_idx(a, 0)), ke_load(a, p, be, i)};
    kb_call(&b, "kiln_str_eq", eq, 3, 1);
    kb_end(&b);
    k = prog_add_kernel(p, "k1_cast");
    kb_init(&b, p, k);
    i = kb_v(&b, kb_for_k(&b, "i", 300, IT_DATA));
    kb_store(&b, by, i, ke_cast(a, DT_F32, ke_load(a, p, be, i)));
    kb_end(&b);
    Diag d = {.file = "gpumap"};
    CHECK(prog_gpumap(p, machine_host(), &d) == 0 && prog_verify(p, &d) == 0);
    CHECK(p->kernels[0].host && !p->kernels[1].host);
    CHECK(p->kernels[0].body->loop == L_SERIAL && p->kernels[1].body->loop == L_GPU_BLOCK);
    p->kernels[0].host = 0;
    CHECK_MSG(prog_verify(p, &d) != 0 && strstr(d.msg, "not placed on the host"), "%s", d.msg);
    p->kernels[0].host = 1;
    p->kernels[1].host = 1;
    d = (Diag){.file = "gpumap"};
    CHECK_MSG(prog_verify(p, &d) != 0 && strstr(d.msg, "placed on the host has GPU launches"), "%s", d.msg);
    arena_free(a);
}

int main(void)
{
    RUN(test_passes_keep_results);
    RUN(test_fuse_slices);
    RUN(test_k_blocking);
    RUN(test_widen);
    RUN(test_divmod);
    RUN(test_gpumap);
    RUN(test_gpumap_host);
    return check_total_failed != 0;
}
