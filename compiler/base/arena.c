/*
 * arena.c: the bump allocator every IR lives in.
 *
 * Blocks are chained; an allocation that does not fit opens a new block at
 * least as large as the request. Memory is zeroed and freed only as a whole.
 * arena_grow extends the newest allocation in place when it can, so arrays
 * built by ARENA_PUSH mostly grow without copying.
 */
#include "kiln.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Block {
    struct Block *prev;  /* older block */
    size_t size, used;   /* bytes in data[], bytes handed out */
    unsigned char *data; /* follows the header in the same malloc */
} Block;

struct Arena {
    Block *top;          /* newest block */
    void *last;          /* newest allocation (for in-place growth) */
};

static void oom_default(void)
{
    fputs("kiln: out of memory\n", stderr);
    exit(1);
}

static void (*oom_handler)(void) = oom_default;

void arena_set_oom_handler(void (*fn)(void)) { oom_handler = fn ? fn : oom_default; }

static Block *block_new(size_t size, Block *prev)
{
    Block *b = calloc(1, sizeof *b + size + 16);
    if (!b) {
        oom_handler();
        return NULL;
    }
    b->prev = prev;
    b->size = size;
    b->data = (unsigned char *)(((uintptr_t)(b + 1) + 15) & ~(uintptr_t)15);
    return b;
}

Arena *arena_new(void)
{
    Arena *a = calloc(1, sizeof *a);
    if (!a)
        oom_handler();
    return a;
}

void arena_free(Arena *a)
{
    if (!a)
        return;
    for (Block *b = a->top, *prev; b; b = prev) {
        prev = b->prev;
        free(b);
    }
    free(a);
}

void *arena_alloc(Arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!a->top || a->top->size - a->top->used < size) {
        size_t bs = size > (1u << 20) ? size : (1u << 20);
        a->top = block_new(bs, a->top);
    }
    void *p = a->top->data + a->top->used;
    a->top->used += size;
    a->last = p;
    return p; /* calloc'd, never reused: already zero */
}

void *arena_grow(Arena *a, void *old, size_t old_size, size_t new_size)
{
    old_size = (old_size + 15) & ~(size_t)15;
    size_t want = (new_size + 15) & ~(size_t)15;
    if (old && old == a->last && a->top->size - (a->top->used - old_size) >= want) {
        a->top->used += want - old_size;
        return old;
    }
    void *p = arena_alloc(a, new_size);
    if (old && old_size)
        memcpy(p, old, old_size < new_size ? old_size : new_size);
    return p;
}

char *arena_strdup(Arena *a, const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s ? s : "", n);
    return p;
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return p;
}

void *arena_push(Arena *a, void *arrp, int *n, int *cap, size_t elem)
{
    unsigned char **arr = arrp;
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        *arr = arena_grow(a, *arr, elem * (size_t)*cap, elem * (size_t)nc);
        memset(*arr + elem * (size_t)*cap, 0, elem * (size_t)(nc - *cap));
        *cap = nc;
    }
    return *arr + elem * (size_t)(*n)++;
}
