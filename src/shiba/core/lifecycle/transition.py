"""The availability-preserving transition policy: a pure function, tested alone.

Given the versions a model's source aspires to and the states of the versions the manager holds, it
says which versions to start loading and which to unload now. A version that is no longer aspired is
unloaded only once an aspired version is AVAILABLE (so a model never goes dark during an update), or
at once when the model has no aspired versions left (it was removed). If every aspired version failed
to load, the old version keeps serving: a broken new export harms nothing that worked.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from shiba.core.lifecycle.states import ManagerState

__all__ = ["Actions", "next_actions"]


@dataclass(frozen=True, slots=True)
class Actions:
    load: frozenset[int]
    unload: frozenset[int]
    forget: frozenset[int]  # finished (END) versions no longer aspired: drop from the live set


def next_actions(aspired: Set[int], held: Mapping[int, ManagerState]) -> Actions:
    load = frozenset(v for v in aspired if v not in held)
    aspired_available = any(held.get(v) is ManagerState.AVAILABLE for v in aspired)
    may_unload = aspired_available or not aspired
    unload = frozenset(
        v
        for v, state in held.items()
        if v not in aspired and state is ManagerState.AVAILABLE and may_unload
    )
    forget = frozenset(
        v for v, state in held.items() if v not in aspired and state is ManagerState.END
    )
    return Actions(load, unload, forget)
