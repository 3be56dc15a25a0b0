/*
 * tests/ptx/fakecuda.c: a stand-in for the CUDA driver (built as
 * libcuda.so.1 by tests/ptx/run.sh) that keeps "device" memory in host
 * memory and runs no kernel: every driver call a --target ptx program
 * makes (runtime/kiln_cu.c) works, except cuLaunchKernel, which fails.
 *
 * It lets a machine without a GPU run the host side of a PTX program end
 * to end: the device block, the weights' upload, copies in and out, the
 * string pool's state and run status on the device, and the kernels
 * placed on the host (strings, image decoding: targets/c/cdev.c). A
 * program with any GPU launch fails at its first one, in one line.
 * cuModuleLoadDataEx checks only that the text looks like PTX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
enum { OK = 0, ERR_VALUE = 1, ERR_MEMORY = 2, ERR_IMAGE = 200, ERR_NOT_SUPPORTED = 801 };

static int token; /* the one context, module, stream, function and event */

CUresult cuInit(unsigned int flags) { return flags ? ERR_VALUE : OK; }

CUresult cuGetErrorString(CUresult e, const char **s)
{
    *s = e == ERR_NOT_SUPPORTED ? "operation not supported (the fake driver of tests/ptx runs no kernel)"
         : e == ERR_MEMORY      ? "out of memory"
         : e == ERR_IMAGE       ? "invalid PTX"
                                : "invalid value";
    return OK;
}

CUresult cuDeviceGetCount(int *n)
{
    *n = 1;
    return OK;
}

CUresult cuDeviceGet(int *dev, int ordinal)
{
    *dev = ordinal;
    return ordinal ? ERR_VALUE : OK;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev)
{
    *ctx = &token;
    return dev ? ERR_VALUE : OK;
}

CUresult cuDevicePrimaryCtxRelease_v2(int dev) { return dev ? ERR_VALUE : OK; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == &token ? OK : ERR_VALUE; }

CUresult cuModuleLoadDataEx(void **mod, const void *image, unsigned int n, int *opt, void **val)
{
    (void)n, (void)opt, (void)val;
    *mod = &token;
    return strstr((const char *)image, ".target sm_") ? OK : ERR_IMAGE;
}

CUresult cuModuleUnload(void *mod) { return mod == &token ? OK : ERR_VALUE; }

CUresult cuModuleGetFunction(void **fn, void *mod, const char *name)
{
    *fn = &token;
    return mod == &token && name && *name ? OK : ERR_VALUE;
}

CUresult cuMemAlloc_v2(unsigned long long *ptr, size_t bytes)
{
    void *p = calloc(bytes ? bytes : 1, 1);
    *ptr = (unsigned long long)(uintptr_t)p;
    return p ? OK : ERR_MEMORY;
}

CUresult cuMemFree_v2(unsigned long long ptr)
{
    free((void *)(uintptr_t)ptr);
    return OK;
}

CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t bytes)
{
    memcpy((void *)(uintptr_t)dst, src, bytes);
    return OK;
}

CUresult cuMemcpyHtoDAsync_v2(unsigned long long dst, const void *src, size_t bytes, void *s)
{
    (void)s;
    return cuMemcpyHtoD_v2(dst, src, bytes);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, unsigned long long src, size_t bytes, void *s)
{
    (void)s;
    memcpy(dst, (const void *)(uintptr_t)src, bytes);
    return OK;
}

CUresult cuStreamCreate(void **s, unsigned int flags)
{
    (void)flags;
    *s = &token;
    return OK;
}

CUresult cuStreamSynchronize(void *s)
{
    (void)s;
    return OK;
}

CUresult cuStreamDestroy_v2(void *s) { return s == &token ? OK : ERR_VALUE; }

CUresult cuEventCreate(void **e, unsigned int flags)
{
    (void)flags;
    *e = &token;
    return OK;
}

CUresult cuEventRecord(void *e, void *s)
{
    (void)s;
    return e == &token ? OK : ERR_VALUE;
}

CUresult cuEventElapsedTime(float *ms, void *a, void *b)
{
    (void)a, (void)b;
    *ms = 0;
    return OK;
}

CUresult cuEventDestroy_v2(void *e) { return e == &token ? OK : ERR_VALUE; }

CUresult cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                        unsigned int bz, unsigned int shmem, void *s, void **params, void **extra)
{
    (void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shmem, (void)s, (void)params,
        (void)extra;
    return ERR_NOT_SUPPORTED;
}
