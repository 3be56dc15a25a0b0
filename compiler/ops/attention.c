/*
 * attention.c: attention and the sequence-model ops around it: Attention,
 * RotaryEmbedding, SwiGLU, CausalConvWithState and LinearAttention.
 *
 * Each is one kernel of plain loop nests. f16 and bf16 compute in float,
 * rounding where they are stored; a running state that must not round at
 * every step (LinearAttention's) lives in a scratch buffer of op_calc_type().
 * Heads packed into a last dim ([B, S, heads*H]) are addressed with
 * packed(): element i of head h is h*H + i.
 *
 * Attention (opset 23, 24) is scaled dot-product attention. Q is
 * [B, Hq, Sq, D] (or 3-D [B, Sq, Hq*D] with q_num_heads), K [B, Hkv, Skv, D]
 * and V [B, Hkv, Skv, Dv] (or 3-D with kv_num_heads); query head h reads
 * key/value head h / (Hq / Hkv) (grouped query attention).
 * past_key/past_value [B, Hkv, P, *] come before K and V:
 * present = concat(past, new) along the sequence, T = P + Skv positions,
 * written first (into the present_* outputs, or a scratch buffer when the
 * node has a past but does not output the present). Then, per (b, h, q):
 *
 *   qk[k]   = sum_d (Q[d] * s) * (K[k, d] * s),  s = sqrt(scale)
 *   qk[k]   = tanh(qk[k] / softcap) * softcap     (softcap > 0)
 *   bias[k] = mask + causal + padding             (each 0 or -inf but a float mask)
 *   x[k]    = qk[k] + bias[k]    in the softmax type (softmax_precision)
 *   p[k]    = exp(x[k] - mx) / sum,  mx = max x (0 when -inf), sum = 1 when 0
 *   p[k]    = 0 when every bias[k] is -inf        (a fully masked row)
 *   Y[dv]   = sum_k p[k] * V[k, dv]
 *
 * with the conventions of onnx.reference: a bool mask keeps true (false is
 * -inf); a mask shorter than T on its last axis is padded with -inf
 * (false); the causal frontier is bottom-right, key k allowed iff
 * k <= q + offset, offset = P with a past, nonpad_kv_seqlen[b] - Sq with
 * nonpad_kv_seqlen, else 0; nonpad_kv_seqlen masks keys k >= it.
 * qk_matmul_output is qk before the softcap (mode 0), after it (1), plus
 * the bias (2), or p (3); mode 0 follows the spec (and onnxruntime), where
 * onnx.reference gives the softcapped scores. x lives in a scratch row of
 * T elements, in the softmax type.
 *
 * RotaryEmbedding (opset 23) rotates pairs (x1, x2) of each head of X
 * [B, H, S, Dh] (or [B, S, H*Dh] with num_heads) by the angle whose cos and
 * sin come from cos_cache/sin_cache: row position_ids[b, s] of a
 * [positions, rot/2] cache, or [b, s] of a [B, S, rot/2] one. The pairs
 * are (j, j + rot/2) or, interleaved, (2j, 2j + 1), for j < rot/2; dims
 * from rot (rotary_embedding_dim, default Dh) on are copied. Positions
 * out of range are clamped into the cache (as kiln's Gather does).
 *
 * SwiGLU (opset 28) gates B by the Swish of A, of the same shape (no
 * broadcasting): Y = A * sigmoid(alpha * A) * B. swish() is shared with
 * CausalConvWithState's activation.
 *
 * CausalConvWithState (opset 27) is a depthwise causal conv1d of x
 * [B, C, L] with weight [C, 1, K] over the padded sequence
 * p = concat(past_state [B, C, K-1] or zeros, x) along the last axis:
 *
 *   y[b, c, l]       = act(bias[c] + sum_k w[c, 0, k] * p[b, c, l + k])
 *   present[b, c, i] = p[b, c, L + i],  i < K - 1
 *
 * act is Swish (activation "silu" or "swish") or none. p is never built:
 * the taps read its element j from past_state or x (cconv_padded), the
 * present from each in its own loop.
 *
 * LinearAttention (opset 27) runs, for each batch b and key/value head hk,
 * a recurrence over the T positions of Q [B, T, Hq*Dk], K [B, T, Hkv*Dk]
 * and V [B, T, Hkv*Dv] on a state S [Dk, Dv] that starts as past_state
 * [B, Hkv, Dk, Dv] (or zeros). At position t, by update_rule:
 *
 *   S[i, j]  = exp(g[i]) * S[i, j]                  (gated, gated_delta)
 *   u[j]     = beta * (v[j] - sum_i S[i, j] k[i])   (delta, gated_delta)
 *   u[j]     = v[j]                                 (linear, gated)
 *   S[i, j] += k[i] * u[j]
 *   Y[h, j]  = scale * sum_i q[h, i] S[i, j]        (each query head h of hk)
 *
 * g is decay [B, T, Hkv*Dk] (per key dim) or [B, T, Hkv] (per head), beta
 * [B, T, Hkv] or [B, T, 1]; query heads hk*G .. hk*G + G-1 share head hk
 * (G = Hq / Hkv); scale 0 means 1/sqrt(Dk). Column j of S depends only on
 * column j, so the update runs column by column with no scratch row. S is
 * computed in f32 as onnx.reference does (f64 for f64 inputs), in the
 * present_state output when it has that type, else in scratch, and rounds
 * into present_state (past_state's type, else Q's) at the end. chunk_size
 * is a hint for chunked kernels and is ignored.
 */
#include "op.h"

#include <math.h>

#include <string.h>

/* A float constant of type t, rounded to t first when t is f32. */
static Expr *fconst(Arena *a, DType t, double v)
{
    return ke_float(a, t, t == DT_F32 ? (double)(float)v : v);
}

/* Index of element i of head h in a last dim packing heads of `size`. */
static Expr *packed(Arena *a, Expr *h, int64_t size, Expr *i)
{
    return ke_bin(a, B_ADD, ke_bin(a, B_MUL, h, ke_idx(a, size)), i);
}

/* Swish of x in its own type: x * sigmoid(alpha * x). x is used twice,
 * so it should be a variable. */
static Expr *swish(Arena *a, Expr *x, double alpha)
{
    DType t = x->type;
    Expr *one = ke_const(a, t, 1);
    Expr *ax = alpha == 1 ? x : ke_bin(a, B_MUL, fconst(a, t, alpha), x);
    return ke_bin(a, B_MUL, x, ke_bin(a, B_DIV, one, ke_bin(a, B_ADD, one, ke_un(a, U_EXP, ke_un(a, U_NEG, ax)))));
}

/* Input (output) i of n is present: within nin (nout) and not empty. */
static int has_in(const Node *n, int i) { return i < n->nin && n->in[i] != VNONE; }
static int has_out(const Node *n, int i) { return i < n->nout && n->out[i] != VNONE; }

/* ------------------------------------------------------------ Attention */

enum { IN_Q, IN_K, IN_V, IN_MASK, IN_PAST_K, IN_PAST_V, IN_NONPAD };
enum { OUT_Y, OUT_PRESENT_K, OUT_PRESENT_V, OUT_QK };

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct AttnInfo {
    int rank;             /* 3 or 4: layout of Q, K, V and Y */
    int64_t B;            /* batch */
    int64_t Hq, Hkv;      /* query heads, key/value heads (Hq % Hkv == 0) */
    int64_t Sq, Skv, P, T;/* query, new key, past and total key positions */
    int64_t D, Dv;        /* head size of Q and K, of V */
    int causal;           /* is_causal */
    double scale;         /* of Q K^T; Q and K are each scaled by its sqrt */
    double softcap;       /* 0: none */
    int64_t mode;         /* qk_matmul_output_mode */
    DType t;              /* type of Q, K, V and the outputs */
    DType u;              /* type the softmax is computed in */
} AttnInfo;

/* Split a 3-D [B, S, heads*H] input i into its heads; H into *out_h. */
static int attn_heads3(Graph *g, Node *n, int i, int64_t heads, int64_t *out_h, Diag *d)
{
    const Value *x = op_in(g, n, i);
    if (x->shape.dim[2] % heads)
        return diag_node(d, g, n, "input %d ('%s') has hidden size %lld, not a multiple of %lld heads", i,
                         x->name, (long long)x->shape.dim[2], (long long)heads);
    *out_h = x->shape.dim[2] / heads;
    return 0;
}

/* Check a [B, Hkv, P, H] past input i against the new keys or values. */
static int attn_past(Graph *g, Node *n, int i, const AttnInfo *in, int64_t h, int64_t *out_p, Diag *d)
{
    const Value *x = op_in(g, n, i);
    char buf[160];
    if (op_same_dtype(g, n, IN_Q, i, d))
        return 1;
    if (x->shape.rank != 4 || x->shape.dim[0] != in->B || x->shape.dim[1] != in->Hkv || x->shape.dim[3] != h)
        return diag_node(d, g, n, "input %d ('%s') has shape %s, expected [%lld, %lld, past, %lld]", i, x->name,
                         shape_str(&x->shape, buf, sizeof buf), (long long)in->B, (long long)in->Hkv,
                         (long long)h);
    *out_p = x->shape.dim[2];
    return 0;
}

/* Check the attention mask: rank <= 4, broadcasting right-aligned to
 * [B, Hq, Sq, *] with a last dim of at most T (shorter is padded). */
static int attn_mask_check(Graph *g, Node *n, const AttnInfo *in, Diag *d)
{
    const Value *m = op_in(g, n, IN_MASK);
    int64_t full[4] = {in->B, in->Hq, in->Sq, in->T};
    char buf[160];
    int r = m->shape.rank;
    if (m->dtype != DT_BOOL && !dtype_is_int(m->dtype) && !dtype_is_float(m->dtype))
        return diag_node(d, g, n, "attn_mask has type %s, expected bool or a number", dtype_name(m->dtype));
    int ok = r >= 1 && r <= 4 && m->shape.dim[r - 1] <= in->T;
    for (int i = 0; ok && i < r - 1; i++) {
        int64_t want = full[4 - r + i];
        ok = m->shape.dim[i] == 1 || m->shape.dim[i] == want;
    }
    if (!ok)
        return diag_node(d, g, n, "attn_mask has shape %s, which does not broadcast to [%lld, %lld, %lld, %lld]",
                         shape_str(&m->shape, buf, sizeof buf), (long long)in->B, (long long)in->Hq,
                         (long long)in->Sq, (long long)in->T);
    return 0;
}

/* Read and check the node's inputs and attributes into *in. */
static int attn_read(Graph *g, Node *n, AttnInfo *in, Diag *d)
{
    int64_t causal, qh, kvh, prec;
    double scale;
    const Value *q = op_in(g, n, IN_Q), *k = op_in(g, n, IN_K), *v = op_in(g, n, IN_V);
    char b1[160], b2[160], b3[160];
    if (!q || !k || !v)
        return diag_node(d, g, n, "inputs Q, K and V are required");
    if (op_check_dtype(g, n, IN_Q, op_float_types, d) || op_same_dtype(g, n, IN_Q, IN_K, d) ||
        op_same_dtype(g, n, IN_Q, IN_V, d))
        return 1;
    if (attr_int(g, n, "is_causal", 0, &causal, d) || attr_int(g, n, "q_num_heads", 0, &qh, d) ||
        attr_int(g, n, "kv_num_heads", 0, &kvh, d) || attr_float(g, n, "scale", NAN, &scale, d) ||
        attr_float(g, n, "softcap", 0, &in->softcap, d) || attr_int(g, n, "softmax_precision", 0, &prec, d) ||
        attr_int(g, n, "qk_matmul_output_mode", 0, &in->mode, d))
        return 1;
    in->t = q->dtype;
    in->rank = q->shape.rank;
    in->causal = causal != 0;
    if (q->shape.rank != k->shape.rank || q->shape.rank != v->shape.rank || (in->rank != 3 && in->rank != 4))
        return diag_node(d, g, n, "Q, K and V must all be 3-D or all 4-D, not %s, %s and %s",
                         shape_str(&q->shape, b1, sizeof b1), shape_str(&k->shape, b2, sizeof b2),
                         shape_str(&v->shape, b3, sizeof b3));
    in->B = q->shape.dim[0];
    if (in->rank == 4) {
        in->Hq = q->shape.dim[1];
        in->Sq = q->shape.dim[2];
        in->D = q->shape.dim[3];
        in->Hkv = k->shape.dim[1];
        in->Skv = k->shape.dim[2];
        in->Dv = v->shape.dim[3];
    } else {
        int64_t dk;
        if (qh <= 0 || kvh <= 0)
            return diag_node(d, g, n, "3-D inputs need q_num_heads and kv_num_heads > 0");
        in->Hq = qh;
        in->Hkv = kvh;
        in->Sq = q->shape.dim[1];
        in->Skv = k->shape.dim[1];
        if (attn_heads3(g, n, IN_Q, qh, &in->D, d) || attn_heads3(g, n, IN_K, kvh, &dk, d) ||
            attn_heads3(g, n, IN_V, kvh, &in->Dv, d))
            return 1;
        if (dk != in->D)
            return diag_node(d, g, n, "K has head size %lld, Q %lld", (long long)dk, (long long)in->D);
    }
    /* K [B, Hkv, Skv, D] and V [B, Hkv, Skv, Dv], as 4-D */
    int kd = in->rank == 4;
    int ok = k->shape.dim[0] == in->B && v->shape.dim[0] == in->B && v->shape.dim[kd + 1] == in->Skv &&
             (!kd || (k->shape.dim[3] == in->D && v->shape.dim[1] == in->Hkv));
    if (!ok)
        return diag_node(d, g, n, "K %s and V %s do not match Q %s", shape_str(&k->shape, b2, sizeof b2),
                         shape_str(&v->shape, b3, sizeof b3), shape_str(&q->shape, b1, sizeof b1));
    if (in->Hkv <= 0 || in->Hq % in->Hkv)
        return diag_node(d, g, n, "%lld query heads are not a multiple of %lld key/value heads", (long long)in->Hq,
                         (long long)in->Hkv);
    in->P = 0;
    if (has_in(n, IN_PAST_K) != has_in(n, IN_PAST_V))
        return diag_node(d, g, n, "past_key and past_value must be given together");
    if (has_in(n, IN_PAST_K)) {
        int64_t pv;
        if (attn_past(g, n, IN_PAST_K, in, in->D, &in->P, d) || attn_past(g, n, IN_PAST_V, in, in->Dv, &pv, d))
            return 1;
        if (pv != in->P)
            return diag_node(d, g, n, "past_key has %lld positions, past_value %lld", (long long)in->P,
                             (long long)pv);
    }
    in->T = in->P + in->Skv;
    if (has_in(n, IN_NONPAD)) {
        const Value *np = op_in(g, n, IN_NONPAD);
        if (in->P > 0 || has_in(n, IN_PAST_K))
            return diag_node(d, g, n, "nonpad_kv_seqlen cannot be combined with past_key and past_value");
        if (np->dtype != DT_I64 || np->shape.rank != 1 || np->shape.dim[0] != in->B)
            return diag_node(d, g, n, "nonpad_kv_seqlen must be int64 of shape [%lld], not %s %s", (long long)in->B,
                             dtype_name(np->dtype), shape_str(&np->shape, b1, sizeof b1));
    }
    if (has_in(n, IN_MASK) && attn_mask_check(g, n, in, d))
        return 1;
    if (in->mode < 0 || in->mode > 3)
        return diag_node(d, g, n, "qk_matmul_output_mode must be 0, 1, 2 or 3, not %lld", (long long)in->mode);
    in->u = in->t;
    if (node_attr(n, "softmax_precision")) {
        if (prec != DT_F32 && prec != DT_F64 && prec != DT_F16 && prec != DT_BF16)
            return diag_node(d, g, n, "softmax_precision %lld is not a float type (1, 10, 11 or 16)", (long long)prec);
        in->u = (DType)prec;
    }
    if (isnan(scale)) {
        if (in->D <= 0)
            return diag_node(d, g, n, "head size is 0: give the scale attribute");
        scale = 1.0 / sqrt((double)in->D);
    }
    in->scale = scale;
    return 0;
}

int infer_attention(Graph *g, Node *n, Diag *d)
{
    AttnInfo *in = op_attrs(g, n, sizeof *in);
    if (attn_read(g, n, in, d))
        return 1;
    Shape y = {4, {in->B, in->Hq, in->Sq, in->Dv}};
    if (in->rank == 3) {
        y = (Shape){3, {in->B, in->Sq, 0}};
        if (ck_mul(in->Hq, in->Dv, &y.dim[2]))
            return diag_node(d, g, n, "q_num_heads %lld times the head size %lld overflows", (long long)in->Hq,
                             (long long)in->Dv);
    }
    Shape pk = {4, {in->B, in->Hkv, in->T, in->D}}, pv = {4, {in->B, in->Hkv, in->T, in->Dv}};
    Shape qk = {4, {in->B, in->Hq, in->Sq, in->T}};
    op_set_out(g, n, OUT_Y, in->t, &y);
    op_set_out(g, n, OUT_PRESENT_K, in->t, &pk);
    op_set_out(g, n, OUT_PRESENT_V, in->t, &pv);
    op_set_out(g, n, OUT_QK, in->t, &qk);
    return 0;
}

/* Where keys or values are read from: a 4-D [B, Hkv, T, H] buffer (the
 * present), or the K or V input itself, 4-D or 3-D [B, Skv, Hkv*H]. */
typedef struct KVSrc {
    int buf;      /* buffer */
    Shape shape;  /* its shape */
    int rank3;    /* 3-D: heads folded into the last dim */
    int64_t h;    /* head size */
} KVSrc;

/* Element [b, head, j, i] of a key/value source. */
static Expr *kv_load(Lower *L, const KVSrc *s, Expr *b, Expr *head, Expr *j, Expr *i)
{
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    Expr *c[4] = {b, head, j, i};
    if (s->rank3) {
        c[1] = j;
        c[2] = packed(a, head, s->h, i);
    }
    return ke_load(a, kb->p, s->buf, kb_flat(kb, &s->shape, c));
}

/* The source of input `which` (K or V) as it stands, and where its
 * present [B, Hkv, T, h] goes: output `out`, else scratch when there is a
 * past (the attention then reads it), else nowhere. Writes the present:
 * past positions, then the new ones. */
static KVSrc kv_present(Lower *L, Node *n, const AttnInfo *in, int which, int past, int out, int64_t h)
{
    Graph *g = lw_graph(L);
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    KVSrc src = {lw_buf(L, n->in[which]), g->values[n->in[which]].shape, in->rank == 3, h};
    KVSrc dst = {-1, {4, {in->B, in->Hkv, in->T, h}}, 0, h};
    if (has_out(n, out))
        dst.buf = lw_buf(L, n->out[out]);
    else if (in->P > 0)
        dst.buf = lw_temp(L, which == IN_K ? "key_all" : "value_all", in->t, &dst.shape);
    else
        return src;
    /* present[b, hk, j, i] = past[b, hk, j, i] (j < P), new[b, hk, j - P, i] */
    kb_comment(kb, which == IN_K ? "present key: past, then K" : "present value: past, then V");
    Expr *b = kb_v(kb, kb_for(kb, "b", in->B));
    Expr *hk = kb_v(kb, kb_for(kb, "hk", in->Hkv));
    if (in->P > 0) {
        KVSrc ps = {lw_buf(L, n->in[past]), g->values[n->in[past]].shape, 0, h};
        Expr *j = kb_v(kb, kb_for(kb, "j", in->P));
        Expr *i = kb_v(kb, kb_for(kb, "i", h));
        Expr *c[4] = {b, hk, j, i};
        kb_store(kb, dst.buf, kb_flat(kb, &dst.shape, c), kv_load(L, &ps, b, hk, j, i));
        kb_end(kb);
        kb_end(kb);
    }
    Expr *j = kb_v(kb, kb_for(kb, "j", in->Skv));
    Expr *i = kb_v(kb, kb_for(kb, "i", h));
    Expr *c[4] = {b, hk, ke_bin(a, B_ADD, j, ke_idx(a, in->P)), i};
    kb_store(kb, dst.buf, kb_flat(kb, &dst.shape, c), kv_load(L, &src, b, hk, j, i));
    kb_end(kb);
    kb_end(kb);
    kb_end(kb);
    kb_end(kb);
    return in->P > 0 ? dst : src;
}

/* 0 when `allowed`, else -inf, in type t. */
static Expr *open_or_ninf(Arena *a, DType t, Expr *allowed)
{
    return ke_select(a, allowed, ke_const(a, t, 0), ke_float(a, t, -INFINITY));
}

/* The additive bias at [b, h, q, k] as a local (appended to the current
 * block), or NULL when the node has no mask, causal or padding part.
 * `nonpad` is the local holding nonpad_kv_seqlen[b], or -1. */
static Expr *attn_bias(Lower *L, Node *n, const AttnInfo *in, Expr *b, Expr *h, Expr *q, Expr *k, int nonpad)
{
    Graph *g = lw_graph(L);
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    DType t = in->t;
    Expr *bias = NULL;
    if (has_in(n, IN_MASK)) {
        /* mask broadcast right-aligned to [B, Hq, Sq, T], padded on its last axis */
        const Value *m = &g->values[n->in[IN_MASK]];
        Expr *full[4] = {b, h, q, k}, *c[4];
        int r = m->shape.rank;
        for (int i = 0; i < r; i++)
            c[i] = i < r - 1 && m->shape.dim[i] == 1 ? ke_idx(a, 0) : full[4 - r + i];
        Expr *mv = lw_load(L, n->in[IN_MASK], c);
        mv = m->dtype == DT_BOOL ? open_or_ninf(a, t, mv) : ke_cast(a, t, mv);
        int64_t len = m->shape.dim[r - 1];
        if (len < in->T) {
            int var = kb_let(kb, "mask", ke_float(a, t, -INFINITY));
            kb_if(kb, ke_bin(a, B_LT, k, ke_idx(a, len)));
            kb_assign(kb, var, mv);
            kb_end(kb);
            mv = kb_v(kb, var);
        }
        bias = mv;
    }
    if (in->causal) {
        /* key k is allowed iff k <= q + offset (bottom-right frontier) */
        Expr *off = ke_idx(a, in->P);
        if (nonpad >= 0)
            off = ke_bin(a, B_SUB, kb_v(kb, nonpad), ke_idx(a, in->Sq));
        Expr *c = open_or_ninf(a, t, ke_bin(a, B_LE, k, ke_bin(a, B_ADD, q, off)));
        bias = bias ? ke_bin(a, B_ADD, bias, c) : c;
    }
    if (nonpad >= 0) {
        Expr *c = open_or_ninf(a, t, ke_bin(a, B_LT, k, kb_v(kb, nonpad)));
        bias = bias ? ke_bin(a, B_ADD, bias, c) : c;
    }
    return bias ? kb_v(kb, kb_let(kb, "bias", bias)) : NULL;
}

int lower_attention(Lower *L, Node *n)
{
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    const AttnInfo *in = n->attrs;
    DType t = in->t, u = in->u;
    KVSrc ks = kv_present(L, n, in, IN_K, IN_PAST_K, OUT_PRESENT_K, in->D);
    KVSrc vs = kv_present(L, n, in, IN_V, IN_PAST_V, OUT_PRESENT_V, in->Dv);
    Shape row = {1, {in->T}};
    int score = lw_temp(L, "score", u, &row);
    Expr *s = fconst(a, t, sqrt(in->scale)), *cap = fconst(a, t, in->softcap);
    Expr *ninf_u = ke_float(a, u, -INFINITY), *zero_u = ke_const(a, u, 0);
    int qk_out = has_out(n, OUT_QK);

    kb_comment(kb, "attention: scores, softmax, weighted sum of V");
    Expr *b = kb_v(kb, kb_for(kb, "b", in->B));
    int nonpad = -1;
    if (has_in(n, IN_NONPAD))
        nonpad = kb_let(kb, "nonpad", ke_cast(a, DT_INDEX, lw_load(L, n->in[IN_NONPAD], &b)));
    Expr *h = kb_v(kb, kb_for(kb, "h", in->Hq));
    Expr *hk = ke_bin(a, B_DIV, h, ke_idx(a, in->Hq / in->Hkv));
    Expr *q = kb_v(kb, kb_for(kb, "q", in->Sq));
    Expr *qk_c[4] = {b, h, q, NULL};
    int has_bias = has_in(n, IN_MASK) || in->causal || nonpad >= 0;
    int mx = kb_let(kb, "mx", ninf_u);
    int bmax = has_bias ? kb_let(kb, "bmax", ke_float(a, t, -INFINITY)) : -1;

    /* pass 1: score[k] = x = softcap(sum_d (Q[d] * s) * (K[k, d] * s)) + bias */
    Expr *k = kb_v(kb, kb_for(kb, "k", in->T));
    qk_c[3] = k;
    int acc = kb_let(kb, "acc", ke_const(a, t, 0));
    Expr *dd = kb_v(kb, kb_for(kb, "d", in->D));
    Expr *qc[4] = {b, h, q, dd};
    if (in->rank == 3) {
        qc[1] = q;
        qc[2] = packed(a, h, in->D, dd);
    }
    Expr *qv = ke_bin(a, B_MUL, lw_load(L, n->in[IN_Q], qc), s);
    Expr *kv = ke_bin(a, B_MUL, kv_load(L, &ks, b, hk, k, dd), s);
    kb_assign(kb, acc, ke_bin(a, B_ADD, kb_v(kb, acc), ke_bin(a, B_MUL, qv, kv)));
    kb_end(kb);
    Expr *qk = kb_v(kb, acc);
    if (qk_out && in->mode == 0)
        lw_store(L, n, OUT_QK, qk_c, qk);
    if (in->softcap > 0)
        qk = kb_v(kb, kb_let(kb, "capped", ke_bin(a, B_MUL, ke_un(a, U_TANH, ke_bin(a, B_DIV, qk, cap)), cap)));
    if (qk_out && in->mode == 1)
        lw_store(L, n, OUT_QK, qk_c, qk);
    Expr *x = qk;
    if (has_bias) {
        Expr *bias = attn_bias(L, n, in, b, h, q, k, nonpad);
        kb_assign(kb, bmax, ke_bin(a, B_MAX, kb_v(kb, bmax), bias));
        x = ke_bin(a, B_ADD, qk, bias);
    }
    if (qk_out && in->mode == 2)
        lw_store(L, n, OUT_QK, qk_c, x);
    int xv = kb_let(kb, "x", ke_cast(a, u, x));
    kb_store(kb, score, k, kb_v(kb, xv));
    kb_assign(kb, mx, ke_bin(a, B_MAX, kb_v(kb, mx), kb_v(kb, xv)));
    kb_end(kb);

    /* pass 2: score[k] = exp(x - mx), mx taken as 0 when the row is all -inf */
    Expr *mxv = kb_v(kb, mx);
    int shift = kb_let(kb, "shift", ke_select(a, ke_bin(a, B_EQ, mxv, ninf_u), zero_u, mxv));
    int sum = kb_let(kb, "sum", zero_u);
    k = kb_v(kb, kb_for(kb, "k", in->T));
    int e = kb_let(kb, "e", ke_un(a, U_EXP, ke_bin(a, B_SUB, ke_load(a, kb->p, score, k), kb_v(kb, shift))));
    kb_store(kb, score, k, kb_v(kb, e));
    kb_assign(kb, sum, ke_bin(a, B_ADD, kb_v(kb, sum), kb_v(kb, e)));
    kb_end(kb);
    Expr *sv = kb_v(kb, sum);
    kb_assign(kb, sum, ke_select(a, ke_bin(a, B_EQ, sv, zero_u), ke_const(a, u, 1), sv));

    /* pass 3: score[k] = p = e / sum, 0 in a row whose bias is all -inf */
    k = kb_v(kb, kb_for(kb, "k", in->T));
    qk_c[3] = k;
    Expr *pv = ke_bin(a, B_DIV, ke_load(a, kb->p, score, k), kb_v(kb, sum));
    if (has_bias)
        pv = ke_select(a, ke_bin(a, B_EQ, kb_v(kb, bmax), ke_float(a, t, -INFINITY)), zero_u, pv);
    int p = kb_let(kb, "p", pv);
    kb_store(kb, score, k, kb_v(kb, p));
    if (qk_out && in->mode == 3)
        lw_store(L, n, OUT_QK, qk_c, kb_v(kb, p));
    kb_end(kb);

    /* Y[dv] = sum_k p[k] * V[k, dv], p rounded to T first */
    Expr *dv = kb_v(kb, kb_for(kb, "dv", in->Dv));
    acc = kb_let(kb, "acc", ke_const(a, t, 0));
    k = kb_v(kb, kb_for(kb, "k", in->T));
    Expr *w = ke_bin(a, B_MUL, ke_cast(a, t, ke_load(a, kb->p, score, k)), kv_load(L, &vs, b, hk, k, dv));
    kb_assign(kb, acc, ke_bin(a, B_ADD, kb_v(kb, acc), w));
    kb_end(kb);
    Expr *yc[4] = {b, h, q, dv};
    if (in->rank == 3) {
        yc[1] = q;
        yc[2] = packed(a, h, in->Dv, dv);
    }
    lw_store(L, n, OUT_Y, yc, kb_v(kb, acc));
    kb_end(kb); /* dv */
    kb_end(kb); /* q */
    kb_end(kb); /* h */
    kb_end(kb); /* b */
    return 0;
}

/* ------------------------------------------------------- RotaryEmbedding */

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct RopeInfo {
    int rank;         /* 3: X is [B, S, H*Dh]; 4: [B, H, S, Dh] */
    int64_t B, H, S;  /* batch, heads, sequence */
    int64_t Dh, rot;  /* head size, rotated dims (even, <= Dh) */
    int interleaved;  /* pairs (2j, 2j+1), else (j, j + rot/2) */
    int by_position;  /* position_ids given: caches are [positions, rot/2] */
} RopeInfo;

/* Read and check the node's inputs and attributes into *in. */
static int rope_read(Graph *g, Node *n, RopeInfo *in, Diag *d)
{
    static const DType pos_types[] = {DT_I64, DT_UNDEF};
    const Value *x = op_in(g, n, 0), *cs = op_in(g, n, 1), *sn = op_in(g, n, 2), *pos = op_in(g, n, 3);
    int64_t heads, rot, inter;
    char b1[160], b2[160];
    if (!x || !cs || !sn)
        return diag_node(d, g, n, "inputs X, cos_cache and sin_cache are required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || op_same_dtype(g, n, 0, 1, d) || op_same_dtype(g, n, 0, 2, d) ||
        (pos && op_check_dtype(g, n, 3, pos_types, d)))
        return 1;
    if (attr_int(g, n, "num_heads", 0, &heads, d) || attr_int(g, n, "rotary_embedding_dim", 0, &rot, d) ||
        attr_int(g, n, "interleaved", 0, &inter, d))
        return 1;
    in->rank = x->shape.rank;
    in->interleaved = inter != 0;
    in->by_position = pos != NULL;
    in->B = x->shape.dim[0];
    if (in->rank == 4) {
        in->H = x->shape.dim[1];
        in->S = x->shape.dim[2];
        in->Dh = x->shape.dim[3];
    } else if (in->rank == 3) {
        if (heads <= 0)
            return diag_node(d, g, n, "a 3-D input needs num_heads > 0");
        if (x->shape.dim[2] % heads)
            return diag_node(d, g, n, "hidden size %lld is not a multiple of num_heads %lld",
                             (long long)x->shape.dim[2], (long long)heads);
        in->H = heads;
        in->S = x->shape.dim[1];
        in->Dh = x->shape.dim[2] / heads;
    } else {
        return diag_node(d, g, n, "X must be 3-D or 4-D, not %s", shape_str(&x->shape, b1, sizeof b1));
    }
    in->rot = rot ? rot : in->Dh;
    if (!rot && in->Dh % 2)
        return diag_node(d, g, n, "head size %lld must be even", (long long)in->Dh);
    if (in->rot < 0 || in->rot > in->Dh || in->rot % 2)
        return diag_node(d, g, n, "rotary_embedding_dim %lld must be even and at most the head size %lld",
                         (long long)in->rot, (long long)in->Dh);
    /* caches: [positions, rot/2] with position_ids [B, S]; else [B, S, rot/2]
     * (dims of 1 broadcast) */
    int64_t half = in->rot / 2;
    int ok = shape_equal(&cs->shape, &sn->shape) && cs->shape.rank == (pos ? 2 : 3) &&
             cs->shape.dim[cs->shape.rank - 1] == half;
    if (ok && !pos)
        ok = (cs->shape.dim[0] == 1 || cs->shape.dim[0] == in->B) && (cs->shape.dim[1] == 1 || cs->shape.dim[1] == in->S);
    if (ok && pos)
        ok = cs->shape.dim[0] > 0;
    if (!ok)
        return diag_node(d, g, n, "cos_cache %s and sin_cache %s must both be %s", shape_str(&cs->shape, b1, sizeof b1),
                         shape_str(&sn->shape, b2, sizeof b2),
                         pos ? "[positions, rotary_dim/2]" : "[batch, sequence, rotary_dim/2]");
    if (pos && (pos->shape.rank != 2 || (pos->shape.dim[0] != 1 && pos->shape.dim[0] != in->B) ||
                (pos->shape.dim[1] != 1 && pos->shape.dim[1] != in->S)))
        return diag_node(d, g, n, "position_ids has shape %s, expected [%lld, %lld]", shape_str(&pos->shape, b1, sizeof b1),
                         (long long)in->B, (long long)in->S);
    return 0;
}

int infer_rotary(Graph *g, Node *n, Diag *d)
{
    RopeInfo *in = op_attrs(g, n, sizeof *in);
    if (rope_read(g, n, in, d))
        return 1;
    op_set_out(g, n, 0, op_in(g, n, 0)->dtype, &op_in(g, n, 0)->shape);
    return 0;
}

/* Coordinates of element i of head h at (b, s) in X's own layout. */
static void rope_coords(Arena *a, const RopeInfo *in, Expr *b, Expr *h, Expr *s, Expr *i, Expr **out)
{
    out[0] = b;
    if (in->rank == 4) {
        out[1] = h;
        out[2] = s;
        out[3] = i;
    } else {
        out[1] = s;
        out[2] = packed(a, h, in->Dh, i);
    }
}

/* Element [b, s] (dims of 1 broadcast) of a rank-2 prefix of value v,
 * followed by `last` when v has rank 3. */
static Expr *rope_bs_load(Lower *L, ValueId v, Expr *b, Expr *s, Expr *last)
{
    const Shape *sh = &lw_graph(L)->values[v].shape;
    Arena *a = lw_arena(L);
    Expr *c[3] = {sh->dim[0] == 1 ? ke_idx(a, 0) : b, sh->dim[1] == 1 ? ke_idx(a, 0) : s, last};
    return lw_load(L, v, c);
}

int lower_rotary(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    const RopeInfo *in = n->attrs;
    int64_t half = in->rot / 2;
    Expr *c[4];
    Expr *b = kb_v(kb, kb_for(kb, "b", in->B));
    Expr *h = NULL, *s = NULL;
    if (in->rank == 4) {
        h = kb_v(kb, kb_for(kb, "h", in->H));
        s = kb_v(kb, kb_for(kb, "s", in->S));
    } else {
        s = kb_v(kb, kb_for(kb, "s", in->S));
        h = kb_v(kb, kb_for(kb, "h", in->H));
    }
    int pos = -1;
    if (in->by_position) {
        /* row of the caches: position_ids[b, s], negative from the end, clamped */
        int64_t np = g->values[n->in[1]].shape.dim[0];
        pos = kb_let(kb, "pos", ke_cast(a, DT_INDEX, rope_bs_load(L, n->in[3], b, s, NULL)));
        Expr *pv = kb_v(kb, pos);
        pv = ke_select(a, ke_bin(a, B_LT, pv, ke_idx(a, 0)), ke_bin(a, B_ADD, pv, ke_idx(a, np)), pv);
        kb_assign(kb, pos, ke_bin(a, B_MAX, ke_idx(a, 0), ke_bin(a, B_MIN, pv, ke_idx(a, np - 1))));
    }
    /* (x1, x2) -> (cos x1 - sin x2, sin x1 + cos x2) for each pair j */
    Expr *j = kb_v(kb, kb_for(kb, "j", half));
    Expr *cv, *sv;
    if (pos >= 0) {
        Expr *cc[2] = {kb_v(kb, pos), j};
        cv = lw_load(L, n->in[1], cc);
        sv = lw_load(L, n->in[2], cc);
    } else {
        cv = rope_bs_load(L, n->in[1], b, s, j);
        sv = rope_bs_load(L, n->in[2], b, s, j);
    }
    Expr *i1 = j, *i2 = ke_bin(a, B_ADD, j, ke_idx(a, half));
    if (in->interleaved) {
        i1 = ke_bin(a, B_MUL, j, ke_idx(a, 2));
        i2 = ke_bin(a, B_ADD, i1, ke_idx(a, 1));
    }
    int cos_v = kb_let(kb, "cos_a", cv), sin_v = kb_let(kb, "sin_a", sv);
    rope_coords(a, in, b, h, s, i1, c);
    int x1 = kb_let(kb, "x1", lw_load(L, n->in[0], c));
    rope_coords(a, in, b, h, s, i2, c);
    int x2 = kb_let(kb, "x2", lw_load(L, n->in[0], c));
    Expr *cx = kb_v(kb, cos_v), *sx = kb_v(kb, sin_v), *v1 = kb_v(kb, x1), *v2 = kb_v(kb, x2);
    rope_coords(a, in, b, h, s, i1, c);
    lw_store(L, n, 0, c, ke_bin(a, B_SUB, ke_bin(a, B_MUL, cx, v1), ke_bin(a, B_MUL, sx, v2)));
    rope_coords(a, in, b, h, s, i2, c);
    lw_store(L, n, 0, c, ke_bin(a, B_ADD, ke_bin(a, B_MUL, sx, v1), ke_bin(a, B_MUL, cx, v2)));
    kb_end(kb);
    if (in->rot < in->Dh) {
        /* dims [rot, Dh) pass through */
        Expr *i = kb_v(kb, kb_for(kb, "i", in->Dh - in->rot));
        rope_coords(a, in, b, h, s, ke_bin(a, B_ADD, i, ke_idx(a, in->rot)), c);
        lw_store(L, n, 0, c, lw_load(L, n->in[0], c));
        kb_end(kb);
    }
    kb_end(kb);
    kb_end(kb);
    kb_end(kb);
    return 0;
}

/* ---------------------------------------------------------------- SwiGLU */

/* SwiGLU's parsed attributes (Node.attrs). */
typedef struct SwigluAttrs {
    double alpha;
} SwigluAttrs;

int infer_swiglu(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *y = op_in(g, n, 1);
    SwigluAttrs *at = op_attrs(g, n, sizeof *at);
    char b1[160], b2[160];
    if (!x || !y)
        return diag_node(d, g, n, "inputs A and B are required");
    if (op_check_dtype(g, n, 0, op_float_types, d) || op_same_dtype(g, n, 0, 1, d) ||
        attr_float(g, n, "alpha", 1.0, &at->alpha, d))
        return 1;
    if (!shape_equal(&x->shape, &y->shape))
        return diag_node(d, g, n, "A %s and B %s must have the same shape (SwiGLU does not broadcast)",
                         shape_str(&x->shape, b1, sizeof b1), shape_str(&y->shape, b2, sizeof b2));
    op_set_out(g, n, 0, x->dtype, &x->shape);
    return 0;
}

int lower_swiglu(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    const Shape *s = &g->values[n->in[0]].shape;
    double alpha = ((const SwigluAttrs *)n->attrs)->alpha;
    Expr *c[KILN_MAX_RANK];
    /* Y[i..] = swish(A[i..]) * B[i..] */
    lw_loops(L, s, NULL, c);
    Expr *x = kb_v(kb, kb_let(kb, "gate", lw_load(L, n->in[0], c)));
    lw_store(L, n, 0, c, ke_bin(a, B_MUL, swish(a, x, alpha), lw_load(L, n->in[1], c)));
    lw_end_loops(L, s);
    return 0;
}

/* --------------------------------------------------- CausalConvWithState */

enum { CC_X, CC_W, CC_BIAS, CC_PAST };
enum { CC_OUT_Y, CC_OUT_PRESENT };

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct CConvInfo {
    int64_t B, C, L;  /* batch, channels, length of x */
    int64_t K;        /* taps; the state keeps K - 1 positions */
    int act;          /* activation silu/swish, else none */
    DType t;          /* type of every input and output */
} CConvInfo;

/* Read and check the node's inputs and attributes into *in. */
static int cconv_read(Graph *g, Node *n, CConvInfo *in, Diag *d)
{
    const Value *x = op_in(g, n, CC_X), *w = op_in(g, n, CC_W);
    const Value *bias = op_in(g, n, CC_BIAS), *past = op_in(g, n, CC_PAST);
    const char *act;
    char b1[160];
    if (!x || !w)
        return diag_node(d, g, n, "inputs input and weight are required");
    if (op_check_dtype(g, n, CC_X, op_float_types, d) || op_same_dtype(g, n, CC_X, CC_W, d) ||
        (bias && op_same_dtype(g, n, CC_X, CC_BIAS, d)) || (past && op_same_dtype(g, n, CC_X, CC_PAST, d)) ||
        attr_str(g, n, "activation", "none", &act, d))
        return 1;
    if (strcmp(act, "none") && strcmp(act, "silu") && strcmp(act, "swish"))
        return diag_node(d, g, n, "activation '%s' is not 'none', 'silu' or 'swish'", act);
    in->act = strcmp(act, "none") != 0;
    in->t = x->dtype;
    if (x->shape.rank != 3)
        return diag_node(d, g, n, "input has shape %s, expected 3-D [batch, channels, length]",
                         shape_str(&x->shape, b1, sizeof b1));
    in->B = x->shape.dim[0];
    in->C = x->shape.dim[1];
    in->L = x->shape.dim[2];
    if (w->shape.rank != 3 || w->shape.dim[0] != in->C || w->shape.dim[1] != 1 || w->shape.dim[2] < 1)
        return diag_node(d, g, n, "weight has shape %s, expected [%lld, 1, k] with k >= 1",
                         shape_str(&w->shape, b1, sizeof b1), (long long)in->C);
    in->K = w->shape.dim[2];
    if (bias && (bias->shape.rank != 1 || bias->shape.dim[0] != in->C))
        return diag_node(d, g, n, "bias has shape %s, expected [%lld]", shape_str(&bias->shape, b1, sizeof b1),
                         (long long)in->C);
    if (past && (past->shape.rank != 3 || past->shape.dim[0] != in->B || past->shape.dim[1] != in->C ||
                 past->shape.dim[2] != in->K - 1))
        return diag_node(d, g, n, "past_state has shape %s, expected [%lld, %lld, %lld]",
                         shape_str(&past->shape, b1, sizeof b1), (long long)in->B, (long long)in->C,
                         (long long)in->K - 1);
    return 0;
}

int infer_causalconv(Graph *g, Node *n, Diag *d)
{
    CConvInfo *in = op_attrs(g, n, sizeof *in);
    if (cconv_read(g, n, in, d))
        return 1;
    Shape y = {3, {in->B, in->C, in->L}}, st = {3, {in->B, in->C, in->K - 1}};
    op_set_out(g, n, CC_OUT_Y, in->t, &y);
    op_set_out(g, n, CC_OUT_PRESENT, in->t, &st);
    return 0;
}

/* Element j of the padded sequence p[b, c] = concat(past_state or zeros,
 * x) as a local (appended to the current block): x[j - (K-1)] from K-1 on,
 * before that past_state[j] or 0. */
static Expr *cconv_padded(Lower *L, Node *n, const CConvInfo *in, Expr *b, Expr *c, Expr *j)
{
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    Expr *xc[3] = {b, c, ke_bin(a, B_SUB, j, ke_idx(a, in->K - 1))}, *pc[3] = {b, c, j};
    int p = kb_let(kb, "p", ke_const(a, in->t, 0));
    kb_if(kb, ke_bin(a, B_GE, j, ke_idx(a, in->K - 1)));
    kb_assign(kb, p, lw_load(L, n->in[CC_X], xc));
    if (has_in(n, CC_PAST)) {
        kb_else(kb);
        kb_assign(kb, p, lw_load(L, n->in[CC_PAST], pc));
    }
    kb_end(kb);
    return kb_v(kb, p);
}

int lower_causalconv(Lower *L, Node *n)
{
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    const CConvInfo *in = n->attrs;
    kb_comment(kb, "causal depthwise conv1d over p = concat(past_state, input)");
    Expr *b = kb_v(kb, kb_for(kb, "b", in->B));
    Expr *c = kb_v(kb, kb_for(kb, "c", in->C));

    /* y[b, c, l] = act(bias[c] + sum_k w[c, 0, k] * p[b, c, l + k]) */
    Expr *l = kb_v(kb, kb_for(kb, "l", in->L));
    int acc = kb_let(kb, "acc", has_in(n, CC_BIAS) ? lw_load(L, n->in[CC_BIAS], &c) : ke_const(a, in->t, 0));
    Expr *k = kb_v(kb, kb_for(kb, "k", in->K));
    Expr *wc[3] = {c, ke_idx(a, 0), k};
    Expr *p = cconv_padded(L, n, in, b, c, ke_bin(a, B_ADD, l, k));
    kb_assign(kb, acc, ke_bin(a, B_ADD, kb_v(kb, acc), ke_bin(a, B_MUL, lw_load(L, n->in[CC_W], wc), p)));
    kb_end(kb);
    Expr *y = kb_v(kb, acc), *yc[3] = {b, c, l};
    lw_store(L, n, CC_OUT_Y, yc, in->act ? swish(a, y, 1.0) : y);
    kb_end(kb);

    /* present[b, c, i] = p[b, c, L + i], i < K - 1: past_state (or 0)
     * while L + i < K - 1, then x[L + i - (K-1)] */
    int64_t old = in->K - 1 - in->L > 0 ? in->K - 1 - in->L : 0;
    if (old > 0) {
        Expr *i = kb_v(kb, kb_for(kb, "i", old));
        Expr *sc[3] = {b, c, i}, *pc[3] = {b, c, ke_bin(a, B_ADD, i, ke_idx(a, in->L))};
        lw_store(L, n, CC_OUT_PRESENT, sc,
                 has_in(n, CC_PAST) ? lw_load(L, n->in[CC_PAST], pc) : ke_const(a, in->t, 0));
        kb_end(kb);
    }
    Expr *i = kb_v(kb, kb_for(kb, "i", in->K - 1 - old));
    Expr *sc[3] = {b, c, ke_bin(a, B_ADD, i, ke_idx(a, old))};
    Expr *xc[3] = {b, c, ke_bin(a, B_ADD, i, ke_idx(a, in->L + old - (in->K - 1)))};
    lw_store(L, n, CC_OUT_PRESENT, sc, lw_load(L, n->in[CC_X], xc));
    kb_end(kb);
    kb_end(kb); /* c */
    kb_end(kb); /* b */
    return 0;
}

/* ------------------------------------------------------- LinearAttention */

enum { LA_Q, LA_K, LA_V, LA_PAST, LA_DECAY, LA_BETA };
enum { LA_OUT_Y, LA_OUT_PRESENT };

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct LinAttnInfo {
    int64_t B, T;        /* batch, positions */
    int64_t Hq, Hkv;     /* query heads, key/value heads (Hq % Hkv == 0) */
    int64_t Dk, Dv;      /* head size of Q and K, of V */
    int gated, delta;    /* update_rule decays S by exp(decay); corrects by beta */
    int decay_per_key;   /* decay is [B, T, Hkv*Dk], else [B, T, Hkv] */
    int beta_shared;     /* beta is [B, T, 1], else [B, T, Hkv] */
    double scale;        /* of the output; 1/sqrt(Dk) when the attribute is 0 */
    DType t;             /* type of Q, K, V, decay, beta and the output */
    DType s;             /* type of the state: past_state's, else t */
} LinAttnInfo;

/* Check that 3-D input i (decay, beta) is [B, T, one of last[0..1]]; the
 * match's position into *out_which. */
static int linattn_bt(Graph *g, Node *n, int i, const LinAttnInfo *in, const int64_t *last, int *out_which,
                      Diag *d)
{
    const Value *x = op_in(g, n, i);
    char b1[160];
    if (op_same_dtype(g, n, LA_Q, i, d))
        return 1;
    if (x->shape.rank == 3 && x->shape.dim[0] == in->B && x->shape.dim[1] == in->T) {
        for (int w = 0; w < 2; w++) {
            if (x->shape.dim[2] == last[w]) {
                *out_which = w;
                return 0;
            }
        }
    }
    return diag_node(d, g, n, "input %d ('%s') has shape %s, expected [%lld, %lld, %lld] or [%lld, %lld, %lld]",
                     i, x->name, shape_str(&x->shape, b1, sizeof b1), (long long)in->B, (long long)in->T,
                     (long long)last[0], (long long)in->B, (long long)in->T, (long long)last[1]);
}

/* Read and check the node's inputs and attributes into *in. */
static int linattn_read(Graph *g, Node *n, LinAttnInfo *in, Diag *d)
{
    const Value *q = op_in(g, n, LA_Q), *k = op_in(g, n, LA_K), *v = op_in(g, n, LA_V);
    const Value *past = op_in(g, n, LA_PAST);
    const char *rule;
    int64_t dk, chunk;
    char b1[160], b2[160], b3[160];
    if (!q || !k || !v)
        return diag_node(d, g, n, "inputs query, key and value are required");
    if (op_check_dtype(g, n, LA_Q, op_float_types, d) || op_same_dtype(g, n, LA_Q, LA_K, d) ||
        op_same_dtype(g, n, LA_Q, LA_V, d) || (past && op_check_dtype(g, n, LA_PAST, op_float_types, d)))
        return 1;
    if (attr_int(g, n, "q_num_heads", 0, &in->Hq, d) || attr_int(g, n, "kv_num_heads", 0, &in->Hkv, d) ||
        attr_float(g, n, "scale", 0, &in->scale, d) || attr_str(g, n, "update_rule", "gated_delta", &rule, d) ||
        attr_int(g, n, "chunk_size", 64, &chunk, d))
        return 1;
    if (strcmp(rule, "linear") && strcmp(rule, "gated") && strcmp(rule, "delta") && strcmp(rule, "gated_delta"))
        return diag_node(d, g, n, "update_rule '%s' is not 'linear', 'gated', 'delta' or 'gated_delta'", rule);
    in->gated = !strcmp(rule, "gated") || !strcmp(rule, "gated_delta");
    in->delta = !strcmp(rule, "delta") || !strcmp(rule, "gated_delta");
    if (!node_attr(n, "q_num_heads") || !node_attr(n, "kv_num_heads"))
        return diag_node(d, g, n, "attributes q_num_heads and kv_num_heads are required");
    if (in->Hq <= 0 || in->Hkv <= 0 || in->Hq % in->Hkv)
        return diag_node(d, g, n, "q_num_heads %lld must be a positive multiple of kv_num_heads %lld",
                         (long long)in->Hq, (long long)in->Hkv);
    if (q->shape.rank != 3 || k->shape.rank != 3 || v->shape.rank != 3 || k->shape.dim[0] != q->shape.dim[0] ||
        v->shape.dim[0] != q->shape.dim[0] || k->shape.dim[1] != q->shape.dim[1] ||
        v->shape.dim[1] != q->shape.dim[1])
        return diag_node(d, g, n, "query %s, key %s and value %s must all be [batch, positions, heads*size]",
                         shape_str(&q->shape, b1, sizeof b1), shape_str(&k->shape, b2, sizeof b2),
                         shape_str(&v->shape, b3, sizeof b3));
    in->B = q->shape.dim[0];
    in->T = q->shape.dim[1];
    if (attn_heads3(g, n, LA_Q, in->Hq, &in->Dk, d) || attn_heads3(g, n, LA_K, in->Hkv, &dk, d) ||
        attn_heads3(g, n, LA_V, in->Hkv, &in->Dv, d))
        return 1;
    if (dk != in->Dk)
        return diag_node(d, g, n, "key has head size %lld, query %lld", (long long)dk, (long long)in->Dk);
    if (has_in(n, LA_DECAY) != in->gated)
        return diag_node(d, g, n, "update_rule '%s' %s a decay input", rule, in->gated ? "needs" : "does not take");
    if (has_in(n, LA_BETA) != in->delta)
        return diag_node(d, g, n, "update_rule '%s' %s a beta input", rule, in->delta ? "needs" : "does not take");
    int which = 0;
    int64_t decay_last[2] = {in->Hkv * in->Dk, in->Hkv}, beta_last[2] = {in->Hkv, 1};
    if (in->gated && linattn_bt(g, n, LA_DECAY, in, decay_last, &which, d))
        return 1;
    in->decay_per_key = in->gated && which == 0;
    if (in->delta && linattn_bt(g, n, LA_BETA, in, beta_last, &which, d))
        return 1;
    in->beta_shared = in->delta && which == 1;
    in->t = q->dtype;
    in->s = past ? past->dtype : in->t;
    if (past && (past->shape.rank != 4 || past->shape.dim[0] != in->B || past->shape.dim[1] != in->Hkv ||
                 past->shape.dim[2] != in->Dk || past->shape.dim[3] != in->Dv))
        return diag_node(d, g, n, "past_state has shape %s, expected [%lld, %lld, %lld, %lld]",
                         shape_str(&past->shape, b1, sizeof b1), (long long)in->B, (long long)in->Hkv,
                         (long long)in->Dk, (long long)in->Dv);
    if (in->scale == 0) {
        if (in->Dk <= 0)
            return diag_node(d, g, n, "head size is 0: give the scale attribute");
        in->scale = 1.0 / sqrt((double)in->Dk);
    }
    return 0;
}

int infer_linearattention(Graph *g, Node *n, Diag *d)
{
    LinAttnInfo *in = op_attrs(g, n, sizeof *in);
    if (linattn_read(g, n, in, d))
        return 1;
    Shape y = {3, {in->B, in->T, 0}}, st = {4, {in->B, in->Hkv, in->Dk, in->Dv}};
    if (ck_mul(in->Hq, in->Dv, &y.dim[2]))
        return diag_node(d, g, n, "q_num_heads %lld times the head size %lld overflows", (long long)in->Hq,
                         (long long)in->Dv);
    op_set_out(g, n, LA_OUT_Y, in->t, &y);
    op_set_out(g, n, LA_OUT_PRESENT, in->s, &st);
    return 0;
}

/* Element [b, t, last] of 3-D input i, as a value of type c. */
static Expr *linattn_load(Lower *L, Node *n, int i, DType c, Expr *b, Expr *t, Expr *last)
{
    Expr *co[3] = {b, t, last};
    return ke_cast(lw_arena(L), c, lw_load(L, n->in[i], co));
}

int lower_linearattention(Lower *L, Node *n)
{
    KB *kb = lw_kb(L);
    Arena *a = lw_arena(L);
    const LinAttnInfo *in = n->attrs;
    DType c = op_calc_type(in->t);
    int64_t G = in->Hq / in->Hkv;
    Shape ss = {4, {in->B, in->Hkv, in->Dk, in->Dv}};
    int out_st = has_out(n, LA_OUT_PRESENT);
    int state = out_st && in->s == c ? lw_buf(L, n->out[LA_OUT_PRESENT]) : lw_temp(L, "state", c, &ss);

    kb_comment(kb, "linear attention: one recurrence per key/value head");
    Expr *b = kb_v(kb, kb_for(kb, "b", in->B));
    Expr *hk = kb_v(kb, kb_for(kb, "hk", in->Hkv));
    /* S[i, j] = past_state[b, hk, i, j], or 0 */
    Expr *i = kb_v(kb, kb_for(kb, "i", in->Dk));
    Expr *j = kb_v(kb, kb_for(kb, "j", in->Dv));
    Expr *sc[4] = {b, hk, i, j};
    Expr *s0 = has_in(n, LA_PAST) ? ke_cast(a, c, lw_load(L, n->in[LA_PAST], sc)) : ke_const(a, c, 0);
    kb_store(kb, state, kb_flat(kb, &ss, sc), s0);
    kb_end(kb);
    kb_end(kb);

    Expr *t = kb_v(kb, kb_for(kb, "t", in->T));
    /* column j of S: decay, delta correction u[j], then S[:, j] += k u[j] */
    j = kb_v(kb, kb_for(kb, "j", in->Dv));
    int r = in->delta ? kb_let(kb, "r", ke_const(a, c, 0)) : -1;
    if (in->gated || in->delta) {
        i = kb_v(kb, kb_for(kb, "i", in->Dk));
        Expr *sij[4] = {b, hk, i, j};
        Expr *at = kb_flat(kb, &ss, sij);
        if (in->gated) {
            Expr *gi = in->decay_per_key ? packed(a, hk, in->Dk, i) : hk;
            Expr *e = ke_un(a, U_EXP, linattn_load(L, n, LA_DECAY, c, b, t, gi));
            kb_store(kb, state, at, ke_bin(a, B_MUL, ke_load(a, kb->p, state, at), e));
        }
        if (in->delta) {
            Expr *ki = linattn_load(L, n, LA_K, c, b, t, packed(a, hk, in->Dk, i));
            kb_assign(kb, r, ke_bin(a, B_ADD, kb_v(kb, r), ke_bin(a, B_MUL, ke_load(a, kb->p, state, at), ki)));
        }
        kb_end(kb);
    }
    Expr *u = linattn_load(L, n, LA_V, c, b, t, packed(a, hk, in->Dv, j));
    if (in->delta) {
        Expr *beta = linattn_load(L, n, LA_BETA, c, b, t, in->beta_shared ? ke_idx(a, 0) : hk);
        u = ke_bin(a, B_MUL, beta, ke_bin(a, B_SUB, u, kb_v(kb, r)));
    }
    int uv = kb_let(kb, "u", u);
    i = kb_v(kb, kb_for(kb, "i", in->Dk));
    Expr *sij[4] = {b, hk, i, j};
    Expr *at = kb_flat(kb, &ss, sij);
    Expr *ki = linattn_load(L, n, LA_K, c, b, t, packed(a, hk, in->Dk, i));
    kb_store(kb, state, at, ke_bin(a, B_ADD, ke_load(a, kb->p, state, at), ke_bin(a, B_MUL, ki, kb_v(kb, uv))));
    kb_end(kb);
    kb_end(kb); /* j */

    /* Y[b, t, h, j] = scale * sum_i Q[b, t, h, i] * S[i, j], h = hk*G + gq */
    Expr *gq = kb_v(kb, kb_for(kb, "g", G));
    Expr *h = packed(a, hk, G, gq);
    j = kb_v(kb, kb_for(kb, "j", in->Dv));
    int acc = kb_let(kb, "acc", ke_const(a, c, 0));
    i = kb_v(kb, kb_for(kb, "i", in->Dk));
    Expr *sq[4] = {b, hk, i, j};
    Expr *qi = linattn_load(L, n, LA_Q, c, b, t, packed(a, h, in->Dk, i));
    Expr *si = ke_load(a, kb->p, state, kb_flat(kb, &ss, sq));
    kb_assign(kb, acc, ke_bin(a, B_ADD, kb_v(kb, acc), ke_bin(a, B_MUL, qi, si)));
    kb_end(kb);
    Expr *yc[3] = {b, t, packed(a, h, in->Dv, j)};
    lw_store(L, n, LA_OUT_Y, yc, ke_cast(a, in->t, ke_bin(a, B_MUL, fconst(a, c, in->scale), kb_v(kb, acc))));
    kb_end(kb); /* j */
    kb_end(kb); /* g */
    kb_end(kb); /* t */

    if (out_st && state != lw_buf(L, n->out[LA_OUT_PRESENT])) {
        /* present_state[b, hk, i, j] = S[i, j], rounded to its type */
        i = kb_v(kb, kb_for(kb, "i", in->Dk));
        j = kb_v(kb, kb_for(kb, "j", in->Dv));
        Expr *pc[4] = {b, hk, i, j};
        lw_store(L, n, LA_OUT_PRESENT, pc, ke_cast(a, in->s, ke_load(a, kb->p, state, kb_flat(kb, &ss, pc))));
        kb_end(kb);
        kb_end(kb);
    }
    kb_end(kb); /* hk */
    kb_end(kb); /* b */
    return 0;
}
