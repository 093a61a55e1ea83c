"""v2 tensors: JSON data and binary data both ways, against numpy as the reference."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shiba.codecs.v2 import tensors
from shiba.codecs.v2.infer import decode_infer
from shiba.core.errors import InvalidArgument

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NUMERIC = [name for name in tensors.DATATYPES if name != "BYTES"]


@st.composite
def arrays(draw: st.DrawFn) -> npt.NDArray[Any]:
    datatype = draw(st.sampled_from(list(tensors.DATATYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    if datatype == "BYTES":
        count = int(np.prod(shape))
        values = [draw(st.binary(max_size=8)) for _ in range(count)]
        array = np.empty(count, dtype=object)
        array[:] = values
        return array.reshape(shape)
    dtype = tensors.DATATYPES[datatype]
    elements = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False)
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _request(array: npt.NDArray[Any], binary: bool) -> tuple[bytes, int | None]:
    datatype = tensors.datatype_of(array)
    entry: dict[str, Any] = {"name": "x", "shape": list(array.shape), "datatype": datatype}
    if binary:
        blob = tensors.to_binary(array)
        entry["parameters"] = {"binary_data_size": len(blob)}
        header = json.dumps({"inputs": [entry]}).encode()
        return header + blob, len(header)
    entry["data"] = json.loads(tensors.to_json_data(array, "x"))
    return json.dumps({"inputs": [entry]}).encode(), None


@SETTINGS
@given(arrays(), st.booleans())
def test_a_tensor_survives_the_wire_both_ways(array: npt.NDArray[Any], binary: bool) -> None:
    if not binary and array.dtype == object:
        array = np.vectorize(lambda b: b.hex().encode(), otypes=[object])(array)
    body, header = _request(array, binary)
    decoded = decode_infer(body, header).inputs["x"]
    assert decoded.shape == array.shape
    assert tensors.datatype_of(decoded) == tensors.datatype_of(array)
    assert decoded.tolist() == array.tolist()


@pytest.mark.parametrize("datatype", NUMERIC)
def test_nested_and_flat_data_give_one_array(datatype: str) -> None:
    value = [[True, False], [False, True]] if datatype == "BOOL" else [[1, 0], [0, 1]]
    nested = tensors.from_json_data(value, datatype, (2, 2), "x")
    flat = tensors.from_json_data([v for row in value for v in row], datatype, (2, 2), "x")
    assert nested.dtype == tensors.DATATYPES[datatype] == flat.dtype
    assert nested.tolist() == flat.tolist() == value


def test_the_compiled_reader_and_lists_agree() -> None:
    as_array = tensors.from_json_data(np.array([1.5, 2.0]), "FP32", (2,), "x")
    as_list = tensors.from_json_data([1.5, 2], "FP32", (2,), "x")
    assert as_array.dtype == as_list.dtype == np.float32
    assert as_array.tolist() == as_list.tolist()


@pytest.mark.parametrize(
    ("data", "datatype", "shape", "message"),
    [
        ([1.5], "INT32", (1,), "expects integers"),
        (np.array([1.5]), "INT32", (1,), "expects integers"),
        ([300], "UINT8", (1,), "out of the range of UINT8"),
        (np.array([-1]), "UINT32", (1,), "out of the range"),
        ([1], "BOOL", (1,), "expects true or false"),
        (np.array([1]), "BOOL", (1,), "expects true or false"),
        ([True], "FP32", (1,), "expects numbers"),
        ([1], "BYTES", (1,), "expects strings"),
        (np.array([1]), "BYTES", (1,), "expects strings"),
        ([1, 2, 3], "FP32", (2, 2), "shape [2, 2] holds 4, 'data' has 3"),
        ("abc", "FP32", (1,), "must be an array"),
        ([1], "FP8", (1,), "invalid datatype 'FP8'"),
    ],
)
def test_bad_json_data_is_refused_by_name(
    data: object, datatype: str, shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        tensors.from_json_data(data, datatype, shape, "x")
    assert message in info.value.message


def test_a_deep_nest_is_refused_not_recursed() -> None:
    data: list[Any] = [1.0]
    for _ in range(100):
        data = [data]
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        tensors.from_json_data(data, "FP32", (1,), "x")


@pytest.mark.parametrize(
    ("blob", "datatype", "shape", "message"),
    [
        (b"\x00" * 7, "FP32", (2,), "has 7 bytes of binary data, but shape [2] of FP32 needs 8"),
        (b"\x02", "BOOL", (1,), "bytes other than 0, 1"),
        (b"\x01\x00", "BYTES", (1,), "ends inside an element's length"),
        (struct.pack("<I", 5) + b"abc", "BYTES", (1,), "runs past the end"),
        (struct.pack("<I", 1) + b"a", "BYTES", (2,), "holds 1 elements, but its shape holds 2"),
    ],
)
def test_bad_binary_data_is_refused(
    blob: bytes, datatype: str, shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        tensors.from_binary(memoryview(blob), datatype, shape, "x")
    assert message in info.value.message


def test_json_output_prints_each_type_as_itself() -> None:
    assert tensors.to_json_data(np.array([0.1, 2], np.float32), "y") == b"[0.1,2.0]"
    assert tensors.to_json_data(np.array([np.nan, -np.inf], np.float64), "y") == (
        b"[NaN,-Infinity]"
    )
    assert tensors.to_json_data(np.array([[1, 2]], np.uint64), "y") == b"[1,2]"
    assert tensors.to_json_data(np.array([b"a", "b"], dtype=object), "y") == b'["a","b"]'
    with pytest.raises(InvalidArgument, match="not UTF-8, which JSON cannot carry"):
        tensors.to_json_data(np.array([b"\xff"], dtype=object), "y")


def test_binary_output_is_little_endian_with_length_prefixes() -> None:
    assert tensors.to_binary(np.array([1, 2], np.int16)) == b"\x01\x00\x02\x00"
    strings = np.array([b"ab", b""], dtype=object)
    assert tensors.to_binary(strings) == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0)
