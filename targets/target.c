/*
 * target.c: the table of code generators.
 */
#include "target.h"

#include <string.h>

const Target targets[] = {
    {"c", "portable C99, built with the host cc", cemit_program, 0},
    {"llvm", "kernels built by LLVM for the host CPU or the board", llvm_program, 0},
    {"ptx", "kernels as PTX (LLVM's NVPTX, sm_90) run through the CUDA driver", ptx_program, 1},
    {"cuda", "CUDA C for an NVIDIA GPU (sm_90), built with nvcc", cuda_program, 1},
};
const int ntargets = (int)(sizeof targets / sizeof targets[0]);

const Target *target_find(const char *name)
{
    for (int i = 0; i < ntargets; i++)
        if (!strcmp(targets[i].name, name))
            return &targets[i];
    return NULL;
}
