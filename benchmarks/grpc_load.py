"""A gRPC load generator for TF Serving's Predict (or, with ``--protocol v2``, the Open Inference
Protocol's ModelInfer): ``c`` concurrent callers for ``d`` seconds.

    python benchmarks/grpc_load.py --target 127.0.0.1:8500 --model ViT -c 64 -d 10

Sends the W1 request (one 32x32x3 integer image, as ``tf.make_tensor_proto`` would send it:
float32 ``tensor_content``; for v2, the same floats as ``raw_input_contents``, as tritonclient
sends them) with grpc.aio from one process and prints one JSON line:
requests/s, p50 and p99 in ms, failures. It runs on the same cores as the server, so its own cost
(tens of µs a call) is part of what it measures; ``run.py`` reports it next to wrk's REST rows.
With ``--ca ca.pem`` the channel is TLS. Only shiba's own message classes are used (``shiba._proto``), so it imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import grpc
import numpy as np
import numpy.typing as npt

from shiba import _proto
from shiba._proto.v2 import inference_pb2

#: The Open Inference Protocol's gRPC service.
V2_SERVICE = "inference.GRPCInferenceService"


def w1_image() -> npt.NDArray[np.float32]:
    """W1's image as the float32 tensor a client sends: [1, 32, 32, 3], integer pixels 0-255."""
    return np.random.default_rng(0).integers(0, 256, size=(1, 32, 32, 3)).astype(np.float32)


def v2_request(model: str) -> bytes:
    """W1 as a ModelInferRequest: FP32 ``images`` in ``raw_input_contents``."""
    image = w1_image()
    req = inference_pb2.ModelInferRequest(model_name=model)
    tensor = req.inputs.add(name="images", datatype="FP32")
    tensor.shape.extend(image.shape)
    req.raw_input_contents.append(image.tobytes())
    data: bytes = req.SerializeToString()
    return data


def request(model: str) -> bytes:
    image = w1_image()
    req = _proto.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = "serving_default"
    tensor = req.inputs["images"]
    tensor.dtype = 1  # DT_FLOAT
    for size in image.shape:
        tensor.tensor_shape.dim.add().size = size
    tensor.tensor_content = image.tobytes()
    data: bytes = req.SerializeToString()
    return data


def _channel(target: str, ca_file: str | None) -> grpc.aio.Channel:
    """A plaintext channel, or a TLS one trusting ``ca_file`` (the server's CA, PEM)."""
    if ca_file is None:
        return grpc.aio.insecure_channel(target)
    with open(ca_file, "rb") as file:
        credentials = grpc.ssl_channel_credentials(root_certificates=file.read())
    return grpc.aio.secure_channel(target, credentials)


async def main(
    target: str,
    model: str,
    concurrency: int,
    seconds: float,
    *,
    ca_file: str | None = None,
    protocol: str = "tfserving",
) -> dict[str, float]:
    v2 = protocol == "v2"
    body = v2_request(model) if v2 else request(model)
    method = f"/{V2_SERVICE}/ModelInfer" if v2 else f"/{_proto.PREDICTION_SERVICE}/Predict"
    latencies: list[float] = []
    failures = 0
    async with _channel(target, ca_file) as channel:
        predict = channel.unary_unary(
            method,
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        for _ in range(20):
            await predict(body)
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    await predict(body, timeout=30)
                except grpc.aio.AioRpcError:
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - start)

        begin = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begin
    latencies.sort()
    return {
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "failures": failures,
        "requests": len(latencies) + failures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--model", default="ViT")
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("--ca", help="TLS: the PEM file of the CA that signed the server's cert")
    parser.add_argument("--protocol", choices=("tfserving", "v2"), default="tfserving")
    args = parser.parse_args()
    print(
        json.dumps(
            asyncio.run(
                main(
                    args.target,
                    args.model,
                    args.concurrency,
                    args.duration,
                    ca_file=args.ca,
                    protocol=args.protocol,
                )
            )
        )
    )
