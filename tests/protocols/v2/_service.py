"""A service over one fake model, for the v2 data plane's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shiba.core.engine_choice import EngineDecision
from shiba.core.engines import ServingEngines
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.service import ModelService, ServiceOptions
from tests.fakes import FakeLoader, FakeServable


@contextmanager
def one_model(fake: FakeServable, engines: ServingEngines) -> Iterator[ModelService]:
    """A service whose model ``m`` has version 1, ``fake`` (recorded in ``engines``); closed,
    with its manager, when the block ends."""

    def make(wanted: AspiredVersion) -> Loader:
        return engines.tracked(FakeLoader(lambda: fake), wanted.id, EngineDecision("e", "r"))

    manager = Manager(make, ManagerOptions())
    manager.set_aspired_versions("m", [AspiredVersion(ServableId("m", 1), Path("/m/1"))])
    assert manager.wait_until_idle(10)
    service = ModelService(manager, ServiceOptions(num_threads=1))
    try:
        yield service
    finally:
        service.close()
        manager.close()
