"""Batching options: TensorFlow Serving's ``BatchingParameters``, same names and defaults."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

from shiba.core.errors import InvalidArgument

__all__ = ["BatchingOptions", "default_num_batch_threads"]


def default_num_batch_threads() -> int:
    """The CPUs this process may run on (TensorFlow Serving's ``port::MaxParallelism()``)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class BatchingOptions:
    """How a :class:`~shiba.batching.BatchingServable` forms and runs batches.

    The fields, their names and their defaults are TensorFlow Serving's ``BatchingParameters``
    (``session_bundle_config.proto``), whose unset fields take the defaults of
    ``SharedBatchScheduler::QueueOptions`` and ``SharedBatchScheduler::Options``.
    ``__post_init__`` applies TensorFlow Serving's checks and raises
    :class:`~shiba.core.errors.InvalidArgument`.
    """

    #: The largest batch, in rows (the sum of the requests' 0th dimensions). A batch is run as soon
    #: as it is full. A single request with more rows is refused with INVALID_ARGUMENT.
    max_batch_size: int = 1000
    #: How long the first request of a batch may wait for others before the batch is run although
    #: it is not full. 0 runs whatever is queued as soon as a batch thread is free.
    batch_timeout_micros: int = 0
    #: How many batches' worth of requests one queue may hold (the open batch included; batches
    #: being run do not count). Beyond that ``submit`` fails at once with UNAVAILABLE.
    #: TensorFlow Serving reads 0 as 1, and so does shiba.
    max_enqueued_batches: int = 10
    #: Threads that run batches, shared by all the queues of one servable. Defaults to the CPUs this
    #: process may use.
    num_batch_threads: int = field(default_factory=default_num_batch_threads)
    #: If set, a batch of N rows is padded up to the smallest allowed size >= N by repeating its
    #: first row, and the padding rows are dropped from the outputs. Increasing; the last entry
    #: must equal ``max_batch_size``.
    allowed_batch_sizes: tuple[int, ...] = ()
    #: Batch requests whose inputs differ in dimensions other than the 0th, padding each input up to
    #: the largest size in the batch with its own first element (TensorFlow Serving's rule). Outputs
    #: are split along the 0th dimension only: their other dimensions are the padded ones.
    pad_variable_length_inputs: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size <= 0:
            raise InvalidArgument(f"max_batch_size must be positive; was {self.max_batch_size}")
        if self.batch_timeout_micros < 0:
            raise InvalidArgument(
                f"batch_timeout_micros must be non-negative; was {self.batch_timeout_micros}"
            )
        if self.max_enqueued_batches < 0:
            raise InvalidArgument(
                f"max_enqueued_batches must be positive; was {self.max_enqueued_batches}"
            )
        if self.num_batch_threads <= 0:
            raise InvalidArgument(
                f"num_batch_threads must be positive; was {self.num_batch_threads}"
            )
        sizes = self.allowed_batch_sizes
        if not isinstance(sizes, tuple):
            # A list from a parsed config would make the frozen options unhashable.
            object.__setattr__(self, "allowed_batch_sizes", sizes := tuple(sizes))
        if sizes:
            if sizes[0] <= 0:
                raise InvalidArgument(
                    f"allowed_batch_sizes entries must be positive; first entry was {sizes[0]}"
                )
            if any(b <= a for a, b in itertools.pairwise(sizes)):
                raise InvalidArgument(
                    "allowed_batch_sizes entries must be monotonically increasing; "
                    f"got {list(sizes)}"
                )
            if sizes[-1] != self.max_batch_size:
                raise InvalidArgument(
                    "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                    f"{sizes[-1]}; expected {self.max_batch_size}"
                )

    @property
    def queue_capacity(self) -> int:
        """``max_enqueued_batches`` as the scheduler applies it (0 means 1, as in TF Serving)."""
        return max(1, self.max_enqueued_batches)
