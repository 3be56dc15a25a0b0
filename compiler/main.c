/*
 * main.c: the kiln command line.
 *
 *   kiln compile MODEL.onnx -o OUTDIR [--target c|llvm|cuda|ptx] [--arch ARCH]
 *                [--emit exe|lib|src] [--shape NAME=1x3x224x224]... [-O0..3]
 *                [--threads N] [--dump graph|kernel|llvm|ptx]
 *   kiln check   MODEL.onnx TESTDIR [same options] [--rtol R --atol A]
 *   kiln bench   MODEL.onnx [same options] [--iters N] [--profile]
 *   kiln inspect MODEL.onnx [--arch ARCH]
 *   kiln compare OP --shape NAME=DIMS... [...]   (compare/compare.c parses its own)
 *
 * Exit codes: 0 success, 1 the model or its data is wrong or unsupported,
 * 2 usage error. This is the only file that exits.
 */
#include "driver.h"
#include "../targets/boards/board.h"
#include "../targets/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: kiln compile MODEL.onnx -o OUTDIR [options]\n"
    "       kiln check   MODEL.onnx TESTDIR [options] [--rtol R] [--atol A]\n"
    "       kiln bench   MODEL.onnx [options] [--iters N] [--profile]\n"
    "       kiln inspect MODEL.onnx [--arch ARCH]\n"
    "       kiln compare OP --shape NAME=DIMS... [--ref naive|openblas|FILE.c:FUNC] (kiln compare --help)\n"
    "options:\n"
    "  -o DIR               output folder (compile; check/bench keep their build there)\n"
    "  --target T           code generator: c (portable C99, the default), llvm\n"
    "                       (kernels built by LLVM for the host CPU or the --arch\n"
    "                       board), cuda (CUDA C for an NVIDIA GPU, sm_90, built\n"
    "                       with nvcc) or ptx (PTX for sm_90 by LLVM's NVPTX, run\n"
    "                       through the CUDA driver)\n"
    "  --arch ARCH          machine to schedule and build for: host (default), generic,\n"
    "                       x86-64-avx2, x86-64-avx512, aarch64; or a board, built with\n"
    "                       its cross toolchain and run under its emulator: cortex-m4,\n"
    "                       aarch64-linux, riscv64-linux, or a board folder DIR/\n"
    "  --emit exe|lib|src   executable (default), static library, or sources only\n"
    "                       (check --emit src -o DIR: the sources check would build)\n"
    "  --shape NAME=DIMS    bind an input's shape, e.g. --shape x=1x3x224x224\n"
    "  --alias OUT=IN       compute output OUT in the storage of input IN (a cache\n"
    "                       updated in place by ScatterND; model_run takes one buffer)\n"
    "  -O0 .. -O3           optimization level (default -O2)\n"
    "  --threads N          threads the generated code runs on (default 1: no threads library)\n"
    "  --string-bytes N     room for the strings the model makes at run time (default 65536;\n"
    "                       model_run returns MODEL_ERR_STRING_BYTES when they need more)\n"
    "  --dump graph|kernel|llvm|ptx  print the Graph IR, Kernel IR, the kernels' LLVM module or PTX\n"
    "  --keep               keep check/bench's temporary build folder\n";

static int usage(const char *fmt, const char *arg)
{
    if (fmt) {
        fprintf(stderr, "kiln: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
    }
    fputs(usage_text, stderr);
    return 2;
}

/* The NAME of a NAME=VALUE flag argument (eq points at its '='), as a
 * string of its own that lives for the whole run; NULL if out of memory. */
static char *name_before(const char *val, const char *eq)
{
    char *name = malloc((size_t)(eq - val) + 1);
    if (name) {
        memcpy(name, val, (size_t)(eq - val));
        name[eq - val] = 0;
    }
    return name;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s == 0 || *end != 0 || *out < 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi)
        return 1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL, NULL);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("kiln 0.1.0\n");
        return 0;
    }
    if (!strcmp(cmd, "compare"))
        return cmd_compare(argc - 2, argv + 2);
    int is_compile = !strcmp(cmd, "compile"), is_check = !strcmp(cmd, "check");
    int is_bench = !strcmp(cmd, "bench"), is_inspect = !strcmp(cmd, "inspect");
    if (!is_compile && !is_check && !is_bench && !is_inspect)
        return usage("unknown command '%s'", cmd);

    Options o = {0};
    o.target = "c";
    o.emit = "exe";
    o.opt = 3;
    o.threads = 1;
    o.rtol = 1e-3;
    o.atol = 1e-5;
    o.iters = 100;
    const char *pos[2] = {0};
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                          \
    do {                                                \
        if (!val)                                       \
            return usage("option '%s' needs a value", a); \
        i++;                                            \
    } while (0)
        if (a[0] != '-' || !a[1]) {
            if (npos == 2)
                return usage("unexpected argument '%s'", a);
            pos[npos++] = a;
        } else if (!strcmp(a, "-o")) {
            NEED();
            if (!*val)
                return usage("-o needs a folder, not an empty name%s", "");
            o.outdir = val;
        } else if (!strcmp(a, "--target")) {
            NEED();
            if (!target_find(val))
                return usage("unknown --target '%s' (available: c, llvm, cuda, ptx)", val);
            if ((!strcmp(val, "llvm") || !strcmp(val, "ptx")) && !llvm_available()) {
                fprintf(stderr, "kiln: this kiln was built without LLVM: --target %s is not available\n", val);
                return 2;
            }
            o.target = val;
        } else if (!strcmp(a, "--arch")) {
            NEED();
            o.arch = val;
            o.board = NULL;
            if (!machine_arch(val)) {
                /* a board: kept for the whole run */
                static Board board;
                Arena *ba = arena_new();
                Diag bd = {.file = "kiln"};
                if (board_load(ba, val, &board, &bd)) {
                    if (strchr(val, '/'))
                        return fprintf(stderr, "%s\n", bd.msg), 2;
                    fprintf(stderr, "kiln: unknown --arch '%.200s' (machines: host, generic, x86-64-avx2, "
                                    "x86-64-avx512, aarch64; boards: %s)\n", val, board_names(ba));
                    return usage(NULL, NULL);
                }
                o.board = &board;
            }
        } else if (!strcmp(a, "--emit")) {
            NEED();
            if (strcmp(val, "exe") && strcmp(val, "lib") && strcmp(val, "src"))
                return usage("--emit must be exe, lib or src, not '%s'", val);
            o.emit = val;
        } else if (!strcmp(a, "--alias")) {
            NEED();
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || !eq[1] || o.naliases == MAX_BINDS)
                return usage("--alias expects OUTPUT=INPUT, e.g. k_cache_out=k_cache, not '%s'", val);
            char *name = name_before(val, eq);
            if (!name)
                return 1;
            o.aliases[o.naliases].output = name;
            o.aliases[o.naliases++].input = eq + 1;
        } else if (!strcmp(a, "--shape")) {
            NEED();
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || o.nbinds == MAX_BINDS)
                return usage("--shape expects NAME=DIMS, e.g. x=1x3x224x224, not '%s'", val);
            ShapeBind *b = &o.binds[o.nbinds++];
            char *name = name_before(val, eq);
            if (!name)
                return 1;
            b->name = name;
            if (shape_parse(eq + 1, &b->shape))
                return usage("--shape expects NAME=DIMS, e.g. x=1x3x224x224, not '%s'", val);
        } else if (a[1] == 'O' && a[2] && !a[3] && a[2] >= '0' && a[2] <= '3') {
            o.opt = a[2] - '0';
        } else if (!strcmp(a, "--string-bytes")) {
            NEED();
            if (parse_int(val, 1, 1 << 30, &o.string_bytes))
                return usage("--string-bytes expects a byte count from 1 to 2^30, not '%s'", val);
        } else if (!strcmp(a, "--threads")) {
            NEED();
            if (parse_int(val, 1, 1024, &o.threads))
                return usage("--threads expects a count from 1, not '%s'", val);
        } else if (!strcmp(a, "--dump")) {
            NEED();
            if (strcmp(val, "graph") && strcmp(val, "kernel") && strcmp(val, "llvm") && strcmp(val, "ptx"))
                return usage("--dump must be graph, kernel, llvm or ptx, not '%s'", val);
            if ((!strcmp(val, "llvm") || !strcmp(val, "ptx")) && !llvm_available()) {
                fprintf(stderr, "kiln: this kiln was built without LLVM: --dump %s is not available\n", val);
                return 2;
            }
            o.dump = val;
        } else if (!strcmp(a, "--rtol") && is_check) {
            NEED();
            if (parse_double(val, &o.rtol))
                return usage("--rtol expects a number >= 0, not '%s'", val);
        } else if (!strcmp(a, "--atol") && is_check) {
            NEED();
            if (parse_double(val, &o.atol))
                return usage("--atol expects a number >= 0, not '%s'", val);
        } else if (!strcmp(a, "--iters") && is_bench) {
            NEED();
            if (parse_int(val, 1, 1000000, &o.iters))
                return usage("--iters expects a count from 1, not '%s'", val);
        } else if (!strcmp(a, "--profile") && is_bench) {
            o.profile = 1;
        } else if (!strcmp(a, "--keep") && (is_check || is_bench)) {
            o.keep = 1;
        } else {
            return usage("unknown option '%s'", a);
        }
#undef NEED
    }
    int want = is_check ? 2 : 1;
    if (npos < want)
        return usage(is_check ? "check needs MODEL.onnx and TESTDIR" : "%s needs MODEL.onnx", cmd);
    if (npos > want)
        return usage("unexpected argument '%s'", pos[want]);
    if (o.board && o.threads > 1)
        return usage("--threads: a board (--arch %s) runs the model on one thread", o.board->name);
    if (o.dump && !strcmp(o.dump, "ptx") && strcmp(o.target, "ptx"))
        return usage("--dump ptx needs --target ptx (the kernels mapped to GPU launches)%s", "");
    o.model = pos[0];
    o.testdir = is_check ? pos[1] : NULL;
    if (is_compile && !o.outdir && !o.dump)
        return usage("compile needs -o OUTDIR", NULL);
    if (is_check && !strcmp(o.emit, "src") && !o.outdir)
        return usage("check --emit src needs -o OUTDIR (where the sources go)", NULL);
    if (is_compile)
        return cmd_compile(&o);
    if (is_check)
        return cmd_check(&o);
    if (is_bench)
        return cmd_bench(&o);
    return cmd_inspect(&o);
}
