"""A shared batch scheduler: queues of tasks, batched by size and time, run on a fixed thread pool.

It behaves as TensorFlow Serving's ``SharedBatchScheduler`` (``tensorflow/core/kernels/
batching_util/shared_batch_scheduler.h``) without priorities or task splitting. It knows nothing of
tensors: a task is any object with a size, a queue any hashable key.

Each queue is a deque of closed batches followed by one open batch. ``schedule`` adds a task to the
open batch; when the task does not fit, the open batch is closed and a new one started, unless the
queue already holds ``capacity`` batches (the open one included), in which case ``schedule`` raises
UNAVAILABLE at once. A batch thread takes the oldest closed batch of the least recently served queue
that has one, or an open batch that is full, whose first task has waited ``timeout`` seconds, or
whose queue is draining. Idle threads sleep on one condition: a thread is woken when a batch becomes
ready, and at most one idle thread sleeps with a time-out, until the earliest open batch is due.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from shiba.core.errors import FailedPrecondition, InvalidArgument, Unavailable

__all__ = ["BatchScheduler", "ProcessBatch"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: Called on a batch thread with the queue's key and the batch's tasks in arrival order. It must
#: not raise.
ProcessBatch = Callable[[K, list[T]], None]

_log = logging.getLogger(__name__)


class _State(enum.Enum):
    NEW = "NEW"
    RUNNING = "RUNNING"
    DRAINING = "DRAINING"
    CLOSED = "CLOSED"


_NEW, _RUNNING, _DRAINING, _CLOSED = _State.NEW, _State.RUNNING, _State.DRAINING, _State.CLOSED

# Stands in ``_timer`` for a thread that was woken to sleep until the next deadline but has not
# run yet, so that further schedules do not wake more threads for the same purpose.
_TIMER_WANTED = object()


class _Queue(Generic[T]):
    __slots__ = ("batch_limit", "closed", "open", "open_size", "open_start")

    def __init__(self, batch_limit: int) -> None:
        self.batch_limit = batch_limit
        self.closed: deque[list[T]] = deque()
        self.open: list[T] = []
        self.open_size = 0
        self.open_start = 0.0


class BatchScheduler(Generic[K, T]):
    """Batches tasks per key and runs each batch through ``process`` on one of ``num_threads``.

    Thread safety: every method may be called from any thread. ``process`` runs on the batch threads
    only, outside the scheduler's lock, at most ``num_threads`` batches at a time.

    Lifecycle: NEW -> ``start()`` -> RUNNING -> ``close()`` -> DRAINING -> CLOSED. ``close`` runs
    every batch still queued at once (no waiting for time-outs), then joins the threads.
    """

    def __init__(
        self,
        process: ProcessBatch[K, T],
        *,
        max_batch_size: int,
        timeout_seconds: float,
        capacity: int,
        num_threads: int,
        thread_name: str = "shiba-batch",
    ) -> None:
        self._process = process
        self._max_batch_size = max_batch_size
        self._timeout = timeout_seconds
        self._capacity = capacity
        self._num_threads = num_threads
        self._thread_name = thread_name
        self._cond = threading.Condition(threading.Lock())
        self._close_lock = threading.Lock()
        self._state = _NEW
        # Insertion order is service order: a queue served goes to the back (round robin). Empty
        # queues are dropped, so a key seen once costs nothing afterwards.
        self._queues: dict[K, _Queue[T]] = {}
        # The token of the idle thread sleeping until ``_timer_deadline``, _TIMER_WANTED, or None.
        self._timer: object | None = None
        self._timer_deadline = 0.0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Starts the batch threads. Raises FailedPrecondition unless the scheduler is NEW."""
        with self._close_lock:  # so that close() never joins a thread not yet started
            with self._cond:
                if self._state is not _NEW:
                    raise FailedPrecondition(
                        f"the batch scheduler cannot start: it is {self._state.value}"
                    )
                self._state = _RUNNING
                self._threads = [
                    threading.Thread(
                        target=self._thread_loop, name=f"{self._thread_name}-{i}", daemon=True
                    )
                    for i in range(self._num_threads)
                ]
            for thread in self._threads:
                thread.start()

    def schedule(self, key: K, task: T, size: int, *, batch_limit: int | None = None) -> None:
        """Queues ``task`` of ``size`` rows (``1 <= size``) in the queue of ``key``.

        ``batch_limit`` (default ``max_batch_size``) caps the rows of this queue's batches; it is
        read when the queue is created, so pass the same value for every task of one key.
        Raises InvalidArgument if ``size`` exceeds the limit, Unavailable if the queue is full or the
        scheduler is closing, FailedPrecondition before ``start``.
        """
        limit = self._max_batch_size if batch_limit is None else batch_limit
        if size > limit:
            raise InvalidArgument(
                f"Task size {size} is larger than maximum input batch size {limit}"
            )
        cond = self._cond
        with cond:
            if self._state is not _RUNNING:
                if self._state is _NEW:
                    raise FailedPrecondition(
                        "the batching servable was not started; call start() first"
                    )
                raise Unavailable("the batching servable is closed; it takes no new requests")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(limit)
            closed = queue.closed
            was_ready = bool(closed) or (
                bool(queue.open) and (queue.open_size >= queue.batch_limit or self._timeout <= 0)
            )
            if queue.open_size + size > queue.batch_limit:
                if len(closed) + 1 >= self._capacity:
                    raise Unavailable(
                        "The batch scheduling queue to which this task was submitted is full; "
                        f"currently {len(closed) + 1} batches enqueued and max_enqueued_batches "
                        f"is {self._capacity}"
                    )
                closed.append(queue.open)
                queue.open = []
                queue.open_size = 0
            if not queue.open:
                queue.open_start = time.monotonic()
            queue.open.append(task)
            queue.open_size += size
            if not was_ready:
                if closed or queue.open_size >= queue.batch_limit or self._timeout <= 0:
                    cond.notify()
                elif self._timer is None and len(queue.open) == 1:
                    self._timer = _TIMER_WANTED
                    cond.notify()

    def close(self) -> None:
        """Stops taking tasks, runs every queued batch at once, and joins the batch threads.

        Idempotent; a second caller waits for the first to finish. Must not be called from a batch
        thread (that is, from ``process``): it raises FailedPrecondition there.
        """
        if threading.current_thread() in self._threads:
            raise FailedPrecondition("a batch thread cannot close its own batch scheduler")
        with self._close_lock:
            with self._cond:
                if self._state is _CLOSED:
                    return
                started = self._state is not _NEW
                self._state = _DRAINING
                self._cond.notify_all()
            if started:
                for thread in self._threads:
                    thread.join()
            with self._cond:
                self._state = _CLOSED

    def _take_locked(self, now: float) -> tuple[tuple[K, list[T]] | None, bool, float | None]:
        """Takes the next ready batch, if any, as (key, tasks).

        Also says whether another batch is ready, and when the earliest open batch that is not
        ready yet will be due (None if there is none).
        """
        draining = self._state is _DRAINING
        timeout = self._timeout
        chosen: K | None = None
        more = False
        deadline: float | None = None
        for key, queue in self._queues.items():
            due = queue.open_start + timeout
            if queue.closed or draining or queue.open_size >= queue.batch_limit or now >= due:
                if chosen is None:
                    chosen = key
                else:
                    more = True
                    break
            elif deadline is None or due < deadline:
                deadline = due
        if chosen is None:
            return None, False, deadline
        queue = self._queues.pop(chosen)
        if queue.closed:
            tasks = queue.closed.popleft()
        else:
            tasks = queue.open
            queue.open = []
            queue.open_size = 0
        if queue.closed or queue.open:
            self._queues[chosen] = queue  # to the back: round robin
            due = queue.open_start + timeout
            if queue.closed or draining or queue.open_size >= queue.batch_limit or now >= due:
                more = True
            elif deadline is None or due < deadline:
                deadline = due
        return (chosen, tasks), more, deadline

    def _thread_loop(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while True:
                    now = time.monotonic()
                    batch, more, deadline = self._take_locked(now)
                    if batch is not None:
                        # Pass the baton: another idle thread takes the next ready batch, or
                        # sleeps until the next open batch is due.
                        if more:
                            cond.notify()
                        elif deadline is not None and (
                            self._timer is None or self._timer is _TIMER_WANTED
                        ):
                            # This thread may have been woken to be the timer: hand that on.
                            self._timer = _TIMER_WANTED
                            cond.notify()
                        break
                    if self._state is not _RUNNING and not self._queues:
                        return
                    if deadline is None:
                        if self._timer is _TIMER_WANTED:
                            self._timer = None
                        cond.wait()
                    elif (
                        self._timer is None
                        or self._timer is _TIMER_WANTED
                        or deadline < self._timer_deadline
                    ):
                        token = object()
                        self._timer = token
                        self._timer_deadline = deadline
                        cond.wait(min(deadline - now, threading.TIMEOUT_MAX))
                        if self._timer is token:
                            self._timer = None
                    else:
                        cond.wait()
            try:
                self._process(*batch)
            except Exception:
                # ``process`` owns its tasks' outcomes; a bug there must not shrink the pool.
                _log.exception("processing a batch failed")
