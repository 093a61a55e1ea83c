"""BatchingOptions: TensorFlow Serving's defaults and checks."""

from __future__ import annotations

import os
from typing import Any

import pytest

from shiba.batching import BatchingOptions
from shiba.core.errors import InvalidArgument


def test_defaults_are_tensorflow_servings() -> None:
    options = BatchingOptions()
    assert options.max_batch_size == 1000
    assert options.batch_timeout_micros == 0
    assert options.max_enqueued_batches == 10
    assert options.num_batch_threads == len(os.sched_getaffinity(0))
    assert options.allowed_batch_sizes == ()
    assert options.pad_variable_length_inputs is False


def test_valid_options_are_kept() -> None:
    options = BatchingOptions(
        max_batch_size=8,
        batch_timeout_micros=1000,
        max_enqueued_batches=0,
        num_batch_threads=3,
        allowed_batch_sizes=(2, 4, 8),
        pad_variable_length_inputs=True,
    )
    assert options.allowed_batch_sizes == (2, 4, 8)
    assert options.max_enqueued_batches == 0
    assert options.queue_capacity == 1  # TF Serving rewrites 0 to 1


def test_allowed_batch_sizes_from_a_list_become_a_tuple() -> None:
    options = BatchingOptions(max_batch_size=4, allowed_batch_sizes=[1, 4])  # type: ignore[arg-type]
    assert options.allowed_batch_sizes == (1, 4)
    assert hash(options) == hash(BatchingOptions(max_batch_size=4, allowed_batch_sizes=(1, 4)))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be positive; was 0"),
        ({"batch_timeout_micros": -1}, "batch_timeout_micros must be non-negative; was -1"),
        ({"max_enqueued_batches": -2}, "max_enqueued_batches must be positive; was -2"),
        ({"num_batch_threads": 0}, "num_batch_threads must be positive; was 0"),
        (
            {"max_batch_size": 8, "allowed_batch_sizes": (2, 4)},
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; "
            "expected 8",
        ),
        (
            {"max_batch_size": 8, "allowed_batch_sizes": (4, 2, 8)},
            "allowed_batch_sizes entries must be monotonically increasing",
        ),
        (
            {"max_batch_size": 8, "allowed_batch_sizes": (4, 4, 8)},
            "allowed_batch_sizes entries must be monotonically increasing",
        ),
        (
            {"max_batch_size": 8, "allowed_batch_sizes": (0, 8)},
            "allowed_batch_sizes entries must be positive",
        ),
    ],
)
def test_invalid_options_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        BatchingOptions(**fields)
    assert info.value.message.startswith(message)
