"""Per-version inference statistics, as the Open Inference Protocol's statistics extension
reports them (Triton's ModelStatistics): counts and cumulative times, protocol-neutral.

A front end records each request it answers for a version: a success with the time it spent
decoding (``compute_input``), in the model call (``compute_infer``: the service's ``predict``,
waiting for a batch included) and encoding (``compute_output``), or a failure with its total
time. ``queue`` stays zero: shiba times the model call as a whole. ``batch_stats`` are keyed by
the request's batch size (its first input's first dimension). Times are nanoseconds.

Thread-safe: one lock, held for a few dict updates per request.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field

from shiba.core.ids import ServableId

__all__ = ["Duration", "BatchStatistics", "VersionStatistics", "InferenceStatistics"]


@dataclass(slots=True)
class Duration:
    """How many times something happened, and the nanoseconds it took in all."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns


@dataclass(slots=True)
class BatchStatistics:
    """The three compute phases of the requests of one batch size."""

    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


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

    def record_success(
        self,
        servable_id: ServableId,
        batch_size: int,
        *,
        input_ns: int,
        infer_ns: int,
        output_ns: int,
    ) -> None:
        """A request that ``servable_id`` answered, of ``batch_size`` rows."""
        now = time.time_ns() // 1_000_000
        with self._lock:
            stats = self._by_id.get(servable_id)
            if stats is None:
                stats = self._by_id[servable_id] = VersionStatistics()
            stats.last_inference = now
            stats.inference_count += batch_size
            stats.execution_count += 1
            stats.success.add(input_ns + infer_ns + output_ns)
            stats.compute_input.add(input_ns)
            stats.compute_infer.add(infer_ns)
            stats.compute_output.add(output_ns)
            batch = stats.batches.get(batch_size)
            if batch is None:
                batch = stats.batches[batch_size] = BatchStatistics()
            batch.compute_input.add(input_ns)
            batch.compute_infer.add(infer_ns)
            batch.compute_output.add(output_ns)

    def record_failure(self, servable_id: ServableId, ns: int) -> None:
        """A request addressed to ``servable_id`` that failed after ``ns`` nanoseconds."""
        with self._lock:
            stats = self._by_id.get(servable_id)
            if stats is None:
                stats = self._by_id[servable_id] = VersionStatistics()
            stats.fail.add(ns)

    def get(self, servable_id: ServableId) -> VersionStatistics:
        """A copy of the version's statistics (all zero if it answered nothing yet)."""
        with self._lock:
            stats = self._by_id.get(servable_id)
            return copy.deepcopy(stats) if stats is not None else VersionStatistics()
