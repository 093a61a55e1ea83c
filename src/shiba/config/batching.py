"""``--batching_parameters_file`` (text-format BatchingParameters) -> ``BatchingOptions``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shiba.batching import BatchingOptions
from shiba.config._textproto import Message, parse_config
from shiba.config.errors import ConfigError, read_config_file
from shiba.core.errors import ShibaError

__all__ = [
    "batching_options_from_file",
    "batching_options_from_message",
    "batching_options_from_text",
]

_WRAPPED_INTS = (
    "max_batch_size",
    "batch_timeout_micros",
    "max_enqueued_batches",
    "num_batch_threads",
)
_UNSUPPORTED = (
    "thread_pool_name",
    "enable_large_batch_splitting",
    "max_execution_batch_size",
    "batch_padding_policy",
    "mixed_priority_batching_policy",
    "low_priority_max_batch_size",
    "low_priority_batch_timeout_micros",
    "low_priority_allowed_batch_sizes",
    "low_priority_max_enqueued_batches",
    "enable_priority_batching",
)


def _single(message: Message, name: str, where: str) -> Any:
    values = message.fields[name]
    if len(values) != 1:
        raise ConfigError(f"{where}: {name} is given {len(values)} times; give it once")
    return values[0]


def _wrapped_int(message: Message, name: str, where: str) -> int:
    value = _single(message, name, where)
    if isinstance(value, Message):  # google.protobuf.Int64Value: { value: N }
        if set(value.fields) - {"value"}:
            raise ConfigError(f"{where}: {name} takes {{ value: N }}")
        value = _single(value, "value", where) if "value" in value.fields else 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {name} must be an integer, got {value!r}")
    return value


def batching_options_from_text(text: str, where: str = "batching parameters") -> BatchingOptions:
    return batching_options_from_message(parse_config(text, where), where)


def batching_options_from_message(message: Message, where: str) -> BatchingOptions:
    """A parsed BatchingParameters (a file's, or a platform config's ``batching_parameters``)."""
    kwargs: dict[str, Any] = {}
    for name in message.fields:
        if name in _WRAPPED_INTS:
            kwargs[name] = _wrapped_int(message, name, where)
        elif name == "allowed_batch_sizes":
            sizes = message.fields[name]
            if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
                raise ConfigError(f"{where}: allowed_batch_sizes must be integers")
            kwargs[name] = tuple(sizes)
        elif name == "pad_variable_length_inputs":
            value = _single(message, name, where)
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: pad_variable_length_inputs must be true or false")
            kwargs[name] = value
        elif name in _UNSUPPORTED:
            raise ConfigError(f"{where}: {name} is not supported yet")
        else:
            raise ConfigError(f"{where}: unknown field {name!r} in BatchingParameters")
    try:
        return BatchingOptions(**kwargs)
    except ShibaError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None


def batching_options_from_file(path: Path) -> BatchingOptions:
    """Reads ``path`` and parses it; a file that cannot be read (or is not UTF-8 text) is a
    ``ConfigError`` too."""
    text = read_config_file(path, "batching_parameters_file")
    return batching_options_from_text(text, str(path))
