"""Builders of tiny models for the test suite, each written as ``<dest_dir>/<version>/<model file>``.

Each builder returns the version folder it wrote (its parent, ``dest_dir``, is the model's base path
for a server). Frameworks are imported inside the builders. Cache what you build per session
(``tmp_path_factory``); see ``tests/runtimes/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnx import GraphProto

__all__ = [
    "ONNX_OPSET",
    "build_onnx_model",
    "build_onnx_string_model",
    "build_onnx_unary",
    "build_onnx_vit",
    "build_onnx_identity",
    "IDENTITY_TYPES",
    "save_onnx_graph",
    "build_tf_string_model",
]

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
    return save_onnx_graph(graph, dest_dir, version)


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
    return save_onnx_graph(graph, dest_dir, version)


def build_onnx_unary(
    dest_dir: Path, op: str, version: int = 1, *, dtype: str = "FLOAT", **attrs: Any
) -> Path:
    """Writes ``y = op(x)`` as ONNX; returns ``dest_dir/<version>``.

    ``x`` and ``y`` have the ``onnx.TensorProto`` type named ``dtype`` and shape ``[batch, 2]``;
    ``attrs`` are the node's attributes.
    """
    from onnx import TensorProto, helper

    kind = getattr(TensorProto, dtype)
    graph = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"], **attrs)],
        op.lower(),
        inputs=[helper.make_tensor_value_info("x", kind, ["batch", 2])],
        outputs=[helper.make_tensor_value_info("y", kind, ["batch", 2])],
    )
    return save_onnx_graph(graph, dest_dir, version)


def build_onnx_vit(
    dest_dir: Path,
    version: int = 1,
    *,
    dim: int = 64,
    heads: int = 4,
    depth: int = 4,
    mlp: int = 128,
    seed: int = 0,
) -> Path:
    """Writes an untrained Vision Transformer as ONNX, shaped as the demo ViT; returns
    ``dest_dir/<version>``.

    Input ``images`` float32 ``[batch, 32, 32, 3]`` (raw 0-255 pixels); output ``probabilities``
    float32 ``[batch, 10]``. The graph rescales the pixels, cuts 16 patches of 8x8, embeds them,
    adds position embeddings, runs ``depth`` pre-norm encoder blocks (``heads``-head
    self-attention, an Erf GELU MLP of width ``mlp``), mean-pools and applies a softmax head.
    Weights are drawn from ``seed`` (normal, std 0.1), so the file is the same on every run.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    weights: list[Any] = []

    def const(name: str, value: Any) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(name: str, *shape: int) -> str:
        return const(name, rng.normal(0.0, 0.1, shape).astype(np.float32))

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def dense(x: str, name: str, width_in: int, width_out: int) -> str:
        y = node("MatMul", [x, weight(f"{name}_w", width_in, width_out)], f"{name}_mm")
        return node("Add", [y, weight(f"{name}_b", width_out)], f"{name}_out")

    def norm(x: str, name: str) -> str:
        gamma = const(f"{name}_gamma", np.ones(dim, np.float32))
        beta = const(f"{name}_beta", np.zeros(dim, np.float32))
        return node("LayerNormalization", [x, gamma, beta], f"{name}_out", epsilon=1e-6)

    def shape(name: str, *dims: int) -> str:
        return const(name, np.array(dims, np.int64))

    head = dim // heads
    x = node("Mul", ["images", const("inv255", np.float32(1 / 255))], "scaled")
    x = node("Reshape", [x, shape("grid", -1, 4, 8, 4, 8, 3)], "grid_out")
    x = node("Transpose", [x], "patches_t", perm=[0, 1, 3, 2, 4, 5])
    x = node("Reshape", [x, shape("flat", -1, 16, 192)], "patches")
    x = dense(x, "embed", 192, dim)
    x = node("Add", [x, weight("position", 16, dim)], "tokens")
    for i in range(depth):
        h = norm(x, f"b{i}_ln1")
        qkv = dense(h, f"b{i}_qkv", dim, 3 * dim)
        qkv = node("Reshape", [qkv, shape(f"b{i}_split", -1, 16, 3, heads, head)], f"b{i}_qkv5")
        qkv = node("Transpose", [qkv], f"b{i}_qkvt", perm=[2, 0, 3, 1, 4])
        q, k, v = (
            node("Gather", [qkv, const(f"b{i}_{n}_i", np.int64(j))], f"b{i}_{n}", axis=0)
            for j, n in enumerate("qkv")
        )
        kt = node("Transpose", [k], f"b{i}_kt", perm=[0, 1, 3, 2])
        scores = node("MatMul", [q, kt], f"b{i}_scores")
        scale = const(f"b{i}_scale", np.float32(1 / np.sqrt(head)))
        scores = node("Mul", [scores, scale], f"b{i}_scaled")
        attention = node("Softmax", [scores], f"b{i}_attention", axis=-1)
        mixed = node("MatMul", [attention, v], f"b{i}_mixed")
        mixed = node("Transpose", [mixed], f"b{i}_mixed_t", perm=[0, 2, 1, 3])
        mixed = node("Reshape", [mixed, shape(f"b{i}_merge", -1, 16, dim)], f"b{i}_merged")
        x = node("Add", [x, dense(mixed, f"b{i}_proj", dim, dim)], f"b{i}_res1")
        h = dense(norm(x, f"b{i}_ln2"), f"b{i}_fc1", dim, mlp)
        erf = node(
            "Erf",
            [node("Mul", [h, const(f"b{i}_rs2", np.float32(0.5**0.5))], f"b{i}_hs")],
            f"b{i}_erf",
        )
        gate = node("Add", [erf, const(f"b{i}_one", np.float32(1))], f"b{i}_gate")
        gelu = node(
            "Mul",
            [node("Mul", [h, gate], f"b{i}_hg"), const(f"b{i}_half", np.float32(0.5))],
            f"b{i}_gelu",
        )
        x = node("Add", [x, dense(gelu, f"b{i}_fc2", mlp, dim)], f"b{i}_res2")
    pooled = node("ReduceMean", [norm(x, "final_ln")], "pooled", axes=[1], keepdims=0)
    logits = dense(pooled, "head", dim, 10)
    node("Softmax", [logits], "probabilities", axis=-1)
    graph = helper.make_graph(
        nodes,
        "vit",
        inputs=[helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 32, 32, 3])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializer=weights,
    )
    return save_onnx_graph(graph, dest_dir, version)


#: The inputs of :func:`build_onnx_identity`: (name, ``onnx.TensorProto`` type), one per type.
IDENTITY_TYPES = (
    ("bool", "BOOL"),
    ("uint8", "UINT8"),
    ("uint16", "UINT16"),
    ("uint32", "UINT32"),
    ("uint64", "UINT64"),
    ("int8", "INT8"),
    ("int16", "INT16"),
    ("int32", "INT32"),
    ("int64", "INT64"),
    ("fp16", "FLOAT16"),
    ("fp32", "FLOAT"),
    ("fp64", "DOUBLE"),
    ("bytes", "STRING"),
)


def build_onnx_identity(dest_dir: Path, version: int = 1) -> Path:
    """Writes an ONNX model echoing one tensor of each type; returns ``dest_dir/<version>``.

    For each ``(name, type)`` of :data:`IDENTITY_TYPES`: input ``in_<name>`` of that type and
    shape ``[batch, 2]``, and output ``out_<name>``, a copy of it.
    """
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", [f"in_{n}"], [f"out_{n}"]) for n, _ in IDENTITY_TYPES],
        "identity",
        inputs=[
            helper.make_tensor_value_info(f"in_{n}", getattr(TensorProto, t), ["batch", 2])
            for n, t in IDENTITY_TYPES
        ],
        outputs=[
            helper.make_tensor_value_info(f"out_{n}", getattr(TensorProto, t), ["batch", 2])
            for n, t in IDENTITY_TYPES
        ],
    )
    return save_onnx_graph(graph, dest_dir, version)


def save_onnx_graph(graph: GraphProto, dest_dir: Path, version: int = 1) -> Path:
    """Checks ``graph`` and writes it as ``dest_dir/<version>/model.onnx``; returns that folder."""
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
