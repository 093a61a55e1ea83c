"""TF Serving's gRPC API in process over TF Serving's own test SavedModels (the TensorFlow runtime),
called with the ``tensorflow-serving-api`` stubs; answers as TF Serving gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from shiba.core.ids import ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.service import ModelService
from shiba.core.tensors import CLASSIFY_METHOD, REGRESS_METHOD
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.registry import make_loader
from tests.conftest import TFSERVING_TESTDATA
from tests.protocols._grpc_server import InProcessServer

pytestmark = pytest.mark.slow

import tensorflow as tf  # noqa: E402
from tensorflow.core.example import example_pb2  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

MODELS = {
    "default": TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu" / "00000123",
    "tf2": TFSERVING_TESTDATA / "saved_model_half_plus_two_tf2_cpu" / "00000123",
}
#: Loaded too, for its regress signature (not in the metadata comparison).
THREE = TFSERVING_TESTDATA / "saved_model_half_plus_three" / "00000123"


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    def loader(wanted: AspiredVersion) -> Loader:
        return make_loader(None, wanted.id, wanted.path, RuntimeOptions())

    manager = Manager(loader, ManagerOptions(max_num_load_retries=0))
    for name, path in {**MODELS, "three": THREE}.items():
        manager.set_aspired_versions(name, [AspiredVersion(ServableId(name, 123), path)])
    assert manager.wait_until_idle(300)
    service = ModelService(manager)
    server = InProcessServer(service)
    yield server.address
    server.stop()
    service.close()
    manager.close()


@pytest.fixture(scope="module")
def stub(address: str) -> Iterator[Any]:
    channel = grpc.insecure_channel(address)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _example(x: float | None = None) -> Any:
    example = example_pb2.Example()
    if x is not None:
        example.features.feature["x"].float_list.value.append(x)
    return example


def _classify_and_regress(model: str, *examples: Any) -> Any:
    """A MultiInferenceRequest running ``model``'s classify_x_to_y then regress_x_to_y."""
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (
        ("classify_x_to_y", CLASSIFY_METHOD),
        ("regress_x_to_y", REGRESS_METHOD),
    ):
        task = request.tasks.add()
        task.model_spec.name = model
        task.model_spec.signature_name = signature
        task.method_name = method
    request.input.example_list.examples.extend(examples)
    return request


def test_status(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "default"
        (status,) = models.GetModelStatus(request, timeout=60).model_version_status
    assert status.version == 123
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_metadata_is_the_saved_models_signature_defs(stub: Any, name: str) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = name
    response = stub.GetModelMetadata(request, timeout=60)
    assert response.model_spec.name == name
    assert response.model_spec.version.value == 123
    got = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(got)
    # What TF Serving answers: the MetaGraphDef's whole signature_def map, as the SavedModel
    # holds it (__saved_model_init_op included).
    saved = saved_model_pb2.SavedModel.FromString((MODELS[name] / "saved_model.pb").read_bytes())
    (meta_graph,) = saved.meta_graphs
    assert dict(got.signature_def) == dict(meta_graph.signature_def)


def test_predict(stub: Any) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0, 3.0, 4.0], np.float32)))
    response = stub.Predict(request, timeout=60)
    assert list(response.outputs["y"].float_val) == [3.0, 3.5, 4.0]
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == 123
    request.model_spec.signature_name = "regress_x2_to_y3"
    request.inputs.clear()
    request.inputs["inputs"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0]], np.float32)))
    response = stub.Predict(request, timeout=60)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["outputs"]), [[3.5], [4.0]])


def test_classify_and_regress(stub: Any) -> None:
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "default"
    classify.model_spec.signature_name = "classify_x_to_y"
    classify.input.example_list.examples.append(_example(2.0))
    result = stub.Classify(classify, timeout=60).result
    (row,) = result.classifications
    assert [(c.label, c.score) for c in row.classes] == [("", 3.0)]

    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "default"
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list.examples.extend([_example(2.0), _example(4.0)])
    response = stub.Regress(regress, timeout=60)
    assert [r.value for r in response.result.regressions] == [3.0, 4.0]
    assert response.model_spec.signature_name == "regress_x_to_y"

    with_context = regression_pb2.RegressionRequest()
    with_context.model_spec.CopyFrom(regress.model_spec)
    with_context.input.example_list_with_context.context.CopyFrom(_example(6.0))
    with_context.input.example_list_with_context.examples.extend([_example(), _example(1.0)])
    values = stub.Regress(with_context, timeout=60).result.regressions
    # The example's own feature wins over the context's.
    assert [r.value for r in values] == [5.0, 2.5]


def test_multi_inference(stub: Any) -> None:
    request = _classify_and_regress("default", _example(2.0), _example(6.0))
    first, second = stub.MultiInference(request, timeout=60).results
    assert [
        [c.score for c in row.classes] for row in first.classification_result.classifications
    ] == [
        [3.0],
        [5.0],
    ]
    assert [r.value for r in second.regression_result.regressions] == [3.0, 5.0]
    assert (second.model_spec.name, second.model_spec.version.value) == ("default", 123)


def test_bad_examples_are_invalid_arguments(stub: Any) -> None:
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "default"
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list.examples.append(_example())
    regress.input.example_list.examples[0].features.feature["x"].bytes_list.value.append(b"no")
    with pytest.raises(grpc.RpcError) as info:
        stub.Regress(regress, timeout=60)
    error: Any = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_tf2_signatures_classify_and_regress_without_the_method_name_check(stub: Any) -> None:
    """A TF2 export writes the predict method on every signature; TF Serving's check is off by
    default, so Classify, Regress and MultiInference run through them."""
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "tf2"
    classify.model_spec.signature_name = "classify_x_to_y"
    classify.input.example_list.examples.extend([_example(2.0), _example(4.0)])
    rows = stub.Classify(classify, timeout=60).result.classifications
    assert [[c.score for c in row.classes] for row in rows] == [[3.0], [4.0]]
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "tf2"
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list.examples.append(_example(2.0))
    assert [r.value for r in stub.Regress(regress, timeout=60).result.regressions] == [3.0]
    multi = _classify_and_regress("tf2", _example(6.0))
    first, second = stub.MultiInference(multi, timeout=60).results
    assert first.classification_result.classifications[0].classes[0].score == 5.0
    assert [r.value for r in second.regression_result.regressions] == [5.0]


def test_regress_feeds_the_graphs_string_placeholder_whatever_the_stored_dtype(stub: Any) -> None:
    """saved_model_half_plus_three's regress signature stores DT_FLOAT for its DT_STRING
    ``tf_example:0``; TF Serving feeds the serialized examples and answers."""
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "three"
    regress.model_spec.signature_name = "tensorflow/serving/regress"
    regress.input.example_list.examples.extend([_example(1.0), _example(2.0)])
    assert [r.value for r in stub.Regress(regress, timeout=60).result.regressions] == [3.5, 4.0]
