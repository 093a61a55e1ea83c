"""One JSON value to one typed numpy array, with TensorFlow Serving's rules and messages.

This is json_tensor.cc's ``GetDenseTensorShape`` + ``FillTensorProto`` + ``AddValueToTensor``
followed by TensorFlow's ``Tensor::FromProto``, done straight into numpy:

* The shape is read along the first elements: ``[[1, 2], [3, 4], [5, 6]]`` is ``[3, 2]``; every
  other list must match it, and every leaf must sit at the depth the shape gives.
* Leaves are typed by the tensor's dtype, as RapidJSON types them: floats take any number (an
  integer literal goes through double, as ``GetFloat`` does), the int8/int16/int32/uint8 types
  take integer literals in the int32 range (then wrap, as TensorFlow's proto conversion does),
  int64/uint32/uint64 take integer literals in their range, bool takes ``true``/``false`` only,
  and string takes a string or a ``{"b64": ...}`` object. Other dtypes are UNIMPLEMENTED.

:func:`build_array` is the one step a compiled decoder may replace; it must give the same arrays
and raise the same errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shiba.codecs._base64 import absl_base64_decode, is_base64_object
from shiba.codecs._rapidjson import debug_string, json_type_name, utf8
from shiba.core.errors import InvalidArgument, ShibaError, Unimplemented
from shiba.core.tensors import DType

__all__ = [
    "ArrayBuilder",
    "array_from_leaves",
    "build_array",
    "dense_shape",
    "dtype_name",
    "shape_text",
    "status_text",
    "walk",
]

#: TensorFlow's ``DataTypeString`` names, which TF Serving's messages use.
_DTYPE_NAMES = {
    DType.DT_INVALID: "INVALID",
    DType.DT_FLOAT: "float",
    DType.DT_DOUBLE: "double",
    DType.DT_INT32: "int32",
    DType.DT_UINT8: "uint8",
    DType.DT_INT16: "int16",
    DType.DT_INT8: "int8",
    DType.DT_STRING: "string",
    DType.DT_COMPLEX64: "complex64",
    DType.DT_INT64: "int64",
    DType.DT_BOOL: "bool",
    DType.DT_QINT8: "qint8",
    DType.DT_QUINT8: "quint8",
    DType.DT_QINT32: "qint32",
    DType.DT_BFLOAT16: "bfloat16",
    DType.DT_QINT16: "qint16",
    DType.DT_QUINT16: "quint16",
    DType.DT_UINT16: "uint16",
    DType.DT_COMPLEX128: "complex128",
    DType.DT_HALF: "half",
    DType.DT_RESOURCE: "resource",
    DType.DT_VARIANT: "variant",
    DType.DT_UINT32: "uint32",
    DType.DT_UINT64: "uint64",
}

#: The integer literal range each integer dtype accepts (RapidJSON's IsInt/IsInt64/IsUint/...).
_INT_RANGES = {
    DType.DT_INT32: (-(2**31), 2**31 - 1),
    DType.DT_INT16: (-(2**31), 2**31 - 1),
    DType.DT_INT8: (-(2**31), 2**31 - 1),
    DType.DT_UINT8: (-(2**31), 2**31 - 1),
    DType.DT_INT64: (-(2**63), 2**63 - 1),
    DType.DT_UINT32: (0, 2**32 - 1),
    DType.DT_UINT64: (0, 2**64 - 1),
}
_FLOATS = (DType.DT_FLOAT, DType.DT_DOUBLE)
_MAX_RANK = 64  # numpy's limit on dimensions


def dtype_name(dtype: DType) -> str:
    """TensorFlow's ``DataTypeString`` of ``dtype`` (``float``, ``int32``, ``string``...)."""
    return _DTYPE_NAMES.get(dtype, dtype.name)


def shape_text(shape: list[int]) -> str:
    """json_tensor.cc's ``ShapeToString``: ``[2,3]``, ``[]`` for a scalar."""
    return "[" + ",".join(str(size) for size in shape) + "]"


def _type_error(value: object, dtype: DType) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {debug_string(value)} Type: {json_type_name(value)}"
        f" is not of expected type: {dtype_name(dtype)}"
    )


def _float_leaf(dtype: DType) -> Callable[[object], object]:
    def leaf(value: object) -> object:
        if type(value) is float or type(value) is int:
            return value
        raise _type_error(value, dtype)

    return leaf


def _int_leaf(dtype: DType) -> Callable[[object], object]:
    low, high = _INT_RANGES[dtype]

    def leaf(value: object) -> object:
        if type(value) is int and low <= value <= high:
            return value
        raise _type_error(value, dtype)

    return leaf


def _bool_leaf(value: object) -> object:
    if type(value) is bool:
        return value
    raise _type_error(value, DType.DT_BOOL)


def _string_leaf(value: object) -> object:
    if isinstance(value, dict):
        if not is_base64_object(value):
            raise InvalidArgument(
                f"JSON Value: {debug_string(value)} not formatted correctly for base64 data"
            )
        decoded = absl_base64_decode(value["b64"])
        if decoded is None:
            raise InvalidArgument("Unable to base64 decode")
        return decoded
    if isinstance(value, str):
        return utf8(value)
    raise _type_error(value, DType.DT_STRING)


def _unsupported_leaf(dtype: DType) -> Callable[[object], object]:
    def leaf(value: object) -> object:
        if isinstance(value, dict):
            raise _type_error(value, dtype)
        raise Unimplemented(
            f"Conversion of JSON Value: {debug_string(value)} to type: {dtype_name(dtype)}"
        )

    return leaf


_LEAVES: dict[DType, Callable[[object], object]] = {
    DType.DT_FLOAT: _float_leaf(DType.DT_FLOAT),
    DType.DT_DOUBLE: _float_leaf(DType.DT_DOUBLE),
    DType.DT_BOOL: _bool_leaf,
    DType.DT_STRING: _string_leaf,
    **{dtype: _int_leaf(dtype) for dtype in _INT_RANGES},
}


def dense_shape(value: object) -> list[int]:
    """json_tensor.cc's ``GetDenseTensorShape``: list lengths along the first elements."""
    shape = []
    while type(value) is list:
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def walk(value: object, dtype: DType) -> tuple[list[int], list[object]]:
    """Check ``value`` against ``dtype`` exactly as ``FillTensorProto`` does, in its order.

    Returns the dense shape and the leaves in row-major order, converted for numpy (``bytes`` for
    strings, Python numbers otherwise). Raises TF Serving's error for the first bad node met in
    depth-first order.
    """
    shape = dense_shape(value)
    rank = len(shape)
    leaf = _LEAVES.get(dtype) or _unsupported_leaf(dtype)
    leaves: list[object] = []
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        node, level = pending.pop()
        if type(node) is list:
            if level >= rank:
                raise InvalidArgument(
                    f"Encountered list at unexpected level: {level} expected < {rank}"
                )
            if len(node) != shape[level]:
                raise InvalidArgument(
                    f"Encountered list at unexpected size: {len(node)} at level: {level}"
                    f" expected size: {shape[level]}"
                )
            pending.extend((child, level + 1) for child in reversed(node))
        elif level != rank:
            raise InvalidArgument(
                f"JSON Value: {debug_string(node)} found at incorrect level: {level + 1}"
                f" in the JSON DOM. Expected at level: {rank}"
            )
        else:
            leaves.append(leaf(node))
    return shape, leaves


def array_from_leaves(leaves: list[object], shape: list[int], dtype: DType) -> npt.NDArray[Any]:
    """The array of ``dtype`` holding :func:`walk`'s leaves (already checked) in ``shape``."""
    if len(shape) > _MAX_RANK:
        raise InvalidArgument(
            f"Tensor of rank {len(shape)} is not supported: at most {_MAX_RANK} dimensions"
        )
    array: npt.NDArray[Any]
    if dtype is DType.DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
    elif dtype is DType.DT_FLOAT:
        with np.errstate(over="ignore"):
            array = np.array(leaves, dtype=np.float64).astype(np.float32)
    elif dtype in _INT_RANGES and dtype.numpy.itemsize < 4:
        # TensorFlow keeps these in the proto's int32 field and narrows them with a C cast.
        array = np.array(leaves, dtype=np.int64).astype(dtype.numpy)
    elif dtype in _LEAVES:
        array = np.array(leaves, dtype=dtype.numpy)
    else:
        # Only reached without leaves: an empty tensor of a type TF Serving cannot read.
        try:
            array = np.empty(0, dtype=dtype.numpy)
        except TypeError:
            raise Unimplemented(
                f"Conversion of JSON Value: [] to type: {dtype_name(dtype)}"
            ) from None
    return array.reshape(shape)


def _fast_array(value: object, dtype: DType) -> npt.NDArray[Any] | None:
    """numpy's own nested-list conversion, when its result provably equals :func:`walk`'s."""
    if type(value) is not list:
        return None
    try:
        inferred = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return convert_inferred(inferred, dtype)


def convert_inferred(inferred: npt.NDArray[Any], dtype: DType) -> npt.NDArray[Any] | None:
    """An array numpy inferred from JSON numbers (bool, int64 or float64), as ``dtype``'s tensor,
    exactly as :func:`walk` would build it; ``None`` where the reference path must decide (a float
    for an integer type, a value out of range, booleans for a number): it raises TF's error."""
    kind = inferred.dtype.kind
    if kind not in "biuf":
        return None
    if inferred.size == 0:
        return np.empty(inferred.shape, dtype=dtype.numpy)
    if dtype is DType.DT_BOOL:
        return inferred if kind == "b" else None
    if kind == "b" or dtype not in _LEAVES or dtype is DType.DT_STRING:
        return None
    if dtype in _FLOATS:
        # Through float64 first: an int64 straight to float32 can round differently from TF's
        # integer -> double -> float.
        as_double = inferred.astype(np.float64, copy=False)
        if dtype is DType.DT_DOUBLE:
            return as_double
        if kind != "f":  # integers (below 2**63) never overflow float32: no errstate (~1 µs)
            return as_double.astype(np.float32)
        with np.errstate(over="ignore"):
            return as_double.astype(np.float32)
    if kind == "f":  # a float for an integer type: the reference path raises TF's error
        return None
    low, high = _INT_RANGES[dtype]
    if int(inferred.min()) < low or int(inferred.max()) > high:
        return None
    return inferred.astype(dtype.numpy, copy=False)


class ArrayBuilder(Protocol):
    """The signature of :func:`build_array`, for a drop-in replacement (a compiled one)."""

    def __call__(
        self, value: object, dtype: DType, *, may_hold_bools: bool = True
    ) -> npt.NDArray[Any]: ...


def build_array(value: object, dtype: DType, *, may_hold_bools: bool = True) -> npt.NDArray[Any]:
    """The tensor of ``dtype`` that TF Serving builds from the JSON ``value``.

    ``value`` is what :func:`~shiba.codecs._json_parse.parse_json` returned for one tensor.
    ``may_hold_bools=False`` promises that ``value`` holds no JSON ``true``/``false`` (a body
    without those tokens), which lets numeric tensors go through numpy's fast conversion: numpy
    would silently read a boolean as 0 or 1 where TF Serving rejects it.

    Raises :class:`InvalidArgument` (or :class:`Unimplemented` for a dtype TF Serving cannot read
    from JSON) with TF Serving's message, unwrapped.
    """
    fast = dtype is DType.DT_BOOL or (not may_hold_bools and dtype in _LEAVES)
    if fast and dtype is not DType.DT_STRING:
        array = _fast_array(value, dtype)
        if array is not None:
            return array
    shape, leaves = walk(value, dtype)
    return array_from_leaves(leaves, shape, dtype)


def status_text(error: ShibaError) -> str:
    """``absl::Status::ToString()`` of an error: ``INVALID_ARGUMENT: <message>``."""
    return f"{error.code.name}: {error.message}"
