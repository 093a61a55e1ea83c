"""TensorFlow Serving's metrics, defined in this one place, recorded cheaply, shown to Prometheus.

Each family keeps TensorFlow Serving's name (as its Prometheus exporter writes it: every character
outside ``[a-zA-Z0-9_]`` becomes ``:``), labels, unit (microseconds) and buckets, so that dashboards
and alerts written against TF Serving read shiba's page unchanged. The definitions are the
``_Family`` constants below, each naming the TF Serving or TensorFlow source that defines it.

Who records what: the front ends call :meth:`Metrics.record_request` (or use
:meth:`Metrics.time_request`) once per request; the composition root wraps each loader in
:meth:`Metrics.timed_loader` and gives the batcher :meth:`Metrics.record_batch` as its ``on_batch``.

One family is shiba's own, in its own namespace so that no TF Serving family changes:
``:shiba:signature_engine`` (:data:`SIGNATURE_ENGINE`), read at render time from the
``ServingEngines`` given to :class:`Metrics`, and shown after TF Serving's families.

Recording a request is one dict lookup and a few list updates under one uncontended lock: 0.7 µs in
a tight loop, about 3 µs added to an in-process REST predict (``benchmarks/metrics_overhead.py``).
prometheus_client objects are built only when the page is rendered, and the package itself is
imported when the first :class:`Metrics` is made (about 20 ms), so a server without monitoring
never loads it.
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar, cast

from shiba.core.errors import Code, ShibaError
from shiba.core.loader import Loader
from shiba.core.servable import Servable

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

    from shiba.core.engines import ServingEngines

__all__ = ["Metrics", "RequestTimer", "prometheus_name", "CONTENT_TYPE"]

#: The page's content type: the Prometheus text format 0.0.4. (TF Serving sends plain
#: ``text/plain``, which Prometheus reads as the same format.)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
class _Family:
    """A counter family as TensorFlow declares it (``monitoring::Counter``)."""

    tf_name: str
    help: str
    labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return prometheus_name(self.tf_name)


@dataclass(frozen=True, slots=True)
class _Histogram(_Family):
    """A histogram family as TensorFlow declares it (``monitoring::Sampler`` and its buckets)."""

    limits: tuple[float, ...]


# tensorflow_serving/servables/tensorflow/util.cc; recorded by model_servers/http_server.cc (REST)
# and model_servers/prediction_service_impl.cc (gRPC Predict, Classify, Regress).
REQUEST_COUNT = _Family(
    "/tensorflow/serving/request_count",
    "The total number of requests.",
    ("model_name", "status"),
)
REQUEST_LATENCY = _Histogram(
    "/tensorflow/serving/request_latency",
    "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
    ("model_name", "API", "entrypoint"),
    _exponential(10, 1.8, 33),  # up to ~20 minutes
)
# tensorflow/cc/saved_model/loader.cc (LoadSavedModel).
LOAD_ATTEMPT_COUNT = _Family(
    "/tensorflow/cc/saved_model/load_attempt_count",
    "The number of times a SavedModel was successfully loaded.",
    ("model_path", "status"),
)
LOAD_LATENCY = _Family(
    "/tensorflow/cc/saved_model/load_latency",
    "Latency in microseconds for SavedModels that were successfully loaded.",
    ("model_path",),
)
# tensorflow_serving/batching/batching_session.cc.
QUEUING_LATENCY = _Histogram(
    "/tensorflow/serving/batching_session/queuing_latency",
    "Distribution of wall time spent (in microseconds) in queuing",
    ("thread_pool_name",),
    _exponential(100, 1.2, 52),  # up to ~1 second
)
WRAPPED_RUN_COUNT = _Family(
    "/tensorflow/serving/batching_session/wrapped_run_count",
    "Total count of run calls on the wrapped session",
    (),
)
# tensorflow_serving/batching/batching_util.h (BatchingSessionTask::Name() is "batching_session").
PROCESSED_BATCH_SIZE = _Histogram(
    "/tensorflow/serving/batching_session/processed_batch_size",
    "Tracks the batch size distribution on processing.",
    (),
    _exponential(1, 2, 14),
)
PADDING_SIZE = _Histogram(
    "/tensorflow/serving/batching_session/padding_size",
    "Tracks the padding size distribution on batches.",
    ("execution_batch_size",),
    _exponential(1, 2, 14),
)

# shiba's own, a gauge (a _Family for its name, help and labels): 1 for each signature of each
# loaded version, labelled with the engine serving it and why (the record GET /shiba/v1/models/
# {name} reads too); a version's rows go when it unloads.
SIGNATURE_ENGINE = _Family(
    "/shiba/signature_engine",
    "Which engine serves each signature of each loaded model version, and why (shiba's own).",
    ("model_name", "model_version", "signature_name", "engine", "reason"),
)

_LOAD_SUCCESS = "success"  # loader.cc's kLoadAttemptSuccess
_LOAD_FAIL = "fail"  # loader.cc's kLoadAttemptFail
# The batching session's label: TF Serving's model server creates it with thread_pool_name "".
_THREAD_POOL_NAME = ""

#: A label value as recorded: a string, a Code (shown by its name) or an int (shown in decimal).
_LabelValue = str | Code | int
_Key = tuple[_LabelValue, ...]
_V = TypeVar("_V")


class _Counts:
    """Counter cells: an integer per label-value tuple. Thread-safe."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[_Key, int] = {}

    def add(self, key: _Key, amount: int = 1) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def items(self) -> list[tuple[_Key, int]]:
        with self._lock:
            return list(self._values.items())


class _Histograms:
    """Histogram cells with fixed limits, one per label-value tuple. Thread-safe.

    A cell is the count of each bucket (the last one up to +Inf) followed by the sum. A value lands
    in the first bucket whose limit is *greater* than it (TensorFlow's ``Histogram::Add`` uses
    ``upper_bound``), so a value equal to a limit counts in the next bucket, as on TF Serving's page.
    """

    __slots__ = ("_cells", "_limits", "_lock", "_size")

    def __init__(self, limits: tuple[float, ...]) -> None:
        self._limits = limits
        self._size = len(limits) + 2
        self._lock = threading.Lock()
        self._cells: dict[_Key, list[float]] = {}

    def add(self, key: _Key, value: float) -> None:
        index = bisect_right(self._limits, value)
        with self._lock:
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = [0.0] * self._size
            cell[index] += 1
            cell[-1] += value

    def items(self) -> list[tuple[_Key, list[float]]]:
        with self._lock:
            return [(key, list(cell)) for key, cell in self._cells.items()]


class RequestTimer:
    """Times one request from ``__enter__`` to ``__exit__`` and records it there.

    The request's status is what the block raised: OK if nothing, a ``ShibaError``'s code, INTERNAL
    for any other ``Exception``, CANCELLED for a ``BaseException`` such as a cancellation.
    ``model_name`` may be changed inside the block. Not reusable.
    """

    __slots__ = ("_api", "_entrypoint", "_metrics", "_start", "model_name")

    def __init__(self, metrics: Metrics, model_name: str, api: str, entrypoint: str) -> None:
        self._metrics = metrics
        self._api = api
        self._entrypoint = entrypoint
        self._start = 0.0
        self.model_name = model_name

    def __enter__(self) -> RequestTimer:
        self._start = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            code = Code.OK
        elif isinstance(exc, ShibaError):
            code = exc.code
        elif isinstance(exc, Exception):
            code = Code.INTERNAL
        else:
            code = Code.CANCELLED
        self._metrics.record_request(
            self.model_name, self._api, self._entrypoint, code, perf_counter() - self._start
        )


class _TimedLoader:
    """A Loader recording each ``load`` of the one it wraps as a SavedModel load attempt."""

    def __init__(self, inner: Loader, model_path: str, metrics: Metrics) -> None:
        self._inner = inner
        self._model_path = model_path
        self._metrics = metrics

    def load(self) -> Servable:
        start = perf_counter()
        try:
            servable = self._inner.load()
        except BaseException:
            self._metrics.record_load(self._model_path, False, perf_counter() - start)
            raise
        self._metrics.record_load(self._model_path, True, perf_counter() - start)
        return servable

    def unload(self) -> None:
        self._inner.unload()


class Metrics:
    """TF Serving's metric families for one server, in a registry of their own.

    Thread-safe: every ``record_*`` method may be called from any thread, concurrently with
    :meth:`render`. Each instance owns a ``prometheus_client.CollectorRegistry`` (:attr:`registry`,
    never the process-wide default), so several servers or tests in one process never share a
    count; shiba's families are one collector in it. More collectors may be registered there, and
    :meth:`render` shows them too. With ``engines``, the page also has :data:`SIGNATURE_ENGINE`.
    """

    def __init__(self, engines: ServingEngines | None = None) -> None:
        from prometheus_client.registry import CollectorRegistry

        # One cell per (model_name, API, entrypoint, status), whatever the status, so that a
        # request takes one lock: request_count adds the cells' counts up over API and entrypoint,
        # and request_latency shows the OK cells (TF Serving times successful requests only).
        self._requests = _Histograms(REQUEST_LATENCY.limits)
        self._load_attempts = _Counts()
        self._load_micros = _Counts()
        self._queuing = _Histograms(QUEUING_LATENCY.limits)
        self._runs = _Counts()
        self._batch_sizes = _Histograms(PROCESSED_BATCH_SIZE.limits)
        self._padding = _Histograms(PADDING_SIZE.limits)
        self._engines = engines
        self._registry = CollectorRegistry(auto_describe=False)
        # Metrics is a collector (it has ``collect``); subclassing prometheus_client's Collector
        # would import prometheus_client with this module.
        self._registry.register(cast("Collector", self))

    @property
    def registry(self) -> CollectorRegistry:
        """This server's registry."""
        return self._registry

    # -- requests ---------------------------------------------------------------------------

    def record_request(
        self, model_name: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None:
        """One request a front end answered, as http_server.cc and prediction_service_impl.cc
        record it: ``request_count{model_name, status}`` always, ``request_latency{model_name, API,
        entrypoint}`` (in microseconds) only when ``code`` is OK.

        ``model_name`` is the name the request gave ("" if none), ``api`` TF Serving's method name
        (REST: "predict", "classify", "regress", or "" for status and metadata; gRPC: "Predict",
        "Classify", "Regress"), ``entrypoint`` "REST" or "GRPC".
        """
        # Keyed by the code's int: hashing an enum member runs Python code, an int's does not.
        self._requests.add((model_name, api, entrypoint, int(code)), seconds * 1e6)

    def time_request(self, model_name: str, api: str, entrypoint: str) -> RequestTimer:
        """A context manager recording the request it encloses (see :class:`RequestTimer`)."""
        return RequestTimer(self, model_name, api, entrypoint)

    # -- loads ------------------------------------------------------------------------------

    def record_load(self, model_path: str, ok: bool, seconds: float) -> None:
        """One attempt to load the version at ``model_path``, as TensorFlow's LoadSavedModel
        counts it: ``load_attempt_count{model_path, status="success"|"fail"}``, and its time in
        microseconds added to ``load_latency{model_path}`` whether it succeeded or not."""
        self._load_attempts.add((model_path, _LOAD_SUCCESS if ok else _LOAD_FAIL))
        self._load_micros.add((model_path,), int(seconds * 1e6))

    def timed_loader(self, loader: Loader, model_path: str) -> Loader:
        """``loader``, with each ``load`` call (each retry is one) recorded by
        :meth:`record_load`. What ``load`` raises propagates unchanged."""
        return _TimedLoader(loader, model_path, self)

    # -- batching ---------------------------------------------------------------------------

    def record_batch(self, size: int, padded_size: int, queue_seconds: float) -> None:
        """One batch about to run: the batcher's ``on_batch`` (same signature and contract).

        ``queuing_latency{thread_pool_name=""}`` gets ``queue_seconds`` in microseconds;
        ``processed_batch_size`` the padded size; ``padding_size{execution_batch_size=<padded
        size>}`` the padding rows; ``wrapped_run_count`` one more run.
        """
        self._queuing.add((_THREAD_POOL_NAME,), queue_seconds * 1e6)
        self._runs.add(())
        self._batch_sizes.add((), padded_size)
        self._padding.add((padded_size,), padded_size - size)

    # -- the page ---------------------------------------------------------------------------

    def collect(self) -> Iterable[Metric]:
        """shiba's families as prometheus_client metrics (the collector protocol): TF Serving's by
        name, then the engine gauge (when given ``engines``)."""
        requests = self._requests.items()
        counts: dict[_Key, int] = {}
        for (model_name, _, _, code), cell in requests:
            key = (model_name, Code(int(code)))
            counts[key] = counts.get(key, 0) + int(sum(cell[:-1]))
        latencies = [(key[:3], cell) for key, cell in requests if key[3] == Code.OK]
        families = [
            _counter(REQUEST_COUNT, list(counts.items())),
            _histogram(REQUEST_LATENCY, latencies),
            _counter(LOAD_ATTEMPT_COUNT, self._load_attempts.items()),
            _counter(LOAD_LATENCY, self._load_micros.items()),
            _histogram(QUEUING_LATENCY, self._queuing.items()),
            _counter(WRAPPED_RUN_COUNT, self._runs.items()),
            _histogram(PROCESSED_BATCH_SIZE, self._batch_sizes.items()),
            _histogram(PADDING_SIZE, self._padding.items()),
        ]
        ordered = sorted(families, key=lambda family: family.name)
        if self._engines is not None:
            # After TF Serving's families, so that their part of the page reads as before.
            ordered.append(_engine_gauge(self._engines))
        return ordered

    def render(self) -> bytes:
        """Every family in :attr:`registry`, in the Prometheus text format (:data:`CONTENT_TYPE`).

        shiba's families come out as TF Serving writes them: the exact names, counters without a
        ``_total`` suffix, labels in declaration order, ``le`` limits with six significant digits,
        series sorted by label values. Counts are integers; sums are exact. A family with no
        series yet still shows its HELP and TYPE lines.
        """
        lines: list[str] = []
        for family in self._registry.collect():
            _render(family, lines)
        return "".join(lines).encode()


def _label(value: _LabelValue) -> str:
    return value.name if isinstance(value, Code) else str(value)


def _labels(names: tuple[str, ...], key: _Key) -> dict[str, str]:
    return {name: _label(value) for name, value in zip(names, key, strict=True)}


def _sorted(items: list[tuple[_Key, _V]]) -> list[tuple[_Key, _V]]:
    return sorted(items, key=lambda item: tuple(_label(v) for v in item[0]))


def _counter(definition: _Family, items: list[tuple[_Key, int]]) -> Metric:
    from prometheus_client.metrics_core import Metric

    name = definition.name
    family = Metric(name, definition.help, "counter")
    for key, value in _sorted(items):
        # The sample keeps the family's name: TF Serving writes no ``_total`` suffix.
        family.add_sample(name, _labels(definition.labels, key), value)
    return family


def _histogram(definition: _Histogram, items: list[tuple[_Key, list[float]]]) -> Metric:
    from prometheus_client.metrics_core import Metric

    name = definition.name
    family = Metric(name, definition.help, "histogram")
    # TF Serving writes a limit with absl::StrCat, which prints a double as %g does.
    bounds = [format(limit, ".6g") for limit in definition.limits] + ["+Inf"]
    for key, cell in _sorted(items):
        labels = _labels(definition.labels, key)
        cumulative = 0
        for bound, count in zip(bounds, cell, strict=False):
            cumulative += int(count)
            family.add_sample(f"{name}_bucket", {**labels, "le": bound}, cumulative)
        family.add_sample(f"{name}_sum", labels, cell[-1])
        family.add_sample(f"{name}_count", labels, cumulative)
    return family


def _engine_gauge(engines: ServingEngines) -> Metric:
    from prometheus_client.metrics_core import Metric

    name = SIGNATURE_ENGINE.name
    family = Metric(name, SIGNATURE_ENGINE.help, "gauge")
    for sid, decisions in engines.snapshot().items():
        for signature, decision in decisions.items():
            key = (sid.name, sid.version, signature, decision.engine, decision.reason)
            family.add_sample(name, _labels(SIGNATURE_ENGINE.labels, key), 1)
    return family


# prometheus_client's OpenMetrics types as the 0.0.4 text format names them (as generate_latest).
_TYPES = {"unknown": "untyped", "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}
# The suffix prometheus_client gives the samples of its own counters and infos (shiba's have none).
_SUFFIXES = {"counter": "_total", "info": "_info"}


def _render(family: Metric, lines: list[str]) -> None:
    name = family.name
    samples = [s for s in family.samples if s.name != f"{name}_created"]
    suffix = _SUFFIXES.get(family.type, "")
    if suffix and any(s.name == name + suffix for s in samples):
        name += suffix  # a prometheus_client metric registered beside shiba's families
    help_text = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines.append(f"# HELP {name} {help_text}\n")
    lines.append(f"# TYPE {name} {_TYPES.get(family.type, family.type)}\n")
    for sample in samples:
        if sample.labels:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
            lines.append(f"{sample.name}{{{labels}}} {_number(sample.value)}\n")
        else:
            lines.append(f"{sample.name} {_number(sample.value)}\n")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
