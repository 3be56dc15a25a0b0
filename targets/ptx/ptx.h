/*
 * ptx.h: what the PTX target's files share. ptx.c builds the kernels
 * through the LLVM builder of targets/llvm for NVPTX and gets PTX text;
 * phost.c prints the host side that loads and launches it.
 */
#ifndef KILN_PTX_H
#define KILN_PTX_H

#include "../target.h"

#include <stddef.h>

/* One kernel's launch: blocks x threads (x dimension only). */
typedef struct PtxLaunch {
    long long grid, block;
} PtxLaunch;

/* ------------------------------------------------------------ phost.c */
/* Kernel k's launch: the extent of its first L_GPU_BLOCK loop (blocks)
 * and of its first L_GPU_THREAD loop (threads per block, at most 1024),
 * each 1 when it has none or the extent is not a constant. The PTX loops
 * step by the grid and block sizes, so any launch computes the same. */
PtxLaunch ptx_launch(const Kernel *k);
/* DIR/PREFIX.h, weights.bin/.S, PREFIX.c (model_run: copies and launches
 * through kiln_cu.c), PREFIX_ptx.c (the PTX as a C string) and PREFIX.ptx
 * (the same text, for ptxas and for reading). */
int phost_program(const Program *p, const char *dir, const EmitOptions *o, const char *ptx, size_t len, Diag *d);

#endif
