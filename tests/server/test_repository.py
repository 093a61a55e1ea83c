"""The v2 model repository over a real manager, source and config applier (fake loaders):
what it lists, loading and unloading by name, failures, and no failed request while it works."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import Code, FailedPrecondition, NotFound, ShibaError
from shiba.core.ids import ModelSpec
from shiba.core.lifecycle.manager import Manager
from shiba.core.lifecycle.source import AspiredVersion, ModelConfig
from shiba.core.lifecycle.states import ManagerState
from shiba.core.loader import Loader
from shiba.server.reload import ConfigApplier
from shiba.server.repository import Repository
from tests.fakes import FakeLoader, FakeServable
from tests.server._support import fake_applier, model_folder


@dataclass
class Parts:
    """Configured model ``a`` (outside the folder); the folder holds ``b`` (version 1), ``c``
    (no versions) and ``d`` (a version that fails to load)."""

    manager: Manager
    applier: ConfigApplier
    configured: list[ModelConfig]
    folder: Path


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Parts]:
    a = model_folder(tmp_path / "config", "a", 1)
    folder = tmp_path / "repository"
    model_folder(folder, "b", 1)
    model_folder(folder, "c")
    model_folder(folder, "d", 1)

    def make(wanted: AspiredVersion) -> Loader:
        if wanted.id.name == "d":
            return FakeLoader(FakeServable, fail=FailedPrecondition("d is broken"))
        return FakeLoader(FakeServable)

    manager, applier = fake_applier(make)
    configured = [ModelConfig("a", a)]
    applier.apply(configured)
    yield Parts(manager, applier, configured, folder)
    manager.close()


@pytest.fixture
def parts(built: Parts) -> tuple[Repository, Manager]:
    """The repository over ``built``, applying with the applier itself."""
    repository = Repository(built.applier, built.manager, built.configured, built.folder)
    return repository, built.manager


def test_the_index_lists_configured_and_folder_models(parts: tuple[Repository, Manager]) -> None:
    repository, _ = parts
    rows = {(r.name, r.version, r.state) for r in repository.index(ready_only=False)}
    assert rows == {
        ("a", "1", "READY"),
        ("b", "", "UNAVAILABLE"),
        ("c", "", "UNAVAILABLE"),
        ("d", "", "UNAVAILABLE"),
    }
    assert [r.name for r in repository.index(ready_only=True)] == ["a"]
    assert repository.served() == ["a"]


def test_load_and_unload_a_folder_model(parts: tuple[Repository, Manager]) -> None:
    repository, manager = parts
    repository.load("b")
    assert repository.served() == ["a", "b"]
    assert [s.state for s in manager.model_states("b")] == [ManagerState.AVAILABLE]
    repository.unload("b")
    assert repository.served() == ["a"]
    assert [s.state for s in manager.model_states("b")] == [ManagerState.END]
    repository.unload("b")  # not served: nothing to do
    repository.unload("a")
    assert repository.served() == []
    repository.load("a")  # a configured model comes back from the start-up config
    assert repository.served() == ["a"]


@pytest.mark.parametrize("name", ["nope", "..", ".", "n" * 300, "nul\0"])
def test_unknown_models_are_not_found(parts: tuple[Repository, Manager], name: str) -> None:
    repository, _ = parts
    with pytest.raises(NotFound, match="not in the model repository"):
        repository.load(name)
    with pytest.raises(NotFound):
        repository.unload(name)


def test_a_failed_load_says_why_and_is_not_served(parts: tuple[Repository, Manager]) -> None:
    repository, _ = parts
    with pytest.raises(FailedPrecondition, match="d is broken"):
        repository.load("d")
    with pytest.raises(FailedPrecondition, match="no version folder found"):
        repository.load("c")
    assert repository.served() == ["a"]
    failed = [r for r in repository.index(ready_only=False) if r.name == "d"]
    assert failed[0].state == "UNAVAILABLE" and "d is broken" in failed[0].reason


def test_no_request_fails_while_models_are_loaded_and_unloaded(
    parts: tuple[Repository, Manager],
) -> None:
    repository, manager = parts
    stop = threading.Event()
    errors: list[BaseException] = []
    served = [0]

    def infer() -> None:
        while not stop.is_set():
            try:
                with manager.acquire(ModelSpec("a")) as handle:
                    handle.servable.run("serving_default", {"x": np.ones((1, 2), np.float32)})
                served[0] += 1
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=infer)
    thread.start()
    try:
        for _ in range(5):
            repository.load("b")
            repository.load("a")  # already served: polled again, stays AVAILABLE
            repository.unload("b")
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert served[0] > 0


class _Recorded:
    """An ``apply`` that records each model list before the applier applies it (as a Ray replica's
    publishes it before every replica applies it), or refuses every list with ``error``."""

    def __init__(self, applier: ConfigApplier, error: ShibaError | None = None) -> None:
        self.applier = applier
        self.error = error
        self.lists: list[list[str]] = []

    def __call__(self, models: Sequence[ModelConfig]) -> None:
        self.lists.append([m.name for m in models])
        if self.error is not None:
            raise self.error
        self.applier.apply(models)


def _with_apply(built: Parts, apply: _Recorded) -> Repository:
    return Repository(built.applier, built.manager, built.configured, built.folder, apply=apply)


def test_loads_and_unloads_go_through_the_given_apply(built: Parts) -> None:
    """Every change, the revert of a failed load included, is one call of ``apply``."""
    apply = _Recorded(built.applier)
    repository = _with_apply(built, apply)
    repository.load("b")
    repository.unload("b")
    with pytest.raises(FailedPrecondition, match="d is broken"):
        repository.load("d")
    assert apply.lists == [["a", "b"], ["a"], ["a", "d"], ["a"]]
    assert repository.served() == ["a"]


def test_an_apply_that_refuses_leaves_the_config_and_says_why(built: Parts) -> None:
    refusal = ShibaError("changed elsewhere; send it again", code=Code.ABORTED)
    apply = _Recorded(built.applier, refusal)
    repository = _with_apply(built, apply)
    with pytest.raises(ShibaError, match="send it again") as caught:
        repository.load("b")
    assert caught.value.code is Code.ABORTED
    assert apply.lists == [["a", "b"]]
    assert repository.served() == ["a"]
