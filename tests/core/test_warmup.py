"""Replaying warm-up records on fake servables, and the loader that does it before AVAILABLE."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from shiba.core.engine_choice import Candidate, EngineChoiceLoader, VerificationInput
from shiba.core.errors import FailedPrecondition, Internal, InvalidArgument, Unimplemented
from shiba.core.servable import Outputs
from shiba.core.tensors import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    DType,
    Signature,
    Tensors,
    TensorSpec,
)
from shiba.core.warmup import (
    ExamplesRecord,
    MultiInferenceRecord,
    PredictRecord,
    RecordCache,
    WarmupLoader,
    WarmupRecord,
    predict_inputs,
    replay,
)
from tests.fakes import FakeLoader, FakeServable, simple_signature

EXAMPLES = TensorSpec(DType.DT_STRING, (-1,), "tf_example:0")
SIGNATURES = {
    "serving_default": simple_signature(),
    "classify": Signature(
        {"inputs": EXAMPLES},
        {"scores": TensorSpec(DType.DT_FLOAT, (-1, 1), "scores:0")},
        CLASSIFY_METHOD,
    ),
    "regress": Signature(
        {"inputs": EXAMPLES}, {"outputs": TensorSpec(DType.DT_FLOAT, (-1,), "y:0")}, REGRESS_METHOD
    ),
}
SOURCE = "/m/1/assets.extra/tf_serving_warmup_requests"


def compute(signature_name: str, inputs: Tensors) -> Outputs:
    if signature_name == "serving_default":
        return {"y": inputs["x"] / 2 + 2}
    batch = len(inputs["inputs"])
    if signature_name == "classify":
        return {"scores": np.ones((batch, 1), np.float32)}
    return {"outputs": np.zeros(batch, np.float32)}


def x(*rows: float) -> npt.NDArray[np.float32]:
    return np.array([[r, r] for r in rows], np.float32)


def servable() -> FakeServable:
    return FakeServable(SIGNATURES, compute=compute)


RECORDS: list[WarmupRecord] = [
    PredictRecord("", {"x": x(1.0)}),
    PredictRecord("serving_default", {"x": x(1.0, 2.0)}, ("y",)),
    ExamplesRecord(CLASSIFY_METHOD, "classify", (b"e1", b"e2")),
    ExamplesRecord(REGRESS_METHOD, "regress", (b"e3",)),
    MultiInferenceRecord((("classify", CLASSIFY_METHOD), ("regress", REGRESS_METHOD)), (b"e",)),
]


def test_each_record_runs_as_the_service_runs_it() -> None:
    fake = servable()
    replay(fake, RECORDS, iterations=1)
    calls = fake.calls
    assert [(c.signature_name, c.output_filter) for c in calls] == [
        ("serving_default", None),
        ("serving_default", ("y",)),
        ("classify", ("scores",)),
        ("regress", ("outputs",)),
        ("classify", ("scores",)),
        ("regress", ("outputs",)),
    ]
    assert calls[0].inputs["x"] is RECORDS[0].inputs["x"]  # type: ignore[union-attr]
    examples = calls[2].inputs["inputs"]
    assert examples.dtype == object
    assert examples.tolist() == [b"e1", b"e2"]
    # One tensor of examples for every task of a MultiInference record.
    assert calls[4].inputs["inputs"] is calls[5].inputs["inputs"]


@pytest.mark.parametrize("iterations", [1, 3])
def test_each_record_runs_iterations_times(iterations: int) -> None:
    fake = servable()
    replay(fake, RECORDS, iterations=iterations)
    assert len(fake.calls) == 6 * iterations
    # Record by record: all iterations of one before the next.
    names = [c.signature_name for c in fake.calls]
    assert names[:iterations] == ["serving_default"] * iterations


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        (
            PredictRecord("nope", {"x": x(1.0)}),
            FailedPrecondition,
            'Serving signature key "nope" not found.',
        ),
        (
            PredictRecord("", {"z": x(1.0)}),
            InvalidArgument,
            "input size does not match signature: 1!=1 len({z}) != len({x}). "
            "Sent extra: {z}. Missing but required: {x}.",
        ),
        (
            PredictRecord("", {"x": np.ones((1, 2), np.float64)}),
            InvalidArgument,
            "input 'x' expects DT_FLOAT but got DT_DOUBLE",
        ),
        (
            PredictRecord("", {"x": x(1.0)}, ("nope",)),
            InvalidArgument,
            "output tensor alias not found in signature: nope. Outputs expected to be in the "
            "set {y}.",
        ),
        (
            ExamplesRecord(CLASSIFY_METHOD, "regress", (b"e",)),
            InvalidArgument,
            'Expected classification signature outputs to contain at least one of "classes" or '
            '"scores".',
        ),
        (
            ExamplesRecord(REGRESS_METHOD, "nope", (b"e",)),
            InvalidArgument,
            "No signature was found with the name: nope",
        ),
        (
            MultiInferenceRecord((("classify", "tensorflow/serving/predict"),), (b"e",)),
            Unimplemented,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
    ],
)
def test_a_bad_record_fails_with_the_services_wording(
    record: WarmupRecord, error: type[Exception], message: str
) -> None:
    fake = servable()
    with pytest.raises(error) as caught:
        replay(fake, [RECORDS[0], record], source=SOURCE)
    assert str(caught.value) == f"Warm-up record 1 of {SOURCE} failed: {message}"
    assert len(fake.calls) == 1  # the good record ran; the bad one never reached the model


def test_the_answer_checks_of_the_service_apply() -> None:
    def wrong_batch(signature_name: str, inputs: Tensors) -> Outputs:
        return {"scores": np.ones((5, 1), np.float32)}

    fake = FakeServable(SIGNATURES, compute=wrong_batch)
    with pytest.raises(InvalidArgument) as caught:
        replay(fake, [ExamplesRecord(CLASSIFY_METHOD, "classify", (b"e",))], source=SOURCE)
    assert caught.value.message == (
        f"Warm-up record 0 of {SOURCE} failed: Input batch size did not match output batch "
        "size: 1 vs. 5"
    )


def test_a_model_error_keeps_its_code_and_anything_else_is_internal() -> None:
    fake = servable()
    fake.fail_with(InvalidArgument("Incompatible shapes"), times=1)
    with pytest.raises(InvalidArgument) as caught:
        replay(fake, RECORDS[:1], source=SOURCE)
    assert caught.value.message == f"Warm-up record 0 of {SOURCE} failed: Incompatible shapes"
    fake.fail_with(RuntimeError("segfault-ish"), times=1)
    with pytest.raises(Internal) as internal:
        replay(fake, RECORDS[:1], source=SOURCE)
    assert internal.value.message == (
        f"Warm-up record 0 of {SOURCE} failed: RuntimeError: segfault-ish"
    )


# -- the loader -----------------------------------------------------------------------------------


def test_the_loader_replays_before_returning(caplog: pytest.LogCaptureFixture) -> None:
    live_before = FakeLoader.live
    fake = servable()
    inner = FakeLoader(lambda: fake)
    reads: list[int] = []

    def read() -> Sequence[WarmupRecord]:
        reads.append(1)
        return RECORDS

    loader = WarmupLoader(inner, read, iterations=2, path=SOURCE)
    with caplog.at_level(logging.INFO, logger="shiba.core.warmup"):
        loaded = loader.load()
    assert loaded is fake
    assert len(fake.calls) == 12
    assert reads == [1]
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        f"Finished reading warmup data for model at {SOURCE}. Number of warmup records read: 5. "
        "Elapsed time (microseconds): "
    )
    assert line.endswith(".")
    loader.unload()
    assert inner.unloads == 1
    assert FakeLoader.live == live_before


def test_a_failing_record_fails_the_load_and_unloads_the_inner_loader() -> None:
    live_before = FakeLoader.live
    inner = FakeLoader(servable)
    records = [RECORDS[0], PredictRecord("nope", {"x": x(1.0)})]
    loader = WarmupLoader(inner, lambda: records, path=SOURCE)
    with pytest.raises(FailedPrecondition, match="Warm-up record 1 of "):
        loader.load()
    assert inner.loads == 1
    assert inner.unloads == 1
    assert FakeLoader.live == live_before


def test_a_failing_read_fails_the_load_and_unloads_the_inner_loader() -> None:
    live_before = FakeLoader.live
    inner = FakeLoader(servable)

    def read() -> Sequence[WarmupRecord]:
        raise InvalidArgument("Number of warmup records exceeds the maximum (1000) at f")

    with pytest.raises(InvalidArgument, match="exceeds the maximum"):
        WarmupLoader(inner, read).load()
    assert inner.unloads == 1
    assert FakeLoader.live == live_before


def test_an_inner_load_error_propagates() -> None:
    inner = FakeLoader(servable, fail=FailedPrecondition("no model"))
    loader = WarmupLoader(inner, lambda: RECORDS)
    with pytest.raises(FailedPrecondition, match="no model"):
        loader.load()
    assert inner.unloads == 0


# -- shared records and engine verification -------------------------------------------------------


def test_predict_inputs_keep_what_the_service_would_accept() -> None:
    records: list[WarmupRecord] = [
        PredictRecord("", {"x": x(1.0)}),
        ExamplesRecord(CLASSIFY_METHOD, "classify", (b"e",)),
        PredictRecord("nope", {"x": x(2.0)}),
        PredictRecord("serving_default", {"x": np.ones((1, 2), np.float64)}),
        PredictRecord("serving_default", {"x": x(3.0)}, ("y",)),
    ]
    found = predict_inputs(records, SIGNATURES)
    assert list(found) == ["serving_default"]
    assert [v.label for v in found["serving_default"]] == ["warm-up record 0", "warm-up record 4"]
    assert found["serving_default"][1].inputs["x"].tolist() == [[3.0, 3.0]]


def test_the_cache_reads_once_per_load_and_forgets_after_it() -> None:
    live_before = FakeLoader.live
    reads: list[int] = []

    def read() -> Sequence[WarmupRecord]:
        reads.append(1)
        return RECORDS

    cache = RecordCache(read)
    seen: list[dict[str, list[VerificationInput]]] = []

    def extra(signatures: Mapping[str, Signature]) -> dict[str, list[VerificationInput]]:
        found = cache.predict_inputs(signatures)
        seen.append(found)
        return found

    def build(signatures: Mapping[str, Signature]) -> Candidate:
        wanted = {"serving_default": signatures["serving_default"]}
        return Candidate(FakeServable(wanted, compute=compute))

    inner = FakeLoader(servable)
    choice = EngineChoiceLoader(inner, build, extra_inputs=extra, release_reference=False)
    chain = WarmupLoader(choice, cache, path=SOURCE)
    chain.load()
    assert reads == [1]  # the engine choice and the replay shared one read
    assert [v.label for v in seen[0]["serving_default"]] == ["warm-up record 0", "warm-up record 1"]
    assert choice.decisions["serving_default"].engine == "openvino"
    chain.unload()
    chain.load()
    assert reads == [1, 1]  # cleared after the first load: read again by the next
    chain.unload()
    assert FakeLoader.live == live_before


def test_the_cache_keeps_no_error() -> None:
    attempts: list[int] = []

    def read() -> Sequence[WarmupRecord]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("busy")
        return RECORDS

    cache = RecordCache(read)
    with pytest.raises(OSError):
        cache()
    assert cache() == tuple(RECORDS)
    assert len(attempts) == 2
