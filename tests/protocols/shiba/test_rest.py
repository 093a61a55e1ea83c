"""shiba's own REST route in process: which engine serves each signature, status codes and error
bodies as TF Serving's, and TF Serving's own routes unchanged beside it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shiba.core.engine_choice import Candidate, EngineChoiceLoader, EngineDecision
from shiba.core.engines import ServingEngines
from shiba.core.errors import FailedPrecondition
from shiba.core.ids import ServableId
from shiba.core.labels import ClassLabels
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.metrics import Metrics
from shiba.core.service import ModelService, ServiceOptions
from shiba.core.tensors import DType, Signature
from shiba.protocols.http.router import Router
from shiba.protocols.options import RestOptions
from shiba.protocols.shiba.rest import ShibaRoutes
from tests.fakes import FakeLoader, FakeServable, simple_signature
from tests.protocols._rest import call, rest_app

FAILED = "{name: m version: 3} cannot run on openvino: the openvino package is missing"


@pytest.fixture(scope="module")
def engines() -> ServingEngines:
    return ServingEngines()


@pytest.fixture(scope="module")
def service(engines: ServingEngines) -> Iterator[ModelService]:
    """Model ``m``: version 1 through the engine choice (``serving_default`` verified on a fake
    candidate, ``strings`` left on the reference), version 2 on one engine, version 3 failed to
    load; label ``stable`` -> 1. Closing it unloads every servable it loaded."""
    live_before = FakeLoader.live
    signatures = {
        "serving_default": simple_signature(),
        "strings": simple_signature(dtype=DType.DT_STRING, shape=(-1,)),
    }

    def candidate(reference: Mapping[str, Signature]) -> Candidate:
        served = FakeServable({"serving_default": reference["serving_default"]})
        return Candidate(served, {"strings": "only numeric signatures run on OpenVINO"})

    def make(wanted: AspiredVersion) -> Loader:
        version = wanted.id.version
        if version == 3:
            return FakeLoader(FakeServable, fail=FailedPrecondition(FAILED))
        inner = FakeLoader(lambda: FakeServable(signatures))
        if version == 2:
            return engines.tracked(
                inner, wanted.id, EngineDecision("tensorflow", "set"), platform="tensorflow"
            )
        choice = EngineChoiceLoader(inner, candidate, servable_id=wanted.id)
        return engines.tracked(choice, wanted.id, platform="onnx")

    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    manager.set_aspired_versions(
        "m", [AspiredVersion(ServableId("m", v), Path(f"/m/{v}")) for v in (1, 2, 3)]
    )
    assert manager.wait_until_idle(10)
    manager.set_version_labels("m", {"stable": 1})
    svc = ModelService(manager, ServiceOptions(num_threads=1))
    yield svc
    svc.close()
    manager.close()
    assert FakeLoader.live == live_before


VERSION_1 = {
    "version": "1",
    "state": "AVAILABLE",
    "runtime": "onnx",
    "signatures": {
        "serving_default": {
            "engine": "openvino",
            "reason": "verified, max abs diff 0",
            "max_abs_diff": 0.0,
        },
        "strings": {
            "engine": "tensorflow",
            "reason": "only numeric signatures run on OpenVINO",
            "max_abs_diff": None,
        },
    },
}
VERSION_2 = {
    "version": "2",
    "state": "AVAILABLE",
    "runtime": "tensorflow",
    "signatures": {
        name: {"engine": "tensorflow", "reason": "set", "max_abs_diff": None}
        for name in ("serving_default", "strings")
    },
}
VERSION_3 = {
    "version": "3",
    "state": "END",
    "error": {"code": "FAILED_PRECONDITION", "message": FAILED},
}


def test_every_version_with_the_engine_of_each_loaded_signature(
    service: ModelService, engines: ServingEngines
) -> None:
    app = rest_app(service, engines=engines)
    status, headers, body = call(app, "GET", "/shiba/v1/models/m")
    assert status == 200
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body)
    assert json.loads(body) == {"model": "m", "versions": [VERSION_3, VERSION_2, VERSION_1]}
    assert b'"max_abs_diff": 0.0' in body and b'"max_abs_diff": null' in body


def test_every_model_with_its_labels(
    service: ModelService, engines: ServingEngines, tmp_path: Path
) -> None:
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "labels.txt").write_text("cat\ndog\n")
    labels = ClassLabels()
    labelled_loader = labels.tracked(FakeLoader(FakeServable), ServableId("m", 2), tmp_path)
    labelled_loader.load()
    app = Router([ShibaRoutes(service, engines, labels)], RestOptions())
    try:
        status, _, body = call(app, "GET", "/shiba/v1/models")
    finally:
        labelled_loader.unload()  # the servable this test loaded, not the module's service
    labelled = {**VERSION_2, "labels": ["cat", "dog"]}
    assert (status, json.loads(body)) == (
        200,
        {"models": [{"model": "m", "versions": [VERSION_3, labelled, VERSION_1]}]},
    )
    # Unloaded, the version is listed without its labels.
    status, _, body = call(app, "GET", "/shiba/v1/models")
    assert json.loads(body)["models"][0]["versions"][1] == VERSION_2


@pytest.mark.parametrize(
    ("path", "versions"),
    [
        ("/shiba/v1/models/m/versions/2", [VERSION_2]),
        ("/shiba/v1/models/m/labels/stable", [VERSION_1]),
        ("/shiba/v1/models/m/versions/3", [VERSION_3]),
    ],
)
def test_one_version(
    service: ModelService, engines: ServingEngines, path: str, versions: list[Any]
) -> None:
    status, _, body = call(rest_app(service, engines=engines), "GET", path)
    assert (status, json.loads(body)) == (200, {"model": "m", "versions": versions})


@pytest.mark.parametrize(
    ("request_line", "status", "error"),
    [
        ("GET /shiba/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("GET /shiba/v1/models/m/versions/9", 404, "Could not find version 9 of model m"),
        ("GET /shiba/v1/models/m/labels/x", 400, "Unrecognized servable version label: x"),
        ("GET /shiba/v1/model", 404, "Not found: GET /shiba/v1/model"),
        ("GET /shiba/v1/models/m/metadata", 404, "Not found: GET /shiba/v1/models/m/metadata"),
        ("POST /shiba/v1/models/m", 404, "Not found: POST /shiba/v1/models/m"),
    ],
)
def test_errors_are_tf_servings_json(
    service: ModelService, engines: ServingEngines, request_line: str, status: int, error: str
) -> None:
    method, path = request_line.split(" ")
    answer = call(rest_app(service, engines=engines), method, path)
    assert answer[0] == status
    assert answer[2] == b'{\n    "error": ' + json.dumps(error).encode() + b"\n}"


def test_without_engines_there_is_no_route(service: ModelService) -> None:
    status, _, body = call(rest_app(service), "GET", "/shiba/v1/models/m")
    assert (status, json.loads(body)) == (404, {"error": "Not found: GET /shiba/v1/models/m"})


@pytest.mark.parametrize(
    "path", ["/v1/models/m", "/v1/models/m/metadata", "/v1/models/m/versions/3", "/v1/nothing"]
)
def test_tf_servings_routes_answer_the_same_bytes(
    service: ModelService, engines: ServingEngines, path: str
) -> None:
    metrics = Metrics(engines)
    assert call(rest_app(service, engines=engines, metrics=metrics), "GET", path) == call(
        rest_app(service), "GET", path
    )


def test_shibas_route_is_not_counted_as_a_tf_serving_request(
    service: ModelService, engines: ServingEngines
) -> None:
    metrics = Metrics(engines)
    app = rest_app(service, engines=engines, metrics=metrics)
    call(app, "GET", "/shiba/v1/models/m")
    call(app, "GET", "/shiba/v1/models/nope")
    assert b":tensorflow:serving:request_count{" not in metrics.render()
