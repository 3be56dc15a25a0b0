/*
 * ptx.h: what the PTX target's files share. ptx.c builds the kernels
 * through the LLVM builder of targets/llvm for NVPTX and gets PTX text;
 * phost.c prints the host side that loads and launches it.
 */
#ifndef KILN_PTX_H
#define KILN_PTX_H

#include "../target.h"

#include <stddef.h>

/* A launch: blocks x threads (x dimension only). */
typedef struct PtxLaunch {
    long long grid, block;
} PtxLaunch;

/* ------------------------------------------------------------ phost.c */
/* The launch of top-level statement s of a mapped kernel (gpumap.c): its
 * L_GPU_BLOCK loop's extent in blocks of its L_GPU_THREAD loop's extent;
 * one thread for a statement of another form. */
PtxLaunch ptx_launch(const Stmt *s);
/* DIR/PREFIX.h, weights.bin/.S, PREFIX.c (model_run: copies and launches
 * through kiln_cu.c), PREFIX_ptx.c (the PTX as a C string) and PREFIX.ptx
 * (the same text, for ptxas and for reading). */
int phost_program(const Program *p, const char *dir, const EmitOptions *o, const char *ptx, size_t len, Diag *d);

#endif
