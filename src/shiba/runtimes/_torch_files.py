"""Reading PyTorch model files, shared by the ``pytorch`` runtime and OpenVINO's converter.

Reading and converting PyTorch models is not thread-safe, and the manager loads on two threads:

- ``torch.export.load`` sets a process-wide deserializer; two at once fail with
  "_CURRENT_DESERIALIZER is already set" (torch 2.13);
- an exported program's ``module()`` and OpenVINO's conversion of it register Python kernels in
  torch's dispatcher; two at once fail with "Trying to override a python impl for
  DispatchKey.AutogradPrivateUse1 on operator aten::hinge_embedding_loss".

So every caller in the process reads, unpacks and converts while holding :data:`TORCH_LOCK` (loads
are rare; requests never take it). Framework-free to import: callers pass the ``torch`` module
they imported.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = ["SCRIPT_FILE", "EXPORT_FILE", "TORCH_LOCK", "load_exported", "load_script"]

#: A TorchScript file (``torch.jit.save``).
SCRIPT_FILE = "model.pt"
#: An exported program (``torch.export.save``); served rather than ``model.pt`` when both are there.
EXPORT_FILE = "model.pt2"

#: Held while a PyTorch model is read, unpacked or converted, by whoever does it. Reentrant.
TORCH_LOCK = threading.RLock()


def load_exported(torch: Any, path: Path) -> Any:
    """``torch.export.load(path)``, holding :data:`TORCH_LOCK`."""
    with TORCH_LOCK:
        return torch.export.load(str(path))


def load_script(torch: Any, path: Path) -> Any:
    """``torch.jit.load(path)`` onto the CPU, in eval mode, holding :data:`TORCH_LOCK`."""
    with TORCH_LOCK:
        return torch.jit.load(str(path), map_location="cpu").eval()
