"""Builders of tiny PyTorch and Python models, each written as ``<dest_dir>/<version>/<files>``.

The network is a small conv net: ``image`` float32 ``[batch, 3, 32, 32]`` -> conv 3x3 (8 channels),
ReLU, mean over the pixels, linear -> ``[batch, 10]``; its weights come from ``seed``, so versions
built with other seeds answer differently. torch is imported inside the builders.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "IMAGE_SHAPE",
    "build_torch_script",
    "build_torch_export",
    "build_python_model",
    "torch_answer",
    "pixels_to_image",
]

#: One image, as the conv net takes it.
IMAGE_SHAPE = (3, 32, 32)

#: What ``build_torch_script`` declares beside ``model.pt``.
SCRIPT_SIGNATURE = {
    "inputs": {"image": {"dtype": "float32", "shape": [-1, 3, 32, 32]}},
    "outputs": {"output_0": {"dtype": "float32", "shape": [-1, 10]}},
}

_PYTHON_MODEL = '''\
"""Pre-processing around a TorchScript model: uint8 HWC pixels in, scores and a label out."""

import torch

from preprocess import to_image  # a file beside model.py


class ImageClassifier:
    signature = {
        "inputs": {"pixels": {"dtype": "uint8", "shape": [-1, 32, 32, 3]}},
        "outputs": {
            "scores": {"dtype": "float32", "shape": [-1, 10]},
            "label": {"dtype": "int64", "shape": [-1]},
        },
    }

    def load(self, path):
        self.net = torch.jit.load(path + "/model.pt").eval()

    def predict(self, inputs):
        if (inputs["pixels"] == 255).all():
            raise ValueError("an all-white image shows nothing to classify")
        with torch.inference_mode():
            scores = self.net(torch.from_numpy(to_image(inputs["pixels"]))).numpy()
        return {"scores": scores, "label": scores.argmax(axis=1)}
'''

_PREPROCESS = '''\
"""uint8 HWC pixels -> the float CHW image in [0, 1] the net takes."""

import numpy as np


def to_image(pixels):
    image = pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return np.ascontiguousarray(image)
'''


def _net(seed: int) -> Any:
    import torch

    class ConvNet(torch.nn.Module):  # type: ignore[misc]  # torch is Any to mypy
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 10)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(image)).mean(dim=(2, 3)))

    torch.manual_seed(seed)
    return ConvNet().eval()


def _example() -> Any:
    import torch

    return torch.rand(2, *IMAGE_SHAPE)


def build_torch_script(
    dest_dir: Path, version: int = 1, seed: int = 0, signature: bool = True
) -> Path:
    """Writes the traced conv net as ``model.pt`` (and ``signature.json`` unless ``signature`` is
    false); returns ``dest_dir/<version>``."""
    import torch

    out = Path(dest_dir) / str(version)
    out.mkdir(parents=True, exist_ok=True)
    traced = torch.jit.trace(_net(seed), _example())
    traced.save(str(out / "model.pt"))
    if signature:
        (out / "signature.json").write_text(json.dumps(SCRIPT_SIGNATURE))
    return out


def build_torch_export(dest_dir: Path, version: int = 1, seed: int = 0) -> Path:
    """Writes the conv net exported with a dynamic batch as ``model.pt2``; returns the folder."""
    import torch

    out = Path(dest_dir) / str(version)
    out.mkdir(parents=True, exist_ok=True)
    program = torch.export.export(
        _net(seed), (_example(),), dynamic_shapes={"image": {0: torch.export.Dim.DYNAMIC}}
    )
    torch.export.save(program, str(out / "model.pt2"))
    return out


def build_python_model(dest_dir: Path, version: int = 1, seed: int = 0) -> Path:
    """Writes ``model.py`` (:data:`_PYTHON_MODEL`: pixels -> scores, label) and the
    ``preprocess.py`` it imports beside the traced conv net it wraps; returns the folder."""
    out = build_torch_script(dest_dir, version, seed, signature=False)
    (out / "model.py").write_text(textwrap.dedent(_PYTHON_MODEL))
    (out / "preprocess.py").write_text(_PREPROCESS)
    return out


def torch_answer(version_dir: Path, image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The model in ``version_dir`` (``model.pt2`` or ``model.pt``) run by torch in this process."""
    import torch

    if (version_dir / "model.pt2").is_file():
        module = torch.export.load(str(version_dir / "model.pt2")).module()
    else:
        module = torch.jit.load(str(version_dir / "model.pt"))
    with torch.inference_mode():
        result: npt.NDArray[np.float32] = module(torch.from_numpy(image.copy())).numpy()
    return result


def pixels_to_image(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The Python model's pre-processing, for the tests' expected answers."""
    image: npt.NDArray[np.float32] = pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return np.ascontiguousarray(image)
