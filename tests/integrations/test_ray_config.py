"""The model config board's bookkeeping in this process (no Ray cluster): generations, a publish
based on a generation that is no longer the latest, and when a generation counts as applied; and
a replica's ``ConfigSync.apply_models`` (the model repository's) against such a board, its actor
calls made in this process."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shiba.config.model_config import model_config_text, model_configs_from_text
from shiba.core.errors import Code, ShibaError
from shiba.core.lifecycle.source import ModelConfig
from shiba.integrations import ray_config
from shiba.integrations.ray_config import ConfigBoard, ConfigSync


def test_publish_numbers_generations_and_refuses_a_stale_base() -> None:
    board = ConfigBoard()
    assert board.latest() == 0
    assert board.poll("r1", (0, None)) == (0, "")
    assert board.publish("first", based_on=0) == 1
    assert board.publish("second") == 2  # a reload replaces whatever is there
    assert board.publish("lost", based_on=1) == 0  # made from generation 1: refused
    assert board.poll("r1", (0, None)) == (2, "second")
    assert board.publish("third", based_on=2) == 3
    assert board.latest() == 3


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


class _Method:
    """An actor method's stand-in: ``remote`` calls the board in this process."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)


class _Actor:
    def __init__(self, board: ConfigBoard) -> None:
        self._board = board

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self._board, name))


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> ConfigBoard:
    """The board a ``ConfigSync`` made now talks to, in this process (``ray.get`` is the value)."""
    board = ConfigBoard()
    stand_in = SimpleNamespace(
        get_actor=lambda name, namespace: _Actor(board), get=lambda value, timeout: value
    )
    monkeypatch.setattr("shiba.integrations.ray_config.ray", stand_in)
    return board


MODELS = [ModelConfig("half", Path("/models/half"))]


def test_apply_models_publishes_the_models_as_config_text(board: ConfigBoard) -> None:
    ConfigSync().apply_models(MODELS)
    generation, text = board.poll("r1", (0, None))
    assert generation == 1
    assert model_configs_from_text(text) == tuple(MODELS)


def test_apply_models_raises_a_replicas_error(board: ConfigBoard) -> None:
    board.poll("r2", (1, (int(Code.FAILED_PRECONDITION), "label on version 9")))
    with pytest.raises(ShibaError, match="label on version 9"):
        ConfigSync().apply_models(MODELS)


def test_apply_models_does_not_overwrite_a_change_published_meanwhile(board: ConfigBoard) -> None:
    sync = ConfigSync()
    board.publish("a reload on another replica")  # this replica has not applied it yet
    with pytest.raises(ShibaError, match="send the request again") as caught:
        sync.apply_models(MODELS)
    assert caught.value.code is Code.ABORTED
    assert board.poll("r1", (0, None)) == (1, "a reload on another replica")


def test_apply_models_does_not_answer_for_a_change_that_replaced_it(
    board: ConfigBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = board.outcome

    def replaced_meanwhile(generation: int) -> tuple[bool, tuple[int, str] | None]:
        if board.latest() == generation:
            board.publish("a reload on another replica")
        return outcome(generation)

    monkeypatch.setattr(board, "outcome", replaced_meanwhile)
    with pytest.raises(ShibaError) as caught:
        ConfigSync().apply_models(MODELS)
    assert caught.value.code is Code.ABORTED


class _RecordingApplier:
    """What ``ConfigSync`` uses of a ``ConfigApplier``: the model configs it was given, in order."""

    def __init__(self) -> None:
        self.applied: list[tuple[ModelConfig, ...]] = []

    def apply(self, models: tuple[ModelConfig, ...]) -> None:
        self.applied.append(tuple(models))


def test_a_replica_never_goes_back_to_an_older_generation(board: ConfigBoard) -> None:
    """Two appliers of the poller may both start before either holds the lock; whichever runs
    last, the replica keeps the newest generation it applied and reports it."""
    sync = ConfigSync()
    applier = _RecordingApplier()
    older = model_config_text([ModelConfig("old", Path("/models/old"))])
    newer = model_config_text(MODELS)
    sync._apply(applier, 2, newer)  # type: ignore[arg-type]
    sync._apply(applier, 1, older)  # type: ignore[arg-type]
    sync._apply(applier, 2, newer)  # type: ignore[arg-type]
    assert applier.applied == [tuple(MODELS)]
    assert sync._report == (2, None)
