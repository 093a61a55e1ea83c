"""Property: whatever the requests' sizes, each gets exactly its own rows back."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shiba.batching import BatchingOptions, BatchingServable
from shiba.core.servable import Outputs
from shiba.core.tensors import Tensors
from tests.batching._support import PATIENCE, occupy, rows
from tests.fakes import FakeServable, simple_signature


def affine(signature_name: str, inputs: Tensors) -> Outputs:
    x = inputs["x"]
    return {"y": x * 3 - 1, "z": x[:, :1] + 0.5}


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12),
    allowed=st.sampled_from([(), (4, 8), (1, 2, 3, 5, 8)]),
    threads=st.integers(1, 2),
)
def test_each_request_gets_its_own_rows_back(
    sizes: list[int], allowed: tuple[int, ...], threads: int
) -> None:
    fake = FakeServable(
        {"serving_default": simple_signature(outputs=("y", "z"), shape=None)}, compute=affine
    )
    options = BatchingOptions(
        max_batch_size=8,
        allowed_batch_sizes=allowed,
        num_batch_threads=threads,
        max_enqueued_batches=len(sizes),
    )
    batcher = BatchingServable(fake, options)
    batcher.start()
    try:
        first = occupy(batcher, fake) if threads == 1 else None
        inputs = [rows(n, start=100 * i) for i, n in enumerate(sizes)]
        futures = [batcher.submit("serving_default", {"x": x}) for x in inputs]
        fake.release()
        for x, future in zip(inputs, futures, strict=True):
            out = future.result(PATIENCE)
            np.testing.assert_array_equal(out["y"], x * 3 - 1)
            np.testing.assert_array_equal(out["z"], x[:, :1] + 0.5)
        if first is not None:
            first.result(PATIENCE)
        for call in fake.calls:
            n = len(call.inputs["x"])
            assert n <= 8
            assert not allowed or n in allowed
    finally:
        fake.release()
        batcher.close()
