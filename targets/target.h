/*
 * target.h: code generators. A target turns a planned Program into source
 * files in an output folder; building them is the driver's business.
 *
 * Targets are data: one row each in targets[] (target.c), selected by
 * --target. Only the C target exists today; CUDA C will reuse the C printer
 * with another dialect (cemit.c's Dialect), LLVM/PTX will walk the same
 * Kernel IR through the LLVM C API.
 */
#ifndef KILN_TARGET_H
#define KILN_TARGET_H

#include "../compiler/kernel/kernel.h"

typedef struct EmitOptions {
    const char *prefix;   /* C symbol prefix and file stem: "model" */
    int profile;          /* time each kernel (kiln bench --profile) */
} EmitOptions;

typedef struct Target {
    const char *name;     /* --target value */
    const char *what;     /* one line for --help */
    int (*emit)(const Program *p, const char *dir, const EmitOptions *o, Diag *d);
} Target;

/* ------------------------------------------------------------- target.c */
const Target *target_find(const char *name); /* NULL if unknown */
extern const Target targets[];
extern const int ntargets;

/* ---------------------------------------------------------- c/cemit.c */
/* Write DIR/model.c, model.h, weights.bin and weights.S. */
int cemit_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d);

#endif
