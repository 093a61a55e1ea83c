"""One request and its response on a connection of ``shiba.protocols.http.server``: the ASGI
``receive`` and ``send`` the application is given, the response's head and body written with one
``write``.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import TYPE_CHECKING

from shiba.protocols._asgi import Message, Scope

if TYPE_CHECKING:
    from shiba.protocols.http.server import _Connection

__all__ = ["Cycle"]

_STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus
}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} \r\n".encode()


class Cycle:
    """One request and its response."""

    __slots__ = (
        "body",
        "body_event",
        "chunked",
        "complete",
        "conn",
        "done",
        "expect_continue",
        "head",
        "keep_alive",
        "more_body",
        "scope",
        "started",
    )

    def __init__(self, conn: _Connection, scope: Scope, expect: bool, keep_alive: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.body: list[bytes] = []
        self.more_body = True
        self.body_event: asyncio.Event | None = None
        self.expect_continue = expect
        self.keep_alive = keep_alive
        self.started = False
        self.head: list[bytes] = []
        self.chunked = False
        self.complete = False  # the response is fully written
        self.done = False  # the request body is fully read by the parser

    async def receive(self) -> Message:
        conn = self.conn
        if self.expect_continue:
            self.expect_continue = False
            if not conn.closed and not self.started and not self.done:
                conn.transport.write(_CONTINUE)
        while not self.body and self.more_body and not conn.closed:
            if self.body_event is None:
                self.body_event = asyncio.Event()
            conn.resume_reading()
            await self.body_event.wait()
            self.body_event.clear()
        if conn.closed and self.more_body and not self.body:
            return {"type": "http.disconnect"}
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        conn.buffered -= len(body)
        conn.resume_reading()
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: Message) -> None:
        conn = self.conn
        if conn.closed or self.complete:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            self.started = True
            self.expect_continue = False
            status: int = message["status"]
            head = [_status_line(status)]
            length_given = False
            closing = False
            for name, value in message.get("headers", ()):
                lowered = name.lower()
                if lowered == b"content-length":
                    length_given = True
                elif lowered == b"connection" and b"close" in value.lower():
                    self.keep_alive = False
                    closing = True
                head.extend((name, b": ", value, b"\r\n"))
            if self.keep_alive and conn.upgrade_seen:
                self.keep_alive = False
                head.append(b"connection: close\r\n")
            elif not self.keep_alive and not closing:
                head.append(b"connection: close\r\n")
            elif self.keep_alive and self.scope["http_version"] == "1.0":
                head.append(b"connection: keep-alive\r\n")
            if not length_given and status not in (204, 304):
                self.chunked = True
                head.append(b"transfer-encoding: chunked\r\n")
            head.append(b"\r\n")
            self.head = head
            return
        if kind != "http.response.body":
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.scope["method"] == "HEAD":
            body = b""
        if self.chunked and (body or not more):
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (
                b"" if more else b"0\r\n\r\n"
            )
        if self.head:
            self.head.append(body)
            data = b"".join(self.head)
            self.head = []
        else:
            data = body
        if data:
            conn.transport.write(data)
        if not more:
            self.complete = True
            conn.response_complete(self)
        elif conn.write_paused:
            await conn.drain()
