"""The PyTorch rows of ``benchmarks/run.py``: a small CNN as TorchScript, on W1.

    .venv/bin/python benchmarks/torch_row.py [--duration 10]

The model (:func:`build`, written once to ``build/models/TorchCNN/1/model.pt`` with its
``signature.json``) takes W1's images as they come, ``[N, 32, 32, 3]`` float32 pixels 0-255: scales
and transposes them, three 3x3 convolutions (16, 32, 64 channels, ReLU, 2x2 max pools), a mean over
the pixels and a linear layer to 10 scores. Measured, in one run:

  * the limit: the module called by torch in-process (no shiba) at batch 1 and batch 64, and the
    same signature on OpenVINO after shiba's verification (``--torch_engine=auto``'s candidate);
  * shiba REST on W1 at concurrency 1 and 64, batching on (``batching_w1.txt``), with
    ``--torch_engine=torch`` and ``--torch_engine=auto`` (OpenVINO where verified);
  * the ratios: shiba c=64 to torch's in-process batch 64.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import run

MODEL = run.MODELS / "TorchCNN"
SIGNATURE = {
    "inputs": {"images": {"dtype": "float32", "shape": [-1, 32, 32, 3]}},
    "outputs": {"output_0": {"dtype": "float32", "shape": [-1, 10]}},
}


def build() -> Path:
    """Writes the CNN (seed 0) as TorchScript once; returns its version folder."""
    out = MODEL / "1"
    if (out / "model.pt").is_file():
        return out
    import torch

    class SmallCNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = torch.nn.Sequential(
                torch.nn.Conv2d(3, 16, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(2),
                torch.nn.Conv2d(16, 32, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(2),
                torch.nn.Conv2d(32, 64, 3, padding=1),
                torch.nn.ReLU(),
            )
            self.head = torch.nn.Linear(64, 10)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            x = images.permute(0, 3, 1, 2) / 255.0
            return self.head(self.features(x).mean(dim=(2, 3)))

    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    traced = torch.jit.trace(SmallCNN().eval(), torch.rand(2, 32, 32, 3) * 255)
    traced.save(str(out / "model.pt"))
    (out / "signature.json").write_text(json.dumps(SIGNATURE))
    return out


def limit(engine: str, seconds: float) -> dict[str, float]:
    """Runs in a child process: images/s at batch 64 and the batch-1 p50, on ``engine``."""
    import torch

    from shiba.core.ids import ServableId
    from shiba.runtimes import openvino
    from shiba.runtimes.base import RuntimeOptions
    from shiba.runtimes.torch import TorchLoader

    version = MODEL / "1"
    if engine == "torch":
        module = torch.jit.load(str(version / "model.pt")).eval()

        def call(x: Any) -> Any:
            with torch.inference_mode():
                return module(torch.from_numpy(x))
    else:
        reference = TorchLoader(ServableId("TorchCNN", 1), version, RuntimeOptions()).load()
        candidate = openvino.build_torch_candidate(version, reference.signatures, RuntimeOptions())
        assert candidate.servable is not None, candidate.rejected
        servable = candidate.servable

        def call(x: Any) -> Any:
            return servable.run("serving_default", {"images": x})

    medians = run.median_seconds(call, (1, 64), seconds)
    result = {f"batch{batch}": batch / median for batch, median in medians.items()}
    result["batch1_p50_ms"] = medians[1] * 1e3
    return result


def measure_limit(engine: str, seconds: float) -> dict[str, float]:
    here = str(Path(__file__).parent)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import torch_row; "
        f"print(json.dumps(torch_row.limit({engine!r}, {seconds!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def shiba_rows(body_file: Path, seconds: float, engine: str) -> dict[int, run.Load]:
    port = run.free_port()
    args = [
        str(run.BIN / "shiba"),
        "serve",
        "--model_name=TorchCNN",
        f"--model_base_path={MODEL}",
        f"--rest_api_port={port}",
        "--rest_api_host=127.0.0.1",
        "--port=0",
        "--log_level=warning",
        f"--torch_engine={engine}",
        "--enable_batching",
        f"--batching_parameters_file={run.REPO / 'benchmarks' / 'batching_w1.txt'}",
    ]
    with run.server(args, port, "/v1/models/TorchCNN") as (url, pid):
        return run.load_rows(url + "/v1/models/TorchCNN:predict", body_file, seconds, pid)


def rows(body_file: Path, seconds: float) -> list[str]:
    """The table rows (markdown), measuring everything above."""
    build()
    engines = ["torch"]
    from shiba.runtimes import openvino

    if openvino.available():
        engines.append("openvino")
    lines: list[str] = []
    limits = {}
    for engine in engines:
        print(f"measuring the PyTorch CNN in-process on {engine} ...", file=sys.stderr)
        limits[engine] = measure_limit(engine, min(3.0, seconds))
    served = {}
    for engine in engines:
        flag = "torch" if engine == "torch" else "auto"
        print(
            f"measuring shiba REST on the PyTorch CNN, --torch_engine={flag} ...", file=sys.stderr
        )
        served[engine] = shiba_rows(body_file, seconds, flag)
    for engine in engines:
        lim = limits[engine]
        lines.append(
            f"| limit, PyTorch CNN on {engine}: in-process batch 1, p50 "
            f"| {lim['batch1_p50_ms']:.2f} ms |"
        )
        lines.append(
            f"| limit, PyTorch CNN on {engine}: in-process batch 64 | {lim['batch64']:,.0f} img/s |"
        )
    for engine in engines:
        for c, load in served[engine].items():
            lines.append(
                f"| shiba REST, PyTorch CNN on {engine}, batching on, W1 c={c} "
                f"| {load.requests_per_s:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
                f"p99 {load.p99_ms:.2f} ms, {load.failures} failed of {load.requests} |"
            )
    torch64 = limits["torch"]["batch64"]
    for engine in engines:
        ratio = served[engine][64].requests_per_s / torch64
        lines.append(
            f"| ratio: shiba c=64 on {engine} / torch in-process batch 64 (PyTorch CNN) "
            f"| {ratio:.2f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shiba-bench-torch-"))
    body_file = work / "w1.json"
    body_file.write_bytes(run.w1_body())
    print("| what | figure |")
    print("|---|---|")
    for line in rows(body_file, args.duration):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
