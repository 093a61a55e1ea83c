"""The container image: the Dockerfile's required parts, and its entry point and health check run
here as plain processes with the image's environment (there is no container engine to build it)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.integration.conftest import free_port, wait_until
from tests.models import build_onnx_model

DOCKERFILE = REPO / "Dockerfile"
ENTRYPOINT = REPO / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = REPO / "deploy" / "docker" / "healthcheck.py"

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's (INSTRUCTION, arguments) pairs: comments dropped, continuations joined."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    )
    pairs: list[Instruction] = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def stages(pairs: list[Instruction]) -> list[list[Instruction]]:
    """The instructions of each stage, from its FROM on."""
    found: list[list[Instruction]] = []
    for pair in pairs:
        if pair[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(pair)
    return found


def env_values(stage: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def test_dockerfile_is_multi_stage_and_copies_only_the_built_environment() -> None:
    built = stages(instructions(DOCKERFILE.read_text()))
    assert len(built) >= 2
    assert re.search(r"\bAS build$", built[0][0][1], re.IGNORECASE)
    final = built[-1]
    assert ("COPY", "--from=build /opt/shiba /opt/shiba") in final
    assert not any(word == "RUN" and "pip install" in rest for word, rest in final)


def test_dockerfile_runs_as_a_non_root_user() -> None:
    final = stages(instructions(DOCKERFILE.read_text()))[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_declares_tf_servings_ports_environment_and_a_health_check() -> None:
    final = stages(instructions(DOCKERFILE.read_text()))[-1]
    exposed = {port for word, rest in final if word == "EXPOSE" for port in rest.split()}
    assert {"8500", "8501"} <= exposed
    env = env_values(final)
    assert env["MODEL_NAME"] == "model"
    assert env["MODEL_BASE_PATH"] == "/models"
    assert env["PATH"].startswith("/opt/shiba/bin:")
    (health,) = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert "CMD" in health and "shiba-healthcheck" in health
    copies = {rest for word, rest in final if word == "COPY"}
    assert "deploy/docker/healthcheck.py /usr/local/bin/shiba-healthcheck" in copies
    assert "deploy/docker/entrypoint.sh /usr/local/bin/shiba-entrypoint" in copies
    assert ("ENTRYPOINT", '["/usr/local/bin/shiba-entrypoint"]') in final


def test_dockerfile_installs_from_pypi_only() -> None:
    runs = " ".join(rest for word, rest in instructions(DOCKERFILE.read_text()) if word == "RUN")
    assert "pip install" in runs
    for other_source in (
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "git+",
        "http://",
        "https://",
    ):
        assert other_source not in runs


@pytest.fixture
def fake_server(tmp_path: Path) -> Path:
    """A ``tensorflow_model_server`` on PATH that prints its arguments, one a line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "tensorflow_model_server"
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do echo "$arg"; done\n')
    fake.chmod(0o755)
    return bin_dir


def _entrypoint_args(bin_dir: Path, env: dict[str, str], *args: str) -> list[str]:
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", **env}
    done = subprocess.run(
        [str(ENTRYPOINT), *args], env=environ, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_entrypoint_defaults_are_tf_servings(fake_server: Path) -> None:
    assert _entrypoint_args(fake_server, {}) == [
        "--port=8500",
        "--rest_api_port=8501",
        "--model_name=model",
        "--model_base_path=/models/model",
    ]


def test_entrypoint_reads_model_name_and_base_path_and_appends_arguments(
    fake_server: Path,
) -> None:
    env = {"MODEL_NAME": "ViT", "MODEL_BASE_PATH": "/mnt/my models"}
    assert _entrypoint_args(fake_server, env, "--rest_api_port=8080") == [
        "--port=8500",
        "--rest_api_port=8501",
        "--model_name=ViT",
        "--model_base_path=/mnt/my models/ViT",
        "--rest_api_port=8080",
    ]


def test_healthcheck_reports_a_server_that_is_not_there() -> None:
    done = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "--port", str(free_port()), "--model", "m"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "did not answer" in done.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_entrypoint_serves_the_model_as_the_image_would(tmp_path: Path) -> None:
    """The real entry point and console script, with the image's environment: the model under
    ``$MODEL_BASE_PATH/$MODEL_NAME`` is served, the health check passes, SIGTERM stops it."""
    build_onnx_model(tmp_path / "models" / "half")
    rest, grpc = free_port(), free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MODEL_NAME": "half",
        "MODEL_BASE_PATH": str(tmp_path / "models"),
        "HOME": str(tmp_path),
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(ENTRYPOINT), f"--port={grpc}", f"--rest_api_port={rest}", "--rest_api_host=127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    health = [sys.executable, str(HEALTHCHECK), "--port", str(rest)]
    try:
        wait_until(
            lambda: (
                subprocess.run(health, check=False, env=env, capture_output=True).returncode == 0
            )
        )
        answer = requests.post(
            f"http://127.0.0.1:{rest}/v1/models/half:predict",
            json={"inputs": {"x": [[1.0]], "k": [[3]]}},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"] == {"y": [[2.5]], "z": [[3.0]]}
        wrong = subprocess.run(
            [*health, "--model", "absent"], check=False, env=env, capture_output=True, text=True
        )
        assert wrong.returncode == 1
        assert "404" in wrong.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        log.close()
    assert code == 0, (tmp_path / "server.log").read_text()
