"""Per-version inference statistics, as the Open Inference Protocol's statistics extension
reports them (Triton's ModelStatistics): counts and cumulative times, protocol-neutral.

Each fact is recorded where it is known, for every request whatever its protocol:

- **A front end** (TensorFlow Serving's REST and gRPC APIs, the Open Inference Protocol's) times
  each request it answers for a version with :meth:`InferenceStatistics.timer`: a success with
  its total time (``success``), the time it spent decoding (``compute_input``) and encoding
  (``compute_output``); or a failure with its total time (``fail``).
- **Whoever runs the model** reports each run as an :class:`Execution` to
  :meth:`InferenceStatistics.record_execution`: the batcher once per batch, the service once per
  request it runs alone on its executor. A successful run adds, per request it served, that
  request's wait for the run (``queue``) and the run's model time (``compute_infer``: each request
  of a batch is charged its batch's run, as Triton charges it); once, ``execution_count``, the
  requests' rows (``inference_count``, padding rows excluded) and, under the batch size the model
  ran (padding included), the batch's merge, run and split (``batch_stats``, counted per run).

Times are nanoseconds. Thread-safe: one lock, held for a few updates per request or run.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from time import perf_counter_ns
from types import TracebackType

from shiba.core.ids import ServableId

__all__ = [
    "Duration",
    "BatchStatistics",
    "Execution",
    "VersionStatistics",
    "InferenceStatistics",
    "RequestClock",
]


@dataclass(slots=True)
class Duration:
    """How many times something happened, and the nanoseconds it took in all."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns


@dataclass(slots=True)
class BatchStatistics:
    """The runs of one batch size: merging the inputs, the model's run, splitting the outputs."""

    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass(slots=True)
class Execution:
    """One run of a model: ``requests`` requests of ``rows`` rows in all, run as ``padded_rows``
    rows (``rows`` plus padding to an allowed batch size). ``queue_ns`` is the requests' waits for
    the run added up, ``first_wait_ns`` the first (longest) of them; ``input_ns``, ``infer_ns`` and
    ``output_ns`` are merging the inputs, the model's run and splitting the outputs (0 when a
    request runs alone). ``ok`` is False when the run raised. Not frozen: building a frozen
    dataclass costs ~2 µs, ten times a plain one, once per run."""

    rows: int
    padded_rows: int
    requests: int
    queue_ns: int
    first_wait_ns: int
    input_ns: int
    infer_ns: int
    output_ns: int
    ok: bool = True


@dataclass(slots=True)
class VersionStatistics:
    """One version's statistics; ``last_inference`` is milliseconds since the epoch (0: never)."""

    last_inference: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    batches: dict[int, BatchStatistics] = field(default_factory=dict)


class InferenceStatistics:
    """ServableId -> :class:`VersionStatistics`, for every version that answered a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[ServableId, VersionStatistics] = {}
        # ``perf_counter_ns() + _epoch_ns`` is the time since the epoch: a request's end, taken
        # anyway, dates ``last_inference`` without a second clock read per request.
        self._epoch_ns = time.time_ns() - perf_counter_ns()

    def _stats(self, servable_id: ServableId) -> VersionStatistics:
        """The version's record (created on first use); the caller holds the lock."""
        stats = self._by_id.get(servable_id)
        if stats is None:
            stats = self._by_id[servable_id] = VersionStatistics()
        return stats

    def timer(self, servable_id: ServableId, received_ns: int | None = None) -> RequestClock:
        """A context manager timing one request a front end answers for ``servable_id``, from
        ``received_ns`` (a ``perf_counter_ns()`` taken when the request arrived) or from now."""
        return RequestClock(self, servable_id, received_ns)

    def record_success(
        self,
        servable_id: ServableId,
        total_ns: int,
        *,
        input_ns: int,
        output_ns: int,
        end_ns: int | None = None,
    ) -> None:
        """A request that ``servable_id`` answered in ``total_ns``, of which ``input_ns`` decoding
        it and ``output_ns`` encoding its answer, at ``end_ns`` (``perf_counter_ns()``; now if
        not given)."""
        end = perf_counter_ns() if end_ns is None else end_ns
        now = (end + self._epoch_ns) // 1_000_000
        with self._lock:
            stats = self._stats(servable_id)
            stats.last_inference = now
            stats.success.add(total_ns)
            stats.compute_input.add(input_ns)
            stats.compute_output.add(output_ns)

    def record_failure(self, servable_id: ServableId, ns: int) -> None:
        """A request addressed to ``servable_id`` that failed after ``ns`` nanoseconds."""
        with self._lock:
            self._stats(servable_id).fail.add(ns)

    def record_execution(self, servable_id: ServableId, run: Execution) -> None:
        """One run of ``servable_id``'s model (see the module docstring); a failed run adds
        nothing here (its requests fail: the front ends record that)."""
        if not run.ok:
            return
        requests = run.requests
        with self._lock:
            stats = self._stats(servable_id)
            stats.execution_count += 1
            stats.inference_count += run.rows
            stats.queue.add(run.queue_ns, requests)
            stats.compute_infer.add(run.infer_ns * requests, requests)
            batch = stats.batches.get(run.padded_rows)
            if batch is None:
                batch = stats.batches[run.padded_rows] = BatchStatistics()
            batch.compute_input.add(run.input_ns)
            batch.compute_infer.add(run.infer_ns)
            batch.compute_output.add(run.output_ns)

    def get(self, servable_id: ServableId) -> VersionStatistics:
        """A copy of the version's statistics (all zero if it answered nothing yet)."""
        with self._lock:
            stats = self._by_id.get(servable_id)
            return copy.deepcopy(stats) if stats is not None else VersionStatistics()


class RequestClock:
    """Times one request from ``received_ns`` (default: its creation) to ``__exit__``, which
    records it: a success if the
    block raised nothing, else a failure. Inside the block, call :meth:`decoded` once the request
    is decoded and :meth:`ran` once the model answered; what comes before the first is
    ``compute_input``, what comes after the second ``compute_output`` (a mark not made counts as
    none of that phase). Not reusable."""

    __slots__ = ("_decoded", "_id", "_ran", "_start", "_statistics")

    def __init__(
        self,
        statistics: InferenceStatistics,
        servable_id: ServableId,
        received_ns: int | None = None,
    ) -> None:
        self._statistics = statistics
        self._id = servable_id
        self._start = self._decoded = perf_counter_ns() if received_ns is None else received_ns
        self._ran = 0

    def __enter__(self) -> RequestClock:
        return self

    def decoded(self) -> None:
        self._decoded = perf_counter_ns()

    def ran(self) -> None:
        self._ran = perf_counter_ns()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        end = perf_counter_ns()
        if exc is not None:
            self._statistics.record_failure(self._id, end - self._start)
            return
        self._statistics.record_success(
            self._id,
            end - self._start,
            input_ns=self._decoded - self._start,
            output_ns=end - (self._ran or end),
            end_ns=end,
        )
