/*
 * graph.h: the Graph IR, and the table of contents of compiler/graph/.
 *
 * A Graph is what the ONNX model says, with every shape static: values (each
 * with a dtype and a shape), nodes (each an op from compiler/ops/ops.h with
 * typed attributes), and constants. Values and nodes are indices into arrays
 * owned by the graph (printed %v12 and node names), so arrays may grow while
 * passes hold ids. The graph passes below run in the order compile_model()
 * calls them; each returns 0 on success or 1 with a message in the Diag.
 */
#ifndef KILN_GRAPH_H
#define KILN_GRAPH_H

#include "../base/kiln.h"
#include "../ops/ops.h"

typedef int32_t ValueId; /* index into Graph.values; VNONE for an absent optional */
typedef int32_t NodeId;  /* index into Graph.nodes */
enum { VNONE = -1 };

/* Attribute kinds, numbered as ONNX's AttributeProto.AttributeType. */
typedef enum AttrKind {
    ATTR_UNDEF = 0,
    ATTR_FLOAT = 1,
    ATTR_INT = 2,
    ATTR_STRING = 3,
    ATTR_TENSOR = 4,
    ATTR_GRAPH = 5,
    ATTR_FLOATS = 6,
    ATTR_INTS = 7,
    ATTR_STRINGS = 8,
    ATTR_TENSORS = 9,
    ATTR_GRAPHS = 10,
    ATTR_TYPE_PROTO = 13,
} AttrKind;

struct Graph;

/* One attribute of a node, as the model spells it. Ops read them through the
 * typed accessors in ops/op.h, which check kinds and report errors. */
typedef struct Attr {
    const char *name;
    AttrKind kind;
    double f;              /* ATTR_FLOAT */
    int64_t i;             /* ATTR_INT */
    const char *s;         /* ATTR_STRING (NUL-terminated; strings with NULs are cut) */
    int n;                 /* element count of the list kinds */
    double *floats;        /* ATTR_FLOATS [n] */
    int64_t *ints;         /* ATTR_INTS [n] */
    const char **strings;  /* ATTR_STRINGS [n] */
    Tensor *t;             /* ATTR_TENSOR */
    struct Graph *g;       /* ATTR_GRAPH (imported, not yet compiled) */
    /* ATTR_TYPE_PROTO (Optional's type): a tensor, a sequence of them or
     * an optional of either, of element type tdtype */
    int tseq, topt;
    DType tdtype;
} Attr;

typedef enum ValueKind {
    VAL_NODE,   /* produced by a node */
    VAL_INPUT,  /* graph input, given at run time */
    VAL_CONST,  /* initializer, Constant node, or folded: data is known */
    VAL_SEQ,    /* a sequence (elems), or an absent optional: no data of its own */
} ValueKind;


/* A tensor value. Its shape is filled by import (inputs, initializers) or by
 * inference (everything else). */
typedef struct Value {
    const char *name;     /* ONNX name; unique in the graph */
    ValueKind kind;
    DType dtype;          /* DT_UNDEF until inferred */
    Shape shape;          /* static; valid once `typed` */
    int typed;            /* dtype and shape are known */
    NodeId producer;      /* VAL_NODE: the node writing it; else -1 */
    void *data;           /* VAL_CONST: numel * dtype_size bytes */
    int output;           /* index in Graph.outputs, or -1 */
    int nuses;            /* node inputs reading it (graph_count_uses) */
    /* Import only: the symbolic dims of a graph input, [rank] or NULL. */
    const char **sym;
    /* VAL_INPUT: value known at compile time (kiln check specializes
     * shape-giving inputs on it); NULL when unknown. */
    const void *known;
    int specialized;      /* VAL_INPUT whose `known` data the code relies on */
    /* A graph output's shape as the model declares it (-1: an open dim),
     * when has_declared; read only where the data decides an extent
     * (StringSplit, StringNormalizer with stopwords). */
    int has_declared;
    Shape declared;
    /* VAL_INPUT: the first guard_bytes bytes of `known` the code relies on
     * (an image header that gave ImageDecoder's shape): checked on entry
     * as a specialized input is; 0 for none. */
    int64_t guard_bytes;
    /* Storage order (graph_layout): when `permuted`, dimension i of the
     * value's buffer is its dimension perm[i] (NCHW stored as NHWC: perm
     * 0 2 3 1). Ops index values by their logical coordinates; lowering
     * (lw_load, lw_store) maps them, so no op knows a layout. */
    int permuted;
    unsigned char perm[KILN_MAX_RANK];
    /* A border of zeros around the value in its buffer (graph_layout):
     * halo[d] elements before and after logical dimension d, written by
     * the producer's kernel, so that a padded Conv reading the value reads
     * it in place instead of through a zero-bordered copy. */
    int64_t halo[KILN_MAX_RANK];
    int haloed;
    /* A data-dependent extent (NonZero, Compress, Unique,
     * NonMaxSuppression): when `dynamic`, shape.dim[dyn_axis] is an upper
     * bound and the producing kernel records the actual length at run
     * time (Program.out_len). Such a value may only be a graph output:
     * inference rejects a node that reads one. */
    int dynamic;
    int dyn_axis;
    /* A value of a subgraph (If, Loop, Scan body) that the body reads from
     * an enclosing graph: the index of the enclosing node's input that
     * holds it (that node takes every value its bodies capture as an extra
     * input, Node.ncap), or -1. */
    int capture;
    /* Sequences and optionals (graph/seq.c, ops/sequence.c). A sequence
     * (`seq`, kind VAL_SEQ once its length is known) holds no data: it is
     * the ordered tensor values elems[nelems], each of dtype. An optional
     * (`opt`) is its content itself (a tensor, or a sequence) when present;
     * an `absent` one is VAL_SEQ with no elements. Presence and length are
     * compile-time facts; no live node reads a VAL_SEQ after inference. */
    int seq, opt, absent;
    int nelems;
    ValueId *elems;
    /* A graph input or output slot (graph_seq_inputs/outputs): the index
     * of the model's input or output it belongs to, and its IO_* form. */
    int io_group, io_form;
    /* the same for a graph output slot (a value may be an input's slot and
     * an output's) */
    int out_group, out_form;
} Value;

typedef struct Node {
    OpKind op;            /* row of the op table; OP_COUNT: unsupported (lenient import) */
    const char *op_type;  /* ONNX op_type as the model spells it: "Conv" */
    const char *name;     /* ONNX node name, or "<op_type>_<index>" if it had none */
    int opset;            /* version of the op's domain imported by the model */
    int nin, nout;
    ValueId *in;          /* [nin]; VNONE for an absent optional input */
    ValueId *out;         /* [nout]; VNONE for an absent optional output */
    int nattr;
    Attr *attr;           /* [nattr] */
    int dead;             /* removed by a pass; skipped by everyone after */
    int group;            /* fusion group (graph_fuse); -1 before */
    /* The last ncap inputs are values of this graph that the node's
     * subgraphs (graph attributes) read: counted as uses by every pass,
     * read by the bodies through Value.capture. in[0 .. nin-ncap) are the
     * inputs the model lists. */
    int ncap;
    /* The op's attributes as its infer_<op> parsed and checked them (and
     * the shapes they decide), for lower_<op> to read: a struct of the op's
     * file (ConvShape of conv.c, ...) in the graph's arena, set by each
     * inference of the node; NULL for ops that keep none. */
    void *attrs;
} Node;

typedef struct Graph {
    Arena *arena;         /* owns everything below */
    const char *file;     /* model path, for messages */
    const char *name;     /* graph name from the model */
    Value *values;
    int nvalues, cap_values;
    Node *nodes;          /* in topological order (import sorts them) */
    int nnodes, cap_nodes;
    ValueId *inputs;      /* runtime inputs, in model order (initializers excluded) */
    int ninputs, cap_inputs;
    ValueId *outputs;     /* in model order */
    int noutputs, cap_outputs;
    /* graph_alias (--alias): out_alias[i] is the input whose storage output
     * i updates in place, or -1; NULL when no output is aliased */
    int *out_alias;
    int opset;            /* default-domain opset version */
    int ngroups;          /* fusion groups (graph_fuse) */
    /* Set when inference needed a value at compile time that is not
     * constant: kiln check then specializes the inputs it depends on. */
    ValueId need_const;
    /* A subgraph (a graph attribute): the values it captures from the
     * enclosing graph (each with Value.capture set), and, during import
     * only, the enclosing graph's value each one reads. */
    ValueId *caps;
    int ncaps, cap_caps;
    ValueId *cap_from;
    int cap_cap_from;
    int is_body;          /* a subgraph: inputs are the body's formal parameters */
    /* Before graph_seq_inputs/outputs: the model's own inputs and outputs,
     * which may be sequences or optionals; after, `inputs` and `outputs`
     * are model_run's tensor slots and these keep the model's list. */
    ValueId *model_inputs, *model_outputs;
    int nmodel_inputs, nmodel_outputs;
    /* declared form of each graph output (IO_SEQ, IO_OPT), from the model */
    int *out_decl;
    /* bytes of the string pool (--string-bytes; 0: the default) */
    int64_t str_bytes;
    /* 3x3 Convs may take the Winograd lowering (winograd.c): set by the
     * compile for a CPU target with wide vectors and FMA, to the bytes of
     * that machine's L2 cache (which decides how the lowering walks the
     * tiles); 0: never */
    int64_t winograd;
} Graph;

/* ---------------------------------------------------------------- graph.c */
Graph *graph_new(Arena *a, const char *file);
ValueId graph_add_value(Graph *g, const char *name, ValueKind kind);
/* A constant value holding a copy of `data` (may be NULL for zeros). */
ValueId graph_add_const(Graph *g, const char *name, DType t, const Shape *s, const void *data);
NodeId graph_add_node(Graph *g, OpKind op, const char *name, int nin, int nout);
ValueId graph_find_value(const Graph *g, const char *name); /* VNONE if absent */
void graph_count_uses(Graph *g);
/* Make every use of `from` read `to` instead (outputs keep their names). */
void graph_replace_uses(Graph *g, ValueId from, ValueId to);
/* "model.onnx: node 'conv1' (Conv): <fmt>". Returns 1. */
int diag_node(Diag *d, const Graph *g, const Node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Print the graph as stable text (--dump graph). */
void graph_dump(const Graph *g, void *file);
const Attr *node_attr(const Node *n, const char *name); /* NULL if absent */

/* ---------------------------------------------------------------- bind.c */
/* Symbolic dimension bindings: from --shape NAME=DIMS and from test inputs. */
typedef struct ShapeBind {
    const char *name;     /* input name */
    Shape shape;
} ShapeBind;
/* Give every graph input a static shape: --shape first, then the shapes of
 * `known` inputs (check), then the model's own dims. Fails naming any input
 * left with a symbolic dimension. */
int graph_bind(Graph *g, const ShapeBind *binds, int nbinds,
               const Tensor *known, int nknown, Diag *d);

/* Replace every use of graph input `input` by a constant holding its known
 * value (kiln check's test data); the input stays an input of the program,
 * which checks at run time that it was given that value. */
int graph_specialize(Graph *g, ValueId input, Diag *d);
/* Graph inputs that value v depends on; *out_n of them into out[max]. */
void graph_inputs_of(const Graph *g, ValueId v, ValueId *out, int max, int *out_n);

/* ------------------------------------------------------------------ qdq.c */
/* QDQ format to integer ops, before inference: DequantizeLinear -> Conv /
 * MatMul / Gemm / Add / pooling [-> Relu | Clip] -> QuantizeLinear becomes
 * QLinearConv, QLinearMatMul, QLinearAdd, ... on the 8-bit values, int8
 * weights kept (see qdq.c for the patterns). */
int graph_qdq(Graph *g, Diag *d);
/* ------------------------------------------------------------------ seq.c */
/* Flatten the model's inputs into model_run's tensor slots: a sequence
 * becomes its elements (one input each, "x[0]", "x[1]", ...), an optional
 * its content, an absent optional or empty sequence one slot that must be
 * NULL; lengths and presence come from the known test data (check); an
 * optional without data is compiled present, a sequence without data is
 * an error. `known` are the slots' data, as check flattened them. */
int graph_seq_inputs(Graph *g, const Tensor *known, int nknown, Diag *d);
/* After inference: each sequence or optional graph output becomes its
 * element slots, each a fresh value an Identity copies the element into. */
int graph_seq_outputs(Graph *g, Diag *d);
/* Make v the sequence of elems[n] (copied), of dtype t: kind VAL_SEQ. */
void graph_set_seq(Graph *g, ValueId v, DType t, const ValueId *elems, int n);
/* Insert a node at position `at` (nodes from there move up by one, their
 * outputs' producers follow); returns its id. */
NodeId graph_insert_node(Graph *g, int at, OpKind op, const char *name, int nin, int nout);
/* A fresh value whose name is `base`, or base with a suffix if taken. */
ValueId graph_add_fresh(Graph *g, const char *base, ValueKind kind);
/* That name: `base`, or base with a suffix if taken. */
const char *graph_fresh_name(Graph *g, const char *base);

/* --------------------------------------------------------------- expand.c */
/* Subgraphs expanded in place during inference (expand.c): node `id` is
 * marked dead and followed by copies of `body` and the nodes that make its
 * outputs; inference goes on over them. */
enum { UNROLL_MAX = 64 }; /* iterations a Loop is expanded into, at most */
/* A deep copy of an imported subgraph that nothing inferred yet. */
Graph *graph_clone(Arena *a, const Graph *body);
/* If whose condition is known: the branch `body`. */
int graph_inline_branch(Graph *g, NodeId id, const struct Graph *body, Diag *d);
/* Loop run m times (the caller checked that its condition cannot end it
 * early): one copy of body per iteration. */
int graph_unroll_loop(Graph *g, NodeId id, const struct Graph *body, int64_t m, Diag *d);
/* SequenceMap: one copy of body per element of its input sequences. */
int graph_expand_map(Graph *g, NodeId id, const struct Graph *body, Diag *d);

/* ---------------------------------------------------------------- infer.c */
/* Shape and dtype inference over the nodes in order, folding every node
 * whose inputs are all constant (fold.c) so that shape-computing subgraphs
 * become constants before the nodes that read them are inferred. */
int graph_infer(Graph *g, Diag *d);

/* ----------------------------------------------------------------- fold.c */
/* Evaluate node n (all inputs constant) at compile time, by lowering it to
 * Kernel IR and interpreting that; its outputs become VAL_CONST. Returns 0
 * and sets *out_folded, or 1 with a message. */
int graph_fold_node(Graph *g, Node *n, int *out_folded, Diag *d);

/* ---------------------------------------------------------------- canon.c */
/* Canonicalize: drop Identity/Dropout, fold BatchNormalization into the Conv
 * or Gemm before it (when its weights are constant). */
int graph_canon(Graph *g, Diag *d);

/* ------------------------------------------------------------------ dce.c */
/* Remove nodes whose outputs nobody reads and constants nobody uses. */
int graph_dce(Graph *g, Diag *d);

/* ----------------------------------------------------------------- fuse.c */
/* Assign fusion groups: each node starts a group; an elementwise node whose
 * chain input is the single-use output of the previous node of a group, of
 * the same shape, joins that group (its work becomes the producer's epilogue). */
int graph_fuse(Graph *g, Diag *d);

/* --------------------------------------------------------------- layout.c */
/* Choose each value's storage order and halo: the activations of
 * convolution chains channels-last with a zero border where a padded Conv
 * reads them, depthwise weights tap-major (see layout.c). */
int graph_layout(Graph *g, Diag *d);

/* The shape of v's buffer: its shape in storage order, halo included. */
Shape value_storage_shape(const Value *v);

/* ---------------------------------------------------------------- alias.c */
/* --alias OUTPUT=INPUT: the output is computed in the input's storage. */
typedef struct AliasBind {
    const char *output, *input;
} AliasBind;

/* Check each pair (names exist; same type and shape; the output made by an
 * op that may update its first input in place, from that input, which
 * nothing else reads) and set g->out_alias; 1 with a message otherwise. */
int graph_alias(Graph *g, const AliasBind *al, int n, Diag *d);

/* --------------------------------------------------------------- verify.c */
/* Check the graph's invariants (ids in range, topological order, types set
 * after inference). Returns 0 or 1 with a message naming the broken rule. */
int graph_verify(const Graph *g, int typed, Diag *d);

#endif
