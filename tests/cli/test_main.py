from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shiba.cli.main import main, tensorflow_model_server

BIN = Path(sys.executable).parent


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert "shiba" in capsys.readouterr().out
    assert tensorflow_model_server(["--version"]) == 0


def test_unknown_flag_is_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        tensorflow_model_server(["--model_base_path=/m", "--bogus=1"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --bogus=1" in capsys.readouterr().err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_config_error_is_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model_base_path=/m", "--rest_api_port=0", "--port=0"]) == 2
    assert "turn both APIs off" in capsys.readouterr().err


@pytest.mark.slow
def test_entry_points_are_installed() -> None:
    for command in ("shiba", "tensorflow_model_server"):
        done = subprocess.run(
            [str(BIN / command), "--help"]
            if command != "shiba"
            else [str(BIN / command), "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "--model_base_path" in done.stdout
        assert "--rest_api_port" in done.stdout
