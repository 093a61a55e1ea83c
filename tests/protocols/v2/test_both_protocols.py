"""A model served under both protocols: TF Serving's REST and v2 REST requests go through the
same service into the same batcher, which merges them, and both answer the same numbers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from shiba.batching import BatchingLoader, BatchingOptions
from shiba.core.engine_choice import EngineDecision
from shiba.core.engines import ServingEngines
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.service import ModelService, ServiceOptions
from shiba.core.statistics import InferenceStatistics
from shiba.protocols.http.routes import Request
from shiba.protocols.tfserving.rest import TFServingRoutes
from shiba.protocols.v2.dataplane import DataPlane
from shiba.protocols.v2.rest import V2Routes
from tests.fakes import FakeLoader, FakeServable, simple_signature


@pytest.fixture
def setup() -> Iterator[tuple[FakeServable, TFServingRoutes, V2Routes, InferenceStatistics]]:
    """Model ``m`` (``x`` -> ``y``, float [-1, 2], y = x) behind a batcher that runs a batch
    only when it holds two rows."""
    fake = FakeServable({"serving_default": simple_signature()})
    engines = ServingEngines()
    statistics = InferenceStatistics()

    def make(wanted: AspiredVersion) -> Loader:
        tracked = engines.tracked(FakeLoader(lambda: fake), wanted.id, EngineDecision("e", "r"))
        options = BatchingOptions(max_batch_size=2, batch_timeout_micros=30_000_000)
        on_batch = partial(statistics.record_execution, wanted.id)
        return BatchingLoader(tracked, options, on_batch=on_batch)

    manager = Manager(make, ManagerOptions())
    manager.set_aspired_versions("m", [AspiredVersion(ServableId("m", 1), Path("/m/1"))])
    assert manager.wait_until_idle(10)
    service = ModelService(manager, ServiceOptions(num_threads=1), statistics=statistics)
    yield (
        fake,
        TFServingRoutes(service),
        V2Routes(DataPlane(service, engines)),
        statistics,
    )
    service.close()
    manager.close()


def test_one_batch_holds_a_request_of_each_protocol(
    setup: tuple[FakeServable, TFServingRoutes, V2Routes, InferenceStatistics],
) -> None:
    fake, v1, v2, statistics = setup
    x = [[0.1, -2.5]]
    v1_request = Request(
        "POST", "/v1/models/m:predict", b"", [], json.dumps({"instances": x}).encode()
    )
    v2_body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": x}]}
    v2_request = Request("POST", "/v2/models/m/infer", b"", [], json.dumps(v2_body).encode())

    async def both() -> tuple[bytes, bytes]:
        first, second = await asyncio.gather(v1.handle(v1_request), v2.handle(v2_request))
        return first.body, second.body

    v1_body, v2_answer = asyncio.run(both())
    (call,) = fake.calls
    assert call.inputs["x"].shape == (2, 2)
    v1_values = np.array(json.loads(v1_body)["predictions"], np.float32)
    v2_values = np.array(json.loads(v2_answer)["outputs"][0]["data"], np.float32)
    np.testing.assert_array_equal(v1_values.ravel(), v2_values)
    np.testing.assert_array_equal(v2_values, np.array(x, np.float32).ravel())
    # The v2 statistics count both requests, and the one batch that ran them.
    stats = statistics.get(ServableId("m", 1))
    assert (stats.success.count, stats.fail.count) == (2, 0)
    assert (stats.execution_count, stats.inference_count) == (1, 2)
    assert stats.queue.count == 2 and stats.queue.ns > 0
    assert stats.compute_infer.count == 2
    assert list(stats.batches) == [2] and stats.batches[2].compute_infer.count == 1
