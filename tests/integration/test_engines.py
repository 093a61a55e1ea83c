"""The engine per model and per signature behind the real server: a model config's
``tensorflow_engine``, the ``:shiba:signature_engine`` gauge, ``GET /shiba/v1/models/...``, reloads
(file and gRPC), and TF Serving's own answers unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from shiba import _proto
from tests._prometheus import samples
from tests.conftest import TF2_SIGNATURES, TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port, model_config_text, wait_until
from tests.models import build_onnx_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]
pytest.importorskip("openvino", reason="the openvino extra is not installed")

TF2 = TFSERVING_TESTDATA / "saved_model_half_plus_two_tf2_cpu"
TF1 = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
PAGE = "/monitoring/prometheus/metrics"
GAUGE = ":shiba:signature_engine"
ONNX_INT64 = "input k is DT_INT64: OpenVINO's CPU plugin computes 64-bit integers in 32 bits"
#: TF Serving's status answer for version 123 (protobuf's JSON printer, as TF Serving's).
STATUS_123 = (
    b'{\n "model_version_status": [\n  {\n   "version": "123",\n   "state": "AVAILABLE",\n'
    b'   "status": {\n    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}\n'
)


def engines(server: ServerProcess, path: str) -> dict[str, tuple[str, str]]:
    """``/shiba/v1/models/{path}``'s one version: signature -> (engine, reason)."""
    answer = server.get(f"/shiba/v1/models/{path}")
    assert answer.status_code == 200, answer.text
    (version,) = answer.json()["versions"]
    return {name: (s["engine"], s["reason"]) for name, s in version["signatures"].items()}


@pytest.fixture(scope="module")
def server(module_servers: Any, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """Four models under the default --tensorflow_engine and --onnx_engine (auto), with
    monitoring on: the TF2 half_plus_two forced to each engine, TF1's half_plus_two (auto) and an
    ONNX model."""
    folder = tmp_path_factory.mktemp("engines")
    onnx = build_onnx_model(folder / "onnx").parent
    models = folder / "models.config"
    models.write_text(
        model_config_text(
            f'name: "on_tf" base_path: "{TF2}" tensorflow_engine: "tensorflow"',
            f'name: "on_ov" base_path: "{TF2}" tensorflow_engine: "openvino"',
            f'name: "tf1" base_path: "{TF1}"',
            f'name: "onnx" base_path: "{onnx}"',
        )
    )
    monitoring = folder / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{PAGE}" }}\n')
    started: ServerProcess = module_servers(
        f"--model_config_file={models}", f"--monitoring_config_file={monitoring}"
    )
    return started


def test_the_metrics_page_names_each_signatures_engine(server: ServerProcess) -> None:
    found = {key: value for key, value in samples(server.get(PAGE).content).items() if GAUGE in key}
    assert set(found.values()) == {"1"}

    def row(model: str, version: int, signature: str, engine: str, reason: str) -> str:
        runtime = "onnx" if model == "onnx" else "tensorflow"
        return (
            f'{GAUGE}{{model_name="{model}",model_version="{version}",runtime="{runtime}",'
            f'signature_name="{signature}",engine="{engine}",reason="{reason}"}}'
        )

    in_config = "engine set to tensorflow in the model config"
    for signature in TF2_SIGNATURES:
        assert row("on_tf", 123, signature, "tensorflow", in_config) in found
    assert row("on_ov", 123, "serving_default", "openvino", "verified, max abs diff 0") in found
    # the ONNX model has an int64 input: the choice (--onnx_engine=auto) keeps it on onnxruntime
    assert row("onnx", 1, "serving_default", "onnxruntime", ONNX_INT64) in found
    tf1 = [key for key in found if 'model_name="tf1"' in key]
    assert len(tf1) == 5
    assert all('engine="tensorflow"' in key for key in tf1)
    assert (
        'signature_name="serving_default",engine="tensorflow",'
        'reason="OpenVINO could not convert it: Conversion is failed for: VariableV2'
    ) in " ".join(tf1)
    on_ov = [key for key in found if 'model_name="on_ov"' in key]
    assert len(on_ov) == len(TF2_SIGNATURES)
    assert len(found) == 2 * len(TF2_SIGNATURES) + 5 + 1


def test_shibas_route_names_each_signatures_engine(server: ServerProcess) -> None:
    answer = server.get("/shiba/v1/models/on_ov").json()
    assert answer["model"] == "on_ov"
    (version,) = answer["versions"]
    assert (version["version"], version["state"], version["runtime"]) == (
        "123",
        "AVAILABLE",
        "tensorflow",
    )
    signatures = version["signatures"]
    assert list(signatures) == TF2_SIGNATURES
    assert signatures["serving_default"] == {
        "engine": "openvino",
        "reason": "verified, max abs diff 0",
        "max_abs_diff": 0.0,
    }
    assert signatures["classify_x_to_y"] == {
        "engine": "tensorflow",
        "reason": "input inputs is DT_STRING: only numeric signatures run on OpenVINO",
        "max_abs_diff": None,
    }
    in_config = ("tensorflow", "engine set to tensorflow in the model config")
    assert engines(server, "on_tf/versions/123") == dict.fromkeys(TF2_SIGNATURES, in_config)
    assert engines(server, "onnx") == {"serving_default": ("onnxruntime", ONNX_INT64)}
    missing = server.get("/shiba/v1/models/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Could not find any versions of model nope"}


def test_tf_servings_answers_do_not_depend_on_the_engine(server: ServerProcess) -> None:
    for model in ("on_tf", "on_ov"):
        status = server.get(f"/v1/models/{model}")
        assert (status.status_code, status.content) == (200, STATUS_123)
    on_tf = server.get("/v1/models/on_tf/metadata").content
    on_ov = server.get("/v1/models/on_ov/metadata").content
    assert on_ov == on_tf.replace(b'"name": "on_tf"', b'"name": "on_ov"', 1)
    assert b"engine" not in on_ov and b"openvino" not in on_ov
    answers = [
        server.post(f"/v1/models/{model}:predict", {"instances": [1.0, 2.0]})
        for model in ("on_tf", "on_ov")
    ]
    assert answers[0].json() == {"predictions": [2.5, 3.0]}
    assert answers[0].content == answers[1].content


def reload_over_grpc(port: int, *models: tuple[str, Path, str]) -> Any:
    """HandleReloadConfigRequest with shiba's own messages, which carry ``tensorflow_engine``."""
    request = _proto.ReloadConfigRequest()
    for name, base_path, engine in models:
        model = request.config.model_config_list.config.add(name=name, base_path=str(base_path))
        model.tensorflow_engine = engine
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            f"/{_proto.MODEL_SERVICE}/HandleReloadConfigRequest",
            request_serializer=_proto.ReloadConfigRequest.SerializeToString,
            response_deserializer=_proto.ReloadConfigResponse.FromString,
        )
        return call(request, timeout=120)


def test_reloads_apply_the_engine_to_versions_loaded_afterwards(
    start_server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "models.config"
    path.write_text(
        model_config_text(f'name: "m" base_path: "{TF2}" tensorflow_engine: "tensorflow"')
    )
    port = free_port()
    server: ServerProcess = start_server(
        f"--model_config_file={path}", "--model_config_file_poll_wait_seconds=1", f"--port={port}"
    )
    in_config = ("tensorflow", "engine set to tensorflow in the model config")
    assert engines(server, "m")["serving_default"] == in_config
    # A changed engine is applied: the loaded version keeps its engine, as with a changed base_path.
    path.write_text(
        model_config_text(f'name: "m" base_path: "{TF2}" tensorflow_engine: "openvino"')
    )
    wait_until(lambda: server.logs().count("applied model config file") >= 1)
    assert engines(server, "m")["serving_default"] == in_config
    # An invalid engine is a config error: logged, and the current config stays.
    path.write_text(model_config_text(f'name: "m" base_path: "{TF2}" tensorflow_engine: "gpu"'))
    wait_until(lambda: "tensorflow_engine must be auto, tensorflow or openvino" in server.logs())
    assert "model 'm': tensorflow_engine must be" in server.logs()
    assert engines(server, "m")["serving_default"] == in_config
    # Over gRPC: a new model gets the engine its config names; an invalid one is refused.
    response = reload_over_grpc(port, ("m", TF2, ""), ("late", TF2, "openvino"))
    assert response.status.error_code == 0
    assert engines(server, "late")["serving_default"] == ("openvino", "verified, max abs diff 0")
    with pytest.raises(grpc.RpcError) as refused:
        reload_over_grpc(port, ("m", TF2, ""), ("late", TF2, "cuda"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model 'late': tensorflow_engine must be auto, tensorflow or openvino" in (
        refused.value.details() or ""
    )
    assert json.loads(server.get("/shiba/v1/models/late").content)["versions"][0]["state"] == (
        "AVAILABLE"
    )
