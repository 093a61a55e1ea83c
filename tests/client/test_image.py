"""The image helper lays a file out as OpenCV and the seed's client do."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shiba.client import TensorInfo, image_layout, load_image
from shiba.core.tensors import DType
from tests._zoo import IMAGES


def test_same_pixels_as_cv2(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    cv2.imwrite(str(path), picture)
    original = cv2.imread(str(path))
    assert original is not None
    expected = cv2.resize(original, dsize=(32, 24))
    nhwc = load_image(path, TensorInfo("i", DType.DT_UINT8, (-1, 24, 32, 3)))
    assert nhwc.shape == (1, 24, 32, 3) and nhwc.dtype == np.uint8
    assert np.abs(nhwc[0].astype(int) - expected.astype(int)).max() <= 1
    nchw = load_image(path, TensorInfo("i", DType.DT_FLOAT, (-1, 3, 24, 32)))
    np.testing.assert_array_equal(nchw[0], np.transpose(nhwc[0], (2, 0, 1)).astype(np.float32))


def test_grey_and_any_size() -> None:
    grey = load_image(IMAGES / "digit_1.png", TensorInfo("i", DType.DT_INT32, (-1, -1, -1, 1)))
    expected = cv2.imread(str(IMAGES / "digit_1.png"), cv2.IMREAD_GRAYSCALE)
    assert expected is not None
    assert grey.shape == (1, *expected.shape, 1)
    assert np.abs(grey[0, ..., 0] - expected.astype(int)).max() <= 1


def test_layouts() -> None:
    assert image_layout(TensorInfo("i", DType.DT_FLOAT, (-1, 3, 224, 224))) is not None
    assert image_layout(TensorInfo("i", DType.DT_FLOAT, (-1, 10))) is None
    assert image_layout(TensorInfo("i", DType.DT_STRING, (-1, 8, 8, 3))) is None


def test_not_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="cannot read an image"):
        load_image(text, TensorInfo("i", DType.DT_FLOAT, (-1, 8, 8, 3)))
    with pytest.raises(ValueError, match="is not an image input"):
        load_image(text, TensorInfo("x", DType.DT_FLOAT, (-1, 2)))
