/*
 * graph.c: building, querying and printing the Graph IR.
 *
 * The dump (--dump graph) is stable text meant for golden tests and for
 * reading: one line per value that is not produced by a node, one line per
 * node, in topological order:
 *
 *   input %v0 'x' f32[1x3x8x8]
 *   const %v1 'w' f32[4x3x3x3]
 *   %v3 'y' f32[1x4x8x8] = Conv(%v0, %v1, %v2) 'conv1' {pads=[1,1,1,1]} g0
 *   output %v3 'y'
 */
#include "graph.h"
#include "../ops/op.h"

#include <stdio.h>
#include <string.h>

Graph *graph_new(Arena *a, const char *file)
{
    Graph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->file = arena_strdup(a, file ? file : "");
    g->name = "";
    g->need_const = VNONE;
    return g;
}

ValueId graph_add_value(Graph *g, const char *name, ValueKind kind)
{
    ValueId id = g->nvalues;
    Value *v = ARENA_PUSH(g->arena, g->values, g->nvalues, g->cap_values);
    v->name = arena_strdup(g->arena, name ? name : "");
    v->kind = kind;
    v->producer = -1;
    v->output = -1;
    v->capture = -1;
    return id;
}

ValueId graph_add_const(Graph *g, const char *name, DType t, const Shape *s, const void *data)
{
    ValueId id = graph_add_value(g, name, VAL_CONST);
    Value *v = &g->values[id];
    v->dtype = t;
    v->shape = *s;
    v->typed = 1;
    size_t bytes = (size_t)dtype_bytes(t, shape_numel(s));
    v->data = arena_alloc(g->arena, bytes ? bytes : 1);
    if (data && bytes)
        memcpy(v->data, data, bytes);
    return id;
}

NodeId graph_add_node(Graph *g, OpKind op, const char *name, int nin, int nout)
{
    NodeId id = g->nnodes;
    Node *n = ARENA_PUSH(g->arena, g->nodes, g->nnodes, g->cap_nodes);
    n->op = op;
    n->op_type = op < OP_COUNT ? optab[op].name : "?";
    n->name = arena_strdup(g->arena, name ? name : "");
    n->nin = nin;
    n->nout = nout;
    n->in = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(nin + 1));
    n->out = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(nout + 1));
    for (int i = 0; i < nin; i++)
        n->in[i] = VNONE;
    for (int i = 0; i < nout; i++)
        n->out[i] = VNONE;
    n->group = -1;
    return id;
}

ValueId graph_find_value(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nvalues; i++)
        if (!strcmp(g->values[i].name, name))
            return i;
    return VNONE;
}

void graph_count_uses(Graph *g)
{
    for (int i = 0; i < g->nvalues; i++)
        g->values[i].nuses = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] != VNONE)
                g->values[n->in[j]].nuses++;
    }
}

void graph_replace_uses(Graph *g, ValueId from, ValueId to)
{
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] == from)
                n->in[j] = to;
    }
}

const Attr *node_attr(const Node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name))
            return &n->attr[i];
    return NULL;
}

int diag_node(Diag *d, const Graph *g, const Node *n, const char *fmt, ...)
{
    (void)g;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return diag_error(d, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

/* ------------------------------------------------------------------ dump */

static void dump_type(FILE *f, const Value *v)
{
    char buf[160];
    if (!v->typed) {
        fputs(" ?", f);
        return;
    }
    fprintf(f, " %s[%s]", dtype_name(v->dtype), v->shape.rank ? shape_str(&v->shape, buf, sizeof buf) : "");
    if (v->permuted) {
        fputs(" stored(", f);
        for (int i = 0; i < v->shape.rank; i++)
            fprintf(f, "%s%d", i ? "," : "", v->perm[i]);
        fputc(')', f);
    }
    if (v->dynamic)
        fprintf(f, " dyn(%d)", v->dyn_axis);
    if (v->haloed) {
        fputs(" halo(", f);
        for (int i = 0; i < v->shape.rank; i++)
            fprintf(f, "%s%lld", i ? "," : "", (long long)v->halo[i]);
        fputc(')', f);
    }
}

/* Small constants print their values, so golden files show folding. */
static void dump_data(FILE *f, const Value *v)
{
    int64_t n = shape_numel(&v->shape);
    if (!v->data || n > 8 || !(dtype_is_computable(v->dtype) || dtype_is_packed(v->dtype)))
        return;
    fputs(" = [", f);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        if (dtype_is_float(v->dtype) || dtype_packed_float(v->dtype))
            fprintf(f, "%.9g", dtype_get_f(v->dtype, v->data, i));
        else
            fprintf(f, "%lld", (long long)dtype_get_i(v->dtype, v->data, i));
    }
    fputs("]", f);
}

static void dump_attr(FILE *f, const Attr *a)
{
    fprintf(f, "%s=", a->name);
    switch (a->kind) {
    case ATTR_FLOAT: fprintf(f, "%.9g", a->f); break;
    case ATTR_INT: fprintf(f, "%lld", (long long)a->i); break;
    case ATTR_STRING: fprintf(f, "\"%s\"", a->s); break;
    case ATTR_FLOATS:
    case ATTR_INTS:
    case ATTR_STRINGS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++) {
            if (i)
                fputc(',', f);
            if (a->kind == ATTR_FLOATS)
                fprintf(f, "%.9g", a->floats[i]);
            else if (a->kind == ATTR_INTS)
                fprintf(f, "%lld", (long long)a->ints[i]);
            else
                fprintf(f, "\"%s\"", a->strings[i]);
        }
        fputc(']', f);
        break;
    case ATTR_TENSOR: {
        char buf[160];
        fprintf(f, "tensor %s[%s]", dtype_name(a->t->dtype), shape_str(&a->t->shape, buf, sizeof buf));
        break;
    }
    case ATTR_GRAPH: fprintf(f, "graph '%s'", a->g->name); break;
    case ATTR_TYPE_PROTO:
        fprintf(f, "type %s%s%s%s%s", a->topt ? "optional(" : "", a->tseq ? "seq(" : "", dtype_name(a->tdtype),
                a->tseq ? ")" : "", a->topt ? ")" : "");
        break;
    default: fputs("?", f); break;
    }
}

static void dump_in(const Graph *g, FILE *f, int depth)
{
    fprintf(f, "%*sgraph '%s' opset %d\n", 4 * depth, "", g->name, g->opset);
    for (int i = 0; i < g->ninputs; i++) {
        const Value *v = &g->values[g->inputs[i]];
        fprintf(f, "%*sinput %%v%d '%s'", 4 * depth, "", g->inputs[i], v->name);
        dump_type(f, v);
        fputc('\n', f);
    }
    for (int i = 0; i < g->ncaps; i++) {
        const Value *v = &g->values[g->caps[i]];
        if (v->kind == VAL_CONST)
            continue; /* printed with the constants */
        fprintf(f, "%*scapture %%v%d '%s' = node input %d", 4 * depth, "", g->caps[i], v->name, v->capture);
        dump_type(f, v);
        fputc('\n', f);
    }
    graph_count_uses((Graph *)g);
    for (int i = 0; i < g->nvalues; i++) {
        const Value *v = &g->values[i];
        if (v->kind != VAL_CONST || (v->nuses == 0 && v->output < 0))
            continue;
        fprintf(f, "%*sconst %%v%d '%s'", 4 * depth, "", i, v->name);
        dump_type(f, v);
        dump_data(f, v);
        fputc('\n', f);
    }
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        fprintf(f, "%*s", 4 * depth, "");
        for (int j = 0; j < n->nout; j++) {
            if (j)
                fputs(",", f);
            if (n->out[j] == VNONE) {
                fputs(" _", f);
                continue;
            }
            const Value *v = &g->values[n->out[j]];
            fprintf(f, "%s%%v%d '%s'", j ? " " : "", n->out[j], v->name);
            dump_type(f, v);
        }
        fprintf(f, " = %s(", n->op_type);
        for (int j = 0; j < n->nin; j++) {
            if (j)
                fputs(", ", f);
            if (n->in[j] == VNONE)
                fputs("_", f);
            else
                fprintf(f, "%%v%d", n->in[j]);
        }
        fprintf(f, ") '%s'", n->name);
        if (n->nattr) {
            fputs(" {", f);
            for (int j = 0; j < n->nattr; j++) {
                if (j)
                    fputs(", ", f);
                dump_attr(f, &n->attr[j]);
            }
            fputs("}", f);
        }
        if (n->group >= 0)
            fprintf(f, " g%d", n->group);
        fputc('\n', f);
        for (int j = 0; j < n->nattr; j++)
            if (n->attr[j].kind == ATTR_GRAPH && n->attr[j].g)
                dump_in(n->attr[j].g, f, depth + 1);
    }
    for (int i = 0; i < g->noutputs; i++) {
        fprintf(f, "%*soutput %%v%d '%s'", 4 * depth, "", g->outputs[i], g->values[g->outputs[i]].name);
        if (g->out_alias && g->out_alias[i] >= 0)
            fprintf(f, " in place of input %%v%d", g->inputs[g->out_alias[i]]);
        fputc('\n', f);
    }
}

void graph_dump(const Graph *g, void *file) { dump_in(g, file, 0); }
