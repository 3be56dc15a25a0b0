/*
 * control.c: control flow with subgraphs: If, Loop, Scan.
 *
 * Each body is a Graph of its own (import.c): its formal inputs are typed
 * here from the node's inputs, the values it reads from the enclosing
 * graph are the node's extra inputs (Node.ncap, Value.capture), and it is
 * inferred with graph_infer (folding what is constant in it). The node is
 * lowered into one kernel: the body's nodes, each lowered by its op's own
 * lowering (lw_nodes), inside an S_IF (If) or an IT_SERIAL loop (Loop,
 * Scan). A body's formal inputs live in scratch buffers; loop-carried
 * values are copied into theirs at the end of each iteration, from the
 * body outputs (through a staging copy when one body output is another
 * carried value's formal input, which a later copy would overwrite).
 *
 *   If    a constant condition makes the node its branch, copied into the
 *         graph (graph/expand.c); a run-time one needs both branches'
 *         outputs of one type and shape (or both of one element: the
 *         output has the higher rank, PyTorch's `a and b` giving [1] from
 *         one branch and a scalar from the other), and where they are
 *         sequences or optionals, of one length (or presence): each
 *         element is then an output of the node of its own.
 *   Loop  the trip count M must be known at compile time (a constant, or a
 *         graph input kiln check specializes) and at most 2^50 (not a
 *         `while` loop's INT64_MAX); the loop runs M iterations
 *         under a flag that the body's condition output clears (the rest
 *         are skipped). With scan outputs ([M, ...]) the condition must be
 *         one that cannot end the loop early: absent or constant true on
 *         entry, and passed through the body unchanged. A Loop that
 *         carries or reads a sequence or an optional, or whose body needs
 *         the iteration number at compile time (a Slice at it), is
 *         expanded into its iterations instead (graph/expand.c; at most
 *         UNROLL_MAX), under the same condition.
 *   Scan  (opset 9+) scan_input_axes/directions, scan_output_axes/
 *         directions; opset 8's batch axis (sequence_lens must be absent)
 *         is an outer serial loop over the batch.
 */
#include "op.h"

#include <string.h>

/* ------------------------------------------------------------- bodies */

static Graph *body_attr(Graph *g, Node *n, const char *name, Diag *d)
{
    const Attr *at = node_attr(n, name);
    if (!at || at->kind != ATTR_GRAPH || !at->g) {
        diag_node(d, g, n, "graph attribute '%s' is required", name);
        return NULL;
    }
    return at->g;
}

int op_body_infer(Graph *g, Node *n, Graph *body, const char *what, const DType *t, const Shape *s, int nformal,
                  Diag *d)
{
    if (body->ninputs != nformal)
        return diag_node(d, g, n, "%s has %d inputs, expected %d", what, body->ninputs, nformal);
    for (int i = 0; i < nformal; i++) {
        Value *v = &body->values[body->inputs[i]];
        v->dtype = t[i];
        v->shape = s[i];
        v->typed = 1;
    }
    for (int c = 0; c < body->ncaps; c++) {
        Value *x = &body->values[body->caps[c]];
        const Value *o = &g->values[n->in[x->capture]];
        x->dtype = o->dtype;
        x->shape = o->shape;
        x->typed = o->typed;
        x->kind = o->kind == VAL_CONST ? VAL_CONST : VAL_INPUT;
        x->data = o->kind == VAL_CONST ? o->data : NULL;
    }
    body->need_const = VNONE;
    if (graph_infer(body, d)) {
        if (body->need_const != VNONE) {
            ValueId ins[16];
            int nin = 0;
            graph_inputs_of(body, body->need_const, ins, 16, &nin);
            for (int i = 0; i < nin; i++)
                if (body->values[ins[i]].capture >= 0) {
                    g->need_const = n->in[body->values[ins[i]].capture];
                    break;
                }
        }
        return 1;
    }
    for (int i = 0; i < body->noutputs; i++) {
        const Value *o = &body->values[body->outputs[i]];
        if (!o->typed)
            return diag_node(d, g, n, "%s: output '%s' has no type", what, o->name);
        /* a run-time length is recorded for graph outputs only */
        if (o->dynamic)
            return diag_node(d, g, n, "%s: output '%s' has a data-dependent shape, which kiln supports only in a "
                             "graph output, not out of a subgraph", what, o->name);
    }
    return 0;
}

static const Value *bout(const Graph *body, int i) { return &body->values[body->outputs[i]]; }

/* Is v true (numel 1, nonzero) at compile time? *known 0 when not constant. */
static int const_true(const Value *v, int *known)
{
    *known = v && v->kind == VAL_CONST;
    return *known && dtype_get_i(v->dtype, v->data, 0) != 0;
}

static int check_cond(Graph *g, Node *n, int i, Diag *d)
{
    const Value *v = op_in(g, n, i);
    if (v && v->kind == VAL_SEQ)
        return diag_node(d, g, n, "input %d ('%s') must be a tensor, not a sequence or an optional", i, v->name);
    if (v && (v->dtype != DT_BOOL || shape_numel(&v->shape) != 1))
        return diag_node(d, g, n, "input %d ('%s') must be one bool, not %s of %lld elements", i, v->name,
                         dtype_name(v->dtype), (long long)shape_numel(&v->shape));
    return 0;
}

/* Copy value v of the current scope into scratch buffer buf (row-major,
 * v's shape). */
static void copy_to_temp(Lower *L, ValueId v, int buf)
{
    const Shape s = lw_graph(L)->values[v].shape;
    Expr *c[KILN_MAX_RANK];
    lw_loops(L, &s, "c", c);
    lw_store_temp(L, buf, c, lw_load(L, v, c));
    lw_end_loops(L, &s);
}

/* Output o of n (outer scope, current when called) = body value v (scope
 * s), its coordinates placed after `lead` leading indices (or with index
 * `at` inserted at position `axis` when at is not NULL). */
static void store_out(Lower *L, Node *n, int o, LwScope *s, ValueId v, Expr *at, int axis, Expr *lead)
{
    const Shape sh = s->g->values[v].shape;
    Expr *c[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
    lw_loops(L, &sh, "c", c);
    lw_swap(L, s);
    Expr *val = lw_load(L, v, c);
    lw_swap(L, s);
    int k = 0;
    /* an If's one-element output of a higher rank than this branch's (infer_if) */
    int pad = lw_graph(L)->values[n->out[o]].shape.rank - sh.rank - (lead != NULL) - (at != NULL);
    while (k < pad)
        oc[k++] = ke_idx(lw_arena(L), 0);
    if (lead)
        oc[k++] = lead;
    for (int j = 0; j <= sh.rank; j++) {
        if (at && j == axis)
            oc[k++] = at;
        if (j < sh.rank)
            oc[k++] = c[j];
    }
    lw_store(L, n, o, oc, val);
    lw_end_loops(L, &sh);
}

/* Carried values: state[j] = body output first+j at the end of an
 * iteration (current scope: the body's). An output that is another carried
 * value's formal input is first copied aside, before the copies overwrite it. */
static void carry(Lower *L, Graph *body, int first, const int *state, int nstate)
{
    int *src = arena_alloc(lw_arena(L), sizeof(int) * (size_t)(2 * nstate + 1)), *staged = src + nstate;
    for (int j = 0; j < nstate; j++) {
        ValueId v = body->outputs[first + j];
        src[j] = lw_buf(L, v);
        staged[j] = 0;
        for (int k = 0; k < nstate; k++)
            if (k != j && src[j] == state[k]) {
                int stage = lw_temp(L, "stage", body->values[v].dtype, &body->values[v].shape);
                copy_to_temp(L, v, stage);
                src[j] = stage;
                staged[j] = 1;
                break;
            }
    }
    for (int j = 0; j < nstate; j++) {
        ValueId v = body->outputs[first + j];
        if (src[j] == state[j])
            continue; /* passed through unchanged */
        if (!staged[j]) {
            copy_to_temp(L, v, state[j]);
            continue;
        }
        const Shape sh = body->values[v].shape;
        Expr *c[KILN_MAX_RANK];
        lw_loops(L, &sh, "c", c);
        lw_store_temp(L, state[j], c, lw_load_temp(L, src[j], c));
        lw_end_loops(L, &sh);
    }
}

/* ------------------------------------------------------------------ If */

/* Ask for the condition at compile time (kiln check specializes a graph
 * input that gives it), with a message saying why. */
static int need_cond(Graph *g, Node *n, const char *why, Diag *d)
{
    if (op_const_data(g, n, 0))
        return diag_node(d, g, n, "%s (internal error: the condition is known)", why);
    return diag_node(d, g, n, "input 0 ('%s', the condition) must be known at compile time: %s", op_in(g, n, 0)->name,
                     why);
}

/* Output o of a run-time If whose branches make sequences (or optionals)
 * x and y: they must agree in kind, length and element types and shapes;
 * then the node makes each element as an output of its own, elems[ne]
 * (fresh values), and output o is the sequence of them. */
static int seq_branch_out(Graph *g, Node *n, int o, const Graph *const *br, ValueId **out_elems, int *out_ne,
                          Diag *d)
{
    const Value *x = bout(br[0], o), *y = bout(br[1], o);
    int same = x->kind == VAL_SEQ && y->kind == VAL_SEQ && x->seq == y->seq && x->opt == y->opt &&
               x->absent == y->absent && x->nelems == y->nelems && x->dtype == y->dtype;
    for (int k = 0; same && k < x->nelems; k++) {
        const Value *a = &br[0]->values[x->elems[k]], *b = &br[1]->values[y->elems[k]];
        same = a->dtype == b->dtype && shape_equal(&a->shape, &b->shape);
    }
    if (!same)
        return need_cond(g, n, arena_printf(g->arena, "output %d is a sequence or an optional whose length, presence "
                                                      "or element shapes differ between the branches", o), d);
    int ne = x->nelems;
    ValueId *elems = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(ne + 1));
    for (int k = 0; k < ne; k++) {
        const Value *a = &br[0]->values[x->elems[k]];
        elems[k] = graph_add_fresh(g, arena_printf(g->arena, "%s_%d", g->values[n->out[o]].name, k), VAL_NODE);
        Value *e = &g->values[elems[k]];
        e->dtype = a->dtype;
        e->shape = a->shape;
        e->typed = 1;
        e->producer = (NodeId)(n - g->nodes);
    }
    graph_set_seq(g, n->out[o], x->dtype, elems, ne);
    Value *v = &g->values[n->out[o]];
    v->seq = x->seq;
    v->opt = x->opt;
    v->absent = x->absent;
    *out_elems = elems;
    *out_ne = ne;
    return 0;
}

/* The outputs of n and of its branches with each sequence output replaced
 * by its elements (seq_branch_out), so that the node makes tensors only. */
static int flatten_outputs(Graph *g, Node *n, Graph *const *br, Diag *d)
{
    int nout = 0, cap = 0, nb[2] = {0, 0}, capb[2] = {0, 0};
    ValueId *outs = NULL, *bo[2] = {NULL, NULL};
    for (int o = 0; o < n->nout; o++) {
        if (n->out[o] == VNONE || (bout(br[0], o)->kind != VAL_SEQ && bout(br[1], o)->kind != VAL_SEQ)) {
            *ARENA_PUSH(g->arena, outs, nout, cap) = n->out[o];
            for (int b = 0; b < 2; b++)
                *ARENA_PUSH(g->arena, bo[b], nb[b], capb[b]) = br[b]->outputs[o];
            continue;
        }
        ValueId *elems = NULL;
        int ne = 0;
        if (seq_branch_out(g, n, o, (const Graph *const *)br, &elems, &ne, d))
            return 1;
        for (int k = 0; k < ne; k++) {
            *ARENA_PUSH(g->arena, outs, nout, cap) = elems[k];
            for (int b = 0; b < 2; b++)
                *ARENA_PUSH(g->arena, bo[b], nb[b], capb[b]) = bout(br[b], o)->elems[k];
        }
    }
    n->out = outs;
    n->nout = nout;
    for (int b = 0; b < 2; b++) {
        br[b]->outputs = bo[b];
        br[b]->noutputs = br[b]->cap_outputs = nb[b];
    }
    return 0;
}

int infer_if(Graph *g, Node *n, Diag *d)
{
    if (check_cond(g, n, 0, d))
        return 1;
    Graph *br[2] = {body_attr(g, n, "then_branch", d), body_attr(g, n, "else_branch", d)};
    if (!br[0] || !br[1])
        return 1;
    const char *what[2] = {"then_branch", "else_branch"};
    int known, cond = const_true(op_in(g, n, 0), &known);
    if (known) /* the node is its branch (expand.c) */
        return graph_inline_branch(g, (NodeId)(n - g->nodes), br[!cond], d);
    for (int i = n->nin - n->ncap; i < n->nin; i++)
        if (op_in(g, n, i)->kind == VAL_SEQ)
            return need_cond(g, n, arena_printf(g->arena, "its branches read the sequence or optional '%s'",
                                                op_in(g, n, i)->name), d);
    for (int b = 0; b < 2; b++) {
        if (op_body_infer(g, n, br[b], what[b], NULL, NULL, 0, d))
            return 1;
        if (br[b]->noutputs != n->nout)
            return diag_node(d, g, n, "%s has %d outputs, the node %d", what[b], br[b]->noutputs, n->nout);
    }
    for (int o = 0; o < n->nout; o++) {
        const Value *x = bout(br[0], o), *y = bout(br[1], o);
        if (x->kind == VAL_SEQ || y->kind == VAL_SEQ)
            continue; /* flatten_outputs */
        if (x->dtype == y->dtype && shape_numel(&x->shape) == 1 && shape_numel(&y->shape) == 1) {
            /* one element of two ranks (PyTorch's `a and b`: [1] or a
             * scalar false): the higher rank; store_out pads the other */
            op_set_out(g, n, o, x->dtype, x->shape.rank >= y->shape.rank ? &x->shape : &y->shape);
            continue;
        }
        if (x->dtype != y->dtype || !shape_equal(&x->shape, &y->shape)) {
            char a[160], b[160];
            return diag_node(d, g, n,
                             "output %d is %s %s in then_branch but %s %s in else_branch: with a condition known "
                             "only at run time, kiln needs both branches to agree (static shapes)",
                             o, dtype_name(x->dtype), shape_str(&x->shape, a, sizeof a), dtype_name(y->dtype),
                             shape_str(&y->shape, b, sizeof b));
        }
        op_set_out(g, n, o, x->dtype, &x->shape);
    }
    return flatten_outputs(g, n, br, d);
}

static int lower_branch(Lower *L, Node *n, Graph *body)
{
    LwScope s;
    lw_scope(L, n, body, &s);
    lw_swap(L, &s);
    int rc = lw_nodes(L);
    lw_swap(L, &s);
    for (int o = 0; !rc && o < n->nout; o++)
        if (n->out[o] != VNONE)
            store_out(L, n, o, &s, body->outputs[o], NULL, 0, NULL);
    return rc;
}

/* A run-time condition (a known one made the node its branch). */
int lower_if(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Diag d = lw_diag(L);
    Graph *then_b = body_attr(g, n, "then_branch", &d), *else_b = body_attr(g, n, "else_branch", &d);
    if (!then_b || !else_b)
        return lw_error(L, n, "graph attributes then_branch and else_branch are required");
    KB *b = lw_kb(L);
    Expr *zero[KILN_MAX_RANK] = {0};
    for (int i = 0; i < KILN_MAX_RANK; i++)
        zero[i] = ke_idx(lw_arena(L), 0);
    kb_if(b, ke_cast(lw_arena(L), DT_BOOL, lw_load(L, n->in[0], zero)));
    if (lower_branch(L, n, then_b))
        return 1;
    kb_else(b);
    if (lower_branch(L, n, else_b))
        return 1;
    kb_end(b);
    return 0;
}

/* ---------------------------------------------------------------- Loop */

/* Is body output 0 (the condition) body input 1 passed on unchanged? */
static int cond_passes(const Graph *body)
{
    ValueId v = body->outputs[0];
    while (body->values[v].producer >= 0 && body->nodes[body->values[v].producer].op == OP_IDENTITY)
        v = body->nodes[body->values[v].producer].in[0];
    return v == body->inputs[1];
}

/* Is body output 0 of a body not yet inferred a constant true (an
 * initializer or a Constant node, through Identities)? */
static int cond_stays_true(const Graph *body)
{
    ValueId v = body->outputs[0];
    while (body->values[v].producer >= 0 && body->nodes[body->values[v].producer].op == OP_IDENTITY)
        v = body->nodes[body->values[v].producer].in[0];
    const Value *x = &body->values[v];
    const Tensor *t = NULL;
    if (x->producer >= 0 && body->nodes[x->producer].op == OP_CONSTANT) {
        const Attr *at = node_attr(&body->nodes[x->producer], "value");
        t = at && at->kind == ATTR_TENSOR ? at->t : NULL;
    }
    if (x->kind == VAL_CONST)
        return x->dtype == DT_BOOL && shape_numel(&x->shape) == 1 && dtype_get_i(DT_BOOL, x->data, 0);
    return t && t->dtype == DT_BOOL && shape_numel(&t->shape) == 1 && t->data && dtype_get_i(DT_BOOL, t->data, 0);
}

/* Can expand_loop expand this Loop: its condition known on entry, and
 * passed through the body unchanged or a constant true? */
static int can_expand(Graph *g, Node *n, const Graph *body)
{
    return (!op_in(g, n, 1) || op_const_data(g, n, 1)) && body->noutputs >= 1 &&
           (cond_passes(body) || cond_stays_true(body));
}

/* A Loop that carries or reads a sequence or an optional, or whose body
 * needs its iteration number at compile time: expanded into its
 * iterations (expand.c), which needs each iteration's condition known at
 * compile time: true on entry (or false: no iteration), and passed
 * through the body unchanged or a constant true. */
static int expand_loop(Graph *g, Node *n, Graph *body, int64_t m, Diag *d)
{
    const char *why = "kiln expands this loop per iteration (it carries or reads a sequence or an optional, or "
                      "its body needs the iteration number at compile time)";
    if (op_in(g, n, 1)) {
        const void *c = op_const_data(g, n, 1);
        if (!c)
            return diag_node(d, g, n, "input 1 ('%s', the condition) must be known at compile time: %s",
                             op_in(g, n, 1)->name, why);
        if (!dtype_get_i(DT_BOOL, c, 0))
            m = 0;
    }
    if (body->noutputs < 1 || !(cond_passes(body) || cond_stays_true(body)))
        return diag_node(d, g, n, "%s, and its body's condition may end it early: kiln needs the condition input "
                                  "passed through unchanged, or a constant true", why);
    return graph_unroll_loop(g, (NodeId)(n - g->nodes), body, m, d);
}

/* Did the body's inference fail for want of a compile-time value that
 * its iteration number (input 0) gives? */
static int needs_iteration(const Graph *body)
{
    ValueId ins[16];
    int nin = 0;
    if (body->need_const == VNONE)
        return 0;
    graph_inputs_of(body, body->need_const, ins, 16, &nin);
    for (int i = 0; i < nin; i++)
        if (ins[i] == body->inputs[0])
            return 1;
    return 0;
}

/* Loop-carried value j (node input 2+j) that is a sequence: PyTorch's
 * list appended in a loop (`xs.append(t)`) when it is empty on entry and
 * the body's only use of it is one SequenceInsert at its end, which gives
 * body output 1+j. It becomes a scan output instead: the body yields t,
 * the node's output [M, ...t], and a SplitToSequence (axis 0, keepdims 0)
 * inserted after the node gives back the sequence of M tensors, which
 * inference (sequence.c) rewrites into tensor ops. Returns 1 if done. */
static int seq_to_scan(Graph *g, int at, Graph *body, int j)
{
    Node *n = &g->nodes[at];
    const Value *init = &g->values[n->in[2 + j]];
    ValueId fin = body->inputs[2 + j], fout = body->outputs[1 + j];
    NodeId p = body->values[fout].producer;
    if (init->nelems != 0 || p < 0 || body->nodes[p].op != OP_SEQUENCEINSERT)
        return 0;
    Node *ins = &body->nodes[p];
    if (ins->in[0] != fin || (ins->nin > 2 && ins->in[2] != VNONE) || ins->in[1] == VNONE)
        return 0;
    graph_count_uses(body);
    if (body->values[fin].nuses != 1 || body->values[fout].nuses != 0 || body->values[fout].output != 1 + j)
        return 0;
    for (int i = 0; i < body->noutputs; i++)
        if (i != 1 + j && body->outputs[i] == fout)
            return 0;
    ValueId t = ins->in[1], seq = n->out[j];
    ins->dead = 1;
    /* body: formal input 2+j gone; outputs [cond, carried but j, scans, t] */
    memmove(&body->inputs[2 + j], &body->inputs[3 + j], sizeof(ValueId) * (size_t)(body->ninputs - 3 - j));
    body->ninputs--;
    memmove(&body->outputs[1 + j], &body->outputs[2 + j], sizeof(ValueId) * (size_t)(body->noutputs - 2 - j));
    body->outputs[body->noutputs - 1] = t;
    body->values[fout].output = -1;
    for (int i = 0; i < body->noutputs; i++)
        body->values[body->outputs[i]].output = i;
    /* node: input 2+j gone (captures move down one), output j gone, the
     * scan output last */
    memmove(&n->in[2 + j], &n->in[3 + j], sizeof(ValueId) * (size_t)(n->nin - 3 - j));
    n->nin--;
    for (int c = 0; c < body->ncaps; c++)
        body->values[body->caps[c]].capture--;
    ValueId scan = graph_add_fresh(g, arena_printf(g->arena, "%s_scanned", g->values[seq].name), VAL_NODE);
    n = &g->nodes[at];
    memmove(&n->out[j], &n->out[j + 1], sizeof(ValueId) * (size_t)(n->nout - 1 - j));
    n->out[n->nout - 1] = scan;
    g->values[scan].producer = at;
    NodeId q = graph_insert_node(g, at + 1, OP_SPLITTOSEQUENCE,
                                 arena_printf(g->arena, "%s_list_%d", g->nodes[at].name, j), 1, 1);
    Node *sp = &g->nodes[q];
    sp->opset = 11;
    sp->in[0] = scan;
    sp->out[0] = seq;
    g->values[seq].producer = q;
    sp->attr = arena_alloc(g->arena, sizeof(Attr) * 2);
    sp->attr[0] = (Attr){.name = "axis", .kind = ATTR_INT, .i = 0};
    sp->attr[1] = (Attr){.name = "keepdims", .kind = ATTR_INT, .i = 0};
    sp->nattr = 2;
    return 1;
}

/* Rewrites every loop-carried sequence seq_to_scan can; a Loop that still
 * takes a sequence is expanded into its iterations (expand_loop). */
static int loop_seqs(Graph *g, Node *n, Graph *body, Diag *d)
{
    int at = (int)(n - g->nodes);
    for (int i = 0; i < g->nodes[at].nin; i++) {
        n = &g->nodes[at];
        int nreal = n->nin - n->ncap;
        if (n->in[i] == VNONE || g->values[n->in[i]].kind != VAL_SEQ)
            continue;
        if (i >= 2 && i < nreal && body->ninputs == nreal && seq_to_scan(g, at, body, i - 2))
            i--; /* the next input moved here */
    }
    (void)d;
    return 0;
}

int infer_loop(Graph *g, Node *n, Diag *d)
{
    Graph *body = body_attr(g, n, "body", d);
    if (!body)
        return 1;
    int at = (int)(n - g->nodes);
    if (check_cond(g, n, 1, d))
        return 1;
    int64_t m;
    int cnt;
    if (!op_in(g, n, 0))
        return diag_node(d, g, n, "a Loop without a trip count (input M) is not supported: kiln needs the number "
                                  "of iterations at compile time");
    if (op_in(g, n, 0)->kind == VAL_SEQ)
        return diag_node(d, g, n, "input 0 ('%s', the trip count) must be a tensor, not a sequence or an optional",
                         op_in(g, n, 0)->name);
    if (op_const_ints(g, n, 0, &m, 1, &cnt, d))
        return 1;
    if (cnt != 1 || m < 0)
        return diag_node(d, g, n, "trip count M must be one value >= 0");
    if (m > ((int64_t)1 << 50))
        return diag_node(d, g, n, "trip count M is %lld: a while loop, ended only by its condition (PyTorch's "
                                  "`while`), is not supported: kiln runs a Loop for its M iterations",
                         (long long)m);
    /* a Loop taking a sequence: expanded into its iterations (the
     * elements may differ in shape); where its condition is not known at
     * compile time, a list its body appends to becomes a scan output
     * (loop_seqs); expand_loop refuses any other in one line */
    int seqs = 0;
    for (int i = 2; i < n->nin; i++)
        seqs |= op_in(g, n, i) && op_in(g, n, i)->kind == VAL_SEQ;
    if (seqs && m <= UNROLL_MAX && !can_expand(g, n, body)) {
        loop_seqs(g, n, body, d);
        n = &g->nodes[at];
        seqs = 0;
    }
    for (int i = 2; i < n->nin; i++)
        seqs |= op_in(g, n, i) && op_in(g, n, i)->kind == VAL_SEQ;
    if (seqs)
        return expand_loop(g, n, body, m, d);
    int nreal = n->nin - n->ncap, nstate = nreal > 2 ? nreal - 2 : 0;
    DType t[KILN_MAX_RANK + 64];
    Shape s[KILN_MAX_RANK + 64];
    if (nstate + 2 > (int)(sizeof t / sizeof t[0]))
        return diag_node(d, g, n, "more than %d loop-carried values are not supported", (int)(sizeof t / sizeof t[0]) - 2);
    t[0] = DT_I64;
    s[0] = (Shape){0};
    t[1] = DT_BOOL;
    s[1] = (Shape){0};
    for (int j = 0; j < nstate; j++) {
        const Value *v = op_in(g, n, 2 + j);
        if (!v)
            return diag_node(d, g, n, "loop-carried input %d is empty", 2 + j);
        t[2 + j] = v->dtype;
        s[2 + j] = v->shape;
    }
    /* a body that needs its iteration number at compile time (a Slice
     * at it) is expanded into its iterations, from a copy made before
     * inference touched it */
    Graph *copy = graph_clone(g->arena, body);
    Diag local = {.file = d->file};
    if (op_body_infer(g, n, body, "body", t, s, nstate + 2, &local)) {
        if (m > UNROLL_MAX || !needs_iteration(body))
            return diag_take(d, &local);
        g->need_const = VNONE;
        for (int i = 0; i < n->nattr; i++)
            if (n->attr[i].g == body)
                n->attr[i].g = copy;
        return expand_loop(g, n, copy, m, d);
    }
    int nscan = body->noutputs - 1 - nstate;
    if (nscan < 0 || n->nout != nstate + nscan)
        return diag_node(d, g, n, "body has %d outputs: expected the condition, %d carried values and the scan "
                                  "outputs, one per node output after them (%d)",
                         body->noutputs, nstate, n->nout);
    const Value *c = bout(body, 0);
    if (c->dtype != DT_BOOL || shape_numel(&c->shape) != 1)
        return diag_node(d, g, n, "body output 0 (the condition) must be one bool");
    for (int j = 0; j < nstate; j++) {
        const Value *x = bout(body, 1 + j);
        if (x->dtype != t[2 + j] || !shape_equal(&x->shape, &s[2 + j])) {
            char a[160], b[160];
            return diag_node(d, g, n,
                             "loop-carried value %d changes from %s %s to %s %s in the body: kiln needs static "
                             "shapes",
                             j, dtype_name(t[2 + j]), shape_str(&s[2 + j], a, sizeof a), dtype_name(x->dtype),
                             shape_str(&x->shape, b, sizeof b));
        }
        op_set_out(g, n, j, x->dtype, &x->shape);
    }
    if (nscan > 0) {
        /* the scan outputs have M rows only if every iteration runs */
        int known = 1, ok = !op_in(g, n, 1) || const_true(op_in(g, n, 1), &known);
        if (!known) {
            const void *data = op_const_data(g, n, 1); /* shapes hang on it: kiln check specializes */
            if (!data)
                return diag_node(d, g, n, "input 1 ('%s', the condition) must be known at compile time: the "
                                          "scan outputs' length hangs on it",
                                 op_in(g, n, 1)->name);
            ok = dtype_get_i(DT_BOOL, data, 0) != 0;
        }
        int body_known, body_true = const_true(c, &body_known);
        if (!ok || !(body_true || cond_passes(body)))
            return diag_node(d, g, n, "the loop may end before its M iterations, and its scan outputs would then "
                                      "be shorter: kiln needs static shapes (a condition that stays true)");
    }
    for (int k = 0; k < nscan; k++) {
        const Value *x = bout(body, 1 + nstate + k);
        if (x->shape.rank >= KILN_MAX_RANK)
            return diag_node(d, g, n, "scan output %d of rank %d: kiln's limit is %d", k, x->shape.rank + 1,
                             KILN_MAX_RANK);
        Shape o = {x->shape.rank + 1, {m}};
        for (int i = 0; i < x->shape.rank; i++)
            o.dim[i + 1] = x->shape.dim[i];
        op_set_out(g, n, nstate + k, x->dtype, &o);
    }
    return 0;
}

int lower_loop(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Diag d = lw_diag(L);
    Graph *body = body_attr(g, n, "body", &d);
    if (!body)
        return lw_error(L, n, "graph attribute 'body' is required");
    int nreal = n->nin - n->ncap, nstate = nreal > 2 ? nreal - 2 : 0, nscan = body->noutputs - 1 - nstate;
    const Value *mv = lw_in(L, n, 0);
    if (!mv || mv->kind != VAL_CONST)
        return lw_error(L, n, "trip count is not a constant (internal error: inference checked it)");
    int64_t m = dtype_get_i(mv->dtype, mv->data, 0);
    int *state = arena_alloc(a, sizeof(int) * (size_t)(nstate + 1));
    Shape scalar = {0};
    Expr *zero[KILN_MAX_RANK];
    for (int i = 0; i < KILN_MAX_RANK; i++)
        zero[i] = ke_idx(a, 0);
    for (int j = 0; j < nstate; j++) {
        const Value *x = lw_in(L, n, 2 + j);
        state[j] = lw_temp(L, "carried", x->dtype, &x->shape);
        copy_to_temp(L, n->in[2 + j], state[j]);
    }
    int iter = lw_temp(L, "iteration", DT_I64, &scalar), condb = lw_temp(L, "cond", DT_BOOL, &scalar);
    Expr *go0 = lw_in(L, n, 1) ? ke_cast(a, DT_BOOL, lw_load(L, n->in[1], zero)) : ke_int(a, DT_BOOL, 1);
    int go = kb_let(b, "go", go0);
    LwScope s;
    lw_scope(L, n, body, &s);
    Expr *it = kb_v(b, kb_for_k(b, "iter", m, IT_SERIAL));
    kb_if(b, kb_v(b, go));
    kb_store(b, iter, ke_idx(a, 0), ke_cast(a, DT_I64, it));
    kb_store(b, condb, ke_idx(a, 0), kb_v(b, go));
    lw_swap(L, &s);
    lw_bind(L, body->inputs[0], iter);
    lw_bind(L, body->inputs[1], condb);
    for (int j = 0; j < nstate; j++)
        lw_bind(L, body->inputs[2 + j], state[j]);
    if (lw_nodes(L))
        return 1;
    int next = kb_let(b, "next", ke_cast(a, DT_BOOL, lw_load(L, body->outputs[0], zero)));
    lw_swap(L, &s);
    for (int k = 0; k < nscan; k++)
        if (n->out[nstate + k] != VNONE)
            store_out(L, n, nstate + k, &s, body->outputs[1 + nstate + k], NULL, 0, it);
    lw_swap(L, &s);
    carry(L, body, 1, state, nstate);
    lw_swap(L, &s);
    kb_assign(b, go, kb_v(b, next));
    kb_end(b);
    kb_end(b);
    for (int j = 0; j < nstate; j++) {
        if (n->out[j] == VNONE)
            continue;
        const Shape sh = lw_out(L, n, j)->shape;
        Expr *c[KILN_MAX_RANK];
        lw_loops(L, &sh, "c", c);
        lw_store(L, n, j, c, lw_load_temp(L, state[j], c));
        lw_end_loops(L, &sh);
    }
    return 0;
}

/* ---------------------------------------------------------------- Scan */

typedef struct ScanInfo {
    int batch;             /* opset 8: inputs and outputs lead with a batch axis */
    int first;             /* index of the first state input (1 in opset 8) */
    int nstate, nin, nout; /* states, scan inputs, scan outputs */
    int64_t len;           /* sequence length */
    int64_t nbatch;
    int64_t in_axis[64], in_rev[64], out_axis[64], out_rev[64];
} ScanInfo;

static int scan_list(Graph *g, Node *n, const char *name, int64_t *out, int count, Diag *d)
{
    int k;
    for (int i = 0; i < count; i++)
        out[i] = 0;
    if (attr_ints(g, n, name, out, 64, &k, d))
        return 1;
    if (k >= 0 && k != count)
        return diag_node(d, g, n, "attribute %s has %d entries, expected %d", name, k, count);
    if (k < 0)
        for (int i = 0; i < count; i++)
            out[i] = 0;
    return 0;
}

static int scan_info(Graph *g, Node *n, Graph *body, ScanInfo *si, Diag *d)
{
    int64_t m;
    memset(si, 0, sizeof *si);
    si->batch = n->opset < 9;
    si->first = si->batch;
    int nreal = n->nin - n->ncap;
    if (attr_int(g, n, "num_scan_inputs", -1, &m, d))
        return 1;
    if (m < 1 || m > nreal - si->first || m > 64)
        return diag_node(d, g, n, "num_scan_inputs %lld must be in [1, %d]", (long long)m, nreal - si->first);
    si->nin = (int)m;
    si->nstate = nreal - si->first - si->nin;
    si->nout = n->nout - si->nstate;
    if (si->nout < 0 || si->nout > 64)
        return diag_node(d, g, n, "has %d outputs: expected the %d states, then the scan outputs", n->nout,
                         si->nstate);
    if (si->batch) {
        if (op_in(g, n, 0))
            return diag_node(d, g, n, "sequence_lens is not supported (leave input 0 empty: full sequences)");
        if (scan_list(g, n, "directions", si->in_rev, si->nin, d))
            return 1;
    } else if (scan_list(g, n, "scan_input_axes", si->in_axis, si->nin, d) ||
               scan_list(g, n, "scan_input_directions", si->in_rev, si->nin, d) ||
               scan_list(g, n, "scan_output_axes", si->out_axis, si->nout, d) ||
               scan_list(g, n, "scan_output_directions", si->out_rev, si->nout, d)) {
        return 1;
    }
    (void)body;
    for (int j = 0; j < si->nstate + si->nin; j++)
        if (!op_in(g, n, si->first + j))
            return diag_node(d, g, n, "input %d is empty", si->first + j);
    si->len = -1;
    for (int k = 0; k < si->nin; k++) {
        const Value *x = op_in(g, n, si->first + si->nstate + k);
        int r = x->shape.rank - si->batch, ax;
        if (r < 1)
            return diag_node(d, g, n, "scan input '%s' has no axis to scan", x->name);
        if (op_axis(g, n, si->in_axis[k], r, &ax, d))
            return 1;
        si->in_axis[k] = ax + si->batch;
        int64_t l = x->shape.dim[si->in_axis[k]];
        if (si->len >= 0 && l != si->len)
            return diag_node(d, g, n, "scan inputs have %lld and %lld steps", (long long)si->len, (long long)l);
        si->len = l;
        if (si->batch) {
            int64_t bn = x->shape.dim[0];
            if (k > 0 && bn != si->nbatch)
                return diag_node(d, g, n, "scan inputs have batch %lld and %lld", (long long)si->nbatch,
                                 (long long)bn);
            si->nbatch = bn;
        }
    }
    for (int j = 0; si->batch && j < si->nstate; j++) {
        const Value *x = op_in(g, n, si->first + j);
        if (x->shape.rank < 1 || x->shape.dim[0] != si->nbatch)
            return diag_node(d, g, n, "state '%s' must lead with the batch axis (%lld)", x->name,
                             (long long)si->nbatch);
    }
    return 0;
}

/* s without dimension `axis`. */
static Shape drop_axis(const Shape *s, int axis)
{
    Shape o = {s->rank - 1, {0}};
    for (int i = 0, k = 0; i < s->rank; i++)
        if (i != axis)
            o.dim[k++] = s->dim[i];
    return o;
}

int infer_scan(Graph *g, Node *n, Diag *d)
{
    Graph *body = body_attr(g, n, "body", d);
    ScanInfo si;
    if (!body || scan_info(g, n, body, &si, d))
        return 1;
    DType t[128];
    Shape s[128];
    for (int j = 0; j < si.nstate + si.nin; j++) {
        const Value *x = op_in(g, n, si.first + j);
        t[j] = x->dtype;
        s[j] = j < si.nstate ? (si.batch ? drop_axis(&x->shape, 0) : x->shape)
                             : drop_axis(&x->shape, (int)si.in_axis[j - si.nstate]);
        if (j >= si.nstate && si.batch)
            s[j] = drop_axis(&s[j], 0);
    }
    if (op_body_infer(g, n, body, "body", t, s, si.nstate + si.nin, d))
        return 1;
    if (body->noutputs != n->nout)
        return diag_node(d, g, n, "body has %d outputs, the node %d", body->noutputs, n->nout);
    for (int j = 0; j < si.nstate; j++) {
        const Value *x = bout(body, j);
        if (x->dtype != t[j] || !shape_equal(&x->shape, &s[j])) {
            char a[160], b[160];
            return diag_node(d, g, n, "state %d changes from %s %s to %s %s in the body: kiln needs static shapes",
                             j, dtype_name(t[j]), shape_str(&s[j], a, sizeof a), dtype_name(x->dtype),
                             shape_str(&x->shape, b, sizeof b));
        }
        op_set_out(g, n, j, x->dtype, &op_in(g, n, si.first + j)->shape);
    }
    for (int k = 0; k < si.nout; k++) {
        const Value *x = bout(body, si.nstate + k);
        int r = x->shape.rank + 1, ax;
        if (r + si.batch > KILN_MAX_RANK)
            return diag_node(d, g, n, "scan output %d of rank %d: kiln's limit is %d", k, r + si.batch,
                             KILN_MAX_RANK);
        if (op_axis(g, n, si.out_axis[k], r, &ax, d))
            return 1;
        Shape o = {r + si.batch, {0}};
        int q = 0;
        if (si.batch)
            o.dim[q++] = si.nbatch;
        for (int i = 0, src = 0; i < r; i++)
            o.dim[q++] = i == ax ? si.len : x->shape.dim[src++];
        op_set_out(g, n, si.nstate + k, x->dtype, &o);
    }
    return 0;
}

int lower_scan(Lower *L, Node *n)
{
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    Diag d = lw_diag(L);
    Graph *body = body_attr(g, n, "body", &d);
    ScanInfo si;
    if (!body || scan_info(g, n, body, &si, &d))
        return lw_error(L, n, "%s", d.nerrors ? "bad attributes" : "graph attribute 'body' is required");
    int nf = si.nstate + si.nin;
    int *fb = arena_alloc(a, sizeof(int) * (size_t)(nf + 1));
    for (int j = 0; j < nf; j++) {
        const Value *x = &body->values[body->inputs[j]];
        fb[j] = lw_temp(L, j < si.nstate ? "state" : "slice", x->dtype, &x->shape);
    }
    Expr *bv = si.batch ? kb_v(b, kb_for_k(b, "batch", si.nbatch, IT_SERIAL)) : NULL;
    /* states: the initial values (of this batch entry) */
    for (int j = 0; j < si.nstate; j++) {
        const Shape sh = body->values[body->inputs[j]].shape;
        Expr *c[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
        lw_loops(L, &sh, "c", c);
        int q = 0;
        if (bv)
            oc[q++] = bv;
        for (int i = 0; i < sh.rank; i++)
            oc[q++] = c[i];
        lw_store_temp(L, fb[j], c, lw_load(L, n->in[si.first + j], oc));
        lw_end_loops(L, &sh);
    }
    LwScope s;
    lw_scope(L, n, body, &s);
    Expr *t = kb_v(b, kb_for_k(b, "step", si.len, IT_SERIAL));
    Expr *rt = ke_bin(a, B_SUB, ke_idx(a, si.len - 1), t);
    for (int k = 0; k < si.nin; k++) {
        const Shape sh = body->values[body->inputs[si.nstate + k]].shape;
        Expr *c[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
        lw_loops(L, &sh, "c", c);
        int q = 0, ax = (int)si.in_axis[k];
        if (bv)
            oc[q++] = bv;
        for (int i = si.batch; i <= sh.rank + si.batch; i++) {
            if (i == ax)
                oc[q++] = si.in_rev[k] ? rt : t;
            if (i < sh.rank + si.batch)
                oc[q++] = c[i - si.batch];
        }
        lw_store_temp(L, fb[si.nstate + k], c, lw_load(L, n->in[si.first + si.nstate + k], oc));
        lw_end_loops(L, &sh);
    }
    lw_swap(L, &s);
    for (int j = 0; j < nf; j++)
        lw_bind(L, body->inputs[j], fb[j]);
    if (lw_nodes(L))
        return 1;
    lw_swap(L, &s);
    for (int k = 0; k < si.nout; k++) {
        if (n->out[si.nstate + k] == VNONE)
            continue;
        const Value *x = &body->values[body->outputs[si.nstate + k]];
        int ax;
        Diag dd = lw_diag(L);
        if (op_axis(g, n, si.out_axis[k], x->shape.rank + 1, &ax, &dd))
            return lw_error(L, n, "bad scan_output_axes");
        store_out(L, n, si.nstate + k, &s, body->outputs[si.nstate + k], si.out_rev[k] ? rt : t, ax, bv);
    }
    lw_swap(L, &s);
    carry(L, body, 0, fb, si.nstate);
    lw_swap(L, &s);
    kb_end(b);
    /* final states */
    for (int j = 0; j < si.nstate; j++) {
        if (n->out[j] == VNONE)
            continue;
        const Shape sh = body->values[body->inputs[j]].shape;
        Expr *c[KILN_MAX_RANK], *oc[KILN_MAX_RANK];
        lw_loops(L, &sh, "c", c);
        int q = 0;
        if (bv)
            oc[q++] = bv;
        for (int i = 0; i < sh.rank; i++)
            oc[q++] = c[i];
        lw_store(L, n, j, oc, lw_load_temp(L, fb[j], c));
        lw_end_loops(L, &sh);
    }
    if (bv)
        kb_end(b);
    return 0;
}
