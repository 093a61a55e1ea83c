"""The model config board's bookkeeping in this process (no Ray cluster): generations, a publish
based on a generation that is no longer the latest, and when a generation counts as applied."""

from __future__ import annotations

import time

import pytest

from shiba.core.errors import Code, ShibaError
from shiba.integrations import ray_config
from shiba.integrations.ray_config import ConfigBoard


def test_publish_numbers_generations_and_refuses_a_stale_base() -> None:
    board = ConfigBoard()
    assert board.poll("r1", (0, None)) == (0, "")
    assert board.publish("first", based_on=0) == 1
    assert board.publish("second") == 2  # a reload replaces whatever is there
    assert board.publish("lost", based_on=1) == 0  # made from generation 1: refused
    assert board.poll("r1", (0, None)) == (2, "second")
    assert board.publish("third", based_on=2) == 3


def test_a_generation_is_done_once_every_live_replica_applied_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # the board's clock
    board = ConfigBoard()
    generation = board.publish("config")
    board.poll("r1", (generation, None))
    board.poll("r2", (0, None))
    assert board.outcome(generation) == (False, None)
    board.poll("r2", (generation, None))
    assert board.outcome(generation) == (True, None)

    newer = board.publish("newer")
    clock[0] += ray_config._LIVE_SECONDS + 1  # r2 stops reporting (it died)
    board.poll("r1", (generation, None))
    assert board.outcome(newer) == (False, None)  # r1 is live and has not applied it yet
    board.poll("r1", (newer, None))
    assert board.outcome(newer) == (True, None)  # r2 is no longer waited for
    board.leave("r1")
    assert board.outcome(newer + 1) == (True, None)  # no replica left to wait for


def test_the_first_error_applying_a_generation_is_its_outcome() -> None:
    board = ConfigBoard()
    generation = board.publish("config")
    board.poll("r1", (generation, (int(Code.FAILED_PRECONDITION), "label on version 9")))
    board.poll("r2", (0, None))
    done, error = board.outcome(generation)
    assert done and error == (Code.FAILED_PRECONDITION, "label on version 9")
    with pytest.raises(ShibaError, match="label on version 9") as caught:
        ray_config._settled((done, error))
    assert caught.value.code is Code.FAILED_PRECONDITION
    assert ray_config._settled((True, None)) and not ray_config._settled((False, None))
