"""``--ssl_config_file`` on the real server: TLS on the gRPC port and the gRPC Unix socket
(TF Serving's stubs with ``grpc.ssl_channel_credentials``) and HTTPS on the REST port (``requests``
with ``verify=``), then mutual TLS: a client certificate from ``custom_ca`` is served, a missing or foreign one refused."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests

from tests._tls import Authority, Pair, ssl_config_text, write_pems
from tests.conftest import TFSERVING_TESTDATA
from tests.integration.conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    predict_pb2,
    prediction_service_pb2_grpc,
)

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"
BODY = {"instances": [1.0, 2.0]}
ANSWER = {"predictions": [2.5, 3.0]}


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Authority
    ca_file: str
    client: Pair
    client_files: tuple[str, str]
    stranger: Pair
    stranger_files: tuple[str, str]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority()
    (folder / "ca.pem").write_text(ca.cert)
    client = ca.issue("client", server=False)
    stranger = Authority("another CA").issue("stranger", server=False)
    return Pki(
        ca,
        str(folder / "ca.pem"),
        client,
        write_pems(folder, "client", client),
        stranger,
        write_pems(folder, "stranger", stranger),
    )


def _serve(
    module_servers: Any, pki: Pki, folder: Path, *, client_verify: bool, socket: Path | None = None
) -> tuple[ServerProcess, int]:
    config = folder / f"ssl-{client_verify}.conf"
    server_pair = pki.ca.issue("127.0.0.1", server=True)
    config.write_text(ssl_config_text(server_pair, pki.ca.cert, client_verify=client_verify))
    port = free_port()
    tls: dict[str, Any] = {"verify": pki.ca_file}
    if client_verify:
        tls["cert"] = pki.client_files
    server: ServerProcess = module_servers(
        "--model_name=default",
        f"--model_base_path={HALF_PLUS_TWO}",
        f"--port={port}",
        f"--ssl_config_file={config}",
        *([f"--grpc_socket_path={socket}"] if socket is not None else []),
        tls=tls,
    )
    return server, port


@pytest.fixture(scope="module")
def tls_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def tls_server(module_servers: Any, pki: Pki, tls_folder: Path) -> tuple[ServerProcess, int]:
    """TLS, no client certificates, on the REST port, the gRPC port and ``grpc.sock``."""
    socket = tls_folder / "grpc.sock"
    return _serve(module_servers, pki, tls_folder, client_verify=False, socket=socket)


@pytest.fixture(scope="module")
def mtls_server(
    module_servers: Any, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ServerProcess, int]:
    return _serve(module_servers, pki, tmp_path_factory.mktemp("mtls"), client_verify=True)


def _predict(
    port: int | str, credentials: grpc.ChannelCredentials, server_name: str | None = None
) -> list[float]:
    """Predict on ``127.0.0.1:port``, or on the target ``port`` when it is a string, checking the
    server certificate names ``server_name`` when given (else the target's host)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0], np.float32)))
    target = port if isinstance(port, str) else f"127.0.0.1:{port}"
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else None
    with grpc.secure_channel(target, credentials, options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    return [float(v) for v in tf.make_ndarray(response.outputs["y"])]


def test_https_and_tls_grpc(tls_server: tuple[ServerProcess, int], pki: Pki) -> None:
    server, port = tls_server
    assert server.url.startswith("https://")
    response = server.post("/v1/models/default:predict", BODY)
    assert (response.status_code, response.json()) == (200, ANSWER)
    # Keep-alive, and a body of many TLS records (larger than one read's 64 KiB buffer).
    with requests.Session() as session:
        for size in (50_000, 3):
            body = {"instances": [2.0] * size}
            answer = session.post(
                server.url + "/v1/models/default:predict", json=body, timeout=60, **server.tls
            )
            assert answer.json() == {"predictions": [3.0] * size}
    roots = pki.ca.cert.encode()
    assert _predict(port, grpc.ssl_channel_credentials(root_certificates=roots)) == [2.5, 3.0]
    # Plain HTTP and plaintext gRPC are not answered on the TLS ports.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}/v1/models/default", timeout=10)
    with (
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        pytest.raises(grpc.FutureTimeoutError),
    ):
        grpc.channel_ready_future(channel).result(timeout=3)
    # A client that does not trust the server's CA refuses it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/v1/models/default", timeout=10)


def test_tls_on_the_grpc_unix_socket(
    tls_server: tuple[ServerProcess, int], tls_folder: Path, pki: Pki
) -> None:
    """As TF Serving: the socket takes the port's credentials. A socket has no host name, so the
    client names the one the server certificate holds (``grpc.ssl_target_name_override``)."""
    target = f"unix:{tls_folder / 'grpc.sock'}"
    roots = pki.ca.cert.encode()
    trusting = grpc.ssl_channel_credentials(root_certificates=roots)
    assert _predict(target, trusting, "localhost") == [2.5, 3.0]
    # Plaintext gRPC is not answered on the socket.
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(channel).result(timeout=3)
    # A client that does not trust the server's CA refuses it.
    stranger_roots = Authority("another CA").cert.encode()
    with pytest.raises(grpc.RpcError) as info:
        _predict(
            target, grpc.ssl_channel_credentials(root_certificates=stranger_roots), "localhost"
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # Still serving over TLS after the refusals.
    assert _predict(target, trusting, "localhost") == [2.5, 3.0]


def test_mutual_tls(mtls_server: tuple[ServerProcess, int], pki: Pki) -> None:
    server, port = mtls_server
    response = server.post("/v1/models/default:predict", BODY)
    assert (response.status_code, response.json()) == (200, ANSWER)
    roots = pki.ca.cert.encode()
    mine = grpc.ssl_channel_credentials(roots, pki.client.key.encode(), pki.client.cert.encode())
    assert _predict(port, mine) == [2.5, 3.0]
    url = server.url + "/v1/models/default"
    for cert in (None, pki.stranger_files):
        with pytest.raises((requests.exceptions.SSLError, requests.ConnectionError)):
            requests.get(url, verify=pki.ca_file, cert=cert, timeout=10)
    for credentials in (
        grpc.ssl_channel_credentials(roots),
        grpc.ssl_channel_credentials(roots, pki.stranger.key.encode(), pki.stranger.cert.encode()),
    ):
        with pytest.raises(grpc.RpcError) as info:
            _predict(port, credentials)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # The server keeps serving the right client after the refusals.
    assert server.get("/v1/models/default").status_code == 200


def test_a_bad_ssl_config_stops_the_server_with_exit_code_2(pki: Pki, tmp_path: Path) -> None:
    """The real command line (every other bad file: tests/config/test_tls.py, same code path)."""
    pair = pki.ca.issue("127.0.0.1", server=True)
    config = tmp_path / "ssl.conf"
    config.write_text(ssl_config_text(Pair(pair.key, pair.cert.replace("M", "A", 3))))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shiba",
            "serve",
            f"--model_base_path={HALF_PLUS_TWO}",
            f"--ssl_config_file={config}",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert str(config) in done.stderr and "server_cert: not a valid PEM" in done.stderr
    assert pair.key.splitlines()[1] not in done.stderr
