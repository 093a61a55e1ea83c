"""Reading PyTorch model files, shared by the ``pytorch`` runtime and OpenVINO's converter.

Reading and converting PyTorch models is not thread-safe, and the manager loads on two threads:

- ``torch.export.load`` sets a process-wide deserializer; two at once fail with
  "_CURRENT_DESERIALIZER is already set" (torch 2.13);
- an exported program's ``module()`` and OpenVINO's conversion of it register Python kernels in
  torch's dispatcher; two at once fail with "Trying to override a python impl for
  DispatchKey.AutogradPrivateUse1 on operator aten::hinge_embedding_loss".

So every caller in the process reads, unpacks and converts while holding :data:`TORCH_LOCK` (loads
are rare; requests never take it). Framework-free to import: callers import torch with
:func:`import_torch` and pass the module.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from shiba.core.errors import FailedPrecondition

__all__ = [
    "SCRIPT_FILE",
    "EXPORT_FILE",
    "MODEL_FILES",
    "TORCH_LOCK",
    "find_model_file",
    "import_torch",
    "load_exported",
    "load_script",
]

#: A TorchScript file (``torch.jit.save``).
SCRIPT_FILE = "model.pt"
#: An exported program (``torch.export.save``); served rather than ``model.pt`` when both are there.
EXPORT_FILE = "model.pt2"

#: The model files in the order they are served: ``model.pt2`` when both are there.
MODEL_FILES = (EXPORT_FILE, SCRIPT_FILE)

#: Held while a PyTorch model is read, unpacked or converted, by whoever does it. Reentrant.
TORCH_LOCK = threading.RLock()


def find_model_file(version_dir: Path) -> Path | None:
    """The file of :data:`MODEL_FILES` the folder serves (the first it holds); ``None`` if none."""
    return next((version_dir / n for n in MODEL_FILES if (version_dir / n).is_file()), None)


def import_torch(needed_by: str) -> Any:
    """The ``torch`` module; ``FailedPrecondition`` saying that ``needed_by`` (what the caller
    does) needs it and how to install it when it cannot be imported."""
    try:
        import torch
    except ImportError as err:
        raise FailedPrecondition(
            f"{needed_by} needs torch, which cannot be imported ({err}): "
            "install it with: pip install 'shiba[torch]'"
        ) from err
    return torch


def load_exported(torch: Any, path: Path) -> Any:
    """``torch.export.load(path)``, holding :data:`TORCH_LOCK`."""
    with TORCH_LOCK:
        return torch.export.load(str(path))


def load_script(torch: Any, path: Path) -> Any:
    """``torch.jit.load(path)`` onto the CPU, in eval mode, holding :data:`TORCH_LOCK`."""
    with TORCH_LOCK:
        return torch.jit.load(str(path), map_location="cpu").eval()
