"""TensorFlow Serving's metrics, defined in this one place, recorded cheaply, shown to Prometheus.

Each family keeps TensorFlow Serving's name (as its Prometheus exporter writes it: every character
outside ``[a-zA-Z0-9_]`` becomes ``:``), labels, unit (microseconds) and buckets, so that dashboards
and alerts written against TF Serving read shiba's page unchanged. The definitions are the
``Family`` constants in ``shiba.core._metric_families``, each naming the TF Serving or TensorFlow
source that defines it; ``shiba.core._metrics_page`` turns what is recorded into the page.

Who records what: the front ends call :meth:`Metrics.record_request` (or use
:meth:`Metrics.time_request`) once per request; the composition root wraps each loader in
:meth:`Metrics.timed_loader` and gives the batcher :meth:`Metrics.record_batch` as its ``on_batch``.

One family is shiba's own, in its own namespace so that no TF Serving family changes:
``:shiba:signature_engine`` (``_metric_families.SIGNATURE_ENGINE``), read at render time from the
``ServingEngines`` given to :class:`Metrics`, and shown after TF Serving's families.

Recording a request is one dict lookup and a few list updates under one uncontended lock: 0.7 µs in
a tight loop, about 3 µs added to an in-process REST predict (``benchmarks/metrics_overhead.py``).
prometheus_client objects are built only when the page is rendered, and the package itself is
imported when the first :class:`Metrics` is made (about 20 ms), so a server without monitoring
never loads it.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, cast

from shiba.core._metric_families import (
    LOAD_ATTEMPT_COUNT,
    LOAD_LATENCY,
    PADDING_SIZE,
    PROCESSED_BATCH_SIZE,
    QUEUING_LATENCY,
    REQUEST_COUNT,
    REQUEST_LATENCY,
    WRAPPED_RUN_COUNT,
    prometheus_name,
)
from shiba.core._metric_families import Key as _Key
from shiba.core._metrics_page import counter as _counter
from shiba.core._metrics_page import engine_gauge as _engine_gauge
from shiba.core._metrics_page import histogram as _histogram
from shiba.core._metrics_page import render as _render
from shiba.core.errors import Code, ShibaError
from shiba.core.loader import Loader
from shiba.core.servable import Servable
from shiba.core.statistics import Execution

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

    from shiba.core.engines import ServingEngines

__all__ = ["Metrics", "RequestTimer", "prometheus_name", "CONTENT_TYPE"]

#: The page's content type: the Prometheus text format 0.0.4. (TF Serving sends plain
#: ``text/plain``, which Prometheus reads as the same format.)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LOAD_SUCCESS = "success"  # loader.cc's kLoadAttemptSuccess
_LOAD_FAIL = "fail"  # loader.cc's kLoadAttemptFail
# The batching session's label: TF Serving's model server creates it with thread_pool_name "".
_THREAD_POOL_NAME = ""


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
    :meth:`render` shows them too. With ``engines``, the page also has ``:shiba:signature_engine``.
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
        "Classify", "Regress"), or the Open Inference Protocol's ("infer" over REST, "ModelInfer"
        over gRPC), ``entrypoint`` "REST" or "GRPC".
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

    def record_batch(self, run: Execution) -> None:
        """One batch run: the batcher's ``on_batch`` (same contract), as TF Serving's batching
        session records it.

        ``queuing_latency{thread_pool_name=""}`` gets the batch's first request's wait in
        microseconds; ``processed_batch_size`` the padded size; ``padding_size{execution_batch_size=
        <padded size>}`` the padding rows; ``wrapped_run_count`` one more run.
        """
        padded = run.padded_rows
        self._queuing.add((_THREAD_POOL_NAME,), run.first_wait_ns / 1e3)
        self._runs.add(())
        self._batch_sizes.add((), padded)
        self._padding.add((padded,), padded - run.rows)

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
