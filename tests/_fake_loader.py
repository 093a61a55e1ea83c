"""FakeLoader: a Loader that loads a given servable, fails on demand and counts live instances."""

from __future__ import annotations

import threading
from collections.abc import Callable

from shiba.core.errors import ShibaError
from shiba.core.servable import Servable


class FakeLoader:
    """Loads ``make()``'s servable after ``delay`` seconds, or raises ``fail`` (for ``fail_times``).

    Class-level ``live`` counts servables loaded and not yet unloaded, across all instances.
    """

    live = 0
    _lock = threading.Lock()

    def __init__(
        self,
        make: Callable[[], Servable],
        *,
        fail: Exception | None = None,
        fail_times: int = 1_000_000,
        gate: threading.Event | None = None,
    ) -> None:
        self._make = make
        self._fail = fail
        self._fail_times = fail_times
        self._gate = gate
        self.loads = 0
        self.unloads = 0
        self.servable: Servable | None = None

    def load(self) -> Servable:
        self.loads += 1
        if self._gate is not None:
            self._gate.wait(30)
        if self._fail is not None and self.loads <= self._fail_times:
            raise self._fail
        self.servable = self._make()
        with FakeLoader._lock:
            FakeLoader.live += 1
        return self.servable

    def unload(self) -> None:
        self.unloads += 1
        if self.servable is not None:
            self.servable.close()
            self.servable = None
            with FakeLoader._lock:
                FakeLoader.live -= 1


__all__ = ["FakeLoader", "ShibaError"]
