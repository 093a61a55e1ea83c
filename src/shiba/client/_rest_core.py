"""The REST client's logic without I/O: each call as a request to send and a parser of its answer.

A shell (``rest.py``) sends :class:`Call` objects through its transport and hands the answer's
status and body to ``call.parse``; whether to try again is :func:`retry_allowed`'s decision, so the
sync and async shells behave alike. Nothing here touches a socket or a clock.

Requests use TensorFlow Serving's columnar JSON (``{"signature_name": ..., "inputs": {...}}``),
whose answer names every output; numeric arrays are written by orjson straight from numpy, strings
as JSON strings (bytes that are not UTF-8 as ``{"b64": ...}``). Answers are read back to arrays of
the signature's dtypes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import orjson

from shiba.client._types import (
    ModelMetadata,
    ModelRef,
    SignatureInfo,
    TensorInfo,
    VersionStatus,
)
from shiba.client.errors import ServerError, code_of_http_status, server_error
from shiba.core.errors import Code
from shiba.core.tensors import DType

__all__ = [
    "Call",
    "Inputs",
    "retry_allowed",
    "status_call",
    "metadata_call",
    "predict_call",
    "models_call",
    "model_call",
    "model_path",
    "predict_path",
    "parse_metadata",
    "encode_inputs",
    "inputs_by_name",
    "as_arrays",
    "RETRY_STATUSES",
]

T = TypeVar("T")

#: What ``predict`` takes: one array (for a signature with one input) or arrays by input alias.
Inputs = npt.ArrayLike | Mapping[str, npt.ArrayLike]

#: Answers after which an idempotent call is tried again: the server is (re)starting or busy.
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP exchange: ``method`` and ``path`` (from the server's root), the JSON ``body``,
    whether it is ``idempotent`` (safe to send twice), and ``parse(status, body)`` which returns
    the result or raises :class:`~shiba.client.errors.ServerError`."""

    method: str
    path: str
    body: bytes | None
    idempotent: bool
    parse: Callable[[int, bytes], T]


def retry_allowed(call: Call[Any], attempt: int, retries: int, *, sent: bool, status: int) -> bool:
    """Whether attempt number ``attempt`` (0-based) of ``call`` may be followed by another.

    A request that never left (the connection was refused: ``sent`` False) may always be sent
    again. One the server may have seen is sent again only when the call is idempotent and it
    failed in transit (``status`` 0) or was answered 502/503/504.
    """
    if attempt >= retries:
        return False
    if not sent:
        return True
    return call.idempotent and (status == 0 or status in RETRY_STATUSES)


def model_path(model: ModelRef) -> str:
    """``/v1/models/{name}[/versions/{v}|/labels/{l}]``, percent-encoded."""
    path = "/v1/models/" + quote(model.name, safe="")
    if model.version is not None:
        path += f"/versions/{model.version}"
    elif model.label is not None:
        path += "/labels/" + quote(model.label, safe="")
    return path


def predict_path(model: ModelRef) -> str:
    """``/v1/models/{name}[/versions/{v}|/labels/{l}]:predict``, where a predict body goes."""
    return model_path(model) + ":predict"


def _error(status: int, body: bytes) -> ServerError:
    """The server's ``{"error": message}`` as a typed error (any other body is quoted whole)."""
    try:
        parsed = orjson.loads(body)
        message = parsed["error"] if isinstance(parsed, dict) else None
    except (orjson.JSONDecodeError, KeyError):
        message = None
    if not isinstance(message, str):
        message = body.decode(errors="replace").strip() or f"HTTP {status} with an empty body"
    return server_error(message, code_of_http_status(status), status)


def _json(status: int, body: bytes) -> Any:
    if status != 200:
        raise _error(status, body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ServerError(
            f"the server answered HTTP 200 with a body that is not JSON ({exc})",
            code=Code.INTERNAL,
            http_status=status,
        ) from None


def _status(entry: Mapping[str, Any]) -> VersionStatus:
    status = entry.get("status") or {}
    return VersionStatus(
        version=int(entry["version"]),
        state=str(entry["state"]),
        error_code=str(status.get("error_code", "OK")),
        error_message=str(status.get("error_message", "")),
    )


def status_call(model: ModelRef) -> Call[list[VersionStatus]]:
    """``GET /v1/models/{name}``: each version's state, newest first."""

    def parse(status: int, body: bytes) -> list[VersionStatus]:
        return [_status(entry) for entry in _json(status, body)["model_version_status"]]

    return Call("GET", model_path(model), None, True, parse)


def _tensor_info(alias: str, info: Mapping[str, Any]) -> TensorInfo:
    shape_info = info.get("tensor_shape") or {}
    shape: tuple[int, ...] | None = None
    if not shape_info.get("unknown_rank", False):
        shape = tuple(int(dim.get("size", -1)) for dim in shape_info.get("dim", []))
    return TensorInfo(alias, DType[str(info.get("dtype", "DT_INVALID"))], shape)


def parse_metadata(document: Mapping[str, Any]) -> ModelMetadata:
    """A ``GET .../metadata`` JSON answer as :class:`ModelMetadata`."""
    spec = document["model_spec"]
    signatures: dict[str, SignatureInfo] = {}
    definitions = document["metadata"]["signature_def"]["signature_def"]
    for name, definition in definitions.items():
        signatures[name] = SignatureInfo(
            name,
            str(definition.get("method_name", "")),
            {k: _tensor_info(k, v) for k, v in (definition.get("inputs") or {}).items()},
            {k: _tensor_info(k, v) for k, v in (definition.get("outputs") or {}).items()},
        )
    return ModelMetadata(str(spec["name"]), int(spec.get("version", 0)), signatures)


def metadata_call(model: ModelRef) -> Call[ModelMetadata]:
    """``GET /v1/models/{name}/metadata``: the version's signatures."""
    return Call(
        "GET",
        model_path(model) + "/metadata",
        None,
        True,
        lambda status, body: parse_metadata(_json(status, body)),
    )


def models_call() -> Call[dict[str, list[VersionStatus]]]:
    """``GET /shiba/v1/models`` (shiba's own): every model's versions, engines and labels."""

    def parse(status: int, body: bytes) -> dict[str, list[VersionStatus]]:
        models: dict[str, list[VersionStatus]] = {}
        for model in _json(status, body)["models"]:
            models[str(model["model"])] = [_shiba_version(v) for v in model["versions"]]
        return models

    return Call("GET", "/shiba/v1/models", None, True, parse)


def model_call(name: str) -> Call[list[VersionStatus]]:
    """``GET /shiba/v1/models/{name}`` (shiba's own): one model's versions, engines and labels."""

    def parse(status: int, body: bytes) -> list[VersionStatus]:
        return [_shiba_version(v) for v in _json(status, body)["versions"]]

    return Call("GET", "/shiba/v1/models/" + quote(name, safe=""), None, True, parse)


def _shiba_version(entry: Mapping[str, Any]) -> VersionStatus:
    error = entry.get("error") or {}
    signatures = entry.get("signatures") or {}
    return VersionStatus(
        version=int(entry["version"]),
        state=str(entry["state"]),
        error_code=str(error.get("code", "OK")),
        error_message=str(error.get("message", "")),
        engines=tuple((name, str(sig.get("engine", ""))) for name, sig in signatures.items()),
        labels=tuple(str(label) for label in entry.get("labels") or ()),
    )


def inputs_by_name(signature: SignatureInfo, inputs: Inputs) -> Mapping[str, npt.ArrayLike]:
    """``inputs`` by input alias: as given when a mapping, else the signature's only input;
    ``ValueError`` naming the inputs when the signature has several."""
    if isinstance(inputs, Mapping):
        return inputs
    if len(signature.inputs) == 1:
        return {next(iter(signature.inputs)): inputs}
    names = ", ".join(signature.inputs)
    raise ValueError(
        f"signature {signature.name} has {len(signature.inputs)} inputs ({names}); "
        "pass a dict of arrays by input name"
    )


def as_arrays(signature: SignatureInfo, inputs: Inputs) -> dict[str, npt.NDArray[Any]]:
    """``inputs`` by alias (:func:`inputs_by_name`) as arrays: of objects for a string input,
    numbers cast to the signature's dtype, else as numpy reads them."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, value in inputs_by_name(signature, inputs).items():
        info = signature.inputs.get(name)
        strings = info is not None and info.dtype is DType.DT_STRING
        array = np.asarray(value, dtype=object) if strings else np.asarray(value)
        if info is not None and info.dtype is not DType.DT_STRING and array.dtype.kind in "biuf":
            array = array.astype(info.numpy_dtype, copy=False)
        arrays[name] = array
    return arrays


def _string(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode()}
    return value


def _json_value(array: npt.NDArray[Any]) -> Any:
    if array.dtype.kind in "OSU":
        return np.vectorize(_string, otypes=[object])(array).tolist() if array.size else []
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def encode_inputs(signature: SignatureInfo, inputs: Inputs) -> bytes:
    """The columnar predict body for ``inputs`` (cast to the signature's numeric dtypes)."""
    arrays = as_arrays(signature, inputs)
    body = {
        "signature_name": signature.name,
        "inputs": {name: _json_value(array) for name, array in arrays.items()},
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _output(info: TensorInfo | None, value: Any) -> npt.NDArray[Any]:
    if info is None:
        return np.asarray(value)
    if info.dtype is DType.DT_STRING:
        return np.asarray(value, dtype=object)
    return np.asarray(value, dtype=info.numpy_dtype)


def predict_call(
    model: ModelRef, signature: SignatureInfo, inputs: Inputs
) -> Call[dict[str, npt.NDArray[Any]]]:
    """``POST .../{name}:predict`` with ``inputs``; the answer is every output by alias, as arrays
    of the signature's dtypes. Not idempotent as far as retries go: it is sent again only when it
    never left."""
    body = encode_inputs(signature, inputs)

    def parse(status: int, answer: bytes) -> dict[str, npt.NDArray[Any]]:
        outputs = _json(status, answer)["outputs"]
        named = isinstance(outputs, dict) and set(outputs) <= set(signature.outputs)
        if not named:  # TF Serving leaves out the name of a signature's only output
            only = next(iter(signature.outputs.values())) if len(signature.outputs) == 1 else None
            return {only.name if only else "outputs": _output(only, outputs)}
        return {name: _output(signature.outputs.get(name), v) for name, v in outputs.items()}

    return Call("POST", predict_path(model), body, False, parse)
