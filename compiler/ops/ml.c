/*
 * ml.c: the classic machine-learning ops of ai.onnx.ml (Binarizer,
 * ArrayFeatureExtractor, LabelEncoder, TreeEnsemble), TfIdfVectorizer, and
 * the optimizers of ai.onnx.preview.training (Adagrad, Adam, Momentum).
 *
 * Most of these ops are compile-time data: key/value maps, tree nodes,
 * n-gram pools. Lowering turns that data into constant tables (lw_const, in
 * the weights) and emits a short, fixed loop nest that reads them, so the
 * generated code does not grow with the model:
 *
 *   Binarizer              y = x > threshold ? 1 : 0
 *   ArrayFeatureExtractor  y[..., k] = x[..., idx[k]], idx runtime data: a
 *                          negative index counts from the end (numpy), one
 *                          outside [-D, D) reads 0 (generated code cannot
 *                          fail; a constant idx is checked at compile time)
 *   LabelEncoder           y = the value of the last key equal to x, else the
 *                          default: a scan of the key table (NaN keys match
 *                          NaN). Numeric keys and values only.
 *   TreeEnsemble           every tree is walked a fixed number of steps, the
 *                          depth of the deepest tree, through node tables in
 *                          which a leaf leads to itself:
 *                              id = root[r]
 *                              repeat depth: id = test(x, id) ? t[id] : f[id]
 *                          then the leaf's weight joins its target's
 *                          aggregate (sum, average, min, max), and the
 *                          post_transform runs over each row of targets
 *   TfIdfVectorizer        for each pool n-gram of length k, count the
 *                          starts s and skips d with x[s + j*(d+1)] equal to
 *                          its item j for all j < k; the count, weighted by
 *                          the n-gram's weight (the spec and onnxruntime;
 *                          onnx.reference weights by output column), lands
 *                          in the n-gram's output column
 *   Adagrad, Adam,         the spec's formulas, one loop per optimized tensor
 *   Momentum               storing each new tensor (several outputs: the ops
 *                          are OPF_NOEPI and store with kb_store)
 *
 * Numerics follow onnx.reference: TreeEnsemble compares and aggregates in
 * double when x, the splits, the weights or the set members are double, else
 * in float; MIN/MAX start from the largest/lowest value of x's type (a target
 * no leaf reaches keeps it; onnxruntime gives 0). post_transform codes are
 * the spec's (1 SOFTMAX, 2 LOGISTIC; onnxruntime 1.32 swaps them), computed
 * as onnxruntime does (stable logistic, softmax_zero, probit with its
 * erf_inv approximation), which onnx.reference ignores. The member sets are
 * taken in the order of the BRANCH_MEMBER nodes, as the spec says. String
 * tensors (keys, values, pools) are not supported by kiln and are rejected
 * with a message.
 */
#include "op.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------- attributes */

/* Integer list attribute `name` in place (no copy, no size limit);
 * *out_n = -1 when absent. */
static int ml_ints(Graph *g, Node *n, const char *name, const int64_t **out, int *out_n, Diag *d)
{
    const Attr *at = node_attr(n, name);
    *out = NULL;
    *out_n = -1;
    if (!at)
        return 0;
    if (at->kind != ATTR_INTS)
        return diag_node(d, g, n, "attribute '%s' must be a list of ints", name);
    *out = at->ints;
    *out_n = at->n;
    return 0;
}

/* Tensor attribute `name` as doubles (any numeric element type), allocated
 * in `a`; its element type in *out_t. *out_n = -1 when absent. */
static int ml_tensor(Graph *g, Node *n, Arena *a, const char *name, DType *out_t, double **out, int *out_n,
                     Diag *d)
{
    const Attr *at = node_attr(n, name);
    *out = NULL;
    *out_n = -1;
    if (!at)
        return 0;
    if (at->kind != ATTR_TENSOR)
        return diag_node(d, g, n, "attribute '%s' must be a tensor", name);
    const Tensor *t = at->t;
    if (!dtype_is_computable(t->dtype))
        return diag_node(d, g, n, "attribute '%s' has element type %s, expected a number", name,
                         dtype_name(t->dtype));
    int64_t cnt = shape_numel(&t->shape);
    if (cnt > INT32_MAX)
        return diag_node(d, g, n, "attribute '%s' is too large", name);
    double *v = arena_alloc(a, sizeof(double) * (size_t)(cnt + 1));
    for (int64_t i = 0; i < cnt; i++)
        v[i] = dtype_get_f(t->dtype, t->data, i);
    *out_t = t->dtype;
    *out = v;
    *out_n = (int)cnt;
    return 0;
}

/* Fail when the required attribute `name` is absent (count < 0). */
static int ml_need(Graph *g, Node *n, const char *name, int count, Diag *d)
{
    return count < 0 ? diag_node(d, g, n, "attribute '%s' is required", name) : 0;
}

/* A compile-time table named after node n: "<node>_<what>". */
static int ml_table(Lower *L, Node *n, const char *what, DType t, int64_t count, const void *data)
{
    Shape s = {1, {count}};
    return lw_const(L, arena_printf(lw_arena(L), "%s_%s", n->name, what), t, &s, data);
}

/* Element i of buffer `buf` at a flat index. */
static Expr *ml_at(Lower *L, int buf, Expr *i)
{
    return ke_load(lw_arena(L), lw_kb(L)->p, buf, i);
}

/* ------------------------------------------------------------ Binarizer */

static const DType binarizer_types[] = {DT_F32, DT_F64, DT_I64, DT_I32, DT_UNDEF};

/* Binarizer's parsed attributes (Node.attrs). */
typedef struct BinarizerAttrs {
    double th;       /* threshold */
} BinarizerAttrs;

int infer_binarizer(Graph *g, Node *n, Diag *d)
{
    BinarizerAttrs *at = op_attrs(g, n, sizeof *at);
    if (op_check_dtype(g, n, 0, binarizer_types, d) || attr_float(g, n, "threshold", 0.0, &at->th, d))
        return 1;
    return infer_unary(g, n, d);
}

/* y = x > threshold ? 1 : 0 in x's type. Floats compare in their own type
 * (numpy rounds the threshold to it), integers in double. */
int lower_binarizer(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    const Value *x = &g->values[n->in[0]];
    DType t = x->dtype, ct = dtype_is_float(t) ? t : DT_F64;
    double th = ((const BinarizerAttrs *)n->attrs)->th;
    Expr *c[KILN_MAX_RANK];
    lw_loops(L, &x->shape, NULL, c);
    Expr *above = ke_bin(a, B_GT, ke_cast(a, ct, lw_load(L, n->in[0], c)), ke_float(a, ct, th));
    lw_store(L, n, 0, c, ke_select(a, above, ke_const(a, t, 1), ke_const(a, t, 0)));
    lw_end_loops(L, &x->shape);
    return 0;
}

/* ------------------------------------------------ ArrayFeatureExtractor */

static const DType afe_types[] = {DT_F32, DT_F64, DT_I64, DT_I32, DT_UNDEF};
static const DType afe_index_types[] = {DT_I64, DT_I32, DT_UNDEF};

/* x [..., D], idx (any shape, K elements) -> y [..., K]; a 1-D x gives
 * [1, K] (as onnxruntime). */
int infer_arrayfeature(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0), *y = op_in(g, n, 1);
    if (op_check_dtype(g, n, 0, afe_types, d) || op_check_dtype(g, n, 1, afe_index_types, d))
        return 1;
    if (x->shape.rank == 0)
        return diag_node(d, g, n, "input must have rank >= 1");
    int64_t dn = x->shape.dim[x->shape.rank - 1], k = shape_numel(&y->shape);
    const void *idx = y->kind == VAL_CONST ? y->data : NULL;
    for (int64_t i = 0; idx && i < k; i++) {
        int64_t j = dtype_get_i(y->dtype, idx, i);
        if (j < -dn || j >= dn)
            return diag_node(d, g, n, "index %lld is out of range for the last dimension (%lld)", (long long)j,
                             (long long)dn);
    }
    Shape out = x->shape;
    if (out.rank == 1)
        out = (Shape){2, {1, k}};
    else
        out.dim[out.rank - 1] = k;
    op_set_out(g, n, 0, x->dtype, &out);
    return 0;
}

int lower_arrayfeature(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &g->values[n->in[0]], *y = &g->values[n->in[1]];
    int r = x->shape.rank;
    int64_t dn = x->shape.dim[r - 1], k = shape_numel(&y->shape);
    DType t = x->dtype;
    Shape outer = x->shape;
    outer.rank--;
    Expr *c[KILN_MAX_RANK + 1];
    /* y[outer..., k] = x[outer..., idx[k]] */
    lw_loops(L, &outer, NULL, c);
    Expr *kv = kb_v(b, kb_for(b, "k", k));
    int j = kb_let(b, "j", ke_cast(a, DT_INDEX, ml_at(L, lw_buf(L, n->in[1]), kv)));
    kb_assign(b, j, ke_select(a, ke_bin(a, B_LT, kb_v(b, j), ke_idx(a, 0)),
                              ke_bin(a, B_ADD, kb_v(b, j), ke_idx(a, dn)), kb_v(b, j)));
    Expr *inside = ke_bin(a, B_AND, ke_bin(a, B_GE, kb_v(b, j), ke_idx(a, 0)),
                          ke_bin(a, B_LT, kb_v(b, j), ke_idx(a, dn)));
    c[r - 1] = kb_v(b, j);
    Expr *v = ke_select(a, inside, lw_load(L, n->in[0], c), ke_const(a, t, 0));
    Expr *oc[KILN_MAX_RANK + 1];
    int orank = 0;
    if (r == 1)
        oc[orank++] = ke_idx(a, 0);
    for (int i = 0; i < r - 1; i++)
        oc[orank++] = c[i];
    oc[orank++] = kv;
    lw_store(L, n, 0, oc, v);
    kb_end(b);
    lw_end_loops(L, &outer);
    return 0;
}

/* --------------------------------------------------------- LabelEncoder */

/* A list of numbers from one of the attributes <what>_int64s,
 * <what>_floats, <what>_tensor. */
typedef struct NumList {
    DType t;          /* i64 for _int64s, f32 for _floats, the tensor's type */
    int n;            /* elements */
    int64_t *i;       /* [n] values of an integer type */
    double *f;        /* [n] values of a float type */
} NumList;

static const DType label_types[] = {DT_I64, DT_F32, DT_I32, DT_I16, DT_F64, DT_UNDEF};

static int label_type_ok(DType t)
{
    for (const DType *p = label_types; *p != DT_UNDEF; p++)
        if (*p == t)
            return 1;
    return 0;
}

/* Read the one attribute of <what>_int64s / _floats / _tensor that is set.
 * `strings` names the string form, which kiln rejects. */
static int num_list(Graph *g, Node *n, Arena *a, const char *what, const char *strings, NumList *out, Diag *d)
{
    char ni[64], nf[64], nt[64];
    snprintf(ni, sizeof ni, "%s_int64s", what);
    snprintf(nf, sizeof nf, "%s_floats", what);
    snprintf(nt, sizeof nt, "%s_tensor", what);
    if (strings && node_attr(n, strings))
        return diag_node(d, g, n, "attribute '%s': string keys and values are not supported by kiln", strings);
    const Attr *ai = node_attr(n, ni), *af = node_attr(n, nf), *at = node_attr(n, nt);
    if (!!ai + !!af + !!at != 1)
        return diag_node(d, g, n, "exactly one of '%s', '%s', '%s' must be set", ni, nf, nt);
    memset(out, 0, sizeof *out);
    if (ai) {
        if (ai->kind != ATTR_INTS)
            return diag_node(d, g, n, "attribute '%s' must be a list of ints", ni);
        out->t = DT_I64;
        out->n = ai->n;
        out->i = ai->ints;
    } else if (af) {
        if (af->kind != ATTR_FLOATS)
            return diag_node(d, g, n, "attribute '%s' must be a list of floats", nf);
        out->t = DT_F32;
        out->n = af->n;
        out->f = af->floats;
    } else {
        if (at->kind != ATTR_TENSOR)
            return diag_node(d, g, n, "attribute '%s' must be a tensor", nt);
        const Tensor *t = at->t;
        if (t->dtype == DT_STRING)
            return diag_node(d, g, n, "attribute '%s': string keys and values are not supported by kiln", nt);
        if (!label_type_ok(t->dtype))
            return diag_node(d, g, n, "attribute '%s' has element type %s, which LabelEncoder does not allow", nt,
                             dtype_name(t->dtype));
        int64_t cnt = shape_numel(&t->shape);
        if (cnt > INT32_MAX)
            return diag_node(d, g, n, "attribute '%s' is too large", nt);
        out->t = t->dtype;
        out->n = (int)cnt;
        out->i = arena_alloc(a, sizeof(int64_t) * (size_t)(cnt + 1));
        out->f = arena_alloc(a, sizeof(double) * (size_t)(cnt + 1));
        for (int64_t k = 0; k < cnt; k++) {
            out->i[k] = dtype_get_i(t->dtype, t->data, k);
            out->f[k] = dtype_get_f(t->dtype, t->data, k);
        }
    }
    return 0;
}

/* The map of a LabelEncoder: keys in x's type, values in y's, a default. */
typedef struct LabelMap {
    NumList keys, values;
    int64_t def_i;     /* default of integer values */
    double def_f;      /* default of float values */
} LabelMap;

static int label_map(Graph *g, Node *n, Arena *a, LabelMap *m, Diag *d)
{
    if (node_attr(n, "classes_strings"))
        return diag_node(d, g, n, "attribute 'classes_strings': string labels are not supported by kiln");
    if (num_list(g, n, a, "keys", "keys_strings", &m->keys, d) ||
        num_list(g, n, a, "values", "values_strings", &m->values, d))
        return 1;
    if (m->keys.n != m->values.n)
        return diag_node(d, g, n, "%d keys but %d values", m->keys.n, m->values.n);
    const Value *x = op_in(g, n, 0);
    if (x->dtype != m->keys.t)
        return diag_node(d, g, n, "input has type %s, but the keys are %s", dtype_name(x->dtype),
                         dtype_name(m->keys.t));
    /* the default: -1 for integer values, -0.0 for float ones */
    m->def_i = -1;
    m->def_f = -0.0;
    if (node_attr(n, "values_tensor")) {
        const Attr *dt = node_attr(n, "default_tensor");
        if (dt) {
            if (dt->kind != ATTR_TENSOR || !dtype_is_computable(dt->t->dtype) || shape_numel(&dt->t->shape) != 1)
                return diag_node(d, g, n, "attribute 'default_tensor' must be a numeric tensor of one element");
            m->def_i = dtype_get_i(dt->t->dtype, dt->t->data, 0);
            m->def_f = dtype_get_f(dt->t->dtype, dt->t->data, 0);
        }
    } else if (m->values.t == DT_I64) {
        if (attr_int(g, n, "default_int64", -1, &m->def_i, d))
            return 1;
    } else if (attr_float(g, n, "default_float", -0.0, &m->def_f, d)) {
        return 1;
    }
    return 0;
}

int infer_labelencoder(Graph *g, Node *n, Diag *d)
{
    LabelMap m;
    const Value *x = op_in(g, n, 0);
    if (x->dtype == DT_STRING)
        return infer_label_strings(g, n, d);
    if (op_check_dtype(g, n, 0, label_types, d) || label_map(g, n, g->arena, &m, d))
        return 1;
    op_set_out(g, n, 0, m.values.t, &x->shape);
    return 0;
}

/* The elements of a NumList as a table of its type. */
static void *label_table(Arena *a, const NumList *l)
{
    void *data = arena_alloc(a, (size_t)(l->n + 1) * (size_t)dtype_size(l->t));
    for (int k = 0; k < l->n; k++) {
        if (dtype_is_float(l->t))
            dtype_set_f(l->t, data, k, l->f[k]);
        else
            dtype_set_i(l->t, data, k, l->i[k]);
    }
    return data;
}

/* y = x; for k in keys: y = x == key[k] ? value[k] : y, starting from the
 * default (the last equal key wins, as the spec says). */
int lower_labelencoder(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &g->values[n->in[0]];
    LabelMap m;
    Diag d = lw_diag(L);
    if (x->dtype == DT_STRING)
        return lower_label_strings(L, n);
    if (label_map(g, n, a, &m, &d))
        return lw_error(L, n, "bad attributes");
    DType kt = m.keys.t, vt = m.values.t; /* kt is x's type (label_map) */
    int nk = m.keys.n, nan_key = 0;
    for (int k = 0; k < nk && dtype_is_float(kt); k++)
        nan_key |= isnan(m.keys.f[k]);
    Expr *def = dtype_is_float(vt) ? ke_float(a, vt, m.def_f) : ke_int(a, vt, m.def_i);
    Expr *c[KILN_MAX_RANK];
    lw_loops(L, &x->shape, NULL, c);
    Expr *xv = lw_load(L, n->in[0], c);
    if (nk == 0) {
        lw_store(L, n, 0, c, def);
    } else {
        int kb_keys = ml_table(L, n, "keys", kt, nk, label_table(a, &m.keys));
        int kb_vals = ml_table(L, n, "values", vt, nk, label_table(a, &m.values));
        int xl = kb_let(b, "x", xv);
        int y = kb_let(b, "y", def);
        /* keys [K] -> values [K] */
        Expr *k = kb_v(b, kb_for(b, "k", nk));
        Expr *key = ml_at(L, kb_keys, k);
        Expr *hit = ke_bin(a, B_EQ, kb_v(b, xl), key);
        if (nan_key) /* a NaN key matches a NaN input */
            hit = ke_bin(a, B_OR, hit, ke_bin(a, B_AND, ke_un(a, U_ISNAN, kb_v(b, xl)), ke_un(a, U_ISNAN, key)));
        kb_assign(b, y, ke_select(a, hit, ml_at(L, kb_vals, k), kb_v(b, y)));
        kb_end(b);
        lw_store(L, n, 0, c, kb_v(b, y));
    }
    lw_end_loops(L, &x->shape);
    return 0;
}

/* --------------------------------------------------------- TreeEnsemble */

enum { TREE_LEQ, TREE_LT, TREE_GTE, TREE_GT, TREE_EQ, TREE_NEQ, TREE_MEMBER, TREE_NMODES };
enum { AGG_AVERAGE, AGG_SUM, AGG_MIN, AGG_MAX };
enum { POST_NONE, POST_SOFTMAX, POST_LOGISTIC, POST_SOFTMAX_ZERO, POST_PROBIT };

/* An ensemble, read from the attributes and checked. Interior nodes are
 * 0..nn-1 and leaf l is node nn + l in the tables lowering builds.
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct Trees {
    int nn, nl, nr;             /* interior nodes, leaves, trees */
    int64_t features;           /* F of x [N, F] */
    int64_t targets;            /* n_targets: y [N, targets] */
    const int64_t *feature;     /* [nn] feature each node tests */
    const int64_t *tnode, *fnode; /* [nn] true/false child: a node, or a leaf if *leaf */
    const int64_t *tleaf, *fleaf; /* [nn] 1 if that child is a leaf */
    const int64_t *track;       /* [nn] NaN goes to the true child; NULL: never */
    const int64_t *target;      /* [nl] target each leaf adds to */
    const int64_t *root;        /* [nr] root node of each tree */
    double *split;              /* [nn] threshold of each node */
    double *mode;               /* [nn] TREE_* of each node */
    double *weight;             /* [nl] weight of each leaf */
    double *member;             /* [nmember] the sets, NaN-delimited, or NULL */
    int nmember;
    int *mstart, *mcount;       /* [nn] the set of a TREE_MEMBER node in member[] */
    int mset;                   /* largest set */
    int64_t agg, post;          /* aggregate_function, post_transform */
    DType ct;                   /* type tests and sums compute in */
    int depth;                  /* interior nodes on the longest root-to-leaf path */
    unsigned modes;             /* bit m: some node has mode m */
    int tracks;                 /* nodes with missing_value_tracks_true */
} Trees;

/* Depth of each interior node (interior nodes on its longest path down),
 * by peeling nodes whose interior children are done; nodes never peeled
 * lie on a cycle. */
static int tree_depths(Graph *g, Node *n, Trees *t, Arena *a, Diag *d)
{
    int nn = t->nn;
    int *pending = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
    int *depth = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
    int *queue = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
    int *pstart = arena_alloc(a, sizeof(int) * (size_t)(nn + 2));
    int *parent = arena_alloc(a, sizeof(int) * (size_t)(2 * nn + 1));
    int *fill = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
    /* parents of each node (CSR), one entry per interior child edge */
    for (int i = 0; i < nn; i++) {
        if (!t->tleaf[i])
            pending[i]++, pstart[t->tnode[i] + 1]++;
        if (!t->fleaf[i])
            pending[i]++, pstart[t->fnode[i] + 1]++;
    }
    for (int i = 0; i < nn; i++)
        pstart[i + 1] += pstart[i];
    for (int i = 0; i < nn; i++) {
        if (!t->tleaf[i])
            parent[pstart[t->tnode[i]] + fill[t->tnode[i]]++] = i;
        if (!t->fleaf[i])
            parent[pstart[t->fnode[i]] + fill[t->fnode[i]]++] = i;
    }
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++) {
        depth[i] = 1;
        if (!pending[i])
            queue[tail++] = i;
    }
    while (head < tail) {
        int i = queue[head++];
        for (int k = pstart[i]; k < pstart[i + 1]; k++) {
            int p = parent[k];
            if (depth[p] < depth[i] + 1)
                depth[p] = depth[i] + 1;
            if (--pending[p] == 0)
                queue[tail++] = p;
        }
    }
    if (tail < nn)
        return diag_node(d, g, n, "the tree nodes form a cycle");
    t->depth = 0;
    for (int r = 0; r < t->nr; r++)
        if (depth[t->root[r]] > t->depth)
            t->depth = depth[t->root[r]];
    return 0;
}

/* Read and check every attribute of the ensemble on x [N, F]. */
static int tree_read(Graph *g, Node *n, Arena *a, Trees *t, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    DType st = DT_F32, wt = DT_F32, mt = DT_U8, vt = DT_F32; /* splits, weights, modes, members */
    int c[8];
    memset(t, 0, sizeof *t);
    t->features = x->shape.dim[1];
    if (ml_ints(g, n, "nodes_featureids", &t->feature, &c[0], d) ||
        ml_ints(g, n, "nodes_truenodeids", &t->tnode, &c[1], d) ||
        ml_ints(g, n, "nodes_falsenodeids", &t->fnode, &c[2], d) ||
        ml_ints(g, n, "nodes_trueleafs", &t->tleaf, &c[3], d) ||
        ml_ints(g, n, "nodes_falseleafs", &t->fleaf, &c[4], d) ||
        ml_tensor(g, n, a, "nodes_splits", &st, &t->split, &c[5], d) ||
        ml_tensor(g, n, a, "nodes_modes", &mt, &t->mode, &c[6], d) ||
        ml_ints(g, n, "nodes_missing_value_tracks_true", &t->track, &c[7], d))
        return 1;
    static const char *const node_attrs[] = {"nodes_featureids", "nodes_truenodeids", "nodes_falsenodeids",
                                             "nodes_trueleafs", "nodes_falseleafs", "nodes_splits",
                                             "nodes_modes", "nodes_missing_value_tracks_true"};
    t->nn = c[0];
    for (int k = 0; k < 8; k++) {
        if (k < 7 && ml_need(g, n, node_attrs[k], c[k], d))
            return 1;
        if (c[k] >= 0 && c[k] != t->nn)
            return diag_node(d, g, n, "attribute '%s' has %d entries, but nodes_featureids has %d",
                             node_attrs[k], c[k], t->nn);
    }
    int nw, nroot;
    if (ml_ints(g, n, "leaf_targetids", &t->target, &t->nl, d) ||
        ml_tensor(g, n, a, "leaf_weights", &wt, &t->weight, &nw, d) ||
        ml_ints(g, n, "tree_roots", &t->root, &nroot, d) || ml_need(g, n, "leaf_targetids", t->nl, d) ||
        ml_need(g, n, "leaf_weights", nw, d) || ml_need(g, n, "tree_roots", nroot, d))
        return 1;
    if (nw != t->nl)
        return diag_node(d, g, n, "%d leaf_weights for %d leaf_targetids", nw, t->nl);
    t->nr = nroot;
    if (t->nn == 0 || t->nr == 0 || t->nl == 0)
        return diag_node(d, g, n, "the ensemble needs at least one tree, node and leaf");
    if (t->nn > INT32_MAX / 2 - t->nl)
        return diag_node(d, g, n, "too many nodes");
    if (attr_int(g, n, "aggregate_function", AGG_SUM, &t->agg, d) ||
        attr_int(g, n, "post_transform", POST_NONE, &t->post, d))
        return 1;
    if (t->agg < AGG_AVERAGE || t->agg > AGG_MAX)
        return diag_node(d, g, n, "aggregate_function %lld is not one of 0..3", (long long)t->agg);
    if (t->post < POST_NONE || t->post > POST_PROBIT)
        return diag_node(d, g, n, "post_transform %lld is not one of 0..4", (long long)t->post);
    /* n_targets, or one past the largest target */
    int64_t top = 0;
    for (int l = 0; l < t->nl; l++)
        if (t->target[l] >= top)
            top = t->target[l] < INT64_MAX ? t->target[l] + 1 : INT64_MAX; /* INT64_MAX fails the range check below */
    if (attr_int(g, n, "n_targets", top, &t->targets, d))
        return 1;
    if (t->targets < 1)
        return diag_node(d, g, n, "n_targets must be >= 1, not %lld", (long long)t->targets);
    for (int l = 0; l < t->nl; l++)
        if (t->target[l] < 0 || t->target[l] >= t->targets)
            return diag_node(d, g, n, "leaf %d has target %lld, outside [0, %lld)", l, (long long)t->target[l],
                             (long long)t->targets);
    for (int r = 0; r < t->nr; r++)
        if (t->root[r] < 0 || t->root[r] >= t->nn)
            return diag_node(d, g, n, "tree %d has root %lld, outside the %d nodes", r, (long long)t->root[r], t->nn);
    for (int i = 0; i < t->nn; i++) {
        double m = t->mode[i];
        if (!(m >= 0 && m < TREE_NMODES) || m != floor(m))
            return diag_node(d, g, n, "node %d has mode %g, not one of 0..6", i, m);
        t->modes |= 1u << (int)m;
        if (t->feature[i] < 0 || t->feature[i] >= t->features)
            return diag_node(d, g, n, "node %d tests feature %lld, but the input has %lld", i,
                             (long long)t->feature[i], (long long)t->features);
        int64_t lim[2] = {t->tleaf[i] ? t->nl : t->nn, t->fleaf[i] ? t->nl : t->nn};
        int64_t child[2] = {t->tnode[i], t->fnode[i]};
        for (int s = 0; s < 2; s++)
            if (child[s] < 0 || child[s] >= lim[s])
                return diag_node(d, g, n, "node %d: %s child %lld is outside the %lld %s", i, s ? "false" : "true",
                                 (long long)child[s], (long long)lim[s], lim[s] == t->nl ? "leaves" : "nodes");
        t->tracks += t->track && t->track[i];
    }
    /* the member sets, in the order of the TREE_MEMBER nodes */
    if (ml_tensor(g, n, a, "membership_values", &vt, &t->member, &t->nmember, d))
        return 1;
    t->mstart = arena_alloc(a, sizeof(int) * (size_t)(t->nn + 1));
    t->mcount = arena_alloc(a, sizeof(int) * (size_t)(t->nn + 1));
    int pos = 0, sets = 0;
    for (int i = 0; i < t->nn; i++) {
        if (t->mode[i] != TREE_MEMBER)
            continue;
        if (pos >= t->nmember)
            return diag_node(d, g, n, "membership_values has fewer sets than there are BRANCH_MEMBER nodes");
        t->mstart[i] = pos;
        while (pos < t->nmember && !isnan(t->member[pos]))
            pos++;
        t->mcount[i] = pos - t->mstart[i];
        if (t->mcount[i] > t->mset)
            t->mset = t->mcount[i];
        pos++; /* the NaN */
        sets++;
    }
    if (pos < t->nmember)
        return diag_node(d, g, n, "membership_values has more sets than the %d BRANCH_MEMBER nodes", sets);
    t->ct = x->dtype == DT_F64 || st == DT_F64 || wt == DT_F64 || (t->member && vt == DT_F64) ? DT_F64 : DT_F32;
    return tree_depths(g, n, t, a, d);
}

static const DType tree_types[] = {DT_F32, DT_F64, DT_F16, DT_UNDEF};

int infer_treeensemble(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    char buf[160];
    Trees *t = op_attrs(g, n, sizeof *t);
    if (op_check_dtype(g, n, 0, tree_types, d))
        return 1;
    if (x->shape.rank != 2)
        return diag_node(d, g, n, "input must be [N, F], not %s", shape_str(&x->shape, buf, sizeof buf));
    if (tree_read(g, n, g->arena, t, d))
        return 1;
    Shape out = {2, {x->shape.dim[0], t->targets}};
    op_set_out(g, n, 0, x->dtype, &out);
    return 0;
}

/* Whether value v passes a node of mode m with threshold s; `hit` is the
 * set membership of v (TREE_MEMBER). */
static Expr *tree_test(Arena *a, int m, Expr *v, Expr *s, Expr *hit)
{
    switch (m) {
    case TREE_LEQ: return ke_bin(a, B_LE, v, s);
    case TREE_LT: return ke_bin(a, B_LT, v, s);
    case TREE_GTE: return ke_bin(a, B_GE, v, s);
    case TREE_GT: return ke_bin(a, B_GT, v, s);
    case TREE_EQ: return ke_bin(a, B_EQ, v, s);
    case TREE_NEQ: return ke_bin(a, B_NE, v, s);
    default: return hit;
    }
}

/* The largest finite value of type t (the start of a min). */
static double type_max(DType t)
{
    return t == DT_F64 ? DBL_MAX : t == DT_F16 ? 65504.0 : t == DT_BF16 ? 3.3895313892515355e38 : FLT_MAX;
}

/* The node tables of an ensemble (buffers; -1 when not needed), indexed by
 * node, interior nodes then leaves. */
typedef struct TreeTabs {
    int feature;      /* feature tested (0 at leaves) */
    int next_true;    /* child taken when the test passes (a leaf: itself) */
    int next_false;   /* child taken otherwise (a leaf: itself) */
    int split;        /* threshold; absent when every node is BRANCH_MEMBER */
    int mode;         /* TREE_*; absent when all nodes share one mode */
    int set_start;    /* BRANCH_MEMBER: first member in `members` */
    int set_size;     /* BRANCH_MEMBER: members in the set */
    int members;      /* the sets, padded with NaN */
    int nan_true;     /* NaN takes the true child; absent when none or all do */
} TreeTabs;

/* One walk step at node `id` of the open step loop: returns the child the
 * sample at x[row] goes to. */
static Expr *tree_step(Lower *L, Node *n, const Trees *t, Expr *row, int id, const TreeTabs *tab)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    DType ct = t->ct;
    Expr *node = kb_v(b, id);
    Expr *feat = ke_cast(a, DT_INDEX, ml_at(L, tab->feature, node));
    int v = kb_let(b, "v", ke_cast(a, ct, ml_at(L, lw_buf(L, n->in[0]), ke_bin(a, B_ADD, row, feat))));
    Expr *vv = kb_v(b, v);
    Expr *hit = NULL;
    if (t->modes & (1u << TREE_MEMBER)) {
        /* hit = v is one of members[set_start[id] + j], j < set_size[id] */
        int h = kb_let(b, "hit", ke_int(a, DT_BOOL, 0));
        Expr *j = kb_v(b, kb_for(b, "j", t->mset));
        Expr *in_set = ke_bin(a, B_LT, j, ke_cast(a, DT_INDEX, ml_at(L, tab->set_size, node)));
        Expr *m = ml_at(L, tab->members, ke_bin(a, B_ADD, ke_cast(a, DT_INDEX, ml_at(L, tab->set_start, node)), j));
        kb_assign(b, h, ke_bin(a, B_OR, kb_v(b, h), ke_bin(a, B_AND, in_set, ke_bin(a, B_EQ, vv, m))));
        kb_end(b);
        hit = kb_v(b, h);
    }
    Expr *split = tab->split >= 0 ? ml_at(L, tab->split, node) : NULL;
    Expr *go = NULL;
    /* the test of the node's mode: a select over the modes present */
    for (int m = TREE_NMODES - 1; m >= 0; m--) {
        if (!(t->modes & (1u << m)))
            continue;
        Expr *test = tree_test(a, m, vv, split, hit);
        go = !go ? test : ke_select(a, ke_bin(a, B_EQ, ml_at(L, tab->mode, node), ke_int(a, DT_U8, m)), test, go);
    }
    if (t->tracks == t->nn) /* NaN goes to the true child */
        go = ke_bin(a, B_OR, go, ke_un(a, U_ISNAN, vv));
    else if (t->tracks)
        go = ke_bin(a, B_OR, go, ke_bin(a, B_AND, ke_cast(a, DT_BOOL, ml_at(L, tab->nan_true, node)), ke_un(a, U_ISNAN, vv)));
    return ke_cast(a, DT_INDEX, ke_select(a, go, ml_at(L, tab->next_true, node), ml_at(L, tab->next_false, node)));
}

/* The aggregate of target t from the scratch row: the sum over the trees
 * divided by their count for AVERAGE. */
static Expr *tree_score(Lower *L, const Trees *t, int acc, Expr *tv)
{
    Arena *a = lw_arena(L);
    Expr *s = ml_at(L, acc, tv);
    return t->agg == AGG_AVERAGE ? ke_bin(a, B_DIV, s, ke_float(a, t->ct, t->nr)) : s;
}

/* probit(p) = sqrt(2) * erf_inv(2p - 1), with onnxruntime's approximation
 * of erf_inv (Winitzki's, a = 0.147). */
static Expr *probit(Arena *a, DType t, Expr *p)
{
#define K(v) ke_float(a, t, (v))
    Expr *x = ke_bin(a, B_SUB, ke_bin(a, B_MUL, K(2), p), K(1));
    Expr *sgn = ke_select(a, ke_bin(a, B_LT, x, K(0)), K(-1), K(1));
    Expr *lg = ke_un(a, U_LOG, ke_bin(a, B_MUL, ke_bin(a, B_SUB, K(1), x), ke_bin(a, B_ADD, K(1), x)));
    Expr *v = ke_bin(a, B_ADD, K(2 / (3.14159265358979323846 * 0.147)), ke_bin(a, B_MUL, K(0.5), lg));
    Expr *v2 = ke_bin(a, B_MUL, K(1 / 0.147), lg);
    Expr *v3 = ke_bin(a, B_SUB, ke_un(a, U_SQRT, ke_bin(a, B_SUB, ke_bin(a, B_MUL, v, v), v2)), v);
    return ke_bin(a, B_MUL, K(1.41421356), ke_bin(a, B_MUL, sgn, ke_un(a, U_SQRT, v3)));
#undef K
}

/* softmax_zero's numerator: exp(v - mx), or v * exp(-mx) for v near 0. */
static Expr *softmax_zero_term(Arena *a, DType t, Expr *v, Expr *mx)
{
    Expr *big = ke_bin(a, B_GT, ke_un(a, U_ABS, v), ke_float(a, t, 1e-7));
    return ke_select(a, big, ke_un(a, U_EXP, ke_bin(a, B_SUB, v, mx)),
                     ke_bin(a, B_MUL, v, ke_un(a, U_EXP, ke_un(a, U_NEG, mx))));
}

int lower_treeensemble(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &g->values[n->in[0]];
    const Trees *t = n->attrs;
    DType ct = t->ct, ot = x->dtype;
    int nn = t->nn, nt = t->nn + t->nl;
    int64_t N = x->shape.dim[0], F = t->features, T = t->targets;

    /* node tables over nodes and leaves; a leaf leads to itself */
    int32_t *feat = arena_alloc(a, sizeof(int32_t) * (size_t)nt);
    int32_t *next_t = arena_alloc(a, sizeof(int32_t) * (size_t)nt);
    int32_t *next_f = arena_alloc(a, sizeof(int32_t) * (size_t)nt);
    uint8_t *mode = arena_alloc(a, (size_t)nt);
    uint8_t *track = arena_alloc(a, (size_t)nt);
    int32_t *mstart = arena_alloc(a, sizeof(int32_t) * (size_t)nt);
    int32_t *mcount = arena_alloc(a, sizeof(int32_t) * (size_t)nt);
    void *split = arena_alloc(a, (size_t)dtype_size(ct) * (size_t)nt);
    for (int i = 0; i < nt; i++) {
        int leaf = i >= nn;
        feat[i] = leaf ? 0 : (int32_t)t->feature[i];
        next_t[i] = leaf ? i : (int32_t)(t->tleaf[i] ? nn + t->tnode[i] : t->tnode[i]);
        next_f[i] = leaf ? i : (int32_t)(t->fleaf[i] ? nn + t->fnode[i] : t->fnode[i]);
        mode[i] = leaf ? 0 : (uint8_t)t->mode[i];
        track[i] = !leaf && t->track && t->track[i];
        mstart[i] = leaf ? 0 : t->mstart[i];
        mcount[i] = leaf ? 0 : t->mcount[i];
        dtype_set_f(ct, split, i, leaf ? 0 : t->split[i]);
    }
    int32_t *root = arena_alloc(a, sizeof(int32_t) * (size_t)t->nr);
    for (int r = 0; r < t->nr; r++)
        root[r] = (int32_t)t->root[r];
    int32_t *target = arena_alloc(a, sizeof(int32_t) * (size_t)t->nl);
    void *weight = arena_alloc(a, (size_t)dtype_size(ct) * (size_t)t->nl);
    for (int l = 0; l < t->nl; l++) {
        target[l] = (int32_t)t->target[l];
        dtype_set_f(ct, weight, l, t->weight[l]);
    }
    int single_mode = (t->modes & (t->modes - 1)) == 0;
    TreeTabs tab = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    tab.feature = ml_table(L, n, "feature", DT_I32, nt, feat);
    tab.next_true = ml_table(L, n, "true_next", DT_I32, nt, next_t);
    tab.next_false = ml_table(L, n, "false_next", DT_I32, nt, next_f);
    if (t->modes != 1u << TREE_MEMBER)
        tab.split = ml_table(L, n, "split", ct, nt, split);
    if (!single_mode)
        tab.mode = ml_table(L, n, "mode", DT_U8, nt, mode);
    if (t->modes & (1u << TREE_MEMBER)) {
        /* the sets as given (NaN-delimited), padded so that reading mset
         * entries from any start stays inside the table */
        int64_t len = t->nmember + t->mset;
        void *mem = arena_alloc(a, (size_t)dtype_size(ct) * (size_t)(len + 1));
        for (int64_t k = 0; k < len; k++)
            dtype_set_f(ct, mem, k, k < t->nmember ? t->member[k] : NAN);
        tab.set_start = ml_table(L, n, "set_start", DT_I32, nt, mstart);
        tab.set_size = ml_table(L, n, "set_size", DT_I32, nt, mcount);
        tab.members = ml_table(L, n, "set_members", ct, len, mem);
    }
    if (t->tracks && t->tracks < t->nn)
        tab.nan_true = ml_table(L, n, "nan_true", DT_U8, nt, track);
    int roots = ml_table(L, n, "root", DT_I32, t->nr, root);
    int targets = ml_table(L, n, "leaf_target", DT_I32, t->nl, target);
    int weights = ml_table(L, n, "leaf_weight", ct, t->nl, weight);
    Shape ts = {1, {T}};
    int acc = lw_temp(L, "score", ct, &ts);

    /* x [N, F] -> y [N, T] */
    Expr *row = kb_v(b, kb_for(b, "n", N));
    Expr *xrow = ke_bin(a, B_MUL, row, ke_idx(a, F));
    double init = t->agg == AGG_MIN ? type_max(ot) : t->agg == AGG_MAX ? -type_max(ot) : 0;
    Expr *tv = kb_v(b, kb_for(b, "t", T));
    kb_store(b, acc, tv, ke_float(a, ct, init));
    kb_end(b);
    /* walk each tree down to its leaf */
    Expr *r = kb_v(b, kb_for(b, "r", t->nr));
    int id = kb_let(b, "node", ke_cast(a, DT_INDEX, ml_at(L, roots, r)));
    kb_for(b, "step", t->depth);
    kb_assign(b, id, tree_step(L, n, t, xrow, id, &tab));
    kb_end(b);
    int leaf = kb_let(b, "leaf", ke_bin(a, B_SUB, kb_v(b, id), ke_idx(a, nn)));
    int tg = kb_let(b, "target", ke_cast(a, DT_INDEX, ml_at(L, targets, kb_v(b, leaf))));
    Expr *w = ml_at(L, weights, kb_v(b, leaf));
    Expr *old = ml_at(L, acc, kb_v(b, tg));
    BinOp op = t->agg == AGG_MIN ? B_MIN : t->agg == AGG_MAX ? B_MAX : B_ADD;
    kb_store(b, acc, kb_v(b, tg), ke_bin(a, op, old, w));
    kb_end(b);

    /* post transform of the row of scores s[t] */
    Expr *s_of_t;
    int mx = -1, sum = -1;
    if (t->post == POST_SOFTMAX || t->post == POST_SOFTMAX_ZERO) {
        mx = kb_let(b, "mx", ke_float(a, ct, -INFINITY));
        tv = kb_v(b, kb_for(b, "t", T));
        kb_assign(b, mx, ke_bin(a, B_MAX, kb_v(b, mx), tree_score(L, t, acc, tv)));
        kb_end(b);
        sum = kb_let(b, "sum", ke_float(a, ct, 0));
        tv = kb_v(b, kb_for(b, "t", T));
        Expr *s = tree_score(L, t, acc, tv);
        Expr *e = t->post == POST_SOFTMAX ? ke_un(a, U_EXP, ke_bin(a, B_SUB, s, kb_v(b, mx)))
                                         : softmax_zero_term(a, ct, s, kb_v(b, mx));
        kb_assign(b, sum, ke_bin(a, B_ADD, kb_v(b, sum), e));
        kb_end(b);
    }
    tv = kb_v(b, kb_for(b, "t", T));
    s_of_t = tree_score(L, t, acc, tv);
    Expr *y = s_of_t;
    switch (t->post) {
    case POST_SOFTMAX:
        y = ke_bin(a, B_DIV, ke_un(a, U_EXP, ke_bin(a, B_SUB, s_of_t, kb_v(b, mx))), kb_v(b, sum));
        break;
    case POST_SOFTMAX_ZERO:
        y = ke_select(a, ke_bin(a, B_EQ, kb_v(b, sum), ke_float(a, ct, 0)), ke_float(a, ct, 0.5),
                      ke_bin(a, B_DIV, softmax_zero_term(a, ct, s_of_t, kb_v(b, mx)), kb_v(b, sum)));
        break;
    case POST_LOGISTIC: {
        /* 1 / (1 + exp(-s)), computed from |s| so that it cannot overflow */
        Expr *e = ke_bin(a, B_DIV, ke_float(a, ct, 1),
                         ke_bin(a, B_ADD, ke_float(a, ct, 1), ke_un(a, U_EXP, ke_un(a, U_NEG, ke_un(a, U_ABS, s_of_t)))));
        y = ke_select(a, ke_bin(a, B_LT, s_of_t, ke_float(a, ct, 0)), ke_bin(a, B_SUB, ke_float(a, ct, 1), e), e);
        break;
    }
    case POST_PROBIT:
        y = probit(a, ct, s_of_t);
        break;
    default:
        break;
    }
    Expr *oc[2] = {row, tv};
    lw_store(L, n, 0, oc, ke_cast(a, ot, y));
    kb_end(b);
    kb_end(b);
    return 0;
}

/* ------------------------------------------------------ TfIdfVectorizer */

enum { TFIDF_TF, TFIDF_IDF, TFIDF_TFIDF };

/* The n-grams a TfIdfVectorizer counts, read from its attributes.
 * Kept on the node as its parsed attributes (Node.attrs). */
typedef struct TfIdf {
    int weighting;           /* TFIDF_TF, TFIDF_IDF, TFIDF_TFIDF */
    int64_t min_len, max_len;/* n-gram lengths counted */
    int64_t max_skip;        /* items skipped between two of an n-gram: 0..max_skip */
    int64_t cols;            /* output columns: max(ngram_indexes) + 1 */
    int ngrams;              /* n-grams counted */
    int *len;                /* [ngrams] length of each */
    const int64_t **item;    /* [ngrams] its items, in pool_int64s */
    int64_t *col;            /* [ngrams] its output column */
    double *w;               /* [ngrams] its weight (1 without weights) */
    int weighted;            /* weights given: IDF and TFIDF tables need them */
} TfIdf;

static int tfidf_read(Graph *g, Node *n, Arena *a, TfIdf *tf, Diag *d)
{
    const char *mode;
    const int64_t *pool, *counts, *index;
    int npool, ncounts, nindex;
    memset(tf, 0, sizeof *tf);
    if (node_attr(n, "pool_strings"))
        return diag_node(d, g, n, "attribute 'pool_strings': string n-grams are not supported by kiln");
    if (attr_str(g, n, "mode", NULL, &mode, d) || attr_int(g, n, "min_gram_length", -1, &tf->min_len, d) ||
        attr_int(g, n, "max_gram_length", -1, &tf->max_len, d) ||
        attr_int(g, n, "max_skip_count", -1, &tf->max_skip, d) || ml_ints(g, n, "pool_int64s", &pool, &npool, d) ||
        ml_ints(g, n, "ngram_counts", &counts, &ncounts, d) || ml_ints(g, n, "ngram_indexes", &index, &nindex, d))
        return 1;
    static const char *const need[] = {"mode", "min_gram_length", "max_gram_length", "max_skip_count"};
    for (int i = 0; i < 4; i++)
        if (!node_attr(n, need[i]))
            return diag_node(d, g, n, "attribute '%s' is required", need[i]);
    if (!strcmp(mode, "TF"))
        tf->weighting = TFIDF_TF;
    else if (!strcmp(mode, "IDF"))
        tf->weighting = TFIDF_IDF;
    else if (!strcmp(mode, "TFIDF"))
        tf->weighting = TFIDF_TFIDF;
    else
        return diag_node(d, g, n, "mode '%s' is not one of TF, IDF, TFIDF", mode);
    if (ml_need(g, n, "pool_int64s", npool, d) || ml_need(g, n, "ngram_counts", ncounts, d) ||
        ml_need(g, n, "ngram_indexes", nindex, d))
        return 1;
    if (tf->min_len < 1 || tf->max_len < tf->min_len)
        return diag_node(d, g, n, "min_gram_length %lld and max_gram_length %lld must satisfy 1 <= min <= max",
                         (long long)tf->min_len, (long long)tf->max_len);
    if (tf->max_skip < 0)
        return diag_node(d, g, n, "max_skip_count must be >= 0, not %lld", (long long)tf->max_skip);
    if (tf->max_len > ncounts)
        tf->max_len = ncounts; /* the pool has no longer n-grams: the same counts, and a bounded loop */
    if (nindex == 0)
        return diag_node(d, g, n, "ngram_indexes is empty");
    for (int i = 0; i < nindex; i++) {
        if (index[i] < 0)
            return diag_node(d, g, n, "ngram_indexes[%d] is negative (%lld)", i, (long long)index[i]);
        if (index[i] >= INT32_MAX)
            return diag_node(d, g, n, "ngram_indexes are too large");
        if (index[i] + 1 > tf->cols)
            tf->cols = index[i] + 1;
    }
    const Attr *wa = node_attr(n, "weights");
    if (wa && wa->kind != ATTR_FLOATS)
        return diag_node(d, g, n, "attribute 'weights' must be a list of floats");
    int nw = wa ? wa->n : 0;
    tf->weighted = nw > 0 && tf->weighting != TFIDF_TF;
    /* the n-grams of each length in [min, max]: ngram_counts[k-1] is where
     * the k-grams start in the pool; n-gram number i (of all lengths) goes
     * to column ngram_indexes[i] */
    tf->len = arena_alloc(a, sizeof(int) * (size_t)(npool + 1));
    tf->item = arena_alloc(a, sizeof(int64_t *) * (size_t)(npool + 1));
    tf->col = arena_alloc(a, sizeof(int64_t) * (size_t)(npool + 1));
    tf->w = arena_alloc(a, sizeof(double) * (size_t)(npool + 1));
    int64_t id = 0;
    for (int i = 0; i < ncounts; i++) {
        int64_t k = i + 1, start = counts[i], end = i + 1 < ncounts ? counts[i + 1] : npool;
        if (start < 0 || start > end || end > npool)
            return diag_node(d, g, n, "ngram_counts[%d] = %lld is out of order or outside the pool of %d", i,
                             (long long)start, npool);
        if ((end - start) % k)
            return diag_node(d, g, n, "the %lld pool items of %lld-grams are not whole %lld-grams",
                             (long long)(end - start), (long long)k, (long long)k);
        for (int64_t p = start; p < end; p += k, id++) {
            if (k < tf->min_len || k > tf->max_len)
                continue;
            if (id >= nindex)
                return diag_node(d, g, n, "ngram_indexes has %d entries, fewer than the n-grams of the pool", nindex);
            if (tf->weighted && id >= nw)
                return diag_node(d, g, n, "weights has %d entries, fewer than the n-grams of the pool", nw);
            tf->w[tf->ngrams] = tf->weighted ? wa->floats[id] : 1.0;
            tf->len[tf->ngrams] = (int)k;
            tf->item[tf->ngrams] = pool + p;
            tf->col[tf->ngrams++] = index[id];
        }
    }
    /* an n-gram listed twice counts for its last entry only */
    int kept = 0;
    for (int i = 0; i < tf->ngrams; i++) {
        int later = 0;
        for (int j = i + 1; j < tf->ngrams && !later; j++)
            later = tf->len[j] == tf->len[i] &&
                    !memcmp(tf->item[j], tf->item[i], sizeof(int64_t) * (size_t)tf->len[i]);
        if (later)
            continue;
        tf->len[kept] = tf->len[i];
        tf->item[kept] = tf->item[i];
        tf->w[kept] = tf->w[i];
        tf->col[kept++] = tf->col[i];
    }
    tf->ngrams = kept;
    return 0;
}

static const DType tfidf_types[] = {DT_I32, DT_I64, DT_UNDEF};

/* x [C] -> y [cols]; x [B, C] -> y [B, cols] (f32). */
int infer_tfidf(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    TfIdf *tf = op_attrs(g, n, sizeof *tf);
    char buf[160];
    if (x->dtype == DT_STRING)
        return diag_node(d, g, n, "string inputs are not supported by kiln");
    if (op_check_dtype(g, n, 0, tfidf_types, d) || tfidf_read(g, n, g->arena, tf, d))
        return 1;
    if (x->shape.rank > 2)
        return diag_node(d, g, n, "input must be [C] or [B, C], not %s", shape_str(&x->shape, buf, sizeof buf));
    Shape out = {1, {tf->cols}};
    if (x->shape.rank == 2)
        out = (Shape){2, {x->shape.dim[0], tf->cols}};
    op_set_out(g, n, 0, DT_F32, &out);
    return 0;
}

/* Per row: score[col] starts at 0; each n-gram g of the pool with count c
 * (its matches in the row) updates its column: TF score += c, IDF score =
 * w[g] (1 without weights) when c > 0, TFIDF score += c * w[g]; the row of
 * scores is the output. */
int lower_tfidf(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    const Value *x = &g->values[n->in[0]];
    const TfIdf *tf = n->attrs;
    int rank = x->shape.rank;
    int64_t B = rank == 2 ? x->shape.dim[0] : 1, C = rank == 0 ? 1 : x->shape.dim[rank - 1];
    int xb = lw_buf(L, n->in[0]);
    Shape fs = {1, {tf->cols}};
    int score = lw_temp(L, "score", DT_F32, &fs);

    /* x [B, C] -> y [B, cols] */
    Expr *bv = kb_v(b, kb_for(b, "b", B));
    Expr *o = kb_v(b, kb_for(b, "o", tf->cols));
    kb_store(b, score, o, ke_float(a, DT_F32, 0));
    kb_end(b);
    for (int64_t k = tf->min_len; k <= tf->max_len; k++) {
        /* the k-grams: pool [G, k], their columns and weights [G] */
        int ng = 0;
        for (int i = 0; i < tf->ngrams; i++)
            ng += tf->len[i] == k;
        if (!ng)
            continue;
        int64_t *pool = arena_alloc(a, sizeof(int64_t) * (size_t)(ng * k));
        int64_t *col = arena_alloc(a, sizeof(int64_t) * (size_t)ng);
        float *w = arena_alloc(a, sizeof(float) * (size_t)ng);
        for (int i = 0, j = 0; i < tf->ngrams; i++) {
            if (tf->len[i] != k)
                continue;
            memcpy(pool + j * k, tf->item[i], sizeof(int64_t) * (size_t)k);
            w[j] = (float)tf->w[i];
            col[j++] = tf->col[i];
        }
        char name[32];
        snprintf(name, sizeof name, "pool%lld", (long long)k);
        int pb = ml_table(L, n, name, DT_I64, ng * k, pool);
        snprintf(name, sizeof name, "column%lld", (long long)k);
        int cb = ml_table(L, n, name, DT_I64, ng, col);
        int wb = -1;
        if (tf->weighted) {
            snprintf(name, sizeof name, "weight%lld", (long long)k);
            wb = ml_table(L, n, name, DT_F32, ng, w);
        }
        kb_comment(b, arena_printf(a, "%lld-grams", (long long)k));
        Expr *gv = kb_v(b, kb_for(b, "g", ng));
        int cnt = kb_let(b, "count", ke_int(a, DT_I64, 0));
        /* every start s and skip distance d + 1 (unigrams: once); a
         * distance of C or more fits no second item into a row, so the
         * skips stop there whatever max_skip_count says */
        int64_t skips = tf->max_skip < C ? tf->max_skip + 1 : C;
        Expr *dv = kb_v(b, kb_for(b, "d", k == 1 ? 1 : skips));
        Expr *step = ke_bin(a, B_ADD, dv, ke_idx(a, 1));
        Expr *s = kb_v(b, kb_for(b, "s", C));
        if (k > 1)
            kb_if(b, ke_bin(a, B_LT, ke_bin(a, B_ADD, s, ke_bin(a, B_MUL, ke_idx(a, k - 1), step)), ke_idx(a, C)));
        Expr *match = NULL;
        for (int64_t j = 0; j < k; j++) {
            Expr *at = ke_bin(a, B_ADD, ke_bin(a, B_MUL, bv, ke_idx(a, C)),
                              ke_bin(a, B_ADD, s, ke_bin(a, B_MUL, ke_idx(a, j), step)));
            Expr *want = ml_at(L, pb, ke_bin(a, B_ADD, ke_bin(a, B_MUL, gv, ke_idx(a, k)), ke_idx(a, j)));
            Expr *eq = ke_bin(a, B_EQ, ke_cast(a, DT_I64, ml_at(L, xb, at)), want);
            match = match ? ke_bin(a, B_AND, match, eq) : eq;
        }
        kb_assign(b, cnt, ke_bin(a, B_ADD, kb_v(b, cnt), ke_select(a, match, ke_int(a, DT_I64, 1), ke_int(a, DT_I64, 0))));
        if (k > 1)
            kb_end(b);
        kb_end(b);
        kb_end(b);
        /* score[column[g]] gets the count, weighted */
        Expr *c = ke_cast(a, DT_INDEX, ml_at(L, cb, gv));
        Expr *old = ml_at(L, score, c), *cf = ke_cast(a, DT_F32, kb_v(b, cnt));
        Expr *wg = wb >= 0 ? ml_at(L, wb, gv) : ke_float(a, DT_F32, 1);
        Expr *v = ke_bin(a, B_ADD, old, cf);
        if (tf->weighting == TFIDF_IDF)
            v = ke_select(a, ke_bin(a, B_GT, kb_v(b, cnt), ke_int(a, DT_I64, 0)), wg, old);
        else if (tf->weighting == TFIDF_TFIDF)
            v = ke_bin(a, B_ADD, old, ke_bin(a, B_MUL, cf, wg));
        kb_store(b, score, c, v);
        kb_end(b);
    }
    o = kb_v(b, kb_for(b, "o", tf->cols));
    Expr *oc[2] = {bv, o};
    lw_store(L, n, 0, rank == 2 ? oc : oc + 1, ml_at(L, score, o));
    kb_end(b);
    kb_end(b);
    return 0;
}

/* ----------------------------------------------------------- optimizers */

/* Inputs R, T, then `lists` lists of g tensors each: X, G, H (Adagrad),
 * X, G, V, H (Adam), X, G, V (Momentum). Outputs: `lists - 1` lists of g,
 * X_new then the new state (H, V, H), where output list l >= 1 is the new
 * value of input list l + 1. */
static int opt_lists(const Node *n) { return n->op == OP_ADAM ? 4 : 3; }

/* Kept on the node as its parsed attributes (Node.attrs). */
typedef struct OptAttrs {
    double norm;         /* norm_coefficient */
    double norm_post;    /* Adam: norm_coefficient_post */
    double decay;        /* Adagrad: decay_factor */
    double eps;          /* Adagrad, Adam: epsilon */
    double alpha, beta;  /* Adam, Momentum */
    int nesterov;        /* Momentum: mode "nesterov" */
} OptAttrs;

static int opt_attrs(Graph *g, Node *n, OptAttrs *at, Diag *d)
{
    memset(at, 0, sizeof *at);
    switch (n->op) {
    case OP_ADAGRAD:
        return attr_float(g, n, "norm_coefficient", 0.0, &at->norm, d) ||
               attr_float(g, n, "decay_factor", 0.0, &at->decay, d) || attr_float(g, n, "epsilon", 1e-6, &at->eps, d);
    case OP_ADAM:
        return attr_float(g, n, "norm_coefficient", 0.0, &at->norm, d) ||
               attr_float(g, n, "norm_coefficient_post", 0.0, &at->norm_post, d) ||
               attr_float(g, n, "epsilon", 1e-6, &at->eps, d) || attr_float(g, n, "alpha", 0.9, &at->alpha, d) ||
               attr_float(g, n, "beta", 0.999, &at->beta, d);
    default: {
        static const char *const need[] = {"alpha", "beta", "mode", "norm_coefficient"};
        const char *mode;
        for (int i = 0; i < 4; i++)
            if (!node_attr(n, need[i]))
                return diag_node(d, g, n, "attribute '%s' is required", need[i]);
        if (attr_float(g, n, "norm_coefficient", 0.0, &at->norm, d) || attr_float(g, n, "alpha", 0.0, &at->alpha, d) ||
            attr_float(g, n, "beta", 0.0, &at->beta, d) || attr_str(g, n, "mode", "standard", &mode, d))
            return 1;
        if (strcmp(mode, "standard") && strcmp(mode, "nesterov"))
            return diag_node(d, g, n, "mode '%s' is not one of standard, nesterov", mode);
        at->nesterov = !strcmp(mode, "nesterov");
        return 0;
    }
    }
}

static const DType opt_types[] = {DT_F32, DT_F64, DT_UNDEF};
static const DType opt_step_types[] = {DT_I64, DT_UNDEF};

int infer_optimizer(Graph *g, Node *n, Diag *d)
{
    int lists = opt_lists(n), ng = (n->nin - 2) / lists;
    OptAttrs *at = op_attrs(g, n, sizeof *at);
    char b1[160], b2[160];
    if (n->nin < 2 + lists || (n->nin - 2) % lists)
        return diag_node(d, g, n, "expected R, T and %d lists of equal length, got %d inputs", lists, n->nin);
    if (n->nout > (lists - 1) * ng)
        return diag_node(d, g, n, "%d outputs, at most %d expected", n->nout, (lists - 1) * ng);
    if (opt_attrs(g, n, at, d) || op_check_dtype(g, n, 0, opt_types, d) || op_check_dtype(g, n, 1, opt_step_types, d))
        return 1;
    for (int i = 0; i < 2; i++) {
        const Value *v = op_in(g, n, i);
        if (!v || shape_numel(&v->shape) != 1)
            return diag_node(d, g, n, "input %d (%s) must be a scalar", i, i ? "T" : "R");
    }
    for (int k = 0; k < ng; k++) {
        const Value *x = op_in(g, n, 2 + k);
        if (!x)
            return diag_node(d, g, n, "input %d is missing", 2 + k);
        for (int l = 0; l < lists; l++) {
            const Value *v = op_in(g, n, 2 + l * ng + k);
            Shape s;
            if (!v)
                return diag_node(d, g, n, "input %d is missing", 2 + l * ng + k);
            if (op_check_dtype(g, n, 2 + l * ng + k, opt_types, d) || op_same_dtype(g, n, 2, 2 + l * ng + k, d))
                return 1;
            if (shape_broadcast(&x->shape, &v->shape, &s) || !shape_equal(&s, &x->shape))
                return diag_node(d, g, n, "input %d ('%s') of shape %s does not broadcast to X's %s",
                                 2 + l * ng + k, v->name, shape_str(&v->shape, b1, sizeof b1),
                                 shape_str(&x->shape, b2, sizeof b2));
        }
        for (int l = 0; l < lists - 1; l++)
            op_set_out(g, n, l * ng + k, op_in(g, n, 2 + (l ? l + 1 : 0) * ng + k)->dtype, &x->shape);
    }
    return 0;
}

/* Store value v as element c[] of output list l, tensor k, when present. */
static void opt_store(Lower *L, Node *n, int l, int k, int ng, Expr *const *c, Expr *v)
{
    int o = l * ng + k;
    if (o >= n->nout || n->out[o] == VNONE)
        return;
    ValueId out = n->out[o];
    KB *b = lw_kb(L);
    kb_store(b, lw_buf(L, out), kb_flat(b, &lw_graph(L)->values[out].shape, c), v);
}

int lower_optimizer(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    int lists = opt_lists(n), ng = (n->nin - 2) / lists;
    const OptAttrs *at = n->attrs;
#define D(v) ke_float(a, DT_F64, (v))
    /* the scalar step size, in double: R and T are runtime inputs */
    Expr *R = ke_cast(a, DT_F64, ml_at(L, lw_buf(L, n->in[0]), ke_idx(a, 0)));
    Expr *T = ml_at(L, lw_buf(L, n->in[1]), ke_idx(a, 0));
    Expr *Tf = ke_cast(a, DT_F64, T);
    Expr *later = ke_bin(a, B_GT, T, ke_int(a, DT_I64, 0));
    int r, beta_t = -1;
    if (n->op == OP_ADAGRAD) {
        /* r = R / (1 + T * decay_factor) */
        r = kb_let(b, "r", ke_bin(a, B_DIV, R, ke_bin(a, B_ADD, D(1), ke_bin(a, B_MUL, Tf, D(at->decay)))));
    } else if (n->op == OP_ADAM) {
        /* r = T > 0 ? R * sqrt(1 - beta^T) / (1 - alpha^T) : R */
        Expr *num = ke_un(a, U_SQRT, ke_bin(a, B_SUB, D(1), ke_bin(a, B_POW, D(at->beta), Tf)));
        Expr *den = ke_bin(a, B_SUB, D(1), ke_bin(a, B_POW, D(at->alpha), Tf));
        r = kb_let(b, "r", ke_select(a, later, ke_bin(a, B_DIV, ke_bin(a, B_MUL, R, num), den), R));
    } else {
        /* beta is 1 at the first step */
        r = kb_let(b, "r", R);
        beta_t = kb_let(b, "beta", ke_select(a, later, D(at->beta), D(1)));
    }
#undef D
    for (int k = 0; k < ng; k++) {
        const Value *x = &g->values[n->in[2 + k]];
        DType t = x->dtype;
        int rank = x->shape.rank;
        Expr *c[KILN_MAX_RANK], *in[4];
#define K(v) ke_float(a, t, (v))
#define V(var) kb_v(b, var)
        kb_comment(b, arena_printf(a, "tensor '%s'", x->name));
        lw_loops(L, &x->shape, NULL, c);
        for (int l = 0; l < lists; l++)
            in[l] = ke_cast(a, t, lw_load_bcast(L, n->in[2 + l * ng + k], rank, c));
        Expr *rt = ke_cast(a, t, V(r));
        /* gr = norm_coefficient * x + g */
        int xv = kb_let(b, "x", in[0]);
        int gr = kb_let(b, "gr", ke_bin(a, B_ADD, ke_bin(a, B_MUL, K(at->norm), V(xv)), in[1]));
        if (n->op == OP_ADAGRAD) {
            /* h' = h + gr^2; x' = x - r * gr / (sqrt(h') + epsilon) */
            int h = kb_let(b, "h", ke_bin(a, B_ADD, in[2], ke_bin(a, B_MUL, V(gr), V(gr))));
            Expr *hs = ke_bin(a, B_ADD, ke_un(a, U_SQRT, V(h)), K(at->eps));
            opt_store(L, n, 0, k, ng, c, ke_bin(a, B_SUB, V(xv), ke_bin(a, B_DIV, ke_bin(a, B_MUL, rt, V(gr)), hs)));
            opt_store(L, n, 1, k, ng, c, V(h));
        } else if (n->op == OP_ADAM) {
            /* v' = alpha v + (1 - alpha) gr; h' = beta h + (1 - beta) gr^2;
             * x' = (1 - norm_post) (x - r v' / (sqrt(h') + epsilon)) */
            int v = kb_let(b, "v", ke_bin(a, B_ADD, ke_bin(a, B_MUL, K(at->alpha), in[2]),
                                          ke_bin(a, B_MUL, K(1 - at->alpha), V(gr))));
            int h = kb_let(b, "h", ke_bin(a, B_ADD, ke_bin(a, B_MUL, K(at->beta), in[3]),
                                          ke_bin(a, B_MUL, K(1 - at->beta), ke_bin(a, B_MUL, V(gr), V(gr)))));
            Expr *hs = ke_bin(a, B_ADD, ke_un(a, U_SQRT, V(h)), K(at->eps));
            Expr *xn = ke_bin(a, B_SUB, V(xv), ke_bin(a, B_MUL, rt, ke_bin(a, B_DIV, V(v), hs)));
            opt_store(L, n, 0, k, ng, c, ke_bin(a, B_MUL, K(1 - at->norm_post), xn));
            opt_store(L, n, 1, k, ng, c, V(v));
            opt_store(L, n, 2, k, ng, c, V(h));
        } else {
            /* v' = alpha v + beta gr; x' = x - r v' (standard) or
             * x - r (gr + alpha v') (nesterov) */
            int v = kb_let(b, "v", ke_bin(a, B_ADD, ke_bin(a, B_MUL, K(at->alpha), in[2]),
                                          ke_bin(a, B_MUL, ke_cast(a, t, V(beta_t)), V(gr))));
            Expr *dir = at->nesterov ? ke_bin(a, B_ADD, V(gr), ke_bin(a, B_MUL, K(at->alpha), V(v))) : V(v);
            opt_store(L, n, 0, k, ng, c, ke_bin(a, B_SUB, V(xv), ke_bin(a, B_MUL, rt, dir)));
            opt_store(L, n, 1, k, ng, c, V(v));
        }
#undef K
#undef V
        lw_end_loops(L, &x->shape);
    }
    return 0;
}
