"""What the Open Inference Protocol's REST routes and gRPC service share: one data plane over the
service, the engines record, the statistics and the model repository (MLServer's ``DataPlane``).

The front ends parse their wire format into an :class:`~shiba.codecs.v2.infer.InferRequest`, call
the data plane, and encode what it returns; readiness, metadata, configuration, statistics and
inference are decided here once. A model answers v2 requests with its ``serving_default``
signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TypeVar

from shiba.codecs.v2.documents import DynamicBatching
from shiba.codecs.v2.infer import InferRequest, check_signature
from shiba.core.engines import ServingEngines
from shiba.core.errors import InvalidArgument, Unimplemented
from shiba.core.ids import ModelSpec, ServableId
from shiba.core.lifecycle.states import ManagerState
from shiba.core.servable import Outputs
from shiba.core.service import ModelService
from shiba.core.statistics import VersionStatistics
from shiba.core.tensors import Signature
from shiba.protocols.v2.repository import ModelRepository, RepositoryModel

__all__ = ["DataPlane", "ModelView", "EXTENSIONS", "PLATFORMS", "parse_version"]

#: The protocol extensions shiba implements (server metadata's ``extensions``).
EXTENSIONS = ("binary_tensor_data", "statistics", "model_configuration", "model_repository")

#: Triton's platform string of each shiba platform (the model format a version was loaded as).
PLATFORMS = {
    "tensorflow": "tensorflow_savedmodel",
    "onnx": "onnxruntime_onnx",
    "pytorch": "pytorch_libtorch",
    "python": "python",
}

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ModelView:
    """A model version as metadata and configuration show it: its available versions, the
    platform that loaded the version addressed, and the signature v2 requests run."""

    versions: list[int]
    platform: str
    signature: Signature


def parse_version(text: str | None) -> int | None:
    """A request's version ("" or None: the latest); InvalidArgument unless a number."""
    if not text:
        return None
    if not text.isdigit():
        raise InvalidArgument(f"model version must be a non-negative integer, got '{text}'")
    return int(text)


class DataPlane:
    """Thread-safe; the ``async`` methods run on the event loop and never block it."""

    def __init__(
        self,
        service: ModelService,
        engines: ServingEngines,
        *,
        repository: ModelRepository | None = None,
        max_batch_size: int = 0,
        batching: DynamicBatching | None = None,
    ) -> None:
        self.service = service
        self._engines = engines
        self._repository = repository
        self.max_batch_size = max_batch_size
        self.batching = batching

    # -- health and metadata ----------------------------------------------------------------

    def available(self, name: str) -> list[int]:
        states = self.service.manager.model_states(name)
        return sorted(s.id.version for s in states if s.state is ManagerState.AVAILABLE)

    def server_ready(self) -> bool:
        """Every model shiba is asked to serve has an AVAILABLE version."""
        manager = self.service.manager
        names = self._repository.served() if self._repository else manager.model_names()
        return all(self.available(name) for name in names)

    def model_ready(self, name: str, version: int | None) -> bool:
        available = self.available(name)
        return bool(available) if version is None else version in available

    def model(self, spec: ModelSpec) -> ModelView:
        """The addressed version's view; NotFound if it is not available."""
        with self.service.acquire(spec) as handle:
            _, signature = self.service.signature(handle, "")
            platform = self._engines.platform(handle.id) or ""
            return ModelView(
                self.available(spec.name), PLATFORMS.get(platform, platform), signature
            )

    def statistics(
        self, name: str | None, version: int | None
    ) -> list[tuple[ServableId, VersionStatistics]]:
        """The AVAILABLE versions' statistics: of every model (``name`` None), or of one model's
        versions or version (NotFound as the status API says it)."""
        service = self.service
        if name is None:
            states = [
                s
                for model in service.manager.model_names()
                for s in service.manager.model_states(model)
            ]
        else:
            states = service.status(name, version)
        ids = sorted(s.id for s in states if s.state is ManagerState.AVAILABLE)
        statistics = service.statistics
        return [(sid, statistics.get(sid)) for sid in ids]

    # -- inference --------------------------------------------------------------------------

    async def infer(
        self,
        spec: ModelSpec,
        decode: Callable[[], InferRequest],
        encode: Callable[[InferRequest, int, Outputs], _T],
        *,
        offload: bool = False,
        received_ns: int | None = None,
    ) -> _T:
        """Decodes, checks against the signature, runs and encodes one request, timed in the
        statistics of the version that answered; ``offload`` decodes and encodes on a worker
        thread (large requests). ``received_ns`` (``perf_counter_ns()``) is when the request
        arrived, if a front end parsed some of it before calling (the time counts as decoding)."""
        service = self.service
        statistics = service.statistics
        with service.acquire(spec) as handle:
            start = perf_counter_ns() if received_ns is None else received_ns
            try:
                signature_name, signature = service.signature(handle, "")
                request = await asyncio.to_thread(decode) if offload else decode()
                check_signature(request, signature, spec.name)
                decoded = perf_counter_ns()
                outputs = await service.predict(
                    handle, signature_name, request.inputs, request.output_names, checked=True
                )
                ran = perf_counter_ns()
                version = handle.id.version
                if offload:
                    answer = await asyncio.to_thread(encode, request, version, outputs)
                else:
                    answer = encode(request, version, outputs)
            except BaseException:
                statistics.failed(handle.id, start)
                raise
            statistics.answered(handle.id, start, decoded, ran)
            return answer

    # -- the model repository ---------------------------------------------------------------

    def _need_repository(self) -> ModelRepository:
        if self._repository is None:
            raise Unimplemented("this server has no model repository to load models from")
        return self._repository

    async def index(self, ready_only: bool) -> list[RepositoryModel]:
        return await asyncio.to_thread(self._need_repository().index, ready_only)

    async def load(self, name: str, parameter_names: Iterable[str] = ()) -> None:
        repository = self._need_repository()
        if any(key == "config" or key.startswith("file:") for key in parameter_names):
            raise Unimplemented(
                "loading a model with an override config or files is not supported; put "
                "the model in the repository and load it by name"
            )
        await asyncio.to_thread(repository.load, name)

    async def unload(self, name: str) -> None:
        await asyncio.to_thread(self._need_repository().unload, name)
