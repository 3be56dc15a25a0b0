/*
 * elementwise.c: every OPF_EW op, defined by its scalar expression.
 *
 * lower_ew opens one loop per output dimension, loads each input with numpy
 * broadcasting and stores ew_scalar() of them. The same ew_scalar() is what
 * lw_store applies when the op is fused into a producer's epilogue, so an
 * elementwise op has exactly one definition whether it runs alone or fused.
 * Activations that ONNX defines as compositions (HardSigmoid, Softplus,
 * Mish, Gelu, ...) are written as compositions of core expressions here.
 */
#include "op.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- shapes */

int infer_unary(Graph *g, Node *n, Diag *d)
{
    (void)d;
    const Value *x = op_in(g, n, 0);
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

/* Broadcast the shapes of every present input. */
static int broadcast_all(Graph *g, Node *n, Shape *out, Diag *d)
{
    int first = 1;
    for (int i = 0; i < n->nin; i++) {
        const Value *v = op_in(g, n, i);
        if (!v)
            continue;
        if (first) {
            *out = v->shape;
            first = 0;
        } else if (shape_broadcast(out, &v->shape, out)) {
            char a[160], b[160];
            return diag_node(d, g, n, "input shapes %s and %s do not broadcast",
                             shape_str(out, a, sizeof a), shape_str(&v->shape, b, sizeof b));
        }
    }
    return 0;
}

/* Inputs that must share input 0's dtype: all but Pow's exponent. */
static int same_types(Graph *g, Node *n, Diag *d)
{
    int last = n->op == OP_POW ? 0 : n->op == OP_WHERE ? 2 : n->nin - 1;
    int from = n->op == OP_WHERE ? 1 : 0;
    for (int i = from + 1; i <= last; i++)
        if (op_same_dtype(g, n, from, i, d))
            return 1;
    return 0;
}

/* The axis of A where B's dimensions start under the broadcasting of
 * opset 1-6, or -1 where numpy's (trailing) alignment is the same: Add,
 * Sub, Mul, Div, Pow, And, Or, Xor, Equal, Greater and Less broadcast B only
 * with broadcast=1, from `axis` (default: B's dimensions are A's last ones);
 * PRelu's slope of C > 1 values holds one per channel, dimension 1. */
static int legacy_axis(Graph *g, Node *n, int *out_axis, Diag *d)
{
    *out_axis = -1;
    if (n->opset >= 7 || n->nin != 2 || n->in[1] == VNONE)
        return 0;
    int ra = op_in(g, n, 0)->shape.rank, rb = op_in(g, n, 1)->shape.rank;
    int64_t bcast, axis = ra - rb;
    if (n->op == OP_PRELU) {
        if (rb != 1 || ra < 2 || op_in(g, n, 1)->shape.dim[0] == 1)
            return 0;
        axis = 1;
    } else {
        if (attr_int(g, n, "broadcast", 0, &bcast, d) || attr_int(g, n, "axis", ra - rb, &axis, d))
            return 1;
        if (!bcast)
            return 0;
        if (axis < 0)
            axis += ra;
    }
    if (axis < 0 || axis + rb > ra)
        return diag_node(d, g, n, "broadcast axis %lld does not fit input shapes of rank %d and %d (opset %d)",
                         (long long)axis, ra, rb, n->opset);
    *out_axis = axis + rb < ra ? (int)axis : -1;
    return 0;
}

/* Gives B of a legacy broadcast (legacy_axis) its trailing 1s: an Unsqueeze
 * inserted before node `at` and typed here; the walk (infer.c) visits the
 * node again after it, when numpy's alignment is the legacy one. */
static int legacy_unsqueeze(Graph *g, int at, int axis, Diag *d)
{
    int ra = op_in(g, &g->nodes[at], 0)->shape.rank, rb = op_in(g, &g->nodes[at], 1)->shape.rank;
    int64_t axes[KILN_MAX_RANK];
    Shape s = {1, {ra - axis - rb}};
    for (int i = 0; i < s.dim[0]; i++)
        axes[i] = rb + i;
    const char *name = g->nodes[at].name;
    ValueId axes_c = graph_add_fresh(g, arena_printf(g->arena, "%s_legacy_axes", name), VAL_CONST);
    Value *c = &g->values[axes_c];
    c->dtype = DT_I64;
    c->shape = s;
    c->typed = 1;
    c->data = arena_alloc(g->arena, sizeof(int64_t) * (size_t)s.dim[0]);
    memcpy(c->data, axes, sizeof(int64_t) * (size_t)s.dim[0]);
    ValueId b = g->nodes[at].in[1];
    NodeId q = graph_insert_node(g, at, OP_UNSQUEEZE, arena_printf(g->arena, "%s_legacy_bcast", name), 2, 1);
    ValueId u = graph_add_fresh(g, arena_printf(g->arena, "%s_aligned", g->values[b].name), VAL_NODE);
    Node *qn = &g->nodes[q];
    qn->opset = 13;
    qn->in[0] = b;
    qn->in[1] = axes_c;
    qn->out[0] = u;
    g->values[u].producer = q;
    g->nodes[at + 1].in[1] = u;
    return infer_unsqueeze(g, qn, d);
}

int infer_binary(Graph *g, Node *n, Diag *d)
{
    Shape s;
    int axis;
    if (legacy_axis(g, n, &axis, d))
        return 1;
    if (axis >= 0)
        return legacy_unsqueeze(g, (int)(n - g->nodes), axis, d);
    if (broadcast_all(g, n, &s, d) || same_types(g, n, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &s);
    return 0;
}

int infer_ew_bool(Graph *g, Node *n, Diag *d)
{
    Shape s;
    int axis;
    if (legacy_axis(g, n, &axis, d))
        return 1;
    if (axis >= 0)
        return legacy_unsqueeze(g, (int)(n - g->nodes), axis, d);
    if (broadcast_all(g, n, &s, d) || same_types(g, n, d))
        return 1;
    op_set_out(g, n, 0, DT_BOOL, &s);
    return 0;
}

int infer_where(Graph *g, Node *n, Diag *d)
{
    Shape s;
    if (op_in(g, n, 0)->dtype != DT_BOOL)
        return diag_node(d, g, n, "condition must be bool, not %s", dtype_name(op_in(g, n, 0)->dtype));
    if (broadcast_all(g, n, &s, d) || same_types(g, n, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 1)->dtype, &s);
    return 0;
}

int infer_clip(Graph *g, Node *n, Diag *d)
{
    for (int i = 1; i < n->nin; i++) {
        const Value *v = op_in(g, n, i);
        if (v && shape_numel(&v->shape) != 1)
            return diag_node(d, g, n, "input %d ('%s') must be a scalar", i, v->name);
        if (v && op_same_dtype(g, n, 0, i, d))
            return 1;
    }
    return infer_unary(g, n, d);
}

/* How a Cast converts to a packed float type: attributes saturate (1) and
 * round_mode ("up"; f8e8m0 only). */
static int cast_mode(Graph *g, Node *n, PkMode *out, Diag *d)
{
    int64_t sat;
    const char *rm;
    if (attr_int(g, n, "saturate", 1, &sat, d) || attr_str(g, n, "round_mode", "up", &rm, d))
        return 1;
    out->saturate = sat != 0;
    if (!strcmp(rm, "up"))
        out->round = PK_ROUND_UP;
    else if (!strcmp(rm, "down"))
        out->round = PK_ROUND_DOWN;
    else if (!strcmp(rm, "nearest"))
        out->round = PK_ROUND_NEAREST;
    else
        return diag_node(d, g, n, "attribute 'round_mode' is '%s', expected 'up', 'down' or 'nearest'", rm);
    return 0;
}

/* Cast, and CastLike, which is a Cast to the type of its second input: the
 * node is rewritten into that Cast here, so nothing downstream reads the
 * second input (it only supplies a type). Casts to and from the packed
 * types (float8, 4-bit, 2-bit) convert through kernel/packed.c. */
int infer_cast(Graph *g, Node *n, Diag *d)
{
    PkMode mode;
    if (cast_mode(g, n, &mode, d))
        return 1;
    const Value *x = op_in(g, n, 0);
    DType to;
    if (n->op == OP_CASTLIKE) {
        to = op_in(g, n, 1)->dtype;
        Attr *at = arena_alloc(g->arena, sizeof(Attr) * (size_t)(n->nattr + 1));
        if (n->nattr)
            memcpy(at, n->attr, sizeof(Attr) * (size_t)n->nattr);
        at[n->nattr++] = (Attr){.name = "to", .kind = ATTR_INT, .i = to};
        n->attr = at;
        n->op = OP_CAST;
        n->nin = 1;
    } else {
        int64_t t;
        if (attr_int(g, n, "to", 0, &t, d))
            return 1;
        if (!node_attr(n, "to"))
            return diag_node(d, g, n, "attribute 'to' is required");
        if (t < 0 || t > 64 || !dtype_known((int)t)) /* range first: (int)t would wrap */
            return diag_node(d, g, n, "cast to unknown element type %lld", (long long)t);
        to = (DType)t;
    }
    if (!dtype_is_computable(to) && !dtype_is_packed(to))
        return diag_node(d, g, n, "cast to %s is not supported yet", dtype_name(to));
    op_set_out(g, n, 0, to, &x->shape);
    return 0;
}

/* BitCast: the same bits read as another type of the same width. */
int infer_bitcast(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t t;
    if (!node_attr(n, "to"))
        return diag_node(d, g, n, "attribute 'to' is required");
    if (attr_int(g, n, "to", 0, &t, d))
        return 1;
    if (t < 0 || t > 64 || !dtype_known((int)t) || !dtype_is_computable((DType)t))
        return diag_node(d, g, n, "bitcast to element type %lld is not supported", (long long)t);
    if (!dtype_is_computable(x->dtype))
        return diag_node(d, g, n, "input has type %s, which kiln does not compute yet", dtype_name(x->dtype));
    if (dtype_size((DType)t) != dtype_size(x->dtype))
        return diag_node(d, g, n, "bitcast from %s (%d bytes) to %s (%d bytes): the widths must match",
                         dtype_name(x->dtype), dtype_size(x->dtype), dtype_name((DType)t), dtype_size((DType)t));
    op_set_out(g, n, 0, (DType)t, &x->shape);
    return 0;
}

/* ------------------------------------------------------------ scalars */

/* Shorthands over the lowering arena. */
#define K(v) ke_const(a, t, (v))
#define UN(op, x) ke_un(a, (op), (x))
#define BIN(op, x, y) ke_bin(a, (op), (x), (y))
#define SEL(c, x, y) ke_select(a, (c), (x), (y))

static double fattr(Lower *L, Node *n, const char *name, double def, int *err)
{
    double v;
    Diag tmp = lw_diag(L);
    if (attr_float(lw_graph(L), n, name, def, &v, &tmp)) {
        lw_error(L, n, "attribute '%s' must be a float", name);
        *err = 1;
    }
    return v;
}

static Expr *sigmoid(Arena *a, DType t, Expr *x)
{
    /* 1 / (1 + exp(-x)) */
    return BIN(B_DIV, K(1), BIN(B_ADD, K(1), UN(U_EXP, UN(U_NEG, x))));
}

static Expr *softplus(Arena *a, DType t, Expr *x)
{
    /* log(1 + exp(x)) computed as max(x, 0) + log(1 + exp(-|x|)): no overflow */
    return BIN(B_ADD, BIN(B_MAX, x, K(0)), UN(U_LOG, BIN(B_ADD, K(1), UN(U_EXP, UN(U_NEG, UN(U_ABS, x))))));
}

/* x / y or x % y (op) on integers, with the two cases C leaves undefined
 * given a value: y == 0 gives 0 (as numpy), and y == -1 gives -x (wrapping)
 * and 0, so that INT_MIN / -1 cannot trap. The division itself always
 * sees a safe divisor, however eagerly a select is evaluated. */
static Expr *int_divmod(Arena *a, DType t, BinOp op, Expr *x, Expr *y)
{
    int sgn = dtype_is_signed(t);
    Expr *zero = BIN(B_EQ, y, K(0)), *minus1 = sgn ? BIN(B_EQ, y, K(-1)) : NULL;
    Expr *odd = minus1 ? BIN(B_OR, zero, minus1) : zero;
    Expr *r = BIN(op, x, SEL(odd, K(1), y));
    if (minus1)
        r = SEL(minus1, op == B_DIV ? UN(U_NEG, x) : K(0), r);
    return SEL(zero, K(0), r);
}

/* Python-style remainder (sign of the divisor), from C's truncating one. */
static Expr *floor_mod(Arena *a, DType t, Expr *x, Expr *y)
{
    Expr *r = dtype_is_float(t) ? BIN(B_MOD, x, y) : int_divmod(a, t, B_MOD, x, y);
    if (!dtype_is_signed(t))
        return r;
    Expr *fix = BIN(B_AND, BIN(B_NE, r, K(0)), BIN(B_NE, BIN(B_LT, r, K(0)), BIN(B_LT, y, K(0))));
    return SEL(fix, BIN(B_ADD, r, y), r);
}

/* Ops on float values only (ONNX types them so). */
static int float_only(OpKind op)
{
    switch (op) {
    case OP_SQRT: case OP_RECIPROCAL: case OP_EXP: case OP_LOG: case OP_SIN: case OP_COS: case OP_TAN:
    case OP_ASIN: case OP_ACOS: case OP_ATAN: case OP_SINH: case OP_COSH: case OP_TANH: case OP_ASINH:
    case OP_ACOSH: case OP_ATANH: case OP_ERF: case OP_SIGMOID: case OP_HARDSIGMOID: case OP_HARDSWISH:
    case OP_SOFTPLUS: case OP_SOFTSIGN: case OP_ELU: case OP_SELU: case OP_CELU: case OP_GELU:
    case OP_MISH: case OP_SWISH: case OP_THRESHOLDEDRELU: case OP_LEAKYRELU: case OP_FLOOR:
    case OP_CEIL: case OP_ROUND: case OP_ISNAN: case OP_ISINF: case OP_SHRINK:
        return 1;
    default:
        return 0;
    }
}

static Expr *unary_math(Arena *a, OpKind op, Expr *x)
{
    static const struct { OpKind op; UnOp u; } map[] = {
        {OP_ABS, U_ABS}, {OP_NEG, U_NEG}, {OP_SQRT, U_SQRT}, {OP_EXP, U_EXP}, {OP_LOG, U_LOG},
        {OP_SIN, U_SIN}, {OP_COS, U_COS}, {OP_TAN, U_TAN}, {OP_ASIN, U_ASIN}, {OP_ACOS, U_ACOS},
        {OP_ATAN, U_ATAN}, {OP_SINH, U_SINH}, {OP_COSH, U_COSH}, {OP_TANH, U_TANH},
        {OP_ASINH, U_ASINH}, {OP_ACOSH, U_ACOSH}, {OP_ATANH, U_ATANH}, {OP_ERF, U_ERF},
        {OP_FLOOR, U_FLOOR}, {OP_CEIL, U_CEIL}, {OP_ROUND, U_ROUND}, {OP_NOT, U_NOT},
        {OP_BITWISENOT, U_BNOT}, {OP_ISNAN, U_ISNAN},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].op == op)
            return ke_un(a, map[i].u, x);
    return NULL;
}

Expr *ew_scalar(Lower *L, Node *n, Expr **args)
{
    Arena *a = lw_arena(L);
    Graph *g = lw_graph(L);
    Expr *x = args[0];
    DType t = x->type;
    int err = 0;
    if (n->op == OP_QLINEARADD)
        return qlinear_add_scalar(L, n, args);
    if (float_only(n->op) && !dtype_is_float(t)) {
        lw_error(L, n, "input type %s is not supported (a float type is)", dtype_name(t));
        return NULL;
    }
    if ((n->op == OP_NOT || n->op == OP_AND || n->op == OP_OR || n->op == OP_XOR) && t != DT_BOOL) {
        lw_error(L, n, "input type %s is not supported (bool is)", dtype_name(t));
        return NULL;
    }
    if ((n->op == OP_BITWISENOT || n->op == OP_BITWISEAND || n->op == OP_BITWISEOR || n->op == OP_BITWISEXOR ||
         n->op == OP_BITSHIFT) && !dtype_is_int(t)) {
        lw_error(L, n, "input type %s is not supported (an integer type is)", dtype_name(t));
        return NULL;
    }
    Expr *r = unary_math(a, n->op, x);
    if (r)
        return r;
    switch (n->op) {
    case OP_RECIPROCAL: return BIN(B_DIV, K(1), x);
    case OP_SIGN: return SEL(BIN(B_GT, x, K(0)), K(1), SEL(BIN(B_LT, x, K(0)), K(-1), K(0)));
    case OP_ISINF: {
        int64_t neg = 1, pos = 1;
        Diag tmp = lw_diag(L);
        attr_int(g, n, "detect_negative", 1, &neg, &tmp);
        attr_int(g, n, "detect_positive", 1, &pos, &tmp);
        Expr *inf = UN(U_ISINF, x);
        if (neg && pos)
            return inf;
        if (!neg && !pos)
            return ke_int(a, DT_BOOL, 0);
        return BIN(B_AND, inf, BIN(pos ? B_GT : B_LT, x, K(0)));
    }
    case OP_RELU: return BIN(B_MAX, x, K(0));
    case OP_LEAKYRELU: {
        double alpha = fattr(L, n, "alpha", 0.01, &err);
        return err ? NULL : SEL(BIN(B_GE, x, K(0)), x, BIN(B_MUL, K(alpha), x));
    }
    case OP_SIGMOID: return sigmoid(a, t, x);
    case OP_HARDSIGMOID: {
        double alpha = fattr(L, n, "alpha", 0.2, &err), beta = fattr(L, n, "beta", 0.5, &err);
        if (err)
            return NULL;
        return BIN(B_MAX, K(0), BIN(B_MIN, K(1), BIN(B_ADD, BIN(B_MUL, K(alpha), x), K(beta))));
    }
    case OP_HARDSWISH:
        return BIN(B_MUL, x, BIN(B_MAX, K(0), BIN(B_MIN, K(1), BIN(B_ADD, BIN(B_MUL, K(1.0 / 6), x), K(0.5)))));
    case OP_SOFTPLUS: return softplus(a, t, x);
    case OP_SOFTSIGN: return BIN(B_DIV, x, BIN(B_ADD, K(1), UN(U_ABS, x)));
    case OP_ELU: {
        double alpha = fattr(L, n, "alpha", 1.0, &err);
        return err ? NULL : SEL(BIN(B_LT, x, K(0)), BIN(B_MUL, K(alpha), BIN(B_SUB, UN(U_EXP, x), K(1))), x);
    }
    case OP_SELU: {
        double alpha = fattr(L, n, "alpha", 1.67326319217681884765625, &err);
        double gamma = fattr(L, n, "gamma", 1.05070102214813232421875, &err);
        if (err)
            return NULL;
        return SEL(BIN(B_LE, x, K(0)), BIN(B_MUL, K(gamma), BIN(B_SUB, BIN(B_MUL, K(alpha), UN(U_EXP, x)), K(alpha))),
                   BIN(B_MUL, K(gamma), x));
    }
    case OP_CELU: {
        double alpha = fattr(L, n, "alpha", 1.0, &err);
        if (err)
            return NULL;
        Expr *neg = BIN(B_MUL, K(alpha), BIN(B_SUB, UN(U_EXP, BIN(B_DIV, x, K(alpha))), K(1)));
        return BIN(B_ADD, BIN(B_MAX, K(0), x), BIN(B_MIN, K(0), neg));
    }
    case OP_GELU: {
        const char *approx;
        Diag tmp = lw_diag(L);
        attr_str(g, n, "approximate", "none", &approx, &tmp);
        if (!strcmp(approx, "tanh")) {
            Expr *x3 = BIN(B_MUL, BIN(B_MUL, x, x), x);
            Expr *in = BIN(B_MUL, K(0.79788456080286535588) /* sqrt(2/pi) */, BIN(B_ADD, x, BIN(B_MUL, K(0.044715), x3)));
            return BIN(B_MUL, BIN(B_MUL, K(0.5), x), BIN(B_ADD, K(1), UN(U_TANH, in)));
        }
        return BIN(B_MUL, BIN(B_MUL, K(0.5), x), BIN(B_ADD, K(1), UN(U_ERF, BIN(B_MUL, x, K(0.70710678118654752440) /* 1/sqrt(2) */))));
    }
    case OP_MISH: return BIN(B_MUL, x, UN(U_TANH, softplus(a, t, x)));
    case OP_SWISH: {
        double alpha = fattr(L, n, "alpha", 1.0, &err);
        return err ? NULL : BIN(B_MUL, x, sigmoid(a, t, BIN(B_MUL, K(alpha), x)));
    }
    case OP_THRESHOLDEDRELU: {
        double alpha = fattr(L, n, "alpha", 1.0, &err);
        return err ? NULL : SEL(BIN(B_GT, x, K(alpha)), x, K(0));
    }
    case OP_SHRINK: {
        double bias = fattr(L, n, "bias", 0.0, &err), lambd = fattr(L, n, "lambd", 0.5, &err);
        if (err)
            return NULL;
        return SEL(BIN(B_LT, x, K(-lambd)), BIN(B_ADD, x, K(bias)),
                   SEL(BIN(B_GT, x, K(lambd)), BIN(B_SUB, x, K(bias)), K(0)));
    }
    case OP_CAST: {
        const Value *out = &g->values[n->out[0]];
        PkMode m;
        Diag tmp = lw_diag(L);
        if (!dtype_is_packed(out->dtype))
            return ke_cast(a, out->dtype, x);
        if (cast_mode(g, n, &m, &tmp)) {
            lw_error(L, n, "bad attributes (internal error)");
            return NULL;
        }
        return pk_encode(lw_kb(L), out->dtype, x, m); /* the code, which lw_store_packed stores */
    }
    case OP_BITCAST: return ke_bitcast(a, g->values[n->out[0]].dtype, x);
    case OP_ADD: return BIN(B_ADD, x, args[1]);
    case OP_SUB: return BIN(B_SUB, x, args[1]);
    case OP_MUL: return BIN(B_MUL, x, args[1]);
    case OP_DIV: return dtype_is_float(t) ? BIN(B_DIV, x, args[1]) : int_divmod(a, t, B_DIV, x, args[1]);
    case OP_POW: {
        Expr *y = args[1];
        if (dtype_is_float(t))
            return BIN(B_POW, x, ke_cast(a, t, y));
        if (dtype_is_float(y->type)) /* integer base, float exponent: in double */
            return ke_cast(a, t, BIN(B_POW, ke_cast(a, DT_F64, x), ke_cast(a, DT_F64, y)));
        return BIN(B_POW, x, ke_cast(a, t, y));
    }
    case OP_MOD: {
        int64_t fmod_;
        Diag tmp = lw_diag(L);
        attr_int(g, n, "fmod", 0, &fmod_, &tmp);
        if (fmod_)
            return dtype_is_float(t) ? BIN(B_MOD, x, args[1]) : int_divmod(a, t, B_MOD, x, args[1]);
        return floor_mod(a, t, x, args[1]);
    }
    case OP_PRELU: return SEL(BIN(B_LT, x, K(0)), BIN(B_MUL, args[1], x), x);
    case OP_EQUAL: return BIN(B_EQ, x, args[1]);
    case OP_LESS: return BIN(B_LT, x, args[1]);
    case OP_LESSOREQUAL: return BIN(B_LE, x, args[1]);
    case OP_GREATER: return BIN(B_GT, x, args[1]);
    case OP_GREATEROREQUAL: return BIN(B_GE, x, args[1]);
    case OP_AND: return BIN(B_AND, x, args[1]);
    case OP_OR: return BIN(B_OR, x, args[1]);
    case OP_XOR: return BIN(B_XOR, x, args[1]);
    case OP_BITWISEAND: return BIN(B_BAND, x, args[1]);
    case OP_BITWISEOR: return BIN(B_BOR, x, args[1]);
    case OP_BITWISEXOR: return BIN(B_BXOR, x, args[1]);
    case OP_BITSHIFT: {
        const char *dir;
        Diag tmp = lw_diag(L);
        attr_str(g, n, "direction", "", &dir, &tmp);
        if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT")) {
            lw_error(L, n, "attribute 'direction' must be \"LEFT\" or \"RIGHT\"");
            return NULL;
        }
        /* a shift by the width or more gives 0 (C leaves it undefined);
         * the shift itself always sees a count below the width */
        Expr *y = args[1], *wide = BIN(B_GE, y, K(8 * dtype_size(t)));
        return SEL(wide, K(0), BIN(!strcmp(dir, "LEFT") ? B_SHL : B_SHR, x, SEL(wide, K(0), y)));
    }
    case OP_MAX: case OP_MIN: case OP_SUM: case OP_MEAN: {
        BinOp op = n->op == OP_MAX ? B_MAX : n->op == OP_MIN ? B_MIN : B_ADD;
        Expr *acc = x;
        for (int i = 1; i < n->nin; i++)
            if (args[i])
                acc = BIN(op, acc, args[i]);
        return n->op == OP_MEAN ? BIN(B_DIV, acc, K(n->nin)) : acc;
    }
    case OP_WHERE: return SEL(x, args[1], args[2]);
    case OP_CLIP: {
        Expr *lo = NULL, *hi = NULL;
        if (n->opset < 11) {
            double mn = fattr(L, n, "min", -INFINITY, &err), mx = fattr(L, n, "max", INFINITY, &err);
            if (err)
                return NULL;
            if (node_attr(n, "min"))
                lo = K(mn);
            if (node_attr(n, "max"))
                hi = K(mx);
        } else {
            lo = n->nin > 1 ? args[1] : NULL;
            hi = n->nin > 2 ? args[2] : NULL;
        }
        Expr *r2 = x;
        if (lo)
            r2 = BIN(B_MAX, r2, lo);
        if (hi)
            r2 = BIN(B_MIN, r2, hi);
        return r2;
    }
    default:
        lw_error(L, n, "no scalar definition (internal error)");
        return NULL;
    }
}

/* Node n's value at output coordinates `coords`, its inputs loaded with
 * broadcasting: for a packed output (a Cast), the element's code. */
static Expr *ew_at(Lower *L, Node *n, Expr *const *coords, void *arg)
{
    Expr *args[64];
    int rank = lw_graph(L)->values[n->out[0]].shape.rank;
    (void)arg;
    for (int i = 0; i < n->nin; i++)
        args[i] = n->in[i] == VNONE ? NULL : lw_load_bcast(L, n->in[i], rank, coords);
    return ew_scalar(L, n, args);
}

int lower_ew(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    const Value *out = &g->values[n->out[0]];
    Expr *coords[KILN_MAX_RANK], *args[64];
    if (n->nin > 64)
        return lw_error(L, n, "more than 64 inputs are not supported");
    if (dtype_is_string(g->values[n->in[0]].dtype)) /* Equal of strings: never fused (graph_fuse) */
        return lower_str_equal(L, n);
    char sh[160];
    kb_comment(lw_kb(L), arena_printf(lw_arena(L), "%s, elementwise over %s", n->op_type,
                                      shape_str(&out->shape, sh, sizeof sh)));
    if (dtype_is_packed(out->dtype)) { /* never fused (graph_fuse): stored a byte at a time */
        lw_store_packed(L, n, 0, ew_at, NULL); /* an error in ew_scalar is in the lowering's Diag */
        return 0;
    }
    lw_loops(L, &out->shape, NULL, coords);
    for (int i = 0; i < n->nin; i++)
        args[i] = n->in[i] == VNONE ? NULL : lw_load_bcast(L, n->in[i], out->shape.rank, coords);
    Expr *v = ew_scalar(L, n, args);
    if (!v)
        return 1;
    lw_store(L, n, 0, coords, v);
    lw_end_loops(L, &out->shape);
    return 0;
}
