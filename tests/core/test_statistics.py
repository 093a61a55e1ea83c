"""Per-version inference statistics: counts, cumulative times, batch sizes, independent copies."""

from __future__ import annotations

from shiba.core.ids import ServableId
from shiba.core.statistics import Duration, InferenceStatistics

A = ServableId("m", 1)
B = ServableId("m", 2)


def test_successes_and_failures_add_up_per_version() -> None:
    stats = InferenceStatistics()
    stats.record_success(A, 4, input_ns=1, infer_ns=10, output_ns=2)
    stats.record_success(A, 1, input_ns=3, infer_ns=20, output_ns=4)
    stats.record_failure(A, 7)
    a = stats.get(A)
    assert a.inference_count == 5 and a.execution_count == 2
    assert a.success == Duration(2, 40)
    assert a.fail == Duration(1, 7)
    assert a.compute_infer == Duration(2, 30)
    assert a.queue == Duration()
    assert sorted(a.batches) == [1, 4]
    assert a.batches[4].compute_output == Duration(1, 2)
    assert a.last_inference > 0
    assert stats.get(B).execution_count == 0


def test_a_copy_does_not_change_with_later_requests() -> None:
    stats = InferenceStatistics()
    stats.record_success(A, 1, input_ns=1, infer_ns=1, output_ns=1)
    before = stats.get(A)
    stats.record_success(A, 1, input_ns=1, infer_ns=1, output_ns=1)
    assert before.success.count == 1
    assert before.batches[1].compute_infer.count == 1
    assert stats.get(A).success.count == 2
