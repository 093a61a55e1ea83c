from __future__ import annotations

import pytest

from shiba.core.lifecycle.version_policy import All, Latest, Specific


def test_latest() -> None:
    assert Latest().select([1, 3, 2]) == {3}
    assert Latest(2).select([1, 3, 2]) == {2, 3}
    assert Latest(5).select([1]) == {1}
    assert Latest().select([]) == frozenset()
    with pytest.raises(ValueError, match="at least 1"):
        Latest(0)


def test_all_and_specific() -> None:
    assert All().select([1, 2]) == {1, 2}
    assert Specific(frozenset({2, 9})).select([1, 2, 3]) == {2}
