/*
 * kiln_f16.h: float16 and bfloat16 conversions, portable C99.
 *
 * kiln stores f16 and bf16 tensors as their 16-bit patterns and computes
 * with them in float: a load widens, a store (or a cast to the type) rounds
 * to nearest even. The same functions serve the compiler (constant folding,
 * the Kernel IR interpreter, kiln check) and the generated code, which
 * includes this header when a model uses these types, so the two agree bit
 * for bit. No _Float16 or __fp16 is needed: the code runs on any target.
 */
#ifndef KILN_F16_H
#define KILN_F16_H

#include <stdint.h>
#include <string.h>

/* Under nvcc (--target cuda) the conversions run on the GPU too. */
#ifdef __CUDACC__
#define KILN_F16_FN static inline __host__ __device__
#else
#define KILN_F16_FN static inline
#endif

KILN_F16_FN float kiln_f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    if (e == 0x1f) {
        bits = s | 0x7f800000u | (m << 13); /* inf, nan */
    } else if (e) {
        bits = s | ((e + 112) << 23) | (m << 13);
    } else if (!m) {
        bits = s;
    } else { /* subnormal: normalize */
        e = 113;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        bits = s | (e << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

KILN_F16_FN uint16_t kiln_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t s = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff)
        return (uint16_t)(s | 0x7c00u | (m ? 0x200u | (m >> 13) : 0)); /* nan stays quiet */
    int32_t ne = (int32_t)e - 127 + 15;
    if (ne >= 0x1f)
        return (uint16_t)(s | 0x7c00u); /* overflow: inf */
    if (ne <= 0) {                      /* subnormal or zero */
        if (ne < -10)
            return (uint16_t)s;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - ne);
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1)))
            hm++;
        return (uint16_t)(s | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fffu;
    uint32_t h = s | ((uint32_t)ne << 10) | hm;
    if (rem > 0x1000u || (rem == 0x1000u && (hm & 1)))
        h++; /* a carry into the exponent is still right */
    return (uint16_t)h;
}

KILN_F16_FN float kiln_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

KILN_F16_FN uint16_t kiln_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* nan stays quiet */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Round a float to the nearest f16 / bf16 value (a cast to those types). */
KILN_F16_FN float kiln_round_f16(float f) { return kiln_f16_to_f32(kiln_f32_to_f16(f)); }
KILN_F16_FN float kiln_round_bf16(float f) { return kiln_bf16_to_f32(kiln_f32_to_bf16(f)); }

#endif
