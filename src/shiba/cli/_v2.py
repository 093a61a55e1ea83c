"""What ``shiba predict``, ``models`` and ``metadata`` need to speak the Open Inference Protocol
(``--protocol v2``): a model's v2 metadata read as a signature, a v2 request body's inputs, and
the message for a server without the model_repository extension."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.cli._common import UsageError
from shiba.client import ServerError, SignatureInfo, TensorInfo, V2ModelMetadata
from shiba.client.errors import server_error
from shiba.codecs.v2.tensors import DATATYPES
from shiba.core.errors import Code
from shiba.core.tensors import DEFAULT_SIGNATURE, DType

__all__ = ["no_signature", "signature_of", "is_v2_inputs", "v2_inputs", "without_repository"]


def _info(name: str, datatype: str, shape: tuple[int, ...]) -> TensorInfo:
    try:
        dtype = DType.from_v2(datatype)
    except TypeError:  # a datatype shiba has no name for (BF16...): sent as numpy reads it
        dtype = DType.DT_INVALID
    return TensorInfo(name, dtype, shape)


def no_signature(signature: str) -> None:
    """``UsageError`` when ``--signature`` names another signature than a v2 model answers with."""
    if signature != DEFAULT_SIGNATURE:
        raise UsageError(
            "the Open Inference Protocol has no signatures (a model answers with its "
            f"{DEFAULT_SIGNATURE}): drop --signature, or use --protocol tfserving"
        )


def signature_of(metadata: V2ModelMetadata) -> SignatureInfo:
    """The model's v2 inputs and outputs as the signature ``--image``, ``--npy`` and ``--json``
    are read against (a v2 model answers as one signature, shiba's ``serving_default``)."""
    return SignatureInfo(
        DEFAULT_SIGNATURE,
        "infer",
        {t.name: _info(t.name, t.datatype, t.shape) for t in metadata.inputs},
        {t.name: _info(t.name, t.datatype, t.shape) for t in metadata.outputs},
    )


def is_v2_inputs(value: Any) -> bool:
    """Whether ``value`` is a v2 request's ``inputs``: a list of ``{"name", "data", ...}``."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(entry, dict) and "name" in entry and "data" in entry for entry in value)
    )


def v2_inputs(entries: list[Mapping[str, Any]], where: str) -> dict[str, npt.NDArray[Any]]:
    """A v2 request's JSON ``inputs`` (each with ``name``, ``shape``, ``datatype`` and ``data``,
    flat or nested, as ``tritonclient`` writes them) as arrays by name; ``UsageError`` naming
    the input that cannot be read."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    for entry in entries:
        name = str(entry["name"])
        datatype = entry.get("datatype")
        if datatype is not None and datatype not in DATATYPES:
            known = ", ".join(DATATYPES)
            raise UsageError(
                f"{where}: input {name!r} has datatype {datatype!r}; give one of {known}"
            )
        dtype = DATATYPES[datatype] if datatype is not None else None
        try:
            array = np.asarray(entry["data"], dtype=dtype)
            if "shape" in entry:
                array = array.reshape([int(d) for d in entry["shape"]])
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{where}: input {name!r} cannot be read: {exc}") from None
        arrays[name] = array
    return arrays


def without_repository(exc: ServerError, server: str) -> ServerError:
    """``exc`` said in words a user can act on when it is what a server without the
    model_repository extension answers to its index (gRPC ``UNIMPLEMENTED``, HTTP 404: no such
    route); ``exc`` itself otherwise."""
    if exc.code is not Code.UNIMPLEMENTED and exc.http_status != 404:
        return exc
    message = (
        f"{server} does not offer the Open Inference Protocol's model_repository extension, "
        f"which lists its models (it answered: {exc.message}); ask for a model you know by "
        "name, as in: shiba metadata --protocol v2 MODEL"
    )
    return server_error(message, exc.code, exc.http_status)
