/*
 * machine.c: the description of the machine code is scheduled for.
 *
 * Schedules are chosen from a few numbers, not from the CPU's name: the
 * width of a vector register, how many there are, whether fused
 * multiply-add exists, the data caches, the threads. machine_host()
 * describes the machine kiln runs on (the generated code is built there
 * with -march=native); machine_find() names the others.
 */
#include "kernel.h"

#include <string.h>

/* par_work: a program whose loops, as lowered, run fewer iterations than
 * this in all (a model of some 100 us) stays on one thread: split over
 * cores, each kernel's input would first travel from the other core's
 * cache, which costs more than the halved compute saves. Calibrated on the
 * 2-core machine of docs/performance.md with channels-last convolutions
 * (least p10 of alternated runs, one thread vs two): DS-CNN (2.8M
 * iterations) 0.034 vs 0.037 ms and MobileNetV1 0.25 (8.1M) 0.123 vs
 * 0.141 ms lose on two threads, ResNet-8 (12.7M) 0.155 vs 0.111 ms gains
 * (it lost while its convolutions were NCHW, with 2^24 here). */
#define PAR_WORK (INT64_C(1) << 23)

static const Machine machines[] = {
    /* name           vec  regs fma  l1       l2          threads  par_work  cflags */
    {"generic",       16,  16,  0,   32768,   262144,     1,       PAR_WORK, ""},
    {"x86-64-avx2",   32,  16,  1,   32768,   524288,     1,       PAR_WORK, "-march=x86-64-v3"},
    {"x86-64-avx512", 64,  32,  1,   49152,   1048576,    1,       PAR_WORK, "-march=x86-64-v4"},
    {"aarch64",       16,  32,  1,   65536,   1048576,    1,       PAR_WORK, ""},
};

static Machine host;

const Machine *machine_find(const char *name)
{
    for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++)
        if (!strcmp(machines[i].name, name))
            return &machines[i];
    return NULL;
}

/* The table row closest to the CPU kiln runs on. */
static const Machine *host_kind(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return machine_find("x86-64-avx512");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return machine_find("x86-64-avx2");
    return machine_find("generic");
#elif defined(__aarch64__)
    return machine_find("aarch64");
#else
    return machine_find("generic");
#endif
}

const Machine *machine_host(void)
{
    if (!host.name) {
        host = *host_kind();
        host.cflags = "-march=native"; /* the build runs here too */
    }
    return &host;
}

const Machine *machine_arch(const char *arch)
{
    if (!arch || !strcmp(arch, "host"))
        return machine_host();
    return machine_find(arch);
}

