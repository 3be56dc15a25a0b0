/*
 * kiln.h: what every stage of the compiler shares.
 *
 * The arena allocator every IR lives in, diagnostics, element types, shapes
 * and constant tensors. Nothing here knows about ONNX protobufs, graphs or
 * kernels; those have their own headers (onnx/onnx.h, graph/graph.h,
 * kernel/kernel.h) that build on this one.
 */
#ifndef KILN_H
#define KILN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum { KILN_MAX_RANK = 8 };  /* deepest tensor rank the compiler accepts */

/* ------------------------------------------------------- checked arithmetic */

/* Every element count, byte size, offset and index extent the compiler
 * derives from a model goes through these: each returns 1 (and leaves *out
 * unspecified) when the exact result does not fit, 0 otherwise. A tensor
 * may hold at most KILN_MAX_BYTES bytes; that bound keeps sums of sizes
 * (arena offsets, blob offsets, byte counts of many tensors) far from
 * overflow too. */
#define KILN_MAX_BYTES ((int64_t)1 << 40)
/* The string pool's default size (--string-bytes): the bytes that the
 * strings a model makes at run time may take in all. */
#define KILN_STRING_BYTES ((int64_t)1 << 16)

static inline int ck_add(int64_t a, int64_t b, int64_t *out) { return __builtin_add_overflow(a, b, out); }
static inline int ck_sub(int64_t a, int64_t b, int64_t *out) { return __builtin_sub_overflow(a, b, out); }
static inline int ck_mul(int64_t a, int64_t b, int64_t *out) { return __builtin_mul_overflow(a, b, out); }
/* a*b + c */
static inline int ck_muladd(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    int64_t t;
    return ck_mul(a, b, &t) || ck_add(t, c, out);
}

/* ---------------------------------------------------------------- arena.c */

/* A bump allocator. Every allocation is zero-filled and 16-byte aligned; the
 * whole arena is freed at once. Running out of memory calls the handler set
 * by main() (the one place the compiler may exit). */
typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);
/* Grow an array allocated from `a` from `old` to `new_size` bytes. */
void *arena_grow(Arena *a, void *old, size_t old_size, size_t new_size);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void arena_set_oom_handler(void (*fn)(void));

/* Append one zeroed element to the array *arrp (of *n elements, room for
 * *cap), growing it by doubling; returns the new element. */
void *arena_push(Arena *a, void *arrp, int *n, int *cap, size_t elem);
#define ARENA_PUSH(A, arr, n, cap) \
    ((__typeof__(&(arr)[0]))arena_push((A), (void *)&(arr), &(n), &(cap), sizeof *(arr)))

/* ----------------------------------------------------------------- diag.c */

/* Where a library routine reports a failure: the message, then return 1.
 * `file` is the model path every message starts with. */
typedef struct Diag {
    const char *file;  /* model (or data) file the message names */
    char msg[2048];    /* first error, "file: node 'n' (Op): what" */
    int nerrors;       /* errors reported; only the first is kept in msg */
} Diag;

/* Record "file: <fmt>" (only the first error is kept). Returns 1. */
int diag_error(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int diag_verror(Diag *d, const char *fmt, va_list ap);
/* Move src's message (already prefixed with its own file) into d. Returns 1. */
int diag_take(Diag *d, const Diag *src);

/* ---------------------------------------------------------------- dtype.c */

/* Element types, numbered as ONNX's TensorProto.DataType so that import is a
 * cast. DT_INDEX is kiln's own: the signed type of loop variables and
 * indices (ptrdiff_t in C). f16 and bf16 are stored as 16-bit patterns (the
 * C type below) and computed in float: values round to them when stored or
 * cast (runtime/kiln_f16.h).
 *
 * The packed types (class P: the float8 family, float8e8m0, float4e2m1 and
 * the 4- and 2-bit integers) are storage only, as ONNX stores them in a
 * TensorProto's raw_data: one byte per 8-bit element, two 4-bit elements per
 * byte and four 2-bit elements per byte, the first in the low bits. Graph
 * values and tensors have these types; Kernel IR never does: their buffers
 * are u8 and lowering converts elements with integer arithmetic
 * (kernel/packed.c), so no printer knows them.
 *
 * A string element (class T) is a record, KilnStr below and kiln_str in the
 * generated code (runtime/kiln_str.h): a pointer to its bytes and their
 * count. The bytes live elsewhere: in the caller's input, in the weights, or
 * in the arena's string pool (docs/strings.md). Kernels never compute with
 * strings: they hand their addresses to runtime routines (S_CALL).
 *
 *  DT(enum, onnx id, name, bits, C type, class) -- class: F float, S signed
 *  integer, U unsigned integer, B bool, P packed (above), T string, X not
 *  computable */
#define KILN_DTYPES(DT)                                   \
    DT(DT_UNDEF, 0, "undefined", 0, "void", 'X')          \
    DT(DT_F32, 1, "f32", 32, "float", 'F')                \
    DT(DT_U8, 2, "u8", 8, "uint8_t", 'U')                 \
    DT(DT_I8, 3, "i8", 8, "int8_t", 'S')                  \
    DT(DT_U16, 4, "u16", 16, "uint16_t", 'U')             \
    DT(DT_I16, 5, "i16", 16, "int16_t", 'S')              \
    DT(DT_I32, 6, "i32", 32, "int32_t", 'S')              \
    DT(DT_I64, 7, "i64", 64, "int64_t", 'S')              \
    DT(DT_STRING, 8, "string", 128, "kiln_str", 'T')      \
    DT(DT_BOOL, 9, "bool", 8, "uint8_t", 'B')             \
    DT(DT_F16, 10, "f16", 16, "uint16_t", 'F')            \
    DT(DT_F64, 11, "f64", 64, "double", 'F')              \
    DT(DT_U32, 12, "u32", 32, "uint32_t", 'U')            \
    DT(DT_U64, 13, "u64", 64, "uint64_t", 'U')            \
    DT(DT_C64, 14, "c64", 64, "void", 'X')                \
    DT(DT_C128, 15, "c128", 128, "void", 'X')             \
    DT(DT_BF16, 16, "bf16", 16, "uint16_t", 'F')          \
    DT(DT_F8E4M3FN, 17, "f8e4m3fn", 8, "uint8_t", 'P')    \
    DT(DT_F8E4M3FNUZ, 18, "f8e4m3fnuz", 8, "uint8_t", 'P')\
    DT(DT_F8E5M2, 19, "f8e5m2", 8, "uint8_t", 'P')        \
    DT(DT_F8E5M2FNUZ, 20, "f8e5m2fnuz", 8, "uint8_t", 'P')\
    DT(DT_U4, 21, "u4", 4, "uint8_t", 'P')                \
    DT(DT_I4, 22, "i4", 4, "uint8_t", 'P')                \
    DT(DT_F4E2M1, 23, "f4e2m1", 4, "uint8_t", 'P')        \
    DT(DT_F8E8M0, 24, "f8e8m0", 8, "uint8_t", 'P')        \
    DT(DT_U2, 25, "u2", 2, "uint8_t", 'P')                \
    DT(DT_I2, 26, "i2", 2, "uint8_t", 'P')                \
    DT(DT_INDEX, 64, "index", 64, "ptrdiff_t", 'S')

typedef enum DType {
#define DT(e, id, name, bits, ctype, cls) e = id,
    KILN_DTYPES(DT)
#undef DT
} DType;

const char *dtype_name(DType t);   /* "f32"; "dt?" for an unknown code */
const char *dtype_ctype(DType t);  /* C type of the stored element: "float", "uint16_t" for f16 */
const char *dtype_value_ctype(DType t); /* C type values compute in: "float" for f16 */
int dtype_is_half(DType t);        /* f16 or bf16: stored as bits, computed in float */
int dtype_size(DType t);           /* bytes per element; 0 if not storable or under a byte (u4, i2, ...) */
int dtype_bits(DType t);           /* bits per element (4 for u4); 0 if not storable */
/* Bytes that numel elements of t take (packed types: ceil(numel * bits / 8)). */
int64_t dtype_bytes(DType t, int64_t numel);
int dtype_known(int code);         /* code names a DType of the table */
int dtype_is_float(DType t);
int dtype_is_int(DType t);         /* signed or unsigned integer */
int dtype_is_signed(DType t);      /* signed integer or float */
int dtype_is_computable(DType t);  /* kernels can compute with it */
int dtype_is_packed(DType t);      /* class P: stored as bytes, converted by lowering */
int dtype_is_string(DType t);      /* class T: DT_STRING, elements are KilnStr records */
/* A packed type's elements are floats (the float8 family, f8e8m0, f4e2m1)
 * or, when 0, integers (u4, i4, u2, i2). */
int dtype_packed_float(DType t);
DType dtype_parse(const char *name); /* "f32" -> DT_F32; DT_UNDEF if unknown */

/* v wrapped to the width of integer type t (bool: v != 0), as a store of v
 * to a t would; 64-bit types unchanged. */
int64_t dtype_wrap(DType t, int64_t v);
/* Read element i of a buffer of type t as a double / int64 (for constant
 * folding and shape arithmetic), and write one. A packed element reads as
 * its value (dtype_packed_code decodes it); writing one is not supported
 * (nothing folds into a packed type outside lowering). */
double dtype_get_f(DType t, const void *data, int64_t i);
int64_t dtype_get_i(DType t, const void *data, int64_t i);
void dtype_set_f(DType t, void *data, int64_t i, double v);
void dtype_set_i(DType t, void *data, int64_t i, int64_t v);
/* How a packed float type encodes a value: a sign bit, then `ebits`
 * exponent bits (bias `bias`; 0 is subnormal) and `mbits` mantissa bits.
 * The codes past `max` (the largest finite magnitude) are specials: with
 * FF_FN all ones is NaN (f8e4m3fn), with FF_FNUZ the one code 0x80 is NaN
 * and there is no -0 (f8e4m3fnuz, f8e5m2fnuz), FF_IEEE has infinities and
 * NaNs as IEEE does (f8e5m2), FF_NONE has no specials (f4e2m1). f8e8m0 is
 * not such a format (an exponent alone): dtype_float_format fails on it. */
enum { FF_FN, FF_FNUZ, FF_IEEE, FF_NONE };
typedef struct FloatFormat {
    int ebits, mbits, bias;
    int kind;      /* FF_* */
    unsigned max;  /* code of the largest finite value */
} FloatFormat;
/* t's format; returns 1 if t is not a packed float of this kind. */
int dtype_float_format(DType t, FloatFormat *out);
/* The bits of element i of packed data of type t (0 .. 2^bits - 1). */
unsigned dtype_packed_code(DType t, const void *data, int64_t i);
/* The value of packed code c of type t: NaN for a float8 NaN, +-inf for
 * f8e5m2's infinities, the integer for u4/i4/u2/i2. */
double dtype_packed_value(DType t, unsigned c);
/* Is packed code c of type t a NaN? */
int dtype_packed_isnan(DType t, unsigned c);

/* ---------------------------------------------------------------- shape.c */

/* A static shape. Symbolic dimensions are bound before inference, so every
 * dim here is a known extent >= 0. */
typedef struct Shape {
    int rank;                     /* 0 for a scalar */
    int64_t dim[KILN_MAX_RANK];   /* extents, outermost first */
} Shape;

int64_t shape_numel(const Shape *s);        /* product of dims; 1 for rank 0 (s checked) */
/* Product of s's dims (all >= 0) into *out; 1 when a dim is negative, the
 * product overflows, or numel * elem_size exceeds KILN_MAX_BYTES. Every
 * shape the compiler keeps passed this check, so shape_numel on it, and
 * any product of some of its dims, cannot overflow. */
int shape_check(const Shape *s, int elem_size, int64_t *out);
int shape_equal(const Shape *a, const Shape *b);
/* numpy broadcasting of a and b; returns 0 and fills out, or 1 if they do
 * not broadcast. */
int shape_broadcast(const Shape *a, const Shape *b, Shape *out);
/* "1x3x224x224" ("scalar" for rank 0) into buf; returns buf. */
char *shape_str(const Shape *s, char *buf, size_t size);
/* Parse "1x3x224x224"; returns 0 on success. */
int shape_parse(const char *text, Shape *out);
/* Row-major strides in elements. */
void shape_strides(const Shape *s, int64_t out[KILN_MAX_RANK]);

/* One string element as the compiler holds it (the generated code's
 * kiln_str has the same layout on a 64-bit host): its bytes (not
 * NUL-terminated; may hold NULs) and their count. */
typedef struct KilnStr {
    const char *ptr;
    int64_t len;
} KilnStr;

/* A tensor with its data: initializers, attribute tensors, test inputs. */
/* How one of model_run's input or output slots carries the model's value
 * (Value.io_form, Buffer.form, Tensor.form, the form of model.h's tables):
 * a plain tensor is 0; an element of a sequence, an optional's content,
 * and a slot that carries nothing (an absent optional, an empty sequence:
 * its pointer is NULL). */
enum { IO_SEQ = 1, IO_OPT = 2, IO_NONE = 4 };

typedef struct Tensor {
    const char *name;  /* may be "" */
    const char *source;/* file it was read from (for messages), or NULL */
    DType dtype;
    Shape shape;
    void *data;        /* dtype_bytes(dtype, numel) bytes, little-endian, row-major (packed as raw_data);
                        * DT_STRING: numel KilnStr records */
    /* A test's input or output as model_run's slots (check): the index of
     * the file (the model's input or output) it came from, and how it is
     * carried (IO_* of graph.h: an element of a sequence, an optional's
     * content, or nothing, data NULL). 0 and 0 for a plain tensor file. */
    int group, form;
} Tensor;

/* --------------------------------------------------------------- util.c */

/* A C identifier made from an ONNX name ("/conv1/W:0" -> "conv1_W_0")
 * of its first maxlen characters: a run of other characters is one '_',
 * none at the start, so that no "__" (reserved in C++, which CUDA C is)
 * or leading '_' appears once callers prefix it ("t5_"); never empty,
 * never starting with a digit ("v" before one). */
char *c_ident(Arena *a, const char *name, int maxlen);
/* Read a whole regular file; returns NULL (and sets *out_err to a short
 * reason) on failure. A FIFO, socket or device is refused without waiting
 * on it. */
unsigned char *read_file(Arena *a, const char *path, size_t *out_size, const char **out_err);
/* Create or truncate path and write data; never writes through a symlink
 * (a symlink at path is an error). Returns 0, or 1 with errno set. */
int write_file(const char *path, const void *data, size_t size);
/* A line of the text file path, for a message: the first that contains
 * needle, or (needle NULL) the last non-empty one, cut to 300 bytes, with
 * every byte that is not printable ASCII shown as '?'. "" when there is no
 * such line or no such file. */
char *file_line(Arena *a, const char *path, const char *needle);
/* A fresh folder PARENT/STEMxxxxxx of mode 0700 (mkdtemp), its path
 * allocated in a; NULL with errno set on failure. */
char *make_temp_dir(Arena *a, const char *parent, const char *stem);
/* The names in dir, without "." and "..", sorted; NULL with errno set on
 * failure. */
char **list_dir(Arena *a, const char *dir, int *out_n);
/* Remove path and, if it is a folder, everything in it (rm -rf without a
 * shell). Symlinks are removed, never followed. Returns 0 if nothing is
 * left (a missing path included), 1 otherwise. */
int remove_tree(const char *path);
/* Run argv[0] (looked up in PATH when it has no '/') with the argument
 * vector argv, in folder dir (NULL: the current one), with stdout and
 * stderr into the file log (NULL: inherited; created without following a
 * symlink). Returns the exit status, RUN_NOT_STARTED if it could not be
 * started, or RUN_SIGNALED - SIG if signal SIG ended it. A program that
 * cannot be executed exits 127, as in the shell. */
enum { RUN_NOT_STARTED = -1, RUN_SIGNALED = -128 };
int run_argv(char *const argv[], const char *dir, const char *log);

#endif
