/*
 * mharness.c: the program `kiln compare MODEL.onnx --kernel NAME` builds
 * and runs. It links two builds of the model: kiln's (model.h, model_run,
 * from kiln/libmodel.a) and the one with the kernel swapped for the
 * user's function (swap.h, swap_run). Arguments:
 *
 *   harness INPUTS.bin ITERS WARMUP BUDGET_S KERNEL
 *
 * INPUTS.bin holds the model's inputs, dense, one after the other. It runs
 * each build once, writes their outputs to kiln_out_I.bin and
 * swap_out_I.bin (kiln compares them), then times them interleaved:
 * WARMUP untimed rounds, then rounds of one call of each, alternating
 * which goes first, until ITERS rounds or BUDGET_S seconds (at least 3
 * rounds). Both builds are profiling builds (each kernel's time added to
 * PREFIX_kernel_ms[]), and kc_swap.c adds the user's function's own time
 * to kc_func_ms: the swapped kernel's time less that is its conversions.
 * Last lines:
 *
 *   kc_kernel kiln_ms=MEDIAN swap_ms=MEDIAN func_ms=MEDIAN  (kernel KERNEL, in those rounds)
 *   kc_result kiln_ms=MEDIAN ref_ms=MEDIAN rounds=R    (the whole models)
 *
 * or one line "kc_error: ..." and exit 3.
 */
#define _POSIX_C_SOURCE 200809L
#include "model.h"
#include "swap.h"

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

static void fail(const char *what, const char *detail)
{
    printf("kc_error: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(3);
}

static void *alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1))
        fail("out of memory", NULL);
    memset(p, 0, n ? n : 1);
    return p;
}

/* Bytes of a tensor of ONNX type code `dtype` (the unpacked types; a
 * packed one of 4 or 2 bits rounds up). */
static size_t tensor_bytes(const model_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    switch (t->dtype) {
    case 1: case 6: case 12: return 4 * n;          /* f32 i32 u32 */
    case 7: case 11: case 13: return 8 * n;         /* i64 f64 u64 */
    case 4: case 5: case 10: case 16: return 2 * n; /* u16 i16 f16 bf16 */
    case 21: case 22: case 25: case 26: return (n * (t->dtype > 22 ? 2 : 4) + 7) / 8; /* u4 i4 u2 i2 */
    default: return n;                              /* bytes, bool, float8 */
    }
}

/* the profiling builds' clock (kiln_rt.c's, which libmodel.a leaves out) */
double kiln_now_ms(void) { return now_ms(); }

extern double kc_func_ms; /* kc_swap.c */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const void *ins[MODEL_NUM_INPUTS + 1];
static void *out_kiln[MODEL_NUM_OUTPUTS + 1], *out_swap[MODEL_NUM_OUTPUTS + 1];
static void *arena_kiln, *arena_swap;

static void run_kiln(void)
{
    if (model_run(ins, out_kiln, arena_kiln))
        fail("model_run failed", NULL);
}

static void run_swap(void)
{
    if (swap_run(ins, out_swap, arena_swap))
        fail("swap_run failed", NULL);
}

int main(int argc, char **argv)
{
    if (argc < 6)
        fail("usage: harness INPUTS.bin ITERS WARMUP BUDGET_S KERNEL", NULL);
    int iters = atoi(argv[2]), warmup = atoi(argv[3]), kernel = atoi(argv[5]);
    if (kernel < 0 || kernel >= MODEL_NUM_KERNELS || kernel >= SWAP_NUM_KERNELS)
        fail("no such kernel", argv[5]);
    double budget_s = atof(argv[4]);
    if (iters < 1)
        iters = 1;
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        fail("cannot open the inputs", argv[1]);
    for (int i = 0; i < MODEL_NUM_INPUTS; i++) {
        size_t n = tensor_bytes(&model_inputs[i]);
        void *p = alloc(n);
        if (fread(p, 1, n, f) != n)
            fail("the inputs file is short", argv[1]);
        ins[i] = p;
    }
    fclose(f);
    for (int i = 0; i < MODEL_NUM_OUTPUTS; i++) {
        out_kiln[i] = alloc(tensor_bytes(&model_outputs[i]));
        out_swap[i] = alloc(tensor_bytes(&swap_outputs[i]));
        /* what neither build writes differs */
        memset(out_kiln[i], 0x7f, tensor_bytes(&model_outputs[i]));
        memset(out_swap[i], 0xff, tensor_bytes(&swap_outputs[i]));
    }
    arena_kiln = alloc(MODEL_ARENA_BYTES);
    arena_swap = alloc(SWAP_ARENA_BYTES);

    /* the outputs of one run each, for kiln to compare */
    run_kiln();
    run_swap();
    /* an output of data-dependent shape: both runs must give it one shape,
     * and only its elements count (the rest of the bound, which neither
     * run writes, is zeroed on both sides) */
    for (int i = 0; i < MODEL_NUM_OUTPUTS; i++) {
        model_tensor t = model_outputs[i];
        int64_t ds[8];
        model_output_shape(arena_kiln, i, t.dims);
        swap_output_shape(arena_swap, i, ds);
        if (memcmp(t.dims, ds, sizeof ds))
            fail("the two builds gave an output different shapes", model_outputs[i].name);
        size_t used = tensor_bytes(&t), all = tensor_bytes(&model_outputs[i]);
        memset((char *)out_kiln[i] + used, 0, all - used);
        memset((char *)out_swap[i] + used, 0, all - used);
    }
    for (int i = 0; i < MODEL_NUM_OUTPUTS; i++)
        for (int side = 0; side < 2; side++) {
            char path[64];
            snprintf(path, sizeof path, "%s_out_%d.bin", side ? "swap" : "kiln", i);
            FILE *o = fopen(path, "wb");
            size_t n = tensor_bytes(side ? &swap_outputs[i] : &model_outputs[i]);
            if (!o || fwrite(side ? out_swap[i] : out_kiln[i], 1, n, o) != n || fclose(o))
                fail("cannot write", path);
        }

    /* timing: warm-up, then interleaved rounds */
    double *tk = malloc(sizeof(double) * (size_t)iters), *ts = malloc(sizeof(double) * (size_t)iters);
    if (!tk || !ts)
        fail("out of memory", NULL);
    double start = now_ms();
    for (int w = 0; w < warmup && now_ms() - start < budget_s * 250; w++) {
        run_kiln();
        run_swap();
    }
    /* the kernel's time in each round, from the sums before and after */
    double *kk = malloc(sizeof(double) * (size_t)iters), *ks = malloc(sizeof(double) * (size_t)iters);
    double *kf = malloc(sizeof(double) * (size_t)iters);
    if (!kk || !ks || !kf)
        fail("out of memory", NULL);
    start = now_ms();
    int rounds = 0;
    while (rounds < iters && (rounds < 3 || now_ms() - start < budget_s * 1e3)) {
        for (int side = 0; side < 2; side++) {
            int k = (side == 0) == (rounds % 2 == 0);
            double k0 = model_kernel_ms[kernel], s0 = swap_kernel_ms[kernel], f0 = kc_func_ms;
            double t0 = now_ms();
            if (k)
                run_kiln();
            else
                run_swap();
            (k ? tk : ts)[rounds] = now_ms() - t0;
            if (k)
                kk[rounds] = model_kernel_ms[kernel] - k0;
            else
                ks[rounds] = swap_kernel_ms[kernel] - s0, kf[rounds] = kc_func_ms - f0;
        }
        rounds++;
    }
    qsort(kk, (size_t)rounds, sizeof *kk, cmp_double);
    qsort(ks, (size_t)rounds, sizeof *ks, cmp_double);
    qsort(kf, (size_t)rounds, sizeof *kf, cmp_double);
    printf("kc_kernel kiln_ms=%.6f swap_ms=%.6f func_ms=%.6f\n", kk[rounds / 2], ks[rounds / 2], kf[rounds / 2]);
    qsort(tk, (size_t)rounds, sizeof *tk, cmp_double);
    qsort(ts, (size_t)rounds, sizeof *ts, cmp_double);
    printf("kc_result kiln_ms=%.6f ref_ms=%.6f rounds=%d\n", tk[rounds / 2], ts[rounds / 2], rounds);
    return 0;
}
