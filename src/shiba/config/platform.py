"""``--platform_config_file``: TensorFlow Serving's text-format ``PlatformConfigMap``.

TensorFlow Serving reads, for the ``tensorflow`` platform, a ``SavedModelBundleSourceAdapterConfig``
in an ``Any``, whose ``legacy_config`` (a ``SessionBundleConfig``) carries the session and batching
options; when the file is given, it replaces the flags that set the same things::

    platform_configs {
      key: "tensorflow"
      value {
        source_adapter_config {
          [type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] {
            legacy_config {
              session_config { intra_op_parallelism_threads: 2 inter_op_parallelism_threads: 2 }
              batching_parameters { max_batch_size { value: 32 } }
              saved_model_tags: "serve"
              enable_model_warmup: true
              model_warmup_options { num_request_iterations { value: 2 } }
            }
          }
        }
      }
    }

What matters on a CPU is honoured: ``session_config``'s ``intra_op_parallelism_threads``,
``inter_op_parallelism_threads`` and ``use_per_session_threads``; ``batching_parameters`` (as
``--batching_parameters_file``, and turning batching on, as in TensorFlow Serving);
``saved_model_tags``; ``enable_model_warmup`` and ``model_warmup_options.num_request_iterations``;
``session_target: ""``. Every other field (GPU options, remote session targets, TFRT, TFLite...) is
refused by name, as is a platform other than ``tensorflow``: a ``ConfigError`` naming the file,
the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shiba.batching import BatchingOptions
from shiba.config._textproto import Message, Scalar, parse_config
from shiba.config.batching import batching_options_from_message
from shiba.config.errors import ConfigError, read_config_file
from shiba.core.warmup import WarmupOptions
from shiba.runtimes.base import RuntimeOptions

__all__ = [
    "PLATFORM_FLAGS",
    "PlatformConfig",
    "platform_config_from_file",
    "platform_config_from_text",
]

#: The flags a platform config file replaces (TF Serving ignores them when it is given).
PLATFORM_FLAGS = frozenset(
    {
        "enable_batching",
        "batching_parameters_file",
        "tensorflow_session_parallelism",
        "tensorflow_intra_op_parallelism",
        "tensorflow_inter_op_parallelism",
        "saved_model_tags",
        "enable_model_warmup",
        "num_request_iterations_for_warmup",
    }
)

_ADAPTER = "[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig]"
_SESSION_FIELDS = frozenset(
    {"intra_op_parallelism_threads", "inter_op_parallelism_threads", "use_per_session_threads"}
)
_LEGACY_FIELDS = frozenset(
    {
        "session_target",
        "session_config",
        "batching_parameters",
        "saved_model_tags",
        "enable_model_warmup",
        "model_warmup_options",
    }
)


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    """What a platform config file sets; ``None`` leaves the server's default."""

    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    use_per_session_threads: bool | None = None
    batching: BatchingOptions | None = None
    saved_model_tags: frozenset[str] | None = None
    enable_model_warmup: bool | None = None
    warmup_iterations: int | None = None

    def options(self) -> tuple[RuntimeOptions, BatchingOptions | None, WarmupOptions]:
        """The runtime, batching and warm-up options it describes (defaults where it is silent);
        batching is on exactly when it has ``batching_parameters``."""
        runtime = RuntimeOptions(
            intra_op_threads=self.intra_op_threads or 0,
            inter_op_threads=self.inter_op_threads or 0,
            use_per_session_threads=bool(self.use_per_session_threads),
            **({"saved_model_tags": self.saved_model_tags} if self.saved_model_tags else {}),
        )
        warmup = WarmupOptions(
            enabled=self.enable_model_warmup is not False,
            iterations=max(1, self.warmup_iterations or 1),
        )
        return runtime, self.batching, warmup


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, message: Message, name: str, text: str) -> ConfigError:
        lines = message.lines.get(name) or [0]
        return ConfigError(f"{self.where}: line {lines[0]}: {text}")

    def only(self, message: Message, known: frozenset[str], what: str) -> None:
        for name in message.fields:
            if name not in known:
                raise self.fail(
                    message,
                    name,
                    f"{name} in {what} is not supported (shiba honours "
                    f"{', '.join(sorted(known)) or 'nothing'} there)",
                )

    def one(self, message: Message, name: str) -> Scalar | Message | None:
        values = message.fields.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise self.fail(message, name, f"{name} is given {len(values)} times; give it once")
        return values[0]

    def block(self, message: Message, name: str) -> Message | None:
        value = self.one(message, name)
        if value is not None and not isinstance(value, Message):
            raise self.fail(message, name, f"{name} takes a {{ ... }} block")
        return value

    def integer(self, message: Message, name: str) -> int | None:
        value = self.one(message, name)
        if isinstance(value, Message):  # a google.protobuf.Int32Value
            self.only(value, frozenset({"value"}), name)
            value = self.one(value, "value") if "value" in value.fields else 0
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(message, name, f"{name} must be a non-negative integer, got {value!r}")
        return value

    def boolean(self, message: Message, name: str) -> bool | None:
        value = self.one(message, name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(message, name, f"{name} must be true or false, got {value!r}")
        return value


def platform_config_from_text(text: str, where: str = "platform config") -> PlatformConfig:
    """Parses a ``PlatformConfigMap``; every error names ``where`` (the file) and the field."""
    root = parse_config(text, where)
    read = _Reader(where)
    read.only(root, frozenset({"platform_configs"}), "PlatformConfigMap")
    legacy: Message | None = None
    for entry in root.fields.get("platform_configs", []):
        if not isinstance(entry, Message):
            raise read.fail(root, "platform_configs", "platform_configs takes a { ... } block")
        read.only(entry, frozenset({"key", "value"}), "platform_configs")
        key = read.one(entry, "key")
        if key != "tensorflow":
            raise read.fail(
                entry, "key", f'platform {key!r} is not supported: shiba reads "tensorflow" only'
            )
        value = read.block(entry, "value") or Message()
        read.only(value, frozenset({"source_adapter_config"}), "PlatformConfig")
        adapter = read.block(value, "source_adapter_config") or Message()
        read.only(adapter, frozenset({_ADAPTER}), "source_adapter_config")
        config = read.block(adapter, _ADAPTER) or Message()
        read.only(config, frozenset({"legacy_config"}), "SavedModelBundleSourceAdapterConfig")
        legacy = read.block(config, "legacy_config") or Message()
    if legacy is None:
        return PlatformConfig()
    read.only(legacy, _LEGACY_FIELDS, "legacy_config")
    target = read.one(legacy, "session_target")
    if target not in (None, ""):
        raise read.fail(legacy, "session_target", "session_target must be empty (a local session)")
    session = read.block(legacy, "session_config") or Message()
    read.only(session, _SESSION_FIELDS, "session_config")
    batching_message = read.block(legacy, "batching_parameters")
    batching = (
        batching_options_from_message(batching_message, f"{where}: batching_parameters")
        if batching_message is not None
        else None
    )
    tags: frozenset[str] | None = None
    if "saved_model_tags" in legacy.fields:
        values = legacy.fields["saved_model_tags"]
        if not all(isinstance(tag, str) and tag for tag in values):
            raise read.fail(legacy, "saved_model_tags", "saved_model_tags must be quoted strings")
        tags = frozenset(str(tag) for tag in values)
    iterations: int | None = None
    warmup = read.block(legacy, "model_warmup_options")
    if warmup is not None:
        read.only(warmup, frozenset({"num_request_iterations"}), "model_warmup_options")
        iterations = read.integer(warmup, "num_request_iterations")
    return PlatformConfig(
        intra_op_threads=read.integer(session, "intra_op_parallelism_threads"),
        inter_op_threads=read.integer(session, "inter_op_parallelism_threads"),
        use_per_session_threads=read.boolean(session, "use_per_session_threads"),
        batching=batching,
        saved_model_tags=tags,
        enable_model_warmup=read.boolean(legacy, "enable_model_warmup"),
        warmup_iterations=iterations,
    )


def platform_config_from_file(path: Path) -> PlatformConfig:
    """Reads ``path`` and parses it; a file that cannot be read or is not UTF-8
    text is a ``ConfigError`` too."""
    text = read_config_file(path, "platform_config_file")
    return platform_config_from_text(text, str(path))
