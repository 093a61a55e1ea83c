"""Reading a SavedModel's signatures: the wire reader, TF Serving's wording, and its metadata files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound
from shiba.core.servable import Servable
from shiba.core.tensors import REGRESS_METHOD, DType, Signature, TensorSpec
from shiba.runtimes.tensorflow import ExecutionMode, SavedModelLoader, _wire, signatures
from tests.runtimes._saved_models import CPU, OPTIONS, SID, TF2, THREE, LoadFn, f32


def test_wire_reader_walks_fields_in_order() -> None:
    # field 1 varint 150, field 2 "ab", field 5 fixed32, field 2 "c", field 3 fixed64
    data = memoryview(
        b"\x08\x96\x01"
        + b"\x12\x02ab"
        + b"\x2d\x00\x00\x00\x00"
        + b"\x12\x01c"
        + b"\x19"
        + b"\0" * 8
    )
    assert [(n, None if p is None else bytes(p)) for n, p in _wire.fields(data)] == [
        (1, None),
        (2, b"ab"),
        (5, None),
        (2, b"c"),
        (3, None),
    ]
    assert _wire.strings(data, 2) == ["ab", "c"]
    assert _wire.has_field(data, 5)
    assert not _wire.has_field(data, 4)


@pytest.mark.parametrize(
    "data", [b"\x12\x05ab", b"\x08", b"\x0b", b"\x00\x01", b"\x2d\x00", b"\x08" + b"\xff" * 11]
)
def test_wire_reader_rejects_malformed_messages(data: bytes) -> None:
    with pytest.raises(_wire.WireError):
        list(_wire.fields(memoryview(data)))


def test_dtype_numbers() -> None:
    assert signatures.to_dtype(1) is DType.DT_FLOAT
    assert signatures.to_dtype(7) is DType.DT_STRING
    assert signatures.to_dtype(101) is DType.DT_FLOAT  # DT_FLOAT_REF, a TF1 variable
    assert signatures.to_dtype(24) is DType.DT_INVALID  # DT_FLOAT8_E5M2: no shiba name


SIG = Signature(
    inputs={"x": TensorSpec(DType.DT_FLOAT, (-1, 1), "x:0")},
    outputs={
        "b": TensorSpec(DType.DT_FLOAT, (-1, 1), "b:0"),
        "a": TensorSpec(DType.DT_FLOAT, (-1, 1), "a:0"),
    },
)


def test_select_outputs_keeps_signature_order_and_uses_tf_serving_wording() -> None:
    assert signatures.select_outputs(SIG, None) == ("b", "a")
    assert signatures.select_outputs(SIG, []) == ("b", "a")
    assert signatures.select_outputs(SIG, ["a", "b"]) == ("b", "a")
    assert signatures.select_outputs(SIG, ["a"]) == ("a",)
    with pytest.raises(InvalidArgument) as caught:
        signatures.select_outputs(SIG, ["c"])
    assert caught.value.message == (
        "output tensor alias not found in signature: c Outputs expected to be in the set {a,b}."
    )
    with pytest.raises(InvalidArgument, match=r"^duplicate output tensor alias: a$"):
        signatures.select_outputs(SIG, ["a", "a"])


def test_unknown_and_unrunnable_signatures() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        signatures.find_signature({"serving_default": SIG}, "nope")
    assert caught.value.message == 'Serving signature key "nope" not found.'
    init_op = Signature(
        inputs={}, outputs={"op": TensorSpec(DType.DT_INVALID, None, "NoOp")}, method_name=""
    )
    with pytest.raises(FailedPrecondition, match='"__saved_model_init_op" cannot be run'):
        signatures.check_runnable("__saved_model_init_op", init_op)
    signatures.check_runnable("serving_default", SIG)


def _expected(json_path: Path) -> dict[str, Any]:
    data = json.loads(json_path.read_text())["metadata"]["signature_def"]["signature_def"]

    def spec(info: dict[str, Any]) -> tuple[str, tuple[int, ...] | None, str]:
        shape = info.get("tensor_shape")
        dims = None
        if shape is not None and not shape.get("unknown_rank", False):
            dims = tuple(int(dim["size"]) for dim in shape.get("dim", []))
        return info["dtype"], dims, info["name"]

    return {
        name: (
            sig.get("method_name", ""),
            {alias: spec(info) for alias, info in sig.get("inputs", {}).items()},
            {alias: spec(info) for alias, info in sig.get("outputs", {}).items()},
        )
        for name, sig in data.items()
    }


def _actual(servable: Servable) -> dict[str, Any]:
    def spec(s: TensorSpec) -> tuple[str, tuple[int, ...] | None, str]:
        return s.dtype.name, s.shape, s.tensor_name

    return {
        name: (
            sig.method_name,
            {alias: spec(s) for alias, s in sig.inputs.items()},
            {alias: spec(s) for alias, s in sig.outputs.items()},
        )
        for name, sig in servable.signatures.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "metadata"),
    [
        (CPU, "half_plus_two_model_metadata.json"),
        (
            "saved_model_half_plus_two_2_versions/00000123",
            "saved_model_half_plus_two_2_versions_metadata.json",
        ),
        (
            "saved_model_half_plus_two_2_versions/00000124",
            "saved_model_half_plus_two_2_versions_metadata.json",
        ),
        (TF2, "saved_model_half_plus_two_tf2_2_versions_metadata.json"),
    ],
)
@pytest.mark.parametrize("mode", ["auto", "function"])
def test_signatures_match_tf_serving_metadata(
    load_saved_model: LoadFn,
    tfserving_testdata: Path,
    model: str,
    metadata: str,
    mode: ExecutionMode,
) -> None:
    assert _actual(load_saved_model(model, mode)) == _expected(tfserving_testdata / metadata)


@pytest.mark.slow
def test_signatures_keep_the_stored_order(load_saved_model: LoadFn) -> None:
    """Wire order, not protobuf's per-process hash order: stable across restarts."""
    assert list(load_saved_model(CPU).signatures) == [
        "serving_default",
        "classify_x_to_y",
        "regress_x_to_y2",
        "regress_x_to_y",
        "regress_x2_to_y3",
    ]
    assert next(iter(load_saved_model(TF2).signatures)) == "__saved_model_init_op"


@pytest.mark.slow
def test_field_numbers_match_tensorflow_protos() -> None:
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    def number(message: Any, field: str) -> int:
        return int(message.DESCRIPTOR.fields_by_name[field].number)

    assert number(saved_model_pb2.SavedModel, "meta_graphs") == signatures.SAVED_MODEL_META_GRAPHS
    graph = meta_graph_pb2.MetaGraphDef
    assert number(graph, "meta_info_def") == signatures.META_GRAPH_INFO
    assert number(graph.MetaInfoDef, "tags") == signatures.META_INFO_TAGS
    assert number(graph, "signature_def") == signatures.META_GRAPH_SIGNATURES
    assert number(graph, "object_graph_def") == signatures.META_GRAPH_OBJECT_GRAPH
    sig = meta_graph_pb2.SignatureDef
    assert number(sig, "inputs") == signatures.SIGNATURE_INPUTS
    assert number(sig, "outputs") == signatures.SIGNATURE_OUTPUTS
    assert number(sig, "defaults") == signatures.SIGNATURE_DEFAULTS


@pytest.mark.slow
def test_a_missing_shape_is_an_unknown_shape(load_saved_model: LoadFn) -> None:
    sigs = load_saved_model(THREE).signatures
    assert sigs["serving_default"].inputs["x"] == TensorSpec(DType.DT_FLOAT, None, "x:0")
    # As stored: the regress input is declared DT_FLOAT although it takes serialized Examples.
    assert sigs["tensorflow/serving/regress"].method_name == REGRESS_METHOD
    assert sigs["tensorflow/serving/regress"].inputs["inputs"].dtype is DType.DT_FLOAT


@pytest.mark.slow
def test_a_text_saved_model_loads(
    tfserving_testdata: Path, tmp_path: Path, load_saved_model: LoadFn
) -> None:
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    copy = tmp_path / "1"
    shutil.copytree(tfserving_testdata / CPU, copy)
    message = saved_model_pb2.SavedModel.FromString((copy / "saved_model.pb").read_bytes())
    (copy / "saved_model.pbtxt").write_text(text_format.MessageToString(message))
    (copy / "saved_model.pb").unlink()
    loader = SavedModelLoader(SID, copy, OPTIONS)
    servable = loader.load()
    try:
        assert _actual(servable) == _actual(load_saved_model(CPU))
        np.testing.assert_allclose(servable.run("serving_default", {"x": f32([[4.0]])})["y"], 4.0)
    finally:
        loader.unload()


@pytest.mark.slow
def test_a_meta_graph_without_serve_tag_is_not_found(tfserving_testdata: Path) -> None:
    with pytest.raises(NotFound, match=r"matching supplied tags: \{ gpu serve \}"):
        signatures.read_export(tfserving_testdata / CPU, tags={"serve", "gpu"})


@pytest.mark.slow
def test_signature_defaults_are_read(tfserving_testdata: Path, tmp_path: Path) -> None:
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    copy = tmp_path / "1"
    shutil.copytree(tfserving_testdata / CPU, copy)
    message = saved_model_pb2.SavedModel.FromString((copy / "saved_model.pb").read_bytes())
    defaults = message.meta_graphs[0].signature_def["serving_default"].defaults
    defaults["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.5]], np.float32)))
    (copy / "saved_model.pb").write_bytes(message.SerializeToString())
    export = signatures.read_export(copy)
    ((alias, value),) = export.signatures["serving_default"].defaults.items()
    assert alias == "x"
    np.testing.assert_array_equal(value, np.array([[1.5]], np.float32))
    assert not export.has_object_graph
    assert signatures.read_export(tfserving_testdata / TF2).has_object_graph
