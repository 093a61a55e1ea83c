"""The ONNX runtime on the models of ``tests/models.py``."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound
from shiba.core.ids import ServableId
from shiba.core.tensors import DEFAULT_SIGNATURE, PREDICT_METHOD, DType, Signature, TensorSpec
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.onnx import OnnxLoader, OnnxRuntime, OnnxServable

SID = ServableId("onnx", 1)
OPTIONS = RuntimeOptions()


@pytest.fixture(scope="module")
def servable(onnx_model_dir: Path) -> Iterator[OnnxServable]:
    loader = OnnxLoader(SID, onnx_model_dir, RuntimeOptions(intra_op_threads=1, inter_op_threads=1))
    yield loader.load()
    loader.unload()


def test_detect(onnx_model_dir: Path, tmp_path: Path) -> None:
    assert OnnxRuntime.detect(onnx_model_dir)
    assert not OnnxRuntime.detect(tmp_path)
    assert isinstance(OnnxRuntime().loader(SID, onnx_model_dir, OPTIONS), OnnxLoader)


def test_a_folder_without_model_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=f"no model.onnx in {tmp_path}"):
        OnnxLoader(SID, tmp_path, OPTIONS).load()


def test_a_missing_onnxruntime_gives_an_install_hint(
    onnx_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(FailedPrecondition, match=r"install it with: pip install 'shiba\[onnx\]'"):
        OnnxLoader(SID, onnx_model_dir, OPTIONS).load()


@pytest.mark.slow
def test_a_corrupt_model_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(FailedPrecondition, match="ONNX Runtime cannot load"):
        OnnxLoader(SID, tmp_path, OPTIONS).load()


@pytest.mark.slow
def test_signature_comes_from_the_graph(servable: OnnxServable) -> None:
    assert dict(servable.signatures) == {
        DEFAULT_SIGNATURE: Signature(
            inputs={
                "x": TensorSpec(DType.DT_FLOAT, (-1, 1), "x"),
                "k": TensorSpec(DType.DT_INT64, (-1, 1), "k"),
            },
            outputs={
                "y": TensorSpec(DType.DT_FLOAT, (-1, 1), "y"),
                "z": TensorSpec(DType.DT_FLOAT, (-1, 1), "z"),
            },
            method_name=PREDICT_METHOD,
        )
    }
    assert list(servable.signatures[DEFAULT_SIGNATURE].inputs) == ["x", "k"]


@pytest.mark.slow
def test_run(servable: OnnxServable) -> None:
    x = np.array([[2.0], [3.0], [4.0]], dtype=np.float32)
    k = np.array([[1], [2], [-1]], dtype=np.int64)
    result = servable.run(DEFAULT_SIGNATURE, {"x": x, "k": k})
    assert list(result) == ["y", "z"]
    assert result["y"].dtype == np.float32
    np.testing.assert_allclose(result["y"], [[3.0], [3.5], [4.0]])
    np.testing.assert_allclose(result["z"], [[2.0], [6.0], [-4.0]])
    # Any mapping will do, not only a dict.
    again = servable.run(DEFAULT_SIGNATURE, MappingProxyType({"x": x, "k": k}))
    np.testing.assert_array_equal(again["y"], result["y"])


@pytest.mark.slow
def test_output_filter(servable: OnnxServable) -> None:
    feed: dict[str, npt.NDArray[Any]] = {
        "x": np.ones((1, 1), np.float32),
        "k": np.ones((1, 1), np.int64),
    }
    assert list(servable.run(DEFAULT_SIGNATURE, feed, ["z"])) == ["z"]
    assert list(servable.run(DEFAULT_SIGNATURE, feed, ["z", "y"])) == ["y", "z"]
    with pytest.raises(InvalidArgument) as caught:
        servable.run(DEFAULT_SIGNATURE, feed, ["w"])
    assert caught.value.message == (
        "output tensor alias not found in signature: w Outputs expected to be in the set {y,z}."
    )
    with pytest.raises(InvalidArgument, match=r"^duplicate output tensor alias: y$"):
        servable.run(DEFAULT_SIGNATURE, feed, ["y", "y"])


@pytest.mark.slow
def test_errors_in_run(servable: OnnxServable) -> None:
    with pytest.raises(FailedPrecondition, match=r'^Serving signature key "other" not found\.$'):
        servable.run("other", {})
    k = np.ones((2, 1), np.int64)
    with pytest.raises(InvalidArgument, match="Unexpected input data type"):
        servable.run(DEFAULT_SIGNATURE, {"x": np.ones((2, 1), np.float64), "k": k})
    with pytest.raises(InvalidArgument):  # batch sizes that do not broadcast
        servable.run(DEFAULT_SIGNATURE, {"x": np.ones((3, 1), np.float32), "k": k})
    with pytest.raises(InvalidArgument):
        servable.run(DEFAULT_SIGNATURE, {"x": np.ones((2, 1), np.float32)})


@pytest.mark.slow
def test_strings_are_bytes_outside_and_text_inside(onnx_string_model_dir: Path) -> None:
    loader = OnnxLoader(SID, onnx_string_model_dir, OPTIONS)
    servable = loader.load()
    try:
        signature = servable.signatures[DEFAULT_SIGNATURE]
        assert signature.inputs["text"] == TensorSpec(DType.DT_STRING, (-1,), "text")
        assert signature.outputs["shape"] == TensorSpec(DType.DT_INT64, (1,), "shape")
        text = np.array([b"caf\xc3\xa9", b"", b"plain"], dtype=object)
        result = servable.run(DEFAULT_SIGNATURE, {"text": text})
        assert result["same"].dtype == object
        assert list(result["same"]) == [b"caf\xc3\xa9", b"", b"plain"]
        assert all(type(v) is bytes for v in result["same"])
        assert result["shape"].tolist() == [3]
        with pytest.raises(InvalidArgument, match="UTF-8"):
            servable.run(DEFAULT_SIGNATURE, {"text": np.array([b"\xff"], dtype=object)})
    finally:
        loader.unload()


@pytest.mark.slow
def test_unknown_rank_and_non_tensor_outputs(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["a"], ["b"]),
            helper.make_node("SequenceConstruct", ["a"], ["seq"]),
        ],
        "g",
        inputs=[helper.make_tensor_value_info("a", TensorProto.DOUBLE, None)],
        outputs=[
            helper.make_tensor_value_info("b", TensorProto.DOUBLE, None),
            helper.make_tensor_sequence_value_info("seq", TensorProto.DOUBLE, None),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save_model(model, str(tmp_path / "model.onnx"))
    loader = OnnxLoader(SID, tmp_path, OPTIONS)
    servable = loader.load()
    try:
        signature = servable.signatures[DEFAULT_SIGNATURE]
        assert signature.inputs == {"a": TensorSpec(DType.DT_DOUBLE, None, "a")}
        assert list(signature.outputs) == ["b"]  # the sequence output is not served
        a = np.arange(6, dtype=np.float64).reshape(2, 3)
        np.testing.assert_array_equal(servable.run(DEFAULT_SIGNATURE, {"a": a})["b"], a)
    finally:
        loader.unload()


@pytest.mark.slow
def test_concurrent_runs(servable: OnnxServable) -> None:
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(200):
                value = float(seed * 1000 + i)
                feed: dict[str, npt.NDArray[Any]] = {
                    "x": np.array([[value]], np.float32),
                    "k": np.array([[seed]], np.int64),
                }
                result = servable.run(DEFAULT_SIGNATURE, feed)
                assert result["y"][0, 0] == np.float32(value) * np.float32(0.5) + np.float32(2)
                assert result["z"][0, 0] == np.float32(value * seed)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


@pytest.mark.slow
def test_unload(onnx_model_dir: Path) -> None:
    loader = OnnxLoader(SID, onnx_model_dir, OPTIONS)
    servable = loader.load()
    assert loader.load() is servable
    loader.unload()
    with pytest.raises(FailedPrecondition, match="closed"):
        servable.run(DEFAULT_SIGNATURE, {"x": np.ones((1, 1), np.float32)})
    loader.unload()
