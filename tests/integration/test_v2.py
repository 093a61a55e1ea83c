"""The Open Inference Protocol over REST and gRPC, spoken by PyPI's tritonclient (a client nobody
here wrote) to the real server: health, metadata, config, inference of every datatype as JSON and
as binary data, statistics, errors, and the model repository while another thread infers."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port, model_config_text
from tests.models import IDENTITY_TYPES, build_onnx_identity, build_onnx_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HALF = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
NUMPY: dict[str, type[np.generic]] = {
    "bool": np.bool_, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
    "uint64": np.uint64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
    "int64": np.int64, "fp16": np.float16, "fp32": np.float32, "fp64": np.float64,
    "bytes": np.object_,
}  # fmt: skip


@pytest.fixture(scope="module")
def grpc_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(
    module_servers: Any, tmp_path_factory: pytest.TempPathFactory, grpc_port: int
) -> ServerProcess:
    """Models ``types`` (ONNX identity of every type) and ``half`` (TF Serving's TF1
    half_plus_two) from a config file, batching on; the repository folder holds ``spare``;
    gRPC on ``grpc_port``."""
    root = tmp_path_factory.mktemp("v2")
    build_onnx_identity(root / "types")
    build_onnx_model(root / "repository" / "spare")
    config = root / "models.config"
    config.write_text(
        model_config_text(
            f'name: "types" base_path: "{root / "types"}" model_platform: "onnx"',
            f'name: "half" base_path: "{HALF}" model_platform: "tensorflow"',
        )
    )
    started: ServerProcess = module_servers(
        f"--model_config_file={config}",
        f"--model_repository={root / 'repository'}",
        "--enable_batching",
        "--onnx_engine=onnxruntime",
        "--tensorflow_engine=tensorflow",
        "--file_system_poll_wait_seconds=1",
        f"--port={grpc_port}",
    )
    return started


@pytest.fixture
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield client
    client.close()


def _values(name: str, rows: int = 2) -> npt.NDArray[Any]:
    rng = np.random.default_rng(len(name))
    if name == "bytes":
        words = np.array([b"", b"a", "\u00e9t\u00e9".encode(), b"x y"], dtype=np.object_)
        return np.resize(words, (rows, 2))
    if name == "bool":
        return rng.integers(0, 2, size=(rows, 2)).astype(np.bool_)
    dtype: np.dtype[Any] = np.dtype(NUMPY[name])
    if dtype.kind == "f":
        return rng.normal(size=(rows, 2)).astype(dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, info.max]] * rows, dtype=dtype)


def _inputs(binary: bool, rows: int = 2) -> list[triton.InferInput]:
    inputs = []
    for name, _ in IDENTITY_TYPES:
        values = _values(name, rows)
        tensor = triton.InferInput(
            f"in_{name}", list(values.shape), np_to_triton_dtype(values.dtype)
        )
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_health_and_server_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "shiba"
    assert {"binary_tensor_data", "statistics", "model_repository"} <= set(metadata["extensions"])


def test_model_metadata_and_config(client: triton.InferenceServerClient) -> None:
    assert client.is_model_ready("types") and client.is_model_ready("half", "123")
    assert not client.is_model_ready("half", "7") and not client.is_model_ready("nope")
    types = client.get_model_metadata("types")
    assert types["platform"] == "onnxruntime_onnx"
    assert types["versions"] == ["1"]
    assert {"name": "in_fp16", "datatype": "FP16", "shape": [-1, 2]} in types["inputs"]
    assert {"name": "out_bytes", "datatype": "BYTES", "shape": [-1, 2]} in types["outputs"]
    half = client.get_model_metadata("half", "123")
    assert half["platform"] == "tensorflow_savedmodel"
    assert half["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]
    config = client.get_model_config("types")
    assert config["max_batch_size"] > 0 and "dynamic_batching" in config
    assert {"name": "in_bytes", "data_type": "TYPE_STRING", "dims": [2]} in config["input"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_every_datatype_comes_back_unchanged(
    client: triton.InferenceServerClient, binary: bool
) -> None:
    outputs = [
        triton.InferRequestedOutput(f"out_{n}", binary_data=binary) for n, _ in IDENTITY_TYPES
    ]
    result = client.infer("types", _inputs(binary), outputs=outputs, request_id="r1")
    assert result.get_response()["id"] == "r1"
    for name, _ in IDENTITY_TYPES:
        got = result.as_numpy(f"out_{name}")
        want = _values(name)
        assert got is not None and got.shape == want.shape, name
        if name == "bytes":
            assert [v if isinstance(v, bytes) else v.encode() for v in got.ravel()] == list(
                want.ravel()
            )
        else:
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want)


def test_requested_outputs_only(client: triton.InferenceServerClient) -> None:
    outputs = [triton.InferRequestedOutput("out_int8", binary_data=False)]
    result = client.infer("types", _inputs(True), outputs=outputs)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["out_int8"]
    assert result.as_numpy("out_fp32") is None


def test_both_protocols_answer_the_same_numbers(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    x = np.array([[2.0], [3.1], [-7.25]], np.float32)
    tensor = triton.InferInput("x", [3, 1], "FP32")
    tensor.set_data_from_numpy(x)
    v2 = client.infer("half", [tensor]).as_numpy("y")
    v1 = server.post("/v1/models/half:predict", {"instances": x.tolist()}).json()["predictions"]
    assert v2 is not None
    np.testing.assert_array_equal(v2, np.array(v1, np.float32))
    np.testing.assert_array_equal(v2, x / 2 + 2)


def test_statistics_after_some_requests(client: triton.InferenceServerClient) -> None:
    before = client.get_inference_statistics("types")["model_stats"][0]
    for _ in range(3):
        client.infer("types", _inputs(True, rows=3))
    with pytest.raises(InferenceServerException):
        client.infer("types", _inputs(True)[:2])
    (stats,) = client.get_inference_statistics("types", "1")["model_stats"]
    assert stats["name"] == "types" and stats["version"] == "1"
    success = stats["inference_stats"]["success"]
    assert success["count"] == before["inference_stats"]["success"]["count"] + 3
    assert stats["inference_stats"]["fail"]["count"] >= 1
    assert stats["inference_stats"]["compute_infer"]["ns"] > 0
    assert 3 in [b["batch_size"] for b in stats["batch_stats"]]
    every = client.get_inference_statistics()["model_stats"]
    assert {s["name"] for s in every} >= {"types", "half"}


def _error(call: Any) -> str:
    with pytest.raises(InferenceServerException) as info:
        call()
    return str(info.value)


def test_bad_requests_get_clear_errors(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    x = triton.InferInput("x", [1, 1], "FP32")
    x.set_data_from_numpy(np.ones((1, 1), np.float32))
    assert "Servable not found" in _error(lambda: client.infer("nope", [x]))
    assert "Servable not found" in _error(lambda: client.infer("half", [x], model_version="9"))
    wide = triton.InferInput("x", [1, 2], "FP32")
    wide.set_data_from_numpy(np.ones((1, 2), np.float32))
    assert "unexpected shape for input 'x'" in _error(lambda: client.infer("half", [wide]))
    ints = triton.InferInput("x", [1, 1], "INT32")
    ints.set_data_from_numpy(np.ones((1, 1), np.int32))
    assert "data-type is 'INT32', but model 'half' expects 'FP32'" in _error(
        lambda: client.infer("half", [ints])
    )
    malformed = server.post("/v2/models/half/infer", b'{"inputs": [')
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["error"]
    header = b'{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}'
    short = server.post(
        "/v2/models/half/infer",
        header + b"\x00\x00",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert short.status_code == 400
    assert "only 2 are left" in short.json()["error"]
    longer = server.post(
        "/v2/models/half/infer",
        header,
        headers={"Inference-Header-Content-Length": str(len(header) + 50)},
    )
    assert longer.status_code == 400
    assert server.get("/v2/models/nope").status_code == 404
    assert client.is_server_live() and client.is_model_ready("half")


def test_load_and_unload_while_another_thread_infers(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def infer() -> None:
        own = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        try:
            while not stop.is_set():
                try:
                    own.infer("types", _inputs(True))
                    answered[0] += 1
                except InferenceServerException as exc:
                    failures.append(str(exc))
        finally:
            own.close()

    thread = threading.Thread(target=infer)
    thread.start()
    try:
        index = {row["name"]: row for row in client.get_model_repository_index()}
        assert index["spare"]["state"] == "UNAVAILABLE"
        for _ in range(2):
            client.load_model("spare")
            assert client.is_model_ready("spare")
            spare = triton.InferInput("x", [1, 1], "FP32")
            spare.set_data_from_numpy(np.full((1, 1), 4.0, np.float32))
            k = triton.InferInput("k", [1, 1], "INT64")
            k.set_data_from_numpy(np.ones((1, 1), np.int64))
            y = client.infer("spare", [spare, k]).as_numpy("y")
            assert y is not None and y.tolist() == [[4.0]]
            client.load_model("types")  # served already: polled again, never unavailable
            client.unload_model("spare")
            assert not client.is_model_ready("spare")
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert answered[0] > 0
    assert "not in the model repository" in _error(lambda: client.load_model("nothing"))
    with pytest.raises(requests.HTTPError):
        server.post("/v2/repository/models/spare/load", b"[").raise_for_status()


def test_tf_serving_routes_are_unchanged(server: ServerProcess) -> None:
    answer = server.post("/v1/models/half:predict", {"instances": [2.0, 3.0, 4.0]})
    assert answer.json() == {"predictions": [3.0, 3.5, 4.0]}


@pytest.fixture
def grpc_client(
    server: ServerProcess, grpc_port: int
) -> Iterator[triton_grpc.InferenceServerClient]:
    client = triton_grpc.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
    yield client
    client.close()


def test_grpc_health_metadata_and_config(grpc_client: triton_grpc.InferenceServerClient) -> None:
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("types") and not grpc_client.is_model_ready("nope")
    assert "statistics" in grpc_client.get_server_metadata(as_json=True)["extensions"]
    metadata = grpc_client.get_model_metadata("half", as_json=True)
    assert metadata["platform"] == "tensorflow_savedmodel"
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "1"]}]
    config = grpc_client.get_model_config("types", as_json=True)["config"]
    assert config["platform"] == "onnxruntime_onnx" and int(config["max_batch_size"]) > 0
    assert {"name": "in_bytes", "data_type": "TYPE_STRING", "dims": ["2"]} in config["input"]


def test_grpc_every_datatype_comes_back_unchanged(
    grpc_client: triton_grpc.InferenceServerClient,
) -> None:
    inputs = []
    for name, _ in IDENTITY_TYPES:
        values = _values(name)
        tensor = triton_grpc.InferInput(
            f"in_{name}", list(values.shape), np_to_triton_dtype(values.dtype)
        )
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    result = grpc_client.infer("types", inputs, request_id="g1")
    assert result.get_response().id == "g1"
    for name, _ in IDENTITY_TYPES:
        got, want = result.as_numpy(f"out_{name}"), _values(name)
        assert got is not None and got.shape == want.shape, name
        if name == "bytes":
            assert list(got.ravel()) == list(want.ravel())
        else:
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want)


def test_grpc_answers_as_rest_and_counts_in_the_same_statistics(
    grpc_client: triton_grpc.InferenceServerClient, client: triton.InferenceServerClient
) -> None:
    x = np.array([[2.0], [-1.5]], np.float32)
    over_grpc = triton_grpc.InferInput("x", [2, 1], "FP32")
    over_grpc.set_data_from_numpy(x)
    over_rest = triton.InferInput("x", [2, 1], "FP32")
    over_rest.set_data_from_numpy(x)
    before = client.get_inference_statistics("half")["model_stats"][0]
    grpc_y = grpc_client.infer("half", [over_grpc]).as_numpy("y")
    rest_y = client.infer("half", [over_rest]).as_numpy("y")
    assert grpc_y is not None and rest_y is not None
    np.testing.assert_array_equal(grpc_y, rest_y)
    stats = grpc_client.get_inference_statistics("half", as_json=True)["model_stats"][0]
    count = int(stats["inference_stats"]["success"]["count"])
    assert count == before["inference_stats"]["success"]["count"] + 2


def test_grpc_errors_and_repository(grpc_client: triton_grpc.InferenceServerClient) -> None:
    x = triton_grpc.InferInput("x", [1, 2], "FP32")
    x.set_data_from_numpy(np.ones((1, 2), np.float32))
    assert "Servable not found" in _error(lambda: grpc_client.infer("nope", [x]))
    assert "unexpected shape for input 'x'" in _error(lambda: grpc_client.infer("half", [x]))
    names = {m.name for m in grpc_client.get_model_repository_index().models}
    assert {"types", "half", "spare"} <= names
    grpc_client.load_model("spare")
    assert grpc_client.is_model_ready("spare")
    grpc_client.unload_model("spare")
    assert not grpc_client.is_model_ready("spare")
    assert "not in the model repository" in _error(lambda: grpc_client.load_model("nothing"))
    assert grpc_client.is_server_live()


def test_grpc_stream_answers_each_request_and_a_bad_one_inside_the_stream(
    grpc_client: triton_grpc.InferenceServerClient,
) -> None:
    answers: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_answer(result: Any, error: InferenceServerException | None) -> None:
        if error is not None:
            answers.put(("error", str(error)))
        else:
            answers.put((result.get_response().id, result.as_numpy("y")))

    def half(rows: list[list[float]]) -> triton_grpc.InferInput:
        x = np.array(rows, np.float32)
        tensor = triton_grpc.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        return tensor

    grpc_client.start_stream(callback=on_answer)
    try:
        grpc_client.async_stream_infer("half", [half([[2.0]])], request_id="s1")
        grpc_client.async_stream_infer("half", [half([[1.0, 2.0]])], request_id="bad")
        grpc_client.async_stream_infer("half", [half([[4.0], [-2.0]])], request_id="s2")
        grpc_client.async_stream_infer("half", [half([[0.5]])], request_id="s3")
        got = [answers.get(timeout=30) for _ in range(4)]
    finally:
        grpc_client.stop_stream()
    assert [key for key, _ in got] == ["s1", "error", "s2", "s3"]
    assert "unexpected shape for input 'x'" in got[1][1]
    np.testing.assert_array_equal(got[0][1], [[3.0]])
    np.testing.assert_array_equal(got[2][1], [[4.0], [1.0]])
    np.testing.assert_array_equal(got[3][1], [[2.25]])
    assert grpc_client.is_server_live()
