/*
 * flexattention.c: FlexAttention (ai.onnx.preview), attention with
 * modifier subgraphs.
 *
 *   S = (Q K^T) * scale              [B, Hq, L, Skv], in the softmax type
 *   S = score_mod(S)                 when the attribute is given
 *   P = Softmax(S) along the last axis
 *   P = prob_mod(P)                  when the attribute is given
 *   Y = P V                          [B, Hq, L, Dv], Q's type
 *
 * Q [B, Hq, L, D], K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv]; query head h
 * reads K/V head h / (Hq / Hkv) (grouped-query attention). scale defaults
 * to 1/sqrt(D); the softmax type (softmax_precision) defaults to f32, f64
 * for f64 inputs. A modifier is a subgraph of one input and one output of
 * that type and of S's shape; it may read values of the enclosing graph
 * (captures, control.c's machinery). Lowered into one kernel: S and P in
 * scratch buffers, each modifier's nodes lowered between the steps
 * (lw_scope, lw_nodes), its formal input bound to the buffer it modifies.
 */
#include "op.h"

#include <math.h>

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct Flex {
    int64_t b, hq, hkv, l, s, d, dv;
    DType calc;     /* the softmax type */
    double scale;
    Graph *mod[2];  /* score_mod, prob_mod, or NULL */
} Flex;

static int flex_read(Graph *g, Node *n, Flex *f, Diag *d)
{
    const Value *q = op_in(g, n, 0), *k = op_in(g, n, 1), *v = op_in(g, n, 2);
    static const char *names[3] = {"Q", "K", "V"};
    const Value *in[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        if (in[i]->shape.rank != 4)
            return diag_node(d, g, n, "%s ('%s') must be of rank 4, not %d", names[i], in[i]->name,
                             in[i]->shape.rank);
        if (op_check_dtype(g, n, i, op_float_types, d) || op_same_dtype(g, n, 0, i, d))
            return 1;
    }
    f->b = q->shape.dim[0];
    f->hq = q->shape.dim[1];
    f->l = q->shape.dim[2];
    f->d = q->shape.dim[3];
    f->hkv = k->shape.dim[1];
    f->s = k->shape.dim[2];
    f->dv = v->shape.dim[3];
    if (k->shape.dim[0] != f->b || v->shape.dim[0] != f->b || k->shape.dim[3] != f->d ||
        v->shape.dim[1] != f->hkv || v->shape.dim[2] != f->s)
        return diag_node(d, g, n, "Q, K and V disagree: K must be [B, Hkv, S, D] and V [B, Hkv, S, Dv] for Q [B, Hq, L, D]");
    if (f->hkv < 1 || f->hq % f->hkv)
        return diag_node(d, g, n, "Q's %lld heads are not a multiple of K's %lld", (long long)f->hq,
                         (long long)f->hkv);
    int64_t prec;
    if (attr_int(g, n, "softmax_precision", q->dtype == DT_F64 ? DT_F64 : DT_F32, &prec, d))
        return 1;
    if (prec != DT_F32 && prec != DT_F64)
        return diag_node(d, g, n, "softmax_precision %lld is not supported (float (1) or double (11))",
                         (long long)prec);
    f->calc = (DType)prec;
    if (attr_float(g, n, "scale", f->d > 0 ? 1.0 / sqrt((double)f->d) : 1.0, &f->scale, d))
        return 1;
    static const char *mods[2] = {"score_mod", "prob_mod"};
    for (int i = 0; i < 2; i++) {
        const Attr *a = node_attr(n, mods[i]);
        f->mod[i] = NULL;
        if (!a)
            continue;
        if (a->kind != ATTR_GRAPH || !a->g)
            return diag_node(d, g, n, "attribute %s must be a graph", mods[i]);
        f->mod[i] = a->g;
    }
    return 0;
}

static Shape scores_shape(const Flex *f) { return (Shape){4, {f->b, f->hq, f->l, f->s}}; }

int infer_flexattention(Graph *g, Node *n, Diag *d)
{
    Flex *f = op_attrs(g, n, sizeof *f);
    if (flex_read(g, n, f, d))
        return 1;
    static const char *mods[2] = {"score_mod", "prob_mod"};
    Shape ss = scores_shape(f);
    for (int i = 0; i < 2; i++) {
        Graph *m = f->mod[i];
        if (!m)
            continue;
        if (m->noutputs != 1)
            return diag_node(d, g, n, "%s must have one output, not %d", mods[i], m->noutputs);
        DType ct = f->calc;
        if (op_body_infer(g, n, m, mods[i], &ct, &ss, 1, d))
            return 1;
        const Value *y = &m->values[m->outputs[0]];
        if (!y->typed || y->dtype != f->calc || !shape_equal(&y->shape, &ss)) {
            char a[160], b[160];
            return diag_node(d, g, n, "%s must return %s %s, as it takes, not %s %s", mods[i], dtype_name(f->calc),
                             shape_str(&ss, a, sizeof a), dtype_name(y->dtype), shape_str(&y->shape, b, sizeof b));
        }
    }
    Shape ys = {4, {f->b, f->hq, f->l, f->dv}};
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &ys);
    return 0;
}

/* Run modifier m over buffer buf (its formal input): returns the scope
 * whose output holds the result, lowered at the cursor. */
static int run_mod(Lower *L, Node *n, Graph *m, int buf, LwScope *s)
{
    lw_scope(L, n, m, s);
    lw_swap(L, s);
    lw_bind(L, m->inputs[0], buf);
    int rc = lw_nodes(L);
    lw_swap(L, s);
    return rc;
}

/* Element c of the scores or probabilities: from modifier scope s when
 * there is one, else from scratch buffer buf. */
static Expr *read_mod(Lower *L, Graph *m, LwScope *s, int buf, Expr *const *c)
{
    if (!m)
        return lw_load_temp(L, buf, c);
    lw_swap(L, s);
    Expr *e = lw_load(L, m->outputs[0], c);
    lw_swap(L, s);
    return e;
}

int lower_flexattention(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    const Flex *f = n->attrs;
    DType t = f->calc;
    Shape ss = scores_shape(f), rows = {3, {f->b, f->hq, f->l}};
    int64_t group = f->hq / f->hkv;
    int sb = lw_temp(L, "scores", t, &ss), pb = lw_temp(L, "probs", t, &ss);
    Expr *c[4], *e[4];

    /* S = Q K^T * scale */
    lw_loops(L, &ss, "bhls", c);
    int acc = kb_let(b, "acc", ke_const(a, t, 0));
    Expr *r = kb_v(b, kb_for_k(b, "k", f->d, IT_REDUCE));
    Expr *kh = ke_bin(a, B_DIV, c[1], ke_idx(a, group));
    Expr *qc[4] = {c[0], c[1], c[2], r}, *kc[4] = {c[0], kh, c[3], r};
    kb_assign(b, acc, ke_bin(a, B_ADD, kb_v(b, acc),
                             ke_bin(a, B_MUL, ke_cast(a, t, lw_load(L, n->in[0], qc)),
                                    ke_cast(a, t, lw_load(L, n->in[1], kc)))));
    kb_end(b);
    lw_store_temp(L, sb, c, ke_bin(a, B_MUL, kb_v(b, acc), ke_const(a, t, f->scale)));
    lw_end_loops(L, &ss);

    LwScope s0, s1;
    if (f->mod[0] && run_mod(L, n, f->mod[0], sb, &s0))
        return 1;

    /* P = softmax(S) along the last axis */
    lw_loops(L, &rows, "bhl", c);
    int mx = kb_let(b, "mx", ke_lowest(a, t));
    e[0] = c[0], e[1] = c[1], e[2] = c[2];
    e[3] = kb_v(b, kb_for_k(b, "s", f->s, IT_REDUCE));
    kb_assign(b, mx, ke_bin(a, B_MAX, kb_v(b, mx), read_mod(L, f->mod[0], &s0, sb, e)));
    kb_end(b);
    int sum = kb_let(b, "sum", ke_const(a, t, 0));
    e[3] = kb_v(b, kb_for_k(b, "s", f->s, IT_REDUCE));
    Expr *x = ke_un(a, U_EXP, ke_bin(a, B_SUB, read_mod(L, f->mod[0], &s0, sb, e), kb_v(b, mx)));
    kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), x));
    kb_end(b);
    e[3] = kb_v(b, kb_for_k(b, "s", f->s, IT_DATA));
    x = ke_un(a, U_EXP, ke_bin(a, B_SUB, read_mod(L, f->mod[0], &s0, sb, e), kb_v(b, mx)));
    lw_store_temp(L, pb, e, ke_bin(a, B_DIV, x, kb_v(b, sum)));
    kb_end(b);
    lw_end_loops(L, &rows);

    if (f->mod[1] && run_mod(L, n, f->mod[1], pb, &s1))
        return 1;

    /* Y = P V */
    Shape ys = lw_out(L, n, 0)->shape;
    lw_loops(L, &ys, "bhlv", c);
    int y = kb_let(b, "y", ke_const(a, t, 0));
    Expr *sv = kb_v(b, kb_for_k(b, "s", f->s, IT_REDUCE));
    Expr *pc[4] = {c[0], c[1], c[2], sv}, *vc[4] = {c[0], ke_bin(a, B_DIV, c[1], ke_idx(a, group)), sv, c[3]};
    kb_assign(b, y, ke_bin(a, B_ADD, kb_v(b, y),
                           ke_bin(a, B_MUL, read_mod(L, f->mod[1], &s1, pb, pc),
                                  ke_cast(a, t, lw_load(L, n->in[2], vc)))));
    kb_end(b);
    lw_store(L, n, 0, c, ke_cast(a, ys.rank ? lw_out(L, n, 0)->dtype : t, kb_v(b, y)));
    lw_end_loops(L, &ys);
    return 0;
}
