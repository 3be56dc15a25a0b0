/*
 * dtype.c: element types and static shapes.
 *
 * One table (KILN_DTYPES in kiln.h) gives each type its size, C name and
 * class; the accessors here read and write single elements, which constant
 * folding, shape arithmetic and the Kernel IR interpreter all go through.
 */
#include "kiln.h"
#include "../../runtime/kiln_f16.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct DTypeInfo {
    int id;            /* ONNX code */
    const char *name;  /* short name used in dumps: "f32" */
    int bits;          /* bits per element */
    const char *ctype; /* C type of one element */
    char cls;          /* F float, S signed, U unsigned, B bool, X unsupported */
} DTypeInfo;

static const DTypeInfo dtinfo[] = {
#define DT(e, id, name, bits, ctype, cls) {id, name, bits, ctype, cls},
    KILN_DTYPES(DT)
#undef DT
};

static const DTypeInfo *info(DType t)
{
    for (size_t i = 0; i < sizeof dtinfo / sizeof dtinfo[0]; i++)
        if (dtinfo[i].id == (int)t)
            return &dtinfo[i];
    return NULL;
}

const char *dtype_name(DType t)
{
    const DTypeInfo *d = info(t);
    return d ? d->name : "dt?";
}

const char *dtype_ctype(DType t)
{
    const DTypeInfo *d = info(t);
    return d ? d->ctype : "void";
}

const char *dtype_value_ctype(DType t) { return dtype_is_half(t) ? "float" : dtype_ctype(t); }

int dtype_is_half(DType t) { return t == DT_F16 || t == DT_BF16; }

int dtype_size(DType t)
{
    const DTypeInfo *d = info(t);
    return d && d->bits % 8 == 0 ? d->bits / 8 : 0;
}

int dtype_bits(DType t)
{
    const DTypeInfo *d = info(t);
    return d ? d->bits : 0;
}

int64_t dtype_bytes(DType t, int64_t numel)
{
    int bits = dtype_bits(t);
    return bits % 8 == 0 ? numel * (bits / 8) : (numel * bits + 7) / 8;
}

int dtype_known(int code) { return info((DType)code) != NULL; }

static char cls(DType t)
{
    const DTypeInfo *d = info(t);
    return d ? d->cls : 'X';
}

int dtype_is_float(DType t) { return cls(t) == 'F'; }
int dtype_is_int(DType t) { return cls(t) == 'S' || cls(t) == 'U'; }
int dtype_is_signed(DType t) { return cls(t) == 'S' || cls(t) == 'F'; }
int dtype_is_computable(DType t) { return cls(t) != 'X' && cls(t) != 'P' && cls(t) != 'T'; }
int dtype_is_string(DType t) { return cls(t) == 'T'; }
int dtype_is_packed(DType t) { return cls(t) == 'P'; }
int dtype_packed_float(DType t)
{
    return t == DT_F8E4M3FN || t == DT_F8E4M3FNUZ || t == DT_F8E5M2 || t == DT_F8E5M2FNUZ || t == DT_F4E2M1 ||
           t == DT_F8E8M0;
}

/* ---------------------------------------------------------- packed types */

int dtype_float_format(DType t, FloatFormat *out)
{
    switch (t) {
    case DT_F8E4M3FN: *out = (FloatFormat){4, 3, 7, FF_FN, 0x7e}; return 0;
    case DT_F8E4M3FNUZ: *out = (FloatFormat){4, 3, 8, FF_FNUZ, 0x7f}; return 0;
    case DT_F8E5M2: *out = (FloatFormat){5, 2, 15, FF_IEEE, 0x7b}; return 0;
    case DT_F8E5M2FNUZ: *out = (FloatFormat){5, 2, 16, FF_FNUZ, 0x7f}; return 0;
    case DT_F4E2M1: *out = (FloatFormat){2, 1, 1, FF_NONE, 0x7}; return 0;
    default: return 1;
    }
}

unsigned dtype_packed_code(DType t, const void *data, int64_t i)
{
    int bits = dtype_bits(t), per = 8 / bits;
    unsigned byte = ((const uint8_t *)data)[i / per];
    return (byte >> (i % per * bits)) & ((1u << bits) - 1);
}

int dtype_packed_isnan(DType t, unsigned c)
{
    FloatFormat f;
    if (t == DT_F8E8M0)
        return c == 0xff;
    if (dtype_float_format(t, &f))
        return 0;
    unsigned mag = c & ((1u << (f.ebits + f.mbits)) - 1);
    switch (f.kind) {
    case FF_FN: return mag == (1u << (f.ebits + f.mbits)) - 1;
    case FF_FNUZ: return c == 1u << (f.ebits + f.mbits);
    case FF_IEEE: return mag > f.max + 1;
    default: return 0;
    }
}

double dtype_packed_value(DType t, unsigned c)
{
    FloatFormat f;
    switch (t) {
    case DT_U4: case DT_U2: return c;
    case DT_I4: return (double)((int)(c ^ 8) - 8);
    case DT_I2: return (double)((int)(c ^ 2) - 2);
    case DT_F8E8M0: return c == 0xff ? NAN : ldexp(1, (int)c - 127);
    default: break;
    }
    if (dtype_float_format(t, &f))
        return 0;
    int sign = (c >> (f.ebits + f.mbits)) & 1;
    unsigned mag = c & ((1u << (f.ebits + f.mbits)) - 1);
    if (dtype_packed_isnan(t, c))
        return sign ? -NAN : NAN;
    if (f.kind == FF_IEEE && mag == f.max + 1)
        return sign ? -INFINITY : INFINITY;
    int ex = (int)(mag >> f.mbits), mt = (int)(mag & ((1u << f.mbits) - 1));
    double v = ex ? ldexp(1 + ldexp(mt, -f.mbits), ex - f.bias) : ldexp(mt, 1 - f.bias - f.mbits);
    return sign ? -v : v;
}

DType dtype_parse(const char *name)
{
    for (size_t i = 0; i < sizeof dtinfo / sizeof dtinfo[0]; i++)
        if (!strcmp(dtinfo[i].name, name))
            return (DType)dtinfo[i].id;
    return DT_UNDEF;
}

int64_t dtype_wrap(DType t, int64_t v)
{
    switch (t) {
    case DT_BOOL: return v != 0;
    case DT_I8: return (int8_t)v;
    case DT_U8: return (uint8_t)v;
    case DT_I16: return (int16_t)v;
    case DT_U16: return (uint16_t)v;
    case DT_I32: return (int32_t)v;
    case DT_U32: return (uint32_t)v;
    default: return v;
    }
}

double dtype_get_f(DType t, const void *p, int64_t i)
{
    switch (t) {
    case DT_F32: return ((const float *)p)[i];
    case DT_F64: return ((const double *)p)[i];
    case DT_U64: return (double)((const uint64_t *)p)[i];
    case DT_F16: return kiln_f16_to_f32(((const uint16_t *)p)[i]);
    case DT_BF16: return kiln_bf16_to_f32(((const uint16_t *)p)[i]);
    default:
        if (dtype_is_packed(t))
            return dtype_packed_value(t, dtype_packed_code(t, p, i));
        return (double)dtype_get_i(t, p, i);
    }
}

int64_t dtype_get_i(DType t, const void *p, int64_t i)
{
    switch (t) {
    case DT_F32: return (int64_t)((const float *)p)[i];
    case DT_F64: return (int64_t)((const double *)p)[i];
    case DT_U8: case DT_BOOL: return ((const uint8_t *)p)[i];
    case DT_I8: return ((const int8_t *)p)[i];
    case DT_U16: return ((const uint16_t *)p)[i];
    case DT_I16: return ((const int16_t *)p)[i];
    case DT_U32: return ((const uint32_t *)p)[i];
    case DT_I32: return ((const int32_t *)p)[i];
    case DT_U64: return (int64_t)((const uint64_t *)p)[i];
    case DT_I64: case DT_INDEX: return ((const int64_t *)p)[i];
    case DT_F16: case DT_BF16: return (int64_t)dtype_get_f(t, p, i);
    default: {
        double v = dtype_is_packed(t) ? dtype_get_f(t, p, i) : 0;
        /* a float8 NaN reads as 0, f8e8m0's 2^127 as INT64_MAX */
        return v != v ? 0 : v >= 0x1p63 ? INT64_MAX : v <= -0x1p63 ? INT64_MIN : (int64_t)v;
    }
    }
}

void dtype_set_f(DType t, void *p, int64_t i, double v)
{
    switch (t) {
    case DT_F32: ((float *)p)[i] = (float)v; break;
    case DT_F64: ((double *)p)[i] = v; break;
    case DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case DT_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case DT_F16: ((uint16_t *)p)[i] = kiln_f32_to_f16((float)v); break;
    case DT_BF16: ((uint16_t *)p)[i] = kiln_f32_to_bf16((float)v); break;
    default: dtype_set_i(t, p, i, (int64_t)v); break;
    }
}

void dtype_set_i(DType t, void *p, int64_t i, int64_t v)
{
    switch (t) {
    case DT_F32: ((float *)p)[i] = (float)v; break;
    case DT_F64: ((double *)p)[i] = (double)v; break;
    case DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case DT_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case DT_I8: ((int8_t *)p)[i] = (int8_t)v; break;
    case DT_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case DT_I16: ((int16_t *)p)[i] = (int16_t)v; break;
    case DT_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case DT_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case DT_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case DT_I64: case DT_INDEX: ((int64_t *)p)[i] = v; break;
    case DT_F16: case DT_BF16: dtype_set_f(t, p, i, (double)v); break;
    default: assert(!dtype_is_packed(t)); break; /* packed values are written by lowered kernels only */
    }
}

/* ------------------------------------------------------------------ shapes */

int64_t shape_numel(const Shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

int shape_check(const Shape *s, int elem_size, int64_t *out)
{
    /* an empty tensor's other dims still make strides and loop extents:
     * the bound applies to the product with zeros counted as ones */
    int64_t n = 1, span = 1, bytes;
    if (s->rank < 0 || s->rank > KILN_MAX_RANK)
        return 1;
    for (int i = 0; i < s->rank; i++)
        if (s->dim[i] < 0 || ck_mul(span, s->dim[i] ? s->dim[i] : 1, &span))
            return 1;
    if (ck_mul(span, elem_size > 0 ? elem_size : 1, &bytes) || bytes > KILN_MAX_BYTES)
        return 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    *out = n;
    return 0;
}

int shape_equal(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

int shape_broadcast(const Shape *a, const Shape *b, Shape *out)
{
    Shape r = {0};
    r.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r.rank; i++) {
        int ia = i - (r.rank - a->rank), ib = i - (r.rank - b->rank);
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return 1;
        r.dim[i] = da == 1 ? db : da;
    }
    *out = r;
    return 0;
}

char *shape_str(const Shape *s, char *buf, size_t size)
{
    if (s->rank == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < s->rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? "x%lld" : "%lld", (long long)s->dim[i]);
    return buf;
}

int shape_parse(const char *text, Shape *out)
{
    Shape s = {0};
    const char *p = text;
    if (!strcmp(text, "scalar")) {
        *out = s;
        return 0;
    }
    for (;;) {
        if (s.rank == KILN_MAX_RANK || *p < '0' || *p > '9')
            return 1;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9')
            if (ck_muladd(v, 10, *p++ - '0', &v))
                return 1;
        s.dim[s.rank++] = v;
        if (*p == 0)
            break;
        if (*p != 'x' && *p != ',')
            return 1;
        p++;
    }
    *out = s;
    return 0;
}

void shape_strides(const Shape *s, int64_t out[KILN_MAX_RANK])
{
    int64_t st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        out[i] = st;
        st *= s->dim[i];
    }
}
