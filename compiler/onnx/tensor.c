/*
 * tensor.c: TensorProto -> Tensor, for initializers, attribute tensors,
 * Constant nodes and the test data files (input_0.pb).
 *
 * Every storage form ONNX allows: raw_data (little-endian bytes), the typed
 * repeated fields (float_data, int32_data carrying every narrow type,
 * int64_data, double_data, uint64_data), and external data in a file beside
 * the model (location, offset, length).
 *
 * Models come from anywhere, so nothing here trusts them: the byte count of
 * a shape is checked (shape_check) before anything is allocated, and then
 * only once the data is known to be there; values in a typed field that
 * does not carry the tensor's type are an error, never reinterpreted; and
 * external data is opened below the model's folder one path component at a
 * time, refusing "..", symbolic links and anything but a regular file.
 */
#define _POSIX_C_SOURCE 200809L
#include "pb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ external data */

/* A decimal count from an external_data entry: digits only (no sign, no
 * blank), no overflow. Returns 0 and *out, or 1. */
static int parse_count(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s)
        return 1;
    for (; *s; s++)
        if (*s < '0' || *s > '9' || ck_muladd(v, 10, *s - '0', &v))
            return 1;
    *out = v;
    return 0;
}

/* Open `location` ("w.bin", "data/w.bin") below folder `dir`, walking its
 * components with openat and O_NOFOLLOW: no absolute path, no empty, "."
 * or ".." component, no symbolic link to a file or a folder, and the last
 * component a regular file (opened O_NONBLOCK, so a FIFO is refused rather
 * than waited on). Returns the descriptor, or -1 with the error in d. */
static int open_inside(const char *dir, const char *location, const char *what, Diag *d)
{
    if (location[0] == '/') {
        diag_error(d, "tensor '%s': external data location '%s' is an absolute path; it must be relative to the model's folder",
                   what, location);
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        diag_error(d, "tensor '%s': cannot open the model's folder '%s': %s", what, dir, strerror(errno));
        return -1;
    }
    for (const char *p = location;;) {
        size_t len = strcspn(p, "/");
        int last = p[len] == 0;
        char comp[256];
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            diag_error(d, "tensor '%s': external data location '%s' must be a path inside the model's folder (no '..', '.' or empty component)",
                       what, location);
            break;
        }
        if (len >= sizeof comp) {
            diag_error(d, "tensor '%s': external data location '%s' has a component longer than %zu bytes", what,
                       location, sizeof comp - 1);
            break;
        }
        memcpy(comp, p, len);
        comp[len] = 0;
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY);
        int next = openat(fd, comp, flags);
        int err = errno;
        struct stat st;
        if (next < 0 && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            diag_error(d, "tensor '%s': external data location '%s' goes through symbolic link '%s', which kiln does not follow",
                       what, location, comp);
            break;
        }
        if (next < 0) {
            diag_error(d, "tensor '%s': cannot open external data file '%s/%s': %s", what, dir, location,
                       strerror(err));
            break;
        }
        close(fd);
        fd = next;
        if (!last) {
            p += len + 1;
            continue;
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            diag_error(d, "tensor '%s': external data location '%s' is not a regular file", what, location);
            break;
        }
        return fd;
    }
    close(fd);
    return -1;
}

/* `bytes` bytes at `offset` of external data file dir/location into a
 * buffer allocated in `a` once the file is known to hold them. */
static int read_external(const char *dir, const char *location, int64_t offset, int64_t bytes, Arena *a,
                         void **dst, const char *what, Diag *d)
{
    int fd = open_inside(dir, location, what, d);
    if (fd < 0)
        return 1;
    struct stat st;
    int64_t size = fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
    if (size < 0 || offset > size || bytes > size - offset) {
        close(fd);
        return diag_error(d, "tensor '%s': external data file '%s' holds %lld bytes, fewer than offset %lld + length %lld",
                          what, location, (long long)size, (long long)offset, (long long)bytes);
    }
    unsigned char *buf = arena_alloc(a, (size_t)(bytes ? bytes : 1));
    int64_t done = 0;
    while (done < bytes) {
        ssize_t got = pread(fd, buf + done, (size_t)(bytes - done), (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        done += got;
    }
    close(fd);
    if (done != bytes)
        return diag_error(d, "tensor '%s': external data file '%s': read %lld of %lld bytes", what, location,
                          (long long)done, (long long)bytes);
    *dst = buf;
    return 0;
}

/* External data of tp: keys location (required), offset and length
 * (decimal, optional); length, when given, must be the `bytes` the shape
 * needs. */
static int external(const Onnx__TensorProto *tp, const char *dir, const char *what, Arena *a,
                    void **dst, int64_t bytes, Diag *d)
{
    if (!dir)
        return diag_error(d, "tensor '%s': external data is not allowed here", what);
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value)
            continue;
        int64_t *num = !strcmp(e->key, "offset") ? &offset : !strcmp(e->key, "length") ? &length : NULL;
        if (!strcmp(e->key, "location"))
            location = e->value;
        else if (num && parse_count(e->value, num))
            return diag_error(d, "tensor '%s': external data %s '%s' is not a non-negative decimal number", what,
                              e->key, e->value);
    }
    if (!location || !*location)
        return diag_error(d, "tensor '%s': external data without a location", what);
    if (length >= 0 && length != bytes)
        return diag_error(d, "tensor '%s': external data length %lld, but its shape needs %lld bytes",
                          what, (long long)length, (long long)bytes);
    return read_external(dir, location, offset, bytes, a, dst, what, d);
}

/* ------------------------------------------------------------ typed fields */

/* The typed field that carries dtype t (NULL: none does). */
static const char *typed_field(DType t)
{
    switch (t) {
    case DT_F32: return "float_data";
    case DT_F64: return "double_data";
    case DT_I64: return "int64_data";
    case DT_U32: case DT_U64: return "uint64_data";
    case DT_I32: case DT_I16: case DT_I8: case DT_U16: case DT_U8: case DT_BOOL:
    case DT_F16: case DT_BF16: return "int32_data";
    default: return dtype_is_packed(t) ? "int32_data" : NULL;
    }
}

/* A typed field of tp holding values that `field` should carry instead, or
 * NULL if every value sits in `field`. */
static const char *stray_field(const Onnx__TensorProto *tp, const char *field)
{
    static const char *names[] = {"float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                                  "string_data"};
    size_t n[] = {tp->n_float_data, tp->n_int32_data, tp->n_int64_data, tp->n_double_data, tp->n_uint64_data,
                  tp->n_string_data};
    for (int i = 0; i < 6; i++)
        if (n[i] && (!field || strcmp(names[i], field)))
            return names[i];
    return NULL;
}

/* Fill dst (unless NULL) from the typed field that carries dtype t; returns
 * the number of entries the field holds, or -1 if t has no typed field. n is
 * the number of entries it must hold: the element count, or for a packed type
 * its byte count (int32_data holds one byte of packed elements per entry). */
static int64_t typed(const Onnx__TensorProto *tp, DType t, void *dst, int64_t n)
{
    int64_t have;
    if (dtype_is_packed(t)) {
        have = (int64_t)tp->n_int32_data;
        if (dst && have == n)
            for (int64_t i = 0; i < n; i++)
                ((uint8_t *)dst)[i] = (uint8_t)tp->int32_data[i];
        return have;
    }
    switch (t) {
    case DT_F32:
        have = (int64_t)tp->n_float_data;
        if (dst && have == n && n)
            memcpy(dst, tp->float_data, (size_t)n * 4);
        return have;
    case DT_F64:
        have = (int64_t)tp->n_double_data;
        if (dst && have == n && n)
            memcpy(dst, tp->double_data, (size_t)n * 8);
        return have;
    case DT_I64:
        have = (int64_t)tp->n_int64_data;
        if (dst && have == n && n)
            memcpy(dst, tp->int64_data, (size_t)n * 8);
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

/* ------------------------------------------------------------ the tensor */

/* A string tensor: n entries of string_data, each copied into a (its bytes
 * and a NUL after them, for messages) with a KilnStr record pointing at it. */
static int string_tensor(Arena *a, const Onnx__TensorProto *tp, const char *what, Tensor *t, int64_t n,
                         Tensor *out, Diag *d)
{
    char sh[160];
    const char *stray = stray_field(tp, "string_data");
    if (tp->has_raw_data || (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return diag_error(d, "tensor '%s': a string tensor carries its values in string_data, not raw_data or "
                             "external data", what);
    if (stray)
        return diag_error(d, "tensor '%s': its values are in %s, but a string tensor carries them in string_data",
                          what, stray);
    if ((int64_t)tp->n_string_data != n)
        return diag_error(d, "tensor '%s': holds %lld elements, but shape %s of string needs %lld", what,
                          (long long)tp->n_string_data, shape_str(&t->shape, sh, sizeof sh), (long long)n);
    KilnStr *r = arena_alloc(a, sizeof(KilnStr) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        size_t len = tp->string_data[i].len;
        if ((int64_t)len > KILN_MAX_BYTES)
            return diag_error(d, "tensor '%s': string %lld is longer than %lld bytes", what, (long long)i,
                              (long long)KILN_MAX_BYTES);
        char *bytes = arena_alloc(a, len + 1);
        if (len)
            memcpy(bytes, tp->string_data[i].data, len);
        r[i].ptr = bytes;
        r[i].len = (int64_t)len;
    }
    t->data = r;
    *out = *t;
    return 0;
}

int pb_tensor(Arena *a, const Onnx__TensorProto *tp, const char *dir, const char *what,
              Tensor *out, Diag *d)
{
    Tensor t = {0};
    char sh[160];
    t.name = arena_strdup(a, tp->name ? tp->name : "");
    if (!tp->has_data_type || !dtype_known(tp->data_type) || tp->data_type == DT_UNDEF ||
        tp->data_type == DT_INDEX)
        return diag_error(d, "tensor '%s': unsupported element type %d", what, (int)tp->data_type);
    t.dtype = (DType)tp->data_type;
    int size = dtype_size(t.dtype) ? dtype_size(t.dtype) : 1; /* shape_check's bound; packed: at most 1 */
    if (!dtype_bits(t.dtype))
        return diag_error(d, "tensor '%s': element type %s is not supported", what, dtype_name(t.dtype));
    if (tp->n_dims > KILN_MAX_RANK)
        return diag_error(d, "tensor '%s': rank %zu exceeds kiln's limit of %d", what, tp->n_dims,
                          KILN_MAX_RANK);
    t.shape.rank = (int)tp->n_dims;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return diag_error(d, "tensor '%s': invalid dimension %lld", what, (long long)tp->dims[i]);
        t.shape.dim[i] = tp->dims[i];
    }
    int64_t n;
    if (shape_check(&t.shape, size, &n))
        return diag_error(d, "tensor '%s': shape %s of %s holds more than %lld bytes", what,
                          shape_str(&t.shape, sh, sizeof sh), dtype_name(t.dtype), (long long)KILN_MAX_BYTES);
    if (tp->segment)
        return diag_error(d, "tensor '%s': segmented tensors are not supported", what);
    /* the data must be there before anything of the declared size is
     * allocated: a bad file must not ask for gigabytes */
    if (t.dtype == DT_STRING)
        return string_tensor(a, tp, what, &t, n, out, d);
    int64_t bytes = dtype_bytes(t.dtype, n);
    const char *field = typed_field(t.dtype), *stray;
    int is_external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if ((is_external || tp->has_raw_data) && (stray = stray_field(tp, NULL)))
        return diag_error(d, "tensor '%s': has values in %s as well as in %s", what, stray,
                          is_external ? "external data" : "raw_data");
    if (is_external) {
        if (external(tp, dir, what, a, &t.data, bytes, d))
            return 1;
    } else if (tp->has_raw_data) {
        if ((int64_t)tp->raw_data.len != bytes)
            return diag_error(d, "tensor '%s': raw_data holds %zu bytes, but shape %s of %s needs %lld",
                              what, tp->raw_data.len, shape_str(&t.shape, sh, sizeof sh),
                              dtype_name(t.dtype), (long long)bytes);
        t.data = arena_alloc(a, (size_t)(bytes ? bytes : 1));
        if (bytes)
            memcpy(t.data, tp->raw_data.data, (size_t)bytes);
    } else {
        if (field && (stray = stray_field(tp, field)))
            return diag_error(d, "tensor '%s': its values are in %s, but a %s tensor carries them in %s", what,
                              stray, dtype_name(t.dtype), field ? field : "raw_data");
        int64_t want = dtype_is_packed(t.dtype) ? bytes : n;
        int64_t have = typed(tp, t.dtype, NULL, want);
        if (have < 0)
            return diag_error(d, "tensor '%s': no data field for type %s", what, dtype_name(t.dtype));
        if (have != want)
            return diag_error(d, "tensor '%s': holds %lld %s, but shape %s of %s needs %lld", what, (long long)have,
                              dtype_is_packed(t.dtype) ? "int32_data entries" : "elements",
                              shape_str(&t.shape, sh, sizeof sh), dtype_name(t.dtype), (long long)want);
        t.data = arena_alloc(a, (size_t)(bytes ? bytes : 1));
        typed(tp, t.dtype, t.data, want);
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
