/*
 * kiln_str.c: the string routines generated kernels call (kiln_str.h).
 *
 * Built into every model program and library that has string tensors, and
 * into kiln itself (which checks a RegexFullMatch pattern with
 * kiln_str_regex_check when it compiles the model). Nothing here
 * allocates: the regex is parsed into a fixed table on the stack at each
 * call and matched by backtracking with a step budget.
 */
#include "kiln_str.h"

#include <string.h>

static const char empty[1] = "";

/* ------------------------------------------------------------------ pool */

static int64_t *pool_state(uint8_t *pool) { return (int64_t *)(void *)pool; }

static void pool_fail(uint8_t *pool, int code)
{
    int64_t *st = pool_state(pool);
    if (!st[1])
        st[1] = code;
}

/* n bytes of pool room, or NULL (status set) when they do not fit. */
static char *pool_take(ptrdiff_t cap, uint8_t *pool, int64_t n)
{
    int64_t *st = pool_state(pool);
    if (n == 0)
        return (char *)empty;
    if (n < 0 || st[0] < 0 || st[0] > cap || n > cap - st[0]) {
        pool_fail(pool, KILN_STR_ERR_BYTES);
        return NULL;
    }
    char *at = (char *)pool + KILN_STR_HEAD + st[0];
    st[0] += n;
    return at;
}

void kiln_str_copy(const kiln_str *x, kiln_str *out) { *out = *x; }

void kiln_str_empty(kiln_str *out)
{
    out->ptr = empty;
    out->len = 0;
}

void kiln_str_eq(const kiln_str *a, const kiln_str *b, uint8_t *out)
{
    *out = a->len == b->len && (!a->len || !memcmp(a->ptr, b->ptr, (size_t)a->len));
}

void kiln_str_concat(const kiln_str *a, const kiln_str *b, ptrdiff_t cap, uint8_t *pool, kiln_str *out)
{
    kiln_str x = *a, y = *b; /* out may be a or b */
    char *at = pool_take(cap, pool, x.len + y.len);
    out->ptr = at ? at : empty;
    out->len = at ? x.len + y.len : 0;
    if (at && x.len)
        memcpy(at, x.ptr, (size_t)x.len);
    if (at && y.len)
        memcpy(at + x.len, y.ptr, (size_t)y.len);
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int upper(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

void kiln_str_case(const kiln_str *x, ptrdiff_t mode, ptrdiff_t cap, uint8_t *pool, kiln_str *out)
{
    kiln_str s = *x;
    if (mode == 0) {
        *out = s;
        return;
    }
    char *at = pool_take(cap, pool, s.len);
    out->ptr = at ? at : empty;
    out->len = at ? s.len : 0;
    for (int64_t i = 0; at && i < s.len; i++)
        at[i] = (char)(mode == 1 ? lower((unsigned char)s.ptr[i]) : upper((unsigned char)s.ptr[i]));
}

void kiln_str_find(const kiln_str *x, const uint8_t *bytes, const int64_t *offs, ptrdiff_t n, ptrdiff_t fold,
                   int64_t *out)
{
    int64_t hit = -1;
    for (ptrdiff_t k = 0; k < n; k++) {
        int64_t len = offs[k + 1] - offs[k];
        if (len != x->len)
            continue;
        const uint8_t *key = bytes + offs[k];
        int64_t i = 0;
        for (; i < len; i++) {
            int a = (unsigned char)x->ptr[i], b = key[i];
            if (fold ? lower(a) != lower(b) : a != b)
                break;
        }
        if (i == len)
            hit = k;
    }
    *out = hit;
}

/* ----------------------------------------------------------------- split */

static int space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

void kiln_str_split(const kiln_str *x, const uint8_t *delim, ptrdiff_t dlen, ptrdiff_t maxsplit, ptrdiff_t width,
                    kiln_str *row, int64_t *count)
{
    kiln_str s = *x;
    int64_t n = 0, i = 0, len = s.len;
    const char *p = s.ptr;
    for (ptrdiff_t k = 0; k < width; k++) {
        row[k].ptr = empty;
        row[k].len = 0;
    }
#define PIECE(from, to)                                                                                              \
    do {                                                                                                             \
        if (n < width) {                                                                                             \
            row[n].ptr = p + (from);                                                                                 \
            row[n].len = (to) - (from);                                                                              \
        }                                                                                                            \
        n++;                                                                                                         \
    } while (0)
    if (dlen == 0) { /* runs of whitespace; no empty pieces */
        while (i < len) {
            while (i < len && space((unsigned char)p[i]))
                i++;
            if (i == len)
                break;
            int64_t start = i;
            if (maxsplit >= 0 && n == maxsplit) {
                int64_t end = len;
                while (end > start && space((unsigned char)p[end - 1]))
                    end--;
                PIECE(start, end);
                break;
            }
            while (i < len && !space((unsigned char)p[i]))
                i++;
            PIECE(start, i);
        }
    } else {
        int64_t start = 0;
        while (i + dlen <= len && (maxsplit < 0 || n < maxsplit)) {
            if (!memcmp(p + i, delim, (size_t)dlen)) {
                PIECE(start, i);
                i += dlen;
                start = i;
            } else {
                i++;
            }
        }
        PIECE(start, len);
    }
#undef PIECE
    *count = n;
}

/* ----------------------------------------------------------------- regex */

enum { RE_MAX = 256, RE_REP_MAX = 1000, RE_STEPS = 1000000 };
enum { R_SET, R_BOL, R_EOL, R_WORDB, R_NWORDB, R_GROUP, R_BRANCH };

typedef struct ReNode {
    int kind;
    int min, max;          /* quantifier on the atom (1, 1 without one); max -1: unbounded */
    int sub;               /* R_GROUP: first R_BRANCH; R_BRANCH: first node of its sequence */
    int next;              /* next node of the sequence (R_BRANCH: next alternative); -1 */
    uint8_t set[32];       /* R_SET: the bytes it matches */
} ReNode;

typedef struct Re {
    ReNode n[RE_MAX];
    int count;
    const uint8_t *p;      /* pattern being parsed */
    size_t len, at;
    const char *err;
    long steps;
} Re;

static void set_add(uint8_t *set, int c) { set[c >> 3] |= (uint8_t)(1u << (c & 7)); }
static int set_has(const uint8_t *set, int c) { return set[c >> 3] >> (c & 7) & 1; }
static int word(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

/* A class escape (\w \d \s, and their complements) into set; 0 if c is none. */
static int class_escape(uint8_t *set, int c)
{
    int neg = c == 'W' || c == 'D' || c == 'S';
    int l = lower(c);
    if (l != 'w' && l != 'd' && l != 's')
        return 0;
    for (int b = 0; b < 256; b++) {
        int in = l == 'w' ? word(b) : l == 'd' ? (b >= '0' && b <= '9') : space(b);
        if (in != neg)
            set_add(set, b);
    }
    return 1;
}

/* A literal escape: the byte it stands for, or -1 if it is not one kiln knows. */
static int literal_escape(int c)
{
    switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    default:
        /* punctuation stands for itself */
        return (c >= 0x21 && c <= 0x7e && !word(c)) ? c : -1;
    }
}

static int re_new(Re *re, int kind)
{
    if (re->count == RE_MAX) {
        re->err = "the pattern is too long";
        return -1;
    }
    ReNode *n = &re->n[re->count];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->min = n->max = 1;
    n->sub = n->next = -1;
    return re->count++;
}

static int peek(const Re *re) { return re->at < re->len ? re->p[re->at] : -1; }

static int parse_alt(Re *re, int depth);

/* [...] after the '['. */
static int parse_class(Re *re, int node)
{
    uint8_t set[32];
    memset(set, 0, sizeof set);
    int neg = 0, first = 1;
    if (peek(re) == '^') {
        neg = 1;
        re->at++;
    }
    for (;;) {
        int c = peek(re);
        if (c < 0) {
            re->err = "a character class is not closed with ]";
            return 1;
        }
        re->at++;
        if (c == ']' && !first)
            break;
        first = 0;
        if (c == '[' && peek(re) == ':') {
            re->err = "POSIX classes like [[:alpha:]] are not supported";
            return 1;
        }
        int lo = c;
        if (c == '\\') {
            int e = peek(re);
            if (e < 0) {
                re->err = "the pattern ends with a backslash";
                return 1;
            }
            re->at++;
            if (class_escape(set, e))
                continue;
            if ((lo = literal_escape(e)) < 0) {
                re->err = "an escape kiln's regex does not support (\\p, \\x, backreferences, ...)";
                return 1;
            }
        }
        int hi = lo;
        if (peek(re) == '-' && re->at + 1 < re->len && re->p[re->at + 1] != ']') {
            re->at++;
            hi = peek(re);
            re->at++;
            if (hi == '\\') {
                int e = peek(re);
                re->at++;
                if (e < 0 || (hi = literal_escape(e)) < 0) {
                    re->err = "a bad range end in a character class";
                    return 1;
                }
            }
            if (hi < lo) {
                re->err = "a character class range out of order";
                return 1;
            }
        }
        for (int b = lo; b <= hi; b++)
            set_add(set, b);
    }
    for (int i = 0; i < 32; i++)
        re->n[node].set[i] = neg ? (uint8_t)~set[i] : set[i];
    return 0;
}

static int parse_int(Re *re, int *out)
{
    int v = 0, digits = 0;
    while (peek(re) >= '0' && peek(re) <= '9') {
        v = v * 10 + (peek(re) - '0');
        if (v > RE_REP_MAX) {
            re->err = "a repeat count over 1000";
            return 1;
        }
        re->at++;
        digits++;
    }
    *out = v;
    if (!digits)
        re->err = "a bad {n,m} repeat";
    return !digits;
}

/* A quantifier after an atom, if any. */
static int parse_quant(Re *re, int node)
{
    int c = peek(re);
    ReNode *n = &re->n[node];
    if (c == '*' || c == '+' || c == '?') {
        re->at++;
        n->min = c == '+';
        n->max = c == '?' ? 1 : -1;
    } else if (c == '{') {
        re->at++;
        if (parse_int(re, &n->min))
            return 1;
        n->max = n->min;
        if (peek(re) == ',') {
            re->at++;
            n->max = -1;
            if (peek(re) != '}' && parse_int(re, &n->max))
                return 1;
        }
        if (peek(re) != '}' || (n->max >= 0 && n->max < n->min)) {
            re->err = "a bad {n,m} repeat";
            return 1;
        }
        re->at++;
    } else {
        return 0;
    }
    if (n->kind != R_SET && n->kind != R_GROUP) {
        re->err = "a repeated anchor";
        return 1;
    }
    c = peek(re);
    if (c == '?' || c == '+') {
        re->err = "lazy and possessive quantifiers are not supported";
        return 1;
    }
    if (c == '*' || c == '{') {
        re->err = "a quantifier after a quantifier";
        return 1;
    }
    return 0;
}

/* One atom (with its quantifier); -1 at the end of a sequence. */
static int parse_atom(Re *re, int depth, int *out)
{
    int c = peek(re), node;
    *out = -1;
    if (c < 0 || c == '|' || c == ')')
        return 0;
    re->at++;
    switch (c) {
    case '(':
        if (peek(re) == '?') {
            if (re->at + 1 < re->len && re->p[re->at + 1] == ':') {
                re->at += 2;
            } else {
                re->err = "group flags, lookaround and named groups are not supported";
                return 1;
            }
        }
        if ((node = re_new(re, R_GROUP)) < 0)
            return 1;
        if (depth > 50) {
            re->err = "groups nested too deep";
            return 1;
        }
        {
            int sub = parse_alt(re, depth + 1);
            if (sub < 0)
                return 1;
            re->n[node].sub = sub;
        }
        if (peek(re) != ')') {
            re->err = "a group is not closed with )";
            return 1;
        }
        re->at++;
        break;
    case '[':
        if ((node = re_new(re, R_SET)) < 0 || parse_class(re, node))
            return 1;
        break;
    case '.':
        if ((node = re_new(re, R_SET)) < 0)
            return 1;
        for (int b = 0; b < 256; b++)
            if (b != '\n')
                set_add(re->n[node].set, b);
        break;
    case '^':
    case '$':
        if ((node = re_new(re, c == '^' ? R_BOL : R_EOL)) < 0)
            return 1;
        break;
    case '*': case '+': case '?': case '{':
        re->err = "a quantifier with nothing to repeat";
        return 1;
    case '\\': {
        int e = peek(re);
        if (e < 0) {
            re->err = "the pattern ends with a backslash";
            return 1;
        }
        re->at++;
        if (e == 'b' || e == 'B') {
            if ((node = re_new(re, e == 'b' ? R_WORDB : R_NWORDB)) < 0)
                return 1;
            break;
        }
        if ((node = re_new(re, R_SET)) < 0)
            return 1;
        if (class_escape(re->n[node].set, e))
            break;
        int l = literal_escape(e);
        if (l < 0) {
            re->err = "an escape kiln's regex does not support (\\p, \\x, \\A, \\z, backreferences, ...)";
            return 1;
        }
        set_add(re->n[node].set, l);
        break;
    }
    default:
        if ((node = re_new(re, R_SET)) < 0)
            return 1;
        set_add(re->n[node].set, c);
    }
    if (parse_quant(re, node))
        return 1;
    *out = node;
    return 0;
}

/* Alternatives a|b|c: returns the first R_BRANCH, or -1 on error. */
static int parse_alt(Re *re, int depth)
{
    int head = -1, prev = -1;
    for (;;) {
        int br = re_new(re, R_BRANCH), last = -1;
        if (br < 0)
            return -1;
        for (;;) {
            int atom;
            if (parse_atom(re, depth, &atom))
                return -1;
            if (atom < 0)
                break;
            if (last < 0)
                re->n[br].sub = atom;
            else
                re->n[last].next = atom;
            last = atom;
        }
        if (prev < 0)
            head = br;
        else
            re->n[prev].next = br;
        prev = br;
        if (peek(re) != '|')
            return head;
        re->at++;
    }
}

static int re_parse(Re *re, const uint8_t *pat, size_t len)
{
    re->count = 0;
    re->p = pat;
    re->len = len;
    re->at = 0;
    re->err = NULL;
    re->steps = 0;
    int top = parse_alt(re, 0);
    if (top >= 0 && re->at != re->len && !re->err)
        re->err = "an unmatched )";
    return top < 0 || re->err ? -1 : top;
}

/* What is left to match after a sequence ends: the rest of an enclosing
 * sequence (node), or another round of repeated group node. */
typedef struct Cont {
    int node;
    int rep;               /* 1: repeat group `node` (count rounds done, the last from start) */
    int count;
    int64_t start;
    const struct Cont *up;
} Cont;

typedef struct Subject {
    const uint8_t *s;
    int64_t len;
} Subject;

static int m_seq(Re *re, const Subject *x, int node, const Cont *k, int64_t pos);

static int m_rep(Re *re, const Subject *x, int node, int count, const Cont *k, int64_t pos);

/* The end of a sequence: continue with k. */
static int m_cont(Re *re, const Subject *x, const Cont *k, int64_t pos)
{
    if (!k)
        return pos == x->len; /* a full match */
    if (k->rep) {
        if (pos == k->start && k->count > re->n[k->node].min) /* an empty round: stop repeating */
            return 0;
        return m_rep(re, x, k->node, k->count, k->up, pos);
    }
    return m_seq(re, x, k->node, k->up, pos);
}

/* Group node's body (its alternatives) at pos, then k. */
static int m_group(Re *re, const Subject *x, int node, const Cont *k, int64_t pos)
{
    for (int br = re->n[node].sub; br >= 0; br = re->n[br].next)
        if (m_seq(re, x, re->n[br].sub, k, pos))
            return 1;
    return 0;
}

/* Atom `node`, `count` rounds of it matched, then the rest of its sequence. */
static int m_rep(Re *re, const Subject *x, int node, int count, const Cont *k, int64_t pos)
{
    const ReNode *n = &re->n[node];
    if (++re->steps > RE_STEPS)
        return 0;
    if (n->kind == R_SET) { /* greedy: as many as fit, then back off */
        int64_t end = pos;
        while ((n->max < 0 || count + (end - pos) < n->max) && end < x->len && set_has(n->set, x->s[end]))
            end++;
        for (int64_t e = end; e >= pos; e--) {
            if (count + (e - pos) < n->min)
                break;
            if (m_seq(re, x, n->next, k, e))
                return 1;
            if (re->steps > RE_STEPS)
                return 0;
        }
        return 0;
    }
    /* a group: one more round first (greedy), then the rest */
    if (n->max < 0 || count < n->max) {
        Cont again = {node, 1, count + 1, pos, k};
        if (m_group(re, x, node, &again, pos))
            return 1;
    }
    return count >= n->min && m_seq(re, x, n->next, k, pos);
}

static int m_seq(Re *re, const Subject *x, int node, const Cont *k, int64_t pos)
{
    if (++re->steps > RE_STEPS)
        return 0;
    if (node < 0)
        return m_cont(re, x, k, pos);
    const ReNode *n = &re->n[node];
    int before = pos > 0 && word(x->s[pos - 1]), after = pos < x->len && word(x->s[pos]);
    switch (n->kind) {
    case R_BOL: return pos == 0 && m_seq(re, x, n->next, k, pos);
    case R_EOL: return pos == x->len && m_seq(re, x, n->next, k, pos);
    case R_WORDB: return before != after && m_seq(re, x, n->next, k, pos);
    case R_NWORDB: return before == after && m_seq(re, x, n->next, k, pos);
    default: return m_rep(re, x, node, 0, k, pos);
    }
}

int kiln_str_regex_check(const uint8_t *pat, size_t len, char *err, size_t errlen)
{
    Re re;
    if (re_parse(&re, pat, len) >= 0)
        return 0;
    size_t n = strlen(re.err);
    if (errlen) {
        n = n < errlen - 1 ? n : errlen - 1;
        memcpy(err, re.err, n);
        err[n] = 0;
    }
    return 1;
}

void kiln_str_regex(const kiln_str *x, const uint8_t *pat, ptrdiff_t plen, uint8_t *pool, uint8_t *out)
{
    Re re;
    int top = re_parse(&re, pat, (size_t)plen);
    if (top < 0) { /* kiln checked the pattern: cannot happen */
        pool_fail(pool, KILN_STR_ERR_REGEX);
        *out = 0;
        return;
    }
    Subject s = {(const uint8_t *)x->ptr, x->len};
    Re *r = &re;
    /* the top level is one group of the alternatives */
    int ok = 0;
    for (int br = top; br >= 0 && !ok; br = r->n[br].next)
        ok = m_seq(r, &s, r->n[br].sub, NULL, 0);
    if (re.steps > RE_STEPS)
        pool_fail(pool, KILN_STR_ERR_REGEX);
    *out = (uint8_t)ok;
}
