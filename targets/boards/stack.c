/*
 * stack.c: the worst-case stack of the inference path.
 *
 * gcc -fcallgraph-info=su writes, per C file, a call graph (VCG text):
 *
 *   node: { title: "model.c:k2" label: "k2\nmodel.c:4:13\n16 bytes (static)" }
 *   node: { title: "expf" label: "expf\n..." shape : ellipse }
 *   edge: { sourcename: "model_run" targetname: "model.c:k2" ... }
 *
 * A node with "N bytes" is a function compiled here, with its frame; one
 * without is outside the build (libm, memcpy). The LLVM target writes the
 * same for its object (model_kernels.ci, targets/llvm/lemit.c), so the
 * kernels it built count too. The worst case is the
 * deepest sum of frames along a chain of calls from the root; a cycle
 * (recursion) or a frame of dynamic size has no bound and is an error.
 */
#include "board.h"

#include <stdlib.h>
#include <string.h>

typedef struct Fn {
    char *title;
    int64_t bytes;             /* -1: outside the build */
    int dynamic;               /* the frame's size is dynamic */
    int *callees, ncallees, cap;
    int state;                 /* 0 new, 1 on the walk, 2 done */
    int64_t worst;             /* deepest chain from here */
    int next;                  /* the callee on that chain, -1 none */
} Fn;

typedef struct Graph {
    Fn *fns;
    int n, cap;
} CallGraph;

static int fn_id(Arena *a, CallGraph *g, const char *title)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->fns[i].title, title))
            return i;
    Fn *f = ARENA_PUSH(a, g->fns, g->n, g->cap);
    f->title = arena_strdup(a, title);
    f->bytes = -1;
    f->next = -1;
    return g->n - 1;
}

/* The text of `"..."` after key in line, or NULL. */
static char *field(Arena *a, const char *line, const char *key)
{
    const char *p = strstr(line, key);
    if (!p || !(p = strchr(p + strlen(key), '"')))
        return NULL;
    const char *e = p + 1;
    while (*e && *e != '"')
        e += e[0] == '\\' && e[1] ? 2 : 1;
    return arena_printf(a, "%.*s", (int)(e - p - 1), p + 1);
}

static void read_ci(Arena *a, CallGraph *g, const char *text, size_t size)
{
    const char *end = text + size;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line = arena_printf(a, "%.*s", (int)((nl ? nl : end) - p), p);
        p = nl ? nl + 1 : end;
        if (!strncmp(line, "node:", 5)) {
            char *title = field(a, line, "title:"), *label = field(a, line, "label:");
            if (!title || !label)
                continue;
            int id = fn_id(a, g, title); /* before &g->fns[]: it may grow */
            Fn *f = &g->fns[id];
            char *b = strstr(label, " bytes (");
            if (b) {
                char *s = b;
                while (s > label && s[-1] >= '0' && s[-1] <= '9')
                    s--;
                f->bytes = strtoll(s, NULL, 10);
                f->dynamic = strncmp(b, " bytes (static)", 15) != 0;
            }
        } else if (!strncmp(line, "edge:", 5)) {
            char *from = field(a, line, "sourcename:"), *to = field(a, line, "targetname:");
            if (!from || !to)
                continue;
            int s = fn_id(a, g, from), t = fn_id(a, g, to);
            Fn *f = &g->fns[s];
            for (int i = 0; i < f->ncallees; i++)
                if (f->callees[i] == t)
                    t = -1;
            if (t >= 0)
                *ARENA_PUSH(a, f->callees, f->ncallees, f->cap) = t;
        }
    }
}

/* The deepest chain from fn i; 1 on recursion or a dynamic frame. */
static int walk(CallGraph *g, int i, Diag *d)
{
    Fn *f = &g->fns[i];
    if (f->state == 2)
        return 0;
    if (f->state == 1)
        return diag_error(d, "the inference path is recursive (through %s): its stack has no bound", f->title);
    if (f->dynamic)
        return diag_error(d, "%s has a stack frame of dynamic size: its stack has no bound", f->title);
    f->state = 1;
    int64_t deepest = 0;
    for (int k = 0; k < f->ncallees; k++) {
        int c = f->callees[k];
        if (walk(g, c, d))
            return 1;
        if (g->fns[c].worst > deepest || f->next < 0) {
            deepest = g->fns[c].worst;
            f->next = c;
        }
    }
    f = &g->fns[i];
    f->worst = (f->bytes > 0 ? f->bytes : 0) + deepest;
    f->state = 2;
    return 0;
}

/* "model.c:k2" -> "k2" */
static const char *fn_name(const char *title)
{
    const char *c = strrchr(title, ':');
    return c ? c + 1 : title;
}

int64_t board_stack(Arena *a, const char *dir, const char *root, char **out_path, char **out_extern, Diag *d)
{
    int n;
    char **names = list_dir(a, dir, &n);
    if (!names)
        return diag_error(d, "cannot read %s", dir), -1;
    CallGraph g = {0};
    int files = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]), size;
        const char *err;
        if (len < 4 || strcmp(names[i] + len - 3, ".ci"))
            continue;
        unsigned char *text = read_file(a, arena_printf(a, "%s/%s", dir, names[i]), &size, &err);
        if (!text)
            return diag_error(d, "%s/%s: %s", dir, names[i], err), -1;
        read_ci(a, &g, (const char *)text, size);
        files++;
    }
    int r = -1;
    for (int i = 0; i < g.n; i++)
        if (!strcmp(g.fns[i].title, root))
            r = i;
    if (!files || r < 0 || g.fns[r].bytes < 0)
        return diag_error(d, "%s: no call graph of %s (gcc -fcallgraph-info=su)", dir, root), -1;
    if (walk(&g, r, d))
        return -1;
    char *path = "";
    for (int i = r; i >= 0 && g.fns[i].bytes >= 0; i = g.fns[i].next)
        path = arena_printf(a, "%s%s%s %lld", path, *path ? " -> " : "", fn_name(g.fns[i].title),
                            (long long)g.fns[i].bytes);
    /* what the path reaches outside the build, in order of first sight */
    char *ext = "";
    for (int i = 0; i < g.n; i++)
        if (g.fns[i].state == 2 && g.fns[i].bytes < 0)
            ext = arena_printf(a, "%s%s%s", ext, *ext ? " " : "", g.fns[i].title);
    *out_path = path;
    *out_extern = ext;
    return g.fns[r].worst;
}
