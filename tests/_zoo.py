"""One server for the client, command-line and web-application tests: the demo ViT (with its
labels), an ONNX model with two numeric inputs, an ONNX model of strings and an ONNX model of
grey NCHW uint8 images (``grey``), REST and gRPC.

Started once per session, on first use (it builds the demo ViT first if ``make demo-model`` has
not, as ``tests/integration/test_demo.py`` does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import REPO, ServerProcess, free_port, model_config_text
from tests.models import build_onnx_model, build_onnx_string_model, save_onnx_graph

__all__ = ["Zoo", "start_zoo", "build_grey_model", "predict_half", "DEMO_MODELS", "IMAGES"]

DEMO_MODELS = REPO / "build" / "models"
IMAGES = REPO / "examples" / "images"


@dataclass(frozen=True, slots=True)
class Zoo:
    """The running server: ``rest`` is its base URL, ``grpc`` its ``host:port``."""

    server: ServerProcess
    rest: str
    grpc: str


def build_grey_model(dest_dir: Path) -> Path:
    """``pixels`` uint8 ``[batch, 1, 20, 12]`` (a grey image, NCHW) -> ``total`` int64
    ``[batch, 1]`` (the sum of its pixels), as ONNX."""
    from onnx import TensorProto, helper

    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["wide"], to=TensorProto.INT64),
            helper.make_node("ReduceSum", ["wide", "axes"], ["summed"], keepdims=0),
        ],
        "grey",
        inputs=[helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", 1, 20, 12])],
        outputs=[helper.make_tensor_value_info("summed", TensorProto.INT64, ["batch", 1])],
        initializer=[axes],
    )
    return save_onnx_graph(graph, dest_dir)


def predict_half(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m shiba predict half --json - ARGS`` with x 2.0 and k 3 on standard input (the
    ``half`` model answers z = x * k = 6), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "shiba", "predict", "half", "--json", "-", *args],
        input=json.dumps({"instances": [{"x": [2.0], "k": [3]}]}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_zoo(folder: Path) -> Zoo:
    """Builds what is missing and starts the server (``ViT``, ``half``, ``echo``, ``grey``)."""
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build_vit.py"), "--out", str(DEMO_MODELS)],
        check=True,
        timeout=900,
    )
    build_onnx_model(folder / "half")
    build_onnx_string_model(folder / "echo")
    build_grey_model(folder / "grey")
    config = folder / "models.config"
    config.write_text(
        model_config_text(
            f'name: "ViT" base_path: "{DEMO_MODELS / "ViT"}" model_platform: "tensorflow"',
            f'name: "half" base_path: "{folder / "half"}" model_platform: "onnx"',
            f'name: "echo" base_path: "{folder / "echo"}" model_platform: "onnx"',
            f'name: "grey" base_path: "{folder / "grey"}" model_platform: "onnx"',
        )
    )
    grpc_port = free_port()
    server = ServerProcess(
        [f"--model_config_file={config}", f"--port={grpc_port}", "--onnx_engine=onnxruntime"],
        folder / "zoo.log",
    )
    server.wait_ready()
    return Zoo(server, server.url, f"127.0.0.1:{grpc_port}")
