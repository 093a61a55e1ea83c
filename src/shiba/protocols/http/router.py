"""One HTTP router per port: the ASGI app the REST port serves, with every API mounted on it.

The router owns what every route shares, once: which API a path belongs to, reading the body
within ``RestOptions.max_body_bytes`` (413 before reading more), the request deadline
(``RestOptions.timeout_seconds``, 504), CORS, auth, the Prometheus page, and turning an error into
the API's error body. The APIs (``Routes``, see ``routes.py``) only parse, call the service and
encode. Mounted by ``server/compose.py``::

    /v1/      TensorFlow Serving's REST API          protocols/tfserving/rest.py
    /shiba/   shiba's own routes (engines ...)       protocols/shiba/rest.py
    /v2/      the Open Inference Protocol (KServe v2) protocols/v2/rest.py

Routing is one dict lookup on the path's first segment, because the router is on every request's
path (the HTTP layer is ~30 µs of a W1 request's CPU: PERFORMANCE-NOTES.md), measured against the
single-app front end it replaced by ``make bench``'s REST rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from time import perf_counter

from shiba.codecs.tfs_json import encode_error
from shiba.core.errors import Code, ShibaError
from shiba.core.metrics import CONTENT_TYPE, Metrics
from shiba.protocols._asgi import Receive, Scope, Send
from shiba.protocols.http._deadlines import Deadlines
from shiba.protocols.http.access import CORS_HEADERS, REFUSED_HEADERS, ApiTable, Gate
from shiba.protocols.http.routes import (
    UNAUTHENTICATED_MESSAGE,
    Authenticator,
    Headers,
    Request,
    Response,
    Routes,
)
from shiba.protocols.options import MonitoringOptions, RestOptions
from shiba.protocols.status import http_status

__all__ = ["Router", "HttpError", "read_body"]

log = logging.getLogger(__name__)

_METRICS_TYPE: Headers = ((b"content-type", CONTENT_TYPE.encode()),)


class HttpError(Exception):
    """An answer decided by HTTP alone; ``code`` is its canonical code for the API's metrics."""

    def __init__(self, status: int, message: str, code: Code) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class _NotFound:
    """Where a path no API claims goes: 404 ``{"error": "Not found: GET /x"}``."""

    prefix = "/"
    public: frozenset[str] = frozenset()

    async def handle(self, request: Request) -> Response:
        raise HttpError(404, f"Not found: {request.method} {request.path}", Code.NOT_FOUND)

    def error_body(self, message: str) -> bytes:
        return encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        return None


class Router:
    """The ASGI app of one port. Stateless but for its options and what it records.

    ``routes``: the mounted APIs, one per prefix (a prefix given twice is a ``ValueError``).
    With ``monitoring.enabled`` (which needs ``metrics``), ``GET monitoring.path`` answers
    ``metrics.render()``. With ``auth``, every request but CORS preflights and the routes'
    ``public`` paths needs ``auth.check`` to pass, else 401 before anything else is read (the
    rule of ``access.Gate``).
    """

    def __init__(
        self,
        routes: Sequence[Routes],
        options: RestOptions | None = None,
        *,
        metrics: Metrics | None = None,
        monitoring: MonitoringOptions | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self._options = options or RestOptions()
        self._table: dict[str, Routes] = {}
        self._fallback: Routes = _NotFound()
        for api in routes:
            prefix = api.prefix.lower()
            if prefix == "/":
                self._fallback = api
            elif prefix in self._table or not _one_segment(prefix):
                raise ValueError(f"a prefix must be one path segment, given once: {api.prefix!r}")
            else:
                self._table[prefix] = api
        self._extra_headers = CORS_HEADERS if self._options.enable_cors else ()
        self._deadlines = Deadlines(self._options.timeout_seconds)
        self._metrics = metrics
        self._metrics_path: str | None = None
        if monitoring is not None and monitoring.enabled:
            if metrics is None:
                raise ValueError("monitoring is enabled but no Metrics were given to serve")
            self._metrics_path = monitoring.path
        self._gate: Gate | None = None
        if auth is not None:
            self._gate = Gate(auth, self.api_table(), cors=self._options.enable_cors)

    def api_table(self) -> ApiTable:
        """What the auth rule needs of the mounted APIs: their public paths and 401 bodies."""
        return ApiTable(
            {
                prefix: (api.public, api.error_body(UNAUTHENTICATED_MESSAGE))
                for prefix, api in self._table.items()
            },
            (self._fallback.public, self._fallback.error_body(UNAUTHENTICATED_MESSAGE)),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers: Headers = scope["headers"]
        if self._gate is not None:
            refused = self._gate.refusal(method, path, headers)
            if refused is not None:
                await self._respond(send, 401, REFUSED_HEADERS, refused)
                return
        if path == self._metrics_path and method == "GET":
            # Off the loop: a page of many models' histograms takes milliseconds to build.
            assert self._metrics is not None
            body = await asyncio.to_thread(self._metrics.render)
            await self._respond(send, 200, _METRICS_TYPE, body)
            return
        start = perf_counter()
        # The API the path belongs to (access.api_key, inlined: it is on every request's path),
        # else the catch-all, or the 404 answerer.
        end = path.find("/", 1)
        api = self._table.get((path[: end + 1] if end > 0 else path + "/").lower(), self._fallback)
        request = Request(method, path, scope.get("query_string", b""), headers, b"")
        code = Code.OK
        try:
            if method == "OPTIONS" and self._options.enable_cors:
                response = Response(204, b"")
            else:
                deadlines = self._deadlines
                task = deadlines.start()
                try:
                    request.body = await read_body(headers, receive, self._options.max_body_bytes)
                    response = await api.handle(request)
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
            response = Response(http_status(code), api.error_body(exc.message))
        except HttpError as exc:
            code = exc.code
            response = Response(exc.status, api.error_body(exc.message))
        except TimeoutError:
            code = Code.DEADLINE_EXCEEDED
            seconds = self._options.timeout_seconds
            response = Response(
                http_status(code), api.error_body(f"Request timed out after {seconds:g} seconds")
            )
        except Exception as exc:  # the top of the front end: anything else is a bug, logged
            code = Code.INTERNAL
            log.exception("%s %s failed", method, path)
            response = Response(500, api.error_body(f"Internal error: {exc}"))
        api.observe(request, code, perf_counter() - start)
        await self._respond(send, response.status, response.headers, response.body)

    async def _respond(self, send: Send, status: int, headers: Headers, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *headers,
                    (b"content-length", str(len(body)).encode()),
                    *self._extra_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _one_segment(prefix: str) -> bool:
    return len(prefix) > 2 and prefix[0] == "/" and prefix[-1] == "/" and "/" not in prefix[1:-1]


async def read_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    """The whole body, refusing with 413 a declared or received size over ``limit`` before more
    is read, and with 499 a client that went away."""
    for key, value in headers:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise HttpError(
                    400, "Invalid Content-Length header", Code.INVALID_ARGUMENT
                ) from None
            if declared > limit:
                raise HttpError(413, _too_large(limit), Code.RESOURCE_EXHAUSTED)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(499, "Client closed the request", Code.CANCELLED)
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HttpError(413, _too_large(limit), Code.RESOURCE_EXHAUSTED)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if not chunks:
        return b""
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
