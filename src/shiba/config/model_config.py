"""``--model_config_file``: a text-format ModelServerConfig -> ``ModelConfig`` records.

Only ``model_config_list`` is read (``custom_model_config`` is TensorFlow Serving's extension point
for other sources and is refused). Each ``config`` takes ``name``, ``base_path``, ``model_platform``,
``model_version_policy`` (``latest { num_versions }``, ``all {}``, ``specific { versions }``) and
``version_labels`` (``{ key: "stable" value: 1 }``). Environment variables are not expanded, as in
TensorFlow Serving. Every problem is a ``ConfigError`` naming the file, the model and the field.

One field is shiba's own: ``tensorflow_engine: "auto" | "tensorflow" | "openvino"`` sets the
engine of that model's SavedModels (empty or absent: ``--tensorflow_engine``; ONNX models follow
``--onnx_engine`` alone). TensorFlow Serving does not know it and refuses a file that uses it; a
reload that changes it applies to versions loaded afterwards, as a changed ``base_path`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf import text_format

from shiba import _proto
from shiba.config._textproto import Message, Scalar, parse_config
from shiba.config.errors import ConfigError, read_config_file
from shiba.core.engines import ENGINE_SETTINGS
from shiba.core.lifecycle.source import ModelConfig
from shiba.core.lifecycle.version_policy import All, Latest, Specific, VersionPolicy
from shiba.runtimes.registry import RUNTIMES

if TYPE_CHECKING:
    from google.protobuf.message import Message as ProtoMessage

__all__ = [
    "model_configs_from_text",
    "model_configs_from_proto",
    "read_model_config_file",
    "model_config_text",
]

_CONFIG_FIELDS = {
    "name",
    "base_path",
    "model_platform",
    "model_version_policy",
    "version_labels",
    "logging_config",
    "model_type",
    "tensorflow_engine",  # shiba's own
}


def _one(
    message: Message, name: str, where: str, default: Scalar | Message | None = None
) -> object:
    values = message.fields.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise ConfigError(f"{where}: {name} is given {len(values)} times; give it once")
    return values[0]


def _string(message: Message, name: str, where: str) -> str:
    value = _one(message, name, where, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {name} must be a quoted string, got {value!r}")
    return value


def _int(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {what} must be an integer, got {value!r}")
    return value


def _policy(message: object, where: str) -> VersionPolicy:
    if message is None:
        return Latest()
    if not isinstance(message, Message) or len(message.fields) != 1:
        raise ConfigError(
            f"{where}: model_version_policy takes exactly one of latest {{...}}, all {{}}, "
            "specific {...}"
        )
    (kind, values), *_ = message.fields.items()
    body = values[-1]
    if not isinstance(body, Message):
        raise ConfigError(f"{where}: model_version_policy.{kind} must be a {{...}} block")
    if kind == "latest":
        num = _int(_one(body, "num_versions", where, 1), "latest.num_versions", where)
        if num < 1:
            raise ConfigError(f"{where}: latest.num_versions must be at least 1, got {num}")
        return Latest(num)
    if kind == "all":
        return All()
    if kind == "specific":
        versions = frozenset(
            _int(v, "specific.versions", where) for v in body.fields.get("versions", [])
        )
        if not versions:
            raise ConfigError(f"{where}: specific {{ versions: N }} lists no versions")
        return Specific(versions)
    raise ConfigError(f"{where}: unknown model_version_policy {kind!r}")


def _labels(values: list[Scalar | Message], where: str) -> dict[str, int]:
    labels: dict[str, int] = {}
    for entry in values:
        if not isinstance(entry, Message):
            raise ConfigError(f'{where}: version_labels takes {{ key: "label" value: N }}')
        key = _string(entry, "key", where)
        if not key:
            raise ConfigError(f"{where}: a version label needs a non-empty key")
        labels[key] = _int(_one(entry, "value", where, 0), f"version_labels[{key}]", where)
    return labels


def _model(message: Message, source: str, index: int) -> ModelConfig:
    where = f"{source}: model config #{index + 1}"
    unknown = set(message.fields) - _CONFIG_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    name = _string(message, "name", where)
    if not name:
        raise ConfigError(f"{where}: name is missing")
    where = f"{source}: model {name!r}"
    base_path = _string(message, "base_path", where)
    if not base_path:
        raise ConfigError(f"{where}: base_path is missing")
    platform = _string(message, "model_platform", where) or None
    if platform is not None and platform not in RUNTIMES:
        raise ConfigError(
            f"{where}: model_platform {platform!r} is not one shiba serves "
            f"({', '.join(sorted(RUNTIMES))})"
        )
    if "model_type" in message.fields or "logging_config" in message.fields:
        raise ConfigError(f"{where}: model_type and logging_config are not supported yet")
    engine = _string(message, "tensorflow_engine", where) or None
    if engine is not None and engine not in ENGINE_SETTINGS:
        raise ConfigError(
            f"{where}: tensorflow_engine must be {', '.join(ENGINE_SETTINGS[:-1])} or "
            f"{ENGINE_SETTINGS[-1]} (or empty for --tensorflow_engine), got {engine!r}"
        )
    return ModelConfig(
        name=name,
        base_path=Path(base_path),
        platform=platform,
        version_policy=_policy(_one(message, "model_version_policy", where), where),
        version_labels=_labels(message.fields.get("version_labels", []), where),
        engine=engine,
    )


def model_configs_from_text(text: str, source: str = "model config") -> tuple[ModelConfig, ...]:
    message = parse_config(text, source)
    unknown = set(message.fields) - {"model_config_list", "custom_model_config"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown field(s) {', '.join(sorted(unknown))} in ModelServerConfig"
        )
    if "custom_model_config" in message.fields:
        raise ConfigError(f"{source}: custom_model_config is not supported")
    model_list = _one(message, "model_config_list", source)
    if model_list is None:
        return ()
    if not isinstance(model_list, Message) or set(model_list.fields) - {"config"}:
        raise ConfigError(f"{source}: model_config_list takes config {{ ... }} entries only")
    models: list[ModelConfig] = []
    for index, entry in enumerate(model_list.fields.get("config", [])):
        if not isinstance(entry, Message):
            raise ConfigError(f"{source}: model config #{index + 1} must be a {{...}} block")
        models.append(_model(entry, source, index))
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: model name(s) given more than once: {', '.join(duplicates)}")
    return tuple(models)


def read_model_config_file(path: Path) -> tuple[str, tuple[ModelConfig, ...]]:
    """The file's text (to tell a changed file) and its models; ``ConfigError`` when it cannot
    be read, is not UTF-8 text, or describes no valid config."""
    text = read_config_file(path, "model_config_file")
    return text, model_configs_from_text(text, str(path))


def model_configs_from_proto(message: ProtoMessage) -> tuple[ModelConfig, ...]:
    """A ModelServerConfig message (HandleReloadConfigRequest's) -> models, by its text form, so
    that an RPC's config is checked by exactly the rules of a config file."""
    return model_configs_from_text(text_format.MessageToString(message), "reload request")


def model_config_text(models: Sequence[ModelConfig]) -> str:
    """``models`` as a text-format ModelServerConfig that ``model_configs_from_text`` reads back
    as the same records (for a config sent as text, as the Ray replicas' model config board
    carries it). The policy is always written out, so the default ``latest`` reads back equal."""
    config = _proto.ModelServerConfig()
    for model in models:
        entry = config.model_config_list.config.add(
            name=model.name, base_path=str(model.base_path), model_platform=model.platform or ""
        )
        policy = entry.model_version_policy
        match model.version_policy:
            case Latest(num_versions=num):
                policy.latest.num_versions = num
            case All():
                policy.all.SetInParent()
            case Specific(versions=versions):
                policy.specific.versions.extend(sorted(versions))
        entry.version_labels.update(model.version_labels)
        entry.tensorflow_engine = model.engine or ""
    if not models:  # an empty list still says model_config_list: every model goes
        config.model_config_list.SetInParent()
    return text_format.MessageToString(config)
