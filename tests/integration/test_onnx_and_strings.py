"""ONNX models and string tensors behind the REST API, in a server subprocess."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ServerProcess
from tests.models import build_onnx_model, build_tf_string_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def onnx_server(module_servers: Any, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    base = tmp_path_factory.mktemp("onnx") / "half"
    build_onnx_model(base)
    server: ServerProcess = module_servers("--model_name=half", f"--model_base_path={base}")
    return server


def test_onnx_predict_row_and_columnar(onnx_server: ServerProcess) -> None:
    row = onnx_server.post(
        "/v1/models/half:predict", {"instances": [{"x": [2.0], "k": [3]}, {"x": [4.0], "k": [1]}]}
    )
    assert row.status_code == 200, row.text
    assert row.json() == {"predictions": [{"y": [3.0], "z": [6.0]}, {"y": [4.0], "z": [4.0]}]}
    col = onnx_server.post("/v1/models/half:predict", {"inputs": {"x": [[2.0]], "k": [[3]]}})
    assert col.json() == {"outputs": {"y": [[3.0]], "z": [[6.0]]}}


def test_onnx_metadata(onnx_server: ServerProcess) -> None:
    meta = onnx_server.get("/v1/models/half/metadata").json()
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["k"]["dtype"] == "DT_INT64"
    assert [d["size"] for d in signature["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "1"]


def test_onnx_bad_inputs(onnx_server: ServerProcess) -> None:
    wrong_type = onnx_server.post(
        "/v1/models/half:predict", {"inputs": {"x": [[2.0]], "k": [[1.5]]}}
    )
    assert wrong_type.status_code == 400
    wrong_shape = onnx_server.post(
        "/v1/models/half:predict", {"inputs": {"x": [[2.0, 1.0]], "k": [[1]]}}
    )
    assert wrong_shape.status_code == 400, wrong_shape.text
    missing = onnx_server.post("/v1/models/half:predict", {"inputs": {"x": [[2.0]]}})
    assert missing.status_code == 400
    assert onnx_server.post("/v1/models/half:predict", {"inputs": {"x": [[2.0]], "k": [[1]]}}).ok


def test_strings_and_b64(module_servers: Any, tmp_path: Path) -> None:
    base = tmp_path / "strings"
    build_tf_string_model(base)
    server: ServerProcess = module_servers("--model_name=s", f"--model_base_path={base}")
    meta = server.get("/v1/models/s/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert meta["serving_default"]["inputs"]["text"]["dtype"] == "DT_STRING"
    response = server.post(
        "/v1/models/s:predict",
        {"inputs": {"text": [{"b64": base64.b64encode(b"bytes!").decode()}, "plain"]}},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "outputs": {"same": ["bytes!", "plain"], "length": [6, 5], "count": 2}
    }
    # row format needs every output to have the batch dimension; the scalar "count" has none
    row = server.post("/v1/models/s:predict", {"instances": ["a", "b"]})
    assert row.status_code == 400, row.text
