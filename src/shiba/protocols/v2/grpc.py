"""The Open Inference Protocol's gRPC service, ``inference.GRPCInferenceService``, on ``grpc.aio``.

RPCs (KServe's grpc_predict_v2.proto with the Triton extensions shiba serves)::

    ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata    health and metadata
    ModelInfer                                                           inference (raw or contents)
    ModelStreamInfer                                  inference, a bidirectional stream of ModelInfer
    ModelConfig, ModelStatistics                                         model_configuration, statistics
    RepositoryIndex, RepositoryModelLoad, RepositoryModelUnload          model_repository

Every handler parses, calls the v2 data plane (``dataplane.py``, shared with the REST routes) and
encodes; handlers take and return bytes, and requests larger than
``GrpcOptions.inline_decode_bytes`` are decoded and answered on a worker thread. A
``ShibaError`` becomes the RPC's status (``protocols.status``); anything else is logged and
answered INTERNAL. ModelStreamInfer (:func:`stream_infer`) answers each request of its stream as
ModelInfer does, in order; a request that fails is answered with its ``error_message`` and the
stream stays open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from time import perf_counter_ns
from typing import TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

import shiba
from shiba._proto.v2 import inference_pb2 as pb
from shiba.codecs.v2.documents import tensor_metadata
from shiba.codecs.v2.grpc_messages import (
    decode_infer_message,
    encode_infer_message,
    model_config_message,
    model_statistics_message,
)
from shiba.codecs.v2.infer import InferRequest
from shiba.core.errors import InvalidArgument
from shiba.core.ids import ModelSpec
from shiba.core.metrics import Metrics
from shiba.core.servable import Outputs
from shiba.core.tensors import TensorSpec
from shiba.protocols._grpc_handlers import Handler, StreamHandler, add_handlers, error_status
from shiba.protocols.options import GrpcOptions
from shiba.protocols.v2.dataplane import EXTENSIONS, DataPlane, parse_version

__all__ = [
    "SERVICE",
    "add_v2_service",
    "stream_answer",
    "stream_infer",
    "v2_handlers",
    "v2_stream_handlers",
]

#: The service's name on the wire.
SERVICE = "inference.GRPCInferenceService"

_M = TypeVar("_M", bound=Message)
_UNTIMED = nullcontext()


def add_v2_service(
    server: grpc.aio.Server,
    plane: DataPlane,
    options: GrpcOptions | None = None,
    *,
    metrics: Metrics | None = None,
) -> None:
    """Registers ``inference.GRPCInferenceService`` on ``server`` (before it starts)."""
    table = v2_handlers(plane, options, metrics=metrics)
    add_handlers(server, table, v2_stream_handlers(table[SERVICE]["ModelInfer"]))


def v2_handlers(
    plane: DataPlane, options: GrpcOptions | None = None, *, metrics: Metrics | None = None
) -> dict[str, dict[str, Handler]]:
    """The service's RPCs as plain coroutines, ``{SERVICE: {method name: handler}}``.

    Each takes a serialized request and returns the serialized response, or raises
    ``ShibaError``: what ``add_v2_service`` registers, and what a process without a gRPC server
    of its own (a Ray Serve replica, ``shiba.integrations.ray``) calls directly. With
    ``metrics``, each ModelInfer (streamed ones too) is recorded there as TF Serving's gRPC
    front end records a Predict: API "ModelInfer", entrypoint "GRPC".
    """
    servicer = _Servicer(plane, options or GrpcOptions(), metrics)
    methods: dict[str, Handler] = {
        "ServerLive": servicer.server_live,
        "ServerReady": servicer.server_ready,
        "ModelReady": servicer.model_ready,
        "ServerMetadata": servicer.server_metadata,
        "ModelMetadata": servicer.model_metadata,
        "ModelInfer": servicer.model_infer,
        "ModelConfig": servicer.model_config,
        "ModelStatistics": servicer.model_statistics,
        "RepositoryIndex": servicer.repository_index,
        "RepositoryModelLoad": servicer.repository_model_load,
        "RepositoryModelUnload": servicer.repository_model_unload,
    }
    return {SERVICE: methods}


def v2_stream_handlers(model_infer: Handler) -> dict[str, dict[str, StreamHandler]]:
    """The service's streaming RPC, ``{SERVICE: {"ModelStreamInfer": handler}}``, answering each
    request with ``model_infer`` (``v2_handlers``' own, or one that forwards it elsewhere)."""
    return {SERVICE: {"ModelStreamInfer": stream_infer(model_infer)}}


def stream_infer(model_infer: Handler) -> StreamHandler:
    """ModelStreamInfer over ``model_infer``: each serialized ``ModelInferRequest`` of the stream
    is answered, in order, with a ``ModelStreamInferResponse`` holding ``model_infer``'s answer,
    or, if it failed, its ``error_message`` (and the request's ``id``, model name and version);
    the stream stays open after a failed request."""
    method = f"{SERVICE}/ModelStreamInfer"

    async def handler(requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for data in requests:
            try:
                answer = await model_infer(data)
            except Exception as exc:
                failed = pb.ModelStreamInferResponse(error_message=error_status(method, exc)[1])
                _identify(failed.infer_response, data)
                yield failed.SerializeToString()
                continue
            yield stream_answer(answer)

    return handler


#: The tag of ``ModelStreamInferResponse.infer_response`` on the wire (field 2, length-delimited).
_INFER_RESPONSE_TAG = bytes(
    [pb.ModelStreamInferResponse.DESCRIPTOR.fields_by_name["infer_response"].number << 3 | 2]
)


def stream_answer(infer_response: bytes) -> bytes:
    """The serialized ``ModelStreamInferResponse`` holding the serialized ``ModelInferResponse``
    ``infer_response``: the field written around the bytes (tag, varint length, bytes), as
    protobuf would, without parsing the answer's tensors and serializing them again (~0.9 ms of
    the event loop for a 1 MB answer)."""
    head = bytearray(_INFER_RESPONSE_TAG)
    length = len(infer_response)
    while length > 0x7F:
        head.append(length & 0x7F | 0x80)
        length >>= 7
    head.append(length)
    return bytes(head) + infer_response


def _identify(out: pb.ModelInferResponse, data: bytes) -> None:
    """Copies the id, model name and version of the request ``data`` (if it parses) to ``out``."""
    try:
        request = pb.ModelInferRequest.FromString(data)
    except DecodeError:
        return
    out.id = request.id
    out.model_name = request.model_name
    out.model_version = request.model_version


def _parse(cls: type[_M], data: bytes) -> _M:
    try:
        return cls.FromString(data)
    except DecodeError as exc:
        raise InvalidArgument(f"Could not parse the request as {cls.__name__}: {exc}") from None


def _spec(name: str, version: str) -> ModelSpec:
    return ModelSpec(name, parse_version(version))


def _tensors(specs: Mapping[str, TensorSpec]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [pb.ModelMetadataResponse.TensorMetadata(**entry) for entry in tensor_metadata(specs)]


class _Servicer:
    def __init__(self, plane: DataPlane, options: GrpcOptions, metrics: Metrics | None) -> None:
        self._plane = plane
        self._options = options
        self._metrics = metrics

    async def server_live(self, data: bytes) -> bytes:
        _parse(pb.ServerLiveRequest, data)
        return pb.ServerLiveResponse(live=True).SerializeToString()

    async def server_ready(self, data: bytes) -> bytes:
        _parse(pb.ServerReadyRequest, data)
        return pb.ServerReadyResponse(ready=self._plane.server_ready()).SerializeToString()

    async def model_ready(self, data: bytes) -> bytes:
        request = _parse(pb.ModelReadyRequest, data)
        ready = self._plane.model_ready(request.name, parse_version(request.version))
        return pb.ModelReadyResponse(ready=ready).SerializeToString()

    async def server_metadata(self, data: bytes) -> bytes:
        _parse(pb.ServerMetadataRequest, data)
        answer = pb.ServerMetadataResponse(
            name="shiba", version=shiba.__version__, extensions=list(EXTENSIONS)
        )
        return answer.SerializeToString()

    async def model_metadata(self, data: bytes) -> bytes:
        request = _parse(pb.ModelMetadataRequest, data)
        view = self._plane.model(_spec(request.name, request.version))
        # The tensors as the REST answer lists them (name, datatype, shape).
        answer = pb.ModelMetadataResponse(
            name=request.name,
            versions=[str(v) for v in view.versions],
            platform=view.platform,
            inputs=_tensors(view.signature.inputs),
            outputs=_tensors(view.signature.outputs),
        )
        return answer.SerializeToString()

    async def model_infer(self, data: bytes) -> bytes:
        received = perf_counter_ns()
        offload = len(data) > self._options.inline_decode_bytes
        if offload:
            message = await asyncio.to_thread(_parse, pb.ModelInferRequest, data)
        else:
            message = _parse(pb.ModelInferRequest, data)
        model = message.model_name

        def encode(request: InferRequest, version: int, outputs: Outputs) -> bytes:
            return encode_infer_message(model, version, request, outputs).SerializeToString()

        with self._timed(model):
            return await self._plane.infer(
                _spec(model, message.model_version),
                lambda: decode_infer_message(message),
                encode,
                offload=offload,
                received_ns=received,
            )

    def _timed(self, model: str) -> AbstractContextManager[object]:
        if self._metrics is None:
            return _UNTIMED
        return self._metrics.time_request(model, "ModelInfer", "GRPC")

    async def model_config(self, data: bytes) -> bytes:
        request = _parse(pb.ModelConfigRequest, data)
        plane = self._plane
        view = plane.model(_spec(request.name, request.version))
        config = model_config_message(
            request.name, view.platform, view.signature, plane.max_batch_size, plane.batching
        )
        return pb.ModelConfigResponse(config=config).SerializeToString()

    async def model_statistics(self, data: bytes) -> bytes:
        request = _parse(pb.ModelStatisticsRequest, data)
        name = request.name or None
        version = parse_version(request.version) if name is not None else None
        answer = model_statistics_message(self._plane.statistics(name, version))
        return answer.SerializeToString()

    async def repository_index(self, data: bytes) -> bytes:
        request = _parse(pb.RepositoryIndexRequest, data)
        answer = pb.RepositoryIndexResponse()
        for row in await self._plane.index(request.ready):
            answer.models.add(
                name=row.name, version=row.version, state=row.state, reason=row.reason
            )
        return answer.SerializeToString()

    async def repository_model_load(self, data: bytes) -> bytes:
        request = _parse(pb.RepositoryModelLoadRequest, data)
        await self._plane.load(request.model_name, list(request.parameters))
        return pb.RepositoryModelLoadResponse().SerializeToString()

    async def repository_model_unload(self, data: bytes) -> bytes:
        request = _parse(pb.RepositoryModelUnloadRequest, data)
        await self._plane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse().SerializeToString()
