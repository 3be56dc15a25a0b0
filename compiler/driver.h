/*
 * driver.h: the commands of the kiln program, and the pipeline they share.
 */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include "graph/graph.h"
#include "kernel/kernel.h"

enum { MAX_BINDS = 64, MAX_TENSORS = 64 };

struct Board; /* targets/boards/board.h */

typedef struct Options {
    const char *model;         /* MODEL.onnx */
    const char *outdir;        /* -o */
    const char *target;        /* --target: "c" */
    const char *arch;          /* --arch, NULL for the host */
    const struct Board *board; /* --arch BOARD: the board, else NULL */
    const char *emit;          /* --emit: exe | lib | src */
    ShapeBind binds[MAX_BINDS];/* --shape NAME=DIMS */
    int nbinds;
    AliasBind aliases[MAX_BINDS]; /* --alias OUTPUT=INPUT */
    int naliases;
    int opt;                   /* -O0..3 */
    int threads;               /* --threads */
    int string_bytes;          /* --string-bytes: the string pool's size (0: KILN_STRING_BYTES) */
    const char *dump;          /* --dump graph|kernel, or NULL */
    const char *testdir;       /* check: TESTDIR */
    double rtol, atol;         /* check tolerances */
    int iters;                 /* bench --iters */
    int profile;               /* bench --profile */
    int keep;                  /* keep check/bench's temporary folder */
    /* kiln compare --kernel: the kernel (its name) replaced by a call of
     * swap_routine before planning (compare/swap.c); NULL for none */
    const char *swap_kernel, *swap_routine;
    /* lower without writing a value over another (kernel/inplace.c): kiln
     * compare --kernel builds both programs so, for a kernel's inputs and
     * outputs are separate arrays a user's function can be handed */
    int no_inplace;
} Options;

/* What compile_model produces. */
typedef struct Compiled {
    Graph *graph;              /* after all graph passes (or where it failed) */
    Program *prog;             /* planned Kernel IR */
} Compiled;

/* ------------------------------------------------------------ compile.c */
/* The pipeline: import, bind shapes, infer and fold, canonicalize, remove
 * dead code, fuse, lower, simplify, plan. `known` are input tensors whose
 * shapes (and, for the inputs named in `specialize`, values) the compile
 * may use. Everything is allocated in `a`. */
int compile_model(Arena *a, const Options *o, const Tensor *known, int nknown,
                  const char *const *specialize, int nspecialize, Compiled *out, Diag *d);
/* Write the generated sources, the runtime and build.sh into dir, and
 * (for --emit exe|lib) build them: in a private folder inside dir, whose
 * files are renamed into dir only when all succeeded. On failure dir holds
 * no model, library or sources of this compile's names, only the
 * build.log of a failed build. */
int emit_and_build(const Compiled *c, const Options *o, const char *dir, Diag *d);
/* Remove from dir every file a compile writes there (model, libmodel.a,
 * the generated sources, the runtime, build.sh; not build.log), by unlink:
 * a symlink of those names is removed, never its target. */
void remove_outputs(const char *dir);
/* The C compiler flags of build.sh's CFLAGS for o (-O, instruction set). */
const char *build_cflags(Arena *a, const Options *o);
/* kiln compile */
int cmd_compile(const Options *o);

/* ------------------------------------------------------- compare/swap.c */
/* How a kernel's group meets the user's function: one argument. */
enum { SWAP_MAX = 32 };
typedef struct SwapArg {
    ValueId value;             /* the ONNX value; VNONE: an absent optional one (NULL) */
    int node, slot;            /* its node (index in SwapPlan.nodes) and input/output slot */
    int buf;                   /* kiln's buffer holding it, -1 for a constant or absent */
    int konst;                 /* a constant: handed over as the model's data */
    int convert;               /* kiln stores it reordered or with a halo: copied */
} SwapArg;
typedef struct SwapPlan {
    int kernel;                /* index in Program.kernels */
    const Node *nodes[SWAP_MAX]; /* the group: the producer, then its chain */
    int nnodes;
    SwapArg in[SWAP_MAX], out[SWAP_MAX];
    int nin, nout;
} SwapPlan;
/* The arguments of kernel `kernel` of p (compiled from g) for a user's
 * function in its place; 1 with a message when it cannot be swapped. */
int swap_plan(const Graph *g, const Program *p, int kernel, SwapPlan *out, Diag *d);
/* Replace the body of the kernel named `kernel` by a call of `routine`
 * (the pointers of swap_plan's arguments, inputs then outputs, absent
 * ones left out) between the copies its layouts need. */
int prog_swap(Graph *g, Program *p, const char *kernel, const char *routine, Diag *d);

/* ---------------------------------------------------- compare/compare.c */
/* kiln compare OP [options]: argv are the arguments after "compare". */
int cmd_compare(int argc, char **argv);

/* -------------------------------------------------------------- check.c */
int cmd_check(const Options *o);
int cmd_bench(const Options *o);

/* ------------------------------------------------------------ inspect.c */
int cmd_inspect(const Options *o);

#endif
