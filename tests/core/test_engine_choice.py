"""Choosing an engine per signature, with fake engines: the honest way to see verification fail."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.core.engine_choice import (
    DEFAULT_TOLERANCE,
    Candidate,
    EngineChoiceLoader,
    EngineChoiceServable,
    EngineDecision,
    Tolerance,
    VerificationInput,
    choose,
    compare_outputs,
    generate_inputs,
    needs_candidate,
)
from shiba.core.errors import FailedPrecondition, InvalidArgument
from shiba.core.ids import ServableId
from shiba.core.servable import Outputs, Servable
from shiba.core.tensors import (
    CLASSIFY_METHOD,
    DType,
    Signature,
    Tensors,
    TensorSpec,
)
from tests.fakes import FakeLoader, FakeServable, simple_signature

SID = ServableId("m", 1)

#: Two numeric predict signatures and one string signature, as the reference serves them.
SIGNATURES: Mapping[str, Signature] = {
    "serving_default": simple_signature(shape=(-1, 2)),
    "other": simple_signature(shape=(-1, 3)),
    "strings": simple_signature(dtype=DType.DT_STRING, shape=(-1,)),
}
#: TF2's init "signature": an operation, not a tensor.
INIT_OP = Signature(inputs={}, outputs={"op": TensorSpec(DType.DT_INVALID, None, "NoOp")})


def half_plus_two(signature_name: str, inputs: Tensors) -> Outputs:
    x = inputs["x"]
    return {"y": x.copy() if x.dtype.kind == "O" else x / 2 + 2}


def off_by(amount: float, on: str) -> Any:
    """A computation off by ``amount`` on signature ``on``, exact elsewhere."""

    def compute(signature_name: str, inputs: Tensors) -> Outputs:
        y = inputs["x"] / 2 + 2
        if signature_name == on:
            y = y + np.asarray(amount, dtype=y.dtype)
        return {"y": y}

    return compute


def subset(names: tuple[str, ...]) -> dict[str, Signature]:
    return {name: SIGNATURES[name] for name in names}


def test_agreeing_signatures_go_to_the_candidate() -> None:
    reference = FakeServable(SIGNATURES, compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default", "other")), compute=off_by(1e-7, "other"))
    servable, decisions = choose(
        reference, candidate, rejected={"strings": "input x is DT_STRING"}, rng_seed=1
    )
    assert list(decisions) == list(SIGNATURES)
    assert decisions["serving_default"] == EngineDecision("openvino", "verified, max abs diff 0", 0)
    other = decisions["other"]
    assert other.engine == "openvino"
    assert other.max_abs_diff is not None
    assert 0 < other.max_abs_diff < 1e-6
    assert other.describe().startswith("openvino (verified, max abs diff ")
    assert decisions["strings"] == EngineDecision("tensorflow", "input x is DT_STRING")
    # Verification ran each signature at batch 1 and 3 on both engines, on the same arrays.
    ran = [(c.signature_name, c.inputs["x"].shape) for c in candidate.calls]
    assert ran == [
        ("serving_default", (1, 2)),
        ("serving_default", (3, 2)),
        ("other", (1, 3)),
        ("other", (3, 3)),
    ]
    for mine, theirs in zip(reference.calls, candidate.calls, strict=True):
        assert mine.inputs["x"] is theirs.inputs["x"]
    # Calls are routed by decision.
    before = len(reference.calls)
    x = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(servable.run("serving_default", {"x": x})["y"], x / 2 + 2)
    servable.run("strings", {"x": np.array([b"a"], object)})
    assert candidate.calls[-1].signature_name == "serving_default"
    assert [c.signature_name for c in reference.calls[before:]] == ["strings"]
    assert servable.signatures is reference.signatures
    assert servable.decisions == decisions


def test_a_candidate_off_by_1e_2_stays_on_the_reference() -> None:
    reference = FakeServable(SIGNATURES, compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default", "other")), compute=off_by(1e-2, "other"))
    servable, decisions = choose(reference, candidate, rng_seed=0)
    assert decisions["serving_default"].engine == "openvino"
    other = decisions["other"]
    assert other.engine == "tensorflow"
    assert other.reason == (
        "openvino disagrees at batch 1: output y differs by up to 0.01, beyond "
        "atol 1e-05 + rtol 0.0001 x |value|"
    )
    assert other.max_abs_diff == pytest.approx(1e-2, rel=1e-3)
    assert decisions["strings"].reason == "openvino does not serve it"
    before = len(candidate.calls)
    servable.run("other", {"x": np.ones((1, 3), np.float32)})
    assert len(candidate.calls) == before
    assert reference.calls[-1].signature_name == "other"


def test_engine_names_are_the_callers() -> None:
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    _, decisions = choose(reference, candidate, reference_engine="ref", candidate_engine="fast")
    assert decisions["serving_default"].engine == "fast"
    _, decisions = choose(reference, None, reference_engine="ref", candidate_engine="fast")
    assert decisions["serving_default"] == EngineDecision("ref", "fast does not serve it")


@pytest.mark.parametrize(
    ("compute", "reason"),
    [
        (
            lambda name, inputs: {"y": (inputs["x"] / 2 + 2)[:1]},
            "openvino disagrees at batch 3: output y has shape [1, 2], not [3, 2]",
        ),
        (
            lambda name, inputs: {"y": (inputs["x"] / 2 + 2).astype(np.float64)},
            "openvino disagrees at batch 1: output y is float64, not float32",
        ),
    ],
)
def test_wrong_shapes_dtypes_and_names_stay_on_the_reference(compute: Any, reason: str) -> None:
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)))
    candidate.compute = compute
    _, decisions = choose(reference, candidate)
    assert decisions["serving_default"] == EngineDecision(
        "tensorflow", reason, decisions["serving_default"].max_abs_diff
    )


def test_errors_on_either_engine_keep_the_reference() -> None:
    reference = FakeServable(subset(("serving_default", "other")), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default", "other")), compute=half_plus_two)
    candidate.fail_with(InvalidArgument("bad shape"), times=1)
    _, decisions = choose(reference, candidate)
    assert decisions["serving_default"].reason == (
        "openvino failed on generated inputs of batch 1: bad shape"
    )
    assert decisions["other"].engine == "openvino"
    reference.fail_with(RuntimeError("kaput"), times=1)
    _, decisions = choose(reference, candidate)
    assert decisions["serving_default"].reason == (
        "not verifiable: tensorflow rejects generated inputs (RuntimeError: kaput)"
    )


def test_a_candidate_with_other_specs_is_not_run() -> None:
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable({"serving_default": simple_signature(shape=(-1, 5))})
    _, decisions = choose(reference, candidate)
    assert decisions["serving_default"].reason == (
        "openvino serves it with other tensor specs than tensorflow"
    )
    assert candidate.calls == []


def test_unknown_rank_is_not_verifiable() -> None:
    signatures = {"serving_default": simple_signature(shape=None)}
    reference = FakeServable(signatures)
    candidate = FakeServable(signatures)
    _, decisions = choose(reference, candidate)
    assert decisions["serving_default"] == EngineDecision(
        "tensorflow", "not verifiable: input x has unknown rank"
    )
    assert reference.calls == candidate.calls == []


def test_generated_inputs() -> None:
    signature = Signature(
        inputs={
            "f": TensorSpec(DType.DT_FLOAT, (-1, 4)),
            "h": TensorSpec(DType.DT_HALF, (2,)),
            "i": TensorSpec(DType.DT_INT32, (-1, -1)),
            "u": TensorSpec(DType.DT_UINT8, ()),
            "b": TensorSpec(DType.DT_BOOL, (-1,)),
            "c": TensorSpec(DType.DT_COMPLEX64, (1,)),
        },
        outputs={},
    )
    arrays = generate_inputs(signature, 5, np.random.default_rng(0))
    assert {k: (a.shape, a.dtype) for k, a in arrays.items()} == {
        "f": ((5, 4), np.dtype(np.float32)),
        "h": ((2,), np.dtype(np.float16)),
        "i": ((5, 5), np.dtype(np.int32)),
        "u": ((), np.dtype(np.uint8)),
        "b": ((5,), np.dtype(np.bool_)),
        "c": ((1,), np.dtype(np.complex64)),
    }
    assert arrays["f"].min() >= -1
    assert arrays["f"].max() < 1
    assert set(np.unique(arrays["i"])) <= {0, 1, 2}
    again = generate_inputs(signature, 5, np.random.default_rng(0))
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, again[name])
    for dtype in (DType.DT_STRING, DType.DT_BFLOAT16, DType.DT_INVALID):
        bad = Signature(inputs={"s": TensorSpec(dtype, (1,))}, outputs={})
        with pytest.raises(ValueError, match=f"input s is {dtype.name}, not a numeric tensor"):
            generate_inputs(bad, 1, np.random.default_rng(0))


def f32(values: Any) -> npt.NDArray[np.float32]:
    return np.asarray(values, dtype=np.float32)


@pytest.mark.parametrize(
    ("want", "got", "ok"),
    [
        (f32([1.0, 0.5]), f32([1.0 + 4e-7, 0.5]), True),  # the ViT's rounding noise
        (f32([100.0]), f32([100.009]), True),  # rtol: 1e-5 + 1e-2
        (f32([100.0]), f32([100.02]), False),
        (f32([0.0]), f32([9e-6]), True),  # atol near zero
        (f32([0.0]), f32([2e-5]), False),
        (f32([0.25]), f32([0.25 + 6e-3]), False),  # bf16 drift
        (f32([np.nan, np.inf, -np.inf]), f32([np.nan, np.inf, -np.inf]), True),
        (f32([np.nan]), f32([1.0]), False),
        (f32([1.0]), f32([np.inf]), False),
        (np.array([3], np.int64), np.array([3], np.int64), True),
        (np.array([3], np.int64), np.array([4], np.int64), False),
        (np.array([True]), np.array([False]), False),
        (np.array([b"a"], object), np.array([b"a"], object), True),
        (np.array([b"a"], object), np.array([b"b"], object), False),
    ],
)
def test_tolerance(want: npt.NDArray[Any], got: npt.NDArray[Any], ok: bool) -> None:
    signature = Signature(inputs={}, outputs={"y": TensorSpec(DType.DT_FLOAT, None)})
    diff, problem = compare_outputs(signature, {"y": want}, {"y": got}, DEFAULT_TOLERANCE)
    assert (problem is None) is ok, problem
    assert diff >= 0


def test_outputs_must_be_the_signatures() -> None:
    signature = SIGNATURES["serving_default"]
    diff, problem = compare_outputs(signature, {"y": f32([1])}, {"z": f32([1])}, DEFAULT_TOLERANCE)
    assert (diff, problem) == (0.0, "outputs ['z'] instead of ['y']")


def test_a_looser_tolerance_accepts_more() -> None:
    reference = FakeServable(subset(("other",)), compute=half_plus_two)
    candidate = FakeServable(subset(("other",)), compute=off_by(1e-2, "other"))
    _, decisions = choose(reference, candidate, tolerance=Tolerance(atol=0.02, rtol=0))
    assert decisions["other"].engine == "openvino"


def test_the_candidate_rejecting_a_call_is_answered_by_the_reference() -> None:
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    servable, _ = choose(reference, candidate)
    candidate.fail_with(InvalidArgument("OpenVINO's words"))
    reference.fail_with(InvalidArgument("TensorFlow's words"))
    with pytest.raises(InvalidArgument, match="TensorFlow's words"):
        servable.run("serving_default", {"x": f32([[1, 2, 3]])})
    reference.fail_with(None)
    assert servable.run("serving_default", {"x": f32([[2, 4]])})["y"].tolist() == [[3, 4]]


def release(
    extra: Mapping[str, Signature],
) -> tuple[EngineChoiceServable, FakeServable, FakeServable]:
    signatures = {"serving_default": SIGNATURES["serving_default"], **extra}
    reference = FakeServable(signatures, compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    servable, _ = choose(reference, candidate)
    return servable, reference, candidate


def test_the_reference_is_released_when_the_candidate_serves_everything() -> None:
    servable, reference, candidate = release({"__saved_model_init_op": INIT_OP})
    reference.fail_with(FailedPrecondition('Serving signature key "init" cannot be run'))
    assert servable.release_reference()
    assert reference.closed
    assert servable.reference_released
    assert servable.signatures is reference.signatures
    # The reference's answer for the signature nobody can run is replayed, as a new error.
    errors = []
    for _ in range(2):
        with pytest.raises(FailedPrecondition, match="cannot be run") as caught:
            servable.run("__saved_model_init_op", {})
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    with pytest.raises(FailedPrecondition, match='Serving signature key "nope" not found'):
        servable.run("nope", {})
    # Calls the candidate rejects now fail with its error.
    candidate.fail_with(InvalidArgument("OpenVINO's words"))
    with pytest.raises(InvalidArgument, match="OpenVINO's words"):
        servable.run("serving_default", {"x": f32([[1, 2, 3]])})
    servable.close()
    assert candidate.close_count == 1
    assert reference.close_count == 1


def test_the_reference_is_kept_while_a_signature_needs_it() -> None:
    servable, reference, _ = release({"strings": SIGNATURES["strings"]})
    assert not servable.release_reference()
    assert not reference.closed
    # A reference that fails the init op with anything but a ShibaError is kept too.
    servable, reference, _ = release({"__saved_model_init_op": INIT_OP})
    assert not servable.release_reference()
    # And nothing is released when the candidate serves nothing.
    reference = FakeServable({"__saved_model_init_op": INIT_OP})
    reference.fail_with(FailedPrecondition("no"))
    servable, _ = choose(reference, None)
    assert not servable.release_reference()


def test_close_closes_both_once() -> None:
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    servable, _ = choose(reference, candidate)
    servable.close()
    servable.close()
    assert (reference.close_count, candidate.close_count) == (1, 1)
    with pytest.raises(FailedPrecondition, match="closed"):
        servable.run("serving_default", {"x": f32([[1, 2]])})


def test_needs_candidate() -> None:
    assert needs_candidate(SIGNATURES["serving_default"])
    assert not needs_candidate(SIGNATURES["strings"])
    assert not needs_candidate(INIT_OP)
    classify = Signature(
        inputs=SIGNATURES["serving_default"].inputs,
        outputs=SIGNATURES["serving_default"].outputs,
        method_name=CLASSIFY_METHOD,
    )
    assert not needs_candidate(classify)


# -- the loader ---------------------------------------------------------------------------------


class Builder:
    """A CandidateBuilder over a fake engine that serves ``names`` (computing ``compute``)."""

    def __init__(
        self, names: tuple[str, ...], compute: Any = half_plus_two, error: Exception | None = None
    ) -> None:
        self.names = names
        self.compute = compute
        self.error = error
        self.built: list[FakeServable] = []

    def __call__(self, signatures: Mapping[str, Signature]) -> Candidate:
        if self.error is not None:
            raise self.error
        servable = FakeServable(
            {name: signatures[name] for name in self.names}, compute=self.compute
        )
        self.built.append(servable)
        rejected = {name: "cannot" for name in signatures if name not in self.names}
        return Candidate(servable, rejected)


def reference_loader(signatures: Mapping[str, Signature] = SIGNATURES) -> FakeLoader:
    return FakeLoader(lambda: FakeServable(signatures, compute=half_plus_two))


def test_the_loader_logs_and_records_each_decision(caplog: pytest.LogCaptureFixture) -> None:
    live_before = FakeLoader.live
    inner = reference_loader()
    builder = Builder(("serving_default", "other"), compute=off_by(1e-2, "other"))
    seen: list[Mapping[str, EngineDecision]] = []
    loader = EngineChoiceLoader(inner, builder, servable_id=SID, on_decisions=seen.append)
    assert loader.decisions == {}
    with caplog.at_level(logging.INFO, logger="shiba.core.engine_choice"):
        servable = loader.load()
    assert isinstance(servable, EngineChoiceServable)
    assert [r.getMessage() for r in caplog.records] == [
        "signature serving_default of {name: m version: 1}: openvino (verified, max abs diff 0)",
        "signature other of {name: m version: 1}: tensorflow (openvino disagrees at batch 1: "
        "output y differs by up to 0.01, beyond atol 1e-05 + rtol 0.0001 x |value|)",
        "signature strings of {name: m version: 1}: tensorflow (cannot)",
    ]
    assert seen == [loader.decisions]
    assert [d.engine for d in loader.decisions.values()] == ["openvino", "tensorflow", "tensorflow"]
    loader.unload()
    assert builder.built[0].closed
    assert inner.unloads == 1
    assert FakeLoader.live == live_before


def test_auto_without_the_engine_serves_on_the_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = reference_loader()
    missing = FailedPrecondition("the openvino engine needs the openvino package")
    loader = EngineChoiceLoader(inner, Builder((), error=missing), servable_id=SID)
    with caplog.at_level(logging.INFO, logger="shiba.core.engine_choice"):
        servable = loader.load()
    assert {d.engine for d in loader.decisions.values()} == {"tensorflow"}
    assert loader.decisions["serving_default"].reason == (
        "openvino unavailable: the openvino engine needs the openvino package"
    )
    assert len(caplog.records) == 3
    x = f32([[2, 4]])
    assert servable.run("serving_default", {"x": x})["y"].tolist() == [[3, 4]]
    loader.unload()


def test_forced_without_the_engine_is_a_load_error() -> None:
    live_before = FakeLoader.live
    inner = reference_loader()
    missing = FailedPrecondition("the openvino engine needs the openvino package")
    loader = EngineChoiceLoader(
        inner, Builder((), error=missing), servable_id=SID, require_candidate=True
    )
    with pytest.raises(FailedPrecondition) as caught:
        loader.load()
    assert caught.value.message == (
        "{name: m version: 1} cannot run on openvino: the openvino engine needs the openvino "
        "package"
    )
    assert inner.unloads == 1
    assert FakeLoader.live == live_before


def test_forced_fails_when_a_numeric_predict_signature_stays_behind() -> None:
    live_before = FakeLoader.live
    inner = reference_loader()
    builder = Builder(("serving_default", "other"), compute=off_by(1e-2, "other"))
    loader = EngineChoiceLoader(inner, builder, servable_id=SID, require_candidate=True)
    with pytest.raises(FailedPrecondition) as caught:
        loader.load()
    assert caught.value.message.startswith(
        "{name: m version: 1} cannot run on openvino (the engine is set to openvino; set it to "
        "auto to fall back to tensorflow): other: openvino disagrees at batch 1: output y differs"
    )
    # The string signature is not required to move.
    assert "strings" not in caught.value.message
    assert builder.built[0].closed
    assert inner.unloads == 1
    assert FakeLoader.live == live_before


def test_forced_succeeds_when_only_string_signatures_stay() -> None:
    inner = reference_loader()
    builder = Builder(("serving_default", "other"))
    loader = EngineChoiceLoader(inner, builder, servable_id=SID, require_candidate=True)
    loader.load()
    assert loader.decisions["strings"].engine == "tensorflow"
    loader.unload()


def test_the_loader_releases_the_reference_when_it_can() -> None:
    signatures = {"serving_default": SIGNATURES["serving_default"], "init": INIT_OP}
    references: list[FakeServable] = []

    def compute(signature_name: str, inputs: Tensors) -> Outputs:
        if signature_name == "init":
            raise FailedPrecondition("init cannot be run")
        return half_plus_two(signature_name, inputs)

    def make() -> Servable:
        servable = FakeServable(signatures, compute=compute)
        references.append(servable)
        return servable

    inner = FakeLoader(make)
    loader = EngineChoiceLoader(inner, Builder(("serving_default",)), servable_id=SID)
    servable = loader.load()
    assert references[0].closed
    assert servable.run("serving_default", {"x": f32([[2, 4]])})["y"].tolist() == [[3, 4]]
    loader.unload()
    inner2 = FakeLoader(make)
    kept = EngineChoiceLoader(
        inner2, Builder(("serving_default",)), servable_id=SID, release_reference=False
    )
    kept.load()
    assert not references[1].closed
    kept.unload()
    assert references[1].closed


# -- warm-up inputs -------------------------------------------------------------------------------


def clipped(signature_name: str, inputs: Tensors) -> Outputs:
    """Right on the generated inputs (in [-1, 1)), wrong beyond |x| > 10: a conversion bug that
    only real data shows."""
    x = inputs["x"]
    return {"y": np.clip(x, -10, 10) / 2 + 2}


def warmup(label: str, *rows: list[float]) -> VerificationInput:
    return VerificationInput(label, {"x": f32(list(rows))})


def test_a_warm_up_input_the_candidate_gets_wrong_keeps_the_reference() -> None:
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)), compute=clipped)
    _, decisions = choose(reference, candidate)
    assert decisions["serving_default"].engine == "openvino"  # generated inputs alone pass
    extra = {
        "serving_default": [
            warmup("warm-up record 0", [1, 2]),
            warmup("warm-up record 3", [100, 4]),
        ]
    }
    servable, decisions = choose(reference, candidate, extra_inputs=extra)
    decision = decisions["serving_default"]
    assert decision.engine == "tensorflow"
    assert decision.reason == (
        "openvino disagrees on warm-up record 3: output y differs by up to 45, beyond "
        "atol 1e-05 + rtol 0.0001 x |value|"
    )
    assert decision.max_abs_diff == 45
    # Generated inputs first (batch 1 and 3), then the warm-up inputs in order, the same arrays.
    shapes = [c.inputs["x"].shape for c in candidate.calls[-4:]]
    assert shapes == [(1, 2), (3, 2), (1, 2), (1, 2)]
    assert candidate.calls[-1].inputs["x"] is extra["serving_default"][1].inputs["x"]
    assert reference.calls[-1].inputs["x"] is extra["serving_default"][1].inputs["x"]
    before = len(candidate.calls)
    assert servable.run("serving_default", {"x": f32([[100, 0]])})["y"].tolist() == [[52, 2]]
    assert len(candidate.calls) == before


def test_warm_up_inputs_of_other_signatures_are_not_run() -> None:
    reference = FakeServable(subset(("serving_default", "other")), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default", "other")), compute=clipped)
    extra = {"other": [VerificationInput("warm-up record 0", {"x": f32([[100, 0, 0]])})]}
    _, decisions = choose(reference, candidate, extra_inputs=extra)
    assert decisions["serving_default"].engine == "openvino"
    assert decisions["other"].reason.startswith("openvino disagrees on warm-up record 0: ")


def rejects_large(signature_name: str, inputs: Tensors) -> Outputs:
    if (np.abs(inputs["x"]) >= 50).any():
        raise InvalidArgument("value out of range")
    return half_plus_two(signature_name, inputs)


def test_errors_on_warm_up_inputs_keep_the_reference() -> None:
    extra = {"serving_default": [warmup("warm-up record 1", [60, 2])]}
    reference = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    candidate = FakeServable(subset(("serving_default",)), compute=rejects_large)
    _, decisions = choose(reference, candidate, extra_inputs=extra)
    assert decisions["serving_default"] == EngineDecision(
        "tensorflow", "openvino failed on warm-up record 1: value out of range"
    )
    reference = FakeServable(subset(("serving_default",)), compute=rejects_large)
    candidate = FakeServable(subset(("serving_default",)), compute=half_plus_two)
    _, decisions = choose(reference, candidate, extra_inputs=extra)
    assert decisions["serving_default"] == EngineDecision(
        "tensorflow", "not verifiable: tensorflow rejects warm-up record 1 (value out of range)"
    )


def test_the_loader_asks_for_warm_up_inputs_with_the_references_signatures() -> None:
    live_before = FakeLoader.live
    asked: list[Mapping[str, Signature]] = []

    def extra(signatures: Mapping[str, Signature]) -> dict[str, list[VerificationInput]]:
        asked.append(signatures)
        return {"serving_default": [warmup("warm-up record 0", [100, 4])]}

    inner = reference_loader()
    builder = Builder(("serving_default", "other"), compute=clipped)
    loader = EngineChoiceLoader(inner, builder, servable_id=SID, extra_inputs=extra)
    loader.load()
    assert asked == [SIGNATURES]
    assert loader.decisions["serving_default"].reason.startswith(
        "openvino disagrees on warm-up record 0: output y differs by up to 45"
    )
    assert loader.decisions["other"].engine == "openvino"
    loader.unload()
    assert FakeLoader.live == live_before


def test_unreadable_warm_up_inputs_fail_the_load() -> None:
    live_before = FakeLoader.live

    def extra(signatures: Mapping[str, Signature]) -> dict[str, list[VerificationInput]]:
        raise InvalidArgument("Failed to parse warmup record 0 from f")

    inner = reference_loader()
    builder = Builder(("serving_default",))
    loader = EngineChoiceLoader(inner, builder, servable_id=SID, extra_inputs=extra)
    with pytest.raises(InvalidArgument, match="Failed to parse warmup record 0"):
        loader.load()
    assert builder.built == []
    assert inner.unloads == 1
    assert FakeLoader.live == live_before
