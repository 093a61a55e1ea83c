"""The front ends' options, built by ``shiba.config`` (kept apart so config imports no front end)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RestOptions", "GrpcOptions", "MonitoringOptions", "PROMETHEUS_PATH"]

#: Where TF Serving serves Prometheus metrics when the config names no path
#: (``PrometheusExporter::kPrometheusPath``).
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


@dataclass(frozen=True, slots=True)
class RestOptions:
    """The REST front end's options.

    ``timeout_seconds``: ``--rest_api_timeout_in_ms`` (30 s); a request still running then is
    answered 504. ``enable_cors``: ``--rest_api_enable_cors_support``. ``max_body_bytes``: a larger
    body is refused with 413 before it is read. ``inline_decode_bytes``: bodies up to this size are
    decoded on the event loop (cheaper than a thread hop); larger ones on a worker thread, so that a
    big image never stalls other requests.
    """

    timeout_seconds: float = 30.0
    enable_cors: bool = False
    max_body_bytes: int = 256 * 1024 * 1024
    inline_decode_bytes: int = 128 * 1024


@dataclass(frozen=True, slots=True)
class GrpcOptions:
    """The gRPC front end's options.

    ``tensor_content_outputs``: ``--enable_serialization_as_tensor_content``. False (TF Serving's
    default) writes numeric outputs in the typed lists (``float_val``...), which clients that read
    ``response.outputs[k].float_val`` rely on; True writes them as raw ``tensor_content`` bytes,
    which ``tf.make_ndarray`` reads and which is cheaper on both sides. Strings always go to
    ``string_val``. ``max_message_bytes``: the largest request or response (TF Serving allows
    2**31-1). ``channel_arguments``: ``--grpc_channel_arguments`` parsed into (key, value) pairs, a
    value being an int where it reads as one. ``inline_decode_bytes``: requests up to this size are
    parsed and decoded on the event loop, larger ones (and answers larger than it) on a worker
    thread, as ``RestOptions.inline_decode_bytes``.
    """

    tensor_content_outputs: bool = False
    max_message_bytes: int = 2**31 - 1
    channel_arguments: tuple[tuple[str, int | str], ...] = ()
    inline_decode_bytes: int = 128 * 1024


@dataclass(frozen=True, slots=True)
class MonitoringOptions:
    """``--monitoring_config_file``'s ``prometheus_config``.

    ``enabled``: record TF Serving's metrics and serve them, in the Prometheus text format, to
    ``GET`` requests for exactly ``path`` on the REST port. Off (TF Serving's default), nothing is
    recorded and ``path`` is not found like any other unknown path.
    """

    enabled: bool = False
    path: str = PROMETHEUS_PATH
