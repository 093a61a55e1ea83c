"""The real server as a subprocess on a free port, and helpers to talk to it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def model_config_text(*models: str) -> str:
    """A text-format ModelServerConfig listing ``models`` (the insides of each ``config``)."""
    return "model_config_list {\n" + "\n".join(f"  config {{ {m} }}" for m in models) + "\n}\n"


def wait_until(check: Callable[[], object], timeout: float = 60.0) -> None:
    """Polls ``check`` every 0.2 s until it is true; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A ``shiba serve`` subprocess; its output goes to a log file the test can read.

    ``tls``: for a server with HTTPS on its REST port, the ``requests`` arguments that reach it
    (``verify=`` the CA file, ``cert=`` a client certificate); the URL is then ``https://``.
    """

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        tls: dict[str, Any] | None = None,
    ):
        self.port = free_port()
        self.tls = dict(tls or {})
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115  (closed in stop)
        full_env = {
            k: v for k, v in os.environ.items() if k not in ("MODEL_NAME", "MODEL_BASE_PATH")
        }
        full_env.update(env or {})
        full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.args = [
            sys.executable,
            "-m",
            "shiba",
            "serve",
            f"--rest_api_port={self.port}",
            "--rest_api_host=127.0.0.1",
            "--port=0",  # no gRPC unless a test asks for it (a later --port wins)
            *args,
        ]
        self.proc = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                requests.get(self.url + "/v1/models/__ready__", timeout=1, **self.tls)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=60, **{**self.tls, **kwargs})

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None and not isinstance(body, (bytes, str)):
            kwargs["json"] = body
        elif body is not None:
            kwargs["data"] = body
        return requests.post(self.url + path, timeout=60, **{**self.tls, **kwargs})

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def _servers(folder: Path) -> Iterator[Any]:
    """Yields ``start(*flags, env=, wait=, tls=)``, which starts a server logging into ``folder``
    (and, with ``wait``, waits until it is ready); stops every server it started afterwards."""
    servers: list[ServerProcess] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        wait: bool = True,
        tls: dict[str, Any] | None = None,
    ) -> ServerProcess:
        server = ServerProcess(args, folder / f"server-{len(servers)}.log", env, tls)
        servers.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Starts servers with the given flags; stops them after the test."""
    yield from _servers(tmp_path)


def copy_model(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Like ``start_server``, for servers shared by a whole test module."""
    yield from _servers(tmp_path_factory.mktemp("servers"))
