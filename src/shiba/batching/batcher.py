"""``BatchingServable``: a Servable that merges concurrent requests into batches for the one it wraps."""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from time import perf_counter_ns
from typing import Any

from shiba.batching._padding import merge_inputs, padded_batch_size, split_outputs
from shiba.batching._scheduler import BatchScheduler
from shiba.batching.options import BatchingOptions
from shiba.core.errors import Internal, ShibaError
from shiba.core.servable import Outputs, Servable
from shiba.core.statistics import Execution
from shiba.core.tensors import Signature, Tensors, leading_rows

__all__ = ["BatchingServable", "OnBatch"]

_log = logging.getLogger(__name__)

#: Observer of each batch run, told as an :class:`~shiba.core.statistics.Execution`: the
#: requests' total rows (of a request run alone: its first input's dimension 0), the rows after
#: padding to an allowed batch size, each request's wait from ``submit`` to the start of its batch,
#: and the times of merging, running and splitting. Called on a batch thread after the wrapped
#: servable ran (or raised), before the answers are delivered; it must be quick, and what it
#: raises is logged and ignored.
OnBatch = Callable[[Execution], None]

# (runs alone, signature name, output filter, per input: (name, dtype, non-0 dims or rank))
_Key = tuple[bool, str, tuple[str, ...] | None, tuple[tuple[str, Any, Hashable], ...]]


class _Request:
    """One queued request. Its answer goes to ``future`` (``submit``) or, on its loop's thread,
    to ``afuture`` (``submit_async``): exactly one of the two is set."""

    __slots__ = ("afuture", "future", "inputs", "loop", "queued", "rows")

    def __init__(
        self,
        inputs: Tensors,
        rows: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.inputs = inputs
        self.rows = rows
        self.loop = loop
        self.queued = perf_counter_ns()
        self.future: Future[Outputs] | None = None
        self.afuture: asyncio.Future[Outputs] | None = None
        if loop is None:
            self.future = Future()
        else:
            self.afuture = loop.create_future()

    def start(self) -> bool:
        """False when the caller gave up (cancelled) before its batch started."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        # Read from a batch thread: a cancel racing this read is caught again in ``_settle``.
        return not self.afuture.cancelled()  # type: ignore[union-attr]


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
    ``num_batch_threads > 1``) and closes it in ``close``. ``submit``'s futures are completed on
    batch threads, so their callbacks must be quick and must not block; ``submit_async``'s on
    their event loop, one wake-up per batch.

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
        future = self._queue(signature_name, inputs, output_filter, None).future
        assert future is not None
        return future

    def submit_async(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> asyncio.Future[Outputs]:
        """``submit`` for a caller on a running event loop: the future is the loop's, and a batch
        completes all its requests of one loop with one ``call_soon_threadsafe``."""
        future = self._queue(signature_name, inputs, output_filter, asyncio.get_running_loop())
        assert future.afuture is not None
        return future.afuture

    def _queue(
        self,
        signature_name: str,
        inputs: Tensors,
        output_filter: Sequence[str] | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> _Request:
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
        request = _Request(inputs, rows, loop)
        if alone or rows <= 0:
            self._scheduler.schedule(
                (True, signature_name, filter_key, ()), request, 1, batch_limit=1
            )
        else:
            key = (False, signature_name, filter_key, tuple(layout))
            self._scheduler.schedule(key, request, rows)
        return request

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

    def _process(self, key: _Key, requests: list[_Request]) -> None:
        live = [r for r in requests if r.start()]
        if not live:
            return
        alone, signature_name, output_filter, _ = key
        begun = perf_counter_ns()
        merged = ran = 0
        rows = padded = 1
        results: list[Outputs] = []
        try:
            if alone:
                rows = padded = leading_rows(live[0].inputs)
                merged = begun
                results = [self._inner.run(signature_name, live[0].inputs, output_filter)]
                ran = perf_counter_ns()
            else:
                sizes = [r.rows for r in live]
                rows = sum(sizes)
                padded = padded_batch_size(self._allowed, rows)
                batch = merge_inputs(
                    [r.inputs for r in live], rows, padded, pad_variable_length=self._pad
                )
                merged = perf_counter_ns()
                outputs = self._inner.run(signature_name, batch, output_filter)
                ran = perf_counter_ns()
                results = split_outputs(outputs, sizes, padded)
        except BaseException as exc:
            self._observe(
                live, rows=rows, padded=padded, begun=begun, merged=merged, ran=ran, ok=False
            )
            _deliver(live, [_request_error(exc) for _ in live])
            if not isinstance(exc, Exception):
                raise
            return
        self._observe(live, rows=rows, padded=padded, begun=begun, merged=merged, ran=ran, ok=True)
        _deliver(live, results)

    def _observe(
        self,
        live: list[_Request],
        *,
        rows: int,
        padded: int,
        begun: int,
        merged: int,
        ran: int,
        ok: bool,
    ) -> None:
        if self._on_batch is None:
            return
        end = perf_counter_ns()
        merged = merged or end
        ran = ran or end
        try:
            self._on_batch(
                Execution(
                    rows=rows,
                    padded_rows=padded,
                    requests=len(live),
                    queue_ns=sum(begun - r.queued for r in live),
                    first_wait_ns=begun - live[0].queued,
                    input_ns=merged - begun,
                    infer_ns=ran - merged,
                    output_ns=end - ran,
                    ok=ok,
                )
            )
        except Exception:
            _log.exception("the on_batch callback of %r failed", self)


def _deliver(requests: list[_Request], answers: Sequence[Outputs | BaseException]) -> None:
    """Completes each request with its answer (outputs or an error): ``submit``'s futures here,
    ``submit_async``'s with one ``call_soon_threadsafe`` per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outputs], Any]]] = {}
    for request, answer in zip(requests, answers, strict=True):
        if request.future is not None:
            if isinstance(answer, BaseException):
                request.future.set_exception(answer)
            else:
                request.future.set_result(answer)
        else:
            assert request.loop is not None and request.afuture is not None
            by_loop.setdefault(request.loop, []).append((request.afuture, answer))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting for these answers
            _log.debug("dropped %d answers for a closed event loop", len(settled))


def _settle(settled: list[tuple[asyncio.Future[Outputs], Any]]) -> None:
    """On the loop's thread: sets each future not cancelled meanwhile."""
    for future, answer in settled:
        if future.done():
            continue
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)


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
