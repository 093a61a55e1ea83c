"""The configuration's one error type."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """The flags, environment or files do not describe a server that can start."""
