/*
 * test_kernel.c: the Kernel IR by itself: the expression constructors'
 * simplifications, the builder, the interpreter's semantics (which constant
 * folding relies on), the verifier, simplify and arena planning; one case
 * of the C printer.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "check.h"
#include "kernel/kernel.h"
#include "../runtime/kiln_str.h"
#include "../targets/target.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* y[j, i] = 2 * a[i, j] for a 2x3 input, run by the interpreter */
static void test_build_and_interp(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape sa = {2, {2, 3}}, sy = {2, {3, 2}};
    int ba = prog_add_buf(p, "a", BUF_INPUT, DT_F32, &sa);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &sy);
    Kernel *k = prog_add_kernel(p, "k0_t");
    KB b;
    kb_init(&b, p, k);
    int i = kb_for(&b, "i", 2);
    int j = kb_for(&b, "j", 3);
    Expr *ij[2] = {kb_v(&b, i), kb_v(&b, j)}, *ji[2] = {kb_v(&b, j), kb_v(&b, i)};
    kb_store(&b, by, kb_flat(&b, &sy, ji),
             ke_bin(a, B_MUL, ke_float(a, DT_F32, 2), ke_load(a, p, ba, kb_flat(&b, &sa, ij))));
    kb_end(&b);
    kb_end(&b);
    Diag d = {.file = "t"};
    CHECK(prog_verify(p, &d) == 0);
    float in[6] = {1, 2, 3, 4, 5, 6}, out[6] = {0};
    void *mem[2] = {in, out};
    CHECK(kernel_interp(p, k, mem, &d) == 0);
    float want[6] = {2, 8, 4, 10, 6, 12};
    CHECK(memcmp(out, want, sizeof want) == 0);
    arena_free(a);
}

static void test_constructors_simplify(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Kernel *k = prog_add_kernel(p, "k");
    int v = kernel_add_var(p, k, "x", DT_INDEX);
    int f = kernel_add_var(p, k, "f", DT_F32);
    Expr *x = ke_var(a, k, v), *fx = ke_var(a, k, f);
    int64_t c;
    CHECK(ke_bin(a, B_ADD, x, ke_idx(a, 0)) == x);
    CHECK(ke_bin(a, B_MUL, ke_idx(a, 1), x) == x);
    CHECK(ke_is_const(ke_bin(a, B_MUL, x, ke_idx(a, 0)), &c) && c == 0);
    CHECK(ke_is_const(ke_bin(a, B_MUL, ke_idx(a, 3), ke_idx(a, 4)), &c) && c == 12);
    /* float x + 0 is not x (-0 + 0 = +0): it must stay */
    CHECK(ke_bin(a, B_ADD, fx, ke_float(a, DT_F32, 0)) != fx);
    CHECK(ke_bin(a, B_MUL, fx, ke_float(a, DT_F32, 1)) == fx);
    /* narrow integer constants wrap at their width */
    CHECK(ke_int(a, DT_I8, 200)->i == -56);
    CHECK(ke_int(a, DT_U8, -1)->i == 255);
    /* compares are bool; a constant select picks its arm */
    CHECK(ke_bin(a, B_LT, x, x)->type == DT_BOOL);
    CHECK(ke_select(a, ke_int(a, DT_BOOL, 1), x, ke_idx(a, 7)) == x);
    /* names are unique per kernel */
    int v2 = kernel_add_var(p, k, "x", DT_INDEX);
    CHECK(strcmp(k->vars[v2].name, "x") != 0);
    /* substitution rebuilds through the folding constructors */
    Expr *e = ke_bin(a, B_ADD, ke_bin(a, B_MUL, x, ke_idx(a, 5)), ke_idx(a, 2));
    CHECK(ke_is_const(ke_subst(a, e, v, ke_idx(a, 3)), &c) && c == 17);
    CHECK(ke_equal(ke_subst(a, e, v2, ke_idx(a, 3)), e));
    arena_free(a);
}

/* Run a one-store kernel y[0] = e and return y[0] as a double. */
static int eval1(Program *p, Kernel *k, Expr *e, DType t, double *out)
{
    Shape s = {1, {1}};
    int by = prog_add_buf(p, "y", BUF_OUTPUT, t, &s);
    KB b;
    kb_init(&b, p, k);
    kb_store(&b, by, ke_idx(p->arena, 0), e);
    double storage[2] = {0, 0};
    void **mem = arena_alloc(p->arena, sizeof(void *) * (size_t)p->nbufs);
    mem[by] = storage;
    Diag d = {.file = "t"};
    int rc = kernel_interp(p, k, mem, &d);
    *out = dtype_get_f(t, storage, 0);
    return rc;
}

static void test_interp_semantics(void)
{
    Arena *a = arena_new();
    double r;
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* int8: 100 + 100 wraps to -56, as the C code's cast does */
        KB b;
        kb_init(&b, p, k);
        int u = kb_let(&b, "u", ke_int(a, DT_I8, 100));
        Expr *e = ke_bin(a, B_ADD, ke_var(a, k, u), ke_var(a, k, u));
        CHECK(eval1(p, k, e, DT_I8, &r) == 0 && r == -56);
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* f32 arithmetic rounds to float: 1 + 1e-8 == 1 */
        Expr *e = ke_bin(a, B_ADD, ke_float(a, DT_F32, 1), ke_float(a, DT_F32, 1e-8));
        CHECK(eval1(p, k, e, DT_F32, &r) == 0 && r == 1.0);
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* max propagates NaN from either side, like numpy */
        KB b;
        kb_init(&b, p, k);
        int z = kb_let(&b, "z", ke_float(a, DT_F32, NAN));
        Expr *e = ke_bin(a, B_MAX, ke_float(a, DT_F32, 1), ke_var(a, k, z));
        CHECK(eval1(p, k, e, DT_F32, &r) == 0 && isnan(r));
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* u64 divides unsigned: (2^64 - 2) / 2 */
        Expr *e = ke_bin(a, B_DIV, ke_int(a, DT_U64, -2), ke_int(a, DT_U64, 2));
        uint64_t want = UINT64_MAX / 2;
        CHECK(eval1(p, k, e, DT_U64, &r) == 0 && (uint64_t)r == (uint64_t)(double)want);
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* round is half to even */
        Expr *e = ke_un(a, U_ROUND, ke_float(a, DT_F32, 2.5));
        CHECK(eval1(p, k, e, DT_F32, &r) == 0 && r == 2.0);
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* bitcast reads the bits: f32 1.0 is 0x3f800000 */
        Expr *e = ke_bitcast(a, DT_I32, ke_float(a, DT_F32, 1.0));
        CHECK(eval1(p, k, e, DT_I32, &r) == 0 && r == 0x3f800000);
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* f16 values compute as floats: their bits are those of the stored f16 (-2.0 is 0xc000) */
        Expr *e = ke_bitcast(a, DT_U16, ke_float(a, DT_F16, -2.0));
        CHECK(eval1(p, k, e, DT_U16, &r) == 0 && r == 0xc000);
        Program *q = prog_new(a, "t");
        Kernel *kq = prog_add_kernel(q, "k");
        e = ke_bitcast(a, DT_F16, ke_int(a, DT_I16, 0x3c00));
        CHECK(eval1(q, kq, e, DT_F16, &r) == 0 && r == 1.0);
    }
    {
        Program *p = prog_new(a, "t");
        Kernel *k = prog_add_kernel(p, "k");
        /* an out-of-bounds store is an error, not a write */
        Shape s = {1, {1}};
        int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
        KB b;
        kb_init(&b, p, k);
        kb_store(&b, by, ke_idx(a, 1), ke_float(a, DT_F32, 0));
        float y[2] = {7, 7};
        void *mem[1] = {y};
        Diag d = {.file = "t"};
        CHECK(kernel_interp(p, k, mem, &d) != 0);
        CHECK(strstr(d.msg, "outside") != NULL);
        CHECK(y[1] == 7);
    }
    arena_free(a);
}

static void test_verify_rejects(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {1, {4}};
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    Kernel *k = prog_add_kernel(p, "k_bad");
    KB b;
    kb_init(&b, p, k);
    int i = kb_for(&b, "i", 4);
    /* f32 + i32 without a cast */
    Expr *bad = ke_bin(a, B_ADD, ke_float(a, DT_F32, 1), ke_int(a, DT_I32, 1));
    kb_store(&b, by, kb_v(&b, i), bad);
    kb_end(&b);
    Diag d = {.file = "t"};
    CHECK(prog_verify(p, &d) != 0);
    CHECK(strstr(d.msg, "k_bad") && strstr(d.msg, "add of f32 and i32"));

    /* a bitcast between types of different widths */
    Kernel *kw = prog_add_kernel(p, "k_width");
    kb_init(&b, p, kw);
    kb_store(&b, by, ke_idx(a, 0), ke_cast(a, DT_F32, ke_bitcast(a, DT_I64, ke_float(a, DT_F32, 1))));
    Program w = *p;
    w.kernels = kw;
    w.nkernels = 1;
    Diag dw = {.file = "t"};
    CHECK(prog_verify(&w, &dw) != 0);
    CHECK(strstr(dw.msg, "bitcast of f32 to i64") != NULL);

    /* a loop variable read after its loop */
    Kernel *k2 = prog_add_kernel(p, "k_scope");
    kb_init(&b, p, k2);
    int j = kb_for(&b, "j", 4);
    kb_end(&b);
    kb_store(&b, by, ke_var(a, k2, j), ke_float(a, DT_F32, 0));
    Program q = *p;
    q.kernels = k2;
    q.nkernels = 1;
    Diag d2 = {.file = "t"};
    CHECK(prog_verify(&q, &d2) != 0);
    CHECK(strstr(d2.msg, "outside its scope") != NULL);

    /* parallel loops: one inside a serial loop may read its variable, but
     * not assign a variable from outside, nor hold another parallel loop */
    Shape s2 = {1, {16}};
    int bz = prog_add_buf(p, "z", BUF_OUTPUT, DT_F32, &s2);
    for (int c = 0; c < 3; c++) {
        Kernel *kp = prog_add_kernel(p, "k_par");
        kb_init(&b, p, kp);
        Expr *t = kb_v(&b, kb_for(&b, "t", 4));
        int acc = kb_let(&b, "acc", ke_float(a, DT_F32, 0));
        Expr *u = kb_v(&b, kb_for_k(&b, "u", 4, IT_DATA));
        Stmt *outer = kp->body->body->next; /* for t: let acc; for u */
        Expr *at = ke_bin(a, B_ADD, ke_bin(a, B_MUL, t, ke_idx(a, 4)), u);
        if (c == 1)
            kb_assign(&b, acc, ke_float(a, DT_F32, 1));
        if (c == 2) {
            Expr *v = kb_v(&b, kb_for_k(&b, "v", 1, IT_DATA));
            kb_store(&b, bz, ke_bin(a, B_ADD, at, v), kb_v(&b, acc));
            kb_end(&b);
            outer->body->loop = L_PARALLEL;
        } else
            kb_store(&b, bz, at, kb_v(&b, acc));
        kb_end(&b);
        kb_end(&b);
        outer->loop = L_PARALLEL;
        Program pp = *p;
        pp.kernels = kp;
        pp.nkernels = 1;
        Diag dp = {.file = "t"};
        if (c == 0)
            CHECK_MSG(prog_verify(&pp, &dp) == 0, "%s", dp.msg);
        else
            CHECK(prog_verify(&pp, &dp) != 0 &&
                  strstr(dp.msg, c == 1 ? "assigns a variable declared outside" : "inside a parallel loop"));
    }
    arena_free(a);
}

static void test_simplify_unit_loops(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {2, {1, 4}};
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_INDEX, &s);
    Kernel *k = prog_add_kernel(p, "k");
    KB b;
    kb_init(&b, p, k);
    int n = kb_for(&b, "n", 1);
    int c = kb_for(&b, "c", 4);
    Expr *nc[2] = {kb_v(&b, n), kb_v(&b, c)};
    kb_store(&b, by, ke_bin(a, B_ADD, ke_bin(a, B_MUL, nc[0], ke_idx(a, 4)), nc[1]),
             ke_bin(a, B_ADD, nc[0], nc[1]));
    kb_end(&b);
    kb_end(&b);
    Diag d = {.file = "t"};
    CHECK(prog_simplify(p, &d) == 0);
    CHECK(prog_verify(p, &d) == 0);
    /* the n loop is gone: the body starts with the c loop, storing y[c] = c */
    Stmt *top = k->body;
    CHECK(top && top->kind == S_LOOP && top->var == c && !top->next);
    Stmt *st = top ? top->body : NULL;
    CHECK(st && st->kind == S_STORE && st->index->kind == E_VAR && st->value->kind == E_VAR);
    /* a loop of extent 0 disappears */
    Kernel *k2 = prog_add_kernel(p, "k0");
    kb_init(&b, p, k2);
    kb_for(&b, "z", 0);
    kb_store(&b, by, ke_idx(a, 0), ke_idx(a, 1));
    kb_end(&b);
    CHECK(prog_simplify(p, &d) == 0);
    CHECK(k2->body == NULL);
    arena_free(a);
}

/* A kernel that stores to each buffer of `writes` the sum of element 0 of
 * each buffer of `reads`. */
static void touch(Program *p, const char *name, const int *writes, int nw, const int *reads, int nr)
{
    Kernel *k = prog_add_kernel(p, name);
    KB b;
    kb_init(&b, p, k);
    Expr *v = ke_float(p->arena, DT_F32, 0);
    for (int i = 0; i < nr; i++)
        v = ke_bin(p->arena, B_ADD, v, ke_load(p->arena, p, reads[i], ke_idx(p->arena, 0)));
    for (int i = 0; i < nw; i++)
        kb_store(&b, writes[i], ke_idx(p->arena, 0), v);
}

static void test_plan_reuses_by_liveness(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {1, {100}}; /* 400 bytes, 448 aligned */
    int t0 = prog_add_buf(p, "t0", BUF_ARENA, DT_F32, &s);
    int t1 = prog_add_buf(p, "t1", BUF_ARENA, DT_F32, &s);
    int t2 = prog_add_buf(p, "t2", BUF_ARENA, DT_F32, &s);
    Shape w = {1, {3}};
    int wb = prog_add_buf(p, "w", BUF_WEIGHT, DT_F32, &w);
    int out = prog_add_buf(p, "out", BUF_OUTPUT, DT_F32, &w);
    static const float wd[3] = {1, 2, 3};
    p->bufs[wb].data = wd;
    /* k0 writes t0; k1 reads t0 writes t1; k2 reads t1 writes t2; k3 reads t2 */
    touch(p, "k0", &t0, 1, &wb, 1);
    touch(p, "k1", &t1, 1, &t0, 1);
    touch(p, "k2", &t2, 1, &t1, 1);
    touch(p, "k3", &out, 1, &t2, 1);
    Diag d = {.file = "t"};
    CHECK(prog_plan(p, &d) == 0);
    const Buffer *b0 = &p->bufs[t0], *b1 = &p->bufs[t1], *b2 = &p->bufs[t2];
    CHECK(b0->first == 0 && b0->last == 1 && b2->first == 2 && b2->last == 3);
    /* t0 and t2 are never live together: one slot serves both */
    CHECK(b0->offset == b2->offset);
    CHECK(b1->offset != b0->offset);
    CHECK(p->arena_bytes == 2 * 448);
    CHECK(b0->offset % 64 == 0 && b1->offset % 64 == 0);
    CHECK(p->weight_bytes == 64 && p->bufs[wb].offset == 0);
    arena_free(a);
}

/* Splitting a loop (by a divisor and by a non-divisor) keeps the results. */
static void test_split_keeps_results(void)
{
    for (int factor = 2; factor <= 4; factor++) {
        Arena *a = arena_new();
        Program *p = prog_new(a, "t");
        Shape s = {1, {10}};
        int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &s);
        int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
        Kernel *k = prog_add_kernel(p, "k");
        KB b;
        kb_init(&b, p, k);
        int i = kb_for(&b, "i", 10);
        Expr *ix = kb_v(&b, i);
        /* y[i] = x[9 - i] * i */
        kb_store(&b, by, ix,
                 ke_bin(a, B_MUL, ke_load(a, p, bx, ke_bin(a, B_SUB, ke_idx(a, 9), ix)), ke_cast(a, DT_F32, ix)));
        kb_end(&b);
        Stmt *inner = NULL;
        CHECK(loop_split(p, k, k->body, factor, &inner) == 0);
        Diag d = {.file = "t"};
        CHECK(prog_verify(p, &d) == 0);
        int64_t e;
        CHECK(inner && k->body->body == inner);
        CHECK(ke_is_const(inner->extent, &e) == (10 % factor == 0));
        float x[10], y[10];
        for (int j = 0; j < 10; j++)
            x[j] = (float)j + 0.5f;
        void *mem[2] = {x, y};
        CHECK(kernel_interp(p, k, mem, &d) == 0);
        for (int j = 0; j < 10; j++)
            CHECK(y[j] == x[9 - j] * (float)j);
        arena_free(a);
    }
}


/* The C printer gives a constant shifted left its type: 1 << s of u64
 * printed as an int would shift an int (wrong from s = 31 on). */
static void test_c_shift_constant(void)
{
    Arena *a = arena_new();
    Diag d = {.file = "test"};
    Program *p = prog_new(a, "t");
    Shape s = {1, {4}};
    int bx = prog_add_buf(p, "s", BUF_INPUT, DT_U64, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_U64, &s);
    p->bufs[by].index = 0;
    p->ninputs = p->noutputs = 1;
    p->inputs = &bx;
    p->outputs = &by;
    Kernel *k = prog_add_kernel(p, "k0_shl");
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for(&b, "i", 4));
    kb_store(&b, by, i, ke_bin(a, B_SHL, ke_int(a, DT_U64, 1), ke_load(a, p, bx, i)));
    kb_end(&b);
    char dir[] = "/tmp/kiln-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    EmitOptions eo = {.prefix = "model"};
    CHECK_MSG(cemit_program(p, dir, &eo, &d) == 0, "%s", d.msg);
    char path[128], text[16384];
    snprintf(path, sizeof path, "%s/model.c", dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "(uint64_t)1 << ") != NULL, "1 << s printed without its type");
    const char *files[] = {"model.c", "model.h", "weights.bin", "weights.S"};
    for (size_t j = 0; j < sizeof files / sizeof files[0]; j++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[j]);
        unlink(path);
    }
    rmdir(dir);
    arena_free(a);
}

/* S_CALL: load arguments are addresses, the last nout written. kernel_uses
 * counts a written one as a write (the C parameter is not const), the
 * verifier refuses a call that writes a weight, the dump marks the written
 * ones, and the C printer declares the routine and passes addresses. */
static void test_call_args(void)
{
    Arena *a = arena_new();
    Diag d = {.file = "test"};
    Program *p = prog_new(a, "t");
    Shape s = {1, {4}};
    static const float wdata[4] = {1, 2, 3, 4};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &s);
    int bw = prog_add_buf(p, "w", BUF_WEIGHT, DT_F32, &s);
    int bt = prog_add_buf(p, "t", BUF_ARENA, DT_F32, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    p->bufs[bw].data = wdata;
    p->bufs[by].index = 0;
    p->ninputs = p->noutputs = 1;
    p->inputs = &bx;
    p->outputs = &by;
    Kernel *k = prog_add_kernel(p, "k0_call");
    Stmt *call = stmt_new(a, S_CALL);
    call->routine = "user_fn";
    call->nargs = 3;
    call->nout = 1;
    call->args = arena_alloc(a, sizeof(Expr *) * 3);
    call->args[0] = ke_load(a, p, bx, ke_idx(a, 0));
    call->args[1] = ke_load(a, p, bw, ke_idx(a, 0));
    call->args[2] = ke_load(a, p, bt, ke_idx(a, 0));
    k->body = call;
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for(&b, "i", 4));
    kb_store(&b, by, i, ke_load(a, p, bt, i));
    kb_end(&b);
    CHECK_MSG(prog_verify(p, &d) == 0, "%s", d.msg);
    KUse *use;
    int n = kernel_uses(k, a, &use), rw[4] = {0};
    for (int j = 0; j < n; j++)
        rw[use[j].buf] = use[j].rw;
    CHECK(rw[bx] == KU_READ && rw[bw] == KU_READ && (rw[bt] & KU_WRITE) && rw[by] == KU_WRITE);

    char *dump = NULL;
    size_t dlen = 0;
    FILE *m = open_memstream(&dump, &dlen);
    prog_dump(p, m);
    fclose(m);
    CHECK_MSG(strstr(dump, "call user_fn(&") && strstr(dump, " -> &"), "dump: %s", dump);
    free(dump);

    char dir[] = "/tmp/kiln-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    EmitOptions eo = {.prefix = "model"};
    CHECK_MSG(cemit_program(p, dir, &eo, &d) == 0, "%s", d.msg);
    char path[128], text[16384];
    snprintf(path, sizeof path, "%s/model.c", dir);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[len] = 0;
    if (f)
        fclose(f);
    CHECK_MSG(strstr(text, "void user_fn(const float *, const float *, float *);") != NULL, "no prototype: %s", text);
    CHECK_MSG(strstr(text, "user_fn(&x0_x[0], &w1_w[0], &t2_t[0]);") != NULL, "no call of addresses: %s", text);
    CHECK_MSG(strstr(text, ", float *restrict t2_t") != NULL, "the written buffer is const: %s", text);
    const char *files[] = {"model.c", "model.h", "weights.bin", "weights.S"};
    for (size_t j = 0; j < sizeof files / sizeof files[0]; j++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[j]);
        unlink(path);
    }
    rmdir(dir);

    /* a call may not write a weight or an input */
    call->nout = 2;
    Diag d2 = {.file = "test"};
    CHECK(prog_verify(p, &d2) != 0 && strstr(d2.msg, "not the address of a writable buffer"));
    arena_free(a);
}

/* model_run's slots (Buffer.group, form): a sequence's elements share one
 * model input, a slot of nothing holds no elements, and anything else is
 * rejected by the verifier. */
static void test_verify_slots(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s = {1, {4}}, none = {1, {0}};
    int b0 = prog_add_buf(p, "x0", BUF_INPUT, DT_F32, &s);
    int b1 = prog_add_buf(p, "x1", BUF_INPUT, DT_F32, &s);
    int b2 = prog_add_buf(p, "o", BUF_INPUT, DT_F32, &none);
    int ins[3] = {b0, b1, b2};
    p->inputs = ins;
    p->ninputs = 3;
    p->bufs[b1].index = 1;
    p->bufs[b2].index = 2;
    p->bufs[b0].form = p->bufs[b1].form = IO_SEQ; /* one sequence of two */
    p->bufs[b2].group = 1;
    p->bufs[b2].form = IO_OPT | IO_NONE; /* then an absent optional */
    Diag d = {.file = "test"};
    CHECK_MSG(prog_verify(p, &d) == 0, "%s", d.msg);
    p->bufs[b1].form = 0; /* two plain tensors cannot share one input */
    Diag d1 = {.file = "test"};
    CHECK(prog_verify(p, &d1) != 0 && strstr(d1.msg, "not one sequence's"));
    p->bufs[b1].form = IO_SEQ;
    p->bufs[b2].numel = 4; /* a slot of nothing with elements */
    Diag d2 = {.file = "test"};
    CHECK(prog_verify(p, &d2) != 0 && strstr(d2.msg, "holds nothing"));
    p->bufs[b2].numel = 0;
    p->bufs[b2].group = 3; /* a model input skipped */
    Diag d3 = {.file = "test"};
    CHECK(prog_verify(p, &d3) != 0 && strstr(d3.msg, "belongs to value 3 after value 0"));
    arena_free(a);
}

/* The CUDA dialect: a kernel mapped by gpumap.c prints as a __global__
 * function launched by a host function; an index that provably fits in
 * an int is printed as one, an index read from memory keeps 64 bits. */
static void test_cuda_print(void)
{
    Arena *a = arena_new();
    Diag d = {.file = "test"};
    Program *p = prog_new(a, "t");
    Shape s = {1, {1000}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_F32, &s);
    int bi = prog_add_buf(p, "ix", BUF_INPUT, DT_I64, &s);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_F32, &s);
    int bz = prog_add_buf(p, "z", BUF_OUTPUT, DT_F32, &s);
    p->bufs[bi].index = p->bufs[bi].group = 1;
    p->bufs[bz].index = p->bufs[bz].group = 1;
    int ins[2] = {bx, bi}, outs[2] = {by, bz};
    p->ninputs = p->noutputs = 2;
    p->inputs = ins;
    p->outputs = outs;
    KB b;
    kb_init(&b, p, prog_add_kernel(p, "k0_twice"));
    Expr *i = kb_v(&b, kb_for_k(&b, "i", 1000, IT_DATA));
    kb_store(&b, by, i, ke_bin(a, B_MUL, ke_load(a, p, bx, i), ke_float(a, DT_F32, 2)));
    kb_end(&b);
    kb_init(&b, p, prog_add_kernel(p, "k1_gather"));
    i = kb_v(&b, kb_for_k(&b, "i", 1000, IT_DATA));
    Expr *j = ke_cast(a, DT_INDEX, ke_load(a, p, bi, i));
    kb_store(&b, bz, i, ke_load(a, p, bx, j));
    kb_end(&b);
    CHECK_MSG(prog_gpumap(p, machine_host(), &d) == 0 && prog_verify(p, &d) == 0 && prog_plan(p, &d) == 0, "%s",
              d.msg);
    char dir[] = "/tmp/kiln-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    EmitOptions eo = {.prefix = "model"};
    CHECK_MSG(cuda_program(p, dir, &eo, &d) == 0, "%s", d.msg);
    char path[128], text[16384];
    snprintf(path, sizeof path, "%s/model.cu", dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    const char *k0 = strstr(text, "__global__ void k0_twice_l0("), *k1 = strstr(text, "__global__ void k1_gather_l0(");
    CHECK_MSG(k0 && k1, "no __global__ functions");
    CHECK_MSG(k0 && strstr(k0, "const int blk = blockIdx.x;") && strstr(k0, "const int thr = threadIdx.x;") &&
                  strstr(k0, "if (blk * 256 + thr < 1000)"),
              "k0: no 32-bit block and thread indices or no bounds test");
    CHECK_MSG(k1 && strstr(k1, "const ptrdiff_t blk = blockIdx.x;"), "k1: an index read from memory in an int");
    CHECK_MSG(strstr(text, "k0_twice_l0<<<4, 256, 0, kiln_cuda_stream>>>("), "k0: no launch of 4 blocks of 256");
    CHECK_MSG(strstr(text, "extern \"C\" int model_run(") && strstr(text, "kiln_cuda_setup(model_weights"),
              "no host side");
    const char *files[] = {"model.cu", "model.h", "weights.bin", "weights.S"};
    for (size_t m = 0; m < sizeof files / sizeof files[0]; m++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[m]);
        unlink(path);
    }
    rmdir(dir);
    arena_free(a);
}

/* String buffers: calls of the kiln_str routines on element addresses,
 * run by the interpreter, with the pool filling up; the verifier refuses a
 * string value anywhere but a call's argument. */
static void test_strings(void)
{
    Arena *a = arena_new();
    Program *p = prog_new(a, "t");
    Shape s3 = {1, {3}}, sp = {1, {16 + 16}};
    int bx = prog_add_buf(p, "x", BUF_INPUT, DT_STRING, &s3);
    int by = prog_add_buf(p, "y", BUF_OUTPUT, DT_STRING, &s3);
    int be = prog_add_buf(p, "e", BUF_OUTPUT, DT_BOOL, &s3);
    int bp = prog_add_buf(p, "pool", BUF_ARENA, DT_U8, &sp);
    p->str_pool = bp;
    Kernel *k = prog_add_kernel(p, "k0_t");
    KB b;
    kb_init(&b, p, k);
    Expr *i = kb_v(&b, kb_for_k(&b, "i", 3, IT_SERIAL));
    Expr *cat[5] = {ke_load(a, p, bx, i), ke_load(a, p, bx, i), ke_idx(a, 16), ke_load(a, p, bp, ke_idx(a, 0)),
                    ke_load(a, p, by, i)};
    kb_call(&b, "kiln_str_concat", cat, 5, 2);
    Expr *eq[3] = {ke_load(a, p, bx, i), ke_load(a, p, bx, ke_idx(a, 0)), ke_load(a, p, be, i)};
    kb_call(&b, "kiln_str_eq", eq, 3, 1);
    kb_end(&b);
    Diag d = {.file = "t"};
    CHECK(prog_verify(p, &d) == 0);
    KilnStr x[3] = {{"ab", 2}, {"hello", 5}, {"ab", 2}}, y[3];
    unsigned char e[3], pool[32] = {0};
    void *mem[4] = {x, y, e, pool};
    CHECK(kernel_interp(p, k, mem, &d) == 0);
    int64_t st[2];
    memcpy(st, pool, sizeof st);
    CHECK(y[0].len == 4 && !memcmp(y[0].ptr, "abab", 4));
    CHECK(y[1].len == 10 && !memcmp(y[1].ptr, "hellohello", 10));
    CHECK(y[2].len == 0 && st[0] == 14 && st[1] == KILN_STR_ERR_BYTES); /* 4 more do not fit in 16 */
    CHECK(e[0] == 1 && e[1] == 0 && e[2] == 1);
    /* a string stored as a value */
    kb_store(&b, by, ke_idx(a, 0), ke_load(a, p, bx, ke_idx(a, 1)));
    Diag d2 = {.file = "t"};
    CHECK(prog_verify(p, &d2) != 0 && strstr(d2.msg, "a string value outside a call's arguments"));
    arena_free(a);
}

/* The regex engine on what RE2's full match gives. */
static void test_regex(void)
{
    static const struct {
        const char *pat, *s;
        int want;
    } cases[] = {
        {"a*b", "aaab", 1},        {"a*b", "aaa", 0},         {"(ab|c)+", "abcab", 1},
        {"(ab|c)+", "", 0},        {"[a-c]{2,3}", "abc", 1}, {"[a-c]{2,3}", "abca", 0},
        {"[^0-9]+", "x-y", 1},     {"[^0-9]+", "x1", 0},      {"\\d+\\.\\d*", "12.", 1},
        {"\\bfoo\\b.*", "foo bar", 1}, {"x\\Bfoo", "xfoo", 1}, {"(a|ab)(c|bcd)", "abcd", 1},
        {"(^|x)y($|z)", "y", 1},   {"(a*)*b", "aaaaaaaaaaaaaaaaaaaaaac", 0}, {"", "", 1},
        {"a?", "", 1},             {"[\\w.-]+@[a-z]+", "j.d-x@mail", 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char err[128];
        const uint8_t *pat = (const uint8_t *)cases[c].pat;
        CHECK_MSG(kiln_str_regex_check(pat, strlen(cases[c].pat), err, sizeof err) == 0, "%s: %s", cases[c].pat,
                  err);
        kiln_str x = {cases[c].s, (int64_t)strlen(cases[c].s)};
        unsigned char pool[16] = {0}, got = 2;
        kiln_str_regex(&x, pat, (ptrdiff_t)strlen(cases[c].pat), pool, &got);
        CHECK_MSG(got == cases[c].want, "'%s' on '%s': %d", cases[c].pat, cases[c].s, got);
    }
    static const char *bad[] = {"(?=a)", "a{2,1}", "*a", "(a", "a)", "[b-a]", "\\1", "a**", "[[:alpha:]]"};
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        char err[128];
        CHECK_MSG(kiln_str_regex_check((const uint8_t *)bad[c], strlen(bad[c]), err, sizeof err) == 1, "%s", bad[c]);
    }
}

int main(void)
{
    RUN(test_build_and_interp);
    RUN(test_constructors_simplify);
    RUN(test_interp_semantics);
    RUN(test_verify_rejects);
    RUN(test_simplify_unit_loops);
    RUN(test_plan_reuses_by_liveness);
    RUN(test_split_keeps_results);
    RUN(test_c_shift_constant);
    RUN(test_call_args);
    RUN(test_verify_slots);
    RUN(test_cuda_print);
    RUN(test_strings);
    RUN(test_regex);
    return check_total_failed != 0;
}
