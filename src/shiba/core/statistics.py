"""Per-version inference statistics, as the Open Inference Protocol's statistics extension
reports them (Triton's ModelStatistics): counts and cumulative times, protocol-neutral.

Each fact is recorded where it is known, for every request whatever its protocol:

- **A front end** (TensorFlow Serving's REST and gRPC APIs, the Open Inference Protocol's) reports
  each request it answers for a version, with :meth:`InferenceStatistics.answered` or
  :meth:`~InferenceStatistics.failed`: a success with its total time (``success``), the time it
  spent decoding (``compute_input``) and encoding (``compute_output``); or a failure with its
  total time (``fail``). On the event loop that is clock readings the front end takes and one
  tuple queued (a deque append); the tuples are added up later, off the loop, by the next model
  run's record or by a read. Measured in process on the REST predict path: adding up in place
  cost the event loop ~4 µs a request, a context-manager clock ~2.8 µs, this ~1.5 µs.
- **Whoever runs the model** reports each run as an :class:`Execution` to
  :meth:`InferenceStatistics.record_execution`: the batcher once per batch, the service once per
  request it runs alone on its executor. A successful run adds, per request it served, that
  request's wait for the run (``queue``) and the run's model time (``compute_infer``: each request
  of a batch is charged its batch's run, as Triton charges it); once, ``execution_count``, the
  requests' rows (``inference_count``, padding rows excluded) and, under the batch size the model
  ran (padding included), the batch's merge, run and split (``batch_stats``, counted per run).

Times are nanoseconds. Thread-safe: one lock, held while adding up; finished requests wait in a
deque (appends and pops are atomic).
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from time import perf_counter_ns

from shiba.core.ids import ServableId

__all__ = [
    "Duration",
    "BatchStatistics",
    "Execution",
    "VersionStatistics",
    "InferenceStatistics",
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


#: Finished requests waiting to be added up beyond which the front end adds them up itself (a
#: model run normally does it first: only requests that never reach a model can pile up this far).
_MOST_PENDING = 8192
#: ``decoded`` and ``ran`` of a failed request.
_FAILED = -1


class InferenceStatistics:
    """ServableId -> :class:`VersionStatistics`, for every version that answered a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[ServableId, VersionStatistics] = {}
        # (servable id, start, decoded, ran, end) of each request answered or failed.
        self._finished: deque[tuple[ServableId, int, int, int, int]] = deque()
        # ``perf_counter_ns() + _epoch_ns`` is the time since the epoch: a request's end, read
        # anyway, dates ``last_inference`` without a second clock read per request.
        self._epoch_ns = time.time_ns() - perf_counter_ns()

    def _stats(self, servable_id: ServableId) -> VersionStatistics:
        """The version's record (created on first use); the caller holds the lock."""
        stats = self._by_id.get(servable_id)
        if stats is None:
            stats = self._by_id[servable_id] = VersionStatistics()
        return stats

    def answered(
        self, servable_id: ServableId, start_ns: int, decoded_ns: int, ran_ns: int
    ) -> None:
        """A request ``servable_id`` answered: received at ``start_ns``, decoded at
        ``decoded_ns``, its model's outputs back at ``ran_ns`` (``perf_counter_ns()`` readings),
        its answer encoded now."""
        finished = self._finished
        finished.append((servable_id, start_ns, decoded_ns, ran_ns, perf_counter_ns()))
        if len(finished) > _MOST_PENDING:
            with self._lock:
                self._add_up_locked()

    def failed(self, servable_id: ServableId, start_ns: int) -> None:
        """A request addressed to ``servable_id``, received at ``start_ns``, that failed now."""
        finished = self._finished
        finished.append((servable_id, start_ns, _FAILED, _FAILED, perf_counter_ns()))
        if len(finished) > _MOST_PENDING:
            with self._lock:
                self._add_up_locked()

    def _add_up_locked(self) -> None:
        """Adds the finished requests to their versions' records; the caller holds the lock
        (so this is the deque's only reader: it cannot empty between the test and the pop)."""
        finished = self._finished
        epoch = self._epoch_ns
        while finished:
            servable_id, start, decoded, ran, end = finished.popleft()
            stats = self._stats(servable_id)
            if decoded == _FAILED:
                stats.fail.add(end - start)
                continue
            stats.last_inference = (end + epoch) // 1_000_000
            stats.success.add(end - start)
            stats.compute_input.add(decoded - start)
            stats.compute_output.add(end - ran)

    def record_execution(self, servable_id: ServableId, run: Execution) -> None:
        """One run of ``servable_id``'s model (see the module docstring); a failed run adds
        nothing here (its requests fail: the front ends record that). Called on the thread
        that ran the model, it also adds up the requests finished meanwhile."""
        requests = run.requests
        with self._lock:
            self._add_up_locked()
            if not run.ok:
                return
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
            self._add_up_locked()
            stats = self._by_id.get(servable_id)
            return copy.deepcopy(stats) if stats is not None else VersionStatistics()
