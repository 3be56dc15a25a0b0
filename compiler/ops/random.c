/*
 * random.c: the random ops (RandomUniform, RandomUniformLike, Bernoulli)
 * and Dropout, whose training mode drops random elements.
 *
 * The generator is numpy's legacy one, written out as Kernel IR: MT19937
 * (Matsumoto and Nishimura's Mersenne Twister, 624 words of state) seeded
 * as numpy.random.RandomState(seed) seeds it (init_genrand), doubles in
 * [0, 1) made from two 32-bit draws as random_sample makes them
 * ((a >> 5) * 2^26 + (b >> 6)) / 2^53, and Bernoulli drawn as
 * RandomState.binomial(1, p) draws it (numpy's inversion algorithm). So a
 * node with seed s gives the values numpy.random.RandomState(s) gives,
 * which is what ONNX's reference implementation computes. The state lives
 * in a scratch buffer of the node's kernel, seeded at the start of every
 * run: a model's outputs depend only on its inputs. A node without a seed
 * uses seed 0. Elements are drawn in row-major order.
 *
 * Everything is ordinary Kernel IR (u32 shifts, xors and products, an if
 * around the twist): every target and the interpreter run it unchanged.
 * The loops are serial (IT_SERIAL): each draw depends on the one before.
 */
#include "op.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- MT19937 */

enum { MT_N = 624, MT_M = 397 };

/* A generator in a kernel: its state buffer and the position local. */
typedef struct Mt {
    int buf;      /* u32[624] scratch */
    int pos;      /* DT_INDEX local: next word of buf to temper */
} Mt;

static Expr *u32c(Arena *a, uint32_t v) { return ke_int(a, DT_U32, (int64_t)v); }

/* The seed's check: numpy's RandomState takes 0 <= seed < 2^32. */
static int random_seed(Graph *g, Node *n, int is_float, uint32_t *out, Diag *d)
{
    double f = 0;
    int64_t i = 0;
    const Attr *at = node_attr(n, "seed");
    if (!at) {
        *out = 0;
        return 0;
    }
    if (is_float) {
        if (attr_float(g, n, "seed", 0, &f, d))
            return 1;
        if (!(f >= 0 && f < 4294967296.0))
            return diag_node(d, g, n, "seed %g is outside [0, 2^32), the seeds numpy's RandomState takes", f);
        i = (int64_t)f;
    } else {
        if (attr_int(g, n, "seed", 0, &i, d))
            return 1;
        if (i < 0 || i > 4294967295LL)
            return diag_node(d, g, n, "seed %lld is outside [0, 2^32), the seeds numpy's RandomState takes",
                             (long long)i);
    }
    *out = (uint32_t)i;
    return 0;
}

/* Open a generator seeded with `seed` at b's cursor (init_genrand: the
 * state's 624 words from the seed by Knuth's multiplier). */
static Mt mt_open(Lower *L, uint32_t seed)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Shape s = {1, {MT_N}};
    Mt m;
    m.buf = lw_temp(L, "mt", DT_U32, &s);
    kb_comment(b, "MT19937 seeded as numpy.random.RandomState(seed)");
    int w = kb_let(b, "w", u32c(a, seed));
    Expr *i = kb_v(b, kb_for(b, "i", MT_N));
    kb_store(b, m.buf, i, kb_v(b, w));
    /* w = 1812433253 * (w ^ (w >> 30)) + i + 1 */
    Expr *wv = kb_v(b, w);
    Expr *mix = ke_bin(a, B_BXOR, wv, ke_bin(a, B_SHR, wv, u32c(a, 30)));
    kb_assign(b, w, ke_bin(a, B_ADD, ke_bin(a, B_MUL, u32c(a, 1812433253u), mix),
                           ke_cast(a, DT_U32, ke_bin(a, B_ADD, i, ke_idx(a, 1)))));
    kb_end(b);
    m.pos = kb_let(b, "pos", ke_idx(a, MT_N));
    return m;
}

/* The next 32-bit draw of m, as a u32 local (the state twisted when all
 * 624 words are used, then the word tempered). */
static Expr *mt_next(Lower *L, Mt *m)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    kb_if(b, ke_bin(a, B_GE, kb_v(b, m->pos), ke_idx(a, MT_N)));
    {
        /* mt[i] = mt[i+397] ^ (y >> 1) ^ (y odd ? 0x9908b0df : 0),
         * y = the top bit of mt[i] and the low 31 of mt[i+1], in place */
        Expr *i = kb_v(b, kb_for(b, "i", MT_N));
        Expr *i1 = ke_bin(a, B_MOD, ke_bin(a, B_ADD, i, ke_idx(a, 1)), ke_idx(a, MT_N));
        Expr *im = ke_bin(a, B_MOD, ke_bin(a, B_ADD, i, ke_idx(a, MT_M)), ke_idx(a, MT_N));
        Expr *hi = ke_bin(a, B_BAND, ke_load(a, b->p, m->buf, i), u32c(a, 0x80000000u));
        Expr *lo = ke_bin(a, B_BAND, ke_load(a, b->p, m->buf, i1), u32c(a, 0x7fffffffu));
        int y = kb_let(b, "y", ke_bin(a, B_BOR, hi, lo));
        Expr *yv = kb_v(b, y);
        Expr *odd = ke_bin(a, B_NE, ke_bin(a, B_BAND, yv, u32c(a, 1)), u32c(a, 0));
        Expr *v = ke_bin(a, B_BXOR, ke_load(a, b->p, m->buf, im), ke_bin(a, B_SHR, yv, u32c(a, 1)));
        v = ke_bin(a, B_BXOR, v, ke_select(a, odd, u32c(a, 0x9908b0dfu), u32c(a, 0)));
        kb_store(b, m->buf, i, v);
        kb_end(b);
        kb_assign(b, m->pos, ke_idx(a, 0));
    }
    kb_end(b);
    int t = kb_let(b, "t", ke_load(a, b->p, m->buf, kb_v(b, m->pos)));
    kb_assign(b, m->pos, ke_bin(a, B_ADD, kb_v(b, m->pos), ke_idx(a, 1)));
    /* tempering */
    Expr *tv = kb_v(b, t);
    kb_assign(b, t, ke_bin(a, B_BXOR, tv, ke_bin(a, B_SHR, tv, u32c(a, 11))));
    tv = kb_v(b, t);
    kb_assign(b, t, ke_bin(a, B_BXOR, tv, ke_bin(a, B_BAND, ke_bin(a, B_SHL, tv, u32c(a, 7)), u32c(a, 0x9d2c5680u))));
    tv = kb_v(b, t);
    kb_assign(b, t, ke_bin(a, B_BXOR, tv, ke_bin(a, B_BAND, ke_bin(a, B_SHL, tv, u32c(a, 15)), u32c(a, 0xefc60000u))));
    tv = kb_v(b, t);
    kb_assign(b, t, ke_bin(a, B_BXOR, tv, ke_bin(a, B_SHR, tv, u32c(a, 18))));
    return kb_v(b, t);
}

/* The next double in [0, 1) of m, as an f64 local (random_sample: 53
 * bits from two draws). */
static Expr *mt_double(Lower *L, Mt *m)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Expr *hi = ke_cast(a, DT_F64, ke_bin(a, B_SHR, mt_next(L, m), u32c(a, 5)));
    int h = kb_let(b, "ha", hi);
    Expr *lo = ke_cast(a, DT_F64, ke_bin(a, B_SHR, mt_next(L, m), u32c(a, 6)));
    Expr *u = ke_bin(a, B_ADD, ke_bin(a, B_MUL, kb_v(b, h), ke_float(a, DT_F64, 67108864.0)), lo);
    return kb_v(b, kb_let(b, "u", ke_bin(a, B_DIV, u, ke_float(a, DT_F64, 9007199254740992.0))));
}

/* ------------------------------------------------ dtype attribute rules */

/* The output type: the `dtype` attribute, or `def` when absent or 0. */
static int random_dtype(Graph *g, Node *n, DType def, const DType *ok, DType *out, Diag *d)
{
    int64_t t;
    if (attr_int(g, n, "dtype", 0, &t, d))
        return 1;
    *out = t ? (DType)t : def;
    for (int i = 0; ok[i] != DT_UNDEF; i++)
        if (ok[i] == *out)
            return 0;
    return diag_node(d, g, n, "output type %s is not supported (dtype %lld)", dtype_name(*out), (long long)t);
}

static const DType bernoulli_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_I8,  DT_I16, DT_I32,
                                        DT_I64, DT_U8,  DT_U16, DT_U32,  DT_U64, DT_BOOL, DT_UNDEF};

/* ---------------------------------------------- RandomUniform(Like) */

/* RandomUniformLike: input 0 gives the shape (and the default type);
 * RandomUniform: the `shape` attribute, f32 unless dtype says. */
static int uniform_shape(Graph *g, Node *n, Shape *s, DType *t, Diag *d)
{
    if (n->op == OP_RANDOMUNIFORMLIKE) {
        const Value *x = op_in(g, n, 0);
        if (!x)
            return diag_node(d, g, n, "the first input is required");
        *s = x->shape;
        return random_dtype(g, n, x->dtype, op_float_types, t, d);
    }
    int64_t dims[KILN_MAX_RANK];
    int cnt;
    if (attr_ints(g, n, "shape", dims, KILN_MAX_RANK, &cnt, d))
        return 1;
    if (cnt < 0)
        return diag_node(d, g, n, "attribute 'shape' is required");
    s->rank = cnt;
    for (int i = 0; i < cnt; i++) {
        if (dims[i] < 0)
            return diag_node(d, g, n, "shape has a negative dimension %lld", (long long)dims[i]);
        s->dim[i] = dims[i];
    }
    int64_t numel;
    if (shape_check(s, 8, &numel))
        return diag_node(d, g, n, "shape holds more than %lld bytes", (long long)KILN_MAX_BYTES);
    return random_dtype(g, n, DT_F32, op_float_types, t, d);
}

int infer_randomuniform(Graph *g, Node *n, Diag *d)
{
    Shape s;
    DType t;
    double lo, hi;
    uint32_t seed;
    if (uniform_shape(g, n, &s, &t, d) || attr_float(g, n, "low", 0, &lo, d) ||
        attr_float(g, n, "high", 1, &hi, d) || random_seed(g, n, 1, &seed, d))
        return 1;
    op_set_out(g, n, 0, t, &s);
    return 0;
}

/* y = u * (high - low) + low, u = random_sample(): numpy casts u to the
 * output type first and computes in it, as here. */
int lower_randomuniform(Lower *L, Node *n)
{
    Diag d = lw_diag(L);
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    double lo, hi;
    uint32_t seed;
    if (attr_float(g, n, "low", 0, &lo, &d) || attr_float(g, n, "high", 1, &hi, &d) ||
        random_seed(g, n, 1, &seed, &d))
        return lw_error(L, n, "bad attributes");
    const Value *y = lw_out(L, n, 0);
    DType ct = op_calc_type(y->dtype);
    Mt m = mt_open(L, seed);
    Expr *c[KILN_MAX_RANK];
    lw_loops_k(L, &y->shape, NULL, IT_SERIAL, c);
    Expr *u = ke_cast(a, ct, mt_double(L, &m));
    lw_store(L, n, 0, c, ke_bin(a, B_ADD, ke_bin(a, B_MUL, u, ke_float(a, ct, hi - lo)), ke_float(a, ct, lo)));
    lw_end_loops(L, &y->shape);
    return 0;
}

/* ------------------------------------------------------------ Bernoulli */

int infer_bernoulli(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    DType t;
    uint32_t seed;
    if (!x)
        return diag_node(d, g, n, "the first input is required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || random_dtype(g, n, x->dtype, bernoulli_types, &t, d) ||
        random_seed(g, n, 1, &seed, d))
        return 1;
    op_set_out(g, n, 0, t, &x->shape);
    return 0;
}

/* numpy's binomial(1, p) (random_binomial_inversion with n = 1): with
 * pp = min(p, 1 - p), q = 1 - pp, qn = exp(log(q)), a draw u gives 0 when
 * u <= qn, 1 when u - qn <= pp * qn / q, else it draws again; the result
 * is flipped when p > 0.5. Every element draws, p = 0 and p = 1 too
 * (numpy's legacy binomial has no shortcut for them). p outside [0, 1]
 * or NaN, which numpy rejects, is not checked: the result is 0 or 1 all
 * the same. The redraw, which needs u within an ulp or so of 1, is tried
 * at most 4 times (then the result is that of the last draw). */
int lower_bernoulli(Lower *L, Node *n)
{
    Diag d = lw_diag(L);
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    uint32_t seed;
    if (random_seed(g, n, 1, &seed, &d))
        return lw_error(L, n, "bad seed");
    const Value *y = lw_out(L, n, 0);
    DType ot = y->dtype == DT_F16 || y->dtype == DT_BF16 ? DT_F32 : y->dtype;
    Expr *one = ke_float(a, DT_F64, 1.0), *zero = ke_float(a, DT_F64, 0.0);
    Mt m = mt_open(L, seed);
    Expr *c[KILN_MAX_RANK];
    lw_loops_k(L, &y->shape, NULL, IT_SERIAL, c);
    Expr *p = kb_v(b, kb_let(b, "p", ke_cast(a, DT_F64, lw_load(L, n->in[0], c))));
    Expr *flip = kb_v(b, kb_let(b, "flip", ke_bin(a, B_GT, p, ke_float(a, DT_F64, 0.5))));
    Expr *pp = kb_v(b, kb_let(b, "pp", ke_select(a, flip, ke_bin(a, B_SUB, one, p), p)));
    Expr *q = kb_v(b, kb_let(b, "q", ke_bin(a, B_SUB, one, pp)));
    Expr *qn = kb_v(b, kb_let(b, "qn", ke_un(a, U_EXP, ke_un(a, U_LOG, q))));
    Expr *px = kb_v(b, kb_let(b, "px", ke_bin(a, B_DIV, ke_bin(a, B_MUL, pp, qn), q)));
    int done = kb_let(b, "done", ke_int(a, DT_BOOL, 0));
    int x = kb_let(b, "x", zero);
    kb_for(b, "attempt", 4);
    kb_if(b, ke_un(a, U_NOT, kb_v(b, done)));
    {
        Expr *u = mt_double(L, &m);
        kb_if(b, ke_bin(a, B_LE, u, qn));
        kb_assign(b, x, zero);
        kb_assign(b, done, ke_int(a, DT_BOOL, 1));
        kb_else(b);
        kb_assign(b, x, one);
        kb_assign(b, done, ke_bin(a, B_LE, ke_bin(a, B_SUB, u, qn), px));
        kb_end(b);
    }
    kb_end(b);
    kb_end(b);
    int res = kb_let(b, "r", ke_select(a, flip, ke_bin(a, B_SUB, one, kb_v(b, x)), kb_v(b, x)));
    lw_store(L, n, 0, c, ke_cast(a, ot, kb_v(b, res)));
    lw_end_loops(L, &y->shape);
    return 0;
}

/* -------------------------------------------------------------- Dropout */

/* Dropout's mode: training (input 2 from opset 12, is_test = 0 before
 * opset 7, never in between) and ratio (input 1 from opset 12, else the
 * attribute). *train_known says whether training is known now (then
 * *train holds it); *ratio_known the same for the ratio. */
typedef struct DropMode {
    int train_known, train;
    int ratio_known;
    double ratio;
} DropMode;

static int dropout_mode(Graph *g, Node *n, DropMode *m, Diag *d)
{
    memset(m, 0, sizeof *m);
    m->train_known = m->ratio_known = 1;
    m->ratio = 0.5;
    if (n->opset < 7) {
        const Attr *is_test = node_attr(n, "is_test");
        int64_t t;
        if (attr_int(g, n, "is_test", 1, &t, d) || attr_float(g, n, "ratio", 0.5, &m->ratio, d))
            return 1;
        m->train = is_test && t == 0;
        return 0;
    }
    if (n->opset < 12) {
        if (attr_float(g, n, "ratio", 0.5, &m->ratio, d))
            return 1;
        return 0;
    }
    const Value *tm = op_in(g, n, 2), *r = op_in(g, n, 1);
    if (tm && shape_numel(&tm->shape) != 1)
        return diag_node(d, g, n, "training_mode must be a scalar");
    if (r && shape_numel(&r->shape) != 1)
        return diag_node(d, g, n, "ratio must be a scalar");
    if (tm) {
        const void *data = tm->kind == VAL_CONST ? tm->data : NULL;
        m->train_known = data != NULL;
        m->train = data ? dtype_get_i(tm->dtype, data, 0) != 0 : 1;
    }
    if (r) {
        const void *data = r->kind == VAL_CONST ? r->data : NULL;
        m->ratio_known = data != NULL;
        if (data)
            m->ratio = dtype_get_f(r->dtype, data, 0);
    }
    return 0;
}

int infer_dropout(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *r = op_in(g, n, 1), *tm = op_in(g, n, 2);
    DropMode m;
    uint32_t seed;
    if (!x)
        return diag_node(d, g, n, "the first input is required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || dropout_mode(g, n, &m, d) ||
        (n->opset >= 12 && random_seed(g, n, 0, &seed, d)))
        return 1;
    if (n->opset >= 12 && r && op_check_dtype(g, n, 1, op_float_types, d))
        return 1;
    if (n->opset >= 12 && tm && tm->dtype != DT_BOOL)
        return diag_node(d, g, n, "training_mode must be bool, not %s", dtype_name(tm->dtype));
    if (m.ratio_known && !(m.ratio >= 0 && m.ratio < 1))
        return diag_node(d, g, n, "ratio %g is outside [0, 1)", m.ratio);
    op_set_out(g, n, 0, x->dtype, &x->shape);
    /* the mask has the data's type before opset 10 */
    op_set_out(g, n, 1, n->opset < 10 ? x->dtype : DT_BOOL, &x->shape);
    return 0;
}

/* In inference (or with ratio 0): y = x, mask = true. In training: with
 * u the next random_sample() of each element, in row-major order,
 * keep = u >= ratio, y = (keep ? x : 0) * (1 / (1 - ratio)), mask = keep,
 * as ONNX's reference computes it; a training_mode known only at run time
 * chooses between the two there. */
int lower_dropout(Lower *L, Node *n)
{
    Diag d = lw_diag(L);
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    DropMode m;
    uint32_t seed = 0;
    if (dropout_mode(g, n, &m, &d) || (n->opset >= 12 && random_seed(g, n, 0, &seed, &d)))
        return lw_error(L, n, "bad mode");
    const Value *x = lw_in(L, n, 0);
    const Shape *s = &x->shape;
    DType ct = op_calc_type(x->dtype);
    int has_mask = n->nout > 1 && n->out[1] != VNONE;
    Expr *c[KILN_MAX_RANK];
    if ((m.train_known && !m.train) || (m.ratio_known && m.ratio == 0)) {
        /* y[..] = x[..]; mask[..] = true */
        lw_loops(L, s, NULL, c);
        lw_store(L, n, 0, c, lw_load(L, n->in[0], c));
        if (has_mask)
            lw_store(L, n, 1, c, ke_const(a, lw_out(L, n, 1)->dtype, 1));
        lw_end_loops(L, s);
        return 0;
    }
    Expr *scalar[KILN_MAX_RANK];
    for (int i = 0; i < KILN_MAX_RANK; i++)
        scalar[i] = ke_idx(a, 0);
    Expr *ratio = m.ratio_known ? ke_float(a, DT_F64, m.ratio)
                                : ke_cast(a, DT_F64, lw_load(L, n->in[1], scalar));
    Expr *train = m.train_known ? NULL : lw_load(L, n->in[2], scalar);
    int r = kb_let(b, "ratio", ratio);
    /* the scale in the data's type; 1 (y = x exactly) when not training */
    Expr *scale = ke_bin(a, B_DIV, ke_float(a, ct, 1), ke_bin(a, B_SUB, ke_float(a, ct, 1), ke_cast(a, ct, kb_v(b, r))));
    int t = train ? kb_let(b, "train", train) : -1;
    if (train)
        scale = ke_select(a, kb_v(b, t), scale, ke_float(a, ct, 1));
    int sc = kb_let(b, "scale", scale);
    Mt mt = mt_open(L, seed);
    lw_loops_k(L, s, NULL, IT_SERIAL, c);
    int keep;
    if (train) {
        keep = kb_let(b, "keep", ke_int(a, DT_BOOL, 1));
        kb_if(b, kb_v(b, t));
        kb_assign(b, keep, ke_bin(a, B_GE, mt_double(L, &mt), kb_v(b, r)));
        kb_end(b);
    } else {
        keep = kb_let(b, "keep", ke_bin(a, B_GE, mt_double(L, &mt), kb_v(b, r)));
    }
    Expr *xv = ke_cast(a, ct, lw_load(L, n->in[0], c));
    Expr *kept = ke_select(a, kb_v(b, keep), xv, ke_float(a, ct, 0));
    lw_store(L, n, 0, c, ke_bin(a, B_MUL, kept, kb_v(b, sc)));
    if (has_mask) {
        DType mt_t = lw_out(L, n, 1)->dtype;
        lw_store(L, n, 1, c, mt_t == DT_BOOL ? kb_v(b, keep) : ke_cast(a, mt_t, kb_v(b, keep)));
    }
    lw_end_loops(L, s);
    return 0;
}
