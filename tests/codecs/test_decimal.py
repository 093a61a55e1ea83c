"""The per-value float formatting for small outputs equals the batch formatting for large ones."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shiba.codecs import _decimal


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=32))
def test_small_path_equals_batch_path(bits: list[int]) -> None:
    values = np.array(bits, dtype=np.uint32).view(np.float32)
    values = np.where(np.isnan(values), np.float32("nan"), values)  # quiet NaNs only
    small = _decimal.float_texts(values)
    with mock.patch.object(_decimal, "_SMALL", -1):
        batch = _decimal.float_texts(values)
    assert small == batch


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
