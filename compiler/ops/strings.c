/*
 * strings.c: the operators on string tensors.
 *
 *   Equal (strings)        z = x == y, byte for byte (broadcast)
 *   StringConcat           z = x ++ y (broadcast), made in the string pool
 *   RegexFullMatch         y = does `pattern` match the whole of x
 *   StringNormalizer       y = x with stopwords removed, case changed
 *   StringSplit            pieces of each x at `delimiter` (or whitespace)
 *   LabelEncoder (strings) y = value of the last key equal to x, else default
 *
 * A string element is a kiln_str record (runtime/kiln_str.h); kernels never
 * compute with one: every operation on strings is a call of a kiln_str_*
 * routine with the elements' addresses (S_CALL), and a routine's scalar
 * result goes through a one-element scratch that the kernel then loads.
 * Constant strings (a pattern, keys, stopwords, a delimiter) are attribute
 * bytes in u8 weights, with i64 offsets where there are several.
 *
 * StringSplit's last output extent and StringNormalizer's output extent
 * depend on the data; kiln has static shapes, so they are taken from the
 * model's declared output shape (Value.declared) and checked at run time:
 * model_run returns MODEL_ERR_STRING_SHAPE when the data gives another extent.
 */
#include "op.h"
#include "../../runtime/kiln_str.h"

#include <string.h>

/* ------------------------------------------------------------- helpers */

/* A constant u8 table of the n strings s[] (NUL-terminated attribute
 * strings) back to back, and (offs, when not NULL) the i64 offsets of each
 * and of the end. */
static int str_table(Lower *L, Node *n, const char *what, const char *const *s, int count, int *offs)
{
    Arena *a = lw_arena(L);
    int64_t total = 0;
    int64_t *off = arena_alloc(a, sizeof(int64_t) * (size_t)(count + 2));
    for (int i = 0; i < count; i++) {
        off[i] = total;
        total += (int64_t)strlen(s[i]);
    }
    off[count] = total;
    uint8_t *bytes = arena_alloc(a, (size_t)total + 1);
    for (int i = 0; i < count; i++)
        memcpy(bytes + off[i], s[i], (size_t)(off[i + 1] - off[i]));
    Shape sb = {1, {total + 1}}, so = {1, {count + 1}};
    int b = lw_const(L, arena_printf(a, "%s_%s", n->name, what), DT_U8, &sb, bytes);
    if (offs)
        *offs = lw_const(L, arena_printf(a, "%s_%s_at", n->name, what), DT_I64, &so, off);
    return b;
}

/* The address of element `flat` of buffer buf (a call argument). */
static Expr *at(Lower *L, int buf, Expr *flat) { return ke_load(lw_arena(L), lw_kb(L)->p, buf, flat); }

static Expr *at0(Lower *L, int buf) { return at(L, buf, ke_idx(lw_arena(L), 0)); }

/* The buffer of string output `out` of n, which lowering writes through
 * routine calls (never permuted or bordered: no layout pass touches
 * strings); -1 with an error otherwise. */
static int str_out(Lower *L, Node *n, int out)
{
    const Value *v = lw_out(L, n, out);
    if (v->permuted || v->haloed)
        return lw_error(L, n, "a string output stored in another order (internal error)"), -1;
    return lw_buf(L, n->out[out]);
}

/* The flat index of coords in a value of shape s. */
static Expr *flat(Lower *L, const Shape *s, Expr *const *coords) { return kb_flat(lw_kb(L), s, coords); }

/* The address of input i's element at the output coordinates c (rank r),
 * numpy broadcasting. */
static Expr *in_at(Lower *L, Node *n, int i, int r, Expr *const *c)
{
    Expr *e = lw_load_bcast(L, n->in[i], r, c);
    return e;
}

static int check_string_input(Graph *g, Node *n, int i, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (v->dtype != DT_STRING)
        return diag_node(d, g, n, "input %d ('%s') must be a string tensor, not %s", i, v->name,
                         dtype_name(v->dtype));
    return 0;
}

/* ----------------------------------------------------------- Equal */

int lower_str_equal(Lower *L, Node *n)
{
    KB *b = lw_kb(L);
    const Value *out = lw_out(L, n, 0);
    Shape one = {1, {1}};
    int t = lw_temp(L, "eq", DT_BOOL, &one);
    Expr *c[KILN_MAX_RANK];
    lw_loops_k(L, &out->shape, NULL, IT_SERIAL, c); /* one scratch for every element's result */
    Expr *args[3] = {in_at(L, n, 0, out->shape.rank, c), in_at(L, n, 1, out->shape.rank, c), at0(L, t)};
    kb_call(b, "kiln_str_eq", args, 3, 1);
    lw_store(L, n, 0, c, at0(L, t));
    lw_end_loops(L, &out->shape);
    return 0;
}

/* ----------------------------------------------------------- StringConcat */

int infer_stringconcat(Graph *g, Node *n, Diag *d)
{
    Shape s;
    if (check_string_input(g, n, 0, d) || check_string_input(g, n, 1, d))
        return 1;
    if (shape_broadcast(&op_in(g, n, 0)->shape, &op_in(g, n, 1)->shape, &s))
        return diag_node(d, g, n, "inputs of shapes that do not broadcast");
    op_set_out(g, n, 0, DT_STRING, &s);
    return 0;
}

int lower_stringconcat(Lower *L, Node *n)
{
    Arena *a = lw_arena(L);
    const Value *out = lw_out(L, n, 0);
    int ob = str_out(L, n, 0), pool = lw_str_pool(L);
    if (ob < 0)
        return 1;
    int64_t cap = lw_kb(L)->p->bufs[pool].numel - KILN_STR_HEAD;
    Expr *c[KILN_MAX_RANK];
    lw_loops_k(L, &out->shape, NULL, IT_SERIAL, c); /* each call appends to the pool */
    Expr *args[5] = {in_at(L, n, 0, out->shape.rank, c), in_at(L, n, 1, out->shape.rank, c), ke_idx(a, cap),
                     at0(L, pool), at(L, ob, flat(L, &out->shape, c))};
    kb_call(lw_kb(L), "kiln_str_concat", args, 5, 2);
    lw_end_loops(L, &out->shape);
    return 0;
}

/* ----------------------------------------------------------- RegexFullMatch */

int infer_regexfullmatch(Graph *g, Node *n, Diag *d)
{
    const char *pat;
    char err[200];
    if (check_string_input(g, n, 0, d) || attr_str(g, n, "pattern", NULL, &pat, d))
        return 1;
    if (!pat)
        return diag_node(d, g, n, "attribute 'pattern' is required");
    if (kiln_str_regex_check((const uint8_t *)pat, strlen(pat), err, sizeof err))
        return diag_node(d, g, n, "pattern: %s (kiln's regex supports literals, ., classes, \\w \\d \\s \\b, "
                                  "^ $, groups, | and greedy quantifiers)", err);
    op_set_out(g, n, 0, DT_BOOL, &op_in(g, n, 0)->shape);
    return 0;
}

int lower_regexfullmatch(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    const char *pat;
    Diag d = lw_diag(L);
    if (attr_str(g, n, "pattern", NULL, &pat, &d) || !pat)
        return lw_error(L, n, "bad attributes");
    const Value *out = lw_out(L, n, 0);
    int pb = str_table(L, n, "pattern", &pat, 1, NULL), pool = lw_str_pool(L);
    Shape one = {1, {1}};
    int t = lw_temp(L, "match", DT_BOOL, &one);
    Expr *c[KILN_MAX_RANK];
    lw_loops_k(L, &out->shape, NULL, IT_SERIAL, c); /* the status in the pool */
    Expr *args[5] = {lw_load(L, n->in[0], c), at0(L, pb), ke_idx(a, (int64_t)strlen(pat)), at0(L, pool), at0(L, t)};
    kb_call(lw_kb(L), "kiln_str_regex", args, 5, 2);
    lw_store(L, n, 0, c, at0(L, t));
    lw_end_loops(L, &out->shape);
    return 0;
}

/* ----------------------------------------------------------- StringNormalizer */

typedef struct Norm {
    int mode;               /* 0 none, 1 lower, 2 upper */
    int fold;               /* stopwords compare case-insensitively */
    const char **stop;      /* [nstop] */
    int nstop;
} Norm;

static int norm_attrs(Graph *g, Node *n, Norm *m, Diag *d)
{
    const char *act, *locale;
    int64_t cs;
    if (attr_str(g, n, "case_change_action", "NONE", &act, d) || attr_int(g, n, "is_case_sensitive", 0, &cs, d) ||
        attr_str(g, n, "locale", "", &locale, d))
        return 1;
    m->mode = !strcmp(act, "LOWER") ? 1 : !strcmp(act, "UPPER") ? 2 : 0;
    if (m->mode == 0 && strcmp(act, "NONE"))
        return diag_node(d, g, n, "case_change_action must be LOWER, UPPER or NONE, not '%s'", act);
    if (*locale && strcmp(locale, "en_US") && strcmp(locale, "C") && strcmp(locale, "en_US.UTF-8"))
        return diag_node(d, g, n, "locale '%s': kiln changes case and compares stopwords in ASCII only "
                                  "(locales en_US and C)", locale);
    m->fold = !cs;
    const Attr *sw = node_attr(n, "stopwords");
    m->stop = NULL;
    m->nstop = 0;
    if (sw) {
        if (sw->kind != ATTR_STRINGS)
            return diag_node(d, g, n, "attribute 'stopwords' must be a list of strings");
        m->stop = sw->strings;
        m->nstop = sw->n;
    }
    return 0;
}

int infer_stringnormalizer(Graph *g, Node *n, Diag *d)
{
    Norm m;
    const Value *x = op_in(g, n, 0);
    if (check_string_input(g, n, 0, d) || norm_attrs(g, n, &m, d))
        return 1;
    if (x->shape.rank != 1 && !(x->shape.rank == 2 && x->shape.dim[0] == 1))
        return diag_node(d, g, n, "input must be [C] or [1, C], not rank %d", x->shape.rank);
    Shape s = x->shape;
    if (m.nstop) {
        /* how many words survive depends on the data: the model's declared
         * extent, checked at run time */
        const Value *y = &g->values[n->out[0]];
        int r = s.rank - 1;
        if (!y->has_declared || y->declared.rank != s.rank || y->declared.dim[r] < 0)
            return diag_node(d, g, n, "with stopwords the output's length depends on the data: kiln needs the "
                                      "model to declare output '%s' with a fixed shape", y->name);
        s.dim[r] = y->declared.dim[r];
        if (s.dim[r] < 1 || s.dim[r] > x->shape.dim[r] + (x->shape.dim[r] == 0))
            return diag_node(d, g, n, "declared output length %lld cannot hold what %lld words leave",
                             (long long)s.dim[r], (long long)x->shape.dim[r]);
    }
    op_set_out(g, n, 0, DT_STRING, &s);
    return 0;
}

int lower_stringnormalizer(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Norm m;
    Diag d = lw_diag(L);
    if (norm_attrs(g, n, &m, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = lw_in(L, n, 0), *y = lw_out(L, n, 0);
    int ob = str_out(L, n, 0), pool = lw_str_pool(L), xb = lw_buf(L, n->in[0]);
    if (ob < 0)
        return 1;
    int64_t cap = b->p->bufs[pool].numel - KILN_STR_HEAD;
    int64_t cx = shape_numel(&x->shape), cy = shape_numel(&y->shape);
    if (!m.nstop) {
        Expr *i = kb_v(b, kb_for_k(b, "i", cx, IT_SERIAL));
        Expr *args[5] = {at(L, xb, i), ke_idx(a, m.mode), ke_idx(a, cap), at0(L, pool), at(L, ob, i)};
        kb_call(b, "kiln_str_case", args, 5, 2);
        kb_end(b);
        return 0;
    }
    int offs, sb = str_table(L, n, "stopwords", m.stop, m.nstop, &offs);
    Shape one = {1, {1}};
    int t = lw_temp(L, "stop", DT_I64, &one);
    /* kept = 0; for each word: unless a stopword, y[kept++] = case(x) */
    int kept = kb_let(b, "kept", ke_idx(a, 0));
    Expr *i = kb_v(b, kb_for_k(b, "i", cx, IT_SERIAL));
    Expr *fargs[6] = {at(L, xb, i), at0(L, sb), at0(L, offs), ke_idx(a, m.nstop), ke_idx(a, m.fold), at0(L, t)};
    kb_call(b, "kiln_str_find", fargs, 6, 1);
    kb_if(b, ke_bin(a, B_LT, ke_load(a, b->p, t, ke_idx(a, 0)), ke_int(a, DT_I64, 0)));
    kb_if(b, ke_bin(a, B_LT, kb_v(b, kept), ke_idx(a, cy)));
    Expr *cargs[5] = {at(L, xb, i), ke_idx(a, m.mode), ke_idx(a, cap), at0(L, pool), at(L, ob, kb_v(b, kept))};
    kb_call(b, "kiln_str_case", cargs, 5, 2);
    kb_end(b);
    kb_assign(b, kept, ke_bin(a, B_ADD, kb_v(b, kept), ke_idx(a, 1)));
    kb_end(b);
    kb_end(b);
    /* every word a stopword: one empty string (the spec's [1] or [1, 1]) */
    kb_if(b, ke_bin(a, B_EQ, kb_v(b, kept), ke_idx(a, 0)));
    Expr *eargs[1] = {at0(L, ob)};
    kb_call(b, "kiln_str_empty", eargs, 1, 1);
    kb_assign(b, kept, ke_idx(a, 1));
    kb_end(b);
    /* the compiled length must be what the data gave */
    kb_if(b, ke_bin(a, B_NE, kb_v(b, kept), ke_idx(a, cy)));
    kb_store(b, pool, ke_idx(a, 8), ke_int(a, DT_U8, KILN_STR_ERR_SHAPE));
    kb_end(b);
    return 0;
}

/* ----------------------------------------------------------- StringSplit */

int infer_stringsplit(Graph *g, Node *n, Diag *d)
{
    const Value *x = op_in(g, n, 0);
    int64_t maxsplit;
    const char *delim;
    if (check_string_input(g, n, 0, d) || attr_str(g, n, "delimiter", "", &delim, d) ||
        attr_int(g, n, "maxsplit", -1, &maxsplit, d))
        return 1;
    if (x->shape.rank >= KILN_MAX_RANK)
        return diag_node(d, g, n, "input of rank %d: the output would exceed kiln's rank limit", x->shape.rank);
    /* the pieces' count depends on the data: the model's declared extent
     * (any, when there is no string to split), checked at run time */
    const Value *y = &g->values[n->out[0]];
    int r = x->shape.rank;
    int64_t width;
    if (y->has_declared && y->declared.rank == r + 1 && y->declared.dim[r] >= 0)
        width = y->declared.dim[r];
    else if (shape_numel(&x->shape) == 0)
        width = 0;
    else
        return diag_node(d, g, n, "the output's last extent (the most pieces of a string) depends on the data: "
                                  "kiln needs the model to declare output '%s' with a fixed shape", y->name);
    if (maxsplit >= 0 && width > maxsplit + 1)
        return diag_node(d, g, n, "declared output width %lld is more than maxsplit + 1 pieces", (long long)width);
    Shape s = x->shape;
    s.rank = r + 1;
    s.dim[r] = width;
    op_set_out(g, n, 0, DT_STRING, &s);
    op_set_out(g, n, 1, DT_I64, &x->shape);
    return 0;
}

int lower_stringsplit(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Diag d = lw_diag(L);
    int64_t maxsplit;
    const char *delim;
    if (attr_str(g, n, "delimiter", "", &delim, &d) || attr_int(g, n, "maxsplit", -1, &maxsplit, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = lw_in(L, n, 0), *y = lw_out(L, n, 0);
    int ob = str_out(L, n, 0), xb = lw_buf(L, n->in[0]), pool = lw_str_pool(L);
    if (ob < 0)
        return 1;
    int64_t cx = shape_numel(&x->shape), width = y->shape.dim[y->shape.rank - 1];
    int lb;
    Shape one = {1, {1}};
    int cnt = lw_temp(L, "pieces", DT_I64, &one);
    if (n->nout > 1 && n->out[1] != VNONE) {
        const Value *lv = lw_out(L, n, 1);
        if (lv->permuted || lv->haloed)
            return lw_error(L, n, "a length output stored in another order (internal error)");
        lb = lw_buf(L, n->out[1]);
    } else {
        lb = -1;
    }
    int db = str_table(L, n, "delimiter", &delim, 1, NULL);
    /* most = the most pieces of any string, which must be the width */
    int most = kb_let(b, "most", ke_int(a, DT_I64, 0));
    Expr *i = kb_v(b, kb_for_k(b, "i", cx, IT_SERIAL));
    Expr *args[7] = {at(L, xb, i), at0(L, db), ke_idx(a, (int64_t)strlen(delim)), ke_idx(a, maxsplit),
                     ke_idx(a, width), at(L, ob, ke_bin(a, B_MUL, i, ke_idx(a, width))), at0(L, cnt)};
    kb_call(b, "kiln_str_split", args, 7, 2);
    Expr *got = ke_load(a, b->p, cnt, ke_idx(a, 0));
    if (lb >= 0)
        kb_store(b, lb, i, got);
    kb_assign(b, most, ke_bin(a, B_MAX, kb_v(b, most), got));
    kb_end(b);
    kb_if(b, ke_bin(a, B_NE, kb_v(b, most), ke_int(a, DT_I64, width)));
    kb_store(b, pool, ke_idx(a, 8), ke_int(a, DT_U8, KILN_STR_ERR_SHAPE));
    kb_end(b);
    return 0;
}

/* ----------------------------------------------------------- LabelEncoder */

/* The string keys of a LabelEncoder: keys_strings, or a string keys_tensor. */
static int label_keys(Graph *g, Node *n, const char ***out, int *count, Diag *d)
{
    const Attr *ks = node_attr(n, "keys_strings"), *kt = node_attr(n, "keys_tensor");
    if (!!ks + !!kt != 1)
        return diag_node(d, g, n, "a string input needs exactly one of 'keys_strings', 'keys_tensor'");
    if (ks) {
        if (ks->kind != ATTR_STRINGS)
            return diag_node(d, g, n, "attribute 'keys_strings' must be a list of strings");
        *out = ks->strings;
        *count = ks->n;
        return 0;
    }
    if (kt->kind != ATTR_TENSOR || kt->t->dtype != DT_STRING)
        return diag_node(d, g, n, "attribute 'keys_tensor' must be a string tensor for a string input");
    int64_t cnt = shape_numel(&kt->t->shape);
    if (cnt > 1 << 24)
        return diag_node(d, g, n, "attribute 'keys_tensor' is too large");
    const KilnStr *r = kt->t->data;
    const char **s = arena_alloc(g->arena, sizeof(char *) * (size_t)(cnt + 1));
    for (int64_t i = 0; i < cnt; i++) {
        if (memchr(r[i].ptr, 0, (size_t)r[i].len))
            return diag_node(d, g, n, "key %lld holds a NUL byte, which kiln does not support", (long long)i);
        s[i] = r[i].ptr; /* tensor.c ends each with a NUL */
    }
    *out = s;
    *count = (int)cnt;
    return 0;
}

/* The values (numeric) and the default of a LabelEncoder with string keys:
 * a table of `count` values of type *t. */
static int label_values(Graph *g, Node *n, int count, DType *t, void **table, double *def, Diag *d)
{
    const Attr *vi = node_attr(n, "values_int64s"), *vf = node_attr(n, "values_floats"),
               *vt = node_attr(n, "values_tensor");
    if (node_attr(n, "values_strings"))
        return diag_node(d, g, n, "attribute 'values_strings': string values are not supported by kiln");
    if (!!vi + !!vf + !!vt != 1)
        return diag_node(d, g, n, "exactly one of 'values_int64s', 'values_floats', 'values_tensor' must be set");
    int nv;
    if (vi) {
        if (vi->kind != ATTR_INTS)
            return diag_node(d, g, n, "attribute 'values_int64s' must be a list of ints");
        *t = DT_I64;
        nv = vi->n;
    } else if (vf) {
        if (vf->kind != ATTR_FLOATS)
            return diag_node(d, g, n, "attribute 'values_floats' must be a list of floats");
        *t = DT_F32;
        nv = vf->n;
    } else {
        if (vt->kind != ATTR_TENSOR || !dtype_is_computable(vt->t->dtype) || vt->t->dtype == DT_BOOL)
            return diag_node(d, g, n, "attribute 'values_tensor' must be a numeric tensor");
        *t = vt->t->dtype;
        int64_t c = shape_numel(&vt->t->shape);
        nv = c > count ? count + 1 : (int)c;
    }
    if (nv != count)
        return diag_node(d, g, n, "%d keys but %d values", count, nv);
    void *data = arena_alloc(g->arena, (size_t)(count + 1) * (size_t)dtype_size(*t));
    for (int k = 0; k < count; k++) {
        if (vi)
            dtype_set_i(*t, data, k, vi->ints[k]);
        else if (vf)
            dtype_set_f(*t, data, k, vf->floats[k]);
        else
            memcpy((char *)data + (size_t)k * (size_t)dtype_size(*t),
                   (const char *)vt->t->data + (size_t)k * (size_t)dtype_size(*t), (size_t)dtype_size(*t));
    }
    *table = data;
    /* the default: -1 for integer values, -0.0 for float ones */
    *def = dtype_is_float(*t) ? -0.0 : -1;
    const Attr *dt = node_attr(n, "default_tensor");
    if (vt && dt) {
        if (dt->kind != ATTR_TENSOR || !dtype_is_computable(dt->t->dtype) || shape_numel(&dt->t->shape) != 1)
            return diag_node(d, g, n, "attribute 'default_tensor' must be a numeric tensor of one element");
        *def = dtype_get_f(dt->t->dtype, dt->t->data, 0);
    } else if (!vt) {
        int64_t di;
        if (*t == DT_I64 && attr_int(g, n, "default_int64", -1, &di, d))
            return 1;
        if (*t == DT_I64)
            *def = (double)di;
        else if (attr_float(g, n, "default_float", -0.0, def, d))
            return 1;
    }
    return 0;
}

int infer_label_strings(Graph *g, Node *n, Diag *d)
{
    const char **keys;
    int nk;
    DType t;
    void *table;
    double def;
    if (label_keys(g, n, &keys, &nk, d) || label_values(g, n, nk, &t, &table, &def, d))
        return 1;
    op_set_out(g, n, 0, t, &op_in(g, n, 0)->shape);
    return 0;
}

int lower_label_strings(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Diag d = lw_diag(L);
    const char **keys;
    int nk;
    DType t;
    void *table;
    double def;
    if (label_keys(g, n, &keys, &nk, &d) || label_values(g, n, nk, &t, &table, &def, &d))
        return lw_error(L, n, "bad attributes");
    const Value *x = lw_in(L, n, 0);
    int offs, kb = str_table(L, n, "keys", keys, nk, &offs);
    Shape sv = {1, {nk + 1}}, one = {1, {1}};
    int vb = lw_const(L, arena_printf(a, "%s_values", n->name), t, &sv, table);
    int tb = lw_temp(L, "key", DT_I64, &one);
    Expr *c[KILN_MAX_RANK];
    lw_loops_k(L, &x->shape, NULL, IT_SERIAL, c); /* one scratch for every element's result */
    Expr *args[6] = {lw_load(L, n->in[0], c), at0(L, kb), at0(L, offs), ke_idx(a, nk), ke_idx(a, 0), at0(L, tb)};
    kb_call(b, "kiln_str_find", args, 6, 1);
    int k = kb_let(b, "k", ke_load(a, b->p, tb, ke_idx(a, 0)));
    Expr *hit = ke_bin(a, B_GE, kb_v(b, k), ke_int(a, DT_I64, 0));
    Expr *safe = ke_cast(a, DT_INDEX, ke_select(a, hit, kb_v(b, k), ke_int(a, DT_I64, 0)));
    Expr *dv = dtype_is_float(t) ? ke_float(a, t, def) : ke_int(a, t, (int64_t)def);
    lw_store(L, n, 0, c, ke_select(a, hit, ke_load(a, b->p, vb, safe), dv));
    lw_end_loops(L, &x->shape);
    return 0;
}
