"""The shared batch scheduler on its own: batch formation, fairness, timers, robustness."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from shiba.batching._scheduler import BatchScheduler
from shiba.core.errors import InvalidArgument, Unavailable

PATIENCE = 10.0


class Recorder:
    """Records batches; can block the batch threads until released."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.cond = threading.Condition()

    def __call__(self, key: str, tasks: list[int]) -> None:
        with self.cond:
            self.batches.append((key, tasks))
            self.cond.notify_all()
        self.gate.wait()

    def wait_for(self, count: int) -> list[tuple[str, list[int]]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.batches) >= count, PATIENCE)
            return list(self.batches)


def make(record: Recorder, **options: float) -> BatchScheduler[str, int]:
    scheduler: BatchScheduler[str, int] = BatchScheduler(
        record,
        max_batch_size=int(options.get("max_batch_size", 4)),
        timeout_seconds=options.get("timeout", 0.0),
        capacity=int(options.get("capacity", 10)),
        num_threads=int(options.get("threads", 1)),
    )
    scheduler.start()
    return scheduler


def test_queues_are_served_in_turn() -> None:
    record = Recorder()
    scheduler = make(record, max_batch_size=1)
    record.gate.clear()
    scheduler.schedule("busy", 0, 1)
    record.wait_for(1)
    for task in range(1, 4):
        scheduler.schedule("a", task, 1)
    for task in range(4, 6):
        scheduler.schedule("b", task, 1)
    record.gate.set()
    scheduler.close()
    assert record.batches == [
        ("busy", [0]),
        ("a", [1]),
        ("b", [4]),
        ("a", [2]),
        ("b", [5]),
        ("a", [3]),
    ]


def test_a_task_that_does_not_fit_starts_a_new_batch() -> None:
    record = Recorder()
    scheduler = make(record, max_batch_size=4)
    record.gate.clear()
    scheduler.schedule("busy", 0, 1)
    record.wait_for(1)
    for task, size in ((1, 3), (2, 1), (3, 2), (4, 2), (5, 1)):
        scheduler.schedule("q", task, size)
    record.gate.set()
    scheduler.close()
    assert [tasks for _, tasks in record.batches[1:]] == [[1, 2], [3, 4], [5]]


def test_oversized_and_overflowing_tasks_are_refused() -> None:
    record = Recorder()
    scheduler = make(record, max_batch_size=2, capacity=1)
    with pytest.raises(InvalidArgument):
        scheduler.schedule("q", 0, 3)
    scheduler.schedule("q", 1, 5, batch_limit=5)  # a queue of its own limit
    record.gate.clear()
    record.wait_for(1)
    scheduler.schedule("q2", 2, 2)
    with pytest.raises(Unavailable):
        scheduler.schedule("q2", 3, 1)
    record.gate.set()
    scheduler.close()


def test_every_open_batch_runs_when_its_timeout_expires() -> None:
    record = Recorder()
    scheduler = make(record, max_batch_size=100, timeout=0.2, threads=3)
    began = time.monotonic()
    for i in range(12):
        scheduler.schedule(f"q{i % 4}", i, 1)
    batches = record.wait_for(4)
    assert time.monotonic() - began >= 0.199
    assert sorted(batches) == [
        ("q0", [0, 4, 8]),
        ("q1", [1, 5, 9]),
        ("q2", [2, 6, 10]),
        ("q3", [3, 7, 11]),
    ]
    # A second round, scheduled after the first ran, gets its own timer.
    scheduler.schedule("q0", 12, 1)
    assert record.wait_for(5)[4] == ("q0", [12])
    scheduler.close()


def test_a_ready_batch_is_not_held_up_by_a_pending_timer() -> None:
    record = Recorder()
    scheduler = make(record, max_batch_size=2, timeout=600.0, threads=2)
    scheduler.schedule("slow", 0, 1)  # due in ten minutes
    scheduler.schedule("full", 1, 2)  # ready now
    assert record.wait_for(1) == [("full", [1])]
    scheduler.close()  # runs the slow one at once
    assert record.batches[1] == ("slow", [0])


def test_a_failing_process_callback_does_not_stop_the_threads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done = threading.Event()

    def process(key: str, tasks: list[int]) -> None:
        if tasks == [0]:
            raise RuntimeError("bug")
        done.set()

    scheduler: BatchScheduler[str, int] = BatchScheduler(
        process, max_batch_size=1, timeout_seconds=0, capacity=2, num_threads=1
    )
    scheduler.start()
    with caplog.at_level(logging.ERROR, logger="shiba.batching"):
        scheduler.schedule("q", 0, 1)
        scheduler.schedule("q", 1, 1)
        assert done.wait(PATIENCE)
    scheduler.close()
    assert "processing a batch failed" in caplog.text
