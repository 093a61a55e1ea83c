"""Predict answers laid out byte for byte as TF Serving's RapidJSON ``PrettyWriter`` writes them.

json_tensor.cc's ``MakeRowFormatJsonFromTensors`` writes ``{"predictions": [...]}`` and switches
the writer to ``kFormatSingleLineArray`` for each instance, so every instance sits on the
``predictions`` line (``[3.0, 3.5, 4.0`` then a newline and ``]``), or, with several outputs,
every instance is an object with one key per line. ``MakeColumnarFormatJsonFromTensors`` keeps the
default format: every array element on its own line, indented 4 spaces per open container.

The writer's state is a pure function of the container depth and the current format, so whole
arrays are rendered with string joins instead of one writer call per value.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.codecs._decimal import double_texts, float_texts
from shiba.codecs._rapidjson import quote, text_of, utf8
from shiba.codecs._tensor_build import dtype_name
from shiba.core.errors import InvalidArgument
from shiba.core.tensors import DType

__all__ = ["columnar_text", "row_text"]

_BYTES_SUFFIX = "_bytes"


def _indent(depth: int) -> str:
    return " " * (4 * depth)


def _type_name(dtype: np.dtype[Any]) -> str:
    try:
        return dtype_name(DType.from_numpy(dtype))
    except TypeError:
        return str(dtype)


def _write_error(dtype: np.dtype[Any]) -> InvalidArgument:
    return InvalidArgument(f"Failed to write JSON value for tensor type: {_type_name(dtype)}")


def _string_tokens(name: str, array: npt.NDArray[Any], leaf_depth: int) -> list[str]:
    texts = []
    for element in array.ravel().tolist():
        if not isinstance(element, (bytes, str)):
            raise _write_error(np.dtype(object))
        texts.append(element)
    if not name.endswith(_BYTES_SUFFIX):
        return [quote(text_of(text)) for text in texts]
    # A "_bytes" output: each value is the object {"b64": ...}, which the writer lays out over
    # lines even inside a single-line array (AddSingleValueAndAdvance).
    opening = "{\n" + _indent(leaf_depth + 1) + '"b64": "'
    closing = '"\n' + _indent(leaf_depth) + "}"
    return [
        opening
        + base64.b64encode(text if isinstance(text, bytes) else utf8(text)).decode()
        + closing
        for text in texts
    ]


def _tokens(name: str, array: npt.NDArray[Any], leaf_depth: int) -> list[str]:
    """Each value's JSON text, row-major (AddSingleValueAndAdvance's switch on the dtype)."""
    dtype = array.dtype
    if dtype.kind in "OSU":
        return _string_tokens(name, array, leaf_depth)
    if array.size == 0:
        return []
    if dtype == np.float32:
        return float_texts(array)
    if dtype == np.float64:
        return double_texts(array)
    if dtype.kind == "b":
        return ["true" if value else "false" for value in array.ravel().tolist()]
    if dtype.kind in "iu" and dtype != np.uint16:
        return [str(value) for value in array.ravel().tolist()]
    raise _write_error(dtype)


def _nest(tokens: list[str], shape: Sequence[int], depth: int, single_line: bool) -> str:
    """The nested arrays of ``tokens`` in ``shape``, written into a container at ``depth``."""
    if not shape:
        return tokens[0]
    items = tokens
    for axis in range(len(shape) - 1, -1, -1):
        size = shape[axis]
        groups = math.prod(shape[:axis])
        if single_line:
            items = [
                "[" + ", ".join(items[group * size : (group + 1) * size]) + "]"
                for group in range(groups)
            ]
            continue
        inner = depth + 1 + axis
        opening = "[\n" + _indent(inner)
        separator = ",\n" + _indent(inner)
        closing = "\n" + _indent(inner - 1) + "]"
        items = [
            opening + separator.join(items[group * size : (group + 1) * size]) + closing
            if size
            else "[]"
            for group in range(groups)
        ]
    return items[0]


def _key(name: str) -> str:
    return quote(text_of(name))


def columnar_text(outputs: Mapping[str, npt.NDArray[Any]]) -> str:
    """MakeColumnarFormatJsonFromTensors: ``{"outputs": value}`` or ``{"outputs": {name: value}}``."""
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return '{\n    "outputs": ' + _tensor_text(name, array, 1, False) + "\n}"
    members = [
        "\n" + _indent(2) + _key(name) + ": " + _tensor_text(name, array, 2, False)
        for name, array in outputs.items()
    ]
    return '{\n    "outputs": {' + ",".join(members) + "\n    }\n}"


def _tensor_text(name: str, array: npt.NDArray[Any], depth: int, single_line: bool) -> str:
    return _nest(_tokens(name, array, depth + array.ndim), array.shape, depth, single_line)


def row_text(outputs: Mapping[str, npt.NDArray[Any]]) -> str:
    """MakeRowFormatJsonFromTensors: ``{"predictions": [instance, ...]}``, split along dim 0."""
    batch_size = -1
    for name, array in outputs.items():
        if array.ndim == 0:
            raise InvalidArgument(f"Tensor name: {name} has no shape information ")
        if batch_size >= 0 and array.shape[0] != batch_size:
            raise InvalidArgument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]}"
                f" expecting: {batch_size}"
            )
        batch_size = array.shape[0]
    if batch_size == 0:
        return '{\n    "predictions": []\n}'
    named = len(outputs) > 1
    # Instances sit in the predictions array (depth 2), or in an object inside it (depth 3).
    depth = 3 if named else 2
    per_output = []
    for name, array in outputs.items():
        tokens = _tokens(name, array, depth + array.ndim - 1)
        step = len(tokens) // batch_size
        shape = array.shape[1:]
        per_output.append(
            [
                _nest(tokens[index * step : (index + 1) * step], shape, depth, True)
                for index in range(batch_size)
            ]
        )
    if not named:
        return '{\n    "predictions": [' + ", ".join(per_output[0]) + "\n    ]\n}"
    keys = [_key(name) for name in outputs]
    instances = [
        "{"
        + ",".join(
            "\n" + _indent(3) + key + ": " + texts[index]
            for key, texts in zip(keys, per_output, strict=True)
        )
        + "\n"
        + _indent(2)
        + "}"
        for index in range(batch_size)
    ]
    return (
        '{\n    "predictions": [\n'
        + _indent(2)
        + (",\n" + _indent(2)).join(instances)
        + "\n    ]\n}"
    )
