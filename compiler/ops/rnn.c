/*
 * rnn.c: the recurrent ops LSTM, GRU and RNN.
 *
 * One recurrent layer over X [seq, batch, input] (layout 0; layout 1 swaps
 * seq and batch in X, Y, initial_* and Y_*). Per direction d, with G gate
 * blocks of `hidden` rows in W [dirs, G*H, I], R [dirs, G*H, H] and
 * B [dirs, 2*G*H] = (Wb, Rb):
 *
 *   LSTM (G = 4: i, o, f, c; functions f, g, h = Sigmoid, Tanh, Tanh)
 *     gates = W[d] x_t + R[d] h + Wb[d] + Rb[d]
 *     i = f(gi + Pi c)   f = f(gf + Pf c)  (or 1 - i with input_forget)
 *     c = f c + i g(gc)  o = f(go + Po c)  h = o h(c)
 *   GRU (G = 3: z, r, h; functions f, g = Sigmoid, Tanh)
 *     z = f(Wz x + Rz h + Wbz + Rbz)   r = f(Wr x + Rr h + Wbr + Rbr)
 *     n = g(Wh x + Wbh + Rh (r h) + Rbh)          linear_before_reset = 0
 *     n = g(Wh x + Wbh + r (Rh h + Rbh))          linear_before_reset = 1
 *     h = (1 - z) n + z h
 *   RNN (G = 1; function f = Tanh)
 *     h = f(W x + R h + Wb + Rb)
 *
 * `activations` names the functions of each direction (3, 2 or 1 per
 * direction), whose alphas and betas are taken in order from
 * activation_alpha/beta by the functions that have them (defaults as the
 * ONNX operators of the same name). `clip` bounds every pre-activation of
 * a gate (not the cell state, as onnxruntime does). The reverse direction
 * (and the second of bidirectional) runs from the last step to the first.
 * The output_sequence attribute of opsets 1-6 is ignored: Y is written
 * whenever the node has it.
 *
 * sequence_lens: batch entry b runs len[b] steps (the reverse direction
 * starts at len[b] - 1); Y is 0 past them, and Y_h, Y_c are the state after
 * the last one (0 when len[b] is 0, as onnxruntime).
 *
 * Lowering (OPF_NOEPI: outputs are stored as they are produced). The state
 * lives in kernel scratch h (and c) [batch, hidden], the gate
 * pre-activations of one batch entry in gates [G * hidden]; per direction:
 *
 *     h, c = initial_h, initial_c
 *     for step: for b: t = step or its reverse
 *         gates = Wb + W x[t, b] + Rb + R h[b]      (matrix-vector loops)
 *         for j in H: h[b, j] (c[b, j]) = cell(gates, ...); Y[t, d, b, j] = h[b, j]
 *     Y_h[d] = h; Y_c[d] = c
 *
 * GRU keeps the recurrent part of its h gate apart, in hr [hidden], since r
 * multiplies it (linear_before_reset) or its input r h (scratch rh [hidden])
 * before it is added to the rest.
 */
#include "op.h"

#include <string.h>
#include <strings.h>

/* The most elements of the scratch that holds the input part of every
 * step (16 MiB of f32). */
#define RNN_XW_MAX_ELEMS ((int64_t)1 << 22)

/* Activation functions of the recurrent ops. */
typedef enum Act {
    ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_AFFINE, ACT_LEAKYRELU, ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH, ACT_HARDSIGMOID, ACT_ELU, ACT_SOFTSIGN, ACT_SOFTPLUS,
} Act;

/* name, how many alphas and betas it takes, and their defaults */
static const struct {
    const char *name;
    int nalpha, nbeta;
    double alpha, beta;
} acts[] = {
    [ACT_SIGMOID] = {"Sigmoid", 0, 0, 0, 0},
    [ACT_TANH] = {"Tanh", 0, 0, 0, 0},
    [ACT_RELU] = {"Relu", 0, 0, 0, 0},
    [ACT_AFFINE] = {"Affine", 1, 1, 1.0, 0.0},
    [ACT_LEAKYRELU] = {"LeakyRelu", 1, 0, 0.01, 0},
    [ACT_THRESHOLDEDRELU] = {"ThresholdedRelu", 1, 0, 1.0, 0},
    [ACT_SCALEDTANH] = {"ScaledTanh", 1, 1, 1.0, 1.0},
    [ACT_HARDSIGMOID] = {"HardSigmoid", 1, 1, 0.2, 0.5},
    [ACT_ELU] = {"Elu", 1, 0, 1.0, 0},
    [ACT_SOFTSIGN] = {"Softsign", 0, 0, 0, 0},
    [ACT_SOFTPLUS] = {"Softplus", 0, 0, 0, 0},
};

/* One activation with its parameters. */
typedef struct Fn {
    Act act;
    double alpha, beta;
} Fn;

/* A recurrent node's shapes and attributes.
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct Rnn {
    OpKind op;                         /* OP_LSTM, OP_GRU or OP_RNN */
    int ngates;                        /* G: gate blocks in W, R (4, 3, 1) */
    int nacts;                         /* functions per direction (3, 2, 1) */
    int64_t seq, batch, input, hidden; /* T, B, I, H */
    int dirs;                          /* 1, or 2 when bidirectional */
    int reverse;                       /* direction "reverse" */
    int layout;                        /* 0: [seq, batch, ...]; 1: [batch, seq, ...] */
    int input_forget;                  /* LSTM: f = 1 - i */
    int linear_before_reset;           /* GRU: r scales Rh h + Rbh */
    int has_clip;
    double clip;                       /* bound of the gate pre-activations */
    Fn fn[2][3];                       /* the functions of each direction */
} Rnn;

/* Check input i has shape dims[rank] (when present). */
static int want_shape(Graph *g, Node *n, int i, const char *what, int rank, const int64_t *dims, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (!v)
        return 0;
    Shape s = {rank, {0}};
    memcpy(s.dim, dims, sizeof(int64_t) * (size_t)rank);
    if (!shape_equal(&v->shape, &s)) {
        char got[160], want[160];
        return diag_node(d, g, n, "%s has shape %s, expected %s", what, shape_str(&v->shape, got, sizeof got),
                         shape_str(&s, want, sizeof want));
    }
    return 0;
}

/* The activations of the node (rn->nacts per direction): names, then
 * alphas and betas consumed in order by the functions that take them. */
static int read_acts(Graph *g, Node *n, Rnn *rn, Diag *d)
{
    const Attr *names = node_attr(n, "activations");
    double alpha[64], beta[64];
    int na, nb;
    if (attr_floats(g, n, "activation_alpha", alpha, 64, &na, d) ||
        attr_floats(g, n, "activation_beta", beta, 64, &nb, d))
        return 1;
    /* defaults per op: f, g, h of LSTM; f, g of GRU; f of RNN */
    static const Act lstm_defaults[3] = {ACT_SIGMOID, ACT_TANH, ACT_TANH};
    static const Act gru_defaults[2] = {ACT_SIGMOID, ACT_TANH};
    static const Act rnn_defaults[1] = {ACT_TANH};
    const Act *defaults = rn->op == OP_LSTM ? lstm_defaults : rn->op == OP_GRU ? gru_defaults : rnn_defaults;
    static const char *const per_dir[4] = {"", "f", "f, g", "f, g, h"};
    int m = rn->nacts, count = m * rn->dirs;
    if (names && names->kind != ATTR_STRINGS)
        return diag_node(d, g, n, "attribute 'activations' must be a list of strings");
    if (names && names->n != count)
        return diag_node(d, g, n, "attribute 'activations' has %d functions, expected %d (%s per direction)",
                         names->n, count, per_dir[m]);
    int ia = 0, ib = 0;
    for (int k = 0; k < count; k++) {
        Fn *f = &rn->fn[k / m][k % m];
        if (!names) {
            f->act = defaults[k % m];
        } else {
            int found = -1;
            for (int a = 0; a < (int)(sizeof acts / sizeof acts[0]) && found < 0; a++)
                if (!strcasecmp(names->strings[k], acts[a].name))
                    found = a;
            if (found < 0)
                return diag_node(d, g, n, "unknown activation function '%s'", names->strings[k]);
            f->act = (Act)found;
        }
        f->alpha = acts[f->act].alpha;
        f->beta = acts[f->act].beta;
        if (acts[f->act].nalpha && ia < na)
            f->alpha = alpha[ia];
        if (acts[f->act].nbeta && ib < nb)
            f->beta = beta[ib];
        ia += acts[f->act].nalpha;
        ib += acts[f->act].nbeta;
    }
    return 0;
}

/* Read and check an LSTM, GRU or RNN node. Inputs X, W, R, B,
 * sequence_lens, initial_h are the same for the three; LSTM adds
 * initial_c and P. */
static int rnn_read(Graph *g, Node *n, Rnn *rn, Diag *d)
{
    const Value *x = op_in(g, n, 0), *w = op_in(g, n, 1), *r = op_in(g, n, 2);
    int64_t hidden, layout, input_forget = 0, lbr = 0;
    const char *dir;
    char xs[160];
    memset(rn, 0, sizeof *rn);
    rn->op = n->op;
    rn->ngates = n->op == OP_LSTM ? 4 : n->op == OP_GRU ? 3 : 1;
    rn->nacts = n->op == OP_LSTM ? 3 : n->op == OP_GRU ? 2 : 1;
    if (!x || !w || !r)
        return diag_node(d, g, n, "inputs X, W and R are required");
    if (op_check_dtype(g, n, 0, op_float_types, d))
        return 1;
    for (int i = 1; i < 8; i++)
        if (i != 4 && op_same_dtype(g, n, 0, i, d))
            return 1;
    if (n->opset < 14 && node_attr(n, "layout"))
        return diag_node(d, g, n, "attribute 'layout' needs opset 14 (the model imports opset %d)", n->opset);
    if (attr_int(g, n, "hidden_size", 0, &hidden, d) || attr_int(g, n, "layout", 0, &layout, d) ||
        attr_str(g, n, "direction", "forward", &dir, d) || attr_float(g, n, "clip", 0, &rn->clip, d))
        return 1;
    if (rn->op == OP_LSTM && attr_int(g, n, "input_forget", 0, &input_forget, d))
        return 1;
    if (rn->op == OP_GRU && n->opset < 3 && node_attr(n, "linear_before_reset"))
        return diag_node(d, g, n, "attribute 'linear_before_reset' needs opset 3 (the model imports opset %d)",
                         n->opset);
    if (rn->op == OP_GRU && attr_int(g, n, "linear_before_reset", 0, &lbr, d))
        return 1;
    if (layout != 0 && layout != 1)
        return diag_node(d, g, n, "attribute 'layout' is %lld, expected 0 or 1", (long long)layout);
    rn->layout = (int)layout;
    rn->input_forget = input_forget != 0;
    rn->linear_before_reset = lbr != 0;
    rn->has_clip = node_attr(n, "clip") != NULL;
    if (rn->has_clip && !(rn->clip > 0))
        return diag_node(d, g, n, "attribute 'clip' is %g, expected a positive threshold", rn->clip);
    if (!strcmp(dir, "forward") || !strcmp(dir, "reverse"))
        rn->dirs = 1;
    else if (!strcmp(dir, "bidirectional"))
        rn->dirs = 2;
    else
        return diag_node(d, g, n, "unknown direction '%s' (forward, reverse or bidirectional)", dir);
    rn->reverse = !strcmp(dir, "reverse");

    if (x->shape.rank != 3)
        return diag_node(d, g, n, "X has shape %s, expected rank 3", shape_str(&x->shape, xs, sizeof xs));
    rn->seq = x->shape.dim[layout ? 1 : 0];
    rn->batch = x->shape.dim[layout ? 0 : 1];
    rn->input = x->shape.dim[2];
    int64_t G = rn->ngates;
    if (r->shape.rank != 3)
        return diag_node(d, g, n, "R has shape %s, expected [num_directions, %lld*hidden, hidden]",
                         shape_str(&r->shape, xs, sizeof xs), (long long)G);
    rn->hidden = r->shape.dim[2];
    if (node_attr(n, "hidden_size") && hidden != rn->hidden)
        return diag_node(d, g, n, "hidden_size is %lld but R has shape %s", (long long)hidden,
                         shape_str(&r->shape, xs, sizeof xs));
    if (rn->hidden > KILN_MAX_BYTES) /* R may have an empty dim: keep G * H below */
        return diag_node(d, g, n, "R has shape %s: hidden size %lld is too large", shape_str(&r->shape, xs, sizeof xs),
                         (long long)rn->hidden);
    int64_t D = rn->dirs, H = rn->hidden, B = rn->batch;
    int64_t ws[3] = {D, G * H, rn->input}, rs[3] = {D, G * H, H}, bs[2] = {D, 2 * G * H}, ps[2] = {D, 3 * H};
    int64_t ss[1] = {B}, hs[3] = {layout ? B : D, layout ? D : B, H};
    if (want_shape(g, n, 2, "R", 3, rs, d) || want_shape(g, n, 1, "W", 3, ws, d) ||
        want_shape(g, n, 3, "B", 2, bs, d) || want_shape(g, n, 4, "sequence_lens", 1, ss, d) ||
        want_shape(g, n, 5, "initial_h", 3, hs, d))
        return 1;
    if (rn->op == OP_LSTM && (want_shape(g, n, 6, "initial_c", 3, hs, d) || want_shape(g, n, 7, "P", 2, ps, d)))
        return 1;
    const Value *sl = op_in(g, n, 4);
    if (sl && sl->dtype != DT_I32)
        return diag_node(d, g, n, "sequence_lens has type %s, expected i32", dtype_name(sl->dtype));
    return read_acts(g, n, rn, d);
}

/* Y [seq, dirs, batch, hidden] and Y_h (Y_c) [dirs, batch, hidden], or
 * batch first with layout 1. */
static int infer_recurrent(Graph *g, Node *n, Diag *d)
{
    Rnn *rn = op_attrs(g, n, sizeof *rn);
    if (rnn_read(g, n, rn, d))
        return 1;
    DType t = op_in(g, n, 0)->dtype;
    int64_t T = rn->seq, B = rn->batch, D = rn->dirs, H = rn->hidden;
    Shape y = rn->layout ? (Shape){4, {B, T, D, H}} : (Shape){4, {T, D, B, H}};
    Shape yh = rn->layout ? (Shape){3, {B, D, H}} : (Shape){3, {D, B, H}};
    op_set_out(g, n, 0, t, &y);
    op_set_out(g, n, 1, t, &yh);
    if (rn->op == OP_LSTM)
        op_set_out(g, n, 2, t, &yh);
    return 0;
}

int infer_lstm(Graph *g, Node *n, Diag *d)
{
    return infer_recurrent(g, n, d);
}

int infer_gru(Graph *g, Node *n, Diag *d)
{
    return infer_recurrent(g, n, d);
}

int infer_rnn(Graph *g, Node *n, Diag *d)
{
    return infer_recurrent(g, n, d);
}

/* ------------------------------------------------------------- lowering */

#define K(v) ke_const(a, t, (v))
#define BIN(op, x, y) ke_bin(a, (op), (x), (y))

/* fn(x) for a variable x of type t. */
static Expr *activation(Arena *a, DType t, const Fn *fn, Expr *x)
{
    double al = fn->alpha, be = fn->beta;
    switch (fn->act) {
    case ACT_SIGMOID: return BIN(B_DIV, K(1), BIN(B_ADD, K(1), ke_un(a, U_EXP, ke_un(a, U_NEG, x))));
    case ACT_TANH: return ke_un(a, U_TANH, x);
    case ACT_RELU: return BIN(B_MAX, x, K(0));
    case ACT_AFFINE: return BIN(B_ADD, BIN(B_MUL, K(al), x), K(be));
    case ACT_LEAKYRELU: return ke_select(a, BIN(B_GE, x, K(0)), x, BIN(B_MUL, K(al), x));
    case ACT_THRESHOLDEDRELU: return ke_select(a, BIN(B_GT, x, K(al)), x, K(0));
    case ACT_SCALEDTANH: return BIN(B_MUL, K(al), ke_un(a, U_TANH, BIN(B_MUL, K(be), x)));
    case ACT_HARDSIGMOID: return BIN(B_MAX, BIN(B_MIN, BIN(B_ADD, BIN(B_MUL, K(al), x), K(be)), K(1)), K(0));
    case ACT_ELU:
        return ke_select(a, BIN(B_GE, x, K(0)), x, BIN(B_MUL, K(al), BIN(B_SUB, ke_un(a, U_EXP, x), K(1))));
    case ACT_SOFTSIGN: return BIN(B_DIV, x, BIN(B_ADD, K(1), ke_un(a, U_ABS, x)));
    case ACT_SOFTPLUS:
        /* log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)): no overflow */
        return BIN(B_ADD, BIN(B_MAX, x, K(0)),
                   ke_un(a, U_LOG, BIN(B_ADD, K(1), ke_un(a, U_EXP, ke_un(a, U_NEG, ke_un(a, U_ABS, x))))));
    }
    return x;
}

/* The lowering's view of one node: buffers and shapes. */
typedef struct RnnLower {
    Lower *L;
    Node *n;
    const Rnn *rn;
    DType t;
    int h, c;     /* scratch state [batch, hidden]; c: LSTM only */
    int gates;    /* scratch: pre-activations of one batch entry [G * hidden] */
    int hr;       /* GRU scratch: recurrent part of the h gate [hidden] */
    int rh;       /* GRU scratch without linear_before_reset: r h [hidden] */
    int xw;       /* scratch Wb + x W^T of every step [seq, batch, G * hidden], or -1 */
} RnnLower;

/* Where one step is: batch entry b, time t, direction d (index exprs). */
typedef struct Step {
    Expr *b, *t, *d;
    int dir;      /* d as a number: which functions apply */
} Step;

/* Input i at coords, or NULL when absent. */
static Expr *opt_load(RnnLower *q, int i, Expr *const *coords)
{
    if (q->n->nin <= i || q->n->in[i] == VNONE)
        return NULL;
    return lw_load(q->L, q->n->in[i], coords);
}

/* Store value at coords of output i, if the node has it. */
static void out_store(RnnLower *q, int i, Expr *const *coords, Expr *value)
{
    if (q->n->nout <= i || q->n->out[i] == VNONE)
        return;
    KB *b = lw_kb(q->L);
    ValueId v = q->n->out[i];
    kb_store(b, lw_buf(q->L, v), kb_flat(b, &lw_graph(q->L)->values[v].shape, coords), value);
}

/* Y[t, d, b, j] = value (Y[b, t, d, j] with layout 1). */
static void y_store(RnnLower *q, const Step *s, Expr *t, Expr *j, Expr *value)
{
    int l = q->rn->layout;
    Expr *yc[4] = {l ? s->b : t, l ? t : s->d, l ? s->d : s->b, j};
    out_store(q, 0, yc, value);
}

/* Element [b, j] of a state buffer [batch, hidden]. */
static Expr *state_at(RnnLower *q, Expr *b, Expr *j)
{
    Shape bh = {2, {q->rn->batch, q->rn->hidden}};
    Expr *st[2] = {b, j};
    return kb_flat(lw_kb(q->L), &bh, st);
}

/* clip(x) of a gate pre-activation, bound to a local named `name`. */
static Expr *gate_let(RnnLower *q, const char *name, Expr *x)
{
    KB *b = lw_kb(q->L);
    Arena *a = lw_arena(q->L);
    DType t = q->t;
    if (q->rn->has_clip)
        x = BIN(B_MAX, BIN(B_MIN, x, K(q->rn->clip)), K(-q->rn->clip));
    return kb_v(b, kb_let(b, name, x));
}

/* Element [t, b, g] of the scratch xw [seq, batch, G * hidden]. */
static Expr *xw_at(RnnLower *q, Expr *t, Expr *b, Expr *g)
{
    Shape s = {3, {q->rn->seq, q->rn->batch, q->rn->ngates * q->rn->hidden}};
    Expr *c[3] = {t, b, g};
    return kb_flat(lw_kb(q->L), &s, c);
}

/* xw[t, b, g] = Wb[d, g] + x[t, b, :] . W[d, g, :] for every step at once:
 * the input's part of the gates depends on no state, so it is one
 * contraction [seq * batch, input] x [input, G * hidden] ahead of the
 * recurrence, which then adds only h . R per step. */
static void input_part(RnnLower *q, Expr *dd)
{
    Lower *L = q->L;
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    DType t = q->t;
    const Rnn *rn = q->rn;
    int l = rn->layout;
    kb_comment(b, "xw[t, b, g] = Wb[d, g] + x[t, b, :] . W[d, g, :]  (every step: no state involved)");
    Expr *tt = kb_v(b, kb_for_k(b, "t", rn->seq, IT_DATA));
    Expr *bb = kb_v(b, kb_for_k(b, "b", rn->batch, IT_DATA));
    Expr *gg = kb_v(b, kb_for_k(b, "g", rn->ngates * rn->hidden, IT_DATA));
    Expr *wbc[2] = {dd, gg};
    Expr *wb = opt_load(q, 3, wbc);
    int acc = kb_let(b, "acc", wb ? wb : K(0));
    Expr *k = kb_v(b, kb_for_k(b, "k", rn->input, IT_REDUCE));
    Expr *xc[3] = {l ? bb : tt, l ? tt : bb, k}, *wc[3] = {dd, gg, k};
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, lw_load(L, q->n->in[0], xc), lw_load(L, q->n->in[1], wc))));
    kb_end(b);
    kb_store(b, q->xw, xw_at(q, tt, bb, gg), kb_v(b, acc));
    kb_end(b);
    kb_end(b);
    kb_end(b);
}

/* Rows [g0, g0 + rows) of the gate blocks of direction s->d, one loop nest:
 *
 *   dst[dst0 + g] = Wb[g0 + g] + x[t, b, :] . W[d, g0 + g, :]      (with_x)
 *                 + Rb[g0 + g] + v[vrow + :] . R[d, g0 + g, :]      (v >= 0)
 *
 * where v is a scratch buffer holding the vector R multiplies (h, or r h of
 * a GRU) and the biases are taken only when B is present. */
static void matvec(RnnLower *q, const Step *s, const char *comment, int dst, int64_t dst0, int64_t rows,
                   int64_t g0, int with_x, int v, Expr *vrow)
{
    Lower *L = q->L;
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    DType t = q->t;
    int64_t I = q->rn->input, H = q->rn->hidden, G = q->rn->ngates;
    kb_comment(b, comment);
    Expr *gg = kb_v(b, kb_for_k(b, "g", rows, IT_DATA));                  /* g in rows */
    Expr *row = BIN(B_ADD, gg, ke_idx(a, g0));
    Expr *wbc[2] = {s->d, row}, *rbc[2] = {s->d, BIN(B_ADD, row, ke_idx(a, G * H))};
    Expr *wb = with_x && q->xw < 0 ? opt_load(q, 3, wbc) : NULL, *rb = v >= 0 ? opt_load(q, 3, rbc) : NULL;
    if (with_x && q->xw >= 0) /* Wb + x W^T, computed for every step before the recurrence */
        wb = ke_load(a, b->p, q->xw, xw_at(q, s->t, s->b, row));
    Expr *bias = wb && rb ? BIN(B_ADD, wb, rb) : wb ? wb : rb ? rb : K(0);
    int acc = kb_let(b, "acc", bias);
    if (with_x && q->xw < 0) {
        Expr *k = kb_v(b, kb_for_k(b, "k", I, IT_REDUCE));      /* k in input */
        int l = q->rn->layout;
        Expr *xc[3] = {l ? s->b : s->t, l ? s->t : s->b, k}, *wc[3] = {s->d, row, k};
        kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, lw_load(L, q->n->in[0], xc), lw_load(L, q->n->in[1], wc))));
        kb_end(b);
    }
    if (v >= 0) {
        Expr *k = kb_v(b, kb_for_k(b, "k", H, IT_REDUCE));      /* k in hidden */
        Expr *rc[3] = {s->d, row, k};
        Expr *vk = ke_load(a, b->p, v, BIN(B_ADD, vrow, k));
        kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, vk, lw_load(L, q->n->in[2], rc))));
        kb_end(b);
    }
    kb_store(b, dst, BIN(B_ADD, gg, ke_idx(a, dst0)), kb_v(b, acc));
    kb_end(b);
}

/* One LSTM step of batch entry s->b: gates, then c and h. */
static void lstm_step(RnnLower *q, const Step *s)
{
    KB *b = lw_kb(q->L);
    Arena *a = lw_arena(q->L);
    Program *p = b->p;
    DType t = q->t;
    const Rnn *rn = q->rn;
    const Fn *fn = rn->fn[s->dir];
    int64_t H = rn->hidden;
    Expr *hrow = state_at(q, s->b, ke_idx(a, 0));
    matvec(q, s, "gates[g] = Wb[g] + Rb[g] + x[t, b, :] . W[d, g, :] + h[b, :] . R[d, g, :]  (g: i, o, f, c blocks)",
           q->gates, 0, 4 * H, 0, 1, q->h, hrow);

    kb_comment(b, "cell: c = f c + i g(gc), h = o h(c); Y[t, d, b] = h");
    Expr *j = kb_v(b, kb_for_k(b, "j", H, IT_DATA));         /* j in hidden */
    Expr *slot = state_at(q, s->b, j);
    Expr *cp = kb_v(b, kb_let(b, "c_prev", ke_load(a, p, q->c, slot)));
    Expr *gate[4];
    for (int i = 0; i < 4; i++)
        gate[i] = ke_load(a, p, q->gates, BIN(B_ADD, j, ke_idx(a, i * H)));
    Expr *pi_c[2] = {s->d, j}, *po_c[2] = {s->d, BIN(B_ADD, j, ke_idx(a, H))};
    Expr *pf_c[2] = {s->d, BIN(B_ADD, j, ke_idx(a, 2 * H))};
    Expr *pi = opt_load(q, 7, pi_c), *po = opt_load(q, 7, po_c), *pf = opt_load(q, 7, pf_c);
    Expr *gi = gate_let(q, "gi", pi ? BIN(B_ADD, gate[0], BIN(B_MUL, pi, cp)) : gate[0]);
    Expr *ig = kb_v(b, kb_let(b, "i", activation(a, t, &fn[0], gi)));
    Expr *fg;
    if (rn->input_forget) {
        fg = kb_v(b, kb_let(b, "f", BIN(B_SUB, K(1), ig)));
    } else {
        Expr *gf = gate_let(q, "gf", pf ? BIN(B_ADD, gate[2], BIN(B_MUL, pf, cp)) : gate[2]);
        fg = kb_v(b, kb_let(b, "f", activation(a, t, &fn[0], gf)));
    }
    Expr *gc = gate_let(q, "gc", gate[3]);
    Expr *cg = kb_v(b, kb_let(b, "cc", activation(a, t, &fn[1], gc)));
    Expr *cn = kb_v(b, kb_let(b, "c_new", BIN(B_ADD, BIN(B_MUL, fg, cp), BIN(B_MUL, ig, cg))));
    Expr *go = gate_let(q, "go", po ? BIN(B_ADD, gate[1], BIN(B_MUL, po, cn)) : gate[1]);
    Expr *og = kb_v(b, kb_let(b, "o", activation(a, t, &fn[0], go)));
    Expr *hn = kb_v(b, kb_let(b, "h_new", BIN(B_MUL, og, activation(a, t, &fn[2], cn))));
    kb_store(b, q->c, slot, cn);
    kb_store(b, q->h, slot, hn);
    y_store(q, s, s->t, j, hn);
    kb_end(b);
}

/* One GRU step of batch entry s->b: the z, r gates, the h gate, then h. */
static void gru_step(RnnLower *q, const Step *s)
{
    KB *b = lw_kb(q->L);
    Arena *a = lw_arena(q->L);
    Program *p = b->p;
    DType t = q->t;
    const Rnn *rn = q->rn;
    const Fn *fn = rn->fn[s->dir];
    int64_t H = rn->hidden;
    Expr *hrow = state_at(q, s->b, ke_idx(a, 0));
    matvec(q, s, "gates[g] = Wb[g] + Rb[g] + x[t, b, :] . W[d, g, :] + h[b, :] . R[d, g, :]  (g: z, r blocks)",
           q->gates, 0, 2 * H, 0, 1, q->h, hrow);
    matvec(q, s, "gates[2H + j] = Wbh[j] + x[t, b, :] . Wh[d, j, :]", q->gates, 2 * H, H, 2 * H, 1, -1, NULL);
    if (rn->linear_before_reset) {
        matvec(q, s, "hr[j] = Rbh[j] + h[b, :] . Rh[d, j, :]", q->hr, 0, H, 2 * H, 0, q->h, hrow);
    } else {
        kb_comment(b, "rh = r h[b]");
        Expr *k = kb_v(b, kb_for_k(b, "k", H, IT_DATA));       /* k in hidden */
        Expr *gr = gate_let(q, "gr", ke_load(a, p, q->gates, BIN(B_ADD, k, ke_idx(a, H))));
        Expr *rg = activation(a, t, &fn[0], gr);
        kb_store(b, q->rh, k, BIN(B_MUL, rg, ke_load(a, p, q->h, state_at(q, s->b, k))));
        kb_end(b);
        matvec(q, s, "hr[j] = Rbh[j] + rh . Rh[d, j, :]", q->hr, 0, H, 2 * H, 0, q->rh, ke_idx(a, 0));
    }

    kb_comment(b, "cell: h = (1 - z) n + z h; Y[t, d, b] = h");
    Expr *j = kb_v(b, kb_for_k(b, "j", H, IT_DATA));         /* j in hidden */
    Expr *slot = state_at(q, s->b, j);
    Expr *hp = kb_v(b, kb_let(b, "h_prev", ke_load(a, p, q->h, slot)));
    Expr *gz = gate_let(q, "gz", ke_load(a, p, q->gates, j));
    Expr *zg = kb_v(b, kb_let(b, "z", activation(a, t, &fn[0], gz)));
    Expr *xh = ke_load(a, p, q->gates, BIN(B_ADD, j, ke_idx(a, 2 * H))), *hr = ke_load(a, p, q->hr, j);
    if (rn->linear_before_reset) {
        Expr *gr = gate_let(q, "gr", ke_load(a, p, q->gates, BIN(B_ADD, j, ke_idx(a, H))));
        Expr *rg = kb_v(b, kb_let(b, "r", activation(a, t, &fn[0], gr)));
        hr = BIN(B_MUL, rg, hr);
    }
    Expr *gn = gate_let(q, "gn", BIN(B_ADD, xh, hr));
    Expr *ng = kb_v(b, kb_let(b, "n", activation(a, t, &fn[1], gn)));
    Expr *hn = kb_v(b, kb_let(b, "h_new", BIN(B_ADD, BIN(B_MUL, BIN(B_SUB, K(1), zg), ng), BIN(B_MUL, zg, hp))));
    kb_store(b, q->h, slot, hn);
    y_store(q, s, s->t, j, hn);
    kb_end(b);
}

/* One RNN step of batch entry s->b. */
static void rnn_step(RnnLower *q, const Step *s)
{
    KB *b = lw_kb(q->L);
    Arena *a = lw_arena(q->L);
    DType t = q->t;
    int64_t H = q->rn->hidden;
    matvec(q, s, "gates[j] = Wb[j] + Rb[j] + x[t, b, :] . W[d, j, :] + h[b, :] . R[d, j, :]", q->gates, 0, H, 0, 1,
           q->h, state_at(q, s->b, ke_idx(a, 0)));
    kb_comment(b, "h = f(gates); Y[t, d, b] = h");
    Expr *j = kb_v(b, kb_for_k(b, "j", H, IT_DATA));         /* j in hidden */
    Expr *gh = gate_let(q, "gh", ke_load(a, b->p, q->gates, j));
    Expr *hn = kb_v(b, kb_let(b, "h_new", activation(a, t, &q->rn->fn[s->dir][0], gh)));
    kb_store(b, q->h, state_at(q, s->b, j), hn);
    y_store(q, s, s->t, j, hn);
    kb_end(b);
}

/* The loop nests of direction d. */
static void lower_direction(RnnLower *q, int d)
{
    const Rnn *rn = q->rn;
    Lower *L = q->L;
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Program *p = b->p;
    DType t = q->t;
    int64_t T = rn->seq, B = rn->batch, H = rn->hidden;
    int rev = rn->reverse || d == 1;
    int layout = rn->layout;
    int lstm = rn->op == OP_LSTM;
    Expr *dd = ke_idx(a, d);
    int has_seq = q->n->nin > 4 && q->n->in[4] != VNONE;

    /* h, c = initial_h[d], initial_c[d] (or 0) */
    kb_comment(b, arena_printf(a, "direction %d (%s): %s [batch, hidden] = initial state", d,
                               rev ? "reverse" : "forward", lstm ? "h, c" : "h"));
    Expr *bb = kb_v(b, kb_for(b, "b", B));
    Expr *j = kb_v(b, kb_for(b, "j", H));
    Expr *hc[3] = {layout ? bb : dd, layout ? dd : bb, j};
    Expr *h0 = opt_load(q, 5, hc);
    kb_store(b, q->h, state_at(q, bb, j), h0 ? h0 : K(0));
    if (lstm) {
        Expr *c0 = opt_load(q, 6, hc);
        kb_store(b, q->c, state_at(q, bb, j), c0 ? c0 : K(0));
    }
    kb_end(b);
    kb_end(b);

    if (q->xw >= 0)
        input_part(q, dd);

    kb_comment(b, "for each time step and batch entry: gates, then the new state");
    Expr *step = kb_v(b, kb_for(b, "step", T));               /* step in seq */
    bb = kb_v(b, kb_for(b, "b", B));                           /* b in batch */
    Expr *len = NULL, *tt;
    if (has_seq) {
        /* len = clamp(sequence_lens[b], 0, T); steps past it write Y = 0 */
        Expr *sc[1] = {bb};
        Expr *raw = ke_cast(a, DT_INDEX, lw_load(L, q->n->in[4], sc));
        len = kb_v(b, kb_let(b, "len", BIN(B_MIN, BIN(B_MAX, raw, ke_idx(a, 0)), ke_idx(a, T))));
        kb_if(b, BIN(B_LT, step, len));
        tt = rev ? BIN(B_SUB, BIN(B_SUB, len, ke_idx(a, 1)), step) : step;
    } else {
        tt = rev ? BIN(B_SUB, ke_idx(a, T - 1), step) : step;
    }
    Step s = {bb, kb_v(b, kb_let(b, "t", tt)), dd, d};
    switch (rn->op) {
    case OP_LSTM: lstm_step(q, &s); break;
    case OP_GRU: gru_step(q, &s); break;
    default: rnn_step(q, &s); break;
    }
    if (has_seq) {
        /* past the sequence: Y[step] = 0 */
        kb_else(b);
        if (q->n->nout > 0 && q->n->out[0] != VNONE) {
            j = kb_v(b, kb_for(b, "j", H));
            y_store(q, &s, step, j, K(0));
            kb_end(b);
        }
        kb_end(b);
    }
    kb_end(b); /* b */
    kb_end(b); /* step */

    /* Y_h[d] = h, Y_c[d] = c (0 for an empty sequence) */
    int want_h = q->n->nout > 1 && q->n->out[1] != VNONE, want_c = lstm && q->n->nout > 2 && q->n->out[2] != VNONE;
    if (!want_h && !want_c)
        return;
    kb_comment(b, "final state");
    bb = kb_v(b, kb_for(b, "b", B));
    j = kb_v(b, kb_for(b, "j", H));
    Expr *oc[3] = {layout ? bb : dd, layout ? dd : bb, j};
    Expr *empty = NULL;
    if (has_seq) {
        Expr *sc[1] = {bb};
        empty = BIN(B_LE, lw_load(L, q->n->in[4], sc), ke_int(a, DT_I32, 0));
    }
    Expr *hv = ke_load(a, p, q->h, state_at(q, bb, j));
    out_store(q, 1, oc, empty ? ke_select(a, empty, K(0), hv) : hv);
    if (want_c) {
        Expr *cv = ke_load(a, p, q->c, state_at(q, bb, j));
        out_store(q, 2, oc, empty ? ke_select(a, empty, K(0), cv) : cv);
    }
    kb_end(b);
    kb_end(b);
}

/* Lower an LSTM, GRU or RNN node: its scratch, then each direction. */
static int lower_recurrent(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    const Rnn *rn = n->attrs;
    RnnLower q = {L, n, rn, g->values[n->in[0]].dtype, -1, -1, -1, -1, -1, -1};
    Shape bh = {2, {rn->batch, rn->hidden}}, gs = {1, {rn->ngates * rn->hidden}}, hs = {1, {rn->hidden}};
    q.h = lw_temp(L, "h", q.t, &bh);
    if (rn->op == OP_LSTM)
        q.c = lw_temp(L, "c", q.t, &bh);
    q.gates = lw_temp(L, "gates", q.t, &gs);
    if (rn->op == OP_GRU)
        q.hr = lw_temp(L, "hr", q.t, &hs);
    if (rn->op == OP_GRU && !rn->linear_before_reset)
        q.rh = lw_temp(L, "rh", q.t, &hs);
    /* the input part of every step ahead of the recurrence, unless that
     * scratch would be large (then each step computes its own) */
    int64_t tb, xw_elems;
    if (!ck_mul(rn->seq, rn->batch, &tb) && !ck_mul(tb, rn->ngates * rn->hidden, &xw_elems) &&
        xw_elems <= RNN_XW_MAX_ELEMS) {
        Shape xs = {3, {rn->seq, rn->batch, rn->ngates * rn->hidden}};
        q.xw = lw_temp(L, "xw", q.t, &xs);
    }
    for (int dir = 0; dir < rn->dirs; dir++)
        lower_direction(&q, dir);
    return 0;
}

int lower_lstm(Lower *L, Node *n)
{
    return lower_recurrent(L, n);
}

int lower_gru(Lower *L, Node *n)
{
    return lower_recurrent(L, n);
}

int lower_rnn(Lower *L, Node *n)
{
    return lower_recurrent(L, n);
}
