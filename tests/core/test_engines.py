"""Which engine serves each signature: the plan per version, and the record kept from load to
unload (by the tracked loader alone, and under the real manager)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from shiba.core.engine_choice import Candidate, EngineChoiceLoader, EngineDecision
from shiba.core.engines import EnginePlan, ServingEngines, plan_engine
from shiba.core.errors import FailedPrecondition, NotFound
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.servable import Outputs
from shiba.core.tensors import DType, Signature, Tensors
from tests.fakes import FakeLoader, FakeServable, simple_signature

SID = ServableId("m", 1)
SIGNATURES: Mapping[str, Signature] = {
    "serving_default": simple_signature(),
    "strings": simple_signature(dtype=DType.DT_STRING, shape=(-1,)),
}
ON_TF = EngineDecision("tensorflow", "engine set to tensorflow by --tensorflow_engine")


def half_plus_two(signature_name: str, inputs: Tensors) -> Outputs:
    x = inputs["x"]
    return {"y": x.copy() if x.dtype.kind == "O" else x / 2 + 2}


def reference() -> FakeLoader:
    return FakeLoader(lambda: FakeServable(SIGNATURES, compute=half_plus_two))


def candidate(signatures: Mapping[str, Signature]) -> Candidate:
    """A fake engine serving ``serving_default`` with the reference's answers."""
    servable = FakeServable(
        {"serving_default": signatures["serving_default"]}, compute=half_plus_two
    )
    return Candidate(servable, {"strings": "only numeric signatures"})


# -- the plan -----------------------------------------------------------------------------------

ON_ORT = EngineDecision("onnxruntime", "engine set to onnxruntime by --onnx_engine")
TF_CHOICE = EnginePlan(None, reference_engine="tensorflow")
ORT_CHOICE = EnginePlan(None, reference_engine="onnxruntime")


def flags(tensorflow: str = "auto", onnx: str = "auto", torch: str = "auto") -> dict[str, str]:
    return {"tensorflow": tensorflow, "onnx": onnx, "pytorch": torch}


@pytest.mark.parametrize(
    ("platform", "model", "flag_engines", "installed", "plan"),
    [
        ("tensorflow", None, flags(), True, TF_CHOICE),
        ("tensorflow", None, flags("openvino"), True, EnginePlan(None, require_candidate=True)),
        # forced without the package: the choice runs, and its builder fails the load
        ("tensorflow", None, flags("openvino"), False, EnginePlan(None, require_candidate=True)),
        ("tensorflow", None, flags("tensorflow"), True, EnginePlan(ON_TF)),
        (
            "tensorflow",
            None,
            flags(),
            False,
            EnginePlan(EngineDecision("tensorflow", "openvino is not installed")),
        ),
        # the model's setting wins over the flag's, both ways
        (
            "tensorflow",
            "tensorflow",
            flags("openvino"),
            True,
            EnginePlan(
                EngineDecision("tensorflow", "engine set to tensorflow in the model config")
            ),
        ),
        ("tensorflow", "openvino", flags("tensorflow"), False, EnginePlan(None, True)),
        ("tensorflow", "auto", flags("tensorflow"), True, TF_CHOICE),
        # --onnx_engine is not --tensorflow_engine
        ("tensorflow", None, flags(onnx="onnxruntime"), True, TF_CHOICE),
        ("tensorflow", None, {}, True, TF_CHOICE),
        # ONNX: verified against onnxruntime, set by --onnx_engine alone
        ("onnx", None, flags(), True, ORT_CHOICE),
        ("onnx", None, {}, True, ORT_CHOICE),
        ("onnx", None, flags(tensorflow="tensorflow"), True, ORT_CHOICE),
        ("onnx", None, flags(onnx="openvino"), True, EnginePlan(None, True, "onnxruntime")),
        ("onnx", None, flags(onnx="openvino"), False, EnginePlan(None, True, "onnxruntime")),
        ("onnx", None, flags(onnx="onnxruntime"), True, EnginePlan(ON_ORT, False, "onnxruntime")),
        (
            "onnx",
            None,
            flags(),
            False,
            EnginePlan(
                EngineDecision("onnxruntime", "openvino is not installed"), False, "onnxruntime"
            ),
        ),
        # a model config's tensorflow_engine does not apply to an ONNX model
        ("onnx", "tensorflow", flags(), True, ORT_CHOICE),
        (
            "onnx",
            "openvino",
            flags(onnx="onnxruntime"),
            True,
            EnginePlan(ON_ORT, False, "onnxruntime"),
        ),
        # PyTorch: verified against torch, set by --torch_engine alone
        ("pytorch", None, flags(), True, EnginePlan(None, reference_engine="torch")),
        ("pytorch", None, flags(torch="openvino"), False, EnginePlan(None, True, "torch")),
        (
            "pytorch",
            "openvino",
            flags("openvino", "openvino", torch="torch"),
            True,
            EnginePlan(
                EngineDecision("torch", "engine set to torch by --torch_engine"), False, "torch"
            ),
        ),
        (
            "pytorch",
            None,
            flags(),
            False,
            EnginePlan(EngineDecision("torch", "openvino is not installed"), False, "torch"),
        ),
        # other platforms run on their own engine
        (
            "python",
            "openvino",
            flags("openvino", "openvino", torch="openvino"),
            True,
            EnginePlan(EngineDecision("python", "python models run on python"), False, "python"),
        ),
        (
            None,
            None,
            flags(),
            True,
            EnginePlan(
                EngineDecision("unknown", "unknown models run on unknown"), False, "unknown"
            ),
        ),
    ],
)
def test_plan(
    platform: str | None,
    model: str | None,
    flag_engines: Mapping[str, str],
    installed: bool,
    plan: EnginePlan,
) -> None:
    assert plan_engine(platform, model, flag_engines, installed) == plan


# -- the record ---------------------------------------------------------------------------------


def test_record_forget_and_snapshot() -> None:
    engines = ServingEngines()
    assert engines.get(SID) is None and engines.snapshot() == {}
    first = engines.record(SID, {"serving_default": ON_TF})
    other = ServableId("a", 7)
    engines.record(other, {"x": ON_TF})
    assert engines.get(SID) == {"serving_default": ON_TF}
    assert list(engines.snapshot()) == [other, SID]
    newer = engines.record(SID, {"serving_default": EngineDecision("openvino", "verified")})
    engines.forget(SID, first)  # a stale unload leaves the newer record alone
    assert engines.get(SID) is newer
    engines.forget(SID, newer)
    engines.forget(other)
    assert engines.snapshot() == {}


def test_a_fixed_engine_is_recorded_for_every_signature_while_loaded() -> None:
    engines = ServingEngines()
    inner = reference()
    loader = engines.tracked(inner, SID, ON_TF)
    assert engines.get(SID) is None
    loader.load()
    assert engines.get(SID) == {"serving_default": ON_TF, "strings": ON_TF}
    loader.unload()
    assert engines.get(SID) is None
    assert inner.unloads == 1


def test_the_platform_is_recorded_while_loaded() -> None:
    engines = ServingEngines()
    loader = engines.tracked(reference(), SID, ON_TF, platform="tensorflow")
    assert engines.platform(SID) is None
    loader.load()
    assert engines.platform(SID) == "tensorflow"
    loader.unload()
    assert engines.platform(SID) is None


def test_the_engine_choice_is_recorded_as_decided() -> None:
    live_before = FakeLoader.live
    engines = ServingEngines()
    choice = EngineChoiceLoader(reference(), candidate, servable_id=SID)
    loader = engines.tracked(choice, SID)
    loader.load()
    recorded = engines.get(SID)
    assert recorded == choice.decisions
    assert recorded is not None
    assert recorded["serving_default"] == EngineDecision(
        "openvino", "verified, max abs diff 0", 0.0
    )
    assert recorded["strings"] == EngineDecision("tensorflow", "only numeric signatures")
    loader.unload()
    assert engines.snapshot() == {}
    assert FakeLoader.live == live_before


def test_a_failed_load_records_nothing() -> None:
    engines = ServingEngines()
    missing = FailedPrecondition("the openvino engine needs the openvino package")

    def unavailable(signatures: Mapping[str, Signature]) -> Candidate:
        raise missing

    choice = EngineChoiceLoader(reference(), unavailable, servable_id=SID, require_candidate=True)
    loader = engines.tracked(choice, SID)
    with pytest.raises(FailedPrecondition, match="cannot run on openvino"):
        loader.load()
    assert engines.get(SID) is None


def test_without_a_fixed_engine_only_the_choice_can_be_tracked() -> None:
    with pytest.raises(TypeError, match="fixed decision"):
        ServingEngines().tracked(reference(), SID)


def test_the_manager_keeps_the_record_from_load_to_unload() -> None:
    engines = ServingEngines()
    failing = ServableId("m", 2)

    def make(wanted: AspiredVersion) -> Loader:
        if wanted.id == failing:
            return engines.tracked(FakeLoader(FakeServable, fail=NotFound("no")), wanted.id, ON_TF)
        return engines.tracked(FakeLoader(FakeServable), wanted.id, ON_TF)

    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    try:
        manager.set_aspired_versions("m", [AspiredVersion(SID, Path("/m/1"))])
        assert manager.wait_until_idle(10)
        assert engines.snapshot() == {SID: {"serving_default": ON_TF}}
        manager.set_aspired_versions(
            "m", [AspiredVersion(SID, Path("/m/1")), AspiredVersion(failing, Path("/m/2"))]
        )
        assert manager.wait_until_idle(10)
        assert list(engines.snapshot()) == [SID]
        manager.set_aspired_versions("m", [])
        assert manager.wait_until_idle(10)
        assert engines.snapshot() == {}
    finally:
        manager.close()
