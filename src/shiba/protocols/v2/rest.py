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
``{"error": "..."}`` with the status of their code. A handler only parses, calls the data plane
(``dataplane.py``, shared with the gRPC service) and encodes; deadlines, body limits, CORS and
auth are the router's.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import shiba
from shiba.codecs.v2 import documents
from shiba.codecs.v2.infer import HEADER_LENGTH, decode_infer, encode_infer, json_object
from shiba.core.errors import Code, InvalidArgument, NotFound
from shiba.core.ids import ModelSpec
from shiba.core.metrics import Metrics
from shiba.protocols.http.routes import Headers, Request, Response
from shiba.protocols.options import RestOptions
from shiba.protocols.v2.dataplane import EXTENSIONS, DataPlane, parse_version

__all__ = ["V2Routes"]

_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer|config|stats))?")
_ALL_STATS = "/v2/models/stats"
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")
_BINARY: Headers = ((b"content-type", b"application/octet-stream"),)
_EMPTY = b""


class V2Routes:
    """The ``/v2/`` routes over a :class:`~shiba.protocols.v2.dataplane.DataPlane`; stateless."""

    prefix = "/v2/"
    public = frozenset({"/v2/health/live", "/v2/health/ready"})

    def __init__(
        self,
        plane: DataPlane,
        options: RestOptions | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._plane = plane
        self._options = options or RestOptions()
        self._metrics = metrics

    def error_body(self, message: str) -> bytes:
        return documents.encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        """Records the request in TF Serving's request metrics (when ``metrics`` is given), as
        the ``/v1/`` routes do: ``model_name`` the model in the path ("" if none), API "infer"
        for an inference ("" for anything else), entrypoint "REST"."""
        if self._metrics is None:
            return
        name, api = request.labels or _metric_labels(request)
        self._metrics.record_request(name, api, "REST", code, seconds)

    async def handle(self, request: Request) -> Response:
        plane = self._plane
        method, path = request.method, request.path.rstrip("/")
        if method == "GET":
            if path == "/v2":
                body = documents.encode_server_metadata("shiba", shiba.__version__, EXTENSIONS)
                return Response(200, body)
            if path == "/v2/health/live":
                return Response(200, _EMPTY)
            if path == "/v2/health/ready":
                return Response(200 if plane.server_ready() else 400, _EMPTY)
            if path == _ALL_STATS:
                return Response(200, documents.encode_statistics(plane.statistics(None, None)))
        match = _MODEL.fullmatch(path)
        if match is not None:
            name, version_text, verb = match.groups()
            spec = ModelSpec(name, parse_version(version_text))
            if method == "POST" and verb == "infer":
                request.labels = (name, "infer")  # as ``observe`` would find them
                return await self._infer(spec, request)
            if method == "GET" and verb is None:
                view = plane.model(spec)
                body = documents.encode_model_metadata(
                    name, view.versions, view.platform, view.signature
                )
                return Response(200, body)
            if method == "GET" and verb == "ready":
                return Response(200 if plane.model_ready(name, spec.version) else 400, _EMPTY)
            if method == "GET" and verb == "config":
                view = plane.model(spec)
                body = documents.encode_model_config(
                    name, view.platform, view.signature, plane.max_batch_size, plane.batching
                )
                return Response(200, body)
            if method == "GET" and verb == "stats":
                return Response(
                    200, documents.encode_statistics(plane.statistics(name, spec.version))
                )
        if method == "POST":
            if path == "/v2/repository/index":
                ready = _json_object(request.body).get("ready", False)
                if not isinstance(ready, bool):
                    raise InvalidArgument("'ready' must be true or false")
                rows = [asdict(row) for row in await plane.index(ready)]
                return Response(200, documents.encode_repository_index(rows))
            repository_match = _REPOSITORY.fullmatch(path)
            if repository_match is not None:
                name, action = repository_match.groups()
                parameters = _json_object(request.body).get("parameters") or {}
                if not isinstance(parameters, dict):
                    raise InvalidArgument("'parameters' must be a JSON object")
                if action == "load":
                    await plane.load(name, parameters)
                else:
                    await plane.unload(name)
                return Response(200, _EMPTY)
        raise NotFound(f"Not found: {request.method} {request.path}")

    async def _infer(self, spec: ModelSpec, request: Request) -> Response:
        header_length = _header_length(request.header(HEADER_LENGTH))
        body = request.body
        answer, json_length = await self._plane.infer(
            spec,
            lambda: decode_infer(body, header_length),
            lambda decoded, version, outputs: encode_infer(spec.name, version, decoded, outputs),
            offload=len(body) > self._options.inline_decode_bytes,
        )
        if json_length is None:
            return Response(200, answer)
        return Response(200, answer, (*_BINARY, (HEADER_LENGTH, b"%d" % json_length)))


def _metric_labels(request: Request) -> tuple[str, str]:
    """A /v2/ request's ``model_name`` and ``API`` labels, from its path (``handle`` leaves an
    inference's in ``request.labels``)."""
    path = request.path.rstrip("/")
    # ``/v2/models/stats`` is every model's statistics, not a model named "stats".
    match = None if path == _ALL_STATS else _MODEL.fullmatch(path)
    if match is None:
        return "", ""
    return match[1], "infer" if match[3] == "infer" and request.method == "POST" else ""


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
    """An optional JSON object body: an empty (or blank) body is ``{}``."""
    return json_object(body) if body.strip() else {}
