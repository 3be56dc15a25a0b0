/*
 * fuzz_compile.c: a libFuzzer target over the whole compiler.
 *
 * The input bytes are an ONNX ModelProto. Each run writes them to
 * model.onnx in a scratch folder on tmpfs (/dev/shm/kiln-fuzz-PID-XXXXXX,
 * one per process, emptied before every run; those of dead processes are
 * removed at start), binds every symbolic or unknown input dim to 2 (what --shape
 * would do), runs compile_model() (import, bind, infer and fold, canon,
 * dce, fuse, lower, simplify, plan) and then the C target's printer into
 * the scratch folder. Nothing is built: the host C compiler is not part of
 * what this target tests (tests/fuzz/mutate.py builds and runs outputs).
 *
 * Outcomes:
 *   - compile_model or the printer returns 1 with a message: the model was
 *     rejected, the normal outcome for most inputs;
 *   - a sanitizer report (ASan, UBSan built with -fno-sanitize-recover), a
 *     signal, a run over -timeout, an allocation over -malloc_limit_mb, or
 *     the arena running out of memory (the handler below aborts): a finding.
 *
 * Build (meson, clang):
 *   CC=clang meson setup /tmp/build-fuzz -Dfuzz=true \
 *       -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C /tmp/build-fuzz fuzz_compile
 * Run: tests/fuzz/run.sh (seeds, dictionary, limits), or by hand
 *   /tmp/build-fuzz/fuzz_compile -dict=tests/fuzz/onnx.dict out/fuzz/corpus out/fuzz/seeds
 * Reproduce one input: /tmp/build-fuzz/fuzz_compile crash-FILE
 * With KILN_FUZZ_VERBOSE=1 in the environment each run prints kiln's
 * message (or "ok") on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "driver.h"
#include "onnx/onnx.h"
#include "../targets/target.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SYM_DIM = 2 };         /* every symbolic or unknown input dim */

static char scratch[256];     /* /dev/shm/kiln-fuzz-PID-XXXXXX */
static char model_path[300];  /* scratch/model.onnx */
static char out_dir[300];     /* scratch/out: the printer's folder */
static int verbose;

/* The arena's allocation failed: kiln would print "out of memory" and exit
 * 1, which libFuzzer would take for a normal end of the process. Abort
 * instead, so that it is reported with the input that caused it. */
static void fuzz_oom(void)
{
    fputs("fuzz_compile: arena allocation failed (out of memory)\n", stderr);
    abort();
}

/* Unlink every entry of `dir` (files only; the printer makes no folders). */
static void empty_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    char path[600];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path))
            rmdir(path);
    }
    closedir(dp);
}

static void cleanup(void)
{
    if (!scratch[0])
        return;
    empty_dir(out_dir);
    rmdir(out_dir);
    empty_dir(scratch);
    rmdir(scratch);
}

/* A process that crashed (the findings) left its folder: remove the
 * folders in `base` of processes that no longer exist. */
static void remove_stale(const char *base)
{
    DIR *dp = opendir(base);
    if (!dp)
        return;
    struct dirent *e;
    char dir[300], sub[320];
    while ((e = readdir(dp))) {
        long pid;
        if (sscanf(e->d_name, "kiln-fuzz-%ld-", &pid) != 1 || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(dir, sizeof dir, "%s/%s", base, e->d_name);
        snprintf(sub, sizeof sub, "%s/out", dir);
        empty_dir(sub);
        rmdir(sub);
        empty_dir(dir);
        rmdir(dir);
    }
    closedir(dp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    remove_stale(base);
    snprintf(scratch, sizeof scratch, "%s/kiln-fuzz-%ld-XXXXXX", base, (long)getpid());
    if (!mkdtemp(scratch)) {
        perror("fuzz_compile: mkdtemp");
        abort();
    }
    snprintf(model_path, sizeof model_path, "%s/model.onnx", scratch);
    snprintf(out_dir, sizeof out_dir, "%s/out", scratch);
    atexit(cleanup);
    arena_set_oom_handler(fuzz_oom);
    verbose = getenv("KILN_FUZZ_VERBOSE") != NULL;
    return 0;
}

/* --shape bindings for the inputs of the model at model_path that have
 * symbolic or unknown dims (each such dim = SYM_DIM), or no shape at all
 * (rank 1, [SYM_DIM]). Returns the count, at most MAX_BINDS; 0 when the
 * model does not import (compile_model will say why). */
static int make_binds(Arena *a, ShapeBind *binds)
{
    Diag d = {.file = model_path};
    ImportResult imp;
    if (onnx_import(a, model_path, 0, &imp, &d))
        return 0;
    const Graph *g = imp.graph;
    int n = 0;
    for (int i = 0; i < g->ninputs && n < MAX_BINDS; i++) {
        const Value *v = &g->values[g->inputs[i]];
        Shape s = {0};
        int symbolic = v->shape.rank < 0;
        if (v->shape.rank < 0) {
            s.rank = 1;
            s.dim[0] = SYM_DIM;
        } else {
            s = v->shape;
            for (int j = 0; j < s.rank && j < KILN_MAX_RANK; j++)
                if (v->sym && v->sym[j]) {
                    s.dim[j] = SYM_DIM;
                    symbolic = 1;
                }
        }
        if (!symbolic)
            continue;
        /* duplicate input names: bind once (graph_bind matches by name) */
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= !strcmp(binds[k].name, v->name);
        if (dup)
            continue;
        binds[n].name = v->name;
        binds[n].shape = s;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    empty_dir(out_dir);
    if (write_file(model_path, data, size)) {
        perror("fuzz_compile: cannot write the model");
        abort();
    }
    mkdir(out_dir, 0700);

    Arena *bind_arena = arena_new();
    Arena *a = arena_new();
    Options o = {0};
    o.model = model_path;
    o.target = "c";
    o.emit = "src";
    /* every loop pass runs; the input's size picks the thread count and
     * the machine description, so parallel outlining and both vector
     * widths are fuzzed too */
    o.opt = 3;
    o.threads = 1 + (int)(size & 1);
    o.arch = size & 2 ? "x86-64-avx2" : "x86-64-avx512";
    o.nbinds = make_binds(bind_arena, o.binds);

    Diag d = {.file = model_path};
    Compiled c;
    int rc = compile_model(a, &o, NULL, 0, NULL, 0, &c, &d);
    if (!rc) {
        const Target *t = target_find("c");
        EmitOptions eo = {.prefix = "model"};
        rc = t->emit(c.prog, out_dir, &eo, &d);
    }
    if (verbose)
        fprintf(stderr, "fuzz_compile: %s\n", rc ? d.msg : "ok");
    arena_free(a);
    arena_free(bind_arena);
    return 0;
}
