/*
 * cdev.c: the part of a GPU target's model_run that the CUDA target
 * (targets/cuda/cuemit.c, CUDA runtime) and the PTX target
 * (targets/ptx/phost.c, CUDA driver) print alike. Each defines three
 * macros over its own device calls before model_run:
 *
 *   DEV_GET(dst, off, n)  copy n bytes at device offset off to host dst
 *   DEV_PUT(off, src, n)  copy n bytes of host src to device offset off
 *   DEV_SYNC()            wait for the stream
 *
 * each 0 on success, and passes the device offset of every buffer
 * (devoff[b]: weights at 0, the arena, inputs, outputs in one block).
 *
 * A kernel placed on the host (Kernel.host: strings, runtime routines)
 * runs on host copies of its buffers: the weights where the host has
 * them (PRE_weights), the inputs in the caller's memory, everything
 * else in a mirror of the device block from the arena on (hmem, the
 * same layout, allocated on the first run). The string pool's state and
 * the run status live in the arena, on the device: cleared there before
 * the first kernel and read back after the last.
 */
#include "cemit.h"

void cemit_dev_begin(FILE *f, const Program *p, const int64_t *devoff, int64_t hbytes, const char *up)
{
    if (prog_host_kernels(p)) {
        fprintf(f, "    /* the host's copy of device memory from the arena on, for the kernels\n"
                   "     * placed on the host */\n"
                   "    static unsigned char *hmem;\n");
        fprintf(f, "    if (!hmem && !(hmem = (unsigned char *)calloc(%lld, 1)))\n        return %s_ERR_DEVICE;\n",
                (long long)(hbytes > 0 ? hbytes : 1), up);
    }
    if (p->str_pool < 0 && p->status < 0)
        return;
    fprintf(f, "    /* the string pool's state and the run status, cleared on the device and\n"
               "     * read back after the last kernel */\n"
               "    static const int64_t zero[2] = {0, 0};\n    int64_t state[3] = {0, 0, 0};\n");
    if (p->str_pool >= 0)
        fprintf(f, "    if (DEV_PUT(%lld, zero, 16))\n        return %s_ERR_DEVICE;\n",
                (long long)devoff[p->str_pool], up);
    if (p->status >= 0)
        fprintf(f, "    if (DEV_PUT(%lld, zero, 8))\n        return %s_ERR_DEVICE;\n", (long long)devoff[p->status],
                up);
}

/* The host address of buffer b for a kernel on the host. */
static void host_ptr(FILE *f, const Program *p, int b, const int64_t *devoff, int64_t hbase, const char *pre)
{
    const Buffer *bf = &p->bufs[b];
    if (bf->kind == BUF_WEIGHT)
        fprintf(f, "(void *)(%s_weights + %lld)", pre, (long long)bf->offset);
    else if (bf->kind == BUF_INPUT)
        fprintf(f, "(void *)inputs[%d]", bf->index);
    else
        fprintf(f, "hmem + %lld", (long long)(devoff[b] - hbase));
}

/* Is buffer b copied between the device and hmem around a host kernel? */
static int mirrored(const Program *p, int b)
{
    BufKind k = p->bufs[b].kind;
    return k != BUF_WEIGHT && k != BUF_INPUT && k != BUF_LOCAL && p->bufs[b].numel > 0;
}

void cemit_dev_host_kernel(FILE *f, const Program *p, int ki, const int64_t *devoff, int64_t hbase, const char *pre,
                           const char *up, Arena *a)
{
    const Kernel *k = &p->kernels[ki];
    KUse *use;
    int nuse = kernel_uses(k, a, &use), n = 0;
    for (int j = 0; j < nuse; j++)
        n += p->bufs[use[j].buf].kind != BUF_LOCAL;
    fprintf(f, "    { /* %s runs on the host (string records or a runtime routine): its buffers\n"
               "       * copied from the device, and those it writes back */\n",
            k->name);
    fprintf(f, "        void *b[%d] = {", n ? n : 1);
    for (int j = 0, m = 0; j < nuse; j++) {
        if (p->bufs[use[j].buf].kind == BUF_LOCAL)
            continue;
        fputs(m++ ? ", " : "", f);
        host_ptr(f, p, use[j].buf, devoff, hbase, pre);
    }
    fprintf(f, "%s};\n", n ? "" : "0");
    for (int j = 0; j < nuse; j++) {
        int b = use[j].buf;
        if (mirrored(p, b))
            fprintf(f, "        if (DEV_GET(hmem + %lld, %lld, %lld)) /* %s */\n            return %s_ERR_DEVICE;\n",
                    (long long)(devoff[b] - hbase), (long long)devoff[b],
                    (long long)(p->bufs[b].numel * dtype_size(p->bufs[b].dtype)), p->bufs[b].name, up);
    }
    fprintf(f, "        if (DEV_SYNC())\n            return %s_ERR_DEVICE;\n", up);
    fprintf(f, "        %s_host_run(%d, b);\n", pre, ki);
    for (int j = 0; j < nuse; j++) {
        int b = use[j].buf;
        if (mirrored(p, b) && (use[j].rw & KU_WRITE))
            fprintf(f, "        if (DEV_PUT(%lld, hmem + %lld, %lld)) /* %s */\n            return %s_ERR_DEVICE;\n",
                    (long long)devoff[b], (long long)(devoff[b] - hbase),
                    (long long)(p->bufs[b].numel * dtype_size(p->bufs[b].dtype)), p->bufs[b].name, up);
    }
    fputs("    }\n", f);
}

void cemit_dev_fetch(FILE *f, const Program *p, const int64_t *devoff, const char *up)
{
    if (p->str_pool >= 0)
        fprintf(f, "    if (DEV_GET(state, %lld, 16)) /* the string pool's state */\n        return %s_ERR_DEVICE;\n",
                (long long)devoff[p->str_pool], up);
    if (p->status >= 0)
        fprintf(f, "    if (DEV_GET(state + 2, %lld, 8)) /* the run status */\n        return %s_ERR_DEVICE;\n",
                (long long)devoff[p->status], up);
}

void cemit_dev_check(FILE *f, const Program *p, const char *up)
{
    if (p->str_pool >= 0)
        fprintf(f, "    if (state[1]) /* %s_ERR_STRING_* */\n        return 2 + (int)state[1];\n", up);
    if (p->status >= 0)
        fprintf(f, "    if (state[2])\n        return %s_ERR_DATA;\n", up);
}
