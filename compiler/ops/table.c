/*
 * table.c: the op table, expanded from ops.h, and lookup by name.
 */
#include "op.h"

#include <string.h>

/* The rows of ops never lowered (folded or viewed) name lower_none. */
#define lower_none NULL

const OpInfo optab[OP_COUNT] = {
#define OP(kind, nm, dom, in, IN, out, OUT, fl, inf, low) \
    [OP_##kind] = {.name = nm, .domain = dom, .min_in = in, .max_in = IN, .min_out = out, \
                   .max_out = OUT, .flags = fl, .infer = inf, .lower = low},
    KILN_OPS(OP)
#undef OP
};

#undef lower_none

int op_lookup(const char *domain, const char *name)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(optab[i].name, name) && !strcmp(optab[i].domain, domain))
            return i;
    return -1;
}
