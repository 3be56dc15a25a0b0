/*
 * check.c: `kiln check` and `kiln bench`.
 *
 * check compiles the model for the test's inputs, builds it, runs the
 * executable on TESTDIR/input_*.pb and compares what it wrote with
 * TESTDIR/output_*.pb: floats within |got - want| <= atol + rtol * |want|
 * (NaN matches NaN, infinities match exactly), integers, bools and strings
 * exactly, and the packed types (float8, float4, 4- and 2-bit integers) bit for
 * bit, two NaNs matching whatever their encodings (an f8e4m3fn NaN may
 * carry either sign). Shapes must be equal too: an output whose shape
 * depends on the data (NonZero, Compress, Unique, NonMaxSuppression) is
 * written by the executable at the shape its run gave it
 * (model_output_shape), which is compared with the reference's.
 * When inference needs a value the model computes from an input (a Reshape
 * whose shape is a graph input), check specializes the model on the test's
 * value of that input and the executable verifies it at run time.
 *
 * With --emit src (and -o OUTDIR) check stops once it has written the
 * sources it would build, for the test's shapes and input values: what
 * tests/gpu/prepare.sh carries to a machine with a GPU.
 *
 * bench compiles and builds the same way and runs the executable with
 * --bench; its last line is the executable's machine-readable summary.
 *
 * Both build through emit_and_build (in OUTDIR with -o, else in a fresh
 * private folder under $TMPDIR) and run the program from an argument
 * vector; with --arch BOARD, the program is the board's and runs under its
 * emulator (board_run_argv). The run writes into a private folder, so what check reads back
 * is what this run wrote; a failure leaves no model or outputs in OUTDIR.
 */
#define _POSIX_C_SOURCE 200809L
#include "driver.h"
#include "onnx/onnx.h"
#include "../targets/boards/board.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* name for a message line: control characters (a newline would start a
 * second line) shown as '?', and a name longer than 200 bytes cut to its
 * first 200 and "...", so the rest of the line still fits the message. */
static const char *printable(Arena *a, const char *name)
{
    size_t n = strlen(name), keep = n > 200 ? 200 : n;
    char *s = arena_alloc(a, keep + 4);
    for (size_t i = 0; i < keep; i++)
        s[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    if (keep < n)
        memcpy(s + keep, "...", 4);
    return s;
}

/* Read DIR/<stem>_0.pb, _1.pb, ... into ts[] as model_run's slots: file k
 * holds a value of form forms[k] (IO_SEQ, IO_OPT: a SequenceProto, an
 * OptionalProto; 0 or k >= nforms: a TensorProto). Returns the slot count
 * (*nfiles the file count), or -1. */
static int read_set(Arena *a, const char *dir, const char *stem, const int *forms, int nforms, Tensor *ts,
                    int max, int *nfiles, Diag *d)
{
    int n = 0, k = 0;
    for (;; k++) {
        char *path = arena_printf(a, "%s/%s_%d.pb", dir, stem, k);
        if (!file_exists(path))
            break;
        if (n == max) {
            diag_error(d, "%s: more than %d tensors", dir, max);
            return -1;
        }
        if (onnx_read_value(a, path, k < nforms ? forms[k] : 0, k, ts, max, &n, d))
            return -1;
    }
    *nfiles = k;
    return n;
}

/* The declared forms (IO_SEQ, IO_OPT) of the model's inputs and outputs,
 * which say how to read the test's files; 1 with the model's own message
 * when kiln cannot read it. */
static int model_forms(Arena *a, const Options *o, int **ins, int *nins, int **outs, int *nouts, Diag *d)
{
    ImportResult imp;
    Diag md = {.file = o->model};
    if (onnx_import(a, o->model, 1, &imp, &md))
        return diag_take(d, &md);
    const Graph *g = imp.graph;
    *ins = arena_alloc(a, sizeof(int) * (size_t)(g->ninputs + 1));
    for (int i = 0; i < g->ninputs; i++) {
        const Value *v = &g->values[g->inputs[i]];
        (*ins)[i] = (v->seq ? IO_SEQ : 0) | (v->opt ? IO_OPT : 0);
    }
    *nins = g->ninputs;
    *outs = g->out_decl;
    *nouts = g->noutputs;
    return 0;
}

/* Compare output i; prints a line; returns 1 if it matches, else 0 with
 * the line also recorded as the error in d. The line is built in a, so a
 * name of any length fits. */
static int compare(Arena *a, int i, const char *name, const Tensor *want, const Tensor *got, double rtol,
                   double atol, Diag *d)
{
    char ws[192], gs[192];
    char *head = arena_printf(a, "output %d '%s' %s[%s]: ", i, printable(a, name), dtype_name(want->dtype),
                              shape_str(&want->shape, ws, sizeof ws));
    if (want->dtype != got->dtype || !shape_equal(&want->shape, &got->shape)) {
        printf("%sthe program wrote %s[%s]\n", head, dtype_name(got->dtype), shape_str(&got->shape, gs, sizeof gs));
        diag_error(d, "%sthe program wrote %s[%s]", head, dtype_name(got->dtype), gs);
        return 0;
    }
    int64_t n = shape_numel(&want->shape), bad = 0, first_bad = -1;
    double max_abs = 0, max_rel = 0;
    int isf = dtype_is_float(want->dtype);
    for (int64_t k = 0; k < n; k++) {
        int ok;
        if (dtype_is_string(want->dtype)) { /* byte for byte */
            const KilnStr *e = (const KilnStr *)want->data + k, *x = (const KilnStr *)got->data + k;
            ok = e->len == x->len && (!e->len || !memcmp(e->ptr, x->ptr, (size_t)e->len));
        } else if (dtype_is_packed(want->dtype)) {
            unsigned ce = dtype_packed_code(want->dtype, want->data, k), cx = dtype_packed_code(got->dtype, got->data, k);
            double e = dtype_get_f(want->dtype, want->data, k), x = dtype_get_f(got->dtype, got->data, k);
            ok = ce == cx || (dtype_packed_isnan(want->dtype, ce) && dtype_packed_isnan(want->dtype, cx));
            if (!ok && !isnan(e) && !isnan(x) && !isinf(e) && !isinf(x) && fabs(x - e) > max_abs)
                max_abs = fabs(x - e);
        } else if (isf) {
            double e = dtype_get_f(want->dtype, want->data, k), x = dtype_get_f(got->dtype, got->data, k);
            if (isnan(e) || isnan(x)) {
                ok = isnan(e) && isnan(x);
            } else if (isinf(e) || isinf(x)) {
                ok = e == x;
            } else {
                double diff = fabs(x - e);
                if (diff > max_abs)
                    max_abs = diff;
                if (e != 0 && diff / fabs(e) > max_rel)
                    max_rel = diff / fabs(e);
                ok = diff <= atol + rtol * fabs(e);
            }
        } else {
            int64_t e = dtype_get_i(want->dtype, want->data, k), x = dtype_get_i(got->dtype, got->data, k);
            double diff = fabs((double)x - (double)e);
            if (diff > max_abs)
                max_abs = diff;
            ok = e == x;
        }
        if (!ok && bad++ == 0)
            first_bad = k;
    }
    char *line = isf ? arena_printf(a, "%smax abs error %.3g, max rel error %.3g", head, max_abs, max_rel)
                     : arena_printf(a, "%smax abs error %.3g", head, max_abs);
    if (bad) {
        printf("%s, %lld of %lld elements differ (first at %lld)\n", line, (long long)bad, (long long)n,
               (long long)first_bad);
        diag_error(d, "%s, %lld of %lld elements differ (first at %lld)", line, (long long)bad, (long long)n,
                   (long long)first_bad);
        return 0;
    }
    printf("%s: ok\n", line);
    return 1;
}

/* Compile, specializing on test inputs as inference asks, until it works or
 * no known input can help. */
static int compile_for(Arena *a, const Options *o, const Tensor *known, int nknown, Compiled *c, Diag *d)
{
    const char *spec[MAX_TENSORS];
    int nspec = 0;
    for (;;) {
        Diag cd = {.file = o->model};
        if (!compile_model(a, o, known, nknown, spec, nspec, c, &cd))
            return 0;
        int added = 0;
        Graph *g = c->graph;
        if (g && g->need_const != VNONE && known) {
            ValueId ins[MAX_TENSORS];
            int nin;
            graph_inputs_of(g, g->need_const, ins, MAX_TENSORS, &nin);
            for (int i = 0; i < nin; i++) {
                const Value *v = &g->values[ins[i]];
                int pos = -1, dup = 0;
                for (int k = 0; k < g->ninputs; k++)
                    if (g->inputs[k] == ins[i])
                        pos = k;
                for (int k = 0; k < nspec; k++)
                    dup |= !strcmp(spec[k], v->name);
                if (pos >= 0 && pos < nknown && !dup && nspec < MAX_TENSORS) {
                    spec[nspec++] = v->name;
                    added = 1;
                }
            }
        }
        if (!added)
            return diag_take(d, &cd);
    }
}

/* A fresh private folder under $TMPDIR (or /tmp), into *out. */
static int make_temp(Arena *a, char **out, Diag *d)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    *out = make_temp_dir(a, tmp, "kiln-");
    if (!*out)
        return diag_error(d, "cannot create a temporary folder in %s: %s", tmp, strerror(errno));
    return 0;
}

/* Build c as an executable in -o's folder or a fresh temporary one (*dir). */
static int build_exe(Arena *a, const Compiled *c, const Options *o, char **dir, Diag *d)
{
    if (o->outdir)
        *dir = (char *)o->outdir;
    else if (make_temp(a, dir, d))
        return 1;
    Options eo = *o;
    eo.emit = "exe";
    return emit_and_build(c, &eo, *dir, d);
}

/* The private folder a run writes its outputs and log into (*out), so that
 * what check reads back is what this run wrote: the temporary build folder
 * itself, or OUTDIR/.kiln-run-XXXXXX with -o. */
static int run_folder(Arena *a, const Options *o, char *dir, char **out, Diag *d)
{
    *out = o->outdir ? make_temp_dir(a, dir, ".kiln-run-") : dir;
    if (!*out)
        return diag_error(d, "cannot create a temporary folder in %s: %s", dir, strerror(errno));
    return 0;
}

/* argv, a run of the built program, as run on o's board: under its
 * emulator (NULL with a message in d when that is not installed). */
static char **on_board(Arena *a, const Options *o, char **argv, int argc, Diag *d)
{
    if (!o->board)
        return argv;
    const Board *b = o->board;
    if (!board_have_tool(a, b->run.w[0])) {
        diag_error(d, "board %s: its emulator '%s' is not installed (not found on PATH)", b->name, b->run.w[0]);
        return NULL;
    }
    return board_run_argv(a, b, argv[0], argv + 1, argc - 1);
}

/* Rename rundir/output_I.pb, I < n, into OUTDIR (replacing, never writing
 * through, what is there). */
static int keep_outputs(Arena *a, const Options *o, const char *rundir, int n, Diag *d)
{
    for (int i = 0; i < n; i++) {
        char *from = arena_printf(a, "%s/output_%d.pb", rundir, i);
        char *to = arena_printf(a, "%s/output_%d.pb", o->outdir, i);
        if (rename(from, to))
            return diag_error(d, "cannot move %s to %s: %s", from, to, strerror(errno));
    }
    return 0;
}

/* End of a command: print the error and remove the temporary folders.
 * With -o, the run's log is kept in OUTDIR (run.log), and a failure leaves
 * there no model, sources or (for check, kept >= 0) output_N.pb that look
 * like success; check's success leaves its kept outputs and removes older
 * ones beyond them. */
static int finish(Arena *a, const Options *o, const char *dir, const char *rundir, int kept, int rc,
                  const Diag *d)
{
    if (rc)
        fprintf(stderr, "%s\n", d->msg);
    if (o->outdir) {
        char *log = arena_printf(a, "%s/run.log", o->outdir);
        if (kept >= 0 && (!rundir || rename(arena_printf(a, "%s/run.log", rundir), log)))
            unlink(log);
        for (int i = rc ? 0 : kept; kept >= 0 && i < MAX_TENSORS; i++)
            unlink(arena_printf(a, "%s/output_%d.pb", o->outdir, i));
        if (rc)
            remove_outputs(o->outdir);
        if (rundir)
            remove_tree(rundir);
    } else if (dir && !o->keep) {
        remove_tree(dir);
    }
    arena_free(a);
    return rc;
}

int cmd_check(const Options *o)
{
    Arena *a = arena_new();
    Diag d = {.file = o->model};
    Tensor ins[MAX_TENSORS], want[MAX_TENSORS];
    Compiled c;
    char *dir = NULL, *rundir = NULL;
    int rc = 1, nin, nout, nin_files = 0, nout_files = 0, nin_forms = 0, nout_forms = 0;
    int *in_forms = NULL, *out_forms = NULL;

    struct stat sb;
    if (stat(o->testdir, &sb) || !S_ISDIR(sb.st_mode)) {
        diag_error(&d, "%s: %s", o->testdir, stat(o->testdir, &sb) ? "does not exist" : "is not a directory");
        goto done;
    }
    if (model_forms(a, o, &in_forms, &nin_forms, &out_forms, &nout_forms, &d))
        goto done;
    if ((nin = read_set(a, o->testdir, "input", in_forms, nin_forms, ins, MAX_TENSORS, &nin_files, &d)) < 0 ||
        (nout = read_set(a, o->testdir, "output", out_forms, nout_forms, want, MAX_TENSORS, &nout_files, &d)) < 0) {
        /* a model kiln cannot read (or whose inputs are not tensors) is the
         * more useful message than what its test data looks like then */
        Diag md = {.file = o->model};
        ImportResult imp;
        if (onnx_import(a, o->model, 0, &imp, &md)) {
            d.nerrors = 0;
            diag_take(&d, &md);
        }
        goto done;
    }
    if (nout == 0) {
        diag_error(&d, "%s: no output_0.pb to compare with", o->testdir);
        goto done;
    }
    if (compile_for(a, o, ins, nin, &c, &d))
        goto done;
    if (nin_files != c.graph->nmodel_inputs || nin != c.prog->ninputs) {
        diag_error(&d, "%s has %d input files, the model has %d inputs", o->testdir, nin_files,
                   c.graph->nmodel_inputs);
        goto done;
    }
    if (nout_files != c.graph->nmodel_outputs) {
        diag_error(&d, "%s has %d output files, the model has %d outputs", o->testdir, nout_files,
                   c.graph->nmodel_outputs);
        goto done;
    }
    if (nout != c.prog->noutputs) {
        diag_error(&d, "%s holds %d output tensors, the model gives %d", o->testdir, nout, c.prog->noutputs);
        goto done;
    }
    if (!strcmp(o->emit, "src")) {
        /* the sources check would build, for the test's shapes and values
         * (a GPU's program built and run on another machine) */
        if (emit_and_build(&c, o, o->outdir, &d))
            goto done;
        printf("kiln check: wrote the sources to %s (--emit src: not built, not run)\n", o->outdir);
        rc = 0;
        goto done;
    }
    if (build_exe(a, &c, o, &dir, &d) || run_folder(a, o, dir, &rundir, &d))
        goto done;

    /* run: model --in input_0.pb ... --out RUNDIR --quiet */
    char *argv[2 * MAX_TENSORS + 8];
    int argc = 0;
    argv[argc++] = arena_printf(a, "%s/model", dir);
    for (int i = 0; i < nin_files; i++) {
        argv[argc++] = "--in";
        argv[argc++] = arena_printf(a, "%s/input_%d.pb", o->testdir, i);
    }
    argv[argc++] = "--out";
    argv[argc++] = rundir;
    argv[argc++] = "--quiet";
    argv[argc] = NULL;
    char *log = arena_printf(a, "%s/run.log", rundir);
    if (o->board && board_short_names(a, argv, nin_files, rundir, &d))
        goto done;
    char **run = on_board(a, o, argv, argc, &d);
    if (!run)
        goto done;
    int status = run_argv(run, o->board ? rundir : NULL, log);
    if (status != 0) {
        const char *why = file_line(a, log, NULL), *sep = *why ? ": " : "";
        if (status == RUN_NOT_STARTED)
            diag_error(&d, "cannot run %s: %s", run[0], strerror(errno));
        else if (status < RUN_SIGNALED)
            diag_error(&d, "the generated program crashed (signal %d)%s%s", RUN_SIGNALED - status, sep, why);
        else
            diag_error(&d, "the generated program failed (exit %d)%s%s", status, sep, why);
        goto done;
    }
    int matched = 0, ngot = 0;
    Tensor got[MAX_TENSORS];
    for (int i = 0; i < nout_files; i++)
        if (onnx_read_value(a, arena_printf(a, "%s/output_%d.pb", rundir, i), out_forms[i], i, got, MAX_TENSORS,
                            &ngot, &d))
            goto done;
    if (ngot != nout) {
        diag_error(&d, "the program wrote %d output tensors, %s holds %d", ngot, o->testdir, nout);
        goto done;
    }
    for (int i = 0; i < nout; i++) {
        if ((want[i].form | got[i].form) & IO_NONE) {
            /* an absent optional or an empty sequence: nothing to compare */
            int same = want[i].form == got[i].form;
            printf("output %d: %s\n", i, same ? "empty: ok" : "one is empty, the other is not");
            if (!same)
                diag_error(&d, "output %d: the program wrote %s", i, got[i].form & IO_NONE ? "nothing" : "a value");
            matched += same;
            continue;
        }
        matched += compare(a, i, c.prog->bufs[c.prog->outputs[i]].label, &want[i], &got[i], o->rtol, o->atol, &d);
    }
    if (matched != nout)
        goto done; /* d names the first output that differs */
    if (o->outdir && keep_outputs(a, o, rundir, nout_files, &d))
        goto done;
    printf("kiln check: %d of %d outputs match\n", matched, nout);
    rc = 0;
done:
    return finish(a, o, dir, rundir, rc ? 0 : nout_files, rc, &d);
}

int cmd_bench(const Options *o)
{
    Arena *a = arena_new();
    Diag d = {.file = o->model};
    Compiled c;
    char *dir = NULL;
    int rc = 1;
    if (compile_model(a, o, NULL, 0, NULL, 0, &c, &d) || build_exe(a, &c, o, &dir, &d))
        goto done;
    char *argv[8];
    argv[0] = arena_printf(a, "%s/model", dir);
    argv[1] = "--bench";
    argv[2] = arena_printf(a, "%d", o->iters);
    argv[3] = "--quiet";
    argv[4] = o->profile ? "--profile" : NULL;
    argv[5] = NULL;
    char **run = on_board(a, o, argv, o->profile ? 5 : 4, &d);
    if (!run)
        goto done;
    int st = run_argv(run, NULL, NULL);
    if (st == RUN_NOT_STARTED)
        diag_error(&d, "cannot run %s: %s", run[0], strerror(errno));
    else if (st < RUN_SIGNALED)
        diag_error(&d, "the generated program crashed (signal %d)", RUN_SIGNALED - st);
    else if (st != 0)
        diag_error(&d, "the generated program failed (exit %d)", st);
    rc = st != 0;
done:
    return finish(a, o, dir, NULL, -1, rc, &d);
}
