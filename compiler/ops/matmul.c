/*
 * matmul.c: MatMul and Gemm.
 *
 * MatMul follows numpy: a 1-D A is a row [1, K], a 1-D B a column [K, 1]
 * (the added dim is dropped from the result), and leading batch dims
 * broadcast. Gemm is Y = alpha * op(A) op(B) + beta * C with C broadcast to
 * [M, N]. Both lower to the plain reduction nest
 *
 *     for (batch...) for m for n { acc = 0; for k: acc += A[m,k] * B[k,n]; Y[m,n] = f(acc) }
 *
 * and leave blocking, vectorization and packing to the loop passes.
 */
#include "op.h"

int matmul_shape(Graph *g, Node *n, int ia, int ib, MatMulShape *s, Diag *d)
{
    const Value *a = op_in(g, n, ia), *b = op_in(g, n, ib);
    char x[160], y[160];
    s->ia = ia;
    s->ib = ib;
    if (a->shape.rank == 0 || b->shape.rank == 0)
        return diag_node(d, g, n, "matrix inputs must have rank >= 1, got %s and %s",
                         shape_str(&a->shape, x, sizeof x), shape_str(&b->shape, y, sizeof y));
    s->a = a->shape;
    s->b = b->shape;
    s->drop_m = s->a.rank == 1;
    s->drop_n = s->b.rank == 1;
    if (s->drop_m)
        s->a = (Shape){2, {1, a->shape.dim[0]}};
    if (s->drop_n)
        s->b = (Shape){2, {b->shape.dim[0], 1}};
    int ra = s->a.rank, rb = s->b.rank;
    if (s->a.dim[ra - 1] != s->b.dim[rb - 2])
        return diag_node(d, g, n, "inner dimensions differ: %s times %s", shape_str(&a->shape, x, sizeof x),
                         shape_str(&b->shape, y, sizeof y));
    Shape ba = s->a, bb = s->b;
    ba.rank -= 2;
    bb.rank -= 2;
    if (shape_broadcast(&ba, &bb, &s->full))
        return diag_node(d, g, n, "batch dimensions of %s and %s do not broadcast",
                         shape_str(&a->shape, x, sizeof x), shape_str(&b->shape, y, sizeof y));
    if (s->full.rank + 2 > KILN_MAX_RANK)
        return diag_node(d, g, n, "rank too large");
    int nb = s->full.rank;
    s->fa = s->fb = s->full;
    s->fa.dim[nb] = s->a.dim[ra - 2];
    s->fa.dim[nb + 1] = s->a.dim[ra - 1];
    s->fb.dim[nb] = s->b.dim[rb - 2];
    s->fb.dim[nb + 1] = s->b.dim[rb - 1];
    s->fa.rank = s->fb.rank = nb + 2;
    s->full.dim[nb] = s->a.dim[ra - 2];
    s->full.dim[nb + 1] = s->b.dim[rb - 1];
    s->full.rank = nb + 2;
    /* the output drops the promoted dims */
    s->out = s->full;
    if (s->drop_n)
        s->out.rank--;
    if (s->drop_m) {
        s->out.dim[s->out.rank - (s->drop_n ? 1 : 2)] = s->out.dim[s->out.rank - 1];
        s->out.rank--;
    }
    return 0;
}

static const DType mm_types[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_I32, DT_I64, DT_U32, DT_U64, DT_UNDEF};

/* MatMul keeps its MatMulShape as its parsed attributes (Node.attrs). */
int infer_matmul(Graph *g, Node *n, Diag *d)
{
    MatMulShape *s = op_attrs(g, n, sizeof *s);
    if (op_check_dtype(g, n, 0, mm_types, d) || op_same_dtype(g, n, 0, 1, d) || matmul_shape(g, n, 0, 1, s, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &s->out);
    return 0;
}

/* Coordinates into a promoted operand of rank r whose real rank is `real`:
 * batch dims broadcast against the output's, then its two matrix dims. */
static Expr *mm_load(Lower *L, ValueId v, const Shape *promoted, int nbatch_out, Expr *const *batch,
                     Expr *row, Expr *col, int dropped_row, int dropped_col)
{
    Arena *a = lw_arena(L);
    Expr *c[KILN_MAX_RANK];
    int nb = promoted->rank - 2, k = 0;
    for (int i = 0; i < nb; i++)
        c[k++] = promoted->dim[i] == 1 ? ke_idx(a, 0) : batch[nbatch_out - nb + i];
    if (!dropped_row)
        c[k++] = row;
    if (!dropped_col)
        c[k++] = col;
    return lw_load(L, v, c);
}

int lower_matmul(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const MatMulShape *s = n->attrs;
    int nb = s->full.rank - 2;
    int64_t M = s->full.dim[nb], N = s->full.dim[nb + 1], K = s->a.dim[s->a.rank - 1];
    DType t = g->values[n->out[0]].dtype;
    Expr *batch[KILN_MAX_RANK];
    for (int i = 0; i < nb; i++)
        batch[i] = kb_v(b, kb_for_k(b, "b", s->full.dim[i], IT_DATA));
    /* y[m, n] = sum_k a[m, k] * b[k, n] */
    Expr *m = kb_v(b, kb_for_k(b, "m", M, IT_DATA));
    Expr *nn = kb_v(b, kb_for_k(b, "n", N, IT_DATA));
    int acc = kb_let(b, "acc", ke_const(a, t, 0));
    Expr *k = kb_v(b, kb_for_k(b, "k", K, IT_REDUCE));
    Expr *x = mm_load(L, n->in[0], &s->a, nb, batch, m, k, s->drop_m, 0);
    Expr *y = mm_load(L, n->in[1], &s->b, nb, batch, k, nn, 0, s->drop_n);
    kb_assign(b, acc, ke_bin(a, B_ADD, kb_v(b, acc), ke_bin(a, B_MUL, x, y)));
    kb_end(b);
    /* output coordinates without the promoted dims */
    Expr *oc[KILN_MAX_RANK];
    int r = 0;
    for (int i = 0; i < nb; i++)
        oc[r++] = batch[i];
    if (!s->drop_m)
        oc[r++] = m;
    if (!s->drop_n)
        oc[r++] = nn;
    lw_store(L, n, 0, oc, kb_v(b, acc));
    kb_end(b);
    kb_end(b);
    for (int i = 0; i < nb; i++)
        kb_end(b);
    return 0;
}

/* ------------------------------------------------------------------ Gemm */

/* Gemm's parsed attributes (Node.attrs). */
typedef struct GemmAttrs {
    int64_t trans_a, trans_b;
    double alpha, beta;
} GemmAttrs;

static int gemm_attrs(Graph *g, Node *n, GemmAttrs *at, Diag *d)
{
    return attr_int(g, n, "transA", 0, &at->trans_a, d) || attr_int(g, n, "transB", 0, &at->trans_b, d) ||
           attr_float(g, n, "alpha", 1.0, &at->alpha, d) || attr_float(g, n, "beta", 1.0, &at->beta, d);
}

int infer_gemm(Graph *g, Node *n, Diag *d)
{
    GemmAttrs *at = op_attrs(g, n, sizeof *at);
    const Value *a = op_in(g, n, 0), *b = op_in(g, n, 1), *c = op_in(g, n, 2);
    char x[160], y[160];
    if (gemm_attrs(g, n, at, d) || op_check_dtype(g, n, 0, mm_types, d) || op_same_dtype(g, n, 0, 1, d))
        return 1;
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return diag_node(d, g, n, "A and B must be matrices, got %s and %s", shape_str(&a->shape, x, sizeof x),
                         shape_str(&b->shape, y, sizeof y));
    int64_t M = a->shape.dim[at->trans_a ? 1 : 0], K = a->shape.dim[at->trans_a ? 0 : 1];
    int64_t K2 = b->shape.dim[at->trans_b ? 1 : 0], N = b->shape.dim[at->trans_b ? 0 : 1];
    if (K != K2)
        return diag_node(d, g, n, "inner dimensions differ: %lld and %lld", (long long)K, (long long)K2);
    Shape out = {2, {M, N}}, bc;
    if (c) {
        if (op_same_dtype(g, n, 0, 2, d))
            return 1;
        if (shape_broadcast(&c->shape, &out, &bc) || !shape_equal(&bc, &out))
            return diag_node(d, g, n, "C of shape %s does not broadcast to %lldx%lld",
                             shape_str(&c->shape, x, sizeof x), (long long)M, (long long)N);
    }
    op_set_out(g, n, 0, a->dtype, &out);
    return 0;
}

int lower_gemm(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const GemmAttrs *at = n->attrs;
    const Value *out = &g->values[n->out[0]];
    DType t = out->dtype;
    int64_t M = out->shape.dim[0], N = out->shape.dim[1];
    int64_t K = g->values[n->in[0]].shape.dim[at->trans_a ? 0 : 1];
    /* y[m, n] = alpha * sum_k A'[m, k] B'[k, n] + beta * C[m, n] */
    Expr *m = kb_v(b, kb_for_k(b, "m", M, IT_DATA));
    Expr *nn = kb_v(b, kb_for_k(b, "n", N, IT_DATA));
    int acc = kb_let(b, "acc", ke_const(a, t, 0));
    Expr *k = kb_v(b, kb_for_k(b, "k", K, IT_REDUCE));
    Expr *ca[2] = {at->trans_a ? k : m, at->trans_a ? m : k};
    Expr *cb[2] = {at->trans_b ? nn : k, at->trans_b ? k : nn};
    kb_assign(b, acc, ke_bin(a, B_ADD, kb_v(b, acc), ke_bin(a, B_MUL, lw_load(L, n->in[0], ca), lw_load(L, n->in[1], cb))));
    kb_end(b);
    Expr *v = kb_v(b, acc);
    if (at->alpha != 1.0)
        v = ke_bin(a, B_MUL, ke_const(a, t, at->alpha), v);
    if (n->nin > 2 && n->in[2] != VNONE && at->beta != 0.0) {
        Expr *oc[2] = {m, nn};
        Expr *c = lw_load_bcast(L, n->in[2], 2, oc);
        v = ke_bin(a, B_ADD, v, at->beta == 1.0 ? c : ke_bin(a, B_MUL, ke_const(a, t, at->beta), c));
    }
    Expr *oc[2] = {m, nn};
    lw_store(L, n, 0, oc, v);
    kb_end(b);
    kb_end(b);
    return 0;
}
