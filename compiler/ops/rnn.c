/*
 * rnn.c: LSTM.
 *
 * One LSTM layer over X [seq, batch, input] (layout 0; layout 1 swaps seq
 * and batch in X, Y, initial_* and Y_*), per direction d:
 *
 *   gates = W[d] x_t + R[d] h + Wb[d] + Rb[d]         (4 * hidden: i, o, f, c)
 *   i = f(gi + Pi c)   f = f(gf + Pf c)  (or 1 - i with input_forget)
 *   c = f c + i g(gc)  o = f(go + Po c)  h = o h(c)
 *
 * f, g, h default to Sigmoid, Tanh, Tanh; `activations` names 3 per
 * direction, whose alphas and betas are taken in order from
 * activation_alpha/beta by the functions that have them (defaults as the
 * ONNX operators of the same name). `clip` bounds the gate pre-activations
 * (not the cell state, as onnxruntime does). The reverse direction (and the
 * second of bidirectional) runs from the last step to the first.
 *
 * sequence_lens: batch entry b runs len[b] steps (the reverse direction
 * starts at len[b] - 1); Y is 0 past them, and Y_h, Y_c are the state after
 * the last one (0 when len[b] is 0, as onnxruntime).
 *
 * Lowering (OPF_NOEPI: outputs are stored as they are produced). The state
 * lives in kernel scratch h, c [batch, hidden], the gate pre-activations of
 * one batch entry in gates [4 * hidden]; per direction:
 *
 *     h, c = initial_h, initial_c
 *     for step: for b: t = step or its reverse
 *         for g in 4H: gates[g] = bias + sum_k x[t,b,k] W[g,k] + sum_k h[b,k] R[g,k]
 *         for j in H:  c[b,j], h[b,j] = cell(gates, c[b,j]); Y[t,d,b,j] = h[b,j]
 *     Y_h[d] = h; Y_c[d] = c
 */
#include "op.h"

#include <string.h>
#include <strings.h>

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

/* An LSTM node's shapes and attributes. */
typedef struct Lstm {
    int64_t seq, batch, input, hidden; /* T, B, I, H */
    int dirs;                          /* 1, or 2 when bidirectional */
    int reverse;                       /* direction "reverse" */
    int layout;                        /* 0: [seq, batch, ...]; 1: [batch, seq, ...] */
    int input_forget;                  /* f = 1 - i */
    int has_clip;
    double clip;                       /* bound of the gate pre-activations */
    Fn fn[2][3];                       /* f, g, h of each direction */
} Lstm;


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

/* The activations of the node (3 per direction): names, then alphas and
 * betas consumed in order by the functions that take them. */
static int read_acts(Graph *g, Node *n, Lstm *ls, Diag *d)
{
    const Attr *names = node_attr(n, "activations");
    double alpha[64], beta[64];
    int na, nb;
    if (attr_floats(g, n, "activation_alpha", alpha, 64, &na, d) ||
        attr_floats(g, n, "activation_beta", beta, 64, &nb, d))
        return 1;
    static const Act defaults[3] = {ACT_SIGMOID, ACT_TANH, ACT_TANH};
    int count = 3 * ls->dirs;
    if (names && names->kind != ATTR_STRINGS)
        return diag_node(d, g, n, "attribute 'activations' must be a list of strings");
    if (names && names->n != count)
        return diag_node(d, g, n, "attribute 'activations' has %d functions, expected %d (f, g, h per direction)",
                         names->n, count);
    int ia = 0, ib = 0;
    for (int k = 0; k < count; k++) {
        Fn *f = &ls->fn[k / 3][k % 3];
        if (!names) {
            f->act = defaults[k % 3];
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

/* Read and check an LSTM node. */
static int lstm_read(Graph *g, Node *n, Lstm *ls, Diag *d)
{
    const Value *x = op_in(g, n, 0), *w = op_in(g, n, 1), *r = op_in(g, n, 2);
    int64_t hidden, layout, input_forget;
    const char *dir;
    char xs[160];
    memset(ls, 0, sizeof *ls);
    if (!w || !r)
        return diag_node(d, g, n, "inputs W and R are required");
    if (op_check_dtype(g, n, 0, op_float_types, d))
        return 1;
    for (int i = 1; i < 8; i++)
        if (i != 4 && op_same_dtype(g, n, 0, i, d))
            return 1;
    if (n->opset < 14 && node_attr(n, "layout"))
        return diag_node(d, g, n, "attribute 'layout' needs opset 14 (the model imports opset %d)", n->opset);
    if (attr_int(g, n, "hidden_size", 0, &hidden, d) || attr_int(g, n, "layout", 0, &layout, d) ||
        attr_int(g, n, "input_forget", 0, &input_forget, d) || attr_str(g, n, "direction", "forward", &dir, d) ||
        attr_float(g, n, "clip", 0, &ls->clip, d))
        return 1;
    if (layout != 0 && layout != 1)
        return diag_node(d, g, n, "attribute 'layout' is %lld, expected 0 or 1", (long long)layout);
    ls->layout = (int)layout;
    ls->input_forget = input_forget != 0;
    ls->has_clip = node_attr(n, "clip") != NULL;
    if (ls->has_clip && !(ls->clip > 0))
        return diag_node(d, g, n, "attribute 'clip' is %g, expected a positive threshold", ls->clip);
    if (!strcmp(dir, "forward") || !strcmp(dir, "reverse"))
        ls->dirs = 1;
    else if (!strcmp(dir, "bidirectional"))
        ls->dirs = 2;
    else
        return diag_node(d, g, n, "unknown direction '%s' (forward, reverse or bidirectional)", dir);
    ls->reverse = !strcmp(dir, "reverse");

    if (x->shape.rank != 3)
        return diag_node(d, g, n, "X has shape %s, expected rank 3", shape_str(&x->shape, xs, sizeof xs));
    ls->seq = x->shape.dim[layout ? 1 : 0];
    ls->batch = x->shape.dim[layout ? 0 : 1];
    ls->input = x->shape.dim[2];
    if (r->shape.rank != 3)
        return diag_node(d, g, n, "R has shape %s, expected [num_directions, 4*hidden, hidden]",
                         shape_str(&r->shape, xs, sizeof xs));
    ls->hidden = r->shape.dim[2];
    if (node_attr(n, "hidden_size") && hidden != ls->hidden)
        return diag_node(d, g, n, "hidden_size is %lld but R has shape %s", (long long)hidden,
                         shape_str(&r->shape, xs, sizeof xs));
    int64_t D = ls->dirs, H = ls->hidden, B = ls->batch;
    int64_t ws[3] = {D, 4 * H, ls->input}, rs[3] = {D, 4 * H, H}, bs[2] = {D, 8 * H}, ps[2] = {D, 3 * H};
    int64_t ss[1] = {B}, hs[3] = {layout ? B : D, layout ? D : B, H};
    if (want_shape(g, n, 2, "R", 3, rs, d) || want_shape(g, n, 1, "W", 3, ws, d) ||
        want_shape(g, n, 3, "B", 2, bs, d) || want_shape(g, n, 4, "sequence_lens", 1, ss, d) ||
        want_shape(g, n, 5, "initial_h", 3, hs, d) || want_shape(g, n, 6, "initial_c", 3, hs, d) ||
        want_shape(g, n, 7, "P", 2, ps, d))
        return 1;
    const Value *sl = op_in(g, n, 4);
    if (sl && sl->dtype != DT_I32)
        return diag_node(d, g, n, "sequence_lens has type %s, expected i32", dtype_name(sl->dtype));
    return read_acts(g, n, ls, d);
}

int infer_lstm(Graph *g, Node *n, Diag *d)
{
    Lstm ls;
    if (lstm_read(g, n, &ls, d))
        return 1;
    DType t = op_in(g, n, 0)->dtype;
    int64_t T = ls.seq, B = ls.batch, D = ls.dirs, H = ls.hidden;
    Shape y = ls.layout ? (Shape){4, {B, T, D, H}} : (Shape){4, {T, D, B, H}};
    Shape yh = ls.layout ? (Shape){3, {B, D, H}} : (Shape){3, {D, B, H}};
    op_set_out(g, n, 0, t, &y);
    op_set_out(g, n, 1, t, &yh);
    op_set_out(g, n, 2, t, &yh);
    return 0;
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
typedef struct LstmLower {
    Lower *L;
    Node *n;
    const Lstm *ls;
    DType t;
    int h, c, gates;      /* scratch: h, c [batch, hidden], gates [4 * hidden] */
} LstmLower;

/* Input i at coords, or NULL when absent. */
static Expr *opt_load(LstmLower *q, int i, Expr *const *coords)
{
    if (q->n->nin <= i || q->n->in[i] == VNONE)
        return NULL;
    return lw_load(q->L, q->n->in[i], coords);
}

/* Store value at coords of output i, if the node has it. */
static void out_store(LstmLower *q, int i, Expr *const *coords, Expr *value)
{
    if (q->n->nout <= i || q->n->out[i] == VNONE)
        return;
    KB *b = lw_kb(q->L);
    ValueId v = q->n->out[i];
    kb_store(b, lw_buf(q->L, v), kb_flat(b, &lw_graph(q->L)->values[v].shape, coords), value);
}

/* clip(x) of a gate pre-activation, bound to a local named `name`. */
static Expr *gate_let(LstmLower *q, const char *name, Expr *x)
{
    KB *b = lw_kb(q->L);
    Arena *a = lw_arena(q->L);
    DType t = q->t;
    if (q->ls->has_clip)
        x = BIN(B_MAX, BIN(B_MIN, x, K(q->ls->clip)), K(-q->ls->clip));
    return kb_v(b, kb_let(b, name, x));
}

/* The loop nests of direction d. */
static void lower_direction(LstmLower *q, int d)
{
    const Lstm *ls = q->ls;
    Lower *L = q->L;
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Program *p = b->p;
    DType t = q->t;
    int64_t T = ls->seq, B = ls->batch, I = ls->input, H = ls->hidden;
    int rev = ls->reverse || d == 1;
    int layout = ls->layout;
    Expr *dd = ke_idx(a, d);
    int has_seq = q->n->nin > 4 && q->n->in[4] != VNONE;
    const Fn *fn = ls->fn[d];

    /* h, c = initial_h[d], initial_c[d] (or 0) */
    kb_comment(b, arena_printf(a, "direction %d (%s): h, c [batch, hidden] = initial state", d, rev ? "reverse" : "forward"));
    Expr *bb = kb_v(b, kb_for(b, "b", B));
    Expr *j = kb_v(b, kb_for(b, "j", H));
    Expr *hc[3] = {layout ? bb : dd, layout ? dd : bb, j};
    Expr *st[2] = {bb, j};
    Shape bh = {2, {B, H}};
    Expr *h0 = opt_load(q, 5, hc), *c0 = opt_load(q, 6, hc);
    kb_store(b, q->h, kb_flat(b, &bh, st), h0 ? h0 : K(0));
    kb_store(b, q->c, kb_flat(b, &bh, st), c0 ? c0 : K(0));
    kb_end(b);
    kb_end(b);

    kb_comment(b, "for each time step and batch entry: gates, then the new cell and hidden state");
    Expr *step = kb_v(b, kb_for(b, "step", T));
    bb = kb_v(b, kb_for(b, "b", B));
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
    tt = kb_v(b, kb_let(b, "t", tt));

    kb_comment(b, "gates[g] = Wb[g] + Rb[g] + x[t, b, :] . W[d, g, :] + h[b, :] . R[d, g, :]  (g: i, o, f, c blocks)");
    Expr *gg = kb_v(b, kb_for(b, "g", 4 * H));
    Expr *wbc[2] = {dd, gg}, *rbc[2] = {dd, BIN(B_ADD, gg, ke_idx(a, 4 * H))};
    Expr *wb = opt_load(q, 3, wbc), *rb = opt_load(q, 3, rbc);
    int acc = kb_let(b, "acc", wb ? BIN(B_ADD, wb, rb) : K(0));
    Expr *k = kb_v(b, kb_for(b, "k", I));
    Expr *xc[3] = {layout ? bb : tt, layout ? tt : bb, k}, *wc[3] = {dd, gg, k};
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, lw_load(L, q->n->in[0], xc), lw_load(L, q->n->in[1], wc))));
    kb_end(b);
    k = kb_v(b, kb_for(b, "k", H));
    Expr *hk[2] = {bb, k}, *rc[3] = {dd, gg, k};
    Expr *hprev = ke_load(a, p, q->h, kb_flat(b, &bh, hk));
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, hprev, lw_load(L, q->n->in[2], rc))));
    kb_end(b);
    kb_store(b, q->gates, gg, kb_v(b, acc));
    kb_end(b);

    kb_comment(b, "cell: c = f c + i g(gc), h = o h(c); Y[t, d, b] = h");
    j = kb_v(b, kb_for(b, "j", H));
    st[0] = bb;
    st[1] = j;
    Expr *slot = kb_flat(b, &bh, st);
    Expr *cp = kb_v(b, kb_let(b, "c_prev", ke_load(a, p, q->c, slot)));
    Expr *gate[4];
    for (int i = 0; i < 4; i++)
        gate[i] = ke_load(a, p, q->gates, BIN(B_ADD, j, ke_idx(a, i * H)));
    Expr *pi_c[2] = {dd, j}, *po_c[2] = {dd, BIN(B_ADD, j, ke_idx(a, H))}, *pf_c[2] = {dd, BIN(B_ADD, j, ke_idx(a, 2 * H))};
    Expr *pi = opt_load(q, 7, pi_c), *po = opt_load(q, 7, po_c), *pf = opt_load(q, 7, pf_c);
    Expr *gi = gate_let(q, "gi", pi ? BIN(B_ADD, gate[0], BIN(B_MUL, pi, cp)) : gate[0]);
    Expr *ig = kb_v(b, kb_let(b, "i", activation(a, t, &fn[0], gi)));
    Expr *fg;
    if (ls->input_forget) {
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
    Expr *yc[4] = {layout ? bb : tt, layout ? tt : dd, layout ? dd : bb, j};
    out_store(q, 0, yc, hn);
    kb_end(b);

    if (has_seq) {
        /* past the sequence: Y[step] = 0 */
        kb_else(b);
        if (q->n->nout > 0 && q->n->out[0] != VNONE) {
            j = kb_v(b, kb_for(b, "j", H));
            Expr *zc[4] = {layout ? bb : step, layout ? step : dd, layout ? dd : bb, j};
            out_store(q, 0, zc, K(0));
            kb_end(b);
        }
        kb_end(b);
    }
    kb_end(b); /* b */
    kb_end(b); /* step */

    /* Y_h[d] = h, Y_c[d] = c (0 for an empty sequence) */
    int want_h = q->n->nout > 1 && q->n->out[1] != VNONE, want_c = q->n->nout > 2 && q->n->out[2] != VNONE;
    if (!want_h && !want_c)
        return;
    kb_comment(b, "final state");
    bb = kb_v(b, kb_for(b, "b", B));
    j = kb_v(b, kb_for(b, "j", H));
    st[0] = bb;
    st[1] = j;
    Expr *oc[3] = {layout ? bb : dd, layout ? dd : bb, j};
    Expr *empty = NULL;
    if (has_seq) {
        Expr *sc[1] = {bb};
        empty = BIN(B_LE, lw_load(L, q->n->in[4], sc), ke_int(a, DT_I32, 0));
    }
    Expr *hv = ke_load(a, p, q->h, kb_flat(b, &bh, st)), *cv = ke_load(a, p, q->c, kb_flat(b, &bh, st));
    out_store(q, 1, oc, empty ? ke_select(a, empty, K(0), hv) : hv);
    out_store(q, 2, oc, empty ? ke_select(a, empty, K(0), cv) : cv);
    kb_end(b);
    kb_end(b);
}

int lower_lstm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Lstm ls;
    Diag d = {.file = g->file};
    if (lstm_read(g, n, &ls, &d))
        return lw_error(L, n, "bad attributes or inputs (internal error)");
    LstmLower q = {L, n, &ls, g->values[n->in[0]].dtype, 0, 0, 0};
    Shape bh = {2, {ls.batch, ls.hidden}}, gs = {1, {4 * ls.hidden}};
    q.h = lw_temp(L, "h", q.t, &bh);
    q.c = lw_temp(L, "c", q.t, &bh);
    q.gates = lw_temp(L, "gates", q.t, &gs);
    for (int dir = 0; dir < ls.dirs; dir++)
        lower_direction(&q, dir);
    return 0;
}

/* ---------------------------------------------- PLACEHOLDERS, implemented next */

int infer_gru(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_gru(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}

int infer_rnn(Graph *g, Node *n, Diag *d)
{
    return diag_node(d, g, n, "not implemented yet");
}

int lower_rnn(Lower *L, Node *n)
{
    return lw_error(L, n, "not implemented yet");
}
