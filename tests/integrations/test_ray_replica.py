"""``ShibaReplica`` in this process (no Ray cluster): it answers REST and gRPC requests as
``shiba serve`` does, errors included, and the front end forwards exactly the replica's RPCs (TF
Serving's and the Open Inference Protocol's), with their deadlines, and checks REST tokens as
``shiba serve``'s router does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import orjson
import pytest

from shiba import _proto
from shiba._proto.v2 import inference_pb2 as pb
from shiba.config.flags import parse_flags
from shiba.config.settings import settings_from_flags
from shiba.core.errors import Code, ShibaError
from shiba.integrations.ray import AUTOSCALING, ShibaReplica, deployment_options
from shiba.integrations.ray_front_end import DEADLINE_PASSED, RPCS, Forwarder
from shiba.protocols._asgi import Message
from shiba.protocols._grpc_handlers import add_handlers
from shiba.protocols.auth import TokenFile
from shiba.protocols.http.access import Gate
from shiba.protocols.tfserving.grpc import tfserving_handlers
from shiba.protocols.v2.grpc import SERVICE as V2_SERVICE
from shiba.protocols.v2.grpc import v2_handlers, v2_stream_handlers
from tests.integration.conftest import free_port, model_config_text
from tests.models import build_onnx_model

pytestmark = pytest.mark.slow

_JSON = [(b"content-type", b"application/json")]

#: A Python model that sleeps for as many seconds as its input says.
_NAP = """
import time

import numpy as np


class Nap:
    signature = {
        "inputs": {"seconds": {"dtype": "float32", "shape": [-1]}},
        "outputs": {"slept": {"dtype": "float32", "shape": [-1]}},
    }

    def load(self, path):
        pass

    def predict(self, inputs):
        time.sleep(float(inputs["seconds"].max()))
        return {"slept": inputs["seconds"]}
"""


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShibaReplica]:
    models = tmp_path_factory.mktemp("models")
    build_onnx_model(models / "half")
    (models / "nap" / "1").mkdir(parents=True)
    (models / "nap" / "1" / "model.py").write_text(textwrap.dedent(_NAP))
    config = models / "models.config"
    config.write_text(
        model_config_text(
            f'name: "half" base_path: "{models / "half"}"',
            f'name: "nap" base_path: "{models / "nap"}"',
        )
    )
    flags = parse_flags(["--ray", f"--model_config_file={config}", "--onnx_engine=onnxruntime"])
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


def _nap_request(seconds: float) -> bytes:
    request = _proto.PredictRequest()
    request.model_spec.name = "nap"
    tensor = request.inputs["seconds"]
    tensor.dtype = 1  # DT_FLOAT
    tensor.tensor_shape.dim.add(size=1)
    tensor.float_val.append(seconds)
    return request.SerializeToString()


_PREDICT = f"{_proto.PREDICTION_SERVICE}/Predict"


def test_a_replica_honours_the_time_a_grpc_call_has_left(replica: ShibaReplica) -> None:
    """As grpc.aio does for ``shiba serve``: a call still running at its deadline is cancelled
    and answered DEADLINE_EXCEEDED; one with no time left does not start; others are answered."""
    code, payload = asyncio.run(replica.grpc(_PREDICT, _nap_request(0.0), 30.0))
    assert code == Code.OK
    assert isinstance(payload, bytes)
    assert list(_proto.PredictResponse.FromString(payload).outputs["slept"].float_val) == [0.0]

    start = time.monotonic()
    code, message = asyncio.run(replica.grpc(_PREDICT, _nap_request(1.5), 0.2))
    assert (code, message) == (Code.DEADLINE_EXCEEDED, DEADLINE_PASSED)
    assert time.monotonic() - start < 1.2
    code, message = asyncio.run(replica.grpc(_PREDICT, _nap_request(0.0), -0.1))
    assert (code, message) == (Code.DEADLINE_EXCEEDED, DEADLINE_PASSED)
    # Through ``calls`` too (the front end's Ray call), a late request fails alone.
    late, fine = asyncio.run(
        replica.calls(
            [("grpc", (_PREDICT, _nap_request(1.5), 0.2)), ("grpc", (_PREDICT, _nap_request(0)))]
        )
    )
    assert late[0] == Code.DEADLINE_EXCEEDED and fine[0] == Code.OK


class _RecordingHandle(_LocalHandle):
    """A ``_LocalHandle`` that keeps every group it sent and the replica's answers to it."""

    def __init__(self, replica: ShibaReplica) -> None:
        super().__init__(replica)
        self.sent: list[tuple[list[Any], list[Any]]] = []

    def options(self, method_name: str) -> _RecordingHandle:
        assert method_name == "calls"
        return self

    async def remote(self, batch: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        answers = await super().remote(batch)
        self.sent.append((batch, answers))
        return answers


def test_the_front_end_sends_a_grpc_calls_deadline_to_the_replica(replica: ShibaReplica) -> None:
    """A client's gRPC timeout reaches the replica as the time left: the replica stops the call
    at the deadline (DEADLINE_EXCEEDED, long before the model's 1.5 s), as the client does."""
    handle = _RecordingHandle(replica)

    async def run() -> tuple[grpc.StatusCode, float]:
        forwarder = Forwarder(handle)  # type: ignore[arg-type]
        forwarder.start()
        server = grpc.aio.server()
        add_handlers(server, forwarder.grpc_handlers(), deadlines=True)
        port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                predict: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                    f"/{_PREDICT}"
                )
                assert await predict(_nap_request(0.0), timeout=30)  # a deadline, not reached
                start = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await predict(_nap_request(1.5), timeout=0.3)
                # The replica's answer comes back soon after the client's own deadline.
                while len(handle.sent) < 2 and time.monotonic() - start < 5:
                    await asyncio.sleep(0.01)
                return caught.value.code(), time.monotonic() - start
        finally:
            await server.stop(None)
            await forwarder.stop()

    code, seconds = asyncio.run(run())
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert seconds < 1.2
    (first, answers_first), (late, answers_late) = handle.sent
    # gRPC sends the timeout rounded up a little (its header has 8 digits at most).
    assert 29 < first[0][1][2] <= 30.05 and answers_first[0][0] == Code.OK
    assert 0 < late[0][1][2] <= 0.35
    assert answers_late == [(Code.DEADLINE_EXCEEDED, DEADLINE_PASSED)]


class _TableHandle(_LocalHandle):
    """``api_table`` and ``calls`` of ``replica``, as the front end asks them of a Ray handle."""

    def __init__(self, replica: ShibaReplica, method: str = "calls") -> None:
        super().__init__(replica)
        self._method = method

    def options(self, method_name: str) -> _TableHandle:
        return _TableHandle(self._replica, method_name)

    async def remote(self, *args: Any) -> Any:
        if self._method == "api_table":
            return self._replica.api_table()
        return await super().remote(*args)


def test_the_front_end_checks_rest_tokens_as_the_router_does(
    replica: ShibaReplica, tmp_path: Path
) -> None:
    """With ``--auth_token_file`` the front end answers 401 itself (the API's error body, the
    Bearer challenge) and lets through a known token and the public paths (``/v2/health/live``),
    whatever the replica's own settings (it has no token file)."""
    tokens = tmp_path / "tokens"
    tokens.write_text("front-token\n")

    async def ask(
        path: str, headers: list[tuple[bytes, bytes]], *, cors: bool = False
    ) -> tuple[int, Any, bytes]:
        handle = _TableHandle(replica)
        table = await handle.options(method_name="api_table").remote()
        forwarder = Forwarder(handle)  # type: ignore[arg-type]
        forwarder.start()
        app = forwarder.rest_app(1 << 20, Gate(TokenFile(tokens), table, cors=cors), cors=cors)
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": headers,
        }
        try:
            await app(scope, receive, send)
        finally:
            await forwarder.stop()
        return sent[0]["status"], sent[0]["headers"], sent[1]["body"]

    status, headers, body = asyncio.run(ask("/v1/models/half", []))
    assert status == 401
    assert (b"www-authenticate", b'Bearer realm="shiba"') in headers
    assert "Bearer <token>" in orjson.loads(body)["error"]
    assert (b"access-control-allow-origin", b"*") not in headers
    # With CORS on, the front end's own 401 carries the CORS headers (a browser can read it).
    status, headers, _ = asyncio.run(ask("/v1/models/half", [], cors=True))
    assert status == 401 and (b"access-control-allow-origin", b"*") in headers
    wrong = [(b"authorization", b"Bearer other")]
    assert asyncio.run(ask("/v2/models/half/ready", wrong))[0] == 401
    token = [(b"authorization", b"Bearer front-token")]
    assert asyncio.run(ask("/v1/models/half", token))[0] == 200
    assert asyncio.run(ask("/v2/health/live", []))[0] == 200


def test_num_replicas_auto_is_ray_serves_autoscaling() -> None:
    flags = parse_flags(["--ray", "--num_replicas=auto", "--model_base_path=/m"])
    options = settings_from_flags(flags, environ={}).ray
    assert options is not None
    auto = deployment_options(options)
    assert auto["num_replicas"] == "auto"
    assert auto["autoscaling_config"] == AUTOSCALING
    assert AUTOSCALING == {"min_replicas": 1, "max_replicas": 100, "target_ongoing_requests": 2}
    flags = parse_flags(["--ray", "--num_replicas=3", "--model_base_path=/m"])
    options = settings_from_flags(flags, environ={}).ray
    assert options is not None
    fixed = deployment_options(options)
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed


class _FailingHandle:
    """A Ray Serve handle whose first ``failures`` calls raise what Ray raises when the
    application is gone (not a replica's death), then answer every request OK."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def options(self, method_name: str) -> _FailingHandle:
        assert method_name == "calls"
        return self

    async def remote(self, batch: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("Application 'shiba' is deleted")
        return [(Code.OK, b"answer") for _ in batch]


def test_a_failed_forward_is_the_requests_error_and_the_front_end_keeps_serving() -> None:
    """A Ray error other than a replica's death fails the requests of its group (INTERNAL, with
    Ray's message) instead of leaving them unanswered, and costs the front end no sender."""

    async def run() -> tuple[list[BaseException | Any], Any]:
        forwarder = Forwarder(_FailingHandle(failures=20))  # type: ignore[arg-type]
        forwarder.start()
        try:
            failed = []
            for _ in range(20):  # one at a time: each group, and its call, fails
                try:
                    failed.append(await asyncio.wait_for(forwarder.call("grpc", _PREDICT, b""), 5))
                except ShibaError as exc:
                    failed.append(exc)
            answer = await asyncio.wait_for(forwarder.call("grpc", _PREDICT, b""), 5)
            return failed, answer
        finally:
            await forwarder.stop()

    failed, answer = asyncio.run(run())
    for error in failed:
        assert isinstance(error, ShibaError) and error.code == Code.INTERNAL
        assert "Application 'shiba' is deleted" in error.message
    assert answer == (Code.OK, b"answer")
