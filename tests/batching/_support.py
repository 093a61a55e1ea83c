"""Helpers for the batching tests."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shiba.batching import BatchingServable
from shiba.batching.batcher import OnBatch
from shiba.core.servable import Outputs
from tests.fakes import FakeServable

#: How long a test waits for something that should happen at once (generous: shared machines).
PATIENCE = 10.0


class MakeBatcher(Protocol):
    """The ``make_batcher`` fixture: a started batcher around ``fake`` (a new FakeServable if None)."""

    def __call__(
        self, fake: FakeServable | None = None, *, on_batch: OnBatch | None = None, **options: Any
    ) -> tuple[BatchingServable, FakeServable]: ...


def rows(n: int, cols: int = 2, *, start: float = 0.0, dtype: Any = np.float32) -> npt.NDArray[Any]:
    """``n`` rows of ``cols`` distinct numbers starting at ``start``."""
    return (np.arange(n * cols, dtype=np.float64) + start).astype(dtype).reshape(n, cols)


def occupy(batcher: BatchingServable, fake: FakeServable) -> Future[Outputs]:
    """Blocks the (single) batch thread inside ``fake.run`` so that what follows queues up."""
    fake.hold()
    future = batcher.submit("serving_default", {"x": rows(1, start=-1.0)})
    fake.wait_for_calls(1, PATIENCE)
    return future


def results(futures: list[Future[Outputs]]) -> list[Outputs]:
    return [f.result(PATIENCE) for f in futures]
