"""One Open Inference Protocol tensor to numpy and back: JSON ``data`` and binary tensor data.

Datatypes are the protocol's names (``BOOL``, ``UINT8``...``UINT64``, ``INT8``...``INT64``,
``FP16``, ``FP32``, ``FP64``, ``BYTES``); :func:`numpy_dtype` maps them. ``BYTES`` tensors are
``object`` arrays of ``bytes``. Binary data is little-endian and row-major; ``BOOL`` is one byte
per element; ``BYTES`` elements are each a 4-byte little-endian length followed by the bytes
(the binary tensor data extension). Every problem with a tensor raises
:class:`~shiba.core.errors.InvalidArgument` naming the tensor. Pure functions; no I/O.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from shiba.core.errors import InvalidArgument, Unimplemented
from shiba.core.tensors import DType

__all__ = [
    "DATATYPES",
    "numpy_dtype",
    "datatype_of",
    "output_datatype",
    "element_count",
    "check_range",
    "from_json_data",
    "from_binary",
    "to_json_data",
    "to_binary",
]

_LENGTH = struct.Struct("<I")

#: The protocol's datatypes shiba reads and writes, each with its numpy dtype (little-endian).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_NUMPY_OPTION = orjson.OPT_SERIALIZE_NUMPY


def numpy_dtype(datatype: str, tensor: str) -> np.dtype[Any]:
    """The numpy dtype of a datatype name; InvalidArgument naming ``tensor`` if unknown."""
    try:
        return DATATYPES[datatype]
    except (KeyError, TypeError):
        known = ", ".join(DATATYPES)
        raise InvalidArgument(
            f"invalid datatype {datatype!r} for tensor '{tensor}': expected one of {known}"
        ) from None


_NAMES: dict[np.dtype[Any], str] = {dtype: name for name, dtype in DATATYPES.items()}


def datatype_of(array: npt.NDArray[Any]) -> str:
    """The protocol's datatype of an array (strings of any kind are ``BYTES``)."""
    name = _NAMES.get(array.dtype)
    if name is not None:
        return name
    if array.dtype.kind in ("O", "S", "U"):
        return "BYTES"
    return DType.from_numpy(array.dtype).v2_name


def output_datatype(array: npt.NDArray[Any], tensor: str) -> str:
    """The protocol's datatype of output ``tensor``; Unimplemented naming it when the protocol
    has none for its dtype (complex numbers...), which an answer could not carry."""
    try:
        datatype = datatype_of(array)
    except TypeError:
        datatype = ""
    if not datatype:
        raise Unimplemented(
            f"output '{tensor}' is of dtype {array.dtype}, for which the Open Inference Protocol"
            " has no datatype"
        )
    return datatype


def element_count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def from_json_data(
    data: object, datatype: str, shape: tuple[int, ...], tensor: str
) -> npt.NDArray[Any]:
    """The array of a JSON tensor's ``data``: flat or nested (row-major), as ``shape``.

    ``data`` is what the JSON reader gave: a list, or an ndarray for a numeric nest read by the
    compiled reader (int64 for integer literals, else float64). Integers must fit the datatype;
    floating-point datatypes take any number; ``BOOL`` takes ``true``/``false``; ``BYTES`` takes
    strings (sent as UTF-8).
    """
    dtype = numpy_dtype(datatype, tensor)
    if isinstance(data, np.ndarray):
        values = _from_numbers(data.reshape(-1), datatype, dtype, tensor)
    elif isinstance(data, list):
        values = _from_leaves(_leaves(data, tensor), datatype, dtype, tensor)
    else:
        raise InvalidArgument(f"'data' of input '{tensor}' must be an array")
    count = element_count(shape)
    if values.size != count:
        raise InvalidArgument(
            f"unexpected number of elements in input '{tensor}': shape "
            f"{list(shape)} holds {count}, 'data' has {values.size}"
        )
    return values.reshape(shape)


def _leaves(data: list[Any], tensor: str) -> list[Any]:
    if not any(type(v) is list for v in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                if len(stack) > 64:
                    raise InvalidArgument(f"'data' of input '{tensor}' is nested too deeply")
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def _type_error(datatype: str, tensor: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"input '{tensor}' of datatype {datatype} expects {what} in 'data'")


def _from_numbers(
    values: npt.NDArray[Any], datatype: str, dtype: np.dtype[Any], tensor: str
) -> npt.NDArray[Any]:
    kind = dtype.kind
    if kind == "f":
        return values.astype(dtype)
    if kind in ("i", "u"):
        if values.dtype.kind != "i":
            raise _type_error(datatype, tensor, "integers")
        check_range(int(values.min(initial=0)), int(values.max(initial=0)), datatype, tensor)
        return values.astype(dtype)
    if kind == "b":
        raise _type_error(datatype, tensor, "true or false")
    raise _type_error(datatype, tensor, "strings")


def check_range(low: int, high: int, datatype: str, tensor: str) -> None:
    """InvalidArgument naming ``tensor`` unless ``low`` and ``high`` (the smallest and largest
    value) fit integer ``datatype``."""
    info = np.iinfo(DATATYPES[datatype])
    if low < int(info.min) or high > int(info.max):
        raise InvalidArgument(
            f"a value of input '{tensor}' is out of the range of {datatype} "
            f"[{info.min}, {info.max}]"
        )


def _from_leaves(
    leaves: list[Any], datatype: str, dtype: np.dtype[Any], tensor: str
) -> npt.NDArray[Any]:
    kind = dtype.kind
    if kind == "b":
        if not all(type(v) is bool for v in leaves):
            raise _type_error(datatype, tensor, "true or false")
        return np.array(leaves, dtype=dtype).reshape(-1)
    if kind in ("i", "u"):
        if not all(type(v) is int for v in leaves):
            raise _type_error(datatype, tensor, "integers")
        if leaves:
            check_range(min(leaves), max(leaves), datatype, tensor)
        return np.array(leaves, dtype=dtype).reshape(-1)
    if kind == "f":
        if not all(type(v) is float or type(v) is int for v in leaves):
            raise _type_error(datatype, tensor, "numbers")
        return np.array(leaves, dtype=np.float64).astype(dtype).reshape(-1)
    if not all(type(v) is str for v in leaves):
        raise _type_error(datatype, tensor, "strings")
    array = np.empty(len(leaves), dtype=object)
    array[:] = [v.encode("utf-8", "surrogateescape") for v in leaves]
    return array


def from_binary(
    data: memoryview, datatype: str, shape: tuple[int, ...], tensor: str
) -> npt.NDArray[Any]:
    """The array of a tensor sent as ``binary_data_size`` bytes (``data``, exactly those)."""
    dtype = numpy_dtype(datatype, tensor)
    count = element_count(shape)
    if datatype == "BYTES":
        return _bytes_elements(data, count, tensor).reshape(shape)
    want = count * dtype.itemsize
    if len(data) != want:
        raise InvalidArgument(
            f"input '{tensor}' has {len(data)} bytes of binary data, but shape {list(shape)} of "
            f"{datatype} needs {want}"
        )
    if datatype == "BOOL":
        raw = np.frombuffer(data, dtype=np.uint8)
        if raw.size and int(raw.max()) > 1:
            raise InvalidArgument(f"input '{tensor}' of datatype BOOL holds bytes other than 0, 1")
        return raw.view(np.bool_).reshape(shape)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _bytes_elements(data: memoryview, count: int, tensor: str) -> npt.NDArray[Any]:
    elements: list[bytes] = []
    offset = 0
    end = len(data)
    unpack = _LENGTH.unpack_from
    while offset < end:
        if offset + 4 > end:
            raise InvalidArgument(f"BYTES input '{tensor}' ends inside an element's length")
        (length,) = unpack(data, offset)
        offset += 4
        if offset + length > end:
            raise InvalidArgument(
                f"BYTES input '{tensor}': an element of {length} bytes runs past the end of "
                "its binary data"
            )
        elements.append(bytes(data[offset : offset + length]))
        offset += length
    if len(elements) != count:
        raise InvalidArgument(
            f"BYTES input '{tensor}' holds {len(elements)} elements, but its shape holds {count}"
        )
    array = np.empty(count, dtype=object)
    array[:] = elements
    return array


def to_json_data(array: npt.NDArray[Any], tensor: str) -> bytes:
    """The flat JSON array of ``array``'s values (row-major).

    Numbers are printed shortest-exact for their own type (``0.1`` for an FP32 0.1); NaN and
    infinities as ``NaN``/``Infinity``/``-Infinity`` (as TensorFlow Serving prints them);
    ``BYTES`` elements as strings, which must be UTF-8 (others need ``binary_data``).
    """
    flat = array.reshape(-1)
    kind = flat.dtype.kind
    if kind in ("O", "S", "U"):
        return orjson.dumps([_text(v, tensor) for v in flat])
    if kind == "f" and not bool(np.isfinite(flat).all()):
        return b"[" + b",".join(_float_text(float(v), v) for v in flat) + b"]"
    return orjson.dumps(flat, option=_NUMPY_OPTION)


def _text(value: object, tensor: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(
                f"output '{tensor}' holds bytes that are not UTF-8, which JSON cannot carry; "
                "ask for it with binary_data"
            ) from None
    return str(value)


def _float_text(value: float, original: object) -> bytes:
    if math.isnan(value):
        return b"NaN"
    if math.isinf(value):
        return b"Infinity" if value > 0 else b"-Infinity"
    return orjson.dumps(original, option=_NUMPY_OPTION)


def to_binary(array: npt.NDArray[Any]) -> bytes:
    """``array``'s binary tensor data: little-endian row-major values, or length-prefixed
    elements for ``BYTES``."""
    if array.dtype.kind in ("O", "S", "U"):
        parts: list[bytes] = []
        pack = _LENGTH.pack
        for value in array.reshape(-1):
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)
    dtype = DATATYPES[datatype_of(array)]
    return np.ascontiguousarray(array, dtype=dtype).tobytes()
