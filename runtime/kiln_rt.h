/*
 * kiln_rt.h: kiln's runtime for hosted executables.
 *
 * Tensor files in ONNX's TensorProto format (what the test data uses), read
 * and written without a protobuf library; a monotonic clock for --bench.
 * None of this runs inside model_run: generated kernels need nothing from
 * the runtime but memcpy/memcmp and <math.h>.
 */
#ifndef KILN_RT_H
#define KILN_RT_H

#include <stddef.h>
#include <stdint.h>

#include "kiln_str.h"

enum { KILN_RT_MAX_RANK = 8 };

typedef struct kiln_tensor {
    char name[256];                 /* TensorProto name, may be empty */
    int dtype;                      /* ONNX TensorProto.DataType */
    int rank;
    int64_t dims[KILN_RT_MAX_RANK];
    void *data;                     /* malloc'd, dense, little-endian; a string tensor's
                                     * (dtype 8) is its kiln_str records, then their bytes */
    size_t bytes;                   /* of the elements (string: of the records) */
} kiln_tensor;

/* Bytes per element of ONNX dtype code; 0 if unsupported or under a byte. */
int kiln_dtype_size(int dtype);
/* Bits per element (4 for int4); 0 if unsupported. */
int kiln_dtype_bits(int dtype);
/* Bytes that numel elements take, packed as ONNX packs the float8, 4-bit
 * and 2-bit types (one, two or four to a byte, the first in the low bits). */
size_t kiln_dtype_bytes(int dtype, size_t numel);
/* Element i of data of a packed type (ONNX codes 17 to 26) as a double. */
double kiln_packed_value(int dtype, const void *data, size_t i);
const char *kiln_dtype_name(int dtype);
/* "1x3x224x224" into buf. */
const char *kiln_shape_str(int rank, const int64_t *dims, char *buf, size_t size);

/* Read a TensorProto file (a regular file; a FIFO or device is refused).
 * Values must sit where ONNX puts them for the data_type (raw_data, or
 * float_data for f32, double_data for f64, int64_data for i64, uint64_data
 * for u32/u64, int32_data for the narrower types, one byte of a packed
 * type per entry, string_data for strings), packed or not; anything
 * else, a count or size that overflows, or a field running past the end is
 * an error. Returns 0, or non-zero with a one-line message in err. */
int kiln_read_tensor(const char *path, kiln_tensor *t, char *err, size_t errlen);
/* Write t as a TensorProto (dims, data_type, name, raw_data or, for
 * strings, string_data), never
 * through a symbolic link at path. Returns 0. */
int kiln_write_tensor(const char *path, const kiln_tensor *t);
void kiln_tensor_free(kiln_tensor *t);

/* How a model's input or output is carried (model.h's form): a sequence's
 * elements, an optional's content, nothing (an absent optional, an empty
 * sequence). 0 is a plain tensor. */
enum { KILN_IO_SEQ = 1, KILN_IO_OPT = 2, KILN_IO_NONE = 4 };
/* Read a file holding a value of form `form`: KILN_IO_SEQ a SequenceProto,
 * KILN_IO_OPT an OptionalProto (of a sequence with KILN_IO_SEQ too), 0 a
 * TensorProto. Its tensors go to ts[0 .. *n), at most max; *n is 0 for an
 * absent optional or an empty sequence. Returns 0, or non-zero with a
 * one-line message in err (and nothing allocated). */
int kiln_read_value(const char *path, int form, kiln_tensor *ts, int max, int *n, char *err, size_t errlen);
/* Write ts[n] as a value of form `form` named `name` (as kiln_read_value
 * reads it: n 0 is an absent optional or an empty sequence), never through
 * a symbolic link at path. Returns 0. */
int kiln_write_value(const char *path, const char *name, int form, const kiln_tensor *ts, int n);

/* Milliseconds from a monotonic clock. */
double kiln_now_ms(void);

#endif
