"""The Open Inference Protocol's (KServe v2) REST API: the routes under ``/v2/``, on the router.

Routes (as Triton serves them; ``{v}`` is a version number, absent means the latest)::

    GET  /v2                                          server metadata (name, version, extensions)
    GET  /v2/health/live | /v2/health/ready           liveness, readiness (200 or 400)
    GET  /v2/models/{m}[/versions/{v}]                model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready          model readiness (200 or 400)
    POST /v2/models/{m}[/versions/{v}]/infer          inference, JSON or binary tensor data
    GET  /v2/models/{m}[/versions/{v}]/config         model configuration
    GET  /v2/models[/{m}[/versions/{v}]]/stats        statistics
    POST /v2/repository/index                         the model repository's models
    POST /v2/repository/models/{m}/load | /unload     load or unload a model of the repository

A model answers v2 requests with its ``serving_default`` signature. Errors are
``{"error": "..."}`` with the status of their code. A handler only parses, calls the service (or
the repository) and encodes; deadlines, body limits, CORS and auth are the router's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from time import perf_counter_ns
from typing import Any

import numpy.typing as npt
import orjson

import shiba
from shiba.codecs.v2 import documents
from shiba.codecs.v2.infer import HEADER_LENGTH, check_signature, decode_infer, encode_infer
from shiba.core.engines import ServingEngines
from shiba.core.errors import Code, InvalidArgument, NotFound, Unimplemented
from shiba.core.ids import ModelSpec, ServableId
from shiba.core.lifecycle.states import ManagerState
from shiba.core.service import ModelService
from shiba.core.statistics import InferenceStatistics
from shiba.protocols.http.routes import Headers, Request, Response
from shiba.protocols.options import RestOptions
from shiba.protocols.v2.repository import ModelRepository

__all__ = ["V2Routes", "EXTENSIONS", "PLATFORMS"]

#: The protocol extensions shiba implements (``GET /v2``'s ``extensions``).
EXTENSIONS = ("binary_tensor_data", "statistics", "model_configuration", "model_repository")

#: Triton's platform string of each shiba platform (the model format a version was loaded as).
PLATFORMS = {
    "tensorflow": "tensorflow_savedmodel",
    "onnx": "onnxruntime_onnx",
    "pytorch": "pytorch_libtorch",
    "python": "python",
}

_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer|config|stats))?")
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")
_BINARY: Headers = ((b"content-type", b"application/octet-stream"),)
_EMPTY = b""


class V2Routes:
    """The ``/v2/`` routes. Stateless but for what it reads and the statistics it records.

    ``statistics`` gets every v2 inference; ``engines`` tells which platform loaded a version;
    ``repository`` (None: the model_repository routes answer 501) loads and unloads models;
    ``max_batch_size`` and ``batching`` are what the model configuration reports.
    """

    prefix = "/v2/"
    public = frozenset({"/v2/health/live", "/v2/health/ready"})

    def __init__(
        self,
        service: ModelService,
        engines: ServingEngines,
        statistics: InferenceStatistics,
        options: RestOptions | None = None,
        *,
        repository: ModelRepository | None = None,
        max_batch_size: int = 0,
        batching: documents.DynamicBatching | None = None,
    ) -> None:
        self._service = service
        self._engines = engines
        self._statistics = statistics
        self._options = options or RestOptions()
        self._repository = repository
        self._max_batch_size = max_batch_size
        self._batching = batching

    def error_body(self, message: str) -> bytes:
        return documents.encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        """Nothing: v2 inferences are recorded in the statistics extension's records."""

    async def handle(self, request: Request) -> Response:
        method, path = request.method, request.path.rstrip("/")
        if method == "GET":
            if path == "/v2":
                body = documents.encode_server_metadata("shiba", shiba.__version__, EXTENSIONS)
                return Response(200, body)
            if path == "/v2/health/live":
                return Response(200, _EMPTY)
            if path == "/v2/health/ready":
                return Response(200 if self._server_ready() else 400, _EMPTY)
            if path == "/v2/models/stats":
                return Response(200, self._stats(None, None))
        match = _MODEL.fullmatch(path)
        if match is not None:
            name, version_text, verb = match.groups()
            version = _version(version_text)
            if method == "POST" and verb == "infer":
                return await self._infer(ModelSpec(name, version), request)
            if method == "GET" and verb is None:
                return Response(200, self._metadata(ModelSpec(name, version)))
            if method == "GET" and verb == "ready":
                return Response(200 if self._model_ready(name, version) else 400, _EMPTY)
            if method == "GET" and verb == "config":
                return Response(200, self._config(ModelSpec(name, version)))
            if method == "GET" and verb == "stats":
                return Response(200, self._stats(name, version))
        if method == "POST":
            if path == "/v2/repository/index":
                return Response(200, await self._index(request.body))
            repository_match = _REPOSITORY.fullmatch(path)
            if repository_match is not None:
                name, action = repository_match.groups()
                await self._load_or_unload(name, action, request.body)
                return Response(200, _EMPTY)
        raise NotFound(f"Not found: {request.method} {request.path}")

    # -- health and metadata ----------------------------------------------------------------

    def _available(self, name: str) -> list[int]:
        states = self._service.manager.model_states(name)
        return sorted(s.id.version for s in states if s.state is ManagerState.AVAILABLE)

    def _server_ready(self) -> bool:
        manager = self._service.manager
        names = self._repository.served() if self._repository else manager.model_names()
        return all(self._available(name) for name in names)

    def _model_ready(self, name: str, version: int | None) -> bool:
        available = self._available(name)
        return bool(available) if version is None else version in available

    def _platform(self, servable_id: ServableId) -> str:
        platform = self._engines.platform(servable_id) or ""
        return PLATFORMS.get(platform, platform)

    def _metadata(self, spec: ModelSpec) -> bytes:
        with self._service.acquire(spec) as handle:
            _, signature = self._service.signature(handle, "")
            return documents.encode_model_metadata(
                spec.name, self._available(spec.name), self._platform(handle.id), signature
            )

    def _config(self, spec: ModelSpec) -> bytes:
        with self._service.acquire(spec) as handle:
            _, signature = self._service.signature(handle, "")
            return documents.encode_model_config(
                spec.name,
                self._platform(handle.id),
                signature,
                self._max_batch_size,
                self._batching,
            )

    def _stats(self, name: str | None, version: int | None) -> bytes:
        service = self._service
        names = [name] if name is not None else service.manager.model_names()
        ids: list[ServableId] = []
        for model in names:
            states = service.status(model, version) if name is not None else []
            if name is None:
                states = service.manager.model_states(model)
            ids += sorted(s.id for s in states if s.state is ManagerState.AVAILABLE)
        return documents.encode_statistics([(sid, self._statistics.get(sid)) for sid in ids])

    # -- inference --------------------------------------------------------------------------

    async def _infer(self, spec: ModelSpec, request: Request) -> Response:
        service = self._service
        header_length = _header_length(request.header(HEADER_LENGTH))
        body = request.body
        inline = len(body) <= self._options.inline_decode_bytes
        with service.acquire(spec) as handle:
            start = perf_counter_ns()
            try:
                signature_name, signature = service.signature(handle, "")
                if inline:
                    decoded = decode_infer(body, header_length)
                else:
                    decoded = await asyncio.to_thread(decode_infer, body, header_length)
                check_signature(decoded, signature, spec.name)
                decoded_at = perf_counter_ns()
                outputs = await service.predict(
                    handle, signature_name, decoded.inputs, decoded.output_names
                )
                ran_at = perf_counter_ns()
                version = handle.id.version
                if inline:
                    answer, json_length = encode_infer(spec.name, version, decoded, outputs)
                else:
                    answer, json_length = await asyncio.to_thread(
                        encode_infer, spec.name, version, decoded, outputs
                    )
            except BaseException:
                self._statistics.record_failure(handle.id, perf_counter_ns() - start)
                raise
            self._statistics.record_success(
                handle.id,
                _batch_size(decoded.inputs.values()),
                input_ns=decoded_at - start,
                infer_ns=ran_at - decoded_at,
                output_ns=perf_counter_ns() - ran_at,
            )
        if json_length is None:
            return Response(200, answer)
        return Response(200, answer, (*_BINARY, (HEADER_LENGTH, b"%d" % json_length)))

    # -- the model repository ---------------------------------------------------------------

    def _need_repository(self) -> ModelRepository:
        if self._repository is None:
            raise Unimplemented("this server has no model repository to load models from")
        return self._repository

    async def _index(self, body: bytes) -> bytes:
        repository = self._need_repository()
        ready = _json_object(body).get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidArgument("'ready' must be true or false")
        rows = await asyncio.to_thread(repository.index, ready)
        return documents.encode_repository_index(
            [
                {"name": row.name, "version": row.version, "state": row.state, "reason": row.reason}
                for row in rows
            ]
        )

    async def _load_or_unload(self, name: str, action: str, body: bytes) -> None:
        repository = self._need_repository()
        parameters = _json_object(body).get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidArgument("'parameters' must be a JSON object")
        if action == "load":
            if any(key == "config" or key.startswith("file:") for key in parameters):
                raise Unimplemented(
                    "loading a model with an override config or files is not supported; put "
                    "the model in the repository and load it by name"
                )
            await asyncio.to_thread(repository.load, name)
        else:
            await asyncio.to_thread(repository.unload, name)


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise InvalidArgument(f"model version must be a non-negative integer, got '{text}'")
    return int(text)


def _header_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(
            f"Inference-Header-Content-Length must be an integer, got {value.decode('latin-1')!r}"
        ) from None


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"malformed JSON in the request body: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return document


def _batch_size(inputs: Iterable[npt.NDArray[Any]]) -> int:
    for array in inputs:
        return int(array.shape[0]) if array.ndim else 1
    return 1
