"""The load generator behind ``shiba bench``: many connections, one prepared request, timings.

Each worker owns one connection and sends the same request again as soon as the last answer is in
(a closed loop, as ``wrk`` does). REST requests (``http://``, or ``https://`` through the event
loop's TLS) are written as raw HTTP/1.1 bytes prepared once, and answers read with httptools (the
server's own parser), so a request costs the generator a write, a read and a parse, not a client
library's work; gRPC requests (insecure, or over TLS with channel credentials) are one serialized
request message (TF Serving's ``PredictRequest`` or the Open Inference Protocol's
``ModelInferRequest``) sent through ``grpc.aio`` with no per-call encoding. Every answer's latency
and completion time is kept (answers that began during the warm-up are not).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio
import httptools

from shiba.client._grpc_shell import GRPC_OPTIONS
from shiba.client.errors import ConnectionFailed

__all__ = ["LoadResult", "Target", "rest_target", "grpc_target", "run_load"]


@dataclass(slots=True)
class LoadResult:
    """What a run measured. ``latencies`` (seconds) and ``finished`` (seconds since the measured
    part began) hold one entry per answer; ``errors`` counts failed answers, ``first_error`` says
    what the first one was."""

    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    #: CPU seconds this process spent while measuring (all its threads): the generator's cost.
    cpu_seconds: float = 0.0

    def fail(self, message: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = message


@dataclass(frozen=True, slots=True)
class Target:
    """How to send one request: ``await open()`` gives one connection's ``(send, close)``
    coroutine functions; ``send()`` sends the request once and returns an error message or
    ``""``."""

    description: str
    open: Callable[[], Any]


class _Answer:
    """httptools callbacks: the body, and whether the answer is complete."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def rest_target(
    url: str,
    path: str,
    body: bytes,
    token: str | None,
    tls: ssl.SSLContext | None = None,
) -> Target:
    """POSTs ``body`` to ``path`` over keep-alive HTTP/1.1 connections to ``url``: plain for
    ``http://``, over TLS with the client context ``tls`` (which an ``https://`` url needs, and
    only it) for ``https://``. The TLS layer is the event loop's; the request bytes and the reads
    are the same either way."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the REST load generator speaks http:// and https://, not {url!r}")
    if (parts.scheme == "https") != (tls is not None):
        raise ValueError(f"{url!r}: give a TLS context for an https:// url, and only for one")
    host, port = parts.hostname or "localhost", parts.port or (443 if tls else 80)
    auth = f"authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"{auth}content-length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def open_connection() -> tuple[Callable[[], Any], Callable[[], Any]]:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)

        async def send() -> str:
            answer.complete = False
            answer.body.clear()
            writer.write(request)
            while not answer.complete:
                data = await reader.read(262144)
                if not data:
                    raise ConnectionError("the server closed the connection")
                parser.feed_data(data)
            status = parser.get_status_code()
            if status != 200:
                return f"HTTP {status}: {answer.body.decode(errors='replace').strip()}"
            return ""

        async def close() -> None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

        return send, close

    return Target(f"REST {url}{path}", open_connection)


def grpc_target(
    address: str,
    method: str,
    request: Any,
    token: str | None,
    credentials: grpc.ChannelCredentials | None = None,
) -> Target:
    """Sends the serialized ``request`` to ``method`` (``/package.Service/Method``) at
    ``address``, over one channel per worker (secure with ``credentials``), with no size limit on
    messages either way, as the client's channels (``GRPC_OPTIONS``)."""
    payload = request.SerializeToString()
    metadata = (("authorization", f"Bearer {token}"),) if token else None

    async def open_channel() -> tuple[Callable[[], Any], Callable[[], Any]]:
        channel = (
            grpc.aio.secure_channel(address, credentials, GRPC_OPTIONS)
            if credentials is not None
            else grpc.aio.insecure_channel(address, GRPC_OPTIONS)
        )
        call: Any = channel.unary_unary(
            method,
            request_serializer=None,
            response_deserializer=None,
        )

        async def send() -> str:
            try:
                await call(payload, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                return f"{exc.code().name}: {exc.details()}"
            return ""

        return send, channel.close

    transport = "gRPC over TLS" if credentials is not None else "gRPC"
    return Target(f"{transport} {address}{method}", open_channel)


async def run_load(
    target: Target,
    *,
    concurrency: int,
    duration: float | None,
    requests: int | None,
    warmup: float,
    on_tick: Callable[[LoadResult, float], None],
) -> LoadResult:
    """Runs ``concurrency`` workers until ``duration`` seconds (after ``warmup``) have passed or
    ``requests`` answers are in; calls ``on_tick(result, elapsed)`` ten times a second. A
    connection that cannot be opened (nothing listening, a TLS handshake refused) raises
    ``ConnectionFailed`` before any request is sent."""
    result = LoadResult()
    connections: list[tuple[Callable[[], Any], Callable[[], Any]]] = []
    try:
        for _ in range(concurrency):
            connections.append(await target.open())
    except OSError as exc:  # refused, unreachable, a TLS handshake that fails (ssl.SSLError)
        await asyncio.gather(*(close() for _, close in connections))
        raise ConnectionFailed(f"cannot connect ({target.description}): {exc}") from None
    clock = time.perf_counter
    begin = clock() + warmup
    end = begin + duration if duration is not None else float("inf")
    budget = [requests if requests is not None else -1]

    async def worker(send: Callable[[], Any]) -> None:
        latencies, finished = result.latencies, result.finished
        while True:
            start = clock()
            if start >= end or budget[0] == 0:
                return
            if start >= begin and budget[0] > 0:
                budget[0] -= 1
            try:
                error = await send()
            except (OSError, ConnectionError) as exc:
                result.fail(f"connection failed: {exc}")
                return
            stop = clock()
            if start < begin:
                continue
            if error:
                result.fail(error)
            else:
                latencies.append(stop - start)
                finished.append(stop - begin)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.1)
            on_tick(result, max(0.0, clock() - begin))

    ticking = asyncio.ensure_future(ticker())
    cpu_at_begin: list[float] = []

    async def mark_begin() -> None:
        await asyncio.sleep(max(0.0, begin - clock()))
        cpu_at_begin.append(time.process_time())

    marking = asyncio.ensure_future(mark_begin())
    try:
        await asyncio.gather(*(worker(send) for send, _ in connections))
    finally:
        ticking.cancel()
        await asyncio.gather(*(close() for _, close in connections))
    result.seconds = max(clock() - begin, 1e-9)
    marking.cancel()
    result.cpu_seconds = time.process_time() - (cpu_at_begin[0] if cpu_at_begin else 0.0)
    on_tick(result, result.seconds)
    return result
