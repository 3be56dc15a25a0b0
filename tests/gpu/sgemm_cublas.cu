/*
 * sgemm_cublas.cu: the reference tests/gpu/run.sh measures kiln's MatMul
 * against: C = A * B in fp32, row-major [N, N], on cuBLAS (cublasSgemm,
 * tensor cores off: CUBLAS_DEFAULT_MATH, so the same fp32 arithmetic as
 * kiln's kernel), timed with CUDA events.
 *
 *   nvcc -O3 -arch=sm_90 -o sgemm_cublas sgemm_cublas.cu -lcublas
 *   ./sgemm_cublas N ITERS   ->  "n=1024 median_ms=0.123 gflops=17400.1"
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sgemm_cublas N ITERS\n");
        return 2;
    }
    int n = atoi(argv[1]), iters = atoi(argv[2]);
    if (n < 1 || iters < 1 || iters > 10000) {
        fprintf(stderr, "sgemm_cublas: bad N or ITERS\n");
        return 2;
    }
    size_t bytes = (size_t)n * n * sizeof(float);
    float *h = (float *)malloc(bytes), *a, *b, *c;
    for (size_t i = 0; i < (size_t)n * n; i++)
        h[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    if (cudaMalloc((void **)&a, bytes) || cudaMalloc((void **)&b, bytes) || cudaMalloc((void **)&c, bytes)) {
        fprintf(stderr, "sgemm_cublas: no GPU or out of device memory\n");
        return 1;
    }
    cudaMemcpy(a, h, bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(b, h, bytes, cudaMemcpyHostToDevice);
    cublasHandle_t hd;
    if (cublasCreate(&hd) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "sgemm_cublas: cublasCreate failed\n");
        return 1;
    }
    cublasSetMathMode(hd, CUBLAS_DEFAULT_MATH);
    const float one = 1, zero = 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    float *ms = (float *)malloc(sizeof(float) * (size_t)iters);
    /* row-major C = A B is column-major C^T = B^T A^T: swap the operands */
    for (int it = -2; it < iters; it++) {
        cudaEventRecord(e0);
        cublasSgemm(hd, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, b, n, a, n, &zero, c, n);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        if (it >= 0)
            cudaEventElapsedTime(&ms[it], e0, e1);
    }
    if (cudaGetLastError() != cudaSuccess) {
        fprintf(stderr, "sgemm_cublas: a CUDA call failed\n");
        return 1;
    }
    qsort(ms, (size_t)iters, sizeof *ms, cmp);
    double med = ms[iters / 2];
    printf("n=%d median_ms=%.4f gflops=%.1f\n", n, med, 2.0 * n * n * (double)n / (med * 1e6));
    return 0;
}
