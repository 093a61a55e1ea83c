"""TensorFlow Serving's protobuf messages, as shiba reads and writes them. The one door to protos.

Decision: shiba declares the messages it uses itself (``_definitions.py``, in a few lines of Python
per message) and builds their classes at import, in a private descriptor pool, with nothing but the
``protobuf`` runtime. It does not import the generated code of ``tensorflow-serving-api``, because:

- Those ``*_pb2`` modules import ``tensorflow.core.framework.*_pb2``, and importing anything under
  ``tensorflow`` runs ``tensorflow/__init__.py``: the whole framework. Measured on this project's
  machine (tensorflow-cpu 2.21): importing ``prediction_service_pb2_grpc`` takes 3.3 s and 650 MB
  and loads 3,600 modules, against 0.05 s for this package. The gRPC API, the TensorProto codec and
  a client must not cost that, nor need TensorFlow at all (an ONNX-only server; principle 1).
- ``tensorflow-serving-api`` declares a dependency on the full ``tensorflow`` package, which would
  give a second TensorFlow next to ``tensorflow-cpu``; it can only be installed ``--no-deps``.
- shiba may not ship ``.proto`` files or generated code copied from TensorFlow Serving, and needs no
  ``protoc`` step at install time this way.
- Declaring the schema lets shiba pick wire-compatible types that fit it: serialized
  ``tf.Example`` protos stay ``bytes`` (as TF Serving's own ``SerializedInput`` does), and enums are
  plain ints.

The classes live in their own ``DescriptorPool``, so they never clash with TensorFlow's generated
classes of the same names in one process (a server running SavedModels, or a test using the
``tensorflow-serving-api`` stubs as its client). ``tests/protocols/test_proto_schema.py`` checks
every declared field against ``tensorflow-serving-api``'s descriptors (number, wire type, label).

Service and method names for the gRPC front end are here too; this package imports no gRPC.
Message classes are typed by ``__init__.pyi`` (protobuf ships no type hints).
"""

from __future__ import annotations

from typing import Any

from shiba._proto._definitions import FILES
from shiba._proto._schema import build

__all__ = [
    "AnyProto",
    "Int64Value",
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
    "MESSAGES",
    "PREDICTION_SERVICE",
    "MODEL_SERVICE",
]

#: Every declared message class by its full protobuf name.
MESSAGES: dict[str, type[Any]] = build(FILES)

AnyProto = MESSAGES["google.protobuf.Any"]
Int64Value = MESSAGES["google.protobuf.Int64Value"]
TensorShapeProto = MESSAGES["tensorflow.TensorShapeProto"]
TensorProto = MESSAGES["tensorflow.TensorProto"]
TensorInfo = MESSAGES["tensorflow.TensorInfo"]
SignatureDef = MESSAGES["tensorflow.SignatureDef"]
ModelSpec = MESSAGES["tensorflow.serving.ModelSpec"]
PredictRequest = MESSAGES["tensorflow.serving.PredictRequest"]
PredictResponse = MESSAGES["tensorflow.serving.PredictResponse"]
ExampleList = MESSAGES["tensorflow.serving.ExampleList"]
ExampleListWithContext = MESSAGES["tensorflow.serving.ExampleListWithContext"]
Input = MESSAGES["tensorflow.serving.Input"]
Class = MESSAGES["tensorflow.serving.Class"]
Classifications = MESSAGES["tensorflow.serving.Classifications"]
ClassificationResult = MESSAGES["tensorflow.serving.ClassificationResult"]
ClassificationRequest = MESSAGES["tensorflow.serving.ClassificationRequest"]
ClassificationResponse = MESSAGES["tensorflow.serving.ClassificationResponse"]
Regression = MESSAGES["tensorflow.serving.Regression"]
RegressionResult = MESSAGES["tensorflow.serving.RegressionResult"]
RegressionRequest = MESSAGES["tensorflow.serving.RegressionRequest"]
RegressionResponse = MESSAGES["tensorflow.serving.RegressionResponse"]
InferenceTask = MESSAGES["tensorflow.serving.InferenceTask"]
InferenceResult = MESSAGES["tensorflow.serving.InferenceResult"]
MultiInferenceRequest = MESSAGES["tensorflow.serving.MultiInferenceRequest"]
MultiInferenceResponse = MESSAGES["tensorflow.serving.MultiInferenceResponse"]
SignatureDefMap = MESSAGES["tensorflow.serving.SignatureDefMap"]
GetModelMetadataRequest = MESSAGES["tensorflow.serving.GetModelMetadataRequest"]
GetModelMetadataResponse = MESSAGES["tensorflow.serving.GetModelMetadataResponse"]
StatusProto = MESSAGES["tensorflow.serving.StatusProto"]
ModelVersionStatus = MESSAGES["tensorflow.serving.ModelVersionStatus"]
GetModelStatusRequest = MESSAGES["tensorflow.serving.GetModelStatusRequest"]
GetModelStatusResponse = MESSAGES["tensorflow.serving.GetModelStatusResponse"]
ServableVersionPolicy = MESSAGES[
    "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy"
]
LogCollectorConfig = MESSAGES["tensorflow.serving.LogCollectorConfig"]
SamplingConfig = MESSAGES["tensorflow.serving.SamplingConfig"]
LoggingConfig = MESSAGES["tensorflow.serving.LoggingConfig"]
ModelConfig = MESSAGES["tensorflow.serving.ModelConfig"]
ModelConfigList = MESSAGES["tensorflow.serving.ModelConfigList"]
ModelServerConfig = MESSAGES["tensorflow.serving.ModelServerConfig"]
ReloadConfigRequest = MESSAGES["tensorflow.serving.ReloadConfigRequest"]
Metric = MESSAGES["tensorflow.serving.Metric"]
ReloadConfigResponse = MESSAGES["tensorflow.serving.ReloadConfigResponse"]
ClassifyLog = MESSAGES["tensorflow.serving.ClassifyLog"]
RegressLog = MESSAGES["tensorflow.serving.RegressLog"]
PredictLog = MESSAGES["tensorflow.serving.PredictLog"]
MultiInferenceLog = MESSAGES["tensorflow.serving.MultiInferenceLog"]
PredictionLog = MESSAGES["tensorflow.serving.PredictionLog"]
SSLConfig = MESSAGES["tensorflow.serving.SSLConfig"]

#: gRPC service names (prediction_service.proto, model_service.proto).
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
