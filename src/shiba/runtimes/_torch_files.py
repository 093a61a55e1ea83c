"""Reading PyTorch model files, shared by the ``pytorch`` runtime and OpenVINO's converter.

``torch.export.load`` is not thread-safe: it sets a process-wide deserializer, and two loads at once
fail with "_CURRENT_DESERIALIZER is already set" (torch 2.13; seen with two models loading on
the manager's two load threads). Every caller in the process goes through :func:`load_exported`,
which holds one lock. ``torch.jit.load`` has no such state. Framework-free to import: callers pass
the ``torch`` module they imported.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = ["SCRIPT_FILE", "EXPORT_FILE", "load_exported", "load_script"]

#: A TorchScript file (``torch.jit.save``).
SCRIPT_FILE = "model.pt"
#: An exported program (``torch.export.save``); served rather than ``model.pt`` when both are there.
EXPORT_FILE = "model.pt2"

_export_lock = threading.Lock()


def load_exported(torch: Any, path: Path) -> Any:
    """``torch.export.load(path)``, one at a time in this process."""
    with _export_lock:
        return torch.export.load(str(path))


def load_script(torch: Any, path: Path) -> Any:
    """``torch.jit.load(path)`` onto the CPU, in eval mode."""
    return torch.jit.load(str(path), map_location="cpu").eval()
