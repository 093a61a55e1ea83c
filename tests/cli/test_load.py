"""The load generator behind ``shiba bench`` against an in-process gRPC server."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio

from shiba.cli import _load
from tests.integration.conftest import free_port

#: Over gRPC's default 4 MiB receive limit, as a big model's answer can be.
BIG_ANSWER = b"x" * (5 * 1024 * 1024)


class _Empty:
    """A request message of no bytes (what ``grpc_target`` serializes once)."""

    def SerializeToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        return b""


async def _big_answers(port: int) -> _load.LoadResult:
    async def answer(request: bytes, context: Any) -> bytes:
        return BIG_ANSWER

    handler = grpc.method_handlers_generic_handler(
        "test.Big", {"Get": grpc.unary_unary_rpc_method_handler(answer)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        target = _load.grpc_target(f"127.0.0.1:{port}", "/test.Big/Get", _Empty(), None)
        return await _load.run_load(
            target, concurrency=1, duration=None, requests=2, warmup=0.0, on_tick=lambda *_: None
        )
    finally:
        await server.stop(None)


def test_grpc_answers_have_no_size_limit_as_the_client_s() -> None:
    result = asyncio.run(_big_answers(free_port()))
    assert (result.errors, result.first_error) == (0, "")
    assert len(result.latencies) == 2
