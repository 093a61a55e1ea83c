"""``--auth_token_file`` and ``--enable_grpc_healthcheck_service`` on the real server, with TF
Serving's stubs and ``requests``: a call without the token is UNAUTHENTICATED / 401 and learns
nothing of the models; the health service answers without one; a new token works as soon as the
file changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"


def _request(name: str) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    return request


def test_tokens_on_grpc_rest_and_the_health_service(start_server: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("first-token\n")
    port = free_port()
    server: ServerProcess = start_server(
        "--model_name=default",
        f"--model_base_path={HALF_PLUS_TWO}",
        f"--port={port}",
        f"--auth_token_file={tokens}",
        "--enable_grpc_healthcheck_service",
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tensorflow.serving.PredictionService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        good = [("authorization", "Bearer first-token")]
        answer = predictions.Predict(_request("default"), metadata=good, timeout=30)
        assert list(tf.make_ndarray(answer.outputs["y"])) == [2.5]
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = "default"
        for metadata in ([], [("authorization", "Bearer nope")], [("authorization", "first")]):
            for call, request in (
                (predictions.Predict, _request("default")),
                (models.GetModelStatus, status),
            ):
                with pytest.raises(grpc.RpcError) as info:
                    call(request, metadata=metadata, timeout=30)
                error: Any = info.value
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "default" not in error.details() and "token" in error.details()
        # A token added to the file works without a restart; a removed one stops working.
        tokens.write_text("second-token\n")
        stamp = tokens.stat().st_mtime_ns + 1_000_000_000
        os.utime(tokens, ns=(stamp, stamp))
        second = [("authorization", "Bearer second-token")]
        assert predictions.Predict(_request("default"), metadata=second, timeout=30).outputs
        with pytest.raises(grpc.RpcError):
            predictions.Predict(_request("default"), metadata=good, timeout=30)
    # REST: 401 with a Bearer challenge, nothing about the model; the token opens it.
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "second-token"}):
        for response in (
            server.get("/v1/models/default", headers=headers),
            server.post("/v1/models/default:predict", {"instances": [1.0]}, headers=headers),
            server.get("/v1/models/missing/metadata", headers=headers),
        ):
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "default" not in response.text and "missing" not in response.text
            assert "Authorization: Bearer" in response.json()["error"]
    good_header = {"Authorization": "Bearer second-token"}
    answer = server.post("/v1/models/default:predict", {"instances": [1.0]}, headers=good_header)
    assert (answer.status_code, answer.json()) == (200, {"predictions": [2.5]})
    assert "first-token" not in server.logs() and "second-token" not in server.logs()
