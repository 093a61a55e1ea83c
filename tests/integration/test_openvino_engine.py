"""SavedModels on OpenVINO behind the real server: same answers, fallbacks, reloads and batching."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import REPO, ServerProcess
from tests.integration.test_hot_reload import Loop

pytestmark = [pytest.mark.slow, pytest.mark.integration]
openvino = pytest.importorskip("openvino", reason="the openvino extra is not installed")

MODELS = REPO / "build" / "models"
VIT = MODELS / "ViT"
HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
BODY = {"instances": np.random.default_rng(3).integers(0, 256, size=(4, 32, 32, 3)).tolist()}


@pytest.fixture(scope="module", autouse=True)
def demo_model() -> None:
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build_vit.py"), "--out", str(MODELS)],
        check=True,
        timeout=600,
    )


def predictions(server: ServerProcess) -> Any:
    response = server.post("/v1/models/ViT:predict", BODY)
    assert response.status_code == 200, response.text
    return np.array(response.json()["predictions"])


def test_vit_on_openvino_answers_as_tensorflow(module_servers: Any) -> None:
    on_tf: ServerProcess = module_servers(
        "--model_name=ViT", f"--model_base_path={VIT}", "--tensorflow_engine=tensorflow"
    )
    on_ov: ServerProcess = module_servers(
        "--model_name=ViT", f"--model_base_path={VIT}", "--tensorflow_engine=openvino"
    )
    reference, candidate = predictions(on_tf), predictions(on_ov)
    np.testing.assert_allclose(candidate, reference, atol=1e-5, rtol=1e-4)
    assert (candidate.argmax(axis=1) == reference.argmax(axis=1)).all()
    assert "signature serving_default of {name: ViT version: 1}: openvino" in on_ov.logs()
    # what clients can see stays TensorFlow Serving's
    assert (
        on_tf.get("/v1/models/ViT/metadata").json() == on_ov.get("/v1/models/ViT/metadata").json()
    )


def test_grpc_tensor_content_on_openvino(module_servers: Any) -> None:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (  # type: ignore[import-untyped]
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    from tests.integration.conftest import free_port

    port = free_port()
    server: ServerProcess = module_servers(
        "--model_name=ViT", f"--model_base_path={VIT}", f"--port={port}"
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ViT"
    images = np.array(BODY["instances"], dtype=np.float32)
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))  # tensor_content
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=60)
    (output,) = response.outputs.values()
    np.testing.assert_allclose(tf.make_ndarray(output), predictions(server), atol=1e-6)


def test_tf1_model_under_auto_falls_back_and_answers_as_before(module_servers: Any) -> None:
    server: ServerProcess = module_servers(
        "--model_name=default", f"--model_base_path={HALF_PLUS_TWO}"
    )
    assert server.post("/v1/models/default:predict", {"instances": [2.0, 3.0]}).json() == {
        "predictions": [3.0, 3.5]
    }
    logs = server.logs()
    assert "signature serving_default of {name: default version: 123}: tensorflow" in logs


def test_forced_openvino_on_a_model_that_cannot_convert(start_server: Any, tmp_path: Path) -> None:
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "ViT" base_path: "{VIT}" }}\n'
        f'  config {{ name: "tf1" base_path: "{HALF_PLUS_TWO}" }}\n'
        "}\n"
    )
    server: ServerProcess = start_server(
        f"--model_config_file={config}", "--tensorflow_engine=openvino", "--max_num_load_retries=0"
    )
    (status,) = server.get("/v1/models/tf1").json()["model_version_status"]
    assert status["state"] == "END"
    assert status["status"]["error_code"] == "FAILED_PRECONDITION"
    assert "openvino" in status["status"]["error_message"].lower()
    assert predictions(server).shape == (4, 10)


def test_batching_and_hot_reload_on_openvino(start_server: Any, tmp_path: Path) -> None:
    base = tmp_path / "ViT"
    shutil.copytree(VIT / "1", base / "1")
    server: ServerProcess = start_server(
        "--model_name=ViT",
        f"--model_base_path={base}",
        "--tensorflow_engine=openvino",
        "--enable_batching",
        "--file_system_poll_wait_seconds=1",
    )
    before = predictions(server)
    with Loop(server, "ViT", BODY) as loop:
        time.sleep(1)
        shutil.copytree(VIT / "1", base / "2")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            versions = server.get("/v1/models/ViT").json()["model_version_status"]
            if versions[0]["version"] == "2" and versions[0]["state"] == "AVAILABLE":
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"version 2 never became AVAILABLE: {versions}")
        time.sleep(1)
    assert loop.failures == []
    np.testing.assert_allclose(predictions(server), before, atol=1e-5, rtol=1e-4)
