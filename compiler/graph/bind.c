/*
 * bind.c: give every graph input a static shape.
 *
 * kiln compiles for static shapes. A model's inputs may carry symbolic
 * dimensions ("batch", "seq"); they are bound, in this order of precedence,
 * by --shape NAME=DIMS, by the shape of a known input tensor (kiln check
 * takes them from the test data), and by a symbol already bound on another
 * input (two inputs sharing "batch" agree). An input left with a symbolic
 * or unknown dimension is an error that says which flag fixes it.
 */
#include "graph.h"

#include <stdio.h>
#include <string.h>

typedef struct Sym {
    const char *name;
    int64_t value;
} Sym;

static int conflict(Diag *d, const Value *v, const char *how, const Shape *given)
{
    char a[160], b[160];
    Shape model = v->shape;
    for (int i = 0; i < model.rank; i++)
        if (v->sym && v->sym[i])
            model.dim[i] = -1;
    shape_str(given, a, sizeof a);
    if (model.rank < 0)
        snprintf(b, sizeof b, "unknown rank");
    else {
        size_t n = 0;
        b[0] = 0;
        for (int i = 0; i < model.rank && n < sizeof b; i++) {
            if (model.dim[i] < 0)
                n += (size_t)snprintf(b + n, sizeof b - n, "%s%s", i ? "x" : "", v->sym[i]);
            else
                n += (size_t)snprintf(b + n, sizeof b - n, "%s%lld", i ? "x" : "", (long long)model.dim[i]);
        }
    }
    return diag_error(d, "input '%s': %s shape %s does not match the model's %s", v->name, how, a, b);
}

/* Does `s` fit v's declared shape (same rank, same fixed dims)? */
static int fits(const Value *v, const Shape *s)
{
    if (v->shape.rank < 0)
        return 1;
    if (v->shape.rank != s->rank)
        return 0;
    for (int i = 0; i < s->rank; i++)
        if (!(v->sym && v->sym[i]) && v->shape.dim[i] != s->dim[i])
            return 0;
    return 1;
}

static void learn(Sym *syms, int *nsyms, const Value *v, const Shape *s)
{
    if (!v->sym)
        return;
    for (int i = 0; i < s->rank && i < v->shape.rank; i++) {
        if (!v->sym[i] || !strcmp(v->sym[i], "?"))
            continue;
        int k = 0;
        while (k < *nsyms && strcmp(syms[k].name, v->sym[i]))
            k++;
        if (k == *nsyms && *nsyms < 64) {
            syms[k].name = v->sym[i];
            syms[k].value = s->dim[i];
            (*nsyms)++;
        }
    }
}

int graph_bind(Graph *g, const ShapeBind *binds, int nbinds, const Tensor *known, int nknown, Diag *d)
{
    Sym syms[64];
    int nsyms = 0;
    int *done = arena_alloc(g->arena, sizeof(int) * (size_t)(g->ninputs + 1));

    for (int b = 0; b < nbinds; b++) {
        ValueId id = VNONE;
        for (int i = 0; i < g->ninputs; i++)
            if (!strcmp(g->values[g->inputs[i]].name, binds[b].name))
                id = g->inputs[i];
        if (id == VNONE)
            return diag_error(d, "--shape names '%s', which is not an input of the model", binds[b].name);
    }
    /* Pass 1: explicit --shape, then known tensors. */
    for (int i = 0; i < g->ninputs; i++) {
        Value *v = &g->values[g->inputs[i]];
        const Shape *s = NULL;
        const char *how = NULL;
        for (int b = 0; b < nbinds; b++)
            if (!strcmp(binds[b].name, v->name)) {
                s = &binds[b].shape;
                how = "--shape";
            }
        if (!s && i < nknown && known[i].data) {
            /* messages about test data name the data file */
            Diag fd = {.file = known[i].source ? known[i].source : d->file};
            if (known[i].dtype != v->dtype) {
                diag_error(&fd, "input %d '%s' is %s, the model expects %s", i, v->name,
                           dtype_name(known[i].dtype), dtype_name(v->dtype));
                return diag_take(d, &fd);
            }
            if (!fits(v, &known[i].shape)) {
                conflict(&fd, v, "test data", &known[i].shape);
                return diag_take(d, &fd);
            }
            s = &known[i].shape;
            how = "test data";
        }
        if (!s)
            continue;
        if (!fits(v, s))
            return conflict(d, v, how, s);
        learn(syms, &nsyms, v, s);
        v->shape = *s;
        done[i] = 1;
    }
    /* Pass 2: the rest from symbols bound elsewhere, or fail. */
    for (int i = 0; i < g->ninputs; i++) {
        Value *v = &g->values[g->inputs[i]];
        if (!done[i]) {
            if (v->shape.rank < 0)
                return diag_error(d, "input '%s' has no shape in the model; give one with --shape %s=DIMS",
                                  v->name, v->name);
            for (int j = 0; j < v->shape.rank; j++) {
                if (!v->sym || !v->sym[j])
                    continue;
                int k = 0;
                while (k < nsyms && strcmp(syms[k].name, v->sym[j]))
                    k++;
                if (k == nsyms || !strcmp(v->sym[j], "?"))
                    return diag_error(d, "input '%s' has symbolic dimension '%s' (dim %d); give its shape with --shape %s=DIMS",
                                      v->name, v->sym[j], j, v->name);
                v->shape.dim[j] = syms[k].value;
            }
        }
        v->typed = 1;
        if (!dtype_is_computable(v->dtype) && !dtype_is_packed(v->dtype) && !dtype_is_string(v->dtype))
            return diag_error(d, "input '%s': element type %s is not supported yet", v->name,
                              dtype_name(v->dtype));
        int64_t numel;
        if (shape_check(&v->shape, dtype_size(v->dtype), &numel)) {
            char sh[160];
            return diag_error(d, "input '%s': shape %s of %s holds more than %lld bytes", v->name,
                              shape_str(&v->shape, sh, sizeof sh), dtype_name(v->dtype),
                              (long long)KILN_MAX_BYTES);
        }
        if (i < nknown && known[i].data && shape_equal(&known[i].shape, &v->shape))
            v->known = known[i].data;
    }
    return 0;
}

int graph_specialize(Graph *g, ValueId input, Diag *d)
{
    Value *v = &g->values[input];
    if (v->kind != VAL_INPUT || !v->known)
        return diag_error(d, "input '%s': no value known to specialize on", v->name);
    ValueId c = graph_add_const(g, arena_printf(g->arena, "%s_value", g->values[input].name),
                                g->values[input].dtype, &g->values[input].shape, g->values[input].known);
    v = &g->values[input];
    graph_replace_uses(g, input, c);
    v->specialized = 1;
    return 0;
}

void graph_inputs_of(const Graph *g, ValueId v, ValueId *out, int max, int *out_n)
{
    /* Walk producers backwards with an explicit stack. */
    int *seen = arena_alloc(g->arena, sizeof(int) * (size_t)(g->nvalues + 1));
    ValueId *stack = arena_alloc(g->arena, sizeof(ValueId) * (size_t)(g->nvalues + 1));
    int sp = 0, n = 0;
    stack[sp++] = v;
    seen[v] = 1;
    while (sp) {
        const Value *x = &g->values[stack[--sp]];
        if (x->kind == VAL_INPUT) {
            if (n < max)
                out[n++] = stack[sp];
            continue;
        }
        if (x->producer < 0)
            continue;
        const Node *p = &g->nodes[x->producer];
        for (int i = 0; i < p->nin; i++)
            if (p->in[i] != VNONE && !seen[p->in[i]]) {
                seen[p->in[i]] = 1;
                stack[sp++] = p->in[i];
            }
    }
    *out_n = n;
}
