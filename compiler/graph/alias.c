/*
 * alias.c: outputs computed in place of inputs (--alias OUTPUT=INPUT).
 *
 * A decoder's key/value cache goes in as an input and comes out as an
 * output with one row written (ScatterND, TensorScatter). Compiled as it
 * is, every step copies the whole cache from the input to the output
 * buffer. With the pair declared, the output's buffer is the input's own
 * storage: lowering reads the input through the output's buffer
 * (kernel/lower.c), the copy becomes a store of each element onto itself,
 * which simplify drops, and only the row is written. model_run takes the
 * same pointer for both; given two different buffers it first copies the
 * input into the output (targets/c), so generic drivers stay correct.
 *
 * The pair is accepted only where that is sound: both names exist, the two
 * have one dtype and shape, the output is made by an op whose lowering
 * reads its first input only to copy it, element for element, before
 * anything else (OPF_INPLACE: the scatters), from exactly this input, and
 * no other node reads the input (it would see the update). Anything else
 * is reported, naming the pair.
 */
#include "graph.h"
#include "../ops/op.h"

#include <string.h>

static int find(const Graph *g, const ValueId *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(g->values[list[i]].name, name))
            return i;
    return -1;
}

int graph_alias(Graph *g, const AliasBind *al, int n, Diag *d)
{
    if (n <= 0)
        return 0;
    if (!g->out_alias) {
        g->out_alias = arena_alloc(g->arena, sizeof(int) * (size_t)(g->noutputs + 1));
        for (int i = 0; i < g->noutputs; i++)
            g->out_alias[i] = -1;
    }
    graph_count_uses(g);
    for (int k = 0; k < n; k++) {
        const char *on = al[k].output, *in = al[k].input;
        int oi = find(g, g->outputs, g->noutputs, on), ii = find(g, g->inputs, g->ninputs, in);
        if (oi < 0)
            return diag_error(d, "--alias %s=%s: the model has no output named '%s'", on, in, on);
        if (ii < 0)
            return diag_error(d, "--alias %s=%s: the model has no input named '%s'", on, in, in);
        if (g->out_alias[oi] >= 0)
            return diag_error(d, "--alias %s=%s: output '%s' is already aliased", on, in, on);
        for (int j = 0; j < g->noutputs; j++)
            if (g->out_alias[j] == ii)
                return diag_error(d, "--alias %s=%s: input '%s' is already aliased", on, in, in);
        const Value *ov = &g->values[g->outputs[oi]], *iv = &g->values[g->inputs[ii]];
        char a[160], b[160];
        if (ov->dtype != iv->dtype || !shape_equal(&ov->shape, &iv->shape))
            return diag_error(d, "--alias %s=%s: the output is %s[%s] and the input %s[%s]", on, in,
                              dtype_name(ov->dtype), shape_str(&ov->shape, a, sizeof a), dtype_name(iv->dtype),
                              shape_str(&iv->shape, b, sizeof b));
        const Node *p = ov->kind == VAL_NODE && ov->producer >= 0 ? &g->nodes[ov->producer] : NULL;
        if (!p || p->dead || !(optab[p->op].flags & OPF_INPLACE) || p->in[0] != g->inputs[ii])
            return diag_error(d,
                              "--alias %s=%s: the output is not an update of the input (only an output that "
                              "ScatterND, ScatterElements or TensorScatter makes from the input can be aliased)",
                              on, in);
        if (iv->nuses != 1 || iv->output >= 0 || iv->specialized)
            return diag_error(d, "--alias %s=%s: the input is read by more than the node updating it%s", on, in,
                              iv->output >= 0 ? " (it is also an output)" : "");
        g->out_alias[oi] = ii;
    }
    return 0;
}
