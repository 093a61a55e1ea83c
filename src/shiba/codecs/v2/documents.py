"""The Open Inference Protocol's REST documents other than inference: errors, server metadata and
model metadata (the protocol's ``$metadata_server_response`` and ``$metadata_model_response``).

Tensor metadata lists name, datatype and shape; ``-1`` is a dimension of any size (a tensor of
unknown rank is ``[-1]``). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from shiba.core.tensors import Signature, TensorSpec

__all__ = ["encode_error", "encode_server_metadata", "encode_model_metadata", "tensor_metadata"]


def encode_error(message: str) -> bytes:
    """``{"error": message}``, the protocol's error body."""
    return orjson.dumps({"error": message})


def encode_server_metadata(name: str, version: str, extensions: Sequence[str]) -> bytes:
    return orjson.dumps({"name": name, "version": version, "extensions": list(extensions)})


def tensor_metadata(tensors: Mapping[str, TensorSpec]) -> list[dict[str, Any]]:
    """Each tensor's ``{"name", "datatype", "shape"}``, in the signature's order."""
    return [
        {
            "name": name,
            "datatype": spec.dtype.v2_name or spec.dtype.name,
            "shape": list(spec.shape) if spec.shape is not None else [-1],
        }
        for name, spec in tensors.items()
    ]


def encode_model_metadata(
    name: str, versions: Sequence[int], platform: str, signature: Signature
) -> bytes:
    """A model's metadata: its available ``versions`` (as strings), the ``platform`` that
    loaded it, and the inputs and outputs of the signature v2 requests run."""
    return orjson.dumps(
        {
            "name": name,
            "versions": [str(v) for v in versions],
            "platform": platform,
            "inputs": tensor_metadata(signature.inputs),
            "outputs": tensor_metadata(signature.outputs),
        }
    )
