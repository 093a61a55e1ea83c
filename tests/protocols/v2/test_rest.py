"""The /v2/ routes in process, called as the router calls them: health, metadata, readiness,
inference (JSON and binary), configuration, statistics, the repository, and bad input."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from google.protobuf import json_format

from shiba._proto.v2 import inference_pb2 as pb
from shiba.codecs.v2.documents import DynamicBatching
from shiba.core.engine_choice import EngineDecision
from shiba.core.engines import ServingEngines
from shiba.core.errors import Code, FailedPrecondition, ShibaError
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.metrics import Metrics
from shiba.core.service import ModelService, ServiceOptions
from shiba.core.tensors import DType, Signature, TensorSpec
from shiba.protocols.http.routes import Request, Response
from shiba.protocols.v2.dataplane import DataPlane
from shiba.protocols.v2.grpc import SERVICE, v2_handlers
from shiba.protocols.v2.repository import RepositoryModel
from shiba.protocols.v2.rest import V2Routes
from tests._prometheus import samples
from tests.fakes import FakeLoader, FakeServable

SIGNATURE = Signature(
    inputs={"x": TensorSpec(DType.DT_FLOAT, (-1, 2)), "s": TensorSpec(DType.DT_STRING, (-1,))},
    outputs={"y": TensorSpec(DType.DT_FLOAT, (-1, 2)), "t": TensorSpec(DType.DT_STRING, (-1,))},
)


class Repository:
    """A model repository that records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def served(self) -> Sequence[str]:
        return ["m"]

    def index(self, ready_only: bool) -> list[RepositoryModel]:
        rows = [RepositoryModel("m", "1", "READY"), RepositoryModel("n", "", "UNAVAILABLE")]
        return [r for r in rows if r.state == "READY"] if ready_only else rows

    def load(self, name: str) -> None:
        self.calls.append(("load", name))
        if name == "bad":
            raise FailedPrecondition("model 'bad' failed to load: broken")

    def unload(self, name: str) -> None:
        self.calls.append(("unload", name))


@pytest.fixture(scope="module")
def engines() -> ServingEngines:
    return ServingEngines()


@pytest.fixture(scope="module")
def service(engines: ServingEngines) -> Iterator[ModelService]:
    """Model ``m`` at versions 1 and 2 (loaded as "onnx"), version 3 failed to load."""

    def make(wanted: AspiredVersion) -> Loader:
        if wanted.id.version == 3:
            return FakeLoader(FakeServable, fail=FailedPrecondition("broken"))
        inner = FakeLoader(lambda: FakeServable({"serving_default": SIGNATURE}))
        return engines.tracked(
            inner, wanted.id, EngineDecision("onnxruntime", "x"), platform="onnx"
        )

    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    manager.set_aspired_versions(
        "m", [AspiredVersion(ServableId("m", v), Path(f"/m/{v}")) for v in (1, 2, 3)]
    )
    assert manager.wait_until_idle(10)
    svc = ModelService(manager, ServiceOptions(num_threads=1))
    yield svc
    svc.close()
    manager.close()


@pytest.fixture
def repository() -> Repository:
    return Repository()


@pytest.fixture
def routes(service: ModelService, engines: ServingEngines, repository: Repository) -> V2Routes:
    plane = DataPlane(
        service,
        engines,
        repository=repository,
        max_batch_size=8,
        batching=DynamicBatching(1000, (4, 8)),
    )
    return V2Routes(plane)


def call(
    routes: V2Routes,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> Response:
    return asyncio.run(routes.handle(Request(method, path, b"", list(headers), body)))


def failure(routes: V2Routes, method: str, path: str, body: bytes = b"", **kw: Any) -> ShibaError:
    with pytest.raises(ShibaError) as info:
        call(routes, method, path, body, **kw)
    return info.value


def infer_body(**extra: Any) -> bytes:
    document = {
        "inputs": [
            {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[1.5, 2]]},
            {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["hi"]},
        ],
        **extra,
    }
    return json.dumps(document).encode()


def test_server_health_and_metadata(routes: V2Routes) -> None:
    assert call(routes, "GET", "/v2/health/live").status == 200
    assert call(routes, "GET", "/v2/health/ready").status == 200
    metadata = json.loads(call(routes, "GET", "/v2").body)
    assert metadata["name"] == "shiba"
    assert "binary_tensor_data" in metadata["extensions"]
    assert routes.public == {"/v2/health/live", "/v2/health/ready"}
    assert json.loads(routes.error_body("x")) == {"error": "x"}


def test_model_metadata_names_the_platform_that_loaded_it(routes: V2Routes) -> None:
    metadata = json.loads(call(routes, "GET", "/v2/models/m").body)
    assert metadata["versions"] == ["1", "2"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"][0] == {"name": "x", "datatype": "FP32", "shape": [-1, 2]}
    assert metadata["outputs"][1] == {"name": "t", "datatype": "BYTES", "shape": [-1]}
    assert call(routes, "GET", "/v2/models/m/versions/1").status == 200


def test_model_readiness(routes: V2Routes) -> None:
    assert call(routes, "GET", "/v2/models/m/ready").status == 200
    assert call(routes, "GET", "/v2/models/m/versions/2/ready").status == 200
    assert call(routes, "GET", "/v2/models/m/versions/3/ready").status == 400
    assert call(routes, "GET", "/v2/models/nope/ready").status == 400


def test_json_inference(routes: V2Routes) -> None:
    answer = call(routes, "POST", "/v2/models/m/infer", infer_body(id="r1"))
    assert answer.status == 200
    document = json.loads(answer.body)
    assert document["model_name"] == "m" and document["model_version"] == "2"
    assert document["id"] == "r1"
    assert document["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.0]},
        {"name": "t", "datatype": "BYTES", "shape": [1], "data": ["hi"]},
    ]


def test_binary_inference_with_requested_outputs(routes: V2Routes) -> None:
    floats = np.array([[1, 2], [3, 4]], np.float32).tobytes()
    strings = struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"bc"
    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [2, 2], "datatype": "FP32",
                 "parameters": {"binary_data_size": len(floats)}},
                {"name": "s", "shape": [2], "datatype": "BYTES",
                 "parameters": {"binary_data_size": len(strings)}},
            ],
            "outputs": [{"name": "t", "parameters": {"binary_data": True}}],
        }
    ).encode()  # fmt: skip
    answer = call(
        routes,
        "POST",
        "/v2/models/m/versions/1/infer",
        header + floats + strings,
        headers=[(b"inference-header-content-length", str(len(header)).encode())],
    )
    length = dict(answer.headers)[b"inference-header-content-length"]
    document = json.loads(answer.body[: int(length)])
    assert document["model_version"] == "1"
    assert document["outputs"] == [
        {"name": "t", "datatype": "BYTES", "shape": [2],
         "parameters": {"binary_data_size": len(strings)}}
    ]  # fmt: skip
    assert answer.body[int(length) :] == strings


@pytest.mark.parametrize(
    "case",
    [
        ("POST", "/v2/models/nope/infer", infer_body(), Code.NOT_FOUND, "Servable not found"),
        ("POST", "/v2/models/m/versions/9/infer", infer_body(), Code.NOT_FOUND, "not found"),
        ("POST", "/v2/models/m/versions/x/infer", infer_body(), Code.INVALID_ARGUMENT, "'x'"),
        ("POST", "/v2/models/m/infer", b"{oops", Code.INVALID_ARGUMENT, "malformed JSON"),
        ("GET", "/v2/models/m/infer", b"", Code.NOT_FOUND, "Not found: GET"),
        ("GET", "/v2/nothing", b"", Code.NOT_FOUND, "Not found"),
        (
            "POST",
            "/v2/models/m/infer",
            infer_body(outputs=[{"name": "w"}]),
            Code.INVALID_ARGUMENT,
            "unexpected inference output 'w'",
        ),
        (
            "POST",
            "/v2/models/m/infer",
            infer_body(outputs=[{"name": "y"}, {"name": "y"}]),
            Code.INVALID_ARGUMENT,
            "output 'y' is requested more than once",
        ),
        (
            "POST",
            "/v2/models/m/infer",
            json.dumps(
                {
                    "inputs": [
                        {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]},
                        {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["a"]},
                    ]
                }
            ).encode(),
            Code.INVALID_ARGUMENT,
            "data-type is 'FP64', but model 'm' expects 'FP32'",
        ),
    ],
)
def test_bad_requests_raise_with_their_code(
    routes: V2Routes, case: tuple[str, str, bytes, Code, str]
) -> None:
    method, path, body, code, words = case
    error = failure(routes, method, path, body)
    assert error.code == code
    assert words in error.message


def test_a_binary_body_shorter_than_its_header_says(routes: V2Routes) -> None:
    body = infer_body()
    headers = [(b"inference-header-content-length", str(len(body) + 10).encode())]
    error = failure(routes, "POST", "/v2/models/m/infer", body, headers=headers)
    assert "the body has only" in error.message
    bad = failure(routes, "POST", "/v2/models/m/infer", body, headers=[(b"inference-header-content-length", b"ten")])  # fmt: skip
    assert "must be an integer" in bad.message


def test_statistics_count_successes_and_failures(routes: V2Routes) -> None:
    def latest() -> dict[str, Any]:
        stats = json.loads(call(routes, "GET", "/v2/models/m/stats").body)["model_stats"]
        assert [s["version"] for s in stats] == ["1", "2"]
        return cast("dict[str, Any]", stats[1])

    def grew(key: str) -> int:
        return int(now["inference_stats"][key]["count"] - before["inference_stats"][key]["count"])

    before = latest()  # the service (and so its statistics) is shared by this module's tests
    for _ in range(3):
        call(routes, "POST", "/v2/models/m/infer", infer_body())
    failure(routes, "POST", "/v2/models/m/infer", infer_body(outputs=[{"name": "w"}]))
    now = latest()
    assert now["inference_count"] - before["inference_count"] == 3
    assert now["execution_count"] - before["execution_count"] == 3
    assert (grew("success"), grew("fail")) == (3, 1)
    # Run on the service's executor (no batching): each request is one execution of its own.
    assert grew("compute_infer") == grew("queue") == 3
    assert grew("compute_input") == grew("compute_output") == 3
    inference = now["inference_stats"]
    assert inference["compute_infer"]["ns"] > 0 and inference["compute_input"]["ns"] > 0
    assert inference["success"]["ns"] >= inference["compute_infer"]["ns"]
    (batch,) = now["batch_stats"]
    assert batch["batch_size"] == 1 and batch["compute_infer"]["count"] == now["execution_count"]
    one = json.loads(call(routes, "GET", "/v2/models/m/versions/1/stats").body)
    assert [s["version"] for s in one["model_stats"]] == ["1"]
    everything = json.loads(call(routes, "GET", "/v2/models/stats").body)
    assert len(everything["model_stats"]) == 2
    assert failure(routes, "GET", "/v2/models/nope/stats").code == Code.NOT_FOUND


def test_model_configuration(routes: V2Routes) -> None:
    config = json.loads(call(routes, "GET", "/v2/models/m/config").body)
    assert config["name"] == "m"
    assert config["platform"] == "onnxruntime_onnx"
    assert config["max_batch_size"] == 8
    assert config["input"][0] == {"name": "x", "data_type": "TYPE_FP32", "dims": [2]}
    assert config["output"][1] == {"name": "t", "data_type": "TYPE_STRING", "dims": []}
    assert config["dynamic_batching"] == {
        "max_queue_delay_microseconds": 1000,
        "preferred_batch_size": [4, 8],
    }


def test_repository_routes(routes: V2Routes, repository: Repository) -> None:
    index = json.loads(call(routes, "POST", "/v2/repository/index").body)
    assert index[1] == {"name": "n", "version": "", "state": "UNAVAILABLE", "reason": ""}
    ready = json.loads(call(routes, "POST", "/v2/repository/index", b'{"ready": true}').body)
    assert [row["name"] for row in ready] == ["m"]
    assert call(routes, "POST", "/v2/repository/models/n/load").status == 200
    assert call(routes, "POST", "/v2/repository/models/n/unload", b"{}").status == 200
    assert repository.calls == [("load", "n"), ("unload", "n")]
    assert "broken" in failure(routes, "POST", "/v2/repository/models/bad/load").message
    override = b'{"parameters": {"config": "{}"}}'
    error = failure(routes, "POST", "/v2/repository/models/n/load", override)
    assert error.code == Code.UNIMPLEMENTED
    assert failure(routes, "POST", "/v2/repository/index", b"[1]").code == Code.INVALID_ARGUMENT


def test_without_a_repository_its_routes_are_unimplemented(
    service: ModelService, engines: ServingEngines
) -> None:
    routes = V2Routes(DataPlane(service, engines))
    error = failure(routes, "POST", "/v2/repository/index")
    assert error.code == Code.UNIMPLEMENTED
    config = json.loads(call(routes, "GET", "/v2/models/m/config").body)
    assert config["max_batch_size"] == 0 and "dynamic_batching" not in config
    assert config["input"][0]["dims"] == [-1, 2]


def test_requests_are_recorded_in_the_request_metrics_under_the_model_in_their_path(
    service: ModelService, engines: ServingEngines
) -> None:
    metrics = Metrics()
    routes = V2Routes(DataPlane(service, engines), metrics=metrics)
    for method, path in (
        ("POST", "/v2/models/m/versions/1/infer"),
        ("GET", "/v2/models/m/ready"),
        ("GET", "/v2/models/stats"),  # every model's statistics: no model in the path
        ("GET", "/v2/health/live"),
    ):
        routes.observe(Request(method, path, b"", (), b""), Code.OK, 0.001)
    found = samples(metrics.render())
    count = ":tensorflow:serving:request_count"
    assert found[f'{count}{{model_name="m",status="OK"}}'] == "2"
    assert found[f'{count}{{model_name="",status="OK"}}'] == "2"
    latency = ":tensorflow:serving:request_latency_count"
    assert found[f'{latency}{{model_name="m",API="infer",entrypoint="REST"}}'] == "1"
    assert found[f'{latency}{{model_name="m",API="",entrypoint="REST"}}'] == "1"
    assert not any('model_name="stats"' in key for key in found)


def test_an_inference_handled_is_recorded_as_its_path_says(
    service: ModelService, engines: ServingEngines
) -> None:
    """``handle`` leaves an inference's labels on the request; ``observe`` records those, as it
    would have found them in the path, whether the inference was answered or failed."""
    metrics = Metrics()
    routes = V2Routes(DataPlane(service, engines), metrics=metrics)
    for path, code in (
        ("/v2/models/m/versions/1/infer/", Code.OK),
        ("/v2/models/m/versions/9/infer", Code.NOT_FOUND),
    ):
        request = Request("POST", path, b"", (), infer_body())
        try:
            asyncio.run(routes.handle(request))
        except ShibaError as exc:
            assert exc.code == code
        routes.observe(request, code, 0.001)
    found = samples(metrics.render())
    count = ":tensorflow:serving:request_count"
    assert found[f'{count}{{model_name="m",status="OK"}}'] == "1"
    assert found[f'{count}{{model_name="m",status="NOT_FOUND"}}'] == "1"
    latency = ":tensorflow:serving:request_latency_count"
    assert found[f'{latency}{{model_name="m",API="infer",entrypoint="REST"}}'] == "1"  # OK only


def test_grpc_model_statistics_answers_what_the_stats_route_does(
    routes: V2Routes, service: ModelService, engines: ServingEngines
) -> None:
    call(routes, "POST", "/v2/models/m/infer", infer_body())  # something counted, and a batch
    handler = v2_handlers(DataPlane(service, engines))[SERVICE]["ModelStatistics"]

    async def statistics(data: bytes) -> bytes:
        return await handler(data)

    for name, version, path in (
        ("", "", "/v2/models/stats"),
        ("m", "", "/v2/models/m/stats"),
        ("m", "2", "/v2/models/m/versions/2/stats"),
    ):
        document = json.loads(call(routes, "GET", path).body)
        request = pb.ModelStatisticsRequest(name=name, version=version).SerializeToString()
        answer = pb.ModelStatisticsResponse.FromString(asyncio.run(statistics(request)))
        assert answer == json_format.ParseDict(document, pb.ModelStatisticsResponse()), path
    (latest,) = answer.model_stats
    assert latest.version == "2" and latest.inference_count >= 1
    assert latest.inference_stats.success.count >= 1 and latest.batch_stats[0].batch_size == 1
