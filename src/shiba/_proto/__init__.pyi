# ruff: noqa: N802  (protobuf's own method names)
# Types of the message classes that shiba._proto builds at import (protobuf ships no type hints).
# Keep in step with _definitions.py; tests/protocols/test_proto_schema.py checks that every class
# here declares exactly the fields of its descriptor.

from collections.abc import Iterable, Iterator, MutableMapping, MutableSequence
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

_T = TypeVar("_T")
_M = TypeVar("_M", bound=_Message)
_K = TypeVar("_K")

class _Message:
    DESCRIPTOR: ClassVar[Any]
    def __init__(self, **fields: Any) -> None: ...
    @classmethod
    def FromString(cls, data: bytes) -> Self: ...
    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...
    def ParseFromString(self, data: bytes) -> int: ...
    def MergeFromString(self, data: bytes) -> int: ...
    def CopyFrom(self, other: Self) -> None: ...
    def MergeFrom(self, other: Self) -> None: ...
    def Clear(self) -> None: ...
    def ClearField(self, name: str) -> None: ...
    def HasField(self, name: str) -> bool: ...
    def WhichOneof(self, oneof: str) -> str | None: ...
    def SetInParent(self) -> None: ...
    def ByteSize(self) -> int: ...
    def ListFields(self) -> list[tuple[Any, Any]]: ...

class _Repeated(MutableSequence[_T]):
    def __init__(self) -> None: ...
    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...
    @overload
    def __setitem__(self, index: int, value: _T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[_T]) -> None: ...
    def __delitem__(self, index: int | slice) -> None: ...
    def __len__(self) -> int: ...
    def insert(self, index: int, value: _T) -> None: ...
    def extend(self, values: Iterable[_T]) -> None: ...

class _RepeatedMessages(Generic[_M]):
    def __getitem__(self, index: int) -> _M: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_M]: ...
    def add(self, **fields: Any) -> _M: ...
    def append(self, value: _M) -> None: ...
    def extend(self, values: Iterable[_M]) -> None: ...

class _MessageMap(MutableMapping[_K, _M]):
    def __getitem__(self, key: _K) -> _M: ...
    def __setitem__(self, key: _K, value: _M) -> None: ...
    def __delitem__(self, key: _K) -> None: ...
    def __iter__(self) -> Iterator[_K]: ...
    def __len__(self) -> int: ...
    def get_or_create(self, key: _K) -> _M: ...

class _ScalarMap(MutableMapping[_K, _T]):
    def __getitem__(self, key: _K) -> _T: ...
    def __setitem__(self, key: _K, value: _T) -> None: ...
    def __delitem__(self, key: _K) -> None: ...
    def __iter__(self) -> Iterator[_K]: ...
    def __len__(self) -> int: ...

# -- package tensorflow --------------------------------------------------------------------------

class TensorShapeProto(_Message):
    class Dim(_Message):
        size: int
        name: str

    dim: _RepeatedMessages[TensorShapeProto.Dim]
    unknown_rank: bool

class TensorProto(_Message):
    dtype: int
    tensor_shape: TensorShapeProto
    version_number: int
    tensor_content: bytes
    half_val: _Repeated[int]
    float_val: _Repeated[float]
    double_val: _Repeated[float]
    int_val: _Repeated[int]
    string_val: _Repeated[bytes]
    scomplex_val: _Repeated[float]
    int64_val: _Repeated[int]
    bool_val: _Repeated[bool]
    dcomplex_val: _Repeated[float]
    uint32_val: _Repeated[int]
    uint64_val: _Repeated[int]
    float8_val: bytes

class TensorInfo(_Message):
    name: str
    dtype: int
    tensor_shape: TensorShapeProto

class SignatureDef(_Message):
    inputs: _MessageMap[str, TensorInfo]
    outputs: _MessageMap[str, TensorInfo]
    method_name: str
    defaults: _MessageMap[str, TensorProto]

# -- package google.protobuf ---------------------------------------------------------------------

class AnyProto(_Message):
    type_url: str
    value: bytes
    def Pack(self, message: _Message) -> None: ...
    def Unpack(self, message: _Message) -> bool: ...

class Int64Value(_Message):
    value: int

# -- package tensorflow.serving ------------------------------------------------------------------

class ModelSpec(_Message):
    name: str
    version: Int64Value
    version_label: str
    signature_name: str

class PredictRequest(_Message):
    model_spec: ModelSpec
    inputs: _MessageMap[str, TensorProto]
    output_filter: _Repeated[str]

class PredictResponse(_Message):
    model_spec: ModelSpec
    outputs: _MessageMap[str, TensorProto]

class ExampleList(_Message):
    examples: _Repeated[bytes]

class ExampleListWithContext(_Message):
    examples: _Repeated[bytes]
    context: bytes

class Input(_Message):
    example_list: ExampleList
    example_list_with_context: ExampleListWithContext

class Class(_Message):
    label: bytes
    score: float

class Classifications(_Message):
    classes: _RepeatedMessages[Class]

class ClassificationResult(_Message):
    classifications: _RepeatedMessages[Classifications]

class ClassificationRequest(_Message):
    model_spec: ModelSpec
    input: Input

class ClassificationResponse(_Message):
    model_spec: ModelSpec
    result: ClassificationResult

class Regression(_Message):
    value: float

class RegressionResult(_Message):
    regressions: _RepeatedMessages[Regression]

class RegressionRequest(_Message):
    model_spec: ModelSpec
    input: Input

class RegressionResponse(_Message):
    model_spec: ModelSpec
    result: RegressionResult

class InferenceTask(_Message):
    model_spec: ModelSpec
    method_name: str

class InferenceResult(_Message):
    model_spec: ModelSpec
    classification_result: ClassificationResult
    regression_result: RegressionResult

class MultiInferenceRequest(_Message):
    tasks: _RepeatedMessages[InferenceTask]
    input: Input

class MultiInferenceResponse(_Message):
    results: _RepeatedMessages[InferenceResult]

class SignatureDefMap(_Message):
    signature_def: _MessageMap[str, SignatureDef]

class GetModelMetadataRequest(_Message):
    model_spec: ModelSpec
    metadata_field: _Repeated[str]

class GetModelMetadataResponse(_Message):
    model_spec: ModelSpec
    metadata: _MessageMap[str, AnyProto]

class StatusProto(_Message):
    error_code: int
    error_message: str

class ModelVersionStatus(_Message):
    version: int
    state: int
    status: StatusProto

class GetModelStatusRequest(_Message):
    model_spec: ModelSpec

class GetModelStatusResponse(_Message):
    model_version_status: _RepeatedMessages[ModelVersionStatus]

class ServableVersionPolicy(_Message):
    class Latest(_Message):
        num_versions: int

    class All(_Message): ...

    class Specific(_Message):
        versions: _Repeated[int]

    latest: ServableVersionPolicy.Latest
    all: ServableVersionPolicy.All
    specific: ServableVersionPolicy.Specific

class LogCollectorConfig(_Message):
    type: str
    filename_prefix: str

class SamplingConfig(_Message):
    sampling_rate: float
    attributes: int

class LoggingConfig(_Message):
    log_collector_config: LogCollectorConfig
    sampling_config: SamplingConfig

class ModelConfig(_Message):
    name: str
    base_path: str
    model_type: int
    model_platform: str
    model_version_policy: ServableVersionPolicy
    version_labels: _ScalarMap[str, int]
    logging_config: LoggingConfig
    tensorflow_engine: str  # shiba's own (field 1000), not TF Serving's

class ModelConfigList(_Message):
    config: _RepeatedMessages[ModelConfig]

class ModelServerConfig(_Message):
    model_config_list: ModelConfigList
    custom_model_config: AnyProto

class ReloadConfigRequest(_Message):
    config: ModelServerConfig
    metric_names: _Repeated[str]

class Metric(_Message):
    name: str
    int64_value_increase: int

class ReloadConfigResponse(_Message):
    status: StatusProto
    metric: _RepeatedMessages[Metric]

class ClassifyLog(_Message):
    request: ClassificationRequest
    response: ClassificationResponse

class RegressLog(_Message):
    request: RegressionRequest
    response: RegressionResponse

class PredictLog(_Message):
    request: PredictRequest
    response: PredictResponse

class MultiInferenceLog(_Message):
    request: MultiInferenceRequest
    response: MultiInferenceResponse

class PredictionLog(_Message):
    classify_log: ClassifyLog
    regress_log: RegressLog
    predict_log: PredictLog
    predict_streamed_log: bytes
    multi_inference_log: MultiInferenceLog
    session_run_log: bytes

MESSAGES: dict[str, type[_Message]]
PREDICTION_SERVICE: str
MODEL_SERVICE: str

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
    "MESSAGES",
    "PREDICTION_SERVICE",
    "MODEL_SERVICE",
]

class SSLConfig(_Message):
    server_key: str
    server_cert: str
    custom_ca: str
    client_verify: bool
