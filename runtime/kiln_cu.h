/*
 * kiln_cu.h: the CUDA driver glue of a model built by `kiln compile
 * --target ptx`. The model's model_run (printed by targets/ptx/phost.c)
 * keeps one kiln_cu: the driver (libcuda.so.1, opened with dlopen, so a
 * build needs only cc and no CUDA headers), a context on device 0, the
 * model's PTX loaded as a module, one device allocation that holds the
 * weights (uploaded once), the arena, the inputs and the outputs, and one
 * stream. Device memory is addressed by offsets into that allocation.
 *
 * Every function returns 0, or non-zero with a one-line message in
 * c->err (nothing is printed here).
 */
#ifndef KILN_CU_H
#define KILN_CU_H

#include <stddef.h>
#include <stdint.h>

typedef struct kiln_cu {
    int ready;          /* kiln_cu_open succeeded */
    void *lib;          /* dlopen handle of libcuda.so.1 */
    void *ctx;          /* CUcontext (the device's primary context) */
    void *mod;          /* CUmodule of the PTX */
    void *stream;       /* CUstream every copy and launch goes to */
    void **fn;          /* [nfn] CUfunction of each PTX entry */
    int nfn;
    void **ev;          /* [nev] CUevents between kernels (--profile), or NULL */
    int nev;
    uint64_t base;      /* CUdeviceptr of the device allocation */
    size_t bytes;       /* its size */
    char err[512];      /* the last failure, one line */
} kiln_cu;

/* Open the driver and device 0, load ptx (NUL-terminated PTX text), find
 * the entries names[0..n) into fn[0..n), allocate `bytes` of device memory
 * and copy weights (wbytes) to offset woff; create nev events for
 * kiln_cu_mark (0: none). Idempotent once it succeeded. */
int kiln_cu_open(kiln_cu *c, const char *ptx, const char *const *names, int n, void **fn, size_t bytes,
                 const void *weights, size_t wbytes, size_t woff, int nev);
/* Copy host src to device offset off (n bytes), queued on the stream. */
int kiln_cu_put(kiln_cu *c, size_t off, const void *src, size_t n);
/* Copy device offset off to host dst (n bytes), queued on the stream;
 * dst holds it after kiln_cu_sync. */
int kiln_cu_get(kiln_cu *c, void *dst, size_t off, size_t n);
/* Launch entry k on grid x block threads (x dimension); args as
 * cuLaunchKernel takes them (the address of each parameter). */
int kiln_cu_launch(kiln_cu *c, int k, unsigned grid, unsigned block, void **args);
/* Record event i (0..nev-1) on the stream (a kernel's start and end). */
int kiln_cu_mark(kiln_cu *c, int i);
/* Wait for the stream; then any failure of the queued work shows. */
int kiln_cu_sync(kiln_cu *c);
/* Milliseconds between events i and j (after kiln_cu_sync), or -1. */
double kiln_cu_ms(kiln_cu *c, int i, int j);
/* Free the device memory, module and context. */
void kiln_cu_close(kiln_cu *c);

#endif
