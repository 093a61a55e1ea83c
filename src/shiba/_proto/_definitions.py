"""The messages of TensorFlow Serving's gRPC API that shiba reads and writes, field by field.

Names, field numbers and wire types are those of TensorFlow Serving's API (package
``tensorflow.serving``) and of the TensorFlow messages it uses (package ``tensorflow``), so the
bytes on the wire are the ones a ``tensorflow-serving-api`` client sends and expects. Where shiba
has no use for a field it is left out: protobuf keeps an unknown field's bytes when it parses, and
shiba never writes one. A few fields take a wire-compatible type that suits shiba better; each says
why. ``tests/protocols/test_proto_schema.py`` checks every field against the generated code of
``tensorflow-serving-api``; the one field that is shiba's own (``ModelConfig.tensorflow_engine``)
says so where it is declared.
"""

from __future__ import annotations

from shiba._proto._schema import Field, File, Map, Message

__all__ = ["FILES"]

_TF = "tensorflow."
_TFS = "tensorflow.serving."

# Enum fields (tensorflow.DataType, ModelVersionStatus.State, tensorflow.error.Code, ModelType)
# are declared `int32`: an enum is a varint on the wire, and shiba names the values itself
# (shiba.core.tensors.DType, shiba.core.errors.Code).
_TENSORFLOW = File(
    name="shiba/tensorflow.proto",
    package="tensorflow",
    messages=(
        Message(
            "TensorShapeProto",
            (
                Field("dim", 2, _TF + "TensorShapeProto.Dim", repeated=True),
                Field("unknown_rank", 3, "bool"),
            ),
            nested=(Message("Dim", (Field("size", 1, "int64"), Field("name", 2, "string"))),),
        ),
        Message(
            "TensorProto",
            (
                Field("dtype", 1, "int32"),
                Field("tensor_shape", 2, _TF + "TensorShapeProto"),
                Field("version_number", 3, "int32"),
                Field("tensor_content", 4, "bytes"),
                Field("half_val", 13, "int32", repeated=True),
                Field("float_val", 5, "float", repeated=True),
                Field("double_val", 6, "double", repeated=True),
                Field("int_val", 7, "int32", repeated=True),
                Field("string_val", 8, "bytes", repeated=True),
                Field("scomplex_val", 9, "float", repeated=True),
                Field("int64_val", 10, "int64", repeated=True),
                Field("bool_val", 11, "bool", repeated=True),
                Field("dcomplex_val", 12, "double", repeated=True),
                Field("uint32_val", 16, "uint32", repeated=True),
                Field("uint64_val", 17, "uint64", repeated=True),
                Field("float8_val", 18, "bytes"),
            ),
        ),
        Message(
            "TensorInfo",
            (
                Field("name", 1, "string", oneof="encoding"),
                Field("dtype", 2, "int32"),
                Field("tensor_shape", 3, _TF + "TensorShapeProto"),
            ),
        ),
        Message(
            "SignatureDef",
            (
                Map("inputs", 1, "string", _TF + "TensorInfo"),
                Map("outputs", 2, "string", _TF + "TensorInfo"),
                Field("method_name", 3, "string"),
                Map("defaults", 4, "string", _TF + "TensorProto"),
            ),
        ),
    ),
)

_MODEL_SPEC = _TFS + "ModelSpec"
_INPUT = _TFS + "Input"
_STATUS = _TFS + "StatusProto"
_CLASSIFICATION_RESULT = _TFS + "ClassificationResult"
_REGRESSION_RESULT = _TFS + "RegressionResult"
_VERSION_POLICY = _TFS + "FileSystemStoragePathSourceConfig.ServableVersionPolicy"


def _log(name: str, request: str, response: str) -> Message:
    """A ``<Kind>Log`` of prediction_log.proto: one request and its response."""
    return Message(
        name, (Field("request", 1, _TFS + request), Field("response", 2, _TFS + response))
    )


_SERVING = File(
    name="shiba/tensorflow_serving.proto",
    package="tensorflow.serving",
    dependencies=(
        "google/protobuf/any.proto",
        "google/protobuf/wrappers.proto",
        "shiba/tensorflow.proto",
    ),
    messages=(
        Message(
            "ModelSpec",
            (
                Field("name", 1, "string"),
                Field("version", 2, "google.protobuf.Int64Value", oneof="version_choice"),
                Field("version_label", 4, "string", oneof="version_choice"),
                Field("signature_name", 3, "string"),
            ),
        ),
        # predict.proto (PredictRequest's streaming and request options are left out).
        Message(
            "PredictRequest",
            (
                Field("model_spec", 1, _MODEL_SPEC),
                Map("inputs", 2, "string", _TF + "TensorProto"),
                Field("output_filter", 3, "string", repeated=True),
            ),
        ),
        Message(
            "PredictResponse",
            (
                Field("model_spec", 2, _MODEL_SPEC),
                Map("outputs", 1, "string", _TF + "TensorProto"),
            ),
        ),
        # input.proto. The examples are `tensorflow.Example` messages on the wire; shiba keeps them
        # serialized (`bytes` has the same wire format), as TF Serving's own internal
        # SerializedInput does, because the model parses them and shiba only passes them on.
        Message("ExampleList", (Field("examples", 1, "bytes", repeated=True),)),
        Message(
            "ExampleListWithContext",
            (Field("examples", 1, "bytes", repeated=True), Field("context", 2, "bytes")),
        ),
        Message(
            "Input",
            (
                Field("example_list", 1, _TFS + "ExampleList", oneof="kind"),
                Field(
                    "example_list_with_context", 2, _TFS + "ExampleListWithContext", oneof="kind"
                ),
            ),
        ),
        # classification.proto. `label` is a proto3 string in TF Serving; it is declared bytes
        # here because a model's class names are bytes, which TF Serving writes as they are.
        Message("Class", (Field("label", 1, "bytes"), Field("score", 2, "float"))),
        Message("Classifications", (Field("classes", 1, _TFS + "Class", repeated=True),)),
        Message(
            "ClassificationResult",
            (Field("classifications", 1, _TFS + "Classifications", repeated=True),),
        ),
        Message(
            "ClassificationRequest",
            (Field("model_spec", 1, _MODEL_SPEC), Field("input", 2, _INPUT)),
        ),
        Message(
            "ClassificationResponse",
            (Field("model_spec", 2, _MODEL_SPEC), Field("result", 1, _CLASSIFICATION_RESULT)),
        ),
        # regression.proto
        Message("Regression", (Field("value", 1, "float"),)),
        Message("RegressionResult", (Field("regressions", 1, _TFS + "Regression", repeated=True),)),
        Message(
            "RegressionRequest", (Field("model_spec", 1, _MODEL_SPEC), Field("input", 2, _INPUT))
        ),
        Message(
            "RegressionResponse",
            (Field("model_spec", 2, _MODEL_SPEC), Field("result", 1, _REGRESSION_RESULT)),
        ),
        # inference.proto
        Message(
            "InferenceTask",
            (Field("model_spec", 1, _MODEL_SPEC), Field("method_name", 2, "string")),
        ),
        Message(
            "InferenceResult",
            (
                Field("model_spec", 1, _MODEL_SPEC),
                Field("classification_result", 2, _CLASSIFICATION_RESULT, oneof="result"),
                Field("regression_result", 3, _REGRESSION_RESULT, oneof="result"),
            ),
        ),
        Message(
            "MultiInferenceRequest",
            (Field("tasks", 1, _TFS + "InferenceTask", repeated=True), Field("input", 2, _INPUT)),
        ),
        Message(
            "MultiInferenceResponse",
            (Field("results", 1, _TFS + "InferenceResult", repeated=True),),
        ),
        # get_model_metadata.proto
        Message("SignatureDefMap", (Map("signature_def", 1, "string", _TF + "SignatureDef"),)),
        Message(
            "GetModelMetadataRequest",
            (
                Field("model_spec", 1, _MODEL_SPEC),
                Field("metadata_field", 2, "string", repeated=True),
            ),
        ),
        Message(
            "GetModelMetadataResponse",
            (
                Field("model_spec", 1, _MODEL_SPEC),
                Map("metadata", 2, "string", "google.protobuf.Any"),
            ),
        ),
        # status.proto and get_model_status.proto
        Message(
            "StatusProto", (Field("error_code", 1, "int32"), Field("error_message", 2, "string"))
        ),
        Message(
            "ModelVersionStatus",
            (
                Field("version", 1, "int64"),
                Field("state", 2, "int32"),
                Field("status", 3, _STATUS),
            ),
        ),
        Message("GetModelStatusRequest", (Field("model_spec", 1, _MODEL_SPEC),)),
        Message(
            "GetModelStatusResponse",
            (Field("model_version_status", 1, _TFS + "ModelVersionStatus", repeated=True),),
        ),
        # model_server_config.proto, file_system_storage_path_source.proto, logging_config.proto
        # (what a ModelConfigList holds; a logging config's sampling rules per task are left out).
        Message(
            "FileSystemStoragePathSourceConfig",
            (),
            nested=(
                Message(
                    "ServableVersionPolicy",
                    (
                        Field("latest", 100, _VERSION_POLICY + ".Latest", oneof="policy_choice"),
                        Field("all", 101, _VERSION_POLICY + ".All", oneof="policy_choice"),
                        Field(
                            "specific", 102, _VERSION_POLICY + ".Specific", oneof="policy_choice"
                        ),
                    ),
                    nested=(
                        Message("Latest", (Field("num_versions", 1, "uint32"),)),
                        Message("All", ()),
                        Message("Specific", (Field("versions", 1, "int64", repeated=True),)),
                    ),
                ),
            ),
        ),
        Message(
            "LogCollectorConfig",
            (Field("type", 1, "string"), Field("filename_prefix", 2, "string")),
        ),
        Message(
            "SamplingConfig", (Field("sampling_rate", 1, "double"), Field("attributes", 2, "int32"))
        ),
        Message(
            "LoggingConfig",
            (
                Field("log_collector_config", 1, _TFS + "LogCollectorConfig"),
                Field("sampling_config", 2, _TFS + "SamplingConfig"),
            ),
        ),
        Message(
            "ModelConfig",
            (
                Field("name", 1, "string"),
                Field("base_path", 2, "string"),
                Field("model_type", 3, "int32"),
                Field("model_platform", 4, "string"),
                Field("model_version_policy", 7, _VERSION_POLICY),
                Map("version_labels", 8, "string", "int64"),
                Field("logging_config", 6, _TFS + "LoggingConfig"),
                # shiba's own, not TF Serving's: the engine of this model's SavedModels ("auto",
                # "tensorflow", "openvino"; "" = --tensorflow_engine). TF Serving does not know it,
                # so a config that sets it is shiba-only; TF Serving's clients never set it. Its
                # number is far above TF Serving's so that it can never collide with a new field.
                Field("tensorflow_engine", 1000, "string"),
            ),
        ),
        Message("ModelConfigList", (Field("config", 1, _TFS + "ModelConfig", repeated=True),)),
        Message(
            "ModelServerConfig",
            (
                Field("model_config_list", 1, _TFS + "ModelConfigList", oneof="config"),
                Field("custom_model_config", 2, "google.protobuf.Any", oneof="config"),
            ),
        ),
        # model_management.proto
        Message(
            "ReloadConfigRequest",
            (
                Field("config", 1, _TFS + "ModelServerConfig"),
                Field("metric_names", 2, "string", repeated=True),
            ),
        ),
        Message(
            "Metric",
            (
                Field("name", 1, "string"),
                Field("int64_value_increase", 2, "int64", oneof="value_increase"),
            ),
        ),
        Message(
            "ReloadConfigResponse",
            (Field("status", 1, _STATUS), Field("metric", 2, _TFS + "Metric", repeated=True)),
        ),
        # prediction_log.proto: the records of a SavedModel's warm-up file. The two log types
        # shiba cannot replay are declared `bytes` (same wire format as their messages): enough to
        # tell that a record holds one. `log_metadata` is left out.
        _log("ClassifyLog", "ClassificationRequest", "ClassificationResponse"),
        _log("RegressLog", "RegressionRequest", "RegressionResponse"),
        _log("PredictLog", "PredictRequest", "PredictResponse"),
        _log("MultiInferenceLog", "MultiInferenceRequest", "MultiInferenceResponse"),
        Message(
            "PredictionLog",
            (
                Field("classify_log", 2, _TFS + "ClassifyLog", oneof="log_type"),
                Field("regress_log", 3, _TFS + "RegressLog", oneof="log_type"),
                Field("predict_log", 6, _TFS + "PredictLog", oneof="log_type"),
                Field("predict_streamed_log", 7, "bytes", oneof="log_type"),
                Field("multi_inference_log", 4, _TFS + "MultiInferenceLog", oneof="log_type"),
                Field("session_run_log", 5, "bytes", oneof="log_type"),
            ),
        ),
        # ssl_config.proto (--ssl_config_file): PEM strings inline; not shipped in
        # tensorflow-serving-api, so test_proto_schema.py checks it against its own table.
        Message(
            "SSLConfig",
            (
                Field("server_key", 1, "string"),
                Field("server_cert", 2, "string"),
                Field("custom_ca", 3, "string"),
                Field("client_verify", 4, "bool"),
            ),
        ),
    ),
)

#: The two files, in dependency order.
FILES = (_TENSORFLOW, _SERVING)
