#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py [DIR]: collect the fuzzing seed corpus.

Copies into DIR (default out/fuzz/seeds, not committed) every ONNX node test
model (../shared/onnx-tests/node/*/model.onnx, 1802), the bundled models
(models/*/model.onnx) and the golden test models (tests/golden/*.onnx),
each named by the SHA-1 of its bytes (as libFuzzer names corpus files), so
identical models are kept once.

With the onnx package (pip, or Debian's python3-onnx), it also writes a
"known" variant of each node test that has integer or bool inputs: those
inputs become initializers holding the test's own input_N.pb values, and
the other inputs get the exact shapes of their test data. Without it,
kiln stops at "input 1 ('axes') must be known at compile time" on those
models (kiln check specializes them from the test data; the fuzz target has
no data), and the fuzzer would rarely get past inference for Reshape,
Resize, Slice, Expand, the Reduce ops with an axes input, ...

Prints one line: the number of seeds.
"""
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
NODE = ROOT / "../shared/onnx-tests/node"


def save(out, data, seen):
    name = hashlib.sha1(data).hexdigest()
    if name not in seen:
        seen.add(name)
        path = out / name
        if not path.exists():
            path.write_bytes(data)


def known_variant(onnx, numpy_helper, folder):
    """The model of node test `folder` with its integer/bool inputs made
    initializers from test_data_set_0, or None if it has none."""
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    data = folder / "test_data_set_0"
    g = model.graph
    inits = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    keep, changed = [], False
    ints = (onnx.TensorProto.INT32, onnx.TensorProto.INT64, onnx.TensorProto.BOOL,
            onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT16)
    for k, vi in enumerate(inputs):
        pb = data / f"input_{k}.pb"
        if not pb.is_file():
            return None
        t = onnx.TensorProto()
        try:
            t.ParseFromString(pb.read_bytes())
        except Exception:
            return None
        arr = numpy_helper.to_array(t)
        if vi.type.tensor_type.elem_type in ints:
            init = numpy_helper.from_array(arr, vi.name)
            g.initializer.append(init)
            changed = True
            continue
        # the other inputs: the exact shape of their data
        shape = vi.type.tensor_type.shape
        if vi.type.HasField("tensor_type"):
            del shape.dim[:]
            for n in arr.shape:
                shape.dim.add().dim_value = n
        keep.append(vi)
    if not changed:
        return None
    del g.input[:]
    g.input.extend(keep)
    return model.SerializeToString()


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "out/fuzz/seeds")
    out.mkdir(parents=True, exist_ok=True)
    seen = set()
    node_models = sorted(NODE.glob("*/model.onnx"))
    for f in node_models + sorted(ROOT.glob("models/*/model.onnx")) + sorted(ROOT.glob("tests/golden/*.onnx")):
        save(out, f.read_bytes(), seen)
    plain = len(seen)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        onnx = None
    variants = 0
    if onnx:
        for f in node_models:
            try:
                data = known_variant(onnx, numpy_helper, f.parent)
            except Exception:  # a model the onnx package cannot handle: no variant
                data = None
            if data:
                n = len(seen)
                save(out, data, seen)
                variants += len(seen) - n
    note = f", {variants} with known integer inputs" if onnx else " (no onnx package: no known-input variants)"
    print(f"seeds: {len(seen)} models in {out}: {plain} distinct files{note}")


if __name__ == "__main__":
    sys.exit(main())
