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

#: Platform name -> ``"module:Class"`` of its runtime. Detection tries them in this order: a
#: Python model first, as its folder may also hold the model it wraps.
RUNTIMES: Mapping[str, str] = MappingProxyType(
    {
        "python": "shiba.runtimes.python:PythonRuntime",
        "tensorflow": "shiba.runtimes.tensorflow:SavedModelRuntime",
        "onnx": "shiba.runtimes.onnx:OnnxRuntime",
        "pytorch": "shiba.runtimes.torch:TorchRuntime",
    }
)

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
                    NotFound(f"no model found in {version_dir}: expected {_model_files()}")
                )
        runtime = get_runtime(platform)
        missing = _missing_framework(runtime)
        if missing is not None:
            return FailingLoader(missing)
        return runtime.loader(servable_id, version_dir, options)
    except ShibaError as err:
        return FailingLoader(err)
    except Exception as err:
        return FailingLoader(
            Internal(f"cannot make a {platform} loader for {servable_id}: {err!r}")
        )


def _model_files() -> str:
    """Every runtime's model files, as a user reads them: ``a, b or c``."""
    names = [name for platform in RUNTIMES for name in get_runtime(platform).model_files]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _missing_framework(runtime: Runtime) -> ShibaError | None:
    module = runtime.framework
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return FailedPrecondition(
        f"the {runtime.platform} runtime needs the {module} package, which is not installed: "
        f"install it with: pip install 'shiba[{runtime.extra}]'"
    )


class FailingLoader:
    """A loader whose ``load`` raises ``error`` (a fresh copy each time); ``unload`` does nothing."""

    def __init__(self, error: ShibaError) -> None:
        self.error = error

    def load(self) -> NoReturn:
        raise type(self.error)(self.error.message, code=self.error.code)

    def unload(self) -> None:
        return None
