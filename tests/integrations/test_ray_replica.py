"""``ShibaReplica`` in this process (no Ray cluster): it answers REST and gRPC requests as
``shiba serve`` does, errors included, and the front end forwards exactly the replica's RPCs (TF
Serving's and the Open Inference Protocol's)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from shiba import _proto
from shiba._proto.v2 import inference_pb2 as pb
from shiba.config.flags import parse_flags
from shiba.config.settings import settings_from_flags
from shiba.core.errors import Code
from shiba.integrations.ray import ShibaReplica
from shiba.integrations.ray_front_end import RPCS, Forwarder
from shiba.protocols.tfserving.grpc import tfserving_handlers
from shiba.protocols.v2.grpc import SERVICE as V2_SERVICE
from shiba.protocols.v2.grpc import v2_handlers, v2_stream_handlers
from tests.models import build_onnx_model

pytestmark = pytest.mark.slow

_JSON = [(b"content-type", b"application/json")]


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShibaReplica]:
    base = tmp_path_factory.mktemp("models") / "half"
    build_onnx_model(base)
    flags = parse_flags(
        ["--ray", "--model_name=half", f"--model_base_path={base}", "--onnx_engine=onnxruntime"]
    )
    replica = ShibaReplica(settings_from_flags(flags, environ={}))
    yield replica
    replica.__del__()


def test_rest_predict_runs_through_shibas_rest_app(replica: ShibaReplica) -> None:
    body = orjson.dumps({"inputs": {"x": [[1.0], [2.0]], "k": [[1], [2]]}})
    status, headers, answer = asyncio.run(
        replica.rest("POST", "/v1/models/half:predict", b"", _JSON, body)
    )
    assert status == 200
    assert (b"content-type", b"application/json") in headers
    assert orjson.loads(answer)["outputs"] == {"y": [[2.5], [3.0]], "z": [[1.0], [4.0]]}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/v1/models/half:predict", b"{bad", 400, "JSON Parse error"),
        ("/v1/models/absent:predict", b'{"instances": [1]}', 404, "absent"),
        ("/v1/models/half:predict", b'{"inputs": {"x": [[1.0]]}}', 400, "k"),
    ],
)
def test_rest_errors_are_shibas(
    replica: ShibaReplica, path: str, body: bytes, status: int, error: str
) -> None:
    got, _, answer = asyncio.run(replica.rest("POST", path, b"", _JSON, body))
    assert got == status
    assert error in orjson.loads(answer)["error"]


def test_grpc_status_and_errors(replica: ShibaReplica) -> None:
    request = _proto.GetModelStatusRequest()
    request.model_spec.name = "half"
    code, payload = asyncio.run(
        replica.grpc(f"{_proto.MODEL_SERVICE}/GetModelStatus", request.SerializeToString())
    )
    assert code == Code.OK
    assert isinstance(payload, bytes)
    status = _proto.GetModelStatusResponse.FromString(payload)
    assert [v.version for v in status.model_version_status] == [1]

    request.model_spec.name = "absent"
    code, message = asyncio.run(
        replica.grpc(f"{_proto.MODEL_SERVICE}/GetModelStatus", request.SerializeToString())
    )
    assert code == Code.NOT_FOUND
    assert message == "Could not find any versions of model absent"

    code, message = asyncio.run(replica.grpc(f"{_proto.PREDICTION_SERVICE}/Predict", b"\xff"))
    assert code == Code.INVALID_ARGUMENT
    code, message = asyncio.run(replica.grpc("tensorflow.serving.Other/Nothing", b""))
    assert code == Code.UNIMPLEMENTED


def test_front_end_forwards_every_rpc(replica: ShibaReplica) -> None:
    components = replica._components
    assert components is not None and components.v2 is not None
    table = {**tfserving_handlers(components.service), **v2_handlers(components.v2)}
    expected = {service: set(methods) for service, methods in table.items()}
    assert {service: set(methods) for service, methods in RPCS.items()} == expected
    forwarded = {f"{service}/{name}" for service, names in RPCS.items() for name in names}
    assert forwarded == set(replica._rpcs)


def test_open_inference_protocol_rpcs_run_in_the_replica(replica: ShibaReplica) -> None:
    request = pb.ModelInferRequest(model_name="half")
    x = request.inputs.add(name="x", datatype="FP32", shape=[2, 1])
    x.contents.fp32_contents.extend([1.0, 2.0])
    k = request.inputs.add(name="k", datatype="INT64", shape=[2, 1])
    k.contents.int64_contents.extend([1, 2])
    code, payload = asyncio.run(
        replica.grpc(f"{V2_SERVICE}/ModelInfer", request.SerializeToString())
    )
    assert code == Code.OK
    assert isinstance(payload, bytes)
    answer = pb.ModelInferResponse.FromString(payload)
    names = [output.name for output in answer.outputs]
    y = np.frombuffer(answer.raw_output_contents[names.index("y")], np.float32)
    assert y.tolist() == [2.5, 3.0]

    request.model_name = "absent"
    code, message = asyncio.run(
        replica.grpc(f"{V2_SERVICE}/ModelInfer", request.SerializeToString())
    )
    assert code == Code.NOT_FOUND
    assert "absent" in str(message)


def test_without_a_cluster_a_replica_does_not_reload(replica: ShibaReplica) -> None:
    code, message = asyncio.run(
        replica.grpc(f"{_proto.MODEL_SERVICE}/HandleReloadConfigRequest", b"")
    )
    assert code == Code.UNIMPLEMENTED
    assert "does not reload" in str(message)


def test_calls_answers_each_request_of_a_group_in_order(replica: ShibaReplica) -> None:
    good = orjson.dumps({"inputs": {"x": [[4.0]], "k": [[1]]}})
    status = _proto.GetModelStatusRequest()
    status.model_spec.name = "half"
    answers = asyncio.run(
        replica.calls(
            [
                ("rest", ("POST", "/v1/models/half:predict", b"", _JSON, good)),
                ("rest", ("POST", "/v1/models/half:predict", b"", _JSON, b"[")),
                ("grpc", (f"{_proto.MODEL_SERVICE}/GetModelStatus", status.SerializeToString())),
                ("rest", ("POST", "/v1/models/half:predict", b"", _JSON)),
            ]
        )
    )
    assert answers[0][0] == 200
    assert answers[1][0] == 400
    assert answers[2][0] == Code.OK
    # A request the replica cannot even start (a missing argument) fails alone, as INTERNAL.
    assert answers[3][0] == 500
    assert "Internal error" in orjson.loads(answers[3][2])["error"]  # type: ignore[misc]


@pytest.mark.integration
def test_serve_without_a_ray_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    build_onnx_model(tmp_path / "half")
    env = {**os.environ, "RAY_TMPDIR": str(tmp_path / "ray")}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "shiba", "serve", "--ray"),
            f"--model_base_path={tmp_path / 'half'}",
            *("--rest_api_port=0", "--port=0", f"--grpc_socket_path={tmp_path / 'grpc.sock'}"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Cannot join a Ray cluster at 'auto'" in done.stderr
    assert "ray start --head" in done.stderr


class _LocalHandle:
    """What ``Forwarder`` uses of a Ray Serve handle, calling ``replica`` in this process."""

    def __init__(self, replica: ShibaReplica) -> None:
        self._replica = replica

    def options(self, method_name: str) -> _LocalHandle:
        assert method_name == "calls"
        return self

    async def remote(self, batch: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        return await self._replica.calls(batch)


def test_front_end_streams_each_request_as_a_forwarded_model_infer(replica: ShibaReplica) -> None:
    def infer(request_id: str, model: str) -> bytes:
        request = pb.ModelInferRequest(model_name=model, id=request_id)
        x = request.inputs.add(name="x", datatype="FP32", shape=[1, 1])
        x.contents.fp32_contents.append(4.0)
        k = request.inputs.add(name="k", datatype="INT64", shape=[1, 1])
        k.contents.int64_contents.append(3)
        return request.SerializeToString()

    async def requests() -> AsyncIterator[bytes]:
        for request_id, model in (("a", "half"), ("b", "absent"), ("c", "half")):
            yield infer(request_id, model)

    async def run() -> list[pb.ModelStreamInferResponse]:
        forwarder = Forwarder(_LocalHandle(replica))  # type: ignore[arg-type]
        forwarder.start()
        try:
            model_infer = forwarder.grpc_handlers()[V2_SERVICE]["ModelInfer"]
            stream = v2_stream_handlers(model_infer)[V2_SERVICE]["ModelStreamInfer"]
            return [pb.ModelStreamInferResponse.FromString(a) async for a in stream(requests())]
        finally:
            await forwarder.stop()

    first, absent, last = asyncio.run(run())
    for answer, request_id in ((first, "a"), (last, "c")):
        assert answer.error_message == "" and answer.infer_response.id == request_id
        names = [output.name for output in answer.infer_response.outputs]
        y = answer.infer_response.raw_output_contents[names.index("y")]
        assert np.frombuffer(y, np.float32).tolist() == [4.0]
    assert "absent" in absent.error_message and absent.infer_response.id == "b"
