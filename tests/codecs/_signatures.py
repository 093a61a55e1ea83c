"""Signatures for codec tests."""

from __future__ import annotations

from collections.abc import Callable

from shiba.core.errors import InvalidArgument
from shiba.core.tensors import DType, Signature, TensorSpec


def signature(**inputs: DType) -> Signature:
    """A predict signature with these inputs (any shape) and one float output ``y``."""
    return Signature(
        inputs={name: TensorSpec(dtype, None, f"{name}:0") for name, dtype in inputs.items()},
        outputs={"y": TensorSpec(DType.DT_FLOAT, (-1,), "y:0")},
    )


def lookup(sig: Signature, calls: list[str] | None = None) -> Callable[[str], Signature]:
    """``signature_for`` that knows ``serving_default`` (as ``sig``) and records its calls."""

    def signature_for(name: str) -> Signature:
        if calls is not None:
            calls.append(name)
        if name != "serving_default":
            raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')
        return sig

    return signature_for


HALF_PLUS_TWO = Signature(
    inputs={"x": TensorSpec(DType.DT_FLOAT, (-1, 1), "x:0")},
    outputs={"y": TensorSpec(DType.DT_FLOAT, (-1, 1), "y:0")},
)
