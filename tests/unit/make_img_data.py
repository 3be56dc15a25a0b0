"""make_img_data.py: writes tests/unit/img_data.h for test_img.c.

An 18x13 RGB image (a gradient with noise) as a PNG and as a 4:2:0 JPEG
with restart markers, both written by Pillow, and the pixels Pillow decodes
from each (the ONNX reference's decoder):

    python3 tests/unit/make_img_data.py
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image


def array(name, data):
    data = bytes(data)
    rows = ["    " + ", ".join(str(v) for v in data[i:i + 16]) + "," for i in range(0, len(data), 16)]
    return "static const uint8_t %s[%d] = {\n%s\n};\n" % (name, len(data), "\n".join(rows))


def main():
    rng = np.random.RandomState(3)
    y, x = np.mgrid[0:13, 0:18]
    wave = 127 + 100 * np.sin(x[..., None] * 0.4 + y[..., None] * 0.25 + np.arange(3))
    img = Image.fromarray((wave + rng.randint(-20, 21, (13, 18, 3))).clip(0, 255).astype(np.uint8), "RGB")
    png, jpeg = io.BytesIO(), io.BytesIO()
    img.save(png, format="PNG", compress_level=9)
    img.save(jpeg, format="JPEG", quality=70, subsampling=2, restart_marker_blocks=3)
    text = ["/* img_data.h: written by make_img_data.py (Pillow); do not edit. */"]
    for name, data in (("png", png.getvalue()), ("jpeg", jpeg.getvalue())):
        text.append(array("img_" + name, data))
        text.append(array("img_" + name + "_pixels", np.array(Image.open(io.BytesIO(data))).tobytes()))
    (Path(__file__).resolve().parent / "img_data.h").write_text("\n".join(text))


if __name__ == "__main__":
    main()
