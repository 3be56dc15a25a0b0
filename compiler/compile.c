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
#include "ops/op.h"
#include "onnx/onnx.h"
#include "../targets/target.h"
#include "../targets/boards/board.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Verify the IR between passes (a debug aid that also runs in tests). */
static int verify_graph(Graph *g, int typed, Diag *d) { return graph_verify(g, typed, d); }

/* Verify the Kernel IR after loop pass `pass`; with KILN_DUMP_PASSES set
 * in the environment, print it to stderr first (a debugging aid). */
static int verify_prog(Program *p, const char *pass, Diag *d)
{
    if (getenv("KILN_DUMP_PASSES")) {
        fprintf(stderr, "=== after %s\n", pass);
        prog_dump(p, stderr);
    }
    return prog_verify(p, d);
}

int compile_model(Arena *a, const Options *o, const Tensor *known, int nknown,
                  const char *const *specialize, int nspecialize, Compiled *out, Diag *d)
{
    memset(out, 0, sizeof *out);
    ImportResult imp;
    /* ONNX protobuf -> Graph IR, nodes sorted, names resolved */
    if (onnx_import(a, o->model, 0, &imp, d))
        return 1;
    Graph *g = out->graph = imp.graph;
    /* sequence and optional inputs become model_run's tensor slots */
    if (graph_seq_inputs(g, known, nknown, d))
        return 1;
    /* every input gets a static shape (--shape, test data) */
    g->str_bytes = o->string_bytes;
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
    /* QDQ brackets around Conv, MatMul, Add, pooling: integer ops, int8
     * weights kept (before folding would dequantize them) */
    if (graph_qdq(g, d) || verify_graph(g, 0, d))
        return 1;
    /* shapes and dtypes of every value; constant subgraphs folded */
    if (graph_infer(g, d) || verify_graph(g, 1, d))
        return 1;
    /* sequence and optional outputs become model_run's tensor slots */
    if (graph_seq_outputs(g, d) || verify_graph(g, 1, d))
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
    /* convolution chains stored channels-last */
    if (o->opt >= 1 && (graph_layout(g, d) || verify_graph(g, 1, d)))
        return 1;
    /* outputs updated in place of inputs */
    if (o->naliases && (graph_alias(g, o->aliases, o->naliases, d) || verify_graph(g, 1, d)))
        return 1;
    if (o->dump && !strcmp(o->dump, "graph"))
        graph_dump(g, stdout);
    /* one loop nest per fusion group */
    /* the algorithms lowering may choose from: Winograd for 3x3 Convs on a
     * CPU target with wide vectors and FMA (winograd.c) */
    const Target *tg = target_find(o->target ? o->target : "c");
    /* the machine the loop passes schedule for */
    Machine mc = o->board ? o->board->machine : *machine_arch(o->arch);
    mc.threads = o->threads;
    g->winograd = o->opt >= 1 && !(tg && tg->gpu) && mc.vec_bytes >= 32 && mc.fma ? mc.l2 : 0;
    Program *p;
    if (kernel_lower(g, !o->no_inplace, &p, d) || prog_verify(p, d))
        return 1;
    p->threads = o->threads;
    /* loops of extent 1 removed, constant conditions resolved */
    if (prog_simplify(p, d) || prog_verify(p, d))
        return 1;
    if (tg && tg->gpu) {
        /* GPU targets: each loop nest a grid, one thread per output (the
         * CPU schedule's blocking, vectors and thread pool do not apply);
         * kernels on strings or calling runtime routines placed on the
         * host */
        if (prog_gpumap(p, machine_host(), d) || verify_prog(p, "gpumap", d))
            return 1;
        /* index divisions the loops prove */
        if (o->opt >= 1 && (prog_divmod(p, d) || verify_prog(p, "divmod", d)))
            return 1;
    } else if (o->opt >= 1) {
        /* one thread for a program too small to share */
        prog_threads(p, &mc);
        /* a scratch buffer filled and read slice by slice: one slice */
        if (prog_fuse_slices(p, d) || verify_prog(p, "fuse slices", d))
            return 1;
        /* contractions register blocked, weights packed */
        if (prog_contract(p, &mc, d) || verify_prog(p, "contract", d))
            return 1;
        /* narrow rows over a wider pitch: one flat run */
        if (prog_widen(p, &mc, d) || verify_prog(p, "widen", d))
            return 1;
        /* how each kernel runs: blocking, vector and parallel loops */
        if (prog_schedule(p, &mc, d) || verify_prog(p, "schedule", d))
            return 1;
        /* L_VECTOR loops become vector expressions */
        if (prog_vectorize(p, d) || verify_prog(p, "vectorize", d))
            return 1;
        /* L_UNROLL loops become copies */
        if (prog_unroll(p, d) || prog_simplify(p, d) || verify_prog(p, "unroll", d))
            return 1;
        /* register tiles become variables */
        if (prog_promote(p, d) || verify_prog(p, "promote", d))
            return 1;
        /* a tile's pixels decoded from one base: divisions the loops prove */
        if (prog_divmod(p, d) || verify_prog(p, "divmod", d))
            return 1;
    }
    /* kiln compare --kernel: one kernel calls the user's function instead */
    if (o->swap_kernel && (prog_swap(g, p, o->swap_kernel, o->swap_routine, d) || verify_prog(p, "swap", d)))
        return 1;
    /* arena offsets by liveness, weight blob layout */
    if (prog_plan(p, d))
        return 1;
    if (o->dump && !strcmp(o->dump, "kernel"))
        prog_dump(p, stdout);
    if (o->dump && !strcmp(o->dump, "llvm")) {
        EmitOptions eo = {.prefix = "model", .opt = o->opt, .arch = o->arch};
        if (llvm_dump(p, &eo, stdout, d))
            return 1;
    }
    if (o->dump && !strcmp(o->dump, "ptx")) {
        EmitOptions eo = {.prefix = "model", .opt = o->opt};
        if (ptx_dump(p, &eo, stdout, d))
            return 1;
    }
    out->prog = p;
    return 0;
}

/* ------------------------------------------------------------ building */

/*
 * A build never happens in OUTDIR itself: the sources are written to a
 * private folder OUTDIR/.kiln-XXXXXX (mkdtemp, mode 0700, so nothing can be
 * planted in it), built there by `sh build.sh` run from an argument vector,
 * and only a build that succeeded is renamed into OUTDIR file by file
 * (rename replaces a planted symlink instead of writing through it). A
 * failure removes the private folder and every result of this compile's
 * names from OUTDIR, keeping only build.log to read.
 */

static const char build_sh[] =
    "#!/bin/sh\n"
    "# build.sh: builds the model from these sources; needs only a C compiler.\n"
    "#   sh build.sh          -> ./model (reads and writes TensorProto files)\n"
    "#   sh build.sh lib      -> ./libmodel.a and model.h\n"
    "# CC and CFLAGS override the compiler and its flags; the default was\n"
    "# chosen for the machine kiln ran on (-march=native): to build for another,\n"
    "# set CFLAGS, e.g. CFLAGS='-O3 -march=x86-64-v3 -ffp-contract=fast'.\n"
    "# -fwrapv is not a tuning flag: kiln's integers wrap at their width, as\n"
    "# in the Kernel IR. -Wno-psabi: gcc notes an ABI change for vectors wider\n"
    "# than a register (kiln_vec.h's index vectors), which no call here crosses.\n"
    "set -e\n"
    "cd \"$(dirname \"$0\")\"\n"
    "CC=${CC:-cc}\n"
    "CFLAGS=${CFLAGS:-%s}\n"
    "# the thread pool (kiln_par.c), for a model compiled with --threads N > 1\n"
    "POOL=\"%s\"\n"
    "# every C file compiles at once (a large model's kernels are split over\n"
    "# model.c, model_1.c, ...); then one link or archive\n"
    "srcs=\"model.c\"\n"
    "# the string routines (kiln_str.c), for a model with string tensors\n"
    "[ ! -f kiln_str.c ] || srcs=\"$srcs kiln_str.c\"\n"
    "# the image decoder (kiln_img.c), for a model that decodes PNG or JPEG\n"
    "[ ! -f kiln_img.c ] || srcs=\"$srcs kiln_img.c\"\n"
    "for f in model_[0-9]*.c; do [ -f \"$f\" ] && srcs=\"$srcs $f\"; done\n"
    "[ \"$1\" = lib ] || srcs=\"$srcs kiln_rt.c kiln_main.c\"\n"
    "# kernels as PTX (--target ptx): their text and the CUDA driver glue, which\n"
    "# opens libcuda.so.1 when the model runs (no CUDA needed to build)\n"
    "LIBS=-lm\n"
    "[ ! -f model.ptx ] || { srcs=\"$srcs model_ptx.c kiln_cu.c\"; LIBS=\"$LIBS -ldl\"; }\n"
    "# the kernels a GPU target runs on the host (strings, runtime routines)\n"
    "[ ! -f model_host.c ] || srcs=\"$srcs model_host.c\"\n"
    "[ -z \"$POOL\" ] || srcs=\"$srcs kiln_par.c\"\n"
    "pids=\"\" objs=\"\"\n"
    "for f in $srcs; do\n"
    "    $CC -std=c99 $CFLAGS $POOL -fwrapv -Wall -Wextra -Wno-psabi -c \"$f\" -o \"${f%%.c}.o\" &\n"
    "    pids=\"$pids $!\" objs=\"$objs ${f%%.c}.o\"\n"
    "done\n"
    "failed=0\n"
    "for p in $pids; do wait \"$p\" || failed=1; done\n"
    "[ $failed -eq 0 ] || exit 1\n"
    "# the kernels another code generator built (--target llvm)\n"
    "[ ! -f model_kernels.o ] || objs=\"$objs model_kernels.o\"\n"
    "if [ \"$1\" = lib ]; then\n"
    "    $CC -c weights.S -o weights.o\n"
    "    rm -f libmodel.a\n"
    "    ${AR:-ar} rcs libmodel.a $objs weights.o\n"
    "else\n"
    "    $CC $CFLAGS $POOL -o model.tmp $objs weights.S $LIBS\n"
    "    mv model.tmp model\n"
    "fi\n";

/* Longest OUTDIR accepted: the target and the runtime build file paths of
 * OUTDIR/.kiln-XXXXXX/NAME in 4096-byte buffers. */
enum { MAX_OUTDIR = 4000 };

/* The files a compile writes or its build leaves in OUTDIR, besides the
 * runtime's (kiln_embedded). `product` marks the built results, which are
 * moved into OUTDIR last. */
static const struct {
    const char *name;
    int product;
} out_names[] = {
    {"model", 1},    {"libmodel.a", 1}, {"model.c", 0},   {"model.h", 0},   {"weights.bin", 0},
    {"weights.S", 0}, {"build.sh", 0},   {"model.tmp", 0}, {"model.o", 0},   {"weights.o", 0},
    {"build.log", 0}, {"model_1.c", 0}, {"model_2.c", 0}, {"model_3.c", 0}, {"model_1.o", 0},
    {"model_2.o", 0}, {"model_3.o", 0}, {"kiln_rt.o", 0}, {"kiln_main.o", 0}, {"kiln_par.o", 0}, {"kiln_str.o", 0},
    {"kiln_img.o", 0}, {"kiln_img.su", 0}, {"kiln_img.ci", 0},
    /* a board's build (targets/boards): its files, gcc's stack usage and
     * call graph of each C file */
    {"startup.c", 0}, {"startup.o", 0}, {"board.ld", 0}, {"memory.ld", 0}, {"model.su", 0},
    {"model.ci", 0}, {"model_1.su", 0}, {"model_1.ci", 0}, {"model_2.su", 0}, {"model_2.ci", 0},
    {"model_3.su", 0}, {"model_3.ci", 0}, {"kiln_rt.su", 0}, {"kiln_rt.ci", 0}, {"kiln_main.su", 0},
    {"kiln_main.ci", 0}, {"startup.su", 0}, {"startup.ci", 0},
    {"model_kernels.o", 0}, {"model_kernels.ci", 0},
    /* --target ptx */
    {"model.ptx", 0}, {"model_ptx.c", 0}, {"model_ptx.o", 0}, {"kiln_cu.o", 0},
    /* --target cuda and ptx: the kernels placed on the host */
    {"model_host.c", 0}, {"model_host.o", 0},
    /* --target cuda */
    {"model.cu", 0},
};

static int is_product(const char *name)
{
    for (size_t i = 0; i < sizeof out_names / sizeof out_names[0]; i++)
        if (!strcmp(name, out_names[i].name))
            return out_names[i].product;
    return 0;
}

static int write_text(Arena *a, const char *dir, const char *name, const void *data, size_t size, Diag *d)
{
    char *path = arena_printf(a, "%s/%s", dir, name);
    if (write_file(path, data, size))
        return diag_error(d, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* mkdir -p: dir and the folders above it. Returns 0, or 1 with errno set. */
static int mkdir_p(Arena *a, const char *dir)
{
    char *buf = arena_strdup(a, dir);
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

void remove_outputs(const char *dir)
{
    Arena *a = arena_new();
    for (size_t i = 0; i < sizeof out_names / sizeof out_names[0]; i++)
        if (strcmp(out_names[i].name, "build.log"))
            unlink(arena_printf(a, "%s/%s", dir, out_names[i].name));
    for (const EmbeddedFile *f = kiln_embedded; f->name; f++)
        unlink(arena_printf(a, "%s/%s", dir, f->name));
    arena_free(a);
}

/* The host's instruction set; float contraction into FMA (the Kernel IR's
 * reductions are reassociated anyway); libm calls that need not set errno,
 * so that they vectorize. */
const char *build_cflags(Arena *a, const Options *o)
{
    const char *isa = machine_arch(o->arch)->cflags;
    return o->opt >= 3   ? arena_printf(a, "-O3 %s -ffp-contract=fast -fno-math-errno", isa)
           : o->opt == 2 ? arena_printf(a, "-O2 %s -fno-math-errno", isa)
           : o->opt == 1 ? "-O1" : "-O0";
}

/* The target's sources, the runtime and build.sh, into the folder tmp. */
static int write_sources(Arena *a, const Compiled *c, const Options *o, const Target *t, const char *tmp, Diag *d)
{
    EmitOptions eo = {.prefix = "model", .profile = o->profile, .opt = o->opt, .arch = o->arch, .board = o->board};
    if (t->emit(c->prog, tmp, &eo, d))
        return 1;
    for (const EmbeddedFile *f = kiln_embedded; f->name; f++) {
        /* the string routines only for a program that has strings: a
         * library for a board carries nothing it does not call */
        if (!strcmp(f->name, "kiln_str.c") && !prog_has_strings(c->prog))
            continue;
        /* the image decoder, likewise, only for a program that calls it */
        if (!strcmp(f->name, "kiln_img.c") && prog_calls(c->prog, "kiln_img_") < 0)
            continue;
        if (write_text(a, tmp, f->name, f->data, f->size, d))
            return 1;
    }
    if (o->board) {
        /* the board's start-up code and linker script; a build.sh of the
         * steps board_build runs */
        char *script = board_script(a, o->board, !strcmp(o->emit, "lib"), o->opt, tmp);
        return board_write_files(a, o->board, tmp, d) || write_text(a, tmp, "build.sh", script, strlen(script), d);
    }
    if (t->emit == cuda_program) { /* nvcc; --target ptx builds with cc (build_sh) */
        char *script = cuda_build_script(a, o->opt);
        return write_text(a, tmp, "build.sh", script, strlen(script), d);
    }
    const char *cflags = build_cflags(a, o);
    const char *pool = o->threads > 1 ? arena_printf(a, "-DKILN_PAR_THREADS=%d -pthread", o->threads) : "";
    char *script = arena_printf(a, build_sh, cflags, pool);
    return write_text(a, tmp, "build.sh", script, strlen(script), d);
}

/* Is there an nvcc for a CUDA build.sh to find: on PATH, in $CUDA_HOME/bin
 * or /usr/local/cuda/bin (the order build.sh looks in)? */
static int find_nvcc(Arena *a)
{
    const char *path = getenv("PATH");
    for (const char *s = path ? path : ""; *s;) {
        size_t n = strcspn(s, ":");
        if (n && access(arena_printf(a, "%.*s/nvcc", (int)n, s), X_OK) == 0)
            return 1;
        s += n + (s[n] == ':');
    }
    const char *home = getenv("CUDA_HOME");
    return access(arena_printf(a, "%s/bin/nvcc", home && *home ? home : "/usr/local/cuda"), X_OK) == 0;
}

/* Run `sh build.sh [lib]` in tmp with its output in tmp/build.log. On
 * failure the message names DIR/build.log, where emit_and_build keeps it. */
static int build(Arena *a, const Options *o, const Target *t, const char *tmp, const char *dir, Diag *d)
{
    if (t->emit == cuda_program && !find_nvcc(a))
        return diag_error(d, "--target %s needs nvcc (the CUDA toolkit): not found on PATH, in $CUDA_HOME/bin or "
                             "/usr/local/cuda/bin (--emit src writes the sources without building them)", t->name);
    if (o->board)
        return board_build(a, o->board, !strcmp(o->emit, "lib"), o->opt, tmp, d);
    char *argv[] = {"sh", "build.sh", !strcmp(o->emit, "lib") ? "lib" : NULL, NULL};
    char *log = arena_printf(a, "%s/build.log", tmp);
    int st = run_argv(argv, tmp, log);
    if (st == 0)
        return 0;
    char *kept = arena_printf(a, "%s/build.log", dir);
    if (st == RUN_NOT_STARTED)
        return diag_error(d, "cannot run sh to build the generated code: %s", strerror(errno));
    /* the first error line of the log says what went wrong */
    char *line = file_line(a, log, "error");
    if (st < RUN_SIGNALED)
        return diag_error(d, "building the generated code was stopped by signal %d (see %s)%s%s", RUN_SIGNALED - st,
                          kept, *line ? ": " : "", line);
    return diag_error(d, "building the generated code failed (exit %d, see %s)%s%s", st, kept, *line ? ": " : "",
                      line);
}

/* Move every file of tmp into dir, the built results last, so that a new
 * model never stands beside older sources; then remove what an earlier
 * compile left there and this one did not make (a model after --emit lib,
 * a build.log after --emit src). */
static int move_results(Arena *a, const char *tmp, const char *dir, Diag *d)
{
    int n;
    char **names = list_dir(a, tmp, &n);
    if (!names)
        return diag_error(d, "cannot read %s: %s", tmp, strerror(errno));
    for (int last = 0; last < 2; last++)
        for (int i = 0; i < n; i++) {
            if (is_product(names[i]) != last)
                continue;
            char *from = arena_printf(a, "%s/%s", tmp, names[i]), *to = arena_printf(a, "%s/%s", dir, names[i]);
            if (rename(from, to))
                return diag_error(d, "cannot move %s to %s: %s", from, to, strerror(errno));
        }
    for (size_t k = 0; k < sizeof out_names / sizeof out_names[0]; k++) {
        int made = 0;
        for (int i = 0; i < n && !made; i++)
            made = !strcmp(names[i], out_names[k].name);
        if (!made)
            unlink(arena_printf(a, "%s/%s", dir, out_names[k].name));
    }
    return 0;
}

int emit_and_build(const Compiled *c, const Options *o, const char *dir, Diag *d)
{
    const Target *t = target_find(o->target ? o->target : "c");
    if (!t)
        return diag_error(d, "unknown target '%s'", o->target);
    if (!*dir || strlen(dir) > MAX_OUTDIR)
        return diag_error(d, "output folder path is %s", *dir ? "too long" : "empty");
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return diag_error(d, "output folder %s exists and is not a directory", dir);
    Arena *a = arena_new();
    if (mkdir_p(a, dir)) {
        diag_error(d, "cannot create output folder %s: %s", dir, strerror(errno));
        arena_free(a);
        return 1;
    }
    int rc = 0, built = 0;
    char *tmp = make_temp_dir(a, dir, ".kiln-");
    if (!tmp)
        rc = diag_error(d, "cannot create a temporary folder in %s: %s", dir, strerror(errno));
    if (!rc)
        rc = write_sources(a, c, o, t, tmp, d);
    if (!rc && strcmp(o->emit, "src")) {
        rc = build(a, o, t, tmp, dir, d);
        built = 1;
    }
    if (!rc)
        rc = move_results(a, tmp, dir, d);
    if (rc) {
        remove_outputs(dir);
        /* the log of a failed build stays where the message says it is */
        char *log = arena_printf(a, "%s/build.log", dir);
        if (!built || !tmp || rename(arena_printf(a, "%s/build.log", tmp), log))
            unlink(log);
    }
    if (tmp)
        remove_tree(tmp);
    arena_free(a);
    return rc;
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
    if (!rc && o->outdir && o->board && strcmp(o->emit, "src")) {
        /* the inference path's stack, from gcc's call graphs of this build */
        char *path, *ext;
        Diag sd = {.file = o->model};
        int64_t stack = board_stack(a, o->outdir, "model_run", &path, &ext, &sd);
        if (stack < 0)
            fprintf(stderr, "kiln: stack of model_run not known: %s\n", sd.msg);
        else
            fprintf(stderr, "kiln: stack of model_run %lld bytes worst case (%s)%s%s\n", (long long)stack, path,
                    *ext ? "; not counted, outside the build: " : "", ext);
    }
    arena_free(a);
    return rc ? 1 : 0;
}
