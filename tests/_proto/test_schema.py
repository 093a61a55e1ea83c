"""shiba's ``.proto`` files against the generated code of ``tensorflow-serving-api`` and ``tritonclient``.

Every field shiba declares must exist in the official message of the same name (less shiba's own
package prefix), with the same number, label and wire type (TensorFlow's enums may be declared
``int32``, messages that shiba keeps serialized may be declared ``bytes``); enums shiba declares
must have the official values. Fields the official messages have and shiba leaves out are listed
here, so that a new field in a new release is a conscious decision. Exactly one field is shiba's
own (``SHIBA_ONLY``), with a number far from TF Serving's. And all of them import into one process:
shiba's package names never clash with the official ones in protobuf's default pool.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pool

from shiba import _proto
from shiba._proto.tfserving import apis_pb2, config_pb2, framework_pb2, prediction_log_pb2
from shiba._proto.v2 import inference_pb2, model_config_pb2

TFSERVING_FILES = (framework_pb2, apis_pb2, config_pb2, prediction_log_pb2)
V2_FILES = (inference_pb2, model_config_pb2)

# The official modules whose messages shiba declares: importing TF Serving's runs all of
# TensorFlow (tests only).
OFFICIAL_MODULES = (
    *(
        f"tensorflow_serving.apis.{name}"
        for name in (
            "classification_pb2",
            "get_model_metadata_pb2",
            "get_model_status_pb2",
            "inference_pb2",
            "model_management_pb2",
            "predict_pb2",
            "prediction_log_pb2",
            "regression_pb2",
        )
    ),
    "tensorflow_serving.config.model_server_config_pb2",
    "tritonclient.grpc.service_pb2",
    "tritonclient.grpc.model_config_pb2",
)


@pytest.fixture(scope="module")
def pool() -> Any:
    """The default pool, holding the official descriptors beside shiba's."""
    pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2")
    pytest.importorskip("tritonclient.grpc.service_pb2")
    modules: list[ModuleType] = [pytest.importorskip(name) for name in OFFICIAL_MODULES]
    assert modules
    return descriptor_pool.Default()


# Official fields that shiba does not declare (their bytes are kept, never read).
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
    # Triton's model config: what GPU, sequence, ensemble and tuning settings hold.
    "inference.ModelInstanceGroup": {
        "rate_limiter",
        "gpus",
        "secondary_devices",
        "profile",
        "passive",
        "host_policy",
    },
    "inference.ModelInput": {
        "reshape",
        "is_shape_tensor",
        "allow_ragged_batch",
        "is_non_linear_format_io",
    },
    "inference.ModelOutput": {"reshape", "is_shape_tensor", "is_non_linear_format_io"},
    "inference.ModelDynamicBatching": {
        "priority_levels",
        "default_priority_level",
        "default_queue_policy",
        "priority_queue_policy",
    },
    "inference.ModelConfig": {
        "runtime",
        "batch_input",
        "batch_output",
        "optimization",
        "sequence_batching",
        "ensemble_scheduling",
        "cc_model_filenames",
        "metric_tags",
        "parameters",
        "model_warmup",
        "model_operations",
        "model_transaction_policy",
        "model_repository_agents",
        "response_cache",
        "model_metrics",
    },
}
# shiba's own fields, which the official messages do not have: this one only (a model's engine in
# a model config file), numbered far above TF Serving's so that they never collide.
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
# (shiba's type, the official type) pairs that are the same on the wire.
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


def _messages(descriptors: Any) -> Iterator[Any]:
    for message in descriptors:
        if not message.GetOptions().map_entry:
            yield message
            yield from _messages(message.nested_types)


def _declared(files: tuple[ModuleType, ...]) -> dict[str, Any]:
    """Every message the files declare (nested too, map entries not), by official full name."""
    found = {}
    for module in files:
        for message in _messages(module.DESCRIPTOR.message_types_by_name.values()):
            found[_proto.wire_name(message.full_name)] = message
    return found


DECLARED = _declared(TFSERVING_FILES + V2_FILES)


def test_every_package_is_shibas_own() -> None:
    for module in TFSERVING_FILES + V2_FILES:
        assert module.DESCRIPTOR.package.startswith(_proto.OWN_PREFIX), module.__name__
        assert module.DESCRIPTOR.name.startswith("shiba/_proto/"), module.__name__
    assert _proto.PredictRequest.DESCRIPTOR.full_name == "shiba.tensorflow.serving.PredictRequest"


@pytest.mark.parametrize("full_name", sorted(DECLARED))
def test_declared_fields_match_the_official_ones(pool: Any, full_name: str) -> None:
    ours = DECLARED[full_name]
    if full_name in NOT_SHIPPED:
        fields = {f.name: (f.number, _type(f)) for f in ours.fields}
        assert fields == NOT_SHIPPED[full_name]
        assert not any(f.is_repeated for f in ours.fields)
        return
    theirs = pool.FindMessageTypeByName(full_name)
    assert theirs is not ours
    their_fields = {f.name: f for f in theirs.fields}
    own = SHIBA_ONLY.get(full_name, {})
    for field in ours.fields:
        if field.name in own:
            assert field.name not in their_fields, f"{full_name}.{field.name} is official now"
            assert field.number == own[field.name], field.name
            assert field.number not in {f.number for f in theirs.fields}, field.name
            assert field.number > 10 * max(f.number for f in theirs.fields), field.name
            continue
        assert field.name in their_fields, f"{full_name}.{field.name} is not the official one's"
        other = their_fields[field.name]
        assert field.number == other.number, field.name
        assert field.is_repeated == other.is_repeated, field.name
        pair = (_type(field), _type(other))
        assert pair[0] == pair[1] or pair in COMPATIBLE, (field.name, pair)
        if field.message_type is not None:
            mine = _proto.wire_name(field.message_type.full_name)
            assert mine == other.message_type.full_name, field.name
        if field.enum_type is not None:
            assert _proto.wire_name(field.enum_type.full_name) == other.enum_type.full_name
            values = {(v.name, v.number) for v in field.enum_type.values}
            assert values == {(v.name, v.number) for v in other.enum_type.values}, field.name
        if _type(field) not in ("message", "bytes", "string") and field.is_repeated:
            assert field.is_packed == other.is_packed, field.name
        mine_oneof = field.containing_oneof.name if field.containing_oneof else None
        their_oneof = other.containing_oneof.name if other.containing_oneof else None
        if their_oneof is not None and not their_oneof.startswith("_"):
            assert mine_oneof == their_oneof, field.name
    missing = set(their_fields) - {f.name for f in ours.fields}
    assert missing == LEFT_OUT.get(full_name, set())
    assert set(own) <= {f.name for f in ours.fields}, "a SHIBA_ONLY field is not declared"


def test_the_v2_file_declares_what_shiba_serves(pool: Any) -> None:
    """The Open Inference Protocol's messages and the extensions' (shared memory, trace and log
    settings are Triton's alone, and shiba does not serve them)."""
    theirs = {
        _proto.wire_name(m.full_name)
        for m in _messages(pool.FindFileByName("grpc_service.proto").message_types_by_name.values())
    }
    not_served = {
        name
        for name in theirs
        if name.startswith(("inference.SystemSharedMemory", "inference.CudaSharedMemory"))
        or name.startswith(("inference.TraceSetting", "inference.LogSettings"))
    }
    assert theirs - not_served == set(_declared((inference_pb2,)))


def test_a_packed_any_names_the_official_message(pool: Any) -> None:
    """A client's ``Any.Unpack`` into TF Serving's class accepts what shiba packs."""
    ours = _proto.SignatureDefMap()
    ours.signature_def["serving_default"].method_name = "tensorflow/serving/predict"
    response = _proto.GetModelMetadataResponse()
    _proto.pack(response.metadata["signature_def"], ours)
    official = pytest.importorskip("tensorflow_serving.apis.get_model_metadata_pb2")
    parsed = official.GetModelMetadataResponse.FromString(response.SerializeToString())
    theirs = official.SignatureDefMap()
    assert parsed.metadata["signature_def"].Unpack(theirs)
    assert theirs.signature_def["serving_default"].method_name == "tensorflow/serving/predict"


def test_error_messages_name_the_official_messages() -> None:
    text = "Error parsing message with type 'shiba.tensorflow.serving.PredictRequest'"
    assert _proto.official_names(text) == text.replace("shiba.", "")
    assert (
        _proto.official_names("shiba.inference.ModelInferRequest") == "inference.ModelInferRequest"
    )
    assert _proto.official_names("see shiba.core.errors") == "see shiba.core.errors"


def test_the_package_exports_every_tfserving_message() -> None:
    exported = {getattr(_proto, name) for name in _proto.__all__}
    for module in TFSERVING_FILES:
        for name in module.DESCRIPTOR.message_types_by_name:
            if name != "FileSystemStoragePathSourceConfig":  # its ServableVersionPolicy is
                assert getattr(module, name) in exported, name
    assert _proto.ServableVersionPolicy.DESCRIPTOR.name == "ServableVersionPolicy"


@pytest.mark.slow
def test_official_and_own_messages_share_one_process() -> None:
    """The official modules first, shiba's after (the fixture above imports them the other way)."""
    code = "; ".join(
        [
            "import importlib, sys",
            *(f"importlib.import_module({name!r})" for name in OFFICIAL_MODULES),
            "import shiba._proto, shiba._proto.v2.inference_pb2 as v2",
            "from tensorflow_serving.apis import predict_pb2",
            "import tritonclient.grpc.service_pb2 as triton",
            "assert shiba._proto.PredictRequest is not predict_pb2.PredictRequest",
            "assert v2.ModelInferRequest is not triton.ModelInferRequest",
            "print('ok')",
        ]
    )
    pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    pytest.importorskip("tritonclient.grpc.service_pb2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_importing_the_protos_imports_no_framework() -> None:
    code = (
        "import sys, shiba._proto, shiba._proto.v2.inference_pb2, shiba.codecs.tensor_proto; "
        "print(sorted(m for m in ('tensorflow', 'tensorflow_serving', 'tritonclient', 'grpc')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
