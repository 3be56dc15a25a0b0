/*
 * target.h: code generators. A target turns a planned Program into source
 * files in an output folder; building them is the driver's business.
 *
 * Targets are data: one row each in targets[] (target.c), selected by
 * --target. The C target prints C; the LLVM target (targets/llvm/) builds
 * the kernels through the LLVM C API into an object file and leaves the
 * host side (model.h, model_run, the weights) to the C printer, whose
 * model.c then only declares and calls the kernels. The CUDA target
 * (targets/cuda/) prints kernels through the C printer in its CUDA dialect
 * (cemit.h's Dialect) and writes model_run's host side itself.
 */
#ifndef KILN_TARGET_H
#define KILN_TARGET_H

#include "../compiler/kernel/kernel.h"

struct Board; /* targets/boards/board.h */

typedef struct EmitOptions {
    const char *prefix;   /* C symbol prefix and file stem: "model" */
    int profile;          /* time each kernel (kiln bench --profile) */
    int opt;              /* -O level (the LLVM target's pass pipeline) */
    const char *arch;     /* --arch, NULL for the host */
    const struct Board *board; /* --arch BOARD: the board (the LLVM target's
                           * triple, CPU and features), else NULL */
    /* C target: NULL prints the kernels; a file name (the object another
     * target built them into) prints only their declarations, as extern
     * functions PREFIX_KERNEL, and model_run calls those */
    const char *extern_kernels;
} EmitOptions;

typedef struct Target {
    const char *name;     /* --target value */
    const char *what;     /* one line for --help */
    int (*emit)(const Program *p, const char *dir, const EmitOptions *o, Diag *d);
    int gpu;              /* runs on a GPU: compile_model maps kernels to grids (gpumap.c) */
} Target;

/* ------------------------------------------------------------- target.c */
const Target *target_find(const char *name); /* NULL if unknown */
extern const Target targets[];
extern const int ntargets;

/* ---------------------------------------------------------- c/cemit.c */
/* Write DIR/model.c, model.h, weights.bin and weights.S. */
int cemit_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d);
/* same[i] (for each of p's kernels): the first kernel that prints the same
 * as kernel i but for names, so that calling it with kernel i's buffers
 * computes what kernel i does (repeated blocks of a network share one
 * function; model_run calls same[i]). 0, or 1 if out of memory. */
int cemit_share_kernels(const Program *p, Arena *a, int *same);

/* ------------------------------------------------------- cuda/cuemit.c */
/* The GPU --target cuda builds for unless CUDA_ARCH says otherwise. */
#define CUDA_DEFAULT_ARCH "sm_90"
/* Write DIR/model.cu (kernels as __global__ launches, model_run's host
 * side), model.h, weights.bin and weights.S. */
int cuda_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d);
/* The build.sh of a CUDA output folder (nvcc and cc), for -O level opt. */
char *cuda_build_script(Arena *a, int opt);

/* -------------------------------------------------------- llvm/lemit.c */
/* Write the C target's files (kernels declared, not printed) and
 * DIR/model_kernels.o, the kernels built by LLVM for the host, or for the
 * board's llvm_triple, llvm_cpu and llvm_features. Built without LLVM
 * (llvm/nollvm.c), it says so and fails. */
int llvm_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d);
/* --dump llvm: the kernels' LLVM module, verified, before optimization. */
int llvm_dump(const Program *p, const EmitOptions *o, void *file, Diag *d);
/* 1 when this kiln was built with LLVM. */
int llvm_available(void);

/* --------------------------------------------------------- ptx/ptx.c */
/* Write the host side (model.h, model.c calling the CUDA driver through
 * kiln_cu.c, the weights) and the kernels as PTX for sm_90, built by LLVM's
 * NVPTX backend: DIR/model.ptx and DIR/model_ptx.c, the same text as a C
 * string. Built without LLVM (llvm/nollvm.c), it says so and fails. */
int ptx_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d);
/* --dump ptx: the kernels' PTX. */
int ptx_dump(const Program *p, const EmitOptions *o, void *file, Diag *d);

#endif
