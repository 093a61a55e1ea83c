"""``serve_ports``: a port that cannot be listened on is a logged error and False, not a
traceback; the other port is not left serving."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from shiba.config.flags import parse_flags
from shiba.config.settings import ServerSettings, settings_from_flags
from shiba.server.run import serve_ports


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port of 127.0.0.1 that another socket is listening on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _settings(tmp_path: Path, *flags: str) -> ServerSettings:
    return settings_from_flags(
        parse_flags(
            ["--model_name=m", f"--model_base_path={tmp_path}", "--rest_api_host=127.0.0.1", *flags]
        ),
        {},
    )


async def _no_app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("nothing is served")


def _no_services(server: grpc.aio.Server) -> None:
    pass


def test_a_busy_grpc_port_is_an_error_not_a_traceback(
    tmp_path: Path, busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, f"--port={busy_port}", "--rest_api_port=0")
    with caplog.at_level(logging.ERROR, logger="shiba.server"):
        started = asyncio.run(serve_ports(settings, _no_app, _no_services))
    assert started is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"Cannot serve gRPC at 127.0.0.1:{busy_port}: ")


def test_a_busy_rest_port_is_an_error_and_stops_the_grpc_port(
    tmp_path: Path, busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        grpc_port = probe.getsockname()[1]
    settings = _settings(tmp_path, f"--port={grpc_port}", f"--rest_api_port={busy_port}")
    with caplog.at_level(logging.ERROR, logger="shiba.server"):
        started = asyncio.run(serve_ports(settings, _no_app, _no_services))
    assert started is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"Cannot serve HTTP/REST at 127.0.0.1:{busy_port}: ")
    with socket.socket() as again:  # the gRPC port was let go
        again.bind(("127.0.0.1", grpc_port))
