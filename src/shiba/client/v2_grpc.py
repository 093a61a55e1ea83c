"""The Open Inference Protocol's gRPC service (``inference.GRPCInferenceService``) from Python,
numpy in and numpy out: :class:`V2GrpcClient` (blocking) and :class:`AsyncV2GrpcClient`.

One channel per client, ``timeout`` seconds per call, TLS with ``tls=True``, the bearer ``token``
as metadata, readiness and metadata calls tried again after ``UNAVAILABLE`` (``retries`` times),
``ModelInfer`` never sent twice. Inputs travel as ``raw_input_contents`` (little-endian,
row-major; ``BYTES`` length-prefixed), cast to the model's datatypes; outputs come back as arrays
of theirs. Errors are :mod:`shiba.client.errors`, as for :class:`~shiba.client.GrpcClient`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio
import numpy as np
import numpy.typing as npt

from shiba._proto.v2 import inference_pb2 as pb
from shiba.client._v2_core import V2ModelMetadata, V2Tensor
from shiba.client.grpc import _GRPC_OPTIONS, _code, _credentials, _error
from shiba.codecs.v2 import tensors

__all__ = ["V2GrpcClient", "AsyncV2GrpcClient", "infer_request"]

_SERVICE = "inference.GRPCInferenceService"  # the protocol's package is "inference"
_BACKOFF_SECONDS = 0.1
_METHODS: dict[str, Any] = {
    "ServerReady": pb.ServerReadyResponse,
    "ModelReady": pb.ModelReadyResponse,
    "ModelMetadata": pb.ModelMetadataResponse,
    "ModelInfer": pb.ModelInferResponse,
}


def infer_request(
    model: str,
    version: int | None,
    inputs: Mapping[str, npt.ArrayLike],
    known: Sequence[V2Tensor] = (),
    outputs: Sequence[str] = (),
) -> pb.ModelInferRequest:
    """The ``ModelInferRequest`` for ``inputs`` by name, cast to the ``known`` datatypes."""
    by_name = {tensor.name: tensor for tensor in known}
    request = pb.ModelInferRequest(model_name=model, model_version=_version(version))
    for name, value in inputs.items():
        info = by_name.get(name)
        strings = info is not None and info.datatype == "BYTES"
        array = np.asarray(value, dtype=object) if strings else np.asarray(value)
        if info is not None and not strings and array.dtype.kind in "biuf":
            array = array.astype(tensors.numpy_dtype(info.datatype, name), copy=False)
        request.inputs.add(name=name, datatype=tensors.datatype_of(array), shape=array.shape)
        request.raw_input_contents.append(tensors.to_binary(array))
    for name in outputs:
        request.outputs.add(name=name)
    return request


def _version(version: int | None) -> str:
    return "" if version is None else str(version)


def _outputs(response: pb.ModelInferResponse) -> dict[str, npt.NDArray[Any]]:
    results: dict[str, npt.NDArray[Any]] = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        shape = tuple(int(d) for d in tensor.shape)
        results[tensor.name] = tensors.from_binary(
            memoryview(raw), tensor.datatype, shape, tensor.name
        )
    return results


def _metadata(response: pb.ModelMetadataResponse) -> V2ModelMetadata:
    def tensor(entry: Any) -> V2Tensor:
        return V2Tensor(entry.name, entry.datatype, tuple(int(d) for d in entry.shape))

    return V2ModelMetadata(
        response.name,
        tuple(response.versions),
        response.platform,
        tuple(tensor(t) for t in response.inputs),
        tuple(tensor(t) for t in response.outputs),
    )


class _Base:
    def __init__(self, target: str, timeout: float, retries: int, token: str | None) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self._auth = (("authorization", f"Bearer {token}"),) if token else None
        self._known: dict[tuple[str, int | None], V2ModelMetadata] = {}

    def _stubs(self, channel: Any) -> dict[str, Callable[..., Any]]:
        return {
            name: channel.unary_unary(
                f"/{_SERVICE}/{name}",
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=response.FromString,
            )
            for name, response in _METHODS.items()
        }


class V2GrpcClient(_Base):
    """A blocking client of one server's Open Inference Protocol gRPC service; thread-safe."""

    def __init__(
        self,
        target: str = "localhost:8500",
        *,
        timeout: float = 30.0,
        retries: int = 2,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        super().__init__(target, timeout, retries, token)
        credentials = _credentials(tls, root_certificates)
        self._channel = (
            grpc.secure_channel(target, credentials, _GRPC_OPTIONS)
            if credentials
            else grpc.insecure_channel(target, _GRPC_OPTIONS)
        )
        self._call_of = self._stubs(self._channel)

    def _call(self, method: str, request: Any, idempotent: bool) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return self._call_of[method](request, timeout=self.timeout, metadata=self._auth)
            except grpc.RpcError as exc:
                retry = idempotent and attempt < self.retries
                if not retry or _code(exc) is not grpc.StatusCode.UNAVAILABLE:
                    raise _error(exc, self.target) from None
            time.sleep(_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def server_ready(self) -> bool:
        return bool(self._call("ServerReady", pb.ServerReadyRequest(), True).ready)

    def model_ready(self, model: str, *, version: int | None = None) -> bool:
        request = pb.ModelReadyRequest(name=model, version=_version(version))
        return bool(self._call("ModelReady", request, True).ready)

    def model_metadata(self, model: str, *, version: int | None = None) -> V2ModelMetadata:
        """The model's versions, platform, inputs and outputs (read once, then kept)."""
        if (model, version) not in self._known:
            request = pb.ModelMetadataRequest(name=model, version=_version(version))
            self._known[(model, version)] = _metadata(self._call("ModelMetadata", request, True))
        return self._known[(model, version)]

    def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.ArrayLike],
        *,
        version: int | None = None,
        outputs: Sequence[str] = (),
    ) -> dict[str, npt.NDArray[Any]]:
        """Runs the model on ``inputs`` by name; its outputs (or those named) by name."""
        known = self.model_metadata(model, version=version).inputs
        request = infer_request(model, version, inputs, known, outputs)
        return _outputs(self._call("ModelInfer", request, False))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncV2GrpcClient(_Base):
    """The asyncio twin of :class:`V2GrpcClient` (create it inside the running event loop)."""

    def __init__(
        self,
        target: str = "localhost:8500",
        *,
        timeout: float = 30.0,
        retries: int = 2,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        super().__init__(target, timeout, retries, token)
        credentials = _credentials(tls, root_certificates)
        self._channel = (
            grpc.aio.secure_channel(target, credentials, _GRPC_OPTIONS)
            if credentials
            else grpc.aio.insecure_channel(target, _GRPC_OPTIONS)
        )
        self._call_of = self._stubs(self._channel)

    async def _call(self, method: str, request: Any, idempotent: bool) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return await self._call_of[method](
                    request, timeout=self.timeout, metadata=self._auth
                )
            except grpc.RpcError as exc:
                retry = idempotent and attempt < self.retries
                if not retry or _code(exc) is not grpc.StatusCode.UNAVAILABLE:
                    raise _error(exc, self.target) from None
            await asyncio.sleep(_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def server_ready(self) -> bool:
        return bool((await self._call("ServerReady", pb.ServerReadyRequest(), True)).ready)

    async def model_ready(self, model: str, *, version: int | None = None) -> bool:
        request = pb.ModelReadyRequest(name=model, version=_version(version))
        return bool((await self._call("ModelReady", request, True)).ready)

    async def model_metadata(self, model: str, *, version: int | None = None) -> V2ModelMetadata:
        if (model, version) not in self._known:
            request = pb.ModelMetadataRequest(name=model, version=_version(version))
            answer = await self._call("ModelMetadata", request, True)
            self._known[(model, version)] = _metadata(answer)
        return self._known[(model, version)]

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.ArrayLike],
        *,
        version: int | None = None,
        outputs: Sequence[str] = (),
    ) -> dict[str, npt.NDArray[Any]]:
        known = (await self.model_metadata(model, version=version)).inputs
        request = infer_request(model, version, inputs, known, outputs)
        return _outputs(await self._call("ModelInfer", request, False))

    async def aclose(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
