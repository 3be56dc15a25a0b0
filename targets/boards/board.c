/*
 * board.c: reading a board's description.
 *
 * board.txt is lines of `key = value`; '#' starts a comment line. Every
 * key below is required unless marked optional, an unknown key is an
 * error (a typo must not silently fall back to a default), and sizes take
 * a K, M or G suffix (powers of 1024). Words are split on blanks; no
 * quoting, no expansion: a value is data, never shell text.
 *
 *   what           one line for --help
 *   cc, ar         the cross compiler and archiver (a command and its words)
 *   cflags         flags for every C and assembly file
 *   ldflags        flags for the link, after the objects (optional)
 *   sources        board files compiled into an executable (optional)
 *   files          the board's files, written beside the generated code (optional)
 *   flash, ram     memory of the board
 *   flash_origin, ram_origin, stack   memory.ld's numbers (optional; 0)
 *   run            the emulator command: {exe} is the program, {args} its
 *                  arguments (one word each), {semihost} inside a word the
 *                  program and its arguments as QEMU's semihosting
 *                  arg=...,arg=... list
 *   vec_bytes, vec_regs, fma, l1, l2   the Machine the passes schedule for
 *   llvm_triple, llvm_cpu, llvm_features   for the LLVM target (optional)
 */
#include "board.h"
#include "../../compiler/embedded.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The longest a board name or file name may be; names are [A-Za-z0-9._-]. */
enum { MAX_NAME = 64 };

static int plain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME || s[0] == '.' || s[0] == '-')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* The embedded file "<board>/<file>", or NULL. */
static const EmbeddedFile *embedded(Arena *a, const char *board, const char *file)
{
    const char *want = arena_printf(a, "%s/%s", board, file);
    for (const EmbeddedFile *f = kiln_boards; f->name; f++)
        if (!strcmp(f->name, want))
            return f;
    return NULL;
}

const char *board_names(Arena *a)
{
    char *s = "";
    for (const EmbeddedFile *f = kiln_boards; f->name; f++) {
        const char *slash = strchr(f->name, '/');
        if (slash && !strcmp(slash + 1, "board.txt"))
            s = arena_printf(a, "%s%s%.*s", s, *s ? ", " : "", (int)(slash - f->name), f->name);
    }
    return s;
}

/* A file of the board: embedded, or read from folder dir. */
static int board_file(Arena *a, const char *dir, const char *board, const char *name, const unsigned char **data,
                      size_t *size, Diag *d)
{
    if (!dir) {
        const EmbeddedFile *f = embedded(a, board, name);
        if (!f)
            return diag_error(d, "board '%s' has no file '%s'", board, name);
        *data = f->data;
        *size = f->size;
        return 0;
    }
    const char *err, *path = arena_printf(a, "%s/%s", dir, name);
    *data = read_file(a, path, size, &err);
    if (!*data)
        return diag_error(d, "%s: %s", path, err);
    return 0;
}

/* Split value on blanks into w. */
static int split(Arena *a, const char *value, Words *w)
{
    w->n = 0;
    for (const char *p = value; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (w->n == BOARD_MAX_WORDS)
            return 1;
        char *s = arena_alloc(a, (size_t)(e - p) + 1);
        memcpy(s, p, (size_t)(e - p));
        w->w[w->n++] = s;
        p = e;
    }
    return 0;
}

/* "256K" -> 262144; -1 if malformed. Decimal, or hex after 0x (a
 * leading 0 is not octal). */
static int64_t size_value(const char *s)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (hex && !isxdigit((unsigned char)s[2]))
        return -1;
    unsigned long long v = strtoull(s, &end, hex ? 16 : 10);
    int64_t mul = 1;
    if (*end == 'K')
        mul = 1024, end++;
    else if (*end == 'M')
        mul = 1024 * 1024, end++;
    else if (*end == 'G')
        mul = 1024 * 1024 * 1024, end++;
    int64_t r;
    if (*end || v > (unsigned long long)INT64_MAX || ck_mul((int64_t)v, mul, &r))
        return -1;
    return r;
}

/* Keys, and where each goes. */
enum { K_TEXT, K_WORDS, K_SIZE };
typedef struct Key {
    const char *name;
    int kind, required;
    size_t off;
} Key;
#define KEY(n, kind, req, field) {n, kind, req, offsetof(Board, field)}
static const Key keys[] = {
    KEY("what", K_TEXT, 1, what),
    KEY("cc", K_WORDS, 1, cc),
    KEY("ar", K_WORDS, 1, ar),
    KEY("cflags", K_WORDS, 1, cflags),
    KEY("ldflags", K_WORDS, 0, ldflags),
    KEY("sources", K_WORDS, 0, sources),
    KEY("run", K_WORDS, 1, run),
    KEY("flash", K_SIZE, 1, flash),
    KEY("ram", K_SIZE, 1, ram),
    KEY("flash_origin", K_SIZE, 0, flash_origin),
    KEY("ram_origin", K_SIZE, 0, ram_origin),
    KEY("stack", K_SIZE, 0, stack),
    KEY("vec_bytes", K_SIZE, 1, machine.vec_bytes),
    KEY("vec_regs", K_SIZE, 1, machine.vec_regs),
    KEY("fma", K_SIZE, 1, machine.fma),
    KEY("l1", K_SIZE, 1, machine.l1),
    KEY("l2", K_SIZE, 1, machine.l2),
    KEY("llvm_triple", K_TEXT, 0, llvm_triple),
    KEY("llvm_cpu", K_TEXT, 0, llvm_cpu),
    KEY("llvm_features", K_TEXT, 0, llvm_features),
    {"files", K_WORDS, 0, (size_t)-1},
};
#undef KEY

/* The int fields of Machine are int; the rest int64_t. */
static int is_int_field(size_t off)
{
    return off == offsetof(Board, machine.vec_bytes) || off == offsetof(Board, machine.vec_regs) ||
           off == offsetof(Board, machine.fma);
}

static int parse(Arena *a, const char *text, size_t size, const char *where, const char *dir, Board *b, Diag *d)
{
    int seen[sizeof keys / sizeof keys[0]] = {0};
    Words files = {0};
    int line = 0;
    for (const char *p = text, *end = text + size; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        char *s = arena_alloc(a, (size_t)(e - p) + 1);
        memcpy(s, p, (size_t)(e - p));
        p = nl ? nl + 1 : end;
        for (char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                return diag_error(d, "%s:%d: control character in the line", where, line + 1);
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return diag_error(d, "%s:%d: expected 'key = value'", where, line + 1);
        char *k = s, *ke = eq, *v = eq + 1;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        for (char *ve = v + strlen(v); ve > v && (ve[-1] == ' ' || ve[-1] == '\t');)
            *--ve = 0;
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(keys[i].name, k))
            i++;
        if (i == sizeof keys / sizeof keys[0])
            return diag_error(d, "%s:%d: unknown key '%.64s'", where, line + 1, k);
        if (seen[i]++)
            return diag_error(d, "%s:%d: '%s' given twice", where, line + 1, k);
        const Key *key = &keys[i];
        if (key->off == (size_t)-1) {
            if (split(a, v, &files) || files.n > BOARD_MAX_FILES)
                return diag_error(d, "%s:%d: more than %d files", where, line + 1, BOARD_MAX_FILES);
            continue;
        }
        char *field = (char *)b + key->off;
        if (key->kind == K_TEXT) {
            *(const char **)field = v;
        } else if (key->kind == K_WORDS) {
            if (split(a, v, (Words *)field))
                return diag_error(d, "%s:%d: more than %d words", where, line + 1, BOARD_MAX_WORDS);
        } else {
            int64_t n = size_value(v);
            if (n < 0 || (is_int_field(key->off) && n > 1 << 20))
                return diag_error(d, "%s:%d: '%s' expects a size (e.g. 256K), not '%.64s'", where, line + 1, k, v);
            if (is_int_field(key->off))
                *(int *)field = (int)n;
            else
                *(int64_t *)field = n;
        }
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].required && !seen[i])
            return diag_error(d, "%s: no '%s'", where, keys[i].name);
    if (!b->cc.n || !b->ar.n || !b->run.n)
        return diag_error(d, "%s: cc, ar and run need a command", where);
    if (b->machine.vec_bytes < 4 || (b->machine.vec_bytes & (b->machine.vec_bytes - 1)) || b->machine.vec_regs < 4)
        return diag_error(d, "%s: vec_bytes must be a power of two from 4 and vec_regs at least 4", where);
    for (int i = 0; i < files.n; i++) {
        if (!plain_name(files.w[i]) || !strcmp(files.w[i], "memory.ld"))
            return diag_error(d, "%s: file name '%.64s' is not a plain name ([A-Za-z0-9._-])", where, files.w[i]);
        BoardFile *f = &b->files[b->nfiles++];
        f->name = files.w[i];
        if (board_file(a, dir, b->name, f->name, &f->data, &f->size, d))
            return 1;
    }
    for (int i = 0; i < b->sources.n; i++) {
        int listed = 0;
        for (int j = 0; j < b->nfiles; j++)
            listed |= !strcmp(b->files[j].name, b->sources.w[i]);
        if (!listed)
            return diag_error(d, "%s: source '%.64s' is not one of its files", where, b->sources.w[i]);
    }
    return 0;
}

int board_load(Arena *a, const char *arch, Board *out, Diag *d)
{
    memset(out, 0, sizeof *out);
    const char *dir = strchr(arch, '/') ? arch : NULL;
    if (!dir && (!plain_name(arch) || !embedded(a, arch, "board.txt")))
        return diag_error(d, "no board '%.64s'", arch);
    if (dir) {
        /* the folder's own name names the board */
        const char *e = arch + strlen(arch);
        while (e > arch && e[-1] == '/')
            e--;
        const char *s = e;
        while (s > arch && s[-1] != '/')
            s--;
        out->name = arena_printf(a, "%.*s", (int)(e - s), s);
        if (!plain_name(out->name))
            return diag_error(d, "%s: a board folder's name must be a plain name ([A-Za-z0-9._-])", arch);
    } else {
        out->name = arena_strdup(a, arch);
    }
    const unsigned char *text;
    size_t size;
    if (board_file(a, dir, out->name, "board.txt", &text, &size, d))
        return 1;
    const char *where = dir ? arena_printf(a, "%s/board.txt", dir) : arena_printf(a, "board %s", out->name);
    if (parse(a, (const char *)text, size, where, dir, out, d))
        return 1;
    Machine *m = &out->machine;
    m->name = out->name;
    m->threads = 1;
    m->par_work = machine_find("generic")->par_work;
    m->cflags = "";
    return 0;
}
