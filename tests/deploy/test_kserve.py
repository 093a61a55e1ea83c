"""KServe: shiba's ServingRuntime is valid against KServe's CRD schema and declares what KServe's
TensorFlow Serving runtime does (container, ports, model path), for every format and protocol."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shiba.config.flags import parse_flags
from tests.conftest import REPO

KSERVE = REPO / "deploy" / "kserve"
CRD = Path(__file__).parent / "kserve" / "serving.kserve.io_servingruntimes.yaml"
#: KServe's InferenceServiceProtocol values (pkg/constants/constants.go).
KSERVE_PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    crd = _load(CRD)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = version["schema"]["openAPIV3Schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def runtime() -> dict[str, Any]:
    return _load(KSERVE / "servingruntime.yaml")


def test_serving_runtime_is_valid_against_kserves_crd(
    validator: jsonschema.Draft7Validator, runtime: dict[str, Any]
) -> None:
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert runtime["kind"] == "ServingRuntime"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(runtime)]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "containers"), {"name": "kserve-container"}),
        (("spec", "supportedModelFormats", 0, "priority"), "high"),
        (("spec", "protocolVersions"), "v1"),
    ],
)
def test_the_schema_refuses_a_broken_runtime(
    validator: jsonschema.Draft7Validator,
    runtime: dict[str, Any],
    path: tuple[str | int, ...],
    value: object,
) -> None:
    broken = copy.deepcopy(runtime)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not validator.is_valid(broken)


def test_serving_runtime_declares_the_formats_and_protocols(runtime: dict[str, Any]) -> None:
    spec = runtime["spec"]
    formats = {f["name"] for f in spec["supportedModelFormats"]}
    assert formats == {"tensorflow", "onnx", "pytorch"}
    for model_format in spec["supportedModelFormats"]:
        # KServe's webhook refuses a priority on a format that is not auto-selected.
        assert "priority" not in model_format or model_format["autoSelect"] is True
    assert set(spec["protocolVersions"]) == KSERVE_PROTOCOLS


def test_serving_runtime_container_is_kserves_tensorflow_serving_layout(
    runtime: dict[str, Any],
) -> None:
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["command"] == ["tensorflow_model_server"]
    flags = parse_flags(
        [arg.replace("{{.Name}}", "my-model") for arg in container["args"]],
        "tensorflow_model_server",
    )
    assert flags["model_name"] == "my-model"
    assert flags["model_base_path"] == "/mnt/models"
    assert flags["rest_api_port"] == 8080
    assert flags["port"] == 9000
    assert container["securityContext"]["runAsNonRoot"] is True
    probe = container["readinessProbe"]["exec"]["command"]
    assert "/usr/local/bin/shiba-healthcheck" in probe
    assert probe[probe.index("--port") + 1] == "8080"


def test_documented_inference_service_uses_the_runtime(runtime: dict[str, Any]) -> None:
    service = _load(KSERVE / "inferenceservice.yaml")
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {
        f["name"] for f in runtime["spec"]["supportedModelFormats"]
    }
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
