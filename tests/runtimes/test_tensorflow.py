"""The TensorFlow runtime on TensorFlow Serving's own test models, through both execution paths."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound, ShibaError
from shiba.core.tensors import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, DType, TensorSpec
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.tensorflow import (
    ExecutionMode,
    SavedModelLoader,
    SavedModelRuntime,
    session,
    signatures,
)
from tests.runtimes._saved_models import (
    BAD,
    COUNTER,
    CPU,
    MATRIX,
    OPTIONS,
    SID,
    TF2,
    THREE,
    WITH_CONFIG,
    LoadFn,
    examples,
    f32,
)


def test_detect(tfserving_testdata: Path) -> None:
    assert SavedModelRuntime.detect(tfserving_testdata / CPU)
    assert SavedModelRuntime.detect(tfserving_testdata / MATRIX)
    assert not SavedModelRuntime.detect(tfserving_testdata / BAD)
    assert not SavedModelRuntime.detect(tfserving_testdata / "missing")


def test_a_legacy_export_fails_to_load_cleanly(tfserving_testdata: Path) -> None:
    loader = SavedModelRuntime().loader(SID, tfserving_testdata / BAD, OPTIONS)
    with pytest.raises(NotFound) as caught:
        loader.load()
    assert caught.value.message.startswith(
        "Could not find SavedModel .pb or .pbtxt at supplied export directory path: "
        f"{tfserving_testdata / BAD}."
    )
    assert "SessionBundle export" in caught.value.message
    loader.unload()


@pytest.mark.slow
def test_a_corrupt_saved_model_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\x12\x7fnot a protobuf")
    with pytest.raises(FailedPrecondition, match="cannot read the SavedModel"):
        SavedModelLoader(SID, tmp_path, OPTIONS).load()


def _retag(source: Path, copy: Path, tags: list[str]) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(source, copy)
    message = saved_model_pb2.SavedModel.FromString((copy / "saved_model.pb").read_bytes())
    for meta_graph in message.meta_graphs:
        del meta_graph.meta_info_def.tags[:]
        meta_graph.meta_info_def.tags.extend(tags)
    (copy / "saved_model.pb").write_bytes(message.SerializeToString())


@pytest.mark.slow
@pytest.mark.parametrize(("model", "mode"), [(CPU, "auto"), (TF2, "function")])
def test_saved_model_tags_pick_the_meta_graph(
    tfserving_testdata: Path, tmp_path: Path, model: str, mode: ExecutionMode
) -> None:
    """``--saved_model_tags``: the meta graph tagged exactly so is loaded, by both paths."""
    copy = tmp_path / "1"
    _retag(tfserving_testdata / model, copy, ["serve", "cpu"])
    with pytest.raises(NotFound, match=r"matching supplied tags: \{ serve \}"):
        SavedModelLoader(SID, copy, OPTIONS).load()
    tagged = RuntimeOptions(saved_model_tags=frozenset({"cpu", "serve"}))
    servable = SavedModelLoader(SID, copy, tagged, mode=mode).load()
    x = f32([[2.0]]) if model == CPU else f32([2.0])
    result = servable.run("serving_default", {"x": x})
    np.testing.assert_allclose(result["y"], x / 2 + 2)
    servable.close()


@pytest.mark.slow
@pytest.mark.parametrize(("model", "both"), [(CPU, False), (TF2, True)])
def test_broken_variables_fail_the_load(
    tfserving_testdata: Path, tmp_path: Path, model: str, both: bool
) -> None:
    """The session loader's error is raised; for a TF2 export, after the function path failed too."""
    copy = tmp_path / "1"
    shutil.copytree(tfserving_testdata / model, copy)
    for data in (copy / "variables").glob("variables.data-*"):
        data.write_bytes(b"")
    with pytest.raises(ShibaError) as caught:
        SavedModelLoader(SID, copy, OPTIONS).load()
    assert ("tf.saved_model.load failed too" in caught.value.message) is both


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "mode", "offset"),
    [
        (CPU, "auto", 2.0),
        (CPU, "function", 2.0),
        ("saved_model_half_plus_two_2_versions/00000123", "auto", 2.0),
        ("saved_model_half_plus_two_2_versions/00000124", "auto", 2.0),
        (WITH_CONFIG, "auto", 2.0),
        (THREE, "auto", 3.0),
        (THREE, "session", 3.0),
    ],
)
def test_predict(load_saved_model: LoadFn, model: str, mode: ExecutionMode, offset: float) -> None:
    result = load_saved_model(model, mode).run("serving_default", {"x": f32([[2.0], [3.0], [4.0]])})
    assert list(result) == ["y"]
    assert result["y"].dtype == np.float32
    np.testing.assert_allclose(result["y"], [[1.0 + offset], [1.5 + offset], [2.0 + offset]])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_predict_tf2(load_saved_model: LoadFn, mode: ExecutionMode) -> None:
    servable = load_saved_model(TF2, mode)
    np.testing.assert_allclose(servable.run("serving_default", {"x": f32([2.0])})["y"], [3.0])
    np.testing.assert_allclose(
        servable.run("regress_x2_to_y3", {"inputs": f32([2.0])})["outputs"], [4.0]
    )


@pytest.mark.slow
def test_the_session_path_serves_tf2_exports(load_saved_model: LoadFn) -> None:
    assert type(load_saved_model(TF2)).__name__ == "SessionServable"
    assert type(load_saved_model(TF2, "function")).__name__ == "FunctionServable"


@pytest.mark.slow
def test_matrix_model(load_saved_model: LoadFn) -> None:
    x = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    np.testing.assert_allclose(
        load_saved_model(MATRIX).run("serving_default", {"x": x})["y"], x / 2 + 2
    )


@pytest.mark.slow
@pytest.mark.parametrize("model", [CPU, TF2, WITH_CONFIG])
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_classify_and_regress_take_serialized_examples(
    load_saved_model: LoadFn, model: str, mode: ExecutionMode
) -> None:
    servable = load_saved_model(model, mode)
    batch = examples({"x": 2.0}, {"x": 4.0})
    classify = servable.run("classify_x_to_y", {"inputs": batch})
    np.testing.assert_allclose(classify["scores"], [[3.0], [4.0]])
    regress = servable.run("regress_x_to_y", {"inputs": batch})
    np.testing.assert_allclose(regress["outputs"], [[3.0], [4.0]])
    np.testing.assert_allclose(
        servable.run("regress_x_to_y2", {"inputs": batch})["outputs"], [[4.0], [5.0]]
    )
    if model == CPU:
        assert servable.signatures["classify_x_to_y"].method_name == CLASSIFY_METHOD
        assert servable.signatures["regress_x_to_y"].method_name == REGRESS_METHOD


@pytest.mark.slow
def test_half_plus_three_regresses_examples(load_saved_model: LoadFn) -> None:
    result = load_saved_model(THREE).run(
        "tensorflow/serving/regress", {"inputs": examples({"x": 2.0})}
    )
    np.testing.assert_allclose(result["outputs"], [[4.0]])


@pytest.mark.slow
def test_both_paths_give_the_same_answers(load_saved_model: LoadFn) -> None:
    session_path, function_path = (
        load_saved_model(TF2, "session"),
        load_saved_model(TF2, "function"),
    )
    feeds = {
        "serving_default": {"x": f32([7.0])},
        "classify_x2_to_y3": {"inputs": f32([1.0])},
        "regress_x2_to_y3": {"inputs": f32([-3.0])},
        "classify_x_to_y": {"inputs": examples({"x": 5.0})},
        "regress_x_to_y": {"inputs": examples({"x": 1.0}, {"x": 0.5})},
        "regress_x_to_y2": {"inputs": examples({"x": -1.0})},
    }
    assert sorted(feeds) == sorted(n for n in session_path.signatures if not n.startswith("__"))
    for name, feed in feeds.items():
        a, b = session_path.run(name, feed), function_path.run(name, feed)
        assert list(a) == list(b)
        for alias in a:
            assert a[alias].dtype == b[alias].dtype
            np.testing.assert_array_equal(a[alias], b[alias])


@pytest.mark.slow
def test_counter_has_state_and_scalar_outputs(tfserving_testdata: Path) -> None:
    loader = SavedModelLoader(SID, tfserving_testdata / COUNTER, OPTIONS)
    servable = loader.load()
    try:
        assert servable.signatures["get_counter"].outputs["output"].dtype is DType.DT_FLOAT
        assert servable.run("get_counter", {})["output"] == 0.0
        servable.run("incr_counter", {})
        result = servable.run("incr_counter_by", {"delta": f32(2.5)})["output"]
        assert isinstance(result, np.ndarray)
        assert result.shape == ()
        assert result.dtype == np.float32
        assert result == 3.5
        assert servable.run("reset_counter", {})["output"] == 0.0
    finally:
        loader.unload()


@pytest.mark.slow
def test_counter_does_not_load_through_the_function_path(tfserving_testdata: Path) -> None:
    loader = SavedModelLoader(SID, tfserving_testdata / COUNTER, OPTIONS, mode="function")
    with pytest.raises(ShibaError, match="reference type"):
        loader.load()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_strings_in_and_out_are_object_arrays_of_bytes(
    tf_string_model_dir: Path, mode: ExecutionMode
) -> None:
    loader = SavedModelLoader(SID, tf_string_model_dir, OPTIONS, mode=mode)
    servable = loader.load()
    try:
        signature = servable.signatures["serving_default"]
        assert signature.inputs["text"] == TensorSpec(
            DType.DT_STRING, (-1,), "serving_default_text:0"
        )
        assert signature.outputs["same"].dtype is DType.DT_STRING
        text = np.array([b"caf\xc3\xa9", b"\xff\x00raw", b""], dtype=object)
        result = servable.run("serving_default", {"text": text})
        assert result["same"].dtype == object
        assert list(result["same"]) == [b"caf\xc3\xa9", b"\xff\x00raw", b""]
        assert all(type(v) is bytes for v in result["same"])
        np.testing.assert_array_equal(result["length"], np.array([5, 5, 0], dtype=np.int32))
        assert result["count"].shape == ()
        assert result["count"] == 3
    finally:
        loader.unload()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_output_filter(
    load_saved_model: LoadFn, tf_string_model_dir: Path, mode: ExecutionMode
) -> None:
    loader = SavedModelLoader(SID, tf_string_model_dir, OPTIONS, mode=mode)
    servable = loader.load()
    try:
        text = np.array([b"ab"], dtype=object)
        # In the signature's order (this export stores its outputs sorted), not the filter's.
        assert list(servable.run("serving_default", {"text": text}, ["same", "count"])) == [
            "count",
            "same",
        ]
        assert list(servable.run("serving_default", {"text": text}, ["length"])) == ["length"]
        with pytest.raises(InvalidArgument, match="alias not found in signature: nope Outputs"):
            servable.run("serving_default", {"text": text}, ["nope"])
    finally:
        loader.unload()


@pytest.mark.slow
def test_many_output_filters_stay_bounded(
    tf_string_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the plan cache's size a filtered call runs all outputs and keeps those asked for."""
    monkeypatch.setattr(session, "_MAX_PLANS", 0)
    loader = SavedModelLoader(SID, tf_string_model_dir, OPTIONS, mode="session")
    servable = loader.load()
    try:
        result = servable.run("serving_default", {"text": np.array([b"abc"], object)}, ["length"])
        assert list(result) == ["length"]
        assert result["length"].tolist() == [3]
    finally:
        loader.unload()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_errors_in_run(load_saved_model: LoadFn, mode: ExecutionMode) -> None:
    servable = load_saved_model(CPU, mode)
    with pytest.raises(FailedPrecondition) as not_found:
        servable.run("nope", {})
    assert not_found.value.message == 'Serving signature key "nope" not found.'
    with pytest.raises(InvalidArgument, match="Could not parse example input"):
        servable.run("classify_x_to_y", {"inputs": np.array([b"garbage"], dtype=object)})
    with pytest.raises(InvalidArgument, match="missing input 'x'"):
        servable.run("serving_default", {})
    with pytest.raises(InvalidArgument):
        servable.run("serving_default", {"x": np.array([[b"text"]], dtype=object)})


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_the_init_op_signature_is_listed_but_not_runnable(
    load_saved_model: LoadFn, mode: ExecutionMode
) -> None:
    servable = load_saved_model(TF2, mode)
    assert servable.signatures["__saved_model_init_op"].outputs[
        "__saved_model_init_op"
    ] == TensorSpec(DType.DT_INVALID, None, "NoOp")
    with pytest.raises(FailedPrecondition, match="cannot be run"):
        servable.run("__saved_model_init_op", {})


@pytest.mark.slow
@pytest.mark.parametrize(("model", "mode"), [(CPU, "auto"), (TF2, "auto"), (TF2, "function")])
def test_concurrent_runs(load_saved_model: LoadFn, model: str, mode: ExecutionMode) -> None:
    servable = load_saved_model(model, mode)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(100):
                value = float(seed * 1000 + i)
                x = f32([value]) if model == TF2 else f32([[value]])
                y = servable.run("serving_default", {"x": x})["y"]
                assert y.reshape(-1)[0] == value / 2 + 2
                if i % 10 == 0:
                    scores = servable.run("classify_x_to_y", {"inputs": examples({"x": value})})
                    assert scores["scores"][0, 0] == value / 2 + 2
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_unload_releases_the_servable(tfserving_testdata: Path, mode: ExecutionMode) -> None:
    loader = SavedModelLoader(SID, tfserving_testdata / TF2, OPTIONS, mode=mode)
    servable = loader.load()
    assert loader.load() is servable
    loader.unload()
    with pytest.raises(FailedPrecondition):
        servable.run("serving_default", {"x": f32([1.0])})
    loader.unload()  # a second unload is harmless
    again = loader.load()
    np.testing.assert_allclose(again.run("serving_default", {"x": f32([2.0])})["y"], [3.0])
    loader.unload()


@pytest.mark.slow
def test_session_run_fallback_without_callables(tfserving_testdata: Path) -> None:
    """With no ``_make_callable_from_options`` the servable uses the public ``Session.run``."""
    import tensorflow as tf

    graph = tf.Graph()
    real = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        tf.compat.v1.saved_model.loader.load(real, ["serve"], str(tfserving_testdata / CPU))

    class PublicSession:  # the session's public surface only
        run = real.run
        close = real.close

    export = signatures.read_export(tfserving_testdata / CPU)
    servable = session.SessionServable(PublicSession(), export.signatures, tf.errors.OpError)
    try:
        result = servable.run("serving_default", {"x": f32([[2.0], [4.0]])})
        np.testing.assert_allclose(result["y"], [[3.0], [4.0]])
        with pytest.raises(InvalidArgument, match="Could not parse example input"):
            servable.run("regress_x_to_y", {"inputs": np.array([b"?"], dtype=object)})
    finally:
        servable.close()


@pytest.mark.slow
def test_thread_options_apply_before_tensorflow_starts(tfserving_testdata: Path) -> None:
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        import numpy as np
        import tensorflow as tf
        from shiba.core.ids import ServableId
        from shiba.runtimes.base import RuntimeOptions
        from shiba.runtimes.tensorflow import SavedModelLoader
        options = RuntimeOptions(intra_op_threads=2, inter_op_threads=1)
        loader = SavedModelLoader(ServableId("m", 1), Path({str(tfserving_testdata / TF2)!r}), options)
        servable = loader.load()
        assert tf.config.threading.get_intra_op_parallelism_threads() == 2
        assert tf.config.threading.get_inter_op_parallelism_threads() == 1
        y = servable.run("serving_default", {{"x": np.array([2.0], np.float32)}})["y"]
        assert y.tolist() == [3.0], y
        # Once the eager context runs, other values are logged and ignored, not raised.
        tf.constant(1.0) + 1.0
        SavedModelLoader(ServableId("m", 2), Path({str(tfserving_testdata / CPU)!r}),
                         RuntimeOptions(intra_op_threads=3)).load()
        assert tf.config.threading.get_intra_op_parallelism_threads() == 2
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "threads stay as they are" in result.stderr


@pytest.mark.slow
def test_predict_method_names(load_saved_model: LoadFn) -> None:
    assert load_saved_model(CPU).signatures["serving_default"].method_name == PREDICT_METHOD
