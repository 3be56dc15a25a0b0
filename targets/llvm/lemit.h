/*
 * lemit.h: what the LLVM target's files share (lexpr.c builds expressions,
 * lemit.c statements, functions, the module and the object file).
 */
#ifndef KILN_LEMIT_H
#define KILN_LEMIT_H

#include "../target.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

/* f32 vector functions the kernels take from kiln_vec.h (the C target's,
 * so both targets compute the same values): PREFIX_vec_FN_f32xW(y, x[, x2])
 * on arrays, defined in model.c by lemit.c. */
enum { VM_SIN, VM_COS, VM_POW, VM_COUNT };
extern const char *const lg_vecmath_name[VM_COUNT];

/* The state of building one module, and of the function being built. */
typedef struct LG {
    LLVMContextRef cx;
    LLVMModuleRef m;
    LLVMBuilderRef b;        /* where instructions go */
    LLVMBuilderRef ab;       /* the entry block of the function: allocas */
    const Program *p;
    const Kernel *k;
    Arena *a;
    const char *pre;         /* symbol prefix: "model" */
    LLVMTypeRef index;       /* DT_INDEX: the target's pointer-sized integer
                              * (the C target's ptrdiff_t); i64 without one */
    LLVMValueRef fn;         /* the function being built */
    LLVMValueRef *var;       /* [k->nvars] each variable's alloca in fn, made on first use */
    LLVMValueRef *buf;       /* [p->nbufs] each buffer's storage in fn (params, locals on first use) */
    const KUse *use;         /* the kernel's buffers (kernel_uses) */
    int nuse;
    const char *kname;       /* the kernel's symbol, for its outlined loops */
    int npar;                /* parallel loops outlined so far */
    int in_par;              /* building the body of an outlined parallel loop */
    const char *bad;         /* first construct that could not be built, or NULL */
    unsigned vecmath[VM_COUNT]; /* f32 vector math the kernels call: bit 0/1/2 for 4/8/16 lanes */
    int gpu;                 /* building for NVPTX (targets/ptx): kernels are PTX entries, GPU loops
                              * read the thread registers, math calls libdevice's __nv_ functions */
} LG;

/* ------------------------------------------------------------ lemit.c */
/* The program's kernels as a verified module in cx (*out), or 1 with a
 * message; the vector math they call in vm[VM_COUNT] (may be NULL). With
 * a target machine tm the module gets its triple and data layout before
 * it is built (DT_INDEX its pointer-sized integer), else i64. gpu: for
 * NVPTX (see LG.gpu). */
int lg_build_module(const Program *p, const EmitOptions *o, LLVMContextRef cx, LLVMTargetMachineRef tm, Arena *a,
                    int gpu, LLVMModuleRef *out, unsigned *vm, Diag *d);

/* The buffers a GPU launch (top-level statement s of a mapped kernel)
 * passes, in parameter order: s's uses but the kernel's locals. */
int lg_launch_uses(const Program *p, const Stmt *s, Arena *a, KUse **out);

/* ------------------------------------------------------------ lmath.c */
/* exp, log, tanh or erf of f32 vector x built in line (kiln_vec.h's
 * polynomials); NULL for another function or a scalar. */
LLVMValueRef lg_math_f32(LG *g, UnOp op, LLVMValueRef x);

/* ------------------------------------------------------------ lexpr.c */
/* The LLVM type values of t compute in (f16/bf16: float, bool: i1, index:
 * g->index), a vector of them for lanes > 1. */
LLVMTypeRef lg_type(LG *g, DType t, int lanes);
/* The type t is stored as in memory (f16/bf16: i16, bool: i8). */
LLVMTypeRef lg_store_type(LG *g, DType t);
/* Expression e as a value of lg_type(e->type, e->lanes). */
LLVMValueRef lg_expr(LG *g, const Expr *e);
/* A stored element (or vector of them) of type t as the value it computes
 * as, and back. */
LLVMValueRef lg_widen(LG *g, LLVMValueRef v, DType t);
LLVMValueRef lg_narrow(LG *g, LLVMValueRef v, DType t);
/* &buf[index] for a scalar index; a vector of addresses for a vector one. */
LLVMValueRef lg_addr(LG *g, int buf, LLVMValueRef index);
/* Call intrinsic `name` overloaded on types over[0..nover). */
LLVMValueRef lg_intrinsic(LG *g, const char *name, LLVMTypeRef *over, int nover, LLVMValueRef *args, int nargs);
/* An i1 (vector) that is true in every lane. */
LLVMValueRef lg_all_true(LG *g, int lanes);
/* Scalar x repeated in `lanes` lanes. */
LLVMValueRef lg_splat(LG *g, LLVMValueRef x, int lanes);
/* The alloca of variable v in the current function. */
LLVMValueRef lg_var(LG *g, int v);

#endif
