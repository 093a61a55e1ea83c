from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound
from shiba.core.ids import ModelSpec, ServableId
from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.core.servable import Outputs
from shiba.core.service import (
    ModelService,
    ServiceOptions,
    check_inputs,
    check_predict_method,
    examples_call,
    multi_inference_calls,
)
from shiba.core.tensors import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    DType,
    Signature,
    Tensors,
    TensorSpec,
)
from tests.fakes import FakeLoader, FakeServable, simple_signature

EXAMPLES = TensorSpec(DType.DT_STRING, (-1,), "tf_example:0")
SCORES = TensorSpec(DType.DT_FLOAT, (-1, 2), "scores:0")
CLASSES = TensorSpec(DType.DT_STRING, (-1, 2), "classes:0")
VALUES = TensorSpec(DType.DT_FLOAT, (-1, 1), "y:0")

SIGNATURES = {
    "serving_default": simple_signature(("a", "b"), ("y", "z")),
    "classify": Signature(
        {"inputs": EXAMPLES}, {"classes": CLASSES, "scores": SCORES}, CLASSIFY_METHOD
    ),
    "regress": Signature({"inputs": EXAMPLES}, {"outputs": VALUES}, REGRESS_METHOD),
    "bad_regress": Signature({"inputs": EXAMPLES}, {"outputs": SCORES}, REGRESS_METHOD),
}


def compute(signature_name: str, inputs: Tensors) -> Outputs:
    if signature_name == "serving_default":
        return {"y": inputs["a"] + inputs["b"], "z": inputs["a"] * 0}
    n = len(inputs["inputs"])
    if signature_name == "classify":
        return {
            "classes": np.array([[b"cat", b"dog"]] * n, dtype=object),
            "scores": np.tile(np.array([[0.25, 0.75]], np.float32), (n, 1)),
        }
    if signature_name == "regress":
        return {"outputs": np.arange(n, dtype=np.float32).reshape(n, 1)}
    return {"outputs": np.zeros((n, 2), np.float32)}


@pytest.fixture
def service() -> Iterator[ModelService]:
    def make(wanted: AspiredVersion) -> Loader:
        return FakeLoader(lambda: FakeServable(SIGNATURES, compute=compute))

    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    manager.set_aspired_versions("m", [AspiredVersion(ServableId("m", 3), Path("/m/3"))])
    assert manager.wait_until_idle(10)
    svc = ModelService(manager, ServiceOptions(num_threads=2))
    yield svc
    svc.close()
    manager.close()


def test_predict_and_output_filter(service: ModelService) -> None:
    a = np.ones((2, 2), np.float32)
    with service.acquire(ModelSpec("m")) as handle:
        out = asyncio.run(service.predict(handle, "", {"a": a, "b": a}))
        assert set(out) == {"y", "z"}
        np.testing.assert_array_equal(out["y"], a * 2)
        only = asyncio.run(service.predict(handle, "serving_default", {"a": a, "b": a}, ["z"]))
        assert set(only) == {"z"}


def test_predict_of_inputs_the_caller_checked_runs_them_as_given(service: ModelService) -> None:
    a = np.ones((2, 2), np.float32)
    with service.acquire(ModelSpec("m")) as handle:
        out = asyncio.run(service.predict(handle, "", {"a": a, "b": a}, ("z",), checked=True))
        assert set(out) == {"z"}
        # What the caller vouched for is not looked at again: an unknown alias reaches the model,
        # whose own error it is (the service would have raised its own message first).
        with pytest.raises(InvalidArgument) as raised:
            asyncio.run(service.predict(handle, "", {"a": a, "b": a}, ["q"], checked=True))
        assert "output tensor alias not found in signature" not in raised.value.message


def test_predict_errors(service: ModelService) -> None:
    a = np.ones((2, 2), np.float32)
    with service.acquire(ModelSpec("m")) as handle:
        with pytest.raises(FailedPrecondition, match=r'Serving signature key "nope" not found\.'):
            asyncio.run(service.predict(handle, "nope", {"a": a}))
        with pytest.raises(
            InvalidArgument,
            match=r"input size does not match signature: 2!=2 len\(\{a,c\}\) != len\(\{a,b\}\)\. "
            r"Sent extra: \{c\}\. Missing but required: \{b\}\.",
        ):
            asyncio.run(service.predict(handle, "", {"a": a, "c": a}))
        with pytest.raises(InvalidArgument, match="output tensor alias not found in signature: q"):
            asyncio.run(service.predict(handle, "", {"a": a, "b": a}, ["q"]))
        with pytest.raises(InvalidArgument, match="duplicate output tensor alias: y"):
            asyncio.run(service.predict(handle, "", {"a": a, "b": a}, ["y", "y"]))


def test_check_inputs_dtypes() -> None:
    signature = simple_signature(("a",), ("y",))
    with pytest.raises(InvalidArgument, match="input 'a' expects DT_FLOAT but got DT_DOUBLE"):
        check_inputs(signature, {"a": np.ones(2)})
    with pytest.raises(InvalidArgument, match="expects DT_FLOAT but got strings"):
        check_inputs(signature, {"a": np.array([b"x"], dtype=object)})
    strings = Signature({"s": EXAMPLES}, {})
    with pytest.raises(InvalidArgument, match="expects strings"):
        check_inputs(strings, {"s": np.ones(2)})


def test_classify_and_regress(service: ModelService) -> None:
    with service.acquire(ModelSpec("m", version=3)) as handle:
        classes = asyncio.run(service.classify(handle, "classify", [b"e1", b"e2"]))
        assert classes == [[(b"cat", 0.25), (b"dog", 0.75)]] * 2
        values = asyncio.run(service.regress(handle, "regress", [b"e1", b"e2", b"e3"]))
        assert values == [0.0, 1.0, 2.0]
        with pytest.raises(InvalidArgument, match='outputs to contain "outputs"'):
            asyncio.run(service.regress(handle, "classify", [b"e"]))
        with pytest.raises(InvalidArgument, match="Expected one input Tensor"):
            asyncio.run(service.classify(handle, "serving_default", [b"e"]))
        with pytest.raises(InvalidArgument, match=r"\[batch_size\] or \[batch_size, 1\]"):
            asyncio.run(service.regress(handle, "bad_regress", [b"e"]))


def test_method_name_check_is_off_by_default_as_in_tf_serving(service: ModelService) -> None:
    """A TF2 export writes the predict method on every signature; TF Serving regresses with it."""
    signatures = dict(SIGNATURES)
    signatures["regress"] = Signature({"inputs": EXAMPLES}, {"outputs": VALUES}, PREDICT_METHOD)
    assert examples_call(signatures, "regress", REGRESS_METHOD).input_name == "inputs"
    with pytest.raises(InvalidArgument, match="Expected regression signature method_name"):
        examples_call(signatures, "regress", REGRESS_METHOD, check_method_name=True)
    with pytest.raises(InvalidArgument, match="Expected classification signature method_name"):
        multi_inference_calls(signatures, [("regress", CLASSIFY_METHOD)], check_method_name=True)
    odd = Signature({"x": VALUES}, {"y": VALUES}, "my/method")
    check_predict_method(signatures["regress"])
    with pytest.raises(InvalidArgument, match="Expected prediction signature method_name"):
        check_predict_method(odd)


def test_examples_input_dtype_is_the_graphs_outputs_dtypes_are_checked() -> None:
    """saved_model_half_plus_three stores DT_FLOAT for its DT_STRING example placeholder."""
    float_input = TensorSpec(DType.DT_FLOAT, (-1,), "tf_example:0")
    stored = {"regress": Signature({"inputs": float_input}, {"outputs": VALUES}, REGRESS_METHOD)}
    assert examples_call(stored, "regress", REGRESS_METHOD).outputs == ("outputs",)
    int_scores = TensorSpec(DType.DT_INT64, (-1, 2), "scores:0")
    bad = {"c": Signature({"inputs": EXAMPLES}, {"scores": int_scores}, CLASSIFY_METHOD)}
    with pytest.raises(
        InvalidArgument, match=r"Expected scores Tensor of DT_FLOAT\. Got: DT_INT64"
    ):
        examples_call(bad, "c", CLASSIFY_METHOD)
    two = {"r": Signature({"a": EXAMPLES, "b": EXAMPLES}, {"outputs": VALUES}, REGRESS_METHOD)}
    with pytest.raises(InvalidArgument, match="Expected one input Tensor"):
        examples_call(two, "r", REGRESS_METHOD)


def test_status(service: ModelService) -> None:
    (state,) = service.status("m")
    assert state.id == ServableId("m", 3)
    assert service.status("m", version=3) == [state]
    with pytest.raises(NotFound, match="Could not find any versions of model x"):
        service.status("x")
    with pytest.raises(NotFound, match="Could not find version 4 of model m"):
        service.status("m", version=4)
    with pytest.raises(InvalidArgument, match="Unrecognized servable version label: l"):
        service.status("m", label="l")
