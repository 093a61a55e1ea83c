"""The demo behind `make serve`: the issue's client, unchanged, against the demo ViT."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import REPO, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.integration]

MODELS = REPO / "build" / "models"
IMAGES = REPO / "examples" / "images"


@pytest.fixture(scope="module")
def vit(module_servers: Any) -> ServerProcess:
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build_vit.py"), "--out", str(MODELS)],
        check=True,
        timeout=600,
    )
    server: ServerProcess = module_servers(
        "--model_name=ViT", f"--model_base_path={MODELS / 'ViT'}"
    )
    return server


@pytest.mark.parametrize("image", sorted(IMAGES.glob("digit_*.png")), ids=lambda p: p.stem)
def test_client_prints_the_digit(vit: ServerProcess, image: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "client.py"),
            str(image),
            "--url",
            f"{vit.url}/v1/models/ViT:predict",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == image.stem.removeprefix("digit_")


def test_metadata_and_status(vit: ServerProcess) -> None:
    status = vit.get("/v1/models/ViT").json()["model_version_status"]
    assert status == [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
    signature = vit.get("/v1/models/ViT/metadata").json()["metadata"]["signature_def"][
        "signature_def"
    ]["serving_default"]
    (spec,) = signature["inputs"].values()
    assert spec["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in spec["tensor_shape"]["dim"]] == ["-1", "32", "32", "3"]


def test_batched_server_gives_the_same_answers(module_servers: Any, vit: ServerProcess) -> None:
    batched: ServerProcess = module_servers(
        "--model_name=ViT", f"--model_base_path={MODELS / 'ViT'}", "--enable_batching"
    )
    body = {"instances": [[[[(i * 7 + j) % 256] * 3 for j in range(32)] for i in range(32)]] * 3}
    plain = vit.post("/v1/models/ViT:predict", body).json()["predictions"]
    merged = batched.post("/v1/models/ViT:predict", body).json()["predictions"]
    assert len(plain) == 3
    for a, b in zip(plain, merged, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
