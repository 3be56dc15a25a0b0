/*
 * image.c: GridSample, AffineGrid, Col2Im, CenterCropPad, RoiAlign,
 * MaxUnpool, DeformConv.
 *
 * The image ops that read pixels at computed positions. Positions that come
 * from shapes and attributes (Col2Im, CenterCropPad, the AffineGrid base
 * grid) are index arithmetic on loop variables; positions that come from
 * data (GridSample's grid, RoiAlign's boxes, DeformConv's offsets,
 * MaxUnpool's indices) are run-time values: they are computed in float,
 * floored and cast to indices, and every load through them reads a clamped
 * index, selected away when the position falls outside the input, so the
 * generated code never reads outside a buffer whatever the data says.
 *
 *   GridSample   y[n, c, o...] = sum over taps of prod wt * x[n, c, tap...]
 *                (2 taps an axis for linear, 4 for cubic, 1 for nearest) at
 *                the point grid[n, o..., :] (innermost axis first). Padding
 *                (zeros/border/reflection) maps each tap's index, as PyTorch
 *                and onnxruntime do; the ONNX reference also pads the point
 *                itself first, which gives the same linear and nearest
 *                results but moves cubic taps near a border.
 *   AffineGrid   grid[n, o..., j] = theta[n, j, :] . (base(o) reversed, 1)
 *   Col2Im       a gather, like ConvTranspose: each image pixel sums the
 *                column entries whose block tap lands on it.
 *   CenterCropPad  y[o] = x[o + offset] where inside, else 0.
 *   RoiAlign     per box and bin, the mean (or max) of bilinear samples on a
 *                grid of sampling_ratio^2 points (adaptive: a run-time count).
 *   MaxUnpool    zero y, then scatter x to the flat indices I (flat in the
 *                unpooled shape; output_shape pads that shape at the end).
 *   DeformConv   Conv whose taps read x bilinearly at the tap position plus
 *                a learned offset, times an optional mask.
 *
 * Float math runs in the input's type (f16 and bf16 in float); outputs are
 * cast to their type when stored.
 */
#include "op.h"

#include <string.h>

#define BIN(op, x, y) ke_bin(a, (op), (x), (y))
#define IDX(v) ke_idx(a, (v))

static const DType float_types[] = {DT_F16, DT_BF16, DT_F32, DT_F64, DT_UNDEF};

/* A local initialized to e; its value as an expression. */
static Expr *let(KB *b, const char *name, Expr *e) { return kb_v(b, kb_let(b, name, e)); }

/* The value of string attribute `attr` among names[], as its position;
 * `def` when absent. */
static int pick(Graph *g, Node *n, const char *attr, const char *def, const char *const *names, int *out, Diag *d)
{
    const char *s;
    if (attr_str(g, n, attr, def, &s, d))
        return 1;
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return diag_node(d, g, n, "unknown %s '%s'", attr, s);
}

/* Fail unless input i (called `what` in the message) has rank lo..hi. */
static int check_rank(Graph *g, Node *n, int i, const char *what, int lo, int hi, Diag *d)
{
    const Value *v = op_in(g, n, i);
    char s[160];
    if (v->shape.rank < lo || v->shape.rank > hi) {
        if (lo == hi)
            return diag_node(d, g, n, "%s has shape %s, expected rank %d", what, shape_str(&v->shape, s, sizeof s), lo);
        return diag_node(d, g, n, "%s has shape %s, expected rank %d to %d", what, shape_str(&v->shape, s, sizeof s),
                         lo, hi);
    }
    return 0;
}

/* ------------------------------------------------------------ GridSample */

enum { GS_LINEAR, GS_NEAREST, GS_CUBIC };
enum { GS_ZEROS, GS_BORDER, GS_REFLECTION };

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct GridSample {
    int mode;      /* GS_* */
    int pad;       /* padding_mode */
    int align;     /* align_corners */
    int r;         /* spatial dims */
    Shape out;     /* [N, C, grid.shape[1:-1]...] */
} GridSample;

static int gridsample_read(Graph *g, Node *n, GridSample *gs, Diag *d)
{
    static const char *const modes16[] = {"bilinear", "nearest", "bicubic", NULL};
    static const char *const modes20[] = {"linear", "nearest", "cubic", NULL};
    static const char *const pads[] = {"zeros", "border", "reflection", NULL};
    const Value *x = op_in(g, n, 0), *grid = op_in(g, n, 1);
    char xs[160], gss[160];
    int64_t align;
    int old = n->opset < 20;
    memset(gs, 0, sizeof *gs);
    if (op_check_dtype(g, n, 1, float_types, d))
        return 1;
    /* the mode names changed in opset 20 (bilinear -> linear, bicubic -> cubic) */
    const char *const *names = old ? modes16 : modes20, *const *other = old ? modes20 : modes16;
    const char *mode;
    if (attr_str(g, n, "mode", names[0], &mode, d))
        return 1;
    for (int i = 0; i < 3; i++)
        if (strcmp(mode, names[i]) && !strcmp(mode, other[i]))
            return diag_node(d, g, n, "mode '%s' is not part of GridSample-%d, which calls it '%s'", mode, n->opset,
                             names[i]);
    if (pick(g, n, "mode", names[0], names, &gs->mode, d))
        return 1;
    if (pick(g, n, "padding_mode", "zeros", pads, &gs->pad, d) || attr_int(g, n, "align_corners", 0, &align, d))
        return 1;
    gs->align = align != 0;
    if (gs->mode != GS_NEAREST && op_check_dtype(g, n, 0, float_types, d))
        return 1;
    if (!dtype_is_computable(x->dtype))
        return diag_node(d, g, n, "X has type %s, which kiln does not compute yet", dtype_name(x->dtype));
    if (old && x->shape.rank != 4)
        return diag_node(d, g, n, "X has shape %s: GridSample-%d takes 4-D input only (N, C, H, W)",
                         shape_str(&x->shape, xs, sizeof xs), n->opset);
    if (x->shape.rank < 3)
        return diag_node(d, g, n, "X has shape %s, expected rank 3 or more (N, C, spatial...)",
                         shape_str(&x->shape, xs, sizeof xs));
    gs->r = x->shape.rank - 2;
    if (grid->shape.rank != x->shape.rank || grid->shape.dim[0] != x->shape.dim[0] ||
        grid->shape.dim[grid->shape.rank - 1] != gs->r)
        return diag_node(d, g, n, "grid has shape %s, expected (N=%lld, out..., %d) for X of shape %s",
                         shape_str(&grid->shape, gss, sizeof gss), (long long)x->shape.dim[0], gs->r,
                         shape_str(&x->shape, xs, sizeof xs));
    gs->out = x->shape;
    for (int i = 0; i < gs->r; i++)
        gs->out.dim[i + 2] = grid->shape.dim[i + 1];
    if (shape_numel(&gs->out) > 0)
        for (int i = 0; i < gs->r; i++)
            if (x->shape.dim[i + 2] < 1)
                return diag_node(d, g, n, "X has shape %s: spatial axis %d is empty, there is nothing to sample",
                                 shape_str(&x->shape, xs, sizeof xs), i);
    return 0;
}

int infer_gridsample(Graph *g, Node *n, Diag *d)
{
    GridSample *gs = op_attrs(g, n, sizeof *gs);
    if (gridsample_read(g, n, gs, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &gs->out);
    return 0;
}

/* x reflected by the borders lo and hi until it lies between them (type t),
 * as the ONNX reference's _gs_reflect: the distance past a border, folded
 * by the range, read from the near border on even folds and from the far
 * one on odd folds. x itself when it is inside. */
static Expr *reflect(KB *b, Expr *x, double lo, double hi, DType t)
{
    Arena *a = b->a;
    double rng = hi - lo;
    if (rng <= 0)
        return ke_float(a, t, lo); /* one pixel with align_corners: every point is that pixel */
    if (x->kind != E_VAR)
        x = let(b, "v", x);
    Expr *below = BIN(B_LT, x, ke_float(a, t, lo)), *above = BIN(B_GT, x, ke_float(a, t, hi));
    Expr *dx = let(b, "dx", ke_select(a, below, BIN(B_SUB, ke_float(a, t, lo), x), BIN(B_SUB, x, ke_float(a, t, hi))));
    Expr *folds = let(b, "folds", ke_un(a, U_FLOOR, BIN(B_DIV, dx, ke_float(a, t, rng))));
    Expr *rem = let(b, "rem", BIN(B_SUB, dx, BIN(B_MUL, folds, ke_float(a, t, rng))));
    Expr *even = BIN(B_EQ, BIN(B_MOD, folds, ke_float(a, t, 2)), ke_float(a, t, 0));
    Expr *from_lo = BIN(B_ADD, ke_float(a, t, lo), rem), *from_hi = BIN(B_SUB, ke_float(a, t, hi), rem);
    Expr *r = ke_select(a, below, ke_select(a, even, from_lo, from_hi), ke_select(a, even, from_hi, from_lo));
    return ke_select(a, BIN(B_OR, below, above), r, x);
}

/* The index tap j (an index) of an axis of `len` pixels reads under the
 * padding mode, always inside [0, len); *inside is and-ed with the test
 * that zero padding needs. */
static Expr *gs_pixel(KB *b, const GridSample *gs, Expr *j, int64_t len, DType gt, Expr **inside)
{
    Arena *a = b->a;
    switch (gs->pad) {
    case GS_ZEROS:
        *inside = and_cond(a, *inside, idx_in_range(a, j, len));
        return idx_clamp(a, j, len);
    case GS_BORDER:
        return idx_clamp(a, j, len);
    default: {
        double lo = gs->align ? 0 : -0.5, hi = gs->align ? (double)len - 1 : (double)len - 0.5;
        Expr *f = reflect(b, ke_cast(a, gt, j), lo, hi, gt);
        return idx_clamp(a, ke_cast(a, DT_INDEX, f), len);
    }
    }
}

/* Weight of tap k (an index in [0, 2) or [0, 4)) for the fraction t in
 * [0, 1) past the first tap (floor(x), or floor(x) - 1 for cubic), type gt.
 * Cubic is Keys' kernel with A = -0.75 at distance |k - 1 - t|, which is
 * exactly t + 1, t, 1 - t, 2 - t as the reference computes them. */
static Expr *gs_weight(KB *b, int mode, Expr *k, Expr *t, DType gt)
{
    Arena *a = b->a;
#define F(v) ke_float(a, gt, (v))
    if (mode == GS_LINEAR)
        return ke_select(a, BIN(B_EQ, k, IDX(0)), BIN(B_SUB, F(1), t), t);
    double A = -0.75;
    Expr *s = let(b, "s", ke_un(a, U_ABS, BIN(B_SUB, ke_cast(a, gt, BIN(B_SUB, k, IDX(1))), t)));
    /* s <= 1: ((A+2) s - (A+3)) s s + 1;  else ((A s - 5A) s + 8A) s - 4A */
    Expr *near = BIN(B_ADD, BIN(B_MUL, BIN(B_MUL, BIN(B_SUB, BIN(B_MUL, F(A + 2), s), F(A + 3)), s), s), F(1));
    Expr *far = BIN(B_SUB, BIN(B_MUL, BIN(B_ADD, BIN(B_MUL, BIN(B_SUB, BIN(B_MUL, F(A), s), F(5 * A)), s), F(8 * A)), s),
                    F(4 * A));
    return ke_select(a, BIN(B_LE, s, F(1)), near, far);
#undef F
}

int lower_gridsample(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const GridSample *gs = n->attrs;
    const Shape *xs = &g->values[n->in[0]].shape;
    int r = gs->r;
    DType t = g->values[n->out[0]].dtype, ct = dtype_is_float(t) ? op_calc_type(t) : t;
    DType gt = op_calc_type(g->values[n->in[1]].dtype);
    char on[KILN_MAX_RANK][8], xn[KILN_MAX_RANK][8];
    window_names(r, "o", on);
    window_names(r, "", xn);
    Expr *o[KILN_MAX_RANK], *gc[KILN_MAX_RANK + 1], *pos[KILN_MAX_RANK], *j0[KILN_MAX_RANK], *frac[KILN_MAX_RANK];
    Expr *xc[KILN_MAX_RANK + 2], *yc[KILN_MAX_RANK + 2];
    static const char *mode_names[] = {"linear", "nearest", "cubic"};
    static const char *pad_names[] = {"zeros", "border", "reflection"};

    kb_comment(b, arena_printf(a, "y[n, c, o...] = x[n, c] sampled (%s, %s padding%s) at grid[n, o..., :] reversed",
                               mode_names[gs->mode], pad_names[gs->pad], gs->align ? ", align_corners" : ""));
    Expr *nn = kb_v(b, kb_for(b, "n", gs->out.dim[0]));
    for (int i = 0; i < r; i++)
        o[i] = kb_v(b, kb_for(b, on[i], gs->out.dim[i + 2]));
    /* the point along each axis of x: grid's components come innermost axis first */
    gc[0] = nn;
    for (int i = 0; i < r; i++)
        gc[i + 1] = o[i];
    for (int i = 0; i < r; i++) {
        double len = (double)xs->dim[i + 2];
        gc[r + 1] = IDX(r - 1 - i);
        Expr *gv = ke_cast(a, gt, lw_load(L, n->in[1], gc));
        Expr *one = ke_float(a, gt, 1), *two = ke_float(a, gt, 2);
        /* align_corners: (g + 1) / 2 * (len - 1);  else ((g + 1) * len - 1) / 2 */
        Expr *x = gs->align ? BIN(B_MUL, BIN(B_DIV, BIN(B_ADD, gv, one), two), ke_float(a, gt, len - 1))
                           : BIN(B_DIV, BIN(B_SUB, BIN(B_MUL, BIN(B_ADD, gv, one), ke_float(a, gt, len)), one), two);
        if (gs->mode == GS_NEAREST)
            x = ke_un(a, U_ROUND, x); /* half to even, as PyTorch */
        x = let(b, arena_printf(a, "x%s", xn[i]), x);
        pos[i] = x;
        if (gs->mode != GS_NEAREST) {
            Expr *f = let(b, arena_printf(a, "f%s", xn[i]), ke_un(a, U_FLOOR, x));
            j0[i] = let(b, arena_printf(a, "j%s", xn[i]),
                        BIN(B_SUB, ke_cast(a, DT_INDEX, f), IDX(gs->mode == GS_CUBIC ? 1 : 0)));
            frac[i] = let(b, arena_printf(a, "t%s", xn[i]), BIN(B_SUB, x, f));
        }
    }
    Expr *c = kb_v(b, kb_for(b, "c", gs->out.dim[1]));
    xc[0] = yc[0] = nn;
    xc[1] = yc[1] = c;
    for (int i = 0; i < r; i++)
        yc[i + 2] = o[i];
    Expr *inside = NULL, *v;
    if (gs->mode == GS_NEAREST) {
        /* one tap: the rounded point, truncated */
        for (int i = 0; i < r; i++)
            xc[i + 2] = gs_pixel(b, gs, ke_cast(a, DT_INDEX, pos[i]), xs->dim[i + 2], gt, &inside);
        v = lw_load(L, n->in[0], xc);
        if (inside)
            v = ke_select(a, inside, v, ke_const(a, t, 0));
        lw_store(L, n, 0, yc, v);
    } else {
        int64_t ntaps = gs->mode == GS_CUBIC ? 4 : 2;
        int acc = kb_let(b, "acc", ke_float(a, ct, 0));
        Expr *w = NULL;
        for (int i = 0; i < r; i++) {
            Expr *k = kb_v(b, kb_for(b, arena_printf(a, "k%s", xn[i]), ntaps));
            Expr *j = let(b, arena_printf(a, "i%s", xn[i]), BIN(B_ADD, j0[i], k));
            xc[i + 2] = let(b, arena_printf(a, "p%s", xn[i]), gs_pixel(b, gs, j, xs->dim[i + 2], gt, &inside));
            Expr *wi = let(b, arena_printf(a, "w%s", xn[i]), gs_weight(b, gs->mode, k, frac[i], gt));
            w = w ? BIN(B_MUL, w, wi) : wi;
        }
        v = ke_cast(a, ct, lw_load(L, n->in[0], xc));
        if (inside)
            v = ke_select(a, inside, v, ke_float(a, ct, 0));
        kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, ke_cast(a, ct, w), v)));
        for (int i = 0; i < r; i++)
            kb_end(b);
        lw_store(L, n, 0, yc, ke_cast(a, t, kb_v(b, acc)));
    }
    kb_end(b); /* c */
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* n */
    return 0;
}

/* ------------------------------------------------------------ AffineGrid */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct AffineGrid {
    int r;          /* 2 or 3 spatial dims */
    int align;      /* align_corners */
    Shape out;      /* [N, spatial..., r] */
} AffineGrid;

static int affinegrid_read(Graph *g, Node *n, AffineGrid *ag, Diag *d)
{
    const Value *th = op_in(g, n, 0);
    int64_t size[KILN_MAX_RANK], align;
    int ns;
    char s[160];
    memset(ag, 0, sizeof *ag);
    if (op_check_dtype(g, n, 0, float_types, d) || attr_int(g, n, "align_corners", 0, &align, d))
        return 1;
    ag->align = align != 0;
    if (th->shape.rank != 3 ||
        !((th->shape.dim[1] == 2 && th->shape.dim[2] == 3) || (th->shape.dim[1] == 3 && th->shape.dim[2] == 4)))
        return diag_node(d, g, n, "theta has shape %s, expected (N, 2, 3) for 2-D or (N, 3, 4) for 3-D",
                         shape_str(&th->shape, s, sizeof s));
    ag->r = (int)th->shape.dim[1];
    if (op_const_ints(g, n, 1, size, KILN_MAX_RANK, &ns, d))
        return 1;
    if (ns != ag->r + 2)
        return diag_node(d, g, n, "size has %d values, expected %d (N, C, %s) for theta of shape %s", ns, ag->r + 2,
                         ag->r == 2 ? "H, W" : "D, H, W", shape_str(&th->shape, s, sizeof s));
    if (size[0] != th->shape.dim[0])
        return diag_node(d, g, n, "size says N = %lld but theta holds %lld matrices", (long long)size[0],
                         (long long)th->shape.dim[0]);
    ag->out.rank = ag->r + 2;
    ag->out.dim[0] = size[0];
    for (int i = 0; i < ag->r; i++) {
        if (size[i + 2] < 0)
            return diag_node(d, g, n, "size[%d] is %lld, expected at least 0", i + 2, (long long)size[i + 2]);
        ag->out.dim[i + 1] = size[i + 2];
    }
    ag->out.dim[ag->r + 1] = ag->r;
    return 0;
}

int infer_affinegrid(Graph *g, Node *n, Diag *d)
{
    AffineGrid *ag = op_attrs(g, n, sizeof *ag);
    if (affinegrid_read(g, n, ag, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &ag->out);
    return 0;
}

/* Base coordinate (f64) of position i (an index) of an axis of len points
 * spread over [-1, 1]: corner centers with align_corners, else pixel
 * centers; start + i * step, as numpy's arange makes them. */
static Expr *base_coord(Arena *a, Expr *i, int64_t len, int align)
{
    double step, start;
    if (align) {
        if (len <= 1)
            return ke_float(a, DT_F64, -1);
        step = 2.0 / (double)(len - 1);
        start = -1;
    } else {
        step = 2.0 / (double)len;
        start = -1 + step / 2;
    }
    return BIN(B_ADD, ke_float(a, DT_F64, start), BIN(B_MUL, ke_cast(a, DT_F64, i), ke_float(a, DT_F64, step)));
}

int lower_affinegrid(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const AffineGrid *ag = n->attrs;
    int r = ag->r;
    DType t = g->values[n->out[0]].dtype;
    char on[KILN_MAX_RANK][8];
    window_names(r, "", on);
    Expr *o[KILN_MAX_RANK], *yc[KILN_MAX_RANK + 2], *tc[3];

    kb_comment(b, r == 2 ? "grid[n, h, w, j] = theta[n, j, :] . (x(w), y(h), 1)"
                         : "grid[n, d, h, w, j] = theta[n, j, :] . (x(w), y(h), z(d), 1)");
    Expr *nn = kb_v(b, kb_for(b, "n", ag->out.dim[0]));
    for (int i = 0; i < r; i++)
        o[i] = kb_v(b, kb_for(b, on[i], ag->out.dim[i + 1]));
    Expr *j = kb_v(b, kb_for(b, "j", r));
    /* sum over k of theta[n, j, k] * base[k], base = (x, y, [z,] 1), x along the last axis */
    tc[0] = nn;
    tc[1] = j;
    tc[2] = IDX(r);
    Expr *acc = ke_cast(a, DT_F64, lw_load(L, n->in[0], tc));
    Expr *sum = NULL;
    for (int k = 0; k < r; k++) {
        int axis = r - 1 - k;
        tc[2] = IDX(k);
        Expr *term = BIN(B_MUL, ke_cast(a, DT_F64, lw_load(L, n->in[0], tc)),
                         base_coord(a, o[axis], ag->out.dim[axis + 1], ag->align));
        sum = sum ? BIN(B_ADD, sum, term) : term;
    }
    acc = BIN(B_ADD, sum, acc);
    yc[0] = nn;
    for (int i = 0; i < r; i++)
        yc[i + 1] = o[i];
    yc[r + 1] = j;
    lw_store(L, n, 0, yc, ke_cast(a, t, acc));
    kb_end(b); /* j */
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* n */
    return 0;
}

/* ---------------------------------------------------------------- Col2Im */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct Col2Im {
    int r;                           /* spatial dims */
    int64_t N, C;                    /* batch, image channels */
    int64_t img[KILN_MAX_RANK];      /* image_shape */
    int64_t k[KILN_MAX_RANK];        /* block_shape */
    int64_t s[KILN_MAX_RANK], dl[KILN_MAX_RANK], p0[KILN_MAX_RANK], p1[KILN_MAX_RANK];
    int64_t nb[KILN_MAX_RANK];       /* blocks along each axis */
    Shape out;                       /* [N, C, image_shape...] */
} Col2Im;

static int col2im_read(Graph *g, Node *n, Col2Im *ci, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int ni, nk;
    int64_t pads[2 * KILN_MAX_RANK];
    char s[160];
    memset(ci, 0, sizeof *ci);
    if (!dtype_is_computable(x->dtype) || x->dtype == DT_BOOL)
        return diag_node(d, g, n, "input has type %s, which Col2Im cannot sum", dtype_name(x->dtype));
    if (check_rank(g, n, 0, "input", 3, 3, d))
        return 1;
    if (op_const_ints(g, n, 1, ci->img, KILN_MAX_RANK - 2, &ni, d) ||
        op_const_ints(g, n, 2, ci->k, KILN_MAX_RANK - 2, &nk, d))
        return 1;
    if (ni < 1 || ni != nk)
        return diag_node(d, g, n, "image_shape has %d values and block_shape %d: expected the same count, at least 1",
                         ni, nk);
    int r = ci->r = ni;
    if (window_ints(g, n, "strides", r, 1, 1, ci->s, d) || window_ints(g, n, "dilations", r, 1, 1, ci->dl, d) ||
        window_ints(g, n, "pads", 2 * r, 0, 0, pads, d))
        return 1;
    int64_t K = 1, blocks = 1;
    for (int i = 0; i < r; i++) {
        if (ci->img[i] < 1 || ci->k[i] < 1)
            return diag_node(d, g, n, "image_shape[%d] = %lld and block_shape[%d] = %lld must be at least 1", i,
                             (long long)ci->img[i], i, (long long)ci->k[i]);
        ci->p0[i] = pads[i];
        ci->p1[i] = pads[i + r];
        /* padded = img + p0 + p1, ek = dl*(k-1) + 1; the lowering also
         * forms o + p0 and nb * s, which are below padded + s */
        int64_t padded, ek, end;
        if (ck_add(ci->img[i], ci->p0[i], &padded) || ck_add(padded, ci->p1[i], &padded) ||
            ck_muladd(ci->dl[i], ci->k[i] - 1, 1, &ek) || ck_add(padded, ci->s[i], &end))
            return diag_node(d, g, n, "the block geometry along axis %d overflows 64-bit integers", i);
        int64_t span = padded - ek;
        if (span < 0)
            return diag_node(d, g, n, "block %lld (dilation %lld) is larger than the padded image %lld along axis %d",
                             (long long)ci->k[i], (long long)ci->dl[i], (long long)padded, i);
        ci->nb[i] = span / ci->s[i] + 1;
        if (ck_mul(K, ci->k[i], &K) || ck_mul(blocks, ci->nb[i], &blocks))
            return diag_node(d, g, n, "the block or the block count is too large");
    }
    if (x->shape.dim[1] % K)
        return diag_node(d, g, n, "input has shape %s: its dim 1 must be a multiple of the block size %lld",
                         shape_str(&x->shape, s, sizeof s), (long long)K);
    if (x->shape.dim[2] != blocks)
        return diag_node(d, g, n, "input has shape %s: expected %lld blocks in dim 2 for that image and block",
                         shape_str(&x->shape, s, sizeof s), (long long)blocks);
    ci->N = x->shape.dim[0];
    ci->C = x->shape.dim[1] / K;
    ci->out.rank = r + 2;
    ci->out.dim[0] = ci->N;
    ci->out.dim[1] = ci->C;
    for (int i = 0; i < r; i++)
        ci->out.dim[i + 2] = ci->img[i];
    return 0;
}

int infer_col2im(Graph *g, Node *n, Diag *d)
{
    Col2Im *ci = op_attrs(g, n, sizeof *ci);
    if (col2im_read(g, n, ci, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &ci->out);
    return 0;
}

int lower_col2im(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Col2Im *ci = n->attrs;
    int r = ci->r;
    DType t = g->values[n->out[0]].dtype;
    char on[KILN_MAX_RANK][8], kn[KILN_MAX_RANK][8];
    window_names(r, "", on);
    window_names(r, "k", kn);
    Shape ks = {r, {0}}, bs = {r, {0}};
    int64_t K = 1;
    for (int i = 0; i < r; i++) {
        ks.dim[i] = ci->k[i];
        bs.dim[i] = ci->nb[i];
        K *= ci->k[i];
    }
    Expr *o[KILN_MAX_RANK], *k[KILN_MAX_RANK], *col[KILN_MAX_RANK], *xc[3], *yc[KILN_MAX_RANK + 2];

    /* y[n, c, o...] = sum over taps k... with o + p - k*d = b*s, 0 <= b < blocks,
     * of x[n, c*K + flat(k), flat(b)] */
    kb_comment(b, "y[n, c, o...] = sum_{k... : o + p - k*d = b*s} x[n, c*K + flat(k), flat(b)]");
    Expr *nn = kb_v(b, kb_for(b, "n", ci->N));
    Expr *c = kb_v(b, kb_for(b, "c", ci->C));
    for (int i = 0; i < r; i++)
        o[i] = kb_v(b, kb_for(b, on[i], ci->img[i]));
    int acc = kb_let(b, "acc", ke_const(a, t, 0));
    for (int i = 0; i < r; i++)
        k[i] = kb_v(b, kb_for(b, kn[i], ci->k[i]));
    Expr *cond = NULL;
    for (int i = 0; i < r; i++) {
        Expr *tt = BIN(B_SUB, BIN(B_ADD, o[i], IDX(ci->p0[i])), BIN(B_MUL, k[i], IDX(ci->dl[i])));
        cond = and_cond(a, cond, BIN(B_GE, tt, IDX(0)));
        cond = and_cond(a, cond, BIN(B_LT, tt, IDX(ci->nb[i] * ci->s[i])));
        if (ci->s[i] > 1)
            cond = and_cond(a, cond, BIN(B_EQ, BIN(B_MOD, tt, IDX(ci->s[i])), IDX(0)));
        col[i] = BIN(B_DIV, tt, IDX(ci->s[i]));
    }
    kb_if(b, cond);
    xc[0] = nn;
    xc[1] = BIN(B_ADD, BIN(B_MUL, c, IDX(K)), kb_flat(b, &ks, k));
    xc[2] = kb_flat(b, &bs, col);
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), lw_load(L, n->in[0], xc)));
    kb_end(b); /* if */
    for (int i = 0; i < r; i++)
        kb_end(b);
    yc[0] = nn;
    yc[1] = c;
    for (int i = 0; i < r; i++)
        yc[i + 2] = o[i];
    lw_store(L, n, 0, yc, kb_v(b, acc));
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* c */
    kb_end(b); /* n */
    return 0;
}

/* --------------------------------------------------------- CenterCropPad */

/* Output shape and, per axis, the offset from an output index to the input
 * index it copies (crop start minus pad start). */
static int centercrop_read(Graph *g, Node *n, Shape *out, int64_t *offset, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t shape[KILN_MAX_RANK], axes[KILN_MAX_RANK];
    int ns, naxes, ax[KILN_MAX_RANK], rank = x->shape.rank;
    if (!dtype_is_computable(x->dtype))
        return diag_node(d, g, n, "input has type %s, which kiln does not compute yet", dtype_name(x->dtype));
    if (op_const_ints(g, n, 1, shape, KILN_MAX_RANK, &ns, d) || attr_ints(g, n, "axes", axes, KILN_MAX_RANK, &naxes, d))
        return 1;
    if (op_axes(g, n, axes, &naxes, rank, ax, d))
        return 1;
    if (ns != naxes)
        return diag_node(d, g, n, "shape has %d values, expected %d (one per axis in 'axes', or of the input)", ns,
                         naxes);
    *out = x->shape;
    for (int i = 0; i < rank; i++)
        offset[i] = 0;
    for (int i = 0; i < naxes; i++) {
        int64_t dim = x->shape.dim[ax[i]], sh = shape[i];
        if (sh < 0)
            return diag_node(d, g, n, "shape[%d] is %lld, expected at least 0", i, (long long)sh);
        out->dim[ax[i]] = sh;
        offset[ax[i]] = sh < dim ? (dim - sh) / 2 : -((sh - dim) / 2);
    }
    return 0;
}

/* CenterCropPad's parsed attributes (Node.attrs). */
typedef struct CropAttrs {
    Shape out;
    int64_t offset[KILN_MAX_RANK];
} CropAttrs;

int infer_centercroppad(Graph *g, Node *n, Diag *d)
{
    CropAttrs *at = op_attrs(g, n, sizeof *at);
    if (centercrop_read(g, n, &at->out, at->offset, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &at->out);
    return 0;
}

int lower_centercroppad(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const CropAttrs *at = n->attrs;
    const Shape out = at->out;
    const int64_t *offset = at->offset;
    const Shape *xs = &g->values[n->in[0]].shape;
    DType t = g->values[n->out[0]].dtype;
    Expr *o[KILN_MAX_RANK], *xc[KILN_MAX_RANK];

    kb_comment(b, "y[o...] = x[o + offset...] where that is inside x, else 0");
    lw_loops(L, &out, NULL, o);
    Expr *inside = NULL;
    for (int i = 0; i < out.rank; i++) {
        Expr *j = offset[i] < 0 ? BIN(B_SUB, o[i], IDX(-offset[i])) : BIN(B_ADD, o[i], IDX(offset[i]));
        xc[i] = j;
        if (offset[i] < 0 || offset[i] + out.dim[i] > xs->dim[i]) { /* padded axis */
            inside = and_cond(a, inside, idx_in_range(a, j, xs->dim[i]));
            xc[i] = xs->dim[i] > 0 ? idx_clamp(a, j, xs->dim[i]) : IDX(0);
        }
    }
    Expr *v = shape_numel(xs) > 0 ? lw_load(L, n->in[0], xc) : ke_const(a, t, 0);
    if (inside)
        v = ke_select(a, inside, v, ke_const(a, t, 0));
    lw_store(L, n, 0, o, v);
    lw_end_loops(L, &out);
    return 0;
}

/* -------------------------------------------------------------- RoiAlign */

/* The largest sampling_ratio kiln accepts (ONNX sets none; 2 is usual). */
enum { ROI_MAX_RATIO = 1024 };

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct RoiAlign {
    int max;             /* mode max (else avg) */
    int half_pixel;      /* coordinate_transformation_mode half_pixel */
    int64_t oh, ow;      /* output_height, output_width */
    int64_t ratio;       /* sampling_ratio; 0: adaptive */
    double scale;        /* spatial_scale */
    Shape out;           /* [R, C, oh, ow] */
} RoiAlign;

static int roialign_read(Graph *g, Node *n, RoiAlign *ra, Diag *d)
{
    static const char *const modes[] = {"avg", "max", NULL};
    static const char *const ctms[] = {"output_half_pixel", "half_pixel", NULL};
    static const DType idx_types[] = {DT_I64, DT_I32, DT_UNDEF};
    const Value *x = op_in(g, n, 0), *rois = op_in(g, n, 1), *bi = op_in(g, n, 2);
    char s1[160], s2[160];
    memset(ra, 0, sizeof *ra);
    if (op_check_dtype(g, n, 0, float_types, d) || op_same_dtype(g, n, 0, 1, d) ||
        op_check_dtype(g, n, 2, idx_types, d) || check_rank(g, n, 0, "X", 4, 4, d))
        return 1;
    if (n->opset < 16 && node_attr(n, "coordinate_transformation_mode"))
        return diag_node(d, g, n, "attribute 'coordinate_transformation_mode' needs opset 16 (the model imports %d)",
                         n->opset);
    if (pick(g, n, "mode", "avg", modes, &ra->max, d) ||
        pick(g, n, "coordinate_transformation_mode", n->opset < 16 ? "output_half_pixel" : "half_pixel", ctms,
             &ra->half_pixel, d) ||
        attr_int(g, n, "output_height", 1, &ra->oh, d) || attr_int(g, n, "output_width", 1, &ra->ow, d) ||
        attr_int(g, n, "sampling_ratio", 0, &ra->ratio, d) || attr_float(g, n, "spatial_scale", 1.0, &ra->scale, d))
        return 1;
    if (ra->oh < 1 || ra->ow < 1)
        return diag_node(d, g, n, "output_height %lld and output_width %lld must be at least 1", (long long)ra->oh,
                         (long long)ra->ow);
    if (ra->ratio < 0)
        return diag_node(d, g, n, "sampling_ratio is %lld, expected at least 0", (long long)ra->ratio);
    if (ra->ratio > ROI_MAX_RATIO) /* ratio^2 samples per bin: bounded so the program ends */
        return diag_node(d, g, n, "sampling_ratio is %lld, kiln supports at most %d samples per axis of a bin",
                         (long long)ra->ratio, ROI_MAX_RATIO);
    if (rois->shape.rank != 2 || rois->shape.dim[1] != 4)
        return diag_node(d, g, n, "rois has shape %s, expected (num_rois, 4)", shape_str(&rois->shape, s1, sizeof s1));
    if (bi->shape.rank != 1 || bi->shape.dim[0] != rois->shape.dim[0])
        return diag_node(d, g, n, "batch_indices has shape %s, expected (%lld) like rois %s",
                         shape_str(&bi->shape, s1, sizeof s1), (long long)rois->shape.dim[0],
                         shape_str(&rois->shape, s2, sizeof s2));
    if (rois->shape.dim[0] > 0 && shape_numel(&x->shape) == 0)
        return diag_node(d, g, n, "X has shape %s: there is nothing to pool", shape_str(&x->shape, s1, sizeof s1));
    ra->out.rank = 4;
    ra->out.dim[0] = rois->shape.dim[0];
    ra->out.dim[1] = x->shape.dim[1];
    ra->out.dim[2] = ra->oh;
    ra->out.dim[3] = ra->ow;
    return 0;
}

int infer_roialign(Graph *g, Node *n, Diag *d)
{
    RoiAlign *ra = op_attrs(g, n, sizeof *ra);
    if (roialign_read(g, n, ra, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &ra->out);
    return 0;
}

int lower_roialign(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const RoiAlign *ra = n->attrs;
    const Shape *xs = &g->values[n->in[0]].shape;
    int64_t H = xs->dim[2], W = xs->dim[3];
    DType t = g->values[n->out[0]].dtype, ct = op_calc_type(t);
#define F(v) ke_float(a, ct, (v))
    Expr *rc[2], *xc[4], *yc[4];

    kb_comment(b, arena_printf(a, "y[r, c, ph, pw] = %s over the bin's sample grid of bilinear x[batch[r], c] samples",
                               ra->max ? "max" : "mean"));
    Expr *ri = kb_v(b, kb_for(b, "r", ra->out.dim[0]));
    Expr *bat = let(b, "b", idx_clamp(a, ke_cast(a, DT_INDEX, lw_load(L, n->in[2], &ri)), xs->dim[0]));
    /* the box in x's pixels: start (x0, y0), size (bw, bh) per bin */
    Expr *box[4];
    static const char *box_names[] = {"x0", "y0", "x1", "y1"};
    rc[0] = ri;
    for (int i = 0; i < 4; i++) {
        rc[1] = IDX(i);
        Expr *e = BIN(B_MUL, ke_cast(a, ct, lw_load(L, n->in[1], rc)), F(ra->scale));
        box[i] = let(b, box_names[i], ra->half_pixel ? BIN(B_SUB, e, F(0.5)) : e);
    }
    Expr *rw = BIN(B_SUB, box[2], box[0]), *rh = BIN(B_SUB, box[3], box[1]);
    if (!ra->half_pixel) { /* malformed boxes become 1x1 */
        rw = BIN(B_MAX, rw, F(1));
        rh = BIN(B_MAX, rh, F(1));
    }
    Expr *bin_w = let(b, "bin_w", BIN(B_DIV, rw, F((double)ra->ow)));
    Expr *bin_h = let(b, "bin_h", BIN(B_DIV, rh, F((double)ra->oh)));
    /* sample points per bin and axis: sampling_ratio, or ceil(bin size)
     * (0 if negative or NaN). The adaptive count is clamped to the image's
     * extent (H, W) before it becomes an index: a bin of a box inside the
     * image is never larger, so only boxes reaching outside it (or huge
     * run-time coordinates) see the clamp, and the sampling loops stay
     * bounded whatever the boxes hold. */
    Expr *gh, *gw;
    if (ra->ratio > 0) {
        gh = gw = IDX(ra->ratio);
    } else {
        Expr *ch = ke_un(a, U_CEIL, bin_h), *cw = ke_un(a, U_CEIL, bin_w);
        gh = let(b, "grid_h", ke_cast(a, DT_INDEX, ke_select(a, BIN(B_GT, ch, F(0)), BIN(B_MIN, ch, F((double)H)), F(0))));
        gw = let(b, "grid_w", ke_cast(a, DT_INDEX, ke_select(a, BIN(B_GT, cw, F(0)), BIN(B_MIN, cw, F((double)W)), F(0))));
    }
    Expr *count = BIN(B_MAX, BIN(B_MUL, gh, gw), IDX(1));
    Expr *c = kb_v(b, kb_for(b, "c", ra->out.dim[1]));
    Expr *ph = kb_v(b, kb_for(b, "ph", ra->oh));
    Expr *pw = kb_v(b, kb_for(b, "pw", ra->ow));
    int acc = kb_let(b, "acc", F(0));
    Expr *iy = kb_v(b, kb_for_e(b, "iy", gh));
    /* y = y0 + ph * bin_h + (iy + 0.5) * bin_h / grid_h, likewise x */
    Expr *yy = BIN(B_ADD, BIN(B_ADD, box[1], BIN(B_MUL, ke_cast(a, ct, ph), bin_h)),
                   BIN(B_DIV, BIN(B_MUL, BIN(B_ADD, ke_cast(a, ct, iy), F(0.5)), bin_h), ke_cast(a, ct, gh)));
    Expr *y = let(b, "yy", yy);
    Expr *ix = kb_v(b, kb_for_e(b, "ix", gw));
    Expr *xx = BIN(B_ADD, BIN(B_ADD, box[0], BIN(B_MUL, ke_cast(a, ct, pw), bin_w)),
                   BIN(B_DIV, BIN(B_MUL, BIN(B_ADD, ke_cast(a, ct, ix), F(0.5)), bin_w), ke_cast(a, ct, gw)));
    Expr *x = let(b, "xx", xx);
    /* points more than a pixel outside x contribute 0; the others are
     * clamped to x's start */
    Expr *valid = let(b, "valid", BIN(B_AND, BIN(B_AND, BIN(B_GE, y, F(-1)), BIN(B_LE, y, F((double)H))),
                                       BIN(B_AND, BIN(B_GE, x, F(-1)), BIN(B_LE, x, F((double)W)))));
    Expr *sy = let(b, "sy", ke_select(a, valid, BIN(B_MAX, y, F(0)), F(0)));
    Expr *sx = let(b, "sx", ke_select(a, valid, BIN(B_MAX, x, F(0)), F(0)));
    /* low corner; at or past the last row/column the point sits on it */
    Expr *ylo = let(b, "y_lo", BIN(B_MIN, ke_cast(a, DT_INDEX, sy), IDX(H - 1)));
    Expr *xlo = let(b, "x_lo", BIN(B_MIN, ke_cast(a, DT_INDEX, sx), IDX(W - 1)));
    Expr *yhi = BIN(B_MIN, BIN(B_ADD, ylo, IDX(1)), IDX(H - 1));
    Expr *xhi = BIN(B_MIN, BIN(B_ADD, xlo, IDX(1)), IDX(W - 1));
    Expr *ly = let(b, "ly", ke_select(a, BIN(B_GE, ylo, IDX(H - 1)), F(0), BIN(B_SUB, sy, ke_cast(a, ct, ylo))));
    Expr *lx = let(b, "lx", ke_select(a, BIN(B_GE, xlo, IDX(W - 1)), F(0), BIN(B_SUB, sx, ke_cast(a, ct, xlo))));
    Expr *hy = BIN(B_SUB, F(1), ly), *hx = BIN(B_SUB, F(1), lx);
    Expr *corner[4][3] = {{ylo, xlo, BIN(B_MUL, hy, hx)},
                          {ylo, xhi, BIN(B_MUL, hy, lx)},
                          {yhi, xlo, BIN(B_MUL, ly, hx)},
                          {yhi, xhi, BIN(B_MUL, ly, lx)}};
    xc[0] = bat;
    xc[1] = c;
    /* avg: the bilinear sample; max: the largest of its weighted corners */
    Expr *v = NULL;
    for (int i = 0; i < 4; i++) {
        xc[2] = corner[i][0];
        xc[3] = corner[i][1];
        Expr *wv = BIN(B_MUL, corner[i][2], ke_cast(a, ct, lw_load(L, n->in[0], xc)));
        v = !v ? wv : BIN(ra->max ? B_MAX : B_ADD, v, wv);
    }
    v = ke_select(a, valid, v, F(0));
    if (ra->max) {
        Expr *first = BIN(B_AND, BIN(B_EQ, iy, IDX(0)), BIN(B_EQ, ix, IDX(0)));
        v = let(b, "v", v);
        kb_assign(b, acc, ke_select(a, first, v, BIN(B_MAX, kb_v(b, acc), v)));
    } else {
        kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), v));
    }
    kb_end(b); /* ix */
    kb_end(b); /* iy */
    yc[0] = ri;
    yc[1] = c;
    yc[2] = ph;
    yc[3] = pw;
    Expr *res = ra->max ? kb_v(b, acc) : BIN(B_DIV, kb_v(b, acc), ke_cast(a, ct, count));
    lw_store(L, n, 0, yc, ke_cast(a, t, res));
    kb_end(b); /* pw */
    kb_end(b); /* ph */
    kb_end(b); /* c */
    kb_end(b); /* r */
#undef F
    return 0;
}

/* ------------------------------------------------------------- MaxUnpool */

/* The unpooled shape (from the pooling geometry) and the output shape
 * (output_shape when given, at least as large on every axis). */
static int maxunpool_read(Graph *g, Node *n, Shape *inferred, Shape *out, Diag *d)
{
    static const DType idx_types[] = {DT_I64, DT_UNDEF};
    const Value *x = op_in(g, n, 0), *ix = op_in(g, n, 1);
    int64_t kernel[KILN_MAX_RANK], s[KILN_MAX_RANK], pads[2 * KILN_MAX_RANK], os[KILN_MAX_RANK];
    int nos;
    char s1[160], s2[160];
    if (op_check_dtype(g, n, 0, float_types, d) || op_check_dtype(g, n, 1, idx_types, d))
        return 1;
    if (x->shape.rank < 3)
        return diag_node(d, g, n, "X has shape %s, expected rank 3 or more (N, C, spatial...)",
                         shape_str(&x->shape, s1, sizeof s1));
    if (!shape_equal(&x->shape, &ix->shape))
        return diag_node(d, g, n, "I has shape %s, expected the shape of X %s", shape_str(&ix->shape, s1, sizeof s1),
                         shape_str(&x->shape, s2, sizeof s2));
    int r = x->shape.rank - 2;
    if (!node_attr(n, "kernel_shape"))
        return diag_node(d, g, n, "attribute 'kernel_shape' is required");
    if (window_ints(g, n, "kernel_shape", r, 1, 1, kernel, d) || window_ints(g, n, "strides", r, 1, 1, s, d) ||
        window_ints(g, n, "pads", 2 * r, 0, 0, pads, d))
        return 1;
    *inferred = x->shape;
    for (int i = 0; i < r; i++) {
        /* (in - 1) * s + k - p0 - p1 */
        int64_t *e = &inferred->dim[i + 2];
        if (ck_muladd(x->shape.dim[i + 2] - 1, s[i], kernel[i], e) || ck_sub(*e, pads[i], e) ||
            ck_sub(*e, pads[i + r], e))
            return diag_node(d, g, n, "the unpooled extent along spatial axis %d overflows 64-bit integers", i);
        if (*e < 0)
            return diag_node(d, g, n, "pads %lld + %lld along spatial axis %d leave no output", (long long)pads[i],
                             (long long)pads[i + r], i);
    }
    *out = *inferred;
    if (op_const_ints(g, n, 2, os, KILN_MAX_RANK, &nos, d))
        return 1;
    if (nos >= 0) {
        if (nos != x->shape.rank)
            return diag_node(d, g, n, "output_shape has %d values, expected %d (the rank of X)", nos, x->shape.rank);
        for (int i = 0; i < nos; i++) {
            if (os[i] < inferred->dim[i])
                return diag_node(d, g, n, "output_shape[%d] is %lld, smaller than the unpooled extent %lld", i,
                                 (long long)os[i], (long long)inferred->dim[i]);
            out->dim[i] = os[i];
        }
    }
    return 0;
}

/* MaxUnpool's parsed attributes (Node.attrs). */
typedef struct UnpoolAttrs {
    Shape inferred;  /* the output shape the attributes give */
    Shape out;       /* the output shape (input 2 when present) */
} UnpoolAttrs;

int infer_maxunpool(Graph *g, Node *n, Diag *d)
{
    UnpoolAttrs *at = op_attrs(g, n, sizeof *at);
    if (maxunpool_read(g, n, &at->inferred, &at->out, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &at->out);
    return 0;
}

int lower_maxunpool(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const UnpoolAttrs *ua = n->attrs;
    const Shape inferred = ua->inferred, out = ua->out;
    const Shape *xs = &g->values[n->in[0]].shape;
    DType t = g->values[n->out[0]].dtype;
    int yb = lw_buf(L, n->out[0]);
    Expr *xc[KILN_MAX_RANK], *yc[KILN_MAX_RANK];

    kb_comment(b, "y = 0");
    Expr *i = kb_v(b, kb_for(b, "i", shape_numel(&out)));
    kb_store(b, yb, i, ke_const(a, t, 0));
    kb_end(b);

    /* y[at] = x[n, c, s...] with at = I[n, c, s...], a flat index into the
     * unpooled shape (moved into the larger output_shape); others skipped */
    kb_comment(b, "y[unflat(I[n, c, s...])] = x[n, c, s...] for I inside the unpooled shape");
    lw_loops_k(L, xs, xs->rank == 4 ? "nchw" : xs->rank == 5 ? "ncdhw" : NULL, IT_SERIAL, xc);
    Expr *at = let(b, "at", ke_cast(a, DT_INDEX, lw_load(L, n->in[1], xc)));
    kb_if(b, idx_in_range(a, at, shape_numel(&inferred)));
    Expr *dst = at;
    if (!shape_equal(&inferred, &out)) {
        int64_t st[KILN_MAX_RANK];
        shape_strides(&inferred, st);
        for (int k = 0; k < out.rank; k++)
            yc[k] = BIN(B_MOD, BIN(B_DIV, at, IDX(st[k])), IDX(inferred.dim[k]));
        dst = kb_flat(b, &out, yc);
    }
    kb_store(b, yb, dst, ke_cast(a, t, lw_load(L, n->in[0], xc)));
    kb_end(b); /* if */
    lw_end_loops(L, xs);
    return 0;
}

/* ------------------------------------------------------------ DeformConv */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct DeformConv {
    Window w;            /* geometry of the plain convolution */
    int64_t N, C, M;     /* batch, input channels, output channels */
    int64_t group, offset_group;
    int64_t K;           /* taps per kernel (product of kernel_shape) */
    Shape out;           /* [N, M, out...] */
} DeformConv;

static int deformconv_read(Graph *g, Node *n, DeformConv *dc, Diag *d)
{
    const Value *x = op_in(g, n, 0), *w = op_in(g, n, 1), *off = op_in(g, n, 2), *bias = op_in(g, n, 3),
                *mask = op_in(g, n, 4);
    int64_t kernel[KILN_MAX_RANK];
    char s1[160], s2[160];
    memset(dc, 0, sizeof *dc);
    if (op_check_dtype(g, n, 0, float_types, d) || op_same_dtype(g, n, 0, 1, d) || op_same_dtype(g, n, 0, 2, d) ||
        op_same_dtype(g, n, 0, 3, d) || op_same_dtype(g, n, 0, 4, d))
        return 1;
    if (x->shape.rank < 3)
        return diag_node(d, g, n, "X has shape %s, expected rank 3 or more (N, C, spatial...)",
                         shape_str(&x->shape, s1, sizeof s1));
    int r = x->shape.rank - 2;
    if (w->shape.rank != x->shape.rank)
        return diag_node(d, g, n, "W has shape %s, expected rank %d like X", shape_str(&w->shape, s1, sizeof s1),
                         x->shape.rank);
    if (attr_int(g, n, "group", 1, &dc->group, d) || attr_int(g, n, "offset_group", 1, &dc->offset_group, d) ||
        window_ints(g, n, "kernel_shape", r, 0, 1, kernel, d))
        return 1;
    dc->N = x->shape.dim[0];
    dc->C = x->shape.dim[1];
    dc->M = w->shape.dim[0];
    if (dc->group < 1 || dc->C % dc->group || dc->M % dc->group)
        return diag_node(d, g, n, "group %lld must divide the %lld input and %lld output channels",
                         (long long)dc->group, (long long)dc->C, (long long)dc->M);
    if (dc->offset_group < 1 || dc->C % dc->offset_group)
        return diag_node(d, g, n, "offset_group %lld must divide the %lld input channels",
                         (long long)dc->offset_group, (long long)dc->C);
    if (w->shape.dim[1] != dc->C / dc->group)
        return diag_node(d, g, n, "W has shape %s: expected %lld input channels per group",
                         shape_str(&w->shape, s1, sizeof s1), (long long)(dc->C / dc->group));
    dc->K = 1;
    for (int i = 0; i < r; i++) {
        if (!node_attr(n, "kernel_shape"))
            kernel[i] = w->shape.dim[i + 2];
        else if (kernel[i] != w->shape.dim[i + 2])
            return diag_node(d, g, n, "kernel_shape[%d] is %lld but W has %lld taps there", i, (long long)kernel[i],
                             (long long)w->shape.dim[i + 2]);
        if (ck_mul(dc->K, kernel[i], &dc->K))
            return diag_node(d, g, n, "the kernel has too many taps");
    }
    if (window_read(g, n, &x->shape, kernel, 0, &dc->w, d))
        return 1;
    dc->out = x->shape;
    dc->out.dim[1] = dc->M;
    for (int i = 0; i < r; i++)
        dc->out.dim[i + 2] = dc->w.out[i];
    Shape want = dc->out;
    if (ck_mul(dc->offset_group, dc->K, &want.dim[1]) || ck_mul(want.dim[1], r, &want.dim[1]))
        return diag_node(d, g, n, "offset_group %lld times the %lld taps overflows", (long long)dc->offset_group,
                         (long long)dc->K);
    if (!shape_equal(&off->shape, &want))
        return diag_node(d, g, n, "offset has shape %s, expected %s (N, offset_group * taps * %d, output...)",
                         shape_str(&off->shape, s1, sizeof s1), shape_str(&want, s2, sizeof s2), r);
    want.dim[1] = dc->offset_group * dc->K;
    if (mask && !shape_equal(&mask->shape, &want))
        return diag_node(d, g, n, "mask has shape %s, expected %s (N, offset_group * taps, output...)",
                         shape_str(&mask->shape, s1, sizeof s1), shape_str(&want, s2, sizeof s2));
    if (bias && (bias->shape.rank != 1 || bias->shape.dim[0] != dc->M))
        return diag_node(d, g, n, "B has shape %s, expected (%lld) (one per output channel)",
                         shape_str(&bias->shape, s1, sizeof s1), (long long)dc->M);
    if (shape_numel(&dc->out) > 0)
        for (int i = 0; i < r; i++)
            if (x->shape.dim[i + 2] < 1)
                return diag_node(d, g, n, "X has shape %s: spatial axis %d is empty",
                                 shape_str(&x->shape, s1, sizeof s1), i);
    return 0;
}

int infer_deformconv(Graph *g, Node *n, Diag *d)
{
    DeformConv *dc = op_attrs(g, n, sizeof *dc);
    if (deformconv_read(g, n, dc, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &dc->out);
    return 0;
}

int lower_deformconv(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const DeformConv *dc = n->attrs;
    const Window *w = &dc->w;
    int r = w->rank;
    int has_bias = n->nin > 3 && n->in[3] != VNONE, has_mask = n->nin > 4 && n->in[4] != VNONE;
    DType t = g->values[n->out[0]].dtype, ct = op_calc_type(t);
    int64_t cg = dc->C / dc->group, mg = dc->M / dc->group, cog = dc->C / dc->offset_group;
    char on[KILN_MAX_RANK][8], kn[KILN_MAX_RANK][8], xn[KILN_MAX_RANK][8];
    window_names(r, "o", on);
    window_names(r, "k", kn);
    window_names(r, "", xn);
    Shape ks = {r, {0}};
    for (int i = 0; i < r; i++)
        ks.dim[i] = w->k[i];
    Expr *o[KILN_MAX_RANK], *k[KILN_MAX_RANK], *oc[KILN_MAX_RANK + 2], *wc[KILN_MAX_RANK + 2];
    Expr *j0[KILN_MAX_RANK], *frac[KILN_MAX_RANK], *xc[KILN_MAX_RANK + 2];

    /* y[n, m, o...] = b[m] + sum_{c, k...} w[m, c, k...] * mask * bilinear(x[n, cin], o*s - p + k*d + offset)
     * with cin = group(m)*Cg + c and the offsets and mask of cin's offset group */
    kb_comment(b, "y[n, m, o...] = b[m] + sum_{c, k...} w[m, c, k...] * mask[..] * x[n, cin](o*s - p + k*d + offset[..]) (bilinear)");
    Expr *nn = kb_v(b, kb_for(b, "n", dc->N));
    Expr *m = kb_v(b, kb_for(b, "m", dc->M));
    for (int i = 0; i < r; i++)
        o[i] = kb_v(b, kb_for(b, on[i], w->out[i]));
    int acc = kb_let(b, "acc", has_bias ? ke_cast(a, ct, lw_load(L, n->in[3], &m)) : ke_float(a, ct, 0));
    Expr *c = kb_v(b, kb_for(b, "c", cg));
    Expr *cin = dc->group == 1 ? c : let(b, "cin", BIN(B_ADD, BIN(B_MUL, BIN(B_DIV, m, IDX(mg)), IDX(cg)), c));
    for (int i = 0; i < r; i++)
        k[i] = kb_v(b, kb_for(b, kn[i], w->k[i]));
    /* the tap's offsets: channel (og*K + flat(k)) * r + axis of offset, og*K + flat(k) of mask */
    Expr *slot = kb_flat(b, &ks, k);
    if (dc->offset_group > 1)
        slot = BIN(B_ADD, BIN(B_MUL, BIN(B_DIV, cin, IDX(cog)), IDX(dc->K)), slot);
    slot = let(b, "slot", slot);
    oc[0] = nn;
    for (int i = 0; i < r; i++)
        oc[i + 2] = o[i];
    for (int i = 0; i < r; i++) {
        oc[1] = BIN(B_ADD, BIN(B_MUL, slot, IDX(r)), IDX(i));
        Expr *p = BIN(B_ADD, ke_cast(a, ct, window_coord(a, w, i, o[i], k[i])),
                      ke_cast(a, ct, lw_load(L, n->in[2], oc)));
        p = let(b, arena_printf(a, "p%s", xn[i]), p);
        Expr *f = let(b, arena_printf(a, "f%s", xn[i]), ke_un(a, U_FLOOR, p));
        j0[i] = let(b, arena_printf(a, "j%s", xn[i]), ke_cast(a, DT_INDEX, f));
        frac[i] = let(b, arena_printf(a, "t%s", xn[i]), BIN(B_SUB, p, f));
    }
    /* bilinear sample: 2 taps an axis, zero outside x */
    int sample = kb_let(b, "sample", ke_float(a, ct, 0));
    Expr *wt = NULL, *inside = NULL;
    xc[0] = nn;
    xc[1] = cin;
    for (int i = 0; i < r; i++) {
        Expr *q = kb_v(b, kb_for(b, arena_printf(a, "q%s", xn[i]), 2));
        Expr *j = let(b, arena_printf(a, "i%s", xn[i]), BIN(B_ADD, j0[i], q));
        int64_t len = g->values[n->in[0]].shape.dim[i + 2];
        inside = and_cond(a, inside, idx_in_range(a, j, len));
        xc[i + 2] = idx_clamp(a, j, len);
        Expr *wi = ke_select(a, BIN(B_EQ, q, IDX(0)), BIN(B_SUB, ke_float(a, ct, 1), frac[i]), frac[i]);
        wt = wt ? BIN(B_MUL, wt, wi) : wi;
    }
    Expr *xv = ke_select(a, inside, ke_cast(a, ct, lw_load(L, n->in[0], xc)), ke_float(a, ct, 0));
    kb_assign(b, sample, BIN(B_ADD, kb_v(b, sample), BIN(B_MUL, wt, xv)));
    for (int i = 0; i < r; i++)
        kb_end(b);
    Expr *sv = kb_v(b, sample);
    if (has_mask) {
        oc[1] = slot;
        sv = BIN(B_MUL, sv, ke_cast(a, ct, lw_load(L, n->in[4], oc)));
    }
    wc[0] = m;
    wc[1] = c;
    for (int i = 0; i < r; i++)
        wc[i + 2] = k[i];
    kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), BIN(B_MUL, ke_cast(a, ct, lw_load(L, n->in[1], wc)), sv)));
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* c */
    Expr *yc[KILN_MAX_RANK + 2];
    yc[0] = nn;
    yc[1] = m;
    for (int i = 0; i < r; i++)
        yc[i + 2] = o[i];
    lw_store(L, n, 0, yc, ke_cast(a, t, kb_v(b, acc)));
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* m */
    kb_end(b); /* n */
    return 0;
}
