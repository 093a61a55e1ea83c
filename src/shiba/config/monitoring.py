"""``--monitoring_config_file``: a text-format MonitoringConfig -> ``MonitoringOptions``.

MonitoringConfig (tensorflow_serving/config/monitoring_config.proto) has one field,
``prometheus_config``, a PrometheusConfig with two: ``enable`` (a bool) and ``path`` (a string;
empty or absent means TF Serving's ``/monitoring/prometheus/metrics``)::

    prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }

A file without ``enable: true`` (an empty one included) leaves monitoring off, as in TF Serving. Any
other field, a field given twice or a value of the wrong type is refused, as TF Serving's text-format
parser refuses it; so is a ``path`` that does not start with ``/`` (no request could reach it).
Every problem is a ``ConfigError`` naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path

from shiba.config._textproto import Message, Scalar, parse_config
from shiba.config.errors import ConfigError, read_config_file
from shiba.protocols.options import PROMETHEUS_PATH, MonitoringOptions

__all__ = ["monitoring_options_from_file", "monitoring_options_from_text"]


def _check_fields(message: Message, known: frozenset[str], what: str, where: str) -> None:
    for name, lines in message.lines.items():
        if name not in known:
            raise ConfigError(f"{where}: line {lines[0]}: unknown field {name!r} in {what}")


def _one(message: Message, name: str, where: str) -> tuple[Scalar | Message, int] | None:
    """The one value of field ``name`` and the line it is on, or None when it is absent."""
    values = message.fields.get(name)
    if not values:
        return None
    lines = message.lines[name]
    if len(values) > 1:
        raise ConfigError(
            f"{where}: line {lines[1]}: {name} is given {len(values)} times; give it once"
        )
    return values[0], lines[0]


_MONITORING_FIELDS = frozenset({"prometheus_config"})
_PROMETHEUS_FIELDS = frozenset({"enable", "path"})


def monitoring_options_from_text(text: str, where: str = "monitoring config") -> MonitoringOptions:
    """Parses a MonitoringConfig; ``where`` (the file) starts every error message."""
    message = parse_config(text, where)
    _check_fields(message, _MONITORING_FIELDS, "MonitoringConfig", where)
    found = _one(message, "prometheus_config", where)
    if found is None:
        return MonitoringOptions()
    config, line = found
    if not isinstance(config, Message):
        raise ConfigError(f"{where}: line {line}: prometheus_config takes a {{ ... }} block")
    _check_fields(config, _PROMETHEUS_FIELDS, "PrometheusConfig", where)
    enabled = False
    path = ""
    enable = _one(config, "enable", where)
    if enable is not None:
        value, line = enable
        # Text format reads a bool as true/false/t/f (the parser's True/False) or as 1/0.
        if isinstance(value, bool):
            enabled = value
        elif isinstance(value, int) and value in (0, 1):
            enabled = bool(value)
        else:
            raise ConfigError(f"{where}: line {line}: enable must be true or false, got {value!r}")
    found_path = _one(config, "path", where)
    if found_path is not None:
        value, line = found_path
        if not isinstance(value, str):
            raise ConfigError(f"{where}: line {line}: path must be a quoted string, got {value!r}")
        if value and not value.startswith("/"):
            raise ConfigError(
                f'{where}: line {line}: path must start with "/" (it is matched against the '
                f"request's path), got {value!r}"
            )
        path = value
    return MonitoringOptions(enabled=enabled, path=path or PROMETHEUS_PATH)


def monitoring_options_from_file(path: Path) -> MonitoringOptions:
    """Reads and parses ``path``; a file that cannot be read or is not UTF-8
    text is a ``ConfigError`` too."""
    text = read_config_file(path, "monitoring_config_file")
    return monitoring_options_from_text(text, str(path))
