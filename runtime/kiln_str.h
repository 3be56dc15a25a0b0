/*
 * kiln_str.h: string elements and the routines kernels call on them.
 *
 * A tensor of ONNX type string holds one kiln_str record per element: a
 * pointer to the string's bytes (UTF-8 as the model gives them; not
 * NUL-terminated) and their count. The bytes live in the caller's input,
 * in the weights, or in the string pool, a block of the arena that the
 * routines which make strings (concatenation, case changes) append to.
 * The pool starts with KILN_STR_HEAD bytes of state: the bytes used
 * (int64) and a status (int64: 0, or one of KILN_STR_ERR_*), which
 * model_run clears before the first kernel and checks after the last.
 *
 * None of these allocate, and none writes outside the records and the pool
 * room they are given: a full pool is a status, not an overflow.
 * Characters are bytes; case changes and regex classes are ASCII
 * (docs/strings.md).
 */
#ifndef KILN_STR_H
#define KILN_STR_H

#include <stddef.h>
#include <stdint.h>

#ifndef KILN_STR_T
#define KILN_STR_T
typedef struct kiln_str {
    const char *ptr;
    int64_t len;
} kiln_str;
#endif

enum {
    KILN_STR_HEAD = 16,        /* the pool's state before its bytes */
    KILN_STR_ERR_BYTES = 1,    /* the pool was too small (--string-bytes) */
    KILN_STR_ERR_SHAPE = 2,    /* a data-dependent extent differs from the compiled one */
    KILN_STR_ERR_REGEX = 3,    /* a regular expression match took too many steps */
};

/* *out = (a == b), byte for byte. */
void kiln_str_eq(const kiln_str *a, const kiln_str *b, uint8_t *out);
/* *out = *x (the record: the bytes stay where they are). */
void kiln_str_copy(const kiln_str *x, kiln_str *out);
/* *out = the empty string. */
void kiln_str_empty(kiln_str *out);
/* *out = a followed by b, its bytes appended to pool (cap bytes after the
 * head); when they do not fit, *out is empty and the status says so. */
void kiln_str_concat(const kiln_str *a, const kiln_str *b, ptrdiff_t cap, uint8_t *pool, kiln_str *out);
/* *out = x with its ASCII letters lowered (mode 1) or raised (mode 2), in
 * pool; mode 0 copies the record. */
void kiln_str_case(const kiln_str *x, ptrdiff_t mode, ptrdiff_t cap, uint8_t *pool, kiln_str *out);
/* *out = the last k < n with x equal to key k (ASCII case folded when
 * fold), else -1. Key k is bytes[offs[k] .. offs[k + 1]). */
void kiln_str_find(const kiln_str *x, const uint8_t *bytes, const int64_t *offs, ptrdiff_t n, ptrdiff_t fold,
                   int64_t *out);
/* *out = does regular expression pat (plen bytes, checked by
 * kiln_str_regex_check when compiled) match the whole of x? A match that
 * takes too many steps sets the pool's status. */
void kiln_str_regex(const kiln_str *x, const uint8_t *pat, ptrdiff_t plen, uint8_t *pool, uint8_t *out);
/* Split x as Python's str.split(delim, maxsplit) does (dlen 0: on runs of
 * whitespace, ends stripped; maxsplit < 0: no limit) into row[0 .. width),
 * the pieces pointing into x's bytes and the rest of the row empty;
 * *count = the number of pieces (which may exceed width: the caller
 * checks). */
void kiln_str_split(const kiln_str *x, const uint8_t *delim, ptrdiff_t dlen, ptrdiff_t maxsplit, ptrdiff_t width,
                    kiln_str *row, int64_t *count);

/* Is pat (len bytes) a regular expression kiln_str_regex supports? 0, or
 * 1 with a one-line reason in err. The syntax: literals and escapes
 * (\. \\ \- ...), . (any byte), classes [a-z_\w] and [^...], \w \W \d \D
 * \s \S, \b \B, ^ $, groups ( ) and (?: ), alternation |, and the greedy
 * quantifiers * + ? {n} {n,} {n,m} (n, m <= 1000). */
int kiln_str_regex_check(const uint8_t *pat, size_t len, char *err, size_t errlen);

#endif
