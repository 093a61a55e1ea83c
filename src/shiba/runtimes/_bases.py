"""What every runtime's classes share: the servable's signatures, the loader's one version.

Outside the runtime packages so that each may use it and still import no other runtime (the
import-linter contract "runtimes are independent").

- :class:`SignedServable`: a servable's read-only ``signatures`` mapping, fixed at construction.
  Every runtime's servable (and OpenVINO's) subclasses it and defines ``run`` and ``close``.
- :class:`VersionLoader`: a loader of one version folder (``servable_id``, ``version_dir``,
  ``options``) that keeps the servable ``load`` made and closes it in ``unload``.
- :class:`FileRuntime`: a runtime that serves a version folder holding one of its
  ``model_files`` through its ``loader_type``.
- :func:`check_shape`: an input's shape against its spec, per request, in the servables that
  check shapes themselves (``pytorch``, ``python``).
- :func:`as_bytes`: a string array as ``DT_STRING``'s numpy form (an ``object`` array of
  ``bytes``), for the servables whose models answer with text (``onnx``, ``python``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from shiba.core.errors import InvalidArgument
from shiba.core.ids import ServableId
from shiba.core.loader import Loader
from shiba.core.servable import Servable
from shiba.core.tensors import Signature, TensorSpec
from shiba.runtimes.base import RuntimeOptions

__all__ = ["SignedServable", "VersionLoader", "FileRuntime", "check_shape", "as_bytes"]

_S = TypeVar("_S", bound=Servable)


class SignedServable:
    """The ``signatures`` half of ``shiba.core.servable.Servable``: a read-only copy of the mapping
    given at construction, the same object on every read (callers may key caches on it)."""

    def __init__(self, signatures: Mapping[str, Signature]) -> None:
        self._signatures: Mapping[str, Signature] = MappingProxyType(dict(signatures))

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures


class VersionLoader(ABC, Generic[_S]):
    """A loader of one version folder. Subclasses define ``_build``, which makes the servable;
    ``load`` calls it once and keeps what it made, ``unload`` closes that and forgets it (a later
    ``load`` builds a new one). Not thread-safe (the manager serialises it)."""

    def __init__(self, servable_id: ServableId, version_dir: Path, options: RuntimeOptions) -> None:
        self.servable_id = servable_id
        self.version_dir = Path(version_dir)
        self.options = options
        self._servable: _S | None = None

    def load(self) -> _S:
        """The version's servable, built on the first call (see ``shiba.core.loader.Loader``)."""
        if self._servable is None:
            self._servable = self._build()
        return self._servable

    @abstractmethod
    def _build(self) -> _S:
        """A new servable of the version; raises ``ShibaError`` when it cannot be made."""

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()


class FileRuntime:
    """A runtime whose version folder holds one of ``model_files`` (``detect``: any of them is a
    file) and whose loader is ``loader_type(servable_id, version_dir, options)``. Subclasses set
    the class attributes of ``shiba.runtimes.base.Runtime`` and ``loader_type``."""

    model_files: ClassVar[tuple[str, ...]]
    loader_type: ClassVar[type[VersionLoader[Any]]]

    @classmethod
    def detect(cls, version_dir: Path) -> bool:
        return any((version_dir / name).is_file() for name in cls.model_files)

    def loader(self, servable_id: ServableId, version_dir: Path, options: RuntimeOptions) -> Loader:
        return self.loader_type(servable_id, version_dir, options)


def check_shape(name: str, spec: TensorSpec, shape: tuple[int, ...]) -> None:
    """``InvalidArgument`` naming input ``name``, the shape ``spec`` expects and the one it got,
    when ``shape`` does not fit ``spec``."""
    if not spec.shape_matches(shape):
        raise InvalidArgument(
            f"input '{name}' expects shape {spec.describe_shape()} but got {list(shape)}"
        )


def as_bytes(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """An ``object`` array of ``bytes`` of ``array``'s shape: ``str`` items UTF-8 encoded, others
    through ``bytes()`` (which raises TypeError for an item it cannot take)."""
    items = [x.encode() if isinstance(x, str) else bytes(x) for x in array.ravel()]
    return np.array(items, dtype=object).reshape(array.shape)
