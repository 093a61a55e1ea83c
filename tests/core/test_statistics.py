"""Per-version inference statistics: requests timed by front ends, runs reported by whoever runs
the model, batch sizes, independent copies."""

from __future__ import annotations

import time

from shiba.core.ids import ServableId
from shiba.core.statistics import _MOST_PENDING, Duration, Execution, InferenceStatistics

A = ServableId("m", 1)
B = ServableId("m", 2)


def test_requests_and_runs_add_up_per_version() -> None:
    stats = InferenceStatistics()
    now = time.perf_counter_ns()
    stats.answered(A, now - 40, now - 39, now - 2)  # decoded in 1 ns, encoded in 2 ns or more
    stats.answered(A, now - 60, now - 57, now - 4)
    stats.failed(A, now - 7)
    # One batch of two requests (4 rows padded to 8), then a request run alone.
    stats.record_execution(A, Execution(4, 8, 2, 30, 20, 5, 10, 6))
    stats.record_execution(A, Execution(1, 1, 1, 0, 0, 0, 20, 0))
    a = stats.get(A)
    assert a.inference_count == 5 and a.execution_count == 2
    assert a.success.count == 2 and a.success.ns >= 100
    assert a.fail.count == 1 and a.fail.ns >= 7
    assert a.compute_input == Duration(2, 4)
    assert a.compute_output.count == 2 and a.compute_output.ns >= 6
    # Per request: each request of the batch is charged the batch's run and its own wait.
    assert a.queue == Duration(3, 30)
    assert a.compute_infer == Duration(3, 2 * 10 + 20)
    # Per batch size run (padding included), counted per run.
    assert sorted(a.batches) == [1, 8]
    eight = a.batches[8]
    assert (eight.compute_input, eight.compute_infer, eight.compute_output) == (
        Duration(1, 5),
        Duration(1, 10),
        Duration(1, 6),
    )
    assert abs(a.last_inference - time.time_ns() // 1_000_000) < 5_000
    assert stats.get(B).execution_count == 0


def test_finished_requests_are_added_up_by_a_run_or_a_read() -> None:
    stats = InferenceStatistics()
    now = time.perf_counter_ns()
    stats.answered(A, now, now, now)
    assert len(stats._finished) == 1  # queued: the front end does not add up
    stats.record_execution(B, Execution(1, 1, 1, 0, 0, 0, 1, 0))
    assert not stats._finished
    stats.answered(A, now, now, now)
    assert stats.get(A).success.count == 2


def test_too_many_finished_requests_are_added_up_by_the_front_end() -> None:
    stats = InferenceStatistics()
    for _ in range(_MOST_PENDING + 1):
        stats.failed(A, time.perf_counter_ns())
    assert not stats._finished
    assert stats.get(A).fail.count == _MOST_PENDING + 1


def test_a_failed_run_adds_nothing() -> None:
    stats = InferenceStatistics()
    stats.record_execution(A, Execution(2, 2, 1, 5, 5, 1, 1, 1, ok=False))
    assert stats.get(A).execution_count == 0
    assert stats.get(A).queue == Duration()


def test_a_copy_does_not_change_with_later_requests() -> None:
    stats = InferenceStatistics()
    stats.record_execution(A, Execution(1, 1, 1, 0, 0, 0, 1, 0))
    before = stats.get(A)
    stats.record_execution(A, Execution(1, 1, 1, 0, 0, 0, 1, 0))
    assert before.execution_count == 1
    assert before.batches[1].compute_infer.count == 1
    assert stats.get(A).execution_count == 2
