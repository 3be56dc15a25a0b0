/*
 * kiln_par.h: the static thread pool behind `kiln compile --threads N`.
 *
 * The C printer outlines each parallel loop of a kernel into
 *     static void body(void *ctx, ptrdiff_t lo, ptrdiff_t hi);
 * and calls kiln_par_for(body, &ctx, n). That is all generated code ever
 * calls; with --threads 1 it calls nothing here and links no pthread.
 *
 * Thread count. The pool runs T threads: the calling thread plus T-1
 * workers. It starts either
 *   - explicitly: kiln_par_init(T), by the executable's main() before the
 *     first inference, or by a library user once up front (so that thread
 *     creation stays out of the first inference); or
 *   - lazily: the first kiln_par_for() on a pool that is not running calls
 *     kiln_par_init(KILN_PAR_THREADS). kiln_par.c is built together with
 *     the model, and build.sh passes the model's N as -DKILN_PAR_THREADS=N
 *     when it compiles kiln_par.c. Built without it, the lazy count is the
 *     number of online processors.
 *
 * Building: C99 plus POSIX threads. kiln_par.c defines _POSIX_C_SOURCE
 * 200809L itself (a -D of the same value on the command line is fine) and
 * uses GCC/Clang builtins for atomics (__atomic_*), so it builds with
 * -std=c99; link with -pthread.
 *     cc -std=c99 -O2 -Wall -Wextra [-DKILN_PAR_THREADS=N] -c kiln_par.c
 *
 * Threading contract: kiln_par_for may be called from any thread, also
 * from inside a body (nested) and from several user threads at once; only
 * one call at a time gets the pool, any other runs its whole range serially
 * on its own thread (never blocks, never deadlocks). kiln_par_init and
 * kiln_par_shutdown must not run while a kiln_par_for is in progress (so
 * never from inside a body).
 *
 * Waiting: threads spin briefly (pause, then sched_yield now and then) and
 * then sleep on a condition variable, so an idle pool costs nothing; the
 * spin is tunable with -DKILN_PAR_SPIN=... (see kiln_par.c).
 */
#ifndef KILN_PAR_H
#define KILN_PAR_H

#include <stddef.h>

/* Most threads a pool may have (kiln's --threads accepts 1..1024). */
enum { KILN_PAR_MAX_THREADS = 1024 };

/* Start the pool with `threads` threads in all: threads-1 workers, the
 * caller of kiln_par_for being the other. threads <= 1 starts no worker
 * (kiln_par_for then runs serially). Idempotent: when the pool already runs
 * with this many threads, returns 0 at once; with another count, it is shut
 * down and restarted. Returns 0, EINVAL when threads > KILN_PAR_MAX_THREADS,
 * or the error of pthread_create (the pool is then left with 1 thread, and
 * a later call may try again). */
int kiln_par_init(int threads);

/* Run fn over [0, n) split across the pool's T threads, and return when all
 * of it is done. The range is cut into t = min(T, n) contiguous chunks,
 * chunk i = [i*n/t, (i+1)*n/t), each passed to one call of fn; the caller
 * runs chunk 0. n <= 0 calls nothing; n == 1, a pool of one thread, a
 * nested call and a call while the pool is busy call fn(ctx, 0, n) once on
 * the calling thread. After the pool has started, it neither allocates nor
 * creates threads; it starts the pool itself if needed (see above). */
void kiln_par_for(void (*fn)(void *ctx, ptrdiff_t lo, ptrdiff_t hi), void *ctx, ptrdiff_t n);

/* Stop and join the workers. Afterwards kiln_par_threads() is 1 and
 * kiln_par_init (or a lazy start) may run again. No-op when not running. */
void kiln_par_shutdown(void);

/* Threads of the running pool, the caller included; 1 when not running. */
int kiln_par_threads(void);

#endif
