/*
 * util.c: C identifiers from ONNX names, and whole-file I/O.
 */
#include "kiln.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

char *c_ident(Arena *a, const char *name, int maxlen)
{
    size_t n = strlen(name);
    if (maxlen > 0 && n > (size_t)maxlen)
        n = (size_t)maxlen;
    char *s = arena_alloc(a, n + 2);
    size_t j = 0;
    if (n == 0 || (name[0] >= '0' && name[0] <= '9'))
        s[j++] = '_';
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        s[j++] = ok ? c : '_';
    }
    s[j] = 0;
    return s;
}

unsigned char *read_file(Arena *a, const char *path, size_t *out_size, const char **out_err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        *out_err = "is a directory, not a file";
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        *out_err = strerror(errno);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = arena_alloc(a, cap);
    for (;;) {
        if (n == cap) {
            buf = arena_grow(a, buf, cap, cap * 2);
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        *out_err = "read error";
        return NULL;
    }
    *out_size = n;
    return buf;
}

int write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    int bad = fclose(f) != 0 || put != size;
    return bad;
}
