"""The Open Inference Protocol's gRPC inference messages to numpy and back.

``ModelInferRequest`` inputs come either all in ``raw_input_contents`` (one entry per input, in
order: the binary tensor data layout, which tritonclient sends) or each in its ``contents``
field of its datatype (``FP16`` has none: it must be sent raw). Answers always carry the outputs
in ``raw_output_contents``, as Triton's do. Every problem with a request raises
:class:`~shiba.core.errors.InvalidArgument` naming the tensor. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import json_format

from shiba._proto.v2 import inference_pb2 as pb
from shiba._proto.v2 import model_config_pb2 as config_pb
from shiba.codecs.v2 import tensors
from shiba.codecs.v2.documents import (
    DynamicBatching,
    model_config_document,
    statistics_document,
)
from shiba.codecs.v2.infer import InferRequest, RequestedOutput
from shiba.core.errors import InvalidArgument
from shiba.core.ids import ServableId
from shiba.core.statistics import VersionStatistics
from shiba.core.tensors import Signature

__all__ = [
    "decode_infer_message",
    "encode_infer_message",
    "model_config_message",
    "model_statistics_message",
]

#: Which ``InferTensorContents`` field holds each datatype's elements.
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

# The widest dtype of each kind: a contents field's values fit it, then are range-checked.
_WIDE: dict[str, type[np.generic]] = {"b": np.bool_, "i": np.int64, "u": np.uint64, "f": np.float64}


def decode_infer_message(message: pb.ModelInferRequest) -> InferRequest:
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidArgument(
            f"raw_input_contents has {len(raw)} entries but the request has "
            f"{len(message.inputs)} inputs: send every input raw, or none"
        )
    if not message.inputs:
        raise InvalidArgument("the request must have at least one input")
    inputs: dict[str, npt.NDArray[Any]] = {}
    for index, tensor in enumerate(message.inputs):
        name = tensor.name
        if name in inputs:
            raise InvalidArgument(f"input '{name}' is given more than once")
        tensors.numpy_dtype(tensor.datatype, name)
        if any(d < 0 for d in tensor.shape):
            raise InvalidArgument(f"'shape' of input '{name}' must hold non-negative integers")
        shape = tuple(tensor.shape)
        if raw:
            inputs[name] = tensors.from_binary(memoryview(raw[index]), tensor.datatype, shape, name)
        else:
            inputs[name] = _from_contents(tensor, shape)
    outputs = []
    for output in message.outputs:
        if "classification" in output.parameters:
            raise InvalidArgument(
                f"output '{output.name}' asks for the classification extension, which shiba "
                "does not implement"
            )
        outputs.append(RequestedOutput(output.name))
    if len({o.name for o in outputs}) != len(outputs):
        raise InvalidArgument("an output is requested more than once")
    return InferRequest(inputs, id=message.id or None, outputs=tuple(outputs))


def _from_contents(
    tensor: pb.ModelInferRequest.InferInputTensor, shape: tuple[int, ...]
) -> npt.NDArray[Any]:
    name, datatype = tensor.name, tensor.datatype
    field = _CONTENTS.get(datatype)
    if field is None:
        raise InvalidArgument(
            f"input '{name}' of datatype {datatype} has no contents field; send it in "
            "raw_input_contents"
        )
    values = getattr(tensor.contents, field)
    count = tensors.element_count(shape)
    if len(values) != count:
        raise InvalidArgument(
            f"unexpected number of elements in input '{name}': shape {list(shape)} holds "
            f"{count}, its {field} has {len(values)}"
        )
    dtype = tensors.DATATYPES[datatype]
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    wide: npt.NDArray[Any] = np.array(values, dtype=_WIDE[dtype.kind])
    if dtype.kind in ("i", "u") and wide.size:
        tensors.check_range(int(wide.min()), int(wide.max()), datatype, name)
    return wide.astype(dtype).reshape(shape)


def encode_infer_message(
    model: str, version: int, request: InferRequest, outputs: Mapping[str, npt.NDArray[Any]]
) -> pb.ModelInferResponse:
    """The answer, each output in ``raw_output_contents`` (in the requested order, else the
    signature's)."""
    response = pb.ModelInferResponse(model_name=model, model_version=str(version))
    if request.id is not None:
        response.id = request.id
    names = [o.name for o in request.outputs] if request.outputs else list(outputs)
    for name in names:
        array = outputs[name]
        response.outputs.add(
            name=name, datatype=tensors.output_datatype(array, name), shape=list(array.shape)
        )
        response.raw_output_contents.append(tensors.to_binary(array))
    return response


def model_config_message(
    name: str,
    platform: str,
    signature: Signature,
    max_batch_size: int,
    batching: DynamicBatching | None,
) -> config_pb.ModelConfig:
    """The ModelConfig message the gRPC ModelConfig call answers: the REST answer's document
    (``documents.model_config_document``) parsed into the message, so both say the same."""
    document = model_config_document(name, platform, signature, max_batch_size, batching)
    return json_format.ParseDict(document, config_pb.ModelConfig())


def model_statistics_message(
    entries: Sequence[tuple[ServableId, VersionStatistics]],
) -> pb.ModelStatisticsResponse:
    """The ModelStatisticsResponse the gRPC ModelStatistics call answers: the REST answer's
    document (``documents.statistics_document``) parsed into the message, so both say the same."""
    return json_format.ParseDict(statistics_document(entries), pb.ModelStatisticsResponse())
