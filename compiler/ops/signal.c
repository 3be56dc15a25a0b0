/*
 * signal.c: HannWindow, HammingWindow, BlackmanWindow, DFT, STFT,
 * MelWeightMatrix, Einsum and Det.
 *
 * The signal ops compute in f64 and cast once when they store, as the ONNX
 * tests compute their expected outputs (numpy in double, then astype):
 *
 *   windows  y[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N),
 *            N = size (periodic) or size - 1 (symmetric)
 *   DFT      a direct O(N^2) sum along `axis`; the angle is taken from
 *            (k t) mod N so that it stays in [0, 2 pi):
 *              for (other dims) for k: re = im = 0
 *                  for t: (re, im) += x[t] e^(-+2 pi i (k t mod N) / N)
 *                  y[k] = (re, im)      (divided by N when inverse)
 *            The inverse one-sided transform (IRFFT) sums the Hermitian
 *            spectrum as numpy's irfft does: bin 0 and bin N/2 once (their
 *            imaginary parts drop out), bins 1 .. ceil(N/2)-1 twice.
 *   STFT     the same sum over each frame x[b, f*step + t] w[t].
 *   MelWeightMatrix  first the num_mel_bins + 2 band edges as spectrogram
 *            bins (kernel scratch, with the reference's float types and
 *            numpy's floor division), then each weight of the triangles.
 *
 * Einsum is one loop nest over the output labels (letters, and e0.. for
 * the dims an ellipsis stands for) with an accumulator and an inner nest
 * over the summed labels; a letter repeated in a term reads a diagonal, and
 * dims of extent 1 broadcast.
 *
 * Det runs Gaussian elimination with partial pivoting on an f64 copy of
 * each matrix (kernel scratch) and writes with kb_store (OPF_NOEPI).
 */
#include "op.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

static const DType float_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_UNDEF};
static const DType index_types[] = {DT_I32, DT_I64, DT_UNDEF};
/* output_datatype of the windows and MelWeightMatrix */
static const DType gen_types[] = {DT_U8, DT_U16, DT_U32, DT_U64, DT_I8, DT_I16, DT_I32,
                                  DT_I64, DT_F16, DT_F32, DT_F64, DT_BF16, DT_UNDEF};

static Expr *f64c(Arena *a, double v) { return ke_float(a, DT_F64, v); }
static Expr *bin(Arena *a, BinOp op, Expr *x, Expr *y) { return ke_bin(a, op, x, y); }

/* Scalar integer input i, read at compile time; *out = def when absent. */
static int const_scalar(Graph *g, Node *n, int i, const char *what, int64_t def, int64_t *out, Diag *d)
{
    const Value *v = op_in(g, n, i);
    int64_t x[1];
    int cnt;
    *out = def;
    if (!v)
        return 0;
    if (shape_numel(&v->shape) != 1)
        return diag_node(d, g, n, "%s must be a scalar, got %lld values", what,
                         (long long)shape_numel(&v->shape));
    if (op_const_ints(g, n, i, x, 1, &cnt, d))
        return 1;
    *out = x[0];
    return 0;
}

/* The output_datatype attribute (default f32). */
static int out_datatype(Graph *g, Node *n, DType *out, Diag *d)
{
    int64_t t;
    if (attr_int(g, n, "output_datatype", DT_F32, &t, d))
        return 1;
    for (const DType *ok = gen_types; *ok != DT_UNDEF; ok++)
        if (*ok == t) {
            *out = *ok;
            return 0;
        }
    return diag_node(d, g, n, "output_datatype %lld is not a supported type", (long long)t);
}

/* Element 0 of input i (a scalar or a one-element tensor). */
static Expr *load_scalar(Lower *L, Node *n, int i)
{
    return ke_load(lw_arena(L), lw_kb(L)->p, lw_buf(L, n->in[i]), ke_idx(lw_arena(L), 0));
}

/* --------------------------------------------------------------- windows */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct WindowParams {
    int64_t size;      /* window length */
    int periodic;      /* 1: N = size, 0: N = size - 1 */
    DType t;           /* output_datatype */
    double a0, a1, a2; /* y = a0 - a1 cos(x) + a2 cos(2x) */
} WindowParams;

static int window_params(Graph *g, Node *n, WindowParams *p, Diag *d)
{
    int64_t periodic;
    if (op_check_dtype(g, n, 0, index_types, d) || const_scalar(g, n, 0, "size", 0, &p->size, d) ||
        attr_int(g, n, "periodic", 1, &periodic, d) || out_datatype(g, n, &p->t, d))
        return 1;
    if (p->size < 0)
        return diag_node(d, g, n, "size must be >= 0, got %lld", (long long)p->size);
    p->periodic = periodic != 0;
    p->a2 = 0;
    if (n->op == OP_HANNWINDOW) {
        p->a0 = 0.5;
        p->a1 = 0.5;
    } else if (n->op == OP_HAMMINGWINDOW) {
        p->a0 = 25.0 / 46.0;
        p->a1 = 1 - p->a0;
    } else {
        p->a0 = 0.42;
        p->a1 = 0.5;
        p->a2 = 0.08;
    }
    return 0;
}

int infer_window(Graph *g, Node *n, Diag *d)
{
    WindowParams *p = op_attrs(g, n, sizeof *p);
    if (window_params(g, n, p, d))
        return 1;
    Shape s = {1, {p->size}};
    op_set_out(g, n, 0, p->t, &s);
    return 0;
}

int lower_window(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const WindowParams *p = n->attrs;
    double N = (double)(p->periodic ? p->size : p->size - 1);
    /* y[n], n < size */
    Expr *i = kb_v(b, kb_for(b, "n", p->size));
    Expr *x = ke_cast(a, DT_F64, i);
    Expr *c1 = ke_un(a, U_COS, bin(a, B_DIV, bin(a, B_MUL, f64c(a, 2 * PI), x), f64c(a, N)));
    Expr *v = bin(a, B_SUB, f64c(a, p->a0), bin(a, B_MUL, f64c(a, p->a1), c1));
    if (p->a2 != 0) {
        Expr *c2 = ke_un(a, U_COS, bin(a, B_DIV, bin(a, B_MUL, f64c(a, 4 * PI), x), f64c(a, N)));
        v = bin(a, B_ADD, v, bin(a, B_MUL, f64c(a, p->a2), c2));
    }
    lw_store(L, n, 0, &i, ke_cast(a, p->t, v));
    kb_end(b);
    return 0;
}

/* ------------------------------------------------------------ DFT, STFT */

/* One term of a DFT sum: (re, im) += w (xr + i xi) e^(i theta), with
 * theta = sign 2 pi ((k t) mod N) / N. xi and w may be NULL (0 and 1); im
 * may be -1 (only the real part is wanted). */
static void dft_term(KB *b, int re, int im, Expr *xr, Expr *xi, Expr *k, Expr *t, int64_t N, int sign, Expr *w)
{
    Arena *a = b->a;
    Expr *m = bin(a, B_MOD, bin(a, B_MUL, k, t), ke_idx(a, N));
    Expr *theta = bin(a, B_DIV, bin(a, B_MUL, f64c(a, sign * 2 * PI), ke_cast(a, DT_F64, m)), f64c(a, (double)N));
    Expr *th = kb_v(b, kb_let(b, "theta", theta));
    Expr *c = kb_v(b, kb_let(b, "c", ke_un(a, U_COS, th)));
    Expr *s = kb_v(b, kb_let(b, "s", ke_un(a, U_SIN, th)));
    Expr *yr = bin(a, B_MUL, xr, c), *yi = bin(a, B_MUL, xr, s);
    if (xi) {
        yr = bin(a, B_SUB, yr, bin(a, B_MUL, xi, s));
        yi = bin(a, B_ADD, yi, bin(a, B_MUL, xi, c));
    }
    if (w) {
        yr = bin(a, B_MUL, w, yr);
        yi = bin(a, B_MUL, w, yi);
    }
    kb_assign(b, re, bin(a, B_ADD, kb_v(b, re), yr));
    if (im >= 0)
        kb_assign(b, im, bin(a, B_ADD, kb_v(b, im), yi));
}

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct DftParams {
    int axis;       /* transformed dim of x (not the last) */
    int64_t len;    /* dft_length N */
    int inverse;
    int onesided;
    int64_t in_len; /* x's extent along axis */
    int in_c;       /* last dim of x: 1 real, 2 complex */
    Shape out;
} DftParams;

static int dft_params(Graph *g, Node *n, DftParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t inverse, onesided, axis;
    if (op_check_dtype(g, n, 0, float_types, d) || op_check_dtype(g, n, 1, index_types, d) ||
        attr_int(g, n, "inverse", 0, &inverse, d) || attr_int(g, n, "onesided", 0, &onesided, d))
        return 1;
    int r = x->shape.rank;
    if (r < 2)
        return diag_node(d, g, n, "input must have rank >= 2 ([signal dims..., 1 or 2]), got rank %d", r);
    p->in_c = (int)x->shape.dim[r - 1];
    if (x->shape.dim[r - 1] != 1 && x->shape.dim[r - 1] != 2)
        return diag_node(d, g, n, "the last dim of the input must be 1 (real) or 2 (complex), got %lld",
                         (long long)x->shape.dim[r - 1]);
    if (n->opset < 20) {
        if (op_in(g, n, 2))
            return diag_node(d, g, n, "DFT before opset 20 takes axis as an attribute, not an input");
        if (attr_int(g, n, "axis", 1, &axis, d))
            return 1;
    } else if (op_check_dtype(g, n, 2, index_types, d) || const_scalar(g, n, 2, "axis", -2, &axis, d)) {
        return 1;
    }
    if (axis < -r || axis > r - 2 || axis == -1)
        return diag_node(d, g, n, "axis %lld is out of range [-%d, -2] or [0, %d]", (long long)axis, r, r - 2);
    p->axis = (int)(axis < 0 ? axis + r : axis);
    p->inverse = inverse != 0;
    p->onesided = onesided != 0;
    p->in_len = x->shape.dim[p->axis];
    int64_t def = p->inverse && p->onesided ? 2 * (p->in_len - 1) : p->in_len;
    if (const_scalar(g, n, 1, "dft_length", def, &p->len, d))
        return 1;
    if (p->len < 1)
        return diag_node(d, g, n, "dft_length must be >= 1, got %lld", (long long)p->len);
    int64_t kt; /* the lowering forms k * t, k < dft_length, t < the input's extent */
    if (ck_mul(p->len, p->in_len, &kt))
        return diag_node(d, g, n, "dft_length %lld times the signal length %lld overflows", (long long)p->len,
                         (long long)p->in_len);
    p->out = x->shape;
    p->out.dim[p->axis] = p->onesided && !p->inverse ? p->len / 2 + 1 : p->len;
    p->out.dim[r - 1] = p->onesided && p->inverse ? 1 : 2;
    return 0;
}

int infer_dft(Graph *g, Node *n, Diag *d)
{
    DftParams *p = op_attrs(g, n, sizeof *p);
    if (dft_params(g, n, p, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &p->out);
    return 0;
}

int lower_dft(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const DftParams *p = n->attrs;
    DType t = g->values[n->out[0]].dtype;
    int r = p->out.rank, irfft = p->inverse && p->onesided;
    Expr *oc[KILN_MAX_RANK], *ic[KILN_MAX_RANK];
    /* forward: y[.., k, .., :] = sum_t x[.., t, .., :] e^(-2 pi i k t / N)
     * inverse: y[.., t, .., :] = 1/N sum_k x[.., k, .., :] e^(2 pi i k t / N) */
    for (int i = 0; i < r - 1; i++) {
        const char *name = i != p->axis ? arena_printf(a, "i%d", i) : p->inverse ? "t" : "k";
        oc[i] = kb_v(b, kb_for(b, name, p->out.dim[i]));
    }
    int re = kb_let(b, "re", f64c(a, 0));
    int im = irfft ? -1 : kb_let(b, "im", f64c(a, 0));
    /* bins past N/2 of a one-sided spectrum are the conjugates of those before */
    int64_t terms = irfft ? p->len / 2 + 1 : p->len;
    if (terms > p->in_len)
        terms = p->in_len; /* the rest is zero padding */
    Expr *j = kb_v(b, kb_for(b, p->inverse ? "k" : "t", terms));
    memcpy(ic, oc, sizeof ic);
    ic[p->axis] = j;
    ic[r - 1] = ke_idx(a, 0);
    Expr *xr = ke_cast(a, DT_F64, lw_load(L, n->in[0], ic)), *xi = NULL;
    if (p->in_c == 2) {
        ic[r - 1] = ke_idx(a, 1);
        xi = ke_cast(a, DT_F64, lw_load(L, n->in[0], ic));
    }
    Expr *w = NULL;
    if (irfft) {
        Expr *once = bin(a, B_OR, bin(a, B_EQ, j, ke_idx(a, 0)),
                         bin(a, B_EQ, bin(a, B_MUL, j, ke_idx(a, 2)), ke_idx(a, p->len)));
        w = ke_select(a, once, f64c(a, 1), f64c(a, 2));
    }
    dft_term(b, re, im, xr, xi, oc[p->axis], j, p->len, p->inverse ? 1 : -1, w);
    kb_end(b);
    Expr *vr = kb_v(b, re), *vi = im >= 0 ? kb_v(b, im) : NULL;
    if (p->inverse) {
        vr = bin(a, B_DIV, vr, f64c(a, (double)p->len));
        if (vi)
            vi = bin(a, B_DIV, vi, f64c(a, (double)p->len));
    }
    oc[r - 1] = ke_idx(a, 0);
    lw_store(L, n, 0, oc, ke_cast(a, t, vr));
    if (vi) {
        oc[r - 1] = ke_idx(a, 1);
        lw_store(L, n, 0, oc, ke_cast(a, t, vi));
    }
    for (int i = 0; i < r - 1; i++)
        kb_end(b);
    return 0;
}

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct StftParams {
    int64_t batch, sig_len; /* signal [batch, sig_len, in_c] */
    int in_c;               /* 1 real, 2 complex */
    int64_t step;           /* frame_step */
    int64_t frame_len;      /* frame_length, the DFT size */
    int64_t frames;         /* (sig_len - frame_len) / step + 1 */
    int64_t bins;           /* frame_len / 2 + 1 (onesided) or frame_len */
} StftParams;

static int stft_params(Graph *g, Node *n, StftParams *p, Diag *d)
{
    const Value *x = op_in(g, n, 0), *w = op_in(g, n, 2);
    int64_t onesided, flen;
    if (op_check_dtype(g, n, 0, float_types, d) || op_same_dtype(g, n, 0, 2, d) ||
        op_check_dtype(g, n, 1, index_types, d) || op_check_dtype(g, n, 3, index_types, d) ||
        attr_int(g, n, "onesided", 1, &onesided, d))
        return 1;
    if (x->shape.rank != 3)
        return diag_node(d, g, n, "signal must have rank 3 ([batch, length, 1 or 2]), got rank %d", x->shape.rank);
    if (x->shape.dim[2] != 1 && x->shape.dim[2] != 2)
        return diag_node(d, g, n, "the last dim of the signal must be 1 (real) or 2 (complex), got %lld",
                         (long long)x->shape.dim[2]);
    p->batch = x->shape.dim[0];
    p->sig_len = x->shape.dim[1];
    p->in_c = (int)x->shape.dim[2];
    if (w && w->shape.rank != 1)
        return diag_node(d, g, n, "window must be 1-D, got rank %d", w->shape.rank);
    if (!op_in(g, n, 1))
        return diag_node(d, g, n, "frame_step is required");
    if (const_scalar(g, n, 1, "frame_step", 0, &p->step, d) || const_scalar(g, n, 3, "frame_length", -1, &flen, d))
        return 1;
    if (p->step < 1)
        return diag_node(d, g, n, "frame_step must be >= 1, got %lld", (long long)p->step);
    if (op_in(g, n, 3) && w && flen != w->shape.dim[0])
        return diag_node(d, g, n, "frame_length %lld differs from the window's length %lld", (long long)flen,
                         (long long)w->shape.dim[0]);
    p->frame_len = op_in(g, n, 3) ? flen : w ? w->shape.dim[0] : p->sig_len;
    if (p->frame_len < 1 || p->frame_len > p->sig_len)
        return diag_node(d, g, n, "frame_length %lld is outside [1, signal length %lld]", (long long)p->frame_len,
                         (long long)p->sig_len);
    p->frames = (p->sig_len - p->frame_len) / p->step + 1;
    p->bins = onesided ? p->frame_len / 2 + 1 : p->frame_len;
    int64_t kt; /* the lowering forms k * t, both below frame_length */
    if (ck_mul(p->frame_len, p->frame_len, &kt))
        return diag_node(d, g, n, "frame_length %lld is too large", (long long)p->frame_len);
    return 0;
}

int infer_stft(Graph *g, Node *n, Diag *d)
{
    StftParams *p = op_attrs(g, n, sizeof *p);
    if (stft_params(g, n, p, d))
        return 1;
    Shape s = {4, {p->batch, p->frames, p->bins, 2}};
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &s);
    return 0;
}

int lower_stft(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const StftParams *p = n->attrs;
    DType t = g->values[n->out[0]].dtype;
    /* y[b, f, k, :] = sum_t x[b, f*step + t, :] w[t] e^(-2 pi i k t / frame_length) */
    Expr *bv = kb_v(b, kb_for(b, "b", p->batch));
    Expr *f = kb_v(b, kb_for(b, "f", p->frames));
    Expr *k = kb_v(b, kb_for(b, "k", p->bins));
    int re = kb_let(b, "re", f64c(a, 0)), im = kb_let(b, "im", f64c(a, 0));
    Expr *tv = kb_v(b, kb_for(b, "t", p->frame_len));
    Expr *ic[3] = {bv, bin(a, B_ADD, bin(a, B_MUL, f, ke_idx(a, p->step)), tv), ke_idx(a, 0)};
    Expr *xr = ke_cast(a, DT_F64, lw_load(L, n->in[0], ic)), *xi = NULL;
    if (p->in_c == 2) {
        ic[2] = ke_idx(a, 1);
        xi = ke_cast(a, DT_F64, lw_load(L, n->in[0], ic));
    }
    if (op_in(g, n, 2)) {
        Expr *wv = kb_v(b, kb_let(b, "w", ke_cast(a, DT_F64, lw_load(L, n->in[2], &tv))));
        xr = bin(a, B_MUL, xr, wv);
        if (xi)
            xi = bin(a, B_MUL, xi, wv);
    }
    dft_term(b, re, im, xr, xi, k, tv, p->frame_len, -1, NULL);
    kb_end(b);
    Expr *oc[4] = {bv, f, k, ke_idx(a, 0)};
    lw_store(L, n, 0, oc, ke_cast(a, t, kb_v(b, re)));
    oc[3] = ke_idx(a, 1);
    lw_store(L, n, 0, oc, ke_cast(a, t, kb_v(b, im)));
    kb_end(b);
    kb_end(b);
    kb_end(b);
    return 0;
}

/* ------------------------------------------------------- MelWeightMatrix */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct MelParams {
    int64_t mel_bins; /* num_mel_bins */
    int64_t dft_len;  /* dft_length */
    DType t;          /* output_datatype */
} MelParams;

static int mel_params(Graph *g, Node *n, MelParams *p, Diag *d)
{
    static const char *names[] = {"num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz",
                                  "upper_edge_hertz"};
    for (int i = 0; i < 5; i++) {
        const Value *v = op_in(g, n, i);
        if (!v)
            return diag_node(d, g, n, "input %s is required", names[i]);
        if (op_check_dtype(g, n, i, i < 3 ? index_types : float_types, d))
            return 1;
        if (shape_numel(&v->shape) != 1)
            return diag_node(d, g, n, "%s must be a scalar, got %lld values", names[i],
                             (long long)shape_numel(&v->shape));
    }
    if (op_same_dtype(g, n, 3, 4, d) || out_datatype(g, n, &p->t, d) ||
        const_scalar(g, n, 0, names[0], 0, &p->mel_bins, d) || const_scalar(g, n, 1, names[1], 0, &p->dft_len, d))
        return 1;
    if (p->mel_bins < 0)
        return diag_node(d, g, n, "num_mel_bins must be >= 0, got %lld", (long long)p->mel_bins);
    if (p->dft_len < 1)
        return diag_node(d, g, n, "dft_length must be >= 1, got %lld", (long long)p->dft_len);
    /* the lowering keeps num_mel_bins + 2 band edges */
    if (p->mel_bins > KILN_MAX_BYTES)
        return diag_node(d, g, n, "num_mel_bins %lld is too large", (long long)p->mel_bins);
    return 0;
}

int infer_melweightmatrix(Graph *g, Node *n, Diag *d)
{
    MelParams *p = op_attrs(g, n, sizeof *p);
    if (mel_params(g, n, p, d))
        return 1;
    Shape s = {2, {p->dft_len / 2 + 1, p->mel_bins}};
    op_set_out(g, n, 0, p->t, &s);
    return 0;
}

/* log1p(x) of an f64 x, accurate to a few ulps (Goldberg): x if 1 + x
 * rounds to 1, else log(u) x / (u - 1) with u = 1 + x. */
static Expr *log1p_f64(KB *b, Expr *x)
{
    Arena *a = b->a;
    Expr *u = kb_v(b, kb_let(b, "u", bin(a, B_ADD, f64c(a, 1), x)));
    Expr *r = bin(a, B_DIV, bin(a, B_MUL, ke_un(a, U_LOG, u), x), bin(a, B_SUB, u, f64c(a, 1)));
    return ke_select(a, bin(a, B_EQ, u, f64c(a, 1)), x, r);
}

/* expm1(x) of an f64 x (Kahan): x if e^x rounds to 1, -1 if e^x - 1 does,
 * e^x itself if infinite, else (u - 1) x / log(u) with u = e^x. */
static Expr *expm1_f64(KB *b, Expr *x)
{
    Arena *a = b->a;
    Expr *u = kb_v(b, kb_let(b, "u", ke_un(a, U_EXP, x)));
    Expr *um1 = bin(a, B_SUB, u, f64c(a, 1));
    Expr *r = bin(a, B_DIV, bin(a, B_MUL, um1, x), ke_un(a, U_LOG, u));
    r = ke_select(a, ke_un(a, U_ISINF, u), u, r);
    r = ke_select(a, bin(a, B_EQ, um1, f64c(a, -1)), f64c(a, -1), r);
    return ke_select(a, bin(a, B_EQ, u, f64c(a, 1)), x, r);
}

/* 2595 log10(1 + hz / 700) as the reference computes it from an edge of
 * float type T: hz / 700, log1p and the product by 2595 in T (f32 for
 * every type but f64), the division by log(10) in f64. */
static Expr *hz_to_mel(KB *b, Expr *hz)
{
    Arena *a = b->a;
    DType ct = hz->type == DT_F64 ? DT_F64 : DT_F32;
    Expr *r = kb_v(b, kb_let(b, "ratio", bin(a, B_DIV, ke_cast(a, ct, hz), ke_float(a, ct, 700))));
    Expr *lp = ke_cast(a, ct, log1p_f64(b, ke_cast(a, DT_F64, r)));
    Expr *m = bin(a, B_MUL, ke_float(a, ct, 2595), lp);
    return bin(a, B_DIV, ke_cast(a, DT_F64, m), f64c(a, log(10.0)));
}

/* numpy's floor division of f64 x by y (npy_divmod): the quotient of
 * x - fmod(x, y), one less when the remainder's sign differs from y's,
 * rounded to the nearest integer. */
static Expr *floor_div(KB *b, Expr *x, Expr *y)
{
    Arena *a = b->a;
    Expr *zero = f64c(a, 0);
    Expr *mod = kb_v(b, kb_let(b, "mod", bin(a, B_MOD, x, y)));
    Expr *q = bin(a, B_DIV, bin(a, B_SUB, x, mod), y);
    Expr *fix = bin(a, B_AND, bin(a, B_NE, mod, zero), bin(a, B_XOR, bin(a, B_LT, y, zero), bin(a, B_LT, mod, zero)));
    Expr *div = kb_v(b, kb_let(b, "div", ke_select(a, fix, bin(a, B_SUB, q, f64c(a, 1)), q)));
    Expr *fl = kb_v(b, kb_let(b, "fl", ke_un(a, U_FLOOR, div)));
    return ke_select(a, bin(a, B_GT, bin(a, B_SUB, div, fl), f64c(a, 0.5)), bin(a, B_ADD, fl, f64c(a, 1)), fl);
}

int lower_melweightmatrix(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const MelParams *p = n->attrs;
    int64_t nedge = p->mel_bins + 2, spec_bins = p->dft_len / 2 + 1;
    Shape es = {1, {nedge}};
    int edge = lw_temp(L, "edge_bin", DT_I64, &es);

    /* the band edges, evenly spaced in mel from lower to upper edge */
    Expr *low = kb_v(b, kb_let(b, "low_mel", hz_to_mel(b, load_scalar(L, n, 3))));
    Expr *high = kb_v(b, kb_let(b, "high_mel", hz_to_mel(b, load_scalar(L, n, 4))));
    Expr *step = kb_v(b, kb_let(b, "mel_step", bin(a, B_DIV, bin(a, B_SUB, high, low), f64c(a, (double)nedge))));
    Expr *rate = kb_v(b, kb_let(b, "rate", ke_cast(a, DT_F64, load_scalar(L, n, 2))));
    /* edge_bin[m] = floor((dft_length + 1) hz(m) / sample_rate), m < num_mel_bins + 2 */
    Expr *m = kb_v(b, kb_for(b, "m", nedge));
    Expr *mel = kb_v(b, kb_let(b, "mel", bin(a, B_ADD, bin(a, B_MUL, ke_cast(a, DT_F64, m), step), low)));
    Expr *e = kb_v(b, kb_let(b, "x", bin(a, B_MUL, bin(a, B_DIV, mel, f64c(a, 2595)), f64c(a, log(10.0)))));
    Expr *hz = bin(a, B_MUL, f64c(a, 700), expm1_f64(b, e));
    Expr *pos = kb_v(b, kb_let(b, "pos", bin(a, B_MUL, f64c(a, (double)(p->dft_len + 1)), hz)));
    kb_store(b, edge, m, ke_cast(a, DT_I64, floor_div(b, pos, rate)));
    kb_end(b);

    /* y[j, i], j < dft_length/2 + 1, i < num_mel_bins: band i rises from
     * edge i to 1 at edge i+1 and falls to edge i+2 (bins past the peak
     * take the falling side) */
    Expr *j = kb_v(b, kb_for(b, "j", spec_bins));
    Expr *i = kb_v(b, kb_for(b, "i", p->mel_bins));
    Expr *left = kb_v(b, kb_let(b, "left", ke_load(a, b->p, edge, i)));
    Expr *center = kb_v(b, kb_let(b, "center", ke_load(a, b->p, edge, bin(a, B_ADD, i, ke_idx(a, 1)))));
    Expr *right = kb_v(b, kb_let(b, "right", ke_load(a, b->p, edge, bin(a, B_ADD, i, ke_idx(a, 2)))));
    Expr *jj = kb_v(b, kb_let(b, "bin", ke_cast(a, DT_I64, j)));
    Expr *zero = ke_int(a, DT_I64, 0);
    Expr *lc = bin(a, B_SUB, center, left), *ch = bin(a, B_SUB, right, center);
    Expr *rise = bin(a, B_AND, bin(a, B_NE, lc, zero),
                     bin(a, B_AND, bin(a, B_LE, left, jj), bin(a, B_LE, jj, center)));
    Expr *fall = bin(a, B_AND, bin(a, B_GT, ch, zero),
                     bin(a, B_AND, bin(a, B_LE, center, jj), bin(a, B_LT, jj, right)));
    Expr *peak = bin(a, B_AND, bin(a, B_EQ, lc, zero), bin(a, B_EQ, jj, center));
    Expr *up = bin(a, B_DIV, ke_cast(a, DT_F64, bin(a, B_SUB, jj, left)), ke_cast(a, DT_F64, lc));
    Expr *down = bin(a, B_DIV, ke_cast(a, DT_F64, bin(a, B_SUB, right, jj)), ke_cast(a, DT_F64, ch));
    Expr *v = ke_select(a, fall, down, ke_select(a, rise, up, ke_select(a, peak, f64c(a, 1), f64c(a, 0))));
    Expr *oc[2] = {j, i};
    lw_store(L, n, 0, oc, ke_cast(a, p->t, v));
    kb_end(b);
    kb_end(b);
    return 0;
}

/* ---------------------------------------------------------------- Einsum */

enum { ES_MAX_IN = 32, ES_MAX_LABELS = 64, ES_MAX_EQ = 1024 };

/* An equation resolved against the operand shapes. Labels are the loop
 * variables: the dims an ellipsis stands for (0 .. nell-1, right-aligned
 * across operands) and then the letters, in order of appearance.
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct Einsum {
    int nterms;                          /* operands */
    int label[ES_MAX_IN][KILN_MAX_RANK]; /* label of each dim of each operand */
    int nlabels;
    int nell;                            /* dims the ellipsis stands for */
    char name[ES_MAX_LABELS][8];         /* the letter, or e0, e1.. */
    int64_t extent[ES_MAX_LABELS];
    int nout, out[KILN_MAX_RANK];        /* output labels, outermost first */
    int nsum, sum[ES_MAX_LABELS];        /* summed labels */
} Einsum;

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Split the term [s, e) into letters, with '.' standing for its one
 * ellipsis: *out_n chars into out[KILN_MAX_RANK + 1]. */
static int es_term(Graph *g, Node *n, const char *s, const char *e, const char *what, char *out, int *out_n,
                   Diag *d)
{
    int k = 0, ell = 0;
    const char *start = s;
    while (s < e) {
        if (*s == '.') {
            if (e - s < 3 || s[1] != '.' || s[2] != '.')
                return diag_node(d, g, n, "%s ('%.*s') has a '.' that is not part of '...'", what,
                                 (int)(e - start), start);
            if (ell++)
                return diag_node(d, g, n, "%s ('%.*s') has more than one ellipsis", what, (int)(e - start),
                                 start);
            out[k++] = '.';
            s += 3;
            continue;
        }
        if (!is_letter(*s))
            return diag_node(d, g, n, "unexpected character '%c' in %s ('%.*s')", *s, what, (int)(e - start),
                             start);
        if (k - ell >= KILN_MAX_RANK)
            return diag_node(d, g, n, "%s ('%.*s') has more than %d letters", what, (int)(e - start), start,
                             KILN_MAX_RANK);
        out[k++] = *s++;
    }
    *out_n = k;
    return 0;
}

/* Dim `dim` of an operand read at label l: extents must agree, except 1. */
static int es_extent(Graph *g, Node *n, Einsum *es, int l, int64_t dim, Diag *d)
{
    if (dim == 1)
        return 0;
    if (es->extent[l] != 1 && es->extent[l] != dim)
        return diag_node(d, g, n, "label '%s' has extents %lld and %lld", es->name[l],
                         (long long)es->extent[l], (long long)dim);
    es->extent[l] = dim;
    return 0;
}

static int es_parse(Graph *g, Node *n, Einsum *es, Diag *d)
{
    const char *eq;
    char buf[ES_MAX_EQ];
    int len = 0;
    if (attr_str(g, n, "equation", NULL, &eq, d))
        return 1;
    if (!eq)
        return diag_node(d, g, n, "the equation attribute is missing");
    for (const char *s = eq; *s; s++) {
        if (*s == ' ')
            continue;
        if (len + 1 >= ES_MAX_EQ)
            return diag_node(d, g, n, "the equation is longer than %d characters", ES_MAX_EQ - 1);
        buf[len++] = *s;
    }
    buf[len] = 0;
    char *arrow = strstr(buf, "->");
    const char *lhs_end = arrow ? arrow : buf + len;
    if (arrow && strstr(arrow + 2, "->"))
        return diag_node(d, g, n, "equation '%s' has more than one '->'", eq);

    memset(es, 0, sizeof *es);
    int nterms = 1;
    for (const char *s = buf; s < lhs_end; s++)
        nterms += *s == ',';
    if (nterms != n->nin)
        return diag_node(d, g, n, "equation '%s' has %d operand terms but the node has %d inputs", eq, nterms,
                         n->nin);
    if (nterms > ES_MAX_IN)
        return diag_node(d, g, n, "at most %d operands are supported", ES_MAX_IN);
    es->nterms = nterms;

    /* split the terms; the ellipsis stands for the most dims any term gives it */
    char chars[ES_MAX_IN][KILN_MAX_RANK + 1];
    int nchars[ES_MAX_IN], ell_rank[ES_MAX_IN];
    const char *s = buf;
    for (int k = 0; k < nterms; k++) {
        const char *e = s;
        while (e < lhs_end && *e != ',')
            e++;
        const Value *x = op_in(g, n, k);
        if (!x)
            return diag_node(d, g, n, "input %d is missing", k);
        char what[32];
        snprintf(what, sizeof what, "term %d", k);
        if (es_term(g, n, s, e, what, chars[k], &nchars[k], d))
            return 1;
        int has_ell = memchr(chars[k], '.', (size_t)nchars[k]) != NULL;
        int nlet = nchars[k] - has_ell, r = x->shape.rank;
        if (has_ell ? nlet > r : nlet != r)
            return diag_node(d, g, n, "term %d ('%.*s') has %d letters but input %d has rank %d", k,
                             (int)(e - s), s, nlet, k, r);
        ell_rank[k] = r - nlet;
        if (ell_rank[k] > es->nell)
            es->nell = ell_rank[k];
        s = e + 1;
    }

    /* labels: ellipsis dims, then letters */
    int letter[128], count[128];
    for (int c = 0; c < 128; c++)
        letter[c] = -1, count[c] = 0;
    for (int q = 0; q < es->nell; q++) {
        snprintf(es->name[q], sizeof es->name[q], "e%d", q);
        es->extent[q] = 1;
    }
    es->nlabels = es->nell;
    for (int k = 0; k < nterms; k++) {
        const Shape *xs = &op_in(g, n, k)->shape;
        int dim = 0;
        for (int c = 0; c < nchars[k]; c++) {
            char ch = chars[k][c];
            if (ch == '.') {
                for (int q = 0; q < ell_rank[k]; q++, dim++) {
                    int l = es->nell - ell_rank[k] + q;
                    es->label[k][dim] = l;
                    if (es_extent(g, n, es, l, xs->dim[dim], d))
                        return 1;
                }
                continue;
            }
            if (letter[(int)ch] < 0) {
                if (es->nlabels >= ES_MAX_LABELS)
                    return diag_node(d, g, n, "too many labels");
                letter[(int)ch] = es->nlabels;
                es->name[es->nlabels][0] = ch;
                es->extent[es->nlabels++] = 1;
            }
            count[(int)ch]++;
            es->label[k][dim] = letter[(int)ch];
            if (es_extent(g, n, es, letter[(int)ch], xs->dim[dim], d))
                return 1;
            dim++;
        }
    }

    /* output: explicit, or the ellipsis then the letters used once, sorted */
    int in_out[ES_MAX_LABELS] = {0};
    int out[ES_MAX_LABELS], nout = 0;
    if (arrow) {
        char rhs[KILN_MAX_RANK + 1];
        int nr;
        if (es_term(g, n, arrow + 2, buf + len, "output term", rhs, &nr, d))
            return 1;
        if (es->nell && !memchr(rhs, '.', (size_t)nr))
            return diag_node(d, g, n, "the output term needs '...': the inputs' ellipsis stands for %d dims",
                             es->nell);
        for (int c = 0; c < nr; c++) {
            if (rhs[c] == '.') {
                for (int q = 0; q < es->nell; q++)
                    out[nout++] = q;
                continue;
            }
            int l = letter[(int)rhs[c]];
            if (l < 0)
                return diag_node(d, g, n, "output letter '%c' does not appear in any input term", rhs[c]);
            if (in_out[l])
                return diag_node(d, g, n, "output letter '%c' appears twice", rhs[c]);
            in_out[l] = 1;
            out[nout++] = l;
        }
    } else {
        for (int q = 0; q < es->nell; q++)
            out[nout++] = q;
        for (int c = 0; c < 128; c++)
            if (count[c] == 1 && nout < ES_MAX_LABELS)
                out[nout++] = letter[c];
    }
    if (nout > KILN_MAX_RANK)
        return diag_node(d, g, n, "the output has rank %d, at most %d is supported", nout, KILN_MAX_RANK);
    es->nout = nout;
    memset(in_out, 0, sizeof in_out);
    for (int i = 0; i < nout; i++) {
        es->out[i] = out[i];
        in_out[out[i]] = 1;
    }
    for (int l = 0; l < es->nlabels; l++)
        if (!in_out[l])
            es->sum[es->nsum++] = l;
    return 0;
}

static const DType einsum_types[] = {DT_U8, DT_U16, DT_U32, DT_U64, DT_I8, DT_I16, DT_I32, DT_I64,
                                     DT_F16, DT_F32, DT_F64, DT_BF16, DT_UNDEF};

int infer_einsum(Graph *g, Node *n, Diag *d)
{
    Einsum *es = op_attrs(g, n, sizeof *es);
    for (int i = 0; i < n->nin; i++)
        if (op_check_dtype(g, n, i, einsum_types, d) || op_same_dtype(g, n, 0, i, d))
            return 1;
    if (es_parse(g, n, es, d))
        return 1;
    Shape s = {es->nout, {0}};
    for (int i = 0; i < es->nout; i++)
        s.dim[i] = es->extent[es->out[i]];
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &s);
    return 0;
}

int lower_einsum(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Einsum *es = n->attrs;
    DType t = g->values[n->out[0]].dtype;
    Expr *var[ES_MAX_LABELS], *oc[KILN_MAX_RANK];
    /* y[out labels] = sum over the summed labels of prod_k x_k[labels of term k] */
    for (int i = 0; i < es->nout; i++) {
        int l = es->out[i];
        oc[i] = var[l] = kb_v(b, kb_for(b, es->name[l], es->extent[l]));
    }
    int acc = es->nsum ? kb_let(b, "acc", ke_const(a, t, 0)) : -1;
    for (int i = 0; i < es->nsum; i++) {
        int l = es->sum[i];
        var[l] = kb_v(b, kb_for(b, es->name[l], es->extent[l]));
    }
    Expr *prod = NULL;
    for (int k = 0; k < es->nterms; k++) {
        const Shape *xs = &g->values[n->in[k]].shape;
        Expr *c[KILN_MAX_RANK];
        for (int i = 0; i < xs->rank; i++)
            c[i] = xs->dim[i] == 1 ? ke_idx(a, 0) : var[es->label[k][i]];
        Expr *x = lw_load(L, n->in[k], c);
        prod = prod ? bin(a, B_MUL, prod, x) : x;
    }
    Expr *v = prod;
    if (es->nsum) {
        kb_assign(b, acc, bin(a, B_ADD, kb_v(b, acc), prod));
        for (int i = 0; i < es->nsum; i++)
            kb_end(b);
        v = kb_v(b, acc);
    }
    lw_store(L, n, 0, oc, v);
    for (int i = 0; i < es->nout; i++)
        kb_end(b);
    return 0;
}

/* ------------------------------------------------------------------- Det */

int infer_det(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    char buf[160];
    if (op_check_dtype(g, n, 0, float_types, d))
        return 1;
    int r = x->shape.rank;
    if (r < 2 || x->shape.dim[r - 1] != x->shape.dim[r - 2])
        return diag_node(d, g, n, "input must be square matrices [..., M, M], got %s",
                         shape_str(&x->shape, buf, sizeof buf));
    Shape s = x->shape;
    s.rank -= 2;
    op_set_out(g, n, 0, x->dtype, &s);
    return 0;
}

/* Flat index of lu[b, row, col] in the scratch of shape ls. */
static Expr *det_at(KB *b, const Shape *ls, Expr *bv, Expr *row, Expr *col)
{
    Expr *c[3] = {bv, row, col};
    return kb_flat(b, ls, c);
}

int lower_det(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Value *x = &g->values[n->in[0]], *y = &g->values[n->out[0]];
    int r = x->shape.rank;
    int64_t M = x->shape.dim[r - 1], B = shape_numel(&y->shape);
    Shape ls = {3, {B, M, M}};
    int lu = lw_temp(L, "lu", DT_F64, &ls);
    int xb = lw_buf(L, n->in[0]), yb = lw_buf(L, n->out[0]);

    /* y[b] = det(x[b]), b < batch, x[b] an M x M matrix */
    Expr *bv = kb_v(b, kb_for(b, "b", B));
#define AT(row, col) det_at(b, &ls, bv, (row), (col))
    /* lu = x[b] in f64 */
    Expr *i = kb_v(b, kb_for(b, "i", M));
    Expr *j = kb_v(b, kb_for(b, "j", M));
    kb_store(b, lu, AT(i, j), ke_cast(a, DT_F64, ke_load(a, b->p, xb, AT(i, j))));
    kb_end(b);
    kb_end(b);
    int det = kb_let(b, "det", f64c(a, 1));
    /* column k: pivot on the row p >= k with the largest |lu[p, k]|,
     * then eliminate lu[i > k, k] */
    Expr *k = kb_v(b, kb_for(b, "k", M));
    int piv = kb_let(b, "piv", k);
    int best = kb_let(b, "best", ke_un(a, U_ABS, ke_load(a, b->p, lu, AT(k, k))));
    i = kb_v(b, kb_for(b, "i", M));
    Expr *mag = ke_un(a, U_ABS, ke_load(a, b->p, lu, AT(i, k)));
    kb_if(b, bin(a, B_AND, bin(a, B_GT, i, k), bin(a, B_GT, mag, kb_v(b, best))));
    kb_assign(b, best, mag);
    kb_assign(b, piv, i);
    kb_end(b);
    kb_end(b);
    kb_if(b, bin(a, B_EQ, kb_v(b, best), f64c(a, 0)));
    kb_assign(b, det, f64c(a, 0)); /* singular */
    kb_else(b);
    kb_if(b, bin(a, B_NE, kb_v(b, piv), k));
    /* swap rows k and piv: the determinant changes sign */
    kb_assign(b, det, ke_un(a, U_NEG, kb_v(b, det)));
    j = kb_v(b, kb_for(b, "j", M));
    Expr *tmp = kb_v(b, kb_let(b, "tmp", ke_load(a, b->p, lu, AT(k, j))));
    kb_store(b, lu, AT(k, j), ke_load(a, b->p, lu, AT(kb_v(b, piv), j)));
    kb_store(b, lu, AT(kb_v(b, piv), j), tmp);
    kb_end(b);
    kb_end(b);
    Expr *pivot = ke_load(a, b->p, lu, AT(k, k));
    kb_assign(b, det, bin(a, B_MUL, kb_v(b, det), pivot));
    i = kb_v(b, kb_for(b, "i", M));
    kb_if(b, bin(a, B_GT, i, k));
    Expr *f = kb_v(b, kb_let(b, "f", bin(a, B_DIV, ke_load(a, b->p, lu, AT(i, k)), pivot)));
    j = kb_v(b, kb_for(b, "j", M));
    kb_if(b, bin(a, B_GT, j, k));
    Expr *upd = bin(a, B_SUB, ke_load(a, b->p, lu, AT(i, j)), bin(a, B_MUL, f, ke_load(a, b->p, lu, AT(k, j))));
    kb_store(b, lu, AT(i, j), upd);
    kb_end(b);
    kb_end(b);
    kb_end(b);
    kb_end(b);
    kb_end(b); /* if singular else */
    kb_end(b); /* k */
#undef AT
    kb_store(b, yb, bv, ke_cast(a, y->dtype, kb_v(b, det)));
    kb_end(b);
    return 0;
}
