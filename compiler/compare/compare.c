/*
 * compare.c: `kiln compare`, one operator of kiln against a reference.
 *
 *   kiln compare OP[+Relu] --shape NAME=DIMS... [--attr NAME=VALUE]...
 *                [--dtype f32] [--ref naive|openblas|FILE.c:FUNC] [--iters N]
 *                [--threads N] [--rtol R] [--atol A] [--peak GFLOPS] ...
 *
 * The operator becomes a one-node ONNX model (onnx_write_op_model; its
 * first input a run-time input, the others initializers, as weights are in
 * a model) that compile_model and emit_and_build turn into libmodel.a like
 * any model. Beside it a harness (harness.c, naive.c, kiln_cmp.h, embedded
 * in kiln, and the generated kc_spec.c holding the geometry) is built with
 * the same C compiler and flags, and linked with the reference. It reads
 * the seeded random inputs kiln wrote, compares the two outputs and times
 * both interleaved; this file prints the report. docs/compare.md is the
 * user's guide.
 *
 * Exit: 0 agreement, 1 disagreement or a failure (build, run, missing
 * OpenBLAS), 2 usage error; every failure is one line on stderr.
 */
#define _XOPEN_SOURCE 700
#include "../driver.h"
#include "../embedded.h"
#include "../onnx/onnx.h"
#include "compare.h"
#include "kiln_cmp.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_ATTRS = 16 };

/* The operators compare knows: their ONNX inputs, which must be given, and
 * the attributes their references implement. */
static const struct CmpOp {
    const char *name;
    int op;                  /* KC_MATMUL, ... */
    const char *in[3];       /* ONNX input names, in order */
    int nreq;                /* inputs whose --shape is required */
    const char *attrs;       /* "name:kind ..." (i int, f float, I ints, s string) */
} cmp_ops[] = {
    {"MatMul", KC_MATMUL, {"A", "B"}, 2, ""},
    {"Gemm", KC_GEMM, {"A", "B", "C"}, 2, "alpha:f beta:f transA:i transB:i"},
    {"Conv", KC_CONV, {"X", "W", "B"}, 2, "strides:I pads:I dilations:I group:i kernel_shape:I auto_pad:s"},
    {"Softmax", KC_SOFTMAX, {"input"}, 1, "axis:i"},
    {"LayerNormalization", KC_LAYERNORM, {"X", "Scale", "B"}, 1, "axis:i epsilon:f stash_type:i"},
};

static const char usage_text[] =
    "usage: kiln compare OP[+Relu] --shape NAME=DIMS... [options]\n"
    "  OP                   MatMul, Gemm, Conv, Softmax, LayerNormalization; +Relu appends a Relu\n"
    "  --shape NAME=DIMS    shape of the input NAME (the ONNX input names: MatMul A B; Gemm A B [C];\n"
    "                       Conv X W [B]; Softmax input; LayerNormalization X [Scale B])\n"
    "  --attr NAME=VALUE    an attribute: 2, 0.5, 1,1,1,1 (a list), SAME_UPPER (a string)\n"
    "  --dtype f32          element type (only f32)\n"
    "  --input NAME         NAME is a run-time input of kiln's model too (default: only the first;\n"
    "                       the others are initializers, built into the model as weights are)\n"
    "  --ref R              naive (default), openblas (MatMul, Gemm, Conv), or FILE.c:FUNC, a function\n"
    "                       void FUNC(const void *const *inputs, void *const *outputs)\n"
    "  --iters N            timed rounds at most (default 50)   --budget S  seconds of timing (default 2)\n"
    "  --warmup N           untimed rounds (default 3)          --seed N    input seed (default 1)\n"
    "  --threads N          threads of kiln's code and OpenBLAS (default 1)\n"
    "  --rtol R --atol A    agreement: |kiln - ref| <= atol + rtol*|ref| (default 1e-3, 1e-4)\n"
    "  --peak GFLOPS        the machine's FMA peak for --threads (default: measured)\n"
    "  -O0..-O3 --arch ARCH as for kiln compile;  -o DIR  build there and keep it;  --keep\n"
    "last line: kiln_ms=.. ref_ms=.. ratio=ref_ms/kiln_ms max_abs_err=.. max_rel_err=..\n"
    "one kernel of a model: kiln compare MODEL.onnx --kernel NAME --ref FILE.c:FUNC (kiln compare MODEL.onnx\n"
    "                       --kernel list --help)\n";

/* One line on stderr; exit status 2. */
int cmp_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kiln compare: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (kiln compare --help)\n");
    va_end(ap);
    return 2;
}

int cmp_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return 1;
    *out = v;
    return 0;
}

int cmp_parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return !*s || *end || errno || !isfinite(*out);
}

/* What the command line asked for. */
typedef struct Request {
    const struct CmpOp *op;
    int relu;
    Tensor in[3];              /* shapes; name NULL when not given */
    Attr attrs[MAX_ATTRS];
    int nattrs;
    int ref;                   /* KC_REF_* */
    const char *user_file, *user_func;
    long iters, warmup, seed, threads, opt;
    double budget, rtol, atol, peak;
    const char *arch, *outdir;
    int keep;
    const char *runtime[3];    /* --input NAME: run-time inputs besides the first */
    int nruntime;
    int runtime_mask;          /* bit k: input k is a run-time input */
} Request;

static const Attr *find_attr(const Request *r, const char *name)
{
    for (int i = 0; i < r->nattrs; i++)
        if (!strcmp(r->attrs[i].name, name))
            return &r->attrs[i];
    return NULL;
}

static int64_t attr_i(const Request *r, const char *name, int64_t def)
{
    const Attr *a = find_attr(r, name);
    return a ? a->i : def;
}

static double attr_f(const Request *r, const char *name, double def)
{
    const Attr *a = find_attr(r, name);
    return a ? a->f : def;
}

/* The kind the op's table gives attribute name ('i', 'f', 'I', 's'), or 0. */
static char attr_kind(const struct CmpOp *op, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = op->attrs; (p = strstr(p, name)); p += n)
        if ((p == op->attrs || p[-1] == ' ') && p[n] == ':')
            return p[n + 1];
    return 0;
}

/* --attr NAME=VALUE, parsed as the op's table says the attribute is. */
static int parse_attr(Arena *a, Request *r, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return cmp_usage("--attr expects NAME=VALUE, not '%s'", arg);
    char *name = arena_alloc(a, (size_t)(eq - arg) + 1);
    memcpy(name, arg, (size_t)(eq - arg));
    const char *val = eq + 1;
    char kind = attr_kind(r->op, name);
    if (!kind)
        return cmp_usage("attribute '%s' is not one compare's references implement for this op", name);
    if (find_attr(r, name) || r->nattrs == MAX_ATTRS)
        return cmp_usage("attribute '%s' given twice", name);
    Attr *at = &r->attrs[r->nattrs++];
    at->name = name;
    long v;
    switch (kind) {
    case 'i':
        at->kind = ATTR_INT;
        if (cmp_parse_int(val, -1000000, 1000000, &v))
            return cmp_usage("--attr %s expects an integer", arg);
        at->i = v;
        return 0;
    case 'f':
        at->kind = ATTR_FLOAT;
        if (cmp_parse_num(val, &at->f))
            return cmp_usage("--attr %s expects a number", arg);
        return 0;
    case 's':
        at->kind = ATTR_STRING;
        at->s = val;
        return 0;
    default:
        at->kind = ATTR_INTS;
        at->ints = arena_alloc(a, sizeof(int64_t) * (strlen(val) + 1));
        for (const char *p = val;;) {
            char *end;
            errno = 0;
            long long x = strtoll(p, &end, 10);
            if (end == p || errno || x < 0 || x > 1000000 || (*end && *end != ','))
                return cmp_usage("--attr %s expects a list of integers >= 0, e.g. 1,1,1,1", arg);
            at->ints[at->n++] = x;
            if (!*end)
                return 0;
            p = end + 1;
        }
    }
}

/* --ref FILE.c:FUNC: FUNC must be a C identifier (it is called by name
 * from generated code); the file is passed to the compiler as one
 * argument, never through a shell. */
int cmp_parse_ref(Arena *a, const char *val, const char **out_file, const char **out_func)
{
    const char *colon = strrchr(val, ':');
    if (!colon || colon == val || !colon[1])
        return cmp_usage("--ref expects naive, openblas or FILE.c:FUNC, not '%s'", val);
    const char *f = colon + 1;
    int ok = (*f >= 'a' && *f <= 'z') || (*f >= 'A' && *f <= 'Z') || *f == '_';
    for (const char *p = f; *p && ok; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!ok || strlen(f) > 200 || !strncmp(f, "kc_", 3) || !strncmp(f, "model_", 6) || !strcmp(f, "main"))
        return cmp_usage("--ref FILE.c:FUNC: '%s' is not a C function name compare can call (not main, kc_*, "
                           "model_*)",
                           f);
    char *given = arena_alloc(a, (size_t)(colon - val) + 1);
    memcpy(given, val, (size_t)(colon - val));
    /* absolute (the harness builds in its own folder), so never read as a
     * compiler option either */
    struct stat st;
    char *abs = stat(given, &st) || !S_ISREG(st.st_mode) ? NULL : realpath(given, NULL);
    if (!abs)
        return cmp_usage("--ref: no C file '%s'", given);
    char *file = arena_strdup(a, abs);
    free(abs);
    *out_file = file;
    *out_func = f;
    return 0;
}

static int parse_user_ref(Arena *a, Request *r, const char *val)
{
    if (cmp_parse_ref(a, val, &r->user_file, &r->user_func))
        return 2;
    r->ref = KC_REF_USER;
    return 0;
}

static int parse_args(Arena *a, int argc, char **argv, Request *r)
{
    const char *opname = NULL;
    r->ref = KC_REF_NAIVE;
    r->iters = 50, r->warmup = 3, r->seed = 1, r->threads = 1, r->opt = 3;
    r->budget = 2, r->rtol = 1e-3, r->atol = 1e-4;
    const char *shapes[16], *attrs[MAX_ATTRS];
    int nshapes = 0, nattrs = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(o, "--shape") || !strcmp(o, "--attr") || !strcmp(o, "--dtype") ||
                    !strcmp(o, "--ref") || !strcmp(o, "--iters") || !strcmp(o, "--threads") ||
                    !strcmp(o, "--rtol") || !strcmp(o, "--atol") || !strcmp(o, "--peak") || !strcmp(o, "--seed") ||
                    !strcmp(o, "--budget") || !strcmp(o, "--warmup") || !strcmp(o, "--arch") || !strcmp(o, "-o") || !strcmp(o, "--input");
        if (takes && !val)
            return cmp_usage("option '%s' needs a value", o);
        if (takes)
            i++;
        double x;
        if (o[0] != '-' || !o[1]) {
            if (opname)
                return cmp_usage("unexpected argument '%s'", o);
            opname = o;
        } else if (!strcmp(o, "--shape")) {
            if (nshapes == 16)
                return cmp_usage("too many --shape options");
            shapes[nshapes++] = val;
        } else if (!strcmp(o, "--attr")) {
            if (nattrs == MAX_ATTRS)
                return cmp_usage("too many --attr options");
            attrs[nattrs++] = val;
        } else if (!strcmp(o, "--dtype")) {
            if (strcmp(val, "f32") && strcmp(val, "float32") && strcmp(val, "float"))
                return cmp_usage("--dtype %s: compare supports f32 only", val);
        } else if (!strcmp(o, "--ref")) {
            if (!strcmp(val, "naive"))
                r->ref = KC_REF_NAIVE;
            else if (!strcmp(val, "openblas"))
                r->ref = KC_REF_OPENBLAS;
            else if (parse_user_ref(a, r, val))
                return 2;
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
        } else if (!strcmp(o, "--rtol") || !strcmp(o, "--atol") || !strcmp(o, "--peak") || !strcmp(o, "--budget")) {
            if (cmp_parse_num(val, &x) || x < 0 || (x == 0 && o[2] == 'p'))
                return cmp_usage(o[2] == 'p' ? "--peak expects GFLOP/s > 0, not '%s'"
                                               : "this option expects a number >= 0, not '%s'",
                                   val);
            *(o[2] == 'r' ? &r->rtol : o[2] == 'a' ? &r->atol : o[2] == 'p' ? &r->peak : &r->budget) = x;
        } else if (!strcmp(o, "--arch")) {
            if (!machine_arch(val))
                return cmp_usage("unknown --arch '%s'", val);
            r->arch = val;
        } else if (!strcmp(o, "-o")) {
            if (!*val)
                return cmp_usage("-o needs a folder, not an empty name");
            r->outdir = val;
        } else if (!strcmp(o, "--input")) {
            if (r->nruntime == 3)
                return cmp_usage("too many --input options");
            r->runtime[r->nruntime++] = val;
        } else if (!strcmp(o, "--keep")) {
            r->keep = 1;
        } else if (o[1] == 'O' && o[2] >= '0' && o[2] <= '3' && !o[3]) {
            r->opt = o[2] - '0';
        } else {
            return cmp_usage("unknown option '%s'", o);
        }
    }
    if (!opname)
        return cmp_usage("compare needs an OP, e.g. kiln compare MatMul --shape A=64x64 --shape B=64x64");
    /* OP, or OP+Relu */
    const char *plus = strchr(opname, '+');
    size_t n = plus ? (size_t)(plus - opname) : strlen(opname);
    for (size_t k = 0; k < sizeof cmp_ops / sizeof cmp_ops[0]; k++)
        if (strlen(cmp_ops[k].name) == n && !strncmp(cmp_ops[k].name, opname, n))
            r->op = &cmp_ops[k];
    if (!r->op)
        return cmp_usage("unknown OP '%s' (compare knows MatMul, Gemm, Conv, Softmax, LayerNormalization, "
                           "each maybe +Relu)",
                           opname);
    if (plus && strcmp(plus, "+Relu"))
        return cmp_usage("unknown chain '%s' (compare fuses +Relu)", plus);
    r->relu = plus != NULL;
    for (int k = 0; k < nattrs; k++)
        if (parse_attr(a, r, attrs[k]))
            return 2;
    for (int s = 0; s < nshapes; s++) {
        const char *eq = strchr(shapes[s], '=');
        int k = -1;
        for (int j = 0; eq && j < 3; j++)
            if (r->op->in[j] && strlen(r->op->in[j]) == (size_t)(eq - shapes[s]) &&
                !strncmp(r->op->in[j], shapes[s], (size_t)(eq - shapes[s])))
                k = j;
        if (!eq || k < 0)
            return cmp_usage("--shape %s: expected NAME=DIMS with NAME an input of the op", shapes[s]);
        if (r->in[k].name)
            return cmp_usage("--shape %s: given twice", shapes[s]);
        if (shape_parse(eq + 1, &r->in[k].shape) || r->in[k].shape.rank == 0)
            return cmp_usage("--shape %s: DIMS must be like 1x3x224x224", shapes[s]);
        for (int d = 0; d < r->in[k].shape.rank; d++)
            if (r->in[k].shape.dim[d] < 1 || r->in[k].shape.dim[d] > (1 << 24))
                return cmp_usage("--shape %s: every dim must be from 1 to 2^24", shapes[s]);
        r->in[k].name = r->op->in[k];
    }
    for (int k = 0; k < r->op->nreq; k++)
        if (!r->in[k].name)
            return cmp_usage("%s needs --shape for its input '%s'", r->op->name, r->op->in[k]);
    for (int i = 0; i < r->nruntime; i++) {
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (r->op->in[j] && !strcmp(r->op->in[j], r->runtime[i]))
                k = j;
        if (k < 0)
            return cmp_usage("--input %s: not an input of %s", r->runtime[i], r->op->name);
        r->runtime_mask |= 1 << k;
    }
    if (r->ref == KC_REF_OPENBLAS && r->op->op != KC_MATMUL && r->op->op != KC_GEMM && r->op->op != KC_CONV)
        return cmp_usage("--ref openblas covers MatMul, Gemm and Conv, not %s", r->op->name);
    return 0;
}

/* ------------------------------------------------------------ geometry */

static int64_t prod(const Shape *s, int from, int to)
{
    int64_t n = 1;
    for (int i = from; i < to; i++)
        n *= s->dim[i];
    return n;
}

static int ints_attr(const Request *r, const char *name, int n, int64_t def, int64_t *out)
{
    const Attr *a = find_attr(r, name);
    if (a && a->n != n)
        return cmp_usage("--attr %s needs %d values for a 2-D Conv", name, n);
    for (int i = 0; i < n; i++)
        out[i] = a ? a->ints[i] : def;
    return 0;
}

/* Check the shapes and attributes against the op's definition and fill the
 * harness's geometry, the expected output shape, and the work: flops (0
 * for a memory-bound op) and the bytes read and written. Returns 0 or 2. */
static int geometry(Request *r, kc_spec *s, Shape *out, double *flops, double *bytes)
{
    Shape *x = &r->in[0].shape, *w = &r->in[1].shape;
    const char *op = r->op->name;
    int64_t *p = s->p;
    s->op = r->op->op;
    *flops = 0;
    *out = *x;
    switch (r->op->op) {
    case KC_MATMUL: {
        if (x->rank < 2 || w->rank < 2)
            return cmp_usage("MatMul: compare needs A and B of rank 2 or more");
        int64_t M = x->dim[x->rank - 2], K = x->dim[x->rank - 1], N = w->dim[w->rank - 1];
        if (w->dim[w->rank - 2] != K)
            return cmp_usage("MatMul: A's last dim %lld differs from B's next to last %lld", (long long)K,
                               (long long)w->dim[w->rank - 2]);
        int nb = (x->rank > w->rank ? x->rank : w->rank) - 2;
        if (nb > KC_MAX_BATCH)
            return cmp_usage("MatMul: more than %d batch dims", KC_MAX_BATCH);
        int64_t as = 1, bs = 1, nbatch = 1;
        out->rank = nb + 2;
        for (int i = nb - 1; i >= 0; i--) {
            int ai = i - (nb - (x->rank - 2)), bi = i - (nb - (w->rank - 2));
            int64_t ad = ai >= 0 ? x->dim[ai] : 1, bd = bi >= 0 ? w->dim[bi] : 1;
            if (ad != bd && ad != 1 && bd != 1)
                return cmp_usage("MatMul: batch dims %lld and %lld do not broadcast", (long long)ad, (long long)bd);
            s->bdims[i] = ad > bd ? ad : bd;
            s->astr[i] = ad == 1 ? 0 : as;
            s->bstr[i] = bd == 1 ? 0 : bs;
            as *= ad, bs *= bd, nbatch *= s->bdims[i];
            out->dim[i] = s->bdims[i];
        }
        s->nb = nb;
        out->dim[nb] = M, out->dim[nb + 1] = N;
        p[0] = M, p[1] = K, p[2] = N;
        *flops = 2.0 * nbatch * M * N * K;
        break;
    }
    case KC_GEMM: {
        int64_t ta = attr_i(r, "transA", 0), tb = attr_i(r, "transB", 0);
        if (x->rank != 2 || w->rank != 2)
            return cmp_usage("Gemm: A and B must have rank 2");
        int64_t M = ta ? x->dim[1] : x->dim[0], K = ta ? x->dim[0] : x->dim[1];
        int64_t N = tb ? w->dim[0] : w->dim[1], KB = tb ? w->dim[1] : w->dim[0];
        if (K != KB)
            return cmp_usage("Gemm: the inner dims %lld and %lld differ", (long long)K, (long long)KB);
        p[0] = M, p[1] = K, p[2] = N, p[3] = ta != 0, p[4] = tb != 0;
        s->f[0] = attr_f(r, "alpha", 1.0), s->f[1] = attr_f(r, "beta", 1.0);
        if (r->in[2].name) {
            const Shape *c = &r->in[2].shape;
            int64_t cr = c->rank == 2 ? c->dim[0] : 1, cc = c->dim[c->rank - 1];
            if (c->rank > 2 || (cr != 1 && cr != M) || (cc != 1 && cc != N))
                return cmp_usage("Gemm: C does not broadcast to %lldx%lld", (long long)M, (long long)N);
            p[5] = 1, p[6] = cr == 1 ? 0 : cc, p[7] = cc == 1 ? 0 : 1;
        }
        out->rank = 2, out->dim[0] = M, out->dim[1] = N;
        *flops = 2.0 * M * N * K;
        break;
    }
    case KC_CONV: {
        if (x->rank != 4 || w->rank != 4)
            return cmp_usage("Conv: compare covers 2-D convolutions (X and W of rank 4)");
        int64_t N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
        int64_t M = w->dim[0], KH = w->dim[2], KW = w->dim[3], G = attr_i(r, "group", 1);
        int64_t st[2] = {0}, dl[2] = {0}, pd[4] = {0}, ks[2] = {0};
        if (ints_attr(r, "strides", 2, 1, st) || ints_attr(r, "dilations", 2, 1, dl) || ints_attr(r, "pads", 4, 0, pd))
            return 2;
        if (find_attr(r, "kernel_shape") && (ints_attr(r, "kernel_shape", 2, 1, ks) || ks[0] != KH || ks[1] != KW))
            return cmp_usage("Conv: kernel_shape must be W's last two dims");
        if (G < 1 || C % G || M % G || w->dim[1] * G != C)
            return cmp_usage("Conv: group %lld with X's %lld channels, W's %lld x %lld", (long long)G,
                               (long long)C, (long long)M, (long long)w->dim[1]);
        if (st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1)
            return cmp_usage("Conv: strides and dilations must be >= 1");
        if (r->in[2].name && (r->in[2].shape.rank != 1 || r->in[2].shape.dim[0] != M))
            return cmp_usage("Conv: B must have shape %lld", (long long)M);
        const Attr *ap = find_attr(r, "auto_pad");
        const char *mode = ap ? ap->s : "NOTSET";
        int64_t ekh = (KH - 1) * dl[0] + 1, ekw = (KW - 1) * dl[1] + 1, OH, OW;
        if (!strcmp(mode, "SAME_UPPER") || !strcmp(mode, "SAME_LOWER")) {
            OH = (H + st[0] - 1) / st[0], OW = (W + st[1] - 1) / st[1];
            int64_t th = (OH - 1) * st[0] + ekh - H, tw = (OW - 1) * st[1] + ekw - W;
            th = th > 0 ? th : 0, tw = tw > 0 ? tw : 0;
            int upper = mode[5] == 'U';
            pd[0] = upper ? th / 2 : th - th / 2, pd[1] = upper ? tw / 2 : tw - tw / 2;
            pd[2] = th - pd[0], pd[3] = tw - pd[1];
        } else if (!strcmp(mode, "VALID") || !strcmp(mode, "NOTSET")) {
            if (mode[0] == 'V')
                pd[0] = pd[1] = pd[2] = pd[3] = 0;
            OH = (H + pd[0] + pd[2] - ekh) / st[0] + 1, OW = (W + pd[1] + pd[3] - ekw) / st[1] + 1;
            if (H + pd[0] + pd[2] < ekh || W + pd[1] + pd[3] < ekw)
                OH = OW = 0;
        } else {
            return cmp_usage("Conv: auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, not '%s'", mode);
        }
        if (OH < 1 || OW < 1)
            return cmp_usage("Conv: the kernel does not fit the padded input");
        int64_t g[] = {N, C, H, W, M, KH, KW, OH, OW, st[0], st[1], pd[0], pd[1], dl[0], dl[1], G, r->in[2].name != 0};
        memcpy(p, g, sizeof g);
        out->dim[1] = M, out->dim[2] = OH, out->dim[3] = OW;
        *flops = 2.0 * N * M * OH * OW * (C / G) * KH * KW;
        break;
    }
    case KC_SOFTMAX:
    case KC_LAYERNORM: {
        int64_t axis = attr_i(r, "axis", -1);
        if (axis < -x->rank || axis >= x->rank)
            return cmp_usage("%s: axis %lld is outside X's rank %d", op, (long long)axis, x->rank);
        int ax = (int)(axis < 0 ? axis + x->rank : axis);
        if (r->op->op == KC_SOFTMAX) {
            p[0] = prod(x, 0, ax), p[1] = x->dim[ax], p[2] = prod(x, ax + 1, x->rank);
            *bytes = 8.0 * prod(x, 0, x->rank);
            return 0;
        }
        if (attr_i(r, "stash_type", 1) != 1)
            return cmp_usage("LayerNormalization: compare supports stash_type 1 only");
        Shape norm = {.rank = x->rank - ax};
        memcpy(norm.dim, x->dim + ax, sizeof(int64_t) * (size_t)norm.rank);
        for (int k = 1; k < 3; k++) {
            if (!r->in[k].name) {
                r->in[k].name = r->op->in[k];
                r->in[k].shape = norm;
            } else if (!shape_equal(&r->in[k].shape, &norm)) {
                return cmp_usage("LayerNormalization: %s must have X's shape from the axis on", r->op->in[k]);
            }
        }
        p[0] = prod(x, 0, ax), p[1] = prod(&norm, 0, norm.rank), p[2] = 1;
        s->f[0] = attr_f(r, "epsilon", 1e-5);
        *bytes = 4.0 * (2 * prod(x, 0, x->rank) + 2 * p[1]);
        return 0;
    }
    }
    *bytes = 4.0 * shape_numel(out);
    for (int k = 0; k < 3; k++)
        if (r->in[k].name)
            *bytes += 4.0 * shape_numel(&r->in[k].shape);
    return 0;
}

/* ------------------------------------------------------------- running */

/* Seeded inputs, uniform in [-1, 1): input k from its own stream. */
static float *random_data(Arena *a, int64_t n, long seed, int k)
{
    float *p = arena_alloc(a, sizeof(float) * (size_t)(n ? n : 1));
    uint64_t st = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)(k + 1) * 0xD1B54A32D192ED03ull;
    for (int64_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(st >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }
    return p;
}

/* argv of the C compiler: $CC (words) or cc, then the words of flags. */
int cmp_cc_argv(Arena *a, const char *flags, char **argv, int max)
{
    int n = 0;
    const char *cc = getenv("CC");
    char *words = arena_printf(a, "%s %s", cc && *cc ? cc : "cc", flags);
    for (char *t = strtok(words, " "); t && n < max - 1; t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n] = NULL;
    return n;
}

/* Run argv in dir with its output in dir/LOG; on failure a message naming
 * what failed and the first error line of the log. */
int cmp_run_step(Arena *a, char **argv, const char *dir, const char *log, const char *what, Diag *d)
{
    char *path = arena_printf(a, "%s/%s", dir, log);
    int st = run_argv(argv, dir, path);
    if (st == 0)
        return 0;
    if (st == RUN_NOT_STARTED)
        return diag_error(d, "cannot run %s to build %s: %s", argv[0], what, strerror(errno));
    /* the linker's own line names the missing function */
    char *line = file_line(a, path, "undefined reference");
    if (!*line)
        line = file_line(a, path, "error");
    if (!*line)
        line = file_line(a, path, NULL);
    if (st < RUN_SIGNALED)
        return diag_error(d, "%s was stopped by signal %d (see %s)", what, RUN_SIGNALED - st, path);
    return diag_error(d, "%s failed (exit %d, see %s)%s%s", what, st, path, *line ? ": " : "", line);
}

static const char *ref_name(const Request *r)
{
    return r->ref == KC_REF_NAIVE ? "naive" : r->ref == KC_REF_OPENBLAS ? "openblas" : r->user_func;
}

/* kc_spec.c: the geometry, and the user's function by its name. */
static char *spec_source(Arena *a, const kc_spec *s, const Request *r)
{
    char *t = arena_printf(a, "/* kc_spec.c: generated by kiln compare */\n#include \"kiln_cmp.h\"\n\n"
                              "const kc_spec kc = {\n    .op = %d, .ref = %d, .relu = %d, .nin = %d, .runtime = %d,\n"
                              "    .in_numel = {",
                           s->op, s->ref, s->relu, s->nin, s->runtime);
    for (int i = 0; i < s->nin; i++)
        t = arena_printf(a, "%s%lld, ", t, (long long)s->in_numel[i]);
    t = arena_printf(a, "%s},\n    .out_numel = %lld,\n    .p = {", t, (long long)s->out_numel);
    for (int i = 0; i < 20; i++)
        t = arena_printf(a, "%s%lld, ", t, (long long)s->p[i]);
    t = arena_printf(a, "%s},\n    .f = {%.17g, %.17g},\n    .nb = %d,\n", t, s->f[0], s->f[1], s->nb);
    const char *names[] = {".bdims", ".astr", ".bstr"};
    const int64_t *arrs[] = {s->bdims, s->astr, s->bstr};
    for (int k = 0; k < 3; k++) {
        t = arena_printf(a, "%s    %s = {", t, names[k]);
        for (int i = 0; i < KC_MAX_BATCH; i++)
            t = arena_printf(a, "%s%lld, ", t, (long long)arrs[k][i]);
        t = arena_printf(a, "%s},\n", t);
    }
    t = arena_printf(a, "%s    .iters = %d, .warmup = %d, .budget_s = %.17g, .threads = %d,\n"
                        "    .rtol = %.17g, .atol = %.17g,\n};\n",
                     t, s->iters, s->warmup, s->budget_s, s->threads, s->rtol, s->atol);
    if (r->ref == KC_REF_USER)
        return arena_printf(a, "%s\nvoid %s(const void *const *inputs, void *const *outputs);\n"
                               "kc_fn *const kc_user = %s;\n",
                            t, r->user_func, r->user_func);
    return arena_printf(a, "%s\nkc_fn *const kc_user = 0;\n", t);
}

/* The harness's result line. */
typedef struct Result {
    const char *blas_core;     /* OpenBLAS's openblas_get_corename(), or "" */
    double kiln_ms, ref_ms, max_abs, max_rel, peak;
    long long bad, first_bad, n;
    int rounds;
} Result;

/* Build everything in dir and run the harness. */
static int build_and_run(Arena *a, Request *r, kc_spec *s, const Shape *want, const char *dir, Result *res,
                         Diag *d)
{
    /* the model: first input at run time, the others initializers */
    Tensor ins[3];
    int nin = 0;
    for (int k = 0; k < 3 && r->in[k].name; k++) {
        ins[nin] = r->in[k];
        ins[nin].dtype = DT_F32;
        int64_t n = shape_numel(&ins[nin].shape);
        float *data = random_data(a, n, r->seed, k);
        char *bin = arena_printf(a, "%s/input_%d.bin", dir, k);
        if (write_file(bin, data, sizeof(float) * (size_t)n))
            return diag_error(d, "cannot write %s: %s", bin, strerror(errno));
        ins[nin].data = s->runtime >> k & 1 ? NULL : data;
        s->in_numel[nin++] = n;
    }
    /* optional inputs after a missing one are not supported (none here) */
    const char *relu[] = {"Relu"};
    OpModel m = {r->op->name, 17, r->attrs, r->nattrs, ins, nin, relu, r->relu};
    char *model = arena_printf(a, "%s/op.onnx", dir);
    if (onnx_write_op_model(&m, model, d))
        return 1;

    /* the normal pipeline, as kiln compile --emit lib */
    Options o = {0};
    o.model = model;
    o.target = "c";
    o.emit = "lib";
    o.opt = (int)r->opt;
    o.threads = (int)r->threads;
    o.arch = r->arch;
    Compiled c;
    Diag cd = {.file = model};
    if (compile_model(a, &o, NULL, 0, NULL, 0, &c, &cd) ||
        emit_and_build(&c, &o, arena_printf(a, "%s/kiln", dir), &cd))
        return diag_error(d, "%s", cd.msg);
    const Value *y = &c.graph->values[c.graph->outputs[0]];
    char ws[192], gs[192];
    if (y->dtype != DT_F32 || !shape_equal(&y->shape, want))
        return diag_error(d, "kiln's output is %s[%s], the reference's f32[%s]", dtype_name(y->dtype),
                          shape_str(&y->shape, gs, sizeof gs), shape_str(want, ws, sizeof ws));

    /* the harness */
    s->nin = nin;
    s->out_numel = shape_numel(want);
    char *spec = spec_source(a, s, r);
    if (write_file(arena_printf(a, "%s/kc_spec.c", dir), spec, strlen(spec)))
        return diag_error(d, "cannot write %s/kc_spec.c: %s", dir, strerror(errno));
    for (const EmbeddedFile *f = kiln_compare_files; f->name; f++)
        if (write_file(arena_printf(a, "%s/%s", dir, f->name), f->data, f->size))
            return diag_error(d, "cannot write %s/%s: %s", dir, f->name, strerror(errno));
    /* the flags of the model's build.sh */
    const char *flags = arena_printf(a, "-std=c99 %s%s -fwrapv -DKC_VEC_BYTES=%d -Ikiln", build_cflags(a, &o),
                                     r->threads > 1 ? " -pthread" : "", machine_arch(r->arch)->vec_bytes);
    const char *srcs[] = {"harness.c", "naive.c", "kc_spec.c", r->user_file};
    const char *objs[] = {"harness.o", "naive.o", "kc_spec.o", "user.o"};
    int nsrc = r->ref == KC_REF_USER ? 4 : 3;
    char *argv[96];
    for (int i = 0; i < nsrc; i++) {
        int n = cmp_cc_argv(a, flags, argv, 90);
        /* the user's file by its path, as one argument: no shell */
        argv[n++] = "-c", argv[n++] = (char *)srcs[i], argv[n++] = "-o", argv[n++] = (char *)objs[i];
        argv[n] = NULL;
        const char *what = i == 3 ? arena_printf(a, "compiling %s", r->user_file)
                                  : arena_printf(a, "compiling the harness's %s", srcs[i]);
        if (cmp_run_step(a, argv, dir, "build.log", what, d))
            return 1;
    }
    int n = cmp_cc_argv(a, flags, argv, 80);
    argv[n++] = "-o", argv[n++] = "harness";
    for (int i = 0; i < nsrc; i++)
        argv[n++] = (char *)objs[i];
    argv[n++] = "kiln/libmodel.a", argv[n++] = "-lm", argv[n++] = "-ldl";
    argv[n] = NULL;
    if (cmp_run_step(a, argv, dir, "build.log", "linking the harness", d))
        return 1;

    /* one file of all inputs, in order */
    size_t total = 0;
    for (int k = 0; k < nin; k++)
        total += sizeof(float) * (size_t)s->in_numel[k];
    char *all = arena_alloc(a, total + 1), *at = all;
    for (int k = 0; k < nin; k++) {
        size_t size;
        const char *err;
        unsigned char *b = read_file(a, arena_printf(a, "%s/input_%d.bin", dir, k), &size, &err);
        if (!b || size != sizeof(float) * (size_t)s->in_numel[k])
            return diag_error(d, "cannot read back %s/input_%d.bin", dir, k);
        memcpy(at, b, size);
        at += size;
    }
    if (write_file(arena_printf(a, "%s/inputs.bin", dir), all, total))
        return diag_error(d, "cannot write %s/inputs.bin: %s", dir, strerror(errno));

    char *run[] = {"./harness", "inputs.bin", r->peak > 0 ? NULL : "--peak", NULL};
    char *log = arena_printf(a, "%s/harness.log", dir);
    int st = run_argv(run, dir, log);
    char *err = file_line(a, log, "kc_error: ");
    if (*err)
        return diag_error(d, "%s", err + strlen("kc_error: "));
    if (st < RUN_SIGNALED)
        return diag_error(d, "the harness was stopped by signal %d: kiln's code or the reference crashed (%s)",
                          RUN_SIGNALED - st, ref_name(r));
    char *core = file_line(a, log, "kc_blas: ");
    res->blas_core = *core ? core + strlen("kc_blas: ") : "";
    char *line = file_line(a, log, "kc_result ");
    if (st || !*line ||
        sscanf(line, "kc_result kiln_ms=%lf ref_ms=%lf max_abs_err=%lf max_rel_err=%lf bad=%lld first_bad=%lld "
                     "n=%lld rounds=%d peak_gflops=%lf",
               &res->kiln_ms, &res->ref_ms, &res->max_abs, &res->max_rel, &res->bad, &res->first_bad, &res->n,
               &res->rounds, &res->peak) != 9)
        return diag_error(d, "the harness failed (exit %d, see %s)", st, log);
    return 0;
}

static void print_side(const char *name, double ms, double flops, double bytes, double peak)
{
    printf("  %-10s %10.4f ms", name, ms);
    if (flops > 0) {
        double g = flops / (ms * 1e6);
        printf("  %8.2f GFLOP/s", g);
        if (peak > 0)
            printf("  %5.1f%% of peak", 100 * g / peak);
    } else {
        printf("  %8.2f GB/s", bytes / (ms * 1e6));
    }
    printf("\n");
}

int cmd_compare(int argc, char **argv)
{
    /* a model and one of its kernels: model.c */
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (!strcmp(argv[i], "--kernel") || (i == 0 && n > 5 && !strcmp(argv[i] + n - 5, ".onnx")))
            return cmd_compare_model(argc, argv);
    }
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
    Arena *a = arena_new();
    Request r = {0};
    kc_spec s = {0};
    Shape want;
    double flops = 0, bytes = 0;
    int rc = parse_args(a, argc, argv, &r);
    /* sizes first: geometry's products of dims must not overflow */
    for (int k = 0; k < 3 && !rc; k++) {
        int64_t n;
        if (r.in[k].name && (shape_check(&r.in[k].shape, 4, &n) || n > ((int64_t)1 << 31)))
            rc = cmp_usage("input '%s' is too large", r.in[k].name);
    }
    if (!rc)
        rc = geometry(&r, &s, &want, &flops, &bytes);
    int64_t nout;
    if (!rc && (shape_check(&want, 4, &nout) || nout > ((int64_t)1 << 31)))
        rc = cmp_usage("the output %s would be too large", "Y");
    if (rc) {
        arena_free(a);
        return rc;
    }
    s.runtime = r.runtime_mask | 1;
    s.ref = r.ref, s.relu = r.relu, s.threads = (int)r.threads;
    s.iters = (int)r.iters, s.warmup = (int)r.warmup, s.budget_s = r.budget;
    s.rtol = r.rtol, s.atol = r.atol;

    Diag d = {.file = "kiln compare"};
    const char *dir;
    if (r.outdir) {
        dir = r.outdir;
        if (mkdir(dir, 0777) && errno != EEXIST) {
            fprintf(stderr, "kiln compare: cannot create %s: %s\n", dir, strerror(errno));
            arena_free(a);
            return 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        dir = make_temp_dir(a, tmp && *tmp ? tmp : "/tmp", "kiln-compare-");
        if (!dir) {
            fprintf(stderr, "kiln compare: cannot create a temporary folder: %s\n", strerror(errno));
            arena_free(a);
            return 1;
        }
    }
    Result res = {0};
    rc = build_and_run(a, &r, &s, &want, dir, &res, &d);
    if (rc) {
        fprintf(stderr, "%s\n", d.msg);
    } else {
        char sh[192];
        double peak = r.peak > 0 ? r.peak : res.peak * (double)r.threads;
        printf("kiln compare: %s%s (f32, %ld thread%s, -O%ld) against %s\n", r.op->name, r.relu ? "+Relu" : "",
               r.threads, r.threads > 1 ? "s" : "", r.opt, ref_name(&r));
        printf("  inputs    ");
        for (int k = 0; k < 3 && r.in[k].name; k++)
            printf(" %s=%s", r.in[k].name, shape_str(&r.in[k].shape, sh, sizeof sh));
        for (int k = 0; k < r.nattrs; k++) {
            const Attr *at = &r.attrs[k];
            printf(" %s=", at->name);
            if (at->kind == ATTR_INT)
                printf("%lld", (long long)at->i);
            else if (at->kind == ATTR_FLOAT)
                printf("%g", at->f);
            else if (at->kind == ATTR_STRING)
                printf("%s", at->s);
            else
                for (int i = 0; i < at->n; i++)
                    printf("%s%lld", i ? "," : "", (long long)at->ints[i]);
        }
        printf(" -> Y=%s\n", shape_str(&want, sh, sizeof sh));
        if (r.ref == KC_REF_OPENBLAS)
            printf("  openblas   kernels for core %s (the environment's OPENBLAS_CORETYPE chooses others)\n",
                   res.blas_core);
        printf("  agreement  max abs error %.3g, max rel error %.3g over %lld elements (rtol %g, atol %g): %s\n",
               res.max_abs, res.max_rel, res.n, r.rtol, r.atol, res.bad ? "DIFFER" : "ok");
        if (flops > 0)
            printf("  peak       %.1f GFLOP/s (%s)\n", peak,
                   r.peak > 0 ? "--peak" : r.threads > 1 ? "measured on one thread, times --threads" : "measured");
        printf("  median of %d interleaved rounds:\n", res.rounds);
        print_side("kiln", res.kiln_ms, flops, bytes, flops > 0 ? peak : 0);
        print_side(ref_name(&r), res.ref_ms, flops, bytes, flops > 0 ? peak : 0);
        double ratio = res.kiln_ms > 0 ? res.ref_ms / res.kiln_ms : 0;
        printf("  ratio      %.3f (reference time / kiln time: above 1, kiln is faster)\n", ratio);
        printf("kiln_ms=%.4f ref_ms=%.4f ratio=%.3f max_abs_err=%.3g max_rel_err=%.3g\n", res.kiln_ms, res.ref_ms,
               ratio, res.max_abs, res.max_rel);
        fflush(stdout);
        if (res.bad) {
            fprintf(stderr, "kiln compare: kiln and %s disagree: %lld of %lld elements beyond atol + rtol*|ref| "
                            "(first at %lld)\n",
                    ref_name(&r), res.bad, res.n, res.first_bad);
            rc = 1;
        }
    }
    /* a failure whose message names a log in the folder keeps it */
    int named = rc && strstr(d.msg, dir);
    if (!r.outdir && !r.keep && !named)
        remove_tree(dir);
    else if (!r.outdir && !named)
        fprintf(stderr, "kiln compare: kept %s\n", dir);
    arena_free(a);
    return rc ? 1 : 0;
}
