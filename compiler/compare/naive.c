/*
 * naive.c: `kiln compare`'s naive references: each operator it compares,
 * written as the plain loops of its ONNX definition, accumulating in
 * double. These are yardsticks for the harness, not kernels of the
 * compiler (kiln's code for an operator comes from its lowering in
 * compiler/ops/); the harness compiles this file with the model's flags.
 */
#include "kiln_cmp.h"

#include <math.h>
#include <stddef.h>

/* Y[b] (M,N) = A[b] (M,K) @ B[b] (K,N), batch dims broadcast */
static void naive_matmul(const kc_spec *s, const float *A, const float *B, float *Y)
{
    int64_t M = s->p[0], K = s->p[1], N = s->p[2], nbatch = 1;
    for (int i = 0; i < s->nb; i++)
        nbatch *= s->bdims[i];
    for (int64_t b = 0; b < nbatch; b++) {
        int64_t rest = b, ao = 0, bo = 0;
        for (int i = s->nb - 1; i >= 0; i--) {
            int64_t idx = rest % s->bdims[i];
            rest /= s->bdims[i];
            ao += idx * s->astr[i];
            bo += idx * s->bstr[i];
        }
        const float *a = A + ao * M * K, *bm = B + bo * K * N;
        float *y = Y + b * M * N;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)a[m * K + k] * bm[k * N + n];
                y[m * N + n] = (float)acc;
            }
    }
}

/* Y (M,N) = alpha * op(A) @ op(B) + beta * C */
static void naive_gemm(const kc_spec *s, const float *A, const float *B, const float *C, float *Y)
{
    int64_t M = s->p[0], K = s->p[1], N = s->p[2], ta = s->p[3], tb = s->p[4];
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)(ta ? A[k * M + m] : A[m * K + k]) * (tb ? B[n * K + k] : B[k * N + n]);
            acc *= s->f[0];
            if (s->p[5])
                acc += s->f[1] * C[m * s->p[6] + n * s->p[7]];
            Y[m * N + n] = (float)acc;
        }
}

/* Y (N,M,OH,OW) = conv(X (N,C,H,W), W (M,C/group,KH,KW)) + B (M) */
static void naive_conv(const kc_spec *s, const float *X, const float *W, const float *Bias, float *Y)
{
    const int64_t *p = s->p;
    int64_t N = p[0], C = p[1], H = p[2], Wd = p[3], M = p[4], KH = p[5], KW = p[6], OH = p[7], OW = p[8];
    int64_t sh = p[9], sw = p[10], ph = p[11], pw = p[12], dh = p[13], dw = p[14], G = p[15];
    int64_t cg = C / G, mg = M / G;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t g = m / mg;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = p[16] ? Bias[m] : 0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= Wd)
                                    continue;
                                acc += (double)X[((n * C + g * cg + c) * H + ih) * Wd + iw] *
                                       W[((m * cg + c) * KH + kh) * KW + kw];
                            }
                    Y[((n * M + m) * OH + oh) * OW + ow] = (float)acc;
                }
        }
}

/* Y = exp(X - max) / sum(exp(X - max)) along one axis */
static void naive_softmax(const kc_spec *s, const float *X, float *Y)
{
    int64_t outer = s->p[0], len = s->p[1], inner = s->p[2];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = X + o * len * inner + i;
            float *y = Y + o * len * inner + i;
            double mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < len; k++)
                mx = x[k * inner] > mx ? x[k * inner] : mx;
            for (int64_t k = 0; k < len; k++)
                sum += exp((double)x[k * inner] - mx);
            for (int64_t k = 0; k < len; k++)
                y[k * inner] = (float)(exp((double)x[k * inner] - mx) / sum);
        }
}

/* Y = (X - mean) / sqrt(var + epsilon) * Scale + B over the trailing inner elements */
static void naive_layernorm(const kc_spec *s, const float *X, const float *Scale, const float *B, float *Y)
{
    int64_t outer = s->p[0], inner = s->p[1];
    for (int64_t o = 0; o < outer; o++) {
        const float *x = X + o * inner;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < inner; i++)
            mean += x[i];
        mean /= (double)inner;
        for (int64_t i = 0; i < inner; i++)
            var += (x[i] - mean) * (x[i] - mean);
        var /= (double)inner;
        double inv = 1 / sqrt(var + s->f[0]);
        for (int64_t i = 0; i < inner; i++)
            Y[o * inner + i] = (float)((x[i] - mean) * inv * Scale[i] + (s->p[2] ? B[i] : 0));
    }
}

void kc_naive(const kc_spec *s, const float *const *in, float *out)
{
    switch (s->op) {
    case KC_MATMUL: naive_matmul(s, in[0], in[1], out); break;
    case KC_GEMM: naive_gemm(s, in[0], in[1], s->nin > 2 ? in[2] : NULL, out); break;
    case KC_CONV: naive_conv(s, in[0], in[1], s->nin > 2 ? in[2] : NULL, out); break;
    case KC_SOFTMAX: naive_softmax(s, in[0], out); break;
    case KC_LAYERNORM: naive_layernorm(s, in[0], in[1], s->nin > 2 ? in[2] : NULL, out); break;
    }
}
