"""One server for the client, command-line and web-application tests: the demo ViT (with its
labels), an ONNX model with two numeric inputs and an ONNX model of strings, REST and gRPC.

Started once per session, on first use (it builds the demo ViT first if ``make demo-model`` has
not, as ``tests/integration/test_demo.py`` does).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import REPO, ServerProcess, free_port, model_config_text
from tests.models import build_onnx_model, build_onnx_string_model

__all__ = ["Zoo", "start_zoo", "DEMO_MODELS", "IMAGES"]

DEMO_MODELS = REPO / "build" / "models"
IMAGES = REPO / "examples" / "images"


@dataclass(frozen=True, slots=True)
class Zoo:
    """The running server: ``rest`` is its base URL, ``grpc`` its ``host:port``."""

    server: ServerProcess
    rest: str
    grpc: str


def start_zoo(folder: Path) -> Zoo:
    """Builds what is missing and starts the server (models ``ViT``, ``half``, ``echo``)."""
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build_vit.py"), "--out", str(DEMO_MODELS)],
        check=True,
        timeout=900,
    )
    build_onnx_model(folder / "half")
    build_onnx_string_model(folder / "echo")
    config = folder / "models.config"
    config.write_text(
        model_config_text(
            f'name: "ViT" base_path: "{DEMO_MODELS / "ViT"}" model_platform: "tensorflow"',
            f'name: "half" base_path: "{folder / "half"}" model_platform: "onnx"',
            f'name: "echo" base_path: "{folder / "echo"}" model_platform: "onnx"',
        )
    )
    grpc_port = free_port()
    server = ServerProcess(
        [f"--model_config_file={config}", f"--port={grpc_port}", "--onnx_engine=onnxruntime"],
        folder / "zoo.log",
    )
    server.wait_ready()
    return Zoo(server, server.url, f"127.0.0.1:{grpc_port}")
