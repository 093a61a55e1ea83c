"""Which of the versions found on disk should be served: pure functions, unit-tested alone.

TensorFlow Serving's ``model_version_policy``: ``latest { num_versions }`` (the default, one),
``all {}``, and ``specific { versions }``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["VersionPolicy", "Latest", "All", "Specific"]


@dataclass(frozen=True, slots=True)
class Latest:
    """The ``num_versions`` highest versions."""

    num_versions: int = 1

    def __post_init__(self) -> None:
        if self.num_versions < 1:
            raise ValueError(f"latest num_versions must be at least 1, got {self.num_versions}")

    def select(self, found: Iterable[int]) -> frozenset[int]:
        return frozenset(sorted(set(found), reverse=True)[: self.num_versions])


@dataclass(frozen=True, slots=True)
class All:
    """Every version found."""

    def select(self, found: Iterable[int]) -> frozenset[int]:
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class Specific:
    """Only the listed versions, those of them that are found."""

    versions: frozenset[int]

    def select(self, found: Iterable[int]) -> frozenset[int]:
        return frozenset(found) & self.versions


VersionPolicy = Latest | All | Specific
