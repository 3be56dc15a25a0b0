/*
 * lower.h: the bridge from Graph IR to Kernel IR (lower.c).
 */
#ifndef KILN_LOWER_H
#define KILN_LOWER_H

#include "../graph/graph.h"
#include "kernel.h"

/* Lower every fusion group of g (in node order) into one kernel each; views
 * share their input's buffer; with `inplace`, a group's output may be
 * written over an input that dies with it (inplace.c; kiln compare
 * --kernel, which hands a kernel's inputs and outputs to a user's
 * function as separate arrays, lowers without). The Program is allocated in
 * g->arena. */
int kernel_lower(Graph *g, int inplace, Program **out, Diag *d);

/* Lower node n alone into a Program of its own, allocated in `a`: constant
 * inputs are weight buffers, outputs are output buffers (for folding). */
int kernel_lower_node(Graph *g, Node *n, Arena *a, Program **out, Diag *d);

/* inplace.c: after lowering fusion group `group` (nn nodes) into kernel k,
 * whose statements from `start` on are the group's own (before it: the
 * outputs' zero borders), write each output over an input buffer that dies
 * with the group where that is sound; vbuf follows. done[i]: node i of g
 * is lowered (the group's nodes included). Returns how many. */
int inplace_group(const Graph *g, Program *p, int *vbuf, const unsigned char *done, Node *const *group, int nn,
                  Kernel *k, const Stmt *start);

#endif
