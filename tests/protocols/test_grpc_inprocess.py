"""TF Serving's gRPC API in process: shiba's servicers on ``grpc.aio``, called with the stubs of
``tensorflow-serving-api``, over a Manager whose versions are ``FakeServable`` instances.

Model ``m`` has versions 1 and 2 (labels ``stable`` -> 1, ``canary`` -> 2) whose
``serving_default`` answers ``y = x * version``; ``broken`` fails to load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import pytest

# The client side: TF Serving's own stubs (importing them runs all of TensorFlow).
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (  # type: ignore[import-untyped]
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2  # type: ignore[import-untyped]

from shiba.core.errors import FailedPrecondition, ShibaError
from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.servable import Outputs
from shiba.core.service import ModelService, ServiceOptions
from shiba.core.tensors import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    DType,
    Signature,
    Tensors,
    TensorSpec,
)
from shiba.protocols.options import GrpcOptions
from tests.fakes import FakeLoader, FakeServable
from tests.protocols._grpc_server import InProcessServer

FLOAT = TensorSpec(DType.DT_FLOAT, (-1, 2), "x:0")
EXAMPLES = TensorSpec(DType.DT_STRING, (-1,), "input_example_tensor:0")
DTYPES = sorted(
    [
        DType.DT_FLOAT,
        DType.DT_DOUBLE,
        DType.DT_INT32,
        DType.DT_UINT8,
        DType.DT_INT16,
        DType.DT_INT8,
        DType.DT_UINT16,
        DType.DT_INT64,
        DType.DT_UINT32,
        DType.DT_UINT64,
        DType.DT_BOOL,
        DType.DT_HALF,
        DType.DT_COMPLEX64,
        DType.DT_COMPLEX128,
        DType.DT_STRING,
    ]
)


def _signatures() -> dict[str, Signature]:
    signatures = {
        "serving_default": Signature({"x": FLOAT}, {"y": FLOAT}),
        "two": Signature(
            {"x": FLOAT},
            {"y": FLOAT, "z": FLOAT},
            defaults={"k": np.array([1.5, 2.5], np.float32)},
        ),
        "classify": Signature(
            {"inputs": EXAMPLES},
            {
                "classes": TensorSpec(DType.DT_STRING, (-1, 1), "classes:0"),
                "scores": TensorSpec(DType.DT_FLOAT, (-1, 1), "scores:0"),
            },
            CLASSIFY_METHOD,
        ),
        "regress": Signature(
            {"inputs": EXAMPLES},
            {"outputs": TensorSpec(DType.DT_FLOAT, (-1,), "outputs:0")},
            REGRESS_METHOD,
        ),
    }
    for dtype in DTYPES:
        spec = TensorSpec(dtype, None, "echo:0")
        signatures[f"echo_{dtype.name}"] = Signature({"x": spec}, {"y": spec})
    return signatures


def _compute(version: int) -> Any:
    def compute(signature_name: str, inputs: Tensors) -> Outputs:
        if signature_name == "serving_default":
            return {"y": inputs["x"] * version}
        if signature_name == "two":
            return {"y": inputs["x"], "z": inputs["x"] * 0}
        if signature_name in ("classify", "regress"):
            # The classes are the serialized examples in hex, the scores and values their
            # lengths: the test then sees exactly what bytes reached the model.
            examples = inputs["inputs"]
            lengths = np.array([len(e) for e in examples], np.float32)
            if signature_name == "regress":
                return {"outputs": lengths}
            classes = np.array([e.hex().encode() for e in examples], dtype=object)
            return {"classes": classes.reshape(-1, 1), "scores": lengths.reshape(-1, 1)}
        return {"y": np.array(inputs["x"], copy=True)}

    return compute


class World:
    """The manager, the service and the servables they made, by version."""

    def __init__(self) -> None:
        self.servables: dict[int, FakeServable] = {}

        def make(wanted: AspiredVersion) -> Loader:
            if wanted.id.name == "broken":
                return FakeLoader(FakeServable, fail=FailedPrecondition("the files are broken"))

            def servable() -> FakeServable:
                made = FakeServable(_signatures(), compute=_compute(wanted.id.version))
                self.servables[wanted.id.version] = made
                return made

            return FakeLoader(servable)

        self.manager = Manager(make, ManagerOptions(max_num_load_retries=0))
        self.manager.set_aspired_versions(
            "m", [AspiredVersion(ServableId("m", v), Path(f"/m/{v}")) for v in (1, 2)]
        )
        self.manager.set_aspired_versions(
            "broken", [AspiredVersion(ServableId("broken", 7), Path("/broken/7"))]
        )
        assert self.manager.wait_until_idle(30)
        self.manager.set_version_labels("m", {"stable": 1, "canary": 2})
        self.service = ModelService(self.manager, ServiceOptions(num_threads=2))
        self.reloads: list[Any] = []
        self.reload_error: ShibaError | None = None

    async def reload_config(self, config: Any) -> None:
        self.reloads.append(config)
        if self.reload_error is not None:
            raise self.reload_error

    def close(self) -> None:
        self.service.close()
        self.manager.close()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    made = World()
    yield made
    made.close()


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[InProcessServer]:
    """TF Serving's defaults: typed output lists; small requests decoded on the event loop."""
    running = InProcessServer(world.service, GrpcOptions(), world.reload_config)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def content_server(world: World) -> Iterator[InProcessServer]:
    """Outputs as tensor_content; every request decoded on a worker thread; no config reloads."""
    options = GrpcOptions(tensor_content_outputs=True, inline_decode_bytes=0)
    running = InProcessServer(world.service, options)
    yield running
    running.stop()


class Client:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def raw(self, method: str) -> Any:
        """A call of ``method`` that sends and receives bytes as they are."""
        return self.channel.unary_unary(method)


@pytest.fixture(scope="module")
def client(server: InProcessServer) -> Iterator[Client]:
    made = Client(server.address)
    yield made
    made.channel.close()


@pytest.fixture(scope="module")
def content_client(content_server: InProcessServer) -> Iterator[Client]:
    made = Client(content_server.address)
    yield made
    made.channel.close()


def _failure(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    """The status of a call that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    error: Any = info.value  # a grpc.Call as well as an RpcError
    return error.code(), error.details() or ""


def _assert_error(call: Any, request: Any, code: grpc.StatusCode, details: str) -> None:
    got_code, got_details = _failure(call, request)
    assert got_code == code, got_details
    assert got_details == details


def _predict_request(
    name: str = "m",
    x: Any = None,
    *,
    version: int | None = None,
    label: str | None = None,
    signature: str = "",
) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.model_spec.signature_name = signature
    value = np.array([[1.0, 2.0]], np.float32) if x is None else x
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(value))
    return request


# -- Predict -----------------------------------------------------------------------------------


def test_predict_answers_as_tf_serving(client: Client) -> None:
    response = client.predictions.Predict(_predict_request(), timeout=30)
    assert response.model_spec.name == "m"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    assert list(response.outputs) == ["y"]
    y = response.outputs["y"]
    # TF Serving's default (Tensor::AsProtoField): values in the typed list, no tensor_content.
    assert list(y.float_val) == [2.0, 4.0]
    assert not y.tensor_content
    assert [d.size for d in y.tensor_shape.dim] == [1, 2]
    np.testing.assert_array_equal(tf.make_ndarray(y), [[2.0, 4.0]])


def test_tensor_content_outputs_when_asked(content_client: Client) -> None:
    response = content_client.predictions.Predict(_predict_request(), timeout=30)
    y = response.outputs["y"]
    assert not y.float_val
    assert np.frombuffer(y.tensor_content, "<f4").tolist() == [2.0, 4.0]
    np.testing.assert_array_equal(tf.make_ndarray(y), [[2.0, 4.0]])


def _typed_tensor(array: npt.NDArray[Any]) -> Any:
    """A TensorProto with the values in the dtype's typed list (tf.make_tensor_proto would use
    tensor_content for most arrays of more than one value)."""
    proto = tensor_pb2.TensorProto(
        dtype=tf.as_dtype(array.dtype).as_datatype_enum,
        tensor_shape=tf.TensorShape(array.shape).as_proto(),
    )
    flat = array.reshape(-1)
    kind = array.dtype
    if kind.kind == "O":
        proto.string_val.extend(flat.tolist())
    elif kind == np.float16:
        proto.half_val.extend(flat.view(np.uint16).astype(np.int32).tolist())
    elif kind == np.complex64:
        proto.scomplex_val.extend(flat.view(np.float32).tolist())
    elif kind == np.complex128:
        proto.dcomplex_val.extend(flat.view(np.float64).tolist())
    else:
        field = {
            np.float32: "float_val",
            np.float64: "double_val",
            np.int64: "int64_val",
            np.uint32: "uint32_val",
            np.uint64: "uint64_val",
            np.bool_: "bool_val",
        }.get(kind.type, "int_val")
        getattr(proto, field).extend(flat.tolist())
    return proto


def _sample(dtype: DType) -> npt.NDArray[Any]:
    if dtype is DType.DT_STRING:
        return np.array([[b"a", b""], [b"\xff\x00", "é".encode()]], dtype=object)
    if dtype is DType.DT_BOOL:
        return np.array([[True, False], [False, True]])
    values = np.array([[0, 1], [2, 3]]).astype(dtype.numpy)
    if dtype in (DType.DT_COMPLEX64, DType.DT_COMPLEX128):
        values = values + 1j * values[::-1]
    return values


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("sent_as", ["content", "typed"])
@pytest.mark.parametrize("which", ["client", "content_client"])
def test_every_dtype_through_predict_both_ways(
    request: pytest.FixtureRequest, dtype: DType, sent_as: str, which: str
) -> None:
    calls: Client = request.getfixturevalue(which)
    array = _sample(dtype)
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "m"
    predict.model_spec.signature_name = f"echo_{dtype.name}"
    tensor = tf.make_tensor_proto(array) if sent_as == "content" else _typed_tensor(array)
    predict.inputs["x"].CopyFrom(tensor)
    response = calls.predictions.Predict(predict, timeout=30)
    y = response.outputs["y"]
    assert y.dtype == int(dtype)
    got = tf.make_ndarray(y)
    if dtype is DType.DT_STRING:
        assert got.tolist() == array.tolist()
        assert list(y.string_val) == array.reshape(-1).tolist()  # strings always in string_val
    else:
        assert got.dtype == array.dtype
        np.testing.assert_array_equal(got, array)
        assert bool(y.tensor_content) == (which == "content_client")


def test_one_value_fills_the_shape(client: Client) -> None:
    predict = _predict_request(signature="echo_DT_FLOAT")
    tensor = predict.inputs["x"]
    tensor.Clear()
    tensor.dtype = tf.float32.as_datatype_enum
    tensor.tensor_shape.CopyFrom(tf.TensorShape([2, 3]).as_proto())
    tensor.float_val.append(7.0)
    response = client.predictions.Predict(predict, timeout=30)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), np.full((2, 3), 7.0))


def test_output_filter(client: Client) -> None:
    request = _predict_request(signature="two")
    request.output_filter.append("z")
    response = client.predictions.Predict(request, timeout=30)
    assert list(response.outputs) == ["z"]
    request.output_filter[:] = ["y", "nope"]
    _assert_error(
        client.predictions.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: nope. Outputs expected to be in the set {y,z}.",
    )
    request.output_filter[:] = ["y", "y"]
    _assert_error(
        client.predictions.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "duplicate output tensor alias: y",
    )


def test_version_and_label_selection(client: Client) -> None:
    for kwargs, version in (
        ({"version": 1}, 1),
        ({"version": 2}, 2),
        ({"label": "stable"}, 1),
        ({"label": "canary"}, 2),
        ({}, 2),
    ):
        response = client.predictions.Predict(_predict_request(**kwargs), timeout=30)
        assert response.model_spec.version.value == version
        assert list(response.outputs["y"].float_val) == [1.0 * version, 2.0 * version]
        assert not response.model_spec.version_label


@pytest.mark.parametrize(
    ("request_args", "code", "details"),
    [
        (
            {"name": "half"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(half)",
        ),
        (
            {"version": 9},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(m, 9)",
        ),
        (
            {"label": "nope"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        ({"name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            {"signature": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
    ],
)
def test_predict_errors(
    client: Client, request_args: dict[str, Any], code: grpc.StatusCode, details: str
) -> None:
    _assert_error(client.predictions.Predict, _predict_request(**request_args), code, details)


def test_missing_model_spec(client: Client) -> None:
    for call, request in (
        (client.predictions.Predict, predict_pb2.PredictRequest()),
        (client.predictions.Classify, classification_pb2.ClassificationRequest()),
        (client.predictions.Regress, regression_pb2.RegressionRequest()),
        (
            client.predictions.GetModelMetadata,
            get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]),
        ),
        (client.models.GetModelStatus, get_model_status_pb2.GetModelStatusRequest()),
    ):
        _assert_error(call, request, grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_bad_inputs_are_invalid_arguments_and_the_server_keeps_serving(client: Client) -> None:
    wrong_dtype = _predict_request(x=np.array([[1.0, 2.0]], np.float64))
    assert _failure(client.predictions.Predict, wrong_dtype)[0] == grpc.StatusCode.INVALID_ARGUMENT
    short = _predict_request()
    short.inputs["x"].tensor_content = b"\0" * 4
    _assert_error(
        client.predictions.Predict,
        short,
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x: tensor_content holds 4 bytes; a DT_FLOAT tensor of shape"
        " [1, 2] needs 8",
    )
    unsupported = _predict_request()
    unsupported.inputs["x"].dtype = tf.bfloat16.as_datatype_enum
    code, details = _failure(client.predictions.Predict, unsupported)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("tensor parsing error: x: tensor dtype DT_BFLOAT16")
    extra = _predict_request()
    extra.inputs["w"].CopyFrom(tf.make_tensor_proto(1.0))
    code, details = _failure(client.predictions.Predict, extra)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("input size does not match signature: 2!=1")
    for garbage in (b"\xff\xff\xff", b"\x0a\x05\x0a\x03\xff\xfe\xfd"):
        code, details = _failure(
            client.raw("/tensorflow.serving.PredictionService/Predict"), garbage
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(
            "Could not parse the request as tensorflow.serving.PredictRequest"
        )
        assert "shiba." not in details, details
    assert client.predictions.Predict(_predict_request(), timeout=30).outputs["y"].float_val


def test_a_crash_in_the_model_is_internal_and_logged(
    client: Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.servables[2].fail_with(RuntimeError("the model fell over"), times=1)
    _assert_error(
        client.predictions.Predict,
        _predict_request(),
        grpc.StatusCode.INTERNAL,
        "Internal error: the model fell over",
    )
    assert "tensorflow.serving.PredictionService/Predict failed" in caplog.text
    assert client.predictions.Predict(_predict_request(), timeout=30).outputs["y"].float_val


def test_long_messages_are_truncated_as_tf_serving_does(client: Client) -> None:
    code, details = _failure(client.predictions.Predict, _predict_request(name="n" * 2000))
    assert code == grpc.StatusCode.NOT_FOUND
    assert len(details) == 1024 + len("...TRUNCATED")
    assert details.startswith("Servable not found for request: Latest(nnn")
    assert details.endswith("n...TRUNCATED")


def test_large_requests_are_decoded_off_the_event_loop(content_client: Client) -> None:
    x = np.arange(200_000, dtype=np.float32).reshape(-1, 2)
    response = content_client.predictions.Predict(_predict_request(x=x), timeout=30)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), x * 2)


# -- Classify, Regress, MultiInference ---------------------------------------------------------


def _example(**features: float) -> Any:
    example = example_pb2.Example()
    for key, value in features.items():
        example.features.feature[key].float_list.value.append(value)
    return example


def _with_examples(request: Any, *, context: Any = None, count: int = 2) -> Any:
    examples = [_example(x=float(i)) for i in range(count)]
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        request.input.example_list_with_context.examples.extend(examples)
        request.input.example_list_with_context.context.CopyFrom(context)
    return request


def test_classify(client: Client) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "m"
    request.model_spec.signature_name = "classify"
    _with_examples(request)
    response = client.predictions.Classify(request, timeout=30)
    assert response.model_spec.name == "m"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "classify"
    rows = response.result.classifications
    assert len(rows) == 2
    for i, row in enumerate(rows):
        (only,) = row.classes
        sent = _example(x=float(i)).SerializeToString()
        assert only.label == sent.hex()
        assert only.score == len(sent)


def test_context_is_merged_into_each_example_as_tf_serving_does(client: Client) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "m"
    request.model_spec.signature_name = "regress"
    context = _example(c=5.0)
    _with_examples(request, context=context)
    response = client.predictions.Regress(request, timeout=30)
    sizes = [r.value for r in response.result.regressions]
    expected = [
        len(context.SerializeToString() + _example(x=float(i)).SerializeToString())
        for i in range(2)
    ]
    assert sizes == expected
    merged = example_pb2.Example.FromString(
        context.SerializeToString() + _example(x=1.0).SerializeToString()
    )
    assert set(merged.features.feature) == {"c", "x"}


def test_regress_answers_and_errors(client: Client) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "m"
    request.model_spec.version_label = "stable"
    request.model_spec.signature_name = "regress"
    _with_examples(request, count=3)
    response = client.predictions.Regress(request, timeout=30)
    assert response.model_spec.version.value == 1
    assert len(response.result.regressions) == 3
    empty = regression_pb2.RegressionRequest()
    empty.model_spec.CopyFrom(request.model_spec)
    _assert_error(
        client.predictions.Regress, empty, grpc.StatusCode.INVALID_ARGUMENT, "Input is empty."
    )
    request.model_spec.signature_name = "nope"
    _assert_error(
        client.predictions.Regress,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "No signature was found with the name: nope",
    )
    request.model_spec.signature_name = "classify"
    code, details = _failure(client.predictions.Regress, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "regression" in details


def _multi(*tasks: tuple[str, str, str]) -> Any:
    request = inference_pb2.MultiInferenceRequest()
    for name, signature, method in tasks:
        task = request.tasks.add()
        task.model_spec.name = name
        task.model_spec.signature_name = signature
        task.method_name = method
    return _with_examples(request, count=2)


def test_multi_inference(client: Client) -> None:
    request = _multi(("m", "classify", CLASSIFY_METHOD), ("m", "regress", REGRESS_METHOD))
    request.tasks[0].model_spec.version.value = 1
    response = client.predictions.MultiInference(request, timeout=30)
    first, second = response.results
    assert first.model_spec.name == "m"
    assert first.model_spec.signature_name == "classify"
    assert first.model_spec.version.value == 1
    assert first.WhichOneof("result") == "classification_result"
    assert len(first.classification_result.classifications) == 2
    assert second.model_spec.signature_name == "regress"
    assert second.model_spec.version.value == 1
    assert second.WhichOneof("result") == "regression_result"
    sizes = [len(_example(x=float(i)).SerializeToString()) for i in range(2)]
    assert [r.value for r in second.regression_result.regressions] == sizes


@pytest.mark.parametrize(
    ("tasks", "code", "details"),
    [
        (
            (("m", "classify", CLASSIFY_METHOD), ("other", "regress", REGRESS_METHOD)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "All ModelSpecs in a MultiInferenceRequest must access the same model name.",
        ),
        (
            (("m", "classify", CLASSIFY_METHOD), ("", "regress", REGRESS_METHOD)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Found ModelSpec with an empty model name.",
        ),
        (
            (("m", "regress", REGRESS_METHOD), ("m", "regress", REGRESS_METHOD)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Duplicate evaluation of signature: regress",
        ),
        (
            (("m", "nope", REGRESS_METHOD),),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Requested signature not found in model graph: nope",
        ),
        (
            (("m", "regress", "tensorflow/serving/predict"),),
            grpc.StatusCode.UNIMPLEMENTED,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        ((), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            (("half", "regress", REGRESS_METHOD),),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(half)",
        ),
    ],
)
def test_multi_inference_errors(
    client: Client, tasks: tuple[tuple[str, str, str], ...], code: grpc.StatusCode, details: str
) -> None:
    _assert_error(client.predictions.MultiInference, _multi(*tasks), code, details)


# -- GetModelMetadata --------------------------------------------------------------------------


def test_get_model_metadata(client: Client) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "m"
    request.model_spec.version_label = "stable"
    response = client.predictions.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "m"
    assert response.model_spec.version.value == 1
    assert not response.model_spec.signature_name
    assert list(response.metadata) == ["signature_def"]
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signature_defs)
    assert set(signature_defs.signature_def) == set(_signatures())
    expected = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for direction in ("inputs", "outputs"):
        info = getattr(expected, direction)["x" if direction == "inputs" else "y"]
        info.name = "x:0"
        info.dtype = tf.float32.as_datatype_enum
        info.tensor_shape.CopyFrom(tf.TensorShape([None, 2]).as_proto())
    assert signature_defs.signature_def["serving_default"] == expected
    two = signature_defs.signature_def["two"]
    np.testing.assert_array_equal(tf.make_ndarray(two.defaults["k"]), [1.5, 2.5])
    echo = signature_defs.signature_def["echo_DT_STRING"].inputs["x"]
    assert echo.dtype == tf.string.as_datatype_enum
    assert echo.tensor_shape.unknown_rank


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ([], "GetModelMetadataRequest must specify at least one metadata_field"),
        (["signature_def", "graph"], "Metadata field graph is not supported"),
    ],
)
def test_get_model_metadata_fields(client: Client, fields: list[str], details: str) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = "nope"  # the fields are checked before the model is looked up
    _assert_error(
        client.predictions.GetModelMetadata, request, grpc.StatusCode.INVALID_ARGUMENT, details
    )


# -- ModelService ------------------------------------------------------------------------------


def test_get_model_status(client: Client) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "m"
    response = client.models.GetModelStatus(request, timeout=30)
    assert [s.version for s in response.model_version_status] == [2, 1]
    for status in response.model_version_status:
        assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        assert status.HasField("status")
        assert status.status.error_code == 0
        assert status.status.error_message == ""
    request.model_spec.version.value = 1
    (one,) = client.models.GetModelStatus(request, timeout=30).model_version_status
    assert one.version == 1
    # A label is not looked at (get_model_status_impl.cc reads the version only).
    request.model_spec.version_label = "stable"
    assert len(client.models.GetModelStatus(request, timeout=30).model_version_status) == 2


def test_get_model_status_of_a_broken_model_and_unknown_ones(client: Client) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "broken"
    (status,) = client.models.GetModelStatus(request, timeout=30).model_version_status
    assert status.version == 7
    assert status.state == get_model_status_pb2.ModelVersionStatus.END
    assert status.status.error_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert status.status.error_message == "the files are broken"
    request.model_spec.name = "nope"
    _assert_error(
        client.models.GetModelStatus,
        request,
        grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model nope",
    )
    request.model_spec.name = "m"
    request.model_spec.version.value = 5
    _assert_error(
        client.models.GetModelStatus,
        request,
        grpc.StatusCode.NOT_FOUND,
        "Could not find version 5 of model m",
    )


def _reload_request() -> Any:
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = "m"
    model.base_path = "/models/m"
    model.model_platform = "tensorflow"
    model.model_version_policy.specific.versions.extend([1, 2])
    model.version_labels["stable"] = 1
    request = model_management_pb2.ReloadConfigRequest(metric_names=["/some/metric"])
    request.config.CopyFrom(config)
    return request


def test_handle_reload_config_request(client: Client, world: World) -> None:
    world.reloads.clear()
    world.reload_error = None
    response = client.models.HandleReloadConfigRequest(_reload_request(), timeout=30)
    assert response.HasField("status")
    assert response.status.error_code == 0
    assert [(m.name, m.int64_value_increase) for m in response.metric] == [("/some/metric", 0)]
    (config,) = world.reloads
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("m", "/models/m", "tensorflow")
    assert list(model.model_version_policy.specific.versions) == [1, 2]
    assert dict(model.version_labels) == {"stable": 1}


def test_a_refused_reload_is_the_rpc_status(client: Client, world: World) -> None:
    world.reload_error = FailedPrecondition("Cannot transition to requested config.")
    try:
        _assert_error(
            client.models.HandleReloadConfigRequest,
            _reload_request(),
            grpc.StatusCode.FAILED_PRECONDITION,
            "Cannot transition to requested config.",
        )
    finally:
        world.reload_error = None


def test_only_a_model_config_list_is_reloaded(client: Client, world: World) -> None:
    world.reloads.clear()
    request = model_management_pb2.ReloadConfigRequest()
    request.config.custom_model_config.type_url = "type.googleapis.com/x.Y"
    details = (
        "ServerModelConfig type not supported by HandleReloadConfigRequest."
        " Only ModelConfigList is currently supported"
    )
    _assert_error(
        client.models.HandleReloadConfigRequest,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        details,
    )
    _assert_error(
        client.models.HandleReloadConfigRequest,
        model_management_pb2.ReloadConfigRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        details,
    )
    assert world.reloads == []


def test_reload_without_a_callback_is_unimplemented(content_client: Client) -> None:
    code, details = _failure(content_client.models.HandleReloadConfigRequest, _reload_request())
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert "HandleReloadConfigRequest is not available" in details


def test_an_unknown_method_is_unimplemented(client: Client) -> None:
    code, _ = _failure(client.raw("/tensorflow.serving.PredictionService/Explode"), b"")
    assert code == grpc.StatusCode.UNIMPLEMENTED
