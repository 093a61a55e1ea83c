"""Fixtures for the batching tests: batchers around fakes, always closed at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shiba.batching import BatchingOptions, BatchingServable
from shiba.batching.batcher import OnBatch
from tests.batching._support import MakeBatcher
from tests.fakes import FakeServable


@pytest.fixture
def make_batcher() -> Iterator[MakeBatcher]:
    """Builds and starts batchers (one batch thread unless told); releases and closes them after."""
    made: list[tuple[BatchingServable, FakeServable]] = []

    def make(
        fake: FakeServable | None = None, *, on_batch: OnBatch | None = None, **options: Any
    ) -> tuple[BatchingServable, FakeServable]:
        fake = FakeServable() if fake is None else fake
        options.setdefault("num_batch_threads", 1)
        batcher = BatchingServable(fake, BatchingOptions(**options), name="t", on_batch=on_batch)
        batcher.start()
        made.append((batcher, fake))
        return batcher, fake

    yield make
    for batcher, fake in made:
        fake.release()
        batcher.close()
