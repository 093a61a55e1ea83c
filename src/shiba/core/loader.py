"""The Loader protocol: how to load one model version, kept apart from when to load it."""

from __future__ import annotations

from typing import Protocol

from shiba.core.servable import Servable

__all__ = ["Loader"]


class Loader(Protocol):
    """Loads one model version.

    Cheap to construct (it holds a path and options). ``load`` does all the heavy work, on one of the
    manager's load threads, and raises ``ShibaError`` (or any exception, taken as INTERNAL) with a
    message a user can act on when the version cannot be served. ``unload`` frees what ``load`` made.
    The manager never calls ``load`` and ``unload`` concurrently, calls ``unload`` only after a
    successful ``load``, and never while a request still holds the servable.
    """

    def load(self) -> Servable: ...

    def unload(self) -> None: ...
