"""Builders of tiny models for the test suite, each written as ``<dest_dir>/<version>/<model file>``.

Each builder returns the version folder it wrote (its parent, ``dest_dir``, is the model's base path
for a server). Frameworks are imported inside the builders. Cache what you build per session
(``tmp_path_factory``); see ``tests/runtimes/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnx import GraphProto

__all__ = ["ONNX_OPSET", "build_onnx_model", "build_onnx_string_model", "build_tf_string_model"]

#: The ONNX opset and IR version the ONNX builders write (onnxruntime >= 1.17 runs them).
ONNX_OPSET = 17
ONNX_IR_VERSION = 9


def build_onnx_model(dest_dir: Path, version: int = 1) -> Path:
    """Writes an ONNX ``model.onnx`` with two inputs and two outputs; returns ``dest_dir/<version>``.

    Inputs ``x`` float32 ``[batch, 1]`` and ``k`` int64 ``[batch, 1]`` (``batch`` is symbolic).
    Outputs ``y = x * 0.5 + 2`` (float32 ``[batch, 1]``, TF Serving's half_plus_two) and
    ``z = x * k`` (float32 ``[batch, 1]``).
    """
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Mul", ["x", "half"], ["x_half"]),
        helper.make_node("Add", ["x_half", "two"], ["y"]),
        helper.make_node("Cast", ["k"], ["k_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "k_float"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "half_plus_two",
        inputs=[
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("k", TensorProto.INT64, ["batch", 1]),
        ],
        outputs=[
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 1]),
        ],
        initializer=[
            helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
        ],
    )
    return _save_onnx(graph, dest_dir, version)


def build_onnx_string_model(dest_dir: Path, version: int = 1) -> Path:
    """Writes an ONNX model echoing strings; returns ``dest_dir/<version>``.

    Input ``text`` string ``[batch]``; outputs ``same`` (``Identity(text)``, string ``[batch]``) and
    ``shape`` (``Shape(text)``, int64 ``[1]``).
    """
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["text"], ["same"]),
            helper.make_node("Shape", ["text"], ["shape"]),
        ],
        "echo",
        inputs=[helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])],
        outputs=[
            helper.make_tensor_value_info("same", TensorProto.STRING, ["batch"]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [1]),
        ],
    )
    return _save_onnx(graph, dest_dir, version)


def _save_onnx(graph: GraphProto, dest_dir: Path, version: int) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        ir_version=ONNX_IR_VERSION,
        producer_name="shiba-tests",
    )
    onnx.checker.check_model(model, full_check=True)
    version_dir = dest_dir / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(version_dir / "model.onnx"))
    return version_dir


def build_tf_string_model(dest_dir: Path, version: int = 1) -> Path:
    """Writes a TF2 SavedModel over strings; returns ``dest_dir/<version>``.

    ``serving_default``: input ``text`` string ``[-1]``; outputs ``same`` (the input, string ``[-1]``),
    ``length`` (byte length of each, int32 ``[-1]``) and ``count`` (number of strings, an int32
    scalar).
    """
    import tensorflow as tf

    class Strings(tf.Module):  # type: ignore[misc]
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])  # type: ignore[untyped-decorator]
        def serve(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            return {
                "same": tf.identity(text),
                "length": tf.strings.length(text),
                "count": tf.size(text),
            }

    module = Strings()
    version_dir = dest_dir / str(version)
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.serve})
    return version_dir
