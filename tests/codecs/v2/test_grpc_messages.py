"""v2 gRPC inference messages: inputs from contents or raw, answers raw, bad requests refused."""

from __future__ import annotations

import numpy as np
import pytest

from shiba._proto.v2 import inference_pb2 as pb
from shiba.codecs.v2 import tensors
from shiba.codecs.v2.grpc_messages import decode_infer_message, encode_infer_message
from shiba.codecs.v2.infer import InferRequest, RequestedOutput
from shiba.core.errors import InvalidArgument, Unimplemented

CONTENTS = [
    ("BOOL", "bool_contents", [True, False]),
    ("INT8", "int_contents", [-128, 127]),
    ("INT16", "int_contents", [-5, 5]),
    ("INT32", "int_contents", [-(2**31), 2**31 - 1]),
    ("INT64", "int64_contents", [-(2**63), 2**63 - 1]),
    ("UINT8", "uint_contents", [0, 255]),
    ("UINT16", "uint_contents", [0, 65535]),
    ("UINT32", "uint_contents", [0, 2**32 - 1]),
    ("UINT64", "uint64_contents", [0, 2**64 - 1]),
    ("FP32", "fp32_contents", [0.5, -2.25]),
    ("FP64", "fp64_contents", [0.1, 1e300]),
    ("BYTES", "bytes_contents", [b"a", b"\xff"]),
]


@pytest.mark.parametrize(("datatype", "field", "values"), CONTENTS)
def test_inputs_from_their_contents_field(datatype: str, field: str, values: list[object]) -> None:
    message = pb.ModelInferRequest(model_name="m", id="7")
    tensor = message.inputs.add(name="x", datatype=datatype, shape=[1, 2])
    getattr(tensor.contents, field).extend(values)
    request = decode_infer_message(message)
    assert request.id == "7"
    array = request.inputs["x"]
    assert array.shape == (1, 2)
    assert tensors.datatype_of(array) == datatype
    assert array.ravel().tolist() == values


def test_raw_inputs_and_requested_outputs() -> None:
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="h", datatype="FP16", shape=[2])
    message.inputs.add(name="s", datatype="BYTES", shape=[1])
    message.raw_input_contents.append(np.array([1.5, 2], np.float16).tobytes())
    message.raw_input_contents.append(b"\x02\x00\x00\x00hi")
    message.outputs.add(name="y")
    request = decode_infer_message(message)
    assert request.inputs["h"].tolist() == [1.5, 2.0]
    assert request.inputs["s"].tolist() == [b"hi"]
    assert request.outputs == (RequestedOutput("y"),)


def _message(datatype: str = "INT8", shape: tuple[int, ...] = (2,)) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype=datatype, shape=list(shape))
    return message


def test_bad_messages_are_refused() -> None:
    out_of_range = _message()
    out_of_range.inputs[0].contents.int_contents.extend([1, 300])
    fp16 = _message("FP16")
    short = _message("INT32", (3,))
    short.inputs[0].contents.int_contents.extend([1, 2])
    raw_count = _message()
    raw_count.inputs.add(name="y", datatype="INT8", shape=[1])
    raw_count.raw_input_contents.append(b"\x01\x02")
    classification = _message()
    classification.inputs[0].contents.int_contents.extend([1, 2])
    classification.outputs.add(name="y").parameters["classification"].int64_param = 2
    cases = [
        (out_of_range, "out of the range of INT8"),
        (fp16, "send it in raw_input_contents"),
        (short, "shape [3] holds 3, its int_contents has 2"),
        (raw_count, "raw_input_contents has 1 entries but the request has 2 inputs"),
        (classification, "classification extension"),
        (pb.ModelInferRequest(model_name="m"), "at least one input"),
        (_message("FP8"), "invalid datatype 'FP8'"),
    ]
    for message, words in cases:
        with pytest.raises(InvalidArgument) as info:
            decode_infer_message(message)
        assert words in info.value.message


def test_answers_are_raw_in_the_requested_order() -> None:
    outputs = {"y": np.array([[1.0]], np.float32), "z": np.array([b"ok"], dtype=object)}
    request = InferRequest({}, id="r", outputs=(RequestedOutput("z"), RequestedOutput("y")))
    answer = encode_infer_message("m", 3, request, outputs)
    assert (answer.model_name, answer.model_version, answer.id) == ("m", "3", "r")
    assert [(o.name, o.datatype, list(o.shape)) for o in answer.outputs] == [
        ("z", "BYTES", [1]),
        ("y", "FP32", [1, 1]),
    ]
    assert list(answer.raw_output_contents) == [
        b"\x02\x00\x00\x00ok",
        np.array([1.0], np.float32).tobytes(),
    ]


def test_an_output_the_protocol_has_no_datatype_for_is_refused_by_name() -> None:
    outputs = {"c": np.array([1 + 2j], np.complex128)}
    with pytest.raises(Unimplemented, match=r"output 'c' is of dtype complex128, .* no datatype"):
        encode_infer_message("m", 1, InferRequest({}), outputs)
