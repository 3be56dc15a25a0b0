/*
 * inspect.c: `kiln inspect`, a model's summary without building anything.
 *
 * Ops and their counts, inputs and outputs, parameter bytes, every op kiln
 * does not support (with its node), and, when the model compiles, the
 * kernels after fusion and the arena size the generated code will need.
 *
 * With --arch BOARD it also says whether the model fits the board: it
 * builds libmodel.a with the board's toolchain in a temporary folder and
 * measures it (targets/boards/fit.c); without the toolchain, it says what
 * it knows without code and stack.
 */
#include "driver.h"
#include "onnx/onnx.h"
#include "ops/op.h"
#include "../targets/boards/board.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_value(const char *what, const Value *v)
{
    printf("%-8s '%s' %s", what, v->name, dtype_name(v->dtype));
    if (v->shape.rank < 0) {
        printf("[?]\n");
        return;
    }
    printf("[");
    for (int i = 0; i < v->shape.rank; i++) {
        if (i)
            printf("x");
        if (v->sym && v->sym[i])
            printf("%s", v->sym[i]);
        else
            printf("%lld", (long long)v->shape.dim[i]);
    }
    printf("]\n");
}

/* *sum += n * size, staying at INT64_MAX instead of overflowing. */
static void add_bytes(int64_t *sum, int64_t n, int64_t size)
{
    int64_t b;
    if (ck_mul(n, size, &b) || ck_add(*sum, b, sum))
        *sum = INT64_MAX;
}

/* Does the model fit o's board? Measured from a build of libmodel.a. */
static int inspect_board(Arena *a, const Options *o, const Compiled *c)
{
    const Board *b = o->board;
    Diag d = {.file = o->model};
    if (!board_have_tool(a, b->cc.w[0]) || !board_have_tool(a, b->ar.w[0])) {
        const Program *p = c->prog;
        int64_t io = 0;
        for (int i = 0; i < p->nbufs; i++)
            if (p->bufs[i].kind == BUF_INPUT || p->bufs[i].kind == BUF_OUTPUT)
                add_bytes(&io, p->bufs[i].numel, dtype_size(p->bufs[i].dtype));
        printf("board    %s: %s\n", b->name, b->what);
        printf("fit      not measured: the board's toolchain (%s) is not installed\n", b->cc.w[0]);
        printf("flash    at least %lld of %lld bytes (weights; code not counted)\n", (long long)p->weight_bytes,
               (long long)b->flash);
        printf("ram      at least %lld of %lld bytes (arena and inputs and outputs; stack and data not counted)\n",
               (long long)(p->arena_bytes + io), (long long)b->ram);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    char *dir = make_temp_dir(a, tmp && *tmp ? tmp : "/tmp", "kiln-");
    if (!dir) {
        fprintf(stderr, "%s: cannot create a temporary folder: %s\n", o->model, strerror(errno));
        return 1;
    }
    Options lo = *o;
    lo.emit = "lib";
    lo.outdir = dir;
    int rc = emit_and_build(c, &lo, dir, &d) || board_fit(a, b, c->prog, dir, &d);
    if (rc)
        fprintf(stderr, "%s\n", d.msg);
    remove_tree(dir);
    return rc;
}

int cmd_inspect(const Options *o)
{
    Arena *a = arena_new();
    Diag d = {.file = o->model};
    ImportResult imp;
    int rc = 1;
    if (onnx_import(a, o->model, 1, &imp, &d)) {
        fprintf(stderr, "%s\n", d.msg);
        goto done;
    }
    Graph *g = imp.graph;
    printf("model    %s\ngraph    '%s', opset %d, %d nodes\n", o->model, g->name, g->opset, g->nnodes);
    for (int i = 0; i < g->ninputs; i++)
        print_value("input", &g->values[g->inputs[i]]);
    for (int i = 0; i < g->noutputs; i++) {
        const Value *v = &g->values[g->outputs[i]];
        printf("output   '%s'\n", v->name);
    }
    int64_t pbytes = 0, nconst = 0;
    for (int i = 0; i < g->nvalues; i++)
        if (g->values[i].kind == VAL_CONST) {
            add_bytes(&pbytes, dtype_bytes(g->values[i].dtype, shape_numel(&g->values[i].shape)), 1);
            nconst++;
        }
    printf("params   %lld bytes in %lld initializers\n", (long long)pbytes, (long long)nconst);

    /* op counts, in order of first appearance */
    printf("ops     ");
    for (int i = 0; i < g->nnodes; i++) {
        int seen = 0, count = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(g->nodes[j].op_type, g->nodes[i].op_type);
        if (seen)
            continue;
        for (int j = i; j < g->nnodes; j++)
            count += !strcmp(g->nodes[j].op_type, g->nodes[i].op_type);
        printf(" %s x%d", g->nodes[i].op_type, count);
    }
    printf("\n");
    if (imp.nunsupported) {
        for (int i = 0; i < imp.nunsupported; i++)
            printf("unsupported: node '%s' (%s, opset %d)\n", imp.unsupported[i].node, imp.unsupported[i].op,
                   imp.unsupported[i].opset);
        fprintf(stderr, "%s: %d unsupported op%s\n", o->model, imp.nunsupported, imp.nunsupported > 1 ? "s" : "");
        goto done;
    }

    Compiled c;
    Diag cd = {.file = o->model};
    if (compile_model(a, o, NULL, 0, NULL, 0, &c, &cd)) {
        fprintf(stderr, "%s\n", cd.msg);
        goto done;
    }
    const Program *p = c.prog;
    printf("kernels  %d after fusion\n", p->nkernels);
    for (int k = 0; k < p->nkernels; k++) {
        printf("  %s:", p->kernels[k].name);
        /* the kernel's nodes, one per line, the later ones indented under it */
        const char *cm = p->kernels[k].comment ? p->kernels[k].comment : "";
        fputc(' ', stdout);
        for (; *cm; cm++) {
            if (*cm == '\n')
                fputs("\n    ", stdout);
            else
                fputc(*cm, stdout);
        }
        printf("\n");
    }
    int64_t live = 0;
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].kind == BUF_ARENA && p->bufs[i].first >= 0)
            add_bytes(&live, p->bufs[i].numel, dtype_size(p->bufs[i].dtype));
    printf("arena    %lld bytes (intermediates total %lld bytes before reuse)\n", (long long)p->arena_bytes,
           (long long)live);
    printf("weights  %lld bytes after folding\n", (long long)p->weight_bytes);
    rc = o->board ? inspect_board(a, o, &c) : 0;
done:
    arena_free(a);
    return rc;
}
