/*
 * check.h: the unit tests' whole framework.
 *
 *   CHECK(cond)   count a failure and say where, keep going
 *   CHECK_MSG(cond, fmt, ...)  the same, saying why
 *   RUN(fn)       run a test function, print "PASS unit/fn" or "FAIL unit/fn: ..."
 */
#ifndef KILN_TEST_CHECK_H
#define KILN_TEST_CHECK_H

#include <stdio.h>

static int check_failures, check_total_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

/* CHECK with a printf-style explanation of the failure. */
#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("  %s:%d: check failed: ", __FILE__, __LINE__);                   \
            printf(__VA_ARGS__);                                                     \
            printf("\n");                                                            \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define RUN(fn)                                                                      \
    do {                                                                             \
        check_failures = 0;                                                          \
        fn();                                                                        \
        if (check_failures)                                                          \
            printf("FAIL unit/%s: %d checks failed\n", #fn, check_failures);         \
        else                                                                         \
            printf("PASS unit/%s\n", #fn);                                           \
        check_total_failed += check_failures != 0;                                   \
    } while (0)

#endif
