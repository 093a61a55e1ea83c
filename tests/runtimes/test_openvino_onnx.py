"""The OpenVINO engine on ONNX models, chosen per signature against onnxruntime (the ``onnx``
runtime), on models built here and in ``tests/models.py``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.core.engine_choice import (
    DEFAULT_TOLERANCE,
    EngineChoiceLoader,
    EngineChoiceServable,
    VerificationInput,
)
from shiba.core.errors import FailedPrecondition, InvalidArgument
from shiba.core.ids import ServableId
from shiba.core.tensors import DEFAULT_SIGNATURE, Signature
from shiba.runtimes import onnx, openvino
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.onnx import OnnxLoader
from shiba.runtimes.openvino import _onnx
from tests.fakes import simple_signature
from tests.models import (
    build_onnx_model,
    build_onnx_string_model,
    build_onnx_unary,
    save_onnx_graph,
)
from tests.runtimes.conftest import EngineChoiceFn, needs_openvino

SID = ServableId("onnx", 1)
OPTIONS = RuntimeOptions()
INT64 = "input k is DT_INT64: OpenVINO's CPU plugin computes 64-bit integers in 32 bits"
RANDOM = "random ops (RandomUniform): OpenVINO draws other numbers than onnxruntime"


def reference_signatures(version_dir: Path) -> Mapping[str, Signature]:
    """The signatures onnxruntime serves for ``version_dir`` (the reference's)."""
    loader = OnnxLoader(SID, version_dir, OPTIONS)
    try:
        return loader.load().signatures
    finally:
        loader.unload()


@pytest.fixture
def choose(engine_choice: EngineChoiceFn) -> Callable[..., EngineChoiceLoader]:
    """``choose(version_dir, **EngineChoiceLoader options)``: an engine-choice loader over the
    ``onnx`` runtime, as the composition root builds it; unloaded at the end of the test."""

    def make(
        version_dir: Path,
        sid: ServableId = SID,
        inner: OnnxLoader | None = None,
        **kwargs: Any,
    ) -> EngineChoiceLoader:
        return engine_choice(
            inner or OnnxLoader(sid, version_dir, OPTIONS),
            functools.partial(openvino.build_onnx_candidate, version_dir, options=OPTIONS),
            servable_id=sid,
            reference_engine="onnxruntime",
            **kwargs,
        )

    return make


def save(dest: Path, nodes: list[Any], inputs: list[Any], outputs: list[Any]) -> Path:
    """An ONNX graph of ``nodes`` as ``dest/1/model.onnx``; returns ``dest/1``."""
    from onnx import helper

    return save_onnx_graph(helper.make_graph(nodes, "g", inputs, outputs), dest)


def random_in_a_branch(dest: Path) -> Path:
    """``y = x + (noise if c else 0)``: a random op inside an ``If``."""
    from onnx import TensorProto, helper

    def floats(name: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 2])

    noisy = helper.make_graph(
        [helper.make_node("RandomUniformLike", ["x"], ["noise"])], "then", [], [floats("noise")]
    )
    quiet = helper.make_graph(
        [helper.make_node("Sub", ["x", "x"], ["zero"])], "else", [], [floats("zero")]
    )
    return save(
        dest,
        [
            helper.make_node("If", ["c"], ["delta"], then_branch=noisy, else_branch=quiet),
            helper.make_node("Add", ["x", "delta"], ["y"]),
        ],
        [floats("x"), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [floats("y")],
    )


def images(batch: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Raw 0-255 pixels, as the demo's client sends them."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, 32, 32, 3)).astype(np.float32)


# -- without OpenVINO -----------------------------------------------------------------------------


def test_the_model_file_is_the_onnx_runtimes() -> None:
    assert _onnx.ONNX_MODEL_FILE == onnx.MODEL_FILE


def test_without_openvino_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[openvino\]'"):
        openvino.build_onnx_candidate(Path("/nonexistent"), {}, OPTIONS)


@pytest.mark.slow
@needs_openvino
def test_only_serving_default_is_an_onnx_models_signature() -> None:
    candidate = openvino.build_onnx_candidate(
        Path("/nonexistent"), {"other": simple_signature()}, OPTIONS
    )
    assert candidate.servable is None
    assert candidate.rejected == {"other": "an ONNX model's graph is its serving_default signature"}


# -- a model OpenVINO serves ----------------------------------------------------------------------


@pytest.mark.slow
@needs_openvino
def test_the_vit_runs_on_openvino_with_onnxruntimes_answers(
    choose: Callable[..., EngineChoiceLoader],
    onnx_vit_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="shiba.core.engine_choice")
    reference_loader = OnnxLoader(SID, onnx_vit_dir, OPTIONS)
    reference = reference_loader.load()
    inner = OnnxLoader(ServableId("vit", 1), onnx_vit_dir, OPTIONS)
    loader = choose(onnx_vit_dir, ServableId("vit", 1), inner)
    servable = loader.load()
    try:
        assert isinstance(servable, EngineChoiceServable)
        decision = loader.decisions[DEFAULT_SIGNATURE]
        assert decision.engine == "openvino"
        assert decision.reason.startswith("verified, max abs diff ")
        assert decision.max_abs_diff is not None
        assert decision.max_abs_diff < 1e-5
        assert servable.signatures == reference.signatures
        # Every signature is on OpenVINO: onnxruntime's session is closed, and the log says so.
        assert servable.reference_released
        with pytest.raises(FailedPrecondition, match="the servable is closed"):
            inner.load().run(DEFAULT_SIGNATURE, {"images": images(1)})
        assert (
            "{name: vit version: 1}: every signature runs on openvino; the onnxruntime servable "
            "is closed"
        ) in caplog.messages
        for batch in (1, 8):
            x = images(batch, seed=batch)
            want = reference.run(DEFAULT_SIGNATURE, {"images": x})["probabilities"]
            got = servable.run(DEFAULT_SIGNATURE, {"images": x})["probabilities"]
            assert got.shape == want.shape == (batch, 10)
            assert got.dtype == np.float32
            np.testing.assert_allclose(
                got, want, rtol=DEFAULT_TOLERANCE.rtol, atol=DEFAULT_TOLERANCE.atol
            )
            np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))
        # A read-only input (gRPC's tensor_content) is served.
        x = images(2)
        frozen = np.frombuffer(x.tobytes(), np.float32).reshape(x.shape)
        assert not frozen.flags.writeable
        np.testing.assert_array_equal(
            servable.run(DEFAULT_SIGNATURE, {"images": frozen})["probabilities"],
            servable.run(DEFAULT_SIGNATURE, {"images": x})["probabilities"],
        )
        # An input of the wrong shape is OpenVINO's to reject now, in words a user can read.
        with pytest.raises(InvalidArgument) as caught:
            servable.run(DEFAULT_SIGNATURE, {"images": np.zeros((1, 31, 32, 3), np.float32)})
        assert caught.value.message.startswith(
            "OpenVINO cannot run serving_default on this input: Can't set the input tensor "
            "with index: 0, because the model input (shape=[?,32,32,3]) and the tensor "
            "(shape=(1.31.32.3)) are incompatible"
        )
    finally:
        reference_loader.unload()


@pytest.mark.slow
@needs_openvino
def test_the_builder_serves_the_references_signature_with_the_thread_settings(
    onnx_vit_dir: Path,
) -> None:
    signatures = reference_signatures(onnx_vit_dir)
    options = RuntimeOptions(intra_op_threads=2, inter_op_threads=2)
    candidate = openvino.build_onnx_candidate(onnx_vit_dir, signatures, options)
    assert candidate.rejected == {}
    servable = candidate.servable
    assert isinstance(servable, openvino.OpenVinoServable)
    assert servable.signatures[DEFAULT_SIGNATURE] is signatures[DEFAULT_SIGNATURE]
    settings = servable.settings(DEFAULT_SIGNATURE)
    assert settings["INFERENCE_PRECISION_HINT"] == "f32"
    assert (settings["NUM_STREAMS"], settings["INFERENCE_NUM_THREADS"]) == ("2", "2")
    out = servable.run(DEFAULT_SIGNATURE, {"images": images(3)})
    assert list(out) == ["probabilities"]
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(InvalidArgument, match="missing input 'images' of serving_default"):
        servable.run(DEFAULT_SIGNATURE, {})
    servable.close()
    with pytest.raises(FailedPrecondition, match="is not served by OpenVINO"):
        servable.run(DEFAULT_SIGNATURE, {"images": images(1)})


# -- models OpenVINO must not serve ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (build_onnx_model, INT64),
        (
            build_onnx_string_model,
            "input text is DT_STRING: only numeric signatures run on OpenVINO",
        ),
        (
            functools.partial(build_onnx_unary, op="Identity", dtype="DOUBLE"),
            "input x is DT_DOUBLE: OpenVINO's CPU plugin computes it in float32",
        ),
        (
            functools.partial(build_onnx_unary, op="RandomNormalLike"),
            RANDOM,
        ),
        (random_in_a_branch, RANDOM),
    ],
    ids=["int64", "strings", "float64", "random", "random-in-a-branch"],
)
@pytest.mark.slow
@needs_openvino
def test_what_openvino_cannot_serve_is_rejected_with_the_reason(
    build: Callable[[Path], Path], reason: str, tmp_path: Path
) -> None:
    version_dir = build(tmp_path / "model")
    candidate = openvino.build_onnx_candidate(
        version_dir, reference_signatures(version_dir), OPTIONS
    )
    assert candidate.servable is None
    assert candidate.rejected == {DEFAULT_SIGNATURE: reason}


@pytest.mark.slow
@needs_openvino
def test_an_op_openvino_cannot_convert_stays_on_onnxruntime(
    choose: Callable[..., EngineChoiceLoader], tmp_path: Path
) -> None:
    # Det of a batch of 2x2 matrices: onnxruntime has it, OpenVINO's ONNX frontend does not.
    from onnx import TensorProto, helper

    version_dir = save(
        tmp_path / "det",
        [helper.make_node("Det", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
    )
    loader = choose(version_dir)
    servable = loader.load()
    decision = loader.decisions[DEFAULT_SIGNATURE]
    assert (decision.engine, decision.reason) == (
        "onnxruntime",
        "OpenVINO could not convert it: No conversion rule found for operations: Det-17",
    )
    x = np.array([[[2.0, 1.0], [1.0, 3.0]]], np.float32)
    np.testing.assert_allclose(servable.run(DEFAULT_SIGNATURE, {"x": x})["y"], [5.0], rtol=1e-6)


@pytest.mark.slow
@needs_openvino
def test_warmup_inputs_where_the_engines_disagree_keep_onnxruntime(
    choose: Callable[..., EngineChoiceLoader], tmp_path: Path
) -> None:
    """``exp(NaN)``: onnxruntime answers NaN, OpenVINO inf (OpenVINO 2026.4). Generated inputs
    agree; a warm-up record's NaN does not, so the signature stays on onnxruntime."""
    version_dir = build_onnx_unary(tmp_path / "exp", "Exp")
    nan = np.array([[np.nan, 0.5]], np.float32)

    def records(signatures: Mapping[str, Signature]) -> dict[str, list[VerificationInput]]:
        assert list(signatures) == [DEFAULT_SIGNATURE]
        return {DEFAULT_SIGNATURE: [VerificationInput("warm-up record 0", {"x": nan})]}

    loader = choose(version_dir, extra_inputs=records)
    servable = loader.load()
    decision = loader.decisions[DEFAULT_SIGNATURE]
    assert decision.engine == "onnxruntime"
    assert decision.reason == (
        "openvino disagrees on warm-up record 0: output y differs by up to inf, beyond atol "
        "1e-05 + rtol 0.0001 x |value|"
    )
    assert isinstance(servable, EngineChoiceServable)
    assert not servable.reference_released
    y = servable.run(DEFAULT_SIGNATURE, {"x": nan})["y"]
    assert np.isnan(y[0, 0])
    assert y[0, 1] == pytest.approx(np.exp(0.5))


# -- the openvino setting -------------------------------------------------------------------------


@pytest.mark.slow
@needs_openvino
def test_forcing_openvino_on_a_numeric_model_it_cannot_run_is_a_load_error(
    choose: Callable[..., EngineChoiceLoader], onnx_model_dir: Path
) -> None:
    loader = choose(onnx_model_dir, ServableId("half", 1), require_candidate=True)
    with pytest.raises(FailedPrecondition) as caught:
        loader.load()
    assert caught.value.message == (
        "{name: half version: 1} cannot run on openvino (the engine is set to openvino; set it "
        f"to auto to fall back to onnxruntime): serving_default: {INT64}"
    )


@pytest.mark.slow
@needs_openvino
def test_forcing_openvino_leaves_string_models_on_onnxruntime(
    choose: Callable[..., EngineChoiceLoader], onnx_string_model_dir: Path
) -> None:
    """As with ``--tensorflow_engine=openvino``, only numeric predict signatures must move."""
    loader = choose(onnx_string_model_dir, require_candidate=True)
    servable = loader.load()
    assert loader.decisions[DEFAULT_SIGNATURE].engine == "onnxruntime"
    text = np.array([b"caf\xc3\xa9"], dtype=object)
    assert list(servable.run(DEFAULT_SIGNATURE, {"text": text})["same"]) == [b"caf\xc3\xa9"]
