"""Runtimes by platform name, imported only when a model needs one.

``make_loader`` never raises: a platform it cannot serve (unknown, undetectable, or whose framework is
not installed) gives a loader whose ``load`` raises a ``ShibaError`` saying what to do, so the problem
shows in that model's status and the server keeps serving the others. Importing this module imports
no runtime and no framework. Everything here is thread-safe.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

from shiba.core.errors import FailedPrecondition, Internal, NotFound, ShibaError
from shiba.core.ids import ServableId
from shiba.core.loader import Loader
from shiba.runtimes.base import Runtime, RuntimeOptions

__all__ = ["RUNTIMES", "get_runtime", "detect_platform", "make_loader", "FailingLoader"]

#: Platform name -> ``"module:Class"`` of its runtime. Detection tries them in this order.
RUNTIMES: Mapping[str, str] = MappingProxyType(
    {
        "tensorflow": "shiba.runtimes.tensorflow:SavedModelRuntime",
        "onnx": "shiba.runtimes.onnx:OnnxRuntime",
    }
)

# The framework package each runtime imports in ``load``, and the shiba extra that installs it.
_FRAMEWORKS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"tensorflow": ("tensorflow", "tensorflow"), "onnx": ("onnxruntime", "onnx")}
)
_MODEL_FILES = "saved_model.pb (or saved_model.pbtxt) or model.onnx"

_instances: dict[str, Runtime] = {}
_lock = threading.Lock()


def get_runtime(platform: str) -> Runtime:
    """The runtime serving ``platform`` (one shared instance). Imports its module, not its framework.

    Raises ``FailedPrecondition`` for a platform shiba does not know.
    """
    runtime = _instances.get(platform)
    if runtime is not None:
        return runtime
    target = RUNTIMES.get(platform)
    if target is None:
        raise FailedPrecondition(
            f"unknown platform {platform!r}: shiba serves {', '.join(sorted(RUNTIMES))}"
        )
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    with _lock:
        return _instances.setdefault(platform, cls())


def detect_platform(version_dir: Path) -> str | None:
    """The first platform whose runtime recognises ``version_dir`` by its file names, or ``None``."""
    for platform in RUNTIMES:
        if get_runtime(platform).detect(version_dir):
            return platform
    return None


def make_loader(
    platform: str | None, servable_id: ServableId, version_dir: Path, options: RuntimeOptions
) -> Loader:
    """A loader for one version; ``platform=None`` detects it from the folder. Never raises."""
    try:
        if platform is None:
            platform = detect_platform(version_dir)
            if platform is None:
                return FailingLoader(
                    NotFound(f"no model found in {version_dir}: expected {_MODEL_FILES}")
                )
        runtime = get_runtime(platform)
        missing = _missing_framework(platform)
        if missing is not None:
            return FailingLoader(missing)
        return runtime.loader(servable_id, version_dir, options)
    except ShibaError as err:
        return FailingLoader(err)
    except Exception as err:
        return FailingLoader(
            Internal(f"cannot make a {platform} loader for {servable_id}: {err!r}")
        )


def _missing_framework(platform: str) -> ShibaError | None:
    framework = _FRAMEWORKS.get(platform)
    if framework is None:
        return None
    module, extra = framework
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return FailedPrecondition(
        f"the {platform} runtime needs the {module} package, which is not installed: "
        f"install it with: pip install 'shiba[{extra}]'"
    )


class FailingLoader:
    """A loader whose ``load`` raises ``error`` (a fresh copy each time); ``unload`` does nothing."""

    def __init__(self, error: ShibaError) -> None:
        self.error = error

    def load(self) -> NoReturn:
        raise type(self.error)(self.error.message, code=self.error.code)

    def unload(self) -> None:
        return None
