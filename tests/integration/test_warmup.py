"""SavedModel warm-up behind the real server: records replayed before AVAILABLE, bad ones fail it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shiba.core.tensors import CLASSIFY_METHOD, REGRESS_METHOD
from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
WARMUP = Path("00000123") / "assets.extra" / "tf_serving_warmup_requests"


@pytest.fixture(scope="module")
def tf() -> Any:
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def apis(tf: Any) -> Any:
    return pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")


def example(tf: Any, x: float) -> Any:
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=[x]))
    return tf.train.Example(features=tf.train.Features(feature={"x": feature}))


def predict(tf: Any, apis: Any, signature: str, values: list[Any], alias: str = "x") -> Any:
    log = apis.PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = "recorded under another name"  # ignored, as in TF Serving
    request.model_spec.version.value = 1
    request.model_spec.signature_name = signature
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(np.array(values, np.float32)))
    return log


def every_kind(tf: Any, apis: Any) -> list[Any]:
    """One record of each kind TF Serving replays, against half_plus_two's signatures."""
    classify = apis.PredictionLog()
    classify.classify_log.request.model_spec.signature_name = "classify_x_to_y"
    classify.classify_log.request.input.example_list.examples.append(example(tf, 2.0))
    regress = apis.PredictionLog()
    with_context = regress.regress_log.request.input.example_list_with_context
    with_context.context.CopyFrom(example(tf, 6.0))
    with_context.examples.append(example(tf, 1.0))
    regress.regress_log.request.model_spec.signature_name = "regress_x_to_y"
    multi = apis.PredictionLog()
    for signature, method in (
        ("classify_x_to_y", CLASSIFY_METHOD),
        ("regress_x_to_y", REGRESS_METHOD),
    ):
        task = multi.multi_inference_log.request.tasks.add()
        task.model_spec.name = "recorded"
        task.model_spec.signature_name = signature
        task.method_name = method
    multi.multi_inference_log.request.input.example_list.examples.append(example(tf, 3.0))
    return [
        predict(tf, apis, "", [[1.0], [2.0]]),
        predict(tf, apis, "regress_x2_to_y3", [[4.0]], alias="inputs"),
        classify,
        regress,
        multi,
    ]


def model_with_warmup(tf: Any, dest: Path, records: list[Any]) -> Path:
    shutil.copytree(HALF_PLUS_TWO, dest)
    path = dest / WARMUP
    path.parent.mkdir()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return dest


def status(server: ServerProcess, name: str) -> dict[str, Any]:
    response = server.get(f"/v1/models/{name}")
    assert response.status_code == 200, response.text
    (version,) = response.json()["model_version_status"]
    return dict(version)


def test_warmup_runs_before_available_and_a_bad_record_fails_only_its_model(
    tf: Any, apis: Any, tmp_path: Path, start_server: Any
) -> None:
    good = model_with_warmup(tf, tmp_path / "good", every_kind(tf, apis))
    bad = model_with_warmup(
        tf, tmp_path / "bad", [predict(tf, apis, "", [[1.0]]), predict(tf, apis, "nope", [[1.0]])]
    )
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow" }}\n'
            for name, path in (("good", good), ("bad", bad))
        )
        + "}\n"
    )
    server: ServerProcess = start_server(
        f"--model_config_file={config}",
        "--max_num_load_retries=0",
        "--num_request_iterations_for_warmup=2",
    )
    logs = server.logs()
    assert (
        f"Finished reading warmup data for model at {good / WARMUP}. Number of warmup records "
        "read: 5. Elapsed time (microseconds): "
    ) in logs
    assert status(server, "good") == {
        "version": "123",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    answer = server.post("/v1/models/good:predict", {"instances": [[2.0], [3.0]]})
    assert answer.json() == {"predictions": [[3.0], [3.5]]}, answer.text
    assert status(server, "bad") == {
        "version": "123",
        "state": "END",
        "status": {
            "error_code": "FAILED_PRECONDITION",
            "error_message": f'Warm-up record 1 of {bad / WARMUP} failed: Serving signature key "nope" not found.',
        },
    }
    assert server.post("/v1/models/bad:predict", {"instances": [[2.0]]}).status_code == 404
    assert f"Finished reading warmup data for model at {bad / WARMUP}" not in logs


def test_disabled_warmup_skips_the_records(
    tf: Any, apis: Any, tmp_path: Path, start_server: Any
) -> None:
    bad = model_with_warmup(tf, tmp_path / "bad", [predict(tf, apis, "nope", [[1.0]])])
    server: ServerProcess = start_server(
        "--model_name=bad",
        f"--model_base_path={bad}",
        "--max_num_load_retries=0",
        "--enable_model_warmup=false",
    )
    assert status(server, "bad")["state"] == "AVAILABLE"
    answer = server.post("/v1/models/bad:predict", {"instances": [[2.0]]})
    assert answer.json() == {"predictions": [[3.0]]}, answer.text
    logs = server.logs()
    assert "Finished reading warmup data" not in logs
    assert "No warmup data file found" not in logs


def test_warmup_inputs_verify_openvino_before_the_replay(
    tf: Any, apis: Any, tmp_path: Path, start_server: Any
) -> None:
    """TF2 half_plus_two's signature says x has shape [1]; TensorFlow also runs [[1], [7]],
    OpenVINO does not, so a warm-up record with that input keeps the signature on TensorFlow."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    tf2 = TFSERVING_TESTDATA / "saved_model_half_plus_two_tf2_cpu"
    models: dict[str, tuple[list[Any], Path]] = {
        "flat": ([3.0], tmp_path / "flat"),
        "column": ([[1.0], [7.0]], tmp_path / "column"),
    }
    for values, model in models.values():
        shutil.copytree(tf2, model)
        (model / WARMUP).parent.mkdir()
        with tf.io.TFRecordWriter(str(model / WARMUP)) as writer:
            writer.write(predict(tf, apis, "serving_default", values).SerializeToString())
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{model}" model_platform: "tensorflow" }}\n'
            for name, (_, model) in models.items()
        )
        + "}\n"
    )
    server: ServerProcess = start_server(
        f"--model_config_file={config}", "--max_num_load_retries=0", "--tensorflow_engine=auto"
    )
    logs = server.logs()
    assert "signature serving_default of {name: flat version: 123}: openvino (verified" in logs
    assert (
        "signature serving_default of {name: column version: 123}: tensorflow (openvino failed on "
        "warm-up record 0: "
    ) in logs
    for name, (_, model) in models.items():
        assert (
            f"Finished reading warmup data for model at {model / WARMUP}. Number of warmup "
            "records read: 1."
        ) in logs
        assert status(server, name)["state"] == "AVAILABLE"
        answer = server.post(f"/v1/models/{name}:predict", {"instances": [1.0, 7.0]})
        assert answer.json() == {"predictions": [2.5, 5.5]}, answer.text
