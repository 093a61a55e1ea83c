"""Keeps Python's garbage collector off the request path.

A loaded TensorFlow model is millions of objects tracked by the cyclic garbage collector. Each
full (oldest-generation) collection walks all of them while holding the GIL: under W1 load at 64
connections that was a 100-140 ms stall every few seconds, the whole of the p99 latency (p99 143
ms with collections, 20 ms without; the same run's p50 11.7 and 10.8 ms). ``gc.freeze`` moves
every object alive at that moment out of the collector's sight, so later collections only walk
what requests allocate, which reference counting frees anyway.

:class:`HeapFreezer` is a manager state listener: when a version becomes AVAILABLE it collects
once (the garbage its load left) and freezes; when a version ends (unloaded, or failed), it
unfreezes, collects (so that a model's reference cycles are freed with it) and freezes again.
Both pauses happen on the manager's threads at load and unload time, not while requests wait on
a collection they did not cause.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from shiba.core.lifecycle.states import ManagerState, ServableState

__all__ = ["HeapFreezer"]

log = logging.getLogger(__name__)


class HeapFreezer:
    """A ``StateListener`` that freezes the heap after loads and refreshes it after unloads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, state: ServableState) -> None:
        if state.state is ManagerState.AVAILABLE:
            self._collect_and_freeze(unfreeze=False)
        elif state.state is ManagerState.END:
            self._collect_and_freeze(unfreeze=True)

    def _collect_and_freeze(self, *, unfreeze: bool) -> None:
        with self._lock:
            start = time.perf_counter()
            if unfreeze:
                gc.unfreeze()
            gc.collect()
            gc.freeze()
            log.debug(
                "heap %s: %d objects frozen in %.0f ms",
                "refrozen" if unfreeze else "frozen",
                gc.get_freeze_count(),
                (time.perf_counter() - start) * 1000,
            )
