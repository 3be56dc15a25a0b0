#!/usr/bin/env python3
"""tests/gpu/torch_ref.py NAME DATA_DIR OUT_DIR ITERS [DEVICE]: PyTorch eager on the GPU
for bench model NAME (models/bench/make_bench_models.py builds the module
with its seed, as it did for the ONNX file kiln compiled), on the inputs
DATA_DIR/input_N.pb; writes OUT_DIR/output_N.pb and prints
"torch_ms=MEDIAN" (CUDA events around the forward, after 3 warm-up runs).
DEVICE (default cuda) may be cpu, to check the script without a GPU."""
import os
import sys
import time

import numpy as np
import torch
from onnx import TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models", "bench"))
import make_bench_models as mb  # noqa: E402

name, data, out, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dev = sys.argv[5] if len(sys.argv) > 5 else "cuda"
captured = {}


def capture(out_root, nm, model, inputs, input_names, output_names, opset=13):
    captured["model"] = model


mb.export = capture
mb.build(None, name)
model = captured["model"].eval().to(dev)
ins, i = [], 0
while os.path.exists(f"{data}/input_{i}.pb"):
    t = TensorProto()
    with open(f"{data}/input_{i}.pb", "rb") as f:
        t.ParseFromString(f.read())
    ins.append(torch.from_numpy(numpy_helper.to_array(t).copy()).to(dev))
    i += 1
ms = []
with torch.no_grad():
    for it in range(iters + 3):
        if dev == "cuda":
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            outs = model(*ins)
            e1.record()
            torch.cuda.synchronize()
            t = e0.elapsed_time(e1)
        else:
            t0 = time.perf_counter()
            outs = model(*ins)
            t = (time.perf_counter() - t0) * 1e3
        if it >= 3:
            ms.append(t)
outs = outs if isinstance(outs, tuple) else (outs,)
os.makedirs(out, exist_ok=True)
for i, o in enumerate(outs):
    with open(f"{out}/output_{i}.pb", "wb") as f:
        f.write(numpy_helper.from_array(o.float().cpu().numpy(), f"output_{i}").SerializeToString())
print(f"torch_ms={float(np.median(ms)):.4f}")
