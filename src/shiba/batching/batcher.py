"""``BatchingServable``: a Servable that merges concurrent requests into batches for the one it wraps."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from shiba.batching._padding import merge_inputs, padded_batch_size, split_outputs
from shiba.batching._scheduler import BatchScheduler
from shiba.batching.options import BatchingOptions
from shiba.core.errors import Internal, ShibaError
from shiba.core.servable import Outputs, Servable
from shiba.core.tensors import Signature, Tensors

__all__ = ["BatchingServable", "OnBatch"]

_log = logging.getLogger(__name__)

#: Observer of each batch run: ``(size, padded_size, queue_seconds)``. ``size`` is the requests'
#: total rows (1 for a request run alone), ``padded_size`` the rows after padding to an allowed batch
#: size, ``queue_seconds`` how long the batch's first request waited. Called on a batch thread just
#: before the wrapped servable runs; it must be quick, and what it raises is logged and ignored.
OnBatch = Callable[[int, int, float], None]

# (runs alone, signature name, output filter, per input: (name, dtype, non-0 dims or rank))
_Key = tuple[bool, str, tuple[str, ...] | None, tuple[tuple[str, Any, Hashable], ...]]


class _Request:
    __slots__ = ("future", "inputs", "rows")

    def __init__(self, inputs: Tensors, rows: int) -> None:
        self.inputs = inputs
        self.rows = rows
        self.future: Future[Outputs] = Future()


class BatchingServable:
    """Runs concurrent requests to ``inner`` as batches, as TensorFlow Serving's ``BatchingSession``.

    **Which requests share a batch.** Requests are merged along dimension 0 of every input. Only
    requests with the same signature name, the same output filter, the same input names and dtypes
    and the same non-0 dimensions of each input share a queue, and so a batch; any other request
    goes to a queue of its own kind (with ``pad_variable_length_inputs`` the non-0 dimensions may
    differ, only the ranks must match). A request that cannot be batched runs alone, unmerged and
    unchecked: one with a rank-0 input, with inputs whose 0th dimensions differ, with no rows or no
    inputs, or (when padding variable lengths) with an empty input.

    **When a batch runs.** As soon as it holds ``max_batch_size`` rows, or ``batch_timeout_micros``
    after its first request arrived, on the first free one of ``num_batch_threads`` threads, which
    serve this servable's queues in turn. Each batch calls ``inner.run`` once; its outputs are split
    back per request as views of the batch's arrays (no copies). With ``allowed_batch_sizes`` the
    batch is first padded up to the next allowed size by repeating its first row, and the padding
    rows are dropped from the outputs.

    **Errors.** ``submit`` raises at once, queueing nothing: InvalidArgument for a request with more
    rows than ``max_batch_size``; Unavailable when its queue already holds ``max_enqueued_batches``
    batches' worth of requests, or after ``close``; FailedPrecondition before ``start``. Errors in
    a batch reach every request of that batch through its future: what ``inner.run`` raises (a
    ShibaError keeps its code, anything else becomes Internal with its message), or Internal when
    an output lacks the batch dimension (the model is not batchable). A future cancelled before its
    batch starts is left out of the batch.

    **Threads and ownership.** All methods may be called from any thread. The batcher owns
    ``inner``: it calls ``inner.run`` on its batch threads only (concurrently when
    ``num_batch_threads > 1``) and closes it in ``close``. Futures are completed on batch threads,
    so their callbacks must be quick and must not block.

    **Lifecycle.** ``start`` once, then ``submit``/``run``, then ``close``, which stops taking
    requests, runs every request already queued at once (without waiting for time-outs, as
    TensorFlow Serving drains a queue it deletes), joins the batch threads and then closes ``inner``.
    """

    def __init__(
        self,
        inner: Servable,
        options: BatchingOptions,
        *,
        name: str = "",
        on_batch: OnBatch | None = None,
    ) -> None:
        self._inner = inner
        self._options = options
        self._name = name
        self._on_batch = on_batch
        self._allowed = options.allowed_batch_sizes
        self._pad = options.pad_variable_length_inputs
        self._inner_closed = False
        self._close_lock = threading.Lock()
        self._scheduler: BatchScheduler[_Key, _Request] = BatchScheduler(
            self._process,
            max_batch_size=options.max_batch_size,
            timeout_seconds=options.batch_timeout_micros / 1e6,
            capacity=options.queue_capacity,
            num_threads=options.num_batch_threads,
            thread_name=f"shiba-batch-{name}" if name else "shiba-batch",
        )

    def __repr__(self) -> str:
        return f"BatchingServable({self._name!r}, {self._inner!r})"

    @property
    def signatures(self) -> Mapping[str, Signature]:
        """The wrapped servable's signatures."""
        return self._inner.signatures

    @property
    def options(self) -> BatchingOptions:
        return self._options

    @property
    def inner(self) -> Servable:
        """The wrapped servable (owned by this batcher)."""
        return self._inner

    def start(self) -> None:
        """Starts the batch threads. Raises FailedPrecondition if already started or closed."""
        self._scheduler.start()

    def submit(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Future[Outputs]:
        """Queues one request and returns the future of its outputs (see the class for errors).

        ``inputs`` must not be modified until the future is done: the batch reads them later.
        """
        filter_key = None if output_filter is None else tuple(output_filter)
        pad = self._pad
        rows = -1
        alone = False
        layout: list[tuple[str, Any, Hashable]] = []
        for name, array in inputs.items():
            shape = array.shape
            if not shape or (rows >= 0 and shape[0] != rows) or (pad and array.size == 0):
                alone = True
                break
            rows = shape[0]
            layout.append((name, array.dtype, len(shape) if pad else shape[1:]))
        request = _Request(inputs, rows)
        if alone or rows <= 0:
            self._scheduler.schedule(
                (True, signature_name, filter_key, ()), request, 1, batch_limit=1
            )
        else:
            key = (False, signature_name, filter_key, tuple(layout))
            self._scheduler.schedule(key, request, rows)
        return request.future

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        """``submit(...).result()``: blocks the calling thread until the request's batch has run."""
        return self.submit(signature_name, inputs, output_filter).result()

    def close(self) -> None:
        """Stops taking requests, runs those queued, joins the batch threads, then closes ``inner``.

        Idempotent and thread-safe; a concurrent second call returns once the first has drained.
        Raises FailedPrecondition if called from a batch thread (from ``inner.run`` or ``on_batch``).
        What ``inner.close`` raises propagates, once.
        """
        self._scheduler.close()
        with self._close_lock:
            if self._inner_closed:
                return
            self._inner_closed = True
        self._inner.close()

    def _process(self, key: _Key, requests: list[_Request], start: float) -> None:
        live = [r for r in requests if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        alone, signature_name, output_filter, _ = key
        try:
            if alone:
                self._observe(1, 1, start)
                results = [self._inner.run(signature_name, live[0].inputs, output_filter)]
            else:
                sizes = [r.rows for r in live]
                rows = sum(sizes)
                padded = padded_batch_size(self._allowed, rows)
                batch = merge_inputs(
                    [r.inputs for r in live], rows, padded, pad_variable_length=self._pad
                )
                self._observe(rows, padded, start)
                outputs = self._inner.run(signature_name, batch, output_filter)
                results = split_outputs(outputs, sizes, padded)
        except BaseException as exc:
            for r in live:
                r.future.set_exception(_request_error(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for r, result in zip(live, results, strict=True):
            r.future.set_result(result)

    def _observe(self, size: int, padded_size: int, start: float) -> None:
        if self._on_batch is None:
            return
        try:
            self._on_batch(size, padded_size, time.monotonic() - start)
        except Exception:
            _log.exception("the on_batch callback of %r failed", self)


def _request_error(exc: BaseException) -> ShibaError:
    """A fresh error for one request of a failed batch, caused by ``exc``.

    Each request gets its own instance so that callers raising it in parallel do not share (and
    grow) one traceback.
    """
    error: ShibaError
    if isinstance(exc, ShibaError):
        try:
            error = copy.copy(exc)
        except Exception:  # a subclass whose constructor copy cannot call
            return exc
    else:
        error = Internal(str(exc) or type(exc).__name__)
    error.__cause__ = exc
    return error
