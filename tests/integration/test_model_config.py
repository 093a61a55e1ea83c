"""--model_config_file: several models, policies, labels, and reloads while serving."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import REPO, ServerProcess, model_config_text, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
THREE = TFSERVING_TESTDATA / "saved_model_half_plus_three"
TWO_VERSIONS = TFSERVING_TESTDATA / "saved_model_half_plus_two_2_versions"


def predict(server: ServerProcess, path: str, x: float = 2.0) -> Any:
    response = server.post(f"/v1/models/{path}:predict", {"instances": [[x]]})
    return response.status_code, response.json()


def test_two_models_labels_and_policies(start_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(
        model_config_text(
            f'name: "two" base_path: "{TWO}" model_platform: "tensorflow"',
            f'name: "three" base_path: "{THREE}"',
            f'name: "both" base_path: "{TWO_VERSIONS}" model_version_policy {{ all {{}} }} '
            'version_labels { key: "stable" value: 123 } version_labels { key: "canary" value: 124 }',
        )
    )
    server: ServerProcess = start_server(f"--model_config_file={path}")
    assert predict(server, "two") == (200, {"predictions": [[3.0]]})
    assert predict(server, "three") == (200, {"predictions": [[4.0]]})
    status = server.get("/v1/models/both").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [
        ("124", "AVAILABLE"),
        ("123", "AVAILABLE"),
    ]
    assert (
        server.get("/v1/models/both/labels/stable").json()["model_version_status"][0]["version"]
        == "123"
    )
    stable = server.get("/v1/models/both/labels/stable/metadata").json()
    assert stable["model_spec"]["version"] == "123"
    assert predict(server, "both/labels/canary")[0] == 200
    unknown = server.post("/v1/models/both/labels/nope:predict", {"instances": [[1.0]]})
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "Unrecognized servable version label: nope"}


def test_reload_from_two_to_three_while_polling(start_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(model_config_text(f'name: "half_plus_two" base_path: "{TWO}"'))
    server: ServerProcess = start_server(
        f"--model_config_file={path}", "--model_config_file_poll_wait_seconds=1"
    )
    assert predict(server, "half_plus_two") == (200, {"predictions": [[3.0]]})
    # as TF Serving's own reload test: the config now names half_plus_three instead
    path.write_text(model_config_text(f'name: "half_plus_three" base_path: "{THREE}"'))
    wait_until(lambda: predict(server, "half_plus_three") == (200, {"predictions": [[4.0]]}))
    wait_until(lambda: predict(server, "half_plus_two")[0] == 404)
    # a broken file at reload: logged, and the server keeps serving the old config
    path.write_text("model_config_list { config { name: ")
    wait_until(lambda: "keeping the current config" in server.logs())
    assert predict(server, "half_plus_three") == (200, {"predictions": [[4.0]]})


def test_no_reload_when_poll_is_zero(start_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(model_config_text(f'name: "m" base_path: "{TWO}"'))
    server: ServerProcess = start_server(f"--model_config_file={path}")
    path.write_text(model_config_text(f'name: "m" base_path: "{THREE}"'))
    time.sleep(3)
    assert predict(server, "m") == (200, {"predictions": [[3.0]]})


def run_server_expecting_failure(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shiba", "serve", "--rest_api_port=0", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )


def test_bad_config_file_at_start_up(tmp_path: Path) -> None:
    done = run_server_expecting_failure(
        f"--model_config_file={TFSERVING_TESTDATA / 'bad_model_config.txt'}"
    )
    assert done.returncode == 2
    assert "bad_model_config.txt: line 1" in done.stderr


def test_bad_tensorflow_engine_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(model_config_text(f'name: "m" base_path: "{TWO}" tensorflow_engine: "gpu"'))
    done = run_server_expecting_failure(f"--model_config_file={path}")
    assert done.returncode == 2
    assert (
        f"{path}: model 'm': tensorflow_engine must be auto, tensorflow or openvino (or empty for "
        "--tensorflow_engine), got 'gpu'"
    ) in done.stderr


def test_latin_1_config_file_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    text = model_config_text(f'name: "caf\u00e9" base_path: "{TWO}"')
    path.write_bytes(text.encode("latin-1"))
    done = run_server_expecting_failure(f"--model_config_file={path}")
    assert done.returncode == 2
    offset = text.encode("latin-1").index(b"\xe9")
    assert (
        f"{path}: line 2: not UTF-8 text at byte {offset} (0xe9); save --model_config_file as UTF-8"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_label_on_a_version_that_is_not_available(start_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(
        model_config_text(
            f'name: "m" base_path: "{TWO}" version_labels {{ key: "stable" value: 7 }}'
        )
    )
    server: ServerProcess = start_server(f"--model_config_file={path}", wait=False)
    assert server.proc.wait(120) != 0
    assert "Request to assign label to version 7 of model m" in server.logs()
    allowed: ServerProcess = start_server(
        f"--model_config_file={path}", "--allow_version_labels_for_unavailable_models"
    )
    assert predict(allowed, "m") == (200, {"predictions": [[3.0]]})


def test_model_appears_when_its_folder_does(start_server: Any, tmp_path: Path) -> None:
    base = tmp_path / "late"
    path = tmp_path / "models.config"
    path.write_text(model_config_text(f'name: "late" base_path: "{base}"'))
    server: ServerProcess = start_server(f"--model_config_file={path}")
    assert predict(server, "late")[0] == 404
    shutil.copytree(TWO, base)
    wait_until(lambda: predict(server, "late") == (200, {"predictions": [[3.0]]}))
