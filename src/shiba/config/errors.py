"""The configuration's one error type, and the read of a configuration file that raises it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "read_config_file"]


class ConfigError(Exception):
    """The flags, environment or files do not describe a server that can start."""


def read_config_file(path: Path, flag: str) -> str:
    """The text of the file ``--flag`` names, read as UTF-8 (line ends as Python's text mode
    reads them: ``\\r\\n`` and ``\\r`` become ``\\n``).

    Every reader of a user's text file under ``shiba.config`` reads it through here, so each
    raises the same ``ConfigError`` for the same fault: ``cannot read --flag PATH: REASON`` when
    the system cannot read it, ``PATH: line L: not UTF-8 text at byte N (...)`` when its bytes are
    not UTF-8 (N counts from 0, as ``cmp`` and hex dumps do; L from 1, as editors do).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read --{flag} {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text at byte {exc.start} "
            f"(0x{data[exc.start]:02x}); save --{flag} as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
