"""The REST client against the real server: numpy in and out, typed errors with the server's
message, sync and async alike."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from shiba.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    InvalidArgumentError,
    NotFoundError,
    load_image,
)
from shiba.core.errors import Code
from shiba.core.tensors import DType
from tests._zoo import IMAGES, Zoo
from tests.integration.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_status_metadata_and_models(zoo: Zoo) -> None:
    with Client(zoo.rest) as client:
        (status,) = client.status("half")
        assert (status.version, status.state, status.error_code) == (1, "AVAILABLE", "OK")
        signature = client.metadata("half").signature("serving_default")
        assert signature.inputs["k"].dtype is DType.DT_INT64
        assert signature.inputs["x"].shape == (-1, 1)
        models = client.models()
        assert sorted(models) == ["ViT", "echo", "grey", "half"]
        assert models["ViT"][0].labels == tuple(str(digit) for digit in range(10))
        assert client.labels("ViT")[7] == "7"
        assert client.labels("half") == []


def test_predict_casts_inputs_and_types_outputs(zoo: Zoo) -> None:
    with Client(zoo.rest) as client:
        outputs = client.predict("half", {"x": [[2.0], [4.0]], "k": [[3], [1]]})
    assert outputs["y"].dtype == np.float32
    np.testing.assert_array_equal(outputs["y"], [[3.0], [4.0]])
    np.testing.assert_array_equal(outputs["z"], [[6.0], [4.0]])


def test_strings_round_trip(zoo: Zoo) -> None:
    with Client(zoo.rest) as client:
        outputs = client.predict("echo", np.array(["héllo", "wörld"], dtype=object))
    assert outputs["same"].tolist() == ["héllo", "wörld"]
    assert outputs["shape"].tolist() == [2]


def test_image_helper_gives_the_seed_clients_answer(zoo: Zoo) -> None:
    with Client(zoo.rest) as client:
        image = load_image(IMAGES / "digit_7.png", client.signature("ViT").inputs["images"])
        assert image.shape == (1, 32, 32, 3) and image.dtype == np.float32
        scores = client.predict("ViT", image)["probabilities"]
    assert int(np.argmax(scores[0])) == 7


def test_server_errors_carry_message_code_and_status(zoo: Zoo) -> None:
    with Client(zoo.rest) as client:
        with pytest.raises(NotFoundError) as missing:
            client.status("nope")
        assert missing.value.code is Code.NOT_FOUND and missing.value.http_status == 404
        assert "Could not find any versions of model nope" in missing.value.message
        with pytest.raises(InvalidArgumentError) as wrong:
            client.predict("half", {"x": [[2.0, 1.0]], "k": [[1]]})
        assert wrong.value.http_status == 400 and wrong.value.message
        with pytest.raises(KeyError, match="has no signature 'nope'; it has: serving_default"):
            client.signature("half", "nope")
        (status,) = client.status("half")  # the server keeps serving
        assert status.state == "AVAILABLE"


def test_unreachable_server_is_connection_failed() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", retries=1)
    with client, pytest.raises(ConnectionFailed, match="cannot connect") as failed:
        client.status("half")
    assert failed.value.code is Code.UNAVAILABLE


def test_async_client(zoo: Zoo) -> None:
    async def run() -> tuple[np.ndarray, str]:
        async with AsyncClient(zoo.rest) as client:
            answers = await asyncio.gather(
                *(client.predict("half", {"x": [[float(i)]], "k": [[2]]}) for i in range(8))
            )
            try:
                await client.metadata("half", version=9)
            except NotFoundError as exc:
                message = exc.message
            return np.concatenate([a["z"] for a in answers]), message

    z, message = asyncio.run(run())
    np.testing.assert_array_equal(z.ravel(), [2.0 * i for i in range(8)])
    assert message == "Servable not found for request: Specific(half, 9)"
