"""The gRPC client against the real server, with shiba's own messages."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from shiba.client import AsyncGrpcClient, ConnectionFailed, GrpcClient, NotFoundError, load_image
from shiba.core.errors import Code
from tests._zoo import IMAGES, Zoo
from tests.integration.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_status_metadata_predict(zoo: Zoo) -> None:
    with GrpcClient(zoo.grpc) as client:
        (status,) = client.status("half")
        assert (status.version, status.state, status.error_code) == (1, "AVAILABLE", "OK")
        signature = client.signature("ViT")
        image = load_image(IMAGES / "digit_3.png", signature.inputs["images"])
        scores = client.predict("ViT", image)["probabilities"]
        assert scores.dtype == np.float32 and int(np.argmax(scores[0])) == 3
        outputs = client.predict("half", {"x": [[2.0]], "k": [[3]]})
        np.testing.assert_array_equal(outputs["z"], [[6.0]])
        strings = client.predict("echo", np.array([b"a", b"bc"], dtype=object))
        assert strings["same"].tolist() == [b"a", b"bc"]


def test_errors_carry_code_and_details(zoo: Zoo) -> None:
    with GrpcClient(zoo.grpc) as client:
        with pytest.raises(
            NotFoundError, match=r"Servable not found for request: Latest\(nope\)"
        ) as e:
            client.metadata("nope")
        assert e.value.code is Code.NOT_FOUND and e.value.http_status is None
    nobody = GrpcClient(f"127.0.0.1:{free_port()}", timeout=5, retries=1)
    with nobody, pytest.raises(ConnectionFailed) as unreachable:
        nobody.status("half")
    assert unreachable.value.code is Code.UNAVAILABLE


def test_async_grpc_client(zoo: Zoo) -> None:
    async def run() -> list[float]:
        async with AsyncGrpcClient(zoo.grpc) as client:
            answers = await asyncio.gather(
                *(client.predict("half", {"x": [[float(i)]], "k": [[1]]}) for i in range(4))
            )
        return [float(a["y"][0, 0]) for a in answers]

    assert asyncio.run(run()) == [2.0, 2.5, 3.0, 3.5]
