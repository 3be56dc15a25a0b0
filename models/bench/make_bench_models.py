#!/usr/bin/python3
"""models/bench/make_bench_models.py: build kiln's benchmark suite from PyTorch.

Run with Debian's interpreter (python3-torch 1.13, python3-onnx 1.12):

    /usr/bin/python3 models/bench/make_bench_models.py                 # every model
    /usr/bin/python3 models/bench/make_bench_models.py resnet8 dscnn   # only these
    /usr/bin/python3 models/bench/make_bench_models.py --out DIR       # elsewhere
    /usr/bin/python3 models/bench/make_bench_models.py --list          # the names

For each model it writes, under out/bench/models/ (git-ignored; ResNet-18
alone is 47 MB, so the models are never committed, only this script):

    <name>/model.onnx
    <name>/test_data_set_0/input_N.pb, output_N.pb

Weights are random with a fixed seed per model (nothing can be downloaded
here), BatchNorms get random statistics, inputs are random (seeded), and
output_N.pb is what the PyTorch module itself computes. Every model is
batch 1, float32, exported in eval mode at opset 13 (17 for the
transformers, so that LayerNorm is LayerNormalization), with static shapes,
and passes onnx.checker.check_model(full_check=True). The output is the
same byte for byte on every run (one thread, seeded generators).

The suite (tests/bench/run.py measures it):

    resnet8      MLPerf Tiny image classification: ResNet-8 on CIFAR-10 [1,3,32,32]
    dscnn        MLPerf Tiny keyword spotting: DS-CNN small on MFCC [1,1,49,10]
    mobilenetv1  MLPerf Tiny visual wake words: MobileNetV1 alpha 0.25 [1,3,96,96], 2 classes
    autoencoder  MLPerf Tiny anomaly detection: dense autoencoder [1,640]
    resnet18     ResNet-18 [1,3,224,224], 1000 classes
    mobilenetv2  MobileNetV2 (width 1.0) [1,3,224,224], 1000 classes
    squeezenet   SqueezeNet 1.1 [1,3,224,224], 1000 classes
    bert         BERT-style encoder: 4 layers, hidden 256, 4 heads, seq 128, attention mask
    gpt          GPT-style decoder: 4 layers, hidden 256, 4 heads, seq 64, causal mask
    lstm         2-layer LSTM, input 128, hidden 256, seq 64, Linear on every step
    unet         small U-Net [1,3,128,128]: 3 levels (16/32/64), bottleneck 128, 2 classes
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
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(ROOT, "out", "bench", "models")


# ------------------------------------------------------------ MLPerf Tiny

class ResNet8(nn.Module):
    """MLPerf Tiny image classification (ResNet-8, the 'resnet_v1_eembc'
    Keras model): conv 16 + BN + ReLU, three residual stacks of 16, 32, 64
    filters (the last two downsample by 2, with a 1x1 conv shortcut), 8x8
    average pool, Dense 10, softmax."""

    class Stack(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x if self.short is None else self.short(x)
            return F.relu(y + s)

    def __init__(self, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1)
        self.bn = nn.BatchNorm2d(16)
        self.stacks = nn.Sequential(self.Stack(16, 16, 1), self.Stack(16, 32, 2), self.Stack(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.stacks(F.relu(self.bn(self.conv(x))))
        x = F.avg_pool2d(x, 8).flatten(1)
        return torch.softmax(self.fc(x), -1)


class DSCNN(nn.Module):
    """MLPerf Tiny keyword spotting (DS-CNN small): on 49 MFCC frames x 10
    coefficients, conv 64 filters 10x4 stride 2 to 25x5 + BN + ReLU (TF's
    'same' pads 4/5 rows and 1/1 columns; the symmetric 5/1 used here gives
    the same 25x5 map and work in one Conv node), four depthwise-separable
    blocks (3x3 depthwise + BN + ReLU, 1x1 conv 64 + BN + ReLU), average pool
    over the 25x5 map, Dense 12, softmax."""

    def __init__(self, classes=12, width=64, blocks=4):
        super().__init__()
        self.conv = nn.Conv2d(1, width, (10, 4), 2, (5, 1))  # 49x10 -> 25x5
        self.bn = nn.BatchNorm2d(width)
        layers = []
        for _ in range(blocks):
            layers += [nn.Conv2d(width, width, 3, 1, 1, groups=width), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 1), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.body(x)
        x = F.avg_pool2d(x, (25, 5)).flatten(1)
        return torch.softmax(self.fc(x), -1)


def conv_bn(cin, cout, k, stride, groups=1, act=nn.ReLU):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act()]


class MobileNetV1(nn.Module):
    """MobileNetV1 (alpha 0.25 for MLPerf Tiny visual wake words, 96x96,
    2 classes): conv 3x3 stride 2, 13 depthwise-separable blocks (3x3
    depthwise + BN + ReLU, 1x1 + BN + ReLU), global average pool, Dense, softmax."""

    CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

    def __init__(self, alpha=0.25, classes=2):
        super().__init__()
        c = int(32 * alpha)
        layers = conv_bn(3, c, 3, 2)
        for cout, s in self.CFG:
            cout = int(cout * alpha)
            layers += conv_bn(c, c, 3, s, groups=c) + conv_bn(c, cout, 1, 1)
            c = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return torch.softmax(self.fc(x), -1)


class AutoEncoder(nn.Module):
    """MLPerf Tiny anomaly detection (ToyADMOS dense autoencoder): 640 ->
    4 x (Dense 128 + BN + ReLU) -> Dense 8 + BN + ReLU -> 4 x (Dense 128 +
    BN + ReLU) -> Dense 640."""

    def __init__(self, dim=640, hidden=128, code=8):
        super().__init__()
        sizes = [dim] + [hidden] * 4 + [code] + [hidden] * 4
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        layers.append(nn.Linear(hidden, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


# ------------------------------------------------------------ ImageNet CNNs

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """torchvision's resnet18: 7x7/2 stem, 3x3/2 max pool, four stages of two
    BasicBlocks (64, 128, 256, 512), global average pool, fc 1000."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for i, w in enumerate((64, 128, 256, 512)):
            blocks += [BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
            cin = w
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += conv_bn(cin, hidden, 1, 1, act=nn.ReLU6)
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """torchvision's mobilenet_v2 (width 1.0): 17 inverted residual blocks,
    1x1 conv to 1280, global average pool, dropout, fc 1000."""

    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
           (6, 320, 1, 1)]  # expand t, channels c, repeats n, stride s

    def __init__(self, classes=1000):
        super().__init__()
        layers, cin = conv_bn(3, 32, 3, 2, act=nn.ReLU6), 32
        for t, c, n, s in self.CFG:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += conv_bn(cin, 1280, 1, 1, act=nn.ReLU6)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
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


class SqueezeNet11(nn.Module):
    """torchvision's squeezenet1_1: conv 64 3x3/2 (no padding), ceil-mode max
    pools, eight fire modules, dropout, 1x1 conv to 1000 classes, ReLU,
    global average pool."""

    def __init__(self, classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), Fire(512, 64, 256, 256))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU(),
                                        nn.AdaptiveAvgPool2d(1))
        for m in self.modules():  # He init, so that activations do not vanish
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.uniform_(m.bias, -0.1, 0.1)

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class UNet(nn.Module):
    """A small U-Net: three levels (16, 32, 64 channels) of double 3x3 conv +
    BN + ReLU with 2x2 max pools, a 128-channel bottleneck, 2x2 stride-2
    ConvTranspose up, skips joined by Concat, 1x1 conv to 2 classes."""

    @staticmethod
    def double(cin, cout):
        return nn.Sequential(*(conv_bn(cin, cout, 3, 1) + conv_bn(cout, cout, 3, 1)))

    def __init__(self, widths=(16, 32, 64), bottleneck=128, classes=2):
        super().__init__()
        self.downs = nn.ModuleList()
        cin = 3
        for w in widths:
            self.downs.append(self.double(cin, w))
            cin = w
        self.mid = self.double(cin, bottleneck)
        self.ups, self.decs = nn.ModuleList(), nn.ModuleList()
        cin = bottleneck
        for w in reversed(widths):
            self.ups.append(nn.ConvTranspose2d(cin, w, 2, 2))
            self.decs.append(self.double(2 * w, w))
            cin = w
        self.out = nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        skips = []
        for d in self.downs:
            x = d(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.mid(x)
        for up, dec, s in zip(self.ups, self.decs, reversed(skips)):
            x = dec(torch.cat([s, up(x)], 1))
        return self.out(x)


# ------------------------------------------------------------ sequence models

class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
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
        return self.o(torch.matmul(p, v).transpose(1, 2).reshape(b, t, h))


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
    """Post-norm BERT encoder: token + position + segment embeddings
    (Gather), LayerNorm, 4 layers (hidden 256, 4 heads, FFN 1024, exact erf
    GELU), the attention mask as an additive bias (1 - mask) * -10000 on the
    scaled scores; outputs the last hidden state and the pooled first token."""

    def __init__(self, vocab=8192, seq=128, hidden=256, heads=4, layers=4, ffn=1024):
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(seq, hidden)
        self.typ = nn.Embedding(2, hidden)
        self.register_buffer("position_ids", torch.arange(seq).unsqueeze(0))
        self.register_buffer("token_type_ids", torch.zeros(1, seq, dtype=torch.long))
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, ffn) for _ in range(layers)])
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        x = self.tok(input_ids) + self.pos(self.position_ids) + self.typ(self.token_type_ids)
        x = self.ln(x)
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x, torch.tanh(self.pool(x[:, 0]))


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
    """Pre-norm GPT decoder: 4 blocks (hidden 256, 4 heads, FFN 1024, tanh
    GELU), a causal mask (a constant upper-triangular buffer, as GPT-2 keeps
    it) applied with masked_fill(-inf), final LayerNorm, logits through the
    tied token embedding."""

    def __init__(self, vocab=4096, seq=64, hidden=256, heads=4, layers=4, ffn=1024):
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(seq, hidden)
        self.register_buffer("position_ids", torch.arange(seq).unsqueeze(0))
        self.register_buffer("causal", torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1))
        self.blocks = nn.ModuleList([GPTBlock(hidden, heads, ffn) for _ in range(layers)])
        self.ln = nn.LayerNorm(hidden)

    def forward(self, input_ids):
        x = self.tok(input_ids) + self.pos(self.position_ids)
        for blk in self.blocks:
            x = blk(x, self.causal)
        return torch.matmul(self.ln(x), self.tok.weight.t())


class LSTMNet(nn.Module):
    """nn.LSTM(128, 256, num_layers=2, batch_first=True) and a Linear(256, 32)
    on every step."""

    def __init__(self, inp=128, hidden=256, layers=2, out=32):
        super().__init__()
        self.lstm = nn.LSTM(inp, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, out)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


# ------------------------------------------------------------ export

def randomize_bn(model, gen):
    """Random statistics and affine parameters for every BatchNorm, so that
    none is close to the identity (they are folded into the convs and Gemms)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.8 + 0.6)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)


def write_pb(path, arr, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def export(out_root, name, model, inputs, input_names, output_names, opset=13):
    model.eval()
    out_dir = os.path.join(out_root, name)
    data_dir = os.path.join(out_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    targs = tuple(torch.from_numpy(a) for a in inputs)
    with torch.no_grad():
        outs = model(*targs)
    outs = [o.numpy() for o in (outs if isinstance(outs, tuple) else (outs,))]
    buf = io.BytesIO()
    torch.onnx.export(model, targs, buf, opset_version=opset, do_constant_folding=True,
                      input_names=input_names, output_names=output_names,
                      training=torch.onnx.TrainingMode.EVAL)
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "pytorch (models/bench/make_bench_models.py)"
    m.doc_string = "kiln benchmark suite: " + name
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(out_dir, "model.onnx")
    onnx.save(m, path)
    for i, (a, n) in enumerate(zip(inputs, input_names)):
        write_pb(os.path.join(data_dir, "input_%d.pb" % i), a, n)
    for i, (a, n) in enumerate(zip(outs, output_names)):
        write_pb(os.path.join(data_dir, "output_%d.pb" % i), a, n)
    ops = sorted({n.op_type for n in m.graph.node})
    print("%-12s opset %-2d %10d bytes  %s" % (name, opset, os.path.getsize(path), " ".join(ops)), flush=True)


MODELS = ["resnet8", "dscnn", "mobilenetv1", "autoencoder", "resnet18", "mobilenetv2", "squeezenet",
          "bert", "gpt", "lstm", "unet"]


def build(out_root, name):
    seed = 2000 + MODELS.index(name)
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    gen = torch.Generator().manual_seed(seed + 1)

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def cnn(model, shape, opset=13):
        randomize_bn(model, gen)
        export(out_root, name, model, [randn(*shape)], ["input"], ["output"], opset)

    if name == "resnet8":
        cnn(ResNet8(), (1, 3, 32, 32))
    elif name == "dscnn":
        cnn(DSCNN(), (1, 1, 49, 10))
    elif name == "mobilenetv1":
        cnn(MobileNetV1(), (1, 3, 96, 96))
    elif name == "autoencoder":
        cnn(AutoEncoder(), (1, 640))
    elif name == "resnet18":
        cnn(ResNet18(), (1, 3, 224, 224))
    elif name == "mobilenetv2":
        cnn(MobileNetV2(), (1, 3, 224, 224))
    elif name == "squeezenet":
        cnn(SqueezeNet11(), (1, 3, 224, 224))
    elif name == "unet":
        cnn(UNet(), (1, 3, 128, 128))
    elif name == "bert":
        ids = rng.randint(1, 8192, size=(1, 128)).astype(np.int64)
        ids[0, 0] = 101
        mask = np.ones((1, 128), np.int64)
        mask[0, 100:] = 0   # 28 padding tokens
        ids[0, 100:] = 0
        export(out_root, name, Bert(), [ids, mask], ["input_ids", "attention_mask"],
               ["last_hidden_state", "pooled"], opset=17)
    elif name == "gpt":
        ids = rng.randint(0, 4096, size=(1, 64)).astype(np.int64)
        export(out_root, name, GPT(), [ids], ["input_ids"], ["logits"], opset=17)
    elif name == "lstm":
        export(out_root, name, LSTMNet(), [randn(1, 64, 128)], ["x"], ["y"])
    else:
        raise SystemExit("unknown model %s (known: %s)" % (name, " ".join(MODELS)))


def main():
    args = sys.argv[1:]
    out_root = DEFAULT_OUT
    if "--out" in args:
        i = args.index("--out")
        out_root = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    if "--list" in args:
        print(" ".join(MODELS))
        return
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # the exporter's notes on LSTM, masked_fill...
    for name in args or MODELS:
        build(out_root, name)


if __name__ == "__main__":
    main()
