"""TF Serving's metric families as TensorFlow declares them: names, help, labels and buckets.

Each ``Family`` constant below names the TF Serving or TensorFlow source that defines it;
``shiba.core.metrics`` records them and ``shiba.core._metrics_page`` shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shiba.core.errors import Code

__all__ = [
    "prometheus_name",
    "Family",
    "Histogram",
    "REQUEST_COUNT",
    "REQUEST_LATENCY",
    "LOAD_ATTEMPT_COUNT",
    "LOAD_LATENCY",
    "QUEUING_LATENCY",
    "WRAPPED_RUN_COUNT",
    "PROCESSED_BATCH_SIZE",
    "PADDING_SIZE",
    "SIGNATURE_ENGINE",
    "LabelValue",
    "Key",
]


def prometheus_name(tf_name: str) -> str:
    """A TensorFlow metric name as TF Serving's Prometheus exporter writes it.

    ``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``
    (util/prometheus_exporter.cc's GetPrometheusMetricName: each character outside
    ``[a-zA-Z0-9_]`` becomes ``:``, and a leading digit gets an ``_`` before it).
    """
    name = re.sub(r"[^a-zA-Z0-9_]", ":", tf_name)
    return "_" + name if name[:1].isdigit() else name


def _exponential(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """TensorFlow's ``monitoring::Buckets::Exponential``: ``count`` upper limits, ``scale`` and
    then each ``growth`` times the last, computed the same way (so the same doubles). A last
    bucket up to DBL_MAX follows them, shown as ``+Inf``."""
    limits: list[float] = []
    limit = scale
    for _ in range(count):
        limits.append(limit)
        limit *= growth
    return tuple(limits)


@dataclass(frozen=True, slots=True)
class Family:
    """A counter family as TensorFlow declares it (``monitoring::Counter``)."""

    tf_name: str
    help: str
    labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return prometheus_name(self.tf_name)


@dataclass(frozen=True, slots=True)
class Histogram(Family):
    """A histogram family as TensorFlow declares it (``monitoring::Sampler`` and its buckets)."""

    limits: tuple[float, ...]


# tensorflow_serving/servables/tensorflow/util.cc; recorded by model_servers/http_server.cc (REST)
# and model_servers/prediction_service_impl.cc (gRPC Predict, Classify, Regress).
REQUEST_COUNT = Family(
    "/tensorflow/serving/request_count",
    "The total number of requests.",
    ("model_name", "status"),
)
REQUEST_LATENCY = Histogram(
    "/tensorflow/serving/request_latency",
    "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
    ("model_name", "API", "entrypoint"),
    _exponential(10, 1.8, 33),  # up to ~20 minutes
)
# tensorflow/cc/saved_model/loader.cc (LoadSavedModel).
LOAD_ATTEMPT_COUNT = Family(
    "/tensorflow/cc/saved_model/load_attempt_count",
    "The number of times a SavedModel was successfully loaded.",
    ("model_path", "status"),
)
LOAD_LATENCY = Family(
    "/tensorflow/cc/saved_model/load_latency",
    "Latency in microseconds for SavedModels that were successfully loaded.",
    ("model_path",),
)
# tensorflow_serving/batching/batching_session.cc.
QUEUING_LATENCY = Histogram(
    "/tensorflow/serving/batching_session/queuing_latency",
    "Distribution of wall time spent (in microseconds) in queuing",
    ("thread_pool_name",),
    _exponential(100, 1.2, 52),  # up to ~1 second
)
WRAPPED_RUN_COUNT = Family(
    "/tensorflow/serving/batching_session/wrapped_run_count",
    "Total count of run calls on the wrapped session",
    (),
)
# tensorflow_serving/batching/batching_util.h (BatchingSessionTask::Name() is "batching_session").
PROCESSED_BATCH_SIZE = Histogram(
    "/tensorflow/serving/batching_session/processed_batch_size",
    "Tracks the batch size distribution on processing.",
    (),
    _exponential(1, 2, 14),
)
PADDING_SIZE = Histogram(
    "/tensorflow/serving/batching_session/padding_size",
    "Tracks the padding size distribution on batches.",
    ("execution_batch_size",),
    _exponential(1, 2, 14),
)

# shiba's own, a gauge (a Family for its name, help and labels): 1 for each signature of each
# loaded version, labelled with the runtime that loaded it (its platform), the engine serving it
# and why (the record GET /shiba/v1/models/
# {name} reads too); a version's rows go when it unloads.
SIGNATURE_ENGINE = Family(
    "/shiba/signature_engine",
    "Which engine serves each signature of each loaded model version, and why (shiba's own).",
    ("model_name", "model_version", "runtime", "signature_name", "engine", "reason"),
)

#: A label value as recorded: a string, a Code (shown by its name) or an int (shown in decimal).
LabelValue = str | Code | int
Key = tuple[LabelValue, ...]
