"""Bearer tokens: the token file, its re-reading, constant-time checks, and the gRPC interceptor."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from shiba.protocols.auth import (
    UNAUTHENTICATED_MESSAGE,
    TokenFile,
    TokenFileError,
    grpc_auth_interceptor,
)
from shiba.protocols.health import add_health_service


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a change even within one clock tick
    os.utime(path, ns=(stamp, stamp))


def test_tokens_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    _write(path, "# readers\n  alpha-1  \n\nbeta-2\n")
    tokens = TokenFile(path)
    assert tokens.tokens() == (b"alpha-1", b"beta-2")
    assert tokens.check(b"Bearer alpha-1")
    assert tokens.check(b"bearer beta-2")
    for bad in (None, b"", b"alpha-1", b"Basic alpha-1", b"Bearer alpha", b"Bearer alpha-12"):
        assert not tokens.check(bad), bad
    assert "alpha" not in repr(tokens)


def test_the_file_is_re_read_on_change(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens"
    _write(path, "old-token\n")
    tokens = TokenFile(path)
    _write(path, "new-token\n")
    assert tokens.check(b"Bearer new-token")
    assert not tokens.check(b"Bearer old-token")
    with caplog.at_level(logging.INFO, logger="shiba.protocols.auth"):
        _write(path, "\n")  # emptied: the last tokens stay
        assert tokens.check(b"Bearer new-token")
        path.unlink()
        assert tokens.check(b"Bearer new-token")
    assert "holds no token" in caplog.text
    assert "token" in caplog.text and "new-token" not in caplog.text


def test_start_up_errors(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="cannot read --auth_token_file"):
        TokenFile(tmp_path / "missing")
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(TokenFileError, match="holds no token"):
        TokenFile(tmp_path / "empty")


class _Server:
    """An aio server with the interceptor, one echo method and the health service."""

    def __init__(self, tokens: TokenFile) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(tokens),))
        self._thread.start()
        assert self._ready.wait(30)

    async def _main(self, tokens: TokenFile) -> None:
        server = grpc.aio.server(interceptors=[grpc_auth_interceptor(tokens)])

        async def echo(request: bytes, context: Any) -> bytes:
            return request

        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(echo)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Echo", {"Call": handler}),)
        )
        health = add_health_service(server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await health.serving()
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.stop(None)

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    path = tmp_path / "tokens"
    path.write_text("s3cret\n")
    server = _Server(TokenFile(path))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel
    server.close()


def test_grpc_calls_need_a_token_but_health_does_not(channel: grpc.Channel) -> None:
    call: Any = channel.unary_unary("/test.Echo/Call")
    assert call(b"hi", metadata=(("authorization", "Bearer s3cret"),), timeout=10) == b"hi"
    for metadata in ((), (("authorization", "Bearer wrong"),)):
        with pytest.raises(grpc.RpcError) as info:
            call(b"hi", metadata=metadata, timeout=10)
        error: Any = info.value
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.details() == UNAUTHENTICATED_MESSAGE
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
