/*
 * seq.c: sequences and optionals at the graph's edges, and the graph
 * edits the sequence ops (ops/sequence.c) rewrite themselves with.
 *
 * kiln compiles at static shapes, and a sequence's length and an
 * optional's presence are shapes in that sense: known at compile time
 * (from the ops that build them, and for graph inputs from the test data
 * kiln check binds), never decided at run time. A sequence is then only a
 * name for an ordered list of tensor values (Value.elems), and every
 * sequence op becomes plain tensors during inference: SequenceAt an
 * Identity of one element, SplitToSequence a Split, ConcatFromSequence a
 * Concat, SequenceLength a constant. At the edges, model_run takes and
 * gives tensors only: graph_seq_inputs and graph_seq_outputs turn each
 * sequence or optional input and output into its tensor slots (forms
 * IO_SEQ, IO_OPT, IO_NONE), which model.h's tables describe.
 */
#include "graph.h"
#include "../ops/op.h"

#include <string.h>

const char *graph_fresh_name(Graph *g, const char *base)
{
    const char *name = base;
    for (int k = 1; graph_find_value(g, name) != VNONE; k++)
        name = arena_printf(g->arena, "%s_%d", base, k);
    return name;
}

ValueId graph_add_fresh(Graph *g, const char *base, ValueKind kind)
{
    return graph_add_value(g, graph_fresh_name(g, base), kind);
}

void graph_set_seq(Graph *g, ValueId v, DType t, const ValueId *elems, int n)
{
    ValueId *copy = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(n + 1));
    if (n)
        memcpy(copy, elems, sizeof(ValueId) * (size_t)n);
    Value *x = &g->values[v];
    x->kind = VAL_SEQ;
    x->seq = 1;
    x->dtype = t;
    x->shape.rank = 0;
    x->typed = 1;
    x->producer = -1;
    x->elems = copy;
    x->nelems = n;
}

NodeId graph_insert_node(Graph *g, int at, OpKind op, const char *name, int nin, int nout)
{
    NodeId last = graph_add_node(g, op, name, nin, nout);
    Node n = g->nodes[last];
    memmove(&g->nodes[at + 1], &g->nodes[at], sizeof(Node) * (size_t)(last - at));
    g->nodes[at] = n;
    for (int v = 0; v < g->nvalues; v++)
        if (g->values[v].kind == VAL_NODE && g->values[v].producer >= at)
            g->values[v].producer++;
    return at;
}

/* A graph input slot that carries nothing (an absent optional, an empty
 * sequence): model_run's pointer for it must be NULL. */
static ValueId none_slot(Graph *g, const Value *of, int form)
{
    const char *name = arena_printf(g->arena, "%s[]", of->name);
    DType t = of->dtype;
    ValueId s = graph_add_fresh(g, name, VAL_INPUT);
    Value *v = &g->values[s];
    v->dtype = t;
    v->shape.rank = 1;
    v->shape.dim[0] = 0;
    v->io_form = form | IO_NONE;
    return s;
}

int graph_seq_inputs(Graph *g, const Tensor *known, int nknown, Diag *d)
{
    Arena *a = g->arena;
    int n = g->ninputs;
    g->model_inputs = arena_alloc(a, sizeof(ValueId) * (size_t)(n + 1));
    if (n)
        memcpy(g->model_inputs, g->inputs, sizeof(ValueId) * (size_t)n);
    g->nmodel_inputs = n;
    ValueId *slots = NULL;
    int nslots = 0, cap = 0, k = 0;
    for (int i = 0; i < n; i++) {
        ValueId id = g->model_inputs[i];
        int ks = k;
        while (k < nknown && known[k].group == i)
            k++;
        int kn = k - ks;
        int seq = g->values[id].seq, opt = g->values[id].opt, form = (seq ? IO_SEQ : 0) | (opt ? IO_OPT : 0);
        const char *name = g->values[id].name;
        for (int j = ks; j < k; j++)
            if ((known[j].form & (IO_SEQ | IO_OPT)) != form)
                return diag_error(d, "input %d '%s': the test data is a %s, the model declares a %s", i, name,
                                  known[j].form & IO_SEQ ? "sequence" : known[j].form & IO_OPT ? "optional" : "tensor",
                                  seq ? "sequence" : opt ? "optional" : "tensor");
        if (!seq && !opt) {
            g->values[id].io_group = i;
            *ARENA_PUSH(a, slots, nslots, cap) = id;
            continue;
        }
        if (seq && kn == 0)
            return diag_error(d, "input '%s' is a sequence: kiln compiles for its length and element shapes, "
                                 "which only test data gives (kiln check)", name);
        if (kn && (known[ks].form & IO_NONE)) {
            /* absent optional or empty sequence: one NULL slot */
            ValueId s = none_slot(g, &g->values[id], form);
            g->values[s].io_group = i;
            graph_set_seq(g, id, g->values[id].dtype, NULL, 0);
            g->values[id].seq = seq;
            g->values[id].absent = opt;
            *ARENA_PUSH(a, slots, nslots, cap) = s;
            continue;
        }
        if (!seq) {
            /* a present optional tensor: the tensor itself */
            g->values[id].io_group = i;
            g->values[id].io_form = form;
            *ARENA_PUSH(a, slots, nslots, cap) = id;
            continue;
        }
        ValueId *elems = arena_alloc(a, sizeof(ValueId) * (size_t)(kn + 1));
        for (int j = 0; j < kn; j++) {
            ValueId e = graph_add_fresh(g, arena_printf(a, "%s[%d]", name, j), VAL_INPUT);
            Value *ev = &g->values[e];
            const Value *sv = &g->values[id];
            /* each element has the sequence's declared element type */
            ev->dtype = sv->dtype;
            ev->shape = sv->shape;
            ev->sym = sv->sym;
            ev->io_group = i;
            ev->io_form = form;
            elems[j] = e;
            *ARENA_PUSH(a, slots, nslots, cap) = e;
        }
        graph_set_seq(g, id, g->values[id].dtype, elems, kn);
    }
    g->inputs = slots;
    g->ninputs = g->cap_inputs = nslots;
    return 0;
}

int graph_seq_outputs(Graph *g, Diag *d)
{
    Arena *a = g->arena;
    int n = g->noutputs;
    g->model_outputs = arena_alloc(a, sizeof(ValueId) * (size_t)(n + 1));
    if (n)
        memcpy(g->model_outputs, g->outputs, sizeof(ValueId) * (size_t)n);
    g->nmodel_outputs = n;
    ValueId *slots = NULL;
    int nslots = 0, cap = 0;
    for (int i = 0; i < n; i++) {
        ValueId id = g->model_outputs[i];
        g->values[id].output = -1;
    }
    for (int i = 0; i < n; i++) {
        ValueId id = g->model_outputs[i];
        const Value *v = &g->values[id];
        int decl = g->out_decl ? g->out_decl[i] : 0;
        int opt = v->opt || (decl & IO_OPT);
        if (v->kind != VAL_SEQ) {
            if (decl & IO_SEQ)
                return diag_error(d, "graph output '%s' is declared a sequence, but the model makes a tensor",
                                  v->name);
            g->values[id].out_group = i;
            g->values[id].out_form = opt ? IO_OPT : 0;
            g->values[id].output = nslots;
            *ARENA_PUSH(a, slots, nslots, cap) = id;
            continue;
        }
        if (v->absent || v->nelems == 0)
            return diag_error(d, "graph output '%s' is %s: kiln cannot return one yet", v->name,
                              v->absent ? "an absent optional" : "an empty sequence");
        int ne = v->nelems;
        const char *name = v->name;
        for (int j = 0; j < ne; j++) {
            ValueId e = g->values[id].elems[j];
            /* a fresh value per slot, so that two slots never share one
             * (a sequence may hold one tensor twice, or a graph input) */
            ValueId s = graph_add_fresh(g, arena_printf(a, "%s[%d]", name, j), VAL_NODE);
            NodeId c = graph_add_node(g, OP_IDENTITY, g->values[s].name, 1, 1);
            Node *cn = &g->nodes[c];
            cn->opset = g->opset;
            cn->in[0] = e;
            cn->out[0] = s;
            Value *sv = &g->values[s];
            sv->producer = c;
            sv->dtype = g->values[e].dtype;
            sv->shape = g->values[e].shape;
            sv->typed = 1;
            sv->out_group = i;
            sv->out_form = IO_SEQ | (opt ? IO_OPT : 0);
            sv->output = nslots;
            *ARENA_PUSH(a, slots, nslots, cap) = s;
        }
    }
    g->outputs = slots;
    g->noutputs = g->cap_outputs = nslots;
    return 0;
}
