/*
 * test_par.c: the thread pool of runtime/kiln_par.c, standalone (no kiln
 * library): every index covered once and chunks exactly as documented for
 * many n and 1..8 threads, 100,000 back-to-back calls, nested calls,
 * callers on several threads at once, init/shutdown/init and the lazy
 * start, and the cost of an empty round trip (printed, never judged).
 *
 *   cc -std=c99 -O2 -Wall -Wextra -Itests/unit -Iruntime \
 *      tests/unit/test_par.c runtime/kiln_par.c -o test_par -pthread
 *
 * TEST_PAR_CALLS=N in the environment sets the back-to-back call count
 * (100000 by default; smaller under a slow sanitizer).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "kiln_par.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_N = 100003, MAX_CHUNKS = KILN_PAR_MAX_THREADS };

/* What the bodies record: hits per index, and each call's chunk. */
typedef struct Chunk {
    ptrdiff_t lo, hi;
    int on_caller;                  /* ran on the thread that called kiln_par_for */
} Chunk;

typedef struct Record {
    int *hits;                      /* hits (n,) */
    Chunk chunks[MAX_CHUNKS];
    int nchunks;                    /* updated atomically */
    pthread_t caller;
} Record;

static void body_record(void *ctx, ptrdiff_t lo, ptrdiff_t hi)
{
    Record *r = ctx;
    for (ptrdiff_t i = lo; i < hi; i++)
        __atomic_fetch_add(&r->hits[i], 1, __ATOMIC_RELAXED);
    int k = __atomic_fetch_add(&r->nchunks, 1, __ATOMIC_RELAXED);
    if (k < MAX_CHUNKS) {
        r->chunks[k].lo = lo;
        r->chunks[k].hi = hi;
        r->chunks[k].on_caller = pthread_equal(pthread_self(), r->caller) != 0;
    }
}

static int cmp_chunk(const void *a, const void *b)
{
    const Chunk *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Run kiln_par_for over n with a pool of T threads; check every index once
 * and the chunks [i*n/t, (i+1)*n/t), t = min(T, n), chunk 0 on the caller
 * and the others on workers. */
static void check_cover(int T, ptrdiff_t n, int *hits)
{
    static Record r;
    memset(hits, 0, sizeof(int) * (size_t)(n > 0 ? n : 1));
    r.hits = hits;
    r.nchunks = 0;
    r.caller = pthread_self();
    kiln_par_for(body_record, &r, n);
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++)
        bad += hits[i] != 1;
    CHECK(bad == 0);
    ptrdiff_t t = n < T ? n : T;
    if (t < 0)
        t = 0;
    CHECK(r.nchunks == t);
    if (r.nchunks != t || t > MAX_CHUNKS) {
        printf("  threads=%d n=%ld: %d chunks\n", T, (long)n, r.nchunks);
        return;
    }
    qsort(r.chunks, (size_t)t, sizeof(Chunk), cmp_chunk);
    for (ptrdiff_t i = 0; i < t; i++) {
        long long lo = (long long)i * n / t, hi = (long long)(i + 1) * n / t;
        CHECK(r.chunks[i].lo == lo && r.chunks[i].hi == hi);
        CHECK(r.chunks[i].on_caller == (i == 0));
    }
}

static void test_par_cover(void)
{
    static int hits[MAX_N];
    static const ptrdiff_t ns[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 1000, 4097, MAX_N};
    for (int T = 1; T <= 8; T++) {
        CHECK(kiln_par_init(T) == 0);
        CHECK(kiln_par_threads() == T);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            check_cover(T, ns[k], hits);
        check_cover(T, -5, hits); /* n < 0: nothing */
    }
    kiln_par_shutdown();
}

/* Threads <= 1: no workers, one call over [0, n) on the caller. */
static void test_par_serial(void)
{
    static int hits[1000];
    const int counts[] = {1, 0, -3};
    for (int k = 0; k < 3; k++) {
        CHECK(kiln_par_init(counts[k]) == 0);
        CHECK(kiln_par_threads() == 1);
        check_cover(1, 1000, hits);
    }
    kiln_par_shutdown();
}

/* Back-to-back calls: each must be complete when kiln_par_for returns. */
static void body_sum(void *ctx, ptrdiff_t lo, ptrdiff_t hi)
{
    __atomic_fetch_add((long *)ctx, (long)(hi - lo), __ATOMIC_RELAXED);
}

static int calls_count(void)
{
    const char *s = getenv("TEST_PAR_CALLS");
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : 100000;
}

static void test_par_many_calls(void)
{
    static const int Ts[] = {2, 3, 4, 8};
    int calls = calls_count();
    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
        CHECK(kiln_par_init(Ts[k]) == 0);
        long sum = 0, want = 0;
        int bad = 0;
        for (int c = 0; c < calls; c++) {
            ptrdiff_t n = c % 11; /* 0 .. 10: below, at and above T */
            kiln_par_for(body_sum, &sum, n);
            want += n;
            bad += __atomic_load_n(&sum, __ATOMIC_RELAXED) != want;
        }
        CHECK(bad == 0);
    }
    kiln_par_shutdown();
}

/* A body that calls kiln_par_for again: the inner call runs serially, as
 * one chunk on the thread running the outer chunk. */
enum { OUTER = 8, INNER = 16 };

typedef struct Nest {
    int hits[OUTER][INNER];
    int inner_chunks[OUTER];
    int inner_elsewhere;            /* inner chunks not on the outer chunk's thread */
} Nest;

typedef struct InnerCtx {
    Nest *nest;
    ptrdiff_t row;
    pthread_t thread;
} InnerCtx;

static void body_inner(void *ctx, ptrdiff_t lo, ptrdiff_t hi)
{
    InnerCtx *c = ctx;
    c->nest->inner_chunks[c->row]++;
    if (!pthread_equal(pthread_self(), c->thread))
        __atomic_fetch_add(&c->nest->inner_elsewhere, 1, __ATOMIC_RELAXED);
    for (ptrdiff_t j = lo; j < hi; j++)
        c->nest->hits[c->row][j]++;
}

static void body_outer(void *ctx, ptrdiff_t lo, ptrdiff_t hi)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        InnerCtx c = {ctx, i, pthread_self()};
        kiln_par_for(body_inner, &c, INNER);
    }
}

static void test_par_nested(void)
{
    static Nest nest;
    for (int T = 2; T <= 4; T++) {
        CHECK(kiln_par_init(T) == 0);
        for (int rep = 0; rep < 100; rep++) {
            memset(&nest, 0, sizeof nest);
            kiln_par_for(body_outer, &nest, OUTER);
            int bad = 0;
            for (int i = 0; i < OUTER; i++) {
                bad += nest.inner_chunks[i] != 1;
                for (int j = 0; j < INNER; j++)
                    bad += nest.hits[i][j] != 1;
            }
            CHECK(bad == 0);
            CHECK(nest.inner_elsewhere == 0);
        }
    }
    kiln_par_shutdown();
}

/* Several user threads calling at once: one gets the pool, the others run
 * serially; all results are complete and nothing deadlocks. */
typedef struct Caller {
    long sum, want;
    int bad;
} Caller;

static void *caller_main(void *arg)
{
    Caller *c = arg;
    for (int k = 0; k < 20000; k++) {
        ptrdiff_t n = 1 + k % 9;
        kiln_par_for(body_sum, &c->sum, n);
        c->want += n;
        c->bad += __atomic_load_n(&c->sum, __ATOMIC_RELAXED) != c->want;
    }
    return NULL;
}

static void test_par_concurrent_callers(void)
{
    Caller c[3];
    pthread_t th[3];
    memset(c, 0, sizeof c);
    CHECK(kiln_par_init(3) == 0);
    for (int i = 1; i < 3; i++)
        CHECK(pthread_create(&th[i], NULL, caller_main, &c[i]) == 0);
    caller_main(&c[0]);
    for (int i = 1; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        CHECK(c[i].bad == 0 && c[i].sum == c[i].want);
    kiln_par_shutdown();
}

/* init is idempotent and restarts with a new count; shutdown, twice, then
 * a lazy start by kiln_par_for; init again after all that. */
static void test_par_init_shutdown(void)
{
    static int hits[1000];
    CHECK(kiln_par_init(KILN_PAR_MAX_THREADS + 1) == EINVAL);
    CHECK(kiln_par_init(3) == 0);
    CHECK(kiln_par_init(3) == 0);
    CHECK(kiln_par_threads() == 3);
    check_cover(3, 1000, hits);
    CHECK(kiln_par_init(5) == 0); /* restart */
    CHECK(kiln_par_threads() == 5);
    check_cover(5, 1000, hits);
    kiln_par_shutdown();
    kiln_par_shutdown();
    CHECK(kiln_par_threads() == 1);

    long sum = 0;
    kiln_par_for(body_sum, &sum, 1000); /* lazy start: the online processors */
    CHECK(sum == 1000);
    int T = kiln_par_threads();
    CHECK(T >= 1);
    check_cover(T, 1000, hits);

    for (int k = 0; k < 20; k++) {
        kiln_par_shutdown();
        CHECK(kiln_par_init(2 + k % 3) == 0);
        check_cover(2 + k % 3, 1000, hits);
    }
    kiln_par_shutdown();
    CHECK(kiln_par_threads() == 1);
}

/* ------------------------------------------------------------- timing */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void body_empty(void *ctx, ptrdiff_t lo, ptrdiff_t hi)
{
    (void)ctx, (void)lo, (void)hi;
}

/* Round trip of an empty kiln_par_for over n = T, back to back: median and
 * best of 21 batches of 2000 calls, in microseconds per call. Then the
 * wake-up from sleep: one call after 2 ms idle, median of 50. */
static void test_par_timing(void)
{
    enum { BATCHES = 21, PER = 2000, IDLE = 50 };
    static const int Ts[] = {1, 2, 4};
    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
        int T = Ts[k];
        double b[BATCHES], idle[IDLE];
        CHECK(kiln_par_init(T) == 0);
        for (int i = 0; i < 1000; i++)
            kiln_par_for(body_empty, NULL, T);
        for (int i = 0; i < BATCHES; i++) {
            double t0 = now_us();
            for (int j = 0; j < PER; j++)
                kiln_par_for(body_empty, NULL, T);
            b[i] = (now_us() - t0) / PER;
        }
        qsort(b, BATCHES, sizeof b[0], cmp_double);
        for (int i = 0; i < IDLE; i++) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
            double t0 = now_us();
            kiln_par_for(body_empty, NULL, T);
            idle[i] = now_us() - t0;
        }
        qsort(idle, IDLE, sizeof idle[0], cmp_double);
        printf("  time: empty kiln_par_for threads=%d: %.3f us median, %.3f us best (back to back);"
               " %.1f us median after 2 ms idle\n",
               T, b[BATCHES / 2], b[0], idle[IDLE / 2]);
    }
    kiln_par_shutdown();
}

int main(void)
{
    RUN(test_par_cover);
    RUN(test_par_serial);
    RUN(test_par_many_calls);
    RUN(test_par_nested);
    RUN(test_par_concurrent_callers);
    RUN(test_par_init_shutdown);
    RUN(test_par_timing);
    return check_total_failed != 0;
}
