/*
 * kiln_main.c: main() of a model executable built by `kiln compile`.
 *
 *   model --in x.pb [--in y.pb ...] [--out DIR] [--bench N [--profile]] [--quiet]
 *
 * Reads the inputs (TensorProto files, in the model's input order; a
 * SequenceProto or OptionalProto for a sequence or optional input), checks
 * them against the compiled shapes and types, runs the model, writes
 * DIR/output_<i>.pb (of the shape model_output_shape reports: an output
 * whose extent depends on the data has the run's) and prints a summary of each output and the time taken.
 * With --bench N it runs N more times and prints the latency distribution;
 * the last line is machine-readable:
 *   median_ms=0.412 p10_ms=0.405 p90_ms=0.431 iters=200 threads=1
 * --profile (in a build made by `kiln bench --profile`) adds the time of
 * each kernel per run (a --target cuda build: GPU time from CUDA events,
 * and a line of the kernels' GPU time before the last). Without --in, inputs are filled with a fixed
 * pseudo-random pattern (for benchmarking). All allocation happens here,
 * before model_run. A --target ptx model (MODEL_DEVICE) opens its device
 * first; without a GPU or driver it says so in one line and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln_f16.h"
#include "kiln_rt.h"
#include "model.h"
#if MODEL_THREADS > 1
#include "kiln_par.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: model --in FILE.pb ... [--out DIR] [--bench N [--profile]] [--quiet]\n");
    return 2;
}

/* s for a one-line message: at most size-1 bytes, control characters as '?'. */
static const char *printable(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; s && *s && n + 1 < size; s++)
        buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[n] = 0;
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Deterministic inputs for --bench without --in: small values of the type. */
static void fill(void *data, int dtype, size_t numel)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < numel; i++) {
        s = s * 1664525u + 1013904223u;
        double v = (double)(s >> 8) / (double)(1u << 24) * 2.0 - 1.0;
        switch (dtype) {
        case 1: ((float *)data)[i] = (float)v; break;
        case 11: ((double *)data)[i] = v; break;
        case 9: ((uint8_t *)data)[i] = v > 0; break;
        case 10: ((uint16_t *)data)[i] = kiln_f32_to_f16((float)v); break;
        case 16: ((uint16_t *)data)[i] = kiln_f32_to_bf16((float)v); break;
        default: break; /* zeros (calloc): integers, and the packed types */
        }
    }
}

static size_t numel_of(const model_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n;
}

static void summarize(const model_tensor *t, const void *data, int index)
{
    char sh[256], name[256];
    size_t n = numel_of(t);
    printf("output %d '%s' %s[%s]:", index, printable(t->name, name, sizeof name), kiln_dtype_name(t->dtype),
           kiln_shape_str(t->rank, t->dims, sh, sizeof sh));
    if (t->dtype == 8) { /* strings: the first few, as printable text */
        for (size_t i = 0; i < n && i < 8; i++) {
            const kiln_str *s = (const kiln_str *)data + i;
            char buf[64];
            size_t k = 0;
            for (int64_t j = 0; j < s->len && k + 1 < sizeof buf; j++)
                buf[k++] = (unsigned char)s->ptr[j] < 0x20 || s->ptr[j] == 0x7f ? '?' : s->ptr[j];
            buf[k] = 0;
            printf(" \"%s\"", buf);
        }
        printf(n > 8 ? " ... (%zu strings)\n" : "\n", n);
        return;
    }
    size_t best = 0;
    double bestv = 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (t->dtype) {
        case 1: v = ((const float *)data)[i]; break;
        case 11: v = ((const double *)data)[i]; break;
        case 7: v = (double)((const int64_t *)data)[i]; break;
        case 6: v = ((const int32_t *)data)[i]; break;
        case 3: v = ((const int8_t *)data)[i]; break;
        case 2: case 9: v = ((const uint8_t *)data)[i]; break;
        case 10: v = kiln_f16_to_f32(((const uint16_t *)data)[i]); break;
        case 16: v = kiln_bf16_to_f32(((const uint16_t *)data)[i]); break;
        default: v = t->dtype >= 17 && t->dtype <= 26 ? kiln_packed_value(t->dtype, data, i) : 0;
        }
        if (i < 8)
            printf(" %.6g", v);
        if (i == 0 || v > bestv) {
            best = i;
            bestv = v;
        }
    }
    if (n > 8)
        printf(" ... (%zu values, largest %.6g at %zu)", n, bestv, best);
    printf("\n");
}

#ifdef MODEL_PROFILE
/* Time per kernel per run, largest first. */
static void print_profile(int runs)
{
    int order[MODEL_NUM_KERNELS + 1];
    double total = 0;
    for (int i = 0; i < MODEL_NUM_KERNELS; i++) {
        order[i] = i;
        total += model_kernel_ms[i];
    }
    for (int i = 1; i < MODEL_NUM_KERNELS; i++)
        for (int j = i; j > 0 && model_kernel_ms[order[j]] > model_kernel_ms[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    printf("%-48s %10s %6s\n", "kernel", "ms/run", "share");
    for (int i = 0; i < MODEL_NUM_KERNELS; i++) {
        int k = order[i];
        printf("%-48s %10.4f %5.1f%%\n", model_kernel_names[k], model_kernel_ms[k] / runs,
               total > 0 ? 100.0 * model_kernel_ms[k] / total : 0.0);
    }
}
#endif

int main(int argc, char **argv)
{
#if MODEL_THREADS > 1
    /* the pool starts before the first run, not inside it */
    if (kiln_par_init(MODEL_THREADS))
        fprintf(stderr, "model: could not start %d threads; running on one\n", MODEL_THREADS);
#endif
    const char *ins[MODEL_NUM_INPUT_VALUES + 1] = {0};
    int nin = 0, bench = 0, quiet = 0, profile = 0;
    const char *outdir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--in") && i + 1 < argc) {
            if (nin >= MODEL_NUM_INPUT_VALUES) {
                fprintf(stderr, "model: more --in files than the model's %d inputs\n", MODEL_NUM_INPUT_VALUES);
                return 2;
            }
            ins[nin++] = argv[++i];
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            outdir = argv[++i];
        } else if (!strcmp(argv[i], "--bench") && i + 1 < argc) {
            char *end;
            errno = 0;
            long n = strtol(argv[++i], &end, 10);
            if (errno || end == argv[i] || *end || n < 1 || n > 100000000)
                return usage();
            bench = (int)n;
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--profile")) {
            profile = 1;
        } else {
            fprintf(stderr, "model: unknown argument '%s'\n", argv[i]);
            return usage();
        }
    }
    if (nin && nin != MODEL_NUM_INPUT_VALUES) {
        fprintf(stderr, "model: %d --in files given, the model has %d inputs\n", nin, MODEL_NUM_INPUT_VALUES);
        return 2;
    }
#ifndef MODEL_PROFILE
    if (profile) {
        fprintf(stderr, "model: built without profiling (use kiln bench --profile)\n");
        return 2;
    }
#endif
    if (!nin && MODEL_NUM_INPUT_VALUES > 0 && !bench) {
        fprintf(stderr, "model: give the model's %d input(s) with --in FILE.pb\n", MODEL_NUM_INPUT_VALUES);
        return 2;
    }
#ifdef MODEL_DEVICE
    /* the driver, the device, the kernels and the weights, before any run */
    if (model_device_open()) {
        fprintf(stderr, "model: %s\n", model_device_error());
        return 1;
    }
#endif

    void *inputs[MODEL_NUM_INPUTS + 1], *outputs[MODEL_NUM_OUTPUTS + 1];
    kiln_tensor tin[MODEL_NUM_INPUTS + 1];
    /* each --in file is one of the model's inputs: a tensor, or a sequence
     * or optional carried by several slots (or one NULL slot) */
    for (int i = 0, v = 0; i < MODEL_NUM_INPUTS; v++) {
        int end = i;
        while (end < MODEL_NUM_INPUTS && model_inputs[end].value == v)
            end++;
        int form = model_inputs[i].form, want = form & MODEL_IO_NONE ? 0 : end - i, got = 0;
        char err[512], a[256], b[256], name[256];
        if (!nin) {
            for (int k = i; k < end; k++) {
                const model_tensor *mt = &model_inputs[k];
                size_t bytes = kiln_dtype_bytes(mt->dtype, numel_of(mt));
                inputs[k] = NULL;
                if (form & MODEL_IO_NONE)
                    continue;
                inputs[k] = calloc(1, bytes ? bytes : 1);
                if (!inputs[k])
                    return fprintf(stderr, "model: out of memory\n"), 1;
                fill(inputs[k], mt->dtype, numel_of(mt));
            }
            i = end;
            continue;
        }
        if (kiln_read_value(ins[v], form & ~MODEL_IO_NONE, &tin[i], end - i, &got, err, sizeof err)) {
            fprintf(stderr, "model: %s\n", err);
            return 1;
        }
        if (got != want) {
            fprintf(stderr, "model: %s: input %d '%s' holds %d tensor(s), the model was compiled for %d\n", ins[v], v,
                    printable(model_inputs[i].name, name, sizeof name), got, want);
            return 1;
        }
        for (int k = i; k < end; k++) {
            const model_tensor *mt = &model_inputs[k];
            inputs[k] = NULL;
            if (form & MODEL_IO_NONE)
                continue;
            int same = tin[k].dtype == mt->dtype && tin[k].rank == mt->rank;
            for (int d = 0; same && d < mt->rank; d++)
                same = tin[k].dims[d] == mt->dims[d];
            if (!same) {
                fprintf(stderr, "model: %s: input %d '%s' is %s[%s], the model was compiled for %s[%s]\n", ins[v], k,
                        printable(mt->name, name, sizeof name), kiln_dtype_name(tin[k].dtype),
                        kiln_shape_str(tin[k].rank, tin[k].dims, a, sizeof a), kiln_dtype_name(mt->dtype),
                        kiln_shape_str(mt->rank, mt->dims, b, sizeof b));
                return 1;
            }
            inputs[k] = tin[k].data;
        }
        i = end;
    }
    for (int i = 0; i < MODEL_NUM_OUTPUTS; i++) {
        size_t bytes = kiln_dtype_bytes(model_outputs[i].dtype, numel_of(&model_outputs[i]));
        outputs[i] = calloc(1, bytes ? bytes : 1);
        if (!outputs[i])
            return fprintf(stderr, "model: out of memory\n"), 1;
    }
    void *arena = NULL;
#ifdef KILN_SEMIHOSTING
    /* newlib (a board's C library) has no posix_memalign: align by hand */
    char *raw = malloc((size_t)MODEL_ARENA_BYTES + 64);
    if (!raw)
        return fprintf(stderr, "model: out of memory\n"), 1;
    arena = raw + (64 - (uintptr_t)raw % 64) % 64;
#else
    if (posix_memalign(&arena, 64, MODEL_ARENA_BYTES ? MODEL_ARENA_BYTES : 64))
        return fprintf(stderr, "model: out of memory\n"), 1;
#endif

    double t0 = kiln_now_ms();
    int rc = model_run((const void *const *)inputs, outputs, arena);
    double t1 = kiln_now_ms();
#ifdef MODEL_ERR_DEVICE
    if (rc == MODEL_ERR_DEVICE) {
#ifdef MODEL_DEVICE
        fprintf(stderr, "model: %s\n", model_device_error()); /* --target ptx: the library prints nothing */
#endif
        return 1; /* no GPU, or CUDA failed: said on stderr */
    }
#endif
#ifdef MODEL_ERR_STRING_BYTES
    if (rc == MODEL_ERR_STRING_BYTES || rc == MODEL_ERR_STRING_SHAPE || rc == MODEL_ERR_STRING_REGEX) {
        fprintf(stderr, "model: %s\n",
                rc == MODEL_ERR_STRING_BYTES ? "the strings the model made need more room than it was compiled "
                                               "with (kiln --string-bytes)"
                : rc == MODEL_ERR_STRING_SHAPE ? "a string op's output extent, which depends on the data, differs "
                                                 "from the model's declared one it was compiled for"
                                               : "a regular expression match took too many steps");
        return 1;
    }
#endif
#ifdef MODEL_ERR_DATA
    if (rc == MODEL_ERR_DATA) {
        fprintf(stderr, "model: an input's data is malformed (a corrupt or truncated image ImageDecoder decodes)\n");
        return 1;
    }
#endif
    if (rc) {
        fprintf(stderr, "model: an input differs from the value the model was compiled for "
                        "(kiln specializes inputs that decide shapes, optionals' presence, and the header of an "
                        "image ImageDecoder decodes)\n");
        return 1;
    }
    /* each output's actual shape: an output whose extent depends on the
     * data is dense for the shape this run gave it */
    model_tensor got[MODEL_NUM_OUTPUTS + 1];
    for (int i = 0; i < MODEL_NUM_OUTPUTS; i++) {
        got[i] = model_outputs[i];
        model_output_shape(arena, i, got[i].dims);
    }
    if (outdir) {
        /* output_<v>.pb per output of the model: a tensor, or a sequence or
         * optional of the slots that carry it */
        kiln_tensor tout[MODEL_NUM_OUTPUTS + 1];
        for (int i = 0, v = 0; i < MODEL_NUM_OUTPUTS; v++) {
            int end = i;
            while (end < MODEL_NUM_OUTPUTS && model_outputs[end].value == v)
                end++;
            int form = model_outputs[i].form;
            for (int k = i; k < end; k++) {
                kiln_tensor *t = &tout[k];
                memset(t, 0, sizeof *t);
                if (!form)
                    snprintf(t->name, sizeof t->name, "%s", model_outputs[k].name);
                t->dtype = model_outputs[k].dtype;
                t->rank = model_outputs[k].rank;
                memcpy(t->dims, got[k].dims, sizeof t->dims); /* the actual shape */
                t->data = outputs[k];
                t->bytes = kiln_dtype_bytes(t->dtype, numel_of(&got[k]));
            }
            /* a sequence's slots are named NAME[k]: the file is NAME */
            char vname[256];
            snprintf(vname, sizeof vname, "%s", model_outputs[i].name);
            char *br = strrchr(vname, '[');
            if ((form & MODEL_IO_SEQ) && br)
                *br = 0;
            char path[4096];
            int len = snprintf(path, sizeof path, "%s/output_%d.pb", outdir, v);
            if (len < 0 || (size_t)len >= sizeof path) {
                fprintf(stderr, "model: --out folder name is too long\n");
                return 1;
            }
            if (kiln_write_value(path, vname, form & ~MODEL_IO_NONE, &tout[i], form & MODEL_IO_NONE ? 0 : end - i)) {
                fprintf(stderr, "model: cannot write %s\n", path);
                return 1;
            }
            i = end;
        }
    }
    if (!quiet) {
        for (int i = 0; i < MODEL_NUM_OUTPUTS; i++)
            summarize(&got[i], outputs[i], i);
        printf("ran in %.3f ms\n", t1 - t0);
    }
    if (bench) {
        double *ms = malloc(sizeof(double) * (size_t)bench), *gpu = malloc(sizeof(double) * (size_t)bench);
        if (!ms || !gpu)
            return fprintf(stderr, "model: out of memory\n"), 1;
        for (int w = 0; w < 2; w++)
            model_run((const void *const *)inputs, outputs, arena);
        for (int it = 0; it < bench; it++) {
            double a = kiln_now_ms();
            model_run((const void *const *)inputs, outputs, arena);
            ms[it] = kiln_now_ms() - a;
#ifdef MODEL_ERR_DEVICE
            gpu[it] = model_gpu_ms();
#else
            gpu[it] = 0;
#endif
        }
        qsort(ms, (size_t)bench, sizeof *ms, cmp_double);
#ifdef MODEL_ERR_DEVICE
        /* a GPU build: the kernels alone (CUDA events), then the line below,
         * which times whole runs with the copies in and out */
        qsort(gpu, (size_t)bench, sizeof *gpu, cmp_double);
        printf("gpu_kernels median_ms=%.4f p10_ms=%.4f p90_ms=%.4f (CUDA events)\n", gpu[bench / 2],
               gpu[bench / 10], gpu[(bench * 9) / 10 < bench ? (bench * 9) / 10 : bench - 1]);
#endif
        free(gpu);
#ifdef MODEL_PROFILE
        if (profile)
            print_profile(bench + 3);
#endif
        printf("median_ms=%.4f p10_ms=%.4f p90_ms=%.4f iters=%d threads=%d\n", ms[bench / 2], ms[bench / 10],
               ms[(bench * 9) / 10 < bench ? (bench * 9) / 10 : bench - 1], bench, MODEL_THREADS);
        free(ms);
    }
    return 0;
}
