"""The configuration's one error type, and the read of a configuration file that raises it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "read_config_file"]


class ConfigError(Exception):
    """The flags, environment or files do not describe a server that can start."""


def read_config_file(path: Path, flag: str) -> str:
    """The text of the file ``--flag`` names; ``ConfigError`` naming the flag, the file and the
    reason (the system's, or the decoding error) when it cannot be read as UTF-8 text."""
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read --{flag} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read --{flag} {path}: {exc}") from None
