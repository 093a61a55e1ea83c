"""The model_configuration extension says the same over REST and gRPC, down to a dtype the Open
Inference Protocol has no datatype for (``TYPE_INVALID``, as Triton's model_config.proto has it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from shiba._proto.v2 import inference_pb2 as pb
from shiba._proto.v2 import model_config_pb2 as config_pb
from shiba.codecs.v2.documents import DynamicBatching, config_data_type
from shiba.core.engines import ServingEngines
from shiba.core.tensors import DType, Signature, TensorSpec
from shiba.protocols.http.routes import Request
from shiba.protocols.options import GrpcOptions
from shiba.protocols.v2.dataplane import DataPlane
from shiba.protocols.v2.grpc import SERVICE, add_v2_service
from shiba.protocols.v2.rest import V2Routes
from tests.fakes import FakeServable
from tests.protocols.v2._service import one_model

SIGNATURE = Signature(
    inputs={
        "c": TensorSpec(DType.DT_COMPLEX64, (-1, 2)),
        "q": TensorSpec(DType.DT_QINT8, None),
        "x": TensorSpec(DType.DT_FLOAT, (-1, 3)),
    },
    outputs={"s": TensorSpec(DType.DT_STRING, (-1,)), "h": TensorSpec(DType.DT_HALF, (-1, 4))},
)


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        (DType.DT_FLOAT, "TYPE_FP32"),
        (DType.DT_STRING, "TYPE_STRING"),
        (DType.DT_BOOL, "TYPE_BOOL"),
        (DType.DT_COMPLEX128, "TYPE_INVALID"),
        (DType.DT_RESOURCE, "TYPE_INVALID"),
    ],
)
def test_config_data_type(dtype: DType, name: str) -> None:
    assert config_data_type(dtype) == name
    config_pb.DataType.Value(name)  # a name the enum has


def test_every_dtype_has_a_config_type() -> None:
    for dtype in DType:
        assert config_pb.DataType.Value(config_data_type(dtype)) >= 0


@pytest.fixture(params=[0, 8], ids=["unbatched", "batched"])
def plane(request: pytest.FixtureRequest) -> Iterator[DataPlane]:
    engines = ServingEngines()
    with one_model(FakeServable({"serving_default": SIGNATURE}), engines) as service:
        yield DataPlane(
            service,
            engines,
            max_batch_size=request.param,
            batching=DynamicBatching(1000, (4, 8)) if request.param > 0 else None,
        )


async def _grpc_config(plane: DataPlane) -> config_pb.ModelConfig:
    server = grpc.aio.server()
    add_v2_service(server, plane, GrpcOptions())
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call: Any = channel.unary_unary(
                f"/{SERVICE}/ModelConfig",
                request_serializer=pb.ModelConfigRequest.SerializeToString,
                response_deserializer=pb.ModelConfigResponse.FromString,
            )
            answer: pb.ModelConfigResponse = await call(pb.ModelConfigRequest(name="m"))
            return answer.config
    finally:
        await server.stop(grace=None)


def test_rest_and_grpc_answer_the_same_config(plane: DataPlane) -> None:
    rest = asyncio.run(V2Routes(plane).handle(Request("GET", "/v2/models/m/config", b"", [], b"")))
    assert rest.status == 200
    document = json.loads(rest.body)
    by_name = {t["name"]: t["data_type"] for t in document["input"] + document["output"]}
    assert by_name == {
        "c": "TYPE_INVALID",
        "q": "TYPE_INVALID",
        "x": "TYPE_FP32",
        "s": "TYPE_STRING",
        "h": "TYPE_FP16",
    }
    message = asyncio.run(_grpc_config(plane))
    assert message == json_format.ParseDict(document, config_pb.ModelConfig())
    assert [config_pb.DataType.Name(t.data_type) for t in message.input] == [
        "TYPE_INVALID",
        "TYPE_INVALID",
        "TYPE_FP32",
    ]
    batched = plane.max_batch_size > 0
    assert document["input"][2]["dims"] == ([3] if batched else [-1, 3])
    assert document["input"][1]["dims"] == ([] if batched else [-1])
    assert list(message.input[1].dims) == document["input"][1]["dims"]
