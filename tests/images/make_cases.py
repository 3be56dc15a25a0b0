"""tests/images/make_cases.py: ImageDecoder's cases, against Pillow.

Writes tests/images/cases/<case>/model.onnx and test_data_set_0/ (the
encoded image and the decoded pixels as TensorProto .pb files). The images
are written by Pillow (and by hand for the layouts Pillow does not write:
top-down and 32-bit BMP, multi-strip and big-endian TIFF); the expected
outputs are what ONNX's reference implementation (onnx.reference, which
decodes with Pillow) computes. Odd widths give BMP rows their padding. other_header.pb is the first BMP
with one header byte changed, for run.sh's run-time guard case.

PNG and JPEG cases cover the filters and stored/compressed deflate blocks,
gray and alpha, 4:4:4, 4:2:2 and 4:2:0 chroma at odd sizes, gray JPEGs and
restart markers. corrupt/<case>/ holds damaged copies of that case's image,
the same length and header (what kiln compiled for), for run.sh's corrupt
data check: fail_*.pb certainly corrupt (model_run must refuse them),
any_*.pb bytes flipped at random (decoded or refused, never a crash).

    python3 tests/images/make_cases.py     (rewrites tests/images/cases/)
"""
import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from PIL import Image

HERE = Path(__file__).resolve().parent / "cases"


def write(name, data, pixel_format):
    node = helper.make_node("ImageDecoder", ["data"], ["y"], pixel_format=pixel_format)
    x = np.frombuffer(data, np.uint8)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("data", TensorProto.UINT8, [len(x)])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    (y,) = ReferenceEvaluator(model).run(None, {"data": x})
    d = HERE / name
    (d / "test_data_set_0").mkdir(parents=True)
    onnx.save(model, str(d / "model.onnx"))
    (d / "test_data_set_0/input_0.pb").write_bytes(numpy_helper.from_array(x, "data").SerializeToString())
    (d / "test_data_set_0/output_0.pb").write_bytes(
        numpy_helper.from_array(np.ascontiguousarray(y), "y").SerializeToString())


def pil(img, fmt):
    b = io.BytesIO()
    img.save(b, format=fmt)
    return b.getvalue()


def bmp(rgb, bits, top_down):
    """An uncompressed BMP (BITMAPINFOHEADER) of rgb [h, w, 3]."""
    h, w, _ = rgb.shape
    stride = (w * bits + 31) // 32 * 4
    rows = []
    for y in (range(h) if top_down else range(h - 1, -1, -1)):
        px = rgb[y, :, ::-1]
        if bits == 32:
            px = np.concatenate([px, np.full((w, 1), 255, np.uint8)], axis=1)
        r = px.tobytes()
        rows.append(r + b"\0" * (stride - len(r)))
    pix = b"".join(rows)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bits, 0, len(pix), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pix), 0, 0, 54) + info + pix


def tiff(rgb, rows_per_strip, big_endian):
    """An uncompressed chunky RGB TIFF of rgb [h, w, 3] in several strips."""
    h, w, _ = rgb.shape
    e = ">" if big_endian else "<"
    nstrips = (h + rows_per_strip - 1) // rows_per_strip
    ntags = 10
    ifd = 8
    extra = ifd + 2 + 12 * ntags + 4
    bits_at, offs_at, cnts_at = extra, extra + 6, extra + 6 + 4 * nstrips
    data_at = cnts_at + 4 * nstrips
    strips = [rgb[s * rows_per_strip:(s + 1) * rows_per_strip].tobytes() for s in range(nstrips)]
    offs, pos = [], data_at
    for s in strips:
        offs.append(pos)
        pos += len(s)

    def tag(t, typ, cnt, val):
        if typ == 3 and cnt == 1:
            return struct.pack(e + "HHIHH", t, typ, cnt, val, 0)
        return struct.pack(e + "HHII", t, typ, cnt, val)
    tags = [tag(256, 4, 1, w), tag(257, 4, 1, h), tag(258, 3, 3, bits_at), tag(259, 3, 1, 1), tag(262, 3, 1, 2),
            tag(273, 4, nstrips, offs_at), tag(277, 3, 1, 3), tag(278, 4, 1, rows_per_strip),
            tag(279, 4, nstrips, cnts_at), tag(284, 3, 1, 1)]
    head = (b"MM\0\x2a" if big_endian else b"II\x2a\0") + struct.pack(e + "I", ifd)
    body = struct.pack(e + "H", ntags) + b"".join(tags) + struct.pack(e + "I", 0)
    body += struct.pack(e + "HHH", 8, 8, 8) + struct.pack(e + "%dI" % nstrips, *offs)
    body += struct.pack(e + "%dI" % nstrips, *[len(s) for s in strips])
    return head + body + b"".join(strips)


def smooth(rng, h, w, c):
    """An image a photo's JPEG statistics: a gradient with some noise."""
    y, x = np.mgrid[0:h, 0:w]
    wave = 127 + 100 * np.sin(x[..., None] * 0.35 + y[..., None] * 0.2 + np.arange(c))
    return (wave + rng.randint(-25, 26, (h, w, c))).clip(0, 255).astype(np.uint8)


def jpeg(img, **kw):
    b = io.BytesIO()
    img.save(b, format="JPEG", **kw)
    return b.getvalue()


def png(img, level):
    b = io.BytesIO()
    img.save(b, format="PNG", compress_level=level)
    return b.getvalue()


def jpeg_scan(data):
    """The offset of a JPEG's entropy-coded data (after the SOS header)."""
    at = 2
    while data[at + 1] != 0xDA:
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return at + 2 + struct.unpack(">H", data[at + 2:at + 4])[0]


def png_chunk(data, kind):
    """The offset and length of the first chunk of that kind's data."""
    at = 8
    while data[at + 4:at + 8] != kind:
        at += 12 + struct.unpack(">I", data[at:at + 4])[0]
    return at + 8, struct.unpack(">I", data[at:at + 4])[0]


def corrupt(case, data, header, fails, rng):
    """fails: name -> a certainly corrupt copy; then 4 copies with random
    bytes after the header changed."""
    d = HERE / "corrupt" / case
    d.mkdir(parents=True)
    copies = dict(("fail_" + k, v) for k, v in fails.items())
    for i in range(4):
        b = bytearray(data)
        for at in rng.randint(header, len(data), 1 + i):
            b[at] = rng.randint(0, 256)
        copies["any_%d" % i] = bytes(b)
    for name, b in copies.items():
        assert len(b) == len(data) and b[:header] == data[:header]
        (d / (name + ".pb")).write_bytes(
            numpy_helper.from_array(np.frombuffer(b, np.uint8), "data").SerializeToString())


def png_fails(data):
    at, n = png_chunk(data, b"IDAT")
    zeros = data[:33] + bytes(len(data) - 33)
    crc = bytearray(data)
    crc[at + n // 2] ^= 0x40
    # a byte of the deflate data changed and the chunk's CRC made right:
    # the first such change zlib refuses
    for k in range(n - 6, 2, -1):
        bad = bytearray(data)
        bad[at + k] ^= 0x81
        try:
            zlib.decompress(bytes(bad[at:at + n]))
        except zlib.error:
            bad[at + n:at + n + 4] = struct.pack(">I", zlib.crc32(bytes(bad[at - 4:at + n])))
            break
    return {"zeros": zeros, "crc": bytes(crc), "deflate": bytes(bad)}


def jpeg_fails(data):
    scan = jpeg_scan(data)
    mid = (scan + len(data)) // 2
    eoi = data[:mid] + b"\xff\xd9" + bytes(len(data) - mid - 2)
    ones = data[:scan] + b"\xff\x00" * ((len(data) - scan) // 2) + bytes((len(data) - scan) % 2)
    rst = bytearray(data)
    first = data.index(b"\xff\xd0", scan)
    rst[first + 1] = 0xD5
    return {"eoi": eoi, "ones": ones, "rst": bytes(rst)}


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    rng = np.random.RandomState(7)
    rgb = rng.randint(0, 256, (13, 19, 3)).astype(np.uint8)
    gray = rng.randint(0, 256, (9, 14)).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    write("bmp24_bottom_up_rgb", pil(img, "BMP"), "RGB")
    write("bmp24_bottom_up_gray", pil(img, "BMP"), "Grayscale")
    write("bmp24_top_down_bgr", bmp(rgb, 24, True), "BGR")
    write("bmp32_rgb", bmp(rgb, 32, False), "RGB")
    write("ppm_bgr", pil(img, "PPM"), "BGR")
    write("ppm_gray", pil(img, "PPM"), "Grayscale")
    write("pgm_gray", pil(Image.fromarray(gray, "L"), "PPM"), "Grayscale")
    write("tiff_pil_gray", pil(img, "TIFF"), "Grayscale")
    write("tiff_strips_rgb", tiff(rgb, 4, False), "RGB")
    write("tiff_big_endian_bgr", tiff(rgb, 5, True), "BGR")
    photo = smooth(rng, 13, 19, 3)
    pimg = Image.fromarray(photo, "RGB")
    write("png_rgb", png(img, 6), "RGB")
    write("png_stored_bgr", png(img, 0), "BGR")
    write("png_gray", png(Image.fromarray(gray, "L"), 9), "Grayscale")
    write("png_rgba_gray", png(Image.fromarray(rng.randint(0, 256, (7, 11, 4)).astype(np.uint8), "RGBA"), 6),
          "Grayscale")
    write("jpeg_444_rgb", jpeg(pimg, quality=90, subsampling=0), "RGB")
    write("jpeg_422_bgr", jpeg(pimg, quality=75, subsampling=1), "BGR")
    write("jpeg_420_gray", jpeg(pimg, quality=60, subsampling=2), "Grayscale")
    write("jpeg_gray", jpeg(Image.fromarray(smooth(rng, 9, 14, 1)[..., 0], "L"), quality=85), "Grayscale")
    restart = jpeg(Image.fromarray(smooth(rng, 21, 35, 3), "RGB"), quality=80, subsampling=2,
                   restart_marker_blocks=2)
    write("jpeg_restart_rgb", restart, "RGB")
    corrupt("png_rgb", png(img, 6), 33, png_fails(png(img, 6)), rng)
    corrupt("jpeg_restart_rgb", restart, jpeg_scan(restart), jpeg_fails(restart), rng)
    # run.sh's guard case: the first image with another resolution in its
    # header, which the code compiled for the first must refuse
    other = bytearray(pil(img, "BMP"))
    other[38] ^= 1
    (HERE / "other_header.pb").write_bytes(
        numpy_helper.from_array(np.frombuffer(bytes(other), np.uint8), "data").SerializeToString())


if __name__ == "__main__":
    main()
