/*
 * kiln_par.c: a static thread pool for generated code (kiln_par.h).
 *
 * One job at a time, T threads: the caller of kiln_par_for and T-1
 * workers, worker w running chunk w of the range. A round goes:
 *
 *   caller                              worker w (1..T-1)
 *   take `busy` (else run serially)
 *   write job (fn, ctx, n); done = 0
 *   gen++ ------------------------------> sees gen change (spin or sleep)
 *   wake sleepers, if any                 runs chunk w if w < min(T, n)
 *   run chunk 0                           done++ (every worker, even idle)
 *   wait for done == T-1 <--------------- wakes the caller if it sleeps
 *   release `busy`
 *
 * Every worker acknowledges every round, so the caller may rewrite the job
 * as soon as done == T-1, and a worker can never miss a round (gen cannot
 * wrap around under it).
 *
 * Waiting. Workers spin on `gen`, the caller on `done`, each for a bounded
 * number of steps (pause instructions, and sched_yield now and then), then
 * sleep on a condition variable: spinning gives a wake-up of well under a
 * microsecond between back-to-back kernels, the bound keeps an idle pool,
 * or more threads than cores, from burning the machine. A sleeper announces itself (`sleepers`,
 * `caller_sleeping`) before its last look at the counter, and the other
 * side looks at the announcement after changing the counter, both with
 * sequentially consistent atomics: one of the two sees the other, so no
 * wake-up is lost, and the condition-variable path costs nothing while
 * nobody sleeps.
 *
 * Placement. Linux starts a new thread on its creator's CPU and moves it
 * only when the load balancer next looks, which for a pool whose threads
 * spin took some 500 rounds on the machine of docs/performance.md: until
 * then worker and caller shared one core, and two threads ran slower than
 * one (ResNet-8: 0.139 ms a run against 0.075 once apart). So a worker, on
 * Linux, first moves itself to a CPU of its own (the allowed CPUs other
 * than its creator's, in turn) and then gives itself back the whole
 * allowed set: a hint for where to start, not a pin, so the scheduler may
 * still move it when the machine is busy.
 *
 * Atomics are GCC/Clang __atomic builtins (the file is compiled -std=c99);
 * everything else is POSIX (pthread, sched_yield, sysconf, pthread_sigmask),
 * which _POSIX_C_SOURCE 200809L brings in, but for Linux's CPU sets
 * (sched_getaffinity, sched_getcpu: _GNU_SOURCE).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "kiln_par.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

/* Threads of a lazily started pool; 0: the online processors. build.sh
 * passes the model's --threads here. */
#ifndef KILN_PAR_THREADS
#define KILN_PAR_THREADS 0
#endif

/* A bounded spin-wait: KILN_PAR_SPIN steps, then sleep. The first
 * KILN_PAR_PAUSES steps are pause instructions; after them every
 * KILN_PAR_YIELD-th step is a sched_yield (0: never). The yields matter when
 * the thread being waited for shares this core (more threads than free
 * cores): they hand it the core instead of spinning out a time slice, which
 * on a loaded 2-core machine took a round trip from ~70 us to ~2 us. A pause
 * is 10 to 140 cycles depending on the processor, a yield with nothing else
 * to run a few hundred nanoseconds: the whole spin lasts some 0.2 to 1 ms,
 * so workers stay awake across a serial kernel of that length. */
#ifndef KILN_PAR_SPIN
#define KILN_PAR_SPIN 10000
#endif
#ifndef KILN_PAR_PAUSES
#define KILN_PAR_PAUSES 32
#endif
#ifndef KILN_PAR_YIELD
#define KILN_PAR_YIELD 16
#endif

/* Stack bytes of a worker: a kernel's private scratch (a Winograd row,
 * some hundreds of KiB) lives on the stack of the thread that runs it,
 * more than some C libraries give a thread by default (musl: 128 KiB).
 * Reserved, not committed: pages are touched only as used. */
#ifndef KILN_PAR_STACK
#define KILN_PAR_STACK (8L << 20)
#endif

/* Keeps the fields each side writes on cache lines of their own (128: two
 * lines on x86, whose prefetcher fetches pairs; one on Apple M-series). */
#if defined(__GNUC__)
#define LINE_ALIGNED __attribute__((aligned(128)))
#else
#define LINE_ALIGNED
#endif

typedef void (*par_fn)(void *ctx, ptrdiff_t lo, ptrdiff_t hi);

/* Written by the caller once per round, read by the workers. */
static struct {
    unsigned gen;                 /* round counter: a change is a new job (or quit) */
    par_fn fn;                    /* the job: fn(ctx, lo, hi) over [0, n) */
    void *ctx;
    ptrdiff_t n;
    int quit;                     /* set with a gen change by shutdown: workers exit */
} job LINE_ALIGNED;

/* Written by the workers. */
static struct {
    unsigned done;                /* workers that finished this round */
    int sleepers;                 /* workers asleep, or about to be, on `wake` */
} ack LINE_ALIGNED;

/* The CPU the pool's creator ran on when it started the workers (-1:
 * unknown, or not Linux). */
static int creator_cpu = -1;

/* Written by callers of kiln_par_for. */
static struct {
    int busy;                     /* 1 while a kiln_par_for holds the pool */
    int caller_sleeping;          /* 1 while that caller sleeps on `finished` */
} owner LINE_ALIGNED;

/* Read-mostly: changed only by init and shutdown, under init_mu. */
static struct {
    int started;                  /* the pool runs (with nthreads threads) */
    int nthreads;                 /* T, the caller included; 1 when not started */
    unsigned gen0;                /* job.gen when the workers were created */
    pthread_t workers[KILN_PAR_MAX_THREADS]; /* [1, nthreads) in use */
} pool LINE_ALIGNED = {0, 1, 0, {0}};

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER; /* init, shutdown */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;      /* the sleep paths */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;      /* workers: gen changed */
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;  /* caller: done == T-1 */

/* One iteration of a spin-wait: tells the core (and a hyperthread sibling)
 * that we are waiting. */
static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Step i (from 0) of a spin-wait. */
static void spin_step(int i)
{
    if (KILN_PAR_YIELD > 0 && i >= KILN_PAR_PAUSES && (i + 1) % (KILN_PAR_YIELD > 0 ? KILN_PAR_YIELD : 1) == 0)
        sched_yield();
    else
        cpu_relax();
}

/* Start of chunk i of [0, n) cut into t chunks: i*n/t without overflow
 * (n = q*t + r, so i*n/t = i*q + i*r/t, and i*r < t*t). */
static ptrdiff_t chunk_start(ptrdiff_t i, ptrdiff_t n, ptrdiff_t t)
{
    ptrdiff_t q = n / t, r = n % t;
    return i * q + i * r / t;
}

/* ------------------------------------------------------------- workers */

/* Wait until job.gen differs from seen; return it. Acquires the job. */
static unsigned wait_gen(unsigned seen)
{
    unsigned g;
    for (int i = 0; i < KILN_PAR_SPIN; i++) {
        g = __atomic_load_n(&job.gen, __ATOMIC_ACQUIRE);
        if (g != seen)
            return g;
        spin_step(i);
    }
    pthread_mutex_lock(&mu);
    __atomic_add_fetch(&ack.sleepers, 1, __ATOMIC_SEQ_CST);
    while ((g = __atomic_load_n(&job.gen, __ATOMIC_SEQ_CST)) == seen)
        pthread_cond_wait(&wake, &mu);
    __atomic_sub_fetch(&ack.sleepers, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mu);
    return g;
}

/* Move worker w to the w-th allowed CPU other than its creator's, then
 * allow it every CPU again (Placement, above). */
static void place(ptrdiff_t w)
{
#if defined(__linux__)
    cpu_set_t all, one;
    if (creator_cpu < 0 || sched_getaffinity(0, sizeof all, &all) != 0)
        return;
    int others = CPU_COUNT(&all) - (CPU_ISSET(creator_cpu, &all) ? 1 : 0);
    if (others < 1)
        return;
    int k = (int)((w - 1) % others);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &all) || c == creator_cpu || k-- > 0)
            continue;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (sched_setaffinity(0, sizeof one, &one) == 0)
            sched_setaffinity(0, sizeof all, &all);
        return;
    }
#else
    (void)w;
#endif
}

static void *worker(void *arg)
{
    ptrdiff_t w = (ptrdiff_t)(intptr_t)arg;        /* this worker's chunk */
    place(w);
    ptrdiff_t T = __atomic_load_n(&pool.nthreads, __ATOMIC_RELAXED); /* fixed while it runs */
    unsigned seen = pool.gen0;
    for (;;) {
        seen = wait_gen(seen);
        if (__atomic_load_n(&job.quit, __ATOMIC_RELAXED))
            return NULL;
        ptrdiff_t n = job.n, t = n < T ? n : T;
        if (w < t)
            job.fn(job.ctx, chunk_start(w, n, t), chunk_start(w + 1, n, t));
        /* The last one wakes the caller if it went to sleep. */
        if (__atomic_add_fetch(&ack.done, 1, __ATOMIC_SEQ_CST) == (unsigned)(T - 1) &&
            __atomic_load_n(&owner.caller_sleeping, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&mu);
            pthread_cond_signal(&finished);
            pthread_mutex_unlock(&mu);
        }
    }
}

/* Tell workers 1..count-1 to exit and join them. Holds init_mu; no round
 * in progress. */
static void stop_workers(int count)
{
    if (count <= 1)
        return;
    __atomic_store_n(&job.quit, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&mu);
    __atomic_store_n(&job.gen, __atomic_load_n(&job.gen, __ATOMIC_RELAXED) + 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
    for (int w = 1; w < count; w++)
        pthread_join(pool.workers[w], NULL);
    __atomic_store_n(&job.quit, 0, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- API */

/* Start a pool of `threads` threads. Holds init_mu; the pool is stopped. */
static int start_locked(int threads)
{
    int rc = 0, w = 1;
    __atomic_store_n(&pool.nthreads, threads, __ATOMIC_RELAXED);
    pool.gen0 = __atomic_load_n(&job.gen, __ATOMIC_RELAXED);
    if (threads > 1) {
#if defined(__linux__)
        creator_cpu = sched_getcpu();
#endif
        /* Workers block every signal: signals go to the program's threads. */
        sigset_t all, old;
        pthread_attr_t attr;
        int sized = pthread_attr_init(&attr) == 0;
        if (sized)
            pthread_attr_setstacksize(&attr, KILN_PAR_STACK); /* kept at the default if refused */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (; w < threads; w++)
            if ((rc = pthread_create(&pool.workers[w], sized ? &attr : NULL, worker, (void *)(intptr_t)w)) != 0)
                break;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (sized)
            pthread_attr_destroy(&attr);
    }
    if (rc) {
        stop_workers(w);
        __atomic_store_n(&pool.nthreads, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&pool.started, 1, __ATOMIC_RELEASE);
    return rc;
}

static void shutdown_locked(void)
{
    if (!pool.started)
        return;
    stop_workers(pool.nthreads);
    __atomic_store_n(&pool.started, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pool.nthreads, 1, __ATOMIC_RELAXED);
}

int kiln_par_init(int threads)
{
    if (threads > KILN_PAR_MAX_THREADS)
        return EINVAL;
    if (threads < 1)
        threads = 1;
    pthread_mutex_lock(&init_mu);
    int rc = 0;
    if (!pool.started || pool.nthreads != threads) {
        shutdown_locked();
        rc = start_locked(threads);
    }
    pthread_mutex_unlock(&init_mu);
    return rc;
}

void kiln_par_shutdown(void)
{
    pthread_mutex_lock(&init_mu);
    shutdown_locked();
    pthread_mutex_unlock(&init_mu);
}

int kiln_par_threads(void)
{
    return __atomic_load_n(&pool.nthreads, __ATOMIC_RELAXED);
}

/* The count of a lazily started pool: KILN_PAR_THREADS, or the online
 * processors, within [1, KILN_PAR_MAX_THREADS]. */
static int default_threads(void)
{
    long t = KILN_PAR_THREADS;
    if (t <= 0)
        t = sysconf(_SC_NPROCESSORS_ONLN);
    return t < 1 ? 1 : t > KILN_PAR_MAX_THREADS ? KILN_PAR_MAX_THREADS : (int)t;
}

/* Wait until all T-1 workers have acknowledged the round. */
static void wait_done(unsigned want)
{
    for (int i = 0; i < KILN_PAR_SPIN; i++) {
        if (__atomic_load_n(&ack.done, __ATOMIC_ACQUIRE) == want)
            return;
        spin_step(i);
    }
    pthread_mutex_lock(&mu);
    __atomic_store_n(&owner.caller_sleeping, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ack.done, __ATOMIC_SEQ_CST) != want)
        pthread_cond_wait(&finished, &mu);
    __atomic_store_n(&owner.caller_sleeping, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mu);
}

void kiln_par_for(void (*fn)(void *ctx, ptrdiff_t lo, ptrdiff_t hi), void *ctx, ptrdiff_t n)
{
    if (n <= 0)
        return;
    if (!__atomic_load_n(&pool.started, __ATOMIC_ACQUIRE))
        kiln_par_init(default_threads()); /* on failure the pool has 1 thread */
    ptrdiff_t T = __atomic_load_n(&pool.nthreads, __ATOMIC_RELAXED);
    /* Serial: one thread, one iteration, or the pool is taken (a nested
     * call from a body, or another thread's call). */
    if (T <= 1 || n == 1 || __atomic_load_n(&owner.busy, __ATOMIC_RELAXED) ||
        __atomic_exchange_n(&owner.busy, 1, __ATOMIC_ACQUIRE)) {
        fn(ctx, 0, n);
        return;
    }
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    __atomic_store_n(&ack.done, 0, __ATOMIC_RELAXED);
    /* Publishes the job; only the holder of `busy` changes gen. */
    __atomic_store_n(&job.gen, __atomic_load_n(&job.gen, __ATOMIC_RELAXED) + 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ack.sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&mu);
    }
    ptrdiff_t t = n < T ? n : T;
    fn(ctx, 0, chunk_start(1, n, t));
    wait_done((unsigned)(T - 1));
    __atomic_store_n(&owner.busy, 0, __ATOMIC_RELEASE);
}
