"""HeapFreezer: loaded objects leave the collector's sight; an unload frees a model's cycles."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from shiba.core.ids import ServableId
from shiba.core.lifecycle.states import ManagerState, ServableState
from shiba.server.heap import HeapFreezer

SID = ServableId("m", 1)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_available_freezes_what_is_alive() -> None:
    kept = [Node() for _ in range(100)]
    HeapFreezer()(ServableState(SID, ManagerState.AVAILABLE))
    assert gc.get_freeze_count() >= len(kept)
    assert all(gc.is_tracked(node) for node in kept)


def test_a_cycle_frozen_with_a_model_is_freed_when_a_version_ends() -> None:
    freezer = HeapFreezer()
    model = cycle()  # unreachable from now on, but alive until a collection sees it
    gc.disable()
    try:
        freezer(ServableState(SID, ManagerState.AVAILABLE))
        assert model() is None  # the load's own garbage is collected before freezing
        model = cycle()
        gc.freeze()  # as if the cycle had been alive at the freeze
        gc.collect()
        assert model() is not None  # frozen: collections do not see it
        freezer(ServableState(SID, ManagerState.END))
        assert model() is None
        assert gc.get_freeze_count() > 0  # and the rest is frozen again
    finally:
        gc.enable()


def test_other_states_change_nothing() -> None:
    HeapFreezer()(ServableState(SID, ManagerState.LOADING))
    assert gc.get_freeze_count() == 0
