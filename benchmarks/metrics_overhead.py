"""What recording TF Serving's metrics adds to a request (``--monitoring_config_file``).

Two figures. (1) A REST predict through the ASGI app, in process, to a servable that answers at
once (no thread hop, no HTTP server), with and without ``Metrics``: the difference is what a
request pays. (2) Each recording call alone. Figures are the best of ``--repeats`` runs of
``--loops`` calls, in µs. The machine is shared: run it twice and take the better.

    .venv/bin/python benchmarks/metrics_overhead.py [--repeats 7] [--loops 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import timeit
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from shiba.core.errors import Code
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.metrics import Metrics
from shiba.core.servable import Outputs, Servable
from shiba.core.service import ModelService
from shiba.core.statistics import Execution, InferenceStatistics
from shiba.core.tensors import DEFAULT_SIGNATURE, DType, Signature, Tensors, TensorSpec
from shiba.protocols.http.router import Router
from shiba.protocols.options import MonitoringOptions
from shiba.protocols.tfserving.rest import TFServingRoutes

SPEC = TensorSpec(DType.DT_FLOAT, (-1, 1))
SIGNATURES = {DEFAULT_SIGNATURE: Signature({"x": SPEC}, {"y": SPEC})}
BODY = b'{"instances": [[1.0], [2.0], [5.0]]}'
PATH = "/v1/models/half_plus_two:predict"


class HalfPlusTwo:
    """A submitting servable that answers at once, on the caller's thread."""

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return SIGNATURES

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        return {"y": inputs["x"] * 0.5 + 2}

    def submit(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Future[Outputs]:
        future: Future[Outputs] = Future()
        future.set_result(self.run(signature_name, inputs, output_filter))
        return future

    def close(self) -> None:
        pass


class Once:
    def load(self) -> Servable:
        return HalfPlusTwo()

    def unload(self) -> None:
        pass


def predict_loop(app: Router, loops: int) -> Callable[[], Coroutine[Any, Any, None]]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "headers": [(b"content-length", str(len(BODY)).encode())],
    }
    message = {"type": "http.request", "body": BODY, "more_body": False}
    answers: list[int] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: Any) -> None:
        if event["type"] == "http.response.start":
            answers.append(event["status"])

    async def run() -> None:
        for _ in range(loops):
            await app(scope, receive, send)
        assert set(answers) == {200}, answers[:3]
        answers.clear()

    return run


def best_us(run: Callable[[], Coroutine[Any, Any, None]], loops: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        asyncio.run(run())
        best = min(best, (time.perf_counter() - start) / loops * 1e6)
    return best


def timed(metrics: Metrics) -> None:
    with metrics.time_request("half_plus_two", "Predict", "GRPC"):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loops", type=int, default=20000)
    args = parser.parse_args()

    def make(wanted: AspiredVersion) -> Loader:
        return Once()

    manager = Manager(make)
    manager.set_aspired_versions(
        "half_plus_two", [AspiredVersion(ServableId("half_plus_two", 1), Path("/m/1"))]
    )
    assert manager.wait_until_idle(10)
    service = ModelService(manager)
    metrics = Metrics()
    plain = Router([TFServingRoutes(service)])
    metered = Router(
        [TFServingRoutes(service, metrics=metrics)],
        metrics=metrics,
        monitoring=MonitoringOptions(enabled=True),
    )
    print("REST predict through the ASGI app, µs per request (best of runs):")
    without = with_ = float("inf")
    for _ in range(2):  # interleaved, so that drift on a shared machine hits both
        without = min(without, best_us(predict_loop(plain, args.loops), args.loops, args.repeats))
        with_ = min(with_, best_us(predict_loop(metered, args.loops), args.loops, args.repeats))
    print(f"  without metrics {without:8.2f}")
    print(f"  with metrics    {with_:8.2f}   (+{with_ - without:.2f})")

    print("Each recording call alone, µs:")
    # A batch of 3 rows padded to 4, of one request that waited 1 ms; the v2 statistics of a version.
    batch = Execution(3, 4, 1, 1_000_000, 1_000_000, 0, 1000, 0)
    statistics = InferenceStatistics()
    sid = ServableId("half_plus_two", 1)
    calls: dict[str, Callable[[], object]] = {
        "record_request (one cell, one lock)": lambda: metrics.record_request(
            "half_plus_two", "predict", "REST", Code.OK, 0.0003
        ),
        "gRPC time_request around nothing": lambda: timed(metrics),
        "record_batch (batch thread, per batch)": lambda: metrics.record_batch(batch),
        "statistics.answered (event loop, per request)": lambda: statistics.answered(sid, 0, 1, 2),
        "statistics.record_execution (per batch)": lambda: statistics.record_execution(sid, batch),
    }
    loops = args.loops * 10
    for label, call in calls.items():
        best = min(timeit.repeat(call, number=loops, repeat=args.repeats)) / loops * 1e6
        print(f"  {label:46s} {best:6.3f}")
    start = time.perf_counter()
    size = len(metrics.render())
    print(f"render(): {(time.perf_counter() - start) * 1e3:.2f} ms for {size} bytes")
    service.close()
    manager.close()


if __name__ == "__main__":
    main()
