"""tests/scale/make_graph.py SHAPE N OUT: a graph of N nodes on a float[4] input.

chain: N elementwise nodes (Relu, Neg alternating), each reading the last.
wide:  N/2 nodes all reading the input (N/2 values live at once), then a
       chain of N/2 - 1 Adds summing them.
"""
import sys

from onnx import TensorProto, helper, save


def main():
    shape, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    nodes = []
    if shape == "chain":
        prev = "x"
        for i in range(n):
            nodes.append(helper.make_node("Relu" if i % 2 == 0 else "Neg", [prev], ["v%d" % i]))
            prev = "v%d" % i
    elif shape == "wide":
        m = n // 2
        for i in range(m):
            nodes.append(helper.make_node("Relu" if i % 2 else "Neg", ["x"], ["a%d" % i]))
        prev = "a0"
        for i in range(1, m):
            nodes.append(helper.make_node("Add", [prev, "a%d" % i], ["s%d" % i]))
            prev = "s%d" % i
    else:
        sys.exit("make_graph.py: shape is chain or wide, not %r" % shape)
    g = helper.make_graph(nodes, "scale",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [4])])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out)


if __name__ == "__main__":
    main()
