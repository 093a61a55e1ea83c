"""``shiba predict``, ``models`` and ``metadata`` with ``--protocol v2`` against the real server,
over REST and gRPC: answers, exit codes, the server's messages, and a server without the
model_repository extension."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest

from shiba.cli.main import main
from tests._zoo import IMAGES, Zoo

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TRANSPORTS = ["rest", "grpc"]
HALF_BODY = {"instances": [{"x": [2.0], "k": [3]}]}  # z = x * k = 6


def v2(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], transport: str, *args: str
) -> tuple[int, str, str]:
    """``shiba ARGS --protocol v2`` at the zoo's REST or gRPC address: exit code, out, err."""
    server = zoo.rest if transport == "rest" else f"grpc://{zoo.grpc}"
    code = main([*args, "--protocol", "v2", "--server", server])
    out, err = capsys.readouterr()
    return code, out, err


def write_json(path: Path, value: object) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def rows(out: str) -> list[list[str]]:
    """The cells of each body row of the tables in ``out``."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in out.splitlines()
        if line.startswith("│ ")
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_predict(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path, transport: str
) -> None:
    body = write_json(tmp_path / "half.json", HALF_BODY)
    code, out, err = v2(zoo, capsys, transport, "predict", "half", "--json", body)
    assert code == 0, err
    assert "z float32 [1, 1]" in out and "[[6.]]" in out
    np.save(tmp_path / "text.npy", np.array(["hé", "x"]))
    code, out, err = v2(
        zoo, capsys, transport, "predict", "echo", "--npy", str(tmp_path / "text.npy")
    )
    assert code == 0, err
    assert "same object [2]" in out and "b'h\\xc3\\xa9'" in out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_predict_top_with_labels(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path, transport: str
) -> None:
    image = str(IMAGES / "digit_5.png")
    args = ["predict", "ViT", "--image", image, "--top", "2"]
    if transport == "rest":  # shiba's own REST route has the model's labels
        expected = "5"
    else:  # gRPC carries no labels: the user's file names the classes
        words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        (tmp_path / "labels.txt").write_text("\n".join(words) + "\n\n")
        args += ["--labels", str(tmp_path / "labels.txt")]
        expected = "five"
    code, out, err = v2(zoo, capsys, transport, *args)
    assert code == 0, err
    first = rows(out)[0]
    assert first[:3] == ["1", "5", expected]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_models_lists_the_repository_index(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], transport: str
) -> None:
    code, out, err = v2(zoo, capsys, transport, "models")
    assert code == 0, err
    assert [row[:3] for row in rows(out)] == [
        ["ViT", "1", "READY"],
        ["echo", "1", "READY"],
        ["grey", "1", "READY"],
        ["half", "1", "READY"],
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_metadata(zoo: Zoo, capsys: pytest.CaptureFixture[str], transport: str) -> None:
    code, out, err = v2(zoo, capsys, transport, "metadata", "half")
    assert code == 0, err
    assert "half versions 1, platform onnxruntime_onnx" in out
    assert ["input", "k", "INT64", "[-1, 1]"] in rows(out)
    assert [row[1] for row in rows(out) if row[0] == "output"] == ["y", "z"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_input(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path, transport: str
) -> None:
    code, _, err = v2(zoo, capsys, transport, "metadata", "nope")
    assert code == 1 and "error from the server (NOT_FOUND)" in err and "nope" in err
    body = write_json(tmp_path / "half.json", HALF_BODY)
    code, _, err = v2(zoo, capsys, transport, "predict", "nope", "--json", body)
    assert code == 1 and "nope" in err
    wide = write_json(tmp_path / "wide.json", {"inputs": {"x": [[1.0, 2.0]], "k": [[1]]}})
    code, _, err = v2(zoo, capsys, transport, "predict", "half", "--json", wide)
    assert code == 1 and "error from the server (INVALID_ARGUMENT)" in err
    text = write_json(tmp_path / "text.json", {"inputs": {"x": [["a"]], "k": [[1]]}})
    code, _, err = v2(zoo, capsys, transport, "predict", "half", "--json", text)
    assert code == 1 and "error from the server (INVALID_ARGUMENT)" in err and "'x'" in err
    code, _, err = v2(zoo, capsys, transport, "predict", "half", "--json", body, "--signature", "s")
    assert code == 2 and "the Open Inference Protocol has no signatures" in err
    bench = ["bench", "half", "--json", body, "-n", "1", "--out", str(tmp_path), "--signature", "s"]
    code, _, err = v2(zoo, capsys, transport, *bench)
    assert code == 2 and "the Open Inference Protocol has no signatures" in err
    code, _, err = v2(zoo, capsys, transport, "metadata", "half", "--label", "stable")
    assert code == 2 and "no version labels" in err
    bad = write_json(
        tmp_path / "bad.json", {"inputs": [{"name": "x", "datatype": "FP99", "data": [1]}]}
    )
    code, _, err = v2(zoo, capsys, transport, "predict", "half", "--json", bad)
    assert code == 2 and "input 'x' has datatype 'FP99'" in err


def test_predict_reads_what_tritonclient_sends(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A Triton user's request body (as ``tritonclient.http`` writes it) runs as it is, and the
    CLI prints what ``tritonclient`` itself gets back from the same server."""
    triton = pytest.importorskip("tritonclient.http")
    x = triton.InferInput("x", [2, 1], "FP32")
    x.set_data_from_numpy(np.array([[2.0], [0.5]], dtype=np.float32), binary_data=False)
    k = triton.InferInput("k", [2, 1], "INT64")
    k.set_data_from_numpy(np.array([[3], [4]], dtype=np.int64), binary_data=False)
    body, _ = triton.InferenceServerClient.generate_request_body([x, k])
    (tmp_path / "triton.json").write_bytes(body)
    code, out, err = v2(
        zoo, capsys, "rest", "predict", "half", "--json", str(tmp_path / "triton.json")
    )
    assert code == 0, err
    client = triton.InferenceServerClient(zoo.rest.removeprefix("http://"))
    try:
        expected = client.infer("half", [x, k]).as_numpy("z")
    finally:
        client.close()
    assert f"z float32 {list(expected.shape)}" in out
    assert np.array2string(expected, threshold=200, precision=6) in out


class _NotFound(http.server.BaseHTTPRequestHandler):
    """A REST server with no ``/v2/repository/`` routes, answering as FastAPI does (MLServer)."""

    def do_POST(self) -> None:
        body = b'{"detail":"Not Found"}'
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def bare_servers() -> Iterator[tuple[str, str]]:
    """An HTTP server and a gRPC server (no services) that know no model_repository extension."""
    rest = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=rest.serve_forever, daemon=True)
    thread.start()
    bare = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = bare.add_insecure_port("127.0.0.1:0")
    bare.start()
    try:
        yield f"http://127.0.0.1:{rest.server_address[1]}", f"grpc://127.0.0.1:{port}"
    finally:
        bare.stop(None)
        rest.shutdown()
        rest.server_close()
        thread.join()


def test_models_without_the_repository_extension(
    bare_servers: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for server in bare_servers:
        assert main(["models", "--protocol", "v2", "--server", server]) == 1
        err = capsys.readouterr().err
        assert "does not offer the Open Inference Protocol's model_repository extension" in err
        assert "shiba metadata --protocol v2 MODEL" in err
