"""The HTTP/1.1 server on raw sockets and with real clients: keep-alive, pipelining, chunked and
large bodies, ``Expect: 100-continue``, HTTP/1.0, HEAD, malformed requests, shutdown."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import requests

from shiba.protocols.http.server import HttpServer

Message = MutableMapping[str, Any]


async def echo_app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """Answers ``METHOD PATH QUERY len(body)``; ``/early`` answers 413 without reading the body;
    ``/slow`` waits 0.2 s; ``/boom`` raises; ``/stream`` answers in two chunks."""
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/early":
        await send_text(send, 413, b"too large")
        return
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part1-", "more_body": True})
        await send({"type": "http.response.body", "body": b"part2"})
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message["body"])
        if not message["more_body"]:
            break
    if path == "/slow":
        await asyncio.sleep(0.2)
    text = f"{scope['method']} {path} {scope['query_string'].decode()} {size}".encode()
    await send_text(send, 200, text)


async def send_text(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Running:
    def __init__(self, server: HttpServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.port: int = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return sock


@pytest.fixture
def served() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    server = HttpServer(echo_app, "127.0.0.1", 0, keep_alive_seconds=1.0)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Running(server, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(2.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def read_responses(
    sock: socket.socket, count: int
) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Reads ``count`` responses with content-length bodies: (status line, headers, body)."""
    data = b""
    out: list[tuple[bytes, dict[bytes, bytes], bytes]] = []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} responses: {data!r}")
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines)
        length = int(headers.get(b"content-length", b"0"))
        while len(data) < length:
            data += sock.recv(65536)
        out.append((status, headers, data[:length]))
        data = data[length:]
    return out


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_serves_many_requests_on_one_connection(served: Running) -> None:
    with requests.Session() as session:
        for i in range(5):
            response = session.post(f"{served.url}/x?i={i}", data=b"a" * i)
            assert response.status_code == 200
            assert response.text == f"POST /x i={i} {i}"
            assert "connection" not in response.headers


def test_one_write_holds_head_and_body(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"\r\n\r\nGET /a  0")


def test_pipelined_requests_are_answered_in_order(served: Running) -> None:
    requests_ = b"".join(
        f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".encode()
        for path in ("slow", "b", "c")
    )
    with served.connect() as sock:
        sock.sendall(requests_)
        answers = read_responses(sock, 3)
    assert [body for _, _, body in answers] == [b"POST /slow  3", b"POST /b  3", b"POST /c  3"]


def test_chunked_and_large_bodies_arrive_whole(served: Running) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 100_000

    response = requests.post(f"{served.url}/big", data=chunks(), timeout=30)
    assert response.text == "POST /big  4000000"
    response = requests.post(f"{served.url}/big", data=b"y" * 3_000_000, timeout=30)
    assert response.text == "POST /big  3000000"


def test_expect_100_continue_is_answered_before_the_body(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"body")
        [(status, _, body)] = read_responses(sock, 1)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"POST /e  4")


def test_http_1_0_closes_unless_asked_to_keep_alive(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        [(_, headers, _)] = read_responses(sock, 1)
        assert headers[b"connection"] == b"close"
        assert closed_by_peer(sock)
    with served.connect() as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        [(_, headers, _)] = read_responses(sock, 1)
        assert headers[b"connection"] == b"keep-alive"
        sock.sendall(b"GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        [(_, _, body)] = read_responses(sock, 1)
    assert body == b"GET /again  0"


def test_connection_close_from_the_client_is_honoured(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        [(_, headers, _)] = read_responses(sock, 1)
        assert headers[b"connection"] == b"close"
        assert closed_by_peer(sock)


def test_head_has_no_body(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200 OK") < 2 or not data.endswith(b"GET /next  0"):
            data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    assert b"content-length: 10" in head  # the length of "HEAD /h  0"
    assert rest.startswith(b"HTTP/1.1 200 OK")


def test_a_malformed_request_gets_400_and_the_server_keeps_serving(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert data.endswith(b"Invalid HTTP request")
        assert closed_by_peer(sock)
    assert requests.get(f"{served.url}/ok", timeout=10).text == "GET /ok  0"


def test_an_answer_before_the_body_closes_the_connection(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
        [(status, _, body)] = read_responses(sock, 1)
        assert (status, body) == (b"HTTP/1.1 413 Request Entity Too Large", b"too large")
        assert closed_by_peer(sock)


def test_an_app_error_answers_500_and_a_stream_is_chunked(served: Running) -> None:
    response = requests.get(f"{served.url}/boom", timeout=10)
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    response = requests.get(f"{served.url}/stream", timeout=10)
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "part1-part2"


def test_percent_encoded_paths_are_decoded(served: Running) -> None:
    assert requests.get(f"{served.url}/a%20b", timeout=10).text == "GET /a b  0"


def test_idle_connections_are_closed_after_the_keep_alive_time(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        read_responses(sock, 1)
        sock.settimeout(5)
        assert closed_by_peer(sock)  # within keep_alive_seconds (1 s) + one sweep (1 s)


def test_stop_lets_requests_in_flight_finish(served: Running) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 10
        while not served.server.tasks and time.monotonic() < deadline:
            time.sleep(0.005)  # until the request is in flight
        stopped = asyncio.run_coroutine_threadsafe(served.server.stop(5.0), served.loop)
        [(status, _, body)] = read_responses(sock, 1)
        stopped.result(10)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /slow  0")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{served.url}/a", timeout=2)
