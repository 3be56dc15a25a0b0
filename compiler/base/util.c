/*
 * util.c: C identifiers from ONNX names, files, folders and processes.
 *
 * Everything kiln does to the file system and to other programs goes
 * through here, so that the rules are kept in one place: a path is only
 * ever a path (no shell sees it: programs run from argument vectors, trees
 * are removed by unlinkat), files are created without following a symlink,
 * and a removal never follows one out of the tree it removes.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *c_ident(Arena *a, const char *name, int maxlen)
{
    size_t n = strlen(name);
    if (maxlen > 0 && n > (size_t)maxlen)
        n = (size_t)maxlen;
    char *s = arena_alloc(a, n + 2);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (ok) {
            if (j == 0 && c >= '0' && c <= '9')
                s[j++] = 'v';
            s[j++] = c;
        } else if (j > 0 && s[j - 1] != '_')
            s[j++] = '_'; /* one for a run, none at the start: no "__", no leading "_" */
    }
    if (j == 0)
        s[j++] = 'v';
    s[j] = 0;
    return s;
}

/* Opened without blocking (a FIFO would wait for a writer forever), then
 * refused unless it is a regular file, then read in blocking mode. */
unsigned char *read_file(Arena *a, const char *path, size_t *out_size, const char **out_err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *out_err = strerror(errno);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        *out_err = strerror(errno);
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *out_err = S_ISDIR(st.st_mode) ? "is a directory, not a file"
                                       : "is not a regular file (a FIFO, socket or device)";
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = arena_alloc(a, cap);
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2) {
                close(fd);
                *out_err = "too large to read";
                return NULL;
            }
            buf = arena_grow(a, buf, cap, cap * 2);
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *out_err = strerror(errno);
            close(fd);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    *out_size = n;
    return buf;
}

int write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return 1;
    const unsigned char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t put = write(fd, p + done, size - done);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) {
            int e = errno;
            close(fd);
            errno = put < 0 ? e : EIO;
            return 1;
        }
        done += (size_t)put;
    }
    return close(fd) != 0;
}

char *make_temp_dir(Arena *a, const char *parent, const char *stem)
{
    char *path = arena_printf(a, "%s/%sXXXXXX", parent, stem);
    return mkdtemp(path) ? path : NULL;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

char **list_dir(Arena *a, const char *dir, int *out_n)
{
    *out_n = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return NULL;
    char **names = NULL;
    int cap = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        *ARENA_PUSH(a, names, *out_n, cap) = arena_strdup(a, e->d_name);
        errno = 0;
    }
    int bad = errno;
    closedir(dp);
    if (bad) {
        errno = bad;
        return NULL;
    }
    if (!names)
        names = arena_alloc(a, sizeof *names);
    qsort(names, (size_t)*out_n, sizeof *names, cmp_str);
    return names;
}

/* Remove everything inside the open folder fd (closed here). Entries that
 * are not folders (symlinks included) are unlinked; a folder is entered
 * only through openat(O_NOFOLLOW | O_DIRECTORY), so nothing outside the
 * tree is ever touched. Depth is bounded: kiln's folders are shallow, and
 * each level holds a file descriptor. */
static int clear_dir(int fd, int depth)
{
    DIR *dp = fdopendir(fd);
    if (!dp) {
        close(fd);
        return 1;
    }
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        if (unlinkat(fd, n, 0) == 0 || errno == ENOENT)
            continue;
        if ((errno != EISDIR && errno != EPERM) || depth >= 64) {
            bad = 1;
            continue;
        }
        int sub = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            bad = 1;
            continue;
        }
        bad |= clear_dir(sub, depth + 1);
        bad |= unlinkat(fd, n, AT_REMOVEDIR) != 0;
    }
    closedir(dp);
    return bad;
}

int remove_tree(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        /* a file, or a symlink (removed itself, never its target) */
        return unlink(path) != 0 && errno != ENOENT;
    }
    int bad = clear_dir(fd, 0);
    return (rmdir(path) != 0 && errno != ENOENT) || bad;
}

int run_argv(char *const argv[], const char *dir, const char *log)
{
    int lfd = -1;
    if (log) {
        lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (lfd < 0)
            return RUN_NOT_STARTED;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec */
        if (lfd >= 0 && (dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0))
            _exit(127);
        if (dir && chdir(dir))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int e = errno;
    if (lfd >= 0)
        close(lfd);
    if (pid < 0) {
        errno = e;
        return RUN_NOT_STARTED;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return RUN_NOT_STARTED;
    if (WIFSIGNALED(status))
        return RUN_SIGNALED - WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : RUN_NOT_STARTED;
}

char *file_line(Arena *a, const char *path, const char *needle)
{
    size_t size = 0;
    const char *err;
    const char *text = (const char *)read_file(a, path, &size, &err);
    const char *best = NULL, *end = text ? text + size : NULL;
    size_t blen = 0;
    for (const char *p = text; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int hit = 0;
        if (needle) {
            size_t k = strlen(needle);
            for (size_t i = 0; i + k <= len && !hit; i++)
                hit = !memcmp(p + i, needle, k);
        } else {
            hit = len > 0;
        }
        if (hit) {
            best = p;
            blen = len;
            if (needle)
                break;
        }
        p += len + 1;
    }
    if (blen > 300)
        blen = 300;
    char *out = arena_alloc(a, blen + 1);
    for (size_t i = 0; i < blen; i++) {
        unsigned char ch = (unsigned char)best[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : ch == '\t' ? ' ' : '?';
    }
    return out;
}
