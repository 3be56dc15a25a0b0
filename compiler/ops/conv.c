/*
 * conv.c: Conv and ConvTranspose, and the window arithmetic they share
 * with pooling (pool.c).
 *
 * A window op slides a kernel of k[i] taps, dilated by d[i], with stride
 * s[i] over the spatial dims of x [N, C, in...], padded by p0[i] before and
 * p1[i] after. Output position o reads input position o*s - p0 + k*d; taps
 * that fall in the padding are skipped (Conv reads them as zero). Window
 * (below) holds that geometry; window_read() fills it from a node's
 * attributes (strides, dilations, pads, auto_pad, ceil_mode) exactly as the
 * ONNX spec computes output sizes and auto pads, for Conv and every pooling
 * op alike.
 *
 * Conv lowers to the direct loop nest
 *
 *     for n, m, o...: acc = b[m]; for c, k...: if (inside) acc += x * w; y = acc
 *
 * with the padding test emitted only along the dims where a tap can
 * actually leave the input. ConvTranspose is written as a gather: each
 * output position sums the input positions whose taps land on it, so it
 * too stores every output element once. Tiling and vectorization are the
 * loop passes' business, not this file's.
 */
#include "op.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------- window geometry */

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

/* Integer list attribute `name` with exactly `count` entries, each >= min;
 * every entry is `def` when the attribute is absent. `out` has room for
 * `count` entries (count <= 2 * KILN_MAX_RANK); a list of any other
 * length is an error naming it, never a partial copy. */
int window_ints(Graph *g, Node *n, const char *name, int count, int64_t def, int64_t min, int64_t *out, Diag *d)
{
    const Attr *a = node_attr(n, name);
    int got;
    if (a && a->kind == ATTR_INTS && a->n != count)
        return diag_node(d, g, n, "attribute '%s' has %d values, expected %d", name, a->n, count);
    if (attr_ints(g, n, name, out, count, &got, d))
        return 1;
    if (got < 0) {
        for (int i = 0; i < count; i++)
            out[i] = def;
        return 0;
    }
    for (int i = 0; i < count; i++)
        if (out[i] < min)
            return diag_node(d, g, n, "attribute '%s' has value %lld, expected at least %lld", name,
                             (long long)out[i], (long long)min);
    return 0;
}

/* auto_pad as a PAD_* code ("" is NOTSET, as some exporters write it). */
int window_auto_pad(Graph *g, Node *n, int *out, Diag *d)
{
    static const char *names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    const char *s;
    if (attr_str(g, n, "auto_pad", "NOTSET", &s, d))
        return 1;
    *out = PAD_NOTSET;
    if (!*s)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return diag_node(d, g, n, "attribute 'auto_pad' is \"%s\", expected NOTSET, SAME_UPPER, SAME_LOWER or VALID", s);
}

/* a / b rounded up and down, for a >= 0 and b >= 1 (no a + b - 1: b may be
 * near INT64_MAX). */
static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }
static int64_t floor_div(int64_t a, int64_t b) { return a / b; }

static int window_overflow(Graph *g, Node *n, int i, Diag *d)
{
    return diag_node(d, g, n, "the window's geometry along spatial axis %d overflows 64-bit integers "
                              "(kernel, strides, dilations or pads are too large)", i);
}

/* Fill w for a window op over x [N, C, spatial...] with kernel[rank-2]
 * taps: strides, dilations, pads and auto_pad from n's attributes, then the
 * output extents (ceil_mode rounds up, and drops a last window that would
 * start in the end padding, as ONNX does). Every sum and product is
 * checked; on success the farthest input coordinate any tap reads,
 * (out-1)*s + (k-1)*d, and the padded extent in + p0 + p1 both fit int64,
 * so window_coord and window_inside cannot overflow. */
int window_read(Graph *g, Node *n, const Shape *x, const int64_t *kernel, int ceil_mode, Window *w, Diag *d)
{
    int r = x->rank - 2, mode;
    int64_t pads[2 * KILN_MAX_RANK];
    memset(w, 0, sizeof *w);
    w->rank = r;
    if (window_ints(g, n, "strides", r, 1, 1, w->s, d) || window_ints(g, n, "dilations", r, 1, 1, w->d, d) ||
        window_ints(g, n, "pads", 2 * r, 0, 0, pads, d) || window_auto_pad(g, n, &mode, d))
        return 1;
    for (int i = 0; i < r; i++) {
        int64_t in = x->dim[i + 2], ek, padded, reach;
        if (kernel[i] < 1)
            return diag_node(d, g, n, "kernel extent %lld along spatial axis %d must be at least 1",
                             (long long)kernel[i], i);
        if (ck_muladd(kernel[i] - 1, w->d[i], 1, &ek)) /* dilated kernel extent */
            return window_overflow(g, n, i, d);
        w->in[i] = in;
        w->k[i] = kernel[i];
        if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            /* out = ceil(in / s); the padding needed is split, the odd one at
             * the end (SAME_UPPER) or at the start (SAME_LOWER) */
            int64_t out = ceil_div(in, w->s[i]), total;
            if (ck_muladd(out - 1, w->s[i], ek, &total) || ck_sub(total, in, &total))
                return window_overflow(g, n, i, d);
            if (total < 0)
                total = 0;
            w->out[i] = out;
            w->p0[i] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            w->p1[i] = total - w->p0[i];
        } else {
            if (mode == PAD_NOTSET) {
                w->p0[i] = pads[i];
                w->p1[i] = pads[i + r];
            }
            if (ck_add(in, w->p0[i], &padded) || ck_add(padded, w->p1[i], &padded))
                return window_overflow(g, n, i, d);
            int64_t span = padded - ek; /* room for the window to slide */
            if (span < 0)
                return diag_node(d, g, n,
                                 "window of %lld (kernel %lld, dilation %lld) is larger than the padded input %lld "
                                 "along spatial axis %d",
                                 (long long)ek, (long long)kernel[i], (long long)w->d[i], (long long)padded, i);
            if (ceil_mode && mode == PAD_NOTSET) {
                int64_t start;
                w->out[i] = ceil_div(span, w->s[i]) + 1;
                if (ck_mul(w->out[i] - 1, w->s[i], &start) || start >= in + w->p0[i])
                    w->out[i]--; /* the last window would start in the end padding */
            } else {
                w->out[i] = floor_div(span, w->s[i]) + 1;
            }
        }
        if (ck_add(in, w->p0[i], &padded) || ck_add(padded, w->p1[i], &padded) ||
            (w->out[i] > 0 && ck_muladd(w->out[i] - 1, w->s[i], ek, &reach)))
            return window_overflow(g, n, i, d);
    }
    return 0;
}

/* Loop names for `rank` spatial dims: prefix + d, h, w (beyond 3 dims,
 * prefix + 0, 1, ..., with "i" for an empty prefix). */
void window_names(int rank, const char *prefix, char names[][8])
{
    static const char *dhw = "dhw";
    for (int i = 0; i < rank; i++) {
        if (rank <= 3)
            snprintf(names[i], 8, "%s%c", prefix, dhw[3 - rank + i]);
        else
            snprintf(names[i], 8, "%s%c", *prefix ? prefix : "i", '0' + i); /* rank <= KILN_MAX_RANK */
    }
}

/* Input coordinate of tap k of output position o along spatial dim i:
 * o*s - p0 + k*d. */
Expr *window_coord(Arena *a, const Window *w, int i, Expr *o, Expr *k)
{
    Expr *e = ke_bin(a, B_MUL, o, ke_idx(a, w->s[i]));
    e = ke_bin(a, B_SUB, e, ke_idx(a, w->p0[i]));
    return ke_bin(a, B_ADD, e, ke_bin(a, B_MUL, k, ke_idx(a, w->d[i])));
}

int64_t window_last(const Window *w, int i)
{
    return (w->out[i] - 1) * w->s[i] - w->p0[i] + (w->k[i] - 1) * w->d[i];
}

int64_t window_border(const Window *w, int i)
{
    if (w->out[i] == 0)
        return 0;
    int64_t after = window_last(w, i) - (w->in[i] - 1), b = w->p0[i] > after ? w->p0[i] : after;
    return b > 0 ? b : 0;
}

/* The test that input coordinates ix[rank] lie inside x: only the bounds a
 * tap can cross (from the geometry) are tested; NULL when none can. */
Expr *window_inside(Arena *a, const Window *w, Expr *const *ix)
{
    Expr *c = NULL;
    for (int i = 0; i < w->rank; i++) {
        int64_t lo = -w->p0[i];
        int64_t hi = window_last(w, i);
        if (w->out[i] == 0)
            continue;
        if (lo < 0)
            c = and_cond(a, c, ke_bin(a, B_GE, ix[i], ke_idx(a, 0)));
        if (hi >= w->in[i])
            c = and_cond(a, c, ke_bin(a, B_LT, ix[i], ke_idx(a, w->in[i])));
    }
    return c;
}

/* ------------------------------------------------------------------ Conv */


/* What Conv and ConvTranspose read from a node: their parsed attributes
 * (Node.attrs), filled once by infer_conv / infer_convtranspose. */
typedef struct ConvShape {
    Window w;          /* geometry; for ConvTranspose, of the equivalent Conv over y */
    int64_t N, C, M;   /* batch, input channels, output channels */
    int64_t group;
    int has_bias;
    Shape out;         /* [N, M, out...] */
} ConvShape;

/* kernel_shape: W's spatial dims, and the attribute must agree when given. */
static int conv_kernel(Graph *g, Node *n, const Shape *ws, int64_t *kernel, Diag *d)
{
    int r = ws->rank - 2;
    if (window_ints(g, n, "kernel_shape", r, 0, 1, kernel, d))
        return 1;
    for (int i = 0; i < r; i++) {
        if (!node_attr(n, "kernel_shape"))
            kernel[i] = ws->dim[i + 2];
        else if (kernel[i] != ws->dim[i + 2])
            return diag_node(d, g, n, "kernel_shape[%d] is %lld but W has %lld taps there", i,
                             (long long)kernel[i], (long long)ws->dim[i + 2]);
    }
    return 0;
}

/* Ranks, types, channel counts and group shared by Conv and ConvTranspose.
 * W is [M, C/group, k...] for Conv and [C, M/group, k...] for ConvTranspose. */
static int conv_common(Graph *g, Node *n, ConvShape *cs, int64_t *kernel, Diag *d)
{
    const Value *x = op_in(g, n, 0), *w = op_in(g, n, 1), *b = op_in(g, n, 2);
    char xs[160], wsb[160];
    int transpose = n->op == OP_CONVTRANSPOSE;
    if (op_check_dtype(g, n, 0, op_float_types, d) || op_same_dtype(g, n, 0, 1, d) || op_same_dtype(g, n, 0, 2, d))
        return 1;
    if (x->shape.rank < 3)
        return diag_node(d, g, n, "input X has shape %s, expected rank 3 or more (N, C, spatial...)",
                         shape_str(&x->shape, xs, sizeof xs));
    if (w->shape.rank != x->shape.rank)
        return diag_node(d, g, n, "weight W has shape %s, expected rank %d like X (%s)",
                         shape_str(&w->shape, wsb, sizeof wsb), x->shape.rank, shape_str(&x->shape, xs, sizeof xs));
    if (attr_int(g, n, "group", 1, &cs->group, d))
        return 1;
    cs->N = x->shape.dim[0];
    cs->C = x->shape.dim[1];
    if (cs->group < 1 || cs->C % cs->group)
        return diag_node(d, g, n, "group %lld does not divide the %lld input channels", (long long)cs->group,
                         (long long)cs->C);
    int64_t cg = cs->C / cs->group;
    if (!transpose) {
        cs->M = w->shape.dim[0];
        if (w->shape.dim[1] != cg)
            return diag_node(d, g, n, "W has shape %s: expected %lld input channels per group (%lld / group %lld)",
                             shape_str(&w->shape, wsb, sizeof wsb), (long long)cg, (long long)cs->C,
                             (long long)cs->group);
        if (cs->M % cs->group)
            return diag_node(d, g, n, "group %lld does not divide the %lld output channels", (long long)cs->group,
                             (long long)cs->M);
    } else {
        if (w->shape.dim[0] != cs->C)
            return diag_node(d, g, n, "W has shape %s: expected %lld input channels in its first dim",
                             shape_str(&w->shape, wsb, sizeof wsb), (long long)cs->C);
        if (ck_mul(w->shape.dim[1], cs->group, &cs->M))
            return diag_node(d, g, n, "group %lld times the %lld output channels per group overflows",
                             (long long)cs->group, (long long)w->shape.dim[1]);
    }
    cs->has_bias = b != NULL;
    if (b && (b->shape.rank != 1 || b->shape.dim[0] != cs->M))
        return diag_node(d, g, n, "bias B has shape %s, expected %lld (one per output channel)",
                         shape_str(&b->shape, xs, sizeof xs), (long long)cs->M);
    return conv_kernel(g, n, &w->shape, kernel, d);
}

static int conv_shape(Graph *g, Node *n, ConvShape *cs, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t kernel[KILN_MAX_RANK];
    if (conv_common(g, n, cs, kernel, d) || window_read(g, n, &x->shape, kernel, 0, &cs->w, d))
        return 1;
    cs->out = x->shape;
    cs->out.dim[1] = cs->M;
    for (int i = 0; i < cs->w.rank; i++)
        cs->out.dim[i + 2] = cs->w.out[i];
    return 0;
}

int conv_window(const Node *n, Window *w, int64_t *group)
{
    const ConvShape *cs = n->attrs;
    if (n->op != OP_CONV || !cs)
        return 1;
    *w = cs->w;
    *group = cs->group;
    return 0;
}

int infer_conv(Graph *g, Node *n, Diag *d)
{
    ConvShape *cs = op_attrs(g, n, sizeof *cs);
    if (conv_shape(g, n, cs, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &cs->out);
    return 0;
}

/* The loop nest both convolutions share: n, m, o... around acc = bias,
 * then c, k... around acc += x[ix] * w[wx]. conv_open opens it down to the
 * innermost k loop; conv_close adds the product (under cond, when the taps
 * are guarded), closes the reduction loops and stores acc to y[n, m, o...]. */
typedef struct {
    Expr *n, *m, *c, *o[KILN_MAX_RANK], *k[KILN_MAX_RANK];
    int acc;
} ConvNest;

static void conv_open(Lower *L, Node *n, const ConvShape *cs, const char *comment, ConvNest *cn)
{
    KB *b = lw_kb(L);
    int r = cs->w.rank;
    DType t = lw_graph(L)->values[n->out[0]].dtype;
    char on[KILN_MAX_RANK][8], kn[KILN_MAX_RANK][8];
    window_names(r, "o", on);
    window_names(r, "k", kn);
    kb_comment(b, comment);
    cn->n = kb_v(b, kb_for_k(b, "n", cs->N, IT_DATA));
    cn->m = kb_v(b, kb_for_k(b, "m", cs->M, IT_DATA));
    for (int i = 0; i < r; i++)
        cn->o[i] = kb_v(b, kb_for_k(b, on[i], cs->w.out[i], IT_DATA));
    cn->acc = kb_let(b, "acc", cs->has_bias ? lw_load(L, n->in[2], &cn->m) : ke_const(lw_arena(L), t, 0));
    cn->c = kb_v(b, kb_for_k(b, "c", cs->C / cs->group, IT_REDUCE));
    for (int i = 0; i < r; i++)
        cn->k[i] = kb_v(b, kb_for_k(b, kn[i], cs->w.k[i], IT_REDUCE));
}

static void conv_close_with(Lower *L, Node *n, const ConvShape *cs, const ConvNest *cn, Expr *cond, Expr *xv,
                            Expr **wx);

static void conv_close(Lower *L, Node *n, const ConvShape *cs, const ConvNest *cn, Expr *cond, Expr **ix, Expr **wx)
{
    conv_close_with(L, n, cs, cn, cond, lw_load(L, n->in[0], ix), wx);
}

/* conv_close with the input tap already loaded (from x, or from its padded
 * copy). */
static void conv_close_with(Lower *L, Node *n, const ConvShape *cs, const ConvNest *cn, Expr *cond, Expr *xv,
                            Expr **wx)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    int r = cs->w.rank;
    Expr *yc[KILN_MAX_RANK + 2];
    if (cond)
        kb_if(b, cond);
    Expr *prod = ke_bin(a, B_MUL, xv, lw_load(L, n->in[1], wx));
    kb_assign(b, cn->acc, ke_bin(a, B_ADD, kb_v(b, cn->acc), prod));
    if (cond)
        kb_end(b);
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* c */
    yc[0] = cn->n;
    yc[1] = cn->m;
    for (int i = 0; i < r; i++)
        yc[i + 2] = cn->o[i];
    lw_store(L, n, 0, yc, kb_v(b, cn->acc));
    for (int i = 0; i < r; i++)
        kb_end(b);
    kb_end(b); /* m */
    kb_end(b); /* n */
}

/* The input channel of reduction index c for output channel m:
 * group(m) * Cg + c, with group(m) = m / Mg. */
static Expr *conv_in_channel(Arena *a, const ConvShape *cs, const ConvNest *cn)
{
    if (cs->group == 1)
        return cn->c;
    int64_t cg = cs->C / cs->group, mg = cs->M / cs->group;
    return ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_bin(a, B_DIV, cn->m, ke_idx(a, mg)), ke_idx(a, cg)), cn->c);
}

int window_in_halo(const Window *w, const Value *x)
{
    if (!x->haloed)
        return 0;
    for (int i = 0; i < w->rank; i++)
        if (window_border(w, i) > x->halo[i + 2])
            return 0;
    return 1;
}

int window_pads(const Window *w, Shape *ps, const Shape *x)
{
    int any = 0;
    for (int i = 0; i < w->rank; i++)
        any |= w->out[i] > 0 && w->k[i] > 0 && (w->p0[i] > 0 || window_last(w, i) >= w->in[i]);
    if (!any)
        return 0;
    *ps = *x;
    for (int i = 0; i < w->rank; i++)
        /* positions -p0 .. (out-1)*s - p0 + (k-1)*d (window_read checked these sums) */
        ps->dim[i + 2] = w->out[i] > 0 && w->k[i] > 0 ? (w->out[i] - 1) * w->s[i] + (w->k[i] - 1) * w->d[i] + 1 : 1;
    return 1;
}

/* A scratch copy of value x [N, C, in...] in a buffer of shape ps whose
 * spatial dims are larger, x placed at offset w->p0 and every other
 * element `fill`: one pass over the buffer, whose bounds tests the
 * scheduler partitions out of the middle of each row. Returns the buffer.
 * Shared with pooling. */
int pad_copy(Lower *L, ValueId x, const Shape *ps, const Window *w, Expr *fill, const char *name)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Value *xv = &lw_graph(L)->values[x];
    int buf = lw_temp_like(L, name, ps, x);
    Expr *pc[KILN_MAX_RANK + 2], *xc[KILN_MAX_RANK + 2];
    kb_comment(b, "xp[n, c, i...] = x[n, c, i - p0] inside x, else the fill: the padded input");
    lw_loops(L, ps, NULL, pc);
    Expr *cond = NULL;
    xc[0] = pc[0];
    xc[1] = pc[1];
    for (int d = 0; d < w->rank; d++) {
        xc[d + 2] = ke_bin(a, B_SUB, pc[d + 2], ke_idx(a, w->p0[d]));
        cond = and_cond(a, cond, ke_bin(a, B_GE, xc[d + 2], ke_idx(a, 0)));
        cond = and_cond(a, cond, ke_bin(a, B_LT, xc[d + 2], ke_idx(a, xv->shape.dim[d + 2])));
    }
    kb_if(b, cond);
    lw_store_temp(L, buf, pc, lw_load(L, x, xc));
    kb_else(b);
    lw_store_temp(L, buf, pc, fill);
    kb_end(b);
    lw_end_loops(L, ps);
    return buf;
}

/* When some tap of a float Conv can fall in the padding: a scratch buffer
 * xp [N, C, span...] holding x with a zero border, span covering every
 * position a tap reaches, filled by a loop nest of its own. *wp becomes
 * the geometry over xp (no padding: its origin is x's -p0) and *ps its
 * shape. Returns xp's buffer, or -1 when no tap reaches the padding. */
static int pad_input(Lower *L, Node *n, const ConvShape *cs, const Window *w, Window *wp, Shape *ps)
{
    Arena *a = lw_arena(L);
    const Value *x = lw_in(L, n, 0);
    if (!dtype_is_float(x->dtype) || dtype_is_half(x->dtype))
        return -1;
    /* a channels-last depthwise Conv reads its taps under bounds tests,
     * which partition.c takes out of the interior (graph_layout gives its
     * input no halo): no copy, and no scratch as large as x */
    if (x->permuted && cs->group > 1 && cs->group == cs->C && cs->M == cs->group)
        return -1;
    if (!window_pads(w, ps, &x->shape))
        return -1;
    for (int i = 0; i < w->rank; i++) {
        wp->p0[i] = wp->p1[i] = 0;
        wp->in[i] = ps->dim[i + 2];
    }
    return pad_copy(L, n->in[0], ps, w, ke_const(a, x->dtype, 0), arena_printf(a, "%s_padded", x->name));
}

int lower_conv(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const ConvShape *cs = n->attrs;
    const Window *w = &cs->w;
    int r = w->rank;
    Expr *ix[KILN_MAX_RANK + 2], *wx[KILN_MAX_RANK + 2];
    ConvNest cn;

    /* with padding, x is first copied into a zero-bordered scratch xp, so
     * that the convolution itself reads every tap unconditionally */
    /* Winograd computes whole 2x2 tiles: an odd output's last row or
     * column of tiles reads one row or column more of (zero) padding */
    int wino = conv_winograd_fits(L, n, cs->N, cs->C, cs->M, cs->group, w);
    Window we = *w;
    for (int i = 0; wino && i < r; i++)
        if (we.out[i] % 2) {
            we.out[i]++;
            we.p1[i]++;
        }
    Window wp = we;
    Shape ps;
    /* x's own zero border (graph_layout's halo) covers every tap: read in place */
    int inside_halo = window_in_halo(&we, lw_in(L, n, 0));
    int xp = inside_halo ? -1 : pad_input(L, n, cs, &we, &wp, &ps); /* -1: x read in place */
    /* (a float Conv of one group reads x in place only when its halo, or
     * no padding, covers the taps) */
    if (wino)
        return lower_conv_winograd(L, n, cs->C, cs->M, &wp, w->out, xp, cs->has_bias);
    /* y[n, m, o...] = b[m] + sum_{c, k...} x[n, g*C/group + c, o*s - p0 + k*d...] * w[m, c, k...]
     * with g = m / (M/group) the group of output channel m; padding taps skipped */
    conv_open(L, n, cs, "y[n, m, o...] = b[m] + sum_{c, k...} x[n, group(m)*Cg + c, o*s - p + k*d] * w[m, c, k...]", &cn);
    for (int i = 0; i < r; i++)
        ix[i + 2] = window_coord(a, &wp, i, cn.o[i], cn.k[i]);
    ix[0] = cn.n;
    ix[1] = conv_in_channel(a, cs, &cn);
    wx[0] = cn.m;
    wx[1] = cn.c;
    for (int i = 0; i < r; i++)
        wx[i + 2] = cn.k[i];
    Expr *xv = xp >= 0 ? lw_load_temp(L, xp, ix) : lw_load(L, n->in[0], ix);
    conv_close_with(L, n, cs, &cn, xp >= 0 || inside_halo ? NULL : window_inside(a, w, ix + 2), xv, wx);
    return 0;
}

/* --------------------------------------------------------- ConvTranspose */

/* ConvTranspose geometry. x [N, C, in...] scatters tap k of input position
 * i to output position i*s - p0 + k*d; w->in holds the input extents,
 * w->out the output extents, w->p0 the padding cut from the output start.
 * Output extents: output_shape when given (pads then follow from it),
 * else full - p0 - p1 with full = s*(in-1) + output_padding + (k-1)*d + 1
 * and, for SAME_*, p0 + p1 = max(0, full - in*s) (so in*s when the kernel
 * covers the stride). */
static int convt_shape(Graph *g, Node *n, ConvShape *cs, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t kernel[KILN_MAX_RANK], pads[2 * KILN_MAX_RANK], opad[KILN_MAX_RANK], oshape[KILN_MAX_RANK + 2];
    int mode, r = x->shape.rank - 2, got;
    Window *w = &cs->w;
    if (conv_common(g, n, cs, kernel, d))
        return 1;
    memset(w, 0, sizeof *w);
    w->rank = r;
    if (window_ints(g, n, "strides", r, 1, 1, w->s, d) || window_ints(g, n, "dilations", r, 1, 1, w->d, d) ||
        window_ints(g, n, "pads", 2 * r, 0, 0, pads, d) || window_ints(g, n, "output_padding", r, 0, 0, opad, d) ||
        window_auto_pad(g, n, &mode, d) || attr_ints(g, n, "output_shape", oshape, KILN_MAX_RANK + 2, &got, d))
        return 1;
    if (got >= 0 && got != r && got != r + 2)
        return diag_node(d, g, n, "attribute 'output_shape' has %d values, expected %d", got, r);
    int64_t *os = got == r + 2 ? oshape + 2 : oshape; /* some exporters include N and C */
    for (int i = 0; i < r; i++) {
        int64_t in = x->shape.dim[i + 2], ek, full, end;
        w->in[i] = in;
        w->k[i] = kernel[i];
        if (in < 1)
            return diag_node(d, g, n, "input X has an empty spatial axis %d", i);
        /* full = s*(in-1) + output_padding + (k-1)*d + 1: the output extent before padding is cut */
        if (ck_muladd(kernel[i] - 1, w->d[i], 1, &ek) || ck_muladd(w->s[i], in - 1, opad[i], &full) ||
            ck_add(full, ek, &full))
            return window_overflow(g, n, i, d);
        if (got >= 0 || mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            /* total padding from the target size; SAME_UPPER puts the odd
             * one at the end, NOTSET and SAME_LOWER at the start */
            int64_t out = got >= 0 ? os[i] : 0, total;
            if (got < 0 && ck_mul(in, w->s[i], &out))
                return window_overflow(g, n, i, d);
            if (out < 1)
                return diag_node(d, g, n, "output_shape[%d] is %lld, expected at least 1", i, (long long)out);
            total = full - out;
            if (total < 0)
                total = 0; /* no negative padding: output_shape's extra positions get no taps */
            w->p0[i] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            w->p1[i] = total - w->p0[i];
            w->out[i] = got >= 0 ? out : full - total; /* as ONNX shape inference and ORT do */
        } else {
            if (mode == PAD_NOTSET) {
                w->p0[i] = pads[i];
                w->p1[i] = pads[i + r];
            }
            if (ck_sub(full, w->p0[i], &w->out[i]) || ck_sub(w->out[i], w->p1[i], &w->out[i]) || w->out[i] < 1)
                return diag_node(d, g, n, "pads %lld + %lld along spatial axis %d leave no output (full extent %lld)",
                                 (long long)w->p0[i], (long long)w->p1[i], i, (long long)full);
        }
        /* the lowering computes o + p0 for o < out */
        if (ck_add(w->out[i], w->p0[i], &end))
            return window_overflow(g, n, i, d);
    }
    cs->out = x->shape;
    cs->out.dim[1] = cs->M;
    for (int i = 0; i < r; i++)
        cs->out.dim[i + 2] = w->out[i];
    return 0;
}

int infer_convtranspose(Graph *g, Node *n, Diag *d)
{
    ConvShape *cs = op_attrs(g, n, sizeof *cs);
    if (convt_shape(g, n, cs, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &cs->out);
    return 0;
}

/* ConvTranspose with unit dilation and a stride, as one nest per output
 * phase: an output o = q*s + r (phase r < s along each spatial dim) gets
 * exactly the taps k = k0 + j*s with k0 = (r + p0) mod s, which read
 * input q + e - j with e = (r + p0 - k0) / s. No test of divisibility
 * remains, only bounds tests where a tap can leave x; for the common
 * kernel == stride up-convolution there are none, and each phase is a
 * plain contraction the scheduler register-blocks. */
static void convt_phases(Lower *L, Node *n, const ConvShape *cs)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Window *w = &cs->w;
    int r = w->rank;
    DType t = lw_out(L, n, 0)->dtype;
    int64_t phases = 1;
    for (int i = 0; i < r; i++)
        phases *= w->s[i];
    for (int64_t ph = 0; ph < phases; ph++) {
        int64_t rr[KILN_MAX_RANK], Q[KILN_MAX_RANK], k0[KILN_MAX_RANK], J[KILN_MAX_RANK], e[KILN_MAX_RANK];
        int64_t rest = ph, empty = 0;
        for (int i = r - 1; i >= 0; i--) {
            rr[i] = rest % w->s[i];
            rest /= w->s[i];
            Q[i] = rr[i] < w->out[i] ? (w->out[i] - rr[i] + w->s[i] - 1) / w->s[i] : 0;
            k0[i] = ((rr[i] + w->p0[i]) % w->s[i] + w->s[i]) % w->s[i];
            J[i] = k0[i] < w->k[i] ? (w->k[i] - k0[i] + w->s[i] - 1) / w->s[i] : 0;
            e[i] = (rr[i] + w->p0[i] - k0[i]) / w->s[i];
            empty |= Q[i] == 0;
        }
        if (empty)
            continue;
        char on[KILN_MAX_RANK][8], kn[KILN_MAX_RANK][8];
        window_names(r, "q", on);
        window_names(r, "j", kn);
        Expr *q[KILN_MAX_RANK], *jj[KILN_MAX_RANK], *ix[KILN_MAX_RANK + 2], *wx[KILN_MAX_RANK + 2];
        Expr *yc[KILN_MAX_RANK + 2];
        kb_comment(b, arena_printf(a, "phase %lld of %lld: y[n, m, q*s + r] = b[m] + sum_{c, j...} "
                                      "x[n, group(m)*Cg + c, q + e - j] * w[group(m)*Cg + c, m %% Mg, k0 + j*s]",
                                   (long long)ph + 1, (long long)phases));
        Expr *nn = kb_v(b, kb_for_k(b, "n", cs->N, IT_DATA));
        Expr *m = kb_v(b, kb_for_k(b, "m", cs->M, IT_DATA));
        for (int i = 0; i < r; i++)
            q[i] = kb_v(b, kb_for_k(b, on[i], Q[i], IT_DATA));
        int acc = kb_let(b, "acc", cs->has_bias ? lw_load(L, n->in[2], &m) : ke_const(a, t, 0));
        ConvNest cn = {.n = nn, .m = m};
        cn.c = kb_v(b, kb_for_k(b, "c", cs->C / cs->group, IT_REDUCE));
        Expr *cond = NULL;
        for (int i = 0; i < r; i++) {
            jj[i] = kb_v(b, kb_for_k(b, kn[i], J[i], IT_REDUCE));
            ix[i + 2] = ke_bin(a, B_SUB, ke_bin(a, B_ADD, q[i], ke_idx(a, e[i])), jj[i]);
            if (e[i] - (J[i] - 1) < 0)
                cond = and_cond(a, cond, ke_bin(a, B_GE, ix[i + 2], ke_idx(a, 0)));
            if (Q[i] - 1 + e[i] >= w->in[i])
                cond = and_cond(a, cond, ke_bin(a, B_LT, ix[i + 2], ke_idx(a, w->in[i])));
            wx[i + 2] = ke_bin(a, B_ADD, ke_idx(a, k0[i]), ke_bin(a, B_MUL, jj[i], ke_idx(a, w->s[i])));
        }
        Expr *cin = conv_in_channel(a, cs, &cn);
        ix[0] = nn;
        ix[1] = cin;
        wx[0] = cin;
        wx[1] = cs->group == 1 ? m : ke_bin(a, B_MOD, m, ke_idx(a, cs->M / cs->group));
        if (cond)
            kb_if(b, cond);
        Expr *prod = ke_bin(a, B_MUL, lw_load(L, n->in[0], ix), lw_load(L, n->in[1], wx));
        kb_assign(b, acc, ke_bin(a, B_ADD, kb_v(b, acc), prod));
        if (cond)
            kb_end(b);
        lw_end_n(L, r + 1); /* j..., c */
        yc[0] = nn;
        yc[1] = m;
        for (int i = 0; i < r; i++)
            yc[i + 2] = ke_bin(a, B_ADD, ke_bin(a, B_MUL, q[i], ke_idx(a, w->s[i])), ke_idx(a, rr[i]));
        lw_store(L, n, 0, yc, kb_v(b, acc));
        lw_end_n(L, r + 2); /* q..., m, n */
    }
}

int lower_convtranspose(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const ConvShape *cs = n->attrs;
    const Window *w = &cs->w;
    int r = w->rank;
    Expr *ix[KILN_MAX_RANK + 2], *wx[KILN_MAX_RANK + 2];
    ConvNest cn;
    int64_t phases = 1, dil = 1;
    for (int i = 0; i < r; i++) {
        phases *= w->s[i] <= 64 ? w->s[i] : 65;
        dil &= w->d[i] == 1;
    }
    if (dil && phases > 1 && phases <= 64) {
        convt_phases(L, n, cs);
        return 0;
    }

    /* y[n, m, o...] = b[m] + sum_{c, k...} x[n, g*Cg + c, i...] * w[g*Cg + c, m % Mg, k...]
     * over the taps with o + p0 - k*d = i*s, 0 <= i < in (g = m / Mg) */
    conv_open(L, n, cs,
              "y[n, m, o...] = b[m] + sum_{c, k... : o + p - k*d = i*s} x[n, group(m)*Cg + c, i...] * w[group(m)*Cg + c, m % Mg, k...]",
              &cn);
    Expr *cond = NULL;
    for (int i = 0; i < r; i++) {
        /* t = o + p0 - k*d must be a multiple of s in [0, (in-1)*s] */
        Expr *tt = ke_bin(a, B_SUB, ke_bin(a, B_ADD, cn.o[i], ke_idx(a, w->p0[i])),
                          ke_bin(a, B_MUL, cn.k[i], ke_idx(a, w->d[i])));
        int64_t lo = w->p0[i] - (w->k[i] - 1) * w->d[i], hi = w->out[i] - 1 + w->p0[i];
        if (lo < 0)
            cond = and_cond(a, cond, ke_bin(a, B_GE, tt, ke_idx(a, 0)));
        if (hi > (w->in[i] - 1) * w->s[i])
            cond = and_cond(a, cond, ke_bin(a, B_LE, tt, ke_idx(a, (w->in[i] - 1) * w->s[i])));
        if (w->s[i] > 1)
            cond = and_cond(a, cond, ke_bin(a, B_EQ, ke_bin(a, B_MOD, tt, ke_idx(a, w->s[i])), ke_idx(a, 0)));
        ix[i + 2] = ke_bin(a, B_DIV, tt, ke_idx(a, w->s[i]));
    }
    Expr *cin = conv_in_channel(a, cs, &cn);
    ix[0] = cn.n;
    ix[1] = cin;
    wx[0] = cin;
    wx[1] = cs->group == 1 ? cn.m : ke_bin(a, B_MOD, cn.m, ke_idx(a, cs->M / cs->group));
    for (int i = 0; i < r; i++)
        wx[i + 2] = cn.k[i];
    conv_close(L, n, cs, &cn, cond, ix, wx);
    return 0;
}
