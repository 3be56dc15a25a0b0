/*
 * kiln_rt.c: TensorProto files and timing for hosted executables.
 *
 * The protobuf wire format, as much of it as TensorProto needs: varints,
 * 64- and 32-bit fixed fields, length-delimited fields, packed and unpacked
 * repeated numbers. Data may come as raw_data or in the typed fields
 * (float_data, int32_data, int64_data, double_data, uint64_data), each only
 * for the types ONNX stores in it; it is returned dense and little-endian in
 * the tensor's own type. The files are untrusted input (see "decoding").
 *
 * Built with -DKILN_SEMIHOSTING (the cortex-m4 board, targets/boards/), the
 * files are the host's, opened through semihosting by newlib's rdimon:
 * there fstat says every file is a character device (its size is right),
 * and the clock is clock()'s.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln_rt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kiln_dtype_bits(int t)
{
    switch (t) {
    case 1: case 6: case 12: return 32;       /* f32 i32 u32 */
    case 2: case 3: case 9: return 8;         /* u8 i8 bool */
    case 4: case 5: case 10: case 16: return 16; /* u16 i16 f16 bf16 */
    case 7: case 11: case 13: return 64;      /* i64 f64 u64 */
    case 8: return 128;                       /* string: a kiln_str record (kiln_str.h) */
    case 17: case 18: case 19: case 20: case 24: return 8; /* the float8 family, f8e8m0 */
    case 21: case 22: case 23: return 4;      /* u4 i4 f4e2m1 */
    case 25: case 26: return 2;               /* u2 i2 */
    default: return 0;
    }
}

int kiln_dtype_size(int t) { return kiln_dtype_bits(t) % 8 ? 0 : kiln_dtype_bits(t) / 8; }

size_t kiln_dtype_bytes(int t, size_t numel)
{
    int bits = kiln_dtype_bits(t);
    return bits % 8 == 0 ? numel * (size_t)(bits / 8) : (numel / (size_t)(8 / bits)) + (numel % (size_t)(8 / bits) != 0);
}

const char *kiln_dtype_name(int t)
{
    static const char *names[] = {"undefined", "f32", "u8", "i8", "u16", "i16", "i32", "i64", "string",
                                  "bool", "f16", "f64", "u32", "u64", "c64", "c128", "bf16", "f8e4m3fn",
                                  "f8e4m3fnuz", "f8e5m2", "f8e5m2fnuz", "u4", "i4", "f4e2m1", "f8e8m0", "u2", "i2"};
    return t >= 0 && t <= 26 ? names[t] : "dt?";
}

/* The value of a code of a packed float format: 1 sign bit, e exponent
 * bits (bias b), m mantissa bits; nan/inf say which codes are special. */
static double small_float(unsigned c, int e, int m, int b, int nan, int inf)
{
    int sign = (c >> (e + m)) & 1;
    unsigned mag = c & ((1u << (e + m)) - 1), ex = mag >> m, mt = mag & ((1u << m) - 1);
    double v;
    if (nan)
        return 0.0 / 0.0;
    if (inf)
        v = 1.0 / 0.0;
    else if (ex)
        v = ldexp(1.0 + ldexp((double)mt, -m), (int)ex - b);
    else
        v = ldexp((double)mt, 1 - b - m);
    return sign ? -v : v;
}

double kiln_packed_value(int t, const void *data, size_t i)
{
    int bits = kiln_dtype_bits(t), per = 8 / bits;
    unsigned c = (((const uint8_t *)data)[i / (size_t)per] >> (i % (size_t)per * (size_t)bits)) & ((1u << bits) - 1);
    switch (t) {
    case 17: return small_float(c, 4, 3, 7, (c & 0x7f) == 0x7f, 0);
    case 18: return small_float(c, 4, 3, 8, c == 0x80, 0);
    case 19: return small_float(c, 5, 2, 15, (c & 0x7f) > 0x7c, (c & 0x7f) == 0x7c);
    case 20: return small_float(c, 5, 2, 16, c == 0x80, 0);
    case 23: return small_float(c, 2, 1, 1, 0, 0);
    case 24: return c == 0xff ? 0.0 / 0.0 : ldexp(1.0, (int)c - 127);
    case 22: return (double)((int)(c ^ 8) - 8);
    case 26: return (double)((int)(c ^ 2) - 2);
    default: return c; /* u4 u2 */
    }
}

const char *kiln_shape_str(int rank, const int64_t *dims, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    if (rank == 0)
        snprintf(buf, size, "scalar");
    for (int i = 0; i < rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? "x%lld" : "%lld", (long long)dims[i]);
    return buf;
}

/* ------------------------------------------------------------ decoding */

/* Tensor files come from anywhere: every length is checked against the
 * bytes left, varints are at most 10 bytes, the element count and byte size
 * are checked for overflow, and nothing of the declared size is allocated
 * before the file is known to hold that much data. */

typedef struct Reader {
    const unsigned char *p, *end;
    int bad;
} Reader;

static uint64_t varint(Reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        unsigned char b = *r->p++;
        if (shift == 63 && b > 1)
            break; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static uint64_t fixed(Reader *r, int bytes)
{
    uint64_t v = 0;
    if (r->end - r->p < bytes) {
        r->bad = 1;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

/* The length of a length-delimited field, checked against what is left;
 * sets r->bad when it runs past the end. */
static size_t length(Reader *r)
{
    uint64_t len = varint(r);
    if (r->bad || (uint64_t)(r->end - r->p) < len) {
        r->bad = 1;
        return 0;
    }
    return (size_t)len;
}

/* A growable list of numbers from one repeated field. */
typedef struct List {
    uint64_t *v;
    size_t n, cap;
} List;

static int push(List *l, uint64_t x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint64_t *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

/* Read a repeated numeric field whose elements have wire type elem_wire
 * (0 varint, 5 fixed32, 1 fixed64): packed (wire type 2) or one element. */
static int repeated(Reader *r, int wire, int elem_wire, List *l)
{
    if (wire == 2) {
        size_t len = length(r);
        if (r->bad)
            return 1;
        Reader sub = {r->p, r->p + len, 0};
        while (sub.p < sub.end && !sub.bad)
            if (push(l, elem_wire == 0 ? varint(&sub) : fixed(&sub, elem_wire == 5 ? 4 : 8)))
                return 1;
        r->p += len;
        return sub.bad;
    }
    if (wire != elem_wire)
        return 1;
    uint64_t x = elem_wire == 0 ? varint(r) : fixed(r, elem_wire == 5 ? 4 : 8);
    return r->bad || push(l, x);
}

static int skip(Reader *r, int wire)
{
    switch (wire) {
    case 0: varint(r); break;
    case 1: fixed(r, 8); break;
    case 5: fixed(r, 4); break;
    case 2: r->p += length(r); break;
    default: return 1;
    }
    return r->bad;
}

/* TensorProto's typed value fields: number, name, wire type of an element. */
static const struct {
    int field;
    const char *name;
    int wire;
} value_fields[] = {
    {4, "float_data", 5}, {5, "int32_data", 0}, {7, "int64_data", 0}, {10, "double_data", 1},
    {11, "uint64_data", 0},
};

static int value_field_index(int field)
{
    for (int i = 0; i < (int)(sizeof value_fields / sizeof value_fields[0]); i++)
        if (value_fields[i].field == field)
            return i;
    return -1;
}

/* The field that carries values of ONNX dtype code t (ONNX's rule:
 * int32_data carries int32 and every narrower type, as integers or, for
 * f16 and bf16, as bit patterns); 0 if none does. */
static int field_for_dtype(int t)
{
    switch (t) {
    case 1: return 4;                                                      /* f32 */
    case 11: return 10;                                                    /* f64 */
    case 7: return 7;                                                      /* i64 */
    case 12: case 13: return 11;                                           /* u32 u64 */
    case 2: case 3: case 4: case 5: case 6: case 9: case 10: case 16: return 5; /* narrow */
    default: return t >= 17 && t <= 26 ? 5 : 0; /* packed: a byte per entry */
    }
}

static const char *field_name(int field)
{
    int i = value_field_index(field);
    return i < 0 ? "?" : value_fields[i].name;
}

/* Element i of a dense buffer from the low bits of a field's value: float
 * fields carry IEEE bits, int32_data carries every narrow type. */
static void store_elem(int dtype, void *data, size_t i, uint64_t bits)
{
    switch (kiln_dtype_bits(dtype) < 8 ? 1 : kiln_dtype_size(dtype)) { /* packed: entry i is byte i */
    case 1: ((uint8_t *)data)[i] = (uint8_t)bits; break;
    case 2: ((uint16_t *)data)[i] = (uint16_t)bits; break;
    case 4: ((uint32_t *)data)[i] = (uint32_t)bits; break;
    case 8: ((uint64_t *)data)[i] = bits; break;
    }
}

/* The whole of regular file `path` into a malloc'd buffer. A FIFO or a
 * device is refused (opened O_NONBLOCK, so that refusing it cannot hang). */
static unsigned char *slurp(const char *path, size_t *out_size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
#ifdef KILN_SEMIHOSTING
    int regular = fstat(fd, &st) == 0; /* semihosting files are all "devices" */
#else
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
#endif
    if (!regular) {
        close(fd);
        snprintf(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size, done = 0;
    unsigned char *buf = st.st_size < 0 || (uint64_t)st.st_size >= SIZE_MAX ? NULL : malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory for %lld bytes", path, (long long)st.st_size);
        return NULL;
    }
    while (done < size) {
        ssize_t got = read(fd, buf + done, size - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        done += (size_t)got;
    }
    close(fd);
    if (done != size) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    *out_size = size;
    return buf;
}

/* What the wire format says about a tensor, before any check. */
typedef struct Parsed {
    List dims, nums;            /* dims; values of the typed field vfield */
    List strs;                  /* string_data: offset in the file, length, of each */
    int vfield;                 /* field number of the values, 0 if none */
    int vfield2;                /* a second value field with values (an error) */
    int has_type, external, segment;
    const unsigned char *raw;   /* raw_data, or NULL */
    size_t raw_len;
} Parsed;

/* Walk the fields of a TensorProto in buf; fills *pt and t->dtype and
 * t->name. Returns non-zero on a malformed file. */
static int parse(const unsigned char *buf, size_t size, Parsed *pt, kiln_tensor *t)
{
    Reader r = {buf, buf + size, 0};
    int rc = 0;
    while (r.p < r.end && !r.bad && !rc) {
        uint64_t key = varint(&r);
        int field = key >> 3 > 1000 ? 1000 : (int)(key >> 3), wire = (int)(key & 7);
        int vi = value_field_index(field);
        if (r.bad)
            break;
        if (vi >= 0) {
            size_t before = pt->nums.n;
            rc = repeated(&r, wire, value_fields[vi].wire, &pt->nums);
            if (pt->nums.n > before && !pt->vfield)
                pt->vfield = field;
            else if (pt->nums.n > before && pt->vfield != field)
                pt->vfield2 = field;
            continue;
        }
        switch (field) {
        case 1: rc = repeated(&r, wire, 0, &pt->dims); break;
        case 2: {
            uint64_t v = wire == 0 ? varint(&r) : 0;
            rc = wire != 0;
            t->dtype = v > 1000 ? -1 : (int)v;
            pt->has_type = 1;
            break;
        }
        case 8:
        case 9: {
            size_t len = wire == 2 ? length(&r) : 0;
            if (wire != 2 || r.bad) {
                rc = 1;
                break;
            }
            if (field == 9) {
                pt->raw = r.p;
                pt->raw_len = len;
            } else {
                size_t n = len < sizeof t->name - 1 ? len : sizeof t->name - 1;
                memcpy(t->name, r.p, n);
                t->name[n] = 0;
            }
            r.p += len;
            break;
        }
        case 6: { /* string_data: one length-delimited entry per element */
            size_t len = wire == 2 ? length(&r) : 0;
            if (wire != 2 || r.bad) {
                rc = 1;
                break;
            }
            rc = push(&pt->strs, (uint64_t)(r.p - buf)) || push(&pt->strs, len);
            r.p += len;
            break;
        }
        case 3: pt->segment = 1; rc = skip(&r, wire); break;
        case 13: pt->external = 1; rc = skip(&r, wire); break;
        case 14: {
            uint64_t v = wire == 0 ? varint(&r) : 0;
            rc = wire != 0;
            pt->external |= v == 1;
            break;
        }
        default: rc = skip(&r, wire); break;
        }
    }
    return rc || r.bad;
}

/* t's rank and dims from the parsed dims, and its element count and byte
 * size, checked: returns 1 when a dim is negative, 2 when the count or the
 * size overflows. *numel is the number of typed-field entries the values
 * take: elements, or bytes of a packed type. */
static int shape_of(const List *dims, kiln_tensor *t, size_t *numel)
{
    size_t n = 1, elem = kiln_dtype_size(t->dtype) ? (size_t)kiln_dtype_size(t->dtype) : 1;
    t->rank = (int)dims->n;
    for (size_t i = 0; i < dims->n; i++) {
        uint64_t dm = dims->v[i];
        if (dm > (uint64_t)INT64_MAX)
            return 1;
        if (dm && n > SIZE_MAX / dm)
            return 2;
        t->dims[i] = (int64_t)dm;
        n *= (size_t)dm;
    }
    if (n > SIZE_MAX / elem)
        return 2;
    t->bytes = kiln_dtype_bytes(t->dtype, n);
    *numel = kiln_dtype_size(t->dtype) ? n : t->bytes;
    return 0;
}

/* A string tensor's data: numel kiln_str records, then the bytes of every
 * string (each followed by a NUL), in one malloc'd block; records point
 * into it. Returns 0, or 1 with a message in err. */
static int read_strings(const unsigned char *buf, const Parsed *pt, kiln_tensor *t, size_t numel, const char *path,
                        char *err, size_t errlen)
{
    if (pt->strs.n / 2 != numel) {
        snprintf(err, errlen, "%s: %zu strings, the shape needs %zu", path, pt->strs.n / 2, numel);
        return 1;
    }
    size_t total = numel * sizeof(kiln_str);
    for (size_t i = 0; i < numel; i++) {
        if (pt->strs.v[2 * i + 1] >= SIZE_MAX / 2 - total) {
            snprintf(err, errlen, "%s: the strings' size overflows", path);
            return 1;
        }
        total += (size_t)pt->strs.v[2 * i + 1] + 1;
    }
    unsigned char *data = malloc(total ? total : 1);
    if (!data) {
        snprintf(err, errlen, "%s: out of memory", path);
        return 1;
    }
    kiln_str *r = (kiln_str *)data;
    unsigned char *at = data + numel * sizeof(kiln_str);
    for (size_t i = 0; i < numel; i++) {
        size_t len = (size_t)pt->strs.v[2 * i + 1];
        if (len)
            memcpy(at, buf + pt->strs.v[2 * i], len);
        at[len] = 0;
        r[i].ptr = (const char *)at;
        r[i].len = (int64_t)len;
        at += len + 1;
    }
    t->data = data;
    t->bytes = numel * sizeof(kiln_str);
    return 0;
}

/* The TensorProto in buf[size] (of file `path`, for messages) into t. */
static int decode_tensor(const unsigned char *buf, size_t size, const char *path, kiln_tensor *t, char *err,
                         size_t errlen)
{
    memset(t, 0, sizeof *t);
    Parsed pt;
    memset(&pt, 0, sizeof pt);
    int rc = 1, want = 0, bad_shape = 0;
    size_t numel = 0;
    char sh[256];
    if (parse(buf, size, &pt, t))
        snprintf(err, errlen, "%s: not a valid TensorProto file", path);
    else if (!pt.has_type || !kiln_dtype_bits(t->dtype))
        snprintf(err, errlen, "%s: unsupported or missing element type %d", path, t->dtype);
    else if (pt.external)
        snprintf(err, errlen, "%s: external data is not supported in tensor files", path);
    else if (pt.segment)
        snprintf(err, errlen, "%s: segmented tensors are not supported", path);
    else if (pt.dims.n > KILN_RT_MAX_RANK)
        snprintf(err, errlen, "%s: rank %zu is larger than %d", path, pt.dims.n, KILN_RT_MAX_RANK);
    else if ((bad_shape = shape_of(&pt.dims, t, &numel)))
        snprintf(err, errlen, "%s: %s", path,
                 bad_shape == 1 ? "a dimension is negative" : "the element count or byte size overflows");
    else if (t->dtype == 8 ? pt.raw || pt.vfield : pt.strs.n > 0)
        snprintf(err, errlen, "%s: a %s tensor's values must be in %s", path, kiln_dtype_name(t->dtype),
                 t->dtype == 8 ? "string_data" : "raw_data or its typed field, not string_data");
    else if (t->dtype == 8)
        rc = read_strings(buf, &pt, t, numel, path, err, errlen);
    else if (pt.vfield2 || (pt.raw && pt.vfield))
        snprintf(err, errlen, "%s: values in both %s and %s", path, pt.raw ? "raw_data" : field_name(pt.vfield),
                 field_name(pt.vfield2 ? pt.vfield2 : pt.vfield));
    else if (!pt.raw && pt.vfield && pt.vfield != (want = field_for_dtype(t->dtype)))
        snprintf(err, errlen, "%s: a %s tensor's values must be in %s, not in %s", path,
                 kiln_dtype_name(t->dtype), want ? field_name(want) : "raw_data", field_name(pt.vfield));
    else if (pt.raw && pt.raw_len != t->bytes)
        snprintf(err, errlen, "%s: raw_data has %zu bytes, shape %s of %s needs %zu", path, pt.raw_len,
                 kiln_shape_str(t->rank, t->dims, sh, sizeof sh), kiln_dtype_name(t->dtype), t->bytes);
    else if (!pt.raw && pt.nums.n != numel)
        snprintf(err, errlen, "%s: %zu values, shape %s needs %zu", path, pt.nums.n,
                 kiln_shape_str(t->rank, t->dims, sh, sizeof sh), numel);
    else if (!(t->data = malloc(t->bytes ? t->bytes : 1)))
        snprintf(err, errlen, "%s: out of memory", path);
    else
        rc = 0;
    if (!rc && t->dtype != 8 && pt.raw && t->bytes)
        memcpy(t->data, pt.raw, t->bytes);
    for (size_t i = 0; !rc && t->dtype != 8 && !pt.raw && i < numel; i++)
        store_elem(t->dtype, t->data, i, pt.nums.v[i]);
    free(pt.strs.v);
    free(pt.dims.v);
    free(pt.nums.v);
    if (rc)
        kiln_tensor_free(t);
    return rc;
}

int kiln_read_tensor(const char *path, kiln_tensor *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    size_t size = 0;
    unsigned char *buf = slurp(path, &size, err, errlen);
    if (!buf)
        return 1;
    int rc = decode_tensor(buf, size, path, t, err, errlen);
    free(buf);
    return rc;
}

/* A SequenceProto (seq) or OptionalProto in buf: its tensors into ts[*n]. */
static int decode_value(const unsigned char *buf, size_t size, int seq, int form, const char *path, kiln_tensor *ts,
                        int max, int *n, char *err, size_t errlen)
{
    Reader r = {buf, buf + size, 0};
    while (r.p < r.end && !r.bad) {
        uint64_t key = varint(&r);
        int field = key >> 3 > 1000 ? 1000 : (int)(key >> 3), wire = (int)(key & 7);
        if (r.bad)
            break;
        if (wire != 2 || (field != 3 && field != 5)) {
            if (field >= 4 && field <= 7) {
                snprintf(err, errlen, "%s: sparse tensors, maps and nested values are not supported", path);
                return 1;
            }
            if (skip(&r, wire))
                break;
            continue;
        }
        size_t len = length(&r);
        if (r.bad)
            break;
        const unsigned char *at = r.p;
        r.p += len;
        if (field == 5 && (seq || !(form & KILN_IO_SEQ))) {
            snprintf(err, errlen, "%s: holds a sequence where the model has a tensor", path);
            return 1;
        }
        if (field == 3 && !seq && (form & KILN_IO_SEQ)) {
            snprintf(err, errlen, "%s: holds a tensor where the model has a sequence", path);
            return 1;
        }
        if (field == 5) {
            if (decode_value(at, len, 1, form, path, ts, max, n, err, errlen))
                return 1;
            continue;
        }
        if (*n >= max) {
            snprintf(err, errlen, "%s: holds more than %d tensor(s), the model was compiled for %d", path, max, max);
            return 1;
        }
        if (decode_tensor(at, len, path, &ts[*n], err, errlen))
            return 1;
        (*n)++;
    }
    if (r.bad) {
        snprintf(err, errlen, "%s: not a valid %s file", path, seq ? "SequenceProto" : "OptionalProto");
        return 1;
    }
    return 0;
}

int kiln_read_value(const char *path, int form, kiln_tensor *ts, int max, int *n, char *err, size_t errlen)
{
    *n = 0;
    if (!(form & (KILN_IO_SEQ | KILN_IO_OPT))) {
        if (max < 1) {
            snprintf(err, errlen, "%s: no room for a tensor", path);
            return 1;
        }
        int rc = kiln_read_tensor(path, &ts[0], err, errlen);
        *n = !rc;
        return rc;
    }
    size_t size = 0;
    unsigned char *buf = slurp(path, &size, err, errlen);
    if (!buf)
        return 1;
    int rc = decode_value(buf, size, !(form & KILN_IO_OPT), form, path, ts, max, n, err, errlen);
    free(buf);
    if (rc) {
        for (int i = 0; i < *n; i++)
            kiln_tensor_free(&ts[i]);
        *n = 0;
    }
    return rc;
}

/* ------------------------------------------------------------ encoding */

static void put_varint(FILE *f, uint64_t v)
{
    do {
        unsigned char b = v & 0x7f;
        v >>= 7;
        fputc(b | (v ? 0x80 : 0), f);
    } while (v);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

/* Bytes of t as a TensorProto (what put_tensor writes). */
static size_t tensor_len(const kiln_tensor *t)
{
    size_t n = 0, dl = 0, nlen = strlen(t->name);
    for (int i = 0; i < t->rank; i++)
        dl += varint_len((uint64_t)t->dims[i]);
    if (t->rank)
        n += 1 + varint_len(dl) + dl;
    n += 1 + varint_len((uint64_t)t->dtype);
    if (nlen)
        n += 1 + varint_len(nlen) + nlen;
    if (t->dtype == 8) { /* string_data, one entry per record */
        const kiln_str *r = t->data;
        for (size_t i = 0; i < t->bytes / sizeof(kiln_str); i++)
            n += 1 + varint_len((uint64_t)r[i].len) + (size_t)r[i].len;
        return n;
    }
    return n + 1 + varint_len(t->bytes) + t->bytes;
}

/* t as a TensorProto (dims, data_type, name, raw_data). */
static void put_tensor(FILE *f, const kiln_tensor *t)
{
    if (t->rank) {
        size_t len = 0;
        for (int i = 0; i < t->rank; i++)
            len += varint_len((uint64_t)t->dims[i]);
        put_varint(f, 1 << 3 | 2);
        put_varint(f, len);
        for (int i = 0; i < t->rank; i++)
            put_varint(f, (uint64_t)t->dims[i]);
    }
    put_varint(f, 2 << 3 | 0);
    put_varint(f, (uint64_t)t->dtype);
    size_t nlen = strlen(t->name);
    if (nlen) {
        put_varint(f, 8 << 3 | 2);
        put_varint(f, nlen);
        fwrite(t->name, 1, nlen, f);
    }
    if (t->dtype == 8) { /* string_data, one entry per record */
        const kiln_str *r = t->data;
        for (size_t i = 0; i < t->bytes / sizeof(kiln_str); i++) {
            put_varint(f, 6 << 3 | 2);
            put_varint(f, (uint64_t)r[i].len);
            if (r[i].len)
                fwrite(r[i].ptr, 1, (size_t)r[i].len, f);
        }
        return;
    }
    put_varint(f, 9 << 3 | 2);
    put_varint(f, t->bytes);
    if (t->bytes)
        fwrite(t->data, 1, t->bytes, f);
}

/* Open path for writing, never through a symbolic link planted there. */
static FILE *open_out(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
    if (!f && fd >= 0)
        close(fd);
    return f;
}

int kiln_write_tensor(const char *path, const kiln_tensor *t)
{
    FILE *f = open_out(path);
    if (!f)
        return 1;
    put_tensor(f, t);
    return fclose(f) != 0;
}

/* The fields of a SequenceProto of ts[n] after its name: elem_type TENSOR
 * (1), each tensor a tensor_values entry; *len_only: just count them. */
static size_t put_seq_body(FILE *f, const kiln_tensor *ts, int n)
{
    size_t len = 2;
    if (f) {
        put_varint(f, 2 << 3 | 0);
        put_varint(f, 1);
    }
    for (int i = 0; i < n; i++) {
        size_t tl = tensor_len(&ts[i]);
        len += 1 + varint_len(tl) + tl;
        if (f) {
            put_varint(f, 3 << 3 | 2);
            put_varint(f, tl);
            put_tensor(f, &ts[i]);
        }
    }
    return len;
}

int kiln_write_value(const char *path, const char *name, int form, const kiln_tensor *ts, int n)
{
    if (!(form & (KILN_IO_SEQ | KILN_IO_OPT)))
        return n != 1 || kiln_write_tensor(path, &ts[0]);
    FILE *f = open_out(path);
    if (!f)
        return 1;
    size_t nlen = strlen(name);
    if (nlen) {
        put_varint(f, 1 << 3 | 2);
        put_varint(f, nlen);
        fwrite(name, 1, nlen, f);
    }
    if (!(form & KILN_IO_OPT)) {
        put_seq_body(f, ts, n); /* a sequence */
    } else if (form & KILN_IO_SEQ) {
        /* an optional sequence: elem_type SEQUENCE (3), sequence_value */
        put_varint(f, 2 << 3 | 0);
        put_varint(f, n ? 3 : 0);
        if (n) {
            size_t sl = put_seq_body(NULL, ts, n);
            put_varint(f, 5 << 3 | 2);
            put_varint(f, sl);
            put_seq_body(f, ts, n);
        }
    } else {
        /* an optional tensor: elem_type TENSOR (1), tensor_value */
        put_varint(f, 2 << 3 | 0);
        put_varint(f, n ? 1 : 0);
        if (n) {
            put_varint(f, 3 << 3 | 2);
            put_varint(f, tensor_len(&ts[0]));
            put_tensor(f, &ts[0]);
        }
    }
    return fclose(f) != 0;
}

void kiln_tensor_free(kiln_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

double kiln_now_ms(void)
{
#ifdef KILN_SEMIHOSTING
    return (double)clock() * 1e3 / CLOCKS_PER_SEC;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
#endif
}
