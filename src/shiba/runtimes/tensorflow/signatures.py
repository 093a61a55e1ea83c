"""A SavedModel's serving signatures, read from its MetaGraphDef exactly as TensorFlow Serving reports them.

The serving meta graph is the one whose tag set is exactly ``{"serve"}`` (TensorFlow's own rule).
Its SignatureDefs become :class:`~shiba.core.tensors.Signature` objects with the stored dtypes, shapes,
tensor names and method names, every map kept in the order it is stored in the file. The helpers at
the end hold the checks both execution paths make before a call, with TensorFlow Serving's wording.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound
from shiba.core.tensors import DType, Signature, TensorSpec
from shiba.runtimes.tensorflow import _wire

__all__ = [
    "SAVED_MODEL_FILES",
    "SERVE_TAGS",
    "Export",
    "find_saved_model",
    "missing_saved_model",
    "read_export",
    "to_dtype",
    "find_signature",
    "check_runnable",
    "select_outputs",
]

#: File names TensorFlow looks for in a SavedModel folder, in its order of preference.
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
#: The tag set TensorFlow Serving loads.
SERVE_TAGS = frozenset({"serve"})

# Field numbers in tensorflow/core/protobuf/saved_model.proto and meta_graph.proto.
SAVED_MODEL_META_GRAPHS = 2
META_GRAPH_INFO = 1
META_INFO_TAGS = 4
META_GRAPH_SIGNATURES = 5
META_GRAPH_OBJECT_GRAPH = 7
SIGNATURE_INPUTS = 1
SIGNATURE_OUTPUTS = 2
SIGNATURE_DEFAULTS = 4
MAP_KEY = 1
MAP_VALUE = 2

# TensorFlow numbers a reference dtype (a TF1 ``float_ref`` variable) as its base dtype + 100.
_REF_OFFSET = 100


@dataclass(frozen=True, slots=True)
class Export:
    """What shiba reads from a SavedModel before loading it.

    ``has_object_graph`` is true for TF2 exports (``tf.saved_model.save``, Keras ``export``), which
    ``tf.saved_model.load`` can restore as Python objects.
    """

    path: Path
    signatures: Mapping[str, Signature]
    has_object_graph: bool


def find_saved_model(version_dir: Path) -> Path | None:
    """The ``saved_model.pb`` (or ``.pbtxt``) in ``version_dir``, or ``None``."""
    for name in SAVED_MODEL_FILES:
        path = version_dir / name
        if path.is_file():
            return path
    return None


def missing_saved_model(version_dir: Path) -> NotFound:
    """TensorFlow's error for a folder without a SavedModel, with a hint for a legacy export."""
    message = (
        "Could not find SavedModel .pb or .pbtxt at supplied export directory path: "
        f"{version_dir}. Check that the directory exists and that you have the right "
        "permissions for accessing it."
    )
    if (version_dir / "export.meta").is_file():
        message += (
            " (this folder holds a SessionBundle export, export.meta, a format TensorFlow Serving "
            "no longer loads: export the model as a SavedModel)"
        )
    return NotFound(message)


def read_export(version_dir: Path, tags: Collection[str] = SERVE_TAGS) -> Export:
    """Reads the signatures of the meta graph tagged exactly ``tags``. Imports TensorFlow.

    Raises ``NotFound`` when there is no SavedModel file or no meta graph with these tags (TensorFlow's
    wording), and ``FailedPrecondition`` when the file cannot be read or parsed.
    """
    path = find_saved_model(version_dir)
    if path is None:
        raise missing_saved_model(version_dir)
    try:
        data = _serialized(path)
        wanted = set(tags)
        found: list[list[str]] = []
        for meta_graph in _wire.messages(memoryview(data), SAVED_MODEL_META_GRAPHS):
            graph_tags = [
                tag
                for info in _wire.messages(meta_graph, META_GRAPH_INFO)
                for tag in _wire.strings(info, META_INFO_TAGS)
            ]
            if set(graph_tags) == wanted:
                return Export(
                    path=path,
                    signatures=_signatures(meta_graph),
                    has_object_graph=_wire.has_field(meta_graph, META_GRAPH_OBJECT_GRAPH),
                )
            found.append(graph_tags)
    except (OSError, ValueError) as err:
        # ValueError covers _wire.WireError, text_format.ParseError and protobuf's DecodeError.
        raise FailedPrecondition(f"cannot read the SavedModel {path}: {err}") from err
    raise NotFound(
        "Could not find meta graph def matching supplied tags: { "
        + " ".join(sorted(wanted))
        + " }. To inspect available tag-sets in the SavedModel, please use the SavedModel CLI: "
        f"`saved_model_cli` (the tag-sets in {path} are {found})"
    )


def _serialized(path: Path) -> bytes:
    if path.suffix != ".pbtxt":
        return path.read_bytes()
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    message = text_format.Parse(path.read_text(encoding="utf-8"), saved_model_pb2.SavedModel())
    # Deterministic serialization orders map keys the same way on every run (a text file's own
    # order is lost in parsing).
    data: bytes = message.SerializeToString(deterministic=True)
    return data


def _map_entries(buf: memoryview, number: int) -> list[tuple[str, memoryview]]:
    """The (key, value bytes) entries of a ``map<string, Message>`` field, in stored order."""
    entries: list[tuple[str, memoryview]] = []
    for entry in _wire.messages(buf, number):
        keys = _wire.strings(entry, MAP_KEY)
        values = _wire.messages(entry, MAP_VALUE)
        entries.append((keys[-1] if keys else "", values[-1] if values else memoryview(b"")))
    return entries


def _signatures(meta_graph: memoryview) -> dict[str, Signature]:
    from tensorflow.core.framework import tensor_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    signatures: dict[str, Signature] = {}
    for name, value in _map_entries(meta_graph, META_GRAPH_SIGNATURES):
        proto = meta_graph_pb2.SignatureDef.FromString(bytes(value))
        defaults: dict[str, Any] = {}
        for alias, tensor in _map_entries(value, SIGNATURE_DEFAULTS):
            defaults[alias] = _to_numpy(tensor_pb2.TensorProto.FromString(bytes(tensor)))
        signatures[name] = Signature(
            inputs={
                alias: _tensor_spec(proto.inputs[alias])
                for alias, _ in _map_entries(value, SIGNATURE_INPUTS)
            },
            outputs={
                alias: _tensor_spec(proto.outputs[alias])
                for alias, _ in _map_entries(value, SIGNATURE_OUTPUTS)
            },
            method_name=proto.method_name,
            defaults=defaults,
        )
    return signatures


def _to_numpy(tensor: Any) -> Any:
    import tensorflow as tf

    return tf.make_ndarray(tensor)


def _tensor_spec(info: Any) -> TensorSpec:
    """A TensorInfo proto as a TensorSpec: no stored shape, or ``unknown_rank``, is ``shape=None``."""
    shape: tuple[int, ...] | None = None
    if info.HasField("tensor_shape") and not info.tensor_shape.unknown_rank:
        shape = tuple(int(dim.size) for dim in info.tensor_shape.dim)
    return TensorSpec(dtype=to_dtype(int(info.dtype)), shape=shape, tensor_name=str(info.name))


def to_dtype(value: int) -> DType:
    """A TensorFlow ``DataType`` number as a DType.

    Reference types (``DT_FLOAT_REF``) become their base type, which is what a session returns for
    them; types shiba has no name for become ``DT_INVALID``.
    """
    if value > _REF_OFFSET:
        value -= _REF_OFFSET
    try:
        return DType(value)
    except ValueError:
        return DType.DT_INVALID


def find_signature(signatures: Mapping[str, Signature], name: str) -> Signature:
    """The signature called ``name``; ``FailedPrecondition`` in TF Serving's words if there is none."""
    signature = signatures.get(name)
    if signature is None:
        # tensorflow_serving/servables/tensorflow/predict_util.cc, RunPredict.
        raise FailedPrecondition(f'Serving signature key "{name}" not found.')
    return signature


def check_runnable(name: str, signature: Signature) -> None:
    """``FailedPrecondition`` if a tensor of the signature cannot be fed or fetched.

    A TF2 export's ``__saved_model_init_op`` signature is the usual case: its one output is an
    operation (``NoOp``, dtype ``DT_INVALID``), not a tensor. Sparse and composite TensorInfos, which
    have no tensor name, cannot be run either.
    """
    for kind, specs in (("input", signature.inputs), ("output", signature.outputs)):
        for alias, spec in specs.items():
            if spec.dtype is DType.DT_INVALID or not spec.tensor_name:
                raise FailedPrecondition(
                    f'Serving signature key "{name}" cannot be run: its {kind} "{alias}" '
                    f"({spec.tensor_name or 'no tensor name'}, {spec.dtype.name}) is not a dense "
                    "tensor shiba can feed or fetch."
                )


def select_outputs(signature: Signature, output_filter: Sequence[str] | None) -> tuple[str, ...]:
    """The output aliases to fetch, in the signature's order. ``None`` or empty means all of them.

    Raises ``InvalidArgument`` with TF Serving's wording for an unknown or repeated alias.
    """
    if not output_filter:
        return tuple(signature.outputs)
    seen: set[str] = set()
    for alias in output_filter:
        # tensorflow_serving/servables/tensorflow/predict_util.cc, PreProcessPrediction.
        if alias not in signature.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                f"the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return tuple(alias for alias in signature.outputs if alias in seen)
