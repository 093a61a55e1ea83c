"""The OpenVINO engine on real SavedModels, chosen per signature against TensorFlow."""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.core.engine_choice import DEFAULT_TOLERANCE, EngineChoiceLoader, EngineChoiceServable
from shiba.core.errors import FailedPrecondition, InvalidArgument
from shiba.core.ids import ServableId
from shiba.core.servable import Servable
from shiba.core.tensors import DEFAULT_SIGNATURE
from shiba.runtimes import openvino
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.tensorflow import SavedModelLoader
from tests.conftest import REPO
from tests.runtimes._saved_models import COUNTER, CPU, MATRIX, TF2, THREE, examples, f32
from tests.runtimes.conftest import EngineChoiceFn, needs_openvino

VIT = REPO / "build" / "models" / "ViT" / "1"
OPTIONS = RuntimeOptions()
#: The engine is an optional extra.
#: ``make(relative_or_absolute_dir, **EngineChoiceLoader options) -> (loader, servable)``.
MakeFn = Callable[..., tuple[EngineChoiceLoader, EngineChoiceServable]]


@pytest.fixture
def make(tfserving_testdata: Path, engine_choice: EngineChoiceFn) -> MakeFn:
    """Engine-choice loaders over the TensorFlow runtime; unloaded at the end of the test."""

    def make_loader(
        where: str | Path, options: RuntimeOptions = OPTIONS, **kwargs: Any
    ) -> tuple[EngineChoiceLoader, EngineChoiceServable]:
        path = tfserving_testdata / where
        sid = ServableId(path.parent.name, 1)
        loader = engine_choice(
            SavedModelLoader(sid, path, options),
            functools.partial(openvino.build_candidate, path, options=options),
            servable_id=sid,
            **kwargs,
        )
        servable = loader.load()
        assert isinstance(servable, EngineChoiceServable)
        return loader, servable

    return make_loader


def engines(loader: EngineChoiceLoader) -> dict[str, str]:
    return {name: decision.engine for name, decision in loader.decisions.items()}


def test_compile_config() -> None:
    assert openvino.compile_config(RuntimeOptions()) == {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    assert openvino.compile_config(RuntimeOptions(intra_op_threads=4, inter_op_threads=2)) == {
        "INFERENCE_PRECISION_HINT": "f32",
        "NUM_STREAMS": 2,
        "INFERENCE_NUM_THREADS": 4,
    }


def test_without_openvino_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[openvino\]'"):
        openvino.build_candidate(Path("/nonexistent"), {}, OPTIONS)


# -- the demo ViT ----------------------------------------------------------------------------------


def images(batch: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Raw 0-255 pixels, as the demo's client sends them."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, 32, 32, 3)).astype(np.float32)


def per_call(servable: Servable, x: npt.NDArray[np.float32], calls: int) -> float:
    feed = {"images": x}
    servable.run(DEFAULT_SIGNATURE, feed)
    start = time.perf_counter()
    for _ in range(calls):
        servable.run(DEFAULT_SIGNATURE, feed)
    return (time.perf_counter() - start) / calls


@pytest.mark.slow
@needs_openvino
def test_the_vit_runs_on_openvino_with_tensorflows_answers(make: MakeFn) -> None:
    if not (VIT / "saved_model.pb").is_file():
        pytest.skip(
            f"no demo ViT at {VIT}: build it with python demo/build_vit.py --out build/models"
        )
    reference_loader = SavedModelLoader(ServableId("ViT", 1), VIT, OPTIONS)
    reference = reference_loader.load()
    try:
        loader, servable = make(VIT)
        assert engines(loader) == {
            "__saved_model_init_op": "tensorflow",
            "serving_default": "openvino",
        }
        decision = loader.decisions["serving_default"]
        assert decision.max_abs_diff is not None
        assert decision.max_abs_diff < 1e-5
        # Every signature TensorFlow could run is on OpenVINO: TensorFlow's servable is closed.
        assert servable.reference_released
        assert servable.signatures == reference.signatures
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
        for batch, calls in ((1, 50), (8, 20)):
            x = images(batch)
            tf_s = per_call(reference, x, calls)
            ov_s = per_call(servable, x, calls)
            print(
                f"\nViT batch {batch}: tensorflow {tf_s * 1e3:.2f} ms/call, "
                f"openvino {ov_s * 1e3:.2f} ms/call ({tf_s / ov_s:.1f}x)"
            )
        # The closed reference's answer for the init op is kept.
        with pytest.raises(FailedPrecondition, match="__saved_model_init_op"):
            servable.run("__saved_model_init_op", {})
        # An input of the wrong shape is OpenVINO's to reject now.
        with pytest.raises(InvalidArgument, match="OpenVINO cannot run serving_default"):
            servable.run(DEFAULT_SIGNATURE, {"images": np.zeros((1, 31, 32, 3), np.float32)})
    finally:
        reference_loader.unload()


# -- TensorFlow Serving's test models ------------------------------------------------------------


@pytest.mark.slow
@needs_openvino
def test_tf2_half_plus_two_keeps_tf_example_signatures_on_tensorflow(make: MakeFn) -> None:
    loader, servable = make(TF2)
    decisions = loader.decisions
    assert engines(loader) == {
        "__saved_model_init_op": "tensorflow",
        "classify_x2_to_y3": "openvino",
        "classify_x_to_y": "tensorflow",
        "regress_x2_to_y3": "openvino",
        "regress_x_to_y": "tensorflow",
        "regress_x_to_y2": "tensorflow",
        "serving_default": "openvino",
    }
    assert decisions["classify_x_to_y"].reason == (
        "input inputs is DT_STRING: only numeric signatures run on OpenVINO"
    )
    assert decisions["serving_default"].reason == "verified, max abs diff 0"
    assert not servable.reference_released
    assert servable.run(DEFAULT_SIGNATURE, {"x": f32([2.0])})["y"].tolist() == [3.0]
    assert servable.run("regress_x2_to_y3", {"inputs": f32([2.0])})["outputs"].tolist() == [4.0]
    scores = servable.run("classify_x_to_y", {"inputs": examples({"x": 2.0})})["scores"]
    assert scores.tolist() == [[3.0]]
    # With TensorFlow kept, an input OpenVINO rejects (x is [1] there) is TensorFlow's to answer,
    # and TensorFlow's graph is elementwise.
    out = servable.run(DEFAULT_SIGNATURE, {"x": f32([[1.0, 2.0]])})
    assert out["y"].tolist() == [[2.5, 3.0]]


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (CPU, "OpenVINO could not convert it: Conversion is failed for: VariableV2"),
        # TensorFlow's own message depends on which signature it meets first (hash order).
        (THREE, "TensorFlow cannot restore it as functions to convert ("),
        (COUNTER, "TensorFlow cannot restore it as functions to convert ("),
    ],
)
@pytest.mark.slow
@needs_openvino
def test_tf1_models_fall_back_to_tensorflow(
    make: MakeFn, model: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="shiba.core.engine_choice")
    loader, servable = make(model)
    assert set(engines(loader).values()) == {"tensorflow"}
    first = next(iter(loader.decisions))
    assert loader.decisions[first].reason.startswith(reason)
    logged = [r.getMessage() for r in caplog.records if r.name == "shiba.core.engine_choice"]
    assert len(logged) == len(servable.signatures)
    assert logged[0].startswith(
        f"signature {first} of {{name: {Path(model).parent.name} version: 1}}: tensorflow ("
    )
    if model == CPU:
        assert servable.run(DEFAULT_SIGNATURE, {"x": f32([[2.0], [3.0]])})["y"].tolist() == [
            [3.0],
            [3.5],
        ]
        assert loader.decisions["classify_x_to_y"].reason == (
            "method tensorflow/serving/classify: only predict signatures run on OpenVINO"
        )


@pytest.mark.slow
@needs_openvino
def test_forcing_openvino_on_a_model_it_cannot_run_is_a_load_error(
    tfserving_testdata: Path,
) -> None:
    path = tfserving_testdata / CPU
    inner = SavedModelLoader(ServableId("half", 123), path, OPTIONS)
    loader = EngineChoiceLoader(
        inner,
        functools.partial(openvino.build_candidate, path, options=OPTIONS),
        servable_id=ServableId("half", 123),
        require_candidate=True,
    )
    with pytest.raises(FailedPrecondition) as caught:
        loader.load()
    assert caught.value.message == (
        "{name: half version: 123} cannot run on openvino (the engine is set to openvino; set it "
        "to auto to fall back to tensorflow): serving_default: OpenVINO could not convert it: "
        "Conversion is failed for: VariableV2"
    )
    loader.unload()


@pytest.mark.slow
@needs_openvino
def test_forcing_openvino_on_the_tf2_model_serves_its_numeric_signatures(make: MakeFn) -> None:
    loader, _ = make(TF2, require_candidate=True)
    assert engines(loader)["serving_default"] == "openvino"


def test_read_only_inputs_are_served(make: MakeFn) -> None:
    """gRPC's tensor_content decodes to a read-only view; OpenVINO must not refuse it."""
    loader, servable = make(TF2, require_candidate=True)
    assert engines(loader)["serving_default"] == "openvino"
    (name,) = servable.signatures["serving_default"].inputs
    x = np.frombuffer(np.array([[2.0], [4.0]], np.float32).tobytes(), np.float32).reshape(2, 1)
    assert not x.flags.writeable
    out = servable.run("serving_default", {name: x})
    (values,) = out.values()
    np.testing.assert_array_equal(values.reshape(-1), [3.0, 4.0])


# -- models built here -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF2 SavedModel with a signature for each case OpenVINO must not take, and one it may."""
    import tensorflow as tf

    module = tf.Module()
    module.count = tf.Variable(0.0)
    module.scale = tf.Variable(3.0)

    def increment(x: Any) -> dict[str, Any]:
        module.count.assign_add(1.0)
        return {"y": x + module.count}

    def noisy(x: Any) -> dict[str, Any]:
        return {"y": x + tf.random.uniform(tf.shape(x))}

    def ids(x: Any) -> dict[str, Any]:
        return {"y": x * 2 + 1}

    def doubles(x: Any) -> dict[str, Any]:
        return {"y": x / 3}

    def scaled(x: Any) -> dict[str, Any]:
        return {"b_sum": tf.reduce_sum(x, axis=1), "a_scaled": x * module.scale}

    specs = {
        increment: tf.TensorSpec([None], tf.float32, name="x"),
        noisy: tf.TensorSpec([None], tf.float32, name="x"),
        ids: tf.TensorSpec([None], tf.int64, name="x"),
        doubles: tf.TensorSpec([None], tf.float64, name="x"),
        scaled: tf.TensorSpec([None, 2], tf.float32, name="x"),
    }
    signatures = {
        function.__name__: tf.function(function, input_signature=[spec])
        for function, spec in specs.items()
    }
    path = tmp_path_factory.mktemp("edges") / "1"
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


@pytest.mark.slow
@needs_openvino
def test_state_and_wide_types_stay_on_tensorflow(make: MakeFn, edge_model: Path) -> None:
    loader, servable = make(edge_model)
    reasons = {name: d.reason for name, d in loader.decisions.items() if d.engine == "tensorflow"}
    assert reasons == {
        "__saved_model_init_op": "its output __saved_model_init_op is not a tensor",
        "increment": ("stateful ops (AssignAddVariableOp): their state must stay in TensorFlow"),
        "noisy": "stateful ops (RandomUniform): their state must stay in TensorFlow",
        "ids": ("input x is DT_INT64: OpenVINO's CPU plugin computes 64-bit integers in 32 bits"),
        "doubles": "input x is DT_DOUBLE: OpenVINO's CPU plugin computes it in float32",
    }
    assert loader.decisions["scaled"].engine == "openvino"
    # Verification never ran the stateful signature: the counter starts at 0.
    assert servable.run("increment", {"x": f32([0.0])})["y"].tolist() == [1.0]
    assert servable.run("increment", {"x": f32([0.0])})["y"].tolist() == [2.0]
    big = np.array([2**40 + 3], np.int64)
    assert servable.run("ids", {"x": big})["y"].tolist() == [2**41 + 7]
    # Two outputs come back under their own aliases, and a filter keeps the asked ones.
    out = servable.run("scaled", {"x": f32([[1.0, 2.0]])})
    assert {k: v.tolist() for k, v in out.items()} == {"b_sum": [3.0], "a_scaled": [[3.0, 6.0]]}
    out = servable.run("scaled", {"x": f32([[1.0, 2.0]])}, ["a_scaled"])
    assert list(out) == ["a_scaled"]


@pytest.mark.slow
@needs_openvino
def test_run_is_thread_safe(tfserving_testdata: Path) -> None:
    """Several threads, each with its own values, on one compiled signature (a request each)."""
    path = tfserving_testdata / MATRIX
    signatures = SavedModelLoader(ServableId("m", 1), path, OPTIONS)
    try:
        reference = signatures.load()
        candidate = openvino.build_candidate(
            path, reference.signatures, RuntimeOptions(intra_op_threads=2, inter_op_threads=2)
        )
    finally:
        signatures.unload()
    servable = candidate.servable
    assert servable is not None
    assert list(servable.signatures) == [DEFAULT_SIGNATURE]
    assert isinstance(servable, openvino.OpenVinoServable)
    settings = servable.settings(DEFAULT_SIGNATURE)
    assert settings["INFERENCE_PRECISION_HINT"] == "f32"
    assert (settings["NUM_STREAMS"], settings["INFERENCE_NUM_THREADS"]) == ("2", "2")
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(200):
                x = np.full((1 + i % 4, 3, 3), seed * 1000 + i, np.float32)
                y = servable.run(DEFAULT_SIGNATURE, {"x": x})["y"]
                np.testing.assert_array_equal(y, x / 2 + 2)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    servable.close()
    with pytest.raises(FailedPrecondition, match="is not served by OpenVINO"):
        servable.run(DEFAULT_SIGNATURE, {"x": np.zeros((1, 3, 3), np.float32)})
