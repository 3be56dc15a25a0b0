"""make_images.py: bad ImageDecoder inputs for tests/errors (cases_images.txt).

main(out_dir) writes each case into out_dir (tests/errors/cases/images/): a
model and, where kiln check needs it, a test_data_set_0 folder of the
encoded image.
"""
import io
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from PIL import Image


def case(out, name, data, pixel_format="RGB", with_data=True):
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    x = np.frombuffer(data, np.uint8)
    node = helper.make_node("ImageDecoder", ["data"], ["y"], name="dec_1", pixel_format=pixel_format)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("data", TensorProto.UINT8, [len(x)])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, None)])
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=[helper.make_opsetid("", 20)])
    m.ir_version = 9
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    if with_data:
        with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x, "data").SerializeToString())
        # never compared: kiln stops at the image's header
        with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.zeros(1, np.uint8), "y").SerializeToString())


def const_case(out, name, data):
    """The image a constant (an initializer): kiln folds the decode."""
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    node = helper.make_node("ImageDecoder", ["data"], ["y"], name="dec_1")
    g = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
                          initializer=[numpy_helper.from_array(np.frombuffer(data, np.uint8), "data")])
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=[helper.make_opsetid("", 20)])
    m.ir_version = 9
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(m.SerializeToString())


def main(out):
    img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "RGB")
    jpeg, png16, bmp = io.BytesIO(), io.BytesIO(), io.BytesIO()
    img.save(jpeg, format="JPEG", progressive=True)
    Image.fromarray(np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000).save(png16, format="PNG")
    img.save(bmp, format="BMP")
    case(out, "jpeg_progressive", jpeg.getvalue())          # not baseline: unsupported
    case(out, "png16", png16.getvalue())                    # 16-bit samples: unsupported
    case(out, "bmp_truncated", bmp.getvalue()[:70])         # pixels past the end
    case(out, "bmp_bad_format", bmp.getvalue(), "CMYK")     # no such pixel_format
    case(out, "unknown", b"not an image at all", "RGB")     # no known magic
    case(out, "no_data", bmp.getvalue(), with_data=False)   # kiln compile: header unknown
    good = io.BytesIO()
    img.save(good, format="PNG")
    bad = good.getvalue()[:33] + bytes(len(good.getvalue()) - 33)
    const_case(out, "png_const_corrupt", bad)               # folded at compile time: corrupt
