#!/usr/bin/python3
"""models/control/make_control.py: small PyTorch models with data-dependent
control flow, scripted (torch.jit.script) and exported to ONNX Loop and If,
with reference outputs computed by PyTorch itself. tests/control/run.sh
checks each against kiln.

Run with Debian's interpreter (python3-torch 1.13, python3-onnx, numpy):

    /usr/bin/python3 models/control/make_control.py           # every model
    /usr/bin/python3 models/control/make_control.py torch_if  # only these

For each model it writes models/control/<name>/model.onnx (unsupported/<name>
for the ones kiln refuses, UNSUPPORTED below) and one test_data_set_N/ per input (input_N.pb, output_N.pb); the inputs are seeded
random data chosen so that the data sets take different paths (both
branches of an If, different trip counts). Each export passes
onnx.checker.check_model(full_check=True); the script prints each model's
opset, size and ops. The whole folder is a few tens of kilobytes.
"""
import io
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class ForRows(nn.Module):
    """A for loop over a tensor dimension: a tanh RNN over the rows of x
    (x.size(0) steps, from the input's shape), its states appended to a
    list and stacked (a loop-carried sequence in ONNX)."""

    def __init__(self):
        super().__init__()
        self.wx = nn.Linear(8, 16)
        self.wh = nn.Linear(16, 16, bias=False)

    def forward(self, x):
        h = torch.zeros(16)
        states = []
        for i in range(x.size(0)):
            h = torch.tanh(self.wx(x[i]) + self.wh(h))
            states.append(h)
        return h, torch.stack(states, 0)


class IfValue(nn.Module):
    """An if on a tensor value: one branch or the other by the sign of a
    projection of x, the branches of different ops."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 12)

    def forward(self, x):
        y = self.fc(x)
        if bool(y.mean() > 0):
            out = torch.relu(y) * 2.0
        else:
            out = torch.sigmoid(y) - x
        return out


class WhileCounter(nn.Module):
    """A while loop with a counter: grows x until its squared norm passes a limit
    or 20 steps are done; returns x and the number of steps (int64)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x, limit):
        i = torch.zeros(1, dtype=torch.long)
        while bool((x * x).sum() < limit) and bool(i < 20):
            x = x * 1.25 + torch.tanh(self.fc(x)) * 0.1
            i = i + 1
        return x, i


class LoopIf(nn.Module):
    """An if inside a for loop over the columns of x: each step adds or
    subtracts a column by its own sum's sign."""

    def forward(self, x):
        acc = torch.zeros(x.size(0))
        for j in range(x.size(1)):
            col = x[:, j]
            if bool(col.sum() > 0):
                acc = acc + col
            else:
                acc = acc - 0.5 * col
        return acc


def write_pb(path, arr, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def export(name, module, datasets, input_names, output_names, opset):
    """Scripts module, exports it at `opset` and writes one test data set
    per entry of datasets (a list of input lists, numpy arrays), in
    models/control/<name>/, or models/control/unsupported/<name>/ for a
    model kiln refuses (UNSUPPORTED)."""
    module.eval()
    scripted = torch.jit.script(module)
    out_dir = os.path.join(HERE, "unsupported" if name in UNSUPPORTED else "", name)
    targs = tuple(torch.from_numpy(a) for a in datasets[0])
    buf = io.BytesIO()
    torch.onnx.export(scripted, targs, buf, opset_version=opset, input_names=input_names,
                      output_names=output_names)
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "pytorch (models/control/make_control.py)"
    m.doc_string = "kiln control-flow model: " + name
    onnx.checker.check_model(m, full_check=True)
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(m, os.path.join(out_dir, "model.onnx"))
    for k, inputs in enumerate(datasets):
        data_dir = os.path.join(out_dir, "test_data_set_%d" % k)
        os.makedirs(data_dir, exist_ok=True)
        with torch.no_grad():
            outs = module(*(torch.from_numpy(a) for a in inputs))
        outs = outs if isinstance(outs, tuple) else (outs,)
        for i, (a, n) in enumerate(zip(inputs, input_names)):
            write_pb(os.path.join(data_dir, "input_%d.pb" % i), a, n)
        for i, (o, n) in enumerate(zip(outs, output_names)):
            write_pb(os.path.join(data_dir, "output_%d.pb" % i), o.numpy(), n)
    ops = sorted({n.op_type for n in m.graph.node})
    print("%-18s opset %-2d %6d bytes  %s" % (name, opset, os.path.getsize(os.path.join(out_dir, "model.onnx")),
                                              " ".join(ops)))


def build(name, seed):
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    if name == "torch_for_rows":
        export(name, ForRows(), [[randn(5, 8)]], ["x"], ["h", "states"], opset=13)
    elif name == "torch_if_value":
        m = IfValue()
        # the first random inputs whose projections' means are > 0 and <= 0
        found = {}
        while len(found) < 2:
            x = randn(3, 12)
            with torch.no_grad():
                found.setdefault(bool(m.fc(torch.from_numpy(x)).mean() > 0), x)
        export(name, m, [[found[True]], [found[False]]], ["x"], ["y"], opset=15)
    elif name == "torch_while_counter":
        x = randn(2, 6) * 0.1
        export(name, WhileCounter(), [[x, np.array(3.0, np.float32)], [x, np.array(1e6, np.float32)]],
               ["x", "limit"], ["y", "steps"], opset=17)
    elif name == "torch_loop_if":
        export(name, LoopIf(), [[randn(4, 7)]], ["x"], ["acc"], opset=16)
    else:
        raise SystemExit("unknown model: " + name)


NAMES = ["torch_for_rows", "torch_if_value", "torch_while_counter", "torch_loop_if"]
# Exports kiln refuses with one clear line (tests/errors/cases_control.txt
# pins it); tests/control/run.sh does not run them. torch_while_counter: a
# `while` is a Loop of trip count INT64_MAX ended by its condition.
UNSUPPORTED = {"torch_while_counter"}


def main():
    names = sys.argv[1:] or NAMES
    for i, name in enumerate(NAMES):
        if name in names:
            build(name, 100 + i)


if __name__ == "__main__":
    main()
