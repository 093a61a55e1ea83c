from __future__ import annotations

from shiba.core.lifecycle.states import ManagerState as S
from shiba.core.lifecycle.transition import next_actions


def test_loads_new_aspired_versions() -> None:
    actions = next_actions({1, 2}, {1: S.AVAILABLE})
    assert actions.load == {2}
    assert actions.unload == frozenset()


def test_old_version_serves_until_the_new_one_is_available() -> None:
    assert next_actions({2}, {1: S.AVAILABLE, 2: S.LOADING}).unload == frozenset()
    assert next_actions({2}, {1: S.AVAILABLE, 2: S.AVAILABLE}).unload == {1}


def test_a_failed_new_version_leaves_the_old_one_serving() -> None:
    actions = next_actions({2}, {1: S.AVAILABLE, 2: S.END})
    assert actions.unload == frozenset()
    assert actions.load == frozenset()


def test_removed_model_unloads_at_once_and_forgets_finished_versions() -> None:
    actions = next_actions(set(), {1: S.AVAILABLE, 2: S.END})
    assert actions.unload == {1}
    assert actions.forget == {2}
