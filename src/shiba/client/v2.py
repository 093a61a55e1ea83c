"""The Open Inference Protocol (KServe v2) REST API from Python, numpy in and numpy out:
:class:`V2Client` (blocking) and :class:`AsyncV2Client` (asyncio), on the same shells, transport
and retry policy as :class:`~shiba.client.Client` (``rest.py``).

    with V2Client("http://localhost:8501") as client:
        outputs = client.infer("ViT", {"images": images})

``infer`` reads the model's metadata once (per model and version) to send each input with the
model's datatype. The protocol's gRPC service is reachable with any KServe v2 gRPC client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt

from shiba.client import _v2_core as core
from shiba.client._v2_core import V2ModelMetadata, V2RepositoryModel, V2Tensor
from shiba.client.rest import AsyncHttp, SyncHttp

__all__ = ["V2Client", "AsyncV2Client", "V2ModelMetadata", "V2RepositoryModel", "V2Tensor"]


class V2Client(SyncHttp):
    """A blocking client of one server's Open Inference Protocol REST API."""

    def server_ready(self) -> bool:
        """``GET /v2/health/ready``: whether every model is ready."""
        return self._send(core.ready_call("/v2/health/ready"))

    def model_ready(self, model: str, *, version: int | None = None) -> bool:
        return self._send(core.ready_call(core.model_path(model, version) + "/ready"))

    def model_metadata(self, model: str, *, version: int | None = None) -> V2ModelMetadata:
        """The model's versions, platform, inputs and outputs (read once, then kept)."""
        key = (model, version)
        if key not in self._v2_metadata:
            self._v2_metadata[key] = self._send(core.model_metadata_call(model, version))
        return self._v2_metadata[key]

    def repository_index(self, *, ready: bool = False) -> list[V2RepositoryModel]:
        """``POST /v2/repository/index``: the models of the server's repository, each version
        with its state (only the ready ones with ``ready``); an error from a server without the
        model_repository extension."""
        return self._send(core.repository_index_call(ready))

    def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.ArrayLike],
        *,
        version: int | None = None,
        outputs: Sequence[str] = (),
    ) -> dict[str, npt.NDArray[Any]]:
        """Runs the model on ``inputs`` by name; its outputs (or those named) by name."""
        metadata = self.model_metadata(model, version=version)
        return self._send(core.infer_call(model, version, inputs, metadata.inputs, outputs))


class AsyncV2Client(AsyncHttp):
    """The asyncio twin of :class:`V2Client`."""

    async def server_ready(self) -> bool:
        return await self._send(core.ready_call("/v2/health/ready"))

    async def model_ready(self, model: str, *, version: int | None = None) -> bool:
        return await self._send(core.ready_call(core.model_path(model, version) + "/ready"))

    async def model_metadata(self, model: str, *, version: int | None = None) -> V2ModelMetadata:
        key = (model, version)
        if key not in self._v2_metadata:
            self._v2_metadata[key] = await self._send(core.model_metadata_call(model, version))
        return self._v2_metadata[key]

    async def repository_index(self, *, ready: bool = False) -> list[V2RepositoryModel]:
        return await self._send(core.repository_index_call(ready))

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.ArrayLike],
        *,
        version: int | None = None,
        outputs: Sequence[str] = (),
    ) -> dict[str, npt.NDArray[Any]]:
        metadata = await self.model_metadata(model, version=version)
        return await self._send(core.infer_call(model, version, inputs, metadata.inputs, outputs))
