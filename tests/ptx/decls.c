/*
 * decls.c: runtime/kiln_cu.c's declarations of the CUDA driver functions
 * against CUDA's own cuda.h (tests/ptx/run.sh compiles this with -Werror
 * where the toolkit is installed): each function pointer type of kiln_cu.c
 * is initialized with cuda.h's function, so a wrong parameter or return
 * type is a compile error.
 */
#include <cuda.h>

#define KILN_CU_CHECK 1
#include "../../runtime/kiln_cu.c"
