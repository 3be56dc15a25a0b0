/*
 * tensor.c: TensorProto -> Tensor, for initializers, attribute tensors,
 * Constant nodes and the test data files (input_0.pb).
 *
 * Every storage form ONNX allows: raw_data (little-endian bytes), the typed
 * repeated fields (float_data, int32_data carrying every narrow type,
 * int64_data, double_data, uint64_data), and external data in a file beside
 * the model (location, offset, length).
 */
#include "pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes [offset, offset+length) of file dir/location, into a buffer
 * allocated in `a` once the file is known to hold them. */
static int read_external(const char *dir, const char *location, int64_t offset, int64_t length, Arena *a,
                         void **dst, const char *what, Diag *d)
{
    if (!dir)
        return diag_error(d, "tensor '%s': external data is not allowed here", what);
    if (location[0] == '/' || strstr(location, ".."))
        return diag_error(d, "tensor '%s': external data location '%s' must be a path inside the model's folder",
                          what, location);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, location);
    FILE *f = fopen(path, "rb");
    if (!f)
        return diag_error(d, "tensor '%s': cannot open external data file '%s'", what, path);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int bad = offset < 0 || size < 0 || (int64_t)size < offset || (int64_t)size - offset < length;
    if (!bad) {
        *dst = arena_alloc(a, (size_t)(length ? length : 1));
        bad = fseek(f, (long)offset, SEEK_SET) != 0 || fread(*dst, 1, (size_t)length, f) != (size_t)length;
    }
    fclose(f);
    if (bad)
        return diag_error(d, "tensor '%s': external data file '%s' is shorter than offset %lld + length %lld",
                          what, path, (long long)offset, (long long)length);
    return 0;
}

static int external(const Onnx__TensorProto *tp, const char *dir, const char *what, Arena *a,
                    void **dst, int64_t bytes, Diag *d)
{
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value)
            continue;
        if (!strcmp(e->key, "location"))
            location = e->value;
        else if (!strcmp(e->key, "offset"))
            offset = strtoll(e->value, NULL, 10);
        else if (!strcmp(e->key, "length"))
            length = strtoll(e->value, NULL, 10);
    }
    if (!location)
        return diag_error(d, "tensor '%s': external data without a location", what);
    if (length >= 0 && length != bytes)
        return diag_error(d, "tensor '%s': external data length %lld, but its shape needs %lld bytes",
                          what, (long long)length, (long long)bytes);
    return read_external(dir, location, offset, bytes, a, dst, what, d);
}

/* Fill dst (unless NULL) from the typed field that carries dtype t; returns
 * the number of elements the field holds, or -1 if t has no typed field. */
static int64_t typed(const Onnx__TensorProto *tp, DType t, void *dst, int64_t n)
{
    int64_t have;
    switch (t) {
    case DT_F32:
        have = (int64_t)tp->n_float_data;
        if (dst && have == n) memcpy(dst, tp->float_data, (size_t)n * 4);
        return have;
    case DT_F64:
        have = (int64_t)tp->n_double_data;
        if (dst && have == n) memcpy(dst, tp->double_data, (size_t)n * 8);
        return have;
    case DT_I64:
        have = (int64_t)tp->n_int64_data;
        if (dst && have == n) memcpy(dst, tp->int64_data, (size_t)n * 8);
        return have;
    case DT_U32: case DT_U64:
        have = (int64_t)tp->n_uint64_data;
        if (dst && have == n)
            for (int64_t i = 0; i < n; i++)
                dtype_set_i(t, dst, i, (int64_t)tp->uint64_data[i]);
        return have;
    case DT_I32: case DT_I16: case DT_I8: case DT_U16: case DT_U8: case DT_BOOL:
    case DT_F16: case DT_BF16:
        have = (int64_t)tp->n_int32_data;
        if (dst && have == n)
            for (int64_t i = 0; i < n; i++)
                dtype_set_i(t == DT_F16 || t == DT_BF16 ? DT_U16 : t, dst, i, tp->int32_data[i]);
        return have;
    default:
        return -1;
    }
}

int pb_tensor(Arena *a, const Onnx__TensorProto *tp, const char *dir, const char *what,
              Tensor *out, Diag *d)
{
    Tensor t = {0};
    t.name = arena_strdup(a, tp->name ? tp->name : "");
    if (!tp->has_data_type || !dtype_known(tp->data_type) || tp->data_type == DT_UNDEF)
        return diag_error(d, "tensor '%s': unsupported element type %d", what, (int)tp->data_type);
    t.dtype = (DType)tp->data_type;
    if (t.dtype == DT_STRING || dtype_size(t.dtype) == 0)
        return diag_error(d, "tensor '%s': element type %s is not supported", what, dtype_name(t.dtype));
    if (tp->n_dims > KILN_MAX_RANK)
        return diag_error(d, "tensor '%s': rank %zu exceeds kiln's limit of %d", what, tp->n_dims,
                          KILN_MAX_RANK);
    t.shape.rank = (int)tp->n_dims;
    int64_t n = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0 || (tp->dims[i] > 0 && n > INT64_MAX / 4 / tp->dims[i]))
            return diag_error(d, "tensor '%s': invalid dimension %lld", what, (long long)tp->dims[i]);
        t.shape.dim[i] = tp->dims[i];
        n *= tp->dims[i];
    }
    if (tp->segment)
        return diag_error(d, "tensor '%s': segmented tensors are not supported", what);
    /* the data must be there before anything of the declared size is
     * allocated: a bad file must not ask for gigabytes */
    int64_t bytes = n * dtype_size(t.dtype);
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (external(tp, dir, what, a, &t.data, bytes, d))
            return 1;
    } else if (tp->has_raw_data) {
        if ((int64_t)tp->raw_data.len != bytes)
            return diag_error(d, "tensor '%s': raw_data holds %zu bytes, but shape %s of %s needs %lld",
                              what, tp->raw_data.len, shape_str(&t.shape, (char[128]){0}, 128),
                              dtype_name(t.dtype), (long long)bytes);
        t.data = arena_alloc(a, (size_t)(bytes ? bytes : 1));
        if (bytes)
            memcpy(t.data, tp->raw_data.data, (size_t)bytes);
    } else {
        int64_t have = typed(tp, t.dtype, NULL, n);
        if (have < 0)
            return diag_error(d, "tensor '%s': no data field for type %s", what, dtype_name(t.dtype));
        if (have != n)
            return diag_error(d, "tensor '%s': holds %lld elements, but shape %s needs %lld", what,
                              (long long)have, shape_str(&t.shape, (char[128]){0}, 128), (long long)n);
        t.data = arena_alloc(a, (size_t)(bytes ? bytes : 1));
        typed(tp, t.dtype, t.data, n);
    }
    *out = t;
    return 0;
}

int onnx_read_tensor(Arena *a, const char *path, Tensor *out, Diag *d)
{
    /* Messages name the data file, not the model. */
    Diag local = {.file = path};
    const char *err = NULL;
    size_t size = 0;
    unsigned char *buf = read_file(a, path, &size, &err);
    int rc = 0;
    if (!buf) {
        rc = diag_error(&local, "cannot read: %s", err);
    } else {
        Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, buf);
        if (!tp) {
            rc = diag_error(&local, "not a serialized ONNX TensorProto");
        } else {
            rc = pb_tensor(a, tp, NULL, tp->name && *tp->name ? tp->name : "(unnamed)", out, &local);
            out->source = arena_strdup(a, path);
            onnx__tensor_proto__free_unpacked(tp, NULL);
        }
    }
    if (rc)
        diag_take(d, &local);
    return rc;
}
