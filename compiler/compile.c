/*
 * compile.c: the compiler pipeline, and `kiln compile`.
 *
 * compile_model() is the whole compiler in one function: reading it is
 * reading kiln. emit_and_build() hands the planned program to the target
 * and builds the result with the host C compiler through a generated
 * build.sh, which is also what a user runs on another machine after
 * `--emit src`.
 */
#include "driver.h"
#include "embedded.h"
#include "kernel/lower.h"
#include "onnx/onnx.h"
#include "../targets/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Verify the IR between passes (a debug aid that also runs in tests). */
static int verify_graph(Graph *g, int typed, Diag *d) { return graph_verify(g, typed, d); }

int compile_model(Arena *a, const Options *o, const Tensor *known, int nknown,
                  const char *const *specialize, int nspecialize, Compiled *out, Diag *d)
{
    memset(out, 0, sizeof *out);
    ImportResult imp;
    /* ONNX protobuf -> Graph IR, nodes sorted, names resolved */
    if (onnx_import(a, o->model, 0, &imp, d))
        return 1;
    Graph *g = out->graph = imp.graph;
    /* every input gets a static shape (--shape, test data) */
    if (graph_bind(g, o->binds, o->nbinds, known, nknown, d))
        return 1;
    /* inputs kiln check compiles for one value: replaced by constants */
    for (int i = 0; i < nspecialize; i++) {
        ValueId v = graph_find_value(g, specialize[i]);
        if (v == VNONE || graph_specialize(g, v, d))
            return v == VNONE ? diag_error(d, "no input '%s' to specialize", specialize[i]) : 1;
    }
    if (verify_graph(g, 0, d))
        return 1;
    /* shapes and dtypes of every value; constant subgraphs folded */
    if (graph_infer(g, d) || verify_graph(g, 1, d))
        return 1;
    /* identities dropped, BatchNormalization folded into Conv/Gemm */
    if (graph_canon(g, d) || verify_graph(g, 1, d))
        return 1;
    /* nodes nobody reads removed */
    if (graph_dce(g, d) || verify_graph(g, 1, d))
        return 1;
    /* elementwise chains join their producer's kernel */
    if (graph_fuse(g, d))
        return 1;
    if (o->dump && !strcmp(o->dump, "graph"))
        graph_dump(g, stdout);
    /* one loop nest per fusion group */
    Program *p;
    if (kernel_lower(g, &p, d) || prog_verify(p, d))
        return 1;
    p->threads = o->threads;
    /* loops of extent 1 removed, constant conditions resolved */
    if (prog_simplify(p, d) || prog_verify(p, d))
        return 1;
    /* arena offsets by liveness, weight blob layout */
    if (prog_plan(p, d))
        return 1;
    if (o->dump && !strcmp(o->dump, "kernel"))
        prog_dump(p, stdout);
    out->prog = p;
    return 0;
}

/* ------------------------------------------------------------ building */

static const char build_sh[] =
    "#!/bin/sh\n"
    "# build.sh: builds the model from these sources; needs only a C compiler.\n"
    "#   sh build.sh          -> ./model (reads and writes TensorProto files)\n"
    "#   sh build.sh lib      -> ./libmodel.a and model.h\n"
    "# CC and CFLAGS override the compiler and its flags. -fwrapv is not a\n"
    "# tuning flag: kiln's integers wrap at their width, as in the Kernel IR.\n"
    "set -e\n"
    "cd \"$(dirname \"$0\")\"\n"
    "CC=${CC:-cc}\n"
    "CFLAGS=${CFLAGS:-%s}\n"
    "if [ \"$1\" = lib ]; then\n"
    "    $CC -std=c99 $CFLAGS -fwrapv -Wall -Wextra -c model.c -o model.o\n"
    "    $CC -c weights.S -o weights.o\n"
    "    rm -f libmodel.a\n"
    "    ${AR:-ar} rcs libmodel.a model.o weights.o\n"
    "else\n"
    "    $CC -std=c99 $CFLAGS -fwrapv -Wall -Wextra -o model.tmp model.c weights.S kiln_rt.c kiln_main.c -lm\n"
    "    mv model.tmp model\n"
    "fi\n";

static int write_text(const char *dir, const char *name, const void *data, size_t size, Diag *d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (write_file(path, data, size))
        return diag_error(d, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return 1;
        *p = '/';
    }
    return mkdir(buf, 0777) && errno != EEXIST;
}

/* Remove what a failed build left, so the folder does not look finished. */
static void remove_outputs(const char *dir)
{
    static const char *names[] = {"model", "model.tmp", "libmodel.a", "model.o", "weights.o"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
}

int emit_and_build(const Compiled *c, const Options *o, const char *dir, Diag *d)
{
    const Target *t = target_find(o->target ? o->target : "c");
    if (!t)
        return diag_error(d, "unknown target '%s'", o->target);
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return diag_error(d, "output folder %s exists and is not a directory", dir);
    if (mkdir_p(dir))
        return diag_error(d, "cannot create output folder %s: %s", dir, strerror(errno));
    remove_outputs(dir);
    EmitOptions eo = {"model", o->profile};
    if (t->emit(c->prog, dir, &eo, d))
        return 1;
    for (const EmbeddedFile *f = kiln_embedded; f->name; f++)
        if (write_text(dir, f->name, f->data, f->size, d))
            return 1;
    const char *cflags = o->opt >= 3 ? "-O3 -march=native" : o->opt == 2 ? "-O2" : o->opt == 1 ? "-O1" : "-O0";
    char script[2048];
    int n = snprintf(script, sizeof script, build_sh, cflags);
    if (write_text(dir, "build.sh", script, (size_t)n, d))
        return 1;
    if (!strcmp(o->emit, "src"))
        return 0;

    char cmd[8192];
    snprintf(cmd, sizeof cmd, "sh '%s/build.sh' %s > '%s/build.log' 2>&1", dir, !strcmp(o->emit, "lib") ? "lib" : "",
             dir);
    int rc = system(cmd);
    if (rc != 0) {
        /* the first error line of the log says what went wrong */
        char path[4096], line[512] = "";
        snprintf(path, sizeof path, "%s/build.log", dir);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "error"))
                break;
        if (f)
            fclose(f);
        line[strcspn(line, "\n")] = 0;
        remove_outputs(dir);
        return diag_error(d, "building the generated code failed (see %s): %s", path, line);
    }
    return 0;
}

int cmd_compile(const Options *o)
{
    Arena *a = arena_new();
    Diag d = {.file = o->model};
    Compiled c;
    int rc = compile_model(a, o, NULL, 0, NULL, 0, &c, &d);
    if (!rc && o->outdir)
        rc = emit_and_build(&c, o, o->outdir, &d);
    else if (rc && o->outdir)
        remove_outputs(o->outdir); /* no stale binary that looks like this compile's */
    if (rc)
        fprintf(stderr, "%s\n", d.msg);
    else if (o->outdir)
        fprintf(stderr, "kiln: wrote %s/%s (%d kernels, arena %lld bytes, weights %lld bytes)\n", o->outdir,
                !strcmp(o->emit, "exe") ? "model" : !strcmp(o->emit, "lib") ? "libmodel.a" : "build.sh",
                c.prog->nkernels, (long long)c.prog->arena_bytes, (long long)c.prog->weight_bytes);
    arena_free(a);
    return rc ? 1 : 0;
}
