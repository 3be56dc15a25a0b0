/*
 * test_vec.c: runtime/kiln_vec.h, the vector library of the generated C.
 * Every function of every type against its scalar definition: bit for bit
 * for the exact ones, in ulp against glibc for the transcendental ones,
 * with NaN, inf, -0 and subnormals; masked loads, stores and gathers next
 * to PROT_NONE guard pages, so touching a lane that is off is a FAIL.
 *
 * A standalone program, built with the generated code's flags, e.g.
 *   cc -std=c99 -O3 -march=native -ffp-contract=fast -fno-math-errno -fwrapv \
 *      -Wall -Wextra tests/unit/test_vec.c -o test_vec -lm
 * and must pass also with -mavx2 -mfma instead of -march=native, and with
 * plain -O2. (gcc prints one "note: the ABI for passing parameters with
 * N-byte alignment has changed in GCC 4.6" for vectors wider than the
 * target's registers; it is not a warning, and -Wno-psabi silences it.)
 * Options: --exhaustive runs every float through the f32 functions (an
 * hour); --bench prints ns per element against libm.
 */
#define _DEFAULT_SOURCE /* mmap, sigaction, sigsetjmp, clock_gettime */
#include "check.h"
#include "../../runtime/kiln_vec.h"

#include <float.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* CHECK with the type or function named, at most 10 messages per test */
#define CHECKT(cond, what)                                                                 \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            if (check_failures < 10)                                                       \
                printf("  %s:%d: %s: check failed: %s\n", __FILE__, __LINE__, what, #cond); \
            check_failures++;                                                              \
        }                                                                                  \
    } while (0)

/* ---- random values ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}
static double rnd_unit(void) { return (double)(rnd() >> 11) * 0x1p-53; }
static float rnd_range(float lo, float hi) { return (float)(lo + (hi - lo) * rnd_unit()); }

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t f_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static double bits_d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}
static uint64_t d_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static const float special_f[] = {
    0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 3.0f, -3.0f,
    INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX,
    0x1p-149f, -0x1p-149f, 0x1.fffffcp-127f, -0x1.fffffcp-127f, 0x1p-140f, -0x1.8p-130f,
    0x1p23f, -0x1p23f, 0x1.fffffep22f, -0x1.fffffep22f, 0x1.000002p23f, 8388607.5f, -8388607.5f,
    0x1p24f, 1e30f, -1e30f, 1e-30f, 0.49999997f, -0.49999997f, 0.50000006f, 1e-7f,
    88.72283f, 88.72284f, 89.0f, -87.33654f, -87.33655f, -103.97207f, -103.97208f, -104.0f,
    -110.0f, 100.0f, 9.0f, 9.02f, 9.5f, 10.0f, -10.0f, 3.9192f, 3.93f, 4.0f, -4.0f, 5.0f,
    0.875f, -0.875f, 0.55f, 0.5493061f, 1e5f, 1048575.9f, 1048576.0f, -1048576.0f,
    3.14159265f, 1.57079633f, -1.57079633f, 6.2831853f, 0x1.921fb6p+1f,
};
#define NSPECIAL_F ((int)(sizeof special_f / sizeof special_f[0]))

static const double special_d[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, INFINITY, -INFINITY, NAN, -NAN,
    DBL_MIN, -DBL_MIN, DBL_MAX, -DBL_MAX, 0x1p-1074, -0x1p-1074, 0x1p-1030, 0x1p52, -0x1p52,
    0x1.fffffffffffffp51, -0x1.fffffffffffffp51, 0x1.0000000000001p52, 4503599627370495.5,
    0x1p53, 1e300, -1e300, 0.49999999999999994, -0.49999999999999994, 700.0, -745.0, 20.0,
};
#define NSPECIAL_D ((int)(sizeof special_d / sizeof special_d[0]))

/* floats: specials, random bit patterns, moderate values, values near integers */
static float gen_float(void)
{
    uint64_t r = rnd();
    switch (r % 8) {
    case 0:
        return special_f[(r >> 8) % NSPECIAL_F];
    case 1:
    case 2:
        return bits_f((uint32_t)(r >> 32));
    case 3:
        return (float)((int)((r >> 16) % 2001) - 1000) * 0.5f + ((r >> 40) & 1 ? 0x1p-20f : 0.0f);
    default:
        return rnd_range(-100.0f, 100.0f);
    }
}
static double gen_double(void)
{
    uint64_t r = rnd();
    switch (r % 8) {
    case 0:
        return special_d[(r >> 8) % NSPECIAL_D];
    case 1:
    case 2:
        return bits_d(rnd());
    case 3:
        return (double)((int)((r >> 16) % 2001) - 1000) * 0.5 + ((r >> 40) & 1 ? 0x1p-40 : 0.0);
    default:
        return 200.0 * rnd_unit() - 100.0;
    }
}
static int32_t gen_int32_t(void) { return (int32_t)rnd(); }
static uint32_t gen_uint32_t(void) { return (uint32_t)rnd(); }
static int64_t gen_int64_t(void) { return (int64_t)rnd(); }
static uint64_t gen_uint64_t(void) { return rnd(); }
static int16_t gen_int16_t(void) { return (int16_t)rnd(); }
static uint16_t gen_uint16_t(void) { return (uint16_t)rnd(); }
static int8_t gen_int8_t(void) { return (int8_t)rnd(); }
static uint8_t gen_uint8_t(void) { return (uint8_t)rnd(); }

/* scalar definitions used by the generic checks */
static int isnan_float(float x) { return x != x; }
static int isnan_double(double x) { return x != x; }
#define ISNAN_INT(E)                                                                       \
    static int isnan_##E(E x)                                                              \
    {                                                                                      \
        (void)x;                                                                           \
        return 0;                                                                          \
    }
ISNAN_INT(int32_t)
ISNAN_INT(uint32_t)
ISNAN_INT(int64_t)
ISNAN_INT(uint64_t)
ISNAN_INT(int16_t)
ISNAN_INT(uint16_t)
ISNAN_INT(int8_t)
ISNAN_INT(uint8_t)

/* lane i of ramp(base, step): integers wrap; floats base + i*step, fused or not */
static int ramp_ok_float(float base, float step, int i, float got)
{
    volatile float prod = (float)i * step;
    float plain = base + prod;
    float fused = fmaf((float)i, step, base);
    return f_bits(got) == f_bits(plain) || f_bits(got) == f_bits(fused) ||
           (got != got && plain != plain);
}
static int ramp_ok_double(double base, double step, int i, double got)
{
    volatile double prod = (double)i * step;
    double plain = base + prod;
    double fused = fma((double)i, step, base);
    return d_bits(got) == d_bits(plain) || d_bits(got) == d_bits(fused) ||
           (got != got && plain != plain);
}
#define RAMP_OK_INT(E, UE)                                                                 \
    static int ramp_ok_##E(E base, E step, int i, E got)                                   \
    {                                                                                      \
        return got == (E)((UE)base + (UE)i * (UE)step);                                    \
    }
RAMP_OK_INT(int32_t, uint32_t)
RAMP_OK_INT(uint32_t, uint32_t)
RAMP_OK_INT(int64_t, uint64_t)
RAMP_OK_INT(uint64_t, uint64_t)
RAMP_OK_INT(int16_t, uint16_t)
RAMP_OK_INT(uint16_t, uint16_t)
RAMP_OK_INT(int8_t, uint8_t)
RAMP_OK_INT(uint8_t, uint8_t)

/* abs: floats clear the sign bit, integers wrap (abs(MIN) = MIN) */
static float ref_abs_float(float x) { return bits_f(f_bits(x) & 0x7fffffffu); }
static double ref_abs_double(double x) { return bits_d(d_bits(x) & 0x7fffffffffffffffu); }
#define REF_ABS_INT(E, UE, SIGNED)                                                         \
    static E ref_abs_##E(E x)                                                              \
    {                                                                                      \
        return SIGNED && (UE)x >> (sizeof(E) * 8 - 1) ? (E)((UE)0 - (UE)x) : x;            \
    }
REF_ABS_INT(int32_t, uint32_t, 1)
REF_ABS_INT(uint32_t, uint32_t, 0)
REF_ABS_INT(int64_t, uint64_t, 1)
REF_ABS_INT(uint64_t, uint64_t, 0)
REF_ABS_INT(int16_t, uint16_t, 1)
REF_ABS_INT(uint16_t, uint16_t, 0)
REF_ABS_INT(int8_t, uint8_t, 1)
REF_ABS_INT(uint8_t, uint8_t, 0)

/* the reduction tree of the contract: lane i with lane i + n, n = W/2, W/4, ... */
#define REF_MIN(E, a, b) ((a) < (b) || isnan_##E(a) ? (a) : (b))
#define REF_MAX(E, a, b) ((a) > (b) || isnan_##E(a) ? (a) : (b))

/* ---- faults: a SIGSEGV or SIGBUS inside GUARDED() is a failed check ---- */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;
static void on_fault(int sig)
{
    if (fault_armed)
        siglongjmp(fault_jmp, sig);
    signal(sig, SIG_DFL);
    raise(sig);
}
static void catch_faults(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}
/* fn(arg); 1 if it faulted */
static int faulted(void (*fn)(void *), void *arg)
{
    if (sigsetjmp(fault_jmp, 1)) {
        fault_armed = 0;
        return 1;
    }
    fault_armed = 1;
    fn(arg);
    fault_armed = 0;
    return 0;
}

/* a data page between two PROT_NONE pages */
static char *guard_base;
static long page_size;
static char *data_page(void)
{
    if (!guard_base) {
        page_size = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 3 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m, page_size, PROT_NONE) ||
            mprotect(m + 2 * page_size, page_size, PROT_NONE))
            return NULL;
        guard_base = m;
    }
    return guard_base + page_size;
}

/* data_page() for a test that needs it: a failed check when there is none. */
static char *guard_page(const char *name)
{
    char *page = data_page();
    CHECKT(page != NULL, name);
    return page;
}

/*
 * ---- every type: load, store, bcast, ramp, select, vmin, vmax, reductions,
 * masked load and store ----
 * X(T, E, W, M, UE): the type, its lane type, lanes, mask type, and the
 * type its lanes add in (wrapping for integers).
 */
#define ALL_TYPES(X)                                                                       \
    X(f32x4, float, 4, i32x4, float)                                                       \
    X(f32x8, float, 8, i32x8, float)                                                       \
    X(f32x16, float, 16, i32x16, float)                                                    \
    X(f64x2, double, 2, i64x2, double)                                                     \
    X(f64x4, double, 4, i64x4, double)                                                     \
    X(f64x8, double, 8, i64x8, double)                                                     \
    X(f64x16, double, 16, i64x16, double)                                                  \
    X(i32x4, int32_t, 4, i32x4, uint32_t)                                                  \
    X(i32x8, int32_t, 8, i32x8, uint32_t)                                                  \
    X(i32x16, int32_t, 16, i32x16, uint32_t)                                               \
    X(u32x4, uint32_t, 4, i32x4, uint32_t)                                                 \
    X(u32x8, uint32_t, 8, i32x8, uint32_t)                                                 \
    X(u32x16, uint32_t, 16, i32x16, uint32_t)                                              \
    X(i64x2, int64_t, 2, i64x2, uint64_t)                                                  \
    X(i64x4, int64_t, 4, i64x4, uint64_t)                                                  \
    X(i64x8, int64_t, 8, i64x8, uint64_t)                                                  \
    X(i64x16, int64_t, 16, i64x16, uint64_t)                                               \
    X(u64x2, uint64_t, 2, i64x2, uint64_t)                                                 \
    X(u64x4, uint64_t, 4, i64x4, uint64_t)                                                 \
    X(u64x8, uint64_t, 8, i64x8, uint64_t)                                                 \
    X(u64x16, uint64_t, 16, i64x16, uint64_t)                                              \
    X(i8x16, int8_t, 16, i8x16, uint8_t)                                                   \
    X(u8x16, uint8_t, 16, i8x16, uint8_t)                                                  \
    X(i8x32, int8_t, 32, i8x32, uint8_t)                                                   \
    X(u8x32, uint8_t, 32, i8x32, uint8_t)                                                  \
    X(i16x8, int16_t, 8, i16x8, uint16_t)                                                  \
    X(u16x8, uint16_t, 8, i16x8, uint16_t)                                                 \
    X(i16x16, int16_t, 16, i16x16, uint16_t)                                               \
    X(u16x16, uint16_t, 16, i16x16, uint16_t)

/* two values of type E equal bit for bit */
#define SAME(E, a, b) (memcmp(&(E){a}, &(E){b}, sizeof(E)) == 0)

#define CHECK_TYPE(T, E, W, M, UE)                                                         \
    static void check_##T(void)                                                            \
    {                                                                                      \
        const char *name = #T;                                                             \
        for (int rep = 0; rep < 3000; rep++) {                                             \
            E buf[W + 1], a[W], b[W], o[W], want[W];                                       \
            kiln_##M m = {0};                                                              \
            for (int i = 0; i < W + 1; i++)                                                \
                buf[i] = gen_##E();                                                        \
            for (int i = 0; i < W; i++) {                                                  \
                a[i] = gen_##E();                                                          \
                b[i] = gen_##E();                                                          \
                o[i] = gen_##E();                                                          \
                m[i] = rnd() & 1 ? -1 : 0;                                                 \
            }                                                                              \
            kiln_##T va = kiln_load_##T(a), vb = kiln_load_##T(b), vo = kiln_load_##T(o);  \
            /* load and store at an odd offset: unaligned */                               \
            kiln_##T v = kiln_load_##T(buf + 1);                                           \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, v[i], buf[i + 1]), name);                                   \
            E out[W + 2];                                                                  \
            memcpy(out, buf, sizeof(E));                                                   \
            out[W + 1] = buf[0];                                                           \
            kiln_store_##T(out + 1, va);                                                   \
            CHECKT(memcmp(out + 1, a, sizeof a) == 0, name);                               \
            CHECKT(SAME(E, out[0], buf[0]) && SAME(E, out[W + 1], buf[0]), name);          \
            /* bcast, ramp */                                                              \
            kiln_##T bc = kiln_bcast_##T(a[0]);                                            \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, bc[i], a[0]), name);                                        \
            E base = a[1 % W], step = rep & 1 ? b[0] : (E)(rep % 7);                       \
            kiln_##T rp = kiln_ramp_##T(base, step);                                       \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(ramp_ok_##E(base, step, i, rp[i]), name);                           \
            /* select */                                                                   \
            kiln_##T sel = kiln_select_##T(m, va, vb);                                     \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, sel[i], m[i] ? a[i] : b[i]), name);                         \
            /* abs */                                                                      \
            kiln_##T ab = kiln_abs_##T(va);                                                \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, ab[i], ref_abs_##E(a[i])), name);                           \
            /* vmin, vmax: exactly the scalar definitions, NaN and -0 included */          \
            kiln_##T mn = kiln_vmin_##T(va, vb), mx = kiln_vmax_##T(va, vb);               \
            for (int i = 0; i < W; i++) {                                                  \
                E wmn = REF_MIN(E, a[i], b[i]), wmx = REF_MAX(E, a[i], b[i]);              \
                CHECKT(SAME(E, mn[i], wmn), name);                                         \
                CHECKT(SAME(E, mx[i], wmx), name);                                         \
            }                                                                              \
            /* reductions in the tree order */                                             \
            E s[W], hi[W], lo[W];                                                          \
            memcpy(s, a, sizeof a);                                                        \
            memcpy(hi, a, sizeof a);                                                       \
            memcpy(lo, a, sizeof a);                                                       \
            for (int n = W / 2; n > 0; n /= 2)                                             \
                for (int i = 0; i < n; i++) {                                              \
                    s[i] = (E)((UE)s[i] + (UE)s[i + n]);                                   \
                    hi[i] = REF_MAX(E, hi[i], hi[i + n]);                                  \
                    lo[i] = REF_MIN(E, lo[i], lo[i + n]);                                  \
                }                                                                          \
            E hs = kiln_hsum_##T(va), hx = kiln_hmax_##T(va), hn = kiln_hmin_##T(va);      \
            CHECKT(SAME(E, hs, s[0]) || (isnan_##E(hs) && isnan_##E(s[0])), name);         \
            CHECKT(SAME(E, hx, hi[0]), name);                                              \
            CHECKT(SAME(E, hn, lo[0]), name);                                              \
            int any_nan = 0;                                                               \
            for (int i = 0; i < W; i++)                                                    \
                any_nan |= isnan_##E(a[i]);                                                \
            CHECKT(any_nan == isnan_##E(hx) && any_nan == isnan_##E(hn), name);            \
            /* masked load and store: lanes that are off keep other / memory */            \
            for (int i = 0; i < W; i++)                                                    \
                want[i] = m[i] ? buf[i + 1] : o[i];                                        \
            kiln_##T lm = kiln_load_mask_##T(buf + 1, m, vo);                              \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, lm[i], want[i]), name);                                     \
            memcpy(out, buf, sizeof buf);                                                  \
            kiln_store_mask_##T(out + 1, m, va);                                           \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, out[i + 1], m[i] ? a[i] : buf[i + 1]), name);               \
            CHECKT(SAME(E, out[0], buf[0]), name);                                         \
            (void)vo;                                                                      \
        }                                                                                  \
    }
ALL_TYPES(CHECK_TYPE)

static void test_vec_types(void)
{
#define CALL_CHECK(T, E, W, M, UE) check_##T();
    ALL_TYPES(CALL_CHECK)
#undef CALL_CHECK
}

/*
 * ---- masked access at the edges of memory ----
 * Lanes that are off lie in a PROT_NONE page: past the end of the data
 * page, or before its start. A load or store that touches them faults.
 */
#define CHECK_GUARD(T, E, W, M, UE)                                                        \
    typedef struct {                                                                       \
        E *p;                                                                              \
        kiln_##M m;                                                                        \
        kiln_##T v;                                                                        \
    } mctx_##T;                                                                            \
    static void lmask_op_##T(void *arg)                                                    \
    {                                                                                      \
        mctx_##T *c = arg;                                                                 \
        c->v = kiln_load_mask_##T(c->p, c->m, c->v);                                       \
    }                                                                                      \
    static void smask_op_##T(void *arg)                                                    \
    {                                                                                      \
        mctx_##T *c = arg;                                                                 \
        kiln_store_mask_##T(c->p, c->m, c->v);                                             \
    }                                                                                      \
    static void guard_##T(void)                                                            \
    {                                                                                      \
        const char *name = #T;                                                             \
        char *page = guard_page(name);                                                     \
        if (!page)                                                                         \
            return;                                                                        \
        E *end = (E *)(page + page_size), *start = (E *)page;                              \
        for (int k = 0; k <= W; k++) {                                                     \
            kiln_##M tail = {0}, head = {0};                                               \
            kiln_##T other = kiln_bcast_##T((E)7), v = kiln_ramp_##T((E)1, (E)1);          \
            for (int i = 0; i < W; i++) {                                                  \
                tail[i] = i < k ? -1 : 0;      /* lanes 0..k-1 are end[-k..-1] */          \
                head[i] = i >= W - k ? -1 : 0; /* lanes W-k..W-1 are start[0..k-1] */      \
            }                                                                              \
            for (int i = 0; i < k; i++) {                                                  \
                end[i - k] = (E)(100 + i);                                                 \
                start[i] = (E)(50 + i);                                                    \
            }                                                                              \
            mctx_##T c = {end - k, tail, other};                                           \
            CHECKT(!faulted(lmask_op_##T, &c), name);                                      \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(c.v[i] == (i < k ? (E)(100 + i) : (E)7), name);                     \
            mctx_##T h = {start - (W - k), head, other};                                   \
            CHECKT(!faulted(lmask_op_##T, &h), name);                                      \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(h.v[i] == (i >= W - k ? (E)(50 + i - (W - k)) : (E)7), name);       \
            c.v = h.v = v;                                                                 \
            CHECKT(!faulted(smask_op_##T, &c), name);                                      \
            for (int i = 0; i < k; i++)                                                    \
                CHECKT(end[i - k] == (E)(1 + i), name);                                    \
            CHECKT(!faulted(smask_op_##T, &h), name);                                      \
            for (int i = 0; i < k; i++)                                                    \
                CHECKT(start[i] == (E)(1 + (W - k) + i), name);                            \
        }                                                                                  \
    }
ALL_TYPES(CHECK_GUARD)

static void test_vec_mask_guard_pages(void)
{
#define CALL_GUARD(T, E, W, M, UE) guard_##T();
    ALL_TYPES(CALL_GUARD)
#undef CALL_GUARD
}

/* ---- gathers: X(T, E, W, M, IDX) ---- */
#define GATHER_TYPES(X)                                                                    \
    X(f32x4, float, 4, i32x4, i64x4)                                                       \
    X(f32x8, float, 8, i32x8, i64x8)                                                       \
    X(f32x16, float, 16, i32x16, i64x16)                                                   \
    X(i32x4, int32_t, 4, i32x4, i64x4)                                                     \
    X(i32x8, int32_t, 8, i32x8, i64x8)                                                     \
    X(i32x16, int32_t, 16, i32x16, i64x16)                                                 \
    X(u32x4, uint32_t, 4, i32x4, i64x4)                                                    \
    X(u32x8, uint32_t, 8, i32x8, i64x8)                                                    \
    X(u32x16, uint32_t, 16, i32x16, i64x16)                                                \
    X(f64x2, double, 2, i64x2, i64x2)                                                      \
    X(f64x4, double, 4, i64x4, i64x4)                                                      \
    X(f64x8, double, 8, i64x8, i64x8)                                                      \
    X(f64x16, double, 16, i64x16, i64x16)                                                  \
    X(i64x2, int64_t, 2, i64x2, i64x2)                                                     \
    X(i64x4, int64_t, 4, i64x4, i64x4)                                                     \
    X(i64x8, int64_t, 8, i64x8, i64x8)                                                     \
    X(i64x16, int64_t, 16, i64x16, i64x16)                                                 \
    X(u64x2, uint64_t, 2, i64x2, i64x2)                                                    \
    X(u64x4, uint64_t, 4, i64x4, i64x4)                                                    \
    X(u64x8, uint64_t, 8, i64x8, i64x8)                                                    \
    X(u64x16, uint64_t, 16, i64x16, i64x16)                                                \
    X(i8x16, int8_t, 16, i8x16, i64x16)                                                    \
    X(u8x16, uint8_t, 16, i8x16, i64x16)                                                   \
    X(i16x8, int16_t, 8, i16x8, i64x8)                                                     \
    X(u16x8, uint16_t, 8, i16x8, i64x8)                                                    \
    X(i16x16, int16_t, 16, i16x16, i64x16)                                                 \
    X(u16x16, uint16_t, 16, i16x16, i64x16)

#define CHECK_GATHER(T, E, W, M, IDX)                                                      \
    typedef struct {                                                                       \
        const E *base;                                                                     \
        kiln_##IDX idx;                                                                    \
        kiln_##M m;                                                                        \
        kiln_##T v;                                                                        \
    } gctx_##T;                                                                            \
    static void gmask_op_##T(void *arg)                                                    \
    {                                                                                      \
        gctx_##T *c = arg;                                                                 \
        c->v = kiln_gather_mask_##T(c->base, c->idx, c->m, c->v);                          \
    }                                                                                      \
    static void gather_##T(void)                                                           \
    {                                                                                      \
        const char *name = #T;                                                             \
        E arr[64];                                                                         \
        for (int i = 0; i < 64; i++)                                                       \
            arr[i] = gen_##E();                                                            \
        const E *base = arr + 16;                                                          \
        /* an index of a lane that is off points into a guard page */                      \
        char *page = data_page();                                                          \
        int64_t far = page ? (int64_t)((page + page_size + 64) - (const char *)base) / (int64_t)sizeof(E) \
                           : 0;                                                            \
        for (int rep = 0; rep < 2000; rep++) {                                             \
            kiln_##IDX idx = {0};                                                          \
            gctx_##T c = {base, {0}, {0}, {0}};                                            \
            E o[W];                                                                        \
            for (int i = 0; i < W; i++) {                                                  \
                idx[i] = (int64_t)(rnd() % 64) - 16;                                       \
                c.m[i] = rnd() & 1 ? -1 : 0;                                               \
                c.idx[i] = c.m[i] ? idx[i] : far;                                          \
                o[i] = gen_##E();                                                          \
            }                                                                              \
            kiln_##T g = kiln_gather_##T(base, idx);                                       \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, g[i], base[idx[i]]), name);                                 \
            c.v = kiln_load_##T(o);                                                        \
            CHECKT(!faulted(gmask_op_##T, &c), name);                                      \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, c.v[i], c.m[i] ? base[idx[i]] : o[i]), name);               \
        }                                                                                  \
    }
GATHER_TYPES(CHECK_GATHER)

/* ---- kiln_below_M(n): lane i on iff i < n, for any n ---- */
#define BELOW_TYPES(X)                                                                     \
    X(i8x16, 16) X(i8x32, 32) X(i16x8, 8) X(i16x16, 16) X(i32x4, 4) X(i32x8, 8)            \
    X(i32x16, 16) X(i64x2, 2) X(i64x4, 4) X(i64x8, 8) X(i64x16, 16)

static void test_vec_below(void)
{
    static const int64_t ns[] = {INT64_MIN, -4294967296LL, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17,
                                 31, 32, 33, 4294967296LL, INT64_MAX};
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
        int64_t n = ns[j];
#define CHECK_BELOW(M, W)                                                                  \
    {                                                                                      \
        kiln_##M m = kiln_below_##M(n);                                                    \
        for (int i = 0; i < W; i++)                                                        \
            CHECKT(m[i] == (i < n ? -1 : 0), #M);                                          \
    }
        BELOW_TYPES(CHECK_BELOW)
#undef CHECK_BELOW
    }
}

/* ---- stride-2 loads: X(T, E, W); the last element read, p[2W-2], is the
 * last before a guard page ---- */
#define LOAD2_TYPES(X)                                                                     \
    X(f32x4, float, 4) X(f32x8, float, 8) X(f32x16, float, 16)                             \
    X(i32x4, int32_t, 4) X(i32x8, int32_t, 8) X(i32x16, int32_t, 16)                       \
    X(u32x4, uint32_t, 4) X(u32x8, uint32_t, 8) X(u32x16, uint32_t, 16)                    \
    X(f64x2, double, 2) X(f64x4, double, 4) X(f64x8, double, 8)                            \
    X(i64x2, int64_t, 2) X(i64x4, int64_t, 4) X(i64x8, int64_t, 8)                         \
    X(u64x2, uint64_t, 2) X(u64x4, uint64_t, 4) X(u64x8, uint64_t, 8)

#define CHECK_LOAD2(T, E, W)                                                               \
    typedef struct {                                                                       \
        const E *p;                                                                        \
        kiln_##T v;                                                                        \
    } l2ctx_##T;                                                                           \
    static void load2_op_##T(void *arg)                                                    \
    {                                                                                      \
        l2ctx_##T *c = arg;                                                                \
        c->v = kiln_load2_##T(c->p);                                                       \
    }                                                                                      \
    static void load2_##T(void)                                                            \
    {                                                                                      \
        const char *name = #T;                                                             \
        char *page = guard_page(name);                                                     \
        if (!page)                                                                         \
            return;                                                                        \
        E *end = (E *)(page + page_size);                                                  \
        for (int rep = 0; rep < 200; rep++) {                                              \
            E *p = end - (2 * W - 1) - rep % 3;                                            \
            for (E *q = p; q < end; q++)                                                   \
                *q = gen_##E();                                                            \
            l2ctx_##T c = {p, {0}};                                                        \
            CHECKT(!faulted(load2_op_##T, &c), name);                                      \
            for (int i = 0; i < W; i++)                                                    \
                CHECKT(SAME(E, c.v[i], p[2 * i]), name);                                   \
        }                                                                                  \
    }
LOAD2_TYPES(CHECK_LOAD2)

static void test_vec_load2(void)
{
#define CALL_LOAD2(T, E, W) load2_##T();
    LOAD2_TYPES(CALL_LOAD2)
#undef CALL_LOAD2
}

static void test_vec_gather(void)
{
#define CALL_GATHER(T, E, W, M, IDX) gather_##T();
    GATHER_TYPES(CALL_GATHER)
#undef CALL_GATHER
}

/* ---- hany, hall on every mask type ---- */
#define MASK_TYPES(X)                                                                      \
    X(i32x4, 4)                                                                            \
    X(i32x8, 8)                                                                            \
    X(i32x16, 16)                                                                          \
    X(i64x2, 2)                                                                            \
    X(i64x4, 4)                                                                            \
    X(i64x8, 8)                                                                            \
    X(i64x16, 16)                                                                          \
    X(i8x16, 16)                                                                           \
    X(i8x32, 32)                                                                           \
    X(i16x8, 8)                                                                            \
    X(i16x16, 16)

#define CHECK_ANY(M, W)                                                                    \
    static void any_##M(void)                                                              \
    {                                                                                      \
        const char *name = #M;                                                             \
        for (int rep = 0; rep < 4000; rep++) {                                             \
            kiln_##M m = {0};                                                              \
            int any = 0, all = 1;                                                          \
            /* mostly masks with one lane different, the hard cases */                     \
            int fill = rep % 3 == 0 ? -1 : 0, odd = (int)(rnd() % (W + 1));                \
            for (int i = 0; i < W; i++) {                                                  \
                m[i] = rep % 3 == 2 ? (rnd() & 1 ? -1 : 0) : (i == odd ? ~fill : fill);    \
                any |= m[i] != 0;                                                          \
                all &= m[i] != 0;                                                          \
            }                                                                              \
            CHECKT(kiln_hany_##M(m) == any, name);                                         \
            CHECKT(kiln_hall_##M(m) == all, name);                                         \
        }                                                                                  \
        /* comparisons give masks */                                                       \
        kiln_##M z = {0}, one = z + 1;                                                     \
        CHECKT(kiln_hall_##M(z == z) && !kiln_hany_##M(z != z), name);                     \
        CHECKT(kiln_hany_##M(z < one) && kiln_hall_##M(z < one), name);                    \
    }
MASK_TYPES(CHECK_ANY)

static void test_vec_any_all(void)
{
#define CALL_ANY(M, W) any_##M();
    MASK_TYPES(CALL_ANY)
#undef CALL_ANY
}

/* ---- the types work with comparisons, casts and __builtin_convertvector ---- */
static void test_vec_convert(void)
{
    kiln_f32x8 f = kiln_ramp_f32x8(-3.5f, 1.0f);
    kiln_i32x8 i = __builtin_convertvector(f, kiln_i32x8);
    kiln_f32x8 back = __builtin_convertvector(i, kiln_f32x8);
    kiln_i32x8 lt = f < back; /* f32 comparisons give i32 masks */
    for (int j = 0; j < 8; j++) {
        CHECK(i[j] == (int32_t)(-3.5f + (float)j));
        CHECK(lt[j] == (f[j] < back[j] ? -1 : 0));
    }
    kiln_f64x4 d = __builtin_convertvector(kiln_ramp_f32x4(0.25f, 0.5f), kiln_f64x4);
    kiln_i64x4 dl = __builtin_convertvector(d, kiln_i64x4);
    kiln_i64x4 dm = d > 1.0; /* f64 comparisons give i64 masks */
    for (int j = 0; j < 4; j++) {
        CHECK(d[j] == 0.25 + 0.5 * j);
        CHECK(dl[j] == (int64_t)(0.25 + 0.5 * j));
        CHECK(dm[j] == (0.25 + 0.5 * j > 1.0 ? -1 : 0));
    }
    kiln_i64x16 wide = __builtin_convertvector(kiln_ramp_i32x16(-8, 3), kiln_i64x16);
    kiln_u8x16 bytes = __builtin_convertvector(kiln_ramp_i32x16(250, 1), kiln_u8x16);
    kiln_f32x16 from_bytes = __builtin_convertvector(bytes, kiln_f32x16);
    for (int j = 0; j < 16; j++) {
        CHECK(wide[j] == -8 + 3 * j);
        CHECK(bytes[j] == (uint8_t)(250 + j));
        CHECK(from_bytes[j] == (float)(uint8_t)(250 + j));
    }
    kiln_u32x8 bits = (kiln_u32x8)f; /* reinterpretation */
    CHECK(bits[0] == f_bits(-3.5f));
    kiln_i32x4 m4 = kiln_ramp_f32x4(0, 1) < 2.0f;
    CHECK(kiln_hany_i32x4(m4) && !kiln_hall_i32x4(m4));
    kiln_f32x4 mapped = KILN_MAP1(expm1f, kiln_ramp_f32x4(-1.0f, 0.5f));
    kiln_f64x2 mapped2 = KILN_MAP2(fmod, kiln_ramp_f64x2(5.5, 1.0), kiln_bcast_f64x2(2.0));
    for (int j = 0; j < 4; j++)
        CHECK(mapped[j] == expm1f(-1.0f + 0.5f * (float)j));
    CHECK(mapped2[0] == fmod(5.5, 2.0) && mapped2[1] == fmod(6.5, 2.0));
}

/*
 * ---- exact float functions: abs, sqrt, floor, ceil, trunc, round ----
 * Bit for bit against libm (NaN against NaN) on specials, random bit
 * patterns, and values at and near integers and halves.
 */
static int same_f(float a, float b) { return f_bits(a) == f_bits(b) || (a != a && b != b); }
static int same_d(double a, double b) { return d_bits(a) == d_bits(b) || (a != a && b != b); }

#define CHECK_EXACT(T, E, W, SAMEFN, ABS, SQRT, FLOOR, CEIL, TRUNC, RINT)                  \
    static void exact_##T(int n)                                                           \
    {                                                                                      \
        const char *name = #T;                                                             \
        for (int rep = 0; rep < n; rep += W) {                                             \
            E x[W];                                                                        \
            for (int i = 0; i < W; i++)                                                    \
                x[i] = gen_##E();                                                          \
            kiln_##T v = kiln_load_##T(x);                                                 \
            kiln_##T a = kiln_abs_##T(v), s = kiln_sqrt_##T(v), f = kiln_floor_##T(v);     \
            kiln_##T c = kiln_ceil_##T(v), t = kiln_trunc_##T(v), r = kiln_round_##T(v);   \
            for (int i = 0; i < W; i++) {                                                  \
                CHECKT(SAMEFN(a[i], ABS(x[i])), name);                                     \
                CHECKT(SAMEFN(s[i], SQRT(x[i])), name);                                    \
                CHECKT(SAMEFN(f[i], FLOOR(x[i])), name);                                   \
                CHECKT(SAMEFN(c[i], CEIL(x[i])), name);                                    \
                CHECKT(SAMEFN(t[i], TRUNC(x[i])), name);                                   \
                CHECKT(SAMEFN(r[i], RINT(x[i])), name);                                    \
            }                                                                              \
        }                                                                                  \
    }
CHECK_EXACT(f32x4, float, 4, same_f, fabsf, sqrtf, floorf, ceilf, truncf, nearbyintf)
CHECK_EXACT(f32x8, float, 8, same_f, fabsf, sqrtf, floorf, ceilf, truncf, nearbyintf)
CHECK_EXACT(f32x16, float, 16, same_f, fabsf, sqrtf, floorf, ceilf, truncf, nearbyintf)
CHECK_EXACT(f64x2, double, 2, same_d, fabs, sqrt, floor, ceil, trunc, nearbyint)
CHECK_EXACT(f64x4, double, 4, same_d, fabs, sqrt, floor, ceil, trunc, nearbyint)
CHECK_EXACT(f64x8, double, 8, same_d, fabs, sqrt, floor, ceil, trunc, nearbyint)
CHECK_EXACT(f64x16, double, 16, same_d, fabs, sqrt, floor, ceil, trunc, nearbyint)

static void test_vec_exact_math(void)
{
    exact_f32x4(1000000);
    exact_f32x8(1000000);
    exact_f32x16(1000000);
    exact_f64x2(300000);
    exact_f64x4(300000);
    exact_f64x8(300000);
    exact_f64x16(300000);
    /* every special value in every lane position */
    for (int i = 0; i < NSPECIAL_F; i++) {
        float x = special_f[i];
        kiln_f32x16 v = kiln_bcast_f32x16(x);
        kiln_f32x16 f = kiln_floor_f32x16(v), c = kiln_ceil_f32x16(v), t = kiln_trunc_f32x16(v);
        kiln_f32x16 r = kiln_round_f32x16(v), s = kiln_sqrt_f32x16(v), a = kiln_abs_f32x16(v);
        for (int j = 0; j < 16; j++)
            CHECK(same_f(f[j], floorf(x)) && same_f(c[j], ceilf(x)) && same_f(t[j], truncf(x)) &&
                  same_f(r[j], nearbyintf(x)) && same_f(s[j], sqrtf(x)) && same_f(a[j], fabsf(x)));
    }
    for (int i = 0; i < NSPECIAL_D; i++) {
        double x = special_d[i];
        kiln_f64x4 v = kiln_bcast_f64x4(x);
        kiln_f64x4 f = kiln_floor_f64x4(v), c = kiln_ceil_f64x4(v), t = kiln_trunc_f64x4(v);
        kiln_f64x4 r = kiln_round_f64x4(v), s = kiln_sqrt_f64x4(v), a = kiln_abs_f64x4(v);
        for (int j = 0; j < 4; j++)
            CHECK(same_d(f[j], floor(x)) && same_d(c[j], ceil(x)) && same_d(t[j], trunc(x)) &&
                  same_d(r[j], nearbyint(x)) && same_d(s[j], sqrt(x)) && same_d(a[j], fabs(x)));
    }
}

/*
 * ---- f32 transcendental functions against glibc, in ulp ----
 * The ulp distance is the difference of the floats' positions in the
 * ordered list of all floats (+0 and -0 share a position).
 */
static int64_t ord_f(float f)
{
    int32_t i = (int32_t)f_bits(f);
    return i < 0 ? (int64_t)INT32_MIN - i : i;
}
static int64_t ulp_diff(float a, float b)
{
    if (a != a || b != b)
        return a != a && b != b ? 0 : INT32_MAX;
    int64_t d = ord_f(a) - ord_f(b);
    return d < 0 ? -d : d;
}
/* the ulp of float at the magnitude of r, for errors against the exact value */
static double ulp_at(double r)
{
    int e;
    r = fabs(r);
    if (r < 0x1p-126)
        return 0x1p-149;
    frexp(r, &e);
    return ldexp(1.0, e - 24);
}

enum { F_EXP, F_LOG, F_TANH, F_ERF, F_SIN, F_COS, NF1 };
static const char *const f1_name[NF1] = {"exp", "log", "tanh", "erf", "sin", "cos"};

static float libm_f1(int fn, float x)
{
    switch (fn) {
    case F_EXP: return expf(x);
    case F_LOG: return logf(x);
    case F_TANH: return tanhf(x);
    case F_ERF: return erff(x);
    case F_SIN: return sinf(x);
    default: return cosf(x);
    }
}
static double exact_f1(int fn, double x)
{
    switch (fn) {
    case F_EXP: return exp(x);
    case F_LOG: return log(x);
    case F_TANH: return tanh(x);
    case F_ERF: return erf(x);
    case F_SIN: return sin(x);
    default: return cos(x);
    }
}

/* y = fn(x) on W floats through type T (arrays: no vector crosses a call) */
#define VEC_F1(T)                                                                          \
    static void vec_f1_##T(int fn, const float *x, float *y)                               \
    {                                                                                      \
        kiln_##T v = kiln_load_##T(x);                                                     \
        switch (fn) {                                                                      \
        case F_EXP: v = kiln_exp_##T(v); break;                                            \
        case F_LOG: v = kiln_log_##T(v); break;                                            \
        case F_TANH: v = kiln_tanh_##T(v); break;                                          \
        case F_ERF: v = kiln_erf_##T(v); break;                                            \
        case F_SIN: v = kiln_sin_##T(v); break;                                            \
        default: v = kiln_cos_##T(v); break;                                               \
        }                                                                                  \
        kiln_store_##T(y, v);                                                              \
    }
VEC_F1(f32x4)
VEC_F1(f32x8)
VEC_F1(f32x16)

/* inputs: half random bit patterns (every exponent), half in the range that matters */
static float gen_f1(int fn)
{
    uint64_t r = rnd();
    if (r & 1)
        return bits_f((uint32_t)(r >> 32));
    switch (fn) {
    case F_EXP: return rnd_range(-104.0f, 89.0f);
    case F_LOG: return (r >> 1) & 1 ? rnd_range(0.0f, 4.0f) : bits_f((uint32_t)(r >> 33));
    case F_TANH: return rnd_range(-10.0f, 10.0f);
    case F_ERF: return rnd_range(-4.5f, 4.5f);
    default: return (r >> 1) & 1 ? rnd_range(-10.0f, 10.0f) : rnd_range(-1e6f, 1e6f);
    }
}

/* Run n random inputs through fn on type T; return the worst ulp against glibc */
#define ULP_RUN(T, W)                                                                      \
    static int64_t ulp_run_##T(int fn, long n, float *worst_x)                             \
    {                                                                                      \
        int64_t worst = 0;                                                                 \
        for (long rep = 0; rep < n; rep += W) {                                            \
            float x[W];                                                                    \
            for (int i = 0; i < W; i++)                                                    \
                x[i] = gen_f1(fn);                                                         \
            float y[W];                                                                    \
            vec_f1_##T(fn, x, y);                                                          \
            for (int i = 0; i < W; i++) {                                                  \
                int64_t d = ulp_diff(y[i], libm_f1(fn, x[i]));                             \
                if (d > worst) {                                                           \
                    worst = d;                                                             \
                    *worst_x = x[i];                                                       \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        return worst;                                                                      \
    }
ULP_RUN(f32x4, 4)
ULP_RUN(f32x8, 8)
ULP_RUN(f32x16, 16)

/*
 * The bound against glibc: 2 ulp for exp, log, tanh, erf (10^7 inputs each
 * on f32x8, 10^6 on f32x4 and f32x16); sin and cos are computed in double
 * and rounded once, so 1 ulp.
 */
static void test_vec_f32_math_random(void)
{
    for (int fn = 0; fn < NF1; fn++) {
        int bound = fn == F_SIN || fn == F_COS ? 1 : 2;
        long n = fn == F_SIN || fn == F_COS ? 2000000 : 10000000;
        float x8 = 0, x4 = 0, x16 = 0;
        int64_t u8 = ulp_run_f32x8(fn, n, &x8);
        int64_t u4 = ulp_run_f32x4(fn, n / 10, &x4);
        int64_t u16 = ulp_run_f32x16(fn, n / 10, &x16);
        printf("  %s: max %lld ulp from glibc over %ld inputs (f32x8), %lld (f32x4), %lld (f32x16)\n",
               f1_name[fn], (long long)u8, n, (long long)u4, (long long)u16);
        CHECKT(u8 <= bound, f1_name[fn]);
        CHECKT(u4 <= bound, f1_name[fn]);
        CHECKT(u16 <= bound, f1_name[fn]);
        if (u8 > bound || u4 > bound || u16 > bound)
            printf("  %s: worst at %a (f32x8) %a (f32x4) %a (f32x16)\n", f1_name[fn], x8, x4, x16);
    }
}

/*
 * Special values: where glibc gives NaN, an infinity, a zero or +-1, the
 * result is the same bit for bit (NaN: any NaN); elsewhere within the bound.
 * Every special value goes through every lane of every width.
 */
static void test_vec_f32_math_special(void)
{
    for (int fn = 0; fn < NF1; fn++) {
        int bound = fn == F_SIN || fn == F_COS ? 1 : 2;
        for (int s = 0; s < NSPECIAL_F; s++) {
            float x = special_f[s], want = libm_f1(fn, x);
            float xs[16], y4[4], y8[8], y16[16];
            for (int i = 0; i < 16; i++)
                xs[i] = x;
            vec_f1_f32x4(fn, xs, y4);
            vec_f1_f32x8(fn, xs, y8);
            vec_f1_f32x16(fn, xs, y16);
            int exact = want != want || isinf(want) || want == 0 || fabsf(want) == 1.0f;
            for (int i = 0; i < 16; i++) {
                float got[3] = {y4[i % 4], y8[i % 8], y16[i]};
                for (int j = 0; j < 3; j++) {
                    int ok = exact ? same_f(got[j], want) : ulp_diff(got[j], want) <= bound;
                    if (!ok && check_failures < 10)
                        printf("  %s(%a) = %a, glibc %a\n", f1_name[fn], x, got[j], want);
                    CHECKT(ok, f1_name[fn]);
                }
            }
        }
        /* specials mixed with ordinary lanes */
        float mix[8] = {NAN, 1.0f, INFINITY, -2.0f, -INFINITY, 0.0f, -0.0f, 0x1p-149f}, y[8];
        vec_f1_f32x8(fn, mix, y);
        for (int i = 0; i < 8; i++) {
            float want = libm_f1(fn, mix[i]);
            int exact = want != want || isinf(want) || want == 0 || fabsf(want) == 1.0f;
            CHECKT(exact ? same_f(y[i], want) : ulp_diff(y[i], want) <= bound, f1_name[fn]);
        }
    }
    /* the documented edges, spelled out */
    kiln_f32x4 e = kiln_exp_f32x4((kiln_f32x4){88.72283f, 88.72284f, -0x1.9fe368p+6f, -0x1.9fe36ap+6f});
    CHECK(isfinite(e[0]) && e[1] == INFINITY && e[2] == 0x1p-149f && e[3] == 0.0f);
    kiln_f32x4 l = kiln_log_f32x4((kiln_f32x4){0.0f, -0.0f, -1.0f, 1.0f});
    CHECK(l[0] == -INFINITY && l[1] == -INFINITY && l[2] != l[2] && f_bits(l[3]) == 0);
    kiln_f32x4 t = kiln_tanh_f32x4((kiln_f32x4){-0.0f, 20.0f, -1e30f, 0x1p-149f});
    CHECK(f_bits(t[0]) == 0x80000000u && t[1] == 1.0f && t[2] == -1.0f && t[3] == 0x1p-149f);
    kiln_f32x4 r = kiln_erf_f32x4((kiln_f32x4){-0.0f, 4.0f, -INFINITY, 1e-30f});
    CHECK(f_bits(r[0]) == 0x80000000u && r[1] == 1.0f && r[2] == -1.0f && ulp_diff(r[3], erff(1e-30f)) <= 1);
}

/*
 * pow against powf: random positive bases with moderate exponents (results
 * over the whole range), negative bases with integer exponents, and every
 * pair of special values (same bit for bit where glibc gives NaN, inf, 0 or 1).
 */
static void test_vec_f32_pow(void)
{
    int64_t worst = 0;
    float wa = 0, wb = 0;
    for (long rep = 0; rep < 2000000; rep += 8) {
        float a[8], b[8];
        for (int i = 0; i < 8; i++) {
            uint64_t r = rnd();
            switch (r % 4) {
            case 0:
                a[i] = bits_f((uint32_t)(r >> 32) & 0x7fffffffu);
                b[i] = rnd_range(-2.0f, 2.0f);
                break;
            case 1:
                a[i] = rnd_range(0.0f, 10.0f);
                b[i] = rnd_range(-40.0f, 40.0f);
                break;
            case 2:
                a[i] = -rnd_range(0.0f, 4.0f);
                b[i] = (float)((int)(r >> 40 & 63) - 32);
                break;
            default:
                a[i] = gen_float();
                b[i] = gen_float();
                break;
            }
        }
        kiln_f32x8 y = kiln_pow_f32x8(kiln_load_f32x8(a), kiln_load_f32x8(b));
        for (int i = 0; i < 8; i++) {
            int64_t d = ulp_diff(y[i], powf(a[i], b[i]));
            if (d > worst) {
                worst = d;
                wa = a[i];
                wb = b[i];
            }
        }
    }
    printf("  pow: max %lld ulp from glibc over 2000000 pairs\n", (long long)worst);
    if (worst > 1)
        printf("  pow: worst at %a, %a\n", wa, wb);
    CHECK(worst <= 1);
    for (int i = 0; i < NSPECIAL_F; i++)
        for (int j = 0; j < NSPECIAL_F; j++) {
            float a = special_f[i], b = special_f[j], want = powf(a, b);
            kiln_f32x4 y4 = kiln_pow_f32x4(kiln_bcast_f32x4(a), kiln_bcast_f32x4(b));
            kiln_f32x16 y16 = kiln_pow_f32x16(kiln_bcast_f32x16(a), kiln_bcast_f32x16(b));
            int exact = want != want || isinf(want) || want == 0 || fabsf(want) == 1.0f;
            int ok = exact ? same_f(y4[0], want) && same_f(y16[15], want)
                           : ulp_diff(y4[0], want) <= 1 && ulp_diff(y16[15], want) <= 1;
            if (!ok && check_failures < 10)
                printf("  pow(%a, %a) = %a, glibc %a\n", a, b, y4[0], want);
            CHECK(ok);
        }
}

/* f64 exp, log, tanh, erf, sin, cos, pow call libm: the same bits */
#define CHECK_F64_MATH(T, W)                                                               \
    static void f64_math_##T(void)                                                         \
    {                                                                                      \
        const char *name = #T;                                                             \
        for (int rep = 0; rep < 200000; rep += W) {                                        \
            double x[W], b[W];                                                             \
            for (int i = 0; i < W; i++) {                                                  \
                x[i] = gen_double();                                                       \
                b[i] = gen_double();                                                       \
            }                                                                              \
            kiln_##T v = kiln_load_##T(x), vb = kiln_load_##T(b);                          \
            kiln_##T e = kiln_exp_##T(v), l = kiln_log_##T(v), t = kiln_tanh_##T(v);       \
            kiln_##T r = kiln_erf_##T(v), s = kiln_sin_##T(v), c = kiln_cos_##T(v);        \
            kiln_##T p = kiln_pow_##T(v, vb);                                              \
            for (int i = 0; i < W; i++) {                                                  \
                CHECKT(same_d(e[i], exp(x[i])) && same_d(l[i], log(x[i])), name);          \
                CHECKT(same_d(t[i], tanh(x[i])) && same_d(r[i], erf(x[i])), name);         \
                CHECKT(same_d(s[i], sin(x[i])) && same_d(c[i], cos(x[i])), name);          \
                CHECKT(same_d(p[i], pow(x[i], b[i])), name);                               \
            }                                                                              \
        }                                                                                  \
    }
CHECK_F64_MATH(f64x2, 2)
CHECK_F64_MATH(f64x4, 4)
CHECK_F64_MATH(f64x8, 8)
CHECK_F64_MATH(f64x16, 16)

static void test_vec_f64_math(void)
{
    f64_math_f64x2();
    f64_math_f64x4();
    f64_math_f64x8();
    f64_math_f64x16();
}

/*
 * ---- --exhaustive: every float through the f32 functions on f32x16 ----
 * Prints the worst distance from glibc and the worst error against the
 * exact value (glibc's double function), and checks the bounds.
 */
static void test_vec_exhaustive(void)
{
    for (int fn = 0; fn < NF1; fn++) {
        int bound = fn == F_SIN || fn == F_COS ? 1 : 2;
        int64_t worst = 0;
        double worst_err = 0;
        float wx = 0, wex = 0;
        for (uint64_t u = 0; u < 0x100000000u; u += 16) {
            float x[16], y[16];
            for (int i = 0; i < 16; i++)
                x[i] = bits_f((uint32_t)(u + i));
            vec_f1_f32x16(fn, x, y);
            for (int i = 0; i < 16; i++) {
                float want = libm_f1(fn, x[i]);
                int exact = want != want || isinf(want) || want == 0 || fabsf(want) == 1.0f;
                if (exact && !same_f(y[i], want) && ulp_diff(y[i], want) > 1) {
                    if (check_failures < 10)
                        printf("  %s(%a) = %a, glibc %a\n", f1_name[fn], x[i], y[i], want);
                    CHECKT(0, f1_name[fn]);
                }
                int64_t d = ulp_diff(y[i], want);
                if (d > worst) {
                    worst = d;
                    wx = x[i];
                }
                double ex = exact_f1(fn, x[i]);
                if (isfinite(y[i]) && isfinite(ex)) {
                    double err = fabs((double)y[i] - ex) / ulp_at(ex);
                    if (err > worst_err) {
                        worst_err = err;
                        wex = x[i];
                    }
                }
            }
        }
        printf("  %s: every float: max %lld ulp from glibc (at %a), max %.3f ulp from exact (at %a)\n",
               f1_name[fn], (long long)worst, wx, worst_err, wex);
        CHECKT(worst <= bound, f1_name[fn]);
    }
}

/* ---- --bench: ns per element, vector functions against a libm lane loop ---- */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
enum { BN = 4096, BREPS = 2000 };
static float bin[BN], bin2[BN], bout[BN];
static volatile float bsink;

#define BENCH_LOOP(label, body)                                                            \
    do {                                                                                   \
        double best = 1e300;                                                               \
        for (int trial = 0; trial < 5; trial++) {                                          \
            double t0 = now_ns();                                                          \
            for (int rep = 0; rep < BREPS / 5; rep++) {                                    \
                body;                                                                      \
                bsink = bout[rep & (BN - 1)];                                              \
            }                                                                              \
            double t = (now_ns() - t0) / ((double)(BREPS / 5) * BN);                       \
            best = t < best ? t : best;                                                    \
        }                                                                                  \
        printf("  %-18s %7.3f ns/element\n", label, best);                                 \
    } while (0)
#define BENCH_VEC(label, T, W, FN)                                                         \
    BENCH_LOOP(label, for (int i = 0; i < BN; i += W)                                      \
                          kiln_store_##T(bout + i, FN(kiln_load_##T(bin + i))))
#define BENCH_VEC2(label, T, W, FN)                                                        \
    BENCH_LOOP(label, for (int i = 0; i < BN; i += W)                                      \
                          kiln_store_##T(bout + i, FN(kiln_load_##T(bin + i), kiln_load_##T(bin2 + i))))
#define BENCH_LIBM(label, FN) BENCH_LOOP(label, for (int i = 0; i < BN; i++) bout[i] = FN(bin[i]))

static void bench_fill(float lo, float hi)
{
    for (int i = 0; i < BN; i++)
        bin[i] = rnd_range(lo, hi);
}

#define BENCH_F1(name, lo, hi, LIBM)                                                       \
    do {                                                                                   \
        bench_fill(lo, hi);                                                                \
        BENCH_LIBM(#LIBM " (libm)", LIBM);                                                 \
        BENCH_VEC("kiln_" #name "_f32x4", f32x4, 4, kiln_##name##_f32x4);                  \
        BENCH_VEC("kiln_" #name "_f32x8", f32x8, 8, kiln_##name##_f32x8);                  \
        BENCH_VEC("kiln_" #name "_f32x16", f32x16, 16, kiln_##name##_f32x16);              \
    } while (0)

static void bench(void)
{
    printf("bench: %d floats, best of 5\n", BN);
    BENCH_F1(exp, -10.0f, 10.0f, expf);
    BENCH_F1(log, 0.0f, 100.0f, logf);
    BENCH_F1(tanh, -5.0f, 5.0f, tanhf);
    BENCH_F1(erf, -3.0f, 3.0f, erff);
    BENCH_F1(sin, -10.0f, 10.0f, sinf);
    BENCH_F1(cos, -10.0f, 10.0f, cosf);
    BENCH_F1(sqrt, 0.0f, 100.0f, sqrtf);
    BENCH_F1(floor, -100.0f, 100.0f, floorf);
    bench_fill(0.0f, 10.0f);
    for (int i = 0; i < BN; i++)
        bin2[i] = rnd_range(-3.0f, 3.0f);
    BENCH_LOOP("powf (libm)", for (int i = 0; i < BN; i++) bout[i] = powf(bin[i], bin2[i]));
    BENCH_VEC2("kiln_pow_f32x4", f32x4, 4, kiln_pow_f32x4);
    BENCH_VEC2("kiln_pow_f32x8", f32x8, 8, kiln_pow_f32x8);
    BENCH_VEC2("kiln_pow_f32x16", f32x16, 16, kiln_pow_f32x16);
}

int main(int argc, char **argv)
{
    int exhaustive = 0, do_bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--exhaustive"))
            exhaustive = 1;
        else if (!strcmp(argv[i], "--bench"))
            do_bench = 1;
        else {
            fprintf(stderr, "usage: %s [--exhaustive] [--bench]\n", argv[0]);
            return 2;
        }
    }
    if (do_bench) {
        bench();
        return 0;
    }
    catch_faults();
    RUN(test_vec_types);
    RUN(test_vec_mask_guard_pages);
    RUN(test_vec_gather);
    RUN(test_vec_load2);
    RUN(test_vec_below);
    RUN(test_vec_any_all);
    RUN(test_vec_convert);
    RUN(test_vec_exact_math);
    RUN(test_vec_f32_math_random);
    RUN(test_vec_f32_math_special);
    RUN(test_vec_f32_pow);
    RUN(test_vec_f64_math);
    if (exhaustive)
        RUN(test_vec_exhaustive);
    return check_total_failed != 0;
}
