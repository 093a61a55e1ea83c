"""The Open Inference Protocol clients (REST and gRPC) against the real server."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from shiba.client import (
    AsyncV2Client,
    AsyncV2GrpcClient,
    InvalidArgumentError,
    ServerError,
    V2Client,
    V2GrpcClient,
    V2RepositoryModel,
    V2Tensor,
)
from shiba.core.errors import Code
from tests._zoo import Zoo

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_readiness_and_metadata(zoo: Zoo) -> None:
    with V2Client(zoo.rest) as client:
        assert client.server_ready()
        assert client.model_ready("half") and client.model_ready("half", version=1)
        metadata = client.model_metadata("half")
    assert metadata.name == "half" and metadata.versions == ("1",)
    assert V2Tensor("k", "INT64", (-1, 1)) in metadata.inputs
    assert [tensor.name for tensor in metadata.outputs] == ["y", "z"]


def test_infer_numbers_and_strings(zoo: Zoo) -> None:
    with V2Client(zoo.rest) as client:
        outputs = client.infer("half", {"x": [[2.0], [4.0]], "k": [[3], [1]]})
        assert outputs["z"].dtype == np.float32
        np.testing.assert_array_equal(outputs["z"], [[6.0], [4.0]])
        only = client.infer("half", {"x": [[2.0]], "k": [[1]]}, outputs=["y"])
        assert list(only) == ["y"]
        strings = client.infer("echo", {"text": np.array(["héllo", "x"], dtype=object)})
    assert strings["same"].tolist() == ["héllo".encode(), b"x"]


def test_errors_carry_the_servers_message(zoo: Zoo) -> None:
    with V2Client(zoo.rest) as client:
        with pytest.raises(InvalidArgumentError) as wrong:
            client.infer("half", {"x": [[1.0, 2.0]], "k": [[1]]})
        assert wrong.value.http_status == 400 and wrong.value.message
        with pytest.raises(ServerError) as missing:
            client.model_metadata("nope")
        assert missing.value.http_status in (400, 404) and "nope" in missing.value.message


def test_async_v2_client(zoo: Zoo) -> None:
    async def run() -> list[float]:
        async with AsyncV2Client(zoo.rest) as client:
            assert await client.server_ready()
            answers = await asyncio.gather(
                *(client.infer("half", {"x": [[float(i)]], "k": [[2]]}) for i in range(4))
            )
        return [float(a["z"][0, 0]) for a in answers]

    assert asyncio.run(run()) == [0.0, 2.0, 4.0, 6.0]


def test_grpc_client(zoo: Zoo) -> None:
    with V2GrpcClient(zoo.grpc) as client:
        assert client.server_ready() and client.model_ready("half")
        assert [t.name for t in client.model_metadata("half").inputs] == ["x", "k"]
        outputs = client.infer("half", {"x": [[2.0]], "k": [[3]]}, outputs=["z"])
        assert list(outputs) == ["z"] and outputs["z"].dtype == np.float32
        np.testing.assert_array_equal(outputs["z"], [[6.0]])
        strings = client.infer("echo", {"text": np.array([b"a", b"bc"], dtype=object)})
        assert strings["same"].tolist() == [b"a", b"bc"]
        with pytest.raises(InvalidArgumentError) as wrong:
            client.infer("half", {"x": [[1.0, 2.0]], "k": [[1]]})
        assert wrong.value.code is Code.INVALID_ARGUMENT and wrong.value.http_status is None


def test_async_grpc_client(zoo: Zoo) -> None:
    async def run() -> list[float]:
        async with AsyncV2GrpcClient(zoo.grpc) as client:
            answers = await asyncio.gather(
                *(client.infer("half", {"x": [[float(i)]], "k": [[1]]}) for i in range(3))
            )
        return [float(a["y"][0, 0]) for a in answers]

    assert asyncio.run(run()) == [2.0, 2.5, 3.0]


def test_repository_index(zoo: Zoo) -> None:
    with V2Client(zoo.rest) as rest, V2GrpcClient(zoo.grpc) as grpc_client:
        over_rest = rest.repository_index()
        assert over_rest == grpc_client.repository_index(ready=True)
    assert V2RepositoryModel("half", "1", "READY", "") in over_rest
    assert sorted(row.name for row in over_rest) == ["ViT", "echo", "grey", "half"]

    async def run() -> tuple[list[V2RepositoryModel], list[V2RepositoryModel]]:
        async with AsyncV2Client(zoo.rest) as rest, AsyncV2GrpcClient(zoo.grpc) as grpc_client:
            return await rest.repository_index(), await grpc_client.repository_index()

    assert asyncio.run(run()) == (over_rest, over_rest)
