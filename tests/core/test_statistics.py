"""Per-version inference statistics: requests timed by front ends, runs reported by whoever runs
the model, batch sizes, independent copies."""

from __future__ import annotations

import time

import pytest

from shiba.core.ids import ServableId
from shiba.core.statistics import Duration, Execution, InferenceStatistics

A = ServableId("m", 1)
B = ServableId("m", 2)


def test_requests_and_runs_add_up_per_version() -> None:
    stats = InferenceStatistics()
    stats.record_success(A, 40, input_ns=1, output_ns=2)
    stats.record_success(A, 60, input_ns=3, output_ns=4)
    stats.record_failure(A, 7)
    # One batch of two requests (4 rows padded to 8), then a request run alone.
    stats.record_execution(A, Execution(4, 8, 2, 30, 20, 5, 10, 6))
    stats.record_execution(A, Execution(1, 1, 1, 0, 0, 0, 20, 0))
    a = stats.get(A)
    assert a.inference_count == 5 and a.execution_count == 2
    assert a.success == Duration(2, 100)
    assert a.fail == Duration(1, 7)
    assert a.compute_input == Duration(2, 4) and a.compute_output == Duration(2, 6)
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
    assert a.last_inference > 0
    assert stats.get(B).execution_count == 0


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


def test_the_timer_records_a_success_with_its_phases() -> None:
    stats = InferenceStatistics()
    with stats.timer(A) as clock:
        time.sleep(0.002)
        clock.decoded()
        clock.ran()
        time.sleep(0.003)
    a = stats.get(A)
    assert a.success.count == 1 and a.fail.count == 0
    assert a.compute_input.ns >= 2_000_000
    assert a.compute_output.ns >= 3_000_000
    assert a.success.ns >= a.compute_input.ns + a.compute_output.ns


def test_the_timer_records_a_failure_from_its_start() -> None:
    stats = InferenceStatistics()
    received = time.perf_counter_ns() - 5_000_000
    with pytest.raises(ValueError, match="bad"), stats.timer(A, received):
        raise ValueError("bad")
    a = stats.get(A)
    assert a.success.count == 0 and a.fail.count == 1 and a.fail.ns >= 5_000_000


def test_without_marks_a_success_has_no_input_or_output_time() -> None:
    stats = InferenceStatistics()
    with stats.timer(A):
        pass
    a = stats.get(A)
    assert a.compute_input == Duration(1, 0) and a.compute_output == Duration(1, 0)
