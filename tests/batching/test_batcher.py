"""BatchingServable: merging, splitting, queues, padding, errors and lifecycle, with a fake servable."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.batching import BatchingOptions, BatchingServable
from shiba.core.errors import (
    Code,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ShibaError,
    Unavailable,
)
from shiba.core.servable import Outputs, Servable, SubmittingServable
from shiba.core.statistics import Execution
from shiba.core.tensors import DEFAULT_SIGNATURE, DType, Signature, Tensors, TensorSpec
from tests.batching._support import PATIENCE, MakeBatcher, occupy, results, rows
from tests.fakes import FakeServable, simple_signature

SIG = DEFAULT_SIGNATURE


def half_plus_two(signature_name: str, inputs: Tensors) -> Outputs:
    return {"y": inputs["x"] * 0.5 + 2}


def test_is_a_submitting_servable(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher()
    assert isinstance(batcher, Servable)
    assert isinstance(batcher, SubmittingServable)
    assert batcher.signatures is fake.signatures
    assert batcher.inner is fake


def test_a_lone_request_runs_at_once_and_is_returned_whole(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(FakeServable(compute=half_plus_two))
    x = rows(3)
    out = batcher.run(SIG, {"x": x})
    np.testing.assert_array_equal(out["y"], x * 0.5 + 2)
    [call] = fake.calls
    assert call.inputs["x"] is x  # one request, no padding: no copy
    assert call.thread_name.startswith("shiba-batch-t")


def test_queued_requests_merge_into_one_batch_and_split_back(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(FakeServable(compute=half_plus_two))
    first = occupy(batcher, fake)
    inputs = [rows(1, start=0), rows(2, start=10), rows(3, start=20)]
    futures = [batcher.submit(SIG, {"x": x}) for x in inputs]
    fake.release()
    first.result(PATIENCE)
    for x, out in zip(inputs, results(futures), strict=True):
        np.testing.assert_array_equal(out["y"], x * 0.5 + 2)
        assert out["y"].shape == x.shape
    calls = fake.calls
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[1].inputs["x"], np.concatenate(inputs))


def test_outputs_are_views_of_the_batch_output(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher()
    first = occupy(batcher, fake)
    futures = [batcher.submit(SIG, {"x": rows(2, start=i)}) for i in range(3)]
    fake.release()
    first.result(PATIENCE)
    outs = [o["y"] for o in results(futures)]
    assert all(o.base is not None and o.base is outs[0].base for o in outs)


def test_max_batch_size_is_respected(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(max_batch_size=4)
    first = occupy(batcher, fake)
    futures = [batcher.submit(SIG, {"x": rows(n, start=10 * n)}) for n in (3, 2, 2, 1)]
    fake.release()
    first.result(PATIENCE)
    for n, out in zip((3, 2, 2, 1), results(futures), strict=True):
        np.testing.assert_array_equal(out["y"], rows(n, start=10 * n))
    assert [len(c.inputs["x"]) for c in fake.calls[1:]] == [3, 4, 1]


def test_a_full_batch_runs_without_waiting_for_the_timeout(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(max_batch_size=4, batch_timeout_micros=600_000_000)
    futures = [batcher.submit(SIG, {"x": rows(2, start=i)}) for i in range(2)]
    results(futures)  # would take ten minutes if the batch waited for its timeout
    assert [len(c.inputs["x"]) for c in fake.calls] == [4]


def test_an_underfull_batch_waits_for_the_timeout(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(max_batch_size=100, batch_timeout_micros=300_000)
    began = time.monotonic()
    futures = [batcher.submit(SIG, {"x": rows(1, start=i)}) for i in range(3)]
    results(futures)
    assert time.monotonic() - began >= 0.29
    assert [len(c.inputs["x"]) for c in fake.calls] == [3]


def test_timeouts_of_several_queues_are_all_honoured(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(batch_timeout_micros=200_000, num_batch_threads=2)
    futures = [batcher.submit(SIG, {"x": rows(1, cols=c)}) for c in (1, 2, 3, 4, 2, 3)]
    results(futures)
    assert sorted(c.inputs["x"].shape for c in fake.calls) == [(1, 1), (1, 4), (2, 2), (2, 3)]


def test_requests_that_cannot_merge_go_to_separate_queues(make_batcher: MakeBatcher) -> None:
    signature = simple_signature(outputs=("y", "z"), shape=None)
    fake = FakeServable({SIG: signature, "other": signature})
    batcher, fake = make_batcher(fake)
    first = occupy(batcher, fake)
    requests: list[tuple[str, dict[str, npt.NDArray[Any]], tuple[str, ...] | None]] = [
        (SIG, {"x": rows(1)}, None),
        (SIG, {"x": rows(1, start=5)}, None),  # merges with the first
        (SIG, {"x": rows(1, cols=3)}, None),  # other inner shape
        (SIG, {"x": rows(1, dtype=np.float64)}, None),  # other dtype
        ("other", {"x": rows(1)}, None),  # other signature
        (SIG, {"x": rows(1)}, ("z",)),  # other output filter
    ]
    futures = [batcher.submit(s, inputs, f) for s, inputs, f in requests]
    fake.release()
    first.result(PATIENCE)
    for (_, inputs, output_filter), out in zip(requests, results(futures), strict=True):
        assert list(out) == (["y", "z"] if output_filter is None else list(output_filter))
        for array in out.values():
            np.testing.assert_array_equal(array, inputs["x"])
            assert array.dtype == inputs["x"].dtype
    seen = sorted(
        (c.signature_name, c.output_filter or (), c.inputs["x"].shape, str(c.inputs["x"].dtype))
        for c in fake.calls[1:]
    )
    assert seen == [
        ("other", (), (1, 2), "float32"),
        (SIG, (), (1, 2), "float64"),
        (SIG, (), (1, 3), "float32"),
        (SIG, (), (2, 2), "float32"),
        (SIG, ("z",), (1, 2), "float32"),
    ]


def test_allowed_batch_sizes_pad_with_the_first_row_and_trim_outputs(
    make_batcher: MakeBatcher,
) -> None:
    batches: list[tuple[int, int]] = []
    batcher, fake = make_batcher(
        max_batch_size=8,
        allowed_batch_sizes=(2, 4, 8),
        on_batch=lambda run: batches.append((run.rows, run.padded_rows)),
    )
    first = occupy(batcher, fake)
    a, b = rows(1, start=0), rows(2, start=10)
    futures = [batcher.submit(SIG, {"x": a}), batcher.submit(SIG, {"x": b})]
    fake.release()
    assert first.result(PATIENCE)["y"].shape == (1, 2)
    out_a, out_b = results(futures)
    np.testing.assert_array_equal(out_a["y"], a)
    np.testing.assert_array_equal(out_b["y"], b)
    np.testing.assert_array_equal(fake.calls[1].inputs["x"], np.concatenate([a, b, a]))
    assert len(fake.calls[0].inputs["x"]) == 2
    assert batches == [(1, 2), (3, 4)]


def test_pad_variable_length_inputs_pads_with_each_tensors_first_element(
    make_batcher: MakeBatcher,
) -> None:
    batcher, fake = make_batcher(
        FakeServable({SIG: simple_signature(shape=None)}), pad_variable_length_inputs=True
    )
    first = occupy(batcher, fake)
    a = np.array([[5, 6]], np.float32)
    b = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    c = np.array([[[7]]], np.float32)  # another rank: another queue
    futures = [batcher.submit(SIG, {"x": x}) for x in (a, b, c)]
    fake.release()
    first.result(PATIENCE)
    out_a, out_b, out_c = (o["y"] for o in results(futures))
    # Outputs are split along dimension 0 only, as TF Serving does: their other dimensions are
    # the padded ones.
    np.testing.assert_array_equal(out_a, [[5, 6, 5]])
    np.testing.assert_array_equal(out_b, b)
    np.testing.assert_array_equal(out_c, c)
    np.testing.assert_array_equal(fake.calls[1].inputs["x"], [[5, 6, 5], [1, 2, 3], [4, 5, 6]])
    assert len(fake.calls) == 3


def test_an_empty_tensor_is_not_padded_but_runs_alone(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(
        FakeServable({SIG: simple_signature(shape=None)}), pad_variable_length_inputs=True
    )
    first = occupy(batcher, fake)
    empty = np.zeros((2, 0), np.float32)
    futures = [batcher.submit(SIG, {"x": empty}), batcher.submit(SIG, {"x": rows(1)})]
    fake.release()
    first.result(PATIENCE)
    assert results(futures)[0]["y"].shape == (2, 0)
    assert sorted(c.inputs["x"].shape for c in fake.calls[1:]) == [(1, 2), (2, 0)]


def test_a_request_larger_than_max_batch_size_is_refused(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(max_batch_size=4)
    with pytest.raises(
        InvalidArgument, match=r"^Task size 5 is larger than maximum input batch size 4$"
    ):
        batcher.submit(SIG, {"x": rows(5)})
    assert fake.calls == []


def test_a_full_queue_refuses_at_once(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(max_batch_size=2, max_enqueued_batches=2)
    first = occupy(batcher, fake)
    queued = [batcher.submit(SIG, {"x": rows(n)}) for n in (2, 1)]  # a full batch + an open one
    with pytest.raises(Unavailable) as info:
        batcher.submit(SIG, {"x": rows(2)})
    assert info.value.message == (
        "The batch scheduling queue to which this task was submitted is full; "
        "currently 2 batches enqueued and max_enqueued_batches is 2"
    )
    batcher.submit(SIG, {"x": rows(1)})  # still fits the open batch
    with pytest.raises(Unavailable):
        batcher.submit(SIG, {"x": rows(1)})
    batcher.submit(SIG, {"x": rows(1, cols=3)})  # another queue has room
    fake.release()
    first.result(PATIENCE)
    results(queued)


def test_max_enqueued_batches_zero_means_one(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(max_batch_size=2, max_enqueued_batches=0)
    first = occupy(batcher, fake)
    queued = batcher.submit(SIG, {"x": rows(2)})
    with pytest.raises(Unavailable):
        batcher.submit(SIG, {"x": rows(1)})
    fake.release()
    first.result(PATIENCE)
    queued.result(PATIENCE)


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [
        (InvalidArgument("bad input"), Code.INVALID_ARGUMENT, "bad input"),
        (
            ShibaError("no memory", code=Code.RESOURCE_EXHAUSTED),
            Code.RESOURCE_EXHAUSTED,
            "no memory",
        ),
        (ValueError("boom"), Code.INTERNAL, "boom"),
        (RuntimeError(), Code.INTERNAL, "RuntimeError"),
    ],
)
def test_an_inner_failure_fails_every_request_of_the_batch(
    make_batcher: MakeBatcher, raised: Exception, code: Code, message: str
) -> None:
    batcher, fake = make_batcher()
    first = occupy(batcher, fake)
    fake.fail_with(raised, times=1)
    futures = [batcher.submit(SIG, {"x": rows(n)}) for n in (1, 2, 3)]
    fake.release()
    first.result(PATIENCE)
    errors = [f.exception(PATIENCE) for f in futures]
    for error in errors:
        assert isinstance(error, ShibaError)
        assert (error.code, error.message) == (code, message)
        assert error.__cause__ is raised
    assert len({id(e) for e in errors}) == 3  # one instance per request
    assert len(fake.calls) == 2
    batcher.run(SIG, {"x": rows(1)})  # the batcher goes on


def test_an_unknown_signature_fails_with_the_inner_servables_error(
    make_batcher: MakeBatcher,
) -> None:
    batcher, _ = make_batcher()
    with pytest.raises(NotFound):
        batcher.run("nope", {"x": rows(1)})


@pytest.mark.parametrize(
    "compute",
    [
        lambda _, inputs: {"y": inputs["x"].sum(axis=0, keepdims=True)},
        lambda _, inputs: {"y": np.float32(inputs["x"].sum())},
    ],
    ids=["other-0th-dim", "scalar"],
)
def test_an_output_without_the_batch_dimension_is_internal(
    make_batcher: MakeBatcher, compute: Any
) -> None:
    batcher, fake = make_batcher(FakeServable(compute=compute))
    first = occupy(batcher, fake)
    futures = [batcher.submit(SIG, {"x": rows(n)}) for n in (1, 2)]
    fake.release()
    first.exception(PATIENCE)  # one row: a (1, 2) output passes for a batch of one row
    for future in futures:
        error = future.exception(PATIENCE)
        assert isinstance(error, Internal)
        assert "'y'" in error.message
        assert "cannot be served with batching" in error.message


def test_requests_that_cannot_be_batched_run_alone(make_batcher: MakeBatcher) -> None:
    scalar = TensorSpec(DType.DT_FLOAT, ())
    anything = TensorSpec(DType.DT_FLOAT, None)
    fake = FakeServable(
        {
            SIG: simple_signature(),
            "scalar": Signature({"s": scalar}, {"y": scalar}),
            "pair": Signature({"x": anything, "s": anything}, {"y": anything}),
        }
    )
    batcher, fake = make_batcher(fake, max_batch_size=2)
    first = occupy(batcher, fake)
    scalars = [np.array(i, np.float32) for i in range(3)]
    futures = [batcher.submit("scalar", {"s": s}) for s in scalars]
    mixed = {"x": rows(3), "s": scalars[0]}  # a rank-0 input among others; 3 rows > max
    unequal = {"x": rows(1), "s": rows(2)}  # 0th dimensions differ
    no_rows = {"x": rows(0), "s": rows(0)}
    others = [batcher.submit("pair", inputs) for inputs in (mixed, unequal, no_rows)]
    fake.release()
    first.result(PATIENCE)
    for s, out in zip(scalars, results(futures), strict=True):
        assert out["y"].shape == ()
        assert out["y"] == s
    for inputs, out in zip((mixed, unequal, no_rows), results(others), strict=True):
        np.testing.assert_array_equal(out["y"], inputs["x"])
    alone = fake.calls[1:]
    assert len(alone) == 6  # each request in a call of its own, given as it came
    assert [c.inputs["s"] for c in alone if c.signature_name == "scalar"] == scalars
    pairs = [c.inputs["x"] for c in alone if c.signature_name == "pair"]
    assert all(got is sent["x"] for got, sent in zip(pairs, (mixed, unequal, no_rows), strict=True))


def test_a_cancelled_request_is_left_out_of_its_batch(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher()
    first = occupy(batcher, fake)
    kept, cancelled = (batcher.submit(SIG, {"x": rows(n)}) for n in (1, 2))
    assert cancelled.cancel()
    fake.release()
    first.result(PATIENCE)
    np.testing.assert_array_equal(kept.result(PATIENCE)["y"], rows(1))
    assert [len(c.inputs["x"]) for c in fake.calls] == [1, 1]


def test_on_batch_reports_each_run_with_its_requests_waits_and_times(
    make_batcher: MakeBatcher,
) -> None:
    seen: list[Execution] = []
    batcher, fake = make_batcher(on_batch=seen.append)
    first = occupy(batcher, fake)
    futures = [batcher.submit(SIG, {"x": rows(n)}) for n in (2, 3)]
    time.sleep(0.02)
    fake.release()
    first.result(PATIENCE)
    results(futures)
    assert [(r.rows, r.padded_rows, r.requests, r.ok) for r in seen] == [
        (1, 1, 1, True),
        (5, 5, 2, True),
    ]
    waited = seen[1]
    # Both requests waited at least the 20 ms the first batch was held; the first one longest.
    assert waited.first_wait_ns >= 20_000_000
    assert waited.queue_ns >= 2 * 20_000_000
    assert waited.queue_ns <= 2 * waited.first_wait_ns
    assert seen[0].infer_ns >= 20_000_000  # the held run
    assert waited.input_ns > 0 and waited.output_ns > 0


def test_on_batch_reports_a_failed_run(make_batcher: MakeBatcher) -> None:
    seen: list[Execution] = []
    batcher, fake = make_batcher(on_batch=seen.append)
    fake.fail_with(Internal("the model broke"), times=1)
    with pytest.raises(Internal):
        batcher.run(SIG, {"x": rows(2)})
    assert [(r.rows, r.requests, r.ok) for r in seen] == [(2, 1, False)]


def test_a_failing_on_batch_callback_is_logged_and_ignored(
    make_batcher: MakeBatcher, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(run: Execution) -> None:
        raise RuntimeError("metrics are down")

    batcher, _ = make_batcher(on_batch=explode)
    with caplog.at_level(logging.ERROR, logger="shiba.batching"):
        np.testing.assert_array_equal(batcher.run(SIG, {"x": rows(1)})["y"], rows(1))
    assert "on_batch" in caplog.text


def test_many_threads_get_their_own_rows_back(make_batcher: MakeBatcher) -> None:
    batcher, _ = make_batcher(
        FakeServable(compute=half_plus_two), max_batch_size=16, num_batch_threads=2
    )
    failures: list[BaseException] = []

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(30):
                x = rng.standard_normal((int(rng.integers(1, 9)), 2)).astype(np.float32)
                np.testing.assert_array_equal(batcher.run(SIG, {"x": x})["y"], x * 0.5 + 2)
        except BaseException as error:  # reported below, on the test's thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE * 3)
    assert failures == []


# Lifecycle ---------------------------------------------------------------------------------------


def test_close_runs_what_is_queued_then_closes_the_inner_servable() -> None:
    fake = FakeServable()
    batcher = BatchingServable(
        fake, BatchingOptions(batch_timeout_micros=600_000_000, num_batch_threads=1)
    )
    batcher.start()
    futures = [batcher.submit(SIG, {"x": rows(n)}) for n in (1, 2)]
    batcher.close()  # does not wait ten minutes for the timeout
    assert all(f.done() for f in futures)
    for n, out in zip((1, 2), results(futures), strict=True):
        np.testing.assert_array_equal(out["y"], rows(n))
    assert [len(c.inputs["x"]) for c in fake.calls] == [3]
    assert fake.close_count == 1


def test_requests_after_close_are_unavailable() -> None:
    batcher = BatchingServable(FakeServable(), BatchingOptions(num_batch_threads=1))
    batcher.start()
    batcher.close()
    with pytest.raises(Unavailable, match="closed"):
        batcher.submit(SIG, {"x": rows(1)})
    with pytest.raises(Unavailable):
        batcher.run(SIG, {"x": rows(1)})


def test_close_is_idempotent_and_thread_safe() -> None:
    fake = FakeServable(delay=0.05)
    batcher = BatchingServable(fake, BatchingOptions(num_batch_threads=2), name="idem")
    batcher.start()
    future = batcher.submit(SIG, {"x": rows(1)})
    closers = [threading.Thread(target=batcher.close) for _ in range(3)]
    for thread in closers:
        thread.start()
    for thread in closers:
        thread.join(PATIENCE)
    batcher.close()
    assert future.result(0)["y"].shape == (1, 2)
    assert fake.close_count == 1
    assert not any(t.name.startswith("shiba-batch-idem") for t in threading.enumerate())


def test_lifecycle_is_explicit() -> None:
    fake = FakeServable()
    batcher = BatchingServable(fake, BatchingOptions(num_batch_threads=1))
    with pytest.raises(FailedPrecondition, match="start"):
        batcher.submit(SIG, {"x": rows(1)})
    batcher.start()
    with pytest.raises(FailedPrecondition):
        batcher.start()
    batcher.close()
    with pytest.raises(FailedPrecondition):
        batcher.start()
    assert fake.close_count == 1


def test_close_without_start_closes_the_inner_servable() -> None:
    fake = FakeServable()
    BatchingServable(fake, BatchingOptions()).close()
    assert fake.close_count == 1


def test_close_from_a_batch_thread_is_refused(make_batcher: MakeBatcher) -> None:
    holder: list[BatchingServable] = []

    def close_myself(signature_name: str, inputs: Tensors) -> Outputs:
        holder[0].close()
        return {"y": inputs["x"]}

    batcher, _ = make_batcher(FakeServable(compute=close_myself))
    holder.append(batcher)
    with pytest.raises(FailedPrecondition, match="batch thread"):
        batcher.run(SIG, {"x": rows(1)})


def test_run_is_submit_then_result(make_batcher: MakeBatcher) -> None:
    batcher, _ = make_batcher()
    future: Future[Outputs] = batcher.submit(SIG, {"x": rows(2)}, ["y"])
    assert list(future.result(PATIENCE)) == ["y"]
