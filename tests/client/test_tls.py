"""The clients and ``shiba predict`` against a real server with mutual TLS and a bearer token
(``--ssl_config_file`` with ``client_verify``, ``--auth_token_file``), one server for the module:
the test CA and client certificate work over REST (sync, async, v2) and gRPC (sync and asyncio, TF
Serving's API and v2); a foreign CA, a missing client certificate, a missing or wrong token each
fail with the client's typed error."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.cli.main import main
from shiba.client import (
    AsyncClient,
    AsyncGrpcClient,
    AsyncV2GrpcClient,
    Client,
    ClientError,
    ConnectionFailed,
    GrpcClient,
    UnauthenticatedError,
    V2Client,
)
from shiba.core.errors import Code
from tests._tls import Authority, ssl_config_text, write_pems
from tests._zoo import predict_half
from tests.integration.conftest import ServerProcess, free_port, model_config_text
from tests.models import build_onnx_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TOKEN = "s3cret-token"
HALF: dict[str, npt.ArrayLike] = {"x": [[2.0], [4.0]], "k": [[3], [1]]}


@dataclass(frozen=True, slots=True)
class Secured:
    """The running server (``rest`` its https URL, ``grpc`` its host:port) and the files and
    bytes a client needs: the CA, the client certificate and key, and a foreign CA."""

    rest: str
    grpc: str
    ca_file: str
    cert: tuple[str, str]
    foreign_ca_file: str
    ca: bytes
    key: bytes
    chain: bytes

    @property
    def flags(self) -> list[str]:
        """The command line's ``--ca``, ``--cert`` and ``--key`` for these files."""
        return ["--ca", self.ca_file, "--cert", self.cert[0], "--key", self.cert[1]]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("tls")
    ca = Authority()
    (folder / "ca.pem").write_text(ca.cert)
    (folder / "foreign.pem").write_text(Authority("a foreign CA").cert)
    client = ca.issue("client", server=False)
    cert = write_pems(folder, "client", client)
    config = folder / "ssl.conf"
    config.write_text(
        ssl_config_text(ca.issue("127.0.0.1", server=True), ca.cert, client_verify=True)
    )
    (folder / "tokens").write_text(TOKEN + "\n")
    build_onnx_model(folder / "half")
    models = folder / "models.config"
    models.write_text(
        model_config_text(f'name: "half" base_path: "{folder / "half"}" model_platform: "onnx"')
    )
    grpc_port = free_port()
    server = ServerProcess(
        [
            f"--model_config_file={models}",
            f"--port={grpc_port}",
            "--onnx_engine=onnxruntime",
            f"--ssl_config_file={config}",
            f"--auth_token_file={folder / 'tokens'}",
        ],
        folder / "server.log",
        tls={"verify": str(folder / "ca.pem"), "cert": cert},
    )
    try:
        server.wait_ready()
        yield Secured(
            server.url,
            f"127.0.0.1:{grpc_port}",
            str(folder / "ca.pem"),
            cert,
            str(folder / "foreign.pem"),
            ca.cert.encode(),
            client.key.encode(),
            client.cert.encode(),
        )
    finally:
        server.stop()


def _half_body(folder: Path, x: float, k: int) -> Path:
    """A ``--json`` file asking ``half`` for ``x * k`` (one example)."""
    body = folder / "body.json"
    body.write_text(json.dumps({"inputs": {"x": [[x]], "k": [[k]]}}))
    return body


def _check_half(outputs: dict[str, npt.NDArray[Any]]) -> None:
    np.testing.assert_array_equal(outputs["y"], [[3.0], [4.0]])
    np.testing.assert_array_equal(outputs["z"], [[6.0], [4.0]])


def test_rest_clients_with_the_ca_a_client_certificate_and_the_token(secured: Secured) -> None:
    with Client(secured.rest, verify=secured.ca_file, cert=secured.cert, token=TOKEN) as client:
        assert client.status("half")[0].state == "AVAILABLE"
        _check_half(client.predict("half", HALF))

    async def run() -> dict[str, npt.NDArray[Any]]:
        async with AsyncClient(
            secured.rest, verify=secured.ca_file, cert=secured.cert, token=TOKEN
        ) as client:
            return await client.predict("half", HALF)

    _check_half(asyncio.run(run()))
    with V2Client(secured.rest, verify=secured.ca_file, cert=secured.cert, token=TOKEN) as v2:
        assert v2.model_ready("half")
        outputs = v2.infer("half", {"x": [[2.0]], "k": [[3]]})
        np.testing.assert_array_equal(outputs["z"], [[6.0]])


def test_rest_refusals_are_typed(secured: Secured) -> None:
    attempts: list[tuple[str, tuple[str, str] | None]] = [
        (secured.foreign_ca_file, secured.cert),  # the server's certificate is a stranger's
        (secured.ca_file, None),  # no client certificate: the server hangs up (TLS 1.3)
    ]
    for ca_file, cert in attempts:
        with (
            Client(secured.rest, verify=ca_file, cert=cert, token=TOKEN, retries=0) as client,
            pytest.raises(ConnectionFailed) as failed,
        ):
            client.status("half")
        assert failed.value.code is Code.UNAVAILABLE and secured.rest in failed.value.message
        assert cert is None or "CERTIFICATE_VERIFY_FAILED" in failed.value.message
    for token in (None, "wrong-token"):
        with (
            Client(secured.rest, verify=secured.ca_file, cert=secured.cert, token=token) as client,
            pytest.raises(UnauthenticatedError) as refused,
        ):
            client.predict("half", HALF)
        assert refused.value.http_status == 401
        assert "Authorization: Bearer <token>" in refused.value.message
        assert "half" not in refused.value.message
    with pytest.raises(ClientError) as unreadable:
        Client(secured.rest, verify=secured.ca_file + ".missing")
    assert unreadable.value.code is Code.INVALID_ARGUMENT
    assert secured.ca_file + ".missing" in unreadable.value.message


def test_grpc_client_over_mutual_tls_and_its_refusals(secured: Secured) -> None:
    ca, key, chain = secured.ca, secured.key, secured.chain
    with GrpcClient(
        secured.grpc, root_certificates=ca, private_key=key, certificate_chain=chain, token=TOKEN
    ) as client:
        assert client.status("half")[0].state == "AVAILABLE"
        _check_half(client.predict("half", HALF))
    for token in (None, "wrong-token"):
        with (
            GrpcClient(
                secured.grpc,
                root_certificates=ca,
                private_key=key,
                certificate_chain=chain,
                token=token,
            ) as client,
            pytest.raises(UnauthenticatedError) as refused,
        ):
            client.status("half")
        assert "authorization" in refused.value.message and refused.value.http_status is None
    foreign = Path(secured.foreign_ca_file).read_bytes()
    attempts: list[tuple[bytes, bytes | None, bytes | None]] = [
        (foreign, key, chain),  # the server's certificate is a stranger's
        (ca, None, None),  # no client certificate
    ]
    for root, private_key, certificate_chain in attempts:
        with (
            GrpcClient(
                secured.grpc,
                root_certificates=root,
                private_key=private_key,
                certificate_chain=certificate_chain,
                token=TOKEN,
                retries=0,
                timeout=10,
            ) as client,
            pytest.raises(ConnectionFailed) as failed,
        ):
            client.status("half")
        assert failed.value.code is Code.UNAVAILABLE
        assert failed.value.message.startswith("cannot connect to " + secured.grpc)
    with pytest.raises(ValueError, match="together"):
        GrpcClient(secured.grpc, private_key=key)


def test_async_grpc_clients_over_mutual_tls_and_their_refusals(secured: Secured) -> None:
    ca, key, chain = secured.ca, secured.key, secured.chain

    def tls(root: bytes = ca, private_key: bytes | None = key) -> dict[str, Any]:
        chained = chain if private_key is not None else None
        return {"root_certificates": root, "private_key": private_key, "certificate_chain": chained}

    async def served() -> None:
        async with AsyncGrpcClient(secured.grpc, token=TOKEN, **tls()) as client:
            assert (await client.status("half"))[0].state == "AVAILABLE"
            # Concurrent calls share the one TLS channel.
            answers = await asyncio.gather(*(client.predict("half", HALF) for _ in range(4)))
            for outputs in answers:
                _check_half(outputs)
        async with AsyncV2GrpcClient(secured.grpc, token=TOKEN, **tls()) as v2:
            assert await v2.server_ready() and await v2.model_ready("half")
            outputs = await v2.infer("half", {"x": [[2.0]], "k": [[3]]})
            np.testing.assert_array_equal(outputs["z"], [[6.0]])

    async def refused(token: str | None) -> list[UnauthenticatedError]:
        errors = []
        async with AsyncGrpcClient(secured.grpc, token=token, **tls()) as client:
            with pytest.raises(UnauthenticatedError) as info:
                await client.status("half")
            errors.append(info.value)
        async with AsyncV2GrpcClient(secured.grpc, token=token, **tls()) as v2:
            with pytest.raises(UnauthenticatedError) as info:
                await v2.model_ready("half")
            errors.append(info.value)
        return errors

    async def unreachable(root: bytes, private_key: bytes | None) -> ConnectionFailed:
        async with AsyncGrpcClient(
            secured.grpc, token=TOKEN, retries=0, timeout=10, **tls(root, private_key)
        ) as client:
            with pytest.raises(ConnectionFailed) as info:
                await client.predict("half", HALF)
        return info.value

    asyncio.run(served())
    for token in (None, "wrong-token"):
        for error in asyncio.run(refused(token)):
            assert "authorization" in error.message and error.http_status is None
    foreign = Path(secured.foreign_ca_file).read_bytes()
    for root, private_key in ((foreign, key), (ca, None)):  # a stranger's server; no client cert
        failed = asyncio.run(unreachable(root, private_key))
        assert failed.code is Code.UNAVAILABLE
        assert failed.message.startswith("cannot connect to " + secured.grpc)
    # The server keeps serving the right client after the refusals.
    asyncio.run(served())


def test_predict_command_over_https_and_grpcs(secured: Secured) -> None:
    tls = secured.flags
    for server in (secured.rest, f"grpcs://{secured.grpc}"):
        done = predict_half("--server", server, "--token", TOKEN, *tls)
        assert done.returncode == 0, done.stderr
        assert "[[6.]]" in done.stdout
    refused = predict_half("--server", secured.rest, *tls)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    stranger = ["--ca", secured.foreign_ca_file, *tls[2:]]
    unreachable = predict_half("--server", secured.rest, "--token", TOKEN, *stranger)
    assert unreachable.returncode == 3 and "cannot connect" in unreachable.stderr
    half_pair = predict_half("--server", secured.rest, "--cert", "x")
    assert half_pair.returncode == 2 and "--cert and --key go together" in half_pair.stderr


def test_v2_commands_over_https_and_grpcs_with_a_token(
    secured: Secured, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _half_body(tmp_path, 2.0, 3)
    tls = secured.flags
    for server in (secured.rest, f"grpcs://{secured.grpc}"):
        v2 = ["--protocol", "v2", "--server", server, "--token", TOKEN, *tls]
        assert main(["predict", "half", "--json", str(body), *v2]) == 0
        assert "[[6.]]" in capsys.readouterr().out
        assert main(["models", *v2]) == 0
        assert "│ half " in capsys.readouterr().out
        assert main(["metadata", "half", *v2]) == 0
        assert "INT64" in capsys.readouterr().out
        assert main(["models", *v2[:4], *tls]) == 1  # no token
        assert "(UNAUTHENTICATED)" in capsys.readouterr().err


def test_bench_command_over_https_and_grpcs_with_a_token(
    secured: Secured, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _half_body(tmp_path, 1.0, 2)
    tls = secured.flags
    load = ["-n", "20", "-c", "2", "--warmup", "0", "--out", str(tmp_path / "out")]
    grpcs = f"grpcs://{secured.grpc}"
    # The server speaks TLS only and wants the client certificate and the token: an answer is proof.
    for server, source, protocol in [
        (secured.rest, "--json", "tfserving"),
        (secured.rest, "--body", "tfserving"),
        (secured.rest, "--json", "v2"),
        (grpcs, "--json", "tfserving"),
        (grpcs, "--json", "v2"),
    ]:
        args = ["bench", "half", source, str(body), "--protocol", protocol, *load]
        code = main([*args, "--server", server, "--token", TOKEN, *tls])
        out = capsys.readouterr().out
        assert code == 0, (server, source, protocol, out)
        assert re.search(r"│ answers\s+│\s+20 │", out) and re.search(r"│ errors\s+│\s+0 │", out)
    bench_body = ["bench", "half", "--body", str(body), *load, "--server", secured.rest]
    assert main([*bench_body, *tls]) == 1  # no token: every request is refused
    assert "first error: HTTP 401" in capsys.readouterr().err
    stranger = ["--ca", secured.foreign_ca_file, *tls[2:]]
    assert main([*bench_body, "--token", TOKEN, *stranger]) == 3
    assert "cannot connect" in capsys.readouterr().err
    assert main([*bench_body, "--server", secured.rest.replace("https", "http"), *tls]) == 2
    assert "give an https:// --server" in capsys.readouterr().err
    missing = ["--ca", secured.ca_file + ".missing", *tls[2:]]
    assert main([*bench_body, "--token", TOKEN, *missing]) == 2
    assert "cannot use the TLS files" in capsys.readouterr().err
