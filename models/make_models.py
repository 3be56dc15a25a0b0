#!/usr/bin/python3
"""models/make_models.py: build kiln's model suite from PyTorch.

Run with Debian's interpreter, which has torch 1.13 and onnx 1.12:

    /usr/bin/python3 models/make_models.py            # every model
    /usr/bin/python3 models/make_models.py gpt lstm   # only these

For each model it writes, next to this script,

    <name>/model.onnx
    <name>/test_data_set_0/input_N.pb, output_N.pb

Weights are random (each model has its own fixed seed), inputs are random
(seeded), and the reference outputs are computed by the PyTorch module
itself, never by an ONNX runtime. models/lenet also gets sample_input.pb,
a hand-drawn "7" for the README's demo.
"""
import io
import math
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- models

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet(nn.Module):
    """LeNet-5: conv5 (padded) - maxpool - conv5 - avgpool - 3 fully connected."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet: stem, 3 stages (16, 32, 64 channels; the last two
    downsample by 2 with a 1x1 conv shortcut), global average pool, fc."""

    def __init__(self, widths=(16, 32, 64), blocks=(2, 1, 1), classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, (w, nb) in enumerate(zip(widths, blocks)):
            for b in range(nb):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and b == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.layers(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


class WinogradMix(nn.Module):
    """3x3 stride-1 convolutions of the shapes kiln lowers as Winograd
    F(2x2, 3x3): padded with a bias and Relu, bias-free with a residual Add
    (written in place), asymmetric padding, unpadded (valid), non-square,
    one of odd width (its last column of tiles half stored), and one of
    96 channels in and out, whose transformed weights (576 KiB) exceed half
    the L2 cache of kiln's machine descriptions, so that it transforms
    every tile at once instead of row by row."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 16, 3, padding=1)
        self.h = nn.Conv2d(16, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.c = nn.Conv2d(16, 12, 3, padding=1)
        self.d = nn.Conv2d(12, 8, 3, padding=(2, 1))
        self.e = nn.Conv2d(8, 8, 3)
        self.g = nn.Conv2d(8, 96, 1)
        self.f = nn.Conv2d(96, 96, 3, padding=1)

    def forward(self, x):
        a = F.relu(self.a(x))
        b = F.relu(self.b(F.relu(self.h(a))) + a)
        d = self.d(self.c(b))
        wide = F.relu(self.f(self.g(F.pad(x, (1, 1, 0, 0)))))  # 10 x 16, 40 tiles
        return d, self.e(F.pad(d, (0, 1, 0, 0))), wide  # e: 10 x 13, odd


def conv_bn_relu6(cin, cout, k, stride, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(conv_bn_relu6(cin, hidden, 1, 1))
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),  # depthwise
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # linear bottleneck
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    # (expand, out channels, stride)
    CFG = [(1, 8, 1), (6, 16, 2), (6, 16, 1), (6, 24, 2), (6, 24, 1)]

    def __init__(self, classes=10):
        super().__init__()
        layers, cin = [conv_bn_relu6(3, 16, 3, 2)], 16
        for t, c, s in self.CFG:
            layers.append(InvertedResidual(cin, c, s, t))
            cin = c
        layers.append(conv_bn_relu6(cin, 128, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1(x)), F.relu(self.expand3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1 layout, narrower. On 64x64 every ceil_mode MaxPool
    gives one more row and column than floor mode would (32->16->8->4)."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(32, 8, 16, 16), Fire(32, 8, 16, 16),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(32, 16, 32, 32), Fire(64, 16, 32, 32),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 24, 48, 48))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(96, classes, 1), nn.ReLU(),
                                        nn.AdaptiveAvgPool2d(1))
        for m in self.modules():  # He init, as the default leaves logits ~0.01
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.uniform_(m.bias, -0.1, 0.1)

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)

    def split(self, x):
        b, t, _ = x.size()
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, bias=None, causal=None):
        b, t, h = x.size()
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if bias is not None:
            s = s + bias
        if causal is not None:
            s = s.masked_fill(causal, float("-inf"))
        p = torch.softmax(s, dim=-1)
        y = torch.matmul(p, v).transpose(1, 2).reshape(b, t, h)
        return self.o(y)


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ff1 = nn.Linear(hidden, ffn)
        self.ff2 = nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, bias):
        x = self.ln1(x + self.attn(x, bias=bias))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class Bert(nn.Module):
    """Post-norm BERT encoder; outputs the last hidden state and the pooled
    (tanh dense on the first token) vector."""

    def __init__(self, vocab=128, seq=16, hidden=64, heads=4, layers=2, ffn=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(seq, hidden)
        self.register_buffer("position_ids", torch.arange(seq).unsqueeze(0))
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, ffn) for _ in range(layers)])
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        t = input_ids.size(1)
        x = self.tok(input_ids) + self.pos(self.position_ids[:, :t])
        x = self.ln(x)
        # [b, 1, 1, t]: 0 where attended, -10000 on padding
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        pooled = torch.tanh(self.pool(x[:, 0]))
        return x, pooled


class GPTBlock(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden)
        self.attn = SelfAttention(hidden, heads)
        self.ln2 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ffn)
        self.ff2 = nn.Linear(ffn, hidden)

    def forward(self, x, causal):
        x = x + self.attn(self.ln1(x), causal=causal)
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    """Pre-norm GPT decoder; the causal mask is built in forward with
    torch.triu from the sequence length; the output projection is tied to
    the token embedding."""

    def __init__(self, vocab=128, seq=16, hidden=64, heads=4, layers=2, ffn=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(seq, hidden)
        self.blocks = nn.ModuleList([GPTBlock(hidden, heads, ffn) for _ in range(layers)])
        self.ln = nn.LayerNorm(hidden)

    def forward(self, input_ids):
        t = input_ids.size(1)
        pos = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = self.tok(input_ids) + self.pos(pos)
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        for blk in self.blocks:
            x = blk(x, causal)
        x = self.ln(x)
        return torch.matmul(x, self.tok.weight.t())


class LSTMNet(nn.Module):
    def __init__(self, bidirectional=False, layers=2):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(32 if bidirectional else 16, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


# ---------------------------------------------------------------- helpers

class UNet(nn.Module):
    """A small encoder-decoder: GroupNorm, LeakyReLU, a strided conv down,
    ConvTranspose up, and the skip joined by Concat."""

    def __init__(self):
        super().__init__()
        self.down1 = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.GroupNorm(4, 8)
        self.down2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        a = F.leaky_relu(self.norm(self.down1(x)), 0.1)
        b = F.relu(self.down2(a))
        return self.out(torch.cat([a, self.up(b)], 1))


class MobileNetV3Block(nn.Module):
    """MobileNetV3-style: hardswish, depthwise conv, squeeze-and-excite with
    hardsigmoid, a residual, adaptive average pooling."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.dw = nn.Conv2d(16, 16, 3, 1, 1, groups=16)
        self.se1 = nn.Linear(16, 4)
        self.se2 = nn.Linear(4, 16)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = F.hardswish(self.stem(x))
        y = F.hardswish(self.dw(x))
        w = F.hardsigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(y, 1).flatten(1)))))
        y = y * w[:, :, None, None] + x
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 12, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(24, 3)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1])


class OpsMix(nn.Module):
    """The ops exporters produce outside the classic CNN/transformer set:
    reflect/replicate/constant padding, nearest and bilinear interpolation,
    TopK, CumSum, masked_fill (Where), Einsum, ArgMax, split."""

    def forward(self, x):
        p = F.pad(x, (1, 2, 2, 1), mode="reflect") + F.pad(x, (1, 2, 2, 1), mode="replicate")
        p = p + F.pad(x, (1, 2, 2, 1), value=3.0)
        up = F.interpolate(x, scale_factor=2, mode="nearest") + F.interpolate(
            x, scale_factor=2, mode="bilinear", align_corners=False)
        t = x.flatten(2)
        values, indices = torch.topk(t, 3, dim=-1)
        c = torch.cumsum(t, dim=-1).masked_fill(t > 0.5, -1.0)
        e = torch.einsum("bij,bkj->bik", t, t)
        s1, s2 = torch.split(t, [8, 12], dim=-1)
        return p, up, values, indices, c, e, torch.argmax(t, dim=-1), s1 * 2, s2.sum(-1)



def randomize_bn(model, gen):
    """Give every BatchNorm non-trivial statistics and affine parameters, so
    that it is not close to the identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.8 + 0.6)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)


def seven():
    """A 28x28 hand-drawn "7": a slightly tilted top bar and a long diagonal
    stroke with a small crossbar, anti-aliased, values in [0, 1] (MNIST's
    white on black)."""
    strokes = [((5.5, 6.0), (7.0, 21.0)),   # (row, col) from, to: top bar
               ((7.0, 21.0), (23.5, 11.0)),  # the long stroke
               ((15.0, 11.5), (14.5, 19.0))]  # crossbar
    r, c = np.mgrid[0:28, 0:28].astype(np.float64)
    img = np.zeros((28, 28))
    for (r0, c0), (r1, c1) in strokes:
        dr, dc = r1 - r0, c1 - c0
        t = np.clip(((r - r0) * dr + (c - c0) * dc) / (dr * dr + dc * dc), 0, 1)
        d = np.hypot(r - (r0 + t * dr), c - (c0 + t * dc))
        img = np.maximum(img, np.clip(1.6 - d, 0, 1))  # ~3 pixels wide
    return img.astype(np.float32).reshape(1, 1, 28, 28)


def write_pb(path, arr, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def lstm_wide(name):
    """An LSTM of hidden size 256 over 40 steps whose weights the graph
    computes from Range and Sin (at run time), so that the repository holds
    a few hundred bytes: a recurrence large enough that, with
    --threads 2, the matrix-vector product of each time step runs on the
    thread pool inside the serial loop over the steps (the step variable
    handed to the pool's function). The reference is numpy's, from ONNX's
    LSTM equations (gates i, o, f, c; no bias)."""
    from onnx import TensorProto, helper
    H, I, S = 256, 16, 40

    def table(n, k, scale):  # as the graph computes it: the angle in float32, |angle| < 100
        return np.sin((np.arange(n, dtype=np.float32) * np.float32(k)).astype(np.float64)) * scale

    nodes, inits = [], []
    for nm, n, k, sc, shape in (("W", 4 * H * I, 0.0051, 0.25, [1, 4 * H, I]), ("R", 4 * H * H, 0.00037, 0.06, [1, 4 * H, H])):
        inits += [numpy_helper.from_array(np.array(0, np.float32), nm + "_start"),
                  numpy_helper.from_array(np.array(n, np.float32), nm + "_limit"),
                  numpy_helper.from_array(np.array(1, np.float32), nm + "_delta"),
                  numpy_helper.from_array(np.array(k, np.float32), nm + "_k"),
                  numpy_helper.from_array(np.array(sc, np.float32), nm + "_scale"),
                  numpy_helper.from_array(np.array(shape, np.int64), nm + "_shape")]
        nodes += [helper.make_node("Range", [nm + "_start", nm + "_limit", nm + "_delta"], [nm + "_i"]),
                  helper.make_node("Mul", [nm + "_i", nm + "_k"], [nm + "_a"]),
                  helper.make_node("Sin", [nm + "_a"], [nm + "_s"]),
                  helper.make_node("Mul", [nm + "_s", nm + "_scale"], [nm + "_flat"]),
                  helper.make_node("Reshape", [nm + "_flat", nm + "_shape"], [nm])]
    nodes.append(helper.make_node("LSTM", ["x", "W", "R"], ["", "h"], hidden_size=H))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [S, 1, I])],
                          [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, H])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)], producer_name="models/make_models.py")
    m.doc_string = "kiln model suite: " + name
    onnx.checker.check_model(m, full_check=True)
    x = np.random.RandomState(7).randn(S, 1, I).astype(np.float32)
    W = table(4 * H * I, 0.0051, 0.25).reshape(4 * H, I)
    R = table(4 * H * H, 0.00037, 0.06).reshape(4 * H, H)
    h, c = np.zeros(H), np.zeros(H)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in range(S):
        z = W @ x[t, 0] + R @ h
        i, o, f, cc = sig(z[:H]), sig(z[H:2 * H]), sig(z[2 * H:3 * H]), np.tanh(z[3 * H:])
        c = f * c + i * cc
        h = o * np.tanh(c)
    out_dir = os.path.join(HERE, name)
    os.makedirs(os.path.join(out_dir, "test_data_set_0"), exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    onnx.save(m, path)
    write_pb(os.path.join(out_dir, "test_data_set_0", "input_0.pb"), x, "x")
    write_pb(os.path.join(out_dir, "test_data_set_0", "output_0.pb"), h.astype(np.float32).reshape(1, 1, H), "h")
    print("%-10s opset 14 %7d bytes  Range Sin Mul Reshape LSTM" % (name, os.path.getsize(path)))


def export(name, model, inputs, input_names, output_names, opset=13, fold=True,
           training=torch.onnx.TrainingMode.EVAL, dynamic_axes=None):
    model.eval()
    out_dir = os.path.join(HERE, name)
    data_dir = os.path.join(out_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    targs = tuple(torch.from_numpy(a) for a in inputs)
    with torch.no_grad():
        outs = model(*targs)
        if not isinstance(outs, tuple):
            outs = (outs,)
        outs = [o.numpy() for o in outs]
    # traced with autograd on: under no_grad, nn.TransformerEncoderLayer takes
    # a fused fast path that has no ONNX export
    buf = io.BytesIO()
    torch.onnx.export(model, targs, buf, opset_version=opset, do_constant_folding=fold,
                      input_names=input_names, output_names=output_names, training=training,
                      dynamic_axes=dynamic_axes)
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "pytorch (models/make_models.py)"
    m.doc_string = "kiln model suite: " + name
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    for i, (a, n) in enumerate(zip(inputs, input_names)):
        write_pb(os.path.join(data_dir, "input_%d.pb" % i), a, n)
    for i, (a, n) in enumerate(zip(outs, output_names)):
        write_pb(os.path.join(data_dir, "output_%d.pb" % i), a, n)
    ops = sorted({n.op_type for n in m.graph.node})
    print("%-10s opset %-2d fold=%-5s %7d bytes  %s" % (name, opset, fold, os.path.getsize(path), " ".join(ops)))
    return m


def build(name, seed):
    """Seeds everything, then builds the named model and its inputs."""
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    gen = torch.Generator().manual_seed(seed + 1)

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    if name == "mlp":
        export(name, MLP(), [randn(1, 64)], ["x"], ["logits"], fold=False)
    elif name == "lenet":
        m = LeNet()
        export(name, m, [randn(1, 1, 28, 28)], ["input"], ["logits"])
        write_pb(os.path.join(HERE, name, "sample_input.pb"), seven(), "input")
    elif name == "resnet":
        m = ResNet()
        randomize_bn(m, gen)
        # PRESERVE (the module is in eval mode) keeps BatchNormalization
        # nodes instead of letting the exporter fold them into the convs.
        export(name, m, [randn(1, 3, 32, 32)], ["input"], ["logits"],
               training=torch.onnx.TrainingMode.PRESERVE)
    elif name == "mobilenet":
        m = MobileNetV2()
        randomize_bn(m, gen)
        export(name, m, [randn(1, 3, 32, 32)], ["input"], ["logits"])
    elif name == "squeezenet":
        export(name, SqueezeNet(), [randn(1, 3, 64, 64)], ["input"], ["logits"])
    elif name == "bert":
        ids = rng.randint(1, 128, size=(1, 16)).astype(np.int64)
        ids[0, 0] = 101 % 128   # "[CLS]"
        mask = np.ones((1, 16), np.int64)
        mask[0, 11:] = 0        # five padding tokens
        ids[0, 11:] = 0
        export(name, Bert(), [ids, mask], ["input_ids", "attention_mask"],
               ["last_hidden_state", "pooled"], opset=17)
    elif name == "gpt":
        ids = rng.randint(0, 128, size=(1, 16)).astype(np.int64)
        # The sequence length is symbolic ("seq") and nothing is folded by
        # the exporter: the Shape -> Gather -> Unsqueeze -> Concat chains
        # behind every view/reshape, arange (Range) and the triu mask
        # (ConstantOfShape, Trilu) are left for kiln to fold once the
        # length is bound from the test input.
        export(name, GPT(), [ids], ["input_ids"], ["logits"], opset=14, fold=False,
               dynamic_axes={"input_ids": {1: "seq"}, "logits": {1: "seq"}})
    elif name == "lstm":
        export(name, LSTMNet(), [randn(1, 10, 8)], ["x"], ["y"])
    elif name == "bilstm":
        export(name, LSTMNet(bidirectional=True, layers=1), [randn(1, 10, 8)], ["x"], ["y"])
    elif name == "unet":
        export(name, UNet(), [randn(1, 3, 16, 16)], ["image"], ["mask"])
    elif name == "mobilenetv3":
        export(name, MobileNetV3Block(), [randn(1, 3, 16, 16)], ["input"], ["logits"])
    elif name == "encoder":
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, activation="gelu")
        export(name, layer, [randn(1, 7, 32)], ["x"], ["y"], opset=17)
    elif name == "gru":
        export(name, GRUNet(), [randn(2, 6, 8)], ["x"], ["y"])
    elif name == "winograd":
        export(name, WinogradMix(), [randn(1, 8, 10, 14)], ["x"], ["d", "e", "wide"])
    elif name == "lstm_wide":
        lstm_wide(name)
    elif name == "opsmix":
        export(name, OpsMix(), [rng.rand(1, 4, 4, 5).astype(np.float32)], ["x"],
               ["padded", "upsampled", "topk_values", "topk_indices", "cumsum", "gram", "argmax", "head", "tail"])
    else:
        raise SystemExit("unknown model " + name)


MODELS = ["mlp", "lenet", "resnet", "mobilenet", "squeezenet", "bert", "gpt", "lstm", "bilstm",
          "unet", "mobilenetv3", "encoder", "gru", "opsmix", "winograd", "lstm_wide"]


def main():
    names = sys.argv[1:] or MODELS
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # the exporter's notes on LSTM, triu...
    for name in names:
        build(name, 1000 + MODELS.index(name) if name in MODELS else 0)


if __name__ == "__main__":
    main()
