"""Per-request overhead of BatchingServable, measured against a servable that returns at once.

Many client threads call ``run`` in a loop (submit, wait for the future); the wrapped servable
echoes its input, so what is measured is the batcher: classify and enqueue, wake a batch thread,
merge with ``np.concatenate``, split into views, complete the futures, wake the clients.
CPU µs/request (process time over requests) is the figure to compare; wall µs/request also holds
the clients' own thread switching. The machine is shared: run it twice and take the better.

    .venv/bin/python benchmarks/batching_overhead.py [--seconds 1.5] [--clients 64]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.batching import BatchingOptions, BatchingServable
from shiba.core.servable import Outputs
from shiba.core.tensors import DEFAULT_SIGNATURE, DType, Signature, Tensors, TensorSpec

SPEC = TensorSpec(DType.DT_FLOAT, (-1, 8))
SIGNATURES = {DEFAULT_SIGNATURE: Signature({"x": SPEC}, {"y": SPEC})}


class Echo:
    """A servable that answers at once."""

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return SIGNATURES

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        return {"y": inputs["x"]}

    def close(self) -> None:
        pass


Run = Callable[[str, Tensors], Outputs]


def drive(run: Run, clients: int, seconds: float) -> tuple[int, float, float]:
    """Runs ``clients`` threads calling ``run`` for ``seconds``: (requests, wall s, CPU s)."""
    stop = threading.Event()
    counts = [0] * clients
    x: npt.NDArray[Any] = np.ones((1, 8), np.float32)

    def client(i: int) -> None:
        inputs = {"x": x}
        n = 0
        while not stop.is_set():
            run(DEFAULT_SIGNATURE, inputs)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    wall, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - wall, time.process_time() - cpu


def drive_async(batcher: BatchingServable, tasks: int, seconds: float) -> tuple[int, float, float]:
    """As ``drive``, with ``tasks`` asyncio tasks awaiting ``submit``'s futures on one event loop
    (the way the service uses a batcher): (requests, wall s, CPU s)."""
    x: npt.NDArray[Any] = np.ones((1, 8), np.float32)

    async def main() -> int:
        stop = False
        count = 0

        async def client() -> None:
            nonlocal count
            inputs = {"x": x}
            while not stop:
                await asyncio.wrap_future(batcher.submit(DEFAULT_SIGNATURE, inputs))
                count += 1

        runners = [asyncio.create_task(client()) for _ in range(tasks)]
        await asyncio.sleep(seconds)
        stop = True
        await asyncio.gather(*runners)
        return count

    wall, cpu = time.perf_counter(), time.process_time()
    requests = asyncio.run(main())
    return requests, time.perf_counter() - wall, time.process_time() - cpu


def row(label: str, requests: int, wall: float, cpu: float, batch: str) -> str:
    return (
        f"| {label:<46} | {requests / wall:>9,.0f} | {wall / requests * 1e6:>9.1f} "
        f"| {cpu / requests * 1e6:>9.1f} | {batch:>10} |"
    )


def measure(
    options: BatchingOptions, run: Callable[[BatchingServable], tuple[int, float, float]]
) -> tuple[int, float, float, str]:
    """Starts a batcher around ``Echo``, drives it, closes it: (requests, wall, CPU, mean batch)."""
    sizes: list[int] = []

    def record(size: int, padded: int, queued: float) -> None:
        sizes.append(size)

    batcher = BatchingServable(Echo(), options, on_batch=record)
    batcher.start()
    try:
        requests, wall, cpu = run(batcher)
    finally:
        batcher.close()
    return requests, wall, cpu, f"{sum(sizes) / len(sizes):.1f}" if sizes else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    clients, seconds = args.clients, args.seconds

    print(f"{clients} clients, x float32[1, 8], an echo servable, {seconds} s per line")
    print(
        "| configuration                                  |     req/s | wall µs/r |  CPU µs/r "
        "| mean batch |"
    )
    print("|" + "---|" * 5)
    requests, wall, cpu = drive(Echo().run, clients, seconds)
    print(row("no batcher (inner.run on the client threads)", requests, wall, cpu, "-"))

    def threads(batcher: BatchingServable) -> tuple[int, float, float]:
        return drive(batcher.run, clients, seconds)

    def tasks(batcher: BatchingServable) -> tuple[int, float, float]:
        return drive_async(batcher, clients, seconds)

    def one_client(batcher: BatchingServable) -> tuple[int, float, float]:
        return drive(batcher.run, 1, seconds)

    lines = [
        ("max 64, timeout 0, 1 thread", threads, BatchingOptions(max_batch_size=64)),
        ("max 64, timeout 0, 2 threads", threads, BatchingOptions(max_batch_size=64)),
        ("max 8, timeout 0, 1 thread", threads, BatchingOptions(max_batch_size=8)),
        (
            "max 64, timeout 1 ms, 1 thread",
            threads,
            BatchingOptions(max_batch_size=64, batch_timeout_micros=1000),
        ),
        (
            "max 64, allowed (16, 32, 64), 1 thread",
            threads,
            BatchingOptions(max_batch_size=64, allowed_batch_sizes=(16, 32, 64)),
        ),
        (
            "asyncio tasks + wrap_future, max 64, 1 thread",
            tasks,
            BatchingOptions(max_batch_size=64),
        ),
        ("1 client thread, timeout 0 (round trip)", one_client, BatchingOptions()),
    ]
    for label, run, base in lines:
        n = 2 if "2 threads" in label else 1
        requests, wall, cpu, mean = measure(dataclasses.replace(base, num_batch_threads=n), run)
        print(row(label, requests, wall, cpu, mean))


if __name__ == "__main__":
    main()
