"""A small HTTP/1.1 server for one ASGI application, on httptools and the running event loop.

Why not uvicorn: under W1 load (64 connections of one small predict each) uvicorn's per-request
work was the largest part of the event loop's time after the codecs (py-spy): it writes a
response's head and body with two ``write`` calls, so two system calls and two segments the
client must read, and builds a full ASGI scope, an access-log check and a task per request. This
server writes each response with one ``write``, builds the scope shiba's apps read, and keeps the
rest of the protocol: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelined requests
answered in order, ``Expect: 100-continue``, chunked request bodies, HEAD, flow control both ways
and idle connections closed after ``keep_alive_seconds`` (one timer for the whole server).

What the application gets is ASGI 3 (``http`` scopes only, no lifespan), so any ASGI app runs on
it; what it does not support answers an error: a malformed request 400 and the connection closed,
an ``Upgrade`` (WebSocket, h2c) is served as a plain request, as uvicorn without WebSocket support
does.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from typing import Any, cast
from urllib.parse import unquote

import httptools

from shiba.protocols._asgi import ASGIApp, Scope
from shiba.protocols.http._cycle import Cycle as _Cycle

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)


#: Bytes one TLS read may decrypt into a connection's buffer (a TLS record is at most 16 KiB).
_TLS_BUFFER = 64 * 1024
#: Seconds a closing TLS connection waits for the client's close_notify.
_TLS_SHUTDOWN_SECONDS = 2.0

#: Request body bytes buffered before reading from the socket pauses until the app takes them.
_HIGH_WATER = 256 * 1024

_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 20\r\nconnection: close\r\n\r\nInvalid HTTP request"
)


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, runs the app on each, in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.app = server.app
        self.loop = server.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.cycle: _Cycle | None = None  # the request the app is answering
        self.parsing: _Cycle | None = None  # the request the parser is reading
        self.pipeline: deque[_Cycle] = deque()
        self.upgrade_seen = False
        self.buffered = 0
        self.read_paused = False
        self.write_paused = False
        self.drained: asyncio.Event | None = None
        self.last_active = self.loop.time()
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None

    # -- transport events ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.connections.add(self)
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.client = tuple(peer[:2]) if isinstance(peer, tuple) else None
        self.local = tuple(sock[:2]) if isinstance(sock, tuple) else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for cycle in (self.cycle, self.parsing, *self.pipeline):
            if cycle is not None and cycle.body_event is not None:
                cycle.body_event.set()
        if self.drained is not None:
            self.drained.set()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Served as a plain request without switching protocols; nothing after it is read.
            self.upgrade_seen = True
        except httptools.HttpParserError:
            if self.cycle is None or self.cycle.complete:
                self.transport.write(_BAD_REQUEST)
            self.close()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drained is not None:
            self.drained.set()

    async def drain(self) -> None:
        if self.drained is None:
            self.drained = asyncio.Event()
        while self.write_paused and not self.closed:
            self.drained.clear()
            await self.drained.wait()

    def resume_reading(self) -> None:
        if self.read_paused and self.buffered < _HIGH_WATER and not self.closed:
            self.read_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        parsed = httptools.parse_url(self.url)
        raw_path: bytes = parsed.path
        method = parser.get_method().decode("ascii")
        expect = any(k == b"expect" and v.lower() == b"100-continue" for k, v in self.headers)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": parser.get_http_version(),
            "server": self.local,
            "client": self.client,
            "scheme": self.server.scheme,
            "method": method,
            "root_path": "",
            "path": unquote(raw_path.decode("ascii", "replace"))
            if b"%" in raw_path
            else raw_path.decode("ascii", "replace"),
            "raw_path": raw_path,
            "query_string": parsed.query or b"",
            "headers": self.headers,
        }
        cycle = _Cycle(self, scope, expect, parser.should_keep_alive())
        self.parsing = cycle
        if self.cycle is None:
            self._start(cycle)
        else:
            self.pipeline.append(cycle)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None:
            return
        if not cycle.complete:
            cycle.body.append(body)
            self.buffered += len(body)
            if self.buffered >= _HIGH_WATER:
                self._pause_reading()
        if cycle.body_event is not None:
            cycle.body_event.set()

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is None:
            return
        self.parsing = None
        cycle.more_body = False
        cycle.done = True
        if cycle.body_event is not None:
            cycle.body_event.set()

    # -- running the app -----------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def _start(self, cycle: _Cycle) -> None:
        self.cycle = cycle
        task = self.loop.create_task(self._run(cycle))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    async def _run(self, cycle: _Cycle) -> None:
        try:
            await self.app(cycle.scope, cycle.receive, cycle.send)
        except asyncio.CancelledError:
            self.close()  # the server is stopping
            raise
        except Exception:
            log.exception(
                "the application failed on %s %s", cycle.scope["method"], cycle.scope["path"]
            )
            if not cycle.started and not self.closed:
                await cycle.send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"connection", b"close"),
                            (b"content-length", b"21"),
                        ],
                    }
                )
                await cycle.send({"type": "http.response.body", "body": b"Internal Server Error"})
            else:
                self.close()
        else:
            if not cycle.complete and not self.closed:
                log.error("the application returned without completing its response")
                self.close()

    def response_complete(self, cycle: _Cycle) -> None:
        """Called by ``cycle.send`` once the response is written: next request, or close."""
        self.last_active = self.loop.time()
        if self.cycle is cycle:
            self.cycle = None
        if cycle.body:  # a body the app did not read
            self.buffered -= sum(len(chunk) for chunk in cycle.body)
            cycle.body.clear()
        if not cycle.keep_alive or not cycle.done or self.server.stopping:
            # Closing with the request body still arriving (an early error answer) or when asked.
            self.close()
            return
        if self.pipeline:
            self._start(self.pipeline.popleft())
        else:
            self.resume_reading()


class _TlsConnection(asyncio.BufferedProtocol):
    """A connection under TLS: a ``_Connection`` behind a buffer the TLS layer decrypts into.

    With a plain ``Protocol`` on top, uvloop's TLS layer reads each record with
    ``SSLObject.read(256 KiB)``: a fresh 256 KiB bytes object per read, which glibc maps and unmaps
    (mmap, mremap, munmap: 19% of the event loop's time under HTTPS load, py-spy). A
    ``BufferedProtocol`` (uvloop takes the buffered path only for one that is not also a
    ``Protocol``, hence the wrapper) makes it decrypt in place; the bytes read go to the parser.
    """

    def __init__(self, server: HttpServer) -> None:
        self.connection = _Connection(server)
        self._view = memoryview(bytearray(_TLS_BUFFER))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connection.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.connection_lost(exc)

    def pause_writing(self) -> None:
        self.connection.pause_writing()

    def resume_writing(self) -> None:
        self.connection.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.connection.data_received(self._view[:nbytes].tobytes())

    def eof_received(self) -> bool | None:
        return self.connection.eof_received()


class HttpServer:
    """Serves ``app`` on ``host:port``: ``await start()``, then ``await stop()``. With
    ``ssl_context`` it serves HTTPS (the TLS layer is the event loop's; scopes say ``https``)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        backlog: int = 2048,
        keep_alive_seconds: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context is not None else "http"
        self.host = host
        self.port = port
        self.backlog = backlog
        self.keep_alive_seconds = keep_alive_seconds
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def sockets(self) -> list[Any]:
        return list(self._server.sockets) if self._server is not None else []

    async def start(self) -> None:
        """Binds and starts listening; raises ``OSError`` when the address cannot be bound."""
        self.loop = asyncio.get_running_loop()
        self._server = await self.loop.create_server(
            (lambda: _TlsConnection(self)) if self.ssl_context else (lambda: _Connection(self)),
            self.host,
            self.port,
            backlog=self.backlog,
            reuse_address=True,
            ssl=self.ssl_context,
            # A TLS connection closed by ``stop`` waits this long for the client's close_notify
            # (30 s by default), which ``stop`` would wait for.
            ssl_shutdown_timeout=_TLS_SHUTDOWN_SECONDS if self.ssl_context else None,
        )
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        self._sweeper = self.loop.call_later(min(1.0, self.keep_alive_seconds), self._sweep_idle)

    def _sweep_idle(self) -> None:
        limit = self.loop.time() - self.keep_alive_seconds
        for conn in list(self.connections):
            if conn.cycle is None and not conn.pipeline and conn.last_active < limit:
                conn.close()
        self._schedule_sweep()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stops listening, lets requests in flight finish (up to ``grace_seconds``), closes."""
        self.stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.cycle is None and not conn.pipeline:
                conn.close()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_seconds)
        for conn in list(self.connections):
            conn.close()
        for task in list(self.tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
