"""TensorFlow Serving's command-line flags: one table, parsed the way its users write them.

Each row is (name, type, default, help, support). ``support`` is ``True`` for a flag shiba honours,
or the reason it does not yet: such a flag is accepted only at its default, and giving it explicitly
is a clear error rather than a silently ignored option.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Flag", "FLAGS", "parse_flags", "ParsedFlags", "build_parser"]

FlagType = Literal["int", "str", "bool", "float"]

_CPUS = os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    type: FlagType
    default: Any
    help: str
    support: bool | str = True


FLAGS: tuple[Flag, ...] = (
    Flag("port", "int", 8500, "Port to listen on for the gRPC API; 0 turns it off (shiba)"),
    Flag("grpc_socket_path", "str", "", "Also serve the gRPC API on this Unix socket"),
    Flag("rest_api_port", "int", 8501, "Port to listen on for the HTTP/REST API; 0 turns it off"),
    Flag(
        "rest_api_num_threads",
        "int",
        4 * _CPUS,
        "Threads that run models for HTTP/REST requests (without batching)",
    ),
    Flag("rest_api_timeout_in_ms", "int", 30000, "Timeout for HTTP/REST API calls"),
    Flag(
        "rest_api_enable_cors_support",
        "bool",
        False,
        "Answer CORS preflight requests and allow any origin",
    ),
    Flag("rest_api_host", "str", "0.0.0.0", "Address the HTTP/REST API listens on (shiba's own)"),
    Flag(
        "rest_api_max_body_bytes",
        "int",
        256 * 1024 * 1024,
        "Largest HTTP request body accepted, in bytes (shiba's own)",
    ),
    Flag(
        "web_ui",
        "bool",
        True,
        "Serve the web application at / on the REST port (shiba's own; false turns it off)",
    ),
    Flag("enable_batching", "bool", False, "Enable batching"),
    Flag(
        "allow_version_labels_for_unavailable_models",
        "bool",
        False,
        "Allow assigning labels to versions not yet available",
    ),
    Flag("batching_parameters_file", "str", "", "A text-format BatchingParameters file"),
    Flag(
        "model_config_file",
        "str",
        "",
        "A text-format ModelServerConfig file",
    ),
    Flag(
        "model_config_file_poll_wait_seconds",
        "int",
        0,
        "Seconds between reads of --model_config_file (0: read once)",
    ),
    Flag("model_name", "str", "default", "Name of the model (ignored with --model_config_file)"),
    Flag(
        "model_base_path",
        "str",
        "",
        "Path of the model's versions (ignored with --model_config_file)",
    ),
    Flag("max_num_load_retries", "int", 5, "Times a failed load is retried"),
    Flag("load_retry_interval_micros", "int", 60_000_000, "Microseconds between load retries"),
    Flag(
        "file_system_poll_wait_seconds",
        "int",
        1,
        "Seconds between polls of the model folders for new versions (0: look once)",
    ),
    Flag(
        "tensorflow_session_parallelism",
        "int",
        0,
        "Threads of a TensorFlow session (0: TensorFlow chooses)",
    ),
    Flag(
        "tensorflow_intra_op_parallelism",
        "int",
        0,
        "Threads within one TensorFlow op (0: TensorFlow chooses)",
    ),
    Flag(
        "tensorflow_inter_op_parallelism",
        "int",
        0,
        "TensorFlow ops run at once (0: TensorFlow chooses)",
    ),
    Flag(
        "enable_model_warmup",
        "bool",
        True,
        "Replay a version's warm-up records (assets.extra/tf_serving_warmup_requests) before"
        " serving it",
    ),
    Flag(
        "num_request_iterations_for_warmup",
        "int",
        1,
        "Times each warm-up record is run (used only if > 0)",
    ),
    Flag(
        "monitoring_config_file",
        "str",
        "",
        "A text-format MonitoringConfig file (Prometheus metrics on the REST port)",
    ),
    Flag(
        "grpc_channel_arguments",
        "str",
        "",
        "gRPC channel arguments, comma-separated key=value (grpc.max_receive_message_length=1024)",
    ),
    Flag(
        "grpc_max_threads",
        "int",
        4 * _CPUS,
        "When given, the most gRPC calls handled at once (more are refused with RESOURCE_EXHAUSTED);"
        " by default no limit, as shiba serves gRPC on its event loop, not on threads",
    ),
    Flag(
        "enable_grpc_healthcheck_service",
        "bool",
        False,
        "Serve the standard grpc.health.v1.Health service on the gRPC port",
    ),
    Flag(
        "enable_serialization_as_tensor_content",
        "bool",
        False,
        "Send gRPC predict outputs as tensor_content instead of the typed value lists",
    ),
    Flag(
        "ssl_config_file",
        "str",
        "",
        "A text-format SSLConfig (inline PEM server_key, server_cert, custom_ca; client_verify):"
        " TLS on the gRPC port and socket, and HTTPS on the REST port unless --rest_api_tls=false",
    ),
    Flag(
        "auth_token_file",
        "str",
        "",
        "A file of bearer tokens, one a line, re-read when it changes: every gRPC call and REST"
        " request (but health checks) then needs 'Authorization: Bearer <token>' (shiba's own)",
    ),
    Flag(
        "rest_api_tls",
        "bool",
        True,
        "With --ssl_config_file, serve HTTPS on the REST port too (shiba's own)",
    ),
    Flag(
        "platform_config_file",
        "str",
        "",
        "A text-format PlatformConfigMap: the tensorflow platform's session threads, batching,"
        " SavedModel tags and warm-up (replacing the flags that set them); other fields are"
        " refused by name",
    ),
    Flag(
        "saved_model_tags",
        "str",
        "serve",
        "Comma-separated tags of the SavedModel meta graph to load",
    ),
    Flag(
        "flush_filesystem_caches",
        "bool",
        True,
        "Flush file-system caches after the initial loads (no effect in shiba)",
    ),
    Flag(
        "enable_signature_method_name_check",
        "bool",
        False,
        "Check signatures' method_name (predict, classify, regress); leave off to classify and"
        " regress through a TF2 export's signatures",
    ),
    Flag(
        "per_process_gpu_memory_fraction",
        "float",
        0.0,
        "Fraction of each GPU's memory for TensorFlow",
        "needs a GPU; shiba serves on CPUs",
    ),
    Flag(
        "use_alts_credentials",
        "bool",
        False,
        "Use Google's ALTS credentials on the gRPC port",
        "ALTS works only on Google Cloud; use --ssl_config_file",
    ),
    Flag("num_load_threads", "int", 0, "Threads loading models (0: shiba's default of 2)"),
    Flag(
        "num_unload_threads",
        "int",
        0,
        "Threads unloading models (no effect in shiba: unloads wait for requests, not CPU)",
    ),
    Flag(
        "tensorflow_engine",
        "str",
        "auto",
        "Engine running SavedModel signatures: auto (OpenVINO where it converts and verifies, else"
        " TensorFlow), tensorflow, or openvino (shiba's own)",
    ),
    Flag(
        "onnx_engine",
        "str",
        "auto",
        "Engine running ONNX models: auto (OpenVINO where it compiles and verifies, else"
        " onnxruntime), onnxruntime, or openvino (shiba's own)",
    ),
    Flag(
        "model_repository",
        "str",
        "",
        "A folder whose subfolders are models the v2 API's POST /v2/repository/models/{m}/load"
        " may load by name; alone (no --model_name, --model_base_path, --model_config_file or"
        " MODEL_NAME), nothing is served until loaded (shiba's own)",
    ),
    Flag(
        "torch_engine",
        "str",
        "auto",
        "Engine running PyTorch models: auto (OpenVINO where it converts and verifies, else"
        " torch), torch, or openvino (shiba's own)",
    ),
    Flag("log_level", "str", "info", "Logging level: debug, info, warning, error (shiba's own)"),
    Flag(
        "ray",
        "bool",
        False,
        "Run the models as a Ray Serve deployment on a running Ray cluster; this process serves"
        " the REST and gRPC APIs and forwards to its replicas (shiba's own)",
    ),
    Flag(
        "ray_address",
        "str",
        "auto",
        "With --ray: the Ray cluster to join (auto: the one `ray start` runs here) (shiba's own)",
    ),
    Flag(
        "num_replicas",
        "str",
        "1",
        "With --ray: replicas each loading every model, or auto for Ray Serve's autoscaling"
        " (shiba's own)",
    ),
)

_BY_NAME = {f.name: f for f in FLAGS}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve models over TensorFlow Serving's REST API.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="store_true", help="Print the version and exit")
    for flag in FLAGS:
        help_text = flag.help + ("" if flag.support is True else f" [{flag.support}]")
        if flag.type == "bool":
            parser.add_argument(
                f"--{flag.name}",
                nargs="?",
                const=True,
                default=None,
                type=_parse_bool,
                metavar="true|false",
                help=f"{help_text} (default {str(flag.default).lower()})",
            )
        else:
            kind = {"int": int, "str": str, "float": float}[flag.type]
            parser.add_argument(
                f"--{flag.name}",
                type=kind,
                default=None,
                help=f"{help_text} (default {flag.default!r})",
            )
    return parser


@dataclass(frozen=True, slots=True)
class ParsedFlags:
    """Every flag's value (its default when not given) and the names given explicitly."""

    values: dict[str, Any]
    given: frozenset[str]
    version: bool

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def parse_flags(argv: Sequence[str], prog: str = "tensorflow_model_server") -> ParsedFlags:
    """Parses ``argv``; exits with code 2 and a clear message on an unknown or unsupported flag."""
    parser = build_parser(prog)
    namespace = parser.parse_args(list(argv))
    raw = vars(namespace)
    given = frozenset(name for name, value in raw.items() if value is not None and name in _BY_NAME)
    for name in sorted(given):
        flag = _BY_NAME[name]
        if flag.support is not True and raw[name] != flag.default:
            parser.error(f"--{name}: {flag.support}")
    values = {f.name: (raw[f.name] if raw[f.name] is not None else f.default) for f in FLAGS}
    return ParsedFlags(values, given, bool(raw["version"]))
