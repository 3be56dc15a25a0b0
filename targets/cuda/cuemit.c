/*
 * cuemit.c: the CUDA target. Kernel IR mapped to GPU launches (gpumap.c)
 * -> model.cu, model.h, weights.bin/.S and a build.sh for nvcc.
 *
 * The kernels print through the C printer (targets/c/cemit.c) in its CUDA
 * dialect: each launch a __global__ function whose block and thread loop
 * variables are blockIdx.x and threadIdx.x, each kernel a host function
 * launching them on one stream. This file writes what differs from the C
 * target around them: the host side of model_run, which keeps one block
 * of device memory (weights, arena, inputs, outputs: runtime/kiln_cuda.h)
 * and copies inputs in and outputs out, with the same API as the C
 * target's model_run (model.h), so kiln_main.c drives either.
 */
#include "../c/cemit.h"

#include <stdio.h>
#include <string.h>

/* Device memory: every piece starts on a 256-byte boundary. */
static int64_t align256(int64_t n) { return (n + 255) / 256 * 256; }

/* Bytes of buffer b. */
static int64_t buf_bytes(const Buffer *b) { return b->numel * dtype_size(b->dtype); }

typedef struct Layout {
    int64_t arena;   /* offset of the arena (the weights are at 0) */
    int64_t *in;     /* [ninputs] offset of each input */
    int64_t *out;    /* [noutputs] */
    int64_t total;
} Layout;

static Layout layout(const Program *p, Arena *a)
{
    Layout l;
    l.in = arena_alloc(a, sizeof(int64_t) * (size_t)(p->ninputs + 1));
    l.out = arena_alloc(a, sizeof(int64_t) * (size_t)(p->noutputs + 1));
    int64_t at = align256(p->weight_bytes);
    l.arena = at;
    at += align256(p->arena_bytes);
    for (int i = 0; i < p->ninputs; i++) {
        l.in[i] = at;
        at += align256(buf_bytes(&p->bufs[p->inputs[i]]));
    }
    for (int i = 0; i < p->noutputs; i++) {
        l.out[i] = at;
        at += align256(buf_bytes(&p->bufs[p->outputs[i]]));
    }
    l.total = at;
    return l;
}

/* A device pointer to buffer b at device offset off, as a kernel's
 * argument in model_run: const for the weights and for an input the
 * kernel only reads. */
static void dev_ptr(FILE *f, const Buffer *b, int writable, int64_t off)
{
    const char *q = b->kind == BUF_WEIGHT || (b->kind == BUF_INPUT && !writable) ? "const " : "";
    if (b->kind != BUF_LOCAL)
        fprintf(f, "(%s%s *)(dev + %lld)", q, dtype_ctype(b->dtype), (long long)off);
}

/* The device offset of each of p's buffers (the kernel-local ones 0). */
static int64_t *dev_offsets(const Program *p, const Layout *l, Arena *a)
{
    int64_t *off = arena_alloc(a, sizeof(int64_t) * (size_t)(p->nbufs + 1));
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        off[i] = b->kind == BUF_INPUT    ? l->in[b->index]
                 : b->kind == BUF_OUTPUT ? l->out[b->index]
                 : b->kind == BUF_WEIGHT ? b->offset
                 : b->kind == BUF_ARENA  ? l->arena + b->offset
                                         : 0;
    }
    return off;
}

static void emit_run(FILE *f, const Program *p, const char *pre, const char *up, const int *same, int profile,
                     Arena *a)
{
    Layout l = layout(p, a);
    int64_t *devoff = dev_offsets(p, &l, a);
    int nk = p->nkernels;
    fprintf(f,
            "\n/* Device memory, one block: the weights at 0, the arena at %lld, then the\n"
            " * inputs and the outputs; %lld bytes in all. */\n",
            (long long)l.arena, (long long)l.total);
    fprintf(f, "static unsigned char *dev;\n\n");
    fprintf(f, "/* device copies and the wait (targets/c/cdev.c) */\n"
               "#define DEV_GET(dst, off, n) kiln_cuda_out(dst, dev + (off), n)\n"
               "#define DEV_PUT(off, src, n) kiln_cuda_in(dev + (off), src, n)\n"
               "#define DEV_SYNC() kiln_cuda_sync()\n\n");
    fprintf(f, "extern \"C\" double %s_gpu_ms(void) { return kiln_cuda_last_ms; }\n", pre);
    fprintf(f, "\nextern \"C\" int %s_run(const void *const inputs[], void *const outputs[], void *arena)\n{\n", pre);
    fprintf(f, "    (void)arena;\n    (void)inputs;\n    (void)outputs;\n");
    cemit_guards(f, p, arena_printf(a, "%s_weights", pre), arena_printf(a, "%s_ERR_INPUT_VALUE", up));
    fprintf(f, "    if (!dev && !(dev = kiln_cuda_setup(%s_weights, %lld, %lld, %d)))\n        return %s_ERR_DEVICE;\n",
            pre, (long long)p->weight_bytes, (long long)l.total, profile ? nk + 1 : 2, up);
    for (int i = 0; i < p->ninputs; i++)
        fprintf(f, "    if (kiln_cuda_in(dev + %lld, inputs[%d], %lld))\n        return %s_ERR_DEVICE;\n",
                (long long)l.in[i], i, (long long)buf_bytes(&p->bufs[p->inputs[i]]), up);
    for (int i = 0; p->out_alias && i < p->noutputs; i++) {
        int j = p->out_alias[i];
        if (j < 0)
            continue;
        fprintf(f, "    /* output %d is computed in place of input %d */\n", i, j);
        fprintf(f, "    if (kiln_cuda_in(dev + %lld, inputs[%d], %lld))\n        return %s_ERR_DEVICE;\n",
                (long long)l.out[i], j, (long long)buf_bytes(&p->bufs[p->outputs[i]]), up);
    }
    cemit_dev_begin(f, p, devoff, l.total - l.arena, up);
    fprintf(f, "    kiln_cuda_mark(0);\n");
    for (int i = 0; i < nk; i++) {
        const Kernel *k = &p->kernels[i];
        KUse *use;
        int nuse = kernel_uses(k, a, &use);
        if (profile && i)
            fprintf(f, "    kiln_cuda_mark(%d);\n", i);
        if (k->host) {
            cemit_dev_host_kernel(f, p, i, devoff, l.arena, pre, up, a);
            continue;
        }
        if (same[i] != i)
            fprintf(f, "    /* %s */\n", k->name);
        fprintf(f, "    %s(", p->kernels[same[i]].name);
        for (int j = 0, n = 0; j < nuse; j++) {
            if (p->bufs[use[j].buf].kind == BUF_LOCAL)
                continue;
            if (n++)
                fputs(", ", f);
            dev_ptr(f, &p->bufs[use[j].buf], use[j].rw & KU_WRITE, devoff[use[j].buf]);
        }
        fputs(");\n", f);
    }
    fprintf(f, "    kiln_cuda_mark(%d);\n", profile ? nk : 1);
    for (int i = 0; i < p->noutputs; i++)
        fprintf(f, "    if (kiln_cuda_out(outputs[%d], dev + %lld, %lld))\n        return %s_ERR_DEVICE;\n", i,
                (long long)l.out[i], (long long)buf_bytes(&p->bufs[p->outputs[i]]), up);
    for (int i = 0, j = 0; i < p->noutputs; i++) {
        int lb = prog_out_len(p, i);
        if (lb >= 0)
            fprintf(f, "    if (kiln_cuda_out((unsigned char *)arena + %d, dev + %lld, 8)) /* output %d's length */\n"
                       "        return %s_ERR_DEVICE;\n",
                    8 * j++, (long long)(l.arena + p->bufs[lb].offset), i, up);
    }
    cemit_dev_fetch(f, p, devoff, up);
    fprintf(f, "    if (kiln_cuda_finish(%s, %d))\n        return %s_ERR_DEVICE;\n",
            profile ? arena_printf(a, "%s_kernel_ms", pre) : "NULL", nk, up);
    cemit_dev_check(f, p, up);
    fputs("    return 0;\n}\n", f);
}

int cuda_program(const Program *p, const char *dir, const EmitOptions *opt, Diag *d)
{
    const char *pre = opt && opt->prefix ? opt->prefix : "model";
    int profile = opt && opt->profile;
    if (cemit_header(p, dir, pre, profile, 1, NULL, d) || cemit_weights(p, dir, pre, d))
        return 1;
    char up[64];
    size_t n = 0;
    for (; pre[n] && n < sizeof up - 1; n++)
        up[n] = (char)(pre[n] >= 'a' && pre[n] <= 'z' ? pre[n] - 32 : pre[n]);
    up[n] = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cu", dir, pre);
    FILE *f = fopen(path, "w");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    Arena *a = arena_new();
    fprintf(f, "/* %s.cu: generated by kiln from '", pre);
    cemit_text(f, p->model);
    fputs("' for CUDA. Do not edit. */\n", f);
    fprintf(f, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    fprintf(f, "#include \"kiln_cuda.h\" /* device memory, the stream, events */\n");
    fprintf(f, "#include \"kiln_f16.h\" /* f16/bf16 stored as bits, computed in float */\n");
    fprintf(f, "#include \"%s.h\"\n\n", pre);
    fprintf(f, "extern \"C\" const unsigned char %s_weights[]; /* weights.S */\n\n", pre);
    cemit_helpers(f, p, &cuda_dialect);
    int nk = p->nkernels;
    int *same = arena_alloc(a, sizeof(int) * (size_t)(nk + 1));
    const char **bname = arena_alloc(a, sizeof(char *) * (size_t)(p->nbufs + 1));
    if (cemit_share(p, &cuda_dialect, a, same)) {
        fclose(f);
        arena_free(a);
        return diag_error(d, "out of memory printing the kernels");
    }
    /* the kernels placed on the host are model_host.c's (C, built by cc) */
    for (int i = 0; i < nk; i++)
        if (p->kernels[i].host || p->kernels[same[i]].host)
            same[i] = i;
    if (cemit_host(p, dir, pre, d)) {
        fclose(f);
        arena_free(a);
        return 1;
    }
    if (prog_host_kernels(p))
        fprintf(f, "extern \"C\" void %s_host_run(int k, void *const b[]); /* %s_host.c */\n", pre, pre);
    for (int i = 0; i < nk; i++)
        if (same[i] == i && !p->kernels[i].host)
            cemit_kernel(f, p, &p->kernels[i], &cuda_dialect, a, bname, "static void", p->kernels[i].name, 0, 0);
    fputc('\n', f);
    cemit_tensor_table(f, p, pre, "inputs", p->inputs, p->ninputs);
    cemit_tensor_table(f, p, pre, "outputs", p->outputs, p->noutputs);
    if (profile) {
        fprintf(f, "\ndouble %s_kernel_ms[%d];\n", pre, nk + 1);
        fprintf(f, "const char *const %s_kernel_names[] = {\n", pre);
        for (int i = 0; i < nk; i++)
            fprintf(f, "    \"%s\",\n", p->kernels[i].name);
        fprintf(f, "    0,\n};\n");
    }
    emit_run(f, p, pre, up, same, profile, a);
    cemit_output_shape(f, p, pre, 1);
    arena_free(a);
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}

static const char build_sh[] =
    "#!/bin/sh\n"
    "# build.sh: builds the model from these sources; needs a C compiler and\n"
    "# nvcc (the CUDA toolkit).\n"
    "#   sh build.sh          -> ./model (reads and writes TensorProto files)\n"
    "#   sh build.sh lib      -> ./libmodel.a and model.h (link with -lcudart)\n"
    "# NVCC (default: nvcc on PATH, else $CUDA_HOME/bin/nvcc or\n"
    "# /usr/local/cuda/bin/nvcc), CUDA_ARCH (default %s: the GPU to build for),\n"
    "# NVCCFLAGS, CC and CFLAGS override.\n"
    "set -e\n"
    "cd \"$(dirname \"$0\")\"\n"
    "CC=${CC:-cc}\n"
    "CFLAGS=${CFLAGS:--O2}\n"
    "NVCCFLAGS=${NVCCFLAGS:-%s}\n"
    "CUDA_ARCH=${CUDA_ARCH:-%s}\n"
    "if [ -z \"$NVCC\" ]; then\n"
    "    cuda=${CUDA_HOME:-/usr/local/cuda}\n"
    "    if command -v nvcc >/dev/null 2>&1; then NVCC=nvcc\n"
    "    elif [ -x \"$cuda/bin/nvcc\" ]; then NVCC=\"$cuda/bin/nvcc\"\n"
    "    else\n"
    "        echo \"build.sh: error: nvcc not found (on PATH, in \\$CUDA_HOME/bin or /usr/local/cuda/bin): \"\\\n"
    "             \"install the CUDA toolkit or set NVCC\" >&2\n"
    "        exit 1\n"
    "    fi\n"
    "fi\n"
    "# the kernels and model_run (nvcc, in the background), the runtime (cc)\n"
    "$NVCC $NVCCFLAGS -arch=\"$CUDA_ARCH\" -c model.cu -o model.o &\n"
    "nv=$!\n"
    "objs=\"model.o\"\n"
    "if [ \"$1\" != lib ]; then\n"
    "    $CC -std=c99 $CFLAGS -Wall -Wextra -c kiln_rt.c -o kiln_rt.o\n"
    "    $CC -std=c99 $CFLAGS -Wall -Wextra -c kiln_main.c -o kiln_main.o\n"
    "    objs=\"$objs kiln_rt.o kiln_main.o\"\n"
    "fi\n"
    "# the kernels placed on the host (string records, runtime routines)\n"
    "for f in model_host.c kiln_str.c kiln_img.c; do\n"
    "    [ ! -f \"$f\" ] || { $CC -std=c99 $CFLAGS -fwrapv -Wall -Wextra -c \"$f\" -o \"${f%%.c}.o\"; objs=\"$objs ${f%%.c}.o\"; }\n"
    "done\n"
    "$CC -c weights.S -o weights.o\n"
    "wait $nv\n"
    "if [ \"$1\" = lib ]; then\n"
    "    rm -f libmodel.a\n"
    "    ${AR:-ar} rcs libmodel.a model.o weights.o\n"
    "else\n"
    "    $NVCC -arch=\"$CUDA_ARCH\" -o model.tmp $objs weights.o -lm\n"
    "    mv model.tmp model\n"
    "fi\n";

char *cuda_build_script(Arena *a, int opt)
{
    return arena_printf(a, build_sh, CUDA_DEFAULT_ARCH, opt >= 1 ? "-O3" : "-O0",
                        CUDA_DEFAULT_ARCH);
}
