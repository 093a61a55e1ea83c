"""BatchingServable.submit_async: answers on the caller's event loop, one wake-up per batch."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from shiba.core.errors import InvalidArgument, ShibaError
from shiba.core.servable import Outputs
from shiba.core.tensors import DEFAULT_SIGNATURE, Tensors
from tests.batching._support import PATIENCE, MakeBatcher, occupy, rows
from tests.fakes import FakeServable

SIG = DEFAULT_SIGNATURE


def half_plus_two(signature_name: str, inputs: Tensors) -> Outputs:
    return {"y": inputs["x"] * 0.5 + 2}


def test_answers_arrive_on_the_loop_and_a_batch_wakes_it_once(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher(FakeServable(compute=half_plus_two))
    inputs = [rows(1, start=10 * i) for i in range(5)]

    async def main() -> tuple[list[Outputs], int]:
        loop = asyncio.get_running_loop()
        wakeups = 0
        original = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
            nonlocal wakeups
            wakeups += 1
            return original(callback, *args, context=context)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign, assignment]
        first = await asyncio.to_thread(occupy, batcher, fake)
        futures = [batcher.submit_async(SIG, {"x": x}) for x in inputs]
        assert all(isinstance(f, asyncio.Future) and f.get_loop() is loop for f in futures)
        fake.release()
        await asyncio.wrap_future(first)
        wakeups_before = wakeups
        outs = await asyncio.wait_for(asyncio.gather(*futures), PATIENCE)
        return outs, wakeups - wakeups_before

    outs, wakeups = asyncio.run(main())
    for x, out in zip(inputs, outs, strict=True):
        np.testing.assert_array_equal(out["y"], x * 0.5 + 2)
    assert len(fake.calls) == 2  # the occupying request, then the five as one batch
    assert wakeups <= 1  # the batch of five: one call_soon_threadsafe (0 if it came first)


def test_a_failed_batch_fails_each_future_with_its_own_error(make_batcher: MakeBatcher) -> None:
    fake = FakeServable()
    batcher, _ = make_batcher(fake)
    fake.fail_with(InvalidArgument("bad input"), times=1)

    async def main() -> list[BaseException | Outputs]:
        futures = [batcher.submit_async(SIG, {"x": rows(1)}) for _ in range(3)]
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), PATIENCE)

    answers = asyncio.run(main())
    errors = [a for a in answers if isinstance(a, ShibaError)]
    assert errors, answers
    assert all(isinstance(e, InvalidArgument) and e.message == "bad input" for e in errors)
    assert len({id(e) for e in errors}) == len(errors)


def test_a_future_cancelled_before_its_batch_is_left_out(make_batcher: MakeBatcher) -> None:
    batcher, fake = make_batcher()

    async def main() -> Outputs:
        first = await asyncio.to_thread(occupy, batcher, fake)
        gone = batcher.submit_async(SIG, {"x": rows(1, start=100)})
        kept = batcher.submit_async(SIG, {"x": rows(1, start=200)})
        gone.cancel()
        fake.release()
        await asyncio.wrap_future(first)
        out = await asyncio.wait_for(kept, PATIENCE)
        assert gone.cancelled()
        return out

    out = asyncio.run(main())
    np.testing.assert_array_equal(out["y"], rows(1, start=200))
    np.testing.assert_array_equal(fake.calls[-1].inputs["x"], rows(1, start=200))


def test_submit_async_needs_a_running_loop(make_batcher: MakeBatcher) -> None:
    batcher, _ = make_batcher()
    with pytest.raises(RuntimeError):
        batcher.submit_async(SIG, {"x": rows(1)})
