"""ONNX models on OpenVINO behind the real server: ``--onnx_engine`` auto, onnxruntime and openvino,
the same answers as onnxruntime's, warm-up records in the verification, and what stays behind."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shiba import _proto
from shiba.codecs._crc32c import masked_crc32c
from shiba.codecs.tensor_proto import fill
from shiba.core.engine_choice import DEFAULT_TOLERANCE
from tests.integration.conftest import ServerProcess
from tests.models import build_onnx_model, build_onnx_string_model, build_onnx_unary, build_onnx_vit

pytestmark = [pytest.mark.slow, pytest.mark.integration]
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
pytest.importorskip("openvino", reason="the openvino extra is not installed")

INT64 = "input k is DT_INT64: OpenVINO's CPU plugin computes 64-bit integers in 32 bits"
WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"
IMAGES = np.random.default_rng(3).uniform(0, 255, size=(4, 32, 32, 3)).round(1)


def write_warmup(version_dir: Path, inputs: dict[str, Any]) -> None:
    """One predict record for ``serving_default`` as the version's warm-up file (a TFRecord)."""
    log = _proto.PredictionLog()
    request = log.predict_log.request
    request.model_spec.signature_name = "serving_default"
    for alias, value in inputs.items():
        fill(request.inputs[alias], value)
    data = log.SerializeToString()
    length = struct.pack("<Q", len(data))
    frame = length + struct.pack("<I", masked_crc32c(length)) + data
    path = version_dir / WARMUP
    path.parent.mkdir(parents=True)
    path.write_bytes(frame + struct.pack("<I", masked_crc32c(data)))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Base paths: ``vit`` (OpenVINO serves it), ``half`` (an int64 input), ``echo`` (strings)
    and ``exp`` (``exp(x)``, with a warm-up record of NaN, where the engines disagree)."""
    folder = tmp_path_factory.mktemp("onnx_models")
    bases = {
        "vit": build_onnx_vit(folder / "vit").parent,
        "half": build_onnx_model(folder / "half").parent,
        "echo": build_onnx_string_model(folder / "echo").parent,
        "exp": build_onnx_unary(folder / "exp", "Exp").parent,
    }
    write_warmup(bases["exp"] / "1", {"x": np.array([[np.nan, 0.5]], np.float32)})
    return bases


def start(module_servers: Any, folder: Path, models: dict[str, Path], *flags: str) -> Any:
    config = folder / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{base}" }}\n' for name, base in models.items()
        )
        + "}\n"
    )
    return module_servers(f"--model_config_file={config}", "--max_num_load_retries=0", *flags)


@pytest.fixture(scope="module")
def on_auto(
    module_servers: Any, models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    server: ServerProcess = start(module_servers, tmp_path_factory.mktemp("auto"), models)
    return server


@pytest.fixture(scope="module")
def on_onnxruntime(
    module_servers: Any, models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    server: ServerProcess = start(
        module_servers,
        tmp_path_factory.mktemp("onnxruntime"),
        {"vit": models["vit"]},
        "--onnx_engine=onnxruntime",
    )
    return server


def signatures(server: ServerProcess, model: str) -> dict[str, Any]:
    """``/shiba/v1/models/{model}``'s one version: its signatures' engines (it is AVAILABLE)."""
    answer = server.get(f"/shiba/v1/models/{model}")
    assert answer.status_code == 200, answer.text
    (version,) = answer.json()["versions"]
    assert version["state"] == "AVAILABLE", version
    found: dict[str, Any] = version["signatures"]
    return found


def predictions(server: ServerProcess) -> Any:
    response = server.post("/v1/models/vit:predict", {"instances": IMAGES.tolist()})
    assert response.status_code == 200, response.text
    return np.array(response.json()["predictions"])


def test_auto_serves_the_vit_on_openvino_with_onnxruntimes_answers(
    on_auto: ServerProcess, on_onnxruntime: ServerProcess
) -> None:
    (vit,) = signatures(on_auto, "vit").values()
    assert vit["engine"] == "openvino"
    assert vit["reason"].startswith("verified, max abs diff ")
    assert 0 <= vit["max_abs_diff"] < 1e-5
    assert (
        "signature serving_default of {name: vit version: 1}: openvino (verified" in on_auto.logs()
    )
    assert signatures(on_onnxruntime, "vit") == {
        "serving_default": {
            "engine": "onnxruntime",
            "reason": "engine set to onnxruntime by --onnx_engine",
            "max_abs_diff": None,
        }
    }
    candidate, reference = predictions(on_auto), predictions(on_onnxruntime)
    assert candidate.shape == (4, 10)
    np.testing.assert_allclose(
        candidate, reference, rtol=DEFAULT_TOLERANCE.rtol, atol=DEFAULT_TOLERANCE.atol
    )
    assert (candidate.argmax(axis=1) == reference.argmax(axis=1)).all()
    # what TF Serving clients see does not depend on the engine
    for path in ("/v1/models/vit", "/v1/models/vit/metadata"):
        assert on_auto.get(path).content == on_onnxruntime.get(path).content
    # a wrong shape is still the client's error
    wrong = on_auto.post("/v1/models/vit:predict", {"instances": [[[0.0] * 3] * 32] * 31})
    assert wrong.status_code == 400, wrong.text


def test_auto_keeps_what_openvino_cannot_serve_on_onnxruntime(on_auto: ServerProcess) -> None:
    assert signatures(on_auto, "half") == {
        "serving_default": {"engine": "onnxruntime", "reason": INT64, "max_abs_diff": None}
    }
    (echo,) = signatures(on_auto, "echo").values()
    assert (echo["engine"], echo["reason"]) == (
        "onnxruntime",
        "input text is DT_STRING: only numeric signatures run on OpenVINO",
    )
    # The warm-up record's NaN: exp(NaN) is NaN on onnxruntime, inf on OpenVINO (2026.4).
    (exp,) = signatures(on_auto, "exp").values()
    assert exp["engine"] == "onnxruntime"
    assert exp["reason"].startswith("openvino disagrees on warm-up record 0: output y differs")
    answers = {
        "half": (
            {"instances": [{"x": [2.0], "k": [3]}]},
            {"predictions": [{"y": [3.0], "z": [6.0]}]},
        ),
        "echo": (
            {"inputs": {"text": ["a", "b"]}},
            {"outputs": {"same": ["a", "b"], "shape": [2]}},
        ),
        "exp": ({"instances": [[0.0, 1.0]]}, {"predictions": [[1.0, pytest.approx(np.e)]]}),
    }
    for model, (body, expected) in answers.items():
        response = on_auto.post(f"/v1/models/{model}:predict", body)
        assert response.status_code == 200 and response.json() == expected, response.text


def test_forced_openvino_fails_the_model_it_cannot_run_and_serves_the_others(
    module_servers: Any, models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    served = {name: models[name] for name in ("vit", "half", "echo")}
    server: ServerProcess = start(
        module_servers, tmp_path_factory.mktemp("forced"), served, "--onnx_engine=openvino"
    )
    (status,) = server.get("/v1/models/half").json()["model_version_status"]
    assert status["state"] == "END"
    assert status["status"] == {
        "error_code": "FAILED_PRECONDITION",
        "error_message": (
            "{name: half version: 1} cannot run on openvino (the engine is set to openvino; set it "
            f"to auto to fall back to onnxruntime): serving_default: {INT64}"
        ),
    }
    assert (
        server.post("/v1/models/half:predict", {"instances": [{"x": [2.0], "k": [3]}]}).status_code
        == 404
    )
    assert signatures(server, "vit")["serving_default"]["engine"] == "openvino"
    assert predictions(server).shape == (4, 10)
    # Strings need not move, as under --tensorflow_engine=openvino: echo serves on onnxruntime.
    assert signatures(server, "echo")["serving_default"]["engine"] == "onnxruntime"
    assert server.post("/v1/models/echo:predict", {"inputs": {"text": ["a"]}}).json() == {
        "outputs": {"same": ["a"], "shape": [1]}
    }
