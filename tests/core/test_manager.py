from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import Code, InvalidArgument, NotFound, Unavailable
from shiba.core.ids import ModelSpec, ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.lifecycle.states import ManagerState, ServableState
from shiba.core.loader import Loader
from shiba.core.servable import Outputs
from shiba.core.tensors import Signature, Tensors
from tests.fakes import FakeLoader


class _Versioned:
    """A servable that answers its own version."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.closed = False

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return {}

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        return {"version": np.array(self.version)}

    def close(self) -> None:
        self.closed = True


def aspired(name: str, *versions: int) -> list[AspiredVersion]:
    return [AspiredVersion(ServableId(name, v), Path(f"/m/{name}/{v}")) for v in versions]


class Harness:
    def __init__(self, **loader_kwargs: object) -> None:
        self.loaders: dict[ServableId, FakeLoader] = {}
        self.kwargs: dict[int, dict[str, object]] = {}
        self.events: list[ServableState] = []
        self.manager = Manager(
            self.make, ManagerOptions(max_num_load_retries=0), listeners=[self.events.append]
        )

    def make(self, wanted: AspiredVersion) -> Loader:
        version = wanted.id.version
        loader = FakeLoader(lambda: _Versioned(version), **self.kwargs.get(version, {}))  # type: ignore[arg-type]
        self.loaders[wanted.id] = loader
        return loader

    def serve(self, name: str, *versions: int) -> None:
        self.manager.set_aspired_versions(name, aspired(name, *versions))
        assert self.manager.wait_until_idle(10)

    def version_of(self, spec: ModelSpec) -> int:
        with self.manager.acquire(spec) as handle:
            servable = handle.servable
            assert isinstance(servable, _Versioned)
            return servable.version


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.manager.close()


def test_loads_and_serves_latest(h: Harness) -> None:
    h.serve("m", 1, 2)
    assert h.version_of(ModelSpec("m")) == 2
    assert h.version_of(ModelSpec("m", version=1)) == 1
    states = h.manager.model_states("m")
    assert [(s.id.version, s.state) for s in states] == [
        (2, ManagerState.AVAILABLE),
        (1, ManagerState.AVAILABLE),
    ]
    seen = [e.state for e in h.events if e.id.version == 2]
    assert seen == [ManagerState.START, ManagerState.LOADING, ManagerState.AVAILABLE]


def test_unknown_model_version_and_label(h: Harness) -> None:
    h.serve("m", 1)
    with pytest.raises(NotFound, match=r"Servable not found for request: Latest\(x\)"):
        h.manager.acquire(ModelSpec("x"))
    with pytest.raises(NotFound, match=r"Specific\(m, 3\)"):
        h.manager.acquire(ModelSpec("m", version=3))
    with pytest.raises(InvalidArgument, match="Unrecognized servable version label: stable"):
        h.manager.acquire(ModelSpec("m", label="stable"))
    h.manager.set_version_labels("m", {"stable": 1})
    assert h.version_of(ModelSpec("m", label="stable")) == 1


def test_new_version_replaces_old_only_when_available(h: Harness) -> None:
    h.serve("m", 1)
    gate = threading.Event()
    h.kwargs[2] = {"gate": gate}
    h.manager.set_aspired_versions("m", aspired("m", 2))
    # v2 is loading: v1 still serves
    assert h.version_of(ModelSpec("m")) == 1
    gate.set()
    assert h.manager.wait_until_idle(10)
    assert h.version_of(ModelSpec("m")) == 2
    old = h.loaders[ServableId("m", 1)]
    assert old.unloads == 1
    assert h.manager.model_states("m")[1].state is ManagerState.END


def test_failed_version_reports_error_and_old_keeps_serving(h: Harness) -> None:
    h.serve("m", 1)
    h.kwargs[2] = {"fail": Unavailable("disk on fire")}
    h.serve("m", 2)
    states = {s.id.version: s for s in h.manager.model_states("m")}
    assert states[2].state is ManagerState.END
    assert states[2].error_code is Code.UNAVAILABLE
    assert states[2].error_message == "disk on fire"
    assert states[1].state is ManagerState.AVAILABLE
    assert h.version_of(ModelSpec("m")) == 1


def test_unload_waits_for_in_flight_requests(h: Harness) -> None:
    h.serve("m", 1)
    handle = h.manager.acquire(ModelSpec("m"))
    h.manager.set_aspired_versions("m", [])
    assert not h.manager.wait_until_idle(0.3)  # the unload waits for the handle
    with pytest.raises(NotFound):
        h.manager.acquire(ModelSpec("m"))
    loader = h.loaders[ServableId("m", 1)]
    assert loader.unloads == 0
    handle.release()
    assert h.manager.wait_until_idle(10)
    assert loader.unloads == 1


def test_retries_then_succeeds() -> None:
    events: list[ServableState] = []
    loaders: list[FakeLoader] = []

    def make(wanted: AspiredVersion) -> Loader:
        loader = FakeLoader(lambda: _Versioned(1), fail=RuntimeError("flaky"), fail_times=2)
        loaders.append(loader)
        return loader

    manager = Manager(
        make,
        ManagerOptions(max_num_load_retries=3, load_retry_interval_seconds=0.01),
        [events.append],
    )
    try:
        manager.set_aspired_versions("m", aspired("m", 1))
        assert manager.wait_until_idle(10)
        assert loaders[0].loads == 3
        assert manager.model_states("m")[0].state is ManagerState.AVAILABLE
    finally:
        manager.close()


def test_close_unloads_everything() -> None:
    harness = Harness()
    harness.serve("a", 1)
    harness.serve("b", 1, 2)
    before = FakeLoader.live
    harness.manager.close()
    assert FakeLoader.live == before - 3
