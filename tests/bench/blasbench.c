/*
 * blasbench.c: the reference side of kiln's GEMM/conv micro-benchmark
 * (tests/bench/run.py builds and runs it). OpenBLAS is a yardstick here
 * only; kiln never links it.
 *
 *   blasbench peak THREADS               FMA peak, GFLOP/s, AVX2 and (if the
 *                                        CPU has it) AVX-512, THREADS threads:
 *                                        12 FMA chains, best of 25 short tries
 *   blasbench gemm N ITERS               C = A*B, all N x N row-major, cblas_sgemm
 *   blasbench conv CIN COUT H W KH KW SH SW PH PW ITERS
 *                                        NCHW batch 1: im2col + cblas_sgemm + bias
 *   blasbench info                       OpenBLAS config and core
 *
 * Timings (gemm, conv) run 2 warm-up calls, then ITERS timed calls, and
 * print the last line as kiln's executables do:
 *   median_ms=... p10_ms=... p90_ms=... iters=N threads=T
 * The thread count is OpenBLAS's own (OPENBLAS_NUM_THREADS).
 *
 * Build: cc -O3 -march=native blasbench.c -o blasbench -lopenblas -lpthread -lm
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *alloc_rand(size_t n, unsigned seed)
{
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, (n ? n : 1) * sizeof(float)))
        exit(fprintf(stderr, "blasbench: out of memory\n") != 0);
    unsigned s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) / (double)(1u << 24) * 2.0 - 1.0);
    }
    return p;
}

static void report(double *ms, int iters)
{
    qsort(ms, (size_t)iters, sizeof *ms, cmp_double);
    int p90 = (iters * 9) / 10 < iters ? (iters * 9) / 10 : iters - 1;
    printf("median_ms=%.4f p10_ms=%.4f p90_ms=%.4f iters=%d threads=%d\n", ms[iters / 2], ms[iters / 10], ms[p90],
           iters, openblas_get_num_threads());
}

/* ------------------------------------------------------------ FMA peak */

enum { PEAK_REPS = 4000000, PEAK_TRIES = 25 };

struct peak_arg {
    int wide;       /* 1: AVX-512 */
    double gflops;  /* result */
};

__attribute__((target("avx2,fma"))) static double peak_avx2(void)
{
    /* 12 independent chains, enough to cover the FMA latency x throughput */
    __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(0.999999f);
    __m256 c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
    long reps = PEAK_REPS / 4;
    double t0 = now_ms();
    for (long i = 0; i < reps; i++) {
        c0 = _mm256_fmadd_ps(c0, b, a); c1 = _mm256_fmadd_ps(c1, b, a); c2 = _mm256_fmadd_ps(c2, b, a);
        c3 = _mm256_fmadd_ps(c3, b, a); c4 = _mm256_fmadd_ps(c4, b, a); c5 = _mm256_fmadd_ps(c5, b, a);
        c6 = _mm256_fmadd_ps(c6, b, a); c7 = _mm256_fmadd_ps(c7, b, a); c8 = _mm256_fmadd_ps(c8, b, a);
        c9 = _mm256_fmadd_ps(c9, b, a); c10 = _mm256_fmadd_ps(c10, b, a); c11 = _mm256_fmadd_ps(c11, b, a);
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5));
        __asm__ volatile("" : "+x"(c6), "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
    }
    double t = now_ms() - t0;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float sink[8];
    _mm256_storeu_ps(sink, s);
    if (sink[0] == 12345.0f)
        printf(" ");
    return (double)reps * 12 * 8 * 2 / (t * 1e6);
}

__attribute__((target("avx512f"))) static double peak_avx512(void)
{
    __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(0.999999f);
    __m512 c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
    long reps = PEAK_REPS / 8;
    double t0 = now_ms();
    for (long i = 0; i < reps; i++) {
        c0 = _mm512_fmadd_ps(c0, b, a); c1 = _mm512_fmadd_ps(c1, b, a); c2 = _mm512_fmadd_ps(c2, b, a);
        c3 = _mm512_fmadd_ps(c3, b, a); c4 = _mm512_fmadd_ps(c4, b, a); c5 = _mm512_fmadd_ps(c5, b, a);
        c6 = _mm512_fmadd_ps(c6, b, a); c7 = _mm512_fmadd_ps(c7, b, a); c8 = _mm512_fmadd_ps(c8, b, a);
        c9 = _mm512_fmadd_ps(c9, b, a); c10 = _mm512_fmadd_ps(c10, b, a); c11 = _mm512_fmadd_ps(c11, b, a);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5));
        __asm__ volatile("" : "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    double t = now_ms() - t0;
    float sink[16];
    _mm512_storeu_ps(sink, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                                         _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)),
                                                       _mm512_add_ps(_mm512_add_ps(c8, c9),
                                                                     _mm512_add_ps(c10, c11)))));
    if (sink[0] == 12345.0f)
        printf(" ");
    return (double)reps * 12 * 16 * 2 / (t * 1e6);
}

static void *peak_thread(void *p)
{
    struct peak_arg *a = p;
    double best = 0;
    for (int r = 0; r < PEAK_TRIES; r++) { /* short tries, the best: the machine may be shared */
        double g = a->wide ? peak_avx512() : peak_avx2();
        if (g > best)
            best = g;
    }
    a->gflops = best;
    return NULL;
}

static double peak(int wide, int threads)
{
    pthread_t th[64];
    struct peak_arg args[64];
    double total = 0;
    for (int i = 0; i < threads; i++) {
        args[i].wide = wide;
        pthread_create(&th[i], NULL, peak_thread, &args[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += args[i].gflops;
    }
    return total;
}

/* ------------------------------------------------------------ kernels */

static void bench_gemm(int n, int iters)
{
    size_t nn = (size_t)n * n;
    float *A = alloc_rand(nn, 1), *B = alloc_rand(nn, 2), *C = alloc_rand(nn, 3);
    double *ms = malloc(sizeof(double) * (size_t)iters);
    for (int it = -2; it < iters; it++) {
        double t0 = now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        if (it >= 0)
            ms[it] = now_ms() - t0;
    }
    report(ms, iters);
}

/* im2col of one NCHW image: col[(c*KH + kh)*KW + kw][oh*OW + ow] */
static void im2col(const float *x, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int OH,
                   int OW, float *col)
{
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                float *dst = col + ((size_t)(c * KH + kh) * KW + kw) * OH * OW;
                const float *src = x + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * SH - PH + kh;
                    float *row = dst + (size_t)oh * OW;
                    if (ih < 0 || ih >= H) {
                        memset(row, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    const float *srow = src + (size_t)ih * W;
                    for (int ow = 0; ow < OW; ow++) {
                        int iw = ow * SW - PW + kw;
                        row[ow] = iw >= 0 && iw < W ? srow[iw] : 0.0f;
                    }
                }
            }
}

static void bench_conv(int C, int K, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int iters)
{
    int OH = (H + 2 * PH - KH) / SH + 1, OW = (W + 2 * PW - KW) / SW + 1;
    size_t kdim = (size_t)C * KH * KW, npix = (size_t)OH * OW;
    float *x = alloc_rand((size_t)C * H * W, 1), *w = alloc_rand((size_t)K * kdim, 2), *bias = alloc_rand(K, 3);
    float *col = alloc_rand(kdim * npix, 4), *y = alloc_rand((size_t)K * npix, 5);
    double *ms = malloc(sizeof(double) * (size_t)iters);
    for (int it = -2; it < iters; it++) {
        double t0 = now_ms();
        const float *b = x;
        if (!(KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0)) {
            im2col(x, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW, col);
            b = col;
        }
        for (int k = 0; k < K; k++) /* bias first, then accumulate (beta = 1) */
            for (size_t p = 0; p < npix; p++)
                y[(size_t)k * npix + p] = bias[k];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, (int)npix, (int)kdim, 1.0f, w, (int)kdim, b,
                    (int)npix, 1.0f, y, (int)npix);
        if (it >= 0)
            ms[it] = now_ms() - t0;
    }
    report(ms, iters);
}

static int usage(void)
{
    fprintf(stderr, "usage: blasbench peak THREADS | gemm N ITERS | conv CIN COUT H W KH KW SH SW PH PW ITERS | info\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "info")) {
        printf("config=%s\ncore=%s\nthreads=%d\n", openblas_get_config(), openblas_get_corename(),
               openblas_get_num_threads());
        return 0;
    }
    if (!strcmp(argv[1], "peak") && argc == 3) {
        int t = atoi(argv[2]);
        if (t < 1 || t > 64)
            return usage();
        __builtin_cpu_init();
        printf("avx2_fma_gflops=%.1f\n", __builtin_cpu_supports("fma") ? peak(0, t) : 0.0);
        printf("avx512_fma_gflops=%.1f\n", __builtin_cpu_supports("avx512f") ? peak(1, t) : 0.0);
        return 0;
    }
    if (!strcmp(argv[1], "gemm") && argc == 4) {
        int n = atoi(argv[2]), iters = atoi(argv[3]);
        if (n < 1 || iters < 1)
            return usage();
        bench_gemm(n, iters);
        return 0;
    }
    if (!strcmp(argv[1], "conv") && argc == 13) {
        int v[11];
        for (int i = 0; i < 11; i++)
            v[i] = atoi(argv[2 + i]);
        if (v[0] < 1 || v[1] < 1 || v[4] < 1 || v[5] < 1 || v[6] < 1 || v[7] < 1 || v[10] < 1)
            return usage();
        bench_conv(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
        return 0;
    }
    return usage();
}
