"""An image file laid out as a signature's image input wants it, as the seed's client does.

An *image input* is a rank-4 tensor ``[-1, H, W, C]`` (NHWC) or ``[-1, C, H, W]`` (NCHW) with
``C`` of 1, 3 or 4, of an integer or float type. :func:`image_layout` says whether a
:class:`~shiba.client.TensorInfo` is one; :func:`load_image` reads a file into it:

- decoded by Pillow, channels in OpenCV's order as ``cv2.imread`` gives them (BGR, BGRA; one
  channel: grey, ITU-R 601 luma as OpenCV's ``COLOR_BGR2GRAY``);
- resized to ``H`` x ``W`` (a ``-1`` keeps the image's own size) by bilinear interpolation with
  half-pixel centres and no antialiasing, which is ``cv2.resize``'s default, rounded to integers;
- the raw 0-255 values, cast to the input's dtype (no scaling: the demo ViT rescales itself),
  with a batch dimension of 1.

The web application does the same in the browser (``shiba/app/static/app.js``), so the two
send the same numbers for one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.client._types import TensorInfo
from shiba.core.tensors import DType

__all__ = ["ImageLayout", "image_layout", "load_image", "resize_bilinear", "read_image"]

_CHANNELS = (1, 3, 4)
_NUMERIC = frozenset(
    {
        DType.DT_FLOAT,
        DType.DT_DOUBLE,
        DType.DT_HALF,
        DType.DT_UINT8,
        DType.DT_INT8,
        DType.DT_UINT16,
        DType.DT_INT16,
        DType.DT_INT32,
        DType.DT_INT64,
    }
)


@dataclass(frozen=True, slots=True)
class ImageLayout:
    """Where an image goes in a tensor: ``channels_first`` (NCHW) or not (NHWC), the height and
    width (``-1``: any), and the number of channels."""

    channels_first: bool
    height: int
    width: int
    channels: int


def image_layout(info: TensorInfo) -> ImageLayout | None:
    """The layout of an image input, or ``None`` when ``info`` is not one (NHWC is preferred
    when both readings fit, as ``[-1, 3, 3, 3]`` does)."""
    shape = info.shape
    if info.dtype not in _NUMERIC or shape is None or len(shape) != 4:
        return None
    if shape[3] in _CHANNELS:
        return ImageLayout(False, shape[1], shape[2], shape[3])
    if shape[1] in _CHANNELS:
        return ImageLayout(True, shape[2], shape[3], shape[1])
    return None


def read_image(path: Path, channels: int = 3) -> npt.NDArray[np.uint8]:
    """The image at ``path`` as ``H x W x channels`` uint8, in OpenCV's channel order.

    Raises ``ValueError`` naming the file when it is not an image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            rgba = np.asarray(opened.convert("RGBA"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: cannot read an image from this file ({exc})") from None
    if channels == 1:
        weights = np.array([0.299, 0.587, 0.114])
        grey = np.rint(rgba[..., :3].astype(np.float64) @ weights)
        single: npt.NDArray[np.uint8] = np.clip(grey, 0, 255).astype(np.uint8)[..., None]
        return single
    bgr = rgba[..., [2, 1, 0, 3]] if channels == 4 else rgba[..., [2, 1, 0]]
    return np.ascontiguousarray(bgr)


def resize_bilinear(image: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[np.uint8]:
    """``cv2.resize(image, (width, height))``: bilinear, half-pixel centres, no antialias."""

    def taps(n_in: int, n_out: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], Any]:
        x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        low = np.floor(x)
        frac = np.where(x < 0, 0.0, x - low)
        low = np.clip(low, 0, n_in - 1).astype(np.intp)
        frac = np.where(low >= n_in - 1, 0.0, frac)
        return low, np.minimum(low + 1, n_in - 1), frac

    y0, y1, fy = taps(image.shape[0], height)
    x0, x1, fx = taps(image.shape[1], width)
    pixels = image.astype(np.float64)
    rows = pixels[y0] * (1 - fy)[:, None, None] + pixels[y1] * fy[:, None, None]
    out = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    resized: npt.NDArray[np.uint8] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return resized


def load_image(path: str | Path, info: TensorInfo) -> npt.NDArray[Any]:
    """The image at ``path`` as a batch of one for the image input ``info``.

    Raises ``ValueError`` when ``info`` is not an image input (saying what shape would be) or
    the file is not an image."""
    layout = image_layout(info)
    if layout is None:
        raise ValueError(
            f"input {info.name!r} ({info.dtype.name} {list(info.shape or [])}) is not an image "
            "input; one is [-1, H, W, C] or [-1, C, H, W] with C of 1, 3 or 4, integer or float"
        )
    pixels = read_image(Path(path), layout.channels)
    height = layout.height if layout.height > 0 else pixels.shape[0]
    width = layout.width if layout.width > 0 else pixels.shape[1]
    if (height, width) != pixels.shape[:2]:
        pixels = resize_bilinear(pixels, height, width)
    if layout.channels_first:
        pixels = np.transpose(pixels, (2, 0, 1))
    return np.ascontiguousarray(pixels[None], dtype=info.numpy_dtype)
