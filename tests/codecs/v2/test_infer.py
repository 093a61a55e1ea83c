"""v2 inference requests and answers: the JSON envelope, binary sections, signature checks."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.codecs.v2.documents import encode_error, encode_model_metadata
from shiba.codecs.v2.infer import (
    InferRequest,
    RequestedOutput,
    check_signature,
    decode_infer,
    encode_infer,
)
from shiba.core.errors import InvalidArgument, Unimplemented
from shiba.core.tensors import DType, Signature, TensorSpec

SIGNATURE = Signature(
    inputs={"x": TensorSpec(DType.DT_FLOAT, (-1, 2)), "s": TensorSpec(DType.DT_STRING, None)},
    outputs={"y": TensorSpec(DType.DT_FLOAT, (-1,)), "z": TensorSpec(DType.DT_INT64, (-1,))},
)


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _x(**extra: Any) -> dict[str, Any]:
    return {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2], **extra}


def test_a_json_request_with_everything() -> None:
    body = _body(
        {
            "id": "7",
            "parameters": {"binary_data_output": True, "other": 1},
            "inputs": [_x(), {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["é"]}],
            "outputs": [{"name": "y", "parameters": {"binary_data": False}}, {"name": "z"}],
        }
    )
    request = decode_infer(body)
    assert request.id == "7"
    assert request.binary_output is True
    assert request.parameters == {"binary_data_output": True, "other": 1}
    assert request.outputs == (RequestedOutput("y", False), RequestedOutput("z", None))
    assert request.output_names == ["y", "z"]
    assert request.inputs["x"].dtype == np.float32
    assert request.inputs["s"].tolist() == ["é".encode()]
    check_signature(request, SIGNATURE, "m")


def test_binary_inputs_follow_the_json_in_order() -> None:
    strings = struct.pack("<I", 2) + b"hi"
    floats = np.array([[1, 2]], np.float32).tobytes()
    header = _body(
        {
            "inputs": [
                {"name": "s", "shape": [1], "datatype": "BYTES",
                 "parameters": {"binary_data_size": len(strings)}},
                {"name": "x", "shape": [1, 2], "datatype": "FP32",
                 "parameters": {"binary_data_size": len(floats)}},
            ]
        }
    )  # fmt: skip
    request = decode_infer(header + strings + floats, len(header))
    assert request.inputs["s"].tolist() == [b"hi"]
    assert request.inputs["x"].tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (b"{", None, "malformed JSON"),
        (b"[]", None, "must be a JSON object"),
        (b"{}", None, "non-empty array of tensors"),
        (_body({"inputs": [_x(), _x()]}), None, "given more than once"),
        (_body({"inputs": [_x(shape=[1, -2])]}), None, "non-negative integers"),
        (_body({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}), None, "neither"),
        (_body({"inputs": [_x()], "id": 3}), None, "'id' must be a string"),
        (_body({"inputs": [_x()], "parameters": []}), None, "must be a JSON object"),
        (
            _body({"inputs": [_x()], "parameters": {"binary_data_output": 1}}),
            None,
            "'binary_data_output' must be true or false",
        ),
        (
            _body({"inputs": [_x()], "outputs": [{"name": "y"}, {"name": "y"}]}),
            None,
            "requested more than once",
        ),
        (
            _body({"inputs": [_x()], "outputs": [{"name": "y", "parameters": {"classification": 2}}]}),
            None,
            "classification extension",
        ),
        (_body({"inputs": [_x()]}), 1000, "the body has only"),
        (
            _body({"inputs": [_x(data=None, parameters={"binary_data_size": 8})]}),
            None,
            "both 'data' and binary_data_size",
        ),
        (
            _body({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32",
                               "parameters": {"binary_data_size": 8}}]}),
            None,
            "says it has 8 bytes of binary data, but only 0 are left",
        ),
    ],
)  # fmt: skip
def test_a_malformed_request_says_what_is_wrong(
    body: bytes, header: int | None, message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_infer(body, header)
    assert message in info.value.message


def test_binary_data_beyond_the_inputs_is_refused() -> None:
    header = _body({"inputs": [_x()]})
    with pytest.raises(InvalidArgument, match="4 bytes of binary data after its JSON"):
        decode_infer(header + b"abcd", len(header))


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        ([_x(), _x(name="q")], [], "unexpected inference input 'q' for model 'm'"),
        ([_x()], [], "expected 2 inputs but got 1 inputs for model 'm'"),
        (
            [_x(datatype="INT32"), {"name": "s", "shape": [1], "datatype": "BYTES", "data": [""]}],
            [],
            "inference input 'x' data-type is 'INT32', but model 'm' expects 'FP32'",
        ),
        (
            [_x(shape=[2], data=[1, 2]), {"name": "s", "shape": [], "datatype": "BYTES", "data": [""]}],
            [],
            "unexpected shape for input 'x' for model 'm'. Expected [-1,2], got [2]",
        ),
        (
            [_x(), {"name": "s", "shape": [], "datatype": "BYTES", "data": [""]}],
            [{"name": "w"}],
            "unexpected inference output 'w' for model 'm'",
        ),
    ],
)  # fmt: skip
def test_the_signature_check_uses_tritons_words(
    inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], message: str
) -> None:
    request = decode_infer(_body({"inputs": inputs, "outputs": outputs}))
    with pytest.raises(InvalidArgument) as info:
        check_signature(request, SIGNATURE, "m")
    assert message in info.value.message


def test_answers_mix_json_and_binary_outputs_as_asked() -> None:
    outputs: dict[str, npt.NDArray[Any]] = {
        "y": np.array([0.5], np.float32),
        "z": np.array([3], np.int64),
    }
    request = InferRequest({}, id="a", outputs=(RequestedOutput("z", True), RequestedOutput("y")))
    body, header = encode_infer("m", 2, request, outputs)
    assert header is not None
    document = json.loads(body[:header])
    assert document == {
        "model_name": "m",
        "model_version": "2",
        "id": "a",
        "outputs": [
            {"name": "z", "datatype": "INT64", "shape": [1], "parameters": {"binary_data_size": 8}},
            {"name": "y", "datatype": "FP32", "shape": [1], "data": [0.5]},
        ],
    }
    assert body[header:] == np.array([3], np.int64).tobytes()


def test_all_json_answers_have_no_header_and_every_output() -> None:
    outputs: dict[str, npt.NDArray[Any]] = {
        "y": np.array([0.5], np.float32),
        "z": np.array([3], np.int64),
    }
    body, header = encode_infer("m", 1, InferRequest({}), outputs)
    assert header is None
    assert [o["name"] for o in json.loads(body)["outputs"]] == ["y", "z"]
    binary, length = encode_infer("m", 1, InferRequest({}, binary_output=True), outputs)
    assert length is not None and len(binary) == length + 4 + 8


def test_documents() -> None:
    assert json.loads(encode_error('bad "x"')) == {"error": 'bad "x"'}
    metadata = json.loads(encode_model_metadata("m", [2, 1], "onnxruntime_onnx", SIGNATURE))
    assert metadata == {
        "name": "m",
        "versions": ["2", "1"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [-1, 2]},
            {"name": "s", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [-1]},
            {"name": "z", "datatype": "INT64", "shape": [-1]},
        ],
    }


@pytest.mark.parametrize("binary", [False, True])
def test_an_output_the_protocol_has_no_datatype_for_is_refused_by_name(binary: bool) -> None:
    outputs = {"y": np.array([1.0], np.float32), "c": np.array([1 + 2j], np.complex64)}
    with pytest.raises(Unimplemented, match=r"output 'c' is of dtype complex64, .* no datatype"):
        encode_infer("m", 1, InferRequest({}, binary_output=binary), outputs)
