"""Deadlines: one timer for every running request of a front end."""

from __future__ import annotations

import asyncio

import pytest

from shiba.protocols.http._deadlines import Deadlines


async def request(deadlines: Deadlines, seconds: float) -> str:
    task = deadlines.start()
    try:
        await asyncio.sleep(seconds)
        return "done"
    except asyncio.CancelledError:
        if not deadlines.expired(task):
            raise
        await asyncio.sleep(0)  # the cancellation was taken back: the request can go on
        return "timed out"
    finally:
        deadlines.finish(task)


def test_late_requests_time_out_and_others_finish() -> None:
    async def main() -> list[str]:
        deadlines = Deadlines(0.2)
        answers = await asyncio.gather(
            request(deadlines, 0.01),
            request(deadlines, 5.0),
            request(deadlines, 0.05),
            request(deadlines, 5.0),
        )
        assert len(deadlines) == 0
        return list(answers)

    assert asyncio.run(main()) == ["done", "timed out", "done", "timed out"]


def test_the_timer_follows_requests_that_start_later() -> None:
    async def main() -> tuple[str, str, float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(0.2)
        first = asyncio.ensure_future(request(deadlines, 0.05))
        await asyncio.sleep(0.1)
        start = loop.time()
        second = await request(deadlines, 5.0)
        return await first, second, loop.time() - start

    first, second, waited = asyncio.run(main())
    assert (first, second) == ("done", "timed out")
    assert 0.15 < waited < 1.0  # its own 0.2 s, not the first request's deadline


def test_other_cancellations_are_not_taken_for_time_outs() -> None:
    async def main() -> None:
        deadlines = Deadlines(10.0)
        task = asyncio.ensure_future(request(deadlines, 5.0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(deadlines) == 0

    asyncio.run(main())


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadlines(0)
