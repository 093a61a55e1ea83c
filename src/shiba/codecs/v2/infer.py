"""The Open Inference Protocol's REST inference request and response, with binary tensor data.

A request body is a JSON object, optionally followed by binary tensor data; then the
``Inference-Header-Content-Length`` header gives the JSON's length (``header_length``) and each
binary input says its size in ``parameters.binary_data_size``, in input order::

    {"id": "42", "parameters": {"binary_data_output": true},
     "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
                {"name": "y", "shape": [2], "datatype": "BYTES",
                 "parameters": {"binary_data_size": 10}}],
     "outputs": [{"name": "z", "parameters": {"binary_data": false}}]}

:func:`decode_infer` reads it into arrays; :func:`check_signature` checks it against the
signature that will run, with Triton's wording; :func:`encode_infer` writes the answer, each
output as JSON ``data`` or, when asked (``binary_data`` on the output, else the request's
``binary_data_output``), as binary data after the JSON, returning the JSON's length for the
header. Every problem with a request raises :class:`~shiba.core.errors.InvalidArgument`.
Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt
import orjson

from shiba.codecs import _fast
from shiba.codecs.v2 import tensors
from shiba.core.errors import InvalidArgument
from shiba.core.tensors import Signature

__all__ = [
    "HEADER_LENGTH",
    "RequestedOutput",
    "InferRequest",
    "decode_infer",
    "check_signature",
    "encode_infer",
    "json_object",
]

#: The header giving the length of the JSON part of a body with binary tensor data.
HEADER_LENGTH = b"inference-header-content-length"


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the request names; ``binary`` is its ``binary_data`` (``None``: not given)."""

    name: str
    binary: bool | None = None


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A decoded inference request. ``outputs`` empty means every output of the signature;
    ``binary_output`` is the request's ``binary_data_output`` (default for every output)."""

    inputs: dict[str, npt.NDArray[Any]]
    id: str | None = None
    outputs: tuple[RequestedOutput, ...] = ()
    binary_output: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def output_names(self) -> list[str] | None:
        return [o.name for o in self.outputs] if self.outputs else None


def decode_infer(body: bytes, header_length: int | None = None) -> InferRequest:
    """Read a request body; ``header_length`` is ``Inference-Header-Content-Length`` if sent."""
    view = memoryview(body)
    if header_length is None:
        json_part, binary = view, view[len(view) :]
    else:
        if header_length < 0 or header_length > len(body):
            raise InvalidArgument(
                f"Inference-Header-Content-Length is {header_length} but the body has only "
                f"{len(body)} bytes"
            )
        json_part, binary = view[:header_length], view[header_length:]
    document = _document(json_part, numeric_nests=header_length is None)
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    parameters = _object(document.get("parameters"), "the request's 'parameters'")
    binary_output = _flag(parameters.get("binary_data_output"), "'binary_data_output'")
    inputs, used = _inputs(document.get("inputs"), binary)
    if used != len(binary):
        raise InvalidArgument(
            f"the body has {len(binary)} bytes of binary data after its JSON, but the inputs' "
            f"binary_data_size add up to {used}"
        )
    return InferRequest(
        inputs=inputs,
        id=request_id,
        outputs=_outputs(document.get("outputs")),
        binary_output=bool(binary_output),
        parameters=parameters,
    )


def _document(json_part: memoryview, numeric_nests: bool) -> dict[str, Any]:
    """The JSON part; with ``numeric_nests`` read by the compiled reader, whose numeric nests
    (``FastArray``) the readers of ``shape`` and ``data`` turn into arrays. A JSON part before
    binary data is small: orjson reads it faster than numeric nests would be built."""
    document: object = _fast.loads(json_part) if numeric_nests else None
    return json_object(json_part) if document is None else _request_object(document)


def json_object(body: bytes | memoryview) -> dict[str, Any]:
    """A request body (or JSON part) that must be one JSON object, read by orjson (strict JSON).
    InvalidArgument for malformed JSON (orjson's message) or a value other than an object."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"malformed JSON in the request body: {exc}") from None
    return _request_object(document)


def _request_object(document: object) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return document


def _object(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def _flag(value: object, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidArgument(f"{what} must be true or false")


def _inputs(value: object, binary: memoryview) -> tuple[dict[str, npt.NDArray[Any]], int]:
    if not isinstance(value, list) or not value:
        raise InvalidArgument("the request must have 'inputs': a non-empty array of tensors")
    inputs: dict[str, npt.NDArray[Any]] = {}
    offset = 0
    for entry in value:
        if not isinstance(entry, dict):
            raise InvalidArgument("each of 'inputs' must be a JSON object")
        name = entry.get("name")
        if not isinstance(name, str):
            raise InvalidArgument("each of 'inputs' must have a 'name' string")
        if name in inputs:
            raise InvalidArgument(f"input '{name}' is given more than once")
        datatype = entry.get("datatype")
        if not isinstance(datatype, str):
            raise InvalidArgument(f"input '{name}' must have a 'datatype' string")
        tensors.numpy_dtype(datatype, name)  # an unknown datatype first: the clearer error
        shape = _shape(entry.get("shape"), name)
        parameters = _object(entry.get("parameters"), f"'parameters' of input '{name}'")
        size = parameters.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0:
                raise InvalidArgument(
                    f"binary_data_size of input '{name}' must be a non-negative integer"
                )
            if "data" in entry:
                raise InvalidArgument(f"input '{name}' has both 'data' and binary_data_size")
            if offset + size > len(binary):
                raise InvalidArgument(
                    f"input '{name}' says it has {size} bytes of binary data, but only "
                    f"{len(binary) - offset} are left in the body"
                )
            inputs[name] = tensors.from_binary(
                binary[offset : offset + size], datatype, shape, name
            )
            offset += size
        elif "data" in entry:
            data = entry["data"]
            if _fast.is_fast_array(data):
                data = _fast.to_ndarray(data)
            inputs[name] = tensors.from_json_data(data, datatype, shape, name)
        else:
            raise InvalidArgument(f"input '{name}' has neither 'data' nor binary_data_size")
    return inputs, offset


def _shape(value: object, name: str) -> tuple[int, ...]:
    if _fast.is_fast_array(value):  # a numeric nest from the compiled reader
        value = _fast.to_ndarray(value).tolist()
    if isinstance(value, list) and all(type(d) is int and d >= 0 for d in value):
        return tuple(value)
    raise InvalidArgument(f"'shape' of input '{name}' must be an array of non-negative integers")


def _outputs(value: object) -> tuple[RequestedOutput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgument("'outputs' must be an array")
    outputs: list[RequestedOutput] = []
    seen: set[str] = set()
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidArgument("each of 'outputs' must be an object with a 'name' string")
        name: str = entry["name"]
        if name in seen:
            raise InvalidArgument(f"output '{name}' is requested more than once")
        seen.add(name)
        parameters = _object(entry.get("parameters"), f"'parameters' of output '{name}'")
        if parameters.get("classification", 0):
            raise InvalidArgument(
                f"output '{name}' asks for the classification extension, which shiba does "
                "not implement"
            )
        binary = _flag(parameters.get("binary_data"), f"binary_data of output '{name}'")
        outputs.append(RequestedOutput(name, binary))
    return tuple(outputs)


def check_signature(request: InferRequest, signature: Signature, model: str) -> None:
    """The request's inputs are exactly the signature's, of its datatypes and shapes, and the
    outputs it names exist (the decoders have refused a name given twice); raises
    InvalidArgument with Triton's wording otherwise. What passes needs no further check by the
    service (``ModelService.predict(checked=True)``)."""
    for name in request.inputs:
        if name not in signature.inputs:
            raise InvalidArgument(f"unexpected inference input '{name}' for model '{model}'")
    missing = [name for name in signature.inputs if name not in request.inputs]
    if missing:
        raise InvalidArgument(
            f"expected {len(signature.inputs)} inputs but got {len(request.inputs)} inputs for "
            f"model '{model}'. Missing required input(s) {missing}"
        )
    for name, spec in signature.inputs.items():
        array = request.inputs[name]
        want = spec.dtype.v2_name
        got = tensors.datatype_of(array)
        if got != want:
            raise InvalidArgument(
                f"inference input '{name}' data-type is '{got}', but model '{model}' expects "
                f"'{want or spec.dtype.name}'"
            )
        if not spec.shape_matches(array.shape):
            raise InvalidArgument(
                f"unexpected shape for input '{name}' for model '{model}'. Expected "
                f"{spec.describe_shape()}, got {list(array.shape)}"
            )
    for output in request.outputs:
        if output.name not in signature.outputs:
            raise InvalidArgument(
                f"unexpected inference output '{output.name}' for model '{model}'"
            )


def encode_infer(
    model: str,
    version: int,
    request: InferRequest,
    outputs: Mapping[str, npt.NDArray[Any]],
) -> tuple[bytes, int | None]:
    """The answer's body and, when any output is binary, the length of its JSON part (for
    ``Inference-Header-Content-Length``; ``None`` when the body is all JSON)."""
    binary_of = {o.name: o.binary for o in request.outputs}
    names = [o.name for o in request.outputs] if request.outputs else list(outputs)
    parts = [b'{"model_name":', orjson.dumps(model), b',"model_version":"', b"%d" % version, b'"']
    if request.id is not None:
        parts += [b',"id":', orjson.dumps(request.id)]
    parts.append(b',"outputs":[')
    blobs: list[bytes] = []
    for index, name in enumerate(names):
        array = outputs[name]
        binary = binary_of.get(name)
        if binary is None:
            binary = request.binary_output
        if index:
            parts.append(b",")
        parts += [
            b'{"name":',
            orjson.dumps(name),
            b',"datatype":"',
            tensors.output_datatype(array, name).encode(),
            b'","shape":',
            orjson.dumps(list(array.shape)),
        ]
        if binary:
            blob = tensors.to_binary(array)
            blobs.append(blob)
            parts += [b',"parameters":{"binary_data_size":', b"%d" % len(blob), b"}}"]
        else:
            parts += [b',"data":', tensors.to_json_data(array, name), b"}"]
    parts.append(b"]}")
    header = b"".join(parts)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
