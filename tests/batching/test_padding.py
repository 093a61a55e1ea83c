"""Merging inputs and splitting outputs, on their own."""

from __future__ import annotations

import numpy as np
import pytest

from shiba.batching._padding import merge_inputs, padded_batch_size, split_outputs
from shiba.core.errors import Internal


@pytest.mark.parametrize(
    ("allowed", "size", "padded"),
    [((), 5, 5), ((2, 4, 8), 1, 2), ((2, 4, 8), 2, 2), ((2, 4, 8), 3, 4), ((2, 4, 8), 8, 8)],
)
def test_padded_batch_size(allowed: tuple[int, ...], size: int, padded: int) -> None:
    assert padded_batch_size(allowed, size) == padded


def test_merge_concatenates_every_input_in_request_order() -> None:
    a = {"x": np.array([[1, 2]]), "s": np.array([b"a"], dtype=object)}
    b = {"s": np.array([b"b", b"c"], dtype=object), "x": np.array([[3, 4], [5, 6]])}
    merged = merge_inputs([a, b], 3, 3, pad_variable_length=False)
    assert list(merged) == ["x", "s"]
    np.testing.assert_array_equal(merged["x"], [[1, 2], [3, 4], [5, 6]])
    assert list(merged["s"]) == [b"a", b"b", b"c"]


def test_merge_pads_with_the_first_row() -> None:
    a = {"x": np.array([[1, 2]])}
    b = {"x": np.array([[3, 4]])}
    merged = merge_inputs([a, b], 2, 5, pad_variable_length=False)
    np.testing.assert_array_equal(merged["x"], [[1, 2], [3, 4], [1, 2], [1, 2], [1, 2]])
    single = merge_inputs([a], 1, 2, pad_variable_length=False)
    np.testing.assert_array_equal(single["x"], [[1, 2], [1, 2]])


def test_merge_pads_variable_lengths_per_tensor_with_its_first_element() -> None:
    a = {"x": np.array([[[1], [2]]], np.int64)}  # (1, 2, 1)
    b = {"x": np.array([[[7, 8]]], np.int64)}  # (1, 1, 2)
    c = {"x": np.array([[b"q"]], dtype=object)}
    merged = merge_inputs([a, b], 2, 2, pad_variable_length=True)
    np.testing.assert_array_equal(merged["x"], [[[1, 1], [2, 1]], [[7, 8], [7, 7]]])
    strings = merge_inputs(
        [c, {"x": np.array([[b"r", b"s"]], dtype=object)}], 2, 2, pad_variable_length=True
    )
    assert strings["x"].tolist() == [[b"q", b"q"], [b"r", b"s"]]


def test_a_single_request_is_passed_through() -> None:
    inputs = {"x": np.zeros((3, 2))}
    assert merge_inputs([inputs], 3, 3, pad_variable_length=False) is inputs
    outputs = {"y": np.zeros((3, 2))}
    assert split_outputs(outputs, [3], 3) == [outputs]


def test_split_gives_views_and_drops_padding() -> None:
    y = np.arange(12).reshape(6, 2)
    first, second = split_outputs({"y": y, "z": np.arange(6)}, [1, 3], 6)
    np.testing.assert_array_equal(first["y"], [[0, 1]])
    np.testing.assert_array_equal(second["y"], [[2, 3], [4, 5], [6, 7]])
    np.testing.assert_array_equal(second["z"], [1, 2, 3])
    assert np.shares_memory(second["y"], y)


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.float32(1.0), np.zeros(0)])
def test_split_refuses_an_output_without_the_batch_dimension(bad: object) -> None:
    with pytest.raises(Internal, match="'y' has shape"):
        split_outputs({"y": np.asarray(bad)}, [1, 2], 3)
