/*
 * fit.c: does a model fit the board?
 *
 * Measured, not estimated: the sizes of the allocated sections of the
 * objects the board's compiler made for libmodel.a (read from their ELF
 * section headers), the arena and the input and output buffers from the
 * plan, and the worst-case stack from stack.c.
 *
 *   flash = code + read-only data (weights included) + initialized data
 *   RAM   = arena + inputs and outputs + stack of model_run + data + bss
 */
#include "board.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int board_sections(Arena *a, const char *path, Sections *s, Diag *d)
{
    size_t size;
    const char *err;
    const unsigned char *f = read_file(a, path, &size, &err);
    if (!f)
        return diag_error(d, "%s: %s", path, err);
    if (size < 52 || memcmp(f, "\177ELF", 4) || (f[4] != 1 && f[4] != 2) || f[5] != 1)
        return diag_error(d, "%s: not a little-endian ELF file", path);
    int is64 = f[4] == 2;
    if (is64 && size < 64)
        return diag_error(d, "%s: truncated ELF header", path);
    uint64_t shoff = is64 ? get(f + 40, 8) : get(f + 32, 4);
    uint64_t shentsize = is64 ? get(f + 58, 2) : get(f + 46, 2);
    uint64_t shnum = is64 ? get(f + 60, 2) : get(f + 48, 2);
    if (shentsize < (is64 ? 64u : 40u) || shoff > size || shnum > (size - shoff) / shentsize)
        return diag_error(d, "%s: section headers out of the file", path);
    for (uint64_t i = 0; i < shnum; i++) {
        const unsigned char *h = f + shoff + i * shentsize;
        uint64_t type = get(h + 4, 4);
        uint64_t flags = is64 ? get(h + 8, 8) : get(h + 8, 4);
        uint64_t bytes = is64 ? get(h + 32, 8) : get(h + 20, 4);
        if (!(flags & 2) || bytes > (uint64_t)KILN_MAX_BYTES) /* SHF_ALLOC */
            continue;
        if (type == 8) /* SHT_NOBITS */
            s->bss += (int64_t)bytes;
        else if (flags & 1) /* SHF_WRITE */
            s->data += (int64_t)bytes;
        else
            s->text += (int64_t)bytes;
    }
    return 0;
}

static void line(const char *what, int64_t need, int64_t have)
{
    if (need <= have)
        printf("%-8s %lld of %lld bytes (%.1f%%): fits, %lld bytes free\n", what, (long long)need, (long long)have,
               have ? 100.0 * (double)need / (double)have : 0.0, (long long)(have - need));
    else
        printf("%-8s %lld of %lld bytes: does not fit, %lld bytes over\n", what, (long long)need, (long long)have,
               (long long)(need - have));
}

int board_fit(Arena *a, const Board *b, const Program *p, const char *dir, Diag *d)
{
    Sections code = {0}, weights = {0};
    if (board_sections(a, arena_printf(a, "%s/model.o", dir), &code, d) ||
        board_sections(a, arena_printf(a, "%s/weights.o", dir), &weights, d))
        return 1;
    for (int i = 1; i < 16; i++) {
        char *o = arena_printf(a, "%s/model_%d.o", dir, i);
        if (access(o, F_OK))
            break;
        if (board_sections(a, o, &code, d))
            return 1;
    }
    char *path, *ext;
    int64_t stack = board_stack(a, dir, "model_run", &path, &ext, d);
    if (stack < 0)
        return 1;
    int64_t io = 0;
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].kind == BUF_INPUT || p->bufs[i].kind == BUF_OUTPUT)
            io += p->bufs[i].numel * dtype_size(p->bufs[i].dtype);
    int64_t flash = code.text + code.data + weights.text + weights.data;
    int64_t ram = p->arena_bytes + io + stack + code.data + code.bss + weights.data + weights.bss;
    printf("board    %s: %s\n", b->name, b->what);
    printf("code     %lld bytes of code and constants, %lld of data, %lld of bss (measured: %s's objects)\n",
           (long long)code.text, (long long)code.data, (long long)code.bss, b->cc.w[0]);
    printf("weights  %lld bytes in flash\n", (long long)(weights.text + weights.data));
    printf("stack    %lld bytes worst case: %s%s%s\n", (long long)stack, path,
           *ext ? "; not counted, outside the build: " : "", ext);
    printf("io       %lld bytes of inputs and outputs, arena %lld bytes\n", (long long)io,
           (long long)p->arena_bytes);
    line("flash", flash, b->flash);
    line("ram", ram, b->ram);
    return 0;
}
