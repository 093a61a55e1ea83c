"""float32 formatting: the compiled writer, the per-value loop for small outputs and the batch
formatting for large ones all give the same text."""

from __future__ import annotations

from unittest import mock

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiba.codecs import _decimal, _fast


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=32))
def test_small_path_equals_batch_path(bits: list[int]) -> None:
    values = np.array(bits, dtype=np.uint32).view(np.float32)
    values = np.where(np.isnan(values), np.float32("nan"), values)  # quiet NaNs only
    small = _decimal.reference_float_texts(values)
    with mock.patch.object(_decimal, "_SMALL", -1):
        batch = _decimal.reference_float_texts(values)
    assert small == batch


def quiet(bits: list[int]) -> npt.NDArray[np.float32]:
    values = np.array(bits, dtype=np.uint32).view(np.float32)
    return np.where(np.isnan(values), np.float32("nan"), values).astype(np.float32)


needs_writer = pytest.mark.skipif(
    _fast.float32_texts(np.zeros(1, np.float32)) is None, reason=str(_fast.UNAVAILABLE_REASON)
)


@needs_writer
@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=64))
def test_compiled_writer_equals_the_reference_on_any_bits(bits: list[int]) -> None:
    values = quiet(bits)
    assert _fast.float32_texts(values) == _decimal.reference_float_texts(values)


@needs_writer
@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True), min_size=1, max_size=16))
def test_compiled_writer_equals_the_reference_on_ordinary_floats(values: list[float]) -> None:
    array = np.array(values, dtype=np.float32)
    assert _fast.float32_texts(array) == _decimal.reference_float_texts(array)


@needs_writer
def test_compiled_writer_reads_any_layout_and_refuses_odd_buffers() -> None:
    grid = (np.arange(12, dtype=np.float32).reshape(3, 4) / 7).astype(np.float32)
    assert _fast.float32_texts(grid.T) == _decimal.reference_float_texts(grid.T)
    from shiba.codecs._fastjson import float32_texts

    with pytest.raises(ValueError, match="multiple of 4"):
        float32_texts(b"abc")
    with pytest.raises(TypeError):
        float32_texts("not a buffer")  # type: ignore[arg-type]


def test_edges() -> None:
    values = np.array(
        [3.4028235e38, 1e-45, np.nan, np.inf, -np.inf, 0.1, 3.0, -0.0, 16777217.0], np.float32
    )
    assert _decimal.float_texts(values) == [
        "3.40282347e+38",
        "1.4013e-45",
        "NaN",
        "Infinity",
        "-Infinity",
        "0.1",
        "3.0",
        "-0.0",
        "16777216.0",
    ]
