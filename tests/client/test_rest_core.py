"""The REST client's retries and error reading, over httpx's in-process mock transport."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest

from shiba.client import (
    Client,
    ModelRef,
    ServerError,
    SignatureInfo,
    TensorInfo,
    TimedOut,
    V2Client,
)
from shiba.client._rest_core import encode_inputs
from shiba.core.errors import Code
from shiba.core.tensors import DType

STATUS = {
    "model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}
SIGNATURE = SignatureInfo(
    "serving_default",
    "tensorflow/serving/predict",
    {"x": TensorInfo("x", DType.DT_FLOAT, (-1, 2)), "s": TensorInfo("s", DType.DT_STRING, (-1,))},
    {"y": TensorInfo("y", DType.DT_FLOAT, (-1, 2))},
)


def client_of(answers: list[httpx.Response | Exception], seen: list[httpx.Request]) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Client("http://server", retries=2, token="s3cret", transport=httpx.MockTransport(handle))


def test_status_is_retried_after_503_and_sends_the_token() -> None:
    seen: list[httpx.Request] = []
    client = client_of(
        [httpx.Response(503, json={"error": "busy"}), httpx.Response(200, json=STATUS)], seen
    )
    (status,) = client.status("m")
    assert status.version == 2 and len(seen) == 2
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert seen[0].url.path == "/v1/models/m"


def test_retries_run_out_with_the_servers_message() -> None:
    seen: list[httpx.Request] = []
    client = client_of([httpx.Response(503, json={"error": "still loading"})] * 3, seen)
    with pytest.raises(ServerError, match="still loading") as failed:
        client.status("m")
    assert failed.value.code is Code.UNAVAILABLE and len(seen) == 3


def test_predict_is_not_sent_twice_once_the_server_may_have_seen_it() -> None:
    seen: list[httpx.Request] = []
    client = client_of([httpx.ReadTimeout("slow")], seen)
    client._signatures[(client_model("m"), "serving_default")] = SIGNATURE
    with pytest.raises(TimedOut):
        client.predict("m", {"x": [[1, 2]], "s": ["a"]})
    assert len(seen) == 1


def test_predict_is_sent_again_when_it_never_left() -> None:
    seen: list[httpx.Request] = []
    answer = httpx.Response(200, json={"outputs": [[1.5, 2.5]]})
    client = client_of([httpx.ConnectError("refused"), answer], seen)
    client._signatures[(client_model("m"), "serving_default")] = SIGNATURE
    outputs = client.predict("m", {"x": [[1, 2]], "s": ["a"]})
    assert outputs["y"].dtype == np.float32 and outputs["y"].tolist() == [[1.5, 2.5]]
    assert len(seen) == 2


def test_a_body_that_is_not_json_is_quoted() -> None:
    client = client_of([httpx.Response(502, text="<html>bad gateway</html>")] * 3, [])
    with pytest.raises(ServerError, match="bad gateway") as failed:
        client.status("m")
    assert failed.value.http_status == 502


def test_inputs_are_cast_to_the_signature_and_strings_kept() -> None:
    strings = np.array([b"\xff", "ok"], dtype=object)
    body = orjson.loads(encode_inputs(SIGNATURE, {"x": np.array([[1, 2]]), "s": strings}))
    assert body == {
        "signature_name": "serving_default",
        "inputs": {"x": [[1.0, 2.0]], "s": [{"b64": "/w=="}, "ok"]},
    }
    with pytest.raises(ValueError, match="has 2 inputs"):
        encode_inputs(SIGNATURE, [[1.0, 2.0]])


def client_model(name: str) -> ModelRef:
    return ModelRef(name)


@pytest.mark.parametrize("index", [{"models": []}, [{"version": "1"}], ["half"]])
def test_a_repository_index_that_is_not_a_list_of_models_is_a_server_error(index: object) -> None:
    """What a server answers HTTP 200 to ``POST /v2/repository/index`` with, when it is not the
    extension's array of models: the client's ServerError (the CLI's exit 1), not a traceback."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=index)

    client = V2Client("http://server", transport=httpx.MockTransport(handle))
    with client, pytest.raises(ServerError, match="repository index") as failed:
        client.repository_index()
    assert failed.value.code is Code.INTERNAL and failed.value.http_status == 200
