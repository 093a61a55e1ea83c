"""The REST front end's metrics in process: which requests count, under which labels, and the
Prometheus page (served only when monitoring is on, at exactly its path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.metrics import CONTENT_TYPE, Metrics
from shiba.core.service import ModelService, ServiceOptions
from shiba.protocols.http.router import Router
from shiba.protocols.options import MonitoringOptions, RestOptions
from tests._prometheus import samples
from tests.fakes import FakeLoader, FakeServable
from tests.protocols._rest import Answer, rest_app
from tests.protocols._rest import call as asgi_call

COUNT = ":tensorflow:serving:request_count"
LATENCY = ":tensorflow:serving:request_latency_count"


@pytest.fixture(scope="module")
def service() -> Iterator[ModelService]:
    def make(wanted: AspiredVersion) -> Loader:
        return FakeLoader(FakeServable)

    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    manager.set_aspired_versions("m", [AspiredVersion(ServableId("m", 1), Path("/m/1"))])
    assert manager.wait_until_idle(10)
    svc = ModelService(manager, ServiceOptions(num_threads=1))
    yield svc
    svc.close()
    manager.close()


def call(app: Router, method: str, path: str, body: Any = None) -> Answer:
    """One request through the ASGI app, ``body`` sent as JSON."""
    return asgi_call(app, method, path, b"" if body is None else orjson.dumps(body))


def test_requests_under_v1_are_counted_with_tf_servings_labels(service: ModelService) -> None:
    metrics = Metrics()
    options = RestOptions(enable_cors=True)
    app = rest_app(service, options, metrics=metrics)
    assert call(app, "POST", "/v1/models/m:predict", {"instances": [[1.0, 2.0]]})[0] == 200
    assert (
        call(app, "POST", "/v1/models/m/versions/1:PREDICT", {"instances": [[1.0, 2.0]]})[0] == 200
    )
    assert call(app, "POST", "/v1/models/m:predict", {"inputs": {"z": [[1.0, 2.0]]}})[0] == 400
    assert call(app, "POST", "/v1/models/nope:regress", {"examples": [{}]})[0] == 404
    assert call(app, "GET", "/v1/models/m")[0] == 200
    assert call(app, "GET", "/v1/models/m/metadata")[0] == 200
    assert call(app, "GET", "/v1/nothing")[0] == 400
    assert call(app, "OPTIONS", "/v1/models/m:predict")[0] == 204
    assert call(app, "GET", "/elsewhere")[0] == 404  # not the REST API: not counted
    found = samples(metrics.render())
    assert {key: value for key, value in found.items() if key.startswith(COUNT)} == {
        f'{COUNT}{{model_name="m",status="OK"}}': "4",
        f'{COUNT}{{model_name="m",status="INVALID_ARGUMENT"}}': "1",
        f'{COUNT}{{model_name="nope",status="NOT_FOUND"}}': "1",
        f'{COUNT}{{model_name="",status="INVALID_ARGUMENT"}}': "1",
        f'{COUNT}{{model_name="",status="OK"}}': "1",
    }
    assert {key: value for key, value in found.items() if key.startswith(LATENCY)} == {
        f'{LATENCY}{{model_name="m",API="predict",entrypoint="REST"}}': "2",
        f'{LATENCY}{{model_name="m",API="",entrypoint="REST"}}': "2",
        f'{LATENCY}{{model_name="",API="",entrypoint="REST"}}': "1",
    }


def test_the_page_is_served_at_its_path_only_when_monitoring_is_on(
    service: ModelService,
) -> None:
    metrics = Metrics()
    on = rest_app(
        service, metrics=metrics, monitoring=MonitoringOptions(enabled=True, path="/prom")
    )
    call(on, "GET", "/v1/models/m")
    status, headers, body = call(on, "GET", "/prom")
    assert status == 200
    assert headers[b"content-type"] == CONTENT_TYPE.encode()
    assert int(headers[b"content-length"]) == len(body)
    assert f'{COUNT}{{model_name="m",status="OK"}} 1\n'.encode() in body
    assert call(on, "GET", "/prom")[2] == body  # fetching the page is not a counted request
    assert call(on, "GET", "/prom/")[0] == 404
    assert call(on, "POST", "/prom")[0] == 404
    assert call(on, "GET", "/monitoring/prometheus/metrics")[0] == 404
    # Recording without monitoring serves nothing, and the default path is not found either.
    off = rest_app(service, metrics=Metrics())
    assert call(off, "GET", "/monitoring/prometheus/metrics")[0] == 404
    plain = rest_app(service, monitoring=MonitoringOptions(enabled=False))
    assert call(plain, "GET", "/monitoring/prometheus/metrics")[0] == 404
    with pytest.raises(ValueError, match="no Metrics"):
        rest_app(service, monitoring=MonitoringOptions(enabled=True))
