/*
 * kiln_cu.c: the CUDA driver glue of a --target ptx model (kiln_cu.h).
 *
 * The driver is opened with dlopen("libcuda.so.1") and its functions found
 * by name, declared here from the driver API's documented signatures (the
 * list below; tests/ptx/decls.c compiles it against CUDA's cuda.h, where
 * the toolkit is installed, to prove the declarations match). So building
 * a model needs only a C compiler; running it needs the NVIDIA driver, and
 * without one every call fails with a message that says so.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln_cu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KILN_CU_CHECK
/* tests/ptx/decls.c: cuda.h's own types, so a wrong declaration fails */
typedef CUresult kcu_result;
typedef CUdevice kcu_device;
typedef CUdeviceptr kcu_ptr;
typedef CUcontext kcu_ctx;
typedef CUmodule kcu_mod;
typedef CUfunction kcu_fn;
typedef CUstream kcu_stream;
typedef CUevent kcu_event;
typedef CUjit_option kcu_jit;
#else
typedef int kcu_result;
typedef int kcu_device;
typedef unsigned long long kcu_ptr;
typedef void *kcu_ctx;
typedef void *kcu_mod;
typedef void *kcu_fn;
typedef void *kcu_stream;
typedef void *kcu_event;
typedef int kcu_jit;
#endif

enum { KCU_JIT_ERROR_LOG_BUFFER = 5, KCU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6 };

/* The driver functions used: F(name the library exports, return type,
 * parameters). */
#define KCU_FUNCS(F)                                                                                     \
    F(cuInit, kcu_result, (unsigned int flags))                                                         \
    F(cuGetErrorString, kcu_result, (kcu_result error, const char **str))                               \
    F(cuDeviceGetCount, kcu_result, (int *count))                                                       \
    F(cuDeviceGet, kcu_result, (kcu_device *device, int ordinal))                                       \
    F(cuDevicePrimaryCtxRetain, kcu_result, (kcu_ctx *ctx, kcu_device dev))                             \
    F(cuDevicePrimaryCtxRelease_v2, kcu_result, (kcu_device dev))                                       \
    F(cuCtxSetCurrent, kcu_result, (kcu_ctx ctx))                                                       \
    F(cuModuleLoadDataEx, kcu_result, (kcu_mod *mod, const void *image, unsigned int n, kcu_jit *options, \
                                       void **values))                                                  \
    F(cuModuleUnload, kcu_result, (kcu_mod mod))                                                        \
    F(cuModuleGetFunction, kcu_result, (kcu_fn *fn, kcu_mod mod, const char *name))                     \
    F(cuMemAlloc_v2, kcu_result, (kcu_ptr *ptr, size_t bytes))                                          \
    F(cuMemFree_v2, kcu_result, (kcu_ptr ptr))                                                          \
    F(cuMemcpyHtoD_v2, kcu_result, (kcu_ptr dst, const void *src, size_t bytes))                        \
    F(cuMemcpyHtoDAsync_v2, kcu_result, (kcu_ptr dst, const void *src, size_t bytes, kcu_stream s))     \
    F(cuMemcpyDtoHAsync_v2, kcu_result, (void *dst, kcu_ptr src, size_t bytes, kcu_stream s))           \
    F(cuStreamCreate, kcu_result, (kcu_stream *s, unsigned int flags))                                  \
    F(cuStreamSynchronize, kcu_result, (kcu_stream s))                                                  \
    F(cuStreamDestroy_v2, kcu_result, (kcu_stream s))                                                   \
    F(cuEventCreate, kcu_result, (kcu_event *e, unsigned int flags))                                    \
    F(cuEventRecord, kcu_result, (kcu_event e, kcu_stream s))                                           \
    F(cuEventElapsedTime, kcu_result, (float *ms, kcu_event start, kcu_event end))                      \
    F(cuEventDestroy_v2, kcu_result, (kcu_event e))                                                     \
    F(cuLaunchKernel, kcu_result, (kcu_fn f, unsigned int gx, unsigned int gy, unsigned int gz,         \
                                   unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, \
                                   kcu_stream s, void **params, void **extra))

#define F(name, ret, params) typedef ret(*kcu_##name##_t) params;
KCU_FUNCS(F)
#undef F

#ifdef KILN_CU_CHECK
/* each declaration above must be the type of cuda.h's function */
#define F(name, ret, params) static kcu_##name##_t const check_##name = name;
KCU_FUNCS(F)
#undef F
#endif

typedef struct kcu_api {
#define F(name, ret, params) kcu_##name##_t name;
    KCU_FUNCS(F)
#undef F
} kcu_api;
static kcu_api api;

/* Record the failure of `what` (result r) in c->err; returns 1. */
static int fail(kiln_cu *c, const char *what, kcu_result r)
{
    const char *s = NULL;
    if (api.cuGetErrorString)
        api.cuGetErrorString(r, &s);
    if (!s && r == 34) /* CUDA_ERROR_STUB_LIBRARY */
        s = "the CUDA toolkit's stub libcuda was loaded, not a driver";
    snprintf(c->err, sizeof c->err, "CUDA %s failed: %s (%d)", what, s ? s : "unknown error", (int)r);
    return 1;
}

#define CALL(c, what, x)                      \
    do {                                      \
        kcu_result r_ = (x);                  \
        if (r_)                               \
            return fail((c), (what), r_);     \
    } while (0)

/* Find every driver function; 1 with a message when there is no driver
 * (api is set only when all are found). */
static int load(kiln_cu *c)
{
    if (api.cuInit)
        return 0;
    kcu_api found;
    c->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!c->lib)
        c->lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!c->lib) {
        snprintf(c->err, sizeof c->err, "no CUDA driver (libcuda.so.1 cannot be loaded): this model needs an "
                                        "NVIDIA GPU and its driver");
        return 1;
    }
    void *f;
#define F(name, ret, params)                                                                         \
    f = dlsym(c->lib, #name);                                                                        \
    if (!f && !strcmp(#name, "cuEventElapsedTime"))                                                  \
        f = dlsym(c->lib, "cuEventElapsedTime_v2");                                                  \
    if (!f) {                                                                                        \
        snprintf(c->err, sizeof c->err, "the CUDA driver has no %s: it is too old for this model", #name); \
        return 1;                                                                                    \
    }                                                                                                \
    memcpy(&found.name, &f, sizeof f);
    KCU_FUNCS(F)
#undef F
    api = found;
    return 0;
}

int kiln_cu_open(kiln_cu *c, const char *ptx, const char *const *names, int n, void **fn, size_t bytes,
                 const void *weights, size_t wbytes, size_t woff, int nev)
{
    if (c->ready)
        return 0;
    if (load(c))
        return 1;
    kcu_result r = api.cuInit(0);
    if (r)
        return fail(c, "initialization (no usable GPU or driver?)", r);
    int count = 0;
    CALL(c, "device count", api.cuDeviceGetCount(&count));
    if (count < 1) {
        snprintf(c->err, sizeof c->err, "no CUDA device: this model needs an NVIDIA GPU");
        return 1;
    }
    kcu_device dev;
    CALL(c, "device 0", api.cuDeviceGet(&dev, 0));
    kcu_ctx ctx;
    CALL(c, "context", api.cuDevicePrimaryCtxRetain(&ctx, dev));
    c->ctx = (void *)ctx;
    CALL(c, "context", api.cuCtxSetCurrent(ctx));
    /* the JIT's own message when the PTX does not load */
    static char log[4096];
    kcu_jit opt[2] = {(kcu_jit)KCU_JIT_ERROR_LOG_BUFFER, (kcu_jit)KCU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *val[2] = {log, (void *)(uintptr_t)sizeof log};
    kcu_mod mod;
    log[0] = 0;
    r = api.cuModuleLoadDataEx(&mod, ptx, 2, opt, val);
    if (r) {
        fail(c, "loading the model's PTX", r);
        size_t len = strlen(c->err);
        log[strcspn(log, "\n")] = 0;
        if (log[0])
            snprintf(c->err + len, sizeof c->err - len, ": %s", log);
        return 1;
    }
    c->mod = (void *)mod;
    for (int i = 0; i < n; i++) {
        kcu_fn f;
        r = api.cuModuleGetFunction(&f, mod, names[i]);
        if (r) {
            fail(c, "finding a kernel", r);
            return 1;
        }
        fn[i] = (void *)f;
    }
    c->fn = fn;
    c->nfn = n;
    kcu_ptr base = 0;
    CALL(c, "device memory allocation", api.cuMemAlloc_v2(&base, bytes ? bytes : 256));
    c->base = (uint64_t)base;
    c->bytes = bytes;
    if (wbytes)
        CALL(c, "weight upload", api.cuMemcpyHtoD_v2(base + woff, weights, wbytes));
    /* a copy from pageable memory may return before its DMA ends: the
     * weights are in place before any launch reads them */
    CALL(c, "weight upload", api.cuStreamSynchronize(NULL));
    kcu_stream s;
    CALL(c, "stream", api.cuStreamCreate(&s, 0));
    c->stream = (void *)s;
    if (nev > 0) {
        c->ev = calloc((size_t)nev, sizeof *c->ev);
        if (!c->ev) {
            snprintf(c->err, sizeof c->err, "out of memory");
            return 1;
        }
        c->nev = nev;
        for (int i = 0; i < nev; i++) {
            kcu_event e;
            CALL(c, "event", api.cuEventCreate(&e, 0));
            c->ev[i] = (void *)e;
        }
    }
    c->ready = 1;
    return 0;
}

int kiln_cu_put(kiln_cu *c, size_t off, const void *src, size_t n)
{
    if (n)
        CALL(c, "copy to the device", api.cuMemcpyHtoDAsync_v2(c->base + off, src, n, (kcu_stream)c->stream));
    return 0;
}

int kiln_cu_get(kiln_cu *c, void *dst, size_t off, size_t n)
{
    if (n)
        CALL(c, "copy from the device", api.cuMemcpyDtoHAsync_v2(dst, c->base + off, n, (kcu_stream)c->stream));
    return 0;
}

int kiln_cu_launch(kiln_cu *c, int k, unsigned grid, unsigned block, void **args)
{
    CALL(c, "kernel launch", api.cuLaunchKernel((kcu_fn)c->fn[k], grid, 1, 1, block, 1, 1, 0,
                                                (kcu_stream)c->stream, args, NULL));
    return 0;
}

int kiln_cu_mark(kiln_cu *c, int i)
{
    if (c->ev && i >= 0 && i < c->nev)
        CALL(c, "event record", api.cuEventRecord((kcu_event)c->ev[i], (kcu_stream)c->stream));
    return 0;
}

int kiln_cu_sync(kiln_cu *c)
{
    CALL(c, "run (stream synchronize)", api.cuStreamSynchronize((kcu_stream)c->stream));
    return 0;
}

double kiln_cu_ms(kiln_cu *c, int i, int j)
{
    float ms = 0;
    if (!c->ev || i < 0 || j < 0 || i >= c->nev || j >= c->nev || api.cuEventElapsedTime(&ms, (kcu_event)c->ev[i], (kcu_event)c->ev[j]))
        return -1;
    return ms;
}

void kiln_cu_close(kiln_cu *c)
{
    if (!c->ready)
        return;
    for (int i = 0; c->ev && i < c->nev; i++)
        api.cuEventDestroy_v2((kcu_event)c->ev[i]);
    free(c->ev);
    api.cuStreamDestroy_v2((kcu_stream)c->stream);
    api.cuMemFree_v2((kcu_ptr)c->base);
    api.cuModuleUnload((kcu_mod)c->mod);
    kcu_device dev;
    if (!api.cuDeviceGet(&dev, 0))
        api.cuDevicePrimaryCtxRelease_v2(dev);
    c->ready = 0;
    c->ev = NULL;
}
