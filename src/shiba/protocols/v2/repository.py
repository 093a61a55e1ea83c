"""What the v2 routes need from the layers above them: the model repository they may load from and
unload to (``server/repository.py`` implements it; ``server/compose.py`` gives it to the data
plane). How a model's requests are batched is ``codecs.v2.documents.DynamicBatching``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["RepositoryModel", "ModelRepository"]


@dataclass(frozen=True, slots=True)
class RepositoryModel:
    """One row of the repository index: a model, and per version its state (Triton's words:
    ``READY``, ``LOADING``, ``UNLOADING``, ``UNAVAILABLE``) and why (an error, or "")."""

    name: str
    version: str
    state: str
    reason: str = ""


class ModelRepository(Protocol):
    """The models shiba may serve, and loading and unloading them at run time.

    ``load`` and ``unload`` block until the model is served (or has failed: they raise a
    ``ShibaError`` saying why) or is gone; callers run them off the event loop. Both keep the
    lifecycle's guarantees: a model being replaced keeps answering until its new version is
    available.
    """

    def served(self) -> Sequence[str]:
        """The models shiba is asked to serve now (for server readiness)."""
        ...

    def index(self, ready_only: bool) -> list[RepositoryModel]:
        """Every model of the repository, served or not; only READY versions if ``ready_only``."""
        ...

    def load(self, name: str) -> None: ...

    def unload(self, name: str) -> None: ...
