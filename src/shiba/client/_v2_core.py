"""The Open Inference Protocol (KServe v2) REST client's logic without I/O: each call as a
:class:`~shiba.client._rest_core.Call` (sent by the same shells, with the same retry policy).

Inference requests carry every input as JSON ``data`` (row-major, flat) with its ``shape`` and
``datatype`` (``FP32``, ``INT64``, ``BYTES``...: the array's own, or the model's when the model's
metadata is known); answers are read back to arrays of each output's datatype and shape
(``BYTES``: object arrays of ``bytes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import orjson

from shiba.client._rest_core import Call, _error, _json
from shiba.client.errors import ServerError
from shiba.codecs.v2 import tensors
from shiba.core.errors import Code, InvalidArgument

__all__ = [
    "V2Tensor",
    "V2ModelMetadata",
    "V2RepositoryModel",
    "model_path",
    "infer_path",
    "ready_call",
    "model_metadata_call",
    "repository_index_call",
    "infer_call",
    "input_array",
]


@dataclass(frozen=True, slots=True)
class V2Tensor:
    """An input or output as the protocol describes it (``-1``: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class V2ModelMetadata:
    """A model's metadata: its versions, platform, inputs and outputs."""

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[V2Tensor, ...]
    outputs: tuple[V2Tensor, ...]


@dataclass(frozen=True, slots=True)
class V2RepositoryModel:
    """One row of the model_repository extension's index: a model, one of its versions (or
    ``""``), that version's state (Triton's words: ``READY``, ``LOADING``, ``UNAVAILABLE``...;
    ``""`` when the server gives none) and why it is in that state (``""`` when all is well)."""

    name: str
    version: str = ""
    state: str = ""
    reason: str = ""


def model_path(model: str, version: int | None) -> str:
    path = "/v2/models/" + quote(model, safe="")
    return path if version is None else f"{path}/versions/{version}"


def infer_path(model: str, version: int | None) -> str:
    """``/v2/models/{m}[/versions/{v}]/infer``, where an inference request goes."""
    return model_path(model, version) + "/infer"


def ready_call(path: str) -> Call[bool]:
    """A readiness probe: True for 200, False for 400 (not ready); other answers raise."""

    def parse(status: int, body: bytes) -> bool:
        if status in (200, 400):  # the answer's body is empty
            return status == 200
        raise _error(status, body)

    return Call("GET", path, None, True, parse)


def _tensor(entry: Mapping[str, Any]) -> V2Tensor:
    return V2Tensor(
        str(entry["name"]), str(entry["datatype"]), tuple(int(d) for d in entry.get("shape", []))
    )


def model_metadata_call(model: str, version: int | None) -> Call[V2ModelMetadata]:
    """``GET /v2/models/{m}[/versions/{v}]``."""

    def parse(status: int, body: bytes) -> V2ModelMetadata:
        document = _json(status, body)
        return V2ModelMetadata(
            str(document["name"]),
            tuple(str(v) for v in document.get("versions", [])),
            str(document.get("platform", "")),
            tuple(_tensor(t) for t in document.get("inputs", [])),
            tuple(_tensor(t) for t in document.get("outputs", [])),
        )

    return Call("GET", model_path(model, version), None, True, parse)


def repository_index_call(ready: bool) -> Call[list[V2RepositoryModel]]:
    """``POST /v2/repository/index`` (the model_repository extension): every model of the
    server's repository, or only those ready to serve with ``ready``. A server without the
    extension answers an error (``NotFoundError`` from a route table that has no such route);
    an answer that is not an array of models is a ``ServerError`` (``INTERNAL``)."""

    def parse(status: int, body: bytes) -> list[V2RepositoryModel]:
        document = _json(status, body)
        if not isinstance(document, list) or not all(
            isinstance(entry, dict) and "name" in entry for entry in document
        ):
            raise ServerError(
                "the server's repository index is not a JSON array of models with a name: "
                f"{document!r}"[:300],
                code=Code.INTERNAL,
                http_status=status,
            )
        return [
            V2RepositoryModel(
                str(entry["name"]),
                str(entry.get("version", "")),
                str(entry.get("state", "")),
                str(entry.get("reason", "")),
            )
            for entry in document
        ]

    body = orjson.dumps({"ready": ready})
    return Call("POST", "/v2/repository/index", body, True, parse)


def input_array(name: str, value: npt.ArrayLike, known: V2Tensor | None) -> npt.NDArray[Any]:
    """Input ``name`` as an array: of objects for a ``BYTES`` input, numbers cast to the
    ``known`` input's datatype, else as numpy reads ``value``."""
    strings = known is not None and known.datatype == "BYTES"
    array = np.asarray(value, dtype=object) if strings else np.asarray(value)
    if known is not None and not strings and array.dtype.kind in "biuf":
        array = array.astype(tensors.numpy_dtype(known.datatype, name), copy=False)
    return array


def _input(name: str, value: npt.ArrayLike, known: V2Tensor | None) -> bytes:
    array = input_array(name, value, known)
    head = orjson.dumps({"name": name, "shape": list(array.shape), "datatype": ""})
    datatype = tensors.datatype_of(array)
    return (
        head[:-3] + orjson.dumps(datatype) + b',"data":' + tensors.to_json_data(array, name) + b"}"
    )


def infer_call(
    model: str,
    version: int | None,
    inputs: Mapping[str, npt.ArrayLike],
    known: Sequence[V2Tensor] = (),
    outputs: Sequence[str] = (),
) -> Call[dict[str, npt.NDArray[Any]]]:
    """``POST .../infer`` with ``inputs`` by name (cast to the ``known`` inputs' datatypes);
    only the ``outputs`` named, if any. Not retried once it may have been seen."""
    by_name = {tensor.name: tensor for tensor in known}
    parts = [_input(name, value, by_name.get(name)) for name, value in inputs.items()]
    body = b'{"inputs":[' + b",".join(parts) + b"]"
    if outputs:
        body += b',"outputs":' + orjson.dumps([{"name": name} for name in outputs])
    body += b"}"

    def parse(status: int, answer: bytes) -> dict[str, npt.NDArray[Any]]:
        results: dict[str, npt.NDArray[Any]] = {}
        for entry in _json(status, answer).get("outputs", []):
            name, datatype = str(entry["name"]), str(entry["datatype"])
            shape = tuple(int(d) for d in entry["shape"])
            try:
                array = tensors.from_json_data(entry.get("data"), datatype, shape, name)
            except InvalidArgument as exc:  # the server's answer, not the caller's input
                raise ValueError(f"the server's output {name!r} cannot be read: {exc}") from None
            if datatype == "BYTES":
                array = np.vectorize(_bytes, otypes=[object])(array) if array.size else array
            results[name] = array
        return results

    return Call("POST", infer_path(model, version), body, False, parse)


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
