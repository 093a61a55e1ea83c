"""--monitoring_config_file: TF Serving's metrics on the REST port, read after REST and gRPC traffic
to the real server (with batching), and no page without the config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc

from tests._prometheus import samples
from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# TF Serving's stubs (importing them runs all of TensorFlow).
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    predict_pb2,
    prediction_service_pb2_grpc,
)

MODEL = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
PAGE = "/monitoring/prometheus/metrics"
DT_FLOAT = 1


def grpc_predict(stub: Any, values: list[float], input_name: str = "x") -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    tensor = request.inputs[input_name]
    tensor.dtype = DT_FLOAT
    tensor.tensor_shape.dim.add(size=len(values))
    tensor.float_val.extend(values)
    return stub.Predict(request, timeout=60)


def test_prometheus_page_after_rest_and_grpc_requests(start_server: Any, tmp_path: Path) -> None:
    config = tmp_path / "monitoring.config"
    config.write_text(f'prometheus_config {{\n  enable: true,\n  path: "{PAGE}"\n}}\n')
    grpc_port = free_port()
    server: ServerProcess = start_server(
        "--model_name=half_plus_two",
        f"--model_base_path={MODEL}",
        "--enable_batching",
        f"--port={grpc_port}",
        f"--monitoring_config_file={config}",
    )
    for x in (1.0, 2.0, 3.0):
        answer = server.post("/v1/models/half_plus_two:predict", {"instances": [x]})
        assert answer.json() == {"predictions": [x / 2 + 2]}
    assert server.get("/v1/models/half_plus_two").status_code == 200
    assert server.post("/v1/models/nope:predict", {"instances": [1.0]}).status_code == 404
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for values in ([1.0], [2.0, 4.0]):
            assert list(grpc_predict(stub, values).outputs["y"].float_val) == [
                v / 2 + 2 for v in values
            ]
        with pytest.raises(grpc.RpcError) as failed:
            grpc_predict(stub, [1.0], input_name="wrong")
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    page = server.get(PAGE)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    text = page.text
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    assert types[":tensorflow:serving:request_count"] == "counter"
    assert types[":tensorflow:serving:request_latency"] == "histogram"
    assert types[":tensorflow:cc:saved_model:load_attempt_count"] == "counter"
    assert types[":tensorflow:serving:batching_session:queuing_latency"] == "histogram"
    found = samples(page.content)

    count = ":tensorflow:serving:request_count"
    assert found[f'{count}{{model_name="half_plus_two",status="OK"}}'] == "6"  # 3+1 REST, 2 gRPC
    assert found[f'{count}{{model_name="nope",status="NOT_FOUND"}}'] == "1"
    assert found[f'{count}{{model_name="half_plus_two",status="INVALID_ARGUMENT"}}'] == "1"
    latency = ":tensorflow:serving:request_latency"
    rest = 'model_name="half_plus_two",API="predict",entrypoint="REST"'
    grpc_ = 'model_name="half_plus_two",API="Predict",entrypoint="GRPC"'
    assert found[f"{latency}_count{{{rest}}}"] == "3"
    assert found[f'{latency}_bucket{{{rest},le="+Inf"}}'] == "3"
    assert float(found[f"{latency}_sum{{{rest}}}"]) > 0  # microseconds
    assert found[f'{latency}_count{{model_name="half_plus_two",API="",entrypoint="REST"}}'] == "1"
    assert found[f"{latency}_count{{{grpc_}}}"] == "2"  # the failed call is counted, not timed

    model_path = f'model_path="{MODEL / "00000123"}"'
    loads = ":tensorflow:cc:saved_model:load_attempt_count"
    assert found[f'{loads}{{{model_path},status="success"}}'] == "1"
    assert int(found[f":tensorflow:cc:saved_model:load_latency{{{model_path}}}"]) > 0

    batching = ":tensorflow:serving:batching_session"
    runs = int(found[f"{batching}:wrapped_run_count{{}}"])
    assert 1 <= runs <= 5  # the five good predicts, in as many batches or fewer
    assert found[f'{batching}:queuing_latency_count{{thread_pool_name=""}}'] == str(runs)
    assert found[f"{batching}:processed_batch_size_count{{}}"] == str(runs)
    assert int(float(found[f"{batching}:processed_batch_size_sum{{}}"])) == 6  # rows: 1+1+1+1+2
    padding = sum(
        int(value)
        for key, value in found.items()
        if key.startswith(f"{batching}:padding_size_count{{")
    )
    assert padding == runs

    # Reading the page is not a request to a model: the counts stay as they were.
    again = samples(server.get(PAGE).content)
    assert again[f'{count}{{model_name="half_plus_two",status="OK"}}'] == "6"

    # The Open Inference Protocol's requests, over REST and gRPC, are on the same page.
    rows = np.array([[1.0], [3.0]], np.float32)
    body = {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": rows.tolist()}]}
    answer = server.post("/v2/models/half_plus_two/infer", body).json()
    assert answer["outputs"][0]["data"] == [2.5, 3.5]
    v2_grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    tensor = triton_grpc.InferInput("x", [2, 1], "FP32")
    tensor.set_data_from_numpy(rows)
    assert v2_grpc.infer("half_plus_two", [tensor]).as_numpy("y").ravel().tolist() == [2.5, 3.5]
    assert server.post("/v2/models/nope/infer", body).status_code == 404
    v2_grpc.close()
    after = samples(server.get(PAGE).content)
    assert after[f'{count}{{model_name="half_plus_two",status="OK"}}'] == "8"
    assert after[f'{count}{{model_name="nope",status="NOT_FOUND"}}'] == "2"
    for api, entrypoint in (("infer", "REST"), ("ModelInfer", "GRPC")):
        labels = f'model_name="half_plus_two",API="{api}",entrypoint="{entrypoint}"'
        assert after[f"{latency}_count{{{labels}}}"] == "1"

    # Every inference, whatever its API, is in the v2 statistics, with the batches that ran it.
    stats = server.get("/v2/models/half_plus_two/stats").json()["model_stats"][0]
    inference = stats["inference_stats"]
    assert inference["success"]["count"] == 7  # 3 REST and 2 gRPC predicts, 2 v2 infers
    assert inference["fail"]["count"] == 1  # the gRPC predict with a wrong input
    assert stats["inference_count"] == 10  # rows: 1+1+1+1+2 and 2+2
    runs = int(samples(server.get(PAGE).content)[f"{batching}:wrapped_run_count{{}}"])
    assert stats["execution_count"] == runs
    assert inference["queue"]["count"] == inference["compute_infer"]["count"] == 7
    assert inference["queue"]["ns"] > 0 and inference["compute_infer"]["ns"] > 0
    assert sum(b["compute_infer"]["count"] for b in stats["batch_stats"]) == runs


def test_no_page_without_the_config(start_server: Any) -> None:
    server: ServerProcess = start_server("--model_name=half_plus_two", f"--model_base_path={MODEL}")
    assert server.get(PAGE).status_code == 404
    assert server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]}).ok
    assert server.get(PAGE).status_code == 404
