/*
 * board.h: boards, described by data.
 *
 * A board is a folder of targets/boards/ (cortex-m4, aarch64-linux,
 * riscv64-linux): board.txt, lines of `key = value`, says which cross
 * toolchain builds for it and with what flags, its flash and RAM, how to
 * run a program under an emulator, the numbers the loop passes schedule for
 * (a Machine) and the LLVM triple, CPU and features; the other files of the
 * folder (start-up code, a linker script) are copied beside the generated
 * code. The folders are built into kiln (compiler/tools/embed.c, as the
 * runtime is), so an installed kiln needs nothing beside it; `--arch DIR`
 * with a '/' in it reads a board folder from disk instead.
 *
 * Nothing of a board becomes a shell command: its words are split on
 * blanks and run as argument vectors (run_argv).
 */
#ifndef KILN_BOARD_H
#define KILN_BOARD_H

#include "../../compiler/kernel/kernel.h"

enum { BOARD_MAX_WORDS = 64, BOARD_MAX_FILES = 8 };

/* A list of words: a command or its flags. */
typedef struct Words {
    const char *w[BOARD_MAX_WORDS];
    int n;
} Words;

/* A file of the board's folder, written beside the generated code. */
typedef struct BoardFile {
    const char *name;          /* plain file name: "startup.c" */
    const unsigned char *data;
    size_t size;
} BoardFile;

typedef struct Board {
    const char *name;          /* "cortex-m4" */
    const char *what;          /* one line: what the board is */
    Words cc, ar;              /* compiler and archiver commands */
    Words cflags;              /* flags for every C and assembly file */
    Words ldflags;             /* flags for the link (after the objects) */
    Words sources;             /* board files compiled into an executable */
    Words run;                 /* the emulator command, with {exe} and {args} */
    int64_t flash, ram;        /* bytes */
    int64_t flash_origin, ram_origin; /* addresses (memory.ld), 0 for a Linux board */
    int64_t stack;             /* bytes of RAM kept for the stack (memory.ld) */
    Machine machine;           /* what the loop passes schedule for */
    const char *llvm_triple, *llvm_cpu, *llvm_features; /* for targets/llvm */
    BoardFile files[BOARD_MAX_FILES];
    int nfiles;
} Board;

/* ------------------------------------------------------------ board.c */
/* The board --arch names: a built-in board's name, or a folder (a name
 * with a '/'). Returns 0 with *out filled, 1 with a message in d when
 * there is no such board or its board.txt is wrong. */
int board_load(Arena *a, const char *arch, Board *out, Diag *d);
/* The names of the built-in boards, ", "-separated. */
const char *board_names(Arena *a);

/* ------------------------------------------------------------ build.c */
/* Write the board's files and memory.ld into dir. */
int board_write_files(Arena *a, const Board *b, const char *dir, Diag *d);
/* Build the sources kiln wrote into dir with the board's toolchain, each
 * step from an argument vector, output appended to dir/build.log:
 * lib -> libmodel.a, else the executable `model`; opt is kiln's -O. */
int board_build(Arena *a, const Board *b, int lib, int opt, const char *dir, Diag *d);
/* The same steps as the text of a build.sh, each word single-quoted, for
 * building the folder again by hand (--emit src). */
char *board_script(Arena *a, const Board *b, int lib, int opt, const char *dir);
/* The argument vector that runs exe with args under the board's emulator. */
char **board_run_argv(Arena *a, const Board *b, const char *exe, char *const *args, int nargs);
/* A board's program runs in rundir with short names of its own (a
 * semihosted program's command line is one string split at blanks, so no
 * path with a blank, or of any length, may appear in it): argv, `model
 * --in F ... --out DIR --quiet`, is rewritten in place to name the program
 * by its absolute path, its inputs by links rundir/input_I.pb and its
 * output folder ".". Returns 0, or 1 with a message in d. */
int board_short_names(Arena *a, char **argv, int nin, const char *rundir, Diag *d);
/* Non-zero if program `name` can be found on PATH (or is a path that exists). */
int board_have_tool(Arena *a, const char *name);

/* ------------------------------------------------------------ stack.c */
/* The worst-case stack of `root` and everything it calls, from the
 * -fcallgraph-info=su files (*.ci) gcc wrote in dir: the deepest sum of
 * frames along a call chain. *out_path gets the chain ("model_run 48 ->
 * k3_conv 264"), *out_extern the functions outside the build it calls
 * (libm, memcpy: not counted). Returns the bytes, or -1 with a message in d
 * (no call graph, a function without a static frame size, recursion). */
int64_t board_stack(Arena *a, const char *dir, const char *root, char **out_path, char **out_extern, Diag *d);

/* ------------------------------------------------------------ fit.c */
/* Sizes of the allocated sections of ELF object files. */
typedef struct Sections {
    int64_t text;              /* code and read-only data (flash) */
    int64_t data;              /* initialized writable data (flash and RAM) */
    int64_t bss;               /* zeroed data (RAM) */
} Sections;
/* Add the sections of ELF relocatable or executable file path to *s. */
int board_sections(Arena *a, const char *path, Sections *s, Diag *d);
/* Print whether a library built in dir for b fits the board's flash and RAM:
 * flash = text + rodata + data of its objects (weights included), RAM =
 * arena + inputs and outputs + worst-case stack + data + bss. */
int board_fit(Arena *a, const Board *b, const Program *p, const char *dir, Diag *d);

#endif
