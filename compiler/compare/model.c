/*
 * model.c: `kiln compare MODEL.onnx --kernel NAME --ref FILE.c:FUNC`, one
 * kernel of a model against the user's function, in place.
 *
 *   kiln compare MODEL.onnx --kernel NAME|list [--ref FILE.c:FUNC]
 *                [--data TESTDIR] [--shape NAME=DIMS]... [--iters N]
 *                [--warmup N] [--budget S] [--threads N] [--rtol R]
 *                [--atol A] [--seed N] [-O0..3] [--arch ARCH] [-o DIR] [--keep]
 *
 * The model is compiled twice by compile_model: as kiln compiles it (built
 * into kiln/libmodel.a by emit_and_build), and with the kernel's body
 * replaced by a call of the user's function (compare/swap.c, run before
 * planning), printed by the C target with the prefix "swap" (swap.c,
 * swap_run, swap_weights) so that both link into one harness
 * (mharness.c). kc_swap.c, generated here, is the routine the swapped
 * kernel calls: it puts the pointers into the arrays of the user's ABI.
 * The harness runs both on the same inputs (seeded random, or the test's
 * input_N.pb with --data), writes their outputs, which are compared here,
 * and times the two whole models interleaved. docs/compare.md is the
 * user's guide.
 *
 * `--kernel list` prints every kernel with the nodes it computes and the
 * arguments the user's function would get, and builds nothing.
 *
 * Exit: 0 agreement (or a listing), 1 disagreement or a failure (no such
 * kernel, one that cannot be swapped, the user's file does not compile or
 * lacks FUNC, a crash), 2 usage error; every failure is one line on stderr.
 */
#define _XOPEN_SOURCE 700
#include "compare.h"
#include "../embedded.h"
#include "../onnx/onnx.h"
#include "../ops/op.h"
#include "../../targets/target.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_text[] =
    "usage: kiln compare MODEL.onnx --kernel NAME --ref FILE.c:FUNC [options]\n"
    "       kiln compare MODEL.onnx --kernel list      (the kernels and their arguments)\n"
    "  --kernel NAME        the kernel to replace: its name (kiln compare MODEL --kernel list,\n"
    "                       kiln inspect) or its number, k3\n"
    "  --ref FILE.c:FUNC    void FUNC(const void *const *inputs, void *const *outputs), computing\n"
    "                       the kernel's nodes on dense row-major arrays in their ONNX order\n"
    "  --data TESTDIR       run on TESTDIR/input_N.pb (default: seeded random inputs)\n"
    "  --shape NAME=DIMS    bind an input's shape, as for kiln compile\n"
    "  --iters N            timed rounds at most (default 50)   --budget S  seconds of timing (default 2)\n"
    "  --warmup N           untimed rounds (default 3)          --seed N    input seed (default 1)\n"
    "  --threads N          threads of kiln's code (default 1)\n"
    "  --rtol R --atol A    agreement: |swapped - kiln| <= atol + rtol*|kiln| (default 1e-3, 1e-4)\n"
    "  -O0..-O3 --arch ARCH as for kiln compile;  -o DIR  build there and keep it;  --keep\n"
    "last line: kiln_ms=.. ref_ms=.. ratio=ref_ms/kiln_ms max_abs_err=.. max_rel_err=..\n";

/* What the command line asked for. */
typedef struct MRequest {
    const char *model;
    const char *kernel;        /* --kernel: a name, kN, or "list" */
    const char *user_file, *user_func;
    const char *data;          /* --data TESTDIR */
    long iters, warmup, seed, threads, opt;
    double budget, rtol, atol;
    const char *arch, *outdir;
    int keep;
    ShapeBind binds[MAX_BINDS];
    int nbinds;
} MRequest;

static int parse_args(Arena *a, int argc, char **argv, MRequest *r)
{
    r->iters = 50, r->warmup = 3, r->seed = 1, r->threads = 1, r->opt = 3;
    r->budget = 2, r->rtol = 1e-3, r->atol = 1e-4;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(o, "--kernel") || !strcmp(o, "--ref") || !strcmp(o, "--data") ||
                    !strcmp(o, "--shape") || !strcmp(o, "--iters") || !strcmp(o, "--warmup") ||
                    !strcmp(o, "--budget") || !strcmp(o, "--threads") || !strcmp(o, "--rtol") ||
                    !strcmp(o, "--atol") || !strcmp(o, "--seed") || !strcmp(o, "--arch") || !strcmp(o, "-o");
        if (takes && !val)
            return cmp_usage("option '%s' needs a value", o);
        if (takes)
            i++;
        double x;
        if (o[0] != '-' || !o[1]) {
            if (r->model)
                return cmp_usage("unexpected argument '%s'", o);
            r->model = o;
        } else if (!strcmp(o, "--kernel")) {
            if (!*val)
                return cmp_usage("--kernel needs a kernel's name, or list");
            r->kernel = val;
        } else if (!strcmp(o, "--ref")) {
            if (cmp_parse_ref(a, val, &r->user_file, &r->user_func))
                return 2;
            if (!strncmp(r->user_func, "swap_", 5) || !strncmp(r->user_func, "kiln_", 5))
                return cmp_usage("--ref FILE.c:FUNC: '%s' is a name of the swapped build (swap_*, kiln_*)",
                                 r->user_func);
        } else if (!strcmp(o, "--data")) {
            r->data = val;
        } else if (!strcmp(o, "--shape")) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || r->nbinds == MAX_BINDS)
                return cmp_usage("--shape expects NAME=DIMS, e.g. x=1x3x224x224, not '%s'", val);
            ShapeBind *b = &r->binds[r->nbinds++];
            char *name = arena_alloc(a, (size_t)(eq - val) + 1);
            memcpy(name, val, (size_t)(eq - val));
            b->name = name;
            if (shape_parse(eq + 1, &b->shape))
                return cmp_usage("--shape expects NAME=DIMS, e.g. x=1x3x224x224, not '%s'", val);
        } else if (!strcmp(o, "--iters")) {
            if (cmp_parse_int(val, 1, 1000000, &r->iters))
                return cmp_usage("--iters expects a count from 1, not '%s'", val);
        } else if (!strcmp(o, "--warmup")) {
            if (cmp_parse_int(val, 0, 1000000, &r->warmup))
                return cmp_usage("--warmup expects a count from 0, not '%s'", val);
        } else if (!strcmp(o, "--seed")) {
            if (cmp_parse_int(val, 0, 2147483647, &r->seed))
                return cmp_usage("--seed expects an integer from 0, not '%s'", val);
        } else if (!strcmp(o, "--threads")) {
            if (cmp_parse_int(val, 1, 1024, &r->threads))
                return cmp_usage("--threads expects a count from 1, not '%s'", val);
        } else if (!strcmp(o, "--rtol") || !strcmp(o, "--atol") || !strcmp(o, "--budget")) {
            if (cmp_parse_num(val, &x) || x < 0)
                return cmp_usage("%s expects a number >= 0, not '%s'", o, val);
            *(o[2] == 'r' ? &r->rtol : o[2] == 'a' ? &r->atol : &r->budget) = x;
        } else if (!strcmp(o, "--arch")) {
            if (!machine_arch(val))
                return cmp_usage("unknown --arch '%s' (compare runs on this machine: host, generic, x86-64-avx2, "
                                 "x86-64-avx512, aarch64)", val);
            r->arch = val;
        } else if (!strcmp(o, "-o")) {
            if (!*val)
                return cmp_usage("-o needs a folder, not an empty name");
            r->outdir = val;
        } else if (!strcmp(o, "--keep")) {
            r->keep = 1;
        } else if (o[1] == 'O' && o[2] >= '0' && o[2] <= '3' && !o[3]) {
            r->opt = o[2] - '0';
        } else {
            return cmp_usage("unknown option '%s' (with a model: kiln compare MODEL.onnx --kernel NAME --ref "
                             "FILE.c:FUNC)", o);
        }
    }
    if (!r->model)
        return cmp_usage("--kernel needs a model: kiln compare MODEL.onnx --kernel NAME --ref FILE.c:FUNC");
    if (!r->kernel)
        return cmp_usage("a model needs --kernel NAME (kiln compare %s --kernel list shows them)", r->model);
    if (strcmp(r->kernel, "list") && !r->user_file)
        return cmp_usage("--kernel %s needs --ref FILE.c:FUNC, the function to run in its place", r->kernel);
    return 0;
}

/* ------------------------------------------------------------ listing */

/* "'name' f32[1x8x6x6]" of an argument, and how it reaches the call. */
static const char *arg_text(Arena *a, const Graph *g, const SwapArg *s, int output)
{
    if (s->value == VNONE)
        return "absent: NULL";
    const Value *x = &g->values[s->value];
    char sh[192];
    const char *t = arena_printf(a, "'%s' %s[%s]", x->name, dtype_name(x->dtype), shape_str(&x->shape, sh, sizeof sh));
    if (s->konst)
        return arena_printf(a, "%s: a constant, the model's data", t);
    if (!s->convert)
        return arena_printf(a, "%s: kiln's buffer, dense row-major", t);
    const char *order = "";
    if (x->permuted) {
        order = " with its dims in the order";
        for (int i = 0; i < x->shape.rank; i++)
            order = arena_printf(a, "%s%s%d", order, i ? "," : " ", x->perm[i]);
    }
    return arena_printf(a, "%s: kiln stores it%s%s, copied %s", t, order,
                        x->haloed ? (x->permuted ? " and a zero border" : " with a zero border") : "",
                        output ? "from row-major after the call" : "to row-major before the call");
}

/* The nodes and arguments of a swap, each line after `ind`; the nodes'
 * attributes too. */
static void print_plan(Arena *a, const Graph *g, const SwapPlan *pl, const char *ind)
{
    printf("%s%-10s ", ind, "nodes");
    for (int j = 0; j < pl->nnodes; j++) {
        const Node *n = pl->nodes[j];
        printf("%s'%s' (%s)", j ? " -> " : "", n->name, n->op_type);
        for (int i = 0; i < n->nattr; i++) {
            const Attr *at = &n->attr[i];
            printf("%s%s=", i ? " " : " [", at->name);
            if (at->kind == ATTR_INT)
                printf("%lld", (long long)at->i);
            else if (at->kind == ATTR_FLOAT)
                printf("%g", at->f);
            else if (at->kind == ATTR_STRING)
                printf("%.40s", at->s);
            else if (at->kind == ATTR_INTS)
                for (int k = 0; k < at->n; k++)
                    printf("%s%lld", k ? "," : "", (long long)at->ints[k]);
            else if (at->kind == ATTR_FLOATS)
                for (int k = 0; k < at->n; k++)
                    printf("%s%g", k ? "," : "", at->floats[k]);
            else
                printf("...");
            if (i == n->nattr - 1)
                printf("]");
        }
    }
    printf("\n");
    for (int i = 0; i < pl->nin; i++)
        printf("%sinput %-4d %s\n", ind, i, arg_text(a, g, &pl->in[i], 0));
    for (int i = 0; i < pl->nout; i++)
        printf("%soutput %-3d %s\n", ind, i, arg_text(a, g, &pl->out[i], 1));
}

static int list_kernels(Arena *a, const Compiled *c)
{
    const Program *p = c->prog;
    printf("kiln compare: %d kernels of %s (the arguments a function in a kernel's place gets)\n", p->nkernels,
           c->graph->file);
    for (int k = 0; k < p->nkernels; k++) {
        SwapPlan pl;
        Diag d = {.file = c->graph->file};
        printf("  %s\n", p->kernels[k].name);
        if (swap_plan(c->graph, p, k, &pl, &d))
            printf("    not swappable: %s\n", d.msg);
        else
            print_plan(a, c->graph, &pl, "    ");
    }
    return 0;
}

/* The kernel --kernel names: its name, or kN; -1 if none. */
static int find_kernel(const Program *p, const char *name)
{
    for (int k = 0; k < p->nkernels; k++)
        if (!strcmp(p->kernels[k].name, name))
            return k;
    long n;
    if (name[0] == 'k' && !cmp_parse_int(name + 1, 0, p->nkernels - 1, &n) && name[1] != '-' && name[1] != '+')
        return (int)n;
    return -1;
}

/* ------------------------------------------------------------- running */

/* Seeded input k of type t: floats uniform in [-1, 1); integers 0 or 1;
 * bools random. */
static void *random_tensor(Arena *a, DType t, int64_t n, long seed, int k)
{
    void *p = arena_alloc(a, (size_t)dtype_bytes(t, n) + 1);
    uint64_t st = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)(k + 1) * 0xD1B54A32D192ED03ull;
    for (int64_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(st >> 40) / (double)(1 << 24);
        if (dtype_is_float(t))
            dtype_set_f(t, p, i, (float)(u * 2.0 - 1.0));
        else
            dtype_set_i(t, p, i, u < 0.5 ? 0 : 1);
    }
    return p;
}

/* kc_swap.c: the routine the swapped kernel calls, in the order of
 * prog_swap's call (present inputs, then present outputs), with the
 * parameter types model.c's prototype gives them. */
static char *swap_source(Arena *a, const Graph *g, const SwapPlan *pl, const char *func)
{
    char *t = arena_printf(a, "/* kc_swap.c: generated by kiln compare: the call in the swapped kernel */\n"
                              "#include <stddef.h>\n#include <stdint.h>\n\n"
                              "void %s(const void *const *inputs, void *const *outputs);\n"
                              "double kiln_now_ms(void);\n\n"
                              "double kc_func_ms; /* the function's time, summed (mharness.c) */\n\nvoid kc_swap(",
                           func);
    int n = 0;
    for (int i = 0; i < pl->nin; i++)
        if (pl->in[i].value != VNONE)
            t = arena_printf(a, "%s%sconst %s *in%d", t, n++ ? ", " : "", dtype_ctype(g->values[pl->in[i].value].dtype),
                             i);
    for (int i = 0; i < pl->nout; i++)
        if (pl->out[i].value != VNONE)
            t = arena_printf(a, "%s%s%s *out%d", t, n++ ? ", " : "", dtype_ctype(g->values[pl->out[i].value].dtype), i);
    t = arena_printf(a, "%s%s)\n{\n    const void *const inputs[%d] = {", t, n ? "" : "void", pl->nin + 1);
    for (int i = 0; i < pl->nin; i++)
        t = pl->in[i].value != VNONE ? arena_printf(a, "%sin%d, ", t, i) : arena_printf(a, "%sNULL, ", t);
    t = arena_printf(a, "%sNULL};\n    void *const outputs[%d] = {", t, pl->nout + 1);
    for (int i = 0; i < pl->nout; i++)
        t = pl->out[i].value != VNONE ? arena_printf(a, "%sout%d, ", t, i) : arena_printf(a, "%sNULL, ", t);
    return arena_printf(a, "%sNULL};\n    double t0 = kiln_now_ms();\n    %s(inputs, outputs);\n"
                           "    kc_func_ms += kiln_now_ms() - t0;\n}\n",
                        t, func);
}

/* Compile every file of `srcs` in dir into its .o, with flags. */
static int compile_all(Arena *a, const char *flags, const char *dir, const char *const *srcs, int n,
                       const char *user, Diag *d)
{
    for (int i = 0; i < n; i++) {
        char *argv[96];
        int k = cmp_cc_argv(a, flags, argv, 88);
        size_t len = strlen(srcs[i]);
        const char *obj = srcs[i] == user ? "user.o" : arena_printf(a, "%.*s.o", (int)(len - 2), srcs[i]);
        argv[k++] = "-c", argv[k++] = (char *)srcs[i], argv[k++] = "-o", argv[k++] = (char *)obj;
        argv[k] = NULL;
        const char *what = srcs[i] == user ? arena_printf(a, "compiling %s", user)
                                           : arena_printf(a, "compiling the harness's %s", srcs[i]);
        if (cmp_run_step(a, argv, dir, "build.log", what, d))
            return 1;
    }
    return 0;
}

/* The harness's result: medians of the whole models and of the kernel. */
typedef struct MResult {
    double kiln_ms, ref_ms;
    int rounds;
    double kernel_kiln_ms, kernel_swap_ms, func_ms;
} MResult;

/* Compare output i (the two files the harness wrote); prints its line.
 * Returns the elements beyond tolerance; *max_abs, *max_rel grow. */
static int64_t compare_output(Arena *a, const char *dir, int i, const Buffer *b, const MRequest *r,
                              double *max_abs, double *max_rel, Diag *d)
{
    size_t nk, ns;
    const char *err;
    unsigned char *k = read_file(a, arena_printf(a, "%s/kiln_out_%d.bin", dir, i), &nk, &err);
    unsigned char *s = read_file(a, arena_printf(a, "%s/swap_out_%d.bin", dir, i), &ns, &err);
    DType t = b->elem;
    int64_t n = shape_numel(&b->shape);
    if (!k || !s || nk != ns || (int64_t)nk < dtype_bytes(t, n)) {
        diag_error(d, "the harness wrote no outputs %d to compare (%s)", i, dir);
        return -1;
    }
    double mabs = 0, mrel = 0, maxref = 0;
    int64_t bad = 0, first = -1;
    int isf = dtype_is_float(t) && !dtype_is_packed(t);
    for (int64_t j = 0; isf && j < n; j++) {
        double e = fabs(dtype_get_f(t, k, j));
        if (isfinite(e) && e > maxref)
            maxref = e;
    }
    for (int64_t j = 0; j < n; j++) {
        int ok;
        if (dtype_is_packed(t)) {
            ok = dtype_packed_code(t, k, j) == dtype_packed_code(t, s, j);
        } else if (isf) {
            double e = dtype_get_f(t, k, j), x = dtype_get_f(t, s, j), diff = fabs(x - e);
            if (isnan(e) || isnan(x) || isinf(e) || isinf(x)) {
                ok = isnan(e) ? isnan(x) : e == x;
                diff = ok ? 0 : INFINITY;
            } else {
                ok = diff <= r->atol + r->rtol * fabs(e);
            }
            mabs = diff > mabs ? diff : mabs;
            /* relative to elements that are not tiny next to the largest */
            if (fabs(e) >= 1e-3 * maxref && e != 0 && diff / fabs(e) > mrel)
                mrel = diff / fabs(e);
        } else {
            int64_t e = dtype_get_i(t, k, j), x = dtype_get_i(t, s, j);
            double diff = fabs((double)x - (double)e);
            mabs = diff > mabs ? diff : mabs;
            ok = e == x;
        }
        if (!ok && bad++ == 0)
            first = j;
    }
    char sh[192];
    printf("  model output %d '%s' %s[%s]: max abs error %.3g, max rel error %.3g over %lld elements: %s", i, b->label,
           dtype_name(t), shape_str(&b->shape, sh, sizeof sh), mabs, mrel, (long long)n, bad ? "DIFFER" : "ok");
    if (bad)
        printf(" (%lld differ, the first at %lld)", (long long)bad, (long long)first);
    printf("\n");
    *max_abs = mabs > *max_abs ? mabs : *max_abs;
    *max_rel = mrel > *max_rel ? mrel : *max_rel;
    return bad;
}

/* The inputs file: the test's tensors (--data) or seeded random ones. */
static int write_inputs(Arena *a, const MRequest *r, const Program *p, const Tensor *known, int nknown,
                        const char *dir, Diag *d)
{
    size_t total = 0;
    for (int i = 0; i < p->ninputs; i++)
        total += (size_t)dtype_bytes(p->bufs[p->inputs[i]].elem, p->bufs[p->inputs[i]].numel);
    char *all = arena_alloc(a, total + 1), *at = all;
    for (int i = 0; i < p->ninputs; i++) {
        const Buffer *b = &p->bufs[p->inputs[i]];
        int64_t n = shape_numel(&b->shape);
        size_t bytes = (size_t)dtype_bytes(b->elem, n);
        char ws[192], gs[192];
        if (i < nknown) {
            if (known[i].dtype != b->elem || !shape_equal(&known[i].shape, &b->shape))
                return diag_error(d, "%s/input_%d.pb is %s[%s], the model's input %d '%s' %s[%s]", r->data, i,
                                  dtype_name(known[i].dtype), shape_str(&known[i].shape, gs, sizeof gs), i,
                                  b->label, dtype_name(b->elem), shape_str(&b->shape, ws, sizeof ws));
            memcpy(at, known[i].data, bytes);
        } else {
            memcpy(at, random_tensor(a, b->elem, n, r->seed, i), bytes);
        }
        at += bytes;
    }
    if (write_file(arena_printf(a, "%s/inputs.bin", dir), all, total))
        return diag_error(d, "cannot write %s/inputs.bin: %s", dir, strerror(errno));
    return 0;
}

/* Build both models and the harness in dir, run it; *res its timing. */
static int build_and_run(Arena *a, const MRequest *r, const Options *o, const Compiled *c, const SwapPlan *pl,
                         const Tensor *known, int nknown, const char *dir, MResult *res, Diag *d)
{
    /* kiln's build */
    Diag cd = {.file = r->model};
    if (emit_and_build(c, o, arena_printf(a, "%s/kiln", dir), &cd))
        return diag_error(d, "%s", cd.msg);
    /* the swapped build: the same pipeline, the kernel replaced before
     * planning, printed as swap.c, swap_run */
    Options so = *o;
    so.swap_kernel = c->prog->kernels[pl->kernel].name;
    so.swap_routine = "kc_swap";
    Compiled sc;
    const char *sdir = arena_printf(a, "%s/swap", dir);
    if (compile_model(a, &so, known, nknown, NULL, 0, &sc, &cd))
        return diag_error(d, "%s", cd.msg);
    remove_tree(sdir); /* nothing of an earlier run in -o DIR (a swap_1.c) is built again */
    if (mkdir(sdir, 0777))
        return diag_error(d, "cannot create %s: %s", sdir, strerror(errno));
    EmitOptions eo = {.prefix = "swap", .profile = 1, .opt = o->opt, .arch = o->arch};
    if (target_find("c")->emit(sc.prog, sdir, &eo, &cd))
        return diag_error(d, "%s", cd.msg);
    for (const EmbeddedFile *f = kiln_embedded; f->name; f++)
        if (write_file(arena_printf(a, "%s/%s", sdir, f->name), f->data, f->size))
            return diag_error(d, "cannot write %s/%s: %s", sdir, f->name, strerror(errno));
    /* the flags of the model's build.sh */
    const char *flags = arena_printf(a, "-std=c99 %s%s -fwrapv", build_cflags(a, o),
                                     o->threads > 1 ? arena_printf(a, " -DKILN_PAR_THREADS=%d -pthread", o->threads)
                                                    : "");
    int nnames;
    char **names = list_dir(a, sdir, &nnames);
    if (!names)
        return diag_error(d, "cannot read %s: %s", sdir, strerror(errno));
    const char *ssrc[8];
    int nsrc = 0;
    ssrc[nsrc++] = "swap.c";
    for (int i = 1; i < 7; i++) /* the kernels split over swap_1.c ... */
        for (int j = 0; j < nnames; j++)
            if (!strcmp(names[j], arena_printf(a, "swap_%d.c", i)))
                ssrc[nsrc++] = names[j];
    ssrc[nsrc++] = "weights.S";
    if (compile_all(a, flags, sdir, ssrc, nsrc, NULL, d))
        return 1;

    /* the harness, the routine the swapped kernel calls, the user's file */
    char *shim = swap_source(a, c->graph, pl, r->user_func);
    if (write_file(arena_printf(a, "%s/kc_swap.c", dir), shim, strlen(shim)))
        return diag_error(d, "cannot write %s/kc_swap.c: %s", dir, strerror(errno));
    for (const EmbeddedFile *f = kiln_compare_files; f->name; f++)
        if (!strcmp(f->name, "mharness.c") &&
            write_file(arena_printf(a, "%s/%s", dir, f->name), f->data, f->size))
            return diag_error(d, "cannot write %s/%s: %s", dir, f->name, strerror(errno));
    const char *hflags = arena_printf(a, "%s -Ikiln -Iswap", flags);
    const char *hsrc[] = {"mharness.c", "kc_swap.c", r->user_file};
    if (compile_all(a, hflags, dir, hsrc, 3, r->user_file, d))
        return 1;
    char *argv[96];
    int n = cmp_cc_argv(a, flags, argv, 70);
    argv[n++] = "-o", argv[n++] = "harness", argv[n++] = "mharness.o", argv[n++] = "kc_swap.o",
    argv[n++] = "user.o";
    for (int i = 0; i < nsrc; i++) {
        size_t len = strlen(ssrc[i]);
        argv[n++] = arena_printf(a, "swap/%.*s.o", (int)(len - 2), ssrc[i]);
    }
    argv[n++] = "kiln/libmodel.a", argv[n++] = "-lm";
    argv[n] = NULL;
    if (cmp_run_step(a, argv, dir, "build.log", "linking the harness", d))
        return 1;

    if (write_inputs(a, r, c->prog, known, nknown, dir, d))
        return 1;
    char *run[] = {"./harness", "inputs.bin", arena_printf(a, "%ld", r->iters), arena_printf(a, "%ld", r->warmup),
                   arena_printf(a, "%.17g", r->budget), arena_printf(a, "%d", pl->kernel), NULL};
    char *log = arena_printf(a, "%s/harness.log", dir);
    int st = run_argv(run, dir, log);
    char *err = file_line(a, log, "kc_error: ");
    if (*err)
        return diag_error(d, "%s", err + strlen("kc_error: "));
    if (st < RUN_SIGNALED)
        return diag_error(d, "the harness was stopped by signal %d: kiln's code or %s crashed", RUN_SIGNALED - st,
                          r->user_func);
    char *line = file_line(a, log, "kc_result ");
    if (st || !*line ||
        sscanf(line, "kc_result kiln_ms=%lf ref_ms=%lf rounds=%d", &res->kiln_ms, &res->ref_ms, &res->rounds) != 3)
        return diag_error(d, "the harness failed (exit %d, see %s)", st, log);
    line = file_line(a, log, "kc_kernel ");
    if (sscanf(line, "kc_kernel kiln_ms=%lf swap_ms=%lf func_ms=%lf", &res->kernel_kiln_ms, &res->kernel_swap_ms,
               &res->func_ms) != 3)
        return diag_error(d, "the harness failed (exit %d, see %s)", st, log);
    return 0;
}

/* Read TESTDIR/input_N.pb into ts[]; the count, or -1. */
static int read_inputs(Arena *a, const char *dir, Tensor *ts, int max, Diag *d)
{
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return diag_error(d, "--data %s: not a folder", dir), -1;
    int n = 0;
    for (;; n++) {
        char *path = arena_printf(a, "%s/input_%d.pb", dir, n);
        if (stat(path, &st))
            break;
        if (n == max)
            return diag_error(d, "%s: more than %d input files", dir, max), -1;
        if (onnx_read_tensor(a, path, &ts[n], d))
            return -1;
        ts[n].group = n; /* a plain tensor per file (sequences are check's) */
    }
    return n;
}

int cmd_compare_model(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
    Arena *a = arena_new();
    MRequest r = {0};
    int rc = parse_args(a, argc, argv, &r);
    if (rc) {
        arena_free(a);
        return rc;
    }
    Options o = {0};
    o.model = r.model;
    o.target = "c";
    o.emit = "lib";
    o.opt = (int)r.opt;
    o.threads = (int)r.threads;
    o.arch = r.arch;
    o.profile = 1; /* each kernel timed, in both builds */
    o.no_inplace = 1; /* both builds keep every value in a buffer of its own (swap_plan) */
    memcpy(o.binds, r.binds, sizeof r.binds);
    o.nbinds = r.nbinds;

    Diag d = {.file = "kiln compare"};
    Tensor known[MAX_TENSORS];
    int nknown = 0;
    Compiled c;
    Diag cd = {.file = r.model};
    const char *dir = NULL;
    SwapPlan pl;
    MResult res = {0};
    if (r.data && (nknown = read_inputs(a, r.data, known, MAX_TENSORS, &d)) < 0) {
        rc = 1;
        goto done;
    }
    if (compile_model(a, &o, known, nknown, NULL, 0, &c, &cd)) {
        rc = diag_error(&d, "%s", cd.msg);
        goto done;
    }
    if (!strcmp(r.kernel, "list")) {
        rc = list_kernels(a, &c);
        goto done;
    }
    int k = find_kernel(c.prog, r.kernel);
    if (k < 0) {
        rc = diag_error(&d, "%s: no kernel '%s' (%d kernels: kiln compare %s --kernel list)", r.model, r.kernel,
                        c.prog->nkernels, r.model);
        goto done;
    }
    Diag pd = {.file = r.model};
    if (swap_plan(c.graph, c.prog, k, &pl, &pd)) {
        rc = diag_error(&d, "%s", pd.msg);
        goto done;
    }
    if (c.prog->ninputs > MAX_TENSORS || c.prog->noutputs > MAX_TENSORS) {
        rc = diag_error(&d, "%s: more than %d inputs or outputs", r.model, MAX_TENSORS);
        goto done;
    }
    if (r.data && nknown != c.prog->ninputs) {
        rc = diag_error(&d, "%s has %d input files, the model has %d inputs", r.data, nknown, c.prog->ninputs);
        goto done;
    }
    if (r.outdir) {
        dir = r.outdir;
        if (mkdir(dir, 0777) && errno != EEXIST) {
            rc = diag_error(&d, "cannot create %s: %s", dir, strerror(errno));
            dir = NULL;
            goto done;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        dir = make_temp_dir(a, tmp && *tmp ? tmp : "/tmp", "kiln-compare-");
        if (!dir) {
            rc = diag_error(&d, "cannot create a temporary folder: %s", strerror(errno));
            goto done;
        }
    }
    rc = build_and_run(a, &r, &o, &c, &pl, known, nknown, dir, &res, &d);
    if (rc)
        goto done;

    const Kernel *kk = &c.prog->kernels[k];
    printf("kiln compare: %s, kernel %s (%ld thread%s, -O%ld) against %s\n", r.model, kk->name, r.threads,
           r.threads > 1 ? "s" : "", r.opt, r.user_func);
    print_plan(a, c.graph, &pl, "  ");
    const char *conv = "";
    for (int i = 0; i < pl.nin + pl.nout; i++) {
        const SwapArg *s = i < pl.nin ? &pl.in[i] : &pl.out[i - pl.nin];
        if (s->convert)
            conv = arena_printf(a, "%s%s%s %d", conv, *conv ? ", " : "", i < pl.nin ? "input" : "output",
                                i < pl.nin ? i : i - pl.nin);
    }
    if (*conv)
        printf("  layout     converted: %s (the copies count in the swapped model's time)\n", conv);
    else
        printf("  layout     no conversion: kiln stores every value the call touches dense row-major\n");
    printf("  run on     %s\n", r.data ? arena_printf(a, "%s/input_N.pb", r.data)
                                       : arena_printf(a, "seeded random (seed %ld)", r.seed));
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0;
    for (int i = 0; i < c.prog->noutputs && !rc; i++) {
        int64_t b = compare_output(a, dir, i, &c.prog->bufs[c.prog->outputs[i]], &r, &max_abs, &max_rel, &d);
        if (b < 0)
            rc = 1;
        else
            bad += b;
    }
    if (rc)
        goto done;
    printf("  agreement  %s (rtol %g, atol %g against kiln's outputs)\n", bad ? "DIFFER" : "ok", r.rtol, r.atol);
    printf("  median of %d interleaved rounds (both builds time each kernel):\n", res.rounds);
    printf("  kernel     kiln %.4g ms, swapped %.4g ms (%s %.4g ms, conversions and call %.4g ms)\n",
           res.kernel_kiln_ms, res.kernel_swap_ms, r.user_func, res.func_ms, res.kernel_swap_ms - res.func_ms);
    printf("  model      kiln %.4g ms, swapped %.4g ms\n", res.kiln_ms, res.ref_ms);
    double ratio = res.kiln_ms > 0 ? res.ref_ms / res.kiln_ms : 0;
    printf("  ratio      %.3f (swapped model's time / kiln's: above 1, kiln's kernel is faster)\n", ratio);
    printf("kiln_ms=%.4f ref_ms=%.4f ratio=%.3f max_abs_err=%.3g max_rel_err=%.3g\n", res.kiln_ms, res.ref_ms, ratio,
           max_abs, max_rel);
    fflush(stdout);
    if (bad)
        rc = diag_error(&d, "the model with %s in kernel %s disagrees with kiln's: %lld output "
                            "elements beyond atol + rtol*|kiln|",
                        r.user_func, kk->name, (long long)bad);
done:
    if (rc)
        fprintf(stderr, "%s\n", d.msg);
    /* a failure whose message names a log in the folder keeps it */
    int named = rc && dir && strstr(d.msg, dir);
    if (dir && !r.outdir && !r.keep && !named)
        remove_tree(dir);
    else if (dir && !r.outdir && !named)
        fprintf(stderr, "kiln compare: kept %s\n", dir);
    arena_free(a);
    return rc ? 1 : 0;
}
