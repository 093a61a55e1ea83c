"""TensorFlow Serving's REST API as a raw ASGI application.

Routes (TensorFlow Serving's http_rest_api_handler, matched case-insensitively)::

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    model metadata
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     predict (row or columnar JSON)
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:classify    classify (tf.Example JSON)
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:regress     regress (tf.Example JSON)
    GET  /shiba/v1/models/{name}[/versions/{v}|/labels/{l}]       engine per signature (shiba's
                                                                  own: ``shiba_rest.py``)

Any other path under ``/v1/`` is a malformed request (400), anything else 404. With monitoring on,
``GET`` of its path (``/monitoring/prometheus/metrics`` by default) answers the Prometheus page, and
every request under ``/v1/`` is counted and timed as TF Serving's http_server.cc does. A handler only
parses, calls the service and encodes. It is raw ASGI rather than a framework because the front end
is on every request's path (see PERFORMANCE-NOTES.md: the HTTP layer costs ~30 µs a request).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any

from shiba.codecs import tfs_json
from shiba.core.engines import ServingEngines
from shiba.core.errors import Code, InvalidArgument, ShibaError
from shiba.core.ids import ModelSpec
from shiba.core.labels import ClassLabels
from shiba.core.metrics import CONTENT_TYPE, Metrics
from shiba.core.service import ModelService
from shiba.protocols._deadlines import Deadlines
from shiba.protocols.options import MonitoringOptions, RestOptions
from shiba.protocols.shiba_rest import PREFIX, ShibaRoutes
from shiba.protocols.status import http_status

__all__ = ["RestOptions", "TFServingRestApp", "Scope", "Receive", "Send", "ASGIApp"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE,
)
_JSON = [(b"content-type", b"application/json")]
_METRICS_TYPE = [(b"content-type", CONTENT_TYPE.encode())]
_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
]


class _HttpError(Exception):
    """An answer decided by HTTP alone; ``code`` is its status for ``request_count``."""

    def __init__(self, status: int, message: str, code: Code) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class TFServingRestApp:
    """The ASGI app. Stateless but for its options, the service it calls and where it records.

    With ``metrics``, each request under ``/v1/`` is recorded there (``Metrics.record_request``,
    entrypoint "REST") once its answer is ready. With ``monitoring.enabled`` (which needs
    ``metrics``), ``GET monitoring.path`` answers ``metrics.render()``. With ``engines``, shiba's
    own routes (``shiba_rest.ShibaRoutes``) answer under ``/shiba/``, with class names from
    ``labels``.
    """

    def __init__(
        self,
        service: ModelService,
        options: RestOptions | None = None,
        *,
        metrics: Metrics | None = None,
        monitoring: MonitoringOptions | None = None,
        engines: ServingEngines | None = None,
        labels: ClassLabels | None = None,
    ) -> None:
        self._service = service
        self._options = options or RestOptions()
        self._extra_headers = _CORS if self._options.enable_cors else []
        self._deadlines = Deadlines(self._options.timeout_seconds)
        self._metrics = metrics
        self._metrics_path: str | None = None
        if monitoring is not None and monitoring.enabled:
            if metrics is None:
                raise ValueError("monitoring is enabled but no Metrics were given to serve")
            self._metrics_path = monitoring.path
        self._shiba = ShibaRoutes(service, engines, labels) if engines is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        if path == self._metrics_path and method == "GET":
            await self._send_metrics(send)
            return
        start = perf_counter()
        code = Code.OK
        match = _route(method, path)
        try:
            if method == "OPTIONS" and self._options.enable_cors:
                status, body = 204, b""
            else:
                deadlines = self._deadlines
                task = deadlines.start()
                try:
                    status, body = await self._dispatch(method, path, match, scope, receive)
                except asyncio.CancelledError:
                    if not deadlines.expired(task):
                        raise
                    raise TimeoutError from None
                finally:
                    deadlines.finish(task)
        except ShibaError as exc:
            code = exc.code
            if code in (Code.INTERNAL, Code.UNKNOWN):
                log.error("%s %s failed: %s", method, path, exc.message)
            status, body = http_status(code), tfs_json.encode_error(exc.message)
        except _HttpError as exc:
            code = exc.code
            status, body = exc.status, tfs_json.encode_error(exc.message)
        except TimeoutError:
            code = Code.DEADLINE_EXCEEDED
            status = http_status(code)
            body = tfs_json.encode_error(
                f"Request timed out after {self._options.timeout_seconds:g} seconds"
            )
        except Exception as exc:  # the top of the front end: anything else is a bug, logged
            code = Code.INTERNAL
            log.exception("%s %s failed", method, path)
            status, body = 500, tfs_json.encode_error(f"Internal error: {exc}")
        if self._metrics is not None and path[:4].lower() == "/v1/":
            name, api = _metric_labels(method, match)
            self._metrics.record_request(name, api, "REST", code, perf_counter() - start)
        await self._send(send, status, body)

    async def _send(self, send: Send, status: int, body: bytes) -> None:
        await _respond(send, status, _JSON, body, self._extra_headers)

    async def _send_metrics(self, send: Send) -> None:
        assert self._metrics is not None
        # Off the loop: a page of many models' histograms takes milliseconds to build.
        body = await asyncio.to_thread(self._metrics.render)
        await _respond(send, 200, _METRICS_TYPE, body)

    async def _dispatch(
        self,
        method: str,
        path: str,
        match: re.Match[str] | None,
        scope: Scope,
        receive: Receive,
    ) -> tuple[int, bytes]:
        if match is not None and method == "POST":
            name, version, label, verb = match.groups()
            spec = _model_spec(name, version, label)
            body = await _read_body(scope, receive, self._options.max_body_bytes)
            return 200, await self._infer(verb.lower(), spec, body)
        if match is not None:  # a GET: ``_route`` matches POST and GET only
            name, version, label, metadata = match.groups()
            if not name:
                raise InvalidArgument("Missing model name in request.")
            if metadata:
                return 200, self._metadata(_model_spec(name, version, label))
            states = self._service.status(name, int(version) if version else None, label or None)
            return 200, tfs_json.encode_status(states)
        if path[:4].lower() == "/v1/":
            raise InvalidArgument(f"Malformed request: {method} {path}")
        if self._shiba is not None and method == "GET" and path.startswith(PREFIX):
            return self._shiba.get(path)
        raise _HttpError(404, f"Not found: {method} {path}", Code.NOT_FOUND)

    def _metadata(self, spec: ModelSpec) -> bytes:
        with self._service.acquire(spec) as handle:
            return tfs_json.encode_metadata(
                spec.name, handle.id.version, handle.servable.signatures
            )

    async def _infer(self, verb: str, spec: ModelSpec, body: bytes) -> bytes:
        service = self._service
        inline = len(body) <= self._options.inline_decode_bytes
        with service.acquire(spec) as handle:
            if verb == "predict":

                def signature_for(name: str) -> Any:
                    return service.signature(handle, name)[1]

                if inline:
                    request = tfs_json.decode_predict(body, signature_for)
                else:
                    request = await asyncio.to_thread(tfs_json.decode_predict, body, signature_for)
                outputs = await service.predict(handle, request.signature_name, request.inputs)
                if inline:
                    return tfs_json.encode_predict(outputs, request.columnar)
                return await asyncio.to_thread(tfs_json.encode_predict, outputs, request.columnar)
            examples = tfs_json.decode_examples(body)
            if verb == "classify":
                classes = await service.classify(handle, examples.signature_name, examples.examples)
                return tfs_json.encode_classify(classes)
            values = await service.regress(handle, examples.signature_name, examples.examples)
            return tfs_json.encode_regress(values)


async def _respond(
    send: Send,
    status: int,
    content_type: list[tuple[bytes, bytes]],
    body: bytes,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [*content_type, (b"content-length", str(len(body)).encode()), *(extra_headers or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route(method: str, path: str) -> re.Match[str] | None:
    """Which API a request calls: a match of ``_PREDICT`` for a POST, of ``_STATUS`` for a GET."""
    if method == "POST":
        return _PREDICT.fullmatch(path)
    if method == "GET":
        return _STATUS.fullmatch(path)
    return None


def _metric_labels(method: str, match: re.Match[str] | None) -> tuple[str, str]:
    """A /v1/ request's ``model_name`` and ``API`` labels, as http_server.cc takes them: the model
    name in the path ("" if none) and, for a POST, its verb ("" for status and metadata)."""
    if match is None:
        return "", ""
    if method == "POST":
        return match[1], match[4].lower()
    return match[1] or "", ""


def _model_spec(name: str, version: str | None, label: str | None) -> ModelSpec:
    return ModelSpec(name, int(version) if version else None, label or None)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise _HttpError(
                    400, "Invalid Content-Length header", Code.INVALID_ARGUMENT
                ) from None
            if declared > limit:
                raise _HttpError(413, _too_large(limit), Code.RESOURCE_EXHAUSTED)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _HttpError(499, "Client closed the request", Code.CANCELLED)
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _HttpError(413, _too_large(limit), Code.RESOURCE_EXHAUSTED)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"Request body is larger than the limit of {limit} bytes"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
