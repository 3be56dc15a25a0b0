/*
 * kiln_rt.c: TensorProto files and timing for hosted executables.
 *
 * The protobuf wire format, as much of it as TensorProto needs: varints,
 * 64- and 32-bit fixed fields, length-delimited fields, packed and unpacked
 * repeated numbers. Data may come as raw_data or in the typed fields
 * (float_data, int32_data, int64_data, double_data, uint64_data); it is
 * returned dense and little-endian in the tensor's own type.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int kiln_dtype_size(int t)
{
    switch (t) {
    case 1: case 6: case 12: return 4;        /* f32 i32 u32 */
    case 2: case 3: case 9: return 1;         /* u8 i8 bool */
    case 4: case 5: case 10: case 16: return 2; /* u16 i16 f16 bf16 */
    case 7: case 11: case 13: return 8;       /* i64 f64 u64 */
    default: return 0;
    }
}

const char *kiln_dtype_name(int t)
{
    static const char *names[] = {"undefined", "f32", "u8", "i8", "u16", "i16", "i32", "i64", "string",
                                  "bool", "f16", "f64", "u32", "u64", "c64", "c128", "bf16"};
    return t >= 0 && t <= 16 ? names[t] : "dt?";
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

/* A growable list of numbers from one repeated field. */
typedef struct List {
    uint64_t *v;
    size_t n, cap;
} List;

static int push(List *l, uint64_t x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

/* Read a repeated numeric field, packed (wire type 2) or one element. */
static int repeated(Reader *r, int wire, int elem_wire, List *l)
{
    if (wire == 2) {
        uint64_t len = varint(r);
        if (r->bad || (uint64_t)(r->end - r->p) < len)
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
    return push(l, wire == 0 ? varint(r) : fixed(r, wire == 5 ? 4 : 8));
}

static int skip(Reader *r, int wire)
{
    switch (wire) {
    case 0: varint(r); break;
    case 1: fixed(r, 8); break;
    case 5: fixed(r, 4); break;
    case 2: {
        uint64_t len = varint(r);
        if ((uint64_t)(r->end - r->p) < len)
            return 1;
        r->p += len;
        break;
    }
    default: return 1;
    }
    return r->bad;
}

/* Element i of a dense buffer from the low bits of a field's value: float
 * fields carry IEEE bits, int32_data carries every narrow type. */
static void store_elem(int dtype, void *data, size_t i, uint64_t bits)
{
    switch (kiln_dtype_size(dtype)) {
    case 1: ((uint8_t *)data)[i] = (uint8_t)bits; break;
    case 2: ((uint16_t *)data)[i] = (uint16_t)bits; break;
    case 4: ((uint32_t *)data)[i] = (uint32_t)bits; break;
    case 8: ((uint64_t *)data)[i] = bits; break;
    }
}

int kiln_read_tensor(const char *path, kiln_tensor *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return 1;
    }
    size_t cap = 1 << 16, size = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            snprintf(err, errlen, "%s: out of memory", path);
            return 1;
        }
        size += fread(buf + size, 1, cap - size, f);
        if (size < cap)
            break;
        unsigned char *nb = realloc(buf, cap *= 2);
        if (!nb)
            free(buf);
        buf = nb;
    }
    fclose(f);

    Reader r = {buf, buf + size, 0};
    List dims = {0}, nums = {0};
    int has_type = 0, external = 0;
    const unsigned char *raw = NULL;
    size_t raw_len = 0;
    int rc = 0;
    while (r.p < r.end && !r.bad && !rc) {
        uint64_t key = varint(&r);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        switch (field) {
        case 1: rc = repeated(&r, wire, 0, &dims); break;
        case 2: t->dtype = (int)varint(&r); has_type = 1; break;
        case 4: rc = repeated(&r, wire, 5, &nums); break;
        case 5: rc = repeated(&r, wire, 0, &nums); break;
        case 7: rc = repeated(&r, wire, 0, &nums); break;
        case 10: rc = repeated(&r, wire, 1, &nums); break;
        case 11: rc = repeated(&r, wire, 0, &nums); break;
        case 8:
        case 9: {
            if (wire != 2) {
                rc = 1;
                break;
            }
            uint64_t len = varint(&r);
            if (r.bad || (uint64_t)(r.end - r.p) < len) {
                rc = 1;
                break;
            }
            if (field == 9) {
                raw = r.p;
                raw_len = (size_t)len;
            } else {
                size_t n = len < sizeof t->name - 1 ? (size_t)len : sizeof t->name - 1;
                memcpy(t->name, r.p, n);
                t->name[n] = 0;
            }
            r.p += len;
            break;
        }
        case 13: external = 1; rc = skip(&r, wire); break;
        default: rc = skip(&r, wire); break;
        }
    }
    if (rc || r.bad) {
        snprintf(err, errlen, "%s: not a valid TensorProto file", path);
        rc = 1;
    } else if (!has_type || !kiln_dtype_size(t->dtype)) {
        snprintf(err, errlen, "%s: unsupported or missing element type %d", path, t->dtype);
        rc = 1;
    } else if (external) {
        snprintf(err, errlen, "%s: external data is not supported in tensor files", path);
        rc = 1;
    } else if (dims.n > KILN_RT_MAX_RANK) {
        snprintf(err, errlen, "%s: rank %zu is too large", path, dims.n);
        rc = 1;
    }
    size_t numel = 1;
    if (!rc) {
        t->rank = (int)dims.n;
        for (size_t i = 0; i < dims.n; i++) {
            t->dims[i] = (int64_t)dims.v[i];
            numel *= (size_t)dims.v[i];
        }
        t->bytes = numel * (size_t)kiln_dtype_size(t->dtype);
        t->data = malloc(t->bytes ? t->bytes : 1);
        if (!t->data) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = 1;
        }
    }
    if (!rc && raw) {
        if (raw_len != t->bytes) {
            snprintf(err, errlen, "%s: raw_data has %zu bytes, shape needs %zu", path, raw_len, t->bytes);
            rc = 1;
        } else {
            memcpy(t->data, raw, raw_len);
        }
    } else if (!rc && numel) {
        if (nums.n != numel) {
            snprintf(err, errlen, "%s: %zu values, shape needs %zu", path, nums.n, numel);
            rc = 1;
        }
        for (size_t i = 0; !rc && i < numel; i++)
            store_elem(t->dtype, t->data, i, nums.v[i]);
    }
    free(dims.v);
    free(nums.v);
    free(buf);
    if (rc)
        kiln_tensor_free(t);
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

int kiln_write_tensor(const char *path, const kiln_tensor *t)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
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
    put_varint(f, 9 << 3 | 2);
    put_varint(f, t->bytes);
    if (t->bytes)
        fwrite(t->data, 1, t->bytes, f);
    return fclose(f) != 0;
}

void kiln_tensor_free(kiln_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

double kiln_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
