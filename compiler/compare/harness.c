/*
 * harness.c: the program `kiln compare` builds and runs. It reads the
 * operator's inputs from the file argv[1] (float32, the inputs in order,
 * written by kiln), runs kiln's model (libmodel.a) and the reference once
 * each and compares their outputs, then times them interleaved (warm-up
 * rounds, then rounds of one call of each side, alternating which goes
 * first, until kc.iters rounds or kc.budget_s seconds) and prints
 *
 *   kc_result kiln_ms=MEDIAN ref_ms=MEDIAN max_abs_err=.. max_rel_err=..
 *             bad=N first_bad=I n=N rounds=R peak_gflops=P
 *
 * or one line "kc_error: ..." and exit 3. The OpenBLAS reference loads
 * libopenblas.so.0 with dlopen: nothing here links it.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln_cmp.h"
#include "model.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KC_VEC_BYTES
#define KC_VEC_BYTES 16
#endif

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void fail(const char *what, const char *detail)
{
    printf("kc_error: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(3);
}

static void *alloc(int64_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(n > 0 ? n : 1) * sizeof(float)))
        fail("out of memory", NULL);
    return p;
}

/* ------------------------------------------------------------- OpenBLAS */

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void sgemm_fn(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc);
static sgemm_fn *sgemm;
static float *col; /* Conv's im2col buffer */

/* libopenblas.so.0, or the library the environment's KILN_OPENBLAS names */
static void blas_load(void)
{
    const char *lib = getenv("KILN_OPENBLAS");
    void *h = NULL;
    if (lib && *lib) {
        if (!(h = dlopen(lib, RTLD_NOW | RTLD_LOCAL)))
            fail("OpenBLAS not found: cannot load KILN_OPENBLAS", dlerror());
    } else if (!(h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL)) &&
               !(h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL))) {
        fail("OpenBLAS not found: cannot load libopenblas.so.0 (Debian's package libopenblas0)", NULL);
    }
    sgemm = (sgemm_fn *)dlsym(h, "cblas_sgemm");
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (!sgemm)
        fail("OpenBLAS has no cblas_sgemm", NULL);
    if (set_threads)
        set_threads(kc.threads);
    /* the kernels OpenBLAS chose for this CPU: a report must say so */
    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    printf("kc_blas: %s\n", corename ? corename() : "unknown");
    if (kc.op == KC_CONV) {
        const int64_t *p = kc.p;
        col = alloc(p[1] / p[15] * p[5] * p[6] * p[7] * p[8]);
    }
}

/* im2col of one group of one image: col (C/G*KH*KW, OH*OW) */
static void im2col(const float *x, const int64_t *p)
{
    int64_t cg = p[1] / p[15], H = p[2], W = p[3], KH = p[5], KW = p[6], OH = p[7], OW = p[8];
    float *c = col;
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++)
                for (int64_t oh = 0; oh < OH; oh++) {
                    int64_t ih = oh * p[9] - p[11] + kh * p[13];
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t iw = ow * p[10] - p[12] + kw * p[14];
                        *c++ = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[(ci * H + ih) * W + iw] : 0.0f;
                    }
                }
}

static void blas_ref(const float *const *in, float *out)
{
    const int64_t *p = kc.p;
    if (kc.op == KC_MATMUL) {
        int M = (int)p[0], K = (int)p[1], N = (int)p[2];
        int64_t nbatch = 1;
        for (int i = 0; i < kc.nb; i++)
            nbatch *= kc.bdims[i];
        for (int64_t b = 0; b < nbatch; b++) {
            int64_t rest = b, ao = 0, bo = 0;
            for (int i = kc.nb - 1; i >= 0; i--) {
                int64_t idx = rest % kc.bdims[i];
                rest /= kc.bdims[i];
                ao += idx * kc.astr[i];
                bo += idx * kc.bstr[i];
            }
            sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, M, N, K, 1.0f, in[0] + ao * M * K, K, in[1] + bo * K * N, N, 0.0f,
                  out + b * M * N, N);
        }
    } else if (kc.op == KC_GEMM) {
        int M = (int)p[0], K = (int)p[1], N = (int)p[2];
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++)
                out[m * N + n] = p[5] ? in[2][m * p[6] + n * p[7]] : 0.0f;
        sgemm(ROW_MAJOR, p[3] ? TRANS : NO_TRANS, p[4] ? TRANS : NO_TRANS, M, N, K, (float)kc.f[0], in[0],
              p[3] ? M : K, in[1], p[4] ? K : N, p[5] ? (float)kc.f[1] : 0.0f, out, N);
    } else {
        int64_t N = p[0], C = p[1], H = p[2], W = p[3], M = p[4], G = p[15], cg = C / G, mg = M / G;
        int64_t kk = cg * p[5] * p[6], ohw = p[7] * p[8];
        for (int64_t n = 0; n < N; n++)
            for (int64_t g = 0; g < G; g++) {
                im2col(in[0] + (n * C + g * cg) * H * W, p);
                float *y = out + (n * M + g * mg) * ohw;
                sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, (int)mg, (int)ohw, (int)kk, 1.0f, in[1] + g * mg * kk, (int)kk,
                      col, (int)ohw, 0.0f, y, (int)ohw);
                if (p[16])
                    for (int64_t m = 0; m < mg; m++)
                        for (int64_t i = 0; i < ohw; i++)
                            y[m * ohw + i] += in[2][g * mg + m];
            }
    }
}

/* ------------------------------------------------------------ the sides */

static const float *in[KC_MAX_IN];
static float *out_kiln, *out_ref;
static void *arena;

static void run_kiln(void)
{
    const void *ins[KC_MAX_IN];
    int n = 0;
    for (int k = 0; k < kc.nin; k++)
        if (kc.runtime >> k & 1)
            ins[n++] = in[k];
    void *const outs[1] = {out_kiln};
    if (model_run(ins, outs, arena))
        fail("model_run failed", NULL);
}

static void run_ref(void)
{
    if (kc.ref == KC_REF_USER) {
        void *const outs[1] = {out_ref};
        kc_user((const void *const *)in, outs);
        return;
    }
    if (kc.ref == KC_REF_OPENBLAS)
        blas_ref(in, out_ref);
    else
        kc_naive(&kc, in, out_ref);
    if (kc.relu)
        for (int64_t i = 0; i < kc.out_numel; i++)
            out_ref[i] = out_ref[i] > 0 ? out_ref[i] : 0.0f;
}

/* --------------------------------------------------------- the FMA peak */

/* GFLOP/s of one thread: 12 independent chains of vector multiply-adds
 * (contracted to FMA by -ffp-contract=fast), best of 7 tries */
typedef float vf __attribute__((vector_size(KC_VEC_BYTES)));
static double peak_gflops(void)
{
    enum { REPS = 200000, LANES = KC_VEC_BYTES / 4 };
    double best = 0;
    for (int t = 0; t < 7; t++) {
        vf a, b, c[12];
        for (int l = 0; l < LANES; l++)
            a[l] = 0.999999f, b[l] = 1e-7f;
        for (int j = 0; j < 12; j++) /* distinct chains, which no compiler merges */
            for (int l = 0; l < LANES; l++)
                c[j][l] = 1.0f + 0.001f * (float)(j * LANES + l);
        double t0 = now_ms();
        for (int r = 0; r < REPS; r++) {
#define STEP(j) c[j] = c[j] * a + b;
            STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)
#undef STEP
        }
        double ms = now_ms() - t0;
        float sink = 0;
        for (int j = 0; j < 12; j++)
            for (int l = 0; l < LANES; l++)
                sink += c[j][l]; /* every lane of every chain is used */
        if (sink == 12345.0f)
            puts("");
        double g = 2.0 * 12 * LANES * REPS / (ms * 1e6);
        best = g > best ? g : best;
    }
    return best;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        fail("usage: harness INPUTS.bin [--peak]", NULL);
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        fail("cannot open the inputs", argv[1]);
    for (int i = 0; i < kc.nin; i++) {
        float *p = alloc(kc.in_numel[i]);
        if (fread(p, sizeof(float), (size_t)kc.in_numel[i], f) != (size_t)kc.in_numel[i])
            fail("the inputs file is short", argv[1]);
        in[i] = p;
    }
    fclose(f);
    out_kiln = alloc(kc.out_numel);
    out_ref = alloc(kc.out_numel);
    arena = alloc(MODEL_ARENA_BYTES / 4 + 16);
    if (kc.ref == KC_REF_OPENBLAS)
        blas_load();

    /* agreement, on the first call of each */
    memset(out_kiln, 0xff, (size_t)kc.out_numel * sizeof(float));
    memset(out_ref, 0xff, (size_t)kc.out_numel * sizeof(float));
    run_kiln();
    run_ref();
    double max_ref = 0, max_abs = 0, max_rel = 0;
    long long bad = 0, first_bad = -1;
    for (int64_t i = 0; i < kc.out_numel; i++)
        max_ref = fabs(out_ref[i]) > max_ref ? fabs(out_ref[i]) : max_ref;
    for (int64_t i = 0; i < kc.out_numel; i++) {
        double r = out_ref[i], k = out_kiln[i], d = fabs(k - r);
        int ok = isnan(r) || isnan(k) ? 0 : d <= kc.atol + kc.rtol * fabs(r);
        if (isnan(d))
            d = INFINITY;
        max_abs = d > max_abs ? d : max_abs;
        /* relative to elements that are not tiny next to the largest */
        if (fabs(r) >= 1e-3 * max_ref && fabs(r) > 0 && d / fabs(r) > max_rel)
            max_rel = d / fabs(r);
        if (!ok && bad++ == 0)
            first_bad = i;
    }

    /* timing: warm-up, then interleaved rounds */
    int iters = kc.iters > 0 ? kc.iters : 1;
    double *tk = malloc(sizeof(double) * (size_t)iters), *tr = malloc(sizeof(double) * (size_t)iters);
    if (!tk || !tr)
        fail("out of memory", NULL);
    double start = now_ms();
    for (int w = 0; w < kc.warmup && now_ms() - start < kc.budget_s * 250; w++) {
        run_kiln();
        run_ref();
    }
    start = now_ms();
    int rounds = 0;
    while (rounds < iters && (rounds < 3 || now_ms() - start < kc.budget_s * 1e3)) {
        for (int side = 0; side < 2; side++) {
            int k = (side == 0) == (rounds % 2 == 0);
            double t0 = now_ms();
            if (k)
                run_kiln();
            else
                run_ref();
            (k ? tk : tr)[rounds] = now_ms() - t0;
        }
        rounds++;
    }
    qsort(tk, (size_t)rounds, sizeof *tk, cmp_double);
    qsort(tr, (size_t)rounds, sizeof *tr, cmp_double);
    double peak = argc > 2 && !strcmp(argv[2], "--peak") ? peak_gflops() : 0;
    printf("kc_result kiln_ms=%.6f ref_ms=%.6f max_abs_err=%.3g max_rel_err=%.3g bad=%lld first_bad=%lld n=%lld "
           "rounds=%d peak_gflops=%.2f\n",
           tk[rounds / 2], tr[rounds / 2], max_abs, max_rel, bad, first_bad, (long long)kc.out_numel, rounds, peak);
    return 0;
}
