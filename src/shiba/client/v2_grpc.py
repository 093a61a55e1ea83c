"""The Open Inference Protocol's gRPC service (``inference.GRPCInferenceService``) from Python,
numpy in and numpy out: :class:`V2GrpcClient` (blocking) and :class:`AsyncV2GrpcClient`.

One channel per client, ``timeout`` seconds per call, TLS with ``tls=True``, the bearer ``token``
as metadata, readiness and metadata calls tried again after ``UNAVAILABLE`` (``retries`` times),
``ModelInfer`` never sent twice. Inputs travel as ``raw_input_contents`` (little-endian,
row-major; ``BYTES`` length-prefixed), cast to the model's datatypes; outputs come back as arrays
of theirs. Errors are :mod:`shiba.client.errors`, as for :class:`~shiba.client.GrpcClient`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt

from shiba._proto.v2 import inference_pb2 as pb
from shiba.client._grpc_shell import AsyncGrpc, SyncGrpc, methods
from shiba.client._v2_core import V2ModelMetadata, V2RepositoryModel, V2Tensor, input_array
from shiba.codecs.v2 import tensors

__all__ = ["V2GrpcClient", "AsyncV2GrpcClient", "infer_request"]

_SERVICE = "inference.GRPCInferenceService"  # the protocol's package is "inference"
_METHODS = methods(
    _SERVICE,
    {
        "ServerReady": pb.ServerReadyResponse,
        "ModelReady": pb.ModelReadyResponse,
        "ModelMetadata": pb.ModelMetadataResponse,
        "ModelInfer": pb.ModelInferResponse,
        "RepositoryIndex": pb.RepositoryIndexResponse,
    },
)


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
        array = input_array(name, value, by_name.get(name))
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


def _index(response: pb.RepositoryIndexResponse) -> list[V2RepositoryModel]:
    return [V2RepositoryModel(m.name, m.version, m.state, m.reason) for m in response.models]


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


class V2GrpcClient(SyncGrpc):
    """A blocking client of one server's Open Inference Protocol gRPC service; thread-safe."""

    METHODS = _METHODS

    def server_ready(self) -> bool:
        return bool(self._call("ServerReady", pb.ServerReadyRequest(), True).ready)

    def model_ready(self, model: str, *, version: int | None = None) -> bool:
        request = pb.ModelReadyRequest(name=model, version=_version(version))
        return bool(self._call("ModelReady", request, True).ready)

    def model_metadata(self, model: str, *, version: int | None = None) -> V2ModelMetadata:
        """The model's versions, platform, inputs and outputs (read once, then kept)."""
        key = (model, version)
        if key not in self._v2_metadata:
            request = pb.ModelMetadataRequest(name=model, version=_version(version))
            self._v2_metadata[key] = _metadata(self._call("ModelMetadata", request, True))
        return self._v2_metadata[key]

    def repository_index(self, *, ready: bool = False) -> list[V2RepositoryModel]:
        """``RepositoryIndex``: the models of the server's repository, each version with its
        state (only the ready ones with ``ready``); ``UNIMPLEMENTED`` from a server without the
        model_repository extension."""
        request = pb.RepositoryIndexRequest(ready=ready)
        return _index(self._call("RepositoryIndex", request, True))

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


class AsyncV2GrpcClient(AsyncGrpc):
    """The asyncio twin of :class:`V2GrpcClient` (create it inside the running event loop)."""

    METHODS = _METHODS

    async def server_ready(self) -> bool:
        return bool((await self._call("ServerReady", pb.ServerReadyRequest(), True)).ready)

    async def model_ready(self, model: str, *, version: int | None = None) -> bool:
        request = pb.ModelReadyRequest(name=model, version=_version(version))
        return bool((await self._call("ModelReady", request, True)).ready)

    async def model_metadata(self, model: str, *, version: int | None = None) -> V2ModelMetadata:
        key = (model, version)
        if key not in self._v2_metadata:
            request = pb.ModelMetadataRequest(name=model, version=_version(version))
            self._v2_metadata[key] = _metadata(await self._call("ModelMetadata", request, True))
        return self._v2_metadata[key]

    async def repository_index(self, *, ready: bool = False) -> list[V2RepositoryModel]:
        request = pb.RepositoryIndexRequest(ready=ready)
        return _index(await self._call("RepositoryIndex", request, True))

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
