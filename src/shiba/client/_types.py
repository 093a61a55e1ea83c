"""What the client returns: plain value objects, the same over REST and gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shiba.core.tensors import DType

__all__ = ["ModelRef", "TensorInfo", "SignatureInfo", "ModelMetadata", "VersionStatus"]


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model, and at most one of a version number or a version label (neither: the latest)."""

    name: str
    version: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a model name is required")
        if self.version is not None and self.label is not None:
            raise ValueError("give a version or a label, not both")


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One input or output of a signature: its alias, type and shape (``-1``: any size;
    ``shape`` is ``None`` when even the rank is unknown)."""

    name: str
    dtype: DType
    shape: tuple[int, ...] | None

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        """The numpy type of this tensor's values (``object`` for strings)."""
        return self.dtype.numpy


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """A signature: its method name and its inputs and outputs by alias, in the server's order."""

    name: str
    method: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """A model version's signatures, as its metadata API gives them."""

    name: str
    version: int
    signatures: dict[str, SignatureInfo]

    def signature(self, name: str) -> SignatureInfo:
        """The signature ``name``; ``KeyError`` naming the ones there are otherwise."""
        try:
            return self.signatures[name]
        except KeyError:
            known = ", ".join(sorted(self.signatures)) or "none"
            raise KeyError(
                f"model {self.name} has no signature {name!r}; it has: {known}"
            ) from None


@dataclass(frozen=True, slots=True)
class VersionStatus:
    """One version's state (``AVAILABLE``, ``LOADING``, ``END``, ...) and error, if any.

    ``engines`` maps each signature to the engine serving it and ``labels`` are the version's
    class names: both come from shiba's own API and are empty against another server."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""
    engines: tuple[tuple[str, str], ...] = ()
    labels: tuple[str, ...] = ()
