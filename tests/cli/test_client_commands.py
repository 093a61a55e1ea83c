"""``shiba predict``, ``models`` and ``metadata`` against the real server: answers, exit codes and
the server's error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from shiba.cli.main import main
from shiba.cli.predict import top_classes
from tests._zoo import IMAGES, Zoo, predict_half
from tests.integration.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def shiba(zoo: Zoo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--server", zoo.rest])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_image_top_with_labels(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = shiba(
        zoo, capsys, "predict", "ViT", "--image", str(IMAGES / "digit_5.png"), "--top", "3"
    )
    assert code == 0, err
    first = next(line for line in out.splitlines() if line.startswith("│ 1 "))
    assert first.split("│")[2:4] == [" 5     ", " 5     "]


def test_predict_over_grpc(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    done = predict_half("--server", f"grpc://{zoo.grpc}")
    assert done.returncode == 0, done.stderr
    assert "z float32 [1, 1]" in done.stdout and "[[6.]]" in done.stdout


def test_predict_npy_and_npz(zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    np.savez(tmp_path / "in.npz", x=np.array([[4.0]]), k=np.array([[2]]))
    code, out, _ = shiba(zoo, capsys, "predict", "half", "--npy", str(tmp_path / "in.npz"))
    assert code == 0 and "[[8.]]" in out
    np.save(tmp_path / "text.npy", np.array(["hi"]))
    code, out, _ = shiba(zoo, capsys, "predict", "echo", "--npy", str(tmp_path / "text.npy"))
    assert code == 0 and "hi" in out


def test_server_error_is_exit_1_with_its_message(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = tmp_path / "bad.json"
    body.write_text(json.dumps({"inputs": {"x": [[1.0, 2.0]], "k": [[1]]}}))
    code, _, err = shiba(zoo, capsys, "predict", "half", "--json", str(body))
    assert code == 1
    assert "error from the server (INVALID_ARGUMENT)" in err
    code, _, err = shiba(zoo, capsys, "metadata", "nope")
    assert code == 1 and "Servable not found for request: Latest(nope)" in err


def test_usage_errors_are_exit_2(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = shiba(zoo, capsys, "predict", "half", "--image", str(IMAGES / "digit_1.png"))
    assert code == 2 and "--image needs a signature with one image input" in err
    (tmp_path / "broken.json").write_text("{")
    code, _, err = shiba(zoo, capsys, "predict", "half", "--json", str(tmp_path / "broken.json"))
    assert code == 2 and "not JSON" in err
    (tmp_path / "latin.json").write_bytes('{"inputs": "caf\u00e9"}'.encode("latin-1"))
    code, _, err = shiba(zoo, capsys, "predict", "half", "--json", str(tmp_path / "latin.json"))
    assert code == 2 and "latin.json: not UTF-8 text" in err and "Traceback" not in err
    code, _, err = shiba(zoo, capsys, "predict", "half", "--json", "x", "--signature", "nope")
    assert code == 2 and "has no signature 'nope'; it has: serving_default" in err
    with pytest.raises(SystemExit) as exc:
        main(["predict", "half"])
    assert exc.value.code == 2
    assert "one of the arguments --image --npy --json is required" in capsys.readouterr().err


def test_no_server_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--server", f"http://127.0.0.1:{free_port()}"]) == 3
    assert "cannot connect" in capsys.readouterr().err


def test_models_and_metadata_tables(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = shiba(zoo, capsys, "models")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("│ ") and "AVAILABLE" in line]
    assert [row.split("│")[1].strip() for row in rows] == ["ViT", "echo", "grey", "half"]
    assert "10 classes" in out
    code, out, _ = shiba(zoo, capsys, "metadata", "half")
    assert code == 0 and "DT_INT64" in out and "[-1, 1]" in out


def test_top_classes_order() -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.2]])
    assert top_classes(scores, 3) == [[(1, 0.5), (2, 0.5), (3, 0.2)]]


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("predict", "models", "metadata", "bench"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert f"usage: shiba {command}" in capsys.readouterr().out


@pytest.mark.parametrize("transport", ["rest", "grpc"])
@pytest.mark.parametrize("protocol", ["tfserving", "v2"])
def test_bench_writes_its_plots(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path, transport: str, protocol: str
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"inputs": {"x": [[1.0]], "k": [[2]]}}))
    server = zoo.rest if transport == "rest" else f"grpc://{zoo.grpc}"
    args = ["bench", "half", "--json", str(body), "-n", "40", "-c", "2", "--warmup", "0"]
    args += ["--protocol", protocol]
    code = main([*args, "--out", str(tmp_path / "out"), "--server", server])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"│ answers\s+│\s+40 │", out) and "latency p99 (ms)" in out
    assert re.search(r"│ bench CPU per request \(µs\)\s+│\s+[\d.]+ │", out)
    for name in ("latency.png", "throughput.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_counts_server_errors(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"inputs": {"x": [[1.0, 2.0]], "k": [[2]]}}))
    args = ["bench", "half", "--json", str(body), "-n", "5", "-c", "1", "--warmup", "0"]
    assert main([*args, "--out", str(tmp_path), "--server", zoo.rest]) == 1
    assert "first error: HTTP 400" in capsys.readouterr().err
    grpc_args = [
        *args,
        "--protocol",
        "v2",
        "--out",
        str(tmp_path),
        "--server",
        f"grpc://{zoo.grpc}",
    ]
    assert main(grpc_args) == 1
    assert "first error: INVALID_ARGUMENT: " in capsys.readouterr().err


def test_bench_with_nothing_listening_is_unreachable_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")
    args = ["bench", "half", "--body", str(body), "-n", "1", "--warmup", "0"]
    assert main([*args, "--server", f"http://127.0.0.1:{free_port()}"]) == 3
    assert "cannot connect (REST http://127.0.0.1:" in capsys.readouterr().err
    assert main([*args, "--server", f"grpc://127.0.0.1:{free_port()}"]) == 2
    assert "--body is sent over REST: give an http:// or https:// --server" in (
        capsys.readouterr().err
    )
