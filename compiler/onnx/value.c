/*
 * value.c: the test data files of sequence and optional inputs and
 * outputs (onnx-data.proto's SequenceProto and OptionalProto), read as
 * model_run's tensor slots.
 *
 * The system's onnx.proto, which the protobuf-c bindings come from, lacks
 * these two messages; they are small, so their few fields are walked here
 * by hand (every length checked against the bytes left) and each tensor
 * in them goes through the TensorProto reader everything else uses:
 *   SequenceProto: 1 name, 2 elem_type, 3 tensor_values (repeated),
 *                  4 sparse_tensor_values, 5 sequence_values, 6 map_values,
 *                  7 optional_values
 *   OptionalProto: 1 name, 2 elem_type, 3 tensor_value,
 *                  4 sparse_tensor_value, 5 sequence_value, 6 map_value,
 *                  7 optional_value
 * Only tensors, sequences of tensors and optionals of those are taken.
 */
#include "pb.h"

#include <string.h>

typedef struct Wire {
    const unsigned char *p, *end;
} Wire;

/* One varint; 0 on success. */
static int wire_varint(Wire *w, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && w->p < w->end; shift += 7) {
        unsigned char b = *w->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return 1;
}

/* Skip a field's payload of wire type `wire`; the length-delimited one
 * is returned in *data, *len. 0 on success. */
static int wire_field(Wire *w, int wire, const unsigned char **data, size_t *len)
{
    uint64_t v;
    *data = NULL;
    *len = 0;
    switch (wire) {
    case 0: return wire_varint(w, &v);
    case 1:
        if (w->end - w->p < 8)
            return 1;
        w->p += 8;
        return 0;
    case 5:
        if (w->end - w->p < 4)
            return 1;
        w->p += 4;
        return 0;
    case 2:
        if (wire_varint(w, &v) || v > (uint64_t)(w->end - w->p))
            return 1;
        *data = w->p;
        *len = (size_t)v;
        w->p += v;
        return 0;
    default: return 1;
    }
}

/* A serialized TensorProto as one slot. */
static int slot_tensor(Arena *a, const unsigned char *data, size_t len, const char *path, int group, int form,
                       Tensor *ts, int max, int *n, Diag *d)
{
    if (*n >= max)
        return diag_error(d, "more than %d tensors in the test data", max);
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, data);
    if (!tp)
        return diag_error(d, "a tensor in it is not a serialized TensorProto");
    Tensor *t = &ts[*n];
    int rc = pb_tensor(a, tp, NULL, tp->name && *tp->name ? tp->name : "(unnamed)", t, d);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (rc)
        return 1;
    t->source = arena_strdup(a, path);
    t->group = group;
    t->form = form;
    (*n)++;
    return 0;
}

/* The slot of an absent optional or an empty sequence. */
static int slot_none(Tensor *ts, int max, int *n, int group, int form, const char *path, Diag *d)
{
    if (*n >= max)
        return diag_error(d, "more than %d tensors in the test data", max);
    memset(&ts[*n], 0, sizeof ts[*n]);
    ts[*n].source = path;
    ts[*n].group = group;
    ts[*n].form = form | IO_NONE;
    (*n)++;
    return 0;
}

/* A SequenceProto (seq) or OptionalProto (!seq) in buf. */
static int walk(Arena *a, const unsigned char *buf, size_t size, int seq, int form, const char *path, int group,
                Tensor *ts, int max, int *n, Diag *d)
{
    Wire w = {buf, buf + size};
    int first = *n, got = 0;
    const char *what = seq ? "SequenceProto" : "OptionalProto";
    while (w.p < w.end) {
        uint64_t key;
        const unsigned char *data;
        size_t len;
        if (wire_varint(&w, &key) || wire_field(&w, (int)(key & 7), &data, &len))
            return diag_error(d, "not a serialized ONNX %s (truncated or malformed)", what);
        uint64_t field = key >> 3;
        if (field == 3 && data) {
            if (!seq && (form & IO_SEQ))
                return diag_error(d, "the optional holds a tensor, the model declares an optional sequence");
            if (slot_tensor(a, data, len, path, group, form, ts, max, n, d))
                return 1;
            got = 1;
        } else if (field == 5 && data && !seq) {
            if (!(form & IO_SEQ))
                return diag_error(d, "the optional holds a sequence, the model declares an optional tensor");
            if (walk(a, data, len, 1, form, path, group, ts, max, n, d))
                return 1;
            got = 1;
        } else if (field >= 4 && field <= 7) {
            return diag_error(d, "the %s holds sparse tensors, maps or nested sequences or optionals, which kiln does "
                                 "not support", what);
        }
    }
    if (seq && *n == first)
        return slot_none(ts, max, n, group, form, path, d); /* an empty sequence */
    if (!seq && !got)
        return slot_none(ts, max, n, group, form, path, d); /* an absent optional */
    return 0;
}

int onnx_read_value(Arena *a, const char *path, int form, int group, Tensor *ts, int max, int *n, Diag *d)
{
    Diag local = {.file = path};
    const char *err = NULL;
    size_t size = 0;
    int rc;
    if (!(form & (IO_SEQ | IO_OPT))) {
        if (*n >= max)
            return diag_error(d, "more than %d tensors in the test data", max);
        rc = onnx_read_tensor(a, path, &ts[*n], d);
        if (!rc) {
            ts[*n].group = group;
            ts[*n].form = 0;
            (*n)++;
        }
        return rc;
    }
    unsigned char *buf = read_file(a, path, &size, &err);
    if (!buf)
        rc = diag_error(&local, "cannot read: %s", err);
    else
        rc = walk(a, buf, size, !(form & IO_OPT), form, path, group, ts, max, n, &local);
    if (rc)
        diag_take(d, &local);
    return rc;
}
