"""``read_config_file``: every config file reader's one way to read a user's text file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shiba.cli.main import main
from shiba.config.batching import batching_options_from_file
from shiba.config.errors import ConfigError, read_config_file
from shiba.config.model_config import read_model_config_file
from shiba.config.monitoring import monitoring_options_from_file
from shiba.config.platform import platform_config_from_file
from shiba.config.tls import server_tls_from_file

#: A comment with an "é" in Latin-1 (0xe9), on the second line, at byte 10.
LATIN_1 = "# ok\n# caf\u00e9\n".encode("latin-1")
_WHERE = "line 2: not UTF-8 text at byte 10 (0xe9)"


def test_utf8_text_is_read_with_text_mode_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_bytes("a: 1\r\nb: \u00e9\rc: 3\n".encode())
    assert read_config_file(path, "x") == "a: 1\nb: \u00e9\nc: 3\n"


def test_not_utf8_names_the_file_the_line_the_byte_and_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_bytes(LATIN_1)
    with pytest.raises(ConfigError) as info:
        read_config_file(path, "some_file")
    assert str(info.value) == f"{path}: {_WHERE}; save --some_file as UTF-8"


def test_a_truncated_sequence_at_the_end_is_located_too(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_bytes(b"a: 1\n\xc3")
    with pytest.raises(ConfigError, match=r"line 2: not UTF-8 text at byte 5 \(0xc3\)"):
        read_config_file(path, "x")


def test_unreadable_names_the_flag_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read --x .*nope: No such file"):
        read_config_file(tmp_path / "nope", "x")


_READERS: list[tuple[str, Callable[[Path], object]]] = [
    ("batching_parameters_file", batching_options_from_file),
    ("model_config_file", read_model_config_file),
    ("monitoring_config_file", monitoring_options_from_file),
    ("platform_config_file", platform_config_from_file),
    ("ssl_config_file", server_tls_from_file),
]


@pytest.mark.parametrize(("flag", "reader"), _READERS, ids=[flag for flag, _ in _READERS])
def test_every_reader_refuses_a_latin_1_file(
    tmp_path: Path, flag: str, reader: Callable[[Path], object]
) -> None:
    path = tmp_path / "file.conf"
    path.write_bytes(LATIN_1)
    with pytest.raises(ConfigError) as info:
        reader(path)
    assert str(info.value) == f"{path}: {_WHERE}; save --{flag} as UTF-8"


@pytest.mark.parametrize("flag", [flag for flag, _ in _READERS])
def test_a_latin_1_file_is_a_start_up_error_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    path = tmp_path / "file.conf"
    path.write_bytes(LATIN_1)
    argv = ["serve", "--model_base_path=/m", f"--{flag}={path}"]
    if flag == "batching_parameters_file":
        argv.append("--enable_batching")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{path}: {_WHERE}" in err and "Traceback" not in err
