"""Versions appear and disappear while a client keeps asking: not one request may fail."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu" / "00000123"
HALF_PLUS_THREE = TFSERVING_TESTDATA / "saved_model_half_plus_three" / "00000123"


class Loop:
    """Predicts in a loop (x=2 on model ``m`` by default); records every answer and failure."""

    def __init__(
        self, server: ServerProcess, model: str = "m", body: dict[str, Any] | None = None
    ) -> None:
        self.url = server.url + f"/v1/models/{model}:predict"
        self.body = body if body is not None else {"instances": [2.0]}
        self.answers: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._session = requests.Session()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._session.post(self.url, json=self.body, timeout=30)
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                else:
                    self.answers.append(response.json()["predictions"][0])
            except requests.RequestException as exc:
                self.failures.append(repr(exc))

    def __enter__(self) -> Loop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait_for(self, answer: float, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers and self.answers[-1] == answer:
                return
            time.sleep(0.05)
        raise AssertionError(f"never answered {answer}; last answers {self.answers[-5:]}")


def test_new_version_then_removal_without_a_failed_request(
    start_server: Any, tmp_path: Path
) -> None:
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(HALF_PLUS_TWO, base / "1")
    server: ServerProcess = start_server(
        "--model_name=m", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"
    )
    with Loop(server) as loop:
        loop.wait_for(3.0)
        shutil.copytree(HALF_PLUS_THREE, base / "2")  # copied in place, not renamed in
        loop.wait_for(4.0)
        versions = server.get("/v1/models/m").json()["model_version_status"]
        assert [(v["version"], v["state"]) for v in versions] == [("2", "AVAILABLE"), ("1", "END")]
        shutil.rmtree(base / "2")
        loop.wait_for(3.0)
    assert loop.failures == []
    assert len(loop.answers) > 10
    assert set(loop.answers) == {3.0, 4.0}
    logs = server.logs()
    assert "Successfully loaded servable version {name: m version: 2}" in logs


def test_poll_zero_looks_once(start_server: Any, tmp_path: Path) -> None:
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(HALF_PLUS_TWO, base / "1")
    server: ServerProcess = start_server(
        "--model_name=m", f"--model_base_path={base}", "--file_system_poll_wait_seconds=0"
    )
    shutil.copytree(HALF_PLUS_THREE, base / "2")
    time.sleep(2.5)
    assert server.post("/v1/models/m:predict", {"instances": [2.0]}).json() == {
        "predictions": [3.0]
    }


def test_broken_new_version_leaves_the_old_one_serving(start_server: Any, tmp_path: Path) -> None:
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(HALF_PLUS_TWO, base / "1")
    server: ServerProcess = start_server(
        "--model_name=m",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    )
    shutil.copytree(TFSERVING_TESTDATA / "bad_half_plus_two" / "00000123", base / "2")
    deadline = time.monotonic() + 30
    status: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        status = server.get("/v1/models/m").json()["model_version_status"]
        if status[0]["version"] == "2" and status[0]["state"] == "END":
            break
        time.sleep(0.2)
    assert status[0]["status"]["error_code"] != "OK", status
    assert status[1] == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    assert server.post("/v1/models/m:predict", {"instances": [2.0]}).json() == {
        "predictions": [3.0]
    }
