"""The gRPC shells' retry decision and error mapping, shared by the TF Serving and v2 clients."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from shiba.client import (
    ConnectionFailed,
    NotFoundError,
    ServerError,
    TimedOut,
    UnavailableError,
)
from shiba.client._grpc_shell import retry_allowed, rpc_error
from shiba.client._shell import backoff
from shiba.core.errors import Code


def failure(code: grpc.StatusCode, details: str | None = None) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, details=details)


def test_only_an_idempotent_call_is_tried_again_and_only_after_unavailable() -> None:
    unavailable = failure(grpc.StatusCode.UNAVAILABLE, "restarting")
    assert retry_allowed(unavailable, 0, 2, idempotent=True)
    assert retry_allowed(unavailable, 1, 2, idempotent=True)
    assert not retry_allowed(unavailable, 2, 2, idempotent=True)  # retries used up
    assert not retry_allowed(unavailable, 0, 2, idempotent=False)  # a predict: never twice
    assert not retry_allowed(failure(grpc.StatusCode.NOT_FOUND), 0, 2, idempotent=True)


def test_a_failure_keeps_the_servers_code_and_details() -> None:
    missing = rpc_error(failure(grpc.StatusCode.NOT_FOUND, "no model m"), "host:1")
    assert isinstance(missing, NotFoundError) and missing.message == "no model m"
    busy = rpc_error(failure(grpc.StatusCode.UNAVAILABLE), "host:1")
    assert isinstance(busy, UnavailableError)
    assert busy.message == "gRPC UNAVAILABLE from host:1"  # no details: say who answered
    other = rpc_error(failure(grpc.StatusCode.INTERNAL, "boom"), "host:1")
    assert type(other) is ServerError and other.code is Code.INTERNAL


def test_a_channel_that_never_connected_is_a_connection_failure() -> None:
    details = "failed to connect to all addresses; last error: UNKNOWN: Ssl handshake failed"
    refused = rpc_error(failure(grpc.StatusCode.UNAVAILABLE, details), "host:1")
    assert isinstance(refused, ConnectionFailed) and refused.code is Code.UNAVAILABLE
    assert refused.message == f"cannot connect to host:1: {details}"


def test_a_deadline_is_a_timeout_naming_the_target() -> None:
    late = rpc_error(failure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), "host:1")
    assert isinstance(late, TimedOut) and late.code is Code.DEADLINE_EXCEEDED
    assert "host:1" in late.message


@pytest.mark.parametrize(("attempt", "seconds"), [(0, 0.1), (1, 0.2), (2, 0.4)])
def test_the_wait_doubles_after_each_attempt(attempt: int, seconds: float) -> None:
    assert backoff(attempt) == pytest.approx(seconds)
