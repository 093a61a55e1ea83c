"""Per-request time limits from one timer, instead of an ``asyncio.timeout`` per request.

``asyncio.timeout`` costs a context manager, a timer handle and a heap push and pop per request:
about 9% of the event loop's time under W1 load at 64 connections (py-spy). Every request of one
front end has the same limit, so deadlines come in the order requests arrive: an insertion-ordered
dict of running tasks has its earliest deadline first, and one timer, set for that first deadline,
is all the bookkeeping there is. A request that ends removes itself (a dict deletion); the timer
cancels the tasks whose deadline has passed, and the request sees a ``CancelledError`` that
:meth:`Deadlines.expired` tells apart from any other cancellation.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadlines"]


class Deadlines:
    """The running requests of one front end and their deadlines, ``seconds`` after they start.

    Use from the event loop's thread only::

        task = deadlines.start()
        try:
            ...  # the request's awaits
        except asyncio.CancelledError:
            if not deadlines.expired(task):
                raise
            ...  # answer "timed out"
        finally:
            deadlines.finish(task)
    """

    __slots__ = ("_expired", "_running", "_seconds", "_timer")

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"a time limit must be positive, not {seconds}")
        self._seconds = seconds
        self._running: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def seconds(self) -> float:
        return self._seconds

    def start(self) -> asyncio.Task[object]:
        """Starts the clock of the current task; returns the task."""
        task: asyncio.Task[object] | None = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines.start() must be called from a task")
        loop = task.get_loop()
        deadline = loop.time() + self._seconds
        self._running[task] = deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._sweep, loop)
        return task

    def finish(self, task: asyncio.Task[object]) -> None:
        """Stops the clock of ``task``; after this its deadline no longer cancels it."""
        self._running.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """True when ``task`` was cancelled because its deadline passed; the cancellation is then
        taken back (``uncancel``) so that the request can still send its answer."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def __len__(self) -> int:
        return len(self._running)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        running = self._running
        late: list[asyncio.Task[object]] = []
        for task, deadline in running.items():
            if deadline > now:
                self._timer = loop.call_at(deadline, self._sweep, loop)
                break
            late.append(task)
        for task in late:
            del running[task]
            if not task.done():
                self._expired.add(task)
                task.cancel()
