"""The REST front end's time limit (``--rest_api_timeout_in_ms``), in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from shiba.core.errors import Code
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.service import ModelService, ServiceOptions
from shiba.protocols.http.router import Router
from shiba.protocols.options import RestOptions
from shiba.protocols.status import http_status
from tests.fakes import FakeLoader, FakeServable
from tests.protocols._rest import rest_app


@pytest.fixture(scope="module")
def service() -> Iterator[ModelService]:
    def make(wanted: AspiredVersion) -> Loader:
        delay = 1.0 if wanted.id.name == "slow" else 0.0
        return FakeLoader(lambda: FakeServable(delay=delay))

    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    for name in ("slow", "fast"):
        manager.set_aspired_versions(name, [AspiredVersion(ServableId(name, 1), Path("/m/1"))])
    assert manager.wait_until_idle(10)
    svc = ModelService(manager, ServiceOptions(num_threads=2))
    yield svc
    svc.close()
    manager.close()


async def call(app: Router, path: str, body: Any) -> tuple[int, Any]:
    data = orjson.dumps(body)
    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_a_request_past_the_limit_answers_deadline_exceeded_and_others_are_served(
    service: ModelService,
) -> None:
    app = rest_app(service, RestOptions(timeout_seconds=0.3))
    body = {"instances": [[1.0, 2.0]]}

    async def main() -> list[tuple[int, Any]]:
        return list(
            await asyncio.gather(
                call(app, "/v1/models/slow:predict", body),
                call(app, "/v1/models/fast:predict", body),
            )
        )

    (slow_status, slow), (fast_status, fast) = asyncio.run(main())
    assert slow_status == http_status(Code.DEADLINE_EXCEEDED)
    assert slow == {"error": "Request timed out after 0.3 seconds"}
    assert (fast_status, fast) == (200, {"predictions": [[1.0, 2.0]]})
