/*
 * phost.c: the host side of the PTX target. The kernels are PTX (ptx.c);
 * this prints the C that runs them through the CUDA driver
 * (runtime/kiln_cu.c): model.h as the C target writes it plus the device
 * calls, the weights as the C target writes them, and a model.c whose
 * model_run
 *
 *   opens the device once (driver, context, the PTX module, one device
 *   allocation, the weights uploaded once: model_device_open),
 *   copies the inputs in, launches each kernel on one stream with device
 *   addresses of its buffers, copies the outputs back and waits.
 *
 * Device memory is one allocation laid out at compile time: the weight
 * blob, the arena (offsets of plan.c), then each input and each output,
 * every piece aligned to 256 bytes. CUDA events before the first launch
 * and after the last give model_gpu_ms(); with --profile, events between
 * the kernels time each one. Guards on specialized inputs compare the
 * host's input with the host's weights, as the C target does. The API is
 * the CUDA target's (cemit_header with `device`), but nothing is printed:
 * model_device_error() says what failed.
 */
#include "ptx.h"
#include "../c/cemit.h"
#include "../llvm/lemit.h"

#include <stdio.h>
#include <string.h>

enum { DEV_ALIGN = 256 };

static long long up_to(long long x) { return (x + DEV_ALIGN - 1) / DEV_ALIGN * DEV_ALIGN; }

PtxLaunch ptx_launch(const Stmt *s)
{
    PtxLaunch l = {1, 1};
    const Stmt *t = s->kind == S_LOOP && s->loop == L_GPU_BLOCK ? s->body : NULL;
    int64_t nb, nt;
    if (t && !t->next && t->kind == S_LOOP && t->loop == L_GPU_THREAD && ke_is_const(s->extent, &nb) &&
        ke_is_const(t->extent, &nt)) {
        l.grid = nb;
        l.block = nt;
    }
    return l;
}

/* Device offsets: weights at 0, the arena, the inputs, the outputs. */
typedef struct Layout {
    long long arena;
    long long *in, *out;
    long long bytes;
} Layout;

static long long buf_bytes(const Buffer *b) { return (long long)(b->numel * dtype_size(b->dtype)); }

static void layout(const Program *p, Arena *a, Layout *l)
{
    l->arena = up_to(p->weight_bytes);
    long long at = up_to(l->arena + p->arena_bytes);
    l->in = arena_alloc(a, sizeof(long long) * (size_t)(p->ninputs + 1));
    l->out = arena_alloc(a, sizeof(long long) * (size_t)(p->noutputs + 1));
    for (int i = 0; i < p->ninputs; i++) {
        l->in[i] = at;
        at = up_to(at + buf_bytes(&p->bufs[p->inputs[i]]));
    }
    for (int i = 0; i < p->noutputs; i++) {
        l->out[i] = at;
        at = up_to(at + buf_bytes(&p->bufs[p->outputs[i]]));
    }
    l->bytes = at ? at : DEV_ALIGN;
}

/* The device offset of buffer b's first element. */
static long long dev_off(const Layout *l, const Buffer *b)
{
    switch (b->kind) {
    case BUF_INPUT: return l->in[b->index];
    case BUF_OUTPUT: return l->out[b->index];
    case BUF_WEIGHT: return b->offset;
    case BUF_ARENA: return l->arena + b->offset;
    case BUF_LOCAL: break;
    }
    return 0;
}

/* PREFIX_ptx.c: the PTX text as one C string (every byte that is not
 * plainly printable escaped, '?' too: no trigraph). */
static int write_ptx_c(const char *dir, const char *pre, const char *ptx, size_t len, Diag *d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_ptx.c", dir, pre);
    FILE *f = fopen(path, "w");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    fprintf(f, "/* %s_ptx.c: the kernels as PTX (%s.ptx), which %s.c loads with the CUDA driver. */\n", pre, pre,
            pre);
    fprintf(f, "const char %s_ptx[] =\n    \"", pre);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ptx[i];
        if (c == '\n')
            fputs(i + 1 < len ? "\\n\"\n    \"" : "\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '?')
            fprintf(f, "\\%03o", c);
        else
            fputc(c, f);
    }
    fputs("\";\n", f);
    if (fclose(f))
        return diag_error(d, "cannot write %s", path);
    snprintf(path, sizeof path, "%s/%s.ptx", dir, pre);
    if (write_file(path, ptx, len))
        return diag_error(d, "cannot write %s", path);
    return 0;
}

int phost_program(const Program *p, const char *dir, const EmitOptions *o, const char *ptx, size_t len, Diag *d)
{
    const char *pre = o && o->prefix ? o->prefix : "model";
    int profile = o && o->profile;
    char up[64];
    size_t n = 0;
    for (; pre[n] && n < sizeof up - 1; n++)
        up[n] = (char)(pre[n] >= 'a' && pre[n] <= 'z' ? pre[n] - 32 : pre[n]);
    up[n] = 0;
    Arena *a = arena_new();
    const char *extra = arena_printf(
        a,
        "\n/* --target ptx: the kernels are PTX run through the CUDA driver (libcuda.so.1,\n"
        " * device 0), which %s_run opens on its first call; %s_device_open does it\n"
        " * beforehand (driver, context, the PTX, device memory, the weights). Both\n"
        " * return %s_ERR_DEVICE when the GPU or its driver fails (nothing is printed)\n"
        " * and %s_device_error() then says how, in one line. */\n"
        "#define %s_DEVICE 1\n"
        "int %s_device_open(void);\nconst char *%s_device_error(void);\nvoid %s_device_close(void);\n",
        pre, pre, up, pre, up, pre, pre, pre);
    int rc = cemit_header(p, dir, pre, profile, 1, extra, d) || cemit_weights(p, dir, pre, d) ||
             write_ptx_c(dir, pre, ptx, len, d) || cemit_host(p, dir, pre, d);
    if (rc) {
        arena_free(a);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.c", dir, pre);
    FILE *f = fopen(path, "w");
    if (!f) {
        arena_free(a);
        return diag_error(d, "cannot write %s", path);
    }
    Layout l;
    layout(p, a, &l);
    int nk = p->nkernels;
    int64_t *devoff = arena_alloc(a, sizeof(int64_t) * (size_t)(p->nbufs + 1));
    for (int i = 0; i < p->nbufs; i++)
        devoff[i] = dev_off(&l, &p->bufs[i]);
    fprintf(f, "/* %s.c: generated by kiln from '", pre);
    cemit_text(f, p->model);
    fputs("' (--target ptx). Do not edit. */\n", f);
    fprintf(f, "#include <stddef.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n\n"
               "#include \"kiln_cu.h\"\n#include \"%s.h\"\n\n",
            pre);
    if (prog_host_kernels(p))
        fprintf(f, "void %s_host_run(int k, void *const b[]); /* %s_host.c: the kernels placed on the host */\n",
                pre, pre);
    fprintf(f, "extern const unsigned char %s_weights[]; /* weights.S */\nextern const char %s_ptx[]; /* %s_ptx.c */\n\n",
            pre, pre, pre);
    fprintf(f, "/* device memory: weights at 0, the arena at %lld, then inputs and outputs */\n", l.arena);
    fprintf(f, "#define DEV_BYTES %lldu\n#define DEV_ARENA %lldu\n\n", l.bytes, l.arena);
    int nl = 0;
    for (int i = 0; i < nk; i++)
        for (const Stmt *s = p->kernels[i].body; s && !p->kernels[i].host; s = s->next)
            nl++;
    fprintf(f, "/* the PTX entries: each kernel's launches, in order (the kernels placed on\n"
               " * the host have none) */\n");
    fprintf(f, "static const char *const kernel_syms[%d] = {\n", nl + 1);
    for (int i = 0; i < nk; i++) {
        int j = 0;
        if (p->kernels[i].host)
            continue;
        for (const Stmt *s = p->kernels[i].body; s; s = s->next)
            fprintf(f, "    \"%s_%s_l%d\",\n", pre, p->kernels[i].name, j++);
    }
    fprintf(f, "    0,\n};\nstatic void *kernel_fn[%d];\nstatic kiln_cu cu;\n\n", nl + 1);
    cemit_tensor_table(f, p, pre, "inputs", p->inputs, p->ninputs);
    cemit_tensor_table(f, p, pre, "outputs", p->outputs, p->noutputs);
    if (profile) {
        fprintf(f, "\ndouble %s_kernel_ms[%d];\n", pre, nk + 1);
        fprintf(f, "const char *const %s_kernel_names[] = {\n", pre);
        for (int i = 0; i < nk; i++)
            fprintf(f, "    \"%s\",\n", p->kernels[i].name);
        fprintf(f, "    0,\n};\n");
    }
    fprintf(f,
            "\nint %s_device_open(void)\n{\n"
            "    return kiln_cu_open(&cu, %s_ptx, kernel_syms, %d, kernel_fn, DEV_BYTES, %s_weights, %lldu, 0, %d)"
            " ? %s_ERR_DEVICE : 0;\n}\n\n",
            pre, pre, nl, pre, (long long)p->weight_bytes, profile ? nk + 1 : 2, up);
    fprintf(f, "const char *%s_device_error(void) { return cu.err; }\n\n", pre);
    fprintf(f, "void %s_device_close(void) { kiln_cu_close(&cu); }\n\n", pre);
    fprintf(f, "static double last_ms;\n\ndouble %s_gpu_ms(void) { return last_ms; }\n\n", pre);
    fprintf(f, "/* device copies and the wait (targets/c/cdev.c) */\n"
               "#define DEV_GET(dst, off, n) kiln_cu_get(c, dst, off, n)\n"
               "#define DEV_PUT(off, src, n) kiln_cu_put(c, off, src, n)\n"
               "#define DEV_SYNC() kiln_cu_sync(c)\n\n");
    fprintf(f, "int %s_run(const void *const inputs[], void *const outputs[], void *arena)\n{\n", pre);
    fprintf(f, "    const unsigned char *w = %s_weights;\n    kiln_cu *c = &cu;\n", pre);
    fprintf(f, "    (void)inputs; (void)outputs; (void)arena; (void)w;\n");
    cemit_guards(f, p, "w", "1");
    fprintf(f, "    if (%s_device_open())\n        return %s_ERR_DEVICE;\n", pre, up);
    fprintf(f, "    uint64_t d = c->base;\n    (void)d;\n");
    cemit_dev_begin(f, p, devoff, l.bytes - l.arena, up);
    fprintf(f, "    /* inputs to the device */\n");
    for (int i = 0; i < p->ninputs; i++)
        fprintf(f, "    if (kiln_cu_put(c, %lld, inputs[%d], %lld))\n        return %s_ERR_DEVICE;\n", l.in[i], i,
                buf_bytes(&p->bufs[p->inputs[i]]), up);
    for (int i = 0; p->out_alias && i < p->noutputs; i++) {
        int j = p->out_alias[i];
        if (j < 0)
            continue;
        fprintf(f, "    /* output %d is computed in place of input %d */\n", i, j);
        fprintf(f, "    if (kiln_cu_put(c, %lld, inputs[%d], %lld))\n        return %s_ERR_DEVICE;\n", l.out[i], j,
                buf_bytes(&p->bufs[p->outputs[i]]), up);
    }
    /* events: before each kernel and after the last (--profile), or
     * before the first and after the last */
    int last_ev = profile ? nk : 1;
    if (!profile)
        fprintf(f, "    if (kiln_cu_mark(c, 0))\n        return %s_ERR_DEVICE;\n", up);
    for (int i = 0, li = 0; i < nk; i++) {
        const Kernel *k = &p->kernels[i];
        if (profile)
            fprintf(f, "    if (kiln_cu_mark(c, %d))\n        return %s_ERR_DEVICE;\n", i, up);
        if (k->host) {
            cemit_dev_host_kernel(f, p, i, devoff, l.arena, pre, up, a);
            continue;
        }
        int j = 0;
        for (const Stmt *s = k->body; s; s = s->next, j++, li++) {
            KUse *use;
            int np = lg_launch_uses(p, s, a, &use);
            PtxLaunch lc = ptx_launch(s);
            fprintf(f, "    { /* %s, launch %d: %lld block(s) of %lld thread(s) */\n", k->name, j, lc.grid, lc.block);
            for (int u = 0; u < np; u++) {
                const Buffer *b = &p->bufs[use[u].buf];
                fprintf(f, "        uint64_t a%d = d + %lld; /* %s */\n", u, dev_off(&l, b), b->name);
            }
            fprintf(f, "        void *args[%d] = {", np ? np : 1);
            for (int u = 0; u < np; u++)
                fprintf(f, "%s&a%d", u ? ", " : "", u);
            fprintf(f, "%s};\n", np ? "" : "0");
            fprintf(f, "        if (kiln_cu_launch(c, %d, %lldu, %lldu, args))\n            return %s_ERR_DEVICE;\n    }\n",
                    li, lc.grid, lc.block, up);
        }
    }
    fprintf(f, "    if (kiln_cu_mark(c, %d))\n        return %s_ERR_DEVICE;\n", last_ev, up);
    fprintf(f, "    /* outputs to the host */\n");
    for (int i = 0; i < p->noutputs; i++)
        fprintf(f, "    if (kiln_cu_get(c, outputs[%d], %lld, %lld))\n        return %s_ERR_DEVICE;\n", i, l.out[i],
                buf_bytes(&p->bufs[p->outputs[i]]), up);
    for (int i = 0, j = 0; i < p->noutputs; i++) {
        int lb = prog_out_len(p, i);
        if (lb >= 0)
            fprintf(f, "    if (kiln_cu_get(c, (unsigned char *)arena + %d, %lld, 8)) /* output %d's length */\n"
                       "        return %s_ERR_DEVICE;\n",
                    8 * j++, l.arena + p->bufs[lb].offset, i, up);
    }
    cemit_dev_fetch(f, p, devoff, up);
    fprintf(f, "    if (kiln_cu_sync(c))\n        return %s_ERR_DEVICE;\n", up);
    fprintf(f, "    last_ms = kiln_cu_ms(c, 0, %d);\n", last_ev);
    if (profile)
        fprintf(f, "    for (int i = 0; i < %d; i++)\n        %s_kernel_ms[i] += kiln_cu_ms(c, i, i + 1);\n", nk, pre);
    cemit_dev_check(f, p, up);
    fputs("    return 0;\n}\n", f);
    cemit_output_shape(f, p, pre, 1);
    arena_free(a);
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}
