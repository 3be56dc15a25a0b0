/*
 * test_boards.c: the board description reader (targets/boards/board.c,
 * included to reach its statics), the worst-case stack from gcc call
 * graphs (stack.c), ELF section sizes (fit.c) and the emulator command
 * (build.c), on files made here.
 */
#include "check.h"
#include "../../targets/boards/board.c"

#include <stdlib.h>
#include <unistd.h>

/* board.c reads the boards built into kiln from this array: one here. */
static const unsigned char tiny_txt[] = "what = t\ncc = gcc\nar = ar\ncflags = -O2\nrun = {exe} {args}\n"
                                        "flash = 1M\nram = 0x8000\nvec_bytes = 16\nvec_regs = 16\nfma = 1\n"
                                        "l1 = 32K\nl2 = 1M\n";
const EmbeddedFile kiln_boards[] = {{"tiny/board.txt", tiny_txt, sizeof tiny_txt - 1}, {0, 0, 0}};

static char *folder(Arena *a)
{
    char *d = make_temp_dir(a, getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", "kiln-unit-");
    return d;
}

static void put(Arena *a, const char *dir, const char *name, const char *text)
{
    write_file(arena_printf(a, "%s/%s", dir, name), text, strlen(text));
}

static void test_board_reads_keys(void)
{
    Arena *a = arena_new();
    Board b;
    Diag d = {0};
    CHECK(board_load(a, "tiny", &b, &d) == 0);
    CHECK(b.ram == 0x8000 && b.flash == 1 << 20 && b.machine.vec_bytes == 16 && b.machine.l1 == 32768);
    CHECK(!strcmp(b.machine.name, "tiny") && b.cc.n == 1 && b.run.n == 2);
    CHECK(strstr(board_names(a), "tiny") != NULL);
    CHECK(board_load(a, "nosuch", &b, &d) != 0 && strstr(d.msg, "no board 'nosuch'"));
    /* a name that is not plain is never looked up */
    d.nerrors = 0;
    CHECK(board_load(a, "tiny;ls", &b, &d) != 0);
    CHECK(size_value("010") == 10 && size_value("0x10") == 16 && size_value("2K") == 2048);
    CHECK(size_value("12Q") < 0 && size_value("-1") < 0 && size_value("0x") < 0 && size_value("") < 0);
    arena_free(a);
}

/* board.txt in a folder, each defect one message naming the line. */
static void test_board_folder_errors(void)
{
    Arena *a = arena_new();
    char *dir = folder(a);
    CHECK(dir != NULL);
    if (!dir)
        return;
    static const struct {
        const char *extra, *want;
    } cases[] = {
        {"flsh = 1M\n", "board.txt:13: unknown key 'flsh'"},
        {"ram = 2M\n", "'ram' given twice"},
        {"stack = lots\n", "'stack' expects a size"},
        {"files = ../etc/passwd\n", "is not a plain name"},
        {"files = s.c\nsources = t.c\n", "source 't.c' is not one of its files"},
        {"no equals sign\n", "expected 'key = value'"},
        {"files = gone.c\n", "gone.c"}, /* listed but missing */
    };
    put(a, dir, "s.c", "int x;\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put(a, dir, "board.txt", arena_printf(a, "%s%s", (const char *)tiny_txt, cases[i].extra));
        Board b;
        Diag d = {0};
        int rc = board_load(a, dir, &b, &d);
        CHECK_MSG(rc != 0 && strstr(d.msg, cases[i].want), "case %zu: rc %d, message '%s'", i, rc, d.msg);
    }
    /* a required key missing */
    put(a, dir, "board.txt", "what = t\ncc = gcc\n");
    Board b;
    Diag d = {0};
    CHECK(board_load(a, dir, &b, &d) != 0 && strstr(d.msg, "no 'ar'"));
    /* and a good folder with a file */
    put(a, dir, "board.txt", arena_printf(a, "%sfiles = s.c\nsources = s.c\n", (const char *)tiny_txt));
    d.nerrors = 0;
    CHECK(board_load(a, dir, &b, &d) == 0 && b.nfiles == 1 && b.files[0].size == 7);
    remove_tree(dir);
    arena_free(a);
}

static void test_stack_from_call_graph(void)
{
    Arena *a = arena_new();
    char *dir = folder(a);
    if (!dir)
        return;
    /* model_run 8 -> k1 16 -> helper 32, model_run -> k2 40, k1 -> expf */
    put(a, dir, "model.ci",
        "graph: { title: \"model.c\"\n"
        "node: { title: \"model.c:helper\" label: \"helper\\nmodel.c:1:1\\n32 bytes (static)\" }\n"
        "node: { title: \"model.c:k1\" label: \"k1\\nmodel.c:2:1\\n16 bytes (static)\" }\n"
        "node: { title: \"expf\" label: \"expf\\nmath.h:1:1\" shape : ellipse }\n"
        "edge: { sourcename: \"model.c:k1\" targetname: \"expf\" label: \"model.c:2:9\" }\n"
        "edge: { sourcename: \"model.c:k1\" targetname: \"model.c:helper\" }\n"
        "node: { title: \"model.c:k2\" label: \"k2\\nmodel.c:3:1\\n40 bytes (static)\" }\n"
        "node: { title: \"model_run\" label: \"model_run\\nmodel.c:4:1\\n8 bytes (static)\" }\n"
        "edge: { sourcename: \"model_run\" targetname: \"model.c:k1\" }\n"
        "edge: { sourcename: \"model_run\" targetname: \"model.c:k2\" }\n"
        "}\n");
    char *path = NULL, *ext = NULL;
    Diag d = {0};
    int64_t s = board_stack(a, dir, "model_run", &path, &ext, &d);
    CHECK_MSG(s == 56, "stack %lld (%s)", (long long)s, d.msg);
    CHECK_MSG(path && !strcmp(path, "model_run 8 -> k1 16 -> helper 32"), "path '%s'", path ? path : "");
    CHECK_MSG(ext && !strcmp(ext, "expf"), "extern '%s'", ext ? ext : "");
    /* a call back into model_run: recursion has no bound */
    put(a, dir, "model_1.ci", "edge: { sourcename: \"model.c:helper\" targetname: \"model_run\" }\n");
    d.nerrors = 0;
    CHECK(board_stack(a, dir, "model_run", &path, &ext, &d) < 0 && strstr(d.msg, "recursive"));
    /* a frame of dynamic size has no bound either */
    put(a, dir, "model_1.ci",
        "node: { title: \"model.c:k2\" label: \"k2\\nmodel.c:3:1\\n40 bytes (dynamic)\" }\n");
    d.nerrors = 0;
    CHECK(board_stack(a, dir, "model_run", &path, &ext, &d) < 0 && strstr(d.msg, "dynamic"));
    /* no call graph at all */
    unlink(arena_printf(a, "%s/model.ci", dir));
    unlink(arena_printf(a, "%s/model_1.ci", dir));
    d.nerrors = 0;
    CHECK(board_stack(a, dir, "model_run", &path, &ext, &d) < 0 && strstr(d.msg, "no call graph"));
    remove_tree(dir);
    arena_free(a);
}

/* A 64-bit ELF with .text (8 bytes), .data (4, writable) and .bss (16). */
static void test_elf_sections(void)
{
    Arena *a = arena_new();
    char *dir = folder(a);
    if (!dir)
        return;
    unsigned char f[64 + 4 * 64] = {0};
    memcpy(f, "\177ELF\2\1", 6);
    f[40] = 64;           /* e_shoff */
    f[58] = 64;           /* e_shentsize */
    f[60] = 4;            /* e_shnum */
    struct { int type, flags, size; } sh[4] = {{0, 0, 0}, {1, 6, 8}, {1, 3, 4}, {8, 3, 16}};
    for (int i = 0; i < 4; i++) {
        unsigned char *h = f + 64 + 64 * i;
        h[4] = (unsigned char)sh[i].type;
        h[8] = (unsigned char)sh[i].flags;
        h[32] = (unsigned char)sh[i].size;
    }
    char *p = arena_printf(a, "%s/x.o", dir);
    write_file(p, f, sizeof f);
    Sections s = {0};
    Diag d = {0};
    CHECK(board_sections(a, p, &s, &d) == 0 && s.text == 8 && s.data == 4 && s.bss == 16);
    /* section headers beyond the end of the file */
    f[60] = 40;
    write_file(p, f, sizeof f);
    d.nerrors = 0;
    CHECK(board_sections(a, p, &s, &d) != 0 && strstr(d.msg, "out of the file"));
    write_file(p, "not elf", 7);
    d.nerrors = 0;
    CHECK(board_sections(a, p, &s, &d) != 0);
    remove_tree(dir);
    arena_free(a);
}

static void test_run_argv(void)
{
    Arena *a = arena_new();
    Board b = {0};
    split(a, "qemu -semihosting-config enable=on,{semihost} -kernel {exe}", &b.run);
    char *args[] = {"--in", "a,b.pb", "--out", "."};
    char **v = board_run_argv(a, &b, "/x y/model", args, 4);
    CHECK(!strcmp(v[0], "qemu") && !strcmp(v[4], "/x y/model") && v[5] == NULL);
    CHECK_MSG(!strcmp(v[2], "enable=on,arg=model,arg=--in,arg=a,,b.pb,arg=--out,arg=."), "'%s'", v[2]);
    split(a, "emu {exe} {args}", &b.run);
    v = board_run_argv(a, &b, "m", args, 4);
    CHECK(!strcmp(v[1], "m") && !strcmp(v[3], "a,b.pb") && !strcmp(v[5], ".") && v[6] == NULL);
    arena_free(a);
}

int main(void)
{
    RUN(test_board_reads_keys);
    RUN(test_board_folder_errors);
    RUN(test_stack_from_call_graph);
    RUN(test_elf_sections);
    RUN(test_run_argv);
    return check_total_failed != 0;
}
