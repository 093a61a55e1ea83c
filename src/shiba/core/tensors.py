"""Tensors as shiba sees them: numpy arrays described by dtypes, tensor specs and signatures.

These are plain value objects. Runtimes build them from their framework's metadata; codecs read them
to type the arrays they decode; the metadata API prints them in TensorFlow Serving's JSON form.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DType",
    "TensorSpec",
    "Signature",
    "Tensors",
    "PREDICT_METHOD",
    "CLASSIFY_METHOD",
    "REGRESS_METHOD",
    "DEFAULT_SIGNATURE",
    "leading_rows",
]

#: Method names of TensorFlow Serving's signatures.
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"

#: Named input or output tensors of one call.
Tensors = Mapping[str, npt.NDArray[Any]]


class DType(enum.IntEnum):
    """Tensor element types, numbered as TensorFlow's ``DataType`` enum."""

    DT_INVALID = 0
    DT_FLOAT = 1
    DT_DOUBLE = 2
    DT_INT32 = 3
    DT_UINT8 = 4
    DT_INT16 = 5
    DT_INT8 = 6
    DT_STRING = 7
    DT_COMPLEX64 = 8
    DT_INT64 = 9
    DT_BOOL = 10
    DT_QINT8 = 11
    DT_QUINT8 = 12
    DT_QINT32 = 13
    DT_BFLOAT16 = 14
    DT_QINT16 = 15
    DT_QUINT16 = 16
    DT_UINT16 = 17
    DT_COMPLEX128 = 18
    DT_HALF = 19
    DT_RESOURCE = 20
    DT_VARIANT = 21
    DT_UINT32 = 22
    DT_UINT64 = 23

    @property
    def numpy(self) -> np.dtype[Any]:
        """The numpy dtype that holds this type's values (strings are ``object`` arrays of bytes)."""
        try:
            return _TO_NUMPY[self]
        except KeyError:
            raise TypeError(f"{self.name} has no numpy equivalent") from None

    @property
    def is_numeric(self) -> bool:
        return self in _TO_NUMPY and self not in (DType.DT_STRING,)

    @property
    def v2_name(self) -> str:
        """The Open Inference Protocol's name of this type (``FP32``, ``BYTES``...)."""
        return _TO_V2.get(self, "")

    @classmethod
    def from_numpy(cls, dtype: npt.DTypeLike) -> DType:
        dt = np.dtype(dtype)
        if dt.kind in ("O", "S", "U"):
            return cls.DT_STRING
        try:
            return _FROM_NUMPY[dt]
        except KeyError:
            raise TypeError(f"numpy dtype {dt} has no TensorFlow equivalent") from None

    @classmethod
    def from_v2(cls, name: str) -> DType:
        for dtype, v2 in _TO_V2.items():
            if v2 == name:
                return dtype
        raise TypeError(f"unknown datatype {name!r}")


_TO_NUMPY: dict[DType, np.dtype[Any]] = {
    DType.DT_FLOAT: np.dtype(np.float32),
    DType.DT_DOUBLE: np.dtype(np.float64),
    DType.DT_INT32: np.dtype(np.int32),
    DType.DT_UINT8: np.dtype(np.uint8),
    DType.DT_INT16: np.dtype(np.int16),
    DType.DT_INT8: np.dtype(np.int8),
    DType.DT_STRING: np.dtype(object),
    DType.DT_COMPLEX64: np.dtype(np.complex64),
    DType.DT_INT64: np.dtype(np.int64),
    DType.DT_BOOL: np.dtype(np.bool_),
    DType.DT_UINT16: np.dtype(np.uint16),
    DType.DT_COMPLEX128: np.dtype(np.complex128),
    DType.DT_HALF: np.dtype(np.float16),
    DType.DT_UINT32: np.dtype(np.uint32),
    DType.DT_UINT64: np.dtype(np.uint64),
}
_FROM_NUMPY: dict[np.dtype[Any], DType] = {
    dt: t for t, dt in _TO_NUMPY.items() if t is not DType.DT_STRING
}
_TO_V2: dict[DType, str] = {
    DType.DT_BOOL: "BOOL",
    DType.DT_UINT8: "UINT8",
    DType.DT_UINT16: "UINT16",
    DType.DT_UINT32: "UINT32",
    DType.DT_UINT64: "UINT64",
    DType.DT_INT8: "INT8",
    DType.DT_INT16: "INT16",
    DType.DT_INT32: "INT32",
    DType.DT_INT64: "INT64",
    DType.DT_HALF: "FP16",
    DType.DT_FLOAT: "FP32",
    DType.DT_DOUBLE: "FP64",
    DType.DT_STRING: "BYTES",
    DType.DT_BFLOAT16: "BF16",
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One named input or output of a signature.

    ``shape`` is ``None`` for an unknown rank; a dimension of ``-1`` is unknown (usually the batch).
    ``tensor_name`` is the framework's own name for the tensor (``x:0`` in a SavedModel), shown in
    metadata only.
    """

    dtype: DType
    shape: tuple[int, ...] | None
    tensor_name: str = ""

    def shape_matches(self, shape: tuple[int, ...]) -> bool:
        if self.shape is None:
            return True
        if len(shape) != len(self.shape):
            return False
        return all(want < 0 or want == got for want, got in zip(self.shape, shape, strict=True))

    def describe_shape(self) -> str:
        if self.shape is None:
            return "any shape"
        return "[" + ",".join(str(d) for d in self.shape) + "]"


@dataclass(frozen=True, slots=True)
class Signature:
    """Named inputs and outputs with a method name, as a SavedModel's SignatureDef.

    Inputs and outputs keep the order the model declares them in. ``defaults`` holds the
    SignatureDef's default values, if any (shown in metadata only).
    """

    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    method_name: str = PREDICT_METHOD
    defaults: Mapping[str, Any] = field(default_factory=dict)


def leading_rows(inputs: Tensors) -> int:
    """A request's rows: its first input's dimension 0 (1 for a scalar input or none)."""
    for array in inputs.values():
        return int(array.shape[0]) if array.ndim else 1
    return 1
