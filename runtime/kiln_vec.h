/*
 * kiln_vec.h: SIMD vectors for kiln's generated C, header-only, C99 with GNU
 * vector extensions (gcc, clang).
 *
 * The C printer writes a vectorized loop as expressions over these types and
 * calls these functions by name: kiln_<op>_<type>, such as kiln_load_f32x8 or
 * kiln_exp_f32x16. The printer spells the names out, so they and their
 * signatures are a contract: renaming one breaks the generated code. Plain
 * arithmetic, comparisons, casts (__builtin_convertvector) and bit
 * reinterpretation ((kiln_i32x8)v) are written as C operators on the types.
 *
 * Types (vector_size, natural alignment; unaligned memory goes through
 * kiln_load_* / kiln_store_*):
 *   f32x4 f32x8 f32x16  i32x4 i32x8 i32x16  u32x4 u32x8 u32x16   mask i32xW
 *   f64x2 f64x4 f64x8 f64x16  i64x2 ... i64x16  u64x2 ... u64x16    mask i64xW
 *   i8x16 u8x16 i8x32 u8x32 (mask i8xW)  i16x8 u16x8 i16x16 u16x16 (mask i16xW)
 * A comparison of two f32xW gives i32xW, of two f64xW gives i64xW. A mask
 * lane is 0 (off) or -1 (all ones, on), as comparisons give; other values
 * are not masks (the x86 paths look only at the top bit).
 *
 * For every type T (lane type E, W lanes, mask M, index vector IDX = i64xW):
 *   kiln_load_T(const E *p)  kiln_store_T(E *p, v)    unaligned, W lanes
 *   kiln_bcast_T(E x)        kiln_ramp_T(E base, E step)   lane i: base + i*step
 *                            (integers wrap; floats may be computed with an fma)
 *   kiln_select_T(M m, a, b)                          m ? a : b per lane
 *   kiln_load_mask_T(p, M m, T other)                 m ? p[i] : other[i]; p[i]
 *                            is not touched where m is off (p may point past
 *                            the end of memory there)
 *   kiln_store_mask_T(p, M m, v)                      writes only lanes where m is on
 *   kiln_gather_T(const E *base, IDX idx)             base[idx[i]]   (W <= 16)
 *   kiln_gather_mask_T(base, idx, M m, T other)       m ? base[idx[i]] : other[i]
 *   kiln_below_M(int64_t n) -> M                      lane i on iff i < n (a remainder's
 *                            mask, for every mask type M; any n)
 *   kiln_load2_T(const E *p)                          p[2*i] (32- and 64-bit lanes):
 *                            a stride-2 load from two loads and one shuffle,
 *                            touching only p[0 .. 2W-2], as the gather would
 *   kiln_vmin_T(a, b)  kiln_vmax_T(a, b)              per lane, for floats exactly
 *                            a < b || a != a ? a : b  (and a > b for max):
 *                            a NaN in a propagates, a NaN in b is returned
 *                            when a is not NaN
 *   kiln_hsum_T  kiln_hmax_T  kiln_hmin_T -> E        horizontal, in a fixed tree
 *                            order: lane i combines with lane i + W/2, then the
 *                            W/2 results the same way, down to one lane. hmax
 *                            and hmin use vmax/vmin, so any NaN lane gives NaN.
 *   kiln_hany_M  kiln_hall_M -> int 0/1                any / all lanes on
 *   kiln_abs_T                                        integers wrap: abs(MIN) = MIN
 * Float types (f32x4/8/16, f64x2/4/8/16) also have:
 *   kiln_abs_T kiln_sqrt_T kiln_floor_T kiln_ceil_T kiln_trunc_T   exact
 *   kiln_round_T      exact, half to even (nearbyint in the default mode)
 *   kiln_exp_T kiln_log_T kiln_tanh_T kiln_erf_T kiln_sin_T kiln_cos_T
 *   kiln_pow_T(a, b)
 * Any other function of a float vector: KILN_MAP1(fn, v), KILN_MAP2(fn, a, b)
 * call a scalar function per lane (a GNU statement expression).
 *
 * Accuracy of the f32 functions, the largest error over every float
 * (tests/unit/test_vec --exhaustive), in ulp, from glibc 2.36's expf... /
 * from the exact value, with FMA (AVX2, AVX-512, NEON) and without:
 *             with FMA       without
 *   exp       1 / 1.01       1 / 0.99
 *   log       1 / 0.88       1 / 0.92
 *   tanh      2 / 0.88       2 / 0.89   (glibc's tanhf: 2.19 from exact)
 *   erf       1 / 1.05       1 / 1.23
 *   sin, cos  1 / 0.50       1 / 0.50   (|x| < 2^20; beyond, sinf/cosf)
 *   pow       1 ulp from powf over 2*10^6 random pairs and every pair of 74
 *             special values
 * Special values are libm's, bit for bit: NaN gives NaN; exp overflows to
 * inf and underflows through the subnormals to 0 where expf does; log(+-0)
 * = -inf, log(x < 0) = NaN, log(inf) = inf; tanh and erf reach +-1 and keep
 * the sign of zero; sin, cos and pow hand what they do not compute (|x| >=
 * 2^20, inf, NaN; a base <= 0 unless the exponent is an integer, non-finite
 * operands) to sinf/cosf/powf lane by lane. The f64 exp, log, tanh, erf,
 * sin, cos, pow call libm per lane (f64 vectors are rare). abs, sqrt,
 * floor, ceil, trunc and round are exact.
 *
 * Speed, ns per float over 4096 floats in L1, on the AVX-512 machine this
 * was written on (scalar libm loop / f32x8 with -mavx2 -mfma / f32x8 and
 * f32x16 with -march=native): exp 3.0 / 0.51 / 0.49, 0.32; log 3.4 / 0.79
 * / 0.73, 0.46; tanh 14.7 / 0.85 / 0.78, 0.59; erf 12.3 / 0.99 / 0.79,
 * 0.56; sin 4.2 / 1.34 / 0.91, 0.91; pow 5.7 / 4.9 / 2.5, 3.3. Use the
 * width of the target's registers (f32x4 for SSE and NEON, f32x8 for AVX2,
 * f32x16 for AVX-512): wider vectors work but gcc compiles some of their
 * shuffles through memory.
 *
 * Portability: the code is written with the vector extension, which gcc and
 * clang compile to SSE/AVX/AVX-512 or NEON; x86 intrinsics are used only
 * under #if (masked loads and stores, rounding, mask tests), with the
 * portable path kept. Gathers are lane loops: on AVX2 and AVX-512 they run
 * within 10% of vgather. A vector wider than the target's registers is
 * split by the compiler, and gcc and clang warn that the ABI of a function
 * taking one depends on -m flags (-Wpsabi). Everything here is inlined, so
 * this header turns that warning off for the file that includes it; gcc
 * may still print one "note: the ABI for passing parameters with N-byte
 * alignment has changed in GCC 4.6" (a note, not a warning; -Wno-psabi
 * silences it). Only <math.h>, <string.h>, <stdint.h> (and <immintrin.h>
 * on x86) are used; no state, no allocation.
 */
#ifndef KILN_VEC_H
#define KILN_VEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wpsabi"

/*
 * Everything is always inlined. gcc gives an out-of-line copy of a function
 * that passes a vector wider than the target's registers a -Wpsabi warning
 * without a source location, which the pragma above cannot reach.
 */
#define KILN__INLINE static inline __attribute__((always_inline))

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE4_1__)
#include <immintrin.h>
#define KILN__SSE41 1
#if defined(__AVX__)
#define KILN__AVX 1
#endif
#if defined(__AVX2__)
#define KILN__AVX2 1
#endif
#if defined(__AVX512F__)
#define KILN__AVX512 1
#if defined(__AVX512VL__)
#define KILN__AVX512VL 1
#if defined(__AVX512BW__)
#define KILN__AVX512BW 1
#endif
#endif
#endif
#endif

/* the width of the target's vector registers in bytes (no SIMD: any) */
#if defined(__AVX512F__)
#define KILN__VBYTES 64
#elif defined(__AVX__)
#define KILN__VBYTES 32
#elif defined(__SSE2__) || defined(__ARM_NEON) || defined(__ALTIVEC__) || defined(__riscv_vector)
#define KILN__VBYTES 16
#else
#define KILN__VBYTES 64
#endif

/* ---- types ---- */

typedef float kiln_f32x4 __attribute__((vector_size(16)));
typedef float kiln_f32x8 __attribute__((vector_size(32)));
typedef float kiln_f32x16 __attribute__((vector_size(64)));
typedef int32_t kiln_i32x4 __attribute__((vector_size(16)));
typedef int32_t kiln_i32x8 __attribute__((vector_size(32)));
typedef int32_t kiln_i32x16 __attribute__((vector_size(64)));
typedef uint32_t kiln_u32x4 __attribute__((vector_size(16)));
typedef uint32_t kiln_u32x8 __attribute__((vector_size(32)));
typedef uint32_t kiln_u32x16 __attribute__((vector_size(64)));
typedef double kiln_f64x2 __attribute__((vector_size(16)));
typedef double kiln_f64x4 __attribute__((vector_size(32)));
typedef double kiln_f64x8 __attribute__((vector_size(64)));
typedef int64_t kiln_i64x2 __attribute__((vector_size(16)));
typedef int64_t kiln_i64x4 __attribute__((vector_size(32)));
typedef int64_t kiln_i64x8 __attribute__((vector_size(64)));
typedef double kiln_f64x16 __attribute__((vector_size(128))); /* 64-bit x16: in 16-lane */
typedef int64_t kiln_i64x16 __attribute__((vector_size(128)));  /* kernels (index vectors) */
typedef uint64_t kiln_u64x2 __attribute__((vector_size(16)));
typedef uint64_t kiln_u64x4 __attribute__((vector_size(32)));
typedef uint64_t kiln_u64x8 __attribute__((vector_size(64)));
typedef uint64_t kiln_u64x16 __attribute__((vector_size(128)));
typedef int8_t kiln_i8x16 __attribute__((vector_size(16)));
typedef uint8_t kiln_u8x16 __attribute__((vector_size(16)));
typedef int8_t kiln_i8x32 __attribute__((vector_size(32)));
typedef uint8_t kiln_u8x32 __attribute__((vector_size(32)));
typedef int16_t kiln_i16x8 __attribute__((vector_size(16)));
typedef uint16_t kiln_u16x8 __attribute__((vector_size(16)));
typedef int16_t kiln_i16x16 __attribute__((vector_size(32)));
typedef uint16_t kiln_u16x16 __attribute__((vector_size(32)));

/*
 * The rest is generated by macros, one per family of functions, each
 * instantiated below its definition with one line per type. Internal
 * helpers are named kiln__*.
 */

/* ---- halves: kiln__lo_T, kiln__hi_T (lanes 0..W/2-1, W/2..W-1), kiln__join_T ---- */

#define KILN__HALVES(T, H)                                                                 \
    KILN__INLINE kiln_##H kiln__lo_##T(kiln_##T v)                                         \
    {                                                                                      \
        kiln_##H h;                                                                        \
        __builtin_memcpy(&h, &v, sizeof h);                                                \
        return h;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##H kiln__hi_##T(kiln_##T v)                                         \
    {                                                                                      \
        kiln_##H h;                                                                        \
        __builtin_memcpy(&h, (const char *)&v + sizeof h, sizeof h);                       \
        return h;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln__join_##T(kiln_##H lo, kiln_##H hi)                         \
    {                                                                                      \
        kiln_##T v;                                                                        \
        __builtin_memcpy(&v, &lo, sizeof lo);                                              \
        __builtin_memcpy((char *)&v + sizeof lo, &hi, sizeof hi);                          \
        return v;                                                                          \
    }

KILN__HALVES(f32x8, f32x4)
KILN__HALVES(f32x16, f32x8)
KILN__HALVES(i32x8, i32x4)
KILN__HALVES(i32x16, i32x8)
KILN__HALVES(u32x8, u32x4)
KILN__HALVES(u32x16, u32x8)
KILN__HALVES(f64x4, f64x2)
KILN__HALVES(f64x8, f64x4)
KILN__HALVES(f64x16, f64x8)
KILN__HALVES(i64x4, i64x2)
KILN__HALVES(i64x8, i64x4)
KILN__HALVES(i64x16, i64x8)
KILN__HALVES(u64x4, u64x2)
KILN__HALVES(u64x8, u64x4)
KILN__HALVES(u64x16, u64x8)
KILN__HALVES(i8x32, i8x16)
KILN__HALVES(u8x32, u8x16)
KILN__HALVES(i16x16, i16x8)
KILN__HALVES(u16x16, u16x8)

/*
 * ---- masked access and gathers, by mask type M (the lanes' bits) ----
 *   kiln__lmask_M(p, m, other)   kiln__smask_M(p, m, v)
 *   kiln__gather_M(base, idx)    kiln__gmask_M(base, idx, m, other)
 * The portable versions loop over the lanes and touch only the lanes that
 * are on; x86 versions use masked loads and stores, which do not fault on
 * lanes that are off.
 */

#define KILN__MASK_LOOP(M, E, W)                                                           \
    KILN__INLINE kiln_##M kiln__lmask_##M(const void *p, kiln_##M m, kiln_##M other)       \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            if (m[i]) {                                                                    \
                E e;                                                                       \
                __builtin_memcpy(&e, (const char *)p + i * sizeof e, sizeof e);            \
                other[i] = e;                                                              \
            }                                                                              \
        return other;                                                                      \
    }                                                                                      \
    KILN__INLINE void kiln__smask_##M(void *p, kiln_##M m, kiln_##M v)                     \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            if (m[i]) {                                                                    \
                E e = v[i];                                                                \
                __builtin_memcpy((char *)p + i * sizeof e, &e, sizeof e);                  \
            }                                                                              \
    }

#define KILN__GATHER_LOOP(M, E, W, IDX)                                                    \
    KILN__INLINE kiln_##M kiln__gather_##M(const void *base, kiln_##IDX idx)               \
    {                                                                                      \
        kiln_##M r = {0};                                                                  \
        for (int i = 0; i < W; i++) {                                                      \
            E e;                                                                           \
            __builtin_memcpy(&e, (const char *)base + idx[i] * (int64_t)sizeof e, sizeof e); \
            r[i] = e;                                                                      \
        }                                                                                  \
        return r;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##M kiln__gmask_##M(const void *base, kiln_##IDX idx, kiln_##M m,    \
                                           kiln_##M other)                                 \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            if (m[i]) {                                                                    \
                E e;                                                                       \
                __builtin_memcpy(&e, (const char *)base + idx[i] * (int64_t)sizeof e,      \
                                 sizeof e);                                                \
                other[i] = e;                                                              \
            }                                                                              \
        return other;                                                                      \
    }

/* a W-lane mask op as two W/2-lane ones */
#define KILN__MASK_HALVES(M, H)                                                            \
    KILN__INLINE kiln_##M kiln__lmask_##M(const void *p, kiln_##M m, kiln_##M other)       \
    {                                                                                      \
        return kiln__join_##M(                                                             \
            kiln__lmask_##H(p, kiln__lo_##M(m), kiln__lo_##M(other)),                      \
            kiln__lmask_##H((const char *)p + sizeof(kiln_##H), kiln__hi_##M(m),           \
                            kiln__hi_##M(other)));                                         \
    }                                                                                      \
    KILN__INLINE void kiln__smask_##M(void *p, kiln_##M m, kiln_##M v)                     \
    {                                                                                      \
        kiln__smask_##H(p, kiln__lo_##M(m), kiln__lo_##M(v));                              \
        kiln__smask_##H((char *)p + sizeof(kiln_##H), kiln__hi_##M(m), kiln__hi_##M(v));   \
    }

#if defined(KILN__AVX512VL)
/* AVX-512: a k-mask of the lanes that are not zero, then a merging load */
#define KILN__MASK_AVX512(M, PRE, SUF, IT, K)                                              \
    KILN__INLINE kiln_##M kiln__lmask_##M(const void *p, kiln_##M m, kiln_##M other)       \
    {                                                                                      \
        K k = PRE##_test_##SUF##_mask((IT)m, (IT)m);                                       \
        return (kiln_##M)PRE##_mask_loadu_##SUF((IT)other, k, p);                          \
    }                                                                                      \
    KILN__INLINE void kiln__smask_##M(void *p, kiln_##M m, kiln_##M v)                     \
    {                                                                                      \
        PRE##_mask_storeu_##SUF(p, PRE##_test_##SUF##_mask((IT)m, (IT)m), (IT)v);          \
    }
KILN__MASK_AVX512(i32x4, _mm, epi32, __m128i, __mmask8)
KILN__MASK_AVX512(i32x8, _mm256, epi32, __m256i, __mmask8)
KILN__MASK_AVX512(i32x16, _mm512, epi32, __m512i, __mmask16)
KILN__MASK_AVX512(i64x2, _mm, epi64, __m128i, __mmask8)
KILN__MASK_AVX512(i64x4, _mm256, epi64, __m256i, __mmask8)
KILN__MASK_AVX512(i64x8, _mm512, epi64, __m512i, __mmask8)
#elif defined(KILN__AVX)
/* AVX: vmaskmov loads zeros where the mask's top bit is clear; blend in other */
#define KILN__MASK_AVX(M, PRE, SUF, FT, ET, IT)                                            \
    KILN__INLINE kiln_##M kiln__lmask_##M(const void *p, kiln_##M m, kiln_##M other)       \
    {                                                                                      \
        FT v = PRE##_maskload_##SUF((const ET *)p, (IT)m);                                 \
        return (kiln_##M)PRE##_blendv_##SUF((FT)other, v, (FT)m);                          \
    }                                                                                      \
    KILN__INLINE void kiln__smask_##M(void *p, kiln_##M m, kiln_##M v)                     \
    {                                                                                      \
        PRE##_maskstore_##SUF((ET *)p, (IT)m, (FT)v);                                      \
    }
KILN__MASK_AVX(i32x4, _mm, ps, __m128, float, __m128i)
KILN__MASK_AVX(i32x8, _mm256, ps, __m256, float, __m256i)
KILN__MASK_AVX(i64x2, _mm, pd, __m128d, double, __m128i)
KILN__MASK_AVX(i64x4, _mm256, pd, __m256d, double, __m256i)
KILN__MASK_HALVES(i32x16, i32x8)
KILN__MASK_HALVES(i64x8, i64x4)
#else
KILN__MASK_LOOP(i32x4, int32_t, 4)
KILN__MASK_LOOP(i32x8, int32_t, 8)
KILN__MASK_LOOP(i32x16, int32_t, 16)
KILN__MASK_LOOP(i64x2, int64_t, 2)
KILN__MASK_LOOP(i64x4, int64_t, 4)
KILN__MASK_LOOP(i64x8, int64_t, 8)
#endif
KILN__MASK_HALVES(i64x16, i64x8)

#if defined(KILN__AVX512BW)
KILN__MASK_AVX512(i8x16, _mm, epi8, __m128i, __mmask16)
KILN__MASK_AVX512(i8x32, _mm256, epi8, __m256i, __mmask32)
KILN__MASK_AVX512(i16x8, _mm, epi16, __m128i, __mmask8)
KILN__MASK_AVX512(i16x16, _mm256, epi16, __m256i, __mmask16)
#else
KILN__MASK_LOOP(i8x16, int8_t, 16)
KILN__MASK_LOOP(i8x32, int8_t, 32)
KILN__MASK_LOOP(i16x8, int16_t, 8)
KILN__MASK_LOOP(i16x16, int16_t, 16)
#endif

KILN__GATHER_LOOP(i32x4, int32_t, 4, i64x4)
KILN__GATHER_LOOP(i32x8, int32_t, 8, i64x8)
KILN__GATHER_LOOP(i32x16, int32_t, 16, i64x16)
KILN__GATHER_LOOP(i64x2, int64_t, 2, i64x2)
KILN__GATHER_LOOP(i64x4, int64_t, 4, i64x4)
KILN__GATHER_LOOP(i64x8, int64_t, 8, i64x8)
KILN__GATHER_LOOP(i64x16, int64_t, 16, i64x16)
KILN__GATHER_LOOP(i8x16, int8_t, 16, i64x16)
KILN__GATHER_LOOP(i16x8, int16_t, 8, i64x8)
KILN__GATHER_LOOP(i16x16, int16_t, 16, i64x16)

/* ---- load, store, bcast, ramp, select, masked access, gathers, vmin/vmax ---- */

#define KILN__IOTA2 0, 1
#define KILN__IOTA4 0, 1, 2, 3
#define KILN__IOTA8 0, 1, 2, 3, 4, 5, 6, 7
#define KILN__IOTA16 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
#define KILN__IOTA32                                                                       \
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,  \
        24, 25, 26, 27, 28, 29, 30, 31

/* W copies of x: an initializer compilers turn into one broadcast */
#define KILN__DUP2(x) x, x
#define KILN__DUP4(x) KILN__DUP2(x), KILN__DUP2(x)
#define KILN__DUP8(x) KILN__DUP4(x), KILN__DUP4(x)
#define KILN__DUP16(x) KILN__DUP8(x), KILN__DUP8(x)
#define KILN__DUP32(x) KILN__DUP16(x), KILN__DUP16(x)

/* T: the type, E: its lane type, W: lanes, M: its mask type */
#define KILN__COMMON(T, E, W, M)                                                           \
    KILN__INLINE kiln_##T kiln_load_##T(const E *p)                                        \
    {                                                                                      \
        kiln_##T v;                                                                        \
        __builtin_memcpy(&v, p, sizeof v);                                                 \
        return v;                                                                          \
    }                                                                                      \
    KILN__INLINE void kiln_store_##T(E *p, kiln_##T v) { __builtin_memcpy(p, &v, sizeof v); } \
    KILN__INLINE kiln_##T kiln_bcast_##T(E x)                                              \
    {                                                                                      \
        return (kiln_##T){KILN__DUP##W(x)}; /* one broadcast instruction */                \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_select_##T(kiln_##M m, kiln_##T a, kiln_##T b)              \
    {                                                                                      \
        return (kiln_##T)(((kiln_##M)a & m) | ((kiln_##M)b & ~m));                         \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_load_mask_##T(const E *p, kiln_##M m, kiln_##T other)       \
    {                                                                                      \
        return (kiln_##T)kiln__lmask_##M(p, m, (kiln_##M)other);                           \
    }                                                                                      \
    KILN__INLINE void kiln_store_mask_##T(E *p, kiln_##M m, kiln_##T v)                    \
    {                                                                                      \
        kiln__smask_##M(p, m, (kiln_##M)v);                                                \
    }

/* integers: the ramp in the unsigned type U (wraps); abs (wraps: abs(MIN) = MIN), min, max */
#define KILN__INT(T, E, W, M, U, UE)                                                       \
    KILN__COMMON(T, E, W, M)                                                               \
    KILN__INLINE kiln_##T kiln_ramp_##T(E base, E step)                                    \
    {                                                                                      \
        kiln_##U i = {KILN__IOTA##W};                                                      \
        return (kiln_##T)((UE)base + i * (UE)step);                                        \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_abs_##T(kiln_##T a)                                         \
    {                                                                                      \
        return kiln_select_##T(a < 0, (kiln_##T)((UE)0 - (kiln_##U)a), a);                 \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_vmin_##T(kiln_##T a, kiln_##T b)                            \
    {                                                                                      \
        return kiln_select_##T(a < b, a, b);                                               \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_vmax_##T(kiln_##T a, kiln_##T b)                            \
    {                                                                                      \
        return kiln_select_##T(a > b, a, b);                                               \
    }

/* floats: the ramp, NaN-propagating min and max */
#define KILN__FLT(T, E, W, M)                                                              \
    KILN__COMMON(T, E, W, M)                                                               \
    KILN__INLINE kiln_##T kiln_ramp_##T(E base, E step)                                    \
    {                                                                                      \
        kiln_##T i = {KILN__IOTA##W};                                                      \
        return base + i * step;                                                            \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_vmin_##T(kiln_##T a, kiln_##T b)                            \
    {                                                                                      \
        return kiln_select_##T((a < b) | (a != a), a, b);                                  \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_vmax_##T(kiln_##T a, kiln_##T b)                            \
    {                                                                                      \
        return kiln_select_##T((a > b) | (a != a), a, b);                                  \
    }

#define KILN__GATHER(T, E, M, IDX)                                                         \
    KILN__INLINE kiln_##T kiln_gather_##T(const E *base, kiln_##IDX idx)                   \
    {                                                                                      \
        return (kiln_##T)kiln__gather_##M(base, idx);                                      \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_gather_mask_##T(const E *base, kiln_##IDX idx, kiln_##M m,  \
                                                kiln_##T other)                            \
    {                                                                                      \
        return (kiln_##T)kiln__gmask_##M(base, idx, m, (kiln_##M)other);                   \
    }

KILN__FLT(f32x4, float, 4, i32x4)
KILN__FLT(f32x8, float, 8, i32x8)
KILN__FLT(f32x16, float, 16, i32x16)
KILN__FLT(f64x2, double, 2, i64x2)
KILN__FLT(f64x4, double, 4, i64x4)
KILN__FLT(f64x8, double, 8, i64x8)
KILN__FLT(f64x16, double, 16, i64x16)
KILN__INT(i32x4, int32_t, 4, i32x4, u32x4, uint32_t)
KILN__INT(i32x8, int32_t, 8, i32x8, u32x8, uint32_t)
KILN__INT(i32x16, int32_t, 16, i32x16, u32x16, uint32_t)
KILN__INT(u32x4, uint32_t, 4, i32x4, u32x4, uint32_t)
KILN__INT(u32x8, uint32_t, 8, i32x8, u32x8, uint32_t)
KILN__INT(u32x16, uint32_t, 16, i32x16, u32x16, uint32_t)
KILN__INT(i64x2, int64_t, 2, i64x2, u64x2, uint64_t)
KILN__INT(i64x4, int64_t, 4, i64x4, u64x4, uint64_t)
KILN__INT(i64x8, int64_t, 8, i64x8, u64x8, uint64_t)
KILN__INT(i64x16, int64_t, 16, i64x16, u64x16, uint64_t)
KILN__INT(u64x2, uint64_t, 2, i64x2, u64x2, uint64_t)
KILN__INT(u64x4, uint64_t, 4, i64x4, u64x4, uint64_t)
KILN__INT(u64x8, uint64_t, 8, i64x8, u64x8, uint64_t)
KILN__INT(u64x16, uint64_t, 16, i64x16, u64x16, uint64_t)
KILN__INT(i8x16, int8_t, 16, i8x16, u8x16, uint8_t)
KILN__INT(u8x16, uint8_t, 16, i8x16, u8x16, uint8_t)
KILN__INT(i8x32, int8_t, 32, i8x32, u8x32, uint8_t)
KILN__INT(u8x32, uint8_t, 32, i8x32, u8x32, uint8_t)
KILN__INT(i16x8, int16_t, 8, i16x8, u16x8, uint16_t)
KILN__INT(u16x8, uint16_t, 8, i16x8, u16x8, uint16_t)
KILN__INT(i16x16, int16_t, 16, i16x16, u16x16, uint16_t)
KILN__INT(u16x16, uint16_t, 16, i16x16, u16x16, uint16_t)

KILN__GATHER(f32x4, float, i32x4, i64x4)
KILN__GATHER(f32x8, float, i32x8, i64x8)
KILN__GATHER(f32x16, float, i32x16, i64x16)
KILN__GATHER(i32x4, int32_t, i32x4, i64x4)
KILN__GATHER(i32x8, int32_t, i32x8, i64x8)
KILN__GATHER(i32x16, int32_t, i32x16, i64x16)
KILN__GATHER(u32x4, uint32_t, i32x4, i64x4)
KILN__GATHER(u32x8, uint32_t, i32x8, i64x8)
KILN__GATHER(u32x16, uint32_t, i32x16, i64x16)
KILN__GATHER(f64x2, double, i64x2, i64x2)
KILN__GATHER(f64x4, double, i64x4, i64x4)
KILN__GATHER(f64x8, double, i64x8, i64x8)
KILN__GATHER(f64x16, double, i64x16, i64x16)
KILN__GATHER(i64x2, int64_t, i64x2, i64x2)
KILN__GATHER(i64x4, int64_t, i64x4, i64x4)
KILN__GATHER(i64x8, int64_t, i64x8, i64x8)
KILN__GATHER(i64x16, int64_t, i64x16, i64x16)
KILN__GATHER(u64x2, uint64_t, i64x2, i64x2)
KILN__GATHER(u64x4, uint64_t, i64x4, i64x4)
KILN__GATHER(u64x8, uint64_t, i64x8, i64x8)
KILN__GATHER(u64x16, uint64_t, i64x16, i64x16)
KILN__GATHER(i8x16, int8_t, i8x16, i64x16)
KILN__GATHER(u8x16, uint8_t, i8x16, i64x16)
KILN__GATHER(i16x8, int16_t, i16x8, i64x8)
KILN__GATHER(u16x8, uint16_t, i16x8, i64x8)
KILN__GATHER(i16x16, int16_t, i16x16, i64x16)
KILN__GATHER(u16x16, uint16_t, i16x16, i64x16)

/* ---- kiln_below_M(n): lanes i < n on (one compare in the mask's own lanes) ---- */
#define KILN__BELOW(M, E, W)                                                               \
    KILN__INLINE kiln_##M kiln_below_##M(int64_t n)                                        \
    {                                                                                      \
        kiln_##M i = {KILN__IOTA##W};                                                      \
        E c = (E)(n < 0 ? 0 : n > W ? W : n);                                              \
        return (kiln_##M)(i < (kiln_##M){KILN__DUP##W(c)});                                \
    }
KILN__BELOW(i8x16, int8_t, 16)
KILN__BELOW(i8x32, int8_t, 32)
KILN__BELOW(i16x8, int16_t, 8)
KILN__BELOW(i16x16, int16_t, 16)
KILN__BELOW(i32x4, int32_t, 4)
KILN__BELOW(i32x8, int32_t, 8)
KILN__BELOW(i32x16, int32_t, 16)
KILN__BELOW(i64x2, int64_t, 2)
KILN__BELOW(i64x4, int64_t, 4)
KILN__BELOW(i64x8, int64_t, 8)
KILN__BELOW(i64x16, int64_t, 16)

/*
 * ---- stride-2 loads: lanes p[0], p[2], ..., p[2W-2] ----
 * v0 = p[0 .. W-1] and v1 = p[W-1 .. 2W-2]: lane i < W/2 is v0's lane 2i,
 * lane i >= W/2 is v1's lane 2i - (W-1), lane 2i+1 of the pair. No element
 * past p[2W-2] is read, so this is safe wherever the gather it replaces is.
 */
#define KILN__EVEN2 0, 3
#define KILN__EVEN4 0, 2, 5, 7
#define KILN__EVEN8 0, 2, 4, 6, 9, 11, 13, 15
#define KILN__EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31
#if defined(__clang__)
#define KILN__SHUFFLE2(M, a, b, W) __builtin_shufflevector(a, b, KILN__EVEN##W)
#else
#define KILN__SHUFFLE2(M, a, b, W) __builtin_shuffle(a, b, (kiln_##M){KILN__EVEN##W})
#endif

#define KILN__LOAD2(T, E, W, M)                                                            \
    KILN__INLINE kiln_##T kiln_load2_##T(const E *p)                                       \
    {                                                                                      \
        kiln_##T v0 = kiln_load_##T(p), v1 = kiln_load_##T(p + (W - 1));                  \
        return KILN__SHUFFLE2(M, v0, v1, W);                                               \
    }

KILN__LOAD2(f32x4, float, 4, i32x4)
KILN__LOAD2(f32x8, float, 8, i32x8)
KILN__LOAD2(f32x16, float, 16, i32x16)
KILN__LOAD2(i32x4, int32_t, 4, i32x4)
KILN__LOAD2(i32x8, int32_t, 8, i32x8)
KILN__LOAD2(i32x16, int32_t, 16, i32x16)
KILN__LOAD2(u32x4, uint32_t, 4, i32x4)
KILN__LOAD2(u32x8, uint32_t, 8, i32x8)
KILN__LOAD2(u32x16, uint32_t, 16, i32x16)
KILN__LOAD2(f64x2, double, 2, i64x2)
KILN__LOAD2(f64x4, double, 4, i64x4)
KILN__LOAD2(f64x8, double, 8, i64x8)
KILN__LOAD2(i64x2, int64_t, 2, i64x2)
KILN__LOAD2(i64x4, int64_t, 4, i64x4)
KILN__LOAD2(i64x8, int64_t, 8, i64x8)
KILN__LOAD2(u64x2, uint64_t, 2, i64x2)
KILN__LOAD2(u64x4, uint64_t, 4, i64x4)
KILN__LOAD2(u64x8, uint64_t, 8, i64x8)

/*
 * ---- horizontal reductions ----
 * The tree order (lane i with lane i + W/2) is part of the contract for
 * floats. The narrowest vector of each lane type reduces through an array;
 * wider ones combine their halves with one vector op first. Integer sums
 * wrap (they are done in UE, the unsigned lane type).
 */

KILN__INLINE float kiln__maxf(float a, float b) { return a > b || a != a ? a : b; }
KILN__INLINE float kiln__minf(float a, float b) { return a < b || a != a ? a : b; }
KILN__INLINE double kiln__maxd(double a, double b) { return a > b || a != a ? a : b; }
KILN__INLINE double kiln__mind(double a, double b) { return a < b || a != a ? a : b; }
#define KILN__MAXI(a, b) ((a) > (b) ? (a) : (b))
#define KILN__MINI(a, b) ((a) < (b) ? (a) : (b))

#define KILN__RED_TREE(T, E, W, UE, MAX, MIN)                                              \
    KILN__INLINE E kiln_hsum_##T(kiln_##T v)                                               \
    {                                                                                      \
        E a[W];                                                                            \
        __builtin_memcpy(a, &v, sizeof a);                                                 \
        for (int n = W / 2; n > 0; n /= 2)                                                 \
            for (int i = 0; i < n; i++)                                                    \
                a[i] = (E)((UE)a[i] + (UE)a[i + n]);                                       \
        return a[0];                                                                       \
    }                                                                                      \
    KILN__INLINE E kiln_hmax_##T(kiln_##T v)                                               \
    {                                                                                      \
        E a[W];                                                                            \
        __builtin_memcpy(a, &v, sizeof a);                                                 \
        for (int n = W / 2; n > 0; n /= 2)                                                 \
            for (int i = 0; i < n; i++)                                                    \
                a[i] = MAX(a[i], a[i + n]);                                                \
        return a[0];                                                                       \
    }                                                                                      \
    KILN__INLINE E kiln_hmin_##T(kiln_##T v)                                               \
    {                                                                                      \
        E a[W];                                                                            \
        __builtin_memcpy(a, &v, sizeof a);                                                 \
        for (int n = W / 2; n > 0; n /= 2)                                                 \
            for (int i = 0; i < n; i++)                                                    \
                a[i] = MIN(a[i], a[i + n]);                                                \
        return a[0];                                                                       \
    }

/* H: the half type, HU: the type the halves are added in */
#define KILN__RED_HALF(T, E, H, HU)                                                        \
    KILN__INLINE E kiln_hsum_##T(kiln_##T v)                                               \
    {                                                                                      \
        return kiln_hsum_##H((kiln_##H)((kiln_##HU)kiln__lo_##T(v) + (kiln_##HU)kiln__hi_##T(v))); \
    }                                                                                      \
    KILN__INLINE E kiln_hmax_##T(kiln_##T v)                                               \
    {                                                                                      \
        return kiln_hmax_##H(kiln_vmax_##H(kiln__lo_##T(v), kiln__hi_##T(v)));             \
    }                                                                                      \
    KILN__INLINE E kiln_hmin_##T(kiln_##T v)                                               \
    {                                                                                      \
        return kiln_hmin_##H(kiln_vmin_##H(kiln__lo_##T(v), kiln__hi_##T(v)));             \
    }

KILN__RED_TREE(f32x4, float, 4, float, kiln__maxf, kiln__minf)
KILN__RED_HALF(f32x8, float, f32x4, f32x4)
KILN__RED_HALF(f32x16, float, f32x8, f32x8)
KILN__RED_TREE(f64x2, double, 2, double, kiln__maxd, kiln__mind)
KILN__RED_HALF(f64x4, double, f64x2, f64x2)
KILN__RED_HALF(f64x8, double, f64x4, f64x4)
KILN__RED_HALF(f64x16, double, f64x8, f64x8)
KILN__RED_TREE(i32x4, int32_t, 4, uint32_t, KILN__MAXI, KILN__MINI)
KILN__RED_HALF(i32x8, int32_t, i32x4, u32x4)
KILN__RED_HALF(i32x16, int32_t, i32x8, u32x8)
KILN__RED_TREE(u32x4, uint32_t, 4, uint32_t, KILN__MAXI, KILN__MINI)
KILN__RED_HALF(u32x8, uint32_t, u32x4, u32x4)
KILN__RED_HALF(u32x16, uint32_t, u32x8, u32x8)
KILN__RED_TREE(i64x2, int64_t, 2, uint64_t, KILN__MAXI, KILN__MINI)
KILN__RED_HALF(i64x4, int64_t, i64x2, u64x2)
KILN__RED_HALF(i64x8, int64_t, i64x4, u64x4)
KILN__RED_HALF(i64x16, int64_t, i64x8, u64x8)
KILN__RED_TREE(u64x2, uint64_t, 2, uint64_t, KILN__MAXI, KILN__MINI)
KILN__RED_HALF(u64x4, uint64_t, u64x2, u64x2)
KILN__RED_HALF(u64x8, uint64_t, u64x4, u64x4)
KILN__RED_HALF(u64x16, uint64_t, u64x8, u64x8)
KILN__RED_TREE(i8x16, int8_t, 16, uint8_t, KILN__MAXI, KILN__MINI)
KILN__RED_TREE(u8x16, uint8_t, 16, uint8_t, KILN__MAXI, KILN__MINI)
KILN__RED_HALF(i8x32, int8_t, i8x16, u8x16)
KILN__RED_HALF(u8x32, uint8_t, u8x16, u8x16)
KILN__RED_TREE(i16x8, int16_t, 8, uint16_t, KILN__MAXI, KILN__MINI)
KILN__RED_TREE(u16x8, uint16_t, 8, uint16_t, KILN__MAXI, KILN__MINI)
KILN__RED_HALF(i16x16, int16_t, i16x8, u16x8)
KILN__RED_HALF(u16x16, uint16_t, u16x8, u16x8)

/* ---- kiln_hany_M, kiln_hall_M: is any / every lane of a mask on ---- */

#define KILN__ANY_TREE(M, E, W)                                                            \
    KILN__INLINE int kiln_hany_##M(kiln_##M m)                                             \
    {                                                                                      \
        E a[W], r = 0;                                                                     \
        __builtin_memcpy(a, &m, sizeof a);                                                 \
        for (int i = 0; i < W; i++)                                                        \
            r |= a[i];                                                                     \
        return r != 0;                                                                     \
    }
#define KILN__ANY_HALVES(M, H)                                                             \
    KILN__INLINE int kiln_hany_##M(kiln_##M m)                                              \
    {                                                                                      \
        return kiln_hany_##H(kiln__lo_##M(m) | kiln__hi_##M(m));                           \
    }
#define KILN__ANY_X86(M, TEST, IT)                                                         \
    KILN__INLINE int kiln_hany_##M(kiln_##M m) { return !TEST((IT)m, (IT)m); }
#define KILN__ALL(M)                                                                       \
    KILN__INLINE int kiln_hall_##M(kiln_##M m) { return !kiln_hany_##M(m == 0); }

#if defined(KILN__SSE41)
KILN__ANY_X86(i32x4, _mm_testz_si128, __m128i)
KILN__ANY_X86(i64x2, _mm_testz_si128, __m128i)
KILN__ANY_X86(i8x16, _mm_testz_si128, __m128i)
KILN__ANY_X86(i16x8, _mm_testz_si128, __m128i)
#else
KILN__ANY_TREE(i32x4, int32_t, 4)
KILN__ANY_TREE(i64x2, int64_t, 2)
KILN__ANY_TREE(i8x16, int8_t, 16)
KILN__ANY_TREE(i16x8, int16_t, 8)
#endif
#if defined(KILN__AVX)
KILN__ANY_X86(i32x8, _mm256_testz_si256, __m256i)
KILN__ANY_X86(i64x4, _mm256_testz_si256, __m256i)
KILN__ANY_X86(i8x32, _mm256_testz_si256, __m256i)
KILN__ANY_X86(i16x16, _mm256_testz_si256, __m256i)
#else
KILN__ANY_HALVES(i32x8, i32x4)
KILN__ANY_HALVES(i64x4, i64x2)
KILN__ANY_HALVES(i8x32, i8x16)
KILN__ANY_HALVES(i16x16, i16x8)
#endif
KILN__ANY_HALVES(i32x16, i32x8)
KILN__ANY_HALVES(i64x8, i64x4)
KILN__ANY_HALVES(i64x16, i64x8)
KILN__ALL(i32x4)
KILN__ALL(i32x8)
KILN__ALL(i32x16)
KILN__ALL(i64x2)
KILN__ALL(i64x4)
KILN__ALL(i64x8)
KILN__ALL(i64x16)
KILN__ALL(i8x16)
KILN__ALL(i8x32)
KILN__ALL(i16x8)
KILN__ALL(i16x16)

/*
 * ---- exact float functions: abs, sqrt, floor, ceil, trunc, round ----
 * sqrt is a lane loop that gcc and clang turn into one vector instruction
 * (with -fno-math-errno). Rounding uses the x86 round instructions from
 * SSE4.1 on, NEON's frint* on aarch64 (lane loops of the builtins, which
 * the compilers vectorize there), else the add-2^23 (2^52) trick, exact in
 * the default rounding mode.
 */

#define KILN__ABS_SQRT(T, W, U, SIGNBIT, SQRT)                                             \
    KILN__INLINE kiln_##T kiln_abs_##T(kiln_##T x)                                         \
    {                                                                                      \
        return (kiln_##T)((kiln_##U)x & ~(SIGNBIT));                                       \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_sqrt_##T(kiln_##T x)                                        \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = SQRT(x[i]);                                                             \
        return x;                                                                          \
    }
KILN__ABS_SQRT(f32x4, 4, u32x4, 0x80000000u, __builtin_sqrtf)
KILN__ABS_SQRT(f32x8, 8, u32x8, 0x80000000u, __builtin_sqrtf)
KILN__ABS_SQRT(f32x16, 16, u32x16, 0x80000000u, __builtin_sqrtf)
KILN__ABS_SQRT(f64x2, 2, u64x2, 0x8000000000000000u, __builtin_sqrt)
KILN__ABS_SQRT(f64x4, 4, u64x4, 0x8000000000000000u, __builtin_sqrt)
KILN__ABS_SQRT(f64x8, 8, u64x8, 0x8000000000000000u, __builtin_sqrt)
KILN__ABS_SQRT(f64x16, 16, u64x16, 0x8000000000000000u, __builtin_sqrt)

#define KILN__ROUND_HALVES(T, H)                                                           \
    KILN__INLINE kiln_##T kiln_floor_##T(kiln_##T x)                                       \
    {                                                                                      \
        return kiln__join_##T(kiln_floor_##H(kiln__lo_##T(x)), kiln_floor_##H(kiln__hi_##T(x))); \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_ceil_##T(kiln_##T x)                                        \
    {                                                                                      \
        return kiln__join_##T(kiln_ceil_##H(kiln__lo_##T(x)), kiln_ceil_##H(kiln__hi_##T(x))); \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_trunc_##T(kiln_##T x)                                       \
    {                                                                                      \
        return kiln__join_##T(kiln_trunc_##H(kiln__lo_##T(x)), kiln_trunc_##H(kiln__hi_##T(x))); \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_round_##T(kiln_##T x)                                       \
    {                                                                                      \
        return kiln__join_##T(kiln_round_##H(kiln__lo_##T(x)), kiln_round_##H(kiln__hi_##T(x))); \
    }

#if defined(KILN__SSE41)
#define KILN__ROUND_X86(T, FN)                                                             \
    KILN__INLINE kiln_##T kiln_floor_##T(kiln_##T x)                                       \
    {                                                                                      \
        return FN(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);                           \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_ceil_##T(kiln_##T x)                                        \
    {                                                                                      \
        return FN(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);                           \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_trunc_##T(kiln_##T x)                                       \
    {                                                                                      \
        return FN(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);                              \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_round_##T(kiln_##T x)                                       \
    {                                                                                      \
        return FN(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                       \
    }
KILN__ROUND_X86(f32x4, _mm_round_ps)
KILN__ROUND_X86(f64x2, _mm_round_pd)
#if defined(KILN__AVX)
KILN__ROUND_X86(f32x8, _mm256_round_ps)
KILN__ROUND_X86(f64x4, _mm256_round_pd)
#else
KILN__ROUND_HALVES(f32x8, f32x4)
KILN__ROUND_HALVES(f64x4, f64x2)
#endif
#if defined(KILN__AVX512)
KILN__ROUND_X86(f32x16, _mm512_roundscale_ps)
KILN__ROUND_X86(f64x8, _mm512_roundscale_pd)
#else
KILN__ROUND_HALVES(f32x16, f32x8)
KILN__ROUND_HALVES(f64x8, f64x4)
#endif
KILN__ROUND_HALVES(f64x16, f64x8)

#elif defined(__aarch64__)
#define KILN__ROUND_LOOP(T, W, SUF)                                                        \
    KILN__INLINE kiln_##T kiln_floor_##T(kiln_##T x)                                       \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = __builtin_floor##SUF(x[i]);                                             \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_ceil_##T(kiln_##T x)                                        \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = __builtin_ceil##SUF(x[i]);                                              \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_trunc_##T(kiln_##T x)                                       \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = __builtin_trunc##SUF(x[i]);                                             \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_round_##T(kiln_##T x)                                       \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = __builtin_nearbyint##SUF(x[i]);                                         \
        return x;                                                                          \
    }
KILN__ROUND_LOOP(f32x4, 4, f)
KILN__ROUND_LOOP(f32x8, 8, f)
KILN__ROUND_LOOP(f32x16, 16, f)
KILN__ROUND_LOOP(f64x2, 2, )
KILN__ROUND_LOOP(f64x4, 4, )
KILN__ROUND_LOOP(f64x8, 8, )
KILN__ROUND_LOOP(f64x16, 16, )

#else
/*
 * |x| < 2^23 (2^52): (|x| + 2^23) - 2^23 rounds |x| to an integer, half to
 * even; bigger values, infinities and NaN are integers already.
 */
#define KILN__ROUND_BITS(T, M, U, BIG, SIGNBIT)                                            \
    KILN__INLINE kiln_##T kiln_round_##T(kiln_##T x)                                       \
    {                                                                                      \
        kiln_##T a = kiln_abs_##T(x), r = a + BIG;                                         \
        r = r - BIG;                                                                       \
        r = (kiln_##T)((kiln_##U)r | ((kiln_##U)x & (SIGNBIT)));                           \
        return kiln_select_##T(a < BIG, r, x);                                             \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_floor_##T(kiln_##T x)                                       \
    {                                                                                      \
        kiln_##T r = kiln_round_##T(x);                                                    \
        return kiln_select_##T(r > x, r - 1, r);                                           \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_ceil_##T(kiln_##T x) { return -kiln_floor_##T(-x); }        \
    KILN__INLINE kiln_##T kiln_trunc_##T(kiln_##T x)                                       \
    {                                                                                      \
        kiln_##T r = kiln_floor_##T(kiln_abs_##T(x));                                      \
        return (kiln_##T)((kiln_##U)r | ((kiln_##U)x & (SIGNBIT)));                        \
    }
KILN__ROUND_BITS(f32x4, i32x4, u32x4, 0x1p23f, 0x80000000u)
KILN__ROUND_BITS(f32x8, i32x8, u32x8, 0x1p23f, 0x80000000u)
KILN__ROUND_BITS(f32x16, i32x16, u32x16, 0x1p23f, 0x80000000u)
KILN__ROUND_BITS(f64x2, i64x2, u64x2, 0x1p52, 0x8000000000000000u)
KILN__ROUND_BITS(f64x4, i64x4, u64x4, 0x1p52, 0x8000000000000000u)
KILN__ROUND_BITS(f64x8, i64x8, u64x8, 0x1p52, 0x8000000000000000u)
KILN__ROUND_BITS(f64x16, i64x16, u64x16, 0x1p52, 0x8000000000000000u)
#endif

/*
 * ---- f32 exp, log, tanh, erf ----
 * V: the f32 vector, I and U: the same-width int32 and uint32 vectors.
 * No table lookups and no branches: every lane runs the same instructions.
 *
 * e^r - 1 = r + r^2 Q(r) for |r| <= ln2/2, Q a minimax polynomial of degree
 * 4 (relative error 3.4e-9). x = n ln2 + r with ln2 in two parts, the
 * first with 16 bits so that n * LN2_HI is exact; n = round(x / ln2) comes
 * from adding 1.5 * 2^23, which leaves n in the low bits of the sum.
 */
#define KILN__LOG2E 0x1.715476p+0f
#define KILN__LN2_HI 0x1.62e4p-1f
#define KILN__LN2_LO 0x1.7f7d1cp-20f
#define KILN__SHIFT 0x1.8p23f
#define KILN__SHIFT_BITS 0x4b400000u
#define KILN__EXPM1_POLY(r)                                                                \
    ((r) + (r) * (r) * ((((0x1.6a4bf0p-10f * (r) + 0x1.123e62p-7f) * (r) + 0x1.5558bap-5f) * (r) + \
                         0x1.55548cp-3f) * (r) + 0x1.fffffcp-2f))

/*
 * exp: the scale 2^n is applied as 2^n1 * 2^n2 (n1 = n >> 1), both normal
 * for every n in [-150, 128], so that a result in the subnormals or past
 * FLT_MAX comes from one rounding of the final product, as in libm.
 */
#define KILN__EXPF(V, I, U)                                                                \
    KILN__INLINE kiln_##V kiln_exp_##V(kiln_##V x)                                         \
    {                                                                                      \
        x = kiln_select_##V(x < -104.0f, kiln_bcast_##V(-104.0f), x); /* NaN stays */      \
        x = kiln_select_##V(x > 89.0f, kiln_bcast_##V(89.0f), x);                          \
        kiln_##V k = x * KILN__LOG2E + KILN__SHIFT;                                        \
        kiln_##V n = k - KILN__SHIFT;                                                      \
        kiln_##V r = x - n * KILN__LN2_HI - n * KILN__LN2_LO;                              \
        kiln_##V p = KILN__EXPM1_POLY(r);                                                  \
        kiln_##I ni = (kiln_##I)((kiln_##U)k - KILN__SHIFT_BITS);                          \
        kiln_##I n1 = ni >> 1, n2 = ni - n1;                                               \
        kiln_##V s1 = (kiln_##V)((kiln_##U)(n1 + 127) << 23);                              \
        kiln_##V s2 = (kiln_##V)((kiln_##U)(n2 + 127) << 23);                              \
        return (s1 + s1 * p) * s2;                                                         \
    }

/*
 * log: x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact);
 * log(1 + f) = f - f^2/2 + f^3 P(f), P of degree 7 (relative error 5.9e-9).
 * k ln2 + f is summed exactly (Fast2Sum) before the small terms are added.
 * Subnormal x is scaled by 2^23 first.
 */
#define KILN__LOGF(V, I, U)                                                                \
    KILN__INLINE kiln_##V kiln_log_##V(kiln_##V x)                                         \
    {                                                                                      \
        kiln_##I tiny = x < 0x1p-126f;                                                     \
        kiln_##V xs = kiln_select_##V(tiny, x * 0x1p23f, x);                               \
        kiln_##U ix = (kiln_##U)xs - 0x3f3504f3u;                                          \
        kiln_##I k = ((kiln_##I)ix >> 23) - (tiny & 23);                                   \
        kiln_##V f = (kiln_##V)((ix & 0x007fffffu) + 0x3f3504f3u) - 1.0f;                  \
        kiln_##V kf = __builtin_convertvector(k, kiln_##V);                                \
        kiln_##V P = (((((((-0x1.38da3cp-4f * f + 0x1.056dfep-3f) * f - 0x1.0d8696p-3f) * f + \
                          0x1.22d790p-3f) * f - 0x1.5471f6p-3f) * f + 0x1.99a026p-3f) * f - \
                       0x1.000228p-2f) * f + 0x1.555554p-2f);                              \
        kiln_##V y = f * f;                                                                \
        kiln_##V c = y * (f * P - 0.5f);                                                   \
        kiln_##V kh = kf * KILN__LN2_HI;                                                   \
        kiln_##V hi = kh + f;                                                              \
        kiln_##V lo = (kh - hi) + f;                                                       \
        kiln_##V r = hi + (lo + (kf * KILN__LN2_LO + c));                                  \
        r = kiln_select_##V(x == __builtin_inff(), x, r);                                  \
        r = kiln_select_##V(x == 0.0f, kiln_bcast_##V(-__builtin_inff()), r);              \
        r = kiln_select_##V(x < 0.0f, kiln_bcast_##V(__builtin_nanf("")), r);              \
        return kiln_select_##V(x != x, x, r);                                              \
    }

/*
 * tanh: |x| < 0.55 (where tanh < 1/2): x + x^3 P(x^2), P of degree 4
 * (relative error 1.2e-9); else 1 - 2 / (e^(2|x|) + 1), with |x| clamped
 * to 9.5, where tanh rounds to 1. The sign is copied back (tanh(-0) = -0).
 */
#define KILN__TANHF(V, I, U)                                                               \
    KILN__INLINE kiln_##V kiln_tanh_##V(kiln_##V x)                                        \
    {                                                                                      \
        kiln_##U sign = (kiln_##U)x & 0x80000000u;                                         \
        kiln_##V a = (kiln_##V)((kiln_##U)x ^ sign);                                       \
        kiln_##V z = a * a;                                                                \
        kiln_##V P = (((-0x1.9921a0p-8f * z + 0x1.58e518p-6f) * z - 0x1.b91e7ep-5f) * z +  \
                      0x1.110ceep-3f) * z - 0x1.55554ap-2f;                                \
        kiln_##V small = a + a * z * P;                                                    \
        kiln_##V b = kiln_select_##V(a > 9.5f, kiln_bcast_##V(9.5f), a); /* NaN stays */   \
        kiln_##V y = b + b;                                                                \
        kiln_##V k = y * KILN__LOG2E + KILN__SHIFT;                                        \
        kiln_##V n = k - KILN__SHIFT;                                                      \
        kiln_##V r = y - n * KILN__LN2_HI - n * KILN__LN2_LO;                              \
        kiln_##V s = (kiln_##V)(((kiln_##U)k - KILN__SHIFT_BITS + 127u) << 23);            \
        kiln_##V A = s * KILN__EXPM1_POLY(r), B = s + 1.0f;                                \
        kiln_##V w = A + B, wl = (B - w) + A; /* e^2|x| + 1 = w + wl */                    \
        kiln_##V d = 2.0f / w;                                                             \
        kiln_##V t = 1.0f - d, tl = (1.0f - t) - d; /* 1 - d = t + tl */                   \
        kiln_##V big = t + (tl + 0.5f * d * d * wl);                                       \
        kiln_##V res = kiln_select_##V(a < 0.55f, small, big);                             \
        return (kiln_##V)((kiln_##U)res | sign);                                           \
    }

/*
 * erf: |x| < 0.875: x + x S(x^2), S of degree 6 (relative error 8.6e-10);
 * else 1 - e^(-x^2) R(x), R(x) ~ erfc(x) e^(x^2) of degree 9 in x - 2.4375
 * (absolute error 1.2e-9), with |x| clamped to 4, where erf rounds to 1.
 */
#define KILN__ERFF(V, I, U)                                                                \
    KILN__INLINE kiln_##V kiln_erf_##V(kiln_##V x)                                         \
    {                                                                                      \
        kiln_##U sign = (kiln_##U)x & 0x80000000u;                                         \
        kiln_##V a = (kiln_##V)((kiln_##U)x ^ sign);                                       \
        kiln_##V z = a * a;                                                                \
        kiln_##V S = (((((0x1.49badap-14f * z - 0x1.a4c3a0p-11f) * z + 0x1.5430bcp-8f) * z - \
                        0x1.b7ff88p-6f) * z + 0x1.ce2d5cp-4f) * z - 0x1.812740p-2f) * z +  \
                     0x1.06eba8p-3f;                                                       \
        kiln_##V small = a + a * S;                                                        \
        kiln_##V b = kiln_select_##V(a < 0.875f, kiln_bcast_##V(0.875f), a);               \
        b = kiln_select_##V(b > 4.0f, kiln_bcast_##V(4.0f), b); /* NaN stays */            \
        kiln_##V t = -(b * b);                                                             \
        kiln_##V k = t * KILN__LOG2E + KILN__SHIFT;                                        \
        kiln_##V n = k - KILN__SHIFT;                                                      \
        kiln_##V r = t - n * KILN__LN2_HI - n * KILN__LN2_LO;                              \
        kiln_##V s = (kiln_##V)(((kiln_##U)k - KILN__SHIFT_BITS + 127u) << 23);            \
        kiln_##V e = s + s * KILN__EXPM1_POLY(r); /* e^(-b^2) */                           \
        kiln_##V u = b - 2.4375f;                                                          \
        kiln_##V R = ((((((((-0x1.4029ecp-15f * u - 0x1.883242p-14f) * u - 0x1.a40660p-13f) * u + \
                           0x1.f47178p-13f) * u - 0x1.6823c2p-11f) * u + 0x1.6fece8p-9f) * u - \
                        0x1.1b11aep-7f) * u + 0x1.b1eb1ep-6f) * u - 0x1.3db498p-4f) * u +  \
                     0x1.b97384p-3f;                                                       \
        kiln_##V big = 1.0f - e * R;                                                       \
        kiln_##V res = kiln_select_##V(a < 0.875f, small, big);                            \
        return (kiln_##V)((kiln_##U)res | sign);                                           \
    }

/*
 * A vector wider than the target's registers is computed as two halves:
 * gcc's code for the wide one goes through memory and runs 2-4x slower.
 */
#define KILN__F1_HALVES(FN, T, H)                                                          \
    KILN__INLINE kiln_##T kiln_##FN##_##T(kiln_##T x)                                      \
    {                                                                                      \
        return kiln__join_##T(kiln_##FN##_##H(kiln__lo_##T(x)), kiln_##FN##_##H(kiln__hi_##T(x))); \
    }
#define KILN__F32_MATH(V, I, U)                                                            \
    KILN__EXPF(V, I, U)                                                                    \
    KILN__LOGF(V, I, U)                                                                    \
    KILN__TANHF(V, I, U)                                                                   \
    KILN__ERFF(V, I, U)
#define KILN__F32_MATH_HALVES(T, H)                                                        \
    KILN__F1_HALVES(exp, T, H)                                                             \
    KILN__F1_HALVES(log, T, H)                                                             \
    KILN__F1_HALVES(tanh, T, H)                                                            \
    KILN__F1_HALVES(erf, T, H)

KILN__F32_MATH(f32x4, i32x4, u32x4)
#if KILN__VBYTES >= 32
KILN__F32_MATH(f32x8, i32x8, u32x8)
#else
KILN__F32_MATH_HALVES(f32x8, f32x4)
#endif
#if KILN__VBYTES >= 64
KILN__F32_MATH(f32x16, i32x16, u32x16)
#else
KILN__F32_MATH_HALVES(f32x16, f32x8)
#endif

/*
 * ---- f32 sin, cos, pow: computed in double ----
 * A float converts to double exactly and the double result is rounded once
 * to float, so these are within a hair of correctly rounded. f32x4 works in
 * f64x4, f32x8 in f64x8 where that fits a register (else as two f32x4),
 * f32x16 as two f32x8.
 *
 * sin/cos: n = round(x 2/pi), r = x - n pi/2 with pi/2 in two parts (the
 * first of 33 bits: n pi/2 is exact for |n| < 2^20), then minimax
 * polynomials on |r| <= pi/4 (sin of degree 9, relative error 5e-12; cos
 * of degree 8, 1.2e-13) and the quadrant n mod 4 (cos: n + 1). Lanes with
 * |x| >= 2^20, inf or NaN call sinf/cosf.
 *
 * pow(a, b) = 2^(b log2|a|): log(m) = 2 atanh(s), s = (m-1)/(m+1),
 * |s| <= 0.172, by its series to s^15 (relative error 3e-14); 2^y by a
 * Taylor polynomial of degree 11 on |y - round(y)| <= 1/2. A negative base
 * with an integer exponent takes the sign of (-1)^b. Lanes with a base <= 0
 * (other than that case) or a non-finite operand call powf.
 */
#define KILN__F64_CORES(D, DI, DU)                                                         \
    KILN__INLINE kiln_##D kiln__sin_##D(kiln_##D x, int cosine)                            \
    {                                                                                      \
        kiln_##D k = x * 0x1.45f306dc9c883p-1 + 0x1.8p52;                                  \
        kiln_##D n = k - 0x1.8p52;                                                         \
        kiln_##D r = x - n * 0x1.921fb544p+0 - n * 0x1.0b4611a626331p-34;                  \
        kiln_##DU q = (kiln_##DU)k + (uint64_t)cosine;                                     \
        kiln_##D z = r * r;                                                                \
        /* r * (1 + ...), not r + r * (...): sin(-0) = -0 */                               \
        kiln_##D sp = r * (1.0 + z * (-0x1.5555554c5f30dp-3 +                              \
                                      z * (0x1.1111085cd2ae2p-7 +                          \
                                           z * (-0x1.a00f74364bb24p-13 +                   \
                                                z * 0x1.6ccf543a4713ap-19))));             \
        kiln_##D cp = 1.0 - 0.5 * z +                                                      \
                      z * z * (0x1.5555554ecbcf7p-5 +                                      \
                               z * (-0x1.6c16b81b764c5p-10 +                               \
                                    z * (0x1.a010d53b946b2p-16 +                           \
                                         z * -0x1.241ca3b4fa6a3p-22)));                    \
        kiln_##D res = kiln_select_##D((q & 1) != 0, cp, sp);                              \
        return (kiln_##D)((kiln_##DU)res ^ ((q & 2) << 62));                               \
    }                                                                                      \
    KILN__INLINE kiln_##D kiln__pow_##D(kiln_##D a, kiln_##D b)                            \
    {                                                                                      \
        kiln_##DU ix = ((kiln_##DU)a & 0x7fffffffffffffffu) - 0x3fe6a09e667f3bcdu;         \
        kiln_##DI k = (kiln_##DI)ix >> 52;                                                 \
        kiln_##D m = (kiln_##D)((ix & 0x000fffffffffffffu) + 0x3fe6a09e667f3bcdu);         \
        kiln_##D s = (m - 1.0) / (m + 1.0), s2 = s * s;                                    \
        kiln_##D ln = s * (2.0 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 *      \
                      (2.0 / 9 + s2 * (2.0 / 11 + s2 * (2.0 / 13 + s2 * (2.0 / 15)))))))); \
        kiln_##D y = b * (__builtin_convertvector(k, kiln_##D) + ln * 0x1.71547652b82fep+0); \
        y = kiln_select_##D(y < -400.0, kiln_bcast_##D(-400.0), y);                        \
        y = kiln_select_##D(y > 400.0, kiln_bcast_##D(400.0), y);                          \
        kiln_##D kk = y + 0x1.8p52, n = kk - 0x1.8p52;                                     \
        kiln_##D t = (y - n) * 0x1.62e42fefa39efp-1;                                       \
        kiln_##D e = 1.0 + t * (1.0 + t * (1.0 / 2 + t * (1.0 / 6 + t * (1.0 / 24 + t *    \
                     (1.0 / 120 + t * (1.0 / 720 + t * (1.0 / 5040 + t * (1.0 / 40320 +    \
                     t * (1.0 / 362880 + t * (1.0 / 3628800 + t * (1.0 / 39916800))))))))))); \
        kiln_##D scale = (kiln_##D)(((kiln_##DU)kk - 0x4338000000000000u + 1023u) << 52);  \
        kiln_##D half = b * 0.5;                                                           \
        kiln_##DI odd = (a < 0.0) & (kiln_floor_##D(half) != half);                        \
        return (kiln_##D)((kiln_##DU)(e * scale) ^ ((kiln_##DU)odd & 0x8000000000000000u)); \
    }
KILN__F64_CORES(f64x4, i64x4, u64x4)
#if KILN__VBYTES >= 64
KILN__F64_CORES(f64x8, i64x8, u64x8)
#endif

/*
 * The lanes that libm computes: out of line and cold, so that the compiler
 * neither inlines nor speculates the calls (with -fno-math-errno they have
 * no side effects, and gcc would call them for every lane).
 */
static __attribute__((unused, noinline, cold)) void kiln__libm_lanes(float *y, const float *a,
                                                                   const float *b, const int32_t *m,
                                                                   int n, int fn)
{
    for (int i = 0; i < n; i++)
        if (m[i])
            y[i] = fn == 0 ? sinf(a[i]) : fn == 1 ? cosf(a[i]) : powf(a[i], b[i]);
}

/* V: the f32 type, D: the f64 type of as many lanes, I: V's mask type */
#define KILN__SINCOSPOW(V, D, I, W)                                                        \
    KILN__INLINE kiln_##V kiln__sinf_##V(kiln_##V x, int cosine)                           \
    {                                                                                      \
        kiln_##D d = __builtin_convertvector(x, kiln_##D);                                 \
        kiln_##V r = __builtin_convertvector(kiln__sin_##D(d, cosine), kiln_##V);          \
        kiln_##I big = ~(kiln_abs_##V(x) < 0x1p20f); /* and inf, NaN */                    \
        if (kiln_hany_##I(big)) {                                                          \
            float y[W], a[W];                                                              \
            int32_t m[W];                                                                  \
            kiln_store_##V(y, r);                                                          \
            kiln_store_##V(a, x);                                                          \
            kiln_store_##I(m, big);                                                        \
            kiln__libm_lanes(y, a, a, m, W, cosine);                                       \
            r = kiln_load_##V(y);                                                          \
        }                                                                                  \
        return r;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##V kiln_sin_##V(kiln_##V x) { return kiln__sinf_##V(x, 0); }        \
    KILN__INLINE kiln_##V kiln_cos_##V(kiln_##V x) { return kiln__sinf_##V(x, 1); }        \
    KILN__INLINE kiln_##V kiln_pow_##V(kiln_##V a, kiln_##V b)                             \
    {                                                                                      \
        kiln_##D ad = __builtin_convertvector(a, kiln_##D);                                \
        kiln_##D bd = __builtin_convertvector(b, kiln_##D);                                \
        kiln_##V r = __builtin_convertvector(kiln__pow_##D(ad, bd), kiln_##V);             \
        kiln_##I finite = (kiln_abs_##V(a) < __builtin_inff()) &                          \
                          (kiln_abs_##V(b) < __builtin_inff());                            \
        kiln_##I ok = finite & ((a > 0.0f) | ((a < 0.0f) & (kiln_floor_##V(b) == b)));     \
        if (!kiln_hall_##I(ok)) {                                                          \
            float y[W], av[W], bv[W];                                                      \
            int32_t m[W];                                                                  \
            kiln_store_##V(y, r);                                                          \
            kiln_store_##V(av, a);                                                         \
            kiln_store_##V(bv, b);                                                         \
            kiln_store_##I(m, ~ok);                                                        \
            kiln__libm_lanes(y, av, bv, m, W, 2);                                          \
            r = kiln_load_##V(y);                                                          \
        }                                                                                  \
        return r;                                                                          \
    }
#define KILN__SINCOSPOW_HALVES(T, H)                                                       \
    KILN__INLINE kiln_##T kiln_sin_##T(kiln_##T x)                                         \
    {                                                                                      \
        return kiln__join_##T(kiln_sin_##H(kiln__lo_##T(x)), kiln_sin_##H(kiln__hi_##T(x))); \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_cos_##T(kiln_##T x)                                         \
    {                                                                                      \
        return kiln__join_##T(kiln_cos_##H(kiln__lo_##T(x)), kiln_cos_##H(kiln__hi_##T(x))); \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_pow_##T(kiln_##T a, kiln_##T b)                             \
    {                                                                                      \
        return kiln__join_##T(kiln_pow_##H(kiln__lo_##T(a), kiln__lo_##T(b)),              \
                              kiln_pow_##H(kiln__hi_##T(a), kiln__hi_##T(b)));             \
    }
KILN__SINCOSPOW(f32x4, f64x4, i32x4, 4)
#if KILN__VBYTES >= 64
KILN__SINCOSPOW(f32x8, f64x8, i32x8, 8)
#else
KILN__SINCOSPOW_HALVES(f32x8, f32x4)
#endif
KILN__SINCOSPOW_HALVES(f32x16, f32x8)

/* ---- f64 exp, log, tanh, erf, sin, cos, pow: libm per lane ---- */

#define KILN__LIBM_F64(T, W)                                                               \
    KILN__INLINE kiln_##T kiln_exp_##T(kiln_##T x)                                         \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = exp(x[i]);                                                              \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_log_##T(kiln_##T x)                                         \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = log(x[i]);                                                              \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_tanh_##T(kiln_##T x)                                        \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = tanh(x[i]);                                                             \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_erf_##T(kiln_##T x)                                         \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = erf(x[i]);                                                              \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_sin_##T(kiln_##T x)                                         \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = sin(x[i]);                                                              \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_cos_##T(kiln_##T x)                                         \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            x[i] = cos(x[i]);                                                              \
        return x;                                                                          \
    }                                                                                      \
    KILN__INLINE kiln_##T kiln_pow_##T(kiln_##T a, kiln_##T b)                             \
    {                                                                                      \
        for (int i = 0; i < W; i++)                                                        \
            a[i] = pow(a[i], b[i]);                                                        \
        return a;                                                                          \
    }
KILN__LIBM_F64(f64x2, 2)
KILN__LIBM_F64(f64x4, 4)
KILN__LIBM_F64(f64x8, 8)
KILN__LIBM_F64(f64x16, 16)

/*
 * ---- anything else: a scalar function per lane ----
 *   KILN_MAP1(expm1f, v)   KILN_MAP2(fmodf, a, b)
 * The result has the type of v (a); fn takes and returns the lane type.
 */
#define KILN_MAP1(fn, v)                                                                   \
    __extension__({                                                                        \
        __typeof__(v) kiln_map_v_ = (v);                                                   \
        for (int kiln_map_i_ = 0;                                                          \
             kiln_map_i_ < (int)(sizeof kiln_map_v_ / sizeof kiln_map_v_[0]); kiln_map_i_++) \
            kiln_map_v_[kiln_map_i_] = fn(kiln_map_v_[kiln_map_i_]);                       \
        kiln_map_v_;                                                                       \
    })
#define KILN_MAP2(fn, a, b)                                                                \
    __extension__({                                                                        \
        __typeof__(a) kiln_map_a_ = (a), kiln_map_b_ = (b);                                \
        for (int kiln_map_i_ = 0;                                                          \
             kiln_map_i_ < (int)(sizeof kiln_map_a_ / sizeof kiln_map_a_[0]); kiln_map_i_++) \
            kiln_map_a_[kiln_map_i_] = fn(kiln_map_a_[kiln_map_i_], kiln_map_b_[kiln_map_i_]); \
        kiln_map_a_;                                                                       \
    })

#endif
