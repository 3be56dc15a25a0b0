/*
 * resize.c: Resize and Upsample.
 *
 * Both resample X on a grid of another size. Every output coordinate o of a
 * resized axis maps to a real source coordinate x (coordinate_transformation_
 * mode, from the axis's scale, in and out lengths and roi), and the output is
 * a weighted sum of the input around x, one axis after another:
 *
 *   nearest  one tap: x rounded (nearest_mode), clamped into the input
 *   linear   taps floor(x) .. floor(x)+1, weights 1 - |j - x|
 *   cubic    taps floor(x)-1 .. floor(x)+2, the Keys kernel with cubic_coeff_a
 *
 * With antialias (downsampling only) the filter is stretched by 1/scale, so
 * 2*ceil(R/scale) taps contribute (R: 1 linear, 2 cubic), and the weights
 * are normalized to sum 1. Taps outside the input read its edge, or with
 * exclude_outside get weight 0 (the rest renormalized). tf_crop_and_resize
 * writes extrapolation_value where x falls outside [0, in - 1] on any axis.
 * The coordinate arithmetic is done in f64 in the order the ONNX reference
 * implementation uses, so that nearest rounding ties fall the same way.
 *
 * Upsample (opset 7 and 9) and Resize-10 are the "asymmetric" transform
 * with onnxruntime's nearest rounding of those versions: floor when an axis
 * grows, ceil when it shrinks.
 *
 * Lowering. nearest is one nest, the source index of each axis computed
 * once per output coordinate:
 *
 *     for n, c, h: ih = idx(h); for w: iw = idx(w); y[n,c,h,w] = x[n,c,ih,iw]
 *
 * linear and cubic first fill, per resized axis, a table of taps and
 * weights of each output coordinate (kernel scratch), then sum over them:
 *
 *     for h: for k: tap_h[h,k] = clamp(j), wt_h[h,k] = f(|j - x(h)|)  (j = first tap + k)
 *     for n, c, h, w: acc = 0; for kh, kw: acc += wt_h[h,kh] wt_w[w,kw] x[n,c,tap_h[h,kh],tap_w[w,kw]]
 *
 * Axes whose scale is 1 and whose length does not change (with a trivial
 * roi) are copied, as the reference does.
 */
#include "op.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC };

/* coordinate_transformation_mode */
enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
};

/* nearest_mode; NR_SIMPLE is the rounding of Upsample and Resize-10 */
enum { NR_ROUND_PREFER_FLOOR, NR_ROUND_PREFER_CEIL, NR_FLOOR, NR_CEIL, NR_SIMPLE };

/* A string attribute's values: the name, its enum value, and the opsets of
 * Resize that know it [since, until]. */
typedef struct Choice {
    const char *name;
    int value;
    int since, until;
} Choice;

static const Choice modes[] = {
    {"nearest", RZ_NEAREST, 1, 99}, {"linear", RZ_LINEAR, 1, 99}, {"cubic", RZ_CUBIC, 11, 99},
};
static const Choice transforms[] = {
    {"half_pixel", CT_HALF_PIXEL, 11, 99},
    {"half_pixel_symmetric", CT_HALF_PIXEL_SYMMETRIC, 19, 99},
    {"pytorch_half_pixel", CT_PYTORCH_HALF_PIXEL, 11, 99},
    {"align_corners", CT_ALIGN_CORNERS, 11, 99},
    {"asymmetric", CT_ASYMMETRIC, 11, 99},
    {"tf_half_pixel_for_nn", CT_TF_HALF_PIXEL_FOR_NN, 11, 12},
    {"tf_crop_and_resize", CT_TF_CROP_AND_RESIZE, 11, 99},
};
static const Choice roundings[] = {
    {"round_prefer_floor", NR_ROUND_PREFER_FLOOR, 11, 99},
    {"round_prefer_ceil", NR_ROUND_PREFER_CEIL, 11, 99},
    {"floor", NR_FLOOR, 11, 99},
    {"ceil", NR_CEIL, 11, 99},
};
enum { KEEP_STRETCH, KEEP_NOT_LARGER, KEEP_NOT_SMALLER };
static const Choice policies[] = {
    {"stretch", KEEP_STRETCH, 18, 99}, {"not_larger", KEEP_NOT_LARGER, 18, 99},
    {"not_smaller", KEEP_NOT_SMALLER, 18, 99},
};

/* Resize attributes and the opset that introduced them. */
static const struct {
    const char *name;
    int since;
} resize_since[] = {
    {"coordinate_transformation_mode", 11}, {"cubic_coeff_a", 11}, {"exclude_outside", 11},
    {"extrapolation_value", 11},            {"nearest_mode", 11},  {"antialias", 18},
    {"axes", 18},                           {"keep_aspect_ratio_policy", 18},
};

/* Everything a Resize or Upsample node computes, with its constant inputs
 * read: per-axis scales, lengths and roi, over all `rank` axes.
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct Resize {
    int mode;                           /* RZ_* */
    int ctm;                            /* CT_*: coordinate transformation */
    int nearest;                        /* NR_*: rounding of nearest */
    double cubic_a;                     /* cubic_coeff_a */
    double extrap;                      /* extrapolation_value */
    int exclude;                        /* exclude_outside */
    int antialias;                      /* stretch the filter when downsampling */
    Shape in, out;                      /* X and Y */
    double scale[KILN_MAX_RANK];        /* scale each axis's coordinates use (1 off axes) */
    double width[KILN_MAX_RANK];        /* output length as a real number (scale * in) */
    double roi0[KILN_MAX_RANK];         /* tf_crop_and_resize window start, 0 off axes */
    double roi1[KILN_MAX_RANK];         /* window end, 1 off axes */
    int resized[KILN_MAX_RANK];         /* the axis is resampled, not copied */
} Resize;

/* The value of string attribute `attr` among `ch[nch]`; unknown names and
 * names the node's opset does not have are errors. */
static int pick(Graph *g, Node *n, const char *attr, const char *def, const Choice *ch, int nch, int *out, Diag *d)
{
    const char *s;
    if (attr_str(g, n, attr, def, &s, d))
        return 1;
    for (int i = 0; i < nch; i++) {
        if (strcmp(s, ch[i].name))
            continue;
        if (n->op == OP_RESIZE && node_attr(n, attr) && (n->opset < ch[i].since || n->opset > ch[i].until))
            return diag_node(d, g, n, "%s '%s' is not part of Resize-%d", attr, s, n->opset);
        *out = ch[i].value;
        return 0;
    }
    return diag_node(d, g, n, "unknown %s '%s'", attr, s);
}

static int near_one(double v) { return fabs(v - 1.0) <= 1e-9 * fmax(1.0, fabs(v)); }

/* Taps and the filter of a linear or cubic axis. */
typedef struct Filter {
    int64_t ntaps;    /* taps per output coordinate */
    double support;   /* the filter's scale on |j - x|: min(scale, 1) with antialias, else 1 */
} Filter;

/* The filter of resized axis i. With antialias the taps grow as 1/scale;
 * an axis with output coordinates has scale >= 1/(2 in), so they stay
 * within a few times the input extent. Returns 1 when the tap table
 * [out, ntaps] (f64) would be larger than a tensor may be. */
static int axis_filter(const Resize *rz, int i, Filter *f)
{
    double radius = rz->mode == RZ_CUBIC ? 2 : 1;
    f->support = rz->antialias && rz->scale[i] < 1 ? rz->scale[i] : 1.0;
    f->ntaps = 2;
    if (rz->out.dim[i] == 0)
        return 0; /* no coordinate reads a tap */
    double start = floor(-radius / f->support) + 1; /* as the reference computes it */
    if (!(start > -(double)KILN_MAX_BYTES))
        return 1;
    f->ntaps = 2 - 2 * (int64_t)start;
    Shape ts = {2, {rz->out.dim[i], f->ntaps}};
    int64_t numel;
    return shape_check(&ts, 8, &numel);
}


/* The scales (or sizes) of Upsample and Resize-10: scales of every axis. */
static int old_scales(Graph *g, Node *n, double *scales, Diag *d)
{
    int ns, rank = op_in(g, n, 0)->shape.rank;
    if (n->op == OP_UPSAMPLE && n->opset < 9) {
        if (op_in(g, n, 1))
            return diag_node(d, g, n, "Upsample-%d takes scales as an attribute, not an input", n->opset);
        if (!node_attr(n, "scales"))
            return diag_node(d, g, n, "attribute 'scales' is required");
        if (attr_floats(g, n, "scales", scales, KILN_MAX_RANK, &ns, d))
            return 1;
    } else {
        if (node_attr(n, "scales"))
            return diag_node(d, g, n, "attribute 'scales' became an input in opset 9");
        if (!op_in(g, n, 1))
            return diag_node(d, g, n, "input 1 (scales) is required");
        if (op_const_floats(g, n, 1, scales, KILN_MAX_RANK, &ns, d))
            return 1;
    }
    if (ns != rank)
        return diag_node(d, g, n, "scales has %d values, expected one per axis of X (%d)", ns, rank);
    for (int i = 0; i < rank; i++)
        if (n->op == OP_UPSAMPLE && !(scales[i] >= 1))
            return diag_node(d, g, n, "scale %g of axis %d is below 1: Upsample only enlarges", scales[i], i);
    return 0;
}

/* Read a Resize or Upsample node into rz: attributes by opset, constant
 * scales/sizes/roi, output shape. */
static int resize_read(Graph *g, Node *n, Resize *rz, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int rank = x->shape.rank;
    char xs[160];
    memset(rz, 0, sizeof *rz);
    rz->in = rz->out = x->shape;
    if (n->op == OP_UPSAMPLE && n->opset < 7)
        return diag_node(d, g, n, "Upsample-%d (experimental) is not supported; use opset 7 or later", n->opset);
    if (rank == 0)
        return diag_node(d, g, n, "X is a scalar, it has no axes to resize");
    if (n->op == OP_RESIZE)
        for (size_t i = 0; i < sizeof resize_since / sizeof resize_since[0]; i++)
            if (n->opset < resize_since[i].since && node_attr(n, resize_since[i].name))
                return diag_node(d, g, n, "attribute '%s' needs opset %d (the model imports opset %d)",
                                 resize_since[i].name, resize_since[i].since, n->opset);
    if (pick(g, n, "mode", "nearest", modes, 3, &rz->mode, d))
        return 1;
    if (n->op == OP_UPSAMPLE && rz->mode == RZ_CUBIC)
        return diag_node(d, g, n, "Upsample has no mode 'cubic'");
    if (rz->mode != RZ_NEAREST && op_check_dtype(g, n, 0, op_float_types, d))
        return 1;
    if (!dtype_is_computable(x->dtype))
        return diag_node(d, g, n, "X has type %s, which kiln does not compute yet", dtype_name(x->dtype));

    double scales[KILN_MAX_RANK];
    int64_t sizes[KILN_MAX_RANK], axes[KILN_MAX_RANK], antialias, exclude;
    double roi[2 * KILN_MAX_RANK];
    int ns = -1, nz = -1, naxes = -1, nroi = -1, policy = KEEP_STRETCH;
    int old = n->op == OP_UPSAMPLE || n->opset < 11;
    if (old) {
        rz->ctm = CT_ASYMMETRIC;
        rz->nearest = NR_SIMPLE;
        rz->cubic_a = -0.75;
        if (old_scales(g, n, scales, d))
            return 1;
        ns = rank;
    } else {
        if (pick(g, n, "coordinate_transformation_mode", "half_pixel", transforms, 7, &rz->ctm, d) ||
            pick(g, n, "nearest_mode", "round_prefer_floor", roundings, 4, &rz->nearest, d) ||
            pick(g, n, "keep_aspect_ratio_policy", "stretch", policies, 3, &policy, d) ||
            attr_float(g, n, "cubic_coeff_a", -0.75, &rz->cubic_a, d) ||
            attr_float(g, n, "extrapolation_value", 0.0, &rz->extrap, d) ||
            attr_int(g, n, "exclude_outside", 0, &exclude, d) || attr_int(g, n, "antialias", 0, &antialias, d) ||
            attr_ints(g, n, "axes", axes, KILN_MAX_RANK, &naxes, d))
            return 1;
        rz->exclude = exclude != 0;
        rz->antialias = antialias != 0 && rz->mode != RZ_NEAREST;
        if (op_const_floats(g, n, 2, scales, KILN_MAX_RANK, &ns, d) ||
            op_const_ints(g, n, 3, sizes, KILN_MAX_RANK, &nz, d))
            return 1;
        if (ns == 0)
            ns = -1; /* an empty scales stands for "absent" (opset 11) */
        if (nz == 0)
            nz = -1;
        if (ns >= 0 && nz >= 0)
            return diag_node(d, g, n, "both scales and sizes are given; exactly one of them must be");
        if (ns < 0 && nz < 0)
            return diag_node(d, g, n, "neither scales nor sizes is given; exactly one of them must be");
        if (rz->ctm == CT_TF_CROP_AND_RESIZE) {
            if (op_const_floats(g, n, 1, roi, 2 * KILN_MAX_RANK, &nroi, d))
                return 1;
            if (nroi <= 0)
                return diag_node(d, g, n, "tf_crop_and_resize needs the roi input");
        }
    }

    /* the axes scales/sizes/roi speak of */
    int ax[KILN_MAX_RANK];
    if (op_axes(g, n, axes, &naxes, rank, ax, d))
        return 1;
    int given = ns >= 0 ? ns : nz;
    if (given != naxes)
        return diag_node(d, g, n, "%s has %d values, expected %d (one per axis in 'axes', or of X)",
                         ns >= 0 ? "scales" : "sizes", given, naxes);
    if (nroi >= 0 && nroi != 2 * naxes)
        return diag_node(d, g, n, "roi has %d values, expected %d (starts then ends)", nroi, 2 * naxes);

    for (int i = 0; i < rank; i++) {
        rz->scale[i] = 1.0;
        rz->roi0[i] = 0.0;
        rz->roi1[i] = 1.0;
    }
    if (nroi > 0)
        for (int i = 0; i < naxes; i++) {
            rz->roi0[ax[i]] = roi[i];
            rz->roi1[ax[i]] = roi[naxes + i];
        }
    for (int i = 0; i < naxes; i++) {
        int a = ax[i];
        int64_t in = x->shape.dim[a];
        if (ns >= 0) {
            if (!(scales[i] > 0) || isinf(scales[i]))
                return diag_node(d, g, n, "scale %g of axis %d must be positive", scales[i], a);
            rz->scale[a] = scales[i];
            double len = floor(scales[i] * (double)in);
            if (!(len <= (double)INT32_MAX))
                return diag_node(d, g, n, "scale %g of axis %d gives an output too large", scales[i], a);
            rz->out.dim[a] = (int64_t)len;
        } else {
            if (sizes[i] < 0)
                return diag_node(d, g, n, "size %lld of axis %d is negative", (long long)sizes[i], a);
            if (in == 0)
                return diag_node(d, g, n, "axis %d of X is empty; it cannot be resized to %lld", a,
                                 (long long)sizes[i]);
            rz->out.dim[a] = sizes[i];
            rz->scale[a] = (double)sizes[i] / (double)in;
        }
        rz->width[a] = rz->scale[a] * (double)in;
    }
    if (nz >= 0 && policy != KEEP_STRETCH) {
        /* one scale for every listed axis: the smallest or the largest */
        double s = rz->scale[ax[0]];
        for (int i = 1; i < naxes; i++)
            s = policy == KEEP_NOT_LARGER ? fmin(s, rz->scale[ax[i]]) : fmax(s, rz->scale[ax[i]]);
        for (int i = 0; i < naxes; i++) {
            int a = ax[i];
            double len = s * (double)x->shape.dim[a] + 0.5;
            if (!(len <= (double)INT32_MAX)) /* checked before the conversion, which NaN or >= 2^63 would break */
                return diag_node(d, g, n, "scale %g of axis %d gives an output too large", s, a);
            rz->scale[a] = s;
            rz->out.dim[a] = (int64_t)len;
            rz->width[a] = s * (double)x->shape.dim[a];
        }
    } else if (nz >= 0) {
        for (int i = 0; i < naxes; i++)
            rz->width[ax[i]] = (double)rz->out.dim[ax[i]]; /* the exact length */
    }
    for (int i = 0; i < naxes; i++) {
        int a = ax[i];
        if (x->shape.dim[a] == 0 && rz->out.dim[a] > 0)
            return diag_node(d, g, n, "axis %d of X %s is empty; it cannot be resized", a,
                             shape_str(&x->shape, xs, sizeof xs));
        rz->resized[a] = !(near_one(rz->scale[a]) && rz->out.dim[a] == x->shape.dim[a] &&
                           fabs(rz->roi0[a]) <= 1e-9 && near_one(rz->roi1[a]));
        Filter f;
        if (rz->resized[a] && rz->mode != RZ_NEAREST && axis_filter(rz, a, &f))
            return diag_node(d, g, n, "scale %g of axis %d needs a filter table too large to build", rz->scale[a], a);
    }
    return 0;
}

int infer_resize(Graph *g, Node *n, Diag *d)
{
    Resize *rz = op_attrs(g, n, sizeof *rz);
    if (resize_read(g, n, rz, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &rz->out);
    return 0;
}

/* ------------------------------------------------------------- lowering */

#define F64(v) ke_float(a, DT_F64, (v))
#define BIN(op, x, y) ke_bin(a, (op), (x), (y))

/* x_original of output coordinate o (an index) on axis i, as an f64
 * expression, in the operation order of the ONNX reference. */
static Expr *source_coord(Arena *a, const Resize *rz, int i, Expr *o)
{
    Expr *of = ke_cast(a, DT_F64, o);
    double s = rz->scale[i], in = (double)rz->in.dim[i], w = rz->width[i];
    double lo = rz->roi0[i], hi = rz->roi1[i];
    Expr *half = BIN(B_DIV, BIN(B_ADD, of, F64(0.5)), F64(s)); /* (o + 0.5) / s */
    switch (rz->ctm) {
    case CT_ALIGN_CORNERS:
        return w == 1 ? F64(0) : BIN(B_DIV, BIN(B_MUL, of, F64(in - 1)), F64(w - 1));
    case CT_ASYMMETRIC:
        return BIN(B_DIV, of, F64(s));
    case CT_TF_CROP_AND_RESIZE:
        if (w == 1)
            return F64((hi - lo) * (in - 1) / 2 + lo * (in - 1));
        return BIN(B_ADD, BIN(B_DIV, BIN(B_MUL, BIN(B_MUL, of, F64(hi - lo)), F64(in - 1)), F64(w - 1)),
                   F64(lo * (in - 1)));
    case CT_PYTORCH_HALF_PIXEL:
        if (rz->out.dim[i] <= 1)
            return F64(0);
        return BIN(B_SUB, half, F64(0.5));
    case CT_HALF_PIXEL_SYMMETRIC: {
        double offset = in / 2 * (1 - (double)rz->out.dim[i] / w);
        return BIN(B_SUB, BIN(B_ADD, F64(offset), half), F64(0.5));
    }
    case CT_TF_HALF_PIXEL_FOR_NN:
        return half;
    default: /* CT_HALF_PIXEL */
        return BIN(B_SUB, half, F64(0.5));
    }
}

/* The input index nearest to x (an f64 variable) on axis i, clamped. */
static Expr *nearest_index(Arena *a, const Resize *rz, int i, Expr *x)
{
    Expr *fl = ke_un(a, U_FLOOR, x), *r;
    int mode = rz->nearest;
    if (mode == NR_SIMPLE)
        mode = rz->scale[i] < 1 ? NR_CEIL : NR_FLOOR;
    switch (mode) {
    case NR_FLOOR: r = fl; break;
    case NR_CEIL: r = ke_un(a, U_CEIL, x); break;
    default: {
        /* the upper neighbor when the fraction is above (or, preferring
         * ceil, at) one half */
        Expr *frac = BIN(B_SUB, x, fl);
        Expr *up = BIN(mode == NR_ROUND_PREFER_CEIL ? B_GE : B_GT, frac, F64(0.5));
        r = BIN(B_ADD, fl, ke_select(a, up, F64(1), F64(0)));
        break;
    }
    }
    return idx_clamp(a, ke_cast(a, DT_INDEX, r), rz->in.dim[i]);
}

/* Loop names of the output axes: n c h w for images, else d0 d1 ... */
static void axis_names(int rank, char names[][8])
{
    static const char *img[] = {"n", "c", "d", "h", "w"};
    for (int i = 0; i < rank; i++) {
        if (rank >= 3 && rank <= 5) {
            int k = i < 2 ? i : 5 - (rank - i);
            strcpy(names[i], img[k]);
        } else {
            snprintf(names[i], 8, "d%d", i % 10);
        }
    }
}

/* Filter weight at distance t >= 0 (f64): the triangle, or the Keys cubic. */
static Expr *filter_weight(Arena *a, const Resize *rz, Expr *t)
{
    if (rz->mode == RZ_LINEAR)
        return BIN(B_MAX, BIN(B_SUB, F64(1), t), F64(0));
    double A = rz->cubic_a;
    /* t <= 1: ((A+2) t - (A+3)) t t + 1;  t < 2: ((A t - 5A) t + 8A) t - 4A;  else 0 */
    Expr *near = BIN(B_ADD, BIN(B_MUL, BIN(B_MUL, BIN(B_SUB, BIN(B_MUL, F64(A + 2), t), F64(A + 3)), t), t), F64(1));
    Expr *far = BIN(B_SUB,
                    BIN(B_MUL, BIN(B_ADD, BIN(B_MUL, BIN(B_SUB, BIN(B_MUL, F64(A), t), F64(5 * A)), t), F64(8 * A)), t),
                    F64(4 * A));
    return ke_select(a, BIN(B_LE, t, F64(1)), near, ke_select(a, BIN(B_LT, t, F64(2)), far, F64(0)));
}

/* Fill tap[o, k] (i64) and wt[o, k] (f64) of resized axis i: the input
 * index each tap reads (clamped) and its weight, normalized when antialias
 * or exclude_outside ask for it. */
static void lower_taps(Lower *L, const Resize *rz, int i, const char *name, const Filter *f, int tap, int wt)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    int64_t in = rz->in.dim[i], n = f->ntaps;
    int normalize = rz->antialias || rz->exclude;
    kb_comment(b, arena_printf(a, "axis %d: taps and weights of each output %s (%lld taps)", i, name, (long long)n));
    Expr *o = kb_v(b, kb_for(b, name, rz->out.dim[i]));
    Expr *x = kb_v(b, kb_let(b, "x", source_coord(a, rz, i, o)));
    /* first tap: floor(x) - (n/2 - 1) */
    Expr *first = BIN(B_SUB, ke_cast(a, DT_INDEX, ke_un(a, U_FLOOR, x)), ke_idx(a, n / 2 - 1));
    Expr *j0 = kb_v(b, kb_let(b, "j0", first));
    int sum = normalize ? kb_let(b, "sum", F64(0)) : -1;
    Expr *k = kb_v(b, kb_for(b, "k", n));
    Expr *j = kb_v(b, kb_let(b, "j", BIN(B_ADD, j0, k)));
    Expr *dist = BIN(B_MUL, ke_un(a, U_ABS, BIN(B_SUB, ke_cast(a, DT_F64, j), x)), F64(f->support));
    Expr *w = filter_weight(a, rz, dist);
    if (rz->exclude) {
        Expr *inside = BIN(B_AND, BIN(B_GE, j, ke_idx(a, 0)), BIN(B_LT, j, ke_idx(a, in)));
        w = ke_select(a, inside, w, F64(0));
    }
    Expr *slot = BIN(B_ADD, BIN(B_MUL, o, ke_idx(a, n)), k);
    int wv = kb_let(b, "wgt", w);
    kb_store(b, tap, slot, ke_cast(a, DT_I64, idx_clamp(a, j, in)));
    kb_store(b, wt, slot, kb_v(b, wv));
    if (normalize)
        kb_assign(b, sum, BIN(B_ADD, kb_v(b, sum), kb_v(b, wv)));
    kb_end(b);
    if (normalize) {
        /* all taps excluded: keep the zeros */
        Expr *div = ke_select(a, BIN(B_EQ, kb_v(b, sum), F64(0)), F64(1), kb_v(b, sum));
        int dv = kb_let(b, "div", div);
        k = kb_v(b, kb_for(b, "k", n));
        slot = BIN(B_ADD, BIN(B_MUL, o, ke_idx(a, n)), k);
        kb_store(b, wt, slot, BIN(B_DIV, ke_load(a, b->p, wt, slot), kb_v(b, dv)));
        kb_end(b);
    }
    kb_end(b);
}

int lower_resize(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Resize *rz = n->attrs;
    int rank = rz->in.rank;
    DType t = g->values[n->out[0]].dtype;
    char names[KILN_MAX_RANK][8];
    axis_names(rank, names);
    int interp = rz->mode != RZ_NEAREST;

    /* tap and weight tables of every resized axis */
    Filter flt[KILN_MAX_RANK];
    int tap[KILN_MAX_RANK], wt[KILN_MAX_RANK];
    for (int i = 0; i < rank && interp; i++) {
        if (!rz->resized[i])
            continue;
        axis_filter(rz, i, &flt[i]); /* checked in resize_read */
        Shape ts = {2, {rz->out.dim[i], flt[i].ntaps}};
        tap[i] = lw_temp(L, arena_printf(a, "tap_%s", names[i]), DT_I64, &ts);
        wt[i] = lw_temp(L, arena_printf(a, "wt_%s", names[i]), DT_F64, &ts);
        lower_taps(L, rz, i, names[i], &flt[i], tap[i], wt[i]);
    }

    switch (rz->mode) {
    case RZ_NEAREST: kb_comment(b, "y[o...] = x[nearest(x_original(o))...]"); break;
    case RZ_LINEAR: kb_comment(b, "y[o...] = sum over taps of prod wt * x[tap...] (linear)"); break;
    default: kb_comment(b, "y[o...] = sum over taps of prod wt * x[tap...] (cubic)"); break;
    }
    /* output loops; per resized axis, its source coordinate right after its loop */
    Expr *o[KILN_MAX_RANK], *src[KILN_MAX_RANK];
    Expr *outside = NULL; /* tf_crop_and_resize: some axis samples outside X */
    for (int i = 0; i < rank; i++) {
        o[i] = src[i] = kb_v(b, kb_for(b, names[i], rz->out.dim[i]));
        if (!rz->resized[i])
            continue;
        if (rz->ctm == CT_TF_CROP_AND_RESIZE || !interp) {
            Expr *x = kb_v(b, kb_let(b, arena_printf(a, "x%s", names[i]), source_coord(a, rz, i, o[i])));
            if (rz->ctm == CT_TF_CROP_AND_RESIZE) {
                Expr *out = BIN(B_OR, BIN(B_LT, x, F64(0)), BIN(B_GT, x, F64((double)(rz->in.dim[i] - 1))));
                outside = outside ? BIN(B_OR, outside, out) : out;
            }
            if (!interp)
                src[i] = kb_v(b, kb_let(b, arena_printf(a, "i%s", names[i]), nearest_index(a, rz, i, x)));
        }
    }
    Expr *v;
    if (!interp) {
        v = lw_load(L, n->in[0], src);
    } else {
        /* acc = sum over the taps of every resized axis */
        int acc = kb_let(b, "acc", F64(0));
        Expr *w = NULL;
        int nloops = 0;
        for (int i = 0; i < rank; i++) {
            if (!rz->resized[i])
                continue;
            Expr *k = kb_v(b, kb_for(b, arena_printf(a, "k%s", names[i]), flt[i].ntaps));
            nloops++;
            Expr *slot = BIN(B_ADD, BIN(B_MUL, o[i], ke_idx(a, flt[i].ntaps)), k);
            src[i] = ke_cast(a, DT_INDEX, ke_load(a, b->p, tap[i], slot));
            Expr *wi = ke_load(a, b->p, wt[i], slot);
            w = w ? BIN(B_MUL, w, wi) : wi;
        }
        Expr *xv = ke_cast(a, DT_F64, lw_load(L, n->in[0], src));
        kb_assign(b, acc, BIN(B_ADD, kb_v(b, acc), w ? BIN(B_MUL, w, xv) : xv));
        for (int i = 0; i < nloops; i++)
            kb_end(b);
        v = ke_cast(a, t, kb_v(b, acc));
    }
    if (outside)
        v = ke_select(a, outside, ke_const(a, t, rz->extrap), v);
    lw_store(L, n, 0, o, v);
    for (int i = 0; i < rank; i++)
        kb_end(b);
    return 0;
}
