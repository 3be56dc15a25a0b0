/*
 * cemit.h: what the C printer's files share (cemit.c prints scalars,
 * statements and files; cvec.c prints vector expressions and stores).
 */
#ifndef KILN_CEMIT_H
#define KILN_CEMIT_H

#include "../target.h"

#include <stdio.h>

typedef struct Dialect {
    const char *kernel_decl;  /* storage and return type of a kernel */
    const char *restrict_kw;  /* pointer qualifier for non-aliasing buffers */
    const char *index_type;   /* C type of DT_INDEX */
    const char *func_decl;    /* storage of the helper functions kernels call */
    int gpu;                  /* CUDA C: each top-level launch (gpumap.c) a __global__
                               * function, the kernel a host function launching them on
                               * kiln_cuda_stream; bit casts through kiln_bitcast<> (C++) */
} Dialect;

extern const Dialect c_dialect, cuda_dialect;

typedef struct Out {
    FILE *f;
    const Dialect *dl;
    const Program *p;
    const Kernel *k;
    const char **vname;  /* [k->nvars] printed variable names */
    const char **bname;  /* [p->nbufs] printed buffer names (those the kernel uses) */
    const char *kname;   /* the kernel's C name (its _ctx struct, its _parI loops) */
    int key;             /* printing the kernel's key: no comments, positional names */
    const KUse *use;     /* the kernel's buffers (kernel_uses) */
    int nuse;
    int npar;            /* parallel loops printed so far */
    int **par_in;        /* [i]: the variables parallel loop i reads from around it */
    int *par_nin;
} Out;

/* C precedence levels, higher binds tighter. */
enum { P_COND = 3, P_OR = 4, P_AND = 5, P_BOR = 6, P_BXOR = 7, P_BAND = 8, P_EQ = 9, P_REL = 10,
       P_SHIFT = 11, P_ADD = 12, P_MUL = 13, P_UNARY = 14, P_POSTFIX = 15 };

/* ------------------------------------------------------------ cemit.c */
/* Print e, parenthesized if its precedence is below `need`. */
void expr(Out *o, const Expr *e, int need);

/* The pieces of the C printer a dialect's file writer (cemit_program,
 * targets/cuda/cuemit.c) puts together. */
/* Kernel k in dialect dl: `decl` its storage and return type, `name` its
 * name; with `proto` only its declaration; with `key` the text that decides
 * whether two kernels can share one function (positional names, no
 * comments). bname: [p->nbufs] scratch for the printed buffer names. */
void cemit_kernel(FILE *f, const Program *p, const Kernel *k, const Dialect *dl, Arena *a, const char **bname,
                  const char *decl, const char *name, int proto, int key);
/* same[i] = the first kernel that prints like kernel i but for names (its
 * function serves both). 0, or 1 if out of memory. */
int cemit_share(const Program *p, const Dialect *dl, Arena *a, int *same);
/* The helper functions (NaN-propagating min/max, integer abs/pow, float
 * to integer) p's kernels call, each once. */
void cemit_helpers(FILE *f, const Program *p, const Dialect *dl);
/* Write DIR/PRE.h: the model's API. `device` adds PRE_ERR_DEVICE and says
 * the arena argument is unused (a GPU target's memory is its own); `extra`
 * (C declarations, or NULL) goes at its end (targets/ptx/phost.c). */
int cemit_header(const Program *p, const char *dir, const char *pre, int profile, int device, const char *extra,
                 Diag *d);
/* Write DIR/PRE_host.c when a GPU program has kernels placed on the host
 * (Kernel.host): those kernels in C, and PRE_host_run(k, b), which runs
 * kernel k on buffers b[] (host memory, in the order of its parameters). */
int cemit_host(const Program *p, const char *dir, const char *pre, Diag *d);
/* Write DIR/weights.bin and weights.S (symbol PRE_weights). */
int cemit_weights(const Program *p, const char *dir, const char *pre, Diag *d);
/* const PRE_tensor PRE_WHICH[] = {...}: the tensors of bufs[n]. */
void cemit_tensor_table(FILE *f, const Program *p, const char *pre, const char *which, const int *bufs, int n);
/* Model text inside a C comment or string literal, escaped. */
void cemit_text(FILE *f, const char *s);
/* model_output_shape (declared in model.h): each output's shape, its
 * data-dependent dim read from the arena the caller passed: at the length
 * buffer's arena offset, or on a GPU target (`device`) at 8*j for the j-th
 * such output, where model_run copies the lengths back. */
void cemit_output_shape(FILE *f, const Program *p, const char *pre, int device);
/* model_run's checks of the inputs compiled for one value (kiln check's
 * specialization): each compared with its copy at offset in the weight
 * blob, whose C expression is w; `fail` is the value returned when one
 * differs. */
void cemit_guards(FILE *f, const Program *p, const char *w, const char *fail);
/* A block comment of kiln's text (lines separated by \n), escaped. */
void cemit_comment(FILE *f, int depth, const char *text);

/* -------------------------------------------------------------- cdev.c */
/* A GPU target's model_run around its device calls (cdev.c's comment:
 * the DEV_GET, DEV_PUT and DEV_SYNC macros it defines first). devoff[b]:
 * buffer b's device offset; hbase and hbytes: the device range the host
 * mirrors for kernels placed on the host (the arena on). */
/* At the top of model_run: the host mirror, the string pool and run
 * status cleared on the device. */
void cemit_dev_begin(FILE *f, const Program *p, const int64_t *devoff, int64_t hbytes, const char *up);
/* Kernel ki, placed on the host, run in model_run. */
void cemit_dev_host_kernel(FILE *f, const Program *p, int ki, const int64_t *devoff, int64_t hbase, const char *pre,
                           const char *up, Arena *a);
/* After the last kernel, before the final wait: the pool's state and the
 * run status copied back... */
void cemit_dev_fetch(FILE *f, const Program *p, const int64_t *devoff, const char *up);
/* ...and after it, checked. */
void cemit_dev_check(FILE *f, const Program *p, const char *up);

/* ------------------------------------------------------------- cvec.c */
/* The C vector type of `lanes` elements of t (kiln_vec.h): "kiln_f32x8";
 * DT_INDEX vectors are int64 ones. */
const char *cvec_type(DType t, int lanes);
/* Print vector expression e (lanes > 1). */
void cvec_expr(Out *o, const Expr *e);
/* Print vector store s as one statement (no indent, ends with a newline). */
void cvec_store(Out *o, const Stmt *s);

#endif
