/*
 * check.c: `kiln check` and `kiln bench`.
 *
 * check compiles the model for the test's inputs, builds it, runs the
 * executable on TESTDIR/input_*.pb and compares what it wrote with
 * TESTDIR/output_*.pb: floats within |got - want| <= atol + rtol * |want|
 * (NaN matches NaN, infinities match exactly), integers and bools exactly.
 * When inference needs a value the model computes from an input (a Reshape
 * whose shape is a graph input), check specializes the model on the test's
 * value of that input and the executable verifies it at run time.
 *
 * bench compiles and builds the same way and runs the executable with
 * --bench; its last line is the executable's machine-readable summary.
 */
#define _POSIX_C_SOURCE 200809L
#include "driver.h"
#include "onnx/onnx.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run argv with stdout and stderr to `log` (or inherited when NULL). Returns
 * the exit status, or -1 if it could not run or was killed. */
static int run(char *const argv[], const char *log)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    if (WIFSIGNALED(status))
        return -128 - WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last non-empty line of a file, for error messages. */
static void last_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    out[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (*line)
            snprintf(out, size, "%s", line);
    }
    if (f)
        fclose(f);
}

static void remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "kiln: could not remove %s\n", dir);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Read DIR/<stem>_0.pb, _1.pb, ... into ts[]; returns the count or -1. */
static int read_set(Arena *a, const char *dir, const char *stem, Tensor *ts, int max, Diag *d)
{
    int n = 0;
    for (;; n++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, stem, n);
        if (!file_exists(path))
            break;
        if (n == max) {
            diag_error(d, "%s: more than %d files", dir, max);
            return -1;
        }
        if (onnx_read_tensor(a, path, &ts[n], d))
            return -1;
    }
    return n;
}

/* Compare output i; prints a line; returns 1 if it matches, else 0 with
 * the line also recorded as the error in d. */
static int compare(int i, const char *name, const Tensor *want, const Tensor *got, double rtol, double atol,
                   Diag *d)
{
    char a[160], b[160], line[512];
    int at = snprintf(line, sizeof line, "output %d '%s' %s[%s]: ", i, name, dtype_name(want->dtype),
                      shape_str(&want->shape, a, sizeof a));
    if (want->dtype != got->dtype || !shape_equal(&want->shape, &got->shape)) {
        snprintf(line + at, sizeof line - (size_t)at, "the program wrote %s[%s]", dtype_name(got->dtype),
                 shape_str(&got->shape, b, sizeof b));
        printf("%s\n", line);
        diag_error(d, "%s", line);
        return 0;
    }
    int64_t n = shape_numel(&want->shape), bad = 0, first_bad = -1;
    double max_abs = 0, max_rel = 0;
    int isf = dtype_is_float(want->dtype);
    for (int64_t k = 0; k < n; k++) {
        int ok;
        if (isf) {
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
    if (isf)
        at += snprintf(line + at, sizeof line - (size_t)at, "max abs error %.3g, max rel error %.3g", max_abs, max_rel);
    else
        at += snprintf(line + at, sizeof line - (size_t)at, "max abs error %.3g", max_abs);
    if (bad) {
        snprintf(line + at, sizeof line - (size_t)at, ", %lld of %lld elements differ (first at %lld)",
                 (long long)bad, (long long)n, (long long)first_bad);
        printf("%s\n", line);
        diag_error(d, "%s", line);
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

/* A fresh folder under $TMPDIR (or /tmp). */
static int make_temp(char *out, size_t size, Diag *d)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, size, "%s/kiln-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out))
        return diag_error(d, "cannot create a temporary folder in %s", tmp && *tmp ? tmp : "/tmp");
    return 0;
}

/* Build c as an executable in -o's folder or a fresh temporary one (its
 * path into dir[size]). */
static int build_exe(const Compiled *c, const Options *o, char *dir, size_t size, Diag *d)
{
    if (o->outdir)
        snprintf(dir, size, "%s", o->outdir);
    else if (make_temp(dir, size, d))
        return 1;
    Options eo = *o;
    eo.emit = "exe";
    return emit_and_build(c, &eo, dir, d);
}

/* End of a command: print the error, remove the temporary build folder. */
static int finish(Arena *a, const Options *o, const char *dir, int rc, const Diag *d)
{
    if (rc)
        fprintf(stderr, "%s\n", d->msg);
    if (*dir && !o->outdir && !o->keep)
        remove_tree(dir);
    arena_free(a);
    return rc;
}

int cmd_check(const Options *o)
{
    Arena *a = arena_new();
    Diag d = {.file = o->model};
    Tensor ins[MAX_TENSORS], want[MAX_TENSORS];
    Compiled c;
    char dir[4096] = "";
    int rc = 1, nin, nout;

    struct stat sb;
    if (stat(o->testdir, &sb) || !S_ISDIR(sb.st_mode)) {
        diag_error(&d, "%s: %s", o->testdir, stat(o->testdir, &sb) ? "does not exist" : "is not a directory");
        goto done;
    }
    if ((nin = read_set(a, o->testdir, "input", ins, MAX_TENSORS, &d)) < 0 ||
        (nout = read_set(a, o->testdir, "output", want, MAX_TENSORS, &d)) < 0) {
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
    if (nin != c.prog->ninputs) {
        diag_error(&d, "%s has %d input files, the model has %d inputs", o->testdir, nin, c.prog->ninputs);
        goto done;
    }
    if (nout != c.prog->noutputs) {
        diag_error(&d, "%s has %d output files, the model has %d outputs", o->testdir, nout, c.prog->noutputs);
        goto done;
    }
    if (build_exe(&c, o, dir, sizeof dir, &d))
        goto done;

    /* run: model --in input_0.pb ... --out DIR --quiet */
    char *argv[2 * MAX_TENSORS + 8];
    int argc = 0;
    argv[argc++] = arena_printf(a, "%s/model", dir);
    for (int i = 0; i < nin; i++) {
        argv[argc++] = "--in";
        argv[argc++] = arena_printf(a, "%s/input_%d.pb", o->testdir, i);
    }
    argv[argc++] = "--out";
    argv[argc++] = dir;
    argv[argc++] = "--quiet";
    argv[argc] = NULL;
    char log[4200], why[1024];
    snprintf(log, sizeof log, "%s/run.log", dir);
    int status = run(argv, log);
    if (status != 0) {
        last_line(log, why, sizeof why);
        if (status < -128)
            diag_error(&d, "the generated program crashed (signal %d)%s%s", -status - 128, *why ? ": " : "", why);
        else
            diag_error(&d, "the generated program failed (exit %d)%s%s", status, *why ? ": " : "", why);
        goto done;
    }
    int matched = 0;
    for (int i = 0; i < nout; i++) {
        Tensor got;
        char path[4200];
        snprintf(path, sizeof path, "%s/output_%d.pb", dir, i);
        if (onnx_read_tensor(a, path, &got, &d))
            goto done;
        matched += compare(i, c.prog->bufs[c.prog->outputs[i]].label, &want[i], &got, o->rtol, o->atol, &d);
    }
    if (matched != nout)
        goto done; /* d names the first output that differs */
    printf("kiln check: %d of %d outputs match\n", matched, nout);
    rc = 0;
done:
    return finish(a, o, dir, rc, &d);
}

int cmd_bench(const Options *o)
{
    Arena *a = arena_new();
    Diag d = {.file = o->model};
    Compiled c;
    char dir[4096] = "";
    int rc = 1;
    if (compile_model(a, o, NULL, 0, NULL, 0, &c, &d) || build_exe(&c, o, dir, sizeof dir, &d))
        goto done;
    char *argv[8];
    argv[0] = arena_printf(a, "%s/model", dir);
    argv[1] = "--bench";
    argv[2] = arena_printf(a, "%d", o->iters);
    argv[3] = "--quiet";
    argv[4] = o->profile ? "--profile" : NULL;
    argv[5] = NULL;
    int st = run(argv, NULL);
    if (st != 0) {
        diag_error(&d, "the generated program failed (exit %d)", st);
        goto done;
    }
    rc = 0;
done:
    return finish(a, o, dir, rc, &d);
}
