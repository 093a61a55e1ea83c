"""The runtime interface: one small adapter per framework (the custom-runtime API is public).

A runtime says whether it can serve a version folder (``detect``) and makes a cheap ``Loader`` for
one. Heavy framework imports happen inside ``Loader.load``, never at module import. It also declares,
as class attributes, what the registry needs to know without importing its framework: its
``platform`` name, the ``framework`` package its loader imports, the ``extra`` that installs it,
and the ``model_files`` a version folder holds. Adding a runtime is one module and one line in
``shiba.runtimes.registry.RUNTIMES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from shiba.core.ids import ServableId
from shiba.core.loader import Loader

__all__ = ["Runtime", "RuntimeOptions"]


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Options every runtime receives.

    ``intra_op_threads`` / ``inter_op_threads``: 0 lets the framework choose (TensorFlow Serving's
    ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``).
    ``saved_model_tags``: the tag set of the SavedModel meta graph to load (``--saved_model_tags``,
    TensorFlow Serving's ``serve`` by default); runtimes of other formats ignore it.
    ``use_per_session_threads``: each TensorFlow session gets its own thread pools (the platform
    config's ``session_config.use_per_session_threads``).
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    saved_model_tags: frozenset[str] = frozenset({"serve"})
    use_per_session_threads: bool = False


class Runtime(Protocol):
    """A framework adapter, registered by platform name in ``shiba.runtimes.registry``.

    - ``platform``: its name in ``model_platform`` and in the registry (``"onnx"``).
    - ``framework``: the top-level package ``Loader.load`` imports (``"onnxruntime"``), or ``None``
      when it needs none; the registry checks it is installed before making a loader.
    - ``extra``: the ``shiba[extra]`` that installs ``framework``, named in the error when it is
      missing (``None`` when there is no framework).
    - ``model_files``: the file names ``detect`` looks for, as a user reads them
      (``("model.onnx",)``), for the error saying a folder holds no model.

    One instance per platform is shared by every model; ``detect`` and ``loader`` are thread-safe.
    """

    platform: ClassVar[str]
    framework: ClassVar[str | None]
    extra: ClassVar[str | None]
    model_files: ClassVar[tuple[str, ...]]

    @classmethod
    def detect(cls, version_dir: Path) -> bool:
        """True when ``version_dir`` holds a model this runtime serves. Cheap: looks at file names."""
        ...

    def loader(self, servable_id: ServableId, version_dir: Path, options: RuntimeOptions) -> Loader:
        """A loader for one version; must not import the framework or touch the files yet."""
        ...
