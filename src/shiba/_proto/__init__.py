"""shiba's protobuf messages: TensorFlow Serving's here, the Open Inference Protocol's in ``v2``.

The messages are declared in ``.proto`` files of shiba's own (``tfserving/*.proto``,
``v2/*.proto``), compiled by ``grpcio-tools`` and ``mypy-protobuf`` into the ``*_pb2.py`` and
``*_pb2.pyi`` beside them, which are committed (``make protos`` regenerates them;
``python src/shiba/_proto/generate.py``); ``tests/_proto/test_generate.py`` fails in ``make test``
when they differ from the ``.proto`` files. shiba does not use the generated code of
``tensorflow-serving-api`` or ``tritonclient``, because:

- Those ``*_pb2`` modules import ``tensorflow.core.framework.*_pb2``, and importing anything under
  ``tensorflow`` runs ``tensorflow/__init__.py``: the whole framework. Measured on this project's
  machine (tensorflow-cpu 2.21): importing ``prediction_service_pb2_grpc`` takes 3.3 s and 650 MB
  and loads 3,600 modules. The gRPC API, the TensorProto codec and a client must not cost that,
  nor need TensorFlow at all (an ONNX-only server; principle 1).
- ``tensorflow-serving-api`` declares a dependency on the full ``tensorflow`` package, which would
  give a second TensorFlow next to ``tensorflow-cpu``; it can only be installed ``--no-deps``.
- Declaring the schema lets shiba pick wire-compatible types that fit it: serialized
  ``tf.Example`` protos stay ``bytes`` (as TF Serving's own ``SerializedInput`` does), and
  TensorFlow's enums are plain ints (shiba names the values: ``shiba.core.tensors.DType``).

Names. Field names, numbers and wire types are TensorFlow Serving's and the protocol's; the
protobuf *packages* are shiba's own: ``shiba.tensorflow``, ``shiba.tensorflow.serving`` and
``shiba.inference`` for TensorFlow's ``tensorflow``, ``tensorflow.serving`` and the protocol's
``inference`` (:func:`wire_name` maps them back). Generated code registers its messages in
protobuf's one default pool, as TensorFlow's, ``tensorflow-serving-api``'s and ``tritonclient``'s
do, and one full name can be registered only once in it: with the same names, a server running
SavedModels, or a test using the official stubs as its client, could not import both. The names
never reach the wire except in a ``google.protobuf.Any``, which :func:`pack` fills with the
official name; gRPC service names are the strings below. ``tests/_proto/test_schema.py``
checks every field against ``tensorflow-serving-api``'s and ``tritonclient``'s descriptors, and
that all of them import into one process.

Importing this package loads TensorFlow Serving's messages only; it imports no gRPC.
"""

from __future__ import annotations

import re

from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message

from shiba._proto.tfserving.apis_pb2 import (
    Class,
    ClassificationRequest,
    ClassificationResponse,
    ClassificationResult,
    Classifications,
    ExampleList,
    ExampleListWithContext,
    GetModelMetadataRequest,
    GetModelMetadataResponse,
    GetModelStatusRequest,
    GetModelStatusResponse,
    InferenceResult,
    InferenceTask,
    Input,
    Metric,
    ModelSpec,
    ModelVersionStatus,
    MultiInferenceRequest,
    MultiInferenceResponse,
    PredictRequest,
    PredictResponse,
    Regression,
    RegressionRequest,
    RegressionResponse,
    RegressionResult,
    ReloadConfigRequest,
    ReloadConfigResponse,
    SignatureDefMap,
    StatusProto,
)
from shiba._proto.tfserving.config_pb2 import (
    FileSystemStoragePathSourceConfig,
    LogCollectorConfig,
    LoggingConfig,
    ModelConfig,
    ModelConfigList,
    ModelServerConfig,
    SamplingConfig,
    SSLConfig,
)
from shiba._proto.tfserving.framework_pb2 import (
    SignatureDef,
    TensorInfo,
    TensorProto,
    TensorShapeProto,
)
from shiba._proto.tfserving.prediction_log_pb2 import (
    ClassifyLog,
    MultiInferenceLog,
    PredictionLog,
    PredictLog,
    RegressLog,
)

__all__ = [
    "TensorShapeProto",
    "TensorProto",
    "TensorInfo",
    "SignatureDef",
    "ModelSpec",
    "PredictRequest",
    "PredictResponse",
    "ExampleList",
    "ExampleListWithContext",
    "Input",
    "Class",
    "Classifications",
    "ClassificationResult",
    "ClassificationRequest",
    "ClassificationResponse",
    "Regression",
    "RegressionResult",
    "RegressionRequest",
    "RegressionResponse",
    "InferenceTask",
    "InferenceResult",
    "MultiInferenceRequest",
    "MultiInferenceResponse",
    "SignatureDefMap",
    "GetModelMetadataRequest",
    "GetModelMetadataResponse",
    "StatusProto",
    "ModelVersionStatus",
    "GetModelStatusRequest",
    "GetModelStatusResponse",
    "ServableVersionPolicy",
    "LogCollectorConfig",
    "SamplingConfig",
    "LoggingConfig",
    "ModelConfig",
    "ModelConfigList",
    "ModelServerConfig",
    "ReloadConfigRequest",
    "Metric",
    "ReloadConfigResponse",
    "ClassifyLog",
    "RegressLog",
    "PredictLog",
    "MultiInferenceLog",
    "PredictionLog",
    "SSLConfig",
    "PREDICTION_SERVICE",
    "MODEL_SERVICE",
    "OWN_PREFIX",
    "wire_name",
    "official_names",
    "pack",
]

ServableVersionPolicy = FileSystemStoragePathSourceConfig.ServableVersionPolicy

#: gRPC service names (prediction_service.proto, model_service.proto).
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"

#: What shiba's protobuf packages add in front of the official ones.
OWN_PREFIX = "shiba."

_TYPE_URL_PREFIX = "type.googleapis.com/"
_OWN_NAME = re.compile(r"\bshiba\.(?=(?:tensorflow|inference)\.)")


def wire_name(full_name: str) -> str:
    """The official full name of one of shiba's messages (``tensorflow.serving.X`` for
    ``shiba.tensorflow.serving.X``); other messages' names (``google.protobuf.*``) as they are.
    """
    return full_name.removeprefix(OWN_PREFIX)


def official_names(text: str) -> str:
    """``text`` (such as a protobuf ``DecodeError``'s message) with the names of shiba's messages
    in it replaced by the official ones, which a client knows."""
    return _OWN_NAME.sub("", text)


def pack(target: AnyProto, message: Message) -> None:
    """Puts ``message`` into ``target`` under its official type URL, as TensorFlow Serving does.

    ``Any.Pack`` would name shiba's own package, which a client's ``Unpack`` into its official
    class rejects.
    """
    target.type_url = _TYPE_URL_PREFIX + wire_name(message.DESCRIPTOR.full_name)
    target.value = message.SerializeToString()
