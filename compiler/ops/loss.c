/*
 * loss.c: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Both take scores x [N, C, d1, ..., dk] (k >= 0), labels t [N, d1, ..., dk]
 * (int32 or int64, runtime data) and an optional weight w [C]. At each
 * position p = (n, d1, ..., dk) with label c = t[p]:
 *
 *   NegativeLogLikelihoodLoss  lp = x[n, c, d...]            (x holds log-probabilities)
 *   SoftmaxCrossEntropyLoss    lp = x[n, c, d...] - mx - log(s), the log-softmax
 *                              over C: mx = max_c x, s = sum_c exp(x - mx)
 *
 *   loss[p] = -lp * w[c]   (w[c] = 1 without weight), and 0 with weight 0 when
 *                          c == ignore_index
 *
 * reduction none stores loss [N, d...]; sum stores the scalar sum; mean
 * stores sum / (the sum of w[c] over the positions not ignored), which
 * without weight is the count of those positions (ONNX's function body).
 *
 * One kernel: a loop nest over the positions, the class loops inside it
 * (the log-softmax passes, and the optional log_prob output of
 * SoftmaxCrossEntropyLoss stored there), then one store per position, or
 * accumulators and one scalar store after the nest. Sums run in x's type,
 * in position order; the count of a mean without weight is exact.
 */
#include "op.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const DType label_types[] = {DT_I32, DT_I64, DT_UNDEF};

typedef enum Reduction { RED_NONE, RED_SUM, RED_MEAN } Reduction;

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct LossAttrs {
    Reduction red;
    int has_ignore;      /* ignore_index given: labels equal to it count for nothing */
    int64_t ignore;      /* ignore_index */
} LossAttrs;

static int loss_attrs(Graph *g, Node *n, LossAttrs *at, Diag *d)
{
    const char *red;
    if (attr_str(g, n, "reduction", "mean", &red, d) || attr_int(g, n, "ignore_index", 0, &at->ignore, d))
        return 1;
    if (!strcmp(red, "none"))
        at->red = RED_NONE;
    else if (!strcmp(red, "sum"))
        at->red = RED_SUM;
    else if (!strcmp(red, "mean"))
        at->red = RED_MEAN;
    else
        return diag_node(d, g, n, "reduction '%s' is not one of none, sum, mean", red);
    at->has_ignore = node_attr(n, "ignore_index") != NULL;
    return 0;
}

/* The shape rule both ops share: x [N, C, d...], labels [N, d...], weight
 * [C]; output 0 is [N, d...] (reduction none) or a scalar; output 1
 * (SoftmaxCrossEntropyLoss's log_prob) is x's shape. */
static int infer_loss(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *t = op_in(g, n, 1), *w = op_in(g, n, 2);
    LossAttrs *at = op_attrs(g, n, sizeof *at);
    char b1[160], b2[160];
    if (!x || !t)
        return diag_node(d, g, n, "inputs 0 (scores) and 1 (labels) are required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || op_check_dtype(g, n, 1, label_types, d) ||
        loss_attrs(g, n, at, d))
        return 1;
    int rank = x->shape.rank;
    if (rank < 2)
        return diag_node(d, g, n, "scores must have rank >= 2 (N, C, ...), not %d", rank);
    int ok = t->shape.rank == rank - 1 && t->shape.dim[0] == x->shape.dim[0];
    for (int i = 1; ok && i < t->shape.rank; i++)
        ok = t->shape.dim[i] == x->shape.dim[i + 1];
    if (!ok)
        return diag_node(d, g, n, "labels have shape %s, expected scores' %s without dim 1",
                         shape_str(&t->shape, b1, sizeof b1), shape_str(&x->shape, b2, sizeof b2));
    int64_t classes = x->shape.dim[1];
    if (classes == 0 && shape_numel(&t->shape) > 0)
        return diag_node(d, g, n, "scores have no classes (C = 0) for %lld labels",
                         (long long)shape_numel(&t->shape));
    if (w) {
        if (op_same_dtype(g, n, 0, 2, d))
            return 1;
        if (w->shape.rank != 1 || w->shape.dim[0] != classes)
            return diag_node(d, g, n, "weight has shape %s, expected [%lld]", shape_str(&w->shape, b1, sizeof b1),
                             (long long)classes);
    }
    Shape scalar = {0, {0}};
    op_set_out(g, n, 0, x->dtype, at->red == RED_NONE ? &t->shape : &scalar);
    op_set_out(g, n, 1, x->dtype, &x->shape);
    return 0;
}

int infer_nllloss(Graph *g, Node *n, Diag *d)
{
    return infer_loss(g, n, d);
}

int infer_sceloss(Graph *g, Node *n, Diag *d)
{
    return infer_loss(g, n, d);
}

/* Append to the open position loops (pos = n, d1..dk) the log-softmax of x
 * over C at that position; stores log_prob (output 1) when the node has it.
 * Returns the local holding mx + log(s), to subtract from x[n, c, d...]. */
static int lower_log_softmax(Lower *L, Node *n, Expr **xc)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &lw_graph(L)->values[n->in[0]];
    DType t = x->dtype;
    int64_t classes = x->shape.dim[1];
    /* mx = max_c x[n, c, d...] */
    int mx = kb_let(b, "mx", ke_float(a, t, -INFINITY));
    xc[1] = kb_v(b, kb_for(b, "c", classes));
    kb_assign(b, mx, ke_bin(a, B_MAX, kb_v(b, mx), lw_load(L, n->in[0], xc)));
    kb_end(b);
    /* s = sum_c exp(x[n, c, d...] - mx) */
    int s = kb_let(b, "s", ke_const(a, t, 0));
    xc[1] = kb_v(b, kb_for(b, "c", classes));
    Expr *sh = ke_bin(a, B_SUB, lw_load(L, n->in[0], xc), kb_v(b, mx));
    kb_assign(b, s, ke_bin(a, B_ADD, kb_v(b, s), ke_un(a, U_EXP, sh)));
    kb_end(b);
    int lse = kb_let(b, "lse", ke_bin(a, B_ADD, kb_v(b, mx), ke_un(a, U_LOG, kb_v(b, s))));
    /* log_prob[n, c, d...] = x - lse */
    if (n->nout > 1 && n->out[1] != VNONE) {
        xc[1] = kb_v(b, kb_for(b, "c", classes));
        lw_store(L, n, 1, xc, ke_bin(a, B_SUB, lw_load(L, n->in[0], xc), kb_v(b, lse)));
        kb_end(b);
    }
    return lse;
}

/* Lowering of both ops; `softmax` selects SoftmaxCrossEntropyLoss. */
static int lower_loss(Lower *L, Node *n, int softmax)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const LossAttrs *at = n->attrs;
    const Value *x = &g->values[n->in[0]], *lab = &g->values[n->in[1]];
    int has_weight = n->nin > 2 && n->in[2] != VNONE;
    DType t = x->dtype;
    int64_t classes = x->shape.dim[1];
    int prank = lab->shape.rank;
    Expr *pos[KILN_MAX_RANK], *xc[KILN_MAX_RANK];
    int sum = -1, wsum = -1;
    if (at->red != RED_NONE) {
        sum = kb_let(b, "sum", ke_const(a, t, 0));
        /* the divisor of mean: sum of weights, or an exact count without */
        wsum = kb_let(b, has_weight ? "wsum" : "count", has_weight ? ke_const(a, t, 0) : ke_idx(a, 0));
    }
    /* positions p = (n, d1, ..., dk) of labels [N, d1, ..., dk] */
    for (int i = 0; i < prank; i++) {
        char name[16];
        snprintf(name, sizeof name, i == 0 ? "n" : "d%d", i);
        pos[i] = kb_v(b, kb_for(b, arena_strdup(a, name), lab->shape.dim[i]));
        xc[i == 0 ? 0 : i + 1] = pos[i];
    }
    int lse = softmax ? lower_log_softmax(L, n, xc) : -1;
    int label = kb_let(b, "label", ke_cast(a, DT_INDEX, lw_load(L, n->in[1], pos)));
    /* A label outside [0, C) that is not ignore_index is invalid input;
     * clamping it keeps every load inside x and weight (the loss is then
     * that of the nearest class). */
    int cls = kb_let(b, "cls", ke_bin(a, B_MAX, ke_bin(a, B_MIN, kb_v(b, label), ke_idx(a, classes - 1)), ke_idx(a, 0)));
    Expr *c = kb_v(b, cls);
    xc[1] = c;
    Expr *lp = lw_load(L, n->in[0], xc);
    if (softmax)
        lp = ke_bin(a, B_SUB, lp, kb_v(b, lse));
    Expr *w = has_weight ? lw_load(L, n->in[2], &c) : NULL;
    Expr *loss = ke_un(a, U_NEG, lp);
    if (w)
        loss = ke_bin(a, B_MUL, loss, w);
    Expr *keep = at->has_ignore ? ke_bin(a, B_NE, kb_v(b, label), ke_idx(a, at->ignore)) : NULL;
    if (at->red == RED_NONE) {
        /* loss[n, d...] = -lp * w[c], 0 where ignored */
        lw_store(L, n, 0, pos, keep ? ke_select(a, keep, loss, ke_const(a, t, 0)) : loss);
    } else {
        /* sum += -lp * w[c]; wsum += w[c] (count += 1), where not ignored */
        if (keep)
            kb_if(b, keep);
        kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), loss));
        kb_assign(b, wsum, ke_bin(a, B_ADD, kb_v(b, wsum), w ? w : ke_idx(a, 1)));
        if (keep)
            kb_end(b);
    }
    for (int i = 0; i < prank; i++)
        kb_end(b);
    if (at->red == RED_SUM)
        lw_store(L, n, 0, pos, kb_v(b, sum));
    else if (at->red == RED_MEAN)
        lw_store(L, n, 0, pos, ke_bin(a, B_DIV, kb_v(b, sum), ke_cast(a, t, kb_v(b, wsum))));
    return 0;
}

int lower_nllloss(Lower *L, Node *n)
{
    return lower_loss(L, n, 0);
}

int lower_sceloss(Lower *L, Node *n)
{
    return lower_loss(L, n, 1);
}
