"""How a request names a model version, and how a loaded version is named."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServableId", "ModelSpec"]


@dataclass(frozen=True, slots=True, order=True)
class ServableId:
    """A loaded (or loading) model version: the model's name and an integer version."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{{name: {self.name} version: {self.version}}}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a request addresses: a model, at most one of a version or a label, and a signature.

    With neither ``version`` nor ``label`` the request means the latest available version.
    ``signature_name`` empty means the default signature.
    """

    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    def describe(self) -> str:
        """TensorFlow Serving's wording for the request, e.g. ``Latest(half)``."""
        if self.version is not None:
            return f"Specific({self.name}, {self.version})"
        if self.label is not None:
            return f"Label({self.name}, {self.label})"
        return f"Latest({self.name})"
