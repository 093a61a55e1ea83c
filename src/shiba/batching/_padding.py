"""Merging requests' inputs into one batch and splitting the batch's outputs back.

TensorFlow Serving's rules (``tensorflow_serving/batching/batching_session.cc``, ``batching_util.cc``):
a batch of N rows is padded up to the smallest allowed batch size by repeating a valid row, and the
padding rows are dropped from the outputs; with ``pad_variable_length_inputs`` each request's input
is padded in its non-0 dimensions up to the largest in the batch with that tensor's first element.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.core.errors import Internal
from shiba.core.servable import Outputs
from shiba.core.tensors import Tensors

__all__ = ["padded_batch_size", "merge_inputs", "split_outputs"]


def padded_batch_size(allowed_batch_sizes: Sequence[int], size: int) -> int:
    """The smallest allowed size >= ``size`` (``size`` itself if none is, or none are set)."""
    if not allowed_batch_sizes:
        return size
    i = bisect.bisect_left(allowed_batch_sizes, size)
    return allowed_batch_sizes[i] if i < len(allowed_batch_sizes) else size


def _pad_inner(array: npt.NDArray[Any], inner: tuple[int, ...]) -> npt.NDArray[Any]:
    """``array`` grown in its non-0 dimensions to ``inner``, filled with its first element."""
    if array.shape[1:] == inner:
        return array
    padded = np.full((array.shape[0], *inner), array.flat[0], dtype=array.dtype)
    padded[tuple(slice(0, d) for d in array.shape)] = array
    return padded


def merge_inputs(
    requests: Sequence[Tensors], rows: int, padded_size: int, *, pad_variable_length: bool
) -> Tensors:
    """One batch from the requests' inputs, concatenated along dimension 0 in request order.

    ``rows`` is the requests' total number of rows. Every request has the same input names, dtypes and ranks and at least one row (the batcher's
    queue key guarantees it); their non-0 dimensions are equal unless ``pad_variable_length``.
    Rows beyond the requests' total up to ``padded_size`` repeat the batch's first row. A single
    request that needs no padding is returned as is, without a copy.
    """
    first = requests[0]
    extra = padded_size - rows
    if len(requests) == 1 and extra == 0 and not pad_variable_length:
        return first
    merged: dict[str, npt.NDArray[Any]] = {}
    for name in first:
        parts = [r[name] for r in requests]
        if pad_variable_length:
            rank = parts[0].ndim
            inner = tuple(max(p.shape[d] for p in parts) for d in range(1, rank))
            parts = [_pad_inner(p, inner) for p in parts]
        if extra:
            head = parts[0][:1]
            parts.append(np.broadcast_to(head, (extra, *head.shape[1:])))
        merged[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return merged


def split_outputs(outputs: Outputs, sizes: Sequence[int], padded_size: int) -> list[Outputs]:
    """The batch's outputs cut into one dict per request (views, no copies), padding dropped.

    Raises Internal if an output does not have ``padded_size`` rows: the model did not keep the
    batch dimension, so its outputs cannot be told apart per request.
    """
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != padded_size:
            raise Internal(
                f"Batched output tensor {name!r} has shape {list(array.shape)}, but its 0th "
                f"dimension should equal the batch size {padded_size}: the sum of the 0th "
                "dimension sizes of the input tensors (plus padding). This model's outputs do "
                "not keep the batch dimension, so it cannot be served with batching; turn "
                "batching off for it"
            )
    if len(sizes) == 1 and sizes[0] == padded_size:
        return [outputs]
    items = list(outputs.items())
    results: list[Outputs] = []
    start = 0
    for size in sizes:
        stop = start + size
        results.append({name: array[start:stop] for name, array in items})
        start = stop
    return results
