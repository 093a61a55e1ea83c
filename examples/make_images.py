"""Write the example digit images in ``examples/images/`` (deterministic; needs scikit-learn).

For each digit 0-9 it takes the first held-out ``load_digits`` sample of that digit (the split
``demo/build_vit.py`` trains without) and draws it exactly as training does, but at 128x128:
an RGB PNG that the client shrinks to 32x32 with ``cv2.resize``, which gives back the
training drawing pixel for pixel.  PNGs are written with zlib alone, so no imaging library.

    python examples/make_images.py [--out examples/images] [--size 128]
"""

from __future__ import annotations

import argparse
import importlib.util
import struct
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent


def load_build_vit() -> ModuleType:
    """Import ``demo/build_vit.py`` (not a package) for its split and drawing."""
    path = HERE.parent / "demo" / "build_vit.py"
    spec = importlib.util.spec_from_file_location("build_vit", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_bytes(image: npt.NDArray[np.uint8]) -> bytes:
    """Encode an HxWx3 uint8 RGB image as a PNG (8-bit, no filtering, no interlace)."""
    height, width, _ = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + image[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=HERE / "images")
    parser.add_argument("--size", type=int, default=128, help="a multiple of 32 (default 128)")
    args = parser.parse_args(argv)
    if args.size % 32:
        parser.error("--size must be a multiple of 32, so the client's resize is exact")

    build_vit = load_build_vit()
    _, _, x_test, y_test = build_vit.load_split()
    args.out.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        index = int(np.flatnonzero(y_test == digit)[0])
        image: npt.NDArray[Any] = build_vit.draw(x_test[index], size=args.size)[0]
        path = args.out / f"digit_{digit}.png"
        path.write_bytes(png_bytes(image))
        print(f"{path} (held-out sample {index})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
