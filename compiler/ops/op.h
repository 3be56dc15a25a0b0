/*
 * op.h: what an operator definition sees.
 *
 * An op is its row in ops.h plus two functions:
 *
 *   int infer_<op>(Graph *g, Node *n, Diag *d)
 *       Check inputs and attributes, set the dtype and shape of every
 *       output with op_set_out(). Inputs whose values decide a shape (a
 *       Reshape's shape, Slice's starts) are read with op_const_ints().
 *       What the lowering needs of them is parsed and checked here, once,
 *       into a struct of the op's file that op_attrs() keeps on the node
 *       (Node.attrs).
 *
 *   int lower_<op>(Lower *L, Node *n)
 *       Read the parsed attributes from n->attrs (not the attributes
 *       again: inference checked them), append loop nests to the current
 *       kernel with the KB cursor (kernel.h) and store every output
 *       element once through lw_store(), which applies the fused epilogue
 *       (if the fuse pass gave the node one).
 *
 * Elementwise ops (OPF_EW) are defined by their scalar expression alone, in
 * ew_scalar() (elementwise.c); the loops around it come from lower_ew.
 */
#ifndef KILN_OP_H
#define KILN_OP_H

#include "../graph/graph.h"
#include "../kernel/kernel.h"
#include "ops.h"

typedef struct Lower Lower;

typedef int (*InferFn)(Graph *g, Node *n, Diag *d);
typedef int (*LowerFn)(Lower *L, Node *n);

typedef struct OpInfo {
    const char *name;    /* ONNX op_type */
    const char *domain;  /* "" for ai.onnx */
    int min_in, max_in;  /* max -1: any number */
    int min_out, max_out;
    unsigned flags;      /* OPF_* */
    InferFn infer;
    LowerFn lower;       /* NULL: never lowered (folded or a view) */
} OpInfo;

extern const OpInfo optab[OP_COUNT];

/* ---------------------------------------------------------------- table.c */
/* Op of (domain, op_type); -1 if kiln does not know it. */
int op_lookup(const char *domain, const char *name);

/* Every infer_* and lower_* of the table, declared from its rows (a row
 * names the same function again where ops share it; lower_none is never
 * defined: table.c makes it a NULL entry). */
#define OP(kind, name, dom, in, IN, out, OUT, flags, infer, lower) \
    int infer(Graph *g, Node *n, Diag *d);                          \
    int lower(Lower *L, Node *n);
KILN_OPS(OP)
#undef OP
/* strings.c: Equal of two string tensors (lower_ew hands it over) */
int lower_str_equal(Lower *L, Node *n);
/* strings.c: LabelEncoder with string keys, integer or float values */
int lower_label_strings(Lower *L, Node *n);
int infer_label_strings(Graph *g, Node *n, Diag *d);
/* The program's string pool (runtime/kiln_str.h), made on first use with
 * room for the graph's str_bytes (--string-bytes). */
int lw_str_pool(Lower *L);
/* The run status (Program.status), made on first use: a routine sets it
 * when its input data is malformed. */
int lw_status(Lower *L);

/* -------------------------------------------------- infer helpers (opcheck.c) */
/* Input i of n, or NULL when absent (i >= nin or an empty name). */
Value *op_in(Graph *g, const Node *n, int i);
/* Set output i's type; ignored when that output is absent. */
void op_set_out(Graph *g, Node *n, int i, DType t, const Shape *s);
/* Mark output i (typed by op_set_out with its upper bound) as having a
 * data-dependent extent along `axis`: its lowering stores the actual length
 * through lw_len. */
void op_set_dyn(Graph *g, Node *n, int i, int axis);
/* Make output i a constant holding a copy of `data` (Shape, Constant, ...):
 * inference then retires the node. */
void op_set_const_out(Graph *g, Node *n, int i, DType t, const Shape *s, const void *data);
/* A zeroed struct of `size` bytes in g's arena that becomes n's parsed
 * attributes (Node.attrs): infer_<op> fills it once, lower_<op> reads it. */
void *op_attrs(Graph *g, Node *n, size_t size);
/* The parsed attributes of an op that keeps only one axis, normalized
 * into [0, rank) (Concat, Gather, OneHot, ...). */
typedef struct AxisAttrs {
    int axis;
} AxisAttrs;
/* Integer attribute `name`, or `def` when absent (1 if present with another kind). */
int attr_int(Graph *g, Node *n, const char *name, int64_t def, int64_t *out, Diag *d);
int attr_float(Graph *g, Node *n, const char *name, double def, double *out, Diag *d);
/* String attribute; *out = def when absent. */
int attr_str(Graph *g, Node *n, const char *name, const char *def, const char **out, Diag *d);
/* Integer list attribute: *out_n = -1 when absent. At most `max` entries. */
int attr_ints(Graph *g, Node *n, const char *name, int64_t *out, int max, int *out_n, Diag *d);
int attr_floats(Graph *g, Node *n, const char *name, double *out, int max, int *out_n, Diag *d);
/* Values of input i as integers: it must be a constant (or a graph input
 * whose value kiln check knows, which is then specialized). *out_n = -1 when
 * the input is absent. */
int op_const_ints(Graph *g, Node *n, int i, int64_t *out, int max, int *out_n, Diag *d);
/* As op_const_ints, one float scalar or list (Resize scales). */
int op_const_floats(Graph *g, Node *n, int i, double *out, int max, int *out_n, Diag *d);
/* Constant data of input i (or the known value of a graph input, which is
 * then specialized), NULL if not known at compile time. */
const void *op_const_data(Graph *g, const Node *n, int i);
/* Normalize axis (negative counts from the end) into [0, rank); error if out
 * of range. */
int op_axis(Graph *g, Node *n, int64_t axis, int rank, int *out, Diag *d);
/* Normalize a list of *naxes distinct axes into out; *naxes < 0 (the
 * attribute is absent) means every axis, and *naxes becomes rank. */
int op_axes(Graph *g, Node *n, const int64_t *axes, int *naxes, int rank, int *out, Diag *d);
/* The float types ops compute with (f32, f64, f16, bf16), DT_UNDEF-terminated. */
extern const DType op_float_types[];
/* The type a value of type t computes in: f32 for f16/bf16, else t. */
DType op_calc_type(DType t);
/* Fail unless input i has one of the dtypes in `ok` (DT_UNDEF-terminated). */
int op_check_dtype(Graph *g, Node *n, int i, const DType *ok, Diag *d);
/* Fail unless dtypes of inputs i and j are equal. */
int op_same_dtype(Graph *g, Node *n, int i, int j, Diag *d);

/* The shared infer rules of the elementwise families (elementwise.c). */
int infer_unary(Graph *g, Node *n, Diag *d);

/* ---------------------------------------------------- lowering (lower.c) */
KB *lw_kb(Lower *L);                 /* the cursor of the current kernel */
Arena *lw_arena(Lower *L);
Graph *lw_graph(Lower *L);
int lw_buf(Lower *L, ValueId v);     /* buffer holding value v */
/* Load value v at coords[rank of v]. */
Expr *lw_load(Lower *L, ValueId v, Expr *const *coords);
/* Load value v broadcast (numpy rules) to a shape of rank `rank`, at
 * coords[rank]: dims of v that are 1 read index 0, missing leading dims are
 * dropped. */
Expr *lw_load_bcast(Lower *L, ValueId v, int rank, Expr *const *coords);
/* Store `value` as element coords[] of output `out` of n; with an epilogue,
 * applies the fused elementwise chain first and stores its result. */
void lw_store(Lower *L, Node *n, int out, Expr *const *coords, Expr *value);
/* The code (an i32 in [0, 2^bits)) of one element of a packed output at
 * coords: what lw_store_packed stores (pk_encode of the element's value). */
typedef Expr *(*LwCode)(Lower *L, Node *n, Expr *const *coords, void *arg);
/* Store every element of output `out` of n, of a packed type (kiln.h):
 * loops over its bytes, each iteration computing code(L, n, coords, arg)
 * for each element the byte holds and writing the whole byte, so kernels
 * writing packed outputs never race on a byte. lw_load of a packed value
 * yields its decoded value (f32 for the float types, i32 for the integers). */
void lw_store_packed(Lower *L, Node *n, int out, LwCode code, void *arg);
/* A constant buffer holding a copy of data (numel of shape s, type t): for
 * tables a lowering computes at compile time (e.g. interpolation weights). */
int lw_const(Lower *L, const char *name, DType t, const Shape *s, const void *data);
/* The i64[1] slot holding the run-time length of dynamic value v (along
 * its dyn_axis): the producing op stores it there once. */
int lw_len(Lower *L, ValueId v);
/* A scratch buffer live only during the current kernel. */
int lw_temp(Lower *L, const char *name, DType t, const Shape *s);
/* Scratch private to one iteration of the data-parallel loop around its
 * uses (BUF_LOCAL): each iteration writes it before reading it, so that
 * loop may run on several threads, each with its own copy (on its stack);
 * for scratch of a few tens of KiB that a row of work reuses. */
int lw_local(Lower *L, const char *name, DType t, const Shape *s);
/* A scratch buffer of logical shape s stored in the order value `like`
 * is (graph_layout), of its dtype; read and written with lw_load_temp and
 * lw_store_temp in logical coordinates. */
int lw_temp_like(Lower *L, const char *name, const Shape *s, ValueId like);
/* Load scratch buffer buf (lw_temp, lw_temp_like) at coords[rank of its shape]. */
Expr *lw_load_temp(Lower *L, int buf, Expr *const *coords);
/* Store to scratch buffer buf at logical coords. */
void lw_store_temp(Lower *L, int buf, Expr *const *coords, Expr *value);
/* Open one loop per dim of s; coords receive the variables. `names` gives
 * one letter per dim ("nchw") when it has at least rank letters; otherwise
 * it is a prefix ("o" -> o0, o1, ...); NULL means i0, i1, ... Close them
 * with lw_end_loops. The loops are IT_DATA: each iteration writes its own
 * elements (the loops over an output's coordinates). */
void lw_loops(Lower *L, const Shape *s, const char *names, Expr **coords);
/* The same with another iteration kind: IT_SERIAL for loops whose
 * iterations may write the same element (scatters), IT_REDUCE for loops
 * that only fold into accumulators. */
void lw_loops_k(Lower *L, const Shape *s, const char *names, IterKind iter, Expr **coords);
void lw_end_loops(Lower *L, const Shape *s);
/* Close the `count` innermost open loops. */
void lw_end_n(Lower *L, int count);
/* Input i of n (NULL when absent) and output i of n. */
const Value *lw_in(Lower *L, Node *n, int i);
const Value *lw_out(Lower *L, Node *n, int i);
/* A runtime index value `raw` (any integer or float type) as a DT_INDEX
 * local named `name` on an axis of `dim` elements, negative values counting
 * from the end. It is still outside [0, dim) when raw was outside
 * [-dim, dim): callers clamp it (lw_clamp) or test it. */
Expr *lw_index(Lower *L, const char *name, Expr *raw, int64_t dim);
/* Index k clamped into [0, dim) (dim >= 1), and the test 0 <= k < dim. */
Expr *idx_clamp(Arena *a, Expr *k, int64_t dim);
Expr *idx_in_range(Arena *a, Expr *k, int64_t dim);
/* c && x, or x alone when there is no condition c yet (c NULL). */
Expr *and_cond(Arena *a, Expr *c, Expr *x);
/* A Diag for re-running an op's parameter checks during lowering (they
 * passed in inference; a failure is reported through lw_error). */
Diag lw_diag(Lower *L);
/* Report a lowering failure on node n. Returns 1. */
int lw_error(Lower *L, Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------ subgraphs (lower.c, for control.c) */
/* Type subgraph body of node n, its formal inputs as t[i], s[i] (nformal
 * of them) and its captured values as n's inputs they are, and infer it
 * (control.c). A value inference inside needed at compile time that comes
 * from a captured one is asked of the enclosing graph (need_const).
 * `what` names the body in messages ("then_branch"). */
int op_body_infer(Graph *g, Node *n, Graph *body, const char *what, const DType *t, const Shape *s, int nformal,
                  Diag *d);
/* Where lowering reads a graph's values: a subgraph's scope, or the one a
 * lw_swap left. Expressions, loops and buffers made in one scope stay
 * valid in the other: a value is loaded in one and stored in the other. */
typedef struct LwScope {
    Graph *g;
    int *vbuf;
    int *tlike;
    int ntlike;
    int depth;
} LwScope;
/* The scope of subgraph `body` of node n (of L's current graph): its
 * captured values read n's inputs' buffers; nothing else has one yet. */
void lw_scope(Lower *L, Node *n, Graph *body, LwScope *s);
/* Make s L's current scope, and leave the one it replaces in s. */
void lw_swap(Lower *L, LwScope *s);
/* Value v of the current graph lives in buffer buf (a subgraph's formal
 * input in a scratch buffer, row-major). */
void lw_bind(Lower *L, ValueId v, int buf);
/* Lower every live node of the current graph, in order, at the cursor,
 * each alone (no epilogues): the body of an If branch or a loop. */
int lw_nodes(Lower *L);

/* ------------------- matmul.c: numpy MatMul shapes, shared with quant.c */
/* A MatMul's shapes with 1-D operands promoted (numpy): a [.., M, K],
 * b [.., K, N], full output [batch.., M, N]. The parsed attributes
 * (Node.attrs) of MatMul, MatMulInteger and QLinearMatMul. */
typedef struct MatMulShape {
    int ia, ib;     /* input indices of A and B */
    Shape a, b;     /* promoted operand shapes (rank >= 2) */
    Shape full;     /* output before dropping promoted dims */
    Shape fa, fb;   /* A and B with the output's batch dims: [batch.., M, K], [batch.., K, N] */
    int drop_m;     /* A was 1-D */
    int drop_n;     /* B was 1-D */
    Shape out;      /* the output's shape */
} MatMulShape;
/* Shapes of inputs ia (A) and ib (B) of n as a MatMul; errors name n. */
int matmul_shape(Graph *g, Node *n, int ia, int ib, MatMulShape *s, Diag *d);

/* ------------------------------ conv.c: window geometry shared with pool.c */
/* The sliding window of a convolution or pooling op over x [N, C, in...]:
 * window_read() takes strides, dilations, pads, auto_pad and ceil_mode from
 * the node's attributes and computes the output extents. */
typedef struct Window {
    int rank;                       /* spatial dims */
    int64_t in[KILN_MAX_RANK];      /* input extents */
    int64_t k[KILN_MAX_RANK];       /* kernel taps */
    int64_t s[KILN_MAX_RANK];       /* strides */
    int64_t d[KILN_MAX_RANK];       /* dilations */
    int64_t p0[KILN_MAX_RANK];      /* padding before */
    int64_t p1[KILN_MAX_RANK];      /* padding after */
    int64_t out[KILN_MAX_RANK];     /* output extents */
} Window;

int window_read(Graph *g, Node *n, const Shape *x, const int64_t *kernel, int ceil_mode, Window *w, Diag *d);
/* The input coordinate of the last tap of the last output along spatial
 * dim i (window_read checked that it cannot overflow). */
int64_t window_last(const Window *w, int i);
/* How far the taps of w reach outside the input along spatial dim i, on
 * the wider side: 0 when they stay inside. */
int64_t window_border(const Window *w, int i);
/* Does every tap of window w over value x fall inside x or its halo
 * (Value.halo, a border of zeros)? */
int window_in_halo(const Window *w, const Value *x);
/* winograd.c: whether a Conv (N, C -> M channels, `group`, geometry w) takes
 * the Winograd F(2x2, 3x3) lowering, and that lowering, reading x in place
 * (xp < 0: its halo covers the taps) or its padded copy xp (w then the
 * geometry over xp). w's output sizes are even (whole 2x2 tiles: an odd
 * size rounded up, its taps reaching one more row or column of padding);
 * out[2] are the Conv's own, which the stores keep within. */
int conv_winograd_fits(Lower *L, Node *n, int64_t N, int64_t C, int64_t M, int64_t group, const Window *w);
int lower_conv_winograd(Lower *L, Node *n, int64_t C, int64_t M, const Window *w, const int64_t *out, int xp,
                        int has_bias);
/* An inferred Conv node's geometry and group (its parsed attributes);
 * 1 when n is no Conv or was not inferred. */
int conv_window(const Node *n, Window *w, int64_t *group);
int window_ints(Graph *g, Node *n, const char *name, int count, int64_t def, int64_t min, int64_t *out, Diag *d);
int window_auto_pad(Graph *g, Node *n, int *out, Diag *d);
void window_names(int rank, const char *prefix, char names[][8]);
Expr *window_coord(Arena *a, const Window *w, int i, Expr *o, Expr *k);
Expr *window_inside(Arena *a, const Window *w, Expr *const *ix);
/* Does some tap of window w over x fall in the padding? If so, *ps is the
 * shape of a padded copy of x [N, C, span...] that holds every position a
 * tap reaches (x at offset p0). */
int window_pads(const Window *w, Shape *ps, const Shape *x);
/* Scratch buffer of shape ps holding x at spatial offset w->p0 and `fill`
 * elsewhere (the padded input of a window op); returns the buffer. */
int pad_copy(Lower *L, ValueId x, const Shape *ps, const Window *w, Expr *fill, const char *name);

/* Scalar expression of elementwise op n at one element, given its inputs
 * already loaded (args[nin]); NULL with an error if the dtype is unsupported. */
Expr *ew_scalar(Lower *L, Node *n, Expr **args);

/* ------------------- norm.c: BatchNormalization folded into its producer */
/* An inferred BatchNormalization node bn in inference mode, its four
 * parameters constant floats of `channels` elements each and only output 0
 * read, as y = x * s[c] + shift[c]: fills s and shift and returns 1;
 * returns 0 when bn is not such a node (graph/canon.c folds it then). */
int batchnorm_affine(const Graph *g, const Node *bn, int64_t channels, double *s, double *shift);

/* -------------------------- quant.c: QLinearAdd and the quantized pools */
/* QLinearAdd's value at one element from its loaded inputs (args[8]). */
Expr *qlinear_add_scalar(Lower *L, Node *n, Expr **args);
/* QLinearAveragePool / QLinearGlobalAveragePool: input types, parameters
 * and channels_last checked (infer). */
int qpool_check(Graph *g, Node *n, Diag *d);
/* x - X_zero_point in int32, one tap of the sum. */
Expr *qpool_centered(Lower *L, Node *n, Expr *x);
/* The quantized output from the int32 sum of centered taps and their count. */
Expr *qpool_result(Lower *L, Node *n, Expr *sum, Expr *count);

#endif
