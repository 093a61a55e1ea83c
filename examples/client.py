"""Classify one image with the ``ViT`` demo model over TensorFlow Serving's REST API.

This is the client from the TensorFlow Serving tutorial, made runnable; it works unchanged
against shiba (``make serve``) or ``tensorflow_model_server``.  It prints the predicted digit.

    python examples/client.py examples/images/digit_7.png [--url URL]

The image is read and shrunk exactly as the tutorial does (``cv2.imread`` gives BGR uint8,
``cv2.resize`` to 32x32 is bilinear) and sent as the raw 0-255 integer pixel values.  Without
OpenCV it falls back to Pillow or to a small PNG reader, with a numpy copy of cv2's resize.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_URL = "http://localhost:8501/v1/models/ViT:predict"


def read_png(path: Path) -> npt.NDArray[np.uint8]:
    """Decode an 8-bit, non-interlaced grey/RGB(A) PNG to an HxWx3 BGR array, like cv2.imread."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG (install opencv-python-headless or Pillow)")
    pos, chunks = 8, list[tuple[bytes, bytes]]()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    header = next(body for kind, body in chunks if kind == b"IHDR")
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: unsupported PNG (install opencv-python-headless or Pillow)")
    raw, stride, bpp = zlib.decompress(idat), width * channels, channels
    out = np.zeros((height + 1, stride), dtype=np.int32)  # row 0: the zero row above the image
    for y in range(height):
        kind, row = raw[y * (stride + 1)], raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        line, up = np.frombuffer(row, dtype=np.uint8).astype(np.int32), out[y]
        if kind in (0, 2):
            line = (line + (up if kind == 2 else 0)) & 0xFF
        else:  # Sub, Average, Paeth depend on the pixel to the left: decode byte by byte
            cur = line.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = int(up[i]), int(up[i - bpp]) if i >= bpp else 0
                if kind == 1:
                    cur[i] = (cur[i] + a) & 0xFF
                elif kind == 3:
                    cur[i] = (cur[i] + (a + b) // 2) & 0xFF
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                    cur[i] = (cur[i] + pred) & 0xFF
            line = np.array(cur, dtype=np.int32)
        out[y + 1] = line
    pixels = out[1:].astype(np.uint8).reshape(height, width, channels)
    rgb = np.repeat(pixels[..., :1], 3, axis=2) if channels <= 2 else pixels[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1])


def resize_bilinear(image: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """``cv2.resize(image, (size, size))`` in numpy: bilinear, half-pixel centres, no antialias."""

    def taps(n_in: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[Any]]:
        x = (np.arange(size) + 0.5) * (n_in / size) - 0.5
        lo = np.floor(x)
        frac = np.where(x < 0, 0.0, x - lo)
        lo = np.clip(lo, 0, n_in - 1).astype(np.intp)
        frac = np.where(lo >= n_in - 1, 0.0, frac)
        return lo, np.minimum(lo + 1, n_in - 1), frac

    y0, y1, fy = taps(image.shape[0])
    x0, x1, fx = taps(image.shape[1])
    img = image.astype(np.float64)
    rows = img[y0] * (1 - fy)[:, None, None] + img[y1] * fy[:, None, None]
    out = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    resized: npt.NDArray[np.uint8] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return resized


def load_image(path: Path, size: int = 32) -> npt.NDArray[np.uint8]:
    """Read ``path`` as BGR uint8 and resize it to ``size`` x ``size``, the way cv2 does."""
    try:
        import cv2
    except ImportError:
        pass
    else:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"{path}: cannot read image")
        return np.asarray(cv2.resize(image, dsize=(size, size)), dtype=np.uint8)
    try:
        from PIL import Image  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        image = read_png(path)
    else:
        with Image.open(path) as opened:
            image = np.asarray(opened.convert("RGB"), dtype=np.uint8)[..., ::-1]
    return resize_bilinear(image, size)


def predict(image: npt.NDArray[np.uint8], url: str) -> int:
    """POST the tutorial's request for one image and return the argmax of its scores."""
    image = np.expand_dims(image, axis=0)
    data = json.dumps({"signature_name": "serving_default", "instances": image.tolist()})
    headers = {"content-type": "application/json"}
    try:
        import requests
    except ImportError:  # the standard library sends the same request
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, data=data.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
    else:
        json_response = requests.post(url, data=data, headers=headers)
        status, text = json_response.status_code, json_response.text
    if status != 200:
        raise RuntimeError(f"HTTP {status} from {url}: {text.strip()}")
    predictions = np.array(json.loads(text)["predictions"])
    return int(np.argmax(predictions[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("image", type=Path, help="an image file, e.g. examples/images/digit_7.png")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    args = parser.parse_args(argv)
    try:
        print(predict(load_image(args.image), args.url))
    except Exception as error:  # any failure: one line on stderr, exit status 1
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
