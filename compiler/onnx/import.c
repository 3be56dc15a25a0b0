/*
 * import.c: ONNX ModelProto -> Graph IR.
 *
 * The model is unpacked by protobuf-c, copied into a Graph allocated in the
 * caller's arena, and freed: nothing downstream sees protobuf types. Import
 * resolves every name to a ValueId, checks each node's arity against the op
 * table, converts attributes, sorts the nodes topologically (ONNX requires
 * sorted graphs; a cycle or an input nobody produces is an error here, not a
 * crash later), and records the opset each node was written against.
 */
#include "pb.h"
#include "../ops/op.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Largest count (of nodes, node inputs, list attribute elements, ...) kiln
 * takes from a protobuf: its arrays are indexed by int. */
enum { IMPORT_MAX_COUNT = INT_MAX / 2 };

/* ------------------------------------------------------------ name table */

/* Open-addressing map from value name to ValueId. */
typedef struct Names {
    const char **key;
    ValueId *id;
    size_t cap;  /* power of two */
    size_t n;
    Arena *a;    /* for growing (a subgraph's captures add names) */
} Names;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static void names_init(Arena *a, Names *m, size_t want)
{
    m->cap = 64;
    while (m->cap < want * 2)
        m->cap *= 2;
    m->key = arena_alloc(a, m->cap * sizeof *m->key);
    m->id = arena_alloc(a, m->cap * sizeof *m->id);
    m->n = 0;
    m->a = a;
}

static ValueId names_get(const Names *m, const char *name)
{
    for (size_t i = hash(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->key[i])
            return VNONE;
        if (!strcmp(m->key[i], name))
            return m->id[i];
    }
}

static void names_put(Names *m, const char *name, ValueId id)
{
    if ((m->n + 1) * 2 > m->cap) {
        Names big;
        names_init(m->a, &big, m->n + 1);
        for (size_t k = 0; k < m->cap; k++)
            if (m->key[k])
                names_put(&big, m->key[k], m->id[k]);
        *m = big;
    }
    size_t i = hash(name) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], name))
        i = (i + 1) & (m->cap - 1);
    if (!m->key[i])
        m->n++;
    m->key[i] = name;
    m->id[i] = id;
}

/* ------------------------------------------------------------ scopes */

/* The names a graph being imported can see: its own, then (a subgraph)
 * those of the graphs around it. A name found only outside becomes a
 * captured value of the subgraph (Graph.caps), which the enclosing node
 * then takes as an extra input. */
typedef struct Scope {
    Graph *g;
    Names *names;
    struct Scope *up;  /* enclosing graph's scope, NULL for the model's graph */
} Scope;

static ValueId scope_resolve(Scope *s, const char *name)
{
    ValueId v = names_get(s->names, name);
    if (v != VNONE || !s->up)
        return v;
    ValueId outer = scope_resolve(s->up, name);
    if (outer == VNONE)
        return VNONE;
    Graph *g = s->g;
    v = graph_add_value(g, name, VAL_INPUT);
    *ARENA_PUSH(g->arena, g->caps, g->ncaps, g->cap_caps) = v;
    int n = g->ncaps - 1, cap = g->cap_cap_from;
    *ARENA_PUSH(g->arena, g->cap_from, n, cap) = outer;
    g->cap_cap_from = cap;
    names_put(s->names, g->values[v].name, v);
    return v;
}

static int import_graph(Graph *g, const Onnx__ModelProto *m, const Onnx__GraphProto *gp, const char *dir,
                        int lenient, Scope *up, ImportResult *res, Diag *d);
static const Onnx__TypeProto *unwrap_type(const Onnx__TypeProto *tp, int *seq, int *opt);

/* ------------------------------------------------------------ attributes */

static int import_attr(Graph *g, const Onnx__ModelProto *m, Scope *sc, int lenient, ImportResult *res,
                       const Onnx__AttributeProto *ap, const char *dir, const char *node, const char *op, Attr *out,
                       Diag *d)
{
    Arena *a = g->arena;
    Attr at = {0};
    at.name = arena_strdup(a, ap->name ? ap->name : "");
    if (ap->ref_attr_name)
        return diag_error(d, "node '%s' (%s): attribute '%s' refers to a function attribute", node, op,
                          at.name);
    if (ap->n_floats > IMPORT_MAX_COUNT || ap->n_ints > IMPORT_MAX_COUNT || ap->n_strings > IMPORT_MAX_COUNT)
        return diag_error(d, "node '%s' (%s): attribute '%s' has more than %d elements", node, op, at.name,
                          IMPORT_MAX_COUNT);
    at.kind = ap->has_type ? (AttrKind)ap->type : ATTR_UNDEF;
    if (at.kind == ATTR_UNDEF) {
        /* IR version 1 models omit the type: take it from the field set. */
        if (ap->n_floats) at.kind = ATTR_FLOATS;
        else if (ap->n_ints) at.kind = ATTR_INTS;
        else if (ap->n_strings) at.kind = ATTR_STRINGS;
        else if (ap->t) at.kind = ATTR_TENSOR;
        else if (ap->g) at.kind = ATTR_GRAPH;
        else if (ap->has_s) at.kind = ATTR_STRING;
        else if (ap->has_i) at.kind = ATTR_INT;
        else if (ap->has_f) at.kind = ATTR_FLOAT;
    }
    switch (at.kind) {
    case ATTR_FLOAT: at.f = ap->f; break;
    case ATTR_INT: at.i = ap->i; break;
    case ATTR_STRING: {
        char *s = arena_alloc(a, ap->s.len + 1);
        if (ap->s.len)
            memcpy(s, ap->s.data, ap->s.len);
        at.s = s;
        break;
    }
    case ATTR_FLOATS:
        at.n = (int)ap->n_floats;
        at.floats = arena_alloc(a, sizeof(double) * (size_t)(at.n + 1));
        for (int i = 0; i < at.n; i++)
            at.floats[i] = ap->floats[i];
        break;
    case ATTR_INTS:
        at.n = (int)ap->n_ints;
        at.ints = arena_alloc(a, sizeof(int64_t) * (size_t)(at.n + 1));
        for (int i = 0; i < at.n; i++)
            at.ints[i] = ap->ints[i];
        break;
    case ATTR_STRINGS:
        at.n = (int)ap->n_strings;
        at.strings = arena_alloc(a, sizeof(char *) * (size_t)(at.n + 1));
        for (int i = 0; i < at.n; i++) {
            char *s = arena_alloc(a, ap->strings[i].len + 1);
            if (ap->strings[i].len)
                memcpy(s, ap->strings[i].data, ap->strings[i].len);
            at.strings[i] = s;
        }
        break;
    case ATTR_TENSOR: {
        if (!ap->t)
            return diag_error(d, "node '%s' (%s): tensor attribute '%s' has no tensor", node, op, at.name);
        at.t = arena_alloc(a, sizeof *at.t);
        const char *what = arena_printf(a, "%s.%s", node, at.name);
        Diag local = {.file = d->file};
        if (pb_tensor(a, ap->t, dir, what, at.t, &local))
            return diag_take(d, &local);
        break;
    }
    case ATTR_GRAPH: {
        if (!ap->g)
            return diag_error(d, "node '%s' (%s): graph attribute '%s' has no graph", node, op, at.name);
        at.g = graph_new(a, g->file);
        at.g->opset = g->opset;
        at.g->is_body = 1;
        if (import_graph(at.g, m, ap->g, dir, lenient, sc, res, d))
            return 1;
        break;
    }
    case ATTR_TYPE_PROTO: {
        const Onnx__TypeProto *tp = unwrap_type(ap->tp, &at.tseq, &at.topt);
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type->has_elem_type ||
            !dtype_known(tp->tensor_type->elem_type))
            return diag_error(d, "node '%s' (%s): type attribute '%s' is not a tensor type, a sequence or an optional "
                                 "of one with a known element type", node, op, at.name);
        at.tdtype = (DType)tp->tensor_type->elem_type;
        break;
    }
    default:
        return diag_error(d, "node '%s' (%s): attribute '%s' of kind %d (graph lists, sparse tensors, type proto lists) is not supported",
                          node, op, at.name, (int)at.kind);
    }
    *out = at;
    return 0;
}

/* ------------------------------------------------------------ the import */

typedef struct Pending {
    const Onnx__NodeProto *np;
    int op;            /* OpKind, or OP_COUNT for an unsupported op */
    const char *name;  /* node name (synthesized when empty) */
    const char *op_type; /* as written in the model ("" when absent) */
    int opset;
    ValueId *in;       /* [n_input], resolved */
    ValueId *out;      /* [n_output] */
    int nin;           /* inputs as listed, trailing empty names dropped */
    int ncap;          /* values its subgraphs capture: extra inputs after them */
    Attr *attr;        /* [n_attribute], imported before sorting */
    int indeg;         /* inputs produced by nodes not yet placed */
    int placed;
} Pending;

static int domain_opset(const Onnx__ModelProto *m, const char *domain)
{
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *dom = m->opset_import[i]->domain ? m->opset_import[i]->domain : "";
        if (!strcmp(dom, "ai.onnx"))
            dom = "";
        if (!strcmp(dom, domain))
            return (int)m->opset_import[i]->version;
    }
    return 0;
}

static const char *op_label(Arena *a, const char *domain, const char *op)
{
    return *domain ? arena_printf(a, "%s:%s", domain, op) : arena_strdup(a, op);
}

/* The tensor type inside an optional, a sequence, or an optional sequence;
 * *seq and *opt say which wrapped it. NULL when there is none. */
static const Onnx__TypeProto *unwrap_type(const Onnx__TypeProto *tp, int *seq, int *opt)
{
    *seq = *opt = 0;
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
        *opt = 1;
        tp = tp->optional_type ? tp->optional_type->elem_type : NULL;
    }
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
        *seq = 1;
        tp = tp->sequence_type ? tp->sequence_type->elem_type : NULL;
    }
    return tp;
}

/* Type of a graph input from its ValueInfoProto: dtype, rank, dims; symbolic
 * and unknown dims are kept as names in v->sym for graph_bind. */
static int import_input_type(Graph *g, Value *v, const Onnx__ValueInfoProto *vi, Diag *d)
{
    const Onnx__TypeProto *tp = unwrap_type(vi->type, &v->seq, &v->opt);
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return diag_error(d, "graph input '%s': only tensors, sequences of tensors and optionals of those are "
                             "supported (maps, sparse tensors and nested sequences are not)",
                          v->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (!tt->has_elem_type || !dtype_known(tt->elem_type) || tt->elem_type == DT_UNDEF ||
        tt->elem_type == DT_INDEX)
        return diag_error(d, "graph input '%s': unsupported element type %d", v->name, (int)tt->elem_type);
    v->dtype = (DType)tt->elem_type;
    if (!tt->shape) {
        v->shape.rank = -1; /* unknown rank: must come from --shape or test data */
        return 0;
    }
    if (tt->shape->n_dim > KILN_MAX_RANK)
        return diag_error(d, "graph input '%s': rank %zu exceeds kiln's limit of %d", v->name,
                          tt->shape->n_dim, KILN_MAX_RANK);
    v->shape.rank = (int)tt->shape->n_dim;
    v->sym = arena_alloc(g->arena, sizeof(char *) * KILN_MAX_RANK);
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
        /* a negative dim_value is "unknown" to some exporters: like a
         * missing one, it must be bound (graph_bind checks the result) */
        if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dm->dim_value >= 0)
            v->shape.dim[i] = dm->dim_value;
        else if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dm->dim_param &&
                 *dm->dim_param)
            v->sym[i] = arena_strdup(g->arena, dm->dim_param);
        else
            v->sym[i] = "?";
    }
    return 0;
}

/* The shape a graph output's ValueInfoProto declares, when it is a tensor
 * of known rank: dims it leaves open are -1. Only ops whose output extent
 * depends on the data read it (strings.c); everything else infers. */
static void import_declared(Graph *g, Value *v, const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type->shape ||
        tp->tensor_type->shape->n_dim > KILN_MAX_RANK)
        return;
    const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
    (void)g;
    v->has_declared = 1;
    v->declared.rank = (int)sp->n_dim;
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dm = sp->dim[i];
        v->declared.dim[i] =
            dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dm->dim_value >= 0 ? dm->dim_value
                                                                                                          : -1;
    }
}

static int import_graph(Graph *g, const Onnx__ModelProto *m, const Onnx__GraphProto *gp, const char *dir,
                        int lenient, Scope *up, ImportResult *res, Diag *d)
{
    Arena *a = g->arena;
    Names names;
    Scope scope = {g, &names, up};
    if (gp->n_node > IMPORT_MAX_COUNT || gp->n_initializer > IMPORT_MAX_COUNT || gp->n_input > IMPORT_MAX_COUNT ||
        gp->n_output > IMPORT_MAX_COUNT)
        return diag_error(d, "the graph has more than %d nodes, initializers, inputs or outputs", IMPORT_MAX_COUNT);
    size_t nvals = gp->n_initializer + gp->n_input;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (np->n_input > IMPORT_MAX_COUNT || np->n_output > IMPORT_MAX_COUNT || np->n_attribute > IMPORT_MAX_COUNT)
            return diag_error(d, "node %zu has more than %d inputs, outputs or attributes", i, IMPORT_MAX_COUNT);
        nvals += np->n_output;
        if (nvals > IMPORT_MAX_COUNT)
            return diag_error(d, "the graph has more than %d values", IMPORT_MAX_COUNT);
    }
    names_init(a, &names, nvals);
    g->name = arena_strdup(a, gp->name ? gp->name : "");
    if (gp->n_sparse_initializer)
        return diag_error(d, "sparse initializers are not supported");

    /* Initializers are constants. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (!*name)
            return diag_error(d, "initializer %zu has no name", i);
        if (names_get(&names, name) != VNONE)
            return diag_error(d, "initializer '%s' is defined twice", name);
        Tensor t;
        if (pb_tensor(a, tp, dir, name, &t, d))
            return 1;
        names_put(&names, arena_strdup(a, name), graph_add_const(g, name, t.dtype, &t.shape, t.data));
    }
    /* Graph inputs that are not initializers are the runtime inputs. */
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = vi->name ? vi->name : "";
        if (!*name)
            return diag_error(d, "graph input %zu has no name", i);
        ValueId old = names_get(&names, name);
        if (old != VNONE) {
            if (g->values[old].kind == VAL_CONST)
                continue; /* an initializer's default; kiln treats it as constant */
            return diag_error(d, "graph input '%s' is listed twice", name);
        }
        ValueId v = graph_add_value(g, name, VAL_INPUT);
        /* a subgraph's formal inputs are typed by the node that runs it */
        if (!up && import_input_type(g, &g->values[v], vi, d))
            return 1;
        *ARENA_PUSH(a, g->inputs, g->ninputs, g->cap_inputs) = v;
        names_put(&names, g->values[v].name, v);
    }

    /* Nodes: outputs first (so inputs can name any node), then attributes. */
    size_t nn = gp->n_node;
    Pending *pend = arena_alloc(a, sizeof *pend * (nn + 1));
    for (size_t i = 0; i < nn; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        Pending *p = &pend[i];
        const char *domain = np->domain ? np->domain : "";
        if (!strcmp(domain, "ai.onnx"))
            domain = "";
        const char *op_type = np->op_type ? np->op_type : "";
        p->np = np;
        p->op_type = op_type;
        p->name = np->name && *np->name ? arena_strdup(a, np->name)
                                        : arena_printf(a, "%s_%zu", *op_type ? op_type : "node", i);
        p->opset = domain_opset(m, domain);
        int op = op_lookup(domain, op_type);
        p->op = op < 0 ? OP_COUNT : op;
        if (op < 0) {
            if (!lenient)
                return diag_error(d, "node '%s' (%s): unsupported op '%s'%s%s (opset %d)", p->name,
                                  op_type, op_type, *domain ? " of domain " : "", domain, p->opset);
            Unsupported *u = ARENA_PUSH(a, res->unsupported, res->nunsupported, res->cap_unsupported);
            u->node = p->name;
            u->op = op_label(a, domain, op_type);
            u->opset = p->opset;
        } else {
            const OpInfo *oi = &optab[op];
            int nin = (int)np->n_input, nout = (int)np->n_output;
            while (nin > 0 && !*np->input[nin - 1])
                nin--; /* trailing empty names are absent optionals */
            if (nin < oi->min_in || (oi->max_in >= 0 && nin > oi->max_in))
                return diag_error(d, "node '%s' (%s): has %d inputs, expected %d to %d", p->name, op_type,
                                  nin, oi->min_in, oi->max_in);
            if (nout < oi->min_out || (oi->max_out >= 0 && nout > oi->max_out))
                return diag_error(d, "node '%s' (%s): has %d outputs, expected %d to %d", p->name, op_type,
                                  nout, oi->min_out, oi->max_out);
        }
        p->out = arena_alloc(a, sizeof(ValueId) * (np->n_output + 1));
        for (size_t j = 0; j < np->n_output; j++) {
            const char *name = np->output[j];
            if (!*name) {
                p->out[j] = VNONE;
                continue;
            }
            if (names_get(&names, name) != VNONE)
                return diag_error(d, "node '%s' (%s): output '%s' is already defined", p->name, op_type, name);
            p->out[j] = graph_add_value(g, name, VAL_NODE);
            names_put(&names, g->values[p->out[j]].name, p->out[j]);
        }
    }

    /* Resolve inputs (in a subgraph, a name of an enclosing graph becomes
     * a capture); import attributes, subgraphs included, whose captures
     * become extra inputs of the node. */
    for (size_t i = 0; i < nn; i++) {
        Pending *p = &pend[i];
        const Onnx__NodeProto *np = p->np;
        p->nin = (int)np->n_input;
        while (p->nin > 0 && !*np->input[p->nin - 1])
            p->nin--;
        int ncap = 0;
        if (p->op != OP_COUNT) {
            p->attr = arena_alloc(a, sizeof(Attr) * (np->n_attribute + 1));
            for (size_t j = 0; j < np->n_attribute; j++) {
                if (import_attr(g, m, &scope, lenient, res, np->attribute[j], dir, p->name, p->op_type,
                                &p->attr[j], d))
                    return 1;
                if (p->attr[j].g)
                    ncap += p->attr[j].g->ncaps;
            }
        }
        p->in = arena_alloc(a, sizeof(ValueId) * ((size_t)p->nin + (size_t)ncap + 1));
        for (int j = 0; j < p->nin; j++) {
            p->in[j] = VNONE;
            if (!*np->input[j])
                continue;
            ValueId v = scope_resolve(&scope, np->input[j]);
            if (v == VNONE)
                return diag_error(d, "node '%s' (%s): input '%s' is not produced by any node, graph input or initializer",
                                  p->name, p->op_type, np->input[j]);
            p->in[j] = v;
        }
        /* each captured value once, after the listed inputs */
        for (size_t j = 0; p->op != OP_COUNT && j < np->n_attribute; j++) {
            Graph *body = p->attr[j].g;
            for (int c = 0; body && c < body->ncaps; c++) {
                ValueId v = body->cap_from[c];
                int k = 0;
                while (k < p->ncap && p->in[p->nin + k] != v)
                    k++;
                if (k == p->ncap)
                    p->in[p->nin + p->ncap++] = v;
                body->values[body->caps[c]].capture = p->nin + k;
            }
        }
    }
    /* Count, per node, the inputs other nodes produce. */
    int *producer = arena_alloc(a, sizeof(int) * (size_t)(g->nvalues + 1));
    int *nusers = arena_alloc(a, sizeof(int) * (size_t)(g->nvalues + 1));
    for (int v = 0; v < g->nvalues; v++)
        producer[v] = -1;
    for (size_t i = 0; i < nn; i++)
        for (size_t j = 0; j < pend[i].np->n_output; j++)
            if (pend[i].out[j] != VNONE)
                producer[pend[i].out[j]] = (int)i;
    for (size_t i = 0; i < nn; i++)
        for (int j = 0; j < pend[i].nin + pend[i].ncap; j++) {
            ValueId v = pend[i].in[j];
            if (v != VNONE && producer[v] >= 0) {
                pend[i].indeg++;
                nusers[v]++;
            }
        }
    /* users[v]: the pending nodes reading value v (CSR). */
    int *ustart = arena_alloc(a, sizeof(int) * (size_t)(g->nvalues + 2));
    for (int v = 0; v < g->nvalues; v++)
        ustart[v + 1] = ustart[v] + nusers[v];
    int *users = arena_alloc(a, sizeof(int) * (size_t)(ustart[g->nvalues] + 1));
    for (int v = 0; v < g->nvalues; v++)
        nusers[v] = 0;
    for (size_t i = 0; i < nn; i++)
        for (int j = 0; j < pend[i].nin + pend[i].ncap; j++) {
            ValueId v = pend[i].in[j];
            if (v != VNONE && producer[v] >= 0)
                users[ustart[v] + nusers[v]++] = (int)i;
        }

    /* Kahn's algorithm, stable: always place the earliest ready node, so an
     * already sorted graph keeps its order. */
    size_t scan = 0;
    for (size_t placed = 0; placed < nn;) {
        while (scan < nn && (pend[scan].placed || pend[scan].indeg))
            scan++;
        if (scan == nn) {
            size_t i = 0;
            while (pend[i].placed)
                i++;
            return diag_error(d, "node '%s' (%s): the graph has a cycle through this node", pend[i].name,
                              pend[i].op_type);
        }
        size_t i = scan;
        Pending *p = &pend[i];
        const Onnx__NodeProto *np = p->np;
        p->placed = 1;
        placed++;
        int nin = p->nin + p->ncap;
        NodeId id = graph_add_node(g, (OpKind)p->op, p->name, nin, (int)np->n_output);
        Node *n = &g->nodes[id];
        n->op_type = arena_strdup(a, p->op_type);
        n->opset = p->opset;
        n->ncap = p->ncap;
        for (int j = 0; j < nin; j++)
            n->in[j] = p->in[j];
        for (size_t j = 0; j < np->n_output; j++) {
            n->out[j] = p->out[j];
            if (p->out[j] != VNONE)
                g->values[p->out[j]].producer = id;
        }
        if (p->op != OP_COUNT) {
            n->nattr = (int)np->n_attribute;
            n->attr = p->attr;
        }
        /* Release the nodes waiting on this one's outputs. */
        for (size_t j = 0; j < np->n_output; j++) {
            ValueId v = p->out[j];
            if (v == VNONE)
                continue;
            for (int u = ustart[v]; u < ustart[v + 1]; u++)
                if (--pend[users[u]].indeg == 0 && (size_t)users[u] < scan)
                    scan = (size_t)users[u];
        }
    }

    g->out_decl = arena_alloc(a, sizeof(int) * (gp->n_output + 1));
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        ValueId v = names_get(&names, name);
        if (v == VNONE)
            return diag_error(d, "graph output '%s' is not produced by any node, input or initializer", name);
        if (g->values[v].output >= 0)
            return diag_error(d, "graph output '%s' is listed twice", name);
        g->values[v].output = g->noutputs;
        import_declared(g, &g->values[v], gp->output[i]);
        *ARENA_PUSH(a, g->outputs, g->noutputs, g->cap_outputs) = v;
        int seq, opt;
        unwrap_type(gp->output[i]->type, &seq, &opt);
        g->out_decl[i] = (seq ? IO_SEQ : 0) | (opt ? IO_OPT : 0);
    }
    if (g->noutputs == 0)
        return diag_error(d, "%s has no outputs", up ? arena_printf(a, "subgraph '%s'", g->name) : "the graph");
    return 0;
}

int onnx_import(Arena *a, const char *path, int lenient, ImportResult *out, Diag *d)
{
    memset(out, 0, sizeof *out);
    const char *err = NULL;
    size_t size = 0;
    unsigned char *buf = read_file(a, path, &size, &err);
    if (!buf)
        return diag_error(d, "cannot read: %s", err);
    if (size == 0)
        return diag_error(d, "empty file, not an ONNX model");
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, buf);
    if (!m)
        return diag_error(d, "not an ONNX model (the protobuf does not parse: truncated or another format)");
    int rc = 0;
    if (!m->graph || (!m->has_ir_version && m->n_opset_import == 0))
        rc = diag_error(d, "not an ONNX model (no graph or IR version)");
    else if (m->n_functions)
        rc = diag_error(d, "model-local functions are not supported");
    if (!rc) {
        /* external data paths are relative to the model's folder */
        const char *slash = strrchr(path, '/');
        const char *dir = !slash ? "." : slash == path ? "/" : arena_printf(a, "%.*s", (int)(slash - path), path);
        Graph *g = graph_new(a, path);
        g->opset = domain_opset(m, "");
        if (g->opset == 0 && m->n_opset_import == 0)
            g->opset = 1; /* IR version 2 models without opset imports */
        rc = import_graph(g, m, m->graph, dir, lenient, NULL, out, d);
        out->graph = g;
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}
