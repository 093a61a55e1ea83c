"""TensorFlow Serving's gRPC API on the real server (``shiba serve --port=N``), called with the
``tensorflow-serving-api`` stubs, as a TF Serving client program would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

import tensorflow as tf  # noqa: E402
from tensorflow.core.example import example_pb2  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
HALF_PLUS_THREE = TFSERVING_TESTDATA / "saved_model_half_plus_three"


class Stubs:
    """A channel to a server's gRPC port (or socket) and the two services' stubs."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(self.channel).result(timeout=120)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


@pytest.fixture(scope="module")
def served(module_servers: Any) -> Iterator[tuple[ServerProcess, Stubs]]:
    port = free_port()
    server: ServerProcess = module_servers(
        "--model_name=default", f"--model_base_path={HALF_PLUS_TWO}", f"--port={port}"
    )
    stubs = Stubs(f"127.0.0.1:{port}")
    yield server, stubs
    stubs.close()


@pytest.fixture(scope="module")
def stubs(served: tuple[ServerProcess, Stubs]) -> Stubs:
    return served[1]


def _predict(values: list[float], name: str = "default") -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(values, np.float32)))
    return request


def _failure(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    error: Any = info.value
    return error.code(), error.details() or ""


def test_predict(stubs: Stubs) -> None:
    response = stubs.predictions.Predict(_predict([2.0, 3.0, 4.0]), timeout=60)
    assert list(response.outputs["y"].float_val) == [3.0, 3.5, 4.0]
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), [3.0, 3.5, 4.0])
    assert response.model_spec.name == "default"
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"


def test_classify_and_regress(stubs: Stubs) -> None:
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "default"
    classify.model_spec.signature_name = "classify_x_to_y"
    classify.input.example_list.examples.append(example)
    (row,) = stubs.predictions.Classify(classify, timeout=60).result.classifications
    assert [(c.label, c.score) for c in row.classes] == [("", 3.0)]
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "default"
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list.examples.append(example)
    assert [r.value for r in stubs.predictions.Regress(regress, timeout=60).result.regressions] == [
        3.0
    ]


def test_metadata_and_status(stubs: Stubs) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "default"
    response = stubs.predictions.GetModelMetadata(request, timeout=60)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert "serving_default" in signature_defs.signature_def
    assert signature_defs.signature_def["serving_default"].inputs["x"].name == "x:0"
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "default"
    (status,) = stubs.models.GetModelStatus(status_request, timeout=60).model_version_status
    assert (status.version, status.state) == (
        123,
        get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    )


def test_errors_and_the_server_keeps_serving(served: tuple[ServerProcess, Stubs]) -> None:
    server, stubs = served
    assert _failure(stubs.predictions.Predict, _predict([1.0], name="half")) == (
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(half)",
    )
    wrong = _predict([1.0])
    wrong.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float64)))
    assert _failure(stubs.predictions.Predict, wrong)[0] == grpc.StatusCode.INVALID_ARGUMENT
    garbage: Any = stubs.channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    assert _failure(garbage, b"\xff\xff\xff")[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert stubs.predictions.Predict(_predict([2.0]), timeout=60).outputs["y"].float_val == [3.0]
    # The REST API answers on the same server at the same time.
    assert server.post("/v1/models/default:predict", {"instances": [2.0]}).json() == {
        "predictions": [3.0]
    }


def test_unix_socket(module_servers: Any, tmp_path: Path) -> None:
    socket_path = tmp_path / "grpc.sock"
    module_servers(
        "--model_name=default",
        f"--model_base_path={HALF_PLUS_TWO}",
        f"--port={free_port()}",
        f"--grpc_socket_path={socket_path}",
    )
    stubs = Stubs(f"unix:{socket_path}")
    try:
        response = stubs.predictions.Predict(_predict([4.0]), timeout=60)
        assert list(response.outputs["y"].float_val) == [4.0]
    finally:
        stubs.close()


def _wait_available(stubs: Stubs, name: str, timeout: float = 120.0) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = stubs.models.GetModelStatus(request, timeout=60).model_version_status
        except grpc.RpcError:
            states = []
        if any(s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for s in states):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} did not become AVAILABLE")


def test_reload_config_adds_a_model(module_servers: Any, tmp_path: Path) -> None:
    config_file = tmp_path / "models.config"
    config_file.write_text(
        "model_config_list {\n"
        f'  config {{ name: "default" base_path: "{HALF_PLUS_TWO}" model_platform: "tensorflow" }}\n'
        "}\n"
    )
    port = free_port()
    module_servers(f"--model_config_file={config_file}", f"--port={port}")
    stubs = Stubs(f"127.0.0.1:{port}")
    try:
        _wait_available(stubs, "default")
        request = model_management_pb2.ReloadConfigRequest()
        for name, path in (("default", HALF_PLUS_TWO), ("three", HALF_PLUS_THREE)):
            model = request.config.model_config_list.config.add()
            model.name = name
            model.base_path = str(path)
            model.model_platform = "tensorflow"
        response = stubs.models.HandleReloadConfigRequest(request, timeout=120)
        assert response.status.error_code == 0
        _wait_available(stubs, "three")
        answer = stubs.predictions.Predict(_predict([1.0], name="three"), timeout=60)
        assert list(answer.outputs["y"].float_val) == [3.5]
        custom = model_management_pb2.ReloadConfigRequest()
        custom.config.custom_model_config.type_url = "type.googleapis.com/x.Y"
        code, details = _failure(stubs.models.HandleReloadConfigRequest, custom)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "Only ModelConfigList is currently supported" in details
    finally:
        stubs.close()
