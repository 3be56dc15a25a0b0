/*
 * kiln_cmp.h: the harness `kiln compare` builds (a program of its own, not
 * part of the compiler): what it measures, set by the generated kc_spec.c.
 *
 * The harness links kiln's build of a one-operator model (libmodel.a,
 * model.h) with a reference: naive.c's plain loops, OpenBLAS (dlopen'ed
 * at run time, never linked) or the user's function. Tensors are flat
 * row-major float arrays in the operator's ONNX input and output order.
 */
#ifndef KILN_CMP_H
#define KILN_CMP_H

#include <stdint.h>

enum { KC_MATMUL, KC_GEMM, KC_CONV, KC_SOFTMAX, KC_LAYERNORM };
enum { KC_REF_NAIVE, KC_REF_OPENBLAS, KC_REF_USER };
enum { KC_MAX_IN = 4, KC_MAX_BATCH = 8 };

/* Geometry p[] by op:
 *   MatMul     M K N; batch dims bdims[nb] of the output, with the
 *              matrix strides astr[], bstr[] of A and B (0: broadcast)
 *   Gemm       M K N transA transB hasC Crow Ccol (strides of C, 0:
 *              broadcast); f[0] alpha, f[1] beta
 *   Conv       N C H W M KH KW OH OW sh sw ph pw dh dw group hasB
 *   Softmax    outer len inner  (the axis has len elements, stride inner)
 *   LayerNorm  outer inner hasB; f[0] epsilon */
typedef struct kc_spec {
    int op;                    /* KC_MATMUL, ... */
    int ref;                   /* KC_REF_NAIVE, ... */
    int relu;                  /* the chain ends in Relu (naive, openblas apply it) */
    int nin;                   /* the operator's inputs */
    int runtime;               /* bit k: input k is a run-time input of kiln's model (else
                                * an initializer, built into it); input 0 always is */
    int64_t in_numel[KC_MAX_IN];
    int64_t out_numel;
    int64_t p[20];
    double f[4];
    int nb;                    /* MatMul batch dims */
    int64_t bdims[KC_MAX_BATCH], astr[KC_MAX_BATCH], bstr[KC_MAX_BATCH];
    int iters;                 /* timed rounds at most (one call of each side a round) */
    int warmup;                /* untimed rounds after the first */
    double budget_s;           /* stop timing after this many seconds (at least 3 rounds) */
    int threads;               /* OpenBLAS's thread count */
    double rtol, atol;         /* agreement: |kiln - ref| <= atol + rtol * |ref| */
} kc_spec;

typedef void kc_fn(const void *const *inputs, void *const *outputs);

extern const kc_spec kc;      /* kc_spec.c */
extern kc_fn *const kc_user;  /* kc_spec.c: the user's function, or NULL */

/* naive.c: the reference of s->op in plain loops (double accumulators),
 * without the Relu of a chain. */
void kc_naive(const kc_spec *s, const float *const *in, float *out);

#endif
