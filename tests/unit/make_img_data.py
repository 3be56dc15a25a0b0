"""make_img_data.py: writes tests/unit/img/ for test_img.c.

An 18x13 RGB image (a gradient with noise) as a PNG and as a 4:2:0 JPEG
with restart markers, both written by Pillow, and the pixels Pillow decodes
from each (the ONNX reference's decoder), raw RGB bytes:

    python3 tests/unit/make_img_data.py   (photo.png, photo.png.rgb,
                                            photo.jpg, photo.jpg.rgb)
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    rng = np.random.RandomState(3)
    y, x = np.mgrid[0:13, 0:18]
    wave = 127 + 100 * np.sin(x[..., None] * 0.4 + y[..., None] * 0.25 + np.arange(3))
    img = Image.fromarray((wave + rng.randint(-20, 21, (13, 18, 3))).clip(0, 255).astype(np.uint8), "RGB")
    png, jpeg = io.BytesIO(), io.BytesIO()
    img.save(png, format="PNG", compress_level=9)
    img.save(jpeg, format="JPEG", quality=70, subsampling=2, restart_marker_blocks=3)
    out = Path(__file__).resolve().parent / "img"
    out.mkdir(exist_ok=True)
    for name, data in (("photo.png", png.getvalue()), ("photo.jpg", jpeg.getvalue())):
        (out / name).write_bytes(data)
        (out / (name + ".rgb")).write_bytes(np.array(Image.open(io.BytesIO(data))).tobytes())


if __name__ == "__main__":
    main()
