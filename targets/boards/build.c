/*
 * build.c: building the generated code for a board, and running it there.
 *
 * The host build goes through a generated build.sh; a board's build does
 * not, because the board's words (its compiler, flags, file names) must
 * never pass through a shell: every step is an argument vector run by
 * run_argv, its output appended to build.log. build.sh is still written,
 * each word single-quoted, for building the folder again by hand.
 *
 * Every C file is compiled with -fstack-usage -fcallgraph-info=su, so that
 * stack.c can sum the frames along model_run's calls.
 */
#define _XOPEN_SOURCE 700 /* realpath, symlink */
#include "board.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const runtime_sources[] = {"kiln_rt.c", "kiln_main.c"};

int board_have_tool(Arena *a, const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && access(arena_printf(a, "%.*s/%s", (int)n, p, name), X_OK) == 0)
            return 1;
        if (!e)
            return 0;
        p = e + 1;
    }
}

int board_write_files(Arena *a, const Board *b, const char *dir, Diag *d)
{
    for (int i = 0; i < b->nfiles; i++)
        if (write_file(arena_printf(a, "%s/%s", dir, b->files[i].name), b->files[i].data, b->files[i].size))
            return diag_error(d, "cannot write %s/%s: %s", dir, b->files[i].name, strerror(errno));
    /* the memory map, from board.txt, for a linker script to INCLUDE */
    char *mem = arena_printf(a,
                             "/* memory.ld: board %s's memory, written by kiln from its board.txt */\n"
                             "MEMORY\n{\n"
                             "    FLASH (rx) : ORIGIN = 0x%llx, LENGTH = %lld\n"
                             "    RAM (rwx) : ORIGIN = 0x%llx, LENGTH = %lld\n"
                             "}\n"
                             "__kiln_stack_size = %lld;\n",
                             b->name, (unsigned long long)b->flash_origin, (long long)b->flash,
                             (unsigned long long)b->ram_origin, (long long)b->ram, (long long)b->stack);
    if (write_file(arena_printf(a, "%s/memory.ld", dir), mem, strlen(mem)))
        return diag_error(d, "cannot write %s/memory.ld: %s", dir, strerror(errno));
    return 0;
}

/* ----------------------------------------------------------- the steps */

typedef struct Steps {
    char **argv[64];           /* each NULL-terminated */
    int n;
} Steps;

/* One step's words: at most cc + cflags + ldflags (BOARD_MAX_WORDS each),
 * kiln's flags and the objects (fewer than 64 together). */
typedef struct Vec {
    char *w[BOARD_MAX_WORDS * 3 + 64];
    int n;
} Vec;

static void add(Vec *v, const char *w) { v->w[v->n++] = (char *)w; }
static void add_words(Vec *v, const Words *w)
{
    for (int i = 0; i < w->n; i++)
        add(v, w->w[i]);
}
static char **done(Arena *a, Vec *v)
{
    char **r = arena_alloc(a, sizeof(char *) * (size_t)(v->n + 1));
    memcpy(r, v->w, sizeof(char *) * (size_t)v->n);
    return r;
}

/* The C files of dir to compile: model.c, model_1.c, ..., and for an
 * executable the runtime and the board's sources. */
static int sources(Arena *a, const Board *b, int lib, const char *dir, const char **out)
{
    int n = 0;
    out[n++] = "model.c";
    /* the string routines kernels call (runtime/kiln_str.h), written only
     * for a model with string tensors */
    if (!access(arena_printf(a, "%s/kiln_str.c", dir), F_OK))
        out[n++] = "kiln_str.c";
    /* the image decoder (runtime/kiln_img.h), likewise */
    if (!access(arena_printf(a, "%s/kiln_img.c", dir), F_OK))
        out[n++] = "kiln_img.c";
    for (int i = 1; i < 16; i++) {
        char *f = arena_printf(a, "model_%d.c", i);
        if (access(arena_printf(a, "%s/%s", dir, f), F_OK))
            break;
        out[n++] = f;
    }
    if (!lib) {
        for (size_t i = 0; i < sizeof runtime_sources / sizeof *runtime_sources; i++)
            out[n++] = runtime_sources[i];
        for (int i = 0; i < b->sources.n; i++)
            out[n++] = b->sources.w[i];
    }
    return n;
}

static char *object_of(Arena *a, const char *src)
{
    const char *dot = strrchr(src, '.');
    return arena_printf(a, "%.*s.o", (int)(dot ? dot - src : (long)strlen(src)), src);
}

static const char *opt_flag(int opt) { return opt >= 3 ? "-O3" : opt == 2 ? "-O2" : opt == 1 ? "-O1" : "-O0"; }

static void steps_of(Arena *a, const Board *b, int lib, int opt, const char *dir, Steps *s)
{
    const char *srcs[40];
    int nsrc = sources(a, b, lib, dir, srcs);
    Vec objs = {0};
    s->n = 0;
    for (int i = 0; i < nsrc; i++) {
        Vec v = {0};
        add_words(&v, &b->cc);
        add(&v, "-std=c99");
        add(&v, opt_flag(opt));
        add_words(&v, &b->cflags);
        /* as the host build: contraction into FMA, libm without errno;
         * wrapping integers as in the Kernel IR */
        if (opt >= 2)
            add(&v, "-fno-math-errno");
        if (opt >= 3)
            add(&v, "-ffp-contract=fast");
        add(&v, "-fwrapv");
        add(&v, "-Wall");
        add(&v, "-Wextra");
        add(&v, "-Wno-psabi");
        add(&v, "-fstack-usage");
        add(&v, "-fcallgraph-info=su");
        add(&v, "-I.");
        add(&v, "-c");
        add(&v, srcs[i]);
        add(&v, "-o");
        add(&objs, object_of(a, srcs[i]));
        add(&v, objs.w[objs.n - 1]);
        s->argv[s->n++] = done(a, &v);
    }
    Vec w = {0};
    add_words(&w, &b->cc);
    add_words(&w, &b->cflags);
    add(&w, "-c");
    add(&w, "weights.S");
    add(&w, "-o");
    add(&w, "weights.o");
    add(&objs, "weights.o");
    s->argv[s->n++] = done(a, &w);
    /* the kernels another code generator built for the board (--target
     * llvm): linked or archived with the rest */
    if (!access(arena_printf(a, "%s/model_kernels.o", dir), F_OK))
        add(&objs, "model_kernels.o");
    Vec l = {0};
    if (lib) {
        add_words(&l, &b->ar);
        add(&l, "rcs");
        add(&l, "libmodel.a");
    } else {
        add_words(&l, &b->cc);
        add_words(&l, &b->cflags);
        add(&l, "-L.");
        add(&l, "-o");
        add(&l, "model");
    }
    for (int i = 0; i < objs.n; i++)
        add(&l, objs.w[i]);
    if (!lib) {
        add_words(&l, &b->ldflags);
        add(&l, "-lm");
    }
    s->argv[s->n++] = done(a, &l);
}

/* 'word' for sh, a quote inside as '\'' */
static char *quote(Arena *a, const char *w)
{
    char *s = "'";
    for (const char *p = w; *p; p++)
        s = *p == '\'' ? arena_printf(a, "%s'\\''", s) : arena_printf(a, "%s%c", s, *p);
    return arena_printf(a, "%s'", s);
}

char *board_script(Arena *a, const Board *b, int lib, int opt, const char *dir)
{
    Steps s;
    steps_of(a, b, lib, opt, dir, &s);
    char *t = arena_printf(a,
                           "#!/bin/sh\n"
                           "# build.sh: builds %s for board %s with its cross toolchain;\n"
                           "# the steps kiln ran (each word quoted).\n"
                           "set -e\n"
                           "cd \"$(dirname \"$0\")\"\n",
                           lib ? "libmodel.a" : "the executable model", quote(a, b->name));
    if (lib)
        t = arena_printf(a, "%srm -f libmodel.a\n", t);
    for (int i = 0; i < s.n; i++) {
        for (char **w = s.argv[i]; *w; w++)
            t = arena_printf(a, "%s%s%s", t, w == s.argv[i] ? "" : " ", quote(a, *w));
        t = arena_printf(a, "%s\n", t);
    }
    return t;
}

/* Append file from to file to (the log of one step to build.log). */
static void append(Arena *a, const char *from, const char *to)
{
    size_t n;
    const char *err;
    unsigned char *data = read_file(a, from, &n, &err);
    FILE *f = data ? fopen(to, "ab") : NULL;
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
    unlink(from);
}

int board_build(Arena *a, const Board *b, int lib, int opt, const char *dir, Diag *d)
{
    if (!board_have_tool(a, b->cc.w[0]))
        return diag_error(d, "board %s: its compiler '%s' is not installed (not found on PATH)", b->name,
                          b->cc.w[0]);
    if (lib && !board_have_tool(a, b->ar.w[0]))
        return diag_error(d, "board %s: its archiver '%s' is not installed (not found on PATH)", b->name,
                          b->ar.w[0]);
    Steps s;
    steps_of(a, b, lib, opt, dir, &s);
    char *log = arena_printf(a, "%s/build.log", dir), *step = arena_printf(a, "%s/step.log", dir);
    if (write_file(log, "", 0))
        return diag_error(d, "cannot write %s: %s", log, strerror(errno));
    unlink(arena_printf(a, "%s/libmodel.a", dir));
    for (int i = 0; i < s.n; i++) {
        int st = run_argv(s.argv[i], dir, step);
        append(a, step, log);
        if (st == 0)
            continue;
        if (st == RUN_NOT_STARTED)
            return diag_error(d, "board %s: cannot run %s: %s", b->name, s.argv[i][0], strerror(errno));
        /* the linker's complaint, else the compiler's first error */
        char *line = file_line(a, log, "undefined reference");
        if (!*line)
            line = file_line(a, log, "overflowed"); /* the program is larger than the board */
        if (!*line)
            line = file_line(a, log, "error");
        if (!*line)
            line = file_line(a, log, NULL);
        return diag_error(d, "building the generated code for board %s failed (%s exited %d, see build.log)%s%s",
                          b->name, s.argv[i][0], st < RUN_SIGNALED ? -1 : st, *line ? ": " : "", line);
    }
    return 0;
}

/* s with every ',' doubled (QEMU's option syntax). */
static char *qemu_escape(Arena *a, const char *s)
{
    char *r = arena_alloc(a, 2 * strlen(s) + 1), *o = r;
    for (; *s; s++) {
        *o++ = *s;
        if (*s == ',')
            *o++ = ',';
    }
    return r;
}

char **board_run_argv(Arena *a, const Board *b, const char *exe, char *const *args, int nargs)
{
    char **v = arena_alloc(a, sizeof(char *) * (size_t)(b->run.n + nargs + 2));
    int n = 0;
    for (int i = 0; i < b->run.n; i++) {
        const char *w = b->run.w[i], *at;
        if (!strcmp(w, "{exe}")) {
            v[n++] = (char *)exe;
        } else if (!strcmp(w, "{args}")) {
            for (int k = 0; k < nargs; k++)
                v[n++] = args[k];
        } else if ((at = strstr(w, "{semihost}"))) {
            /* argv[0] is the program's file name: its folder may hold a blank */
            const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
            char *list = arena_printf(a, "arg=%s", qemu_escape(a, base));
            for (int k = 0; k < nargs; k++)
                list = arena_printf(a, "%s,arg=%s", list, qemu_escape(a, args[k]));
            v[n++] = arena_printf(a, "%.*s%s%s", (int)(at - w), w, list, at + strlen("{semihost}"));
        } else {
            v[n++] = (char *)w;
        }
    }
    v[n] = NULL;
    return v;
}

/* board_short_names (board.h): a board's program runs in rundir: the
 * input files linked there as input_I.pb, outputs written to ".". A
 * semihosted program's command line is one string split at blanks, so no
 * path with a blank (or of any length) may appear in it. argv is
 * `model --in F ... --out DIR --quiet`, rewritten in place; the program
 * itself is named by its absolute path. */
int board_short_names(Arena *a, char **argv, int nin, const char *rundir, Diag *d)
{
    char *exe = realpath(argv[0], NULL);
    if (!exe)
        return diag_error(d, "cannot find %s: %s", argv[0], strerror(errno));
    argv[0] = arena_strdup(a, exe);
    free(exe);
    for (int i = 0; i < nin; i++) {
        char *in = realpath(argv[2 + 2 * i], NULL), *name = arena_printf(a, "input_%d.pb", i);
        char *link = arena_printf(a, "%s/%s", rundir, name);
        int bad = !in || (unlink(link) && errno != ENOENT) || symlink(in, link);
        free(in);
        if (bad)
            return diag_error(d, "cannot link %s to %s: %s", link, argv[2 + 2 * i], strerror(errno));
        argv[2 + 2 * i] = name;
    }
    argv[2 + 2 * nin] = ".";
    return 0;
}
