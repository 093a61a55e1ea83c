"""The limits that keep a public server alive, on the real server: a body over
``--rest_api_max_body_bytes`` is answered 413 before it is read, gRPC's message size and
``--grpc_max_threads`` give RESOURCE_EXHAUSTED, a full batch queue answers 503 / UNAVAILABLE at
once, and SIGTERM drains: the ports stop accepting, in-flight requests finish, exit code 0."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests

from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    predict_pb2,
    prediction_service_pb2_grpc,
)

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
#: A batch waits up to 3 s for a second row; one batch may be queued.
BATCHING = """
max_batch_size { value: 2 }
batch_timeout_micros { value: 3000000 }
max_enqueued_batches { value: 1 }
num_batch_threads { value: 1 }
"""


def _predict(values: list[float]) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(values, np.float32)))
    return request


class _Background(threading.Thread):
    """Runs ``call`` on a thread; ``result`` joins and returns (or raises) what it gave."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self._call = call
        self._outcome: Any = None
        self._error: BaseException | None = None
        self.start()
        time.sleep(0.5)  # let it reach the batcher

    def run(self) -> None:
        try:
            self._outcome = self._call()
        except BaseException as exc:
            self._error = exc

    def result(self) -> Any:
        self.join(60)
        if self._error is not None:
            raise self._error
        return self._outcome


def _head_only(port: int, declared: int) -> bytes:
    """Sends a request declaring ``declared`` body bytes, 1000 of them, and reads the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/models/default:predict HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\n"
            + f"content-length: {declared}\r\n\r\n".encode()
            + b" " * 1000
        )
        return sock.recv(65536)


def test_limits_and_drain(start_server: Any, tmp_path: Path) -> None:
    batching = tmp_path / "batching.txt"
    batching.write_text(BATCHING)
    grpc_port = free_port()
    server: ServerProcess = start_server(
        "--model_name=default",
        f"--model_base_path={HALF_PLUS_TWO}",
        f"--port={grpc_port}",
        "--enable_batching",
        f"--batching_parameters_file={batching}",
        "--grpc_max_threads=1",
        "--grpc_channel_arguments=grpc.max_receive_message_length=4096",
        "--rest_api_max_body_bytes=100000",
    )
    # 413 as soon as the head declares too much: the 1 GB body is never sent.
    started = time.monotonic()
    answer = _head_only(server.port, 10**9)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"larger than the limit" in answer
    assert time.monotonic() - started < 5

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_predict([1.0] * 2000), timeout=30)  # 8 kB > 4096 bytes
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        # One call waits in the batcher for 3 s: a second gRPC call is over --grpc_max_threads,
        # and a two-row REST request finds the batch queue full; both are answered at once.
        waiting = _Background(lambda: stub.Predict(_predict([1.0]), timeout=30))
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_predict([2.0]), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        full = server.post("/v1/models/default:predict", {"instances": [1.0, 2.0]})
        assert full.status_code == 503, full.text
        assert "queue" in full.json()["error"]
        assert time.monotonic() - started < 2
        assert list(tf.make_ndarray(waiting.result().outputs["y"])) == [2.5]

    # SIGTERM with a request in flight: it is answered, new connections are refused, exit 0.
    in_flight = _Background(lambda: server.post("/v1/models/default:predict", {"instances": [3.0]}))
    server.proc.terminate()
    time.sleep(0.5)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/v1/models/default", timeout=5)
    response = in_flight.result()
    assert (response.status_code, response.json()) == (200, {"predictions": [3.5]})
    assert server.proc.wait(30) == 0
