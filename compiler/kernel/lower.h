/*
 * lower.h: the bridge from Graph IR to Kernel IR (lower.c).
 */
#ifndef KILN_LOWER_H
#define KILN_LOWER_H

#include "../graph/graph.h"
#include "kernel.h"

/* Lower every fusion group of g (in node order) into one kernel each; views
 * share their input's buffer. The Program is allocated in g->arena. */
int kernel_lower(Graph *g, Program **out, Diag *d);

/* Lower node n alone into a Program of its own, allocated in `a`: constant
 * inputs are weight buffers, outputs are output buffers (for folding). */
int kernel_lower_node(Graph *g, Node *n, Arena *a, Program **out, Diag *d);

#endif
