"""PyTorch and Python models behind the real server, over REST and gRPC, batching off and on.

Two servers share the models of :func:`models`: ``plain`` (batching off, ``--torch_engine=torch``,
so every answer is torch's) and ``batched`` (``--enable_batching``, ``--torch_engine=auto``: OpenVINO
where it is verified). Answers are compared with torch run in this process (atol 1e-5).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import pytest

from shiba.runtimes import openvino
from tests.integration.conftest import ServerProcess, free_port, model_config_text, wait_until
from tests.torch_models import (
    IMAGE_SHAPE,
    build_python_model,
    build_torch_export,
    build_torch_script,
    pixels_to_image,
    torch_answer,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    predict_pb2,
    prediction_service_pb2_grpc,
)

PAGE = "/monitoring/prometheus/metrics"
ATOL = 1e-5


class Served:
    """A server, its gRPC stub and the model folders it serves."""

    def __init__(self, server: ServerProcess, grpc_port: int, base: Path) -> None:
        self.server = server
        self.base = base
        self.channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        grpc.channel_ready_future(self.channel).result(timeout=120)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def grpc_predict(self, model: str, **inputs: npt.NDArray[Any]) -> dict[str, Any]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self.stub.Predict(request, timeout=60)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``script`` (model.pt), ``export`` (model.pt2), ``python`` (model.py around a model.pt),
    ``reload`` (model.pt2, for the hot reload): version 1 of each, seed 0."""
    base = tmp_path_factory.mktemp("torch_models")
    build_torch_script(base / "script")
    build_torch_export(base / "export")
    build_python_model(base / "python")
    build_torch_export(base / "reload")
    return base


def _start(module_servers: Any, models: Path, tag: str, *flags: str) -> tuple[ServerProcess, int]:
    """Starts a server on every model (not waiting for it); returns it and its gRPC port."""
    config = models / f"{tag}-models.config"
    config.write_text(
        model_config_text(
            *(
                f'name: "{name}" base_path: "{models / name}" model_platform: "{platform}"'
                for name, platform in (
                    ("script", "pytorch"),
                    ("export", "pytorch"),
                    ("python", "python"),
                    ("reload", "pytorch"),
                )
            )
        )
    )
    monitoring = models / f"{tag}-monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{PAGE}" }}\n')
    port = free_port()
    server: ServerProcess = module_servers(
        f"--model_config_file={config}",
        f"--monitoring_config_file={monitoring}",
        f"--port={port}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
        *flags,
        wait=False,
    )
    return server, port


@pytest.fixture(scope="module")
def servers(module_servers: Any, models: Path) -> Iterator[dict[str, Served]]:
    """Both servers, started together (their start-ups overlap)."""
    started = {
        "plain": _start(module_servers, models, "plain", "--torch_engine=torch"),
        "batched": _start(
            module_servers, models, "batched", "--enable_batching", "--torch_engine=auto"
        ),
    }
    served: dict[str, Served] = {}
    for tag, (server, port) in started.items():
        server.wait_ready()
        served[tag] = Served(server, port, models)
    yield served
    for one in served.values():
        one.channel.close()


@pytest.fixture(scope="module")
def plain(servers: dict[str, Served]) -> Served:
    return servers["plain"]


@pytest.fixture(scope="module")
def batched(servers: dict[str, Served]) -> Served:
    return servers["batched"]


@pytest.fixture(scope="module", params=["plain", "batched"])
def served(request: pytest.FixtureRequest, servers: dict[str, Served]) -> Served:
    return servers[request.param]


def images(batch: int, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).random((batch, *IMAGE_SHAPE), dtype=np.float32)


def pixels(batch: int, seed: int = 0) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 255, (batch, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("model", ["script", "export"])
def test_torch_answers_equal_torch_in_process(served: Served, model: str) -> None:
    image = images(3)
    want = torch_answer(served.base / model / "1", image)
    rest = served.server.post(f"/v1/models/{model}:predict", {"inputs": {"image": image.tolist()}})
    assert rest.status_code == 200, rest.text
    np.testing.assert_allclose(np.array(rest.json()["outputs"]), want, atol=ATOL)
    row = served.server.post(f"/v1/models/{model}:predict", {"instances": image[:1].tolist()})
    np.testing.assert_allclose(np.array(row.json()["predictions"]), want[:1], atol=ATOL)
    got = served.grpc_predict(model, image=image)
    np.testing.assert_allclose(got["output_0"], want, atol=ATOL)


def test_python_model_answers_equal_torch_in_process(served: Served) -> None:
    batch = pixels(4)
    want = torch_answer(served.base / "python" / "1", pixels_to_image(batch))
    rest = served.server.post("/v1/models/python:predict", {"inputs": {"pixels": batch.tolist()}})
    assert rest.status_code == 200, rest.text
    outputs = rest.json()["outputs"]
    np.testing.assert_allclose(np.array(outputs["scores"]), want, atol=ATOL)
    assert outputs["label"] == want.argmax(axis=1).tolist()
    got = served.grpc_predict("python", pixels=batch)
    np.testing.assert_allclose(got["scores"], want, atol=ATOL)
    np.testing.assert_array_equal(got["label"], want.argmax(axis=1))


def test_concurrent_single_requests(served: Served) -> None:
    """One image per request from eight threads: with batching on they share batches."""
    image = images(16, seed=5)
    want = torch_answer(served.base / "export" / "1", image)

    def ask(i: int) -> Any:
        answer = served.server.post(
            "/v1/models/export:predict", {"instances": image[i : i + 1].tolist()}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["predictions"][0]

    with ThreadPoolExecutor(8) as pool:
        got = np.array(list(pool.map(ask, range(16))))
    np.testing.assert_allclose(got, want, atol=ATOL)


@pytest.mark.parametrize("model", ["script", "export", "python"])
def test_wrong_shape_and_dtype_are_invalid_argument(served: Served, model: str) -> None:
    name = "pixels" if model == "python" else "image"
    wrong_shape = np.zeros((1, 5, 5), np.uint8 if model == "python" else np.float32)
    wrong_dtype = np.zeros((1, 32, 32, 3) if model == "python" else (1, *IMAGE_SHAPE), np.int64)
    url = f"/v1/models/{model}:predict"
    shape = served.server.post(url, {"inputs": {name: wrong_shape.tolist()}})
    assert shape.status_code == 400, shape.text
    assert "shape" in shape.json()["error"]
    text = served.server.post(url, {"inputs": {name: [["a"]]}})
    assert text.status_code == 400, text.text
    for value in (wrong_shape, wrong_dtype):
        with pytest.raises(grpc.RpcError) as caught:
            served.grpc_predict(model, **{name: value})
        error: Any = caught.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


def test_predict_raising_is_a_500_and_the_server_keeps_serving(served: Served) -> None:
    white = np.full((1, 32, 32, 3), 255, np.uint8)
    answer = served.server.post("/v1/models/python:predict", {"inputs": {"pixels": white.tolist()}})
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "predict raised ValueError: an all-white image shows nothing to classify"
    }
    with pytest.raises(grpc.RpcError) as caught:
        served.grpc_predict("python", pixels=white)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "all-white image" in (error.details() or "")
    ok = served.server.post("/v1/models/python:predict", {"inputs": {"pixels": pixels(1).tolist()}})
    assert ok.status_code == 200


def test_metadata_shows_the_signatures(plain: Served) -> None:
    def signature(model: str) -> Any:
        meta = plain.server.get(f"/v1/models/{model}/metadata").json()
        return meta["metadata"]["signature_def"]["signature_def"]["serving_default"]

    for model in ("script", "export"):
        image = signature(model)["inputs"]["image"]
        assert image["dtype"] == "DT_FLOAT"
        assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "3", "32", "32"]
        assert list(signature(model)["outputs"]) == ["output_0"]
    python = signature("python")
    assert python["inputs"]["pixels"]["dtype"] == "DT_UINT8"
    assert python["outputs"]["label"]["dtype"] == "DT_INT64"


def test_v2_metadata_and_infer_show_both_runtimes(plain: Served) -> None:
    """The Open Inference Protocol serves them too, with Triton's platform names."""
    for model, platform in (("script", "pytorch_libtorch"), ("python", "python")):
        meta = plain.server.get(f"/v2/models/{model}").json()
        assert meta["platform"] == platform, meta
        assert meta["versions"] == ["1"]
    (image,) = plain.server.get("/v2/models/export").json()["inputs"]
    assert (image["name"], image["datatype"], image["shape"]) == ("image", "FP32", [-1, 3, 32, 32])
    batch = images(2)
    answer = plain.server.post(
        "/v2/models/export/infer",
        json={
            "inputs": [
                {
                    "name": "image",
                    "datatype": "FP32",
                    "shape": list(batch.shape),
                    "data": batch.ravel().tolist(),
                }
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    v1 = plain.server.post("/v1/models/export:predict", json={"instances": batch.tolist()})
    expected = np.asarray(v1.json()["predictions"], dtype=np.float32)
    got = np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_metrics_page_names_runtime_and_engine(plain: Served, batched: Served) -> None:
    page = plain.server.get(PAGE).text
    assert (
        ':shiba:signature_engine{model_name="script",model_version="1",runtime="pytorch",'
        'signature_name="serving_default",engine="torch",'
        'reason="engine set to torch by --torch_engine"} 1'
    ) in page
    assert (
        ':shiba:signature_engine{model_name="python",model_version="1",runtime="python",'
        'signature_name="serving_default",engine="python",reason="python models run on python"} 1'
    ) in page
    engines = batched.server.get("/shiba/v1/models/export").json()["versions"][0]
    assert engines["runtime"] == "pytorch"
    want = "openvino" if openvino.available() else "torch"
    assert engines["signatures"]["serving_default"]["engine"] == want, engines


def test_hot_reload_under_load_without_a_failed_request(batched: Served, tmp_path: Path) -> None:
    image = images(1, seed=9)
    body = {"instances": image.tolist()}
    v2 = build_torch_export(tmp_path / "staging", version=2, seed=1)
    answers: list[Any] = []
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            answer = batched.server.post("/v1/models/reload:predict", body)
            if answer.status_code == 200:
                answers.append(answer.json()["predictions"][0])
            else:
                failures.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answers) > 3)
        shutil.copytree(v2, batched.base / "reload" / "2")
        want = torch_answer(v2, image)[0]
        wait_until(lambda: bool(answers) and np.allclose(answers[-1], want, atol=ATOL), 120)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:3]
    status = batched.server.get("/v1/models/reload").json()["model_version_status"]
    assert [(v["version"], v["state"]) for v in status] == [("2", "AVAILABLE"), ("1", "END")]


def test_a_model_py_that_fails_to_import_leaves_the_old_version_serving(
    plain: Served, tmp_path: Path
) -> None:
    staging = tmp_path / "2"
    staging.mkdir()
    (staging / "model.py").write_text("import numpy as np\nimport no_such_package_here\n")
    shutil.copytree(staging, plain.base / "python" / "2")

    def failed() -> bool:
        status = plain.server.get("/v1/models/python").json()["model_version_status"]
        return any(v["version"] == "2" and v["state"] == "END" for v in status)

    wait_until(failed, 120)
    status = plain.server.get("/v1/models/python").json()["model_version_status"]
    by_version = {v["version"]: v for v in status}
    assert by_version["1"]["state"] == "AVAILABLE"
    error = by_version["2"]["status"]
    assert error["error_code"] == "FAILED_PRECONDITION"
    assert (
        "failed to import: ModuleNotFoundError: No module named 'no_such_package_here'"
        in (error["error_message"])
    )
    assert "(model.py line 2)" in error["error_message"]
    ok = plain.server.post("/v1/models/python:predict", {"inputs": {"pixels": pixels(1).tolist()}})
    assert ok.status_code == 200, ok.text
