#!/usr/bin/env python3
"""models/llm/make_decoder.py: a small Llama-style decoder as a one-token
decode step in ONNX, and the same weights for a hand-written forward pass.

    python3 models/llm/make_decoder.py [--out DIR] [--seed N]
                                       [--dim 288 --layers 6 --heads 6 --kv-heads 2
                                        --hidden 768 --vocab 32000 --context 256]

The defaults are the shape of the 15M-parameter "stories" models that
llama2.c runs (dim 288, 6 layers, 6 heads, vocab 32000, context 256), with
grouped-query attention (2 key/value heads, 3 query heads each). Weights
are random (seeded; nothing can be downloaded here), scaled so that
activations stay of order one through the layers.

It writes, under DIR (default out/llm):

  decoder.onnx   one decode step. Inputs: token int64[1], pos int64[1] and,
                 per layer l, k_cache_l and v_cache_l f32[kv_heads, context,
                 head_size]. Outputs: logits f32[1, vocab] and the caches
                 with row `pos` written (k_cache_out_l, v_cache_out_l: a
                 ScatterND of the new key/value into the input cache, so
                 compiled with --alias the cache is updated in place).
  weights.bin    the same weights for models/llm/hand.c: a header of seven
                 int32 (dim, hidden, layers, heads, kv_heads, vocab,
                 context), then float32 arrays in llama2.c's order and
                 layout (token embedding [vocab, dim]; per layer stacked:
                 attention norm, wq, wk, wv, wo, ffn norm, w1, w2, w3, each
                 matrix [out, in]; final norm; classifier [vocab, dim]).

The step is what llama2.c's forward() computes: RMSNorm (eps 1e-5),
rotary embeddings on pairs (2i, 2i+1) of each head with frequency
10000^(-2i/head_size), attention over positions 0..pos (later positions
masked), SwiGLU feed-forward (w2(silu(w1 x) * w3 x)), residuals, final
RMSNorm and classifier.
"""
import argparse
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(dim, hidden, layers, heads, kv_heads, vocab, context, seed):
    hs = dim // heads
    kv_dim = kv_heads * hs
    group = heads // kv_heads
    rng = np.random.default_rng(seed)

    def mat(out_, in_):
        return (rng.standard_normal((out_, in_)) / np.sqrt(in_)).astype(np.float32)

    def norm_w(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    W = {"emb": rng.standard_normal((vocab, dim)).astype(np.float32)}
    for l in range(layers):
        W[f"att_norm{l}"] = norm_w(dim)
        W[f"wq{l}"] = mat(dim, dim)
        W[f"wk{l}"] = mat(kv_dim, dim)
        W[f"wv{l}"] = mat(kv_dim, dim)
        W[f"wo{l}"] = mat(dim, dim)
        W[f"ffn_norm{l}"] = norm_w(dim)
        W[f"w1{l}"] = mat(hidden, dim)
        W[f"w2{l}"] = mat(dim, hidden)
        W[f"w3{l}"] = mat(hidden, dim)
    W["final_norm"] = norm_w(dim)
    W["cls"] = mat(vocab, dim)

    # rotary tables [context, hs/2], as llama2.c computes them (float32)
    i = np.arange(0, hs, 2, dtype=np.float32)
    freq = (1.0 / np.power(np.float32(10000.0), i / np.float32(hs))).astype(np.float32)
    ang = (np.arange(context, dtype=np.float32)[:, None] * freq[None, :]).astype(np.float32)
    cos_t, sin_t = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, outs=None, **attrs):
        outs = outs or [f"{op.lower()}_{len(nodes)}"]
        nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0] if len(outs) == 1 else outs

    const("emb", W["emb"])
    const("cos_t", cos_t)
    const("sin_t", sin_t)
    const("eps", np.array(1e-5, np.float32))
    const("scale", np.array(1.0 / np.sqrt(hs), np.float32))
    const("neg", np.array(-1e30, np.float32))
    const("zero", np.array(0.0, np.float32))
    const("one_i", np.array([1], np.int64))
    const("positions", np.arange(context, dtype=np.int64))
    const("shape_dim", np.array([1, dim], np.int64))
    const("shape_q_pairs", np.array([heads, hs // 2, 2], np.int64))
    const("shape_k_pairs", np.array([kv_heads, hs // 2, 2], np.int64))
    const("shape_cs", np.array([1, hs // 2, 1], np.int64))
    const("shape_q_heads", np.array([heads, hs], np.int64))
    const("shape_k_heads", np.array([kv_heads, hs], np.int64))
    const("shape_q_groups", np.array([kv_heads, group, hs], np.int64))
    const("shape_kv_idx", np.array([kv_heads, 1], np.int64))
    const("kv_heads_idx", np.arange(kv_heads, dtype=np.int64).reshape(kv_heads, 1))

    def rmsnorm(x, w):
        ms = node("ReduceMean", [node("Mul", [x, x])], axes=[-1], keepdims=1)
        inv = node("Reciprocal", [node("Sqrt", [node("Add", [ms, "eps"])])])
        return node("Mul", [node("Mul", [x, inv]), w])

    def linear(x, name):  # x [1, in] @ W^T
        return node("MatMul", [x, const(name + "_t", np.ascontiguousarray(W[name].T))])

    def rope(x, pairs_shape, heads_shape, cos_b, sin_b):
        pr = node("Reshape", [x, pairs_shape])
        x0, x1 = node("Split", [pr], outs=[f"r0_{len(nodes)}", f"r1_{len(nodes)}"], axis=2)
        y0 = node("Sub", [node("Mul", [x0, cos_b]), node("Mul", [x1, sin_b])])
        y1 = node("Add", [node("Mul", [x0, sin_b]), node("Mul", [x1, cos_b])])
        return node("Reshape", [node("Concat", [y0, y1], axis=2), heads_shape])

    x = node("Gather", ["emb", "token"], axis=0)                      # [1, dim]
    cos_b = node("Reshape", [node("Gather", ["cos_t", "pos"], axis=0), "shape_cs"])
    sin_b = node("Reshape", [node("Gather", ["sin_t", "pos"], axis=0), "shape_cs"])
    # rows written into the caches: [[h, pos] for each kv head]
    pos_col = node("Expand", ["pos", "shape_kv_idx"])
    idx = node("Concat", ["kv_heads_idx", pos_col], axis=1)           # [kv_heads, 2]
    # attention mask: 0 for positions <= pos, -1e30 after
    visible = node("LessOrEqual", ["positions", "pos"])
    mask = node("Where", [visible, "zero", "neg"])                    # [context]

    inputs = [helper.make_tensor_value_info("token", TensorProto.INT64, [1]),
              helper.make_tensor_value_info("pos", TensorProto.INT64, [1])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, vocab])]
    cache_shape = [kv_heads, context, hs]
    for l in range(layers):
        for kv in ("k", "v"):
            inputs.append(helper.make_tensor_value_info(f"{kv}_cache_{l}", TensorProto.FLOAT, cache_shape))
            outputs.append(helper.make_tensor_value_info(f"{kv}_cache_out_{l}", TensorProto.FLOAT, cache_shape))
    for l in range(layers):
        h = rmsnorm(x, const(f"att_norm{l}", W[f"att_norm{l}"]))
        q = rope(linear(h, f"wq{l}"), "shape_q_pairs", "shape_q_heads", cos_b, sin_b)   # [heads, hs]
        k = rope(linear(h, f"wk{l}"), "shape_k_pairs", "shape_k_heads", cos_b, sin_b)   # [kv_heads, hs]
        v = node("Reshape", [linear(h, f"wv{l}"), "shape_k_heads"])
        kc = node("ScatterND", [f"k_cache_{l}", idx, k], outs=[f"k_cache_out_{l}"])
        vc = node("ScatterND", [f"v_cache_{l}", idx, v], outs=[f"v_cache_out_{l}"])
        qg = node("Reshape", [q, "shape_q_groups"])                                       # [kv_heads, group, hs]
        s = node("MatMul", [qg, node("Transpose", [kc], perm=[0, 2, 1])])                 # [kv_heads, group, context]
        s = node("Add", [node("Mul", [s, "scale"]), mask])
        att = node("MatMul", [node("Softmax", [s], axis=-1), vc])                        # [kv_heads, group, hs]
        x = node("Add", [x, linear(node("Reshape", [att, "shape_dim"]), f"wo{l}")])
        h = rmsnorm(x, const(f"ffn_norm{l}", W[f"ffn_norm{l}"]))
        a = linear(h, f"w1{l}")
        g = node("Mul", [node("Mul", [a, node("Sigmoid", [a])]), linear(h, f"w3{l}")])
        x = node("Add", [x, linear(g, f"w2{l}")])
    x = rmsnorm(x, const("final_norm", W["final_norm"]))
    node("MatMul", [x, const("cls_t", np.ascontiguousarray(W["cls"].T))], outs=["logits"])

    graph = helper.make_graph(nodes, "llama_decode_step", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln models/llm")
    model.ir_version = 8
    onnx.checker.check_model(model)

    blob = [struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, context), W["emb"].tobytes()]
    for name in ("att_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"):
        blob += [W[f"{name}{l}"].tobytes() for l in range(layers)]
    blob += [W["final_norm"].tobytes(), W["cls"].tobytes()]
    return model, b"".join(blob)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "out", "llm"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dim", type=int, default=288)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--context", type=int, default=256)
    a = ap.parse_args()
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        ap.error("dim must split into heads of even size, heads into kv-heads groups")
    model, blob = build(a.dim, a.hidden, a.layers, a.heads, a.kv_heads, a.vocab, a.context, a.seed)
    os.makedirs(a.out, exist_ok=True)
    onnx.save(model, os.path.join(a.out, "decoder.onnx"))
    with open(os.path.join(a.out, "weights.bin"), "wb") as f:
        f.write(blob)
    print(f"wrote {a.out}/decoder.onnx and weights.bin ({len(blob) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
