/*
 * kiln_cuda.h: the CUDA glue of a model built with --target cuda, included
 * once, by the generated model.cu (compiled by nvcc).
 *
 * model_run keeps everything on the device in one block of memory,
 * allocated and filled with the weights on the first call (kiln_cuda_setup):
 * the weights, then the scratch arena, then each input and output. Each
 * call copies the inputs in, launches the kernels on one stream, records
 * CUDA events around them (every kernel's with --profile), copies the
 * outputs out and waits (kiln_cuda_finish). Any CUDA failure is said on
 * stderr in one line and model_run returns MODEL_ERR_DEVICE: a machine
 * without a GPU gets "model: no CUDA GPU ..." and a non-zero exit.
 */
#ifndef KILN_CUDA_H
#define KILN_CUDA_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value's bits as another type of the same width (the C printer's
 * union cast, which C++ lacks). */
template <typename T, typename F> __host__ __device__ inline T kiln_bitcast(F f)
{
    T t;
    memcpy(&t, &f, sizeof t);
    return t;
}

static cudaStream_t kiln_cuda_stream;
static cudaEvent_t *kiln_cuda_ev; /* [kiln_cuda_nev] */
static int kiln_cuda_nev;
static double kiln_cuda_last_ms;  /* the last run's kernels, start to end */

/* 0 if e is success; else say what failed, and 1. */
static int kiln_cuda_check(cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return 0;
    fprintf(stderr, "model: CUDA: %s: %s\n", what, cudaGetErrorString(e));
    return 1;
}

/* The device memory of a model: `total` bytes, the first wbytes of them
 * the weights; a stream and nev events. NULL (and one line on stderr) if
 * there is no GPU or CUDA fails. */
static unsigned char *kiln_cuda_setup(const void *weights, size_t wbytes, size_t total, int nev)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        fprintf(stderr, "model: no CUDA GPU (%s): this model was compiled with --target cuda and needs one\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
        return NULL;
    }
    unsigned char *dev = NULL;
    if (kiln_cuda_check(cudaMalloc((void **)&dev, total ? total : 256), "cannot allocate device memory"))
        return NULL;
    if (wbytes && kiln_cuda_check(cudaMemcpy(dev, weights, wbytes, cudaMemcpyHostToDevice), "cannot upload the weights"))
        return NULL;
    /* a copy from pageable memory may return before its DMA is done, and
     * the model's stream does not wait for the default one: wait here */
    if (kiln_cuda_check(cudaDeviceSynchronize(), "cannot upload the weights"))
        return NULL;
    if (kiln_cuda_check(cudaStreamCreateWithFlags(&kiln_cuda_stream, cudaStreamNonBlocking), "cannot create a stream"))
        return NULL;
    kiln_cuda_ev = (cudaEvent_t *)calloc((size_t)nev, sizeof *kiln_cuda_ev);
    if (!kiln_cuda_ev) {
        fprintf(stderr, "model: out of memory\n");
        return NULL;
    }
    for (int i = 0; i < nev; i++)
        if (kiln_cuda_check(cudaEventCreate(&kiln_cuda_ev[i]), "cannot create an event"))
            return NULL;
    kiln_cuda_nev = nev;
    return dev;
}

/* Copy bytes of host memory to the device (in stream order). */
static int kiln_cuda_in(void *dev, const void *host, size_t bytes)
{
    return bytes && kiln_cuda_check(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, kiln_cuda_stream),
                                    "cannot copy an input to the device");
}

static int kiln_cuda_out(void *host, const void *dev, size_t bytes)
{
    return bytes && kiln_cuda_check(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, kiln_cuda_stream),
                                    "cannot copy an output from the device");
}

/* Wait for the stream (before a kernel placed on the host reads what
 * the device wrote). */
static int kiln_cuda_sync(void)
{
    return kiln_cuda_check(cudaStreamSynchronize(kiln_cuda_stream), "the model's kernels failed");
}
/* Record event i on the stream. */
static void kiln_cuda_mark(int i)
{
    if (i < kiln_cuda_nev)
        cudaEventRecord(kiln_cuda_ev[i], kiln_cuda_stream);
}

/* Wait for the run; the kernels' time from event 0 to event nev-1, and
 * with kernel_ms each kernel's (events i to i+1) added to kernel_ms[i].
 * 0, or 1 if a launch or the run failed. */
static int kiln_cuda_finish(double *kernel_ms, int nk)
{
    if (kiln_cuda_check(cudaStreamSynchronize(kiln_cuda_stream), "the model's kernels failed") ||
        kiln_cuda_check(cudaGetLastError(), "a kernel could not be launched"))
        return 1;
    float ms = 0;
    cudaEventElapsedTime(&ms, kiln_cuda_ev[0], kiln_cuda_ev[kiln_cuda_nev - 1]);
    kiln_cuda_last_ms = ms;
    for (int i = 0; kernel_ms && i < nk && i + 1 < kiln_cuda_nev; i++) {
        cudaEventElapsedTime(&ms, kiln_cuda_ev[i], kiln_cuda_ev[i + 1]);
        kernel_ms[i] += ms;
    }
    return 0;
}

#endif
