/*
 * kernel.h: the Kernel IR, and the table of contents of compiler/kernel/.
 *
 * A Program is the model after lowering: a list of buffers (inputs, outputs,
 * weights, and intermediates placed in one arena) and a list of kernels run
 * in order. A Kernel is a loop nest over flat buffers:
 *
 *   Stmt   loop | store | let/assign of a local | if | call of a routine
 *   Expr   const | var | load | unary | binary | select | cast | bitcast |
 *          broadcast | ramp | horizontal reduce     (typed, with lanes)
 *
 * Loops carry an extent (an Expr: constant after lowering, min(T, n - i*T)
 * after tiling), an iteration kind and a loop kind. The iteration kind is a
 * fact lowering states: IT_DATA loops write distinct elements in every
 * iteration (they may be split, reordered, vectorized and run in
 * parallel), IT_REDUCE loops only fold values into accumulators with an
 * associative operator (acc = acc + x, max, min), IT_SERIAL loops promise
 * nothing and no pass reorders them. The loop kind says how a loop runs:
 * serial, parallel across threads, as the lanes of vector expressions,
 * unrolled, or mapped to a GPU grid; passes set it.
 *
 * An expression has `lanes` (1 for a scalar). Vector lanes come from the
 * vectorizer: a loop variable becomes a ramp (base, base+1, ...), scalars
 * used with vectors are broadcast, a load whose index is a ramp of stride 1
 * reads consecutive elements, and a mask (a bool vector) on a load or a
 * store says which lanes touch memory (the others read as 0 and write
 * nothing): remainders and borders are masks, not special code.
 *
 * String tensors (DT_STRING) are buffers of records that no expression
 * computes with: the only expression of type string is a load used as a
 * call argument (the element's address, handed to a kiln_str_* routine of
 * runtime/kiln_str.h), and no statement stores one.
 *
 * Buffers have a storage scope: the caller's inputs and outputs, weights,
 * the arena (intermediates and scratch live in one planned block), and
 * BUF_LOCAL, storage private to one kernel (a register tile, a row of
 * scratch) whose every iteration of the data-parallel loops around its
 * uses writes it before reading it: a parallel loop gives each thread its
 * own copy (the printers declare it inside the outlined loop). Expressions
 * are immutable once built and may be shared; statements form a mutable
 * tree that loop passes rewrite. Nothing in this IR names an ONNX operator:
 * the target printers see only loops, loads, stores and arithmetic.
 */
#ifndef KILN_KERNEL_H
#define KILN_KERNEL_H

#include "../base/kiln.h"

/* Unary operators.  U(enum, dump name) */
#define KILN_UNOPS(U)                                                      \
    U(U_NEG, "neg") U(U_NOT, "not") U(U_BNOT, "bnot") U(U_ABS, "abs")      \
    U(U_SQRT, "sqrt") U(U_EXP, "exp") U(U_LOG, "log") U(U_SIN, "sin")      \
    U(U_COS, "cos") U(U_TAN, "tan") U(U_ASIN, "asin") U(U_ACOS, "acos")    \
    U(U_ATAN, "atan") U(U_SINH, "sinh") U(U_COSH, "cosh")                  \
    U(U_TANH, "tanh") U(U_ASINH, "asinh") U(U_ACOSH, "acosh")              \
    U(U_ATANH, "atanh") U(U_ERF, "erf") U(U_FLOOR, "floor")                \
    U(U_CEIL, "ceil") U(U_ROUND, "round") U(U_TRUNC, "trunc")              \
    U(U_ISNAN, "isnan") U(U_ISINF, "isinf")

/* Binary operators.  B(enum, dump name, C infix or NULL) -- U_ROUND rounds
 * half to even; B_MOD is C's remainder (fmod for floats); B_MIN/B_MAX
 * propagate NaN as numpy does; B_SHR is logical for unsigned types. */
#define KILN_BINOPS(B)                                                     \
    B(B_ADD, "add", "+") B(B_SUB, "sub", "-") B(B_MUL, "mul", "*")         \
    B(B_DIV, "div", "/") B(B_MOD, "mod", "%") B(B_POW, "pow", NULL)        \
    B(B_MIN, "min", NULL) B(B_MAX, "max", NULL)                            \
    B(B_EQ, "eq", "==") B(B_NE, "ne", "!=") B(B_LT, "lt", "<")             \
    B(B_LE, "le", "<=") B(B_GT, "gt", ">") B(B_GE, "ge", ">=")             \
    B(B_AND, "and", "&&") B(B_OR, "or", "||") B(B_XOR, "xor", "!=")        \
    B(B_BAND, "band", "&") B(B_BOR, "bor", "|") B(B_BXOR, "bxor", "^")     \
    B(B_SHL, "shl", "<<") B(B_SHR, "shr", ">>") B(B_ATAN2, "atan2", NULL)

typedef enum UnOp {
#define U(e, s) e,
    KILN_UNOPS(U)
#undef U
    U_COUNT
} UnOp;

typedef enum BinOp {
#define B(e, s, c) e,
    KILN_BINOPS(B)
#undef B
    B_COUNT
} BinOp;

typedef enum ExprKind {
    E_CONST,   /* typed constant: i for integers and bool, f for floats */
    E_VAR,     /* a loop variable or a local */
    E_LOAD,    /* buf[index] */
    E_UNARY,   /* op a */
    E_BINARY,  /* a op b */
    E_SELECT,  /* a ? b : c */
    E_CAST,    /* (type) a: a value conversion */
    E_BITCAST, /* a's bits read as `type`, a type of the same width */
    E_BCAST,   /* a scalar a repeated across `lanes` */
    E_RAMP,    /* lanes a, a + i, a + 2i, ... (a scalar integer base, i a constant stride) */
    E_HREDUCE, /* the lanes of vector a combined by BinOp `op` (add, min, max) into a scalar */
} ExprKind;

enum { KILN_MAX_LANES = 16 }; /* widest vector the IR holds */

typedef struct Expr {
    ExprKind kind;
    DType type;        /* element type of the result (DT_BOOL for compares) */
    int lanes;         /* 1 for a scalar; vector width after vectorization */
    int op;            /* UnOp or BinOp */
    int var;           /* E_VAR: index into Kernel.vars */
    int buf;           /* E_LOAD: index into Program.bufs */
    int64_t i;         /* E_CONST integer/bool value (u64 stored as its bits) */
    double f;          /* E_CONST float value */
    struct Expr *a, *b, *c; /* operands; E_LOAD: index a, mask b (NULL: every lane) */
} Expr;

typedef enum LoopKind {
    L_SERIAL,     /* an ordinary loop */
    L_PARALLEL,   /* iterations split across the runtime's threads */
    L_VECTOR,     /* iterations are the lanes of vector expressions */
    L_UNROLL,     /* printed as straight-line copies of the body */
    L_GPU_BLOCK,  /* one GPU block per iteration (blockIdx) */
    L_GPU_THREAD, /* one GPU thread per iteration (threadIdx) */
} LoopKind;

typedef enum IterKind {
    IT_SERIAL,    /* no promise: iterations may depend on each other */
    IT_DATA,      /* each iteration writes its own elements (data-parallel) */
    IT_REDUCE,    /* iterations fold into accumulators with add/min/max */
} IterKind;

typedef enum StmtKind {
    S_LOOP,    /* for var in [0, extent): body */
    S_STORE,   /* buf[index] = value */
    S_LET,     /* declare local var = value */
    S_ASSIGN,  /* var = value */
    S_IF,      /* if (cond) body else els */
    S_CALL,    /* call runtime routine `routine` on buffers and integers */
} StmtKind;

typedef struct Stmt {
    StmtKind kind;
    struct Stmt *next;   /* next statement in the same block */
    /* S_LOOP */
    int var;             /* S_LOOP, S_LET, S_ASSIGN: the variable */
    Expr *extent;        /* S_LOOP: iterations (an index expression) */
    LoopKind loop;       /* S_LOOP: how it runs */
    IterKind iter;       /* S_LOOP: what its iterations promise */
    struct Stmt *body;   /* S_LOOP, S_IF: first statement of the block */
    struct Stmt *els;    /* S_IF: else block, or NULL */
    /* S_STORE */
    int buf;             /* destination buffer */
    Expr *index;         /* S_STORE: element index (DT_INDEX), a vector for vector stores */
    Expr *mask;          /* S_STORE: lanes written (bool), NULL for all */
    Expr *value;         /* S_STORE, S_LET, S_ASSIGN: value; S_IF: condition */
    /* S_CALL */
    const char *routine; /* function name (a C identifier: kiln_rt_*, or kiln compare's kc_swap) */
    int nargs;
    Expr **args;         /* S_CALL: E_VAR/E_CONST values and E_LOAD addresses (of that element) */
    int nout;            /* S_CALL: the last nout args are addresses of buffers the routine
                          * writes (not inputs or weights); it only reads the others */
    const char *comment; /* shown above the statement in dumps and C */
} Stmt;

typedef struct Var {
    const char *name;    /* "n", "c", "acc"; the printer makes names unique */
    DType type;          /* DT_INDEX for loop variables */
    int lanes;
} Var;

typedef enum BufKind {
    BUF_INPUT,    /* graph input: read-only pointer from the caller */
    BUF_OUTPUT,   /* graph output: pointer from the caller */
    BUF_WEIGHT,   /* constant: bytes at `offset` in the weight blob */
    BUF_ARENA,    /* intermediate: `offset` in the arena (plan.c) */
    BUF_LOCAL,    /* private to the one kernel that uses it (a register tile) */
} BufKind;

typedef struct Buffer {
    const char *name;    /* C identifier, unique in the program */
    const char *label;   /* the ONNX value's name as the model spells it */
    BufKind kind;
    DType dtype;
    int64_t numel;       /* elements */
    Shape shape;         /* logical shape, for comments */
    DType elem;          /* type of the tensor it holds: dtype, or a packed type (kiln.h) whose
                          * elements its bytes hold; then dtype is u8, numel the byte count and
                          * shape the tensor's (prog_add_packed) */
    int index;           /* BUF_INPUT/BUF_OUTPUT: position in the model's list */
    int64_t offset;      /* BUF_WEIGHT: blob offset; BUF_ARENA: arena offset; bytes */
    const void *data;    /* BUF_WEIGHT: numel elements */
    int alias;           /* buffer whose storage this one is (a view); -1 */
    int first, last;     /* BUF_ARENA: first and last kernel using it (plan.c) */
    int value;           /* Graph ValueId it holds, or -1 for a kernel's scratch */
    /* BUF_INPUT/BUF_OUTPUT: model_run's slots of one of the model's inputs
     * or outputs (a sequence is one slot per element): the index of that
     * input or output, and the slot's IO_* form (kiln.h). A slot of form
     * IO_NONE (inputs only) holds nothing: numel 0, never read, and
     * model_run checks that its pointer is NULL; one of form IO_OPT, not
     * NONE, that its pointer is not NULL. */
    int group, form;
} Buffer;

typedef struct Kernel {
    const char *name;    /* "k3_conv_12_relu_13" */
    const char *comment; /* the nodes it computes, one per line */
    int group;           /* provenance: the fusion group (graph_fuse) it computes, -1 for a copy
                          * into a graph output; kiln compare --kernel reads it, no pass or
                          * printer does */
    Stmt *body;
    Var *vars;
    int nvars, cap_vars;
    struct NameSet *names; /* variable names taken (kernel_add_var) */
    int host;            /* placement in a GPU program (gpumap.c): runs on the host CPU,
                          * its loops left as they are, because it touches string records
                          * or calls a runtime routine (host code). The GPU targets copy
                          * its buffers to host memory before it and the ones it writes
                          * back after it; the interpreter and the CPU targets run every
                          * kernel alike */
} Kernel;

typedef struct Program {
    Arena *arena;
    const char *model;   /* model file, for comments */
    Buffer *bufs;
    int nbufs, cap_bufs;
    Kernel *kernels;
    int nkernels, cap_kernels;
    int *inputs;         /* buffer of each graph input, in order */
    int ninputs;
    int *outputs;        /* buffer of each graph output, in order */
    int noutputs;
    /* out_alias[i]: the input whose storage output i is (--alias: model_run
     * copies that input into the output first when given two buffers), or
     * -1; kernels read the input through the output's buffer */
    int *out_alias;
    /* out_len[i]: for an output with a data-dependent extent (Value.
     * dynamic), the BUF_ARENA i64[1] buffer its kernel stores the actual
     * extent of dimension out_dyn[i] in (the buffer's shape holds the upper
     * bound, the data is dense row-major for the actual shape), live until
     * model_run returns; -1 for the others */
    int *out_len;
    int *out_dyn;
    int *guard_in;       /* specialized inputs: buffer guard_in[i] must equal */
    int *guard_w;        /*   weight buffer guard_w[i] at run time (its numel
                          *   first elements: the whole input, or a header) */
    int nguards;
    /* the string pool (runtime/kiln_str.h): a u8 BUF_ARENA buffer of
     * KILN_STR_HEAD bytes of state and then the bytes string routines make,
     * live for the whole run (string outputs may point into it); -1 when
     * the program has none. model_run clears its state first and returns
     * 2 + its status (MODEL_ERR_STRING_*) when a routine or a kernel set
     * it. */
    int str_pool;
    /* the run status: a BUF_ARENA i64[1] buffer a runtime routine sets
     * non-zero when the data it reads is malformed (a corrupt image:
     * runtime/kiln_img.h), live for the whole run; model_run clears it
     * first and returns MODEL_ERR_DATA when set (graph/fold.c, the node's
     * error). -1 when no routine reports one. */
    int status;
    int64_t arena_bytes; /* arena size after planning */
    int64_t weight_bytes;/* weight blob size */
    int threads;         /* --threads */
} Program;

/* A machine, as the schedules see it (machine.c). */
typedef struct Machine {
    const char *name;     /* "x86-64-avx2" */
    int vec_bytes;        /* bytes in a vector register */
    int vec_regs;         /* vector registers */
    int fma;              /* fused multiply-add */
    int64_t l1, l2;       /* data cache bytes per core */
    int threads;          /* threads the program may use (--threads) */
    int64_t par_work;     /* least loop iterations of a whole program that
                           * pay for running it on several threads */
    const char *cflags;   /* C compiler flags that select its instruction set */
} Machine;

/* ------------------------------------------------------------- machine.c */
const Machine *machine_host(void);
const Machine *machine_find(const char *name); /* NULL if unknown */
/* The machine --arch names ("host" or NULL: machine_host()), NULL if
 * unknown. */
const Machine *machine_arch(const char *arch);

/* -------------------------------------------------------------- kernel.c */
Program *prog_new(Arena *a, const char *model);
int prog_add_buf(Program *p, const char *name, BufKind kind, DType t, const Shape *s);
/* The buffer holding output i's run-time length (Program.out_len), or -1
 * for an output of static shape. */
int prog_out_len(const Program *p, int i);
/* Does p have a string buffer or a string pool (its C needs kiln_str.h)? */
int prog_has_strings(const Program *p);
/* The first kernel of p that calls a runtime routine whose name starts
 * with prefix (its C file is then built with the program), or -1. */
int prog_calls(const Program *p, const char *prefix);
/* Must kernel k run on the host CPU in a GPU program: does it touch string
 * records or the string pool, or call a runtime routine (host code)? a
 * holds kernel_uses's list. */
int kernel_host_only(const Program *p, const Kernel *k, Arena *a);
/* How many of p's kernels are placed on the host (Kernel.host). */
int prog_host_kernels(const Program *p);
/* A buffer of u8 holding a tensor of packed type t and shape s as ONNX
 * stores it (dtype_bytes(t, numel) bytes); kernels read and write its
 * bytes (kernel/packed.c). */
int prog_add_packed(Program *p, const char *name, BufKind kind, DType t, const Shape *s);
Kernel *prog_add_kernel(Program *p, const char *name);
int kernel_add_var(Program *p, Kernel *k, const char *name, DType t);
/* A variable of `lanes` lanes (a vector local). */
int kernel_add_vec(Program *p, Kernel *k, const char *name, DType t, int lanes);
/* A fresh statement of the given kind (zeroed, not linked). */
Stmt *stmt_new(Arena *a, StmtKind kind);
/* A deep copy of block s (expressions shared: they are immutable). */
Stmt *stmt_copy(Arena *a, const Stmt *s);
/* Rename variable `from` to `to` in block s: its lets, assignments and reads. */
void stmt_rename_var(Arena *a, Kernel *k, Stmt *s, int from, int to);
/* Give every let of block s (a copy) a variable of its own. */
void stmt_fresh_lets(Program *p, Kernel *k, Stmt *s);

/* Expression constructors. They fold constants and simplify trivial
 * arithmetic (x*1, x+0, 0*x for integers) so lowered code stays readable. */
Expr *ke_int(Arena *a, DType t, int64_t v);
Expr *ke_idx(Arena *a, int64_t v);                /* DT_INDEX constant */
Expr *ke_float(Arena *a, DType t, double v);
Expr *ke_const(Arena *a, DType t, double v);      /* int or float by type */
Expr *ke_var(Arena *a, const Kernel *k, int var);
Expr *ke_load(Arena *a, const Program *p, int buf, Expr *index);
Expr *ke_un(Arena *a, UnOp op, Expr *x);
Expr *ke_bin(Arena *a, BinOp op, Expr *x, Expr *y);
Expr *ke_select(Arena *a, Expr *c, Expr *x, Expr *y);
Expr *ke_cast(Arena *a, DType t, Expr *x);
/* x's bits as type t, which has x's width (f16/bf16: their 16 bits). */
Expr *ke_bitcast(Arena *a, DType t, Expr *x);
/* x (a scalar) in each of `lanes` lanes. */
Expr *ke_bcast(Arena *a, Expr *x, int lanes);
/* base, base + stride, ... over `lanes` lanes (base a scalar integer). */
Expr *ke_ramp(Arena *a, Expr *base, int64_t stride, int lanes);
/* The lanes of x folded by op (B_ADD, B_MIN, B_MAX) into a scalar. */
Expr *ke_hreduce(Arena *a, BinOp op, Expr *x);
/* A load of buf at index (a vector index gives a vector) whose lanes where
 * mask is false read nothing and are 0; mask NULL means all. */
Expr *ke_load_mask(Arena *a, const Program *p, int buf, Expr *index, Expr *mask);
/* Is bool (vector) m true in every lane, known now? */
int ke_all_true(const Expr *m);
/* Does e read variable var? */
int ke_uses_var(const Expr *e, int var);
/* Does every store under block s to memory outside the kernel's locals
 * index with variable v? (A loop whose iterations all write one place
 * cannot spread them over threads: schedule.c, gpumap.c.) */
int kernel_stores_use(const Program *p, const Stmt *s, int v);
/* Does the one statement s read or assign no variable declared outside
 * it (a loop nest that can run as a function of its own)? Scratch from a. */
int kernel_stmt_closed(Arena *a, const Kernel *k, const Stmt *s);
/* The variables declared outside the one statement s that it reads, in
 * *vars (ascending; vars may be NULL), and their count: the scalars a
 * function outlined from s is handed. -1 when s assigns one of them or
 * one is a vector. Scratch from a. */
int kernel_stmt_inputs(Arena *a, const Kernel *k, const Stmt *s, int **vars);
/* The values an index expression can take, when known (interval
 * arithmetic: verify.c proves index arithmetic stays in int64 with it,
 * slice.c that a scratch index stays in its slice). */
typedef struct KRange {
    int known;
    int64_t lo, hi;
} KRange;
KRange krange_top(void);                     /* unknown */
KRange krange_span(int64_t lo, int64_t hi);  /* [lo, hi] */
/* The range of x op y: add, sub, mul; div and mod by a positive constant;
 * min, max (unknown for any other op or operand); 1 when it can leave
 * int64. */
int krange_bin(BinOp op, KRange x, KRange y, KRange *out);
/* The range of scalar index expression e, variable v ranging over vr[v]:
 * constants, variables and the operations krange_bin knows; unknown for
 * anything else (a load, a vector, a non-index type) or on overflow. */
KRange krange_of(const Expr *e, const KRange *vr);
/* e = coef*var + rest, rest free of var, coef a constant (sums, differences
 * and constant multiples of scalar index expressions)? 1 and *coef if so. */
int ke_coef(const Expr *e, int var, int64_t *coef);
/* The smallest / largest value of t: -inf / inf for the float types, the
 * integer range's ends, 0 / 1 for bool (where max / min reductions start). */
Expr *ke_lowest(Arena *a, DType t);
Expr *ke_highest(Arena *a, DType t);
int ke_is_const(const Expr *e, int64_t *out);      /* integer constant? */
int ke_equal(const Expr *x, const Expr *y);        /* structurally equal */
/* e with variable `var` replaced by `with`, rebuilt through the simplifying
 * constructors (unchanged subtrees are shared). */
Expr *ke_subst(Arena *a, Expr *e, int var, Expr *with);
/* every variable v < nvars with with[v] set replaced by it, at once (one
 * walk of e, whatever nvars is) */
Expr *ke_subst_vars(Arena *a, Expr *e, Expr *const *with, int nvars);
/* e rebuilt bottom-up, each node handed to fn (which returns it or its
 * replacement) once its operands are rebuilt; unchanged subtrees shared. */
Expr *ke_rewrite(Arena *a, Expr *e, Expr *(*fn)(void *ctx, Expr *e), void *ctx);
/* The same over every statement of a block, in place. */
void stmt_subst(Arena *a, Stmt *s, int var, Expr *with);
/* The buffers kernel k reads (KU_READ) and writes (KU_WRITE), sorted by
 * buffer number; returns their count, the list allocated in `a`. Linear
 * in the kernel's size, whatever the program's buffer count. */
enum { KU_READ = 1, KU_WRITE = 2 };
typedef struct KUse {
    int buf;
    int rw;    /* KU_READ | KU_WRITE */
} KUse;
int kernel_uses(const Kernel *k, Arena *a, KUse **out);
/* The same for block s, or for the one statement s when `one`. */
int block_uses(const Stmt *s, int one, Arena *a, KUse **out);
const char *unop_name(UnOp op);
const char *binop_name(BinOp op);
const char *binop_c(BinOp op);                     /* infix, or NULL */
int binop_is_compare(BinOp op);                    /* result is bool */

/* ------------------------------------------------------------- build.c */
/* A cursor that appends statements to a kernel: kb_for opens a loop and
 * returns its variable, kb_end closes the innermost open loop or if. */
typedef struct KB {
    Arena *a;
    Program *p;
    Kernel *k;
    Stmt **tail[64];     /* where the next statement goes, per open block */
    Stmt *open[64];      /* the open loop/if of each level */
    int depth;
    const char *comment; /* kb_comment: attached to the next statement */
} KB;

void kb_init(KB *b, Program *p, Kernel *k);
int kb_for(KB *b, const char *name, int64_t extent);       /* returns the var */
int kb_for_e(KB *b, const char *name, Expr *extent);
/* kb_for with the loop's iteration kind (IT_DATA, IT_REDUCE). */
int kb_for_k(KB *b, const char *name, int64_t extent, IterKind iter);
void kb_end(KB *b);
Expr *kb_v(KB *b, int var);                                 /* ke_var shorthand */
int kb_let(KB *b, const char *name, Expr *init);           /* returns the var */
void kb_assign(KB *b, int var, Expr *value);
void kb_store(KB *b, int buf, Expr *index, Expr *value);
/* call runtime routine `routine` on args (values, and loads standing for
 * their element's address); the last nout are the addresses it writes */
void kb_call(KB *b, const char *routine, Expr *const *args, int nargs, int nout);
void kb_if(KB *b, Expr *cond);
void kb_else(KB *b);
void kb_comment(KB *b, const char *text);                  /* on the next stmt */
/* Flat row-major index of coords[rank] into shape s. */
Expr *kb_flat(KB *b, const Shape *s, Expr *const *coords);

/* ------------------------------------------------------------ packed.c */
/* Conversions between the packed types (float8, f8e8m0, f4e2m1, 4- and
 * 2-bit integers, kept as their codes in bytes) and the types kernels
 * compute in, written as ordinary integer and float expressions (shifts,
 * masks, compares, selects, f32 <-> u32 bitcasts): no printer knows the
 * packed types. Codes are i32 values in [0, 2^bits). Locals are let at b's
 * cursor so that a code or a value is computed once. */
/* The type a packed type's values compute in: f32 for the float types,
 * i32 for the integers. */
DType pk_calc_type(DType t);
/* The value of code (i32) of packed type t, in pk_calc_type(t): exact
 * (every such value is an f32); NaNs keep their sign. */
Expr *pk_decode(KB *b, DType t, Expr *code);
/* How a value converts to a packed float type (Cast's attributes). */
enum { PK_ROUND_UP, PK_ROUND_DOWN, PK_ROUND_NEAREST }; /* f8e8m0's round_mode */
typedef struct PkMode {
    int saturate;    /* out of range values become the largest finite one */
    int round;       /* PK_ROUND_*, f8e8m0 only */
} PkMode;
/* The code (i32) of value x (any computable type) converted to packed
 * type t: floats round to nearest even, saturating or not as ONNX's Cast
 * says (f4e2m1 always saturates, and a NaN becomes a zero of the other
 * sign, as the reference's ml_dtypes does); f8e8m0 follows m.round;
 * integers wrap to the width, as Cast does for fixed point. */
Expr *pk_encode(KB *b, DType t, Expr *x, PkMode m);
/* The code of element `index` (a flat DT_INDEX) of packed buffer buf. */
Expr *pk_load(KB *b, int buf, Expr *index);

/* ------------------------------------------------------------- print.c */
/* --dump kernel: the program as stable text. */
void prog_dump(const Program *p, void *file);

/* ------------------------------------------------------------ interp.c */
/* Run kernel k with every buffer's storage given by mem[buf] (elements of
 * the buffer's dtype). Used by constant folding and the unit tests. Returns
 * 0, or 1 with a message if a load or store falls outside its buffer. */
int kernel_interp(const Program *p, const Kernel *k, void **mem, Diag *d);

/* ------------------------------------------------------------ verify.c */
/* Check a program's invariants: variables defined before use, loads and
 * stores of existing buffers, index expressions of DT_INDEX, operand types
 * that agree. Returns 0, or 1 with a message naming the kernel. */
int prog_verify(const Program *p, Diag *d);

/* --------------------------------------------------------- simplify.c */
/* Fold constants, drop loops of extent 1 (their variable becomes 0) and
 * empty loops. */
int prog_simplify(Program *p, Diag *d);

/* -------------------------------------------------------------- tile.c */
/* Split loop `loop` of kernel k by `factor` into an outer loop (the same
 * Stmt, reused) and an inner one (returned in *out_inner), guarding the
 * remainder with a min() extent. Returns 1 if the loop has no constant
 * extent. */
int loop_split(Program *p, Kernel *k, Stmt *loop, int64_t factor, Stmt **out_inner);
/* Split `loop` (constant extent n) into n / factor blocks of exactly
 * `factor` iterations (the inner loop in *out_inner, NULL when there is no
 * full block) and, when factor does not divide n, a tail loop of the last
 * n % factor iterations placed right after it (*out_tail, else NULL). */
int loop_split_peel(Program *p, Kernel *k, Stmt *loop, int64_t factor, Stmt **out_inner, Stmt **out_tail);

/* --------------------------------------------------------- partition.c */
/* Split loop l where the bounds tests of the ifs inside it hold whatever
 * the inner loops do: l keeps the head, then come the middle (those tests
 * replaced by true) and the tail. Returns the middle loop, or NULL when
 * there is nothing to split. */
Stmt *loop_partition(Program *p, Kernel *k, Stmt *l);

/* ---------------------------------------------------------- schedule.c */
/* The threads program p runs on: m->threads, or 1 when its loops run fewer
 * than m->par_work iterations in all (too little work to share). */
void prog_threads(Program *p, const Machine *m);

/* ------------------------------------------------------------- slice.c */
/* A nest filling a kernel's scratch fused into the nest reading it, when
 * both run over the same outer loop slice by slice; the scratch shrinks to
 * one slice (and the fused loop stays serial). */
int prog_fuse_slices(Program *p, Diag *d);

/* ------------------------------------------------------------- widen.c */
/* Nests over narrow output rows whose inputs have a wider pitch computed
 * as one flat run into a scratch, the kept columns copied out, when that
 * takes fewer of machine m's vectors (one thread only). */
int prog_widen(Program *p, const Machine *m, Diag *d);

/* ---------------------------------------------------------- schedule.c */
/* Choose how each kernel runs on machine m and say so in the IR: loops
 * split and marked L_VECTOR / L_UNROLL / L_PARALLEL, contractions register
 * blocked with packed operands (contract.c). The passes after it carry the
 * marks out. */
int prog_schedule(Program *p, const Machine *m, Diag *d);
/* The vectors the schedule splits a data loop of n iterations into, for
 * vectors of `lanes` (full ones, then the remainder's powers of two, the
 * last masked): what a row costs, for the passes that weigh one. */
int64_t sched_vectors(int64_t n, int lanes);

/* ---------------------------------------------------------- contract.c */
/* If kernel k is a contraction (a reduction nest acc += x * y), register
 * block it for machine m with packed operands and return 1; else 0. */
int contract_kernel(Program *p, Kernel *k, const Machine *m, Diag *d);
/* contract_kernel on every kernel (the first step of scheduling, run
 * before the passes that must leave contractions alone) */
int prog_contract(Program *p, const Machine *m, Diag *d);

/* ------------------------------------------------------------ gpumap.c */
/* Map every kernel to GPU launches (targets cuda, ptx): each top-level
 * loop nest becomes an L_GPU_BLOCK loop around one L_GPU_THREAD loop, its
 * outer data-parallel loops collapsed into one thread per iteration (a
 * bounds test for the last block); a nest or kernel that cannot be spread
 * runs as one block of one thread. A kernel that touches string records
 * or calls a runtime routine is marked host instead (Kernel.host) and
 * keeps its loops. Run instead of the CPU schedule. */
int prog_gpumap(Program *p, const Machine *m, Diag *d);

/* --------------------------------------------------------- vectorize.c */
/* Replace every L_VECTOR loop by its body on vector lanes (ramps, masks,
 * vector locals, reduction partners); a loop that cannot be vectorized
 * becomes L_SERIAL. */
int prog_vectorize(Program *p, Diag *d);

/* ------------------------------------------------------------ unroll.c */
/* Replace every L_UNROLL loop of constant extent (at most 64) by copies of
 * its body, each with its own locals; longer ones become L_SERIAL. */
int prog_unroll(Program *p, Diag *d);

/* ----------------------------------------------------------- promote.c */
/* Turn BUF_LOCAL buffers accessed only at constant slots into variables. */
int prog_promote(Program *p, Diag *d);

/* ------------------------------------------------------------ divmod.c */
/* Index divisions and remainders by a constant simplified with the loops'
 * ranges and the terms' known divisors (a tile's pixels share a row). */
int prog_divmod(Program *p, Diag *d);

/* -------------------------------------------------------------- plan.c */
/* Give every BUF_ARENA buffer an offset: liveness over the kernel order,
 * then best-fit placement; sets p->arena_bytes. Views share their target's
 * storage and extend its lifetime. Weights get blob offsets. */
int prog_plan(Program *p, Diag *d);

#endif
