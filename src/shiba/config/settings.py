"""Flags and environment -> one frozen ``ServerSettings`` for ``shiba.server``.

This is the only module that reads the environment (``MODEL_NAME``, ``MODEL_BASE_PATH``), as
TensorFlow Serving's container image does: with no model flags, it serves
``${MODEL_BASE_PATH:-/models}/${MODEL_NAME:-model}`` under the name ``${MODEL_NAME:-model}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shiba.batching import BatchingOptions
from shiba.config.batching import batching_options_from_file
from shiba.config.errors import ConfigError
from shiba.config.flags import ParsedFlags
from shiba.config.model_config import read_model_config_file
from shiba.config.monitoring import monitoring_options_from_file
from shiba.config.platform import PLATFORM_FLAGS, platform_config_from_file
from shiba.config.tls import server_tls_from_file
from shiba.core.engines import ENGINE_SETTINGS, ONNX_ENGINE_SETTINGS, TORCH_ENGINE_SETTINGS
from shiba.core.lifecycle.manager import ManagerOptions
from shiba.core.lifecycle.source import ModelConfig
from shiba.core.service import ServiceOptions
from shiba.core.warmup import WarmupOptions
from shiba.protocols.auth import TokenFile, TokenFileError
from shiba.protocols.options import GrpcOptions, MonitoringOptions, RestOptions
from shiba.protocols.tls import ServerTls
from shiba.runtimes import openvino
from shiba.runtimes.base import RuntimeOptions

__all__ = ["ServerSettings", "ConfigError", "RayOptions", "settings_from_flags"]


@dataclass(frozen=True, slots=True)
class RayOptions:
    """``--ray``: the cluster's ``address`` and the replicas, a number or None for autoscaling."""

    address: str = "auto"
    num_replicas: int | None = 1


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything ``shiba.server`` needs, validated. ``rest_port`` 0 turns REST off."""

    models: tuple[ModelConfig, ...]
    rest_host: str
    rest_port: int
    rest: RestOptions
    service: ServiceOptions
    manager: ManagerOptions
    runtime: RuntimeOptions
    file_system_poll_seconds: float
    log_level: str
    batching: BatchingOptions | None = None
    warnings: tuple[str, ...] = ()
    model_config_file: Path | None = None
    model_config_text: str | None = None
    model_config_poll_seconds: float = 0.0
    allow_version_labels_for_unavailable_models: bool = False
    grpc_port: int = 0
    grpc_socket_path: str = ""
    grpc: GrpcOptions = field(default_factory=GrpcOptions)
    grpc_max_concurrent_rpcs: int | None = None
    monitoring: MonitoringOptions = field(default_factory=MonitoringOptions)
    tensorflow_engine: Literal["auto", "tensorflow", "openvino"] = "auto"
    onnx_engine: Literal["auto", "onnxruntime", "openvino"] = "auto"
    torch_engine: Literal["auto", "torch", "openvino"] = "auto"
    warmup: WarmupOptions = field(default_factory=WarmupOptions)
    model_repository: Path | None = None
    ray: RayOptions | None = None
    web_ui: bool = True
    tls: ServerTls | None = None
    auth: TokenFile | None = None
    grpc_health: bool = False


def settings_from_flags(
    flags: ParsedFlags, environ: Mapping[str, str] | None = None
) -> ServerSettings:
    env = os.environ if environ is None else environ
    config_path: Path | None = None
    config_text: str | None = None
    if flags["model_config_file"]:
        config_path = Path(flags["model_config_file"]).expanduser().absolute()
        config_text, models = read_model_config_file(config_path)
    elif flags["model_repository"] and not (
        {"model_name", "model_base_path"} & flags.given or "MODEL_NAME" in env
    ):
        models = ()  # only what the model repository API loads
    else:
        models = (_model_from_flags(flags, env),)
    repository = (
        Path(flags["model_repository"]).expanduser().absolute()
        if flags["model_repository"]
        else None
    )
    if repository is not None and not repository.is_dir():
        raise ConfigError(f"--model_repository={flags['model_repository']} is not a folder")
    if flags["model_config_file_poll_wait_seconds"] < 0:
        raise ConfigError("--model_config_file_poll_wait_seconds must not be negative")
    for name in ("rest_api_port", "rest_api_num_threads", "rest_api_timeout_in_ms"):
        if flags[name] < 0:
            raise ConfigError(f"--{name} must not be negative, got {flags[name]}")
    if flags["rest_api_port"] > 65535:
        raise ConfigError(f"--rest_api_port must be at most 65535, got {flags['rest_api_port']}")
    if not 0 <= flags["port"] <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {flags['port']}")
    if flags["rest_api_port"] == 0 and flags["port"] == 0 and not flags["grpc_socket_path"]:
        raise ConfigError(
            "--port=0 and --rest_api_port=0 turn both APIs off: nothing would be served"
        )
    if flags["rest_api_port"] and flags["rest_api_port"] == flags["port"]:
        raise ConfigError(f"--port and --rest_api_port are both {flags['port']}; give two ports")
    if flags["file_system_poll_wait_seconds"] < 0:
        raise ConfigError("--file_system_poll_wait_seconds must not be negative")
    warnings: list[str] = []
    runtime, batching, warmup = _platform_options(flags, warnings)
    monitoring = MonitoringOptions()
    if flags["monitoring_config_file"]:
        monitoring = monitoring_options_from_file(Path(flags["monitoring_config_file"]))
        if monitoring.enabled and not flags["rest_api_port"]:
            warnings.append(
                "--monitoring_config_file enables Prometheus metrics, but they are served on the"
                " REST port, which --rest_api_port=0 turns off"
            )
    tls: ServerTls | None = None
    if flags["ssl_config_file"]:
        tls = server_tls_from_file(Path(flags["ssl_config_file"]), rest=flags["rest_api_tls"])
    auth: TokenFile | None = None
    if flags["auth_token_file"]:
        try:
            auth = TokenFile(Path(flags["auth_token_file"]).expanduser().absolute())
        except TokenFileError as exc:
            raise ConfigError(str(exc)) from None
    _check_engine(flags, "tensorflow_engine", ENGINE_SETTINGS)
    _check_engine(flags, "onnx_engine", ONNX_ENGINE_SETTINGS)
    _check_engine(flags, "torch_engine", TORCH_ENGINE_SETTINGS)
    return ServerSettings(
        models=models,
        rest_host=flags["rest_api_host"],
        web_ui=flags["web_ui"],
        rest_port=flags["rest_api_port"],
        rest=RestOptions(
            timeout_seconds=(flags["rest_api_timeout_in_ms"] or 30000) / 1000.0,
            enable_cors=flags["rest_api_enable_cors_support"],
            max_body_bytes=flags["rest_api_max_body_bytes"],
        ),
        service=ServiceOptions(
            num_threads=max(1, flags["rest_api_num_threads"]),
            check_method_name=flags["enable_signature_method_name_check"],
        ),
        manager=ManagerOptions(
            num_load_threads=flags["num_load_threads"] or 2,
            max_num_load_retries=max(0, flags["max_num_load_retries"]),
            load_retry_interval_seconds=max(0, flags["load_retry_interval_micros"]) / 1e6,
        ),
        runtime=runtime,
        file_system_poll_seconds=float(flags["file_system_poll_wait_seconds"]),
        log_level=flags["log_level"],
        batching=batching,
        warnings=tuple(warnings),
        model_config_file=config_path,
        model_config_text=config_text,
        model_repository=repository,
        model_config_poll_seconds=float(flags["model_config_file_poll_wait_seconds"]),
        allow_version_labels_for_unavailable_models=flags[
            "allow_version_labels_for_unavailable_models"
        ],
        grpc_port=flags["port"],
        grpc_socket_path=flags["grpc_socket_path"],
        grpc=GrpcOptions(
            tensor_content_outputs=flags["enable_serialization_as_tensor_content"],
            channel_arguments=parse_channel_arguments(flags["grpc_channel_arguments"]),
        ),
        # gRPC calls run on the event loop, not on a thread pool: TF Serving's thread count becomes
        # a cap on calls at once only when it is given (its default of 4 per CPU would refuse a
        # client with 64 calls in flight).
        grpc_max_concurrent_rpcs=flags["grpc_max_threads"]
        if "grpc_max_threads" in flags.given and flags["grpc_max_threads"] > 0
        else None,
        monitoring=monitoring,
        tensorflow_engine=flags["tensorflow_engine"],
        onnx_engine=flags["onnx_engine"],
        torch_engine=flags["torch_engine"],
        warmup=warmup,
        ray=_ray_options(flags),
        tls=tls,
        auth=auth,
        grpc_health=flags["enable_grpc_healthcheck_service"],
    )


def _platform_options(
    flags: ParsedFlags, warnings: list[str]
) -> tuple[RuntimeOptions, BatchingOptions | None, WarmupOptions]:
    """The session, batching and warm-up options. As TF Serving: from ``--platform_config_file``
    when it is given, which then reads none of the flags it replaces (nor the batching file they
    name; a warning lists the ones given), else from those flags."""
    if flags["platform_config_file"]:
        options = platform_config_from_file(Path(flags["platform_config_file"])).options()
        replaced = sorted(PLATFORM_FLAGS & flags.given)
        if replaced:
            warnings.append(
                "--platform_config_file replaces "
                + ", ".join(f"--{name}" for name in replaced)
                + " (as in TF Serving); they are ignored"
            )
        return options
    batching: BatchingOptions | None = None
    if flags["enable_batching"]:
        path = flags["batching_parameters_file"]
        batching = batching_options_from_file(Path(path)) if path else BatchingOptions()
    elif flags["batching_parameters_file"]:
        warnings.append(
            "--batching_parameters_file is ignored without --enable_batching (as in TF Serving)"
        )
    intra = flags["tensorflow_intra_op_parallelism"] or flags["tensorflow_session_parallelism"]
    inter = flags["tensorflow_inter_op_parallelism"] or flags["tensorflow_session_parallelism"]
    runtime = RuntimeOptions(
        intra_op_threads=intra,
        inter_op_threads=inter,
        saved_model_tags=_saved_model_tags(flags["saved_model_tags"]),
    )
    warmup = WarmupOptions(
        enabled=flags["enable_model_warmup"],
        # TF Serving uses the flag only when it is > 0; its default is one run.
        iterations=max(1, flags["num_request_iterations_for_warmup"]),
    )
    return runtime, batching, warmup


def _ray_options(flags: ParsedFlags) -> RayOptions | None:
    """``--ray``, ``--ray_address`` and ``--num_replicas`` (a positive number or ``auto``)."""
    for name in ("ray_address", "num_replicas"):
        if name in flags.given and not flags["ray"]:
            raise ConfigError(f"--{name} needs --ray")
    if not flags["ray"]:
        return None
    text = str(flags["num_replicas"]).strip().lower()
    if text == "auto":
        return RayOptions(address=flags["ray_address"], num_replicas=None)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--num_replicas must be a positive number or auto, got {text!r}")
    return RayOptions(address=flags["ray_address"], num_replicas=int(text))


def _check_engine(flags: ParsedFlags, name: str, settings: tuple[str, ...]) -> None:
    """``--tensorflow_engine`` / ``--onnx_engine`` / ``--torch_engine``: one of ``settings``;
    ``openvino`` only when the package is installed."""
    engine = flags[name]
    if engine not in settings:
        raise ConfigError(
            f"--{name} must be {', '.join(settings[:-1])} or {settings[-1]}, got {engine!r}"
        )
    if engine == openvino.ENGINE and not openvino.available():
        raise ConfigError(f"--{name}=openvino needs OpenVINO: pip install 'shiba[openvino]'")


def _saved_model_tags(text: str) -> frozenset[str]:
    """``--saved_model_tags``: comma-separated, as TF Serving splits them (empty items dropped)."""
    tags = frozenset(tag.strip() for tag in text.split(",") if tag.strip())
    if not tags:
        raise ConfigError("--saved_model_tags must name at least one tag (TF Serving's is 'serve')")
    return tags


def parse_channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """``--grpc_channel_arguments``: ``key=value`` pairs separated by commas, as TF Serving reads
    them (an integer value is passed as an int, anything else as a string)."""
    pairs: list[tuple[str, int | str]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        value = value.strip()
        try:
            pairs.append((key.strip(), int(value)))
        except ValueError:
            pairs.append((key.strip(), value))
    return tuple(pairs)


def _model_from_flags(flags: ParsedFlags, env: Mapping[str, str]) -> ModelConfig:
    base_path: str = flags["model_base_path"]
    if "model_name" in flags.given:
        name: str = flags["model_name"]
    elif base_path:
        name = flags["model_name"]
    else:
        name = env.get("MODEL_NAME", "model")
    if not base_path:
        base_path = os.path.join(env.get("MODEL_BASE_PATH", "/models"), name)
    if not name:
        raise ConfigError("--model_name must not be empty")
    return ModelConfig(name=name, base_path=Path(base_path).expanduser().absolute())
