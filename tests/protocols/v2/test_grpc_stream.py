"""ModelStreamInfer on a real ``grpc.aio`` server and channel: every request of a stream is
answered in order through the v2 data plane, a failed one with its ``error_message`` and id while
the stream stays open; a streaming handler's own error ends the stream with its status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from shiba._proto.v2 import inference_pb2 as pb
from shiba.core.engines import ServingEngines
from shiba.core.errors import InvalidArgument
from shiba.protocols._grpc_handlers import StreamHandler, add_handlers
from shiba.protocols.v2.dataplane import DataPlane
from shiba.protocols.v2.grpc import SERVICE, add_v2_service, stream_answer
from tests.fakes import FakeServable, simple_signature
from tests.protocols.v2._service import one_model

STREAM = f"/{SERVICE}/ModelStreamInfer"


@pytest.fixture
def plane() -> Iterator[DataPlane]:
    """Model ``m`` version 1: float ``x`` [-1, 2] -> ``y`` = ``x``."""
    engines = ServingEngines()
    with one_model(FakeServable({"serving_default": simple_signature()}), engines) as service:
        yield DataPlane(service, engines)


def _request(request_id: str, rows: list[list[float]], model: str = "m") -> bytes:
    values = np.array(rows, np.float32)
    message = pb.ModelInferRequest(model_name=model, id=request_id)
    message.inputs.add(name="x", datatype="FP32", shape=list(values.shape))
    message.raw_input_contents.append(values.tobytes())
    return message.SerializeToString()


async def _exchange(server: grpc.aio.Server, requests: list[bytes], answers: list[bytes]) -> None:
    """Starts ``server``, sends ``requests`` on one stream and appends each answer to ``answers``
    as it comes, until the stream ends (an error status is raised as ``AioRpcError``)."""
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream: Any = channel.stream_stream(STREAM)
            async for answer in stream(iter(requests)):
                answers.append(answer)
    finally:
        await server.stop(grace=None)


def test_each_request_is_answered_in_order_and_a_failed_one_inside_the_stream(
    plane: DataPlane,
) -> None:
    requests = [
        _request("a", [[1.0, 2.0]]),
        _request("b", [[1.0, 2.0, 3.0]]),
        _request("c", [[0.0, 0.0]], model="nope"),
        b"\xff not a message",
        _request("d", [[-1.5, 4.0], [3.0, 0.25]]),
    ]

    answers: list[bytes] = []

    async def run() -> None:
        server = grpc.aio.server()
        add_v2_service(server, plane)
        await _exchange(server, requests, answers)

    asyncio.run(run())
    first, wrong_shape, unknown, garbage, last = map(
        pb.ModelStreamInferResponse.FromString, answers
    )
    for answer, rows in ((first, [[1.0, 2.0]]), (last, [[-1.5, 4.0], [3.0, 0.25]])):
        assert answer.error_message == ""
        response = answer.infer_response
        assert (response.model_name, response.model_version) == ("m", "1")
        assert [o.name for o in response.outputs] == ["y"]
        assert list(response.outputs[0].shape) == [len(rows), 2]
        y = np.frombuffer(response.raw_output_contents[0], np.float32)
        np.testing.assert_array_equal(y, np.array(rows, np.float32).ravel())
    assert (first.infer_response.id, last.infer_response.id) == ("a", "d")
    assert "unexpected shape for input 'x'" in wrong_shape.error_message
    assert (wrong_shape.infer_response.id, wrong_shape.infer_response.model_name) == ("b", "m")
    assert "Servable not found" in unknown.error_message
    assert (unknown.infer_response.id, unknown.infer_response.model_name) == ("c", "nope")
    assert "Could not parse the request as ModelInferRequest" in garbage.error_message
    assert garbage.infer_response.id == "" and not garbage.infer_response.outputs
    stats = plane.statistics("m", 1)[0][1]
    assert (stats.success.count, stats.fail.count) == (2, 1)


async def _fails_after_one(requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for data in requests:
        yield data
        raise InvalidArgument("the stream cannot go on")


async def _breaks(requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for _ in requests:
        raise KeyError("oops")
    yield b""


@pytest.mark.parametrize(
    ("handler", "code", "details", "before"),
    [
        (_fails_after_one, grpc.StatusCode.INVALID_ARGUMENT, "the stream cannot go on", [b"one"]),
        (_breaks, grpc.StatusCode.INTERNAL, "Internal error: 'oops'", []),
    ],
    ids=["shiba-error", "other-error"],
)
def test_a_stream_handlers_own_error_ends_the_stream_with_its_status(
    handler: StreamHandler, code: grpc.StatusCode, details: str, before: list[bytes]
) -> None:
    answers: list[bytes] = []

    async def run() -> None:
        server = grpc.aio.server()
        add_handlers(server, {}, {SERVICE: {"ModelStreamInfer": handler}})
        await _exchange(server, [b"one", b"two"], answers)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        asyncio.run(run())
    assert raised.value.code() == code
    assert raised.value.details() == details
    assert answers == before


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 300_000])
def test_a_stream_answer_is_what_protobuf_writes_for_the_message(size: int) -> None:
    """Around answers whose lengths take one, two and three varint bytes."""
    answer = pb.ModelInferResponse(model_name="m", model_version="1", id="r")
    answer.outputs.add(name="y", datatype="UINT8", shape=[size])
    answer.raw_output_contents.append(b"\x07" * size)
    data = answer.SerializeToString()
    expected = pb.ModelStreamInferResponse(infer_response=answer).SerializeToString()
    assert stream_answer(data) == expected
    assert pb.ModelStreamInferResponse.FromString(stream_answer(data)).infer_response == answer
