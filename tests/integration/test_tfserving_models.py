"""TensorFlow Serving's own test models behind shiba's REST API, answers as TF Serving gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"


@pytest.fixture(scope="module")
def default(module_servers: Any) -> ServerProcess:
    server: ServerProcess = module_servers(
        "--model_name=default", f"--model_base_path={HALF_PLUS_TWO}"
    )
    return server


def _expected(name: str) -> Any:
    return json.loads((TFSERVING_TESTDATA / name).read_text())


def test_status(default: ServerProcess) -> None:
    response = default.get("/v1/models/default")
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {
                "version": "123",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert response.headers["content-type"] == "application/json"


def test_status_of_a_version_and_unknown_ones(default: ServerProcess) -> None:
    assert (
        default.get("/v1/models/default/versions/123").json()["model_version_status"][0]["version"]
        == "123"
    )
    missing = default.get("/v1/models/default/versions/7")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Could not find version 7 of model default"}
    unknown = default.get("/v1/models/nope")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Could not find any versions of model nope"}


def test_metadata_equals_tf_serving(default: ServerProcess) -> None:
    response = default.get("/v1/models/default/metadata")
    assert response.status_code == 200
    assert response.json() == _expected("half_plus_two_model_metadata.json")
    versioned = default.get("/v1/models/default/versions/123/metadata")
    assert versioned.json() == _expected("half_plus_two_model_metadata.json")


def test_predict_row_and_columnar(default: ServerProcess) -> None:
    row = default.post("/v1/models/default:predict", {"instances": [2.0, 3.0, 4.0]})
    assert row.status_code == 200, row.text
    assert row.json() == {"predictions": [3.0, 3.5, 4.0]}
    col = default.post("/v1/models/default:predict", {"inputs": [2.0, 3.0, 4.0]})
    assert col.json() == {"outputs": [3.0, 3.5, 4.0]}
    named = default.post(
        "/v1/models/default/versions/123:predict",
        {"signature_name": "serving_default", "instances": [{"x": 1.0}, {"x": 5.0}]},
    )
    assert named.json() == {"predictions": [2.5, 4.5]}


def test_predict_other_float_signature(default: ServerProcess) -> None:
    response = default.post(
        "/v1/models/default:predict",
        {"signature_name": "regress_x2_to_y3", "instances": [[1.0], [2.0]]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [[3.5], [4.0]]}


def test_classify_and_regress(default: ServerProcess) -> None:
    classify = default.post(
        "/v1/models/default:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
    )
    assert classify.status_code == 200, classify.text
    assert classify.json() == {"results": [[["", 3.0]]]}
    regress = default.post(
        "/v1/models/default:regress",
        {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]},
    )
    assert regress.json() == {"results": [3.0, 4.0]}
    with_context = default.post(
        "/v1/models/default:regress",
        {"signature_name": "regress_x_to_y", "context": {"x": 6.0}, "examples": [{}]},
    )
    assert with_context.json() == {"results": [5.0]}, with_context.text


def test_unknown_model_version_label_and_signature(default: ServerProcess) -> None:
    unknown = default.post("/v1/models/half:predict", {"instances": [1.0]})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Servable not found for request: Latest(half)"}
    version = default.post("/v1/models/default/versions/9:predict", {"instances": [1.0]})
    assert version.status_code == 404
    assert version.json() == {"error": "Servable not found for request: Specific(default, 9)"}
    label = default.post("/v1/models/default/labels/stable:predict", {"instances": [1.0]})
    assert label.status_code == 400
    signature = default.post(
        "/v1/models/default:predict", {"signature_name": "nope", "instances": [1.0]}
    )
    assert signature.status_code == 400
    assert signature.json() == {"error": 'Serving signature key "nope" not found.'}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", ""),
        (b"{", ""),
        (b"[1, 2]", ""),
        (b'{"instances": [[1.0], [2.0, 3.0]]}', ""),
        (b'{"instances": ["a", "b"]}', ""),
        (b'{"instances": [1.0], "inputs": [1.0]}', ""),
        (b'{"signature_name": "serving_default"}', ""),
        (b'{"instances": [{"y": 1.0}]}', ""),
        (b'{"inputs": {"z": [2.0]}}', "x"),
        (b'{"instances": [true]}', ""),
        ('{"instances": ["\u00e9"]}'.encode("latin-1"), ""),
        (b"\x00\xff\xfe", ""),
    ],
)
def test_bad_input_is_a_400_and_the_server_keeps_serving(
    default: ServerProcess, body: bytes, fragment: str
) -> None:
    response = default.post(
        "/v1/models/default:predict", body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, (body, response.status_code, response.text)
    error = response.json()["error"]
    assert isinstance(error, str) and error
    assert fragment in error
    again = default.post("/v1/models/default:predict", {"instances": [2.0]})
    assert again.json() == {"predictions": [3.0]}


def test_bad_classify_bodies(default: ServerProcess) -> None:
    for body in (
        {"signature_name": "classify_x_to_y"},
        {"signature_name": "classify_x_to_y", "examples": "x"},
        {"signature_name": "classify_x_to_y", "examples": [1.0]},
        {"signature_name": "serving_default", "examples": [{"x": 2.0}]},
    ):
        response = default.post("/v1/models/default:classify", body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]


def test_extra_named_inputs_are_ignored_as_in_tf_serving(default: ServerProcess) -> None:
    response = default.post("/v1/models/default:predict", {"inputs": {"x": [1.0], "z": [2.0]}})
    assert response.json() == {"outputs": [2.5]}


def test_nan_and_infinity_round_trip(default: ServerProcess) -> None:
    response = default.post(
        "/v1/models/default:predict",
        b'{"instances": [NaN, Infinity, -Infinity]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert (
        response.text.replace(" ", "").replace("\n", "")
        == '{"predictions":[NaN,Infinity,-Infinity]}'
    )


def test_malformed_paths(default: ServerProcess) -> None:
    assert default.get("/v1/foo").status_code == 400
    assert default.post("/v1/models/default:explode", {"instances": [1.0]}).status_code == 400
    assert default.get("/healthz").status_code == 404
    assert default.post("/v1/models", {"instances": [1.0]}).status_code == 400


def test_huge_body_is_refused(module_servers: Any) -> None:
    server: ServerProcess = module_servers(
        "--model_name=default",
        f"--model_base_path={HALF_PLUS_TWO}",
        "--rest_api_max_body_bytes=1000",
    )
    body = json.dumps({"instances": [1.0] * 1000})
    response = server.post("/v1/models/default:predict", body)
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["error"]
    assert server.post("/v1/models/default:predict", {"instances": [2.0]}).json() == {
        "predictions": [3.0]
    }


@pytest.mark.parametrize(
    ("folder", "expected", "examples_calls"),
    [
        (
            "saved_model_half_plus_three",
            [3.5, 4.0, 4.5],
            # Its regress signature stores DT_FLOAT for the DT_STRING example placeholder.
            [(":regress", "tensorflow/serving/regress", {"results": [3.5, 4.0]})],
        ),
        (
            "saved_model_half_plus_two_tf2_cpu",
            [2.5, 3.0, 3.5],
            # TF2 writes the predict method_name on these; the check is off, as in TF Serving.
            [
                (":classify", "classify_x_to_y", {"results": [[["", 2.5]], [["", 3.0]]]}),
                (":regress", "regress_x_to_y", {"results": [2.5, 3.0]}),
            ],
        ),
    ],
)
def test_other_models(
    module_servers: Any,
    folder: str,
    expected: list[float],
    examples_calls: list[tuple[str, str, dict[str, Any]]],
) -> None:
    server: ServerProcess = module_servers(
        "--model_name=m", f"--model_base_path={TFSERVING_TESTDATA / folder}"
    )
    response = server.post("/v1/models/m:predict", {"instances": [[1.0], [2.0], [3.0]]})
    assert response.status_code == 200, response.text
    assert [v[0] if isinstance(v, list) else v for v in response.json()["predictions"]] == expected
    for verb, signature, answer in examples_calls:
        body = {"signature_name": signature, "examples": [{"x": 1.0}, {"x": 2.0}]}
        response = server.post("/v1/models/m" + verb, body)
        assert (response.status_code, response.json()) == (200, answer), verb


def test_tf2_two_versions_metadata(module_servers: Any) -> None:
    server: ServerProcess = module_servers(
        "--model_name=saved_model_half_plus_two_2_versions",
        f"--model_base_path={TFSERVING_TESTDATA / 'saved_model_half_plus_two_2_versions'}",
    )
    status = server.get("/v1/models/saved_model_half_plus_two_2_versions").json()
    assert [s["version"] for s in status["model_version_status"]] == ["124"]
    meta = server.get("/v1/models/saved_model_half_plus_two_2_versions/versions/124/metadata")
    expected = _expected("saved_model_half_plus_two_2_versions_metadata.json")
    expected["model_spec"]["version"] = "124"
    assert meta.json() == expected


def test_counter_model_loads_through_the_session_loader(module_servers: Any) -> None:
    server: ServerProcess = module_servers(
        "--model_name=counter",
        f"--model_base_path={TFSERVING_TESTDATA / 'saved_model_counter'}",
    )
    status = server.get("/v1/models/counter").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE", server.logs()
    meta = server.get("/v1/models/counter/metadata")
    assert meta.status_code == 200
    assert meta.json()["metadata"]["signature_def"]["signature_def"]


def test_broken_model_reports_its_error(module_servers: Any, tmp_path: Path) -> None:
    server: ServerProcess = module_servers(
        "--model_name=bad",
        f"--model_base_path={TFSERVING_TESTDATA / 'bad_half_plus_two'}",
        "--max_num_load_retries=0",
    )
    status = server.get("/v1/models/bad").json()["model_version_status"][0]
    assert status["version"] == "123"
    assert status["state"] == "END"
    assert status["status"]["error_code"] != "OK"
    assert status["status"]["error_message"]
    response = server.post("/v1/models/bad:predict", {"instances": [1.0]})
    assert response.status_code == 404
