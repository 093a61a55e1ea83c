"""shiba's declared messages against the generated code of ``tensorflow-serving-api``.

Every field shiba declares must exist in TensorFlow Serving's message of the same name, with the
same number, label and wire type (enums may be declared ``int32``, messages that shiba keeps
serialized may be declared ``bytes``). Fields TensorFlow Serving has and shiba leaves out are
listed here, so that a new field in a new release is a conscious decision. Exactly one field is
shiba's own and not TensorFlow Serving's (``SHIBA_ONLY``), with a number far from TF Serving's.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shiba import _proto

STUB = Path(_proto.__file__).with_suffix(".pyi")


@pytest.fixture(scope="module")
def pool() -> Any:
    """TF Serving's descriptors (importing its generated code runs all of TensorFlow: tests only)."""
    pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2")
    from google.protobuf import descriptor_pool

    modules: list[ModuleType] = []
    for name in (
        "classification_pb2",
        "get_model_metadata_pb2",
        "get_model_status_pb2",
        "inference_pb2",
        "model_management_pb2",
        "predict_pb2",
        "prediction_log_pb2",
        "regression_pb2",
    ):
        modules.append(pytest.importorskip(f"tensorflow_serving.apis.{name}"))
    modules.append(pytest.importorskip("tensorflow_serving.config.model_server_config_pb2"))
    return descriptor_pool.Default()


# TensorFlow Serving's fields that shiba does not declare (their bytes are kept, never read).
LEFT_OUT = {
    "tensorflow.TensorProto": {"resource_handle_val", "variant_val"},
    "tensorflow.TensorInfo": {"coo_sparse", "composite_tensor"},
    "tensorflow.serving.PredictRequest": {
        "predict_streamed_options",
        "client_id",
        "request_options",
    },
    "tensorflow.serving.LoggingConfig": {"custom_logging_config"},
    "tensorflow.serving.FileSystemStoragePathSourceConfig": {
        "servables",
        "servable_versions_always_present",
        "fail_if_zero_versions_at_startup",
        "file_system_poll_wait_seconds",
    },
    "tensorflow.serving.SamplingConfig": {"per_task_sampling_configs"},
    "tensorflow.serving.PredictionLog": {"log_metadata"},
}
# shiba's own fields, which TensorFlow Serving's messages do not have: this one only (a model's
# engine in a model config file), numbered far above TF Serving's so that they never collide.
SHIBA_ONLY = {"tensorflow.serving.ModelConfig": {"tensorflow_engine": 1000}}
# Messages whose .proto tensorflow-serving-api does not ship: their fields as TF Serving's .proto
# declares them (name -> number, type). ssl_config.proto: --ssl_config_file.
NOT_SHIPPED = {
    "tensorflow.serving.SSLConfig": {
        "server_key": (1, "string"),
        "server_cert": (2, "string"),
        "custom_ca": (3, "string"),
        "client_verify": (4, "bool"),
    },
}
# (shiba's type, TF Serving's type) pairs that are the same on the wire.
COMPATIBLE = {
    ("int32", "enum"),
    ("bytes", "message"),  # serialized tf.Example; the log types warm-up cannot replay
    ("bytes", "string"),  # Class.label
}
_TYPE_NAMES = {
    1: "double",
    2: "float",
    3: "int64",
    4: "uint64",
    5: "int32",
    8: "bool",
    9: "string",
    11: "message",
    12: "bytes",
    13: "uint32",
    14: "enum",
}


def _type(field: Any) -> str:
    return _TYPE_NAMES.get(field.type, str(field.type))


@pytest.mark.parametrize("full_name", sorted(_proto.MESSAGES))
def test_declared_fields_match_tensorflow_serving(pool: Any, full_name: str) -> None:
    ours = _proto.MESSAGES[full_name].DESCRIPTOR
    if full_name in NOT_SHIPPED:
        fields = {f.name: (f.number, _type(f)) for f in ours.fields}
        assert fields == NOT_SHIPPED[full_name]
        assert not any(f.is_repeated for f in ours.fields)
        return
    theirs = pool.FindMessageTypeByName(full_name)
    their_fields = {f.name: f for f in theirs.fields}
    own = SHIBA_ONLY.get(full_name, {})
    for field in ours.fields:
        if field.name in own:
            assert field.name not in their_fields, f"{full_name}.{field.name} is TF Serving's now"
            assert field.number == own[field.name], field.name
            assert field.number not in {f.number for f in theirs.fields}, field.name
            assert field.number > 10 * max(f.number for f in theirs.fields), field.name
            continue
        assert field.name in their_fields, f"{full_name}.{field.name} is not TF Serving's"
        other = their_fields[field.name]
        assert field.number == other.number, field.name
        assert field.is_repeated == other.is_repeated, field.name
        pair = (_type(field), _type(other))
        assert pair[0] == pair[1] or pair in COMPATIBLE, (field.name, pair)
        if field.message_type is not None:
            assert field.message_type.full_name == other.message_type.full_name, field.name
        if _type(field) not in ("message", "bytes", "string") and field.is_repeated:
            assert field.is_packed == other.is_packed, field.name
        mine = field.containing_oneof.name if field.containing_oneof else None
        their = other.containing_oneof.name if other.containing_oneof else None
        if their is not None and not their.startswith("_"):
            assert mine == their, field.name
    missing = set(their_fields) - {f.name for f in ours.fields}
    assert missing == LEFT_OUT.get(full_name, set())
    assert set(own) <= {f.name for f in ours.fields}, "a SHIBA_ONLY field is not declared"


def _stub_classes(body: list[ast.stmt], scope: str) -> dict[str, set[str]]:
    classes: dict[str, set[str]] = {}
    for node in body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            name = f"{scope}{node.name}"
            classes[name] = {
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
            classes.update(_stub_classes(node.body, name + "."))
    return classes


def test_the_type_stub_declares_every_field() -> None:
    stub = _stub_classes(ast.parse(STUB.read_text()).body, "")
    for name, fields in stub.items():
        top, _, nested = name.partition(".")
        cls: Any = getattr(_proto, top)
        for part in filter(None, nested.split(".")):
            cls = getattr(cls, part)
        assert fields == {f.name for f in cls.DESCRIPTOR.fields}, name
    exported = [getattr(_proto, name) for name in _proto.__all__]
    declared = {
        full_name
        for full_name, cls in _proto.MESSAGES.items()
        if any(cls is other for other in exported)
    }
    assert declared == set(_proto.MESSAGES) - {
        "tensorflow.TensorShapeProto.Dim",
        "tensorflow.serving.FileSystemStoragePathSourceConfig",
        "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy.Latest",
        "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy.All",
        "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy.Specific",
    }


def test_importing_the_protos_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, shiba._proto, shiba.codecs.tensor_proto; "
        "print(sorted(m for m in ('tensorflow', 'tensorflow_serving', 'grpc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
